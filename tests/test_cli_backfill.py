"""``trailsift backfill``: the batches, the definition as moto runs it, the estimate, the run report, and the
command over moto (in-process): dry run, start, status, digest. End to end with the real handler:
tests/test_cli_local.py (``trailsift local --backfill``)."""

from __future__ import annotations

import gzip
import json
import re
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.conftest import REPO, drain_queue, fake_credentials
from trailsift.cli import main
from trailsift.cli import backfill
from trailsift.cli.backfill import (
    BATCH_FILES,
    MAX_BATCH_BYTES,
    BackfillPlan,
    Estimate,
    PlannedFile,
    build_batches,
    definition_text,
    for_moto,
    read_report,
)
from trailsift.index import TABLE_DEFINITION

DEFINITION = REPO / "statemachine" / "backfill.asl.json"
TRAIL = "trailsift-test-123456789012-us-east-1"
BACKFILL = "trailsift-test-backfill"
TABLE = "trailsift-test-index"
DAY = datetime(2026, 11, 19, tzinfo=timezone.utc)


def planned(number: int, size: int = 1000, day: datetime = DAY) -> PlannedFile:
    at = day + timedelta(hours=1, minutes=5 * number)
    key = f"AWSLogs/111122223333/CloudTrail/us-east-1/{at:%Y/%m/%d}/111122223333_CloudTrail_us-east-1_{at:%Y%m%dT%H%M}Z_{number:016d}.json.gz"
    return PlannedFile(key, size, "111122223333", "us-east-1", at)


# --- batches ------------------------------------------------------------------------------------


def test_batches_hold_at_most_a_hundred_keys_in_order_with_the_batch_input() -> None:
    files = [planned(n) for n in range(250)]
    batches = build_batches(files, bucket=TRAIL, alerts="digest", run="r1")
    assert [len(batch["Items"]) for batch in batches] == [BATCH_FILES, BATCH_FILES, 50]
    assert [key for batch in batches for key in batch["Items"]] == [file.key for file in files]
    assert all(batch["BatchInput"] == {"bucket": TRAIL, "alerts": "digest", "run": "r1"} for batch in batches)
    assert all(set(batch) == {"Items", "BatchInput"} for batch in batches)
    assert len(json.dumps(batches[0])) < 256_000 // 10
    assert build_batches([], bucket=TRAIL) == []
    with pytest.raises(ValueError, match="alerts must be one of"):
        build_batches(files, bucket=TRAIL, alerts="loud")


def test_a_batch_closes_before_its_bytes_pass_the_limit_and_a_huge_file_goes_alone() -> None:
    big = MAX_BATCH_BYTES // 3
    files = [planned(0, big), planned(1, big), planned(2, big), planned(3, MAX_BATCH_BYTES * 2), planned(4, 10)]
    batches = build_batches(files, bucket=TRAIL)
    assert [batch["Items"] for batch in batches] == [
        [files[0].key, files[1].key, files[2].key], [files[3].key], [files[4].key]
    ]
    assert batches[0]["BatchInput"] == {"bucket": TRAIL, "alerts": "none"}


# --- the definition -----------------------------------------------------------------------------

SUBSTITUTIONS = {
    "ProcessorFunctionArn": "arn:aws:lambda:us-east-1:123456789012:function:p",
    "BackfillBucketName": BACKFILL,
    "BackfillMaxConcurrency": "10",
    "BackfillToleratedFailurePercentage": "5",
}


