"""End to end over HTTP: moto's server on 127.0.0.1, the real handler invoked in-process, real sample files.

What the subscriber receives and what the index holds must be exactly what the core predicts for
the same files: one alert per event matching an alert rule, one row per (event, rule) for index rules.
"""

from __future__ import annotations

import io
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from tests.conftest import EVENTS_LOGS, REPO, index_rows
from trailsift.engine import RuleEngine
from trailsift.cli.local import local_run, print_run, s3_key
from trailsift.record import event_key
from trailsift.rules import Destination, RulesError, default_rules
from trailsift.scan import scan_log_file
from trailsift.cli.sources import discover


def expected(paths: list[Path]) -> tuple[Counter[str], set[tuple[str, str]]]:
    """Alerts per event key and (event key, rule) index pairs the default pack gives for these files."""
    rules = default_rules()
    engine = RuleEngine(rules)
    alerting = {r.name for r in rules if Destination.ALERT in r.destinations}
    indexing = {r.name for r in rules if Destination.INDEX in r.destinations}
    alerts: Counter[str] = Counter()
    rows: set[tuple[str, str]] = set()
    for file in discover(paths):
        key = s3_key(file)
        if not (key.startswith("AWSLogs/") and key.endswith(".json.gz")) or "/CloudTrail/" not in key:
            continue
        if file.path.stat().st_size == 0:
            continue
        for match in scan_log_file(file.path.read_bytes(), key, engine).matches:
            if alerting & set(match.rules):
                alerts[event_key(match.record)] += 1
            rows |= {(event_key(match.record), rule) for rule in match.rules if rule in indexing}
    return alerts, rows


@pytest.fixture(scope="module")
def run_output() -> tuple[list[dict], set[tuple[str, str]], str, list[str | None]]:
    """One local run over events/logs: the alerts received, the index rows, the printed report, errors."""
    with local_run([EVENTS_LOGS], handler=REPO / "functions" / "processor" / "app.py") as result:
        table = result.stack.client("dynamodb").scan(TableName=result.stack.table)
        rows = {
            (item["pk"]["S"].removeprefix("EVENT#"), item["rule"]["S"])
            for item in table["Items"]
            if item["pk"]["S"].startswith("EVENT#")  # not the alert ledger's items
        }
        out = io.StringIO()
        print_run(result, out)
        return result.alerts, rows, out.getvalue(), [inv.error for inv in result.invocations]


def test_subscriber_receives_one_alert_per_matching_event(run_output) -> None:
    alerts, _, _, errors = run_output
    want, _ = expected([EVENTS_LOGS])
    got = Counter(_event_id(a) for a in alerts)
    assert errors and all(error is None for error in errors)
    assert sum(want.values()) == len(alerts) > 10
    assert got == want


def test_index_holds_exactly_the_predicted_rows(run_output) -> None:
    _, rows, _, _ = run_output
    _, want = expected([EVENTS_LOGS])
    assert rows == want and len(rows) > 10


def test_alerts_arrive_with_subject_attributes_and_masked_body(run_output) -> None:
    alerts, _, _, _ = run_output
    for envelope in alerts:
        subject = envelope["Subject"]
        assert subject.isascii() and len(subject) < 100 and "\n" not in subject
        assert subject.startswith(("[critical]", "[high]", "[medium]", "[low]", "[info]"))
        attributes = envelope["MessageAttributes"]
        assert {"rule", "severity", "eventName", "eventSource"} <= set(attributes)
        assert attributes["rule"]["Type"] == "String.Array"
        assert "Event JSON:" in envelope["Message"]
        assert "log file:       s3://trailsift-local-" in envelope["Message"]


def test_printed_report_shows_alerts_and_returns_the_indexed_rules(run_output) -> None:
    alerts, rows, printed, _ = run_output
    assert f"== {len(alerts)} SNS alerts, as the subscriber received them ==" in printed
    assert printed.count("-- alert ") == len(alerts)
    assert "(use --full to see it)" in printed


def test_make_demo_command_prints_alerts_and_index_rows() -> None:
    """The README's `make demo` command, as a user runs it (a separate process, its own moto server)."""
    done = subprocess.run(
        [sys.executable, "-m", "trailsift.cli", "local", "events/logs"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    out = done.stdout
    assert "SNS alerts, as the subscriber received them" in out
    assert "$ trailsift query --rule cloudtrail-changes" in out
    assert "StopLogging" in out and "TrailNotFoundException" in out
    assert '"_aws"' not in out  # metrics stay quiet in the demo


def _event_id(envelope: dict) -> str:
    for line in envelope["Message"].splitlines():
        if line.strip().startswith("event ID:"):
            return line.split(":", 1)[1].strip()
    raise AssertionError("alert body has no event ID line")


def test_a_rules_file_runs_end_to_end_through_the_s3_override(tmp_path: Path) -> None:
    """`trailsift local --rules FILE`: the function reads the rules from S3, as a deployment's override does."""
    rules = tmp_path / "only-trail-stops.yaml"
    rules.write_text(
        "rules:\n"
        "  - name: trail-stopped\n"
        "    severity: critical\n"
        "    destinations: [alert]\n"
        "    selectors:\n"
        "      - FieldSelectors:\n"
        "          - {Field: eventName, Equals: [StopLogging]}\n"
    )
    with local_run([EVENTS_LOGS], handler=REPO / "functions" / "processor" / "app.py", rules=rules) as result:
        assert index_rows(result.stack.client("dynamodb"), result.stack.table) == []  # an alert-only rule
    subjects = [alert["Subject"] for alert in result.alerts]
    assert subjects and all(s.startswith("[critical] StopLogging ") for s in subjects)
    assert {a["MessageAttributes"]["rule"]["Value"] for a in result.alerts} == {'["trail-stopped"]'}


def test_a_bad_rules_file_fails_before_anything_runs(tmp_path: Path) -> None:
    rules = tmp_path / "bad.json"
    rules.write_text('{"rules": [{"name": "x", "selectors": [{"FieldSelectors": [{"Field": "eventName", "Sort": ["A"]}]}]}]}')
    with pytest.raises(RulesError, match="Sort"):
        with local_run([EVENTS_LOGS], handler=REPO / "functions" / "processor" / "app.py", rules=rules):
            pass


def test_each_file_gets_the_functions_log_line(run_output) -> None:
    _, _, printed, _ = run_output
    assert "== 20 files, as the function logged them ==" in printed
    assert "skipped    123456789012_CloudTrail-Digest" in printed and "digest" in printed
