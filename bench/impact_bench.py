#!/usr/bin/env python3
"""Time `trailsift selectors impact` against F (read + decompress only), in one process, on the same files.

    python bench/impact_bench.py [--corpus DIR] [--events 200000] [--repeat 3]

Without --corpus it writes (once) the synthetic corpus of bench/replay_bench.py (.bench/c<events>k). F is
replay_bench's (`decompress_all`); T is the command end to end as a user runs it (discover, read every
record, evaluate, group, report as text), once for a proposal alone and once --against the current
selectors. It checks (untimed) that kept and dropped add up to every record of the corpus. Figures go in
BENCHMARKS.md; no timing is asserted in tests.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import platform
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "layers" / "trailsift"))
sys.path.insert(0, str(ROOT))

from bench.replay_bench import best_of, decompress_all, ensure_corpus  # noqa: E402
from trailsift.cli import main as trailsift  # noqa: E402

MANAGEMENT = {"Name": "management", "FieldSelectors": [{"Field": "eventCategory", "Equals": ["Management"]}]}
CURRENT = [MANAGEMENT, {"Name": "all S3 objects", "FieldSelectors": [
    {"Field": "eventCategory", "Equals": ["Data"]}, {"Field": "resources.type", "Equals": ["AWS::S3::Object"]}]}]
PROPOSAL = [{"Name": "management writes", "FieldSelectors": [
    {"Field": "eventCategory", "Equals": ["Management"]}, {"Field": "readOnly", "Equals": ["false"]}]},
    {"Name": "S3 writes", "FieldSelectors": [
        {"Field": "eventCategory", "Equals": ["Data"]}, {"Field": "resources.type", "Equals": ["AWS::S3::Object"]},
        {"Field": "readOnly", "Equals": ["false"]}]}]


def run(*argv: str) -> str:
    raw = io.BytesIO()
    out = io.TextIOWrapper(raw, encoding="utf-8")
    with contextlib.redirect_stdout(out):
        code = trailsift(list(argv))
    if code != 0:
        raise SystemExit(f"trailsift {' '.join(argv)}: exit {code}")
    out.flush()
    return raw.getvalue().decode()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", type=Path)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    corpus = args.corpus or ROOT / ".bench" / f"c{args.events // 1000}k"
    ensure_corpus(corpus, args.events)
    files = sorted(p for p in corpus.rglob("*.json.gz") if "CloudTrail-Digest" not in p.parts)
    os.environ["COLUMNS"] = "80"
    with tempfile.TemporaryDirectory() as folder:
        proposal, current = Path(folder, "proposal.json"), Path(folder, "current.json")
        proposal.write_text(json.dumps(PROPOSAL))
        current.write_text(json.dumps(CURRENT))
        document = json.loads(run("selectors", "impact", "--format", "json", "--selectors", str(proposal), str(corpus)))
        if document["kept"]["events"] + document["dropped"]["events"] != document["events"]:
            raise SystemExit("MISMATCH: kept and dropped do not add up")
        f_time, _ = best_of(args.repeat, lambda: decompress_all(files))
        t_time, _ = best_of(args.repeat, lambda: len(run("selectors", "impact", "--selectors", str(proposal), str(corpus))))
        a_time, _ = best_of(args.repeat, lambda: len(run(
            "selectors", "impact", "--selectors", str(proposal), "--against", str(current), str(corpus))))
    events = document["events"]
    print(f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, load {os.getloadavg()[0]:.1f}")
    print(f"{len(files)} files, {events} events ({document['bytes'] / 1e6:.1f} MB of records); "
          f"kept {document['kept']['events']}, dropped {document['dropped']['events']}")
    print(f"{'path':44s} {'seconds':>8s} {'events/s':>10s} {'x F':>6s}")
    for name, seconds in (("F read + decompress (isal)", f_time), ("selectors impact", t_time),
                          ("selectors impact --against", a_time)):
        print(f"{name:44s} {seconds:8.3f} {events / seconds:10,.0f} {seconds / f_time:6.2f}")


if __name__ == "__main__":
    main()
