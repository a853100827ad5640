"""Rendering: tables that fit the terminal and are safe for it, colour only where wanted, a progress bar that
redraws one line and leaves nothing behind, JSON lines that keep the values exactly."""

from __future__ import annotations

import io
import os
import re

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trailsift.cli.replay import ReplaySummary
from trailsift.cli.report import (
    MatchRow,
    ProgressBar,
    Severities,
    Shown,
    common_base,
    heading,
    index_cells,
    index_table,
    jsonl_line,
    local_base,
    match_table,
    match_table_lines,
    relative_to,
    rules_at_least,
    s3_base,
)
from trailsift.cli.terminal import (
    Band,
    Column,
    Table,
    cut,
    display_width,
    fold,
    terminal_width,
    use_colour,
    wrap_lines,
)
from trailsift.rules import Rule, RuleSet, Severity, default_rules
from trailsift.scan import Match

ESCAPE = re.compile(r"\x1b\[[0-9;]*m")

HOSTILE = {
    "eventID": "e1",
    "eventName": "StopLogging",
    "eventTime": "2026-11-20T00:00:00Z",
    "userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::1:user/\x1b[2J\x1b]0;pwned\x07x"},
    "sourceIPAddress": "1.2.3.4\r\x9bevil",
}
LONG = {
    "eventID": "e2",
    "eventName": "Put" + "VeryLong" * 20 + "Configuration",
    "eventTime": "2026-11-20T00:00:01Z",
    "awsRegion": "ap-isob-central-3r-but-much-longer-than-any-real-region",
    "userIdentity": {
        "type": "AssumedRole",
        "arn": "arn:aws:sts::123456789012:assumed-role/" + "Role" * 40 + "/session-" + "x" * 64,
    },
    "sourceIPAddress": "2001:0db8:85a3:0000:0000:8a2e:0370:7334.with.a.hostname.that.goes.on.example.com",
    "userAgent": "aws-cli/2.15.0 Python/3.11.6 Linux/6.5.0 exe/x86_64.ubuntu.22 prompt/off command/s3.cp " * 5,
    "recipientAccountId": "123456789012",
}
WIDE = {"eventName": "東京リージョンでの変更", "eventTime": "2026-11-20T00:00:02Z", "awsRegion": "ap-northeast-1",
        "userIdentity": {"arn": "arn:aws:iam::1:user/利用者" * 3}, "sourceIPAddress": "203.0.113.9"}
LONG_RULE = "r" * 60 + "-" + "s" * 67  # the longest name a rule may have: 128 characters


def rules_with(*names_severities: tuple[str, Severity]) -> RuleSet:
    return RuleSet(tuple(Rule(name, (), severity) for name, severity in names_severities))


RULES = rules_with(("r", Severity.LOW), ("trail", Severity.CRITICAL), (LONG_RULE, Severity.HIGH))


def rows_of(*records: dict, rules: tuple[str, ...] = ("r",)) -> list[MatchRow]:
    severity = Severities(RULES)
    return [MatchRow.of(Match(f"dir/file-{i}.json.gz", i, record, rules), i, severity(rules))
            for i, record in enumerate(records)]


def rule_column(table: Table, name: str, key: str = "rules") -> str:
    """What the table shows of a rule cell alone (the other cells empty): the pieces of the name, joined."""
    return "".join(line.strip() for line in table.render({key: (name,) if key == "rules" else name}))


def visible(lines: list[str]) -> list[str]:
    return [ESCAPE.sub("", line) for line in lines]


def assert_fits(lines: list[str], width: int) -> None:
    assert lines
    for line in visible(lines):
        assert display_width(line) <= width, (width, line)
        assert not any(ord(ch) < 0x20 or 0x7F <= ord(ch) < 0xA0 for ch in line), line


# --- the replay table ---------------------------------------------------------------------------------


def test_table_neutralizes_terminal_control_characters() -> None:
    lines = list(match_table_lines(rows_of(HOSTILE), str, 200, False))
    assert_fits(lines, 200)
    assert "\ufffd[2J" in "\n".join(lines)
    assert "dir/file-0.json.gz" in lines


@pytest.mark.parametrize("width", [80, 100, 120, 160, 250])
def test_every_line_fits_whatever_the_values(width: int) -> None:
    rows = rows_of(HOSTILE, LONG, WIDE, {}, rules=("r", "trail", LONG_RULE))
    lines = list(match_table_lines(rows, str, width, True))
    assert_fits(lines, width)
    text = "\n".join(visible(lines))
    # no rule name is ever cut: folded, its pieces are all there in order
    assert rule_column(match_table(rows, width, False), LONG_RULE) == LONG_RULE
    assert "trail" in text and "critical" in text  # the severity is the highest of the rules'
    assert "…" in text  # what gives way is cut visibly


