"""The ``trailsift`` command line: replay log files through rules, validate rules and selectors, query the
index, and run the whole application locally against an emulated AWS.

Exit status: 0 done; 1 done but some files failed (or, for ``validate --cloudtrail``, CloudTrail
would refuse the selectors); 2 invalid usage or invalid rules/selectors (nothing run).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from collections.abc import Sequence

from trailsift import query
from trailsift.engine import RuleEngine
from trailsift.reader import DEFAULT_MAX_DECOMPRESSED_BYTES, DEFAULT_MAX_RECORD_BYTES, ReadLimits
from trailsift.replay import ReplaySummary, available_cores, replay
from trailsift.report import ProgressBar, jsonl_line, summary_text, table_header, table_row
from trailsift.rules import (
    RuleSet,
    RulesError,
    default_rules,
    is_rules_document,
    load_document,
    load_rules,
    load_selector_rules,
    parse_rules,
    rules_from_selectors,
)
from trailsift.selectors import SelectorError, cloudtrail_compatibility, parse_selectors
from trailsift.sources import discover

EXIT_OK, EXIT_FAILED_FILES, EXIT_USAGE = 0, 1, 2


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="trailsift",
        description="Filter CloudTrail log files with advanced event selectors.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    rp = commands.add_parser("replay", help="replay local log files (.json.gz, .json, directories) through rules")
    source = rp.add_mutually_exclusive_group()
    source.add_argument("--rules", metavar="FILE", help="a rules file (JSON or YAML); default: the built-in pack")
    source.add_argument(
        "--selectors", metavar="FILE", help="a JSON list of advanced event selectors, or get-event-selectors output"
    )
    rp.add_argument("--format", choices=("text", "jsonl"), default="text", help="output format (default: text)")
    rp.add_argument("--with-record", action="store_true", help="jsonl: include the whole record of each match")
    rp.add_argument(
        "--max-decompressed-bytes",
        type=_positive_int,
        default=DEFAULT_MAX_DECOMPRESSED_BYTES,
        metavar="N",
        help="refuse files that decompress past N bytes (default: %(default)s)",
    )
    rp.add_argument(
        "--max-record-bytes",
        type=_positive_int,
        default=DEFAULT_MAX_RECORD_BYTES,
        metavar="N",
        help="refuse files holding a record longer than N bytes (default: %(default)s)",
    )
    rp.add_argument(
        "--jobs",
        type=_positive_int,
        default=available_cores(),
        metavar="N",
        help="scan files in N worker processes; the output is the same for any N (default: the cores available, %(default)s)",
    )
    rp.add_argument("paths", nargs="+", metavar="PATH")

    vp = commands.add_parser("validate", help="validate a rules or selectors file")
    vp.add_argument("file", metavar="FILE")
    vp.add_argument("--cloudtrail", action="store_true", help="also tell whether CloudTrail itself would accept the selectors")

    lp = commands.add_parser(
        "local", help="run the deployed pipeline on this machine: moto's server on 127.0.0.1 stands in for AWS"
    )
    lp.add_argument("paths", nargs="*", default=["events/logs"], help="log files or folders (default: events/logs)")
    lp.add_argument("--handler", type=Path, help="the function's app.py (default: functions/processor/app.py)")
    lp.add_argument("--full", action="store_true", help="show each alert's event JSON too")
    lp.add_argument("--rules", type=Path, metavar="FILE", help="a rules or selectors file to run instead of the default pack")

    qp = commands.add_parser(
        "query", help="read the DynamoDB index back by rule, principal, account or event id (newest first)",
        description="Times are UTC; the range is [--since, --until). Exit 1 on AWS errors, 2 on usage errors.",
    )
    by = qp.add_mutually_exclusive_group(required=True)
    by.add_argument("--rule", metavar="NAME", type=query.key_value, help="rows of one rule")
    by.add_argument("--principal", metavar="ARN", type=query.key_value, help="rows of one userIdentity.arn")
    by.add_argument("--account", metavar="ID", type=query.key_value, help="rows of one account")
    by.add_argument("--event-id", metavar="ID", type=query.key_value, help="every row of one event, with the event")
    qp.add_argument(
        "--since", metavar="TIME", type=query.parse_time, help="from TIME (2024-01-01 or 2024-01-01T10:00:00Z)"
    )
    qp.add_argument("--until", metavar="TIME", type=query.parse_time, help="up to, not including, TIME")
    qp.add_argument("--last", metavar="DURATION", type=query.parse_duration, help="the last 30m, 24h, 7d, 2w")
    qp.add_argument("--limit", metavar="N", type=_positive_int, help="at most N rows")
    qp.add_argument("--format", choices=("table", "jsonl"), default="table", help="output format (default: table)")
    table = qp.add_mutually_exclusive_group(required=True)
    table.add_argument("--table", metavar="NAME", type=query.key_value, help="the index table's name")
    table.add_argument(
        "--stack", metavar="STACK", type=query.key_value, help="a deployed stack (its IndexTableName output)"
    )
    qp.add_argument("--endpoint-url", metavar="URL", help="an emulated AWS endpoint (e.g. moto server)")
    qp.add_argument("--region", metavar="REGION", help="AWS region (default: the AWS configuration's)")

    from trailsift import redrive

    dp = commands.add_parser(
        "redrive", help="send the failure queue's dead letters back to the function, deleting what it accepted",
        description="Exit 0 when every message was redriven (or a dry run), 1 when some were kept, 2 on usage errors.",
    )
    redrive.add_arguments(dp, _positive_int)
    return parser


def _load(args: argparse.Namespace) -> RuleSet:
    if args.rules:
        return load_rules(args.rules)
    if args.selectors:
        return load_selector_rules(args.selectors)
    return default_rules()


def _replay(args: argparse.Namespace) -> int:
    try:
        rules = _load(args)
        files = list(discover(args.paths))
    except (RulesError, FileNotFoundError) as exc:
        print(f"trailsift: {exc}", file=sys.stderr)
        return EXIT_USAGE
    engine = RuleEngine(rules)
    summary = ReplaySummary()
    out = sys.stdout
    progress = ProgressBar(len(files)) if args.format == "text" else None
    limits = ReadLimits(args.max_decompressed_bytes, args.max_record_bytes)
    matches = replay(files, engine, summary, limits=limits, progress=progress, jobs=args.jobs)
    if args.format == "jsonl":
        binary = out.buffer
        for match in matches:
            binary.write(jsonl_line(match, with_record=args.with_record))
        binary.flush()
        for source, reason in summary.failed:
            print(f"trailsift: failed: {source}: {reason}", file=sys.stderr)
        for source, index, reason in summary.record_problems:
            print(f"trailsift: skipped: {source} record {index}: {reason}", file=sys.stderr)
    else:
        rows = [table_row(match) for match in matches]
        if progress is not None and progress.enabled:
            sys.stderr.write("\n")
        if rows:
            out.write(table_header() + "\n" + "\n".join(rows) + "\n")
        else:
            out.write("no matches\n")
        out.write(summary_text(summary, rules))
    return EXIT_FAILED_FILES if summary.failed else EXIT_OK


def _validate(args: argparse.Namespace) -> int:
    try:
        document = load_document(args.file)
        if is_rules_document(document):
            rules = parse_rules(document, source=args.file)
            what = f"{len(rules)} rules, {sum(len(r.selectors) for r in rules)} selectors"
        else:
            rules = rules_from_selectors(parse_selectors(document, context=f"{args.file}: "), source=args.file)
            what = f"{len(rules)} selectors"
    except (RulesError, SelectorError) as exc:
        print(f"invalid: {exc}", file=sys.stderr)
        return EXIT_USAGE
    print(f"valid: {args.file}: {what}")
    if not args.cloudtrail:
        return EXIT_OK
    if is_rules_document(document):
        problems = [f"rule {r.name!r}: {p}" for r in rules for p in cloudtrail_compatibility(r.selectors)]
    else:
        problems = cloudtrail_compatibility([selector for rule in rules for selector in rule.selectors])
    if not problems:
        print("CloudTrail would accept these selectors")
        return EXIT_OK
    print("CloudTrail would refuse these selectors:")
    for problem in problems:
        print(f"  - {problem}")
    return EXIT_FAILED_FILES


def _local(args: argparse.Namespace) -> int:
    from trailsift.local_run import local_run, print_run

    with local_run(args.paths, handler=args.handler, rules=args.rules) as result:
        indexed_rules = print_run(result, sys.stdout, full=args.full)
        table, url = result.stack.table, result.stack.endpoint_url
        print(f"\n== index rows, as `trailsift query --rule NAME --table {table} --endpoint-url {url}` shows them ==")
        for rule in indexed_rules:
            print(f"\n$ trailsift query --rule {rule}", flush=True)
            main(["query", "--rule", rule, "--table", table, "--endpoint-url", url])
    return EXIT_FAILED_FILES if any(invocation.error for invocation in result.invocations) else EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "replay":
            return _replay(args)
        if args.command == "query":
            return query.run(args)
        if args.command == "local":
            return _local(args)
        if args.command == "redrive":
            from trailsift import redrive

            return redrive.run(args)
        return _validate(args)
    except BrokenPipeError:  # `trailsift replay ... | head`
        sys.stderr.close()
        return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
