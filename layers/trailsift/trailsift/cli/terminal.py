"""Text that fits a terminal: its width, colour, and a table whose columns give way to fit.

Hand-written rather than built on a terminal library: the tables here need exactly three things a
general one does not give together. Event text is attacker-controlled, so every cell goes through
:func:`trailsift.text.for_terminal` and no markup language ever reads it; rule names are never cut
(they fold onto more lines), while other cells are cut with ``…`` (an ARN keeping its end, which
names the principal); and when a row cannot fit one line it folds into two bands, the second
indented, instead of every cell wrapping. Widths are counted in terminal cells (East Asian wide
characters take two, combining marks none), and colour is SGR codes added after the layout, so it
never changes a width.

Width (:func:`terminal_width`): ``COLUMNS`` when set, else the terminal's, else 80; tables use at
least 80. Colour (:func:`use_colour`): ``--color auto`` (the default) colours a terminal unless
``NO_COLOR`` is set (https://no-color.org) or ``TERM`` is ``dumb``; ``always`` and ``never`` decide
alone.
"""

from __future__ import annotations

import os
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import IO

from trailsift.text import for_terminal

MIN_WIDTH = 80
"""Tables are laid out for at least this many columns, however narrow the terminal says it is."""
COLOR_CHOICES = ("auto", "always", "never")
ELLIPSIS = "…"
GAP = 2
"""Spaces between two columns."""

Cell = str | Sequence[str]
"""A cell's text, or its items (one a line: the rules a record matched)."""


def terminal_width(stream: IO[str] | None = None, *, minimum: int = 0) -> int:
    """``COLUMNS`` when it is a positive whole number, else the width of the terminal ``stream`` is, else 80;
    never less than ``minimum``."""
    width = 0
    columns = os.environ.get("COLUMNS", "").strip()
    if columns.isdigit() and int(columns) > 0:
        width = int(columns)
    elif stream is not None:
        try:
            width = os.get_terminal_size(stream.fileno()).columns
        except (AttributeError, ValueError, OSError):  # not a terminal, or no file descriptor (a test's capture)
            width = 0
    return max(width or MIN_WIDTH, minimum)


def use_colour(choice: str, stream: IO[str]) -> bool:
    """Whether to colour what is written to ``stream``: ``always``, ``never``, or ``auto`` (a terminal, no
    ``NO_COLOR``, a ``TERM`` other than ``dumb``)."""
    if choice != "auto":
        return choice == "always"
    if os.environ.get("NO_COLOR") or os.environ.get("TERM") == "dumb":
        return False
    isatty: Callable[[], bool] | None = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


# SGR parameters: what each thing looks like in colour.
BOLD = "1"
DIM = "2"
HEADING = "35"  # a file's name over its rows: magenta, as ripgrep shows file names
SEVERITY_STYLES = {"critical": "1;31", "high": "31", "medium": "33", "low": "36", "info": "2"}


def paint(text: str, style: str | None, colour: bool) -> str:
    """``text`` in ``style`` (SGR parameters) when ``colour``, else as it is."""
    if not colour or not style or not text:
        return text
    return f"\x1b[{style}m{text}\x1b[0m"


def char_width(char: str) -> int:
    """The terminal cells one character takes: 2 for East Asian wide and full-width, 0 for combining marks."""
    if char.isascii():
        return 1
    if unicodedata.combining(char) or unicodedata.category(char) in ("Mn", "Me"):
        return 0
    return 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1


def display_width(text: str) -> int:
    """The terminal cells ``text`` takes (no control characters: :func:`for_terminal` text)."""
    return len(text) if text.isascii() else sum(map(char_width, text))


def _take(text: str, width: int) -> int:
    """How many characters of ``text``, from its start, fit in ``width`` cells."""
    used = 0
    for count, char in enumerate(text):
        used += char_width(char)
        if used > width:
            return count
    return len(text)


def cut(text: str, width: int, *, keep_end: bool = False) -> str:
    """``text`` in at most ``width`` cells: as it is when it fits, else cut with ``…`` at its end (or, with
    ``keep_end``, at its start, keeping the end)."""
    if display_width(text) <= width:
        return text
    if width <= 1:
        return ELLIPSIS[:width]
    if keep_end:
        reversed_text = text[::-1]
        return ELLIPSIS + reversed_text[: _take(reversed_text, width - 1)][::-1]
    return text[: _take(text, width - 1)] + ELLIPSIS


_BREAKS = (" ", "/", "-_", ".:,")
"""Where a line may break, after any of these characters: the first kind found in the line's last two
thirds wins (a space, then a folder's end, then a word's)."""


def _break(head: str, breaks: Sequence[str]) -> int:
    """Where to break a line whose first ``len(head)`` characters fit: after a break character, else at the end."""
    for chars in breaks:
        at = max(head.rfind(char) for char in chars) + 1
        if at > len(head) // 3:
            return at
    return len(head)


def fold(text: str, width: int, *, indent: str = "", greedy: bool = False) -> list[str]:
    """``text`` as lines of at most ``width`` cells, nothing cut: each line breaks after a space, a ``/``, a
    ``-`` or ``_``, or a ``.``, ``:`` or ``,`` (the first kind that fits, :data:`_BREAKS`), else where the
    width ends. Lines after the first start with ``indent`` (when it is narrower than ``width``). ``greedy``
    breaks after the last break character of any kind, filling each line."""
    breaks = ("".join(_BREAKS),) if greedy else _BREAKS
    width = max(width, 1)
    lines: list[str] = []
    prefix = ""
    while True:
        room = width - display_width(prefix)
        if display_width(text) <= room:
            lines.append(prefix + text)
            return lines
        count = _break(text[: max(_take(text, room), 1)], breaks)
        lines.append((prefix + text[:count]).rstrip())
        text = text[count:].lstrip(" ")
        prefix = indent if display_width(indent) < width else ""


