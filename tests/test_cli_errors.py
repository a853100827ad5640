"""Every command fails the same way: one line on stderr, ``trailsift: error: ...`` naming the fault, exit
status 2 for usage and invalid rules (nothing run), 1 for what AWS or a file refused; never a traceback.

Most cases run in-process (an exception that escaped ``main`` fails the test as a traceback would); the
mistakes the issue found in ``trailsift local`` also run through the console script from a directory that
is no checkout, as a user meets them.
"""

from __future__ import annotations

import importlib.metadata
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import trailsift
from tests.conftest import EVENTS_LOGS
from trailsift.cli import main
from trailsift.cli.local import environment, moto_server

SCRIPT = Path(sys.executable).with_name("trailsift")


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The mistakes, as files: a rules file with a typo, bad JSON, bad YAML, a folder, a missing file, a
    dangling link (a file that cannot be read, even by root), a handler that is not Python or does not import."""
    root = tmp_path_factory.mktemp("mistakes")
    (root / "typo.yaml").write_text("rules:\n  - nme: trail-stopped\n")
    (root / "bad.json").write_text('{"rules": [')
    (root / "bad.yaml").write_text("rules: [\n")
    (root / "folder").mkdir()
    (root / "dangling.yaml").symlink_to(root / "gone.yaml")
    (root / "broken.py").write_text("import no_such_module_anywhere\n")
    (root / "nohandler.py").write_text("x = 1\n")
    (root / "export.json").write_text('{"Records": []}')
    (root / "notes").mkdir()
    (root / "notes" / "a.txt").write_text("x")
    return {
        "typo": str(root / "typo.yaml"),
        "bad_json": str(root / "bad.json"),
        "bad_yaml": str(root / "bad.yaml"),
        "folder": str(root / "folder"),
        "missing": str(root / "missing.yaml"),
        "dangling": str(root / "dangling.yaml"),
        "broken_py": str(root / "broken.py"),
        "no_handler": str(root / "nohandler.py"),
        "export": str(root / "export.json"),
        "notes": str(root / "notes"),
        "logs": str(EVENTS_LOGS),
    }


def run(capsys: pytest.CaptureFixture[str], argv: list[str]) -> tuple[int, str, str]:
    """``main(argv)``: its exit status (argparse's own usage errors exit), stdout and stderr."""
    try:
        code = main(argv)
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_error_line(code: int, err: str, want: int, *words: str) -> None:
    """Exactly one line on stderr, ``trailsift: error: ...`` with each of ``words``; exit status ``want``."""
    assert "Traceback" not in err
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("trailsift: error: "), err
    assert code == want, err
    for word in words:
        assert word in lines[0], (word, lines[0])


# --- usage: argparse's errors are one line too ------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        ([], "the following arguments are required: COMMAND; see trailsift --help"),
        (["explode"], "argument COMMAND: invalid choice: 'explode'"),
        (["replay", "--jobs", "x", "{logs}"], "argument --jobs: not a whole number: 'x'; see trailsift replay --help"),
        (["replay", "--max-record-bytes", "0", "{logs}"], "argument --max-record-bytes: must be at least 1, got 0"),
        (["replay", "--delivery-padding", "-1", "{logs}"], "argument --delivery-padding: must be 0 or more"),
        (["replay"], "the following arguments are required: PATH"),
        (["query", "--rule", "r", "--table", "t", "--limit", "abc"], "argument --limit: not a whole number: 'abc'"),
        (["query", "--rule", "r", "--table", "t", "--since", "yesterday"], "argument --since: not a date or time"),
        (["query", "--rule", "r", "--table", "t", "--last", "5y"], "argument --last: not a duration: '5y'"),
        (["query", "--rule", "r", "--table", "t", "--endpoint-url", "notaurl"], "argument --endpoint-url: not an http"),
        (["query", "--rule", "r", "--table", "t", "--endpoint-url", "http://127.0.0.1:port"], "argument --endpoint-url: not a URL"),
        (["query", "--table", "t"], "one of the arguments --rule --principal --account --event-id is required"),
        (["redrive", "--queue-url", "u", "--function", "f", "--max", "x"], "argument --max: not a whole number"),
        (["redrive", "--stack", "s", "--endpoint-url", "ftp://127.0.0.1"], "argument --endpoint-url: not an http"),
        (["backfill", "--stack", "s", "--since", "2024-13-01", "--until", "2024-12-02"], "argument --since: not a time"),
        (["backfill", "--stack", "s", "--endpoint-url", "127.0.0.1:5000"], "argument --endpoint-url"),
        (["local", "--since", "soon"], "argument --since: not a time: 'soon'"),
        (["local", "--format", "csv"], "argument --format: invalid choice: 'csv'"),
    ],
)
def test_usage_errors_are_one_line(capsys: pytest.CaptureFixture[str], files: dict[str, str], argv: list[str], says: str) -> None:
    code, out, err = run(capsys, [arg.format(**files) for arg in argv])
    assert_one_error_line(code, err, 2, says)
    assert out == ""


