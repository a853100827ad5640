"""``trailsift test RULES...``: run the test cases rules carry, for CI.

Each rule may hold ``tests`` (:class:`trailsift.rules.RuleCase`): records it must match and records
it must not. This command runs every case of every rule of each file or pack given, with the rule
engine that runs in the function (:class:`trailsift.engine.RuleEngine`), and prints each failing case
with ``explain``'s account of it (:func:`trailsift.explain.explain_rule`, shown by
:func:`trailsift.cli.explain.rule_lines`): which selector and field selector held or failed, on
which value. On success it prints the summary line only.

Exit status: 0 when every case passed, 1 when one failed or could not be run (its record file
missing, its index out of range) or, with ``--require-tests``, when a rule has no tests; 2 on usage
errors (a rules file that is not valid, an unknown pack or rule name).
"""

from __future__ import annotations

import argparse
import sys
import textwrap
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from trailsift.cli.command import CommandError, ExitCode
from trailsift.cli.explain import left_cut, pick_record, read_document, record_lines, rule_lines, terminal_width
from trailsift.cli.rules_command import short_source, unknown_rule
from trailsift.cli.rules_input import LoadedRules, load_one, print_warnings
from trailsift.engine import RuleEngine
from trailsift.explain import explain_rule
from trailsift.rules import PACKS, Rule, RuleCase, RuleSet
from trailsift.text import for_terminal

__all__ = ["CaseResult", "add_arguments", "run", "run_cases"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``test`` command's options."""
    parser.add_argument(
        "rules", nargs="+", metavar="RULES",
        help=f"a rules file (JSON or YAML) or a built-in pack by name ({', '.join(PACKS)}); several are tested one by one",
    )
    parser.add_argument("--rule", action="append", metavar="NAME", help="run only this rule's cases (repeat for more)")
    parser.add_argument("--format", choices=("text", "json"), default="text", help="output format (default: text)")
    parser.add_argument("--verbose", "-v", action="store_true", help="also list each passing case and each rule without tests")
    parser.add_argument("--require-tests", action="store_true", help="fail (exit 1) when a rule has no tests")


@dataclass(frozen=True)
class CaseResult:
    """One case run: whether the rule matched its record as the case expects, or why it could not run."""

    source: str
    rule: Rule
    case: RuleCase
    where: str
    """The record as the case names it (``cases/x.json:3``, or ``inline``)."""
    record: dict[str, Any] | None
    matched: bool | None
    """What the engine said (None: the case could not run; ``error`` says why)."""
    error: str | None = None

    @property
    def passed(self) -> bool:
        return self.error is None and self.matched == self.case.expects_match

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "source": self.source, "rule": self.rule.name, "case": self.case.name, "expect": self.case.expect,
            "record": self.where, "passed": self.passed,
        }
        if self.error is not None:
            out["error"] = self.error
        else:
            out["got"] = "match" if self.matched else "no-match"
        if not self.passed and self.record is not None:
            out["explain"] = explain_rule(self.rule, self.record).to_json()
        return out


class _Records:
    """The records of file cases, each file read once (a case file holds the records of many cases)."""

    def __init__(self) -> None:
        self._documents: dict[Path, Any] = {}

    def get(self, case: RuleCase) -> tuple[str, dict[str, Any]]:
        """``(where, record)`` of ``case``; a :class:`CommandError` whose line says why it cannot be had."""
        if case.record is not None:
            return "inline", case.record
        path = case.path
        assert path is not None and case.file is not None  # parse_case: a record or a file
        if path not in self._documents:
            self._documents[path] = read_document(path)
        _, record = pick_record(self._documents[path], case.file, case.index)
        where = case.file if case.index is None else f"{case.file}:{case.index}"
        return where, record


