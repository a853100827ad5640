"""``trailsift rules list``, ``rules show NAME`` and ``rules packs``: what a rule pack holds, a built-in one or a file's.

``list`` prints one line per rule (name, severity, destinations, description), cut to fit the
terminal (80 columns at least), with the pack or file each comes from when several are combined;
``show`` prints everything about one rule, its selectors included, as YAML that pastes into a rules
file (``--format json``: the rule's JSON); ``packs`` lists the built-in packs.
"""

from __future__ import annotations

import argparse
import difflib
import sys

import orjson
import yaml

from trailsift.cli import sigma
from trailsift.cli.command import CommandError, ExitCode
from trailsift.cli.explain import left_cut, terminal_width
from pathlib import PurePath

from trailsift.cli.rules_input import LoadedRules, add_rules_option, load_and_warn
from trailsift.rules import PACKS, Destination, Rule, RuleSet, pack_rules, pack_source
from trailsift.text import for_terminal

_ALL_DESTINATIONS = tuple(Destination)
_NAME_WIDTH = 34
"""The name column's width at most; a longer name is shown whole on a line of its own, its cells on the next."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``rules`` command's subcommands and their options."""
    commands = parser.add_subparsers(dest="rules_command", required=True, metavar="SUBCOMMAND")
    listing = commands.add_parser(
        "list", help="one line per rule: name, severity, destinations, description",
        description="One line per rule of the built-in pack, or of --rules FILE.",
    )
    add_rules_option(listing)
    listing.set_defaults(rules_run=run_list)
    show = commands.add_parser(
        "show", help="everything about one rule, its selectors included",
        description="One rule of the built-in pack, or of --rules FILE, as YAML (or JSON) that pastes into a rules file.",
    )
    show.add_argument("name", metavar="NAME", help="the rule's name (see `trailsift rules list`)")
    add_rules_option(show)
    show.add_argument("--format", choices=("yaml", "json"), default="yaml", help="output format (default: yaml)")
    show.add_argument(
        "--tests", action="store_true",
        help="also show the rule's test cases (their files are relative to the rule's own file)",
    )
    show.set_defaults(rules_run=run_show)
    importing = commands.add_parser(
        "import-sigma", help="convert Sigma rules for CloudTrail into a rules document (needs trailsift[sigma])",
        description="Convert Sigma rules (logsource product: aws, service: cloudtrail) into a trailsift rules "
        "document, exactly or not at all: each rule refused is named on stderr with the reason, and so is each "
        "value now compared case-sensitively where Sigma ignored case. Exit 0 when at least one rule converted, "
        "1 when none did, 2 on usage errors or without pySigma.",
    )
    sigma.add_arguments(importing)
    importing.set_defaults(rules_run=sigma.run)
    packs = commands.add_parser(
        "packs", help="the built-in packs: name, rules, test cases, what each watches",
        description="The built-in packs, chosen by name wherever rules are (--rules default --rules ssm).",
    )
    packs.set_defaults(rules_run=run_packs)


def run(args: argparse.Namespace) -> ExitCode:
    """Run one ``trailsift rules`` subcommand."""
    result: ExitCode = args.rules_run(args)
    return result


def destinations(rule: Rule) -> str:
    """A rule's destinations, comma-separated (``all`` when it names every one, as a rule that names none does)."""
    if set(rule.destinations) == set(_ALL_DESTINATIONS):
        return "all"
    return ",".join(d.value for d in rule.destinations)


def short_source(source: str) -> str:
    """A pack's name for a pack's source (``trailsift:rules/ssm.json``: ``ssm``), else the file's name."""
    for name in PACKS:
        if source == pack_source(name):
            return name
    return PurePath(source).name or source


