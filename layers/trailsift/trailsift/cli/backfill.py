"""``trailsift backfill``: run the deployed function over the log files a time window selects, on Step Functions.

``trailsift backfill --stack NAME --since T1 --until T2 [--accounts ...] [--regions ...]`` plans the
work (the trail bucket's key layout, never an object), writes a manifest of pre-built batches to the
stack's backfill bucket (``manifests/<run>.json``: a JSON array of ``{"Items": [keys], "BatchInput":
{"bucket", "alerts"}}``, at most :data:`BATCH_FILES` keys and :data:`MAX_BATCH_BYTES` each) and starts
the backfill state machine (``statemachine/backfill.asl.json``). Its Distributed Map reads the manifest
and invokes the function once per batch (:mod:`trailsift.triggers.step_functions`), at most
``BackfillMaxConcurrency`` at a time, and writes the run report under ``reports/`` (ResultWriter).

``--dry-run`` prints the plan and what the run would take (:class:`Estimate`, from a measured cost per
file); ``trailsift backfill status RUN`` shows a run: the execution, its map run's batches succeeded,
failed and pending, and what the run report says (files processed, skipped, dead-lettered; every
failed batch with its error).

Alerts (``--alerts``): a backfill writes index rows and pages nobody by default (``none``); ``send``
sends each alert, its subject marked ``[backfill]`` (an alert the live path sent is never sent again:
the delivery ledger's sent marks do not expire); ``digest`` sends one summary message for the whole run
to the alert topic once it is over: this command waits for the run and sends it (exactly once, through
the same ledger), or ``trailsift backfill status RUN --send-digest`` does later. Why the command and not
a last state of the state machine: the summary is the sum of the run report, which only code can read
(a state could publish the map run's counts of batches, not of files and matches), and a function for it
would be deployed code and a role reading the reports for one message per run.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from trailsift.cli.command import CommandError, ExitCode, endpoint_url
from trailsift.cli.plan import PlannedFile, parse_time
from trailsift.text import for_terminal, one_line
from trailsift.triggers.step_functions import ALERT_MODES, DEFAULT_ALERTS

if TYPE_CHECKING:
    from boto3.session import Session

# --- how work is cut into batches -----------------------------------------------------------------

BATCH_FILES = 100
"""Keys per batch: one invocation reads them with the function's fetch concurrency (16 at a time), so
orchestration (a child execution and an invocation per batch) costs about 1% of the work, while a
batch of typical 5-minute files (a few KB to a few MB) still takes seconds, far from the Express
child's 5 minutes and the function's timeout. The child's output (a line per key) stays far under
Step Functions' 256 KB."""
MAX_BATCH_BYTES = 256 << 20
"""Compressed bytes per batch: a batch of large files closes early, so that it takes about
``MAX_BATCH_BYTES`` x :data:`SECONDS_PER_MIB` = 41 s in the function, whatever the files' sizes."""

# --- what a file costs --------------------------------------------------------------------------

SECONDS_PER_FILE = 0.0073
"""Wall time the function spends per log file in a backfill batch, measured with
``bench/backfill_bench.py`` (2026-11-30, this 2-core x86_64 machine under load 3.9): 6,542 files of a
synthetic organization day (20,000 events, 1.4 KB each on average), batches of 100 keys, 20 ms added
to every GetObject, the index table written, on moto in-process: 47.6 s, 7.28 ms a file. moto's
emulation of S3 and DynamoDB is in that time; Lambda's CPU at 1,024 MB is about half a core. Typical
files are small, so this per-file figure is most of a backfill's time."""
SECONDS_PER_MIB = 0.16
"""Wall time per compressed MiB beyond that, for large files: the 50 MB-gzip file takes about 8 s in the
function at 1,024 MB (README, "Memory and timeout"; ``BENCHMARKS.md``, 2.85 s on this machine)."""
MEMORY_GB = 1.0  # the template's MemorySize default (1,024 MB)
# us-east-1 list prices (arm64 Lambda, Step Functions, S3), for an order of magnitude only:
LAMBDA_GB_SECOND = 0.0000133334
LAMBDA_REQUEST = 0.20 / 1_000_000
EXPRESS_REQUEST = 1.00 / 1_000_000
EXPRESS_GB_SECOND = 0.00001667  # an Express child is billed at 64 MB for as long as it waits on the function
STATE_TRANSITION = 0.025 / 1000  # the Distributed Map's parent: about one transition per child started
S3_GET = 0.0004 / 1000


