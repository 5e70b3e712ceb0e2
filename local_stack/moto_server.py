"""`python local_stack/moto_server.py -H HOST -p PORT`: moto's server, with SQS made safe for
the concurrent receives the local stack makes.

moto's server answers each request on its own thread, and its SQS queue keeps the received,
not yet deleted messages in a plain set that ReceiveMessage iterates
(`Queue.pending_message_groups`) while ChangeMessageVisibility, DeleteMessage and other
receives add to and remove from it. With several pollers long-polling and rescheduling
messages, a receive now and then fails with `RuntimeError: Set changed size during iteration`
(HTTP 500) *after* marking messages received: boto3 retries the call, and those messages stay
invisible for the queue's whole visibility timeout (180 s), which no real SQS does (seen in a
`make demo --no-sweep` run: six orders came back only after the demo's timeout). Here the set
iterates over a snapshot and `remove` tolerates a message another thread removed first.

Run as a script (not `-m`), so that only moto needs to be importable.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any


class _PendingSet(set[Any]):
    """A set that several threads may iterate and change at the same time."""

    def __iter__(self) -> Iterator[Any]:
        return iter(tuple(set.__iter__(self)))  # copied in one C call, under the GIL

    def remove(self, element: Any) -> None:
        self.discard(element)


def _patch_sqs() -> None:
    from moto.sqs import models  # noqa: PLC0415

    def get(queue: Any) -> _PendingSet:
        return queue.__dict__["_pending_safe"]  # type: ignore[no-any-return]

    def put(queue: Any, value: Iterable[Any]) -> None:
        queue.__dict__["_pending_safe"] = _PendingSet(value)

    models.Queue._pending_messages = property(get, put)  # type: ignore[assignment]


def main() -> None:
    _patch_sqs()
    from moto.server import main as moto_main  # noqa: PLC0415

    moto_main()


if __name__ == "__main__":
    main()
