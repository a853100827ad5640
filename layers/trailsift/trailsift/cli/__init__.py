"""The ``trailsift`` command line: what runs on a workstation, apart from what runs in the function.

Commands: ``replay`` log files through rules, ``validate`` rules and selectors, ``explain`` why a record
matched or not, ``rules`` list and show rules (and the built-in packs), ``test`` run the cases rules carry, ``selectors impact`` what selectors keep of logged events, ``query`` the index,
``redrive`` the failure queue, ``backfill`` a time window on Step Functions, and ``local``: the whole
application on this machine, against an emulated AWS.
Each is a module with ``add_arguments`` and ``run``; they share :mod:`trailsift.cli.command` (exit
codes, the command error) and :mod:`trailsift.cli.session` (AWS sessions, a stack's outputs).
The Lambda layer is built without this package: the function imports none of it.

Exit status (:class:`ExitCode`): 0 done; 1 done but not all of it (files failed, messages kept,
selectors CloudTrail would refuse) or an AWS error stopped it; 2 invalid usage or invalid
rules/selectors (nothing run); 130 interrupted (Ctrl-C). A command that cannot run or go on says why in
one line on stderr, ``trailsift: error: ...``: a usage error too (:class:`~trailsift.cli.command.Parser`),
and a file the command could not use; never a traceback. ``trailsift --version`` prints the version.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import TypedDict

from trailsift.cli import (
    backfill,
    explain,
    local,
    query,
    redrive,
    replay,
    rules_command,
    selectors_command,
    test_command,
    validate,
)
from trailsift.cli.command import CommandError, ExitCode, Parser
from trailsift.text import for_terminal

__all__ = ["CommandError", "ExitCode", "main"]


class _Options(TypedDict, total=False):
    """What a command's subparser is given besides its name."""

    help: str
    description: str


def _parser() -> argparse.ArgumentParser:
    """The parser of every command; each subparser's ``run`` default is the command's ``run``."""
    parser = Parser(
        prog="trailsift",
        description="Filter CloudTrail log files with advanced event selectors.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {version()}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    subcommands: tuple[tuple[ModuleType, str, _Options], ...] = (
        (replay, "replay", {"help": "replay log files (.json.gz, .json, directories, or s3://bucket[/prefix]) through rules"}),
        (validate, "validate", {"help": "validate a rules or selectors file: invalid (exit 2), fields no record has (exit 1)"}),
        (explain, "explain", {
            "help": "show why one record (FILE:INDEX, FILE or - for stdin) matches each rule or not, field selector by field selector",
        }),
        (rules_command, "rules", {
            "help": "`rules list` the rules (a pack or --rules FILE); `rules show NAME` one of them; `rules packs` the packs",
        }),
        (test_command, "test", {
            "help": "run the test cases the rules carry (files or pack names); failing cases explained, exit 1",
            "description": "Exit 0 when every case passed, 1 when one failed (or, with --require-tests, a rule has "
            "none), 2 on usage errors.",
        }),
        (selectors_command, "selectors", {
            "help": "`selectors impact`: what a trail's selectors would keep and drop of logged events, and the cost",
        }),
        (local, "local", {
            "help": "run the deployed pipeline on this machine: moto's server on 127.0.0.1 stands in for AWS",
        }),
        (query, "query", {
            "help": "read the DynamoDB index back by rule, principal, account or event id (newest first)",
            "description": "Times are UTC; the range is [--since, --until). Exit 1 on AWS errors, 2 on usage errors.",
        }),
        (backfill, "backfill", {
            "help": "run the deployed function over a time window of the trail bucket on Step Functions; "
            "`backfill status RUN` shows a run",
            "description": "Exit 0 when the run was started (or planned, or shown doing well), 1 when it failed or "
            "left files undone, 2 on usage errors.",
        }),
        (redrive, "redrive", {
            "help": "send the failure queue's dead letters back to the function, deleting what it accepted",
            "description": "Exit 0 when every message was redriven (or a dry run), 1 when some were kept, 2 on usage errors.",
        }),
    )
    for module, name, options in subcommands:
        command = commands.add_parser(name, **options)
        module.add_arguments(command)
        command.set_defaults(run=module.run)
    return parser


def version() -> str:
    """The installed distribution's version, or the package's own when it is not installed (run from a copy)."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed

    try:
        return installed("trailsift")
    except PackageNotFoundError:
        import trailsift

        return str(getattr(trailsift, "__version__", "unknown"))


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command ``argv`` names (default: the process's arguments) and return its exit status."""
    args = _parser().parse_args(argv)
    try:
        run: Callable[[argparse.Namespace], int] = args.run  # set_defaults above: the command's run
        return run(args)
    except CommandError as exc:
        sys.stdout.flush()  # what the command printed comes before why it stopped
        print(f"trailsift: error: {exc.line}", file=sys.stderr)
        return exc.code
    except BrokenPipeError:  # `trailsift replay ... | head`
        sys.stderr.close()
        return ExitCode.OK
    except KeyboardInterrupt:  # Ctrl-C: what was printed stays, no traceback
        sys.stdout.flush()
        print("trailsift: interrupted", file=sys.stderr)
        return ExitCode.INTERRUPTED
    except OSError as exc:  # a file or device the command could not use, met where no command expected it
        sys.stdout.flush()
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"trailsift: error: {for_terminal(where + (exc.strerror or str(exc)))}", file=sys.stderr)
        return ExitCode.FAILED
