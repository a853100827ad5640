#!/usr/bin/env python3
"""Count the alerts a burst of changes sends: the figures behind the README's "Grouped alerts and the rate bound".

    python bench/alert_burst.py [--events 500] [--files 1 5 50] [--per-event]

Writes --events ``AuthorizeSecurityGroupIngress`` calls by one principal, spread evenly over N delivery
files of one hour (for each N of --files), runs them through ``trailsift local`` (the function on
moto's server, every sink configured: the index table, the alert topic, the event bus) and prints the
alerts the topic's subscriber received, with the deployment's defaults (grouped by rule and principal
per file, at most 20 alerts per rule per hour). --per-event runs them as before grouping
(``TRAILSIFT_ALERT_GROUP_MAX_EVENTS=1``, ``TRAILSIFT_ALERT_RATE_LIMIT=0``: one alert per event).
Figures are printed, never asserted; each N takes a minute or two (moto writes every bus event and row).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import sys
import tempfile
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "layers" / "trailsift"))

ACCOUNT = "123456789012"


def write_burst(folder: Path, events: int, files: int) -> None:
    """``events`` calls by ``user/terraform`` in ``files`` files of 2026-11-20 10:00-11:00 (one a minute or so)."""
    rng = random.Random(7)
    per = events // files
    for number in range(files):
        minute = number * 60 // files
        records = []
        for index in range(per):
            records.append({
                "eventVersion": "1.08",
                "userIdentity": {"type": "IAMUser", "principalId": "AIDAEXAMPLE", "accountId": ACCOUNT,
                                 "arn": f"arn:aws:iam::{ACCOUNT}:user/terraform", "userName": "terraform"},
                "eventTime": f"2026-11-20T10:{minute:02d}:{index % 60:02d}Z",
                "eventSource": "ec2.amazonaws.com",
                "eventName": "AuthorizeSecurityGroupIngress",
                "awsRegion": "us-east-1",
                "sourceIPAddress": "198.51.100.7",
                "userAgent": "terraform",
                "requestParameters": {"groupId": f"sg-{number * per + index:017x}"},
                "responseElements": {"_return": True},
                "requestID": str(uuid.UUID(int=rng.getrandbits(128))),
                "eventID": str(uuid.UUID(int=rng.getrandbits(128))),
                "readOnly": False,
                "eventType": "AwsApiCall",
                "managementEvent": True,
                "recipientAccountId": ACCOUNT,
                "eventCategory": "Management",
            })
        name = f"{ACCOUNT}_CloudTrail_us-east-1_20261120T10{minute:02d}Z_Burst{number:011d}.json.gz"
        path = folder / "AWSLogs" / ACCOUNT / "CloudTrail" / "us-east-1" / "2026" / "11" / "20" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(gzip.compress(json.dumps({"Records": records}).encode(), mtime=0))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=500)
    parser.add_argument("--files", type=int, nargs="+", default=[1, 5, 50])
    parser.add_argument("--per-event", action="store_true", help="one alert per event and no rate bound (as before grouping)")
    args = parser.parse_args()
    if args.per_event:
        os.environ.update(TRAILSIFT_ALERT_GROUP_MAX_EVENTS="1", TRAILSIFT_ALERT_RATE_LIMIT="0")
    from trailsift.cli.local import local_run

    mode = "one alert per event" if args.per_event else "grouped, at most 20 per rule per hour"
    for files in args.files:
        with tempfile.TemporaryDirectory() as folder:
            write_burst(Path(folder), args.events, files)
            with local_run([Path(folder)], handler=ROOT / "functions" / "processor" / "app.py") as result:
                failed = [inv.error for inv in result.invocations if inv.error]
                alerts = len(result.alerts)
        print(f"{args.events} changes in {files} file(s): {alerts} alerts ({mode})" + (f"; errors: {failed}" if failed else ""))


if __name__ == "__main__":
    main()
