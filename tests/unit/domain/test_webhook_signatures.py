"""Standard Webhooks headers, Stripe-compatible X-Relay-Signature, rotation, and a
verifier that never raises. Deliveries are checked with the third-party libraries storefronts
use (standardwebhooks, stripe), not only with the relay's own helpers."""

import base64
import hashlib
import hmac
import json
import time

import pytest
import standardwebhooks
import stripe
from hypothesis import given
from hypothesis import strategies as st

from relay.domain.foxreload_order import FoxOrder, OrderItem
from relay.domain.webhook import (
    WebhookSecretError,
    sign,
    sign_standard,
    signed_request,
    signing_keys,
    verify,
    verify_standard,
)

ORDER = FoxOrder(
    "o-1", "completed", (OrderItem("i1", ("CODE-1", "CODE-2"), None),), 10.0, None, None, None
)
KEY_BYTES = bytes(range(32))
WHSEC = "whsec_" + base64.b64encode(KEY_BYTES).decode()
OLD = "whsec_" + base64.b64encode(b"o" * 32).decode()
OTHER = "whsec_" + base64.b64encode(b"x" * 32).decode()
PLAIN = "9f2c" * 16  # what `openssl rand -hex 32` gives: the format before whsec_ secrets
ROTATING = json.dumps({"current": WHSEC, "previous": OLD})


def deliver(secret, now=None, occurred_at=None):
    now = time.time() if now is None else now
    return signed_request(secret, ORDER, "order.delivered", "ref-9", now, occurred_at)


def test_every_delivery_has_standard_webhooks_headers_keyed_by_the_idempotency_key():
    req = deliver(WHSEC, now=1_700_000_000.7)
    h = req.headers
    assert h["webhook-id"] == h["Idempotency-Key"] == "o-1:order.delivered"
    assert h["webhook-timestamp"] == "1700000000"
    content = b"o-1:order.delivered.1700000000." + req.body
    mac = base64.b64encode(hmac.new(KEY_BYTES, content, hashlib.sha256).digest()).decode()
    assert h["webhook-signature"] == f"v1,{mac}"
    # X-Relay-Signature: keyed by the whole secret string, as Stripe does with its whsec_ secrets
    relay_mac = hmac.new(WHSEC.encode(), b"1700000000." + req.body, hashlib.sha256).hexdigest()
    assert h["X-Relay-Signature"] == f"t=1700000000,v1={relay_mac}"


def test_the_standardwebhooks_library_verifies_a_delivery():
    req = deliver(WHSEC)
    assert standardwebhooks.Webhook(WHSEC).verify(req.body, req.headers) == json.loads(req.body)
    with pytest.raises(standardwebhooks.webhooks.WebhookVerificationError):
        standardwebhooks.Webhook(OTHER).verify(req.body, req.headers)
    with pytest.raises(standardwebhooks.webhooks.WebhookVerificationError):
        standardwebhooks.Webhook(WHSEC).verify(req.body + b" ", req.headers)
    forged = dict(req.headers, **{"webhook-id": "o-2:order.delivered"})  # the id is signed
    with pytest.raises(standardwebhooks.webhooks.WebhookVerificationError):
        standardwebhooks.Webhook(WHSEC).verify(req.body, forged)


@pytest.mark.parametrize("secret", [WHSEC, PLAIN])
def test_stripes_library_verifies_x_relay_signature_with_the_same_secret_string(secret):
    req = deliver(secret)
    header = req.headers["X-Relay-Signature"]
    assert stripe.WebhookSignature.verify_header(req.body.decode(), header, secret, 300)
    event = stripe.Webhook.construct_event(req.body.decode(), header, secret, 300)
    assert event["order_id"] == "o-1"
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.WebhookSignature.verify_header(req.body.decode(), header, OTHER, 300)


def test_a_plain_secret_keeps_working_and_is_its_own_standard_key():
    req = deliver(PLAIN)
    assert verify(PLAIN, req.headers["X-Relay-Signature"], req.body, time.time())
    assert verify_standard(PLAIN, req.headers, req.body, time.time())
    # Standard Webhooks libraries take it as raw bytes, or as whsec_ + base64 of those bytes
    assert standardwebhooks.Webhook(PLAIN.encode()).verify(req.body, req.headers)
    as_whsec = "whsec_" + base64.b64encode(PLAIN.encode()).decode()
    assert standardwebhooks.Webhook(as_whsec).verify(req.body, req.headers)


def test_during_rotation_both_secrets_sign_and_either_one_verifies():
    req = deliver(ROTATING)
    std = req.headers["webhook-signature"].split(" ")
    relay = req.headers["X-Relay-Signature"].split(",")
    assert [s[:3] for s in std] == ["v1,", "v1,"] and std[0] != std[1]
    assert relay[0].startswith("t=") and [p[:3] for p in relay[1:]] == ["v1=", "v1="]
    now = time.time()
    for one in (WHSEC, OLD, ROTATING):
        assert verify(one, req.headers["X-Relay-Signature"], req.body, now)
        assert verify_standard(one, req.headers, req.body, now)
    for one in (WHSEC, OLD):
        assert standardwebhooks.Webhook(one).verify(req.body, req.headers)
        assert stripe.WebhookSignature.verify_header(
            req.body.decode(), req.headers["X-Relay-Signature"], one, 300
        )
    assert not verify(OTHER, req.headers["X-Relay-Signature"], req.body, now)
    assert not verify_standard(OTHER, req.headers, req.body, now)
    # current first: a receiver already on the new secret matches the first entry
    at = deliver(ROTATING, now=NOW, occurred_at=NOW).headers["webhook-signature"].split(" ")
    assert at[0] == deliver(WHSEC, now=NOW, occurred_at=NOW).headers["webhook-signature"]
    assert at[1] == deliver(OLD, now=NOW, occurred_at=NOW).headers["webhook-signature"]


