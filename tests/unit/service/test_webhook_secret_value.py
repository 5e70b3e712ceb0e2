"""The webhook secret's value as the poller reads it from Secrets Manager: a rotation
value signs with both secrets; a malformed value sends nothing and holds no lease (the order is
retried once the value is fixed), and the error never shows the value."""

from __future__ import annotations

import base64
import json

import boto3
import pytest
import standardwebhooks

from relay.domain.webhook import WebhookSecretError, signing_keys
from relay.names import Metric
from relay.service.order_relay import Rescheduled
from tests.unit.service.relay_world import fox_reply, make_visible, process

OID = "0c6f4b44-34a4-4d5f-a1a7-0f7b51a3b2aa"
BODY = json.dumps({"v": 1, "order_id": OID})
NEW = "whsec_" + base64.b64encode(b"N" * 32).decode()
OLD = "whsec_" + base64.b64encode(b"O" * 32).decode()


def put_secret(value: str) -> None:
    boto3.client("secretsmanager", region_name="eu-west-1").put_secret_value(
        SecretId="webhook-secret", SecretString=value
    )


def test_a_rotation_value_signs_with_both_secrets(world):
    put_secret(json.dumps({"current": NEW, "previous": OLD}))
    world.router.get(f"http://foxreload.test/api/orders/{OID}").mock(
        return_value=fox_reply(OID, "completed", ("C1",))
    )
    world.storefront.verify = False  # it holds plain WEBHOOK_SECRET; check with the libraries
    world.send(BODY)
    [record] = world.receive()
    assert process(world, [record]) == ["order.delivered"]
    [request] = world.storefront.requests
    assert len(request.headers["webhook-signature"].split(" ")) == 2
    for secret in (NEW, OLD):
        assert standardwebhooks.Webhook(secret).verify(request.content, dict(request.headers))


def test_a_malformed_value_sends_nothing_and_the_order_goes_through_once_fixed(world):
    bad = '{"current": "whsec_' + "A" * 43 + '", oops}'
    put_secret(bad)
    world.router.get(f"http://foxreload.test/api/orders/{OID}").mock(
        return_value=fox_reply(OID, "completed", ("C1",))
    )
    world.send(BODY)
    [record] = world.receive()
    [later] = process(world, [record])
    assert isinstance(later, Rescheduled) and later.reason == "webhook_retry"  # not dead-lettered
    assert world.metrics.counts[Metric.WEBHOOK_AUTH_FAILURES] == 1
    with pytest.raises(WebhookSecretError) as raised:
        signing_keys(bad)
    assert "A" * 43 not in str(raised.value)  # the error never carries the value
    assert world.storefront.requests == []
    item = world.ledger_item(OID) or {}
    assert "lease_owner" not in item and "outcome" not in item  # no lease to wait out
    put_secret(json.dumps({"current": NEW}))
    world.runtime.relay.deps.webhook_secret = lambda: json.dumps({"current": NEW})  # cache: 1 h
    world.storefront.verify = False
    make_visible(world, record)
    [record] = world.receive()
    assert process(world, [record]) == ["order.delivered"]
