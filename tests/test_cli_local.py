"""End to end over HTTP: moto's server on 127.0.0.1, the real handler invoked in-process, real sample files.

What the subscriber receives and what the index holds must be exactly what the core predicts for
the same files: each event matching an alert rule in exactly one alert (grouped by rule and principal per
file), one row per (event, rule) for index rules.
"""

from __future__ import annotations

import io
import json
import os
import shlex
import signal
import subprocess
import sys
from collections import Counter
from itertools import takewhile
from pathlib import Path

import pytest

from tests.conftest import EVENTS_LOGS, REPO, index_rows
from trailsift.engine import RuleEngine
from trailsift.cli import main
from trailsift.cli.local import environment, jsonl_objects, local_run, print_run, print_summary, s3_key
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
def run_output() -> tuple[list[dict], set[tuple[str, str]], dict[str, str], list[str | None]]:
    """One local run over events/logs: the alerts received, the index rows, the printed report (``default``
    and ``full``, and the ``summary``, in an 80-column terminal), the invocations' errors."""
    with local_run([EVENTS_LOGS], handler=REPO / "functions" / "processor" / "app.py") as result:
        table = result.stack.client("dynamodb").scan(TableName=result.stack.table)
        rows = {
            (item["pk"]["S"].removeprefix("EVENT#"), item["rule"]["S"])
            for item in table["Items"]
            if item["pk"]["S"].startswith("EVENT#")  # not the alert ledger's items
        }
        printed = {}
        with environment({"COLUMNS": "80"}):
            for name, full in (("default", False), ("full", True)):
                out = io.StringIO()
                print_run(result, out, full=full)
                printed[name] = out.getvalue()
            out = io.StringIO()
            print_summary(result, out, [rule for _, rule in sorted(rows)])
            printed["summary"] = out.getvalue()
        printed["jsonl"] = json.dumps(jsonl_objects(result))
        return result.alerts, rows, printed, [inv.error for inv in result.invocations]


def test_every_matching_event_is_in_exactly_one_alert(run_output) -> None:
    alerts, _, _, errors = run_output
    want, _ = expected([EVENTS_LOGS])
    got = Counter(key for a in alerts for key in json.loads(a["Message"])["eventIDs"])
    assert errors and all(error is None for error in errors)
    assert got == want and set(got.values()) == {1} and sum(want.values()) == 22
    # Grouped by rule and principal per file: 14 alerts, the teardown file's 14 matches in 6 (one per rule).
    assert len(alerts) == 14
    teardown = [json.loads(a["Message"]) for a in alerts if "20230710T1215Z" in a["Message"]]
    assert sorted(len(d["eventIDs"]) for d in teardown) == [1, 1, 2, 3, 3, 4]
    assert len({d["rule"] for d in teardown}) == len(teardown)


def test_jsonl_prints_a_grouped_alert_as_one_object_with_every_event_id(run_output) -> None:
    alerts, _, printed, _ = run_output
    objects = [o for o in json.loads(printed["jsonl"]) if o["kind"] == "alert"]
    assert len(objects) == len(alerts)
    for alert, envelope in zip(objects, alerts):
        document = json.loads(envelope["Message"])
        assert alert["eventIDs"] == document["eventIDs"] and alert["eventID"] == document["eventIDs"][0]
        assert alert["rule"] == document["rule"]
    group = next(o for o in objects if o["rule"] == "security-group-changes" and len(o["eventIDs"]) == 4)
    assert group["subject"] == "[medium] 4 security-group-changes events by user/bert-jan in us-east-1"


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
        # an SQS subscriber gets the trailsift.alert/1 document (MessageStructure json), not the e-mail text
        document = json.loads(envelope["Message"])
        assert document["schema"] == "trailsift.alert/1" and document["subject"] == subject
        assert all(event["logFile"].startswith("s3://trailsift-local-") for event in document["events"])
        assert all("record" in event for event in document["events"])