def test_moto_gets_a_copy_with_only_what_it_refuses_rewritten() -> None:
    deployed = json.loads(definition_text(DEFINITION, SUBSTITUTIONS))
    before = json.dumps(deployed, sort_keys=True)
    runnable = for_moto(deployed)
    assert json.dumps(deployed, sort_keys=True) == before, "the deployed definition is never changed"
    batches = runnable["States"]["ProcessBatches"]
    assert batches["ItemProcessor"]["ProcessorConfig"] == {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"}
    assert batches["ToleratedFailurePercentage"] == 5.0 and isinstance(batches["ToleratedFailurePercentage"], float)
    batches["ItemProcessor"]["ProcessorConfig"]["ExecutionType"] = "EXPRESS"
    batches["ToleratedFailurePercentage"] = 5
    assert json.dumps(runnable, sort_keys=True) == before, "nothing else differs"
    with pytest.raises(ValueError, match="ItemBatcher"):
        for_moto({"States": {"M": {"ItemBatcher": {"MaxItemsPerBatch": 100}}}})


def test_a_substitution_without_a_value_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no value for BackfillBucketName"):
        definition_text(DEFINITION, {k: v for k, v in SUBSTITUTIONS.items() if k != "BackfillBucketName"})


# --- the estimate -------------------------------------------------------------------------------


def test_the_estimate_grows_with_files_and_bytes_and_shrinks_with_concurrency() -> None:
    small = Estimate(files=10_000, bytes=10_000 * 2000, batches=100, concurrency=10)
    assert small.function_seconds == pytest.approx(10_000 * backfill.SECONDS_PER_FILE + 19.07 * backfill.SECONDS_PER_MIB, rel=0.01)
    assert small.wall_seconds == pytest.approx(small.function_seconds / 10)
    assert Estimate(10_000, 10_000 * 2000, 100, 1).wall_seconds == pytest.approx(small.function_seconds)
    bigger = Estimate(files=10_000, bytes=50 << 30, batches=300, concurrency=10)
    assert bigger.function_seconds > small.function_seconds + 8000
    assert 0 < sum(small.cost.values()) < 1 and set(small.cost) == {"lambda", "step functions", "s3 requests"}
    text = small.report()
    assert "100 (at most 100 files, 256 MiB each), 10 at a time" in text and "7.3 ms a file" in text
    assert Estimate(0, 0, 0, 10).wall_seconds == 0


# --- the run report, as AWS writes it -------------------------------------------------------------


def _aws_entry(status: str, batch: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {"ExecutionArn": "arn:aws:states:us-east-1:123456789012:execution:sm/x:1", "Input": json.dumps(batch),
            "InputDetails": {"Included": True}, "Name": "1", "Status": status, **fields}


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    from moto import mock_aws

    fake_credentials(monkeypatch)
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}}):
        yield


def test_the_report_reader_sums_succeeded_batches_and_lists_failed_ones(aws: None) -> None:
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=BACKFILL)
    ok = {"Items": ["a", "b", "c"], "BatchInput": {"bucket": TRAIL}}
    answer = {"files": 3, "processed": 1, "skipped": 1, "deadLettered": 1, "rejected": 0, "records": 7, "matches": 2,
              "results": [{"key": "a", "status": "processed", "records": 7, "matches": 2},
                          {"key": "b", "status": "skipped", "reason": "digest"},
                          {"key": "c", "status": "dead-lettered", "reason": "failed for good"}], "rejectedItems": []}
    failed = {"Items": ["d", "e"], "BatchInput": {"bucket": TRAIL}}
    files = {
        "reports/run/SUCCEEDED_0.json": [_aws_entry("SUCCEEDED", ok, Output=json.dumps(answer))],
        "reports/run/FAILED_0.json": [_aws_entry("FAILED", failed, Error="InvocationFailed", Cause='{"errorMessage": "2 failure(s)"}')],
    }
    for key, body in files.items():
        s3.put_object(Bucket=BACKFILL, Key=key, Body=json.dumps(body))
    manifest = {"DestinationBucket": BACKFILL, "MapRunArn": "arn", "ResultFiles": {
        "FAILED": [{"Key": "reports/run/FAILED_0.json", "Size": 1}], "PENDING": [],
        "SUCCEEDED": [{"Key": "reports/run/SUCCEEDED_0.json", "Size": 1}]}}
    s3.put_object(Bucket=BACKFILL, Key="reports/run/manifest.json", Body=json.dumps(manifest))
    report = read_report(s3, BACKFILL, "reports/run/manifest.json")
    assert report.files() == {"processed": 1, "skipped": 1, "dead-lettered": 1, "in failed batches": 2}
    assert (report.records(), report.matches(), report.dead_lettered()) == (7, 2, ["c"])
    (bad,) = report.failed()
    assert (bad.keys, bad.error) == (["d", "e"], "InvocationFailed") and "2 failure(s)" in bad.cause


# --- the command, over moto ---------------------------------------------------------------------


