"""``trailsift rules list`` and ``trailsift rules show NAME``: what a rule pack holds, the built-in one or a file's.

``list`` prints one line per rule (name, severity, destinations, description), cut to fit the
terminal (80 columns at least); ``show`` prints everything about one rule, its selectors included,
as YAML that pastes into a rules file (``--format json``: the rule's JSON).
"""

from __future__ import annotations

import argparse
import difflib
import sys

import orjson
import yaml

from trailsift.cli.command import CommandError, ExitCode
from trailsift.cli.explain import left_cut, terminal_width
from trailsift.cli.rules_input import add_rules_option, load_and_warn
from trailsift.rules import Destination, Rule, RuleSet
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
    show.set_defaults(rules_run=run_show)


def run(args: argparse.Namespace) -> ExitCode:
    """Run one ``trailsift rules`` subcommand."""
    result: ExitCode = args.rules_run(args)
    return result


def destinations(rule: Rule) -> str:
    """A rule's destinations, comma-separated (``all`` when it names every one, as a rule that names none does)."""
    if set(rule.destinations) == set(_ALL_DESTINATIONS):
        return "all"
    return ",".join(d.value for d in rule.destinations)


def list_lines(rules: RuleSet, width: int) -> list[str]:
    """The ``list`` table: a header, then one line per rule, each at most ``width`` columns."""
    name_width = min(_NAME_WIDTH, max([len("NAME"), *(len(rule.name) for rule in rules)]))
    dest_width = max([len("DESTINATIONS"), *(len(destinations(rule)) for rule in rules)])

    def line(name: str, severity: str, dest: str, description: str) -> str:
        start = f"{name.ljust(name_width)}  {severity.ljust(8)}  {dest.ljust(dest_width)}  "
        return (start + for_terminal(description, max(1, width - len(start)))).rstrip()

    lines = [line("NAME", "SEVERITY", "DESTINATIONS", "DESCRIPTION")]
    for rule in rules:
        name = for_terminal(rule.name)
        if len(name) > name_width:  # whole, on a line of its own; its cells on the next
            lines.append(name)
            name = ""
        lines.append(line(name, rule.severity.value, destinations(rule), " ".join(rule.description.split())))
    return lines


def run_list(args: argparse.Namespace) -> ExitCode:
    """``trailsift rules list``."""
    rules = load_and_warn(args).rules
    width = terminal_width()
    for line in list_lines(rules, width):
        print(line)
    said = f"{len(rules)} rules in ; `trailsift rules show NAME` shows one"
    print(f"\n{len(rules)} rules in {left_cut(rules.source, max(20, width - len(said)))}; `trailsift rules show NAME` shows one")
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
    if args.format == "json":
        sys.stdout.buffer.write(orjson.dumps(rule.to_json(), option=orjson.OPT_INDENT_2) + b"\n")
        sys.stdout.flush()
        return ExitCode.OK
    print(f"# from {for_terminal(rules.source)}")
    text = yaml.safe_dump([rule.to_json()], sort_keys=False, default_flow_style=None, allow_unicode=True, width=max(60, terminal_width() - 4))
    for line in text.splitlines():
        print(for_terminal(line))
    return ExitCode.OK
