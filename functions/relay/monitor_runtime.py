"""Wiring for the monitors, once per process: `StuckDeps` (stuck-order monitor) and `BalanceDeps`
(balance monitor). Apart from relay.runtime so that the poller's cold start does not load them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import boto3

from relay.adapters.balance_endpoint import BalanceEndpoint
from relay.adapters.balance_store import BalanceStore
from relay.adapters.ledger_queries import LedgerQueries
from relay.adapters.secrets import SecretCache
from relay.adapters.spend_index import SpendIndex
from relay.monitor_settings import MonitorSettings


@dataclass(frozen=True)
class StuckDeps:
    settings: MonitorSettings
    queries: LedgerQueries

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> StuckDeps:
        settings = MonitorSettings.from_env(env)
        return cls(settings, LedgerQueries(boto3.client("dynamodb"), settings.ledger_table))


@dataclass(frozen=True)
class BalanceDeps:
    settings: MonitorSettings
    store: BalanceStore
    spend: SpendIndex
    endpoint: BalanceEndpoint | None

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> BalanceDeps:
        settings = MonitorSettings.from_env(env)
        dynamodb = boto3.client("dynamodb")
        endpoint = None
        url = settings.balance_url
        if url is not None:
            secret_id = settings.foxreload_api_key_secret
            keys = SecretCache(lambda: boto3.client("secretsmanager"))
            endpoint = BalanceEndpoint(
                url,
                api_key=lambda: keys.get(secret_id),
                timeout=settings.http_timeout,
                forget_api_key=lambda: keys.invalidate(secret_id),
            )
        return cls(
            settings=settings,
            store=BalanceStore(dynamodb, settings.ledger_table),
            spend=SpendIndex(dynamodb, settings.ledger_table, settings.spend_settle_seconds),
            endpoint=endpoint,
        )
