"""Untrusted text made safe to show: the one rule for every place event text is shown.

Record fields, object keys, error messages and rule names read from files are written by whoever
controls an account, a bucket or a rules file. Shown as they are, a newline forges a line of a log
or an alert, an escape sequence moves a terminal's cursor or retitles its window, and a bidi
override (U+202E) shows ``exe.gz`` for ``zg.exe``. A character is *unsafe* here when its Unicode
category is control (Cc: C0, DEL, C1), format (Cf: bidi overrides and isolates, zero-width
characters, soft hyphen, ...), surrogate (Cs: a lone surrogate cannot even be encoded) or a
line/paragraph separator (Zl, Zp). The functions differ only in what an unsafe character becomes,
because the places differ:

- :func:`escape` / :func:`one_line`: a backslash escape (``\\n``, ``\\x1b``, ``\\u202e``); the
  backslash itself is escaped too, so distinct inputs stay distinct and nothing is hidden. For
  messages, alert bodies and object locations.
- :func:`for_terminal`: one replacement character (U+FFFD) a character, so a column keeps its width.
  For tables printed on a terminal.
- :func:`ascii_subject`: printable ASCII only, anything else ``?``. For SNS subjects, which SNS
  refuses unless they are ASCII without control characters.

Pure: no I/O, no AWS; the function and the command line both use it.
"""

from __future__ import annotations

import unicodedata

__all__ = ["UNSAFE_CATEGORIES", "ascii_subject", "escape", "for_terminal", "is_unsafe", "one_line"]

UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\\": "\\\\"}


def is_unsafe(char: str) -> bool:
    """Whether ``char`` (one character) can forge a line, move a cursor, reorder text or be invisible."""
    return unicodedata.category(char) in UNSAFE_CATEGORIES


def _escaped(char: str, also: str) -> str:
    """One character as shown by :func:`escape`."""
    if char in _NAMED:
        return _NAMED[char]
    if char in also or is_unsafe(char):
        code = ord(char)
        if code < 0x100:
            return f"\\x{code:02x}"
        if code < 0x10000:
            return f"\\u{code:04x}"
        return f"\\U{code:08x}"
    return char


def _plain(text: str) -> bool:
    """Printable ASCII without a backslash: nothing to escape (the common case, checked fast)."""
    return text.isascii() and text.isprintable() and "\\" not in text


def escape(text: str, *, also: str = "") -> str:
    """``text`` with every unsafe character, every backslash and every character of ``also`` written as an escape.

    Injective (two different texts never look the same) and never longer than 10 characters per
    input character; a location keeps ``?`` out with ``also="?"`` so a key cannot forge a query string.
    """
    if _plain(text) and not any(char in text for char in also):
        return text
    return "".join(_escaped(char, also) for char in text)


def one_line(text: str, max_len: int, *, also: str = "") -> str:
    """:func:`escape`'d ``text`` in at most ``max_len`` characters (at least 3), ending in ``...`` when cut.

    An escape is never split: the text is cut before the first character whose escape would not fit.
    """
    if max_len < 3:
        raise ValueError(f"max_len must be at least 3, got {max_len}")
    escaped = escape(text[: max_len + 1], also=also)
    if len(escaped) <= max_len and len(text) <= max_len:
        return escaped
    room = max_len - 3
    parts: list[str] = []
    for char in text:
        shown = _escaped(char, also)
        if len(shown) > room:
            break
        parts.append(shown)
        room -= len(shown)
    return "".join(parts) + "..."


def for_terminal(text: str, max_len: int = 0) -> str:
    """``text`` for a terminal table: each unsafe character one U+FFFD (newline and tab a space), so widths hold.

    Cut to ``max_len`` characters (0: no limit), the last one ``…`` when cut. Idempotent.
    """
    if not (text.isascii() and text.isprintable()):
        text = "".join(
            " " if char in "\n\t" else "\ufffd" if is_unsafe(char) else char for char in text
        )
    if max_len and len(text) > max_len:
        text = text[: max_len - 1] + "…"
    return text


def ascii_subject(text: str, max_len: int = 0) -> str:
    """``text`` as (part of) an SNS subject: printable ASCII only, anything else ``?``; idempotent.

    SNS refuses a subject with a line break, a control character or non-ASCII text, and one of 100
    characters or more. Cut to ``max_len`` characters (0: no limit), the last three ``...`` when cut
    (a ``max_len`` below 4 just cuts).
    """
    text = "".join(char if " " <= char <= "~" else "?" for char in text)
    if not max_len or len(text) <= max_len:
        return text
    return text[: max_len - 3] + "..." if max_len > 3 else text[:max_len]
