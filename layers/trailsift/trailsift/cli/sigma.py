"""``trailsift rules import-sigma PATH... [-o FILE]``: Sigma rules for CloudTrail as a trailsift rules document.

The conversion is :mod:`trailsift.cli.sigma_convert` (exact, or the rule is refused with the
reason); this module reads the command line, prints each refusal and each case warning on stderr,
one line each, then a summary, and writes the document: JSON on stdout, or ``-o FILE`` in JSON or
YAML by its extension. pySigma is the optional extra ``trailsift[sigma]``: without it the command
says so in one line and exits 2.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from trailsift.cli.command import CommandError, ExitCode
from trailsift.cli.terminal import fold, terminal_width
from trailsift.text import for_terminal

if TYPE_CHECKING:
    from trailsift.cli.sigma_convert import ImportResult

__all__ = ["INSTALL_HINT", "add_arguments", "report_lines", "run", "shown", "summary_lines", "write_document"]

INSTALL_HINT = "pip install 'trailsift[sigma]'"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``import-sigma``'s arguments."""
    parser.add_argument(
        "paths", nargs="+", metavar="PATH",
        help="Sigma rule files, or folders of them (walked for *.yml and *.yaml)",
    )
    parser.add_argument(
        "-o", "--output", metavar="FILE",
        help="write the rules document to FILE: YAML for .yaml/.yml, JSON otherwise (default: JSON on stdout)",
    )


def run(args: argparse.Namespace) -> ExitCode:
    """Convert the Sigma rules named, report what was refused and why, write the converted rules."""
    try:
        from trailsift.cli.sigma_convert import import_paths
    except ImportError as exc:
        if exc.name is not None and exc.name.split(".")[0] != "sigma":
            raise
        raise CommandError(f"pySigma is not installed; install it with: {INSTALL_HINT}", ExitCode.USAGE) from None
    paths = [Path(text) for text in args.paths]
    for path in paths:
        if not path.exists():
            raise CommandError(f"{path}: no such file or folder", ExitCode.USAGE)
    result = import_paths(paths)
    if not result.converted and not result.refused and not result.skipped:
        raise CommandError(f"no Sigma rule files (*.yml, *.yaml) in {', '.join(map(str, paths))}", ExitCode.USAGE)
    width = terminal_width(sys.stderr)
    for line in report_lines(result, paths, width) + summary_lines(result, width):
        print(for_terminal(line), file=sys.stderr)
    if not result.converted:
        return ExitCode.FAILED
    write_document(result.document(), args.output)
    return ExitCode.OK


def shown(path: Path, given: list[Path]) -> str:
    """A rule file's name relative to the folder given that holds it, else as given."""
    for root in given:
        if root.is_dir() and path.is_relative_to(root):
            return str(path.relative_to(root))
    return str(path)


def report_lines(result: ImportResult, given: list[Path], width: int = 80) -> list[str]:
    """One entry per refused rule (its file and the reason) and per converted rule with case notes,
    folded to ``width``."""
    lines = [f"refused  {shown(item.path, given)}: {item.reason}" for item in result.refused]
    for item in result.converted:
        if item.case_notes:
            notes = "; ".join(note.text for note in item.case_notes)
            lines.append(f"warning  {shown(item.path, given)}: {notes} (Sigma ignores case; selectors do not)")
    return [part for line in lines for part in fold(line, width, indent=" " * 9)]


def summary_lines(result: ImportResult, width: int = 80) -> list[str]:
    """The closing count: rules converted and refused, by reason, and the rules with case notes."""
    total = len(result.converted) + len(result.refused)
    line = f"converted {len(result.converted)} of {total} Sigma rules"
    if result.refused:
        by_kind = ", ".join(f"{count} {kind}" for kind, count in result.refused_by_kind().items())
        line += f"; refused {len(result.refused)}: {by_kind}"
    lines = [line]
    if result.skipped:
        lines.append(
            f"skipped {len(result.skipped)} {_rules(len(result.skipped))} of other logsources "
            "(only product: aws, service: cloudtrail is converted)"
        )
    never = sum(1 for item in result.converted if any(note.never for note in item.case_notes))
    other = sum(1 for item in result.converted if item.case_notes) - never
    if never or other:
        lines.append(
            f"case warnings: {never} {_rules(never)} with a value CloudTrail never writes in that case, "
            f"{other} {_rules(other)} matching free-form values in the case given only"
        )
    return [part for line in lines for part in fold(line, width, indent="  ")]


def _rules(count: int) -> str:
    return "rule" if count == 1 else "rules"


def write_document(document: dict[str, Any], output: str | None) -> None:
    """The rules document as JSON on stdout, or to ``output`` (YAML when it ends in .yaml or .yml)."""
    if output is None:
        sys.stdout.buffer.write(orjson.dumps(document, option=orjson.OPT_INDENT_2) + b"\n")
        sys.stdout.flush()
        return
    path = Path(output)
    if path.suffix.lower() in (".yaml", ".yml"):
        import yaml

        text = yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=100).encode("utf-8")
    else:
        text = orjson.dumps(document, option=orjson.OPT_INDENT_2) + b"\n"
    try:
        path.write_bytes(text)
    except OSError as exc:
        raise CommandError(f"{path}: cannot write: {exc.strerror or exc}") from None
    count = len(document["rules"])
    print(f"wrote {count} {_rules(count)} to {for_terminal(str(path))}", file=sys.stderr)
