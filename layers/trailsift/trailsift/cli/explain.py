"""``trailsift explain``: why one record matched a rule or did not, field selector by field selector.

The record is ``FILE:INDEX`` as ``replay`` names a match (``.json.gz`` or ``.json``; the index
counts every entry of ``Records``), ``FILE`` when the file holds one record, or ``-`` for a JSON
record on stdin (a replay ``--format jsonl --with-record`` line works too: its ``record`` is used;
a log document on stdin takes ``--index N``).
Every rule and selector is shown with each field selector, whether it held or failed, the values
the record holds for its field and the condition that decided; the evaluation is
:func:`trailsift.explain.explain`, held to the engine by a property test.
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

from trailsift.cli.command import CommandError, ExitCode
from trailsift.cli.known_fields import field_problem
from trailsift.cli.rules_input import add_rules_option, load_and_warn
from trailsift.explain import FieldTrace, RuleTrace, explain, matched_rules
from trailsift.reader import DEFAULT_MAX_DECOMPRESSED_BYTES, LogFileError, decompress
from trailsift.rules import RuleSet
from trailsift.text import for_terminal

MAX_VALUES = 5
"""Values shown per field selector; the rest are counted."""
MAX_VALUE_CHARS = 60
"""A value longer than this is cut (``…``)."""
_INDEXED = re.compile(r"(?s)(.*):([0-9]+)")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``explain`` command's options."""
    parser.add_argument(
        "record", metavar="RECORD",
        help="FILE:INDEX (a log file, .json.gz or .json, and the record's index, as replay prints it), "
        "FILE (a file of one record) or - (a JSON record on stdin)",
    )
    add_rules_option(parser)
    parser.add_argument(
        "--index", type=int, metavar="N", help="the record's index in the log file (or log document on stdin); same as :INDEX"
    )
    parser.add_argument(
        "--rule", action="append", metavar="NAME", help="explain only this rule (repeat for more); default: every rule"
    )
    parser.add_argument("--format", choices=("text", "json"), default="text", help="output format (default: text)")


def run(args: argparse.Namespace) -> ExitCode:
    """Run one ``trailsift explain``: the trace on stdout. OK when explained (matched or not); a usage
    :class:`CommandError` for invalid rules, an unknown rule name or a record that cannot be read."""
    loaded = load_and_warn(args)
    rules = _chosen(loaded.rules, args.rule)
    where, record = read_record(args.record, args.index)
    traces = explain(rules, record)
    if args.format == "json":
        document = {
            "record": where,
            "matched": list(matched_rules(traces)),
            "rules": [trace.to_json() for trace in traces],
        }
        sys.stdout.buffer.write(orjson.dumps(document, option=orjson.OPT_INDENT_2) + b"\n")
        sys.stdout.flush()
        return ExitCode.OK
    width = terminal_width()
    for line in render(where, record, traces, rules_in_file=len(loaded.rules), width=width):
        print(for_terminal(line, width))
    return ExitCode.OK


def terminal_width() -> int:
    """The columns to fit: the terminal's (``COLUMNS`` first), at least 80."""
    return max(80, shutil.get_terminal_size((80, 24)).columns)


def _chosen(rules: RuleSet, names: list[str] | None) -> RuleSet:
    """The rules ``--rule`` names (in the file's order), or all; a usage error naming the closest for an unknown one."""
    if not names:
        return rules
    from trailsift.cli.rules_command import unknown_rule

    for name in names:
        if name not in rules.names:
            raise unknown_rule(name, rules)
    return RuleSet(tuple(rule for rule in rules if rule.name in names), rules.source)


# --- the record ---------------------------------------------------------------------------------


def read_record(spec: str, index: int | None = None) -> tuple[str, dict[str, Any]]:
    """The record ``spec`` names and how to name it: ``FILE:INDEX``, ``FILE`` or ``-`` (``index``: as ``:INDEX``);
    usage errors for the rest."""
    path = spec
    if spec != "-" and not Path(spec).is_file():
        indexed = _INDEXED.fullmatch(spec)
        if indexed is not None and (indexed[1] == "-" or Path(indexed[1]).is_file()):
            if index is not None and index != int(indexed[2]):
                raise CommandError(f"{spec}: and --index {index}: give the index once", ExitCode.USAGE)
            path, index = indexed[1], int(indexed[2])
        elif not Path(spec).exists() and (indexed is None or not Path(indexed[1]).exists()):
            raise CommandError(f"{spec}: no such file (give FILE:INDEX, FILE or -)", ExitCode.USAGE)
        else:
            raise CommandError(f"{spec}: not a file (give FILE:INDEX, FILE or -)", ExitCode.USAGE)
    source = "stdin" if path == "-" else path
    return pick_record(read_document(path), source, index)


def read_document(path: str | Path) -> Any:
    """The JSON document of a file (``.json.gz`` or ``.json``, told apart by content) or of stdin (``-``);
    a usage :class:`CommandError` naming the file when it cannot be read or decoded."""
    source = "stdin" if str(path) == "-" else str(path)
    try:
        data = sys.stdin.buffer.read() if source == "stdin" else Path(path).read_bytes()
    except OSError as exc:
        raise CommandError(f"{source}: cannot read: {exc.strerror or exc}", ExitCode.USAGE) from None
    try:
        return orjson.loads(decompress(data, source, limit=DEFAULT_MAX_DECOMPRESSED_BYTES))
    except LogFileError as exc:
        raise CommandError(str(exc), ExitCode.USAGE) from None
    except orjson.JSONDecodeError as exc:
        raise CommandError(f"{source}: not valid JSON: {exc}", ExitCode.USAGE) from None