def test_printed_report_shows_alerts_and_returns_the_indexed_rules(run_output) -> None:
    alerts, rows, printed, _ = run_output
    default, full = printed["default"], printed["full"]
    for text in (default, full):
        assert f"== {len(alerts)} SNS alerts, as the subscriber received them ==" in text
    # by default one line per alert, its subject, the first 20 of them; --full: each alert's whole message
    assert len(alerts) == 14 and "-- alert " not in default and '"schema": "trailsift.alert/1"' not in default
    listed = default.split("SNS alerts, as the subscriber received them ==")[1].split("\n== ")[0]
    assert "(--full shows them all)" not in listed  # 14: under the 20 listed
    assert default.count("\n  [critical] ") + default.count("\n  [medium] ") + default.count("\n  [high] ") == 14
    assert full.count("-- alert ") == len(alerts) and full.count('   "schema": "trailsift.alert/1",') == len(alerts)
    assert all(len(line) <= 80 for line in default.splitlines())


def test_the_summary_counts_what_the_run_did(run_output) -> None:
    alerts, rows, printed, _ = run_output
    summary = printed["summary"]
    lines = summary.splitlines()
    assert all(len(line) <= 80 for line in lines)
    start = lines.index("== summary ==")
    assert lines[start + 1 : start + 6] == [
        "files       24 files found: 21 uploaded, 3 not uploaded",
        "function    20 notifications: 19 files processed, 1 skipped, 0 failed",
        f"alerts      {len(alerts)} received by the subscriber",
        "bus events  22 delivered by the rule on trailsift-matches",
        f"index rows  {len(rows)} in trailsift-index",
    ]
    by_rule = " ".join(line.strip() for line in lines[start + 6 :]).removeprefix("by rule").strip()
    counted = dict(item.rsplit(" ", 1) for item in by_rule.split(", "))
    assert {rule: int(count) for rule, count in counted.items()} == Counter(rule for _, rule in rows)
    # what was not uploaded, and what was uploaded but never sent to the function, each with why
    shown = [_shown(EVENTS_LOGS / "LICENSES" / name) for name in ("LICENSE-invictus", "LICENSE-stratus-red-team", "NOTICE.md")]
    config = _shown(EVENTS_LOGS / "AWSLogs" / "123456789012" / "Config" / "ConfigWritabilityCheckFile")
    assert lines[:start] == [
        "== not uploaded: 3 files ==",
        "  not a CloudTrail log file name:",
        *(f"    {path}" for path in shown),
        "",
        "== not sent to the function: 1 file (uploaded; only .json.gz keys reach it) ==",
        "  AWS Config writability probe, not a log file:",
        f"    {_cut(config, 76)}",
        "",
    ]


def _cut(path: Path | str, columns: int) -> str:
    """A path as a listing cuts it to ``columns``: from the left, keeping the file's name."""
    text = str(path)
    return text if len(text) <= columns else "…" + text[len(text) - columns + 1 :]


def _shown(path: Path) -> str:
    """A path as local lists it: relative to the current directory when it is under it."""
    relative = os.path.relpath(path)
    return str(path) if relative.startswith("..") else relative


def _console(*argv: str, cwd: Path, timeout: int = 300, **env: str) -> subprocess.CompletedProcess[str]:
    """``trailsift ARGV`` run by its console script, as a user runs it, in ``cwd``."""
    script = Path(sys.executable).with_name("trailsift")
    return subprocess.run([str(script), *argv], cwd=cwd, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "COLUMNS": "80", **env})


def test_make_demo_ends_with_the_summary_in_80_columns() -> None:
    """`make demo` as a user runs it (a separate process, its own moto server): a short report that fits 80
    columns (apart from `trailsift query`'s own table) and ends with the summary."""
    recipe = (REPO / "Makefile").read_text().split("\ndemo:", 1)[1].splitlines()[1:]
    demo = list(takewhile(lambda line: line.startswith("\t"), recipe))
    assert demo == ["\t$(BIN)/trailsift local events/logs"]
    done = _console("local", "events/logs", cwd=REPO)
    assert done.returncode == 0, done.stderr[-2000:]
    out, lines = done.stdout, done.stdout.splitlines()
    assert done.stderr == ""
    assert "SNS alerts, as the subscriber received them" in out
    assert "$ trailsift query --rule cloudtrail-changes" in out
    assert "StopLogging" in out and "TrailNotFound" in out
    assert '"_aws"' not in out  # metrics stay quiet in the demo
    assert len(lines) < 130
    query = lines.index("== index rows, as `trailsift query` shows them ==")
    end_of_query = next(n for n in range(query, len(lines)) if lines[n].startswith("8 more rules indexed rows"))
    assert all(len(line) <= 80 for line in lines[:query] + lines[end_of_query:])
    assert lines[-10] == "== summary ==" and lines[-1].startswith(" " * 12)


