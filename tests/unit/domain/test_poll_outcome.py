import json

import pytest

from relay.domain.poll_outcome import (
    HttpReply,
    Kind,
    TransportFailure,
    classify,
    parse_retry_after,
)
from relay.names import ApiErrorKind


def reply(code, body=b"", headers=None):
    return HttpReply(code, headers or {}, body if isinstance(body, bytes) else json.dumps(body).encode())


def order(status, **extra):
    base = {"id": "o-1", "status": status, "items": [{"itemId": "i1", "externalData": ["C1"]}]}
    base.update(extra)
    return base


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        ("completed", Kind.COMPLETED),
        ("failed", Kind.FAILED),
        ("cancelled", Kind.CANCELLED),
        ("active", Kind.PENDING),
        ("paid", Kind.PENDING),
        ("processing", Kind.PENDING),
        ("COMPLETED", Kind.COMPLETED),
    ],
)
def test_statuses(status, kind):
    assert classify(reply(200, order(status))).kind is kind


def test_unknown_status_is_pending_and_flagged():
    outcome = classify(reply(200, order("on_hold")))
    assert outcome.kind is Kind.PENDING
    assert outcome.unknown_status


def test_unknown_fields_are_ignored_and_codes_read():
    body = order("completed", somethingNew={"x": 1}, totalPrice="12.50")
    body["items"][0]["externalData"] = ["A", {"code": "B", "extra": 1}, {"weird": "shape"}]
    outcome = classify(reply(200, body))
    assert outcome.order is not None
    assert outcome.order.items[0].codes == ("A", "B", '{"weird": "shape"}')
    assert outcome.order.total_price == 12.5


def test_429_carries_retry_after():
    outcome = classify(reply(429, b"", {"retry-after": "17"}))
    assert (outcome.kind, outcome.retry_after) == (Kind.THROTTLED, 17.0)


@pytest.mark.parametrize("code", [401, 403])
def test_auth_failures(code):
    assert classify(reply(code)).kind is Kind.AUTH_FAILED


def test_404_is_not_found():
    outcome = classify(reply(404))
    assert (outcome.kind, outcome.error_kind) == (Kind.NOT_FOUND, ApiErrorKind.NOT_FOUND)


@pytest.mark.parametrize("code", [500, 502, 503, 504])
def test_5xx_is_a_server_error(code):
    outcome = classify(reply(code))
    assert (outcome.kind, outcome.error_kind) == (Kind.API_ERROR, ApiErrorKind.SERVER_ERROR)


@pytest.mark.parametrize(
    "body",
    [
        b"<html>oops</html>",
        b"",
        b"[]",
        b'{"status": "completed"}',
        b'{"id": "o-1"}',
        b'{"id": "o-1", "status": "completed", "items": []}',
        b'{"id": "o-1", "status": "completed", "items": "nope"}',
        b'{"id": "o-1", "status": "completed", "items": [{"externalData": 5}]}',
        b"[" * 100_000,
    ],
)
def test_malformed_bodies_are_api_errors_of_kind_malformed(body):
    outcome = classify(reply(200, body))
    assert (outcome.kind, outcome.error_kind) == (Kind.API_ERROR, ApiErrorKind.MALFORMED)


@pytest.mark.parametrize(
    ("failure", "kind"),
    [(TransportFailure.TIMEOUT, ApiErrorKind.TIMEOUT), (TransportFailure.CONNECTION, ApiErrorKind.CONNECTION)],
)
def test_transport_failures(failure, kind):
    outcome = classify(failure)
    assert (outcome.kind, outcome.error_kind) == (Kind.API_ERROR, kind)


def test_odd_4xx_is_a_client_error():
    assert classify(reply(418)).error_kind == ApiErrorKind.CLIENT_ERROR


@pytest.mark.parametrize(
    ("value", "expected"),
    [("5", 5.0), (" 2.5 ", 2.5), ("-3", 0.0), ("soon", None), (None, None), ("nan", None), ("inf", None)],
)
def test_retry_after_parsing(value, expected):
    assert parse_retry_after(value) == expected


def test_retry_after_http_date():
    assert parse_retry_after("Fri, 27 Nov 2026 06:00:30 GMT", now_epoch=1795759200.0) == 30.0


@pytest.mark.parametrize("code", [400, 402])
def test_balance_not_enough_error_is_flagged(code):
    outcome = classify(reply(code, {"error": "BalanceNotEnough", "balance": 1.0}))
    assert outcome.balance_not_enough
    assert outcome.kind is Kind.API_ERROR
    assert not classify(reply(code, {"error": "ValidationError"})).balance_not_enough
