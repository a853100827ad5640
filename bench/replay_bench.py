#!/usr/bin/env python3
"""Measure trailsift's replay path against baselines on the same files, in one process.

    python bench/replay_bench.py [--corpus DIR] [--events 200000] [--repeat 3]

Without --corpus it writes (once) a synthetic corpus with ../shared/tools/synth_corpus.py into
.bench/c<events>. Every path reads the files from disk; the best of --repeat runs counts.

  F  read + decompress only, the fastest way the project has (isal, one call)  -- the floor
  P  F + orjson.loads of every file                                           -- a careful parser
  N  gzip + json.loads + a Python loop over records (an eventName set test)  -- what most tools do
  T  trailsift's replay path end to end (discover, read, match, summary)

It prints events per second and the ratio of each path's time to F, checks (untimed) that T finds
exactly the matches of an obvious evaluator that tests every selector of every rule on every
record, and reports peak RSS. It then times T with jobs=1 and jobs=2 (worker processes, as
`trailsift replay --jobs`) and prints the ratio. Figures are never asserted in tests: they go in
BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import orjson
from isal import igzip, isal_zlib

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "layers" / "trailsift"))

from trailsift.engine import RuleEngine  # noqa: E402
from trailsift.projection import raw_records  # noqa: E402
from trailsift.cli.replay import ReplaySummary, default_start_method, replay  # noqa: E402
from trailsift.rules import RuleSet, default_rules  # noqa: E402
from trailsift.cli.sources import discover  # noqa: E402

SYNTH = ROOT.parent / "shared" / "tools" / "synth_corpus.py"


def ensure_corpus(directory: Path, events: int) -> None:
    if directory.exists():
        return
    print(f"writing corpus {directory} ({events} events) ...", file=sys.stderr)
    subprocess.run(
        [sys.executable, str(SYNTH), str(directory), "--events", str(events), "--seed", "1"], check=True
    )


def naive_matcher(rules: RuleSet) -> Callable[[dict], list[str]]:
    """The obvious evaluator: walk every path, test every value against every selector of every rule."""

    def values(record: dict, field: str) -> list[str]:
        parts = field.split(".")
        out: list[str] = []

        def walk(node: object, depth: int) -> None:
            if isinstance(node, list):
                for item in node:
                    walk(item, depth)
            elif depth == len(parts):
                if isinstance(node, bool):
                    out.append("true" if node else "false")
                elif isinstance(node, str):
                    out.append(node)
                elif isinstance(node, int):
                    out.append(str(node))
                elif isinstance(node, float) and node.is_integer():
                    out.append(str(int(node)))
            elif isinstance(node, dict):
                last = depth == len(parts) - 1
                keys = ("ARN", "ARNPrefix") if field == "resources.ARN" and last else (parts[depth],)
                for key in keys:
                    if key in node:
                        walk(node[key], depth + 1)

        walk(record, 0)
        return out

    def field_ok(record: dict, fs) -> bool:
        vals = values(record, fs.field)
        inc = [(op, v) for op, vs in fs.conditions if not op.startswith("Not") for v in vs]
        exc = [(op[3:], v) for op, vs in fs.conditions if op.startswith("Not") for v in vs]

        def test(op: str, want: str, got: str) -> bool:
            return got == want if op == "Equals" else got.startswith(want) if op == "StartsWith" else got.endswith(want)

        if inc and not any(test(op, want, got) for got in vals for op, want in inc):
            return False
        return not any(test(op, want, got) for got in vals for op, want in exc)

    def match(record: dict) -> list[str]:
        return [
            rule.name
            for rule in rules
            if any(all(field_ok(record, fs) for fs in sel.field_selectors) for sel in rule.selectors)
        ]

    return match


def decompress_all(files: list[Path]) -> int:
    """F, the floor every path is measured against: read each file and decompress it (isal, one call); the bytes out."""
    total = 0
    for path in files:
        total += len(isal_zlib.decompress(path.read_bytes(), 31))
    return total


def best_of(repeat: int, fn: Callable[[], int]) -> tuple[float, int]:
    times, result = [], 0
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return min(times), result


def jobs_scaling(corpus: Path, engine: RuleEngine, repeat: int) -> dict[str, float]:
    """T's wall time with jobs=1 (this process) and jobs=2 (two worker processes), best of ``repeat`` each.

    The runs alternate, so a change of load on the machine falls on both alike; both must find the same matches.
    """
    times: dict[int, list[float]] = {1: [], 2: []}
    found: dict[int, int] = {}
    for _ in range(repeat):
        for jobs, seconds in times.items():
            start = time.perf_counter()
            found[jobs] = sum(1 for _ in replay(discover([corpus]), engine, ReplaySummary(), jobs=jobs))
            seconds.append(time.perf_counter() - start)
    if found[1] != found[2]:
        raise SystemExit(f"MISMATCH: jobs=1 found {found[1]} matching records, jobs=2 {found[2]}")
    one, two = min(times[1]), min(times[2])
    return {"jobs=1 seconds": round(one, 4), "jobs=2 seconds": round(two, 4), "ratio": round(two / one, 3)}


def stage_times(files: list[Path], corpus: Path, engine: RuleEngine, repeat: int) -> dict[str, float]:
    """The stages of trailsift's scan, each alone, so the note can say what is left to win and where."""
    documents = [isal_zlib.decompress(path.read_bytes(), 31) for path in files]
    views = [engine.projection.decode(document) for document in documents]
    candidates = [engine.candidates(view) for view in views]
    texts = [raw_records(document) if found else [] for document, found in zip(documents, candidates)]
    return {
        "discover + classify the files": best_of(repeat, lambda: len(list(discover([corpus]))))[0],
        "msgspec validation alone (Records as Raw)": best_of(repeat, lambda: sum(len(raw_records(d)) for d in documents))[0],
        "projection decode (guard fields)": best_of(repeat, lambda: sum(len(engine.projection.decode(d)) for d in documents))[0],
        "candidates (guards, a column at a time)": best_of(repeat, lambda: sum(len(engine.candidates(v)) for v in views))[0],
        "record texts of files with candidates": best_of(
            repeat, lambda: sum(len(raw_records(d)) for d, found in zip(documents, candidates) if found)
        )[0],
        "orjson.loads + match of the candidates": best_of(
            repeat,
            lambda: sum(
                1 for text, found in zip(texts, candidates) for i in found if engine.match(orjson.loads(memoryview(text[i])))
            ),
        )[0],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", type=Path)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args()
    corpus = args.corpus or ROOT / ".bench" / f"c{args.events // 1000}k"
    ensure_corpus(corpus, args.events)
    files = sorted(p for p in corpus.rglob("*.json.gz") if "CloudTrail-Digest" not in p.parts)
    rules = default_rules()
    engine = RuleEngine(rules)
    naive = naive_matcher(rules)

    def floor() -> int:
        return decompress_all(files)

    def floor_igzip() -> int:
        total = 0
        for path in files:
            total += len(igzip.decompress(path.read_bytes()))
        return total

    def careful() -> int:
        events = 0
        for path in files:
            events += len(orjson.loads(igzip.decompress(path.read_bytes()))["Records"])
        return events

    sensitive = {v for rule in rules for sel in rule.selectors for fs in sel.field_selectors
                 if fs.field == "eventName" for v in fs.values("Equals")}

    def common() -> int:
        hits = 0
        for path in files:
            with gzip.open(path, "rb") as handle:
                for record in json.loads(handle.read())["Records"]:
                    if record.get("eventName") in sensitive:
                        hits += 1
        return hits

    def reference() -> int:
        matches = 0
        for path in files:
            for record in orjson.loads(igzip.decompress(path.read_bytes()))["Records"]:
                if naive(record):
                    matches += 1
        return matches

    summary_holder: list[ReplaySummary] = []

    def trailsift() -> int:
        summary = ReplaySummary()
        matched = sum(1 for _ in replay(discover([corpus]), engine, summary))
        summary_holder.append(summary)
        return matched

    f_time, uncompressed = best_of(args.repeat, floor)
    f_time = min(f_time, best_of(args.repeat, floor_igzip)[0])  # whichever way is faster is the floor
    p_time, events = best_of(args.repeat, careful)
    n_time, _ = best_of(args.repeat, common)
    t_time, t_matches = best_of(args.repeat, trailsift)
    n_matches = reference()
    summary = summary_holder[-1]
    assert summary.records == events, (summary.records, events)
    if n_matches != t_matches:
        raise SystemExit(f"MISMATCH: the obvious evaluator found {n_matches} matching records, trailsift {t_matches}")

    compressed = sum(p.stat().st_size for p in files)
    rows = [("F read + decompress (isal)", f_time), ("P F + orjson.loads", p_time),
            ("N gzip + json.loads + loop", n_time), ("T trailsift replay", t_time)]
    print(f"corpus: {corpus} ({len(files)} files, {events} events, {compressed / 1e6:.1f} MB gz, "
          f"{uncompressed / 1e6:.1f} MB JSON)")
    print(f"machine: {platform.machine()}, {os.cpu_count()} cpus, Python {platform.python_version()}")
    print(f"matching records: {t_matches} (the obvious evaluator agrees)")
    print(f"{'path':30s} {'seconds':>8s} {'events/s':>12s} {'x F':>6s}")
    figures = {}
    for name, seconds in rows:
        print(f"{name:30s} {seconds:8.3f} {events / seconds:12,.0f} {seconds / f_time:6.2f}")
        figures[name] = {"seconds": round(seconds, 4), "events_per_s": round(events / seconds), "x_F": round(seconds / f_time, 3)}
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # before the stages hold every document
    scaling = jobs_scaling(corpus, engine, args.repeat)  # before the stages too: workers fork this process
    print(f"T with worker processes ({default_start_method()}, {os.cpu_count()} cpus): "
          f"jobs=1 {scaling['jobs=1 seconds']:.3f} s, jobs=2 {scaling['jobs=2 seconds']:.3f} s, "
          f"ratio {scaling['ratio']:.2f}")
    figures["T jobs scaling"] = scaling
    stages = stage_times(files, corpus, engine, args.repeat)
    print("where T's time goes beyond F (each stage timed alone over every file, on decompressed bytes):")
    for name, seconds in stages.items():
        print(f"  {name:44s} {seconds:6.3f} s {seconds / f_time:6.2f} x F")
    figures["stages beyond F"] = {name: round(seconds, 4) for name, seconds in stages.items()}
    print(f"peak RSS of this process over the paths above: {peak_mb:.0f} MB")
    if args.json:
        args.json.write_text(json.dumps({"corpus": str(corpus), "events": events, "matches": t_matches,
                                         "paths": figures, "peak_rss_mb": round(peak_mb)}, indent=2))


if __name__ == "__main__":
    main()
