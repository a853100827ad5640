"""Send dead letters to the failure queue: SendMessageBatch (10 a call), failed entries retried, the rest raised.

Retries stop early when the invocation's deadline leaves no time for the next backoff sleep: what is
still unsent is raised then too, so the invocation fails and Lambda keeps the event.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import orjson

from trailsift.aws.retry import Backoff, attempts
from trailsift.deadline import Deadline

BATCH_SIZE = 10
MAX_DELAY = 5.0


class DeadLetterError(RuntimeError):
    """Some dead letters could not be queued; the invocation must fail so that Lambda keeps the event."""


class DeadLetterQueue:
    """The failure queue, through a boto3 SQS client (its standard retry mode handles throttling and 5xx)."""

    def __init__(
        self,
        client: Any,
        queue_url: str,
        *,
        max_attempts: int = 5,
        base_delay: float = 0.1,
        sleep: Callable[[float], None] = time.sleep,
        deadline: Deadline | None = None,
    ) -> None:
        self.client = client
        self.queue_url = queue_url
        self.max_attempts = attempts(max_attempts)
        self._backoff = Backoff(base_delay, MAX_DELAY, sleep, deadline)

    def send(self, records: Sequence[dict[str, Any]]) -> int:
        """Queue every record; raise :class:`DeadLetterError` naming what is still unsent after retries."""
        for start in range(0, len(records), BATCH_SIZE):
            pending = {str(i): orjson.dumps(r).decode() for i, r in enumerate(records[start : start + BATCH_SIZE])}
            for attempt in range(1, self.max_attempts + 1):
                answer = self.client.send_message_batch(
                    QueueUrl=self.queue_url,
                    Entries=[{"Id": entry_id, "MessageBody": body} for entry_id, body in pending.items()],
                )
                failed = answer.get("Failed", [])
                permanent = [f for f in failed if f.get("SenderFault")]
                if permanent:
                    raise DeadLetterError(f"failure queue refused {len(permanent)} record(s): {permanent[0].get('Message')}")
                pending = {f["Id"]: pending[f["Id"]] for f in failed}
                if not pending or attempt == self.max_attempts or not self._backoff.wait(attempt):
                    break
            if pending:
                raise DeadLetterError(f"{len(pending)} dead letter(s) still unsent after {attempt} attempt(s)")
        return len(records)