def test_rule_names_fold_but_are_never_cut() -> None:
    name = "console-login-without-mfa-and-a-much-longer-tail-for-good-measure"
    lines = fold(name, 20, indent="  ")
    assert all(display_width(line) <= 20 for line in lines)
    assert "".join(line.strip() for line in lines) == name
    assert lines[0].endswith("-")  # broken after a hyphen, not mid-word


def test_a_short_table_keeps_one_line_a_match_and_a_narrow_one_two() -> None:
    rows = rows_of(*[{"eventName": "StopLogging", "eventTime": "2026-11-20T00:00:00Z", "awsRegion": "us-east-1",
                      "userIdentity": {"arn": "arn:aws:iam::123456789012:user/alice"},
                      "sourceIPAddress": "192.0.2.1"}], rules=("trail",))
    wide = visible(list(match_table_lines(rows, str, 200, False)))
    assert wide[0].split() == ["#", "time", "severity", "rule", "event", "region", "source", "IP", "principal"]
    assert wide[2].split() == ["0", "2026-11-20T00:00:00Z", "critical", "trail", "StopLogging", "us-east-1",
                               "192.0.2.1", "arn:aws:iam::123456789012:user/alice"]
    narrow = visible(list(match_table_lines(rows, str, 80, False)))
    assert narrow[0].split() == ["#", "time", "severity", "rule", "event"]
    assert narrow[1].split() == ["region", "source", "IP", "principal"]
    assert narrow[3].split() == ["0", "2026-11-20T00:00:00Z", "critical", "trail", "StopLogging"]
    assert narrow[4].split() == ["us-east-1", "192.0.2.1", "arn:aws:iam::123456789012:user/alice"]


def test_a_principal_that_gives_way_keeps_its_end() -> None:
    assert cut("arn:aws:sts::123456789012:assumed-role/Admin/alice", 20, keep_end=True) == "…ed-role/Admin/alice"
    assert cut("AuthorizeSecurityGroupIngress", 12) == "AuthorizeSe…"
    assert cut("東京リージョン", 7) == "東京リ…"
    assert display_width(cut("東京リージョン", 6)) <= 6


@pytest.mark.parametrize("width", [80, 120])
def test_file_headings_fit(width: int) -> None:
    name = "AWSLogs/229654561268/CloudTrail/ap-isob-central-3r/2024/08/01/" \
           "229654561268_CloudTrail_ap-isob-central-3r_20240801T1330Z_ILKi33JFuoEJBiSy.json.gz"
    lines = heading(name, width)
    assert all(display_width(line) <= width for line in lines)
    assert "".join(line.strip() for line in lines) == name


def test_summary_lines_fold_with_a_hanging_indent() -> None:
    lines = wrap_lines(["  " + "a/" * 60 + ": the reason it was skipped"], 80)
    assert len(lines) > 1 and all(display_width(line) <= 80 for line in lines)
    assert all(line.startswith("      ") for line in lines[1:])


@settings(max_examples=60, deadline=None)
@given(
    width=st.integers(80, 260),
    values=st.lists(st.text(min_size=0, max_size=300), min_size=6, max_size=6),
    rules=st.lists(st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}", fullmatch=True), min_size=1, max_size=4),
)
def test_any_table_fits(width: int, values: list[str], rules: list[str]) -> None:
    record = {"eventName": values[0], "eventTime": values[1], "awsRegion": values[2],
              "userIdentity": {"arn": values[3]}, "sourceIPAddress": values[4]}
    row = MatchRow.of(Match(values[5] or "f", 7, record, tuple(rules)), 0, Severity.INFO)
    lines = list(match_table_lines([row], str, width, False))
    assert_fits(lines, width)
    table = match_table([row], width, False)
    for rule in rules:
        assert rule_column(table, rule) == rule  # folded maybe, never cut


