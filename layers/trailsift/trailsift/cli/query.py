"""``trailsift query``: read the index back by rule, principal, account or event id.

boto3 is imported only when a query runs, so the other commands start without it. Times are UTC and
the range is ``[since, until)``; a bare date means its midnight, so ``--until 2024-01-02`` ends with
the last second of 2024-01-01.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Iterable, Iterator
from itertools import chain, islice
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, TextIO

import orjson

from trailsift.aws.clients import new_client
from trailsift.cli.command import CommandError, ExitCode, endpoint_url, positive_int
from trailsift.cli.report import index_cells, index_table
from trailsift.cli.session import aws_errors, session, stack_outputs
from trailsift.cli.terminal import COLOR_CHOICES, MIN_WIDTH, terminal_width, use_colour

if TYPE_CHECKING:
    from trailsift.aws.dynamodb import IndexReader

STACK_OUTPUT = "IndexTableName"
# What every output row carries, in this order (the index may not have them all for every row).
ROW_FIELDS = ("eventTime", "rule", "severity", "eventID", "eventName", "eventSource", "principal", "account",
              "region", "sourceIPAddress", "errorCode", "logFile")
EVENT_FIELDS = ("recordIndex", "indexedAt", "expires_at", "trimmed", "eventBytes", "event")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_DURATION = re.compile(r"(\d{1,6})\s*([smhdw])")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
FIRST_PAGE = 100
"""The table's column widths are taken from this many rows; the rows after them are cut to those widths."""


def iso(moment: datetime) -> str:
    """``moment`` as CloudTrail writes eventTime (whole seconds, UTC, ``Z``), rounded up to the second.

    Rounding up keeps ``[since, until)`` exact: an event at 10:00:00 is before 10:00:00.5.
    """
    moment = moment.astimezone(timezone.utc)
    if moment.microsecond:
        moment = moment.replace(microsecond=0) + timedelta(seconds=1)
    return f"{moment.year:04d}-{moment:%m-%dT%H:%M:%S}Z"


def parse_time(text: str) -> str:
    """An argparse type: ``2024-01-01`` or ``2024-01-01T10:00:00Z`` (any offset) as an eventTime-like string."""
    value = text.strip()
    try:
        if _DATE.fullmatch(value):
            return iso(datetime.fromisoformat(value).replace(tzinfo=timezone.utc))
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"not a date or time: {text!r}; use 2024-01-01 or 2024-01-01T10:00:00Z"
        ) from None
    if moment.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{text!r} has no time zone; add Z for UTC, as in 2024-01-01T10:00:00Z")
    return iso(moment)


def key_value(text: str) -> str:
    """An argparse type: a non-empty key value (DynamoDB keys cannot be empty strings)."""
    if not text:
        raise argparse.ArgumentTypeError("must not be empty")
    return text


def parse_duration(text: str) -> timedelta:
    """An argparse type: ``30m``, ``24h``, ``7d``, ``2w`` (or seconds, ``90s``)."""
    found = _DURATION.fullmatch(text.strip().lower())
    if found is None or int(found.group(1)) == 0:
        raise argparse.ArgumentTypeError(
            f"not a duration: {text!r}; use a positive number and s, m, h, d or w, as in 24h"
        )
    return timedelta(**{_UNITS[found.group(2)]: int(found.group(1))})


def time_range(args: argparse.Namespace, now: datetime) -> tuple[str | None, str | None]:
    """``(since, until)`` from ``--since``/``--until``/``--last``; a usage :class:`CommandError` when they conflict."""
    if args.last is not None:
        if args.since is not None or args.until is not None:
            raise CommandError("--last cannot be combined with --since or --until", ExitCode.USAGE)
        return iso(now - args.last), None
    if args.since is not None and args.until is not None and args.since >= args.until:
        raise CommandError(f"--since {args.since} is not before --until {args.until}", ExitCode.USAGE)
    return args.since, args.until


def present(row: dict[str, Any], *, full: bool = False) -> dict[str, Any]:
    """An index row as output: :data:`ROW_FIELDS` (``None`` when absent), plus the event when ``full``."""
    out = {name: row.get(name) for name in ROW_FIELDS}
    if out["rule"] is None and isinstance(row.get("sk"), str):
        out["rule"] = row["sk"].removeprefix("RULE#")
    if full:
        out.update((name, row[name]) for name in EVENT_FIELDS if name in row)
    return out


