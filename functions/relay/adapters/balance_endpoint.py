"""Read the account balance from a FoxReload balance endpoint (optional; see BALANCE_ENDPOINT).

FoxReload's public API documents no balance read; its older v1 reference listed `GET /v1/balance`.
When one is configured the balance monitor reads it here and falls back to the estimate when the
read fails. The API key is sent as `X-API-Key` and never logged; errors carry only the status.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import Decimal

import httpx

from relay.domain.balance import BalanceResponseError, parse_balance_response


class BalanceReadError(RuntimeError):
    """The balance could not be read; `reason` is safe to log (no key, no body)."""

    def __init__(self, reason: str, status_code: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status_code = status_code


class BalanceEndpoint:
    def __init__(
        self,
        url: str,
        api_key: Callable[[], str],
        timeout: float = 8.0,
        transport: httpx.BaseTransport | None = None,
        forget_api_key: Callable[[], None] | None = None,
    ) -> None:
        self._url = url
        self._api_key = api_key
        self._forget_api_key = forget_api_key
        self._timeout = timeout
        self._transport = transport

    def read(self) -> Decimal:
        try:
            return self._read_once()
        except BalanceReadError as exc:
            if exc.status_code not in (401, 403) or self._forget_api_key is None:
                raise
        self._forget_api_key()  # the key may have been rotated: re-read it once
        return self._read_once()

    def _read_once(self) -> Decimal:
        headers = {"X-API-Key": self._api_key(), "Accept": "application/json"}
        try:
            with httpx.Client(timeout=self._timeout, transport=self._transport) as client:
                response = client.get(self._url, headers=headers)
        except httpx.TimeoutException as exc:
            raise BalanceReadError("timeout") from exc
        except httpx.HTTPError as exc:
            raise BalanceReadError("connection error") from exc
        if response.status_code != 200:
            raise BalanceReadError(f"HTTP {response.status_code}", response.status_code)
        try:
            return parse_balance_response(json.loads(response.content))
        except (ValueError, RecursionError) as exc:  # JSON errors and BalanceResponseError
            kind = "unreadable balance" if isinstance(exc, BalanceResponseError) else "bad JSON"
            raise BalanceReadError(kind, response.status_code) from exc
