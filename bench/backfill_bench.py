#!/usr/bin/env python3
"""Measure what one log file costs the function in a backfill: the figure behind ``trailsift backfill --dry-run``.

    python bench/backfill_bench.py [--events 20000] [--accounts 4] [--batch 100] [--latency-ms 20]

Writes a synthetic organization day with ``../shared/tools/synth_corpus.py`` (one file per account,
region and 5 minutes, as CloudTrail delivers), puts it in an emulated S3 (moto, in-process) with
--latency-ms added to every GetObject, and invokes the function's handler in this process with the
Step Functions batches a backfill sends (--batch keys each), the index table configured (moto, so
every row is really written) and alerts off (a backfill's default). Prints the wall time per file
and per compressed MiB, best of --runs, and its ratio to F, the same files read from disk and
decompressed in this process (best of --runs). Figures are printed, never asserted in tests.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from isal import isal_zlib

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "layers" / "trailsift"))

APP = ROOT / "functions" / "processor" / "app.py"
SYNTH = ROOT.parent / "shared" / "tools" / "synth_corpus.py"
BUCKET = "trailsift-bench-backfill"
TABLE = "trailsift-bench-index"


def corpus(out: Path, events: int, accounts: int) -> list[Path]:
    if not out.exists():
        subprocess.run(
            [sys.executable, str(SYNTH), str(out), "--events", str(events), "--accounts", str(accounts), "--day", "2026-11-20"],
            check=True,
            stdout=subprocess.DEVNULL,
        )
    return sorted(out.rglob("*.json.gz"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20000)
    parser.add_argument("--accounts", type=int, default=4)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    files = corpus(ROOT / ".bench" / f"backfill-{args.events}-{args.accounts}", args.events, args.accounts)
    total_bytes = sum(path.stat().st_size for path in files)

    os.environ.update(
        AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench", AWS_DEFAULT_REGION="us-east-1",
        TRAILSIFT_BUCKETS=BUCKET, TRAILSIFT_INDEX_TABLE=TABLE, POWERTOOLS_TRACE_DISABLED="true",
        POWERTOOLS_METRICS_DISABLED="true", POWERTOOLS_LOG_LEVEL="WARNING",
    )
    from moto import mock_aws

    with mock_aws():
        import boto3

        from trailsift.cli.local import LambdaContext
        from trailsift.index import TABLE_DEFINITION

        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket=BUCKET)
        boto3.client("dynamodb", region_name="us-east-1").create_table(TableName=TABLE, **TABLE_DEFINITION)
        keys = []
        for path in files:
            key = path.as_posix()[path.as_posix().index("AWSLogs/") :]
            s3.put_object(Bucket=BUCKET, Key=key, Body=path.read_bytes())
            keys.append(key)
        spec = importlib.util.spec_from_file_location("app", APP)
        assert spec is not None and spec.loader is not None
        app = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(app)
        function_s3 = app.client("s3")
        function_s3.meta.events.register("before-send.s3.GetObject", lambda **_: time.sleep(args.latency_ms / 1000))
        batches = [keys[i : i + args.batch] for i in range(0, len(keys), args.batch)]
        best = float("inf")
        records = 0
        for _ in range(args.runs):
            start = time.perf_counter()
            records = 0
            for items in batches:
                answer = app.handler({"Items": items, "BatchInput": {"bucket": BUCKET, "alerts": "none"}}, LambdaContext())
                records += answer["records"]
            best = min(best, time.perf_counter() - start)
    f_best = float("inf")
    for _ in range(args.runs):
        start = time.perf_counter()
        for path in files:
            isal_zlib.decompress(path.read_bytes(), 31)
        f_best = min(f_best, time.perf_counter() - start)
    mib = total_bytes / (1 << 20)
    print(json.dumps({
        "F_seconds": round(f_best, 3), "x_F": round(best / f_best, 1),
        "files": len(keys), "records": records, "compressed_bytes": total_bytes, "batches": len(batches),
        "latency_ms": args.latency_ms, "seconds": round(best, 3),
        "ms_per_file": round(best / len(keys) * 1000, 2), "s_per_compressed_mib": round(best / mib, 3),
    }))


if __name__ == "__main__":
    main()