def test_help_and_version_still_print_on_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, ["--version"])
    assert (code, err) == (0, "")
    assert out == f"trailsift {importlib.metadata.version('trailsift')}\n" == f"trailsift {trailsift.__version__}\n"
    code, out, err = run(capsys, ["local", "--help"])
    assert code == 0 and err == "" and "--keep" in out and "--quiet" in out


def test_version_without_an_installed_distribution(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    def not_installed(name: str) -> str:
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "version", not_installed)
    monkeypatch.setattr(trailsift, "__version__", "9.9.9")
    assert run(capsys, ["--version"]) == (0, "trailsift 9.9.9\n", "")


# --- files: missing, a folder, unreadable, bad JSON or YAML, a typo, s3:// where a path is expected --------


@pytest.mark.parametrize(
    ("argv", "want", "says"),
    [
        # trailsift local: the mistakes the issue found, and their neighbours
        (["local", "{missing}"], 2, "missing.yaml: no such file or directory"),
        (["local", "s3://trail-bucket/AWSLogs/"], 2, "s3://trail-bucket/AWSLogs/: local uploads files from this machine"),
        (["local", "--rules", "{typo}", "{logs}"], 2, "unknown key 'nme'"),
        (["local", "--rules", "{missing}", "{logs}"], 2, "missing.yaml: cannot read"),
        (["local", "--rules", "{folder}", "{logs}"], 2, "folder: cannot read"),
        (["local", "--rules", "{dangling}", "{logs}"], 2, "dangling.yaml: cannot read"),
        (["local", "--rules", "{bad_json}", "{logs}"], 2, "bad.json: not valid JSON"),
        (["local", "--rules", "{bad_yaml}", "{logs}"], 2, "bad.yaml: not valid YAML"),
        (["local", "--rules", "s3://config/rules.yaml", "{logs}"], 2, "--rules: give a file on this machine"),
        (["local", "{export}"], 2, "nothing to upload: "),
        (["local", "{notes}"], 2, "a.txt: not a CloudTrail log file name; local uploads CloudTrail log files"),
        (["local", "{folder}"], 2, "no files under "),
        (["local", "--handler", "{missing}", "{logs}"], 2, "--handler"),
        (["local", "--handler", "{bad_json}", "{logs}"], 2, "bad.json: not a Python file"),
        (["local", "--handler", "{folder}", "{logs}"], 2, "folder: not a Python file"),
        (["local", "--handler", "{broken_py}", "{logs}"], 2, "importing it raised ModuleNotFoundError"),
        (["local", "--handler", "{no_handler}", "{logs}"], 2, "nohandler.py: defines no handler function"),
        (["local", "--backfill", "--since", "2023-07-10", "--until", "2023-07-11", "--definition", "{missing}", "{logs}"],
         2, "--definition"),
        (["local", "--backfill", "--since", "2023-07-10", "--until", "2023-07-11", "--definition", "{bad_json}", "{logs}"],
         2, "--definition"),
        (["local", "--backfill", "--since", "2023-07-11"], 2, "--backfill needs --since and --until"),
        # replay and validate
        (["replay", "{missing}"], 2, "missing.yaml: no such file or directory"),
        (["replay", "--rules", "{typo}", "{logs}"], 2, "nme"),
        (["replay", "--rules", "{missing}", "{logs}"], 2, "missing.yaml"),
        (["replay", "--rules", "{folder}", "{logs}"], 2, "folder"),
        (["replay", "--rules", "{dangling}", "{logs}"], 2, "dangling.yaml"),
        (["replay", "--rules", "{bad_json}", "{logs}"], 2, "bad.json"),
        (["replay", "--rules", "{bad_yaml}", "{logs}"], 2, "bad.yaml"),
        (["replay", "{logs}", "s3://trail-bucket"], 2, "not both"),
        (["validate", "{missing}"], 2, "missing.yaml"),
        (["validate", "{folder}"], 2, "folder"),
        (["validate", "{dangling}"], 2, "dangling.yaml"),
        (["validate", "{bad_json}"], 2, "bad.json"),
        (["validate", "{bad_yaml}"], 2, "bad.yaml"),
        (["validate", "{typo}"], 2, "nme"),
        (["validate", "s3://config/rules.yaml"], 2, "rules.yaml"),
        # redrive's in-process handler
        (["redrive", "--queue-url", "http://127.0.0.1:1/q", "--handler", "{missing}"], 2, "--handler"),
        (["redrive", "--queue-url", "http://127.0.0.1:1/q", "--handler", "{folder}"], 2, "--handler"),
    ],
)
def test_file_mistakes_are_one_line(
    capsys: pytest.CaptureFixture[str], files: dict[str, str], argv: list[str], want: int, says: str
) -> None:
    code, out, err = run(capsys, [arg.format(**files) for arg in argv])
    assert_one_error_line(code, err, want, says)
    assert out == ""