def test_local_runs_from_any_directory(tmp_path: Path) -> None:
    """No path given, from a directory that is no checkout: the checkout's handler and sample files are
    found from the installed package; --quiet prints the summary only."""
    done = _console("local", "--quiet", cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stderr == ""
    lines = done.stdout.splitlines()
    assert lines[0] == "== not uploaded: 3 files ==" and "== summary ==" in lines
    assert "files       24 files found: 21 uploaded, 3 not uploaded" in lines
    assert not any(line.startswith(("moto server", "== 20 files", "$ trailsift query")) for line in lines)
    assert all(len(line) <= 80 for line in lines)


def test_keep_leaves_the_stack_up_for_the_query_command_it_prints(tmp_path: Path) -> None:
    """--keep: the printed `trailsift query` command, run as printed from another process, reads the live
    stack's index; Ctrl-C (SIGINT) then stops it cleanly."""
    script = Path(sys.executable).with_name("trailsift")
    clean = {name: value for name, value in os.environ.items() if not name.startswith("AWS_")}
    kept = subprocess.Popen([str(script), "local", "--quiet", "--keep", str(EVENTS_LOGS)], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=clean)
    try:
        assert kept.stdout is not None
        printed = []
        for line in kept.stdout:
            printed.append(line)
            if line.startswith("  env "):
                break
        command = printed[-1].strip()
        assert printed[-2] == "the local stack stays up until Ctrl-C; query it from another shell:\n"
        argv = shlex.split(command)
        assert argv[0] == "env" and "AWS_ACCESS_KEY_ID=local" in argv and "AWS_DEFAULT_REGION=us-east-1" in argv
        assert argv[argv.index("--endpoint-url") + 1].startswith("http://127.0.0.1:")
        argv[argv.index("trailsift")] = str(script)
        queried = subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True, timeout=60, env=clean)
        assert queried.returncode == 0, queried.stderr
        assert queried.stdout.count("cloudtrail-changes") == 5 and "StopLogging" in queried.stdout
        assert kept.poll() is None, "the stack is still up"
        kept.send_signal(signal.SIGINT)
        rest, err = kept.communicate(timeout=60)
    finally:
        if kept.poll() is None:
            kept.kill()
            kept.wait()
    assert kept.returncode == 0
    assert rest == "" and err == "trailsift: stopping the local stack\n"
    assert "== summary ==\n" in "".join(printed)


