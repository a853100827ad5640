#!/usr/bin/env python3
"""Measure the Lambda function's cold start and its concurrent fetches, against baselines in the same run.

    python bench/function_bench.py [--runs 9] [--files 100] [--latency-ms 50]

Cold start: fresh interpreters (median of --runs) time
  B  a bare ``import boto3``                                                   -- the baseline
  H  importing functions/processor/app.py and building what it needs: settings, the rules engine
     (default pack) and the pipeline; clients are lazy, so none is created here
  H+ H and then the first S3 client (what the first GET adds)
The layer ships without the X-Ray SDK, so H runs with tracing off, as in Lambda.

Concurrent GETs: --files small log files in an emulated S3 (moto, in-process) with --latency-ms
added to every GetObject; the pipeline reads them all with fetch concurrency 1 (sequential) and
with the function's default.

Big file: the handler, in a child process, reads the one 50 MB-gzip delivery file of .bench/big from S3
(moto, in-process, which holds the object too); its peak RSS (VmHWM) is compared with the RSS before
the invocation. Figures are printed, never asserted in tests; they go in BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import gzip
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "layers" / "trailsift"))

APP = ROOT / "functions" / "processor" / "app.py"
BOTO3 = "import time; t = time.perf_counter(); import boto3; print(time.perf_counter() - t)"
HANDLER = f"""
import importlib.util, os, time
t = time.perf_counter()
spec = importlib.util.spec_from_file_location("app", {str(APP)!r})
app = importlib.util.module_from_spec(spec)
spec.loader.exec_module(app)
from trailsift.deadline import Deadline
app.build_pipeline("cold-start", Deadline(lambda: 300_000, app.settings().deadline_margin_ms))
built = time.perf_counter() - t
if os.environ.get("WITH_CLIENT"):
    app.client("s3")
print(time.perf_counter() - t)
"""
FUNCTION_ENV = {
    "TRAILSIFT_BUCKETS": "trailsift-bench",
    "TRAILSIFT_ALERT_TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:alerts",
    "TRAILSIFT_INDEX_TABLE": "trailsift-index",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
}


def fresh(code: str, runs: int, **extra: str) -> float:
    """Median seconds the snippet reports, each run in a new interpreter."""
    env = {**os.environ, **FUNCTION_ENV, **extra}
    times = []
    for _ in range(runs):
        out = subprocess.run([sys.executable, "-c", code], env=env, check=True, capture_output=True, text=True)
        times.append(float(out.stdout.strip().splitlines()[-1]))
    return statistics.median(times)


def cold_start(runs: int) -> None:
    # Interleave so that machine noise hits both alike.
    boto3_t, handler_t, client_t = [], [], []
    for _ in range(runs):
        boto3_t.append(fresh(BOTO3, 1))
        handler_t.append(fresh(HANDLER, 1))
        client_t.append(fresh(HANDLER, 1, WITH_CLIENT="1"))
    b, h, c = (statistics.median(x) for x in (boto3_t, handler_t, client_t))
    print(f"cold start (median of {runs} fresh interpreters):")
    print(f"  B  import boto3                              {b * 1000:7.1f} ms   1.00 x B")
    print(f"  H  import handler + build (lazy clients)     {h * 1000:7.1f} ms   {h / b:4.2f} x B")
    print(f"  H+ H + first S3 client                       {c * 1000:7.1f} ms   {c / b:4.2f} x B")


def concurrent_gets(files: int, latency_ms: float) -> None:
    import boto3
    from moto import mock_aws

    from trailsift.aws.s3 import S3ObjectSource
    from trailsift.engine import RuleEngine
    from trailsift.pipeline import Pipeline, Status
    from trailsift.rules import default_rules
    from trailsift.settings import Settings
    from trailsift.triggers import ObjectRef

    for name, value in FUNCTION_ENV.items():
        os.environ.setdefault(name, value)
    sample = next((ROOT / "events" / "logs" / "AWSLogs").rglob("*_CloudTrail_us-east-1_*.json.gz"))
    records = orjson.loads(gzip.decompress(sample.read_bytes()))["Records"]
    body = gzip.compress(orjson.dumps({"Records": records}))
    rules = default_rules()
    engine = RuleEngine(rules)
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="trailsift-bench")
        refs = []
        for i in range(files):
            key = f"AWSLogs/123456789012/CloudTrail/us-east-1/2024/01/01/123456789012_CloudTrail_us-east-1_20240101T0000Z_{i:016d}.json.gz"
            s3.put_object(Bucket="trailsift-bench", Key=key, Body=body)
            refs.append(ObjectRef("trailsift-bench", key, size=len(body)))
        s3.meta.events.register("before-send.s3.GetObject", lambda **_: time.sleep(latency_ms / 1000))
        source = S3ObjectSource(s3)

        def timed(concurrency: int) -> float:
            pipeline = Pipeline(
                rules, engine, source, alerts=None, index=None,
                settings=Settings(fetch_concurrency=concurrency),
            )
            start = time.perf_counter()
            outcomes = pipeline.run(refs)
            elapsed = time.perf_counter() - start
            assert all(o.status is Status.PROCESSED for o in outcomes), [o.reason for o in outcomes][:3]
            return elapsed

        default = Settings().fetch_concurrency
        sequential = timed(1)
        concurrent = timed(default)
    print(f"concurrent GETs ({files} files of {len(body)} bytes, {latency_ms:.0f} ms added to every GetObject):")
    print(f"  sequential (concurrency 1)       {sequential:6.2f} s")
    print(f"  function default (concurrency {default})  {concurrent:6.2f} s   1/{sequential / concurrent:.1f} of sequential")


BIG_FILE_CHILD = r"""
import importlib.util, json, os, sys, time
from pathlib import Path
import boto3
from moto import mock_aws

