"""trailsift.text: the one way untrusted text is shown, held to its promises on any text."""

from __future__ import annotations

import re
import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trailsift.text import UNSAFE_CATEGORIES, ascii_subject, escape, for_terminal, is_unsafe, one_line

# Any code point, lone surrogates included (Python strings can hold them; an encoder cannot).
texts = st.text(st.characters(min_codepoint=0, max_codepoint=0x10FFFF), max_size=80)
# Text rich in what matters here: controls, bidi overrides and isolates, separators, backslashes, '?'.
NASTY = "\x00\x07\x1b\n\r\t\x7f\x85\x9b\u200b\u200e\u202a\u202e\u2028\u2029\u2066\u2069\ufeff\U000e0001\ud800\\?é"
nasty_texts = st.text(st.sampled_from(NASTY) | st.characters(max_codepoint=0x7F), max_size=80)
any_text = texts | nasty_texts
lengths = st.integers(min_value=3, max_value=120)


_ESCAPE = re.compile(r"\\(?:([nrt\\])|x([0-9a-f]{2})|u([0-9a-f]{4})|U([0-9a-f]{8}))")


def unescape(shown: str) -> str:
    """The text :func:`escape` was given: each escape read back (the test's own decoder)."""
    def one(found: re.Match[str]) -> str:
        named, *codes = found.groups()
        if named:
            return {"n": "\n", "r": "\r", "t": "\t", "\\": "\\"}[named]
        return chr(int(next(code for code in codes if code), 16))
    return _ESCAPE.sub(one, shown)


def no_unsafe(text: str) -> bool:
    return not any(unicodedata.category(char) in UNSAFE_CATEGORIES for char in text)


def test_known_characters() -> None:
    assert escape("a\nb\x1bc\u202e\\d") == "a\\nb\\x1bc\\u202e\\\\d"
    assert escape("k?v", also="?") == "k\\x3fv" and escape("k?v") == "k?v"
    assert escape("\U000e0001") == "\\U000e0001"  # a language tag: invisible (Cf)
    assert for_terminal("a\x1b[2J\tb\n\u202e") == "a\ufffd[2J b \ufffd"
    assert ascii_subject("Stop\r\nLogging\u2028é") == "Stop??Logging??"
    assert one_line("x" * 10, 8) == "xxxxx..." and one_line("x" * 8, 8) == "x" * 8
    assert one_line("\x1b" * 3, 10) == "\\x1b..."  # an escape is never split
    assert all(is_unsafe(char) for char in "\x00\x85\u200b\u202e\u2028\u2066\ufeff")
    assert not any(is_unsafe(char) for char in "a é ?\\")


def test_one_line_refuses_a_length_too_short_for_its_marker() -> None:
    with pytest.raises(ValueError, match="at least 3"):
        one_line("abc", 2)


@given(any_text, st.text(st.sampled_from("?#%"), max_size=2))
def test_escape_leaves_nothing_unsafe_and_is_injective(text: str, also: str) -> None:
    shown = escape(text, also=also)
    assert no_unsafe(shown)
    assert not any(char in shown for char in also)
    assert len(shown) <= 10 * len(text)
    assert unescape(shown) == text  # injective: two texts never show the same


@given(any_text, any_text)
def test_distinct_texts_escape_differently(first: str, second: str) -> None:
    if first != second:
        assert escape(first) != escape(second)


@given(any_text, lengths)
def test_one_line_is_bounded_safe_and_a_prefix_of_escape(text: str, max_len: int) -> None:
    shown = one_line(text, max_len)
    assert len(shown) <= max_len
    assert no_unsafe(shown) and "\n" not in shown
    if shown == escape(text):
        return
    assert shown.endswith("...")
    assert escape(text).startswith(shown[:-3])  # cut between escapes, never inside one


@given(any_text, st.integers(min_value=0, max_value=120))
def test_for_terminal_is_safe_bounded_width_preserving_and_idempotent(text: str, max_len: int) -> None:
    shown = for_terminal(text, max_len)
    assert no_unsafe(shown)
    assert len(shown) == (min(len(text), max_len) if max_len else len(text))
    assert for_terminal(shown, max_len) == shown


@given(any_text, st.integers(min_value=0, max_value=120))
def test_ascii_subject_is_printable_ascii_bounded_and_idempotent(text: str, max_len: int) -> None:
    shown = ascii_subject(text, max_len)
    assert all(" " <= char <= "~" for char in shown)
    assert len(shown) == (min(len(text), max_len) if max_len else len(text))
    assert ascii_subject(shown, max_len) == shown
