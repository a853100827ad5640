"""Decode only a few fields of every record: one pass of msgspec over a log file, a small object per record.

Nearly every record matches no rule, so building a full dict for each (what ``orjson.loads`` does)
is wasted work. A projection is a tree of msgspec Struct types generated from field paths: decoding
a document with it validates the whole JSON but keeps, for each record, just those fields. The
engine reads them as columns to find the few records that could match; only those are parsed in
full (:func:`raw_records` gives their text) and matched the ordinary way, so a projection only has
to be right about which records *cannot* match.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from operator import attrgetter
from typing import Any, Union, overload

import msgspec
import orjson

from trailsift.fields import KEY_ALIASES, MANY

ColumnGetter = Callable[[Sequence[Any]], list[Any]]
"""One field of many projected records: per record its value, None (no value), or MANY (read the record in full)."""

_NOT_AN_OBJECT = frozenset({list, str, int, float, bool})
"""What a level on the way may hold besides an object or null: then the column cannot read the path."""


@dataclass
class _Node:
    """One object level of the projection tree: its children by JSON key."""

    children: dict[str, _Node]


class _Document(msgspec.Struct):
    Records: list[msgspec.Raw]


class _Anything(msgspec.Struct, gc=False):
    """Any object, none of whose members is kept: decoding to it validates and counts."""


_RAW_RECORDS = msgspec.json.Decoder(_Document)
_RAW_ENTRIES = msgspec.json.Decoder(list[msgspec.Raw])
_COUNT_OBJECTS = msgspec.json.Decoder(list[_Anything])
_WHITESPACE = b" \t\r\n"


class FieldsAbsent(Sequence[None]):
    """The views of records known from their text to hold none of the projected fields: just how many.

    A batch in which no projected top-level key appears (and no escape, which could spell one) has
    no candidate, whatever its records; counting them costs a fraction of projecting them, which
    matters for files of millions of tiny records.
    """

    __slots__ = ("length",)

    def __init__(self, count: int) -> None:
        self.length = count  # not ``count``, which would hide Sequence.count

    def __len__(self) -> int:
        return self.length

    @overload
    def __getitem__(self, index: int) -> None: ...
    @overload
    def __getitem__(self, index: slice) -> list[None]: ...
    def __getitem__(self, index: int | slice) -> list[None] | None:
        if isinstance(index, slice):
            return [None] * len(range(self.length)[index])
        range(self.length)[index]  # raises IndexError as a list would
        return None

    def __eq__(self, other: object) -> bool:
        if isinstance(other, FieldsAbsent):
            return self.length == other.length
        return list(self) == other if isinstance(other, list) else NotImplemented

    __hash__ = None  # type: ignore[assignment]


class ProjectedRecords(list[Any]):
    """The projected records of a batch, and the projected top-level keys its text does not hold.

    Every record has null there, so a column under such a key is all None without being read.
    """

    def __init__(self, views: list[Any], absent: frozenset[str]) -> None:
        super().__init__(views)
        self.absent = absent


def is_utf8(text: bytes) -> bool:
    """Whether ``text`` is valid UTF-8 (ASCII is, at once). msgspec does not check the UTF-8 of the
    strings a projection skips, which orjson refuses: a text that fails here is left to orjson, so
    every path refuses the same documents."""
    if text.isascii():
        return True
    try:
        text.decode()
    except UnicodeDecodeError:
        return False
    return True


def count_objects(array: bytes) -> int | None:
    """How many entries the JSON array ``array`` holds when every one is an object; None when not so or invalid.

    ``[{}, {}, ...]`` (no string anywhere, so nothing but empty objects) is counted from its bytes;
    anything else by one msgspec pass that keeps nothing.
    """
    if b'"' not in array:
        bare = array.translate(None, _WHITESPACE)
        count = bare.count(b"{")
        expected = b"[" + b"{}," * (count - 1) + b"{}]" if count else b"[]"
        if bare == expected:
            return count
    try:
        with paused_gc():
            return len(_COUNT_OBJECTS.decode(array))
    except (msgspec.DecodeError, RecursionError):
        return None


@contextmanager
def paused_gc() -> Iterator[None]:
    """Hold the cyclic garbage collector while msgspec builds many small objects that hold no cycles.

    A decode of a large batch allocates enough to start collections that find nothing; pausing
    them roughly halves the decode's time (0.58 s to 0.33 s on a 318 MB file). The state the
    caller had is restored, including a collector that was already off.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def raw_records(document: bytes) -> list[msgspec.Raw]:
    """The undecoded JSON text of each entry of ``Records``, in order (``document`` must be valid JSON)."""
    with paused_gc():
        return _RAW_RECORDS.decode(document).Records


def raw_entries(array: bytes) -> list[msgspec.Raw]:
    """The undecoded JSON text of each entry of a JSON array (a streamed batch; ``array`` must be valid JSON)."""
    with paused_gc():
        return _RAW_ENTRIES.decode(array)