def run_cases(rules: RuleSet, *, names: Sequence[str] | None = None, records: _Records | None = None) -> Iterator[CaseResult]:
    """Run every case of every rule of ``rules`` (only those ``names`` lists, when given), in order."""
    engine = RuleEngine(rules)
    records = records if records is not None else _Records()
    for rule in rules:
        if names and rule.name not in names:
            continue
        for case in rule.tests:
            try:
                where, record = records.get(case)
            except CommandError as exc:
                yield CaseResult(rules.source, rule, case, case.file or "inline", None, None, exc.line)
                continue
            yield CaseResult(rules.source, rule, case, where, record, rule.name in engine.match(record))


def failure_lines(result: CaseResult, width: int = 80) -> Iterator[str]:
    """A failing case, in lines safe for a terminal and at most ``width`` columns: what was expected and what
    happened, then the record and explain's account of the rule (or, whole and folded, why it could not run)."""
    yield for_terminal(f"FAILED  {result.rule.name}: {result.case.name}", width)
    yield "  in " + left_cut(result.source, width - len("  in "))
    if result.error is not None:
        yield from textwrap.wrap(
            for_terminal(f"cannot run: {result.error}"), width, initial_indent="  ", subsequent_indent="    ",
            break_on_hyphens=False, break_long_words=False,
        )
        return
    for line in _explained(result, width):
        yield for_terminal(line, width)


def _explained(result: CaseResult, width: int) -> Iterator[str]:
    got = "a match" if result.matched else "no match"
    expected = "a match" if result.case.expects_match else "no match"
    yield f"  expected {expected}, got {got}"
    yield "  record " + left_cut(result.where, width - len("  record "))
    if result.case.edited:
        yield f"  (record edited: {result.case.edited})"
    assert result.record is not None
    for line in record_lines(result.record):
        yield "  " + line
    for line in rule_lines(explain_rule(result.rule, result.record)):
        yield "  " + line


def _chosen(loaded: list[LoadedRules], names: list[str] | None) -> None:
    """A usage error for a ``--rule`` name no rule set given holds."""
    if not names:
        return
    known = {name for part in loaded for name in part.rules.names}
    missing = [name for name in names if name not in known]
    if missing:
        everything = RuleSet(tuple(rule for part in loaded for rule in part.rules), ", ".join(p.source for p in loaded))
        raise unknown_rule(missing[0], everything)


def run(args: argparse.Namespace) -> ExitCode:
    """Run one ``trailsift test``: failing cases explained on stdout, then one summary line."""
    loaded = [load_one(spec) for spec in args.rules]
    for part in loaded:
        print_warnings(part)
    _chosen(loaded, args.rule)
    records = _Records()
    results = [result for part in loaded for result in run_cases(part.rules, names=args.rule, records=records)]
    chosen = [rule for part in loaded for rule in part.rules if not args.rule or rule.name in args.rule]
    untested = [rule.name for rule in chosen if not rule.tests]
    failed = [result for result in results if not result.passed]
    summary = {
        "rule_sets": len(loaded), "rules": len(chosen), "cases": len(results),
        "passed": len(results) - len(failed), "failed": len(failed), "rules_without_tests": untested,
    }
    code = ExitCode.FAILED if failed or (args.require_tests and untested) else ExitCode.OK
    if args.format == "json":
        document = {"summary": summary, "cases": [result.to_json() for result in results]}
        sys.stdout.buffer.write(orjson.dumps(document, option=orjson.OPT_INDENT_2) + b"\n")
        sys.stdout.flush()
        return code
    width = terminal_width()
    for result in results:
        if not result.passed:
            for line in failure_lines(result, width):
                print(line)
            print()
        elif args.verbose:
            print(for_terminal(f"ok      {result.rule.name}: {result.case.name}", width))
    if args.verbose or (args.require_tests and untested):
        for name in untested:
            print(for_terminal(f"no tests  {name}", width))
    sets = ", ".join(short_source(part.source) for part in loaded)
    plural = "s" if len(results) != 1 else ""
    cases = f"{len(failed)} of {len(results)} case{plural} failed" if failed else f"{len(results)} case{plural} passed"
    rules = f"{len(chosen)} rule{'s' if len(chosen) != 1 else ''}"
    print(for_terminal(f"{'FAILED' if code else 'ok'}: {cases}; {rules} in {sets}, {len(untested)} without tests"))
    return code
