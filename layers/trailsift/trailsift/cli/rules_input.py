"""The rules a command runs: ``--rules FILE`` (a rules file or a selectors file, told apart by content),
``--rules PACK`` (a built-in pack by name), several ``--rules`` combined, or the default pack.

Every command that takes rules (``replay``, ``local``, ``validate``, ``explain``, ``rules``, ``test``) loads
them here, so the same file gives the same rules, the same error and the same warnings everywhere:

- a value with no ``/``, no ``\\`` and no ``.`` is a pack's name (``default``, ``ssm``), anything else a
  path (``./ssm`` is the file ``ssm`` here): the rule looks at the value only, never at the disk, so a
  file that happens to exist never changes what a name means; an unknown pack name lists the packs;
- rules given several times are combined in order, their names unique across them (a usage error
  names the rule and both sources otherwise);

- an invalid file stops the command with a usage error, ``FILE: <what is wrong, where>``;
- a field no CloudTrail record has (:mod:`trailsift.cli.known_fields`) is a warning, one line each,
  ``trailsift: warning: FILE: rule 'x', selector 0 ('name'), field selector 1: 'eventsource' is
  not a CloudTrail record field; did you mean 'eventSource'?``, printed on stderr before anything runs.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Literal

from trailsift.cli.command import CommandError, ExitCode
from trailsift.cli.known_fields import field_warning
from trailsift.rules import (
    DEFAULT_PACK,
    PACKS,
    RuleSet,
    RulesError,
    combine_rules,
    default_rules,
    is_pack_name,
    load_rules_file,
    pack_rules,
)
from trailsift.text import for_terminal

RULES_HELP = (
    f"a rules file or a selectors file (JSON or YAML, told apart by content), or a built-in pack by name "
    f"({', '.join(PACKS)}); repeat to combine; default: the default pack"
)


@dataclass(frozen=True)
class LoadedRules:
    """Rules as a command got them: from a rules file, a selectors file (one rule per selector), a built-in
    pack, or several of those combined (``kind`` ``rules``; ``parts`` holds each)."""

    rules: RuleSet
    kind: Literal["rules", "selectors", "pack"]
    parts: tuple[RuleSet, ...] = ()
    """Each rule set combined, in order (empty: ``rules`` alone)."""

    @property
    def source(self) -> str:
        return self.rules.source

    def source_of(self, rule_index: int) -> str:
        """Where the rule at ``rule_index`` comes from (its file, or ``trailsift:rules/<pack>.json``)."""
        for part in self.parts:
            if rule_index < len(part):
                return part.source
            rule_index -= len(part)
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
                        found.append(f"{self.source_of(r)}: {self.where(r, s, f)}: {problem}")
        return found


def add_rules_option(parser: argparse.ArgumentParser, *, selectors_alias: bool = True) -> None:
    """``--rules FILE|PACK``, repeatable (and ``--selectors FILE``, the same thing under its older name)."""
    if not selectors_alias:
        parser.add_argument("--rules", action="append", metavar="FILE|PACK", help=RULES_HELP)
        return
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--rules", action="append", metavar="FILE|PACK", help=RULES_HELP)
    group.add_argument("--selectors", action="append", metavar="FILE", help="the same as --rules (its older name)")


def rules_specs(args: argparse.Namespace) -> list[str]:
    """What ``--rules`` or ``--selectors`` named, files and pack names in order; empty for the default pack."""
    given = getattr(args, "rules", None) or getattr(args, "selectors", None)
    if given is None:
        return []
    return [str(item) for item in given] if isinstance(given, list) else [str(given)]


def load_one(spec: str) -> LoadedRules:
    """The rules of one file (rules or selectors, by content) or one built-in pack (:func:`is_pack_name`)."""
    try:
        if is_pack_name(spec):
            return LoadedRules(pack_rules(spec), "pack")
        loaded = load_rules_file(spec)
    except RulesError as exc:
        message = str(exc)
        if not message.startswith((f"{spec}:", f"{Path(spec)}:")):  # Path drops a leading ./
            message = f"{spec}: {message}"
        raise CommandError(message, ExitCode.USAGE) from None
    return LoadedRules(loaded.rules, loaded.kind)


def load(spec: str | Sequence[str] | None) -> LoadedRules:
    """The rules of ``spec``: a file (rules or selectors, by content), a pack's name, several of those
    combined, or the default pack for None (or nothing).

    A usage :class:`CommandError` for a file that cannot be read or is not valid, its message
    ``FILE: ...`` naming the fault (the same message whichever command loads the file), for an
    unknown pack (naming the packs), and for a rule name given by two of the sources combined.
    """
    specs = [spec] if isinstance(spec, str) else list(spec or ())
    if not specs:
        return LoadedRules(default_rules(), "pack")
    parts = [load_one(item) for item in specs]
    if len(parts) == 1:
        return parts[0]
    try:
        combined = combine_rules([part.rules for part in parts])
    except RulesError as exc:
        raise CommandError(str(exc), ExitCode.USAGE) from None
    return LoadedRules(combined, "rules", tuple(part.rules for part in parts))


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
    loaded = load(rules_specs(args))
    print_warnings(loaded)
    return loaded


DEFAULT_SOURCE = f"trailsift:rules/{DEFAULT_PACK}"
