"""Read the string values a record holds for a selector field (``eventName``, ``resources.ARN``, ...).

Selectors compare strings, log files hold typed JSON: this module is the one place that says how a
JSON value becomes selector text (``selectors.md``, "Values"), and how a dotted path walks a record.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

ValueGetter = Callable[[dict[str, Any]], tuple[str, ...]]

KEY_ALIASES: dict[str, tuple[str, ...]] = {"resources.ARN": ("ARN", "ARNPrefix")}
"""Fields whose last step reads several keys: CloudTrail's resources.ARN covers both spellings a resource carries."""


def scalar_text(value: Any) -> str | None:
    """The selector text of a JSON scalar; None for null, objects, arrays and non-integral numbers.

    Strings are themselves, booleans are ``"true"``/``"false"``, integral numbers are written in
    decimal (``1e2`` and ``100.0`` are the number 100, so they read ``"100"`` like ``100`` does).
    """
    kind = type(value)  # once: this runs for every value a selector reads
    if kind is str:
        return value  # type: ignore[no-any-return]  # a str: mypy does not narrow value through kind
    if kind is bool:
        return "true" if value else "false"
    if kind is int:
        return str(value)
    if kind is float and value.is_integer():
        return str(int(value))
    return None


def _collect(node: Any, keys: tuple[tuple[str, ...], ...], out: list[str]) -> None:
    """Walk ``keys`` from ``node``, fanning out over arrays, appending scalar texts to ``out``.

    Iterative, so a hostile record nested a thousand levels deep costs a loop, not a RecursionError.
    """
    last = len(keys)
    stack: list[tuple[Any, int]] = [(node, 0)]
    while stack:
        node, depth = stack.pop()
        if type(node) is list:
            stack.extend((item, depth) for item in reversed(node))
        elif depth == last:
            text = scalar_text(node)
            if text is not None:
                out.append(text)
        elif type(node) is dict:
            for key in reversed(keys[depth]):
                if key in node:
                    stack.append((node[key], depth + 1))


MANY = object()
"""Returned by a :func:`single_value_getter` when the record needs the full walk of :func:`value_getter`."""

SingleValueGetter = Callable[[dict[str, Any]], "str | None | object"]


def single_value_getter(field: str) -> SingleValueGetter:
    """A fast reader for the common case: the field is one string reached through objects only.

    It returns that string, None when the field is missing or null (no values at all), or
    :data:`MANY` when anything else is in the way (an array, a number, a boolean, an object at the
    end): the caller then asks :func:`value_getter`, which handles every case.
    """
    parts = tuple(field.split("."))
    if field in KEY_ALIASES:
        return lambda record: MANY
    if len(parts) == 1:
        key = parts[0]

        def top_level(record: dict[str, Any]) -> str | None | object:
            value = record.get(key)
            return value if value is None or type(value) is str else MANY

        return top_level

    def nested(record: dict[str, Any]) -> str | None | object:
        node: Any = record
        for key in parts:
            if type(node) is not dict:
                return None if node is None else MANY
            node = node.get(key)
        return node if node is None or type(node) is str else MANY

    return nested


def value_getter(field: str) -> ValueGetter:
    """A function giving every value of ``field`` in a record (empty when missing or null).

    A top-level field reads one key of the record; a dotted path walks objects by key and fans out
    over arrays at every step, so a top-level name never matches a nested key of the same name.
    The common case (one string through objects only) takes the fast reader.
    """
    parts = field.split(".")
    keys = tuple((part,) for part in parts[:-1]) + (KEY_ALIASES.get(field, (parts[-1],)),)
    single = single_value_getter(field)

    def values(record: dict[str, Any]) -> tuple[str, ...]:
        value = single(record)
        if value is None:
            return ()
        if value is not MANY:
            return (value,)  # type: ignore[return-value]
        out: list[str] = []
        _collect(record, keys, out)
        return tuple(out)

    return values