# --- colour -------------------------------------------------------------------------------------------


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_colour_only_on_a_terminal_without_no_color(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm-256color")
    assert use_colour("auto", Terminal())
    assert not use_colour("auto", io.StringIO())
    assert use_colour("always", io.StringIO())
    assert not use_colour("never", Terminal())
    monkeypatch.setenv("NO_COLOR", "1")
    assert not use_colour("auto", Terminal())
    assert use_colour("always", Terminal())  # the option is the user's latest word
    monkeypatch.setenv("NO_COLOR", "")  # set but empty: no-color.org says it does not count
    assert use_colour("auto", Terminal())
    monkeypatch.setenv("TERM", "dumb")
    assert not use_colour("auto", Terminal())


def test_colour_marks_the_severity_and_changes_no_width() -> None:
    rows = rows_of(HOSTILE, LONG, rules=("trail",))
    plain = list(match_table_lines(rows, str, 80, False))
    coloured = list(match_table_lines(rows, str, 80, True))
    assert not any("\x1b" in line for line in plain)
    assert "\x1b[1;31mcritical\x1b[0m" in "\n".join(coloured)
    assert visible(coloured) == plain


def test_terminal_width(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "132")
    assert terminal_width(io.StringIO()) == 132
    monkeypatch.setenv("COLUMNS", "40")
    assert terminal_width(io.StringIO(), minimum=80) == 80
    monkeypatch.setenv("COLUMNS", "wide")
    assert terminal_width(io.StringIO()) == 80  # not a terminal, nothing usable said: 80
    monkeypatch.delenv("COLUMNS")
    assert terminal_width(io.StringIO()) == 80


# --- JSON lines ---------------------------------------------------------------------------------------


def test_jsonl_keeps_the_values_exactly_and_says_the_severity() -> None:
    line = jsonl_line(Match("f", 0, HOSTILE, ("r",)), with_record=True, severity=Severity.HIGH)
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    decoded = orjson.loads(line)
    assert decoded["record"] == HOSTILE
    assert decoded["principal"] == HOSTILE["userIdentity"]["arn"]
    assert decoded["severity"] == "high"


def test_severity_of_a_match_is_the_highest_of_its_rules() -> None:
    severity = Severities(default_rules())
    assert severity(["unauthorized-api-calls"]) is Severity.LOW
    assert severity(["unauthorized-api-calls", "organizations-changes"]) is Severity.HIGH
    assert severity(["cloudtrail-changes", "console-login-without-mfa"]) is Severity.CRITICAL
    kept, below = rules_at_least(default_rules(), Severity.HIGH)
    assert {rule.severity for rule in kept} == {Severity.HIGH, Severity.CRITICAL}
    assert "unauthorized-api-calls" in below and "iam-policy-changes" in below
    assert len(kept) + len(below) == len(default_rules())


# --- file names relative to the path given ------------------------------------------------------------


def test_local_names_are_relative_to_the_path_given(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "logs" / "AWSLogs").mkdir(parents=True)
    (tmp_path / "logs" / "one.json").write_text("{}")
    monkeypatch.chdir(tmp_path)
    assert local_base("logs") == local_base("logs/") == "logs" + os.sep
    assert local_base(".") == ""
    assert local_base("logs/one.json") == "logs" + os.sep
    assert local_base("one.json") == ""
    assert common_base([local_base("logs"), local_base("logs/one.json")]) == "logs/"
    assert common_base(["a/b/", "a/c/"]) == "a/"
    assert common_base(["a/", "ab/"]) == ""
    shown = relative_to("logs/")
    assert shown("logs/AWSLogs/x.json.gz") == "AWSLogs/x.json.gz"
    assert shown("other/x.json.gz") == "other/x.json.gz"


def test_s3_names_are_the_key_relative_to_the_prefix_given() -> None:
    keys = ["s3://b/trail/AWSLogs/1/x.json.gz", "s3://b/trail/AWSLogs/2/y.json.gz"]
    assert s3_base("s3://b/", keys) == "s3://b/"
    assert s3_base("s3://b/trail", keys) == "s3://b/trail/"  # a trail's key prefix, without its slash
    assert s3_base("s3://b/trail/AWSLogs/", keys) == "s3://b/trail/AWSLogs/"
    assert s3_base("s3://b/trail/AWSLogs/1", keys[:1]) == "s3://b/trail/AWSLogs/1/"
    assert s3_base("s3://b/trail/AWS", keys) == "s3://b/trail/"  # part of a name: its folder
    assert common_base(["s3://a/x/", "s3://b/x/"]) == ""  # never less than a bucket
    assert common_base(["s3://a/x/", "s3://a/y/"]) == "s3://a/"


# --- what is shown ------------------------------------------------------------------------------------


@given(times=st.lists(st.one_of(st.none(), st.sampled_from(["2024-01-01T00:00:00Z", "2023-05-05T10:00:00Z",
                                                             "2025-12-31T23:59:59Z"])), max_size=60),
       limit=st.one_of(st.none(), st.integers(1, 10)))
def test_shown_in_time_order_is_the_first_of_everything_sorted(times: list[str | None], limit: int | None) -> None:
    shown = Shown(by_time=True, limit=limit)
    keys = [(time or "\uffff", order) for order, time in enumerate(times)]
    for key in keys:
        shown.add(key, key)
    assert shown.items() == sorted(keys)[:limit]
    in_order = Shown(by_time=False, limit=limit)
    for key in keys:
        in_order.add(key, key)
    assert in_order.items() == keys[:limit]


# --- query's table ------------------------------------------------------------------------------------


@pytest.mark.parametrize("width", [80, 120, 200])
def test_query_table_fits(width: int) -> None:
    rows = [
        {"eventTime": "2024-01-01T10:00:00Z", "rule": "cloudtrail-changes", "severity": "high", "eventName": "DeleteTrail",
         "principal": "arn:aws:iam::111122223333:user/alice", "account": "111122223333", "region": "us-east-1",
         "sourceIPAddress": "198.51.100.7", "errorCode": None},
        {"eventTime": "2024-01-01T10:00:01Z", "rule": LONG_RULE, "severity": "critical", "eventName": LONG["eventName"],
         "principal": LONG["userIdentity"]["arn"], "account": "111122223333", "region": LONG["awsRegion"],
         "sourceIPAddress": LONG["sourceIPAddress"], "errorCode": "AccessDenied" * 5},
    ]
    table = index_table(rows, width, True)
    lines = table.header() + [line for row in rows for line in table.render(index_cells(row))]
    assert_fits(lines, width)
    assert rule_column(index_table(rows, width, False), LONG_RULE, "rule") == LONG_RULE


# --- a generic table ----------------------------------------------------------------------------------


def test_a_table_squeezes_its_last_layout_when_nothing_fits() -> None:
    columns = tuple((Column(f"c{i}", f"c{i}"), 30) for i in range(5))
    table = Table([(Band(columns),)], 80).fit([{f"c{i}": "x" * 50 for i in range(5)}])
    lines = table.header() + table.render({f"c{i}": "x" * 50 for i in range(5)})
    assert_fits(lines, 80)


# --- the progress bar ---------------------------------------------------------------------------------


def screen_lines(written: str) -> list[str]:
    """What a terminal of unlimited width shows of ``written`` (\\r returns to the line's start, \\n starts a new
    one): the lines, stale ones included."""
    lines = [""]
    column = 0
    for char in written:
        if char == "\n":
            lines.append("")
            column = 0
        elif char == "\r":
            column = 0
        else:
            line = lines[-1]
            lines[-1] = line[:column] + char + line[column + 1 :]
            column += 1
    return lines


def test_progress_bar_is_silent_off_a_terminal_and_for_short_work() -> None:
    quiet = io.StringIO()
    bar = ProgressBar(1000, quiet)
    bar(500, ReplaySummary())
    assert quiet.getvalue() == ""
    short = Terminal()
    ProgressBar(10, short)(5, ReplaySummary())
    assert short.getvalue() == ""


@pytest.mark.parametrize("columns", [80, 120])
def test_progress_bar_redraws_one_line_that_fits_and_clears_it(monkeypatch: pytest.MonkeyPatch, columns: int) -> None:
    monkeypatch.setenv("COLUMNS", str(columns))
    loud = Terminal()
    bar = ProgressBar(123_456, loud)
    summary = ReplaySummary()
    for done in range(0, 123_457, 617):
        summary.records = done * 1_000
        summary.matched_records = done * 7
        bar(done, summary)
        drawn = loud.getvalue().rsplit("\r", 1)[-1] if done < 123_456 else ""
        assert len(drawn) < columns, drawn
    bar(123_456, summary)
    written = loud.getvalue()
    assert "\n" not in written
    for segment in written.split("\r"):
        assert len(segment) < columns, segment
    assert " 50%" in written and "123,456 files" in written
    assert screen_lines(written) == [" " * len(screen_lines(written)[0])]  # one line, blank at the end
    assert written.endswith("\r")


@pytest.mark.parametrize("width", range(10, 161, 5))
def test_progress_bar_lines_fit_any_width(width: int) -> None:
    bar = ProgressBar(10**9)
    for done in (0, 1, 5 * 10**8, 10**9 - 1):
        line = bar.render(done, 10**12, 10**9, width)
        assert 0 < len(line) < max(width, 5), (width, line)


def test_progress_bar_close_clears_what_it_drew(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    loud = Terminal()
    bar = ProgressBar(1000, loud)
    bar(500, ReplaySummary())
    bar.close()
    bar.close()  # a second close writes nothing more
    assert screen_lines(loud.getvalue()) == [" " * len(screen_lines(loud.getvalue())[0])]