def pick_record(document: Any, source: str, index: int | None) -> tuple[str, dict[str, Any]]:
    """The record of a log document (``Records``), a replay JSON line (``record``) or a record itself."""
    if isinstance(document, dict) and isinstance(document.get("Records"), list):
        entries = document["Records"]
        if index is None:
            if len(entries) != 1:
                name = "--index N" if source == "stdin" else f"{source}:INDEX"
                raise CommandError(
                    f"{source}: holds {len(entries)} records; name one as {name} (0 to {len(entries) - 1})",
                    ExitCode.USAGE,
                )
            index = 0
        if not 0 <= index < len(entries):
            raise CommandError(
                f"{source}: no record {index}; it holds {len(entries)} (0 to {len(entries) - 1})", ExitCode.USAGE
            )
        entry = entries[index]
        if not isinstance(entry, dict):
            raise CommandError(f"{source}:{index}: not a record (not a JSON object)", ExitCode.USAGE)
        return f"{source}:{index}", entry
    if isinstance(document, dict) and isinstance(document.get("record"), dict) and "rules" in document:
        record: dict[str, Any] = document["record"]  # a replay --format jsonl --with-record line
        origin = f"{document.get('file')}:{document.get('index')}" if "file" in document else source
        return origin, record
    if isinstance(document, dict):
        if index not in (None, 0):
            raise CommandError(f"{source}: holds one record, not a log file; there is no record {index}", ExitCode.USAGE)
        return source, document
    raise CommandError(
        f"{source}: not a record (a JSON object) nor a log file ({{\"Records\": [...]}})", ExitCode.USAGE
    )


# --- text -----------------------------------------------------------------------------------------


def _quoted(value: str) -> str:
    return f'"{for_terminal(value, MAX_VALUE_CHARS)}"'


def _values(trace: FieldTrace) -> str:
    if not trace.values:
        return "no value"
    shown = ", ".join(_quoted(value) for value in trace.values[:MAX_VALUES])
    more = len(trace.values) - MAX_VALUES
    label = "value" if len(trace.values) == 1 else "values"
    return f"{label} {shown}" + (f" and {more} more" if more > 0 else "")


def _conditions(trace: FieldTrace) -> str:
    return "; ".join(
        f"{operator} [{', '.join(operands)}]" for operator, operands in trace.field_selector.conditions
    )


def _decided(trace: FieldTrace) -> str:
    """The condition that decided, or why none did."""
    hit = trace.excluded_by or trace.included_by
    if hit is not None:
        verb = "excluded by" if hit is trace.excluded_by else "satisfies"
        return f"{verb} {hit.operator} {_quoted(hit.operand)}"
    if trace.includes:
        return "satisfies no include condition" if trace.values else "so no include condition holds"
    return "hits no exclude condition" if trace.values else "so no exclude condition applies"


def left_cut(text: str, width: int) -> str:
    """``text`` in at most ``width`` characters, cut at the left (a path's end, file name and index, says the most)."""
    text = for_terminal(text)
    return text if len(text) <= width else "…" + text[len(text) - width + 1 :]


def render(
    where: str, record: dict[str, Any], traces: tuple[RuleTrace, ...], *, rules_in_file: int, width: int = 80
) -> Iterator[str]:
    """The trace as lines of text (the caller makes them safe and cuts them to ``width``)."""
    yield "record " + left_cut(where, width - len("record "))
    yield from record_lines(record)
    matched = matched_rules(traces)
    of = f"{len(traces)} rules" if len(traces) == rules_in_file else f"{len(traces)} rules chosen of {rules_in_file}"
    yield f"matches {len(matched)} of {of}" + (f": {', '.join(matched)}" if matched else "")
    for trace in traces:
        yield ""
        yield from rule_lines(trace)


def record_lines(record: dict[str, Any]) -> Iterator[str]:
    """What the record is, indented: ``eventName (eventSource) at eventTime``, then its ``eventID``."""
    said = {key: record[key] for key in ("eventName", "eventSource", "eventTime", "eventID") if isinstance(record.get(key), str)}
    what = " ".join(
        text for text in (
            said.get("eventName"),
            f"({said['eventSource']})" if "eventSource" in said else None,
            f"at {said['eventTime']}" if "eventTime" in said else None,
        ) if text
    )
    if what:
        yield f"  {what}"
    if "eventID" in said:
        yield f"  eventID {said['eventID']}"


def rule_lines(trace: RuleTrace) -> Iterator[str]:
    """One rule's verdict, then each selector and field selector: held or FAILED, the record's values and
    the condition that decided (the caller makes the lines safe and cuts them to its width)."""
    verdict = "MATCH" if trace.matched else "no match"
    yield f"{verdict}  {trace.rule.name}  [{trace.rule.severity.value}]"
    for index, selector in enumerate(trace.selectors):
        name = f" ({selector.selector.name!r})" if selector.selector.name is not None else ""
        failed = sum(not fs.held for fs in selector.fields)
        outcome = "matches" if selector.matched else f"{failed} of {len(selector.fields)} field selectors failed"
        yield f"  selector {index}{name}: {outcome}"
        for fs in selector.fields:
            yield f"    {'held  ' if fs.held else 'FAILED'}  {fs.field_selector.field}  {_conditions(fs)}"
            yield f"            {_values(fs)}{': ' if fs.values else ', '}{_decided(fs)}"
            problem = field_problem(fs.field_selector.field)
            if problem is not None:  # the warning on stderr says it in full
                yield "            " + (
                    f"no record has this field; did you mean {problem.suggestion!r}?"
                    if problem.suggestion
                    else f"no record has a value here: {problem.field!r} {problem.reason}"
                )
