"""How much of an invocation's time is left for new work, so that the function never runs into its own timeout.

Lambda kills an invocation at its timeout wherever it stands: mid-file, between a publish and the
ledger's record of it, inside a retry sleep. A :class:`Deadline` keeps a safety margin of that time in
reserve: no object is started and no retry sleep is begun that would reach into it, so what cannot be
finished is reported as retryable while there is still time to say so (dead letters, logs, metrics).
It knows nothing of Lambda: it reads the time left from a callable (the context's
``get_remaining_time_in_millis``), which tests replace with a fake clock.
"""

from __future__ import annotations

from collections.abc import Callable


class Deadline:
    """One invocation's time budget: the milliseconds left (as Lambda counts them) and the margin kept in reserve.

    The margin is at most a quarter of the time left when the deadline is made, so that a short
    function timeout still leaves time to work instead of deferring every object.
    """

    def __init__(self, remaining_ms: Callable[[], int], margin_ms: int) -> None:
        if margin_ms < 1:
            raise ValueError(f"margin_ms must be positive, got {margin_ms}")
        self._remaining_ms = remaining_ms
        self.margin_ms = min(margin_ms, remaining_ms() // 4)
        self.sleeps_refused = 0  # retry sleeps refused because they would have ended inside the margin

    def left_ms(self) -> int:
        """The milliseconds the invocation has left before its timeout."""
        return self._remaining_ms()

    def reached(self) -> bool:
        """True once the time left is inside the safety margin: nothing new may start."""
        return self.left_ms() < self.margin_ms

    def permits_sleep(self, seconds: float) -> bool:
        """Whether a retry sleep of ``seconds`` would end before the safety margin; a refusal is counted."""
        if self.left_ms() - seconds * 1000 >= self.margin_ms:
            return True
        self.sleeps_refused += 1
        return False
