"""The sweeper's tick queue: "sweep again" messages it sends itself, delayed by the pause
between two sweeps (relay.domain.sweep_tick), so no run is billed for sleeping."""

from __future__ import annotations

from typing import TYPE_CHECKING

from relay.domain.sweep_tick import Tick, delay_seconds

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient


class SweepTicks:
    def __init__(self, client: SQSClient, queue_url: str) -> None:
        self._sqs = client
        self._url = queue_url

    def send(self, tick: Tick, pause: float) -> None:
        self._sqs.send_message(
            QueueUrl=self._url, MessageBody=tick.to_body(), DelaySeconds=delay_seconds(pause)
        )