def test_what_is_not_uploaded_is_listed_with_why(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A folder of other files, a .json file, a file that cannot be read, beside one log file: the log file
    runs, the others are listed with why, and the unreadable one makes it a partial failure (exit 1)."""
    log = next(EVENTS_LOGS.rglob("888888888888_CloudTrail_us-east-1_*.json.gz"))
    (tmp_path / log.name).write_bytes(log.read_bytes())
    (tmp_path / "export.json").write_text('{"Records": []}')
    (tmp_path / "notes").mkdir()
    for name in ("a.txt", "b.csv"):
        (tmp_path / "notes" / name).write_text("x")
    unreadable = tmp_path / "111122223333_CloudTrail_us-east-1_20230719T2140Z_gP7Z3Z7jPPazCJYd.json.gz"
    unreadable.symlink_to(tmp_path / "gone")
    with environment({"COLUMNS": "80"}):
        code = main(["local", "--quiet", str(tmp_path)])
    out, err = capsys.readouterr()
    assert code == 1 and err == ""
    assert out.splitlines()[:12] == [
        "== not uploaded: 3 files ==",
        "  JSON file without a CloudTrail log file name (trailsift replay reads it):",
        f"    {_cut(tmp_path / 'export.json', 76)}",
        "  not a CloudTrail log file name:",
        f"    {_cut(tmp_path / 'notes' / 'a.txt', 76)}",
        f"    {_cut(tmp_path / 'notes' / 'b.csv', 76)}",
        "",
        "== failed: 1 file ==",
        f"  {_cut(unreadable, 78)}",
        "    cannot read it: No such file or directory",
        "",
        "== summary ==",
    ]
    assert "files       5 files found: 1 uploaded, 3 not uploaded, 1 unreadable" in out
    assert "function    1 notification: 1 file processed, 0 skipped, 0 failed" in out


def test_nothing_to_upload_is_a_usage_error_naming_why(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "export.json").write_text('{"Records": []}')
    assert main(["local", str(tmp_path / "export.json")]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err == (
        f"trailsift: error: nothing to upload: {tmp_path / 'export.json'}: JSON file without a CloudTrail log file "
        "name (trailsift replay reads it); local uploads CloudTrail log files "
        "(ACCOUNT_CloudTrail_REGION_YYYYMMDDTHHMMZ_ID.json.gz, or under an AWSLogs/ path)\n"
    )


def _event_id(envelope: dict) -> str:
    """The (first) event ID of the alert an SQS subscriber received: its JSON document's ``eventID``."""
    return str(json.loads(envelope["Message"])["eventID"])


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


def test_packs_by_name_run_end_to_end_beside_a_rules_file(tmp_path: Path) -> None:
    """`trailsift local --rules ssm --rules FILE`: TRAILSIFT_RULES names the pack, then the uploaded file."""
    import json

    rules = tmp_path / "trail-stops.json"
    rules.write_text(json.dumps({"rules": [{
        "name": "trail-stopped", "destinations": ["index"],
        "selectors": [{"FieldSelectors": [{"Field": "eventName", "Equals": ["StopLogging"]}]}],
    }]}))
    with local_run([EVENTS_LOGS], handler=REPO / "functions" / "processor" / "app.py", rules=rules, packs=["ssm"]) as result:
        indexed = Counter(sk.removeprefix("RULE#") for _, sk in index_rows(result.stack.client("dynamodb"), result.stack.table))
    # The AWS page's four examples, the sample's parameter deletions, and the file's rule: nothing of the default pack.
    assert {"ssm-document-changes", "ssm-session-started", "ssm-control-channel-opened", "ssm-managed-node-role-token",
            "ssm-parameter-deleted", "trail-stopped"} == set(indexed)
    assert indexed["ssm-control-channel-opened"] == indexed["ssm-document-changes"] == 1
    subjects = [alert["Subject"] for alert in result.alerts]
    assert any("DeleteDocument" in s for s in subjects) and not any("CreateControlChannel" in s for s in subjects)


def test_a_bad_rules_file_fails_before_anything_runs(tmp_path: Path) -> None:
    rules = tmp_path / "bad.json"
    rules.write_text('{"rules": [{"name": "x", "selectors": [{"FieldSelectors": [{"Field": "eventName", "Sort": ["A"]}]}]}]}')
    with pytest.raises(RulesError, match="Sort"):
        with local_run([EVENTS_LOGS], handler=REPO / "functions" / "processor" / "app.py", rules=rules):
            pass


def test_each_file_gets_the_functions_log_line(run_output) -> None:
    _, _, printed, _ = run_output
    for text in (printed["default"], printed["full"]):
        assert "== 20 files, as the function logged them ==" in text
        assert "\n  skipped          -       -     -  123456789012_CloudTrail-Digest" in text
    assert "not a CloudTrail event file (digest: CloudTrail digest file" in printed["full"]
    # the teardown file: 14 matches of alert rules in 6 alerts (one per rule and principal), 15 index rows
    assert "\n  processed      156       6    15  218007301253_CloudTrail_us-east-1_20230710T" in printed["default"]


# --- trailsift local --backfill: the state machine on moto's executor, the handler in-process -------

import gzip
import json
import re
from datetime import datetime, timedelta, timezone

from tests.conftest import drain_queue
from trailsift.cli.local import Backfill, jsonl_objects, run_backfill
from trailsift.triggers import ObjectRef

SYNTH = REPO.parent / "shared" / "tools" / "synth_corpus.py"
APP = REPO / "functions" / "processor" / "app.py"
DAYS = ("2026-11-18", "2026-11-19", "2026-11-20")
SINCE = datetime(2026, 11, 19, tzinfo=timezone.utc)
UNTIL = datetime(2026, 11, 20, tzinfo=timezone.utc)
BROKEN = (
    "AWSLogs/111122223333/CloudTrail/eu-west-1/2026/11/19/"
    "111122223333_CloudTrail_eu-west-1_20261119T1200Z_BrokenBrokenBrok.json.gz"
)
_STAMP = re.compile(r"_CloudTrail_[a-z0-9-]+_(\d{8}T\d{4})Z_[A-Za-z0-9]{16}\.json\.gz$")


@pytest.fixture(scope="module")
def org_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A synthetic organization: three days, each with accounts of its own over several regions; and, on the
    window's day, a file that is not gzip at all."""
    out = tmp_path_factory.mktemp("org")
    for seed, day in enumerate(DAYS, 1):
        subprocess.run(
            [sys.executable, str(SYNTH), str(out), "--events", "90", "--accounts", "3", "--seed", str(seed), "--day", day],
            check=True, capture_output=True, timeout=120,
        )
    broken = out / BROKEN
    broken.parent.mkdir(parents=True, exist_ok=True)
    broken.write_bytes(gzip.compress(b'{"Records": [{"eventName": "StopLogging"', mtime=0)[:-8])
    return out


def _in_window(path: Path) -> bool:
    """Read from the file's name here, not by the planner: delivered in [since, until + 15 min)."""
    found = _STAMP.search(path.name)
    assert found, path
    delivered = datetime.strptime(found.group(1), "%Y%m%dT%H%M").replace(tzinfo=timezone.utc)
    return SINCE <= delivered < UNTIL + timedelta(minutes=15)


def _rows_of(paths: list[Path], bucket: str) -> set[tuple[str, str]]:
    """(event key, rule) of every index row the default pack gives for these files, by scan_log_file."""
    rules = default_rules()
    engine = RuleEngine(rules)
    indexing = {r.name for r in rules if Destination.INDEX in r.destinations}
    rows: set[tuple[str, str]] = set()
    for path in paths:
        key = path.as_posix()[path.as_posix().index("AWSLogs/") :]
        for match in scan_log_file(path.read_bytes(), ObjectRef(bucket, key).location, engine).matches:
            rows |= {(event_key(match.record), rule) for rule in match.rules if rule in indexing}
    return rows


def _table(result) -> dict[tuple[str, str], dict]:
    """Every index row, by (event key, rule), without the attributes a rewrite renews."""
    items = {}
    for page in result.stack.client("dynamodb").get_paginator("scan").paginate(TableName=result.stack.table):
        for item in page["Items"]:
            if item["pk"]["S"].startswith("EVENT#"):
                kept = {name: value for name, value in item.items() if name not in ("indexedAt", "expires_at")}
                items[(item["pk"]["S"].removeprefix("EVENT#"), item["rule"]["S"])] = kept
    return items


@pytest.fixture(scope="module")
def backfill_runs(org_tree: Path) -> dict:
    """One local backfill of 2026-11-19, then the same window again in the same stack."""
    window = Backfill(SINCE, UNTIL)
    with local_run([org_tree], handler=APP, backfill=window) as result:
        first = {
            "result": result.backfill,
            "rows": _table(result),
            "alerts": result.alerts,
            "dead_letters": drain_queue(result.stack.client("sqs"), result.stack.failure_queue_url),
            "jsonl": jsonl_objects(result),
            "bucket": result.stack.bucket,
            "invocations": result.invocations,
        }
        assert result.module is not None
        again, _ = run_backfill(result.stack, result.module, window)
        second = {
            "result": again,
            "rows": _table(result),
            "dead_letters": drain_queue(result.stack.client("sqs"), result.stack.failure_queue_url),
        }
    return {"first": first, "second": second}


def test_a_backfill_indexes_exactly_the_windows_files(org_tree: Path, backfill_runs: dict) -> None:
    first = backfill_runs["first"]
    files = sorted(org_tree.rglob("*.json.gz"))
    inside = [path for path in files if _in_window(path) and not path.name.startswith("111122223333_")]
    outside = [path for path in files if not _in_window(path)]
    assert len(inside) > 20 and len(outside) > 40, "the window selects some days and not others"
    want = _rows_of(inside, first["bucket"])
    assert len(want) > 3
    assert set(first["rows"]) == want
    assert first["alerts"] == [], "a backfill pages nobody unless asked (--alerts none by default)"
    assert not set(first["rows"]) & _rows_of(outside, first["bucket"]), "a row from outside the window"
    plan = first["result"].plan
    assert {file.key.rsplit("/", 1)[-1] for file in plan.files} == {path.name for path in inside} | {BROKEN.rsplit("/", 1)[-1]}
    accounts = {file.account for file in plan.files}
    regions = {file.region for file in plan.files}
    assert len(accounts) >= 3 and len(regions) >= 3
    assert len({(call.event["BatchInput"]["bucket"], call.event["BatchInput"]["alerts"]) for call in first["invocations"]}) == 1


def test_a_broken_file_in_the_window_ends_in_the_failure_queue_and_the_run_report(backfill_runs: dict) -> None:
    first = backfill_runs["first"]
    status = first["result"].status
    assert status.status == "SUCCEEDED" and status.counts["succeeded"] == status.input["batches"] >= 1
    report = status.report
    assert report is not None and report.location.startswith("s3://trailsift-local-backfill-")
    assert report.dead_lettered() == [BROKEN]
    assert report.failed() == []
    files = report.files()
    assert files["dead-lettered"] == 1 and files["processed"] == status.input["files"] - 1
    (dead,) = first["dead_letters"]
    assert BROKEN in json.dumps(dead)


def test_running_the_same_window_again_changes_nothing(backfill_runs: dict) -> None:
    first, second = backfill_runs["first"], backfill_runs["second"]
    assert second["result"].status.status == "SUCCEEDED"
    assert second["rows"] == first["rows"]
    assert second["result"].status.report.dead_lettered() == [BROKEN]  # still broken, said again
    assert [len(d) for d in (first["dead_letters"], second["dead_letters"])] == [1, 1]


def test_jsonl_has_one_object_per_alert_and_per_index_row(backfill_runs: dict) -> None:
    first = backfill_runs["first"]
    objects = first["jsonl"]
    assert {item["kind"] for item in objects} <= {"alert", "index"}
    assert all(item["eventID"] and item["rule"] for item in objects)
    rows = {(item["eventID"], item["rule"]) for item in objects if item["kind"] == "index"}
    assert rows == set(first["rows"])
    assert len([item for item in objects if item["kind"] == "alert"]) == len(first["alerts"])


def test_the_local_backfill_command_prints_jsonl_and_says_a_file_failed(org_tree: Path) -> None:
    """`trailsift local --backfill --format jsonl` as a user runs it: JSON lines on stdout, the run's
    account on stderr, exit 1 because a file was dead-lettered."""
    done = subprocess.run(
        [sys.executable, "-m", "trailsift.cli", "local", "--backfill", "--since", "2026-11-19", "--until", "2026-11-20",
         "--format", "jsonl", str(org_tree)],
        cwd=REPO, capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 1, done.stderr[-2000:]
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    inside = [p for p in sorted(org_tree.rglob("*.json.gz")) if _in_window(p) and not p.name.startswith("111122223333_")]
    bucket = "trailsift-local-123456789012-us-east-1"
    assert {(line["eventID"], line["rule"]) for line in lines if line["kind"] == "index"} == _rows_of(inside, bucket)
    assert "== the run, as `trailsift backfill status` shows it ==" in done.stderr
    assert "dead-lettered (in the failure queue): " + BROKEN in done.stderr


def test_backfill_options_need_each_other() -> None:
    for argv, message in (
        (["local", "--backfill", "--since", "2026-11-19"], "--backfill needs --since and --until"),
        (["local", "--since", "2026-11-19", "--until", "2026-11-20"], "--since and --until go with --backfill"),
    ):
        done = subprocess.run([sys.executable, "-m", "trailsift.cli", *argv], cwd=REPO, capture_output=True, text=True, timeout=60)
        assert done.returncode == 2 and message in done.stderr


def test_a_local_backfill_with_alerts_digest_sends_one_summary(org_tree: Path) -> None:
    window = Backfill(SINCE, SINCE + timedelta(hours=6), alerts="digest")
    with local_run([org_tree], handler=APP, backfill=window) as result:
        assert result.backfill is not None and result.backfill.digest_sent is True
    (digest,) = result.alerts
    assert digest["Subject"].startswith("[backfill] digest: ")
    assert "A trailsift backfill run ended SUCCEEDED" in digest["Message"]
