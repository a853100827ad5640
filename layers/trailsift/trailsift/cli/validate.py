"""``trailsift validate``: check a rules or selectors file: whether it is valid, whether each field can match, and
(``--cloudtrail``) whether CloudTrail itself would accept its selectors."""

from __future__ import annotations

import argparse

from trailsift.cli.command import CommandError, ExitCode
from trailsift.cli.rules_input import LoadedRules, add_rules_option, load, print_warnings, rules_specs
from trailsift.selectors import CLOUDTRAIL_FIELDS, cloudtrail_compatibility


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``validate`` command's options."""
    parser.add_argument(
        "file", nargs="?", metavar="FILE",
        help="a rules file or a selectors file (JSON or YAML, told apart by content), or a built-in pack by name; "
        "default: the default pack",
    )
    add_rules_option(parser)
    parser.add_argument(
        "--cloudtrail", action="store_true", help="also tell whether CloudTrail itself would accept the selectors"
    )


def run(args: argparse.Namespace) -> ExitCode:
    """Run one ``trailsift validate``: what the file holds on stdout, a warning a line on stderr for each
    field no CloudTrail record has.

    OK when valid and clean; FAILED when valid with warnings, or (``--cloudtrail``) when CloudTrail
    would refuse the selectors (each reason a line); a usage :class:`CommandError` when invalid.
    """
    options = rules_specs(args)
    if args.file is not None and options:
        raise CommandError("give the file once: as FILE or with --rules, not both", ExitCode.USAGE)
    loaded = load(args.file if args.file is not None else options)
    rules = loaded.rules
    if loaded.kind == "selectors":
        what = f"{len(rules)} selectors"
    else:
        what = f"{len(rules)} rules, {sum(len(r.selectors) for r in rules)} selectors"
    warnings = loaded.warnings()
    if warnings:
        what += f", {len(warnings)} warning{'s' if len(warnings) != 1 else ''}"
    print(f"valid: {rules.source}: {what}", flush=True)
    print_warnings(loaded)
    code = ExitCode.FAILED if warnings else ExitCode.OK
    if args.cloudtrail and not _print_cloudtrail(loaded):
        code = ExitCode.FAILED
    return code


def cloudtrail_problems(loaded: LoadedRules) -> list[str]:
    """Why CloudTrail's ``put-event-selectors`` would refuse the selectors: a selectors file as one set, each rule as one."""
    rules = loaded.rules
    if loaded.kind == "selectors":
        return cloudtrail_compatibility([selector for rule in rules for selector in rule.selectors])
    return [f"rule {r.name!r}: {p}" for r in rules for p in cloudtrail_compatibility(r.selectors)]


def _print_cloudtrail(loaded: LoadedRules) -> bool:
    """``--cloudtrail``: whether CloudTrail would accept the selectors, each refusal on one line; True when it would."""
    problems = cloudtrail_problems(loaded)
    if not problems:
        print("CloudTrail would accept these selectors")
        return True
    print(f"CloudTrail would refuse these selectors ({len(problems)} reason{'s' if len(problems) != 1 else ''}):")
    for problem in problems:
        print(f"  - {problem}")
    if any("is an extended field" in problem for problem in problems):
        print(f"(extended fields are trailsift's; CloudTrail's own are {', '.join(CLOUDTRAIL_FIELDS)})")
    return False
