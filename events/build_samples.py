#!/usr/bin/env python3
"""Recreate the sample delivery tree under events/logs/ (what `make demo` replays).

It writes, deterministically (same input, same bytes):

* the 13 example records of the AWS documentation (shared/data/cloudtrail/fixtures/aws-docs-examples.json)
  grouped the way CloudTrail delivers them: one file per account, region and 5-minute window of
  eventTime, Insights records in CloudTrail-Insight files. The delivery stamp in the name is the end of
  the window; the 16-character id is derived from a SHA-256 of the file's account, region, stamp and
  eventIDs (CloudTrail's own ids mean nothing either);
* one CloudTrail digest file listing one of those files (skipped by `trailsift replay`);
* AWS Config's zero-byte ConfigWritabilityCheckFile probe (skipped too);
* byte-for-byte copies of a few real delivery files (REAL_FILES), and their LICENSE files.

events/logs/LICENSES/NOTICE.md is written by hand and left alone.

usage: python events/build_samples.py [--shared DIR] [--out DIR]
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import shutil
import sys
from collections import defaultdict
from datetime import datetime, timedelta, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT_SHARED = HERE.parent.parent / "shared" / "data" / "cloudtrail"
DEFAULT_OUT = HERE / "logs"
ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
BUCKET = "example-trail-bucket"
TRAIL = "example-trail"

# Real delivery files copied as they are, chosen because the default rule pack matches them.
# (dataset folder, path below AWSLogs/)
REAL_FILES = [
    ("invictus", "218007301253/CloudTrail/us-east-1/2023/07/10/"
     "218007301253_CloudTrail_us-east-1_20230710T1205Z_SjF3IkuNXJkoHyar.json.gz"),
    ("invictus", "218007301253/CloudTrail/us-east-1/2023/07/10/"
     "218007301253_CloudTrail_us-east-1_20230710T1215Z_YMDRJwtmC82bUwAo.json.gz"),
    ("invictus", "218007301253/CloudTrail/us-east-1/2023/07/10/"
     "218007301253_CloudTrail_us-east-1_20230710T1225Z_4iD2boYSOwmb6sWd.json.gz"),
    ("stratus-red-team", "032092706103/CloudTrail/us-northeast-1r/2024/08/01/"
     "032092706103_CloudTrail_us-northeast-1r_20240801T1220Z_0igiSgdqyrWbu23E.json.gz"),
    ("stratus-red-team", "229654561268/CloudTrail/ap-isob-central-3r/2024/08/01/"
     "229654561268_CloudTrail_ap-isob-central-3r_20240801T1330Z_ILKi33JFuoEJBiSy.json.gz"),
    ("stratus-red-team", "307578594326/CloudTrail/euiso-south-3r/2024/08/02/"
     "307578594326_CloudTrail_euiso-south-3r_20240802T0830Z_2WlAR7yFXCqGbpQX.json.gz"),
]
LICENSES = {"invictus/LICENSE": "LICENSE-invictus", "stratus-red-team/LICENSE": "LICENSE-stratus-red-team"}


def unique_id(*parts: str) -> str:
    """16 alphanumeric characters from a SHA-256 of ``parts`` (base 62)."""
    number = int.from_bytes(hashlib.sha256("\x00".join(parts).encode()).digest(), "big")
    out = []
    for _ in range(16):
        number, digit = divmod(number, 62)
        out.append(ALPHABET[digit])
    return "".join(out)


def account_of(record: dict) -> str:
    identity = record.get("userIdentity") or {}
    return record.get("recipientAccountId") or identity["accountId"]


def window_end(event_time: str) -> datetime:
    moment = datetime.strptime(event_time, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
    start = moment.replace(minute=moment.minute - moment.minute % 5, second=0)
    return start + timedelta(minutes=5)


def gz(data: bytes) -> bytes:
    return gzip.compress(data, compresslevel=9, mtime=0)


def write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def build_docs_examples(shared: Path, out: Path) -> list[tuple[Path, bytes, list[dict]]]:
    """One file per (account, region, 5-minute window, events/Insights); returns (path, JSON, records)."""
    records = json.loads((shared / "fixtures" / "aws-docs-examples.json").read_bytes())["Records"]
    groups: dict[tuple[str, str, datetime, str], list[dict]] = defaultdict(list)
    for record in records:
        product = "CloudTrail-Insight" if record.get("eventCategory") == "Insight" else "CloudTrail"
        groups[(account_of(record), record["awsRegion"], window_end(record["eventTime"]), product)].append(record)
    written = []
    for (account, region, delivered, product), group in sorted(groups.items()):
        group.sort(key=lambda r: (r["eventTime"], r["eventID"]))
        stamp = delivered.strftime("%Y%m%dT%H%MZ")
        uid = unique_id(account, region, stamp, product, *(r["eventID"] for r in group))
        name = f"{account}_{product}_{region}_{stamp}_{uid}.json.gz"
        path = out / "AWSLogs" / account / product / region / delivered.strftime("%Y/%m/%d") / name
        body = json.dumps({"Records": group}, separators=(",", ":"), ensure_ascii=False).encode()
        write(path, gz(body))
        written.append((path, body, group))
    return written


def build_digest(out: Path, files: list[tuple[Path, bytes, list[dict]]]) -> Path:
    """An hourly digest for 123456789012/us-east-1 covering 2023-07-19 21:00-22:00 (hashes of the uncompressed files)."""
    account, region = "123456789012", "us-east-1"
    start = datetime(2023, 7, 19, 21, 0, tzinfo=timezone.utc)
    end = start + timedelta(hours=1)
    listed = []
    for path, body, group in files:
        key = path.relative_to(out).as_posix()
        if not key.startswith(f"AWSLogs/{account}/CloudTrail/{region}/"):
            continue
        stamp = datetime.strptime(path.name.split("_")[3], "%Y%m%dT%H%MZ").replace(tzinfo=timezone.utc)
        if start < stamp <= end:
            listed.append({
                "s3Bucket": BUCKET,
                "s3Object": key,
                "hashValue": hashlib.sha256(body).hexdigest(),
                "hashAlgorithm": "SHA-256",
                "newestEventTime": max(r["eventTime"] for r in group),
                "oldestEventTime": min(r["eventTime"] for r in group),
            })
    iso = "%Y-%m-%dT%H:%M:%SZ"
    name = f"{account}_CloudTrail-Digest_{region}_{TRAIL}_{region}_{end.strftime('%Y%m%dT%H%M%SZ')}.json.gz"
    key = f"AWSLogs/{account}/CloudTrail-Digest/{region}/{end.strftime('%Y/%m/%d')}/{name}"
    digest = {
        "awsAccountId": account,
        "digestStartTime": start.strftime(iso),
        "digestEndTime": end.strftime(iso),
        "digestS3Bucket": BUCKET,
        "digestS3Object": key,
        "digestPublicKeyFingerprint": hashlib.md5(b"example public key").hexdigest(),
        "digestSignatureAlgorithm": "SHA256withRSA",
        "newestEventTime": max((f["newestEventTime"] for f in listed), default=None),
        "oldestEventTime": min((f["oldestEventTime"] for f in listed), default=None),
        "previousDigestS3Bucket": None,
        "previousDigestS3Object": None,
        "previousDigestHashValue": None,
        "previousDigestHashAlgorithm": None,
        "previousDigestSignature": None,
        "logFiles": listed,
    }
    return write(out / key, gz(json.dumps(digest, separators=(",", ":")).encode()))


def copy_real(shared: Path, out: Path) -> list[Path]:
    copied = []
    for dataset, below in REAL_FILES:
        target = out / "AWSLogs" / below
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shared / dataset / "AWSLogs" / below, target)
        copied.append(target)
    for source, name in LICENSES.items():
        target = out / "LICENSES" / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shared / source, target)
    return copied


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shared", type=Path, default=DEFAULT_SHARED, help="shared/data/cloudtrail (default: %(default)s)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output tree (default: %(default)s)")
    args = parser.parse_args(argv)
    files = build_docs_examples(args.shared, args.out)
    digest = build_digest(args.out, files)
    probe = write(args.out / "AWSLogs" / "123456789012" / "Config" / "ConfigWritabilityCheckFile", b"")
    copied = copy_real(args.shared, args.out)
    for path in [p for p, _, _ in files] + [digest, probe] + copied:
        print(path.relative_to(args.out).as_posix())
    return 0


if __name__ == "__main__":
    sys.exit(main())
