"""``trailsift validate``: check a rules or selectors file, and whether CloudTrail itself would accept its selectors."""

from __future__ import annotations

import argparse

from trailsift.cli.command import CommandError, ExitCode
from trailsift.rules import RulesError, is_rules_document, load_document, parse_rules, rules_from_selectors
from trailsift.selectors import SelectorError, cloudtrail_compatibility, parse_selectors


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``validate`` command's options."""
    parser.add_argument("file", metavar="FILE")
    parser.add_argument(
        "--cloudtrail", action="store_true", help="also tell whether CloudTrail itself would accept the selectors"
    )


def run(args: argparse.Namespace) -> ExitCode:
    """Run one ``trailsift validate``: what the file holds on stdout.

    A usage :class:`CommandError` when the file is invalid; with ``--cloudtrail``, FAILED when
    CloudTrail would refuse the selectors (each reason listed).
    """
    try:
        document = load_document(args.file)
        if is_rules_document(document):
            rules = parse_rules(document, source=args.file)
            what = f"{len(rules)} rules, {sum(len(r.selectors) for r in rules)} selectors"
        else:
            rules = rules_from_selectors(parse_selectors(document, context=f"{args.file}: "), source=args.file)
            what = f"{len(rules)} selectors"
    except (RulesError, SelectorError) as exc:
        raise CommandError(f"invalid: {exc}", ExitCode.USAGE) from None
    print(f"valid: {args.file}: {what}")
    if not args.cloudtrail:
        return ExitCode.OK
    if is_rules_document(document):
        problems = [f"rule {r.name!r}: {p}" for r in rules for p in cloudtrail_compatibility(r.selectors)]
    else:
        problems = cloudtrail_compatibility([selector for rule in rules for selector in rule.selectors])
    if not problems:
        print("CloudTrail would accept these selectors")
        return ExitCode.OK
    print("CloudTrail would refuse these selectors:")
    for problem in problems:
        print(f"  - {problem}")
    return ExitCode.FAILED
