#!/usr/bin/env python3
"""Time and peak memory of one file of every shape: realistic, and each hostile shape of bench/shapes.py.

    python bench/shapes_bench.py [--size-mb 400] [--shape NAME ...]

Each file is read by ``scan_log_file`` with the default settings (the default rule pack) in a fresh
child process, so that its peak RSS is that file's alone. For each it reports the decompressed
size, the disposition, the seconds, the throughput per decompressed byte, its ratio to F (the same
file only decompressed, in the same child) and to the realistic file's throughput, and the peak RSS.
A file that is refused stops early: its time is the time to the refusal. The realistic file's time is
also given as a ratio to F measured as the issue did (isal, the whole file in one call).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.shapes import CHILD_PRELUDE, SHAPES, write_shape  # noqa: E402

WORK = ROOT / ".bench" / "shapes"
REALISTIC = ROOT / ".bench" / "big"

CHILD = CHILD_PRELUDE + r"""
from isal import isal_zlib
from trailsift.reader import DEFAULT_MAX_DECOMPRESSED_BYTES, inflate

path = sys.argv[1]
started = time.perf_counter()
outcome = scan_outcome(path)
seconds = time.perf_counter() - started
peak = peak_mb()
floor = whole = None
if outcome["disposition"] == "read":  # F: the same bytes only decompressed (best of 3), a chunk at a time and in one call
    floor = whole = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        size = sum(map(len, inflate(data, path, limit=DEFAULT_MAX_DECOMPRESSED_BYTES, chunk_size=1 << 20)))
        floor = min(floor, time.perf_counter() - started)
    if size < 1 << 30:
        for _ in range(3):
            started = time.perf_counter()
            isal_zlib.decompress(data, 31)
            whole = min(whole, time.perf_counter() - started)
    outcome["decompressed"] = size
print(json.dumps({**outcome, "seconds": seconds, "floor": floor, "one_call": whole, "peak_mb": peak}))
"""


def measure(path: Path) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(path), str(ROOT / "layers" / "trailsift")],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def realistic_file() -> Path:
    found = sorted(REALISTIC.rglob("*.json.gz"))
    if not found:
        synth = ROOT.parent / "shared" / "tools" / "synth_corpus.py"
        print(f"writing {REALISTIC} (250,000 events in one file) ...", file=sys.stderr)
        subprocess.run([sys.executable, str(synth), str(REALISTIC), "--one-file", "--events", "250000"], check=True)
        found = sorted(REALISTIC.rglob("*.json.gz"))
    return found[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-mb", type=int, default=400, help="decompressed size of each hostile file (default 400)")
    parser.add_argument("--shape", action="append", choices=sorted(SHAPES), help="only these shapes")
    args = parser.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    rows: list[tuple[str, str, dict[str, object]]] = []
    base = measure(realistic_file())
    rows.append(("realistic", "one 50 MB-gzip delivery file of 250,000 real records", base))
    base_speed = base["decompressed"] / base["seconds"]  # type: ignore[operator]
    for name in args.shape or SHAPES:
        shape = SHAPES[name]
        path = WORK / f"{name}-{args.size_mb}.json.gz"
        if not path.exists():
            write_shape(path, shape, args.size_mb << 20)
        rows.append((name, shape.what, measure(path)))
    one_call = float(base["one_call"])  # type: ignore[arg-type]
    print(
        f"realistic file: {float(base['seconds']):.2f} s = {float(base['seconds']) / one_call:.2f} x F"  # type: ignore[arg-type]
        f" (F: isal in one call, {one_call:.2f} s, as the issue measured it)"
    )
    print(f"{'shape':22} {'MB':>6} {'outcome':>10} {'s':>7} {'MB/s':>7} {'x Fc':>5} {'speed':>6} {'peak MB':>8}")
    for name, _, row in rows:
        seconds = float(row["seconds"])  # type: ignore[arg-type]
        if row["disposition"] == "read":
            size = int(row["decompressed"])  # type: ignore[call-overload]
            speed = size / seconds
            print(
                f"{name:22} {size / 1e6:6.0f} {'read':>10} {seconds:7.2f} {speed / 1e6:7.0f}"
                f" {seconds / float(row['floor']):5.2f} {speed / base_speed:6.2f} {float(row['peak_mb']):8.0f}"  # type: ignore[arg-type]
            )
        else:
            print(f"{name:22} {'':>6} {'refused':>10} {seconds:7.2f} {'':>7} {'':>5} {'':>6} {float(row['peak_mb']):8.0f}")  # type: ignore[arg-type]
            print(f"{'':22}   record {row['index']}: {row['reason']}")
    print("x Fc: time over the same file only decompressed a chunk at a time (the streamed floor)")
    print("speed: throughput per decompressed byte relative to the realistic file (the target is at least 0.5)")


if __name__ == "__main__":
    main()