def wrap_lines(lines: Iterable[str], width: int, indent: str = "    ") -> list[str]:
    """Each line folded to ``width`` cells (:func:`fold`), its continuation lines indented by ``indent``
    more than the line itself."""
    out: list[str] = []
    for line in lines:
        lead = line[: len(line) - len(line.lstrip(" "))]
        out += fold(line, width, indent=lead + indent) if display_width(line) > width else [line]
    return out


# --- tables -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    """One column of a table: ``key`` names its cell in a row, ``title`` heads it.

    Its width is its widest cell's (or the title's); when the table does not fit, the widest
    column that can gives way, down to the minimum a layout gives it. A ``fold`` column's cells
    fold onto more lines instead of being cut (rule names are never cut); ``keep_end`` cuts at the
    start; a ``right`` column is right-aligned; ``styled`` columns are coloured by their text
    (:data:`SEVERITY_STYLES`).
    """

    key: str
    title: str
    fold: bool = False
    keep_end: bool = False
    right: bool = False
    styled: bool = False


@dataclass(frozen=True)
class Band:
    """A line of a row: columns, each with its minimum width (0: its full width, never given way), ``indent``
    spaces before it."""

    columns: tuple[tuple[Column, int], ...]
    indent: int = 0


Layout = tuple[Band, ...]
Row = dict[str, Cell]


def _items(value: Cell) -> list[str]:
    return [for_terminal(value)] if isinstance(value, str) else [for_terminal(item) for item in value]


@dataclass(frozen=True)
class FittedBand:
    band: Band
    widths: tuple[int, ...]


class Table:
    """Rows laid out to fit ``width``: the first of ``layouts`` that fits with every column at or above its
    minimum, else the last one squeezed until it fits (any column then gives way, down to 1).

    The widths are taken from the rows given to :meth:`fit` (all of them, or a first page of them);
    rows rendered later are cut and folded to those widths.
    """

    def __init__(self, layouts: Sequence[Layout], width: int, *, colour: bool = False) -> None:
        if not layouts:
            raise ValueError("a table needs a layout")
        self.layouts = tuple(layouts)
        self.width = width
        self.colour = colour
        self.fitted: tuple[FittedBand, ...] = ()

    def fit(self, rows: Iterable[Row]) -> Table:
        rows = list(rows)
        for layout in self.layouts:
            fitted = [self._fit_band(band, rows, squeeze=False) for band in layout]
            if all(band is not None for band in fitted):
                self.fitted = tuple(band for band in fitted if band is not None)
                return self
        self.fitted = tuple(self._fit_band(band, rows, squeeze=True) or FittedBand(band, ()) for band in self.layouts[-1])
        return self

    @property
    def folded(self) -> bool:
        """Whether a row takes more than one band (line) here."""
        return len(self.fitted) > 1

    def _fit_band(self, band: Band, rows: list[Row], *, squeeze: bool) -> FittedBand | None:
        natural = []
        for column, _ in band.columns:
            widest = display_width(column.title)
            for row in rows:
                value = row.get(column.key)
                if value is not None:
                    widest = max(widest, max(map(display_width, _items(value)), default=0))
            natural.append(widest)
        room = self.width - band.indent - GAP * (len(band.columns) - 1)
        floors = [1 if squeeze else minimum or width for (_, minimum), width in zip(band.columns, natural, strict=True)]
        widths = [min(width, max(room, 1)) for width in natural]
        excess = sum(widths) - room
        while excess > 0:  # the widest column that may still give way gives one cell
            candidates = [i for i, width in enumerate(widths) if width > floors[i]]
            if not candidates:
                return None
            widest = max(candidates, key=lambda i: (widths[i], i))
            widths[widest] -= 1
            excess -= 1
        return FittedBand(band, tuple(widths))

    def header(self) -> list[str]:
        """The titles of the columns, a line a band."""
        return self._lines({column.key: column.title for band in self.fitted for column, _ in band.band.columns},
                           title=True)

    def render(self, row: Row) -> list[str]:
        """One row as lines: a band each (and more where a cell folds)."""
        return self._lines(row, title=False)

    def _lines(self, row: Row, *, title: bool) -> list[str]:
        out: list[str] = []
        for fitted in self.fitted:
            columns = [column for column, _ in fitted.band.columns]
            cells = [self._cell(column, row.get(column.key), width) for column, width in zip(columns, fitted.widths)]
            height = max((len(lines) for lines in cells), default=1)
            if height == 0 or all(not "".join(lines).strip() for lines in cells):
                continue  # a band with nothing in it (a record without principal, region or address)
            for number in range(height):
                parts: list[str] = []
                for column, lines, width in zip(columns, cells, fitted.widths):
                    text = lines[number] if number < len(lines) else ""
                    pad = " " * (width - display_width(text))
                    style = BOLD if title else SEVERITY_STYLES.get(text) if column.styled else None
                    shown = paint(text, style, self.colour)
                    parts.append(pad + shown if column.right else shown + pad)
                out.append((" " * fitted.band.indent + (" " * GAP).join(parts)).rstrip())
        return out

    @staticmethod
    def _cell(column: Column, value: Cell | None, width: int) -> list[str]:
        if value is None:
            return [""]
        items = _items(value)
        if column.fold:
            return [line for item in items for line in fold(item, width, indent="  " if width > 8 else "")]
        return [cut(item, width, keep_end=column.keep_end) for item in items] or [""]
