"""Run the command line in-process as the tests do: ``main(argv)`` and what it printed."""

from __future__ import annotations

import pytest

from trailsift.cli import main


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """``trailsift ARGV...``: its exit status (argparse's own usage errors exit: their status), stdout and stderr."""
    try:
        code = main(list(argv))
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err