def test_rotation_value_formats():
    assert len(signing_keys(json.dumps({"current": WHSEC}))) == 1
    assert len(signing_keys(json.dumps({"current": WHSEC, "previous": None}))) == 1
    assert len(signing_keys(json.dumps({"current": WHSEC, "previous": WHSEC}))) == 1
    assert len(signing_keys(json.dumps({"current": PLAIN, "previous": WHSEC}))) == 2


@pytest.mark.parametrize(
    "value",
    [
        "",
        "{not json",
        '{"previous": "whsec_b2xk"}',
        '{"current": ""}',
        '{"current": 5}',
        '{"current": "whsec_AAAA", "previous": 7}',
        "whsec_not*base64!",
        "whsec_",
        "{" * 100_000,
        '{"current": "\\ud800"}',
    ],
)
def test_malformed_secret_values_are_a_clear_error_that_never_shows_the_value(value):
    with pytest.raises(WebhookSecretError) as info:
        signing_keys(value)
    if len(value) > 8:
        assert value not in str(info.value)
    assert verify(value, sign(WHSEC, 1_700_000_000, b"{}"), b"{}", 1_700_000_000) is False
    assert verify_standard(value, {}, b"{}", 1_700_000_000) is False


def test_body_depends_on_occurred_at_not_on_the_attempt_time():
    first = deliver(WHSEC, now=1_700_000_000.0, occurred_at=1_699_999_990.123)
    retry = deliver(WHSEC, now=1_700_000_400.0, occurred_at=1_699_999_990.123)
    assert first.body == retry.body
    assert first.headers["webhook-timestamp"] != retry.headers["webhook-timestamp"]
    assert json.loads(first.body)["occurred_at"] == "2023-11-14T22:13:10.123000Z"


BODY = b'{"a":1}'
NOW = 1_700_000_000


@pytest.mark.parametrize(
    "header",
    [
        "t=" + "9" * 400 + ",v1=00",  # a timestamp this long once raised OverflowError
        "t=" + "9" * 5000 + ",v1=00",  # past int()'s digit limit
        "t=-5,v1=00",
        "t=1e9,v1=00",
        "t=,v1=",
        "t=1700000000",
        "v1=00",
        "t=1700000000,t=1700000000," + sign(WHSEC, NOW, BODY).split(",", 1)[1],
        "t=1700000000,v1=é",
        "t=١٧٠٠٠٠٠٠٠٠," + sign(WHSEC, NOW, BODY).split(",", 1)[1],  # non-ASCII digits
        "",
        "garbage",
    ],
)
def test_verify_returns_false_on_malformed_headers(header):
    assert verify(WHSEC, header, BODY, NOW) is False


def test_verify_standard_returns_false_on_malformed_headers():
    good = {
        "webhook-id": "k",
        "webhook-timestamp": str(NOW),
        "webhook-signature": sign_standard(WHSEC, "k", NOW, BODY),
    }
    assert verify_standard(WHSEC, good, BODY, NOW)
    assert verify_standard(WHSEC, {k.upper(): v for k, v in good.items()}, BODY, NOW)
    for name, bad in [
        ("webhook-timestamp", "9" * 400),
        ("webhook-timestamp", str(NOW - 301)),
        ("webhook-timestamp", ""),
        ("webhook-signature", "v1,not base64!"),
        ("webhook-signature", "v2," + good["webhook-signature"][3:]),
        ("webhook-signature", good["webhook-signature"][3:]),
        ("webhook-signature", "v1,é"),
        ("webhook-id", ""),
        ("webhook-id", "k2"),
        ("webhook-id", "k\ud800"),
        ("webhook-id", "k\u00e9"),
    ]:
        assert verify_standard(WHSEC, dict(good, **{name: bad}), BODY, NOW) is False, (name, bad)
    for name in good:
        assert (
            verify_standard(WHSEC, {k: v for k, v in good.items() if k != name}, BODY, NOW) is False
        )


ANY_TEXT = st.text(st.characters(codec=None, exclude_categories=()))  # lone surrogates too


@given(ANY_TEXT, st.binary(max_size=64), st.floats(allow_nan=True, allow_infinity=True))
def test_verify_never_raises(header, body, now):
    assert verify(WHSEC, header, body, now) in (True, False)


@given(st.dictionaries(ANY_TEXT, ANY_TEXT), st.binary(max_size=64), ANY_TEXT)
def test_verify_standard_never_raises(headers, body, secret):
    assert verify_standard(secret, headers, body, NOW) in (True, False)
    assert verify(secret, "t=1,v1=00", body, NOW) in (True, False)