def _body() -> bytes:
    return gzip.compress(b'{"Records": []}', mtime=0)


@pytest.fixture
def stack(aws: None) -> dict[str, str]:
    """A deployed trailsift stack's outputs and parameters on moto, with three days of keys in its trail bucket."""
    s3, sns, sqs = boto3.client("s3"), boto3.client("sns"), boto3.client("sqs")
    for bucket in (TRAIL, BACKFILL):
        s3.create_bucket(Bucket=bucket)
    for day in (DAY - timedelta(days=1), DAY, DAY + timedelta(days=1)):
        for number in range(3):
            for account in ("111122223333", "444455556666"):
                file = planned(number, day=day)
                s3.put_object(Bucket=TRAIL, Key=file.key.replace("111122223333", account), Body=_body())
    s3.put_object(Bucket=TRAIL, Key="AWSLogs/111122223333/CloudTrail-Digest/us-east-1/2026/11/19/x_CloudTrail-Digest_us-east-1_t_us-east-1_20261119T000000Z.json.gz", Body=b"x")
    topic = sns.create_topic(Name="alerts")["TopicArn"]
    queue = sqs.create_queue(QueueName="subscriber")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)
    boto3.client("dynamodb").create_table(TableName=TABLE, **TABLE_DEFINITION)
    role = boto3.client("iam").create_role(RoleName="sfn", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    function = boto3.client("lambda").create_function(
        FunctionName="processor", Runtime="python3.12", Role=role, Handler="app.handler", Code={"ZipFile": b"x"}
    )["FunctionArn"]
    definition = for_moto(json.loads(definition_text(DEFINITION, {**SUBSTITUTIONS, "ProcessorFunctionArn": function})))
    machine = boto3.client("stepfunctions").create_state_machine(name="backfill", definition=json.dumps(definition), roleArn=role)["stateMachineArn"]
    outputs = {"BackfillStateMachineArn": machine, "BackfillBucketName": BACKFILL, "TrailBucketName": TRAIL,
               "AlertTopicArn": topic, "IndexTableName": TABLE}
    template = {
        "Parameters": {"LogKeyPrefix": {"Type": "String", "Default": ""}, "BackfillMaxConcurrency": {"Type": "Number", "Default": 10}},
        "Resources": {"Handle": {"Type": "AWS::SQS::Queue"}},
        "Outputs": {name: {"Value": value} for name, value in outputs.items()},
    }
    boto3.client("cloudformation").create_stack(
        StackName="trailsift", TemplateBody=json.dumps(template),
        Parameters=[{"ParameterKey": "BackfillMaxConcurrency", "ParameterValue": "4"}],
    )
    return {**outputs, "subscriber": queue}


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


WINDOW = ("--since", "2026-11-19", "--until", "2026-11-20")


def test_a_dry_run_prints_the_plan_and_the_estimate_and_starts_nothing(stack: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = cli(capsys, "backfill", "--stack", "trailsift", *WINDOW, "--dry-run")
    assert (code, err) == (0, "")
    assert f"plan: s3://{TRAIL}/" in out
    assert "files: 6 (210 bytes)\nkeys skipped:\n  outside the window: 6\n" in out  # the window's day, both accounts
    assert "prefixes not listed:\n  digest file: 1\n" in out and "bytes: 210 compressed\n" in out
    assert "prefixes listed: 4\n" in out and "  AWSLogs/444455556666/CloudTrail/us-east-1/2026/11/19/\n" in out
    assert "/2026/11/18/" not in out, "the day before the window is not even listed"
    assert "batches: 1 (at most 100 files, 256 MiB each), 4 at a time" in out  # the stack's BackfillMaxConcurrency
    assert re.search(r"estimate: \d+ s of function time, about \d+ s end to end; about \$0\.\d{4}", out)
    assert boto3.client("s3").list_objects_v2(Bucket=BACKFILL).get("KeyCount") == 0
    assert boto3.client("stepfunctions").list_executions(stateMachineArn=stack["BackfillStateMachineArn"])["executions"] == []


def test_insights_files_are_planned_only_when_asked(stack: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    key = ("AWSLogs/111122223333/CloudTrail-Insight/us-east-1/2026/11/19/"
           "111122223333_CloudTrail-Insight_us-east-1_20261119T1200Z_InsightInsightIn.json.gz")
    boto3.client("s3").put_object(Bucket=TRAIL, Key=key, Body=_body())
    code, without, _ = cli(capsys, "backfill", "--stack", "trailsift", *WINDOW, "--dry-run")
    assert code == 0 and "files: 6 (" in without
    code, with_insights, _ = cli(capsys, "backfill", "--stack", "trailsift", *WINDOW, "--dry-run", "--include-insights")
    assert code == 0 and "files: 7 (" in with_insights


@pytest.fixture
def answers(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """The processor, as moto's Lambda answers it here: each key processed, a batch naming 'Broken' refused."""
    from moto.awslambda_simple.models import LambdaSimpleBackend

    seen: list[dict[str, Any]] = []

    def invoke(self: Any, function_name: str, qualifier: Any, body: Any, headers: Any, response_headers: dict[str, str]) -> bytes:
        event = json.loads(body)
        seen.append(event)
        if any("Broken" in key for key in event["Items"]):
            response_headers["x-amz-function-error"] = "Unhandled"
            return json.dumps({"errorType": "UnknownTrigger", "errorMessage": "refused"}).encode()
        results = [{"key": key, "status": "processed", "records": 1, "matches": 1} for key in event["Items"]]
        return json.dumps({"files": len(results), "processed": len(results), "skipped": 0, "deadLettered": 0,
                           "rejected": 0, "records": len(results), "matches": len(results), "results": results,
                           "rejectedItems": []}).encode()

    monkeypatch.setattr(LambdaSimpleBackend, "invoke", invoke)
    monkeypatch.setattr(backfill, "POLL_SECONDS", 0.2)
    return seen


def _finish(name: str, machine: str, seen: list[dict[str, Any]]) -> None:
    """Wait for moto's execution; then write the result files AWS's ResultWriter would (moto writes none)."""
    from trailsift.cli.local import Invocation, write_result_files

    sfn, s3 = boto3.client("stepfunctions"), boto3.client("s3")
    arn = machine.replace(":stateMachine:", ":execution:") + ":" + name
    status = backfill.wait(sfn, s3, arn, BACKFILL, poll=0.1, timeout=60)
    assert status.done and status.report_key
    invocations = []
    for event in seen:
        invocation = Invocation(event)
        if any("Broken" in key for key in event["Items"]):
            invocation.error = "UnknownTrigger: refused"
        else:
            invocation.response = {"files": len(event["Items"]), "processed": len(event["Items"]), "records": len(event["Items"]),
                                   "matches": len(event["Items"]), "rejected": 0,
                                   "results": [{"key": k, "status": "processed"} for k in event["Items"]]}
        invocations.append(invocation)
    write_result_files(s3, BACKFILL, status.report_key, arn, invocations)


def test_a_run_writes_its_manifest_starts_the_state_machine_and_shows_its_status(
    stack: dict[str, str], answers: list[dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = cli(capsys, "backfill", "--stack", "trailsift", *WINDOW, "--accounts", "444455556666", "--alerts", "send")
    assert (code, err) == (0, "")
    (name,) = re.findall(r"^started (backfill-\d{8}T\d{4}Z-[0-9a-f]{8})$", out, re.M)
    assert f"trailsift backfill status {name} --stack trailsift" in out
    s3, sfn = boto3.client("s3"), boto3.client("stepfunctions")
    manifest = json.loads(s3.get_object(Bucket=BACKFILL, Key=f"manifests/{name}.json")["Body"].read())
    assert manifest == [{"Items": [planned(n).key.replace("111122223333", "444455556666") for n in range(3)],
                         "BatchInput": {"bucket": TRAIL, "alerts": "send", "run": name}}]
    (execution,) = sfn.list_executions(stateMachineArn=stack["BackfillStateMachineArn"])["executions"]
    given = json.loads(sfn.describe_execution(executionArn=execution["executionArn"])["input"])
    assert given["manifestKey"] == f"manifests/{name}.json" and given["accounts"] == ["444455556666"]
    assert (given["since"], given["until"], given["files"], given["batches"]) == ("2026-11-19T00:00:00Z", "2026-11-20T00:00:00Z", 3, 1)
    _finish(name, stack["BackfillStateMachineArn"], answers)
    assert answers == manifest, "the processor got each batch as the manifest has it"

    code, out, err = cli(capsys, "backfill", "status", name, "--stack", "trailsift")
    assert (code, err) == (0, "")
    assert f"run {name}: SUCCEEDED" in out
    assert "batches: succeeded 1, failed 0" in out and "total 1" in out
    assert re.search(rf"report: s3://{BACKFILL}/reports/[0-9a-f-]+/manifest\.json\n", out)
    assert "files: processed 3" in out and "records: 3, matches: 3" in out


def test_a_failed_batch_fails_the_status_and_the_digest_is_sent_once(
    stack: dict[str, str], answers: list[dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    s3 = boto3.client("s3")
    broken = planned(7).key.replace(".json.gz", "").rsplit("_", 1)[0] + "_BrokenBrokenBrok.json.gz"
    s3.put_object(Bucket=TRAIL, Key=broken, Body=b"not gzip")
    code, out, _ = cli(capsys, "backfill", "--stack", "trailsift", *WINDOW, "--alerts", "digest", "--no-wait")
    assert code == 0
    (name,) = re.findall(r"^started (\S+)$", out, re.M)
    _finish(name, stack["BackfillStateMachineArn"], answers)
    code, out, err = cli(capsys, "backfill", "status", name, "--stack", "trailsift", "--send-digest")
    assert code == 1, "a batch failed"
    assert "batches: succeeded 0, failed 1" in out
    assert f"failed batch of 7 files from AWSLogs/111122223333/" in out and "UnknownTrigger" in out
    assert "digest: sent to the alert topic" in out
    (message,) = drain_queue(boto3.client("sqs"), stack["subscriber"])
    assert message["Subject"].startswith("[backfill] digest: 0 matches in 7 files, 2026-11-19T00:00:00Z to 2026-11-20T00:00:00Z")
    assert f"A trailsift backfill run ended SUCCEEDED: {name}" in message["Message"]
    assert "files: in failed batches 7" in message["Message"] and "failed batches: 1" in message["Message"]
    code, out, _ = cli(capsys, "backfill", "status", name, "--stack", "trailsift", "--send-digest")
    assert "digest: sent before, not again" in out
    assert drain_queue(boto3.client("sqs"), stack["subscriber"]) == []


def test_digest_mode_waits_for_the_run_then_sends_its_digest(
    stack: dict[str, str], answers: list[dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = cli(capsys, "backfill", "--stack", "trailsift", *WINDOW, "--alerts", "digest")
    assert code == 0, out
    assert "SUCCEEDED" in out and "digest: sent to the alert topic" in out
    (message,) = drain_queue(boto3.client("sqs"), stack["subscriber"])
    assert message["Subject"].startswith("[backfill] digest: ")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["backfill", *WINDOW], "--stack is required"),
        (["backfill", "--stack", "trailsift", "--since", "2026-11-19"], "--since and --until are required"),
        (["backfill", "--stack", "trailsift", "--since", "2026-11-20", "--until", "2026-11-19"], "--since must be before --until"),
        (["backfill", "--stack", "trailsift", *WINDOW, "--accounts", "12"], "--accounts: 12"),
        (["backfill", "--stack", "trailsift", *WINDOW, "--regions", "Mars"], "--regions: Mars"),
        (["backfill", "stat", "x", "--stack", "trailsift"], "usage: trailsift backfill status RUN"),
    ],
)
def test_usage_errors(stack: dict[str, str], capsys: pytest.CaptureFixture[str], argv: list[str], message: str) -> None:
    code, out, err = cli(capsys, *argv)
    assert code == 2 and message in err and "Traceback" not in err


def test_a_stack_without_the_backfill_outputs(aws: None, capsys: pytest.CaptureFixture[str]) -> None:
    template = {"Resources": {"Handle": {"Type": "AWS::SQS::Queue"}}, "Outputs": {"TrailBucketName": {"Value": TRAIL}}}
    boto3.client("cloudformation").create_stack(StackName="old", TemplateBody=json.dumps(template))
    code, _, err = cli(capsys, "backfill", "--stack", "old", *WINDOW)
    assert code == 1 and "stack 'old' has no BackfillStateMachineArn output" in err
