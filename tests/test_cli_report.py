"""Rendering: the text table must be safe for a terminal and the progress bar quiet off a terminal."""

from __future__ import annotations

import io

import orjson

from trailsift.cli.replay import ReplaySummary
from trailsift.cli.report import ProgressBar, jsonl_line, table_row
from trailsift.scan import Match

HOSTILE = {
    "eventID": "e1",
    "eventName": "StopLogging",
    "eventTime": "2026-11-20T00:00:00Z",
    "userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::1:user/\x1b[2J\x1b]0;pwned\x07x"},
    "sourceIPAddress": "1.2.3.4\r\x9bevil",
}


def test_table_row_neutralizes_terminal_control_characters():
    row = table_row(Match("f.json.gz", 3, HOSTILE, ("r",)))
    assert not any(ord(ch) < 0x20 or 0x7F <= ord(ch) < 0xA0 for ch in row)
    assert "\ufffd[2J" in row
    assert row.endswith("f.json.gz:3")


def test_jsonl_keeps_the_values_exactly():
    line = jsonl_line(Match("f", 0, HOSTILE, ("r",)), with_record=True)
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    decoded = orjson.loads(line)
    assert decoded["record"] == HOSTILE
    assert decoded["principal"] == HOSTILE["userIdentity"]["arn"]


def test_progress_bar_is_silent_off_a_terminal_and_draws_on_one():
    quiet = io.StringIO()
    bar = ProgressBar(1000, quiet)
    bar(500, ReplaySummary())
    assert quiet.getvalue() == ""

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    loud = Terminal()
    bar = ProgressBar(1000, loud)
    bar(500, ReplaySummary())
    bar(1000, ReplaySummary())
    assert " 50%" in loud.getvalue() and "100%" in loud.getvalue() and loud.getvalue().endswith("\n")
    short = Terminal()
    ProgressBar(10, short)(5, ReplaySummary())
    assert short.getvalue() == ""