def test_a_rules_file_without_read_permission(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The operating system refusing to open the file (as it does for a mode-0 file, except to root, who runs
    CI): every opening of that one path raises the PermissionError it would."""
    import builtins
    import io

    rules = tmp_path / "private.yaml"
    rules.write_text("rules: []\n")
    rules.chmod(0)
    real_open = io.open

    def refusing_open(file: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(file, (str, os.PathLike)) and os.fspath(file) == os.fspath(rules):
            raise PermissionError(13, "Permission denied", os.fspath(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(io, "open", refusing_open)
    monkeypatch.setattr(builtins, "open", refusing_open)
    for argv in (["validate", str(rules)], ["replay", "--rules", str(rules), str(EVENTS_LOGS)],
                 ["local", "--rules", str(rules), str(EVENTS_LOGS)]):
        code, _, err = run(capsys, argv)
        assert_one_error_line(code, err, 2, "private.yaml")


# --- AWS: what does not exist is one line, exit 1 ---------------------------------------------------------


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    """moto's server on 127.0.0.1, with fake credentials and region in the environment while it runs."""
    with moto_server() as url:
        yield url


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["query", "--rule", "r", "--table", "nope"], "table 'nope' not found"),
        (["query", "--rule", "r", "--stack", "nope"], "stack 'nope' not found"),
        (["redrive", "--stack", "nope"], "stack 'nope' not found"),
        (["backfill", "--stack", "nope", "--since", "2024-01-01", "--until", "2024-01-02"], "stack 'nope' not found"),
        (["backfill", "status", "run-1", "--stack", "nope"], "stack 'nope' not found"),
        (["replay", "s3://no-such-bucket"], "bucket 'no-such-bucket' does not exist"),
    ],
)
def test_what_aws_does_not_have_is_one_line(
    capsys: pytest.CaptureFixture[str], endpoint: str, argv: list[str], says: str
) -> None:
    code, out, err = run(capsys, [*argv, "--endpoint-url", endpoint])
    assert_one_error_line(code, err, 2 if argv[0] == "replay" else 1, says)


def test_an_endpoint_nothing_listens_on_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    with environment({"AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local", "AWS_DEFAULT_REGION": "us-east-1"}):
        code, _, err = run(capsys, ["query", "--rule", "r", "--table", "t", "--endpoint-url", "http://127.0.0.1:9"])
    assert_one_error_line(code, err, 1, "Could not connect to the endpoint URL")


# --- what no command expected: a file error, Ctrl-C ----------------------------------------------------------


def test_an_os_error_no_command_caught_is_one_line(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from trailsift.cli import validate

    def refuse(args: object) -> int:
        print("partial output")
        raise PermissionError(13, "Permission denied", "/var/log/trail.json")

    monkeypatch.setattr(validate, "run", refuse)
    code, out, err = run(capsys, ["validate", "x.yaml"])
    assert out == "partial output\n"
    assert_one_error_line(code, err, 1)
    assert err == "trailsift: error: /var/log/trail.json: Permission denied\n"


def test_ctrl_c_is_one_line_and_exit_130(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from trailsift.cli import validate

    def interrupted(args: object) -> int:
        raise KeyboardInterrupt

    monkeypatch.setattr(validate, "run", interrupted)
    assert run(capsys, ["validate", "x.yaml"]) == (130, "", "trailsift: interrupted\n")


# --- the console script, from a directory that is no checkout ---------------------------------------------


def test_the_issues_local_mistakes_through_the_console_script(tmp_path: Path) -> None:
    """The four `trailsift local` mistakes the issue found with 21-29 line tracebacks, and a bad number, run
    by the console script in a directory that is no checkout (the issue's fifth: local itself works there,
    tests/test_cli_local.py): one stderr line each, exit 2. They run at once, each its own process."""
    (tmp_path / "typo.yaml").write_text("rules:\n  - name: x\n    selectors:\n      - FieldSelector: []\n")
    cases = {
        "missing path": (["local", "no/such/logs"], "no/such/logs: no such file or directory"),
        "s3 path": (["local", "s3://my-trail-bucket/AWSLogs/"], "local uploads files from this machine"),
        "rules typo": (["local", "--rules", "typo.yaml", str(EVENTS_LOGS)], "FieldSelector"),
        "missing rules": (["local", "--rules", "rules.yaml", str(EVENTS_LOGS)], "rules.yaml: cannot read"),
        "bad number": (["replay", "--jobs", "many", str(EVENTS_LOGS)], "argument --jobs: not a whole number"),
    }
    running = {
        name: subprocess.Popen([str(SCRIPT), *argv], cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for name, (argv, _) in cases.items()
    }
    for name, process in running.items():
        out, err = process.communicate(timeout=300)
        assert_one_error_line(process.returncode, err, 2, cases[name][1])
        assert out == "", name