@dataclass(frozen=True)
class Estimate:
    """What a run of ``files`` files and ``bytes`` compressed bytes in ``batches`` batches would take."""

    files: int
    bytes: int
    batches: int
    concurrency: int

    @property
    def function_seconds(self) -> float:
        """The function's time, all batches together."""
        return self.files * SECONDS_PER_FILE + self.bytes / (1 << 20) * SECONDS_PER_MIB

    @property
    def wall_seconds(self) -> float:
        """The run's time with ``concurrency`` batches at once (batches are similar in size)."""
        if not self.batches:
            return 0.0
        waves = -(-self.batches // max(1, self.concurrency))
        return self.function_seconds / self.batches * waves

    @property
    def cost(self) -> dict[str, float]:
        """US dollars by item (list prices; index writes and alerts come on top, in proportion to matches)."""
        return {
            "lambda": self.function_seconds * MEMORY_GB * LAMBDA_GB_SECOND + self.batches * LAMBDA_REQUEST,
            "step functions": self.batches * (EXPRESS_REQUEST + STATE_TRANSITION)
            + self.function_seconds * 0.0625 * EXPRESS_GB_SECOND,
            "s3 requests": self.files * S3_GET,
        }

    def report(self) -> str:
        cost = self.cost
        parts = ", ".join(f"{name} ${value:.4f}" for name, value in cost.items())
        return (
            f"batches: {self.batches} (at most {BATCH_FILES} files, {MAX_BATCH_BYTES >> 20} MiB each), "
            f"{self.concurrency} at a time\n"
            f"estimate: {_duration(self.function_seconds)} of function time, about {_duration(self.wall_seconds)} "
            f"end to end; about ${sum(cost.values()):.4f} ({parts}; index rows and alerts extra)\n"
            f"  from {SECONDS_PER_FILE * 1000:.1f} ms a file and {SECONDS_PER_MIB} s a compressed MiB "
            "(bench/backfill_bench.py), us-east-1 list prices\n"
        )


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


# --- the plan --------------------------------------------------------------------------------------


@dataclass
class BackfillPlan:
    """The files a window selects in ``s3://bucket/prefix``, in key order, and what was left out."""

    bucket: str
    prefix: str
    since: datetime
    until: datetime
    files: list[PlannedFile] = field(default_factory=list)
    prefixes: list[str] = field(default_factory=list)
    skipped: Counter[str] = field(default_factory=Counter)
    text: str = ""  # the planner's own account of the plan, when it gives one

    @property
    def bytes(self) -> int:
        return sum(file.size for file in self.files)


def plan_window(
    s3: Any,
    bucket: str,
    prefix: str,
    *,
    since: datetime,
    until: datetime,
    accounts: Sequence[str] | None = None,
    regions: Sequence[str] | None = None,
    include_insights: bool = False,
) -> BackfillPlan:
    """The event files of ``s3://bucket/prefix`` the planner (:func:`trailsift.cli.plan.plan`) selects: delivered
    in ``[since, until)`` padded by CloudTrail's delivery delay, of ``accounts`` and ``regions`` (None: all),
    Insights files only with ``include_insights`` (the function reads them; no rule of the default pack
    matches them)."""
    from trailsift.cli.plan import Window, plan

    found = plan(
        s3, bucket, prefix, window=Window(since, until), accounts=accounts, regions=regions,
        include_insights=include_insights,
    )
    return BackfillPlan(
        bucket,
        prefix,
        since,
        until,
        list(found.files),
        list(found.prefixes),
        Counter({reason.value: count for reason, count in found.skipped.items()}),
        found.report(),
    )


# --- the manifest ----------------------------------------------------------------------------------


def build_batches(
    files: Sequence[PlannedFile], *, bucket: str, alerts: str = DEFAULT_ALERTS, run: str | None = None
) -> list[dict[str, Any]]:
    """The manifest's items: the files in order, cut into batches of at most :data:`BATCH_FILES` keys and
    :data:`MAX_BATCH_BYTES` (a larger file is a batch of its own), each with its ``BatchInput``."""
    if alerts not in ALERT_MODES:
        raise ValueError(f"alerts must be one of {', '.join(ALERT_MODES)}, got {alerts!r}")
    batch_input: dict[str, str] = {"bucket": bucket, "alerts": alerts}
    if run is not None:
        batch_input["run"] = run
    batches: list[dict[str, Any]] = []
    keys: list[str] = []
    size = 0
    for file in files:
        if keys and (len(keys) >= BATCH_FILES or size + file.size > MAX_BATCH_BYTES):
            batches.append({"Items": keys, "BatchInput": batch_input})
            keys, size = [], 0
        keys.append(file.key)
        size += file.size
    if keys:
        batches.append({"Items": keys, "BatchInput": batch_input})
    return batches


def manifest_key(run: str) -> str:
    return f"manifests/{run}.json"


def new_run_name(now: datetime | None = None) -> str:
    """``backfill-20261130T0812Z-1a2b3c4d``: sortable, unique, a valid execution name and key."""
    moment = (now or datetime.now(timezone.utc)).astimezone(timezone.utc)
    return f"backfill-{moment:%Y%m%dT%H%MZ}-{uuid.uuid4().hex[:8]}"


def format_time(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def run_input(plan: BackfillPlan, *, run: str, alerts: str, accounts: Sequence[str] | None, regions: Sequence[str] | None,
              batches: int) -> dict[str, Any]:
    """The execution's input: the manifest the Map reads, and what the run is, for ``status`` and the digest."""
    return {
        "manifestKey": manifest_key(run),
        "run": run,
        "bucket": plan.bucket,
        "prefix": plan.prefix,
        "since": format_time(plan.since),
        "until": format_time(plan.until),
        "accounts": list(accounts) if accounts is not None else None,
        "regions": list(regions) if regions is not None else None,
        "alerts": alerts,
        "files": len(plan.files),
        "bytes": plan.bytes,
        "batches": batches,
    }


def start_run(
    sfn: Any, s3: Any, *, state_machine_arn: str, backfill_bucket: str, plan: BackfillPlan, alerts: str,
    accounts: Sequence[str] | None = None, regions: Sequence[str] | None = None, run: str | None = None,
) -> tuple[str, dict[str, Any]]:
    """Write the manifest and start the execution named after the run; its ARN and input."""
    run = run or new_run_name()
    batches = build_batches(plan.files, bucket=plan.bucket, alerts=alerts, run=run)
    body = json.dumps(batches, separators=(",", ":")).encode()
    s3.put_object(Bucket=backfill_bucket, Key=manifest_key(run), Body=body, ContentType="application/json")
    given = run_input(plan, run=run, alerts=alerts, accounts=accounts, regions=regions, batches=len(batches))
    started = sfn.start_execution(stateMachineArn=state_machine_arn, name=run, input=json.dumps(given))
    return str(started["executionArn"]), given


# --- the definition, as deployed and as moto runs it ------------------------------------------------

DEFINITION = Path("statemachine") / "backfill.asl.json"
_SUBSTITUTION = re.compile(r"\$\{([A-Za-z0-9_]+)\}")


def definition_text(path: Path, substitutions: Mapping[str, str]) -> str:
    """The definition file with each ``${Name}`` replaced, as CloudFormation's DefinitionSubstitutions do;
    a name without a value is an error (it would reach Step Functions as it is)."""
    text = path.read_text()
    missing = sorted(set(_SUBSTITUTION.findall(text)) - set(substitutions))
    if missing:
        raise ValueError(f"{path}: no value for {', '.join(missing)}")
    return _SUBSTITUTION.sub(lambda found: substitutions[found.group(1)], text)


def for_moto(definition: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``definition`` that moto 5.2's interpreter accepts, never the deployed one: an ``EXPRESS``
    child becomes ``STANDARD``, an integer ``ToleratedFailurePercentage`` a float (which moto parses but
    does not apply), and an ``ItemBatcher``'s batches are refused (moto does not parse it; the backfill's
    manifest holds its batches so the definition has none). Nothing else changes."""
    copy: dict[str, Any] = json.loads(json.dumps(definition))

    def visit(node: Any) -> None:
        if isinstance(node, dict):
            if "ItemBatcher" in node:
                raise ValueError("moto cannot run an ItemBatcher: put the batches in the manifest")
            config = node.get("ProcessorConfig")
            if isinstance(config, dict) and config.get("ExecutionType") == "EXPRESS":
                config["ExecutionType"] = "STANDARD"
            tolerated = node.get("ToleratedFailurePercentage")
            if isinstance(tolerated, int) and not isinstance(tolerated, bool):
                node["ToleratedFailurePercentage"] = float(tolerated)
            for value in node.values():
                visit(value)
        elif isinstance(node, list):
            for value in node:
                visit(value)

    visit(copy)
    return copy


# --- the run report ------------------------------------------------------------------------------


@dataclass
class BatchOutcome:
    """One batch as the run report has it: its keys, and the function's answer or the error it ended with."""

    status: str  # SUCCEEDED, FAILED (TIMED_OUT and ABORTED too), PENDING
    keys: list[str]
    answer: dict[str, Any] | None = None
    error: str = ""
    cause: str = ""


@dataclass
class RunReport:
    """The ResultWriter's manifest and result files of one map run, read back."""

    bucket: str
    key: str
    batches: list[BatchOutcome] = field(default_factory=list)

    @property
    def location(self) -> str:
        return f"s3://{self.bucket}/{self.key}"

    def files(self) -> Counter[str]:
        """Files by what became of them: processed, skipped, dead-lettered (from the answers), rejected keys,
        and ``in failed batches`` (every key of a batch that failed after its retries)."""
        counts: Counter[str] = Counter()
        for batch in self.batches:
            if batch.answer is not None:
                counts.update(entry.get("status", "?") for entry in batch.answer.get("results", []))
                counts["rejected"] += int(batch.answer.get("rejected", 0))
            elif batch.status != "SUCCEEDED":
                counts["in failed batches"] += len(batch.keys)
        return +counts  # without the zeros

    def matches(self) -> int:
        return sum(int(batch.answer.get("matches", 0)) for batch in self.batches if batch.answer is not None)

    def records(self) -> int:
        return sum(int(batch.answer.get("records", 0)) for batch in self.batches if batch.answer is not None)

    def dead_lettered(self) -> list[str]:
        return [
            entry["key"]
            for batch in self.batches
            if batch.answer is not None
            for entry in batch.answer.get("results", [])
            if entry.get("status") == "dead-lettered"
        ]

    def failed(self) -> list[BatchOutcome]:
        return [batch for batch in self.batches if batch.answer is None and batch.status != "SUCCEEDED"]


def read_report(s3: Any, bucket: str, key: str) -> RunReport:
    """The run report whose ResultWriter manifest is ``s3://bucket/key``: every result file it lists."""
    report = RunReport(bucket, key)
    manifest = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    for status, listed in sorted((manifest.get("ResultFiles") or {}).items()):
        for result_file in listed or []:
            body = s3.get_object(Bucket=bucket, Key=result_file["Key"])["Body"].read()
            for entry in json.loads(body):
                report.batches.append(_batch(entry, status))
    return report


def _batch(entry: Mapping[str, Any], status: str) -> BatchOutcome:
    batch_input = _json(entry.get("Input"))
    keys = [str(key) for key in batch_input.get("Items", [])] if isinstance(batch_input, dict) else []
    output = _json(entry.get("Output")) if entry.get("Status", status) == "SUCCEEDED" else None
    answer = output if isinstance(output, dict) and "results" in output else None
    return BatchOutcome(str(entry.get("Status", status)), keys, answer, str(entry.get("Error", "")), str(entry.get("Cause", "")))


def _json(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return None
    return value


# --- a run's status ------------------------------------------------------------------------------

REPORTS = "reports"  # the ResultWriter's Prefix in the definition


@dataclass
class RunStatus:
    """What ``trailsift backfill status`` shows of one run."""

    execution_arn: str
    status: str
    input: dict[str, Any]
    started: datetime | None = None
    stopped: datetime | None = None
    error: str = ""
    map_run_arn: str | None = None
    counts: dict[str, int] = field(default_factory=dict)  # the map run's items (batches): succeeded, failed, ...
    report_bucket: str | None = None
    report_key: str | None = None
    report: RunReport | None = None

    @property
    def done(self) -> bool:
        return self.status != "RUNNING"

    @property
    def run(self) -> str:
        return str(self.input.get("run") or self.execution_arn.rsplit(":", 1)[-1])


def describe_run(sfn: Any, s3: Any, execution_arn: str, backfill_bucket: str) -> RunStatus:
    """DescribeExecution, ListMapRuns and DescribeMapRun of one run, and its report once it is written."""
    described = sfn.describe_execution(executionArn=execution_arn)
    given = _json(described.get("input")) or {}
    status = RunStatus(
        execution_arn,
        str(described["status"]),
        given if isinstance(given, dict) else {},
        described.get("startDate"),
        described.get("stopDate"),
        " ".join(part for part in (described.get("error"), described.get("cause")) if part),
    )
    map_runs = sfn.list_map_runs(executionArn=execution_arn).get("mapRuns", [])
    if map_runs:
        status.map_run_arn = str(map_runs[0]["mapRunArn"])
        counts = sfn.describe_map_run(mapRunArn=status.map_run_arn).get("itemCounts", {})
        status.counts = {str(name): int(value) for name, value in counts.items()}
        status.report_bucket = backfill_bucket
        status.report_key = f"{REPORTS}/{status.map_run_arn.rsplit(':', 1)[-1]}/manifest.json"
    output = _json(described.get("output"))
    details = output.get("ResultWriterDetails") if isinstance(output, dict) else None
    if isinstance(details, dict) and details.get("Key"):
        status.report_bucket, status.report_key = str(details.get("Bucket") or backfill_bucket), str(details["Key"])
    if status.done and status.report_key is not None and status.report_bucket is not None:
        try:
            status.report = read_report(s3, status.report_bucket, status.report_key)
        except Exception as exc:  # noqa: BLE001 - a missing report is shown, not raised
            if "NoSuchKey" not in str(exc) and "Not Found" not in str(exc):
                raise
    return status


def print_status(status: RunStatus, out: IO[str]) -> None:
    """The run for people: the execution, the batches, the files, the failures, where the report is."""
    given = status.input
    out.write(f"run {for_terminal(status.run)}: {status.status}\n")
    out.write(f"  execution: {status.execution_arn}\n")
    window = f"{given.get('since')} to {given.get('until')} (exclusive)"
    scope = f"s3://{for_terminal(str(given.get('bucket')))}/{for_terminal(str(given.get('prefix') or ''))}"
    out.write(f"  window: {window} in {scope}; alerts: {given.get('alerts')}\n")
    out.write(f"  planned: {given.get('files')} files in {given.get('batches')} batches\n")
    if status.error:
        out.write(f"  error: {for_terminal(one_line(status.error, 300))}\n")
    if status.counts:
        shown = ", ".join(f"{name} {status.counts.get(name, 0)}" for name in ("succeeded", "failed", "pending", "running", "timedOut", "aborted", "total"))
        out.write(f"  batches: {shown}\n")
    if status.report_key is not None:
        where = f"s3://{status.report_bucket}/{status.report_key}"
        out.write(f"  report: {where}" + ("" if status.report is not None else " (not written yet)") + "\n")
    report = status.report
    if report is not None:
        files = report.files()
        out.write("  files: " + ", ".join(f"{name} {count}" for name, count in sorted(files.items())) + "\n")
        out.write(f"  records: {report.records()}, matches: {report.matches()}\n")
        for key in report.dead_lettered():
            out.write(f"  dead-lettered (in the failure queue): {for_terminal(key)}\n")
        for batch in report.failed():
            first = for_terminal(batch.keys[0]) if batch.keys else "?"
            cause = for_terminal(one_line(f"{batch.error}: {batch.cause}", 300))
            out.write(f"  failed batch of {len(batch.keys)} files from {first}: {cause}\n")


# --- the digest ------------------------------------------------------------------------------------


def digest(status: RunStatus) -> tuple[str, str]:
    """The one message ``--alerts digest`` sends for a finished run: a subject and a plain-text body."""
    from trailsift.text import ascii_subject

    given = status.input
    report = status.report
    files = report.files() if report is not None else Counter[str]()
    subject = ascii_subject(
        f"[backfill] digest: {report.matches() if report else 0} matches in {sum(files.values())} files, "
        f"{given.get('since')} to {given.get('until')}",
        99,
    )
    lines = [
        f"A trailsift backfill run ended {status.status}: {status.run}",
        f"window: {given.get('since')} to {given.get('until')} (exclusive), s3://{given.get('bucket')}/{given.get('prefix') or ''}",
        f"accounts: {', '.join(given.get('accounts') or []) or 'all'}; regions: {', '.join(given.get('regions') or []) or 'all'}",
        "Alerts for these events were not sent one by one (--alerts digest): the matches are in the index.",
        "",
        "files: " + ", ".join(f"{name} {count}" for name, count in sorted(files.items())),
        f"records: {report.records() if report else 0}, matches (all rules): {report.matches() if report else 0}",
        f"batches: " + ", ".join(f"{name} {value}" for name, value in sorted(status.counts.items())),
    ]
    if report is not None and report.dead_lettered():
        lines.append(f"dead-lettered files (failure queue): {len(report.dead_lettered())}")
    if report is not None and report.failed():
        lines.append(f"failed batches: {len(report.failed())} (see the report)")
    lines += [
        f"report: s3://{status.report_bucket}/{status.report_key}" if status.report_key else "report: none",
        "",
        f"trailsift query --rule RULE --since {given.get('since')} --until {given.get('until')} --stack STACK",
        f"trailsift backfill status {status.run} --stack STACK",
    ]
    return subject, "\n".join(lines) + "\n"



def send_digest(status: RunStatus, *, sns: Any, topic_arn: str, dynamodb: Any | None, table: str | None) -> bool:
    """Publish the digest of a finished run once: the alert ledger (in the index table) keeps it from
    being sent twice. True when it was sent now, False when it had been sent before."""
    from trailsift.alerts import Alert
    from trailsift.aws.ledger import DeliveryLedger
    from trailsift.aws.sns import AlertPublisher

    subject, body = digest(status)
    attributes = {"rule": {"DataType": "String.Array", "StringValue": '["backfill-digest"]'},
                  "severity": {"DataType": "String", "StringValue": "info"}}
    message = Alert(f"backfill-digest#{status.run}", subject, body, attributes)  # keyed by the run
    publisher = AlertPublisher(sns, topic_arn)
    if dynamodb is None or table is None:
        publisher.publish([message])
        return True
    ledger: DeliveryLedger[Alert] = DeliveryLedger(
        dynamodb, table, kind="ALERT", owner=f"trailsift-backfill-{uuid.uuid4()}", retention_days=90
    )
    claim = ledger.claim([message])
    if not claim.to_send:
        return False
    publisher.publish(claim.to_send, on_sent=ledger.mark_sent)
    return True


def wait(sfn: Any, s3: Any, execution_arn: str, backfill_bucket: str, *, poll: float = 10.0,
         timeout: float | None = None, sleep: Callable[[float], Any] = time.sleep,
         progress: Callable[[RunStatus], Any] | None = None) -> RunStatus:
    """Describe the run every ``poll`` seconds until it is over (or ``timeout`` passes): its last status."""
    started = time.monotonic()
    while True:
        status = describe_run(sfn, s3, execution_arn, backfill_bucket)
        if status.done or (timeout is not None and time.monotonic() - started >= timeout):
            return status
        if progress is not None:
            progress(status)
        sleep(poll)


# --- the command -----------------------------------------------------------------------------------

STACK_OUTPUTS = ("BackfillStateMachineArn", "BackfillBucketName", "TrailBucketName")
POLL_SECONDS = 10.0  # how often a waiting command describes the run


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``backfill`` command's options; ``trailsift backfill status RUN`` shows a run."""
    parser.add_argument("action", nargs="*", metavar="status RUN", help="show the run RUN (its name or execution ARN)")
    parser.add_argument("--stack", metavar="STACK", help="the deployed stack (its backfill and trail bucket outputs)")
    parser.add_argument("--since", type=parse_time, metavar="T", help="first delivery time (UTC), 2026-11-01 or 2026-11-01T06:00:00Z")
    parser.add_argument("--until", type=parse_time, metavar="T", help="end of the window (exclusive)")
    parser.add_argument("--accounts", metavar="ID,...", help="only these accounts (comma-separated)")
    parser.add_argument("--regions", metavar="REGION,...", help="only these regions (comma-separated)")
    parser.add_argument(
        "--include-insights", action="store_true", help="also process Insights files (CloudTrail-Insight/)"
    )
    parser.add_argument("--alerts", choices=ALERT_MODES, default=DEFAULT_ALERTS,
                        help="none: index only (default); digest: one summary message when the run ends; send: each alert, marked [backfill]")
    parser.add_argument("--dry-run", action="store_true", help="print the plan and the estimate; write and start nothing")
    parser.add_argument("--wait", action="store_true", help="wait for the run to end and show it (implied by --alerts digest)")
    parser.add_argument("--no-wait", action="store_true", help="with --alerts digest: do not wait (send the digest with status --send-digest)")
    parser.add_argument("--send-digest", action="store_true", help="status: send the run's digest if it is over and was not sent")
    parser.add_argument("--endpoint-url", metavar="URL", type=endpoint_url, help="an emulated AWS endpoint (e.g. moto server)")
    parser.add_argument("--region", metavar="REGION", help="AWS region (default: the AWS configuration's)")


def _names(text: str | None, pattern: str, option: str) -> list[str] | None:
    if text is None:
        return None
    names = [name.strip() for name in text.split(",") if name.strip()]
    bad = [name for name in names if not re.fullmatch(pattern, name)]
    if not names or bad:
        raise CommandError(f"{option}: {', '.join(bad) or 'names none'}", ExitCode.USAGE)
    return names


def run(args: argparse.Namespace) -> ExitCode:
    """Plan and start a run (``--dry-run``: plan only), or show one (``status RUN``)."""
    from trailsift.aws.clients import new_client
    from trailsift.cli.session import aws_errors, session, stack_outputs

    if args.action and (args.action[0] != "status" or len(args.action) != 2):
        raise CommandError("usage: trailsift backfill status RUN --stack STACK", ExitCode.USAGE)
    if args.stack is None:
        raise CommandError("--stack is required", ExitCode.USAGE)
    aws = session("backfill", args.region)
    outputs = stack_outputs(aws, args.stack, args.endpoint_url)

    def client(service: str) -> Any:
        return new_client(service, session=aws, endpoint_url=args.endpoint_url)

    state_machine = outputs.require("BackfillStateMachineArn")
    backfill_bucket = outputs.require("BackfillBucketName")
    with aws_errors(stack=args.stack):
        if args.action:
            status = describe_run(client("stepfunctions"), client("s3"), _execution_arn(state_machine, args.action[1]), backfill_bucket)
            print_status(status, sys.stdout)
            if args.send_digest:
                _digest(status, outputs.values, client)
            return ExitCode.OK if status.status in ("RUNNING", "SUCCEEDED") and not _troubled(status) else ExitCode.FAILED
        if args.since is None or args.until is None:
            raise CommandError("--since and --until are required", ExitCode.USAGE)
        if args.since >= args.until:
            raise CommandError("--since must be before --until", ExitCode.USAGE)
        accounts = _names(args.accounts, r"[0-9]{12}", "--accounts")
        regions = _names(args.regions, r"[a-z]{2}(-[a-z0-9]+)+-[0-9]+", "--regions")
        trail_bucket = outputs.require("TrailBucketName")
        prefix = _stack_parameter(aws, args.stack, args.endpoint_url, "LogKeyPrefix")
        plan = plan_window(
            client("s3"), trail_bucket, prefix, since=args.since, until=args.until, accounts=accounts,
            regions=regions, include_insights=args.include_insights,
        )
        concurrency = int(_stack_parameter(aws, args.stack, args.endpoint_url, "BackfillMaxConcurrency") or 10)
        batches = build_batches(plan.files, bucket=plan.bucket, alerts=args.alerts)
        print_plan(plan, Estimate(len(plan.files), plan.bytes, len(batches), concurrency), sys.stdout)
        if args.dry_run:
            return ExitCode.OK
        if not plan.files:
            print("nothing to do: no log file in the window")
            return ExitCode.OK
        execution_arn, _ = start_run(
            client("stepfunctions"), client("s3"), state_machine_arn=state_machine, backfill_bucket=backfill_bucket,
            plan=plan, alerts=args.alerts, accounts=accounts, regions=regions,
        )
        name = execution_arn.rsplit(":", 1)[-1]
        print(f"started {name}\n  execution: {execution_arn}\n  follow it: trailsift backfill status {name} --stack {args.stack}")
        if not (args.wait or (args.alerts == "digest" and not args.no_wait)):
            return ExitCode.OK
        sys.stdout.flush()
        status = wait(client("stepfunctions"), client("s3"), execution_arn, backfill_bucket, poll=POLL_SECONDS,
                      progress=lambda s: print(f"  {s.status}: " + ", ".join(f"{k} {v}" for k, v in sorted(s.counts.items())), flush=True))
        print_status(status, sys.stdout)
        if args.alerts == "digest":
            _digest(status, outputs.values, client)
        return ExitCode.OK if status.status == "SUCCEEDED" and not _troubled(status) else ExitCode.FAILED


def _troubled(status: RunStatus) -> bool:
    """Whether the run left work undone: failed batches or dead-lettered files."""
    report = status.report
    return report is not None and bool(report.failed() or report.dead_lettered())


def _digest(status: RunStatus, outputs: Mapping[str, str], client: Callable[[str], Any]) -> None:
    if not status.done:
        print("digest: not sent, the run is not over")
        return
    topic = outputs.get("AlertTopicArn")
    if not topic:
        raise CommandError("the stack has no AlertTopicArn output: no digest can be sent")
    table = outputs.get("IndexTableName")
    sent = send_digest(status, sns=client("sns"), topic_arn=topic, dynamodb=client("dynamodb") if table else None, table=table)
    print("digest: sent to the alert topic" if sent else "digest: sent before, not again")


def _execution_arn(state_machine_arn: str, run: str) -> str:
    """An execution's ARN from its name (or the ARN itself)."""
    if run.startswith("arn:"):
        return run
    return state_machine_arn.replace(":stateMachine:", ":execution:", 1) + ":" + run


def _stack_parameter(aws: Session, stack: str, endpoint_url: str | None, name: str) -> str:
    from trailsift.aws.clients import new_client

    described = new_client("cloudformation", session=aws, endpoint_url=endpoint_url).describe_stacks(StackName=stack)
    for description in described["Stacks"]:
        for parameter in description.get("Parameters") or []:
            if parameter.get("ParameterKey") == name:
                return str(parameter.get("ParameterValue") or "")
    return ""


def print_plan(plan: BackfillPlan, estimate: Estimate, out: IO[str]) -> None:
    """``--dry-run``: the planner's account (window, accounts, regions, files and bytes, what it left out and
    why), the day prefixes it listed, and the estimate."""
    from trailsift.cli.report import cell

    out.write(plan.text)
    out.write(f"bytes: {plan.bytes} compressed\n")
    out.write(f"prefixes listed: {len(plan.prefixes)}\n")
    for prefix in plan.prefixes[:20]:
        out.write(f"  {cell(prefix, 0)}\n")
    if len(plan.prefixes) > 20:
        out.write(f"  ... and {len(plan.prefixes) - 20} more\n")
    out.write(estimate.report())