def vm(field):
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024

path, app_path = Path(sys.argv[1]), sys.argv[2]
key = "AWSLogs/" + str(path).split("/AWSLogs/", 1)[1]
for name in ("TRAILSIFT_ALERT_TOPIC_ARN", "TRAILSIFT_INDEX_TABLE"):
    os.environ.pop(name, None)  # the scan alone: moto would hold every alert and row in this process too
with mock_aws():
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="trailsift-bench")
    s3.put_object(Bucket="trailsift-bench", Key=key, Body=path.read_bytes())
    spec = importlib.util.spec_from_file_location("app", app_path)
    app = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(app)
    event = {"Records": [{"eventSource": "aws:s3", "eventName": "ObjectCreated:Put", "awsRegion": "us-east-1",
             "s3": {"bucket": {"name": "trailsift-bench"}, "object": {"key": key, "size": path.stat().st_size}}}]}
    class Context:
        aws_request_id = "bench"; function_name = "trailsift"; memory_limit_in_mb = 1024
        invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:trailsift"
        def get_remaining_time_in_millis(self): return 300_000
    before = vm("VmRSS")
    Path("/proc/self/clear_refs").write_text("5")  # VmHWM from here on
    started = time.perf_counter()
    answer = app.handler(event, Context())
    print(json.dumps({"seconds": time.perf_counter() - started, "before": before, "peak": vm("VmHWM"), "answer": str(answer)[:200]}))
"""


def big_file_memory() -> None:
    """The function's process on the one 50 MB-gzip delivery file: peak RSS while the handler reads it."""
    found = sorted((ROOT / ".bench" / "big").rglob("*.json.gz"))
    if not found:
        print("big file: skipped (run bench/shapes_bench.py or replay_bench.py first to write .bench/big)")
        return
    env = {**os.environ, **FUNCTION_ENV, "POWERTOOLS_METRICS_DISABLED": "true", "POWERTOOLS_LOG_LEVEL": "ERROR"}
    done = subprocess.run(
        [sys.executable, "-c", BIG_FILE_CHILD, str(found[0]), str(APP)], env=env, check=True, capture_output=True, text=True
    )
    row = orjson.loads(done.stdout.strip().splitlines()[-1])
    size = found[0].stat().st_size / 1e6
    print(f"the function on one {size:.0f} MB-gzip file (S3 on moto in the same process, alerts and index off):")
    print(f"  {row['seconds']:.2f} s; RSS before {row['before']:.0f} MB (moto holds the object), peak {row['peak']:.0f} MB,"
          f" so the file cost {row['peak'] - row['before']:.0f} MB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--files", type=int, default=100)
    parser.add_argument("--latency-ms", type=float, default=50.0)
    args = parser.parse_args()
    cold_start(args.runs)
    concurrent_gets(args.files, args.latency_ms)
    big_file_memory()


if __name__ == "__main__":
    main()
