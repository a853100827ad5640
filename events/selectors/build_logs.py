#!/usr/bin/env python3
"""Recreate events/selectors/logs/: SYNTHETIC S3 data events (and a few management events) for the README's
`trailsift selectors impact` example. Nothing here was logged by AWS: the records are built in the shape
CloudTrail writes S3 object-level data events (eventVersion 1.10, eventCategory Data, resources: the
object then its bucket), with made-up accounts, buckets, principals and IDs.

One account (111122223333), us-east-1, six hours of 2026-11-20 (06:00 to 12:00 UTC), one file per
15 minutes. Four buckets: two the proposal keeps writes to (payroll-exports, audit-evidence) and two it
stops logging (web-assets, build-cache). Deterministic: same seed, same bytes.

usage: python events/selectors/build_logs.py [--out DIR] [--events N] [--seed S]
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import random
import shutil
import uuid
from collections import defaultdict
from datetime import datetime, timedelta, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
ACCOUNT = "111122223333"
REGION = "us-east-1"
START = datetime(2026, 11, 20, 6, 0, tzinfo=timezone.utc)
HOURS = 6
# bucket: (share of the traffic, the object-level calls made on it and their weights)
BUCKETS = {
    "web-assets": (0.55, {"GetObject": 80, "HeadObject": 15, "PutObject": 5}),
    "build-cache": (0.30, {"GetObject": 45, "PutObject": 35, "DeleteObject": 10, "HeadObject": 10}),
    "payroll-exports": (0.08, {"PutObject": 50, "GetObject": 40, "DeleteObject": 10}),
    "audit-evidence": (0.07, {"PutObject": 70, "GetObject": 25, "CopyObject": 5}),
}
READ_ONLY = {"GetObject", "HeadObject"}
MANAGEMENT = [("sts.amazonaws.com", "AssumeRole", True), ("s3.amazonaws.com", "ListBuckets", True),
              ("s3.amazonaws.com", "PutBucketPolicy", False), ("iam.amazonaws.com", "GetRole", True)]
ROLES = ["app-server", "ci-runner", "payroll-batch", "auditor"]
B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def _id(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _identity(role: str) -> dict:
    return {
        "type": "AssumedRole",
        "principalId": f"AROAEXAMPLE{role.upper().replace('-', '')}:i-0abc",
        "arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/{role}/i-0abc",
        "accountId": ACCOUNT,
        "accessKeyId": "ASIAEXAMPLEKEY",
        "sessionContext": {
            "sessionIssuer": {"type": "Role", "principalId": f"AROAEXAMPLE{role.upper().replace('-', '')}",
                              "arn": f"arn:aws:iam::{ACCOUNT}:role/{role}", "accountId": ACCOUNT, "userName": role},
            "attributes": {"creationDate": "2026-11-20T05:00:00Z", "mfaAuthenticated": "false"},
        },
    }


def data_event(rng: random.Random, when: datetime, bucket: str, name: str) -> dict:
    key = f"{rng.choice(['2026/11/20', 'release', 'batch', 'tmp'])}/{rng.getrandbits(32):08x}.{rng.choice(['json', 'gz', 'png', 'csv'])}"
    role = {"payroll-exports": "payroll-batch", "audit-evidence": "auditor", "build-cache": "ci-runner"}.get(bucket, "app-server")
    return {
        "eventVersion": "1.10",
        "userIdentity": _identity(role),
        "eventTime": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "eventSource": "s3.amazonaws.com",
        "eventName": name,
        "awsRegion": REGION,
        "sourceIPAddress": f"10.0.{rng.randrange(256)}.{rng.randrange(256)}",
        "userAgent": "[aws-sdk-java/2.25.0 Linux/6.1 OpenJDK_64-Bit_Server_VM/17]",
        "requestParameters": {"bucketName": bucket, "Host": f"{bucket}.s3.us-east-1.amazonaws.com", "key": key},
        "responseElements": None,
        "additionalEventData": {"SignatureVersion": "SigV4", "CipherSuite": "TLS_AES_128_GCM_SHA256",
                                "bytesTransferredIn": 0 if name in READ_ONLY else rng.randrange(100, 90000),
                                "AuthenticationMethod": "AuthHeader", "x-amz-id-2": "EXAMPLE/id2",
                                "bytesTransferredOut": rng.randrange(100, 90000) if name == "GetObject" else 0},
        "requestID": f"{rng.getrandbits(64):016X}",
        "eventID": _id(rng),
        "readOnly": name in READ_ONLY,
        "resources": [
            {"type": "AWS::S3::Object", "ARN": f"arn:aws:s3:::{bucket}/{key}"},
            {"accountId": ACCOUNT, "type": "AWS::S3::Bucket", "ARN": f"arn:aws:s3:::{bucket}"},
        ],
        "eventType": "AwsApiCall",
        "managementEvent": False,
        "recipientAccountId": ACCOUNT,
        "eventCategory": "Data",
        "tlsDetails": {"tlsVersion": "TLSv1.3", "cipherSuite": "TLS_AES_128_GCM_SHA256",
                       "clientProvidedHostHeader": f"{bucket}.s3.us-east-1.amazonaws.com"},
    }


def management_event(rng: random.Random, when: datetime) -> dict:
    source, name, read_only = rng.choice(MANAGEMENT)
    return {
        "eventVersion": "1.10",
        "userIdentity": _identity(rng.choice(ROLES)),
        "eventTime": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "eventSource": source,
        "eventName": name,
        "awsRegion": REGION,
        "sourceIPAddress": f"10.0.{rng.randrange(256)}.{rng.randrange(256)}",
        "userAgent": "aws-cli/2.17.0",
        "requestParameters": None,
        "responseElements": None,
        "requestID": _id(rng),
        "eventID": _id(rng),
        "readOnly": read_only,
        "eventType": "AwsApiCall",
        "managementEvent": True,
        "recipientAccountId": ACCOUNT,
        "eventCategory": "Management",
    }


def records(events: int, seed: int) -> list[dict]:
    rng = random.Random(seed)
    names = list(BUCKETS)
    shares = [BUCKETS[name][0] for name in names]
    out = []
    for _ in range(events):
        when = START + timedelta(seconds=rng.randrange(HOURS * 3600))
        if rng.random() < 0.05:
            out.append(management_event(rng, when))
            continue
        bucket = rng.choices(names, shares)[0]
        calls = BUCKETS[bucket][1]
        out.append(data_event(rng, when, bucket, rng.choices(list(calls), list(calls.values()))[0]))
    return out


def write(out: Path, events: int, seed: int) -> int:
    """Write the tree under ``out`` (replaced); the number of files."""
    if out.exists():
        shutil.rmtree(out)
    windows: dict[datetime, list[dict]] = defaultdict(list)
    for record in records(events, seed):
        when = datetime.strptime(record["eventTime"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
        windows[when.replace(minute=when.minute // 15 * 15, second=0)].append(record)
    for window, found in sorted(windows.items()):
        found.sort(key=lambda r: r["eventTime"])
        stamp = (window + timedelta(minutes=15)).strftime("%Y%m%dT%H%MZ")
        digest = int.from_bytes(hashlib.sha256((stamp + "".join(r["eventID"] for r in found)).encode()).digest()[:12], "big")
        tail = "".join(B62[(digest >> (6 * i)) % 62] for i in range(16))
        folder = out / "AWSLogs" / ACCOUNT / "CloudTrail" / REGION / window.strftime("%Y/%m/%d")
        folder.mkdir(parents=True, exist_ok=True)
        body = json.dumps({"Records": found}, separators=(",", ":")).encode()
        with open(folder / f"{ACCOUNT}_CloudTrail_{REGION}_{stamp}_{tail}.json.gz", "wb") as handle:
            with gzip.GzipFile(fileobj=handle, mode="wb", mtime=0) as zipped:
                zipped.write(body)
    return len(windows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=HERE / "logs")
    parser.add_argument("--events", type=int, default=1200)
    parser.add_argument("--seed", type=int, default=16)
    args = parser.parse_args()
    print(f"{write(args.out, args.events, args.seed)} files written under {args.out}")


if __name__ == "__main__":
    main()