def list_lines(rules: RuleSet, width: int, sources: list[str] | None = None) -> list[str]:
    """The ``list`` table: a header, then one line per rule, each at most ``width`` columns; with
    ``sources`` (one per rule), a FROM column after the name."""
    name_width = min(_NAME_WIDTH, max([len("NAME"), *(len(rule.name) for rule in rules)]))
    dest_width = max([len("DESTINATIONS"), *(len(destinations(rule)) for rule in rules)])
    from_width = max([len("FROM"), *(min(16, len(source)) for source in sources or ())])

    def line(name: str, origin: str | None, severity: str, dest: str, description: str) -> str:
        start = f"{name.ljust(name_width)}  "
        if origin is not None:
            start += f"{for_terminal(origin, from_width).ljust(from_width)}  "
        start += f"{severity.ljust(8)}  {dest.ljust(dest_width)}  "
        return (start + for_terminal(description, max(1, width - len(start)))).rstrip()

    lines = [line("NAME", "FROM" if sources else None, "SEVERITY", "DESTINATIONS", "DESCRIPTION")]
    for index, rule in enumerate(rules):
        name = for_terminal(rule.name)
        if len(name) > name_width:  # whole, on a line of its own; its cells on the next
            lines.append(name)
            name = ""
        origin = sources[index] if sources else None
        lines.append(line(name, origin, rule.severity.value, destinations(rule), " ".join(rule.description.split())))
    return lines


def rule_sources(loaded: LoadedRules) -> list[str] | None:
    """Where each rule comes from (a pack's name or a file's), when several were combined; else None."""
    if not loaded.parts:
        return None
    return [short_source(loaded.source_of(index)) for index in range(len(loaded.rules))]


def run_list(args: argparse.Namespace) -> ExitCode:
    """``trailsift rules list``."""
    loaded = load_and_warn(args)
    rules = loaded.rules
    width = terminal_width()
    for line in list_lines(rules, width, rule_sources(loaded)):
        print(line)
    source = ", ".join(short_source(part.source) for part in loaded.parts) if loaded.parts else rules.source
    said = f"{len(rules)} rules in ; `trailsift rules show NAME` shows one"
    print(f"\n{len(rules)} rules in {left_cut(source, max(20, width - len(said)))}; `trailsift rules show NAME` shows one")
    return ExitCode.OK


def unknown_rule(name: str, rules: RuleSet) -> CommandError:
    """The usage error for a rule name ``rules`` does not hold, naming the closest names."""
    lowered = {candidate.lower(): candidate for candidate in rules.names}
    close = [lowered[n] for n in difflib.get_close_matches(name.lower(), list(lowered), n=3, cutoff=0.5)]
    close += [n for n in rules.names if name.lower() in n.lower() and n not in close]
    hint = f"; closest: {', '.join(close[:3])}" if close else "; see `trailsift rules list`"
    return CommandError(f"no rule {name!r} in {rules.source}{hint}", ExitCode.USAGE)


def run_show(args: argparse.Namespace) -> ExitCode:
    """``trailsift rules show NAME``."""
    rules = load_and_warn(args).rules
    try:
        rule = rules.get(args.name)
    except KeyError:
        raise unknown_rule(args.name, rules) from None
    shown = rule.to_json()
    if not args.tests:  # their files are relative to the rule's own file: pasted elsewhere they would point nowhere
        shown.pop("tests", None)
    if args.format == "json":
        sys.stdout.buffer.write(orjson.dumps(shown, option=orjson.OPT_INDENT_2) + b"\n")
        sys.stdout.flush()
        return ExitCode.OK
    print(f"# from {for_terminal(rules.source)}")
    if rule.tests and not args.tests:
        print(f"# and {len(rule.tests)} test cases, left out (--tests shows them)")
    text = yaml.safe_dump([shown], sort_keys=False, default_flow_style=None, allow_unicode=True, width=max(60, terminal_width() - 4))
    for line in text.splitlines():
        print(for_terminal(line))
    return ExitCode.OK


def run_packs(args: argparse.Namespace) -> ExitCode:
    """``trailsift rules packs``: one line per built-in pack (name, rules, test cases, what it watches)."""
    width = terminal_width()
    name_width = max(len("PACK"), *(len(name) for name in PACKS))
    print(f"{'PACK'.ljust(name_width)}  RULES  TESTS  WATCHES")
    for name, watches in PACKS.items():
        rules = pack_rules(name)
        start = f"{name.ljust(name_width)}  {len(rules):>5}  {sum(len(rule.tests) for rule in rules):>5}  "
        print((start + for_terminal(watches, max(1, width - len(start)))).rstrip())
    print("\nchoose with --rules NAME, repeat to combine: --rules default --rules ssm;")
    print("`trailsift rules list --rules NAME` lists a pack's rules,")
    print("`trailsift test NAME` runs its test cases")
    return ExitCode.OK
