import hashlib
import hmac
import json

import pytest

from relay.domain.foxreload_order import FoxOrder, OrderItem
from relay.domain.webhook import (
    SinkVerdict,
    classify_sink_status,
    sign,
    signed_request,
    verify,
)

ORDER = FoxOrder(
    "o-1", "completed", (OrderItem("i1", ("CODE-1", "CODE-2"), None),), 10.0, None, None, None
)


def test_signature_is_hmac_sha256_of_timestamp_dot_body():
    body = b'{"a":1}'
    expected = hmac.new(b"s3cret", b"1700000000." + body, hashlib.sha256).hexdigest()
    assert sign("s3cret", 1700000000, body) == f"t=1700000000,v1={expected}"


def test_signed_request_follows_the_contract():
    request = signed_request("s3cret", ORDER, "order.delivered", "ref-9", 1700000000.5)
    payload = json.loads(request.body)
    assert payload == {
        "event": "order.delivered",
        "order_id": "o-1",
        "storefront_ref": "ref-9",
        "status": "completed",
        "items": [{"item_id": "i1", "codes": ["CODE-1", "CODE-2"], "error": None}],
        "cancel_reason": None,
        "occurred_at": "2023-11-14T22:13:20.500000Z",
    }
    assert request.headers["Idempotency-Key"] == "o-1:order.delivered"
    assert verify("s3cret", request.headers["X-Relay-Signature"], request.body, now=1700000001)


def test_verify_rejects_tampering_wrong_secret_and_replays():
    request = signed_request("s3cret", ORDER, "order.delivered", None, 1700000000)
    header = request.headers["X-Relay-Signature"]
    assert not verify("s3cret", header, request.body + b" ", now=1700000000)
    assert not verify("other", header, request.body, now=1700000000)
    assert not verify("s3cret", header, request.body, now=1700000000 + 301)
    assert not verify("s3cret", "garbage", request.body, now=1700000000)


@pytest.mark.parametrize(
    ("code", "verdict"),
    [
        (200, SinkVerdict.ACCEPTED),
        (204, SinkVerdict.ACCEPTED),
        (408, SinkVerdict.RETRY_LATER),
        (429, SinkVerdict.RETRY_LATER),
        (500, SinkVerdict.RETRY_LATER),
        (503, SinkVerdict.RETRY_LATER),
        (None, SinkVerdict.RETRY_LATER),
        (101, SinkVerdict.RETRY_LATER),
        (301, SinkVerdict.RETRY_LATER),
        (308, SinkVerdict.RETRY_LATER),
        (400, SinkVerdict.REJECTED),
        (401, SinkVerdict.UNAUTHORIZED),
        (403, SinkVerdict.UNAUTHORIZED),
        (404, SinkVerdict.REJECTED),
        (422, SinkVerdict.REJECTED),
    ],
)
def test_sink_response_classes(code, verdict):
    assert classify_sink_status(code) is verdict
