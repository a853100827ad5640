"""JSON output that never fails: records orjson cannot render (nested past its limit, integers beyond
64 bits, odd keys) are simplified rather than crashing an alert or an index write."""

from __future__ import annotations

from typing import Any

import orjson

MAX_JSON_DEPTH = 128  # deeper parts of a record are elided when orjson cannot render it
INDENTED = orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS
# The fields that make a record large; the first to go when an alert or an index row must be trimmed.
BULKY_FIELDS = ("requestParameters", "responseElements", "additionalEventData", "serviceEventDetails")


def without_bulk(record: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``record`` with each of :data:`BULKY_FIELDS` it has replaced by ``"[trimmed: N bytes]"`` (N: its
    compact JSON size): what an alert, its document or a bus event shows when the whole record does not fit."""
    trimmed = dict(record)
    for name in BULKY_FIELDS:
        if name in trimmed:
            trimmed[name] = f"[trimmed: {len(render_json(trimmed[name], option=0))} bytes]"
    return trimmed


def utf8_prefix(data: bytes, limit: int) -> str:
    """At most ``limit`` bytes of UTF-8 ``data`` as text, cut on a character boundary."""
    return data[: max(limit, 0)].decode("utf-8", "ignore")


def render_json(value: object, option: int = INDENTED) -> bytes:
    """``value`` as JSON (indented and key-sorted by default); a copy is simplified first if need be."""
    try:
        return orjson.dumps(value, option=option)
    except (orjson.JSONEncodeError, TypeError):
        return orjson.dumps(renderable(value), option=option)


def renderable(value: object) -> Any:
    """A copy orjson can always render: deep parts elided, odd keys and values turned into text."""
    def leaf(item: Any, depth: int) -> tuple[Any, bool]:
        if isinstance(item, (dict, list, tuple)):
            if depth >= MAX_JSON_DEPTH:
                return "[nested too deeply]", False
            return ({} if isinstance(item, dict) else []), True
        if isinstance(item, str):
            return item.encode("utf-8", "backslashreplace").decode(), False
        if isinstance(item, bool) or item is None or (isinstance(item, int) and -(2**63) <= item < 2**64):
            return item, False
        if isinstance(item, float):
            return item, False
        return str(item), False

    root, fill = leaf(value, 0)
    stack: list[tuple[Any, Any, int]] = [(value, root, 1)] if fill else []
    while stack:
        source, target, depth = stack.pop()
        items = source.items() if isinstance(source, dict) else enumerate(source)
        for name, item in items:
            copy, fill = leaf(item, depth)
            if isinstance(target, dict):
                target[str(name).encode("utf-8", "backslashreplace").decode()] = copy
            else:
                target.append(copy)
            if fill:
                stack.append((item, copy, depth + 1))
    return root