def _rows(
    args: argparse.Namespace, reader: IndexReader, since: str | None, until: str | None
) -> Iterator[dict[str, Any]]:
    if args.event_id is not None:
        rows = reader.event(args.event_id)
        yield from (present(row, full=True) for row in (rows[: args.limit] if args.limit else rows))
        return
    if args.rule is not None:
        found = reader.by_rule(args.rule, since, until, limit=args.limit)
    elif args.principal is not None:
        found = reader.by_principal(args.principal, since, until, limit=args.limit)
    else:
        found = reader.by_account(args.account, since, until, limit=args.limit)
    yield from (present(row) for row in found)


def _write(rows: Iterable[dict[str, Any]], fmt: str, out: TextIO, *, colour: bool = False) -> int:
    """The rows on ``out``: JSON lines, or a table that fits the terminal (as they come, after the first page)."""
    count = 0
    if fmt == "jsonl":
        binary = out.buffer
        for row in rows:
            binary.write(orjson.dumps(row) + b"\n")
            count += 1
        binary.flush()
        return count
    rows = iter(rows)
    first = list(islice(rows, FIRST_PAGE))
    if not first:
        out.write("no rows\n")
        out.flush()
        return 0
    table = index_table(first, terminal_width(out, minimum=MIN_WIDTH), colour)
    out.write("\n".join(table.header()) + "\n")
    for row in chain(first, rows):
        out.write("\n".join(table.render(index_cells(row))) + "\n")
        count += 1
    out.flush()
    return count


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``query`` command's options."""
    by = parser.add_mutually_exclusive_group(required=True)
    by.add_argument("--rule", metavar="NAME", type=key_value, help="rows of one rule")
    by.add_argument("--principal", metavar="ARN", type=key_value, help="rows of one userIdentity.arn")
    by.add_argument("--account", metavar="ID", type=key_value, help="rows of one account")
    by.add_argument("--event-id", metavar="ID", type=key_value, help="every row of one event, with the event")
    parser.add_argument("--since", metavar="TIME", type=parse_time, help="from TIME (2024-01-01 or 2024-01-01T10:00:00Z)")
    parser.add_argument("--until", metavar="TIME", type=parse_time, help="up to, not including, TIME")
    parser.add_argument("--last", metavar="DURATION", type=parse_duration, help="the last 30m, 24h, 7d, 2w")
    parser.add_argument("--limit", metavar="N", type=positive_int, help="at most N rows")
    parser.add_argument("--format", choices=("table", "jsonl"), default="table", help="output format (default: table)")
    parser.add_argument(
        "--color",
        choices=COLOR_CHOICES,
        default="auto",
        help="table: colour severities; auto (default): on a terminal, unless NO_COLOR is set",
    )
    table = parser.add_mutually_exclusive_group(required=True)
    table.add_argument("--table", metavar="NAME", type=key_value, help="the index table's name")
    table.add_argument("--stack", metavar="STACK", type=key_value, help=f"a deployed stack (its {STACK_OUTPUT} output)")
    parser.add_argument("--endpoint-url", metavar="URL", type=endpoint_url, help="an emulated AWS endpoint (e.g. moto server)")
    parser.add_argument("--region", metavar="REGION", help="AWS region (default: the AWS configuration's)")


def run(args: argparse.Namespace) -> ExitCode:
    """Run one ``trailsift query``: the rows on stdout; a :class:`CommandError` when it cannot (usage, AWS)."""
    if args.event_id is not None and (args.since or args.until or args.last):
        raise CommandError("--since, --until and --last do not apply to --event-id", ExitCode.USAGE)
    since, until = time_range(args, datetime.now(timezone.utc))
    aws = session("query", args.region)
    from trailsift.aws.dynamodb import IndexReader  # here, once boto3 is known to be there: it imports botocore

    table = args.table or stack_outputs(aws, args.stack, args.endpoint_url).require(STACK_OUTPUT)
    with aws_errors(table=table, stack=args.stack):
        reader = IndexReader(new_client("dynamodb", session=aws, endpoint_url=args.endpoint_url), table)
        _write(_rows(args, reader, since, until), args.format, sys.stdout, colour=use_colour(args.color, sys.stdout))
    return ExitCode.OK