class RecordProjection:
    """The fields ``fields`` of every record of a document, decoded in one pass.

    >>> projection = RecordProjection(["eventName", "userIdentity.type"])
    >>> views = projection.decode(b'{"Records":[{"eventName":"StopLogging","userIdentity":{"type":"Root"}}, {}]}')
    >>> projection.column("userIdentity.type")(views)
    ['Root', None]
    """

    def __init__(self, fields: Iterable[str]) -> None:
        self.fields = tuple(sorted(set(fields)))
        root = _Node({})
        for field in self.fields:
            parts = field.split(".")
            node = root
            for part in parts[:-1]:
                node = node.children.setdefault(part, _Node({}))
            for key in KEY_ALIASES.get(field, (parts[-1],)):
                node.children.setdefault(key, _Node({}))
        self._attributes: dict[tuple[str, ...], str] = {}
        record_type = self._struct_type(root, ())
        document_type = msgspec.defstruct("ProjectedDocument", [("Records", list[record_type])])  # type: ignore[valid-type]
        self._decoder = msgspec.json.Decoder(document_type)
        self._batch_decoder = msgspec.json.Decoder(list[record_type])  # type: ignore[valid-type]
        self._top_keys = tuple((key, orjson.dumps(key)) for key in root.children)

    def _struct_type(self, node: _Node, path: tuple[str, ...]) -> type:
        """A Struct type for ``node``; attributes are named ``f<n>`` and renamed to the JSON keys (any key works).

        A leaf accepts any JSON value; a level on the way accepts any value too, its object form
        being the next Struct, so no valid document is refused for the types it holds.
        """
        fields: list[tuple[str, Any, Any]] = []
        rename: dict[str, str] = {}
        for position, (key, child) in enumerate(sorted(node.children.items())):
            attribute = f"f{position}"
            rename[attribute] = key
            self._attributes[path + (key,)] = attribute
            if child.children:
                child_type = self._struct_type(child, path + (key,))
                kind: Any = Union[child_type, list, str, int, float, bool, None]
            else:
                kind = Any
            fields.append((attribute, kind, None))
        return msgspec.defstruct("Projected", fields, rename=rename, gc=False)

    def decode(self, document: bytes) -> list[Any] | None:
        """The projected records of ``document``; None when it cannot be read this way (read it plainly).

        None covers invalid JSON, a top level that is not an object, a missing or mistyped
        ``Records``, an entry that is not an object, and numbers past the range of a double.
        """
        try:
            with paused_gc():
                return self._decoder.decode(document).Records  # type: ignore[attr-defined, no-any-return]
        except (msgspec.DecodeError, RecursionError):
            return None

    def decode_records(self, array: bytes) -> Sequence[Any] | None:
        """The projected records of a JSON array of records (a streamed batch); None as for :meth:`decode`.

        When none of the projected top-level keys appears in the text (and no escape that could
        spell one), the records are only counted: :class:`FieldsAbsent`. None when the JSON cannot be
        projected (an entry that is not an object, a number past double range, deep nesting). Raises
        ``msgspec.DecodeError`` when ``array`` is not JSON at all (a streamed batch cut in the wrong
        place), so the caller need not ask orjson why. The views (:class:`ProjectedRecords`) say which
        top-level keys the text does not hold, so the columns under them need not be read.
        """
        escaped = b"\\" in array
        absent = frozenset() if escaped else frozenset(key for key, text in self._top_keys if text not in array)
        if len(absent) == len(self._top_keys):
            count = count_objects(array)
            if count is not None:
                return FieldsAbsent(count)
        try:
            with paused_gc():
                return ProjectedRecords(self._batch_decoder.decode(array), absent)
        except (msgspec.ValidationError, RecursionError):
            return None

    def column(self, field: str) -> ColumnGetter:
        """``field`` of many projected records at once, at C speed when every record holds objects along the path.

        Per record: the value when the path runs through objects only (any JSON value), None when
        something on the way is missing or null, :data:`~trailsift.fields.MANY` when an array or scalar is on the
        way or the field is aliased (``resources.ARN``), so the caller reads that record in full.
        """
        parts = tuple(field.split("."))
        trail = tuple(self._attributes[parts[: depth + 1]] for depth in range(len(parts) - 1))
        leaves = tuple(self._attributes[parts[:-1] + (key,)] for key in KEY_ALIASES.get(field, (parts[-1],)))

        def walk(view: Any) -> Any:
            node = view
            for attribute in trail:
                node = getattr(node, attribute)
                if node is None:
                    return None
                if type(node) in _NOT_AN_OBJECT:
                    return MANY
            values = [getattr(node, leaf) for leaf in leaves]
            if len(values) == 1:
                return values[0]
            return None if all(value is None for value in values) else MANY

        if len(leaves) > 1:
            return lambda views: (
                [None] * len(views)
                if type(views) is FieldsAbsent or (type(views) is ProjectedRecords and parts[0] in views.absent)
                else list(map(walk, views))
            )
        chain = attrgetter(".".join(trail + leaves))

        top = parts[0]

        def column(views: Sequence[Any]) -> list[Any]:
            if type(views) is FieldsAbsent or (type(views) is ProjectedRecords and top in views.absent):
                return [None] * len(views)
            try:
                return list(map(chain, views))
            except AttributeError:  # null, an array or a scalar on the way: a level at a time
                pass
            nodes: list[Any] = list(map(attrgetter(trail[0]), views))
            for attribute in trail[1:] + leaves:
                if nodes.count(None) == len(nodes):
                    return nodes
                nodes = [
                    node if node is None or node is MANY else MANY if type(node) in _NOT_AN_OBJECT else getattr(node, attribute)
                    for node in nodes
                ]
            return nodes

        return column

