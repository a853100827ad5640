"""The rules a command runs: ``--rules FILE`` (a rules file or a selectors file, told apart by content) or the built-in pack.

Every command that takes rules (``replay``, ``local``, ``validate``, ``explain``, ``rules``) loads them
here, so the same file gives the same rules, the same error and the same warnings everywhere:

- an invalid file stops the command with a usage error, ``FILE: <what is wrong, where>``;
- a field no CloudTrail record has (:mod:`trailsift.cli.known_fields`) is a warning, one line each,
  ``trailsift: warning: FILE: rule 'x', selector 0 ('name'), field selector 1: 'eventsource' is
  not a CloudTrail record field; did you mean 'eventSource'?``, printed on stderr before anything runs.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from typing import IO, Literal

from trailsift.cli.command import CommandError, ExitCode
from trailsift.cli.known_fields import field_warning
from trailsift.rules import DEFAULT_PACK, RuleSet, RulesError, default_rules, load_rules_file
from trailsift.text import for_terminal

RULES_HELP = "a rules file or a selectors file (JSON or YAML, told apart by content); default: the built-in pack"


@dataclass(frozen=True)
class LoadedRules:
    """Rules as a command got them: from a rules file, a selectors file (one rule per selector) or the built-in pack."""

    rules: RuleSet
    kind: Literal["rules", "selectors", "pack"]

    @property
    def source(self) -> str:
        return self.rules.source

    def where(self, rule_index: int, selector_index: int, field_index: int | None = None) -> str:
        """A field selector's place, as messages name it: ``rule 'x', selector 0 ('name'), field selector 1``
        (a selectors file has no rules: ``selector 0 ('name'), ...``)."""
        rule = self.rules.rules[rule_index]
        selector = rule.selectors[selector_index]
        if self.kind == "selectors":
            selector_index = rule_index  # one rule per selector: the rule's position is the selector's
        parts = [] if self.kind == "selectors" else [f"rule {rule.name!r}"]
        parts.append(f"selector {selector_index}" + (f" ({selector.name!r})" if selector.name is not None else ""))
        if field_index is not None:
            parts.append(f"field selector {field_index}")
        return ", ".join(parts)

    def warnings(self) -> list[str]:
        """One line per field selector whose field no CloudTrail record has, naming the file and the place."""
        found = []
        for r, rule in enumerate(self.rules):
            for s, selector in enumerate(rule.selectors):
                for f, fs in enumerate(selector.field_selectors):
                    problem = field_warning(fs.field)
                    if problem is not None:
                        found.append(f"{self.source}: {self.where(r, s, f)}: {problem}")
        return found


def add_rules_option(parser: argparse.ArgumentParser, *, selectors_alias: bool = True) -> None:
    """``--rules FILE`` (and ``--selectors FILE``, the same thing under its older name)."""
    if not selectors_alias:
        parser.add_argument("--rules", metavar="FILE", help=RULES_HELP)
        return
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--rules", metavar="FILE", help=RULES_HELP)
    group.add_argument("--selectors", metavar="FILE", help="the same as --rules (its older name)")


def rules_path(args: argparse.Namespace) -> str | None:
    """The file ``--rules`` or ``--selectors`` named, or None for the built-in pack."""
    given = getattr(args, "rules", None) or getattr(args, "selectors", None)
    return None if given is None else str(given)


def load(path: str | None) -> LoadedRules:
    """The rules of ``path`` (rules or selectors, by content), or the built-in pack for None.

    A usage :class:`CommandError` for a file that cannot be read or is not valid, its message
    ``FILE: ...`` naming the fault: the same message whichever command loads the file.
    """
    if path is None:
        return LoadedRules(default_rules(), "pack")
    try:
        loaded = load_rules_file(path)
    except RulesError as exc:
        message = str(exc)
        if not message.startswith(f"{path}:"):
            message = f"{path}: {message}"
        raise CommandError(message, ExitCode.USAGE) from None
    return LoadedRules(loaded.rules, loaded.kind)


def print_warnings(loaded: LoadedRules, stream: IO[str] | None = None) -> int:
    """Each warning of ``loaded`` as one ``trailsift: warning: ...`` line (on stderr); how many there were."""
    found = loaded.warnings()
    out = sys.stderr if stream is None else stream
    for warning in found:
        out.write(for_terminal(f"trailsift: warning: {warning}") + "\n")
    if found:
        out.flush()
    return len(found)


def load_and_warn(args: argparse.Namespace) -> LoadedRules:
    """What a command that runs rules does first: load ``--rules``/``--selectors`` (or the pack), print the warnings."""
    loaded = load(rules_path(args))
    print_warnings(loaded)
    return loaded


DEFAULT_SOURCE = f"trailsift:rules/{DEFAULT_PACK}"
