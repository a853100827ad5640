"""Build an object on first use, once, also when threads ask at the same time.

Cold starts stay short when nothing is built that an invocation does not need: a boto3 client costs
about as much as importing boto3, and an invocation that matches nothing never creates the SNS or
DynamoDB client. The wrapper passes every attribute through to the built object.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

__all__ = ["Lazy"]

_BUILD_LOCK = threading.RLock()  # one for all: boto3 client creation is not thread-safe


class Lazy:
    """Stands in for what ``build()`` returns, calling it on the first attribute read."""

    def __init__(self, build: Callable[[], object]) -> None:
        self._build = build
        self._target: object | None = None

    def __getattr__(self, name: str) -> Any:
        if self._target is None:
            with _BUILD_LOCK:
                if self._target is None:
                    self._target = self._build()
        return getattr(self._target, name)
