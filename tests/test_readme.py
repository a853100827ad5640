"""README.md keeps its promises: its rules and selectors examples validate (and pass
`--cloudtrail` where the text says they paste into CloudTrail), its relative links stay inside the
repository and point at files that exist, and its synopses name every command and every option
`trailsift --help` lists.

Examples are fenced ```json or ```yaml blocks. Any block that is a rules document or a selectors
list is checked; a marker comment on the line before the fence says more:
`<!-- example: cloudtrail -->` (also `validate --cloudtrail`), `<!-- example: invalid -->` (a
deliberate mistake: exit 1 with a field warning).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
TEXT = README.read_text(encoding="utf-8")

FENCE = re.compile(
    r"(?:<!-- example: (?P<marker>[a-z]+) -->\n)?```(?P<lang>json|yaml)\n(?P<body>.*?)\n```", re.S
)


def trailsift_command() -> list[str]:
    script = Path(sys.executable).with_name("trailsift")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "trailsift.cli"]


def run(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, COLUMNS="200", NO_COLOR="1")
    return subprocess.run(
        [*trailsift_command(), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )


def is_rules_or_selectors(document: Any) -> bool:
    if isinstance(document, dict):
        if str(document.get("schema", "")).startswith("trailsift."):
            return False  # a message trailsift sends (an alert's document, a bus event's detail), not rules
        rules = document.get("rules")
        if isinstance(rules, list) and rules and all(isinstance(rule, dict) for rule in rules):
            return True
        return "AdvancedEventSelectors" in document
    return (
        isinstance(document, list)
        and bool(document)
        and all(isinstance(item, dict) and "FieldSelectors" in item for item in document)
    )


def examples() -> list[tuple[str, str, str | None, str]]:
    found = []
    for match in FENCE.finditer(TEXT):
        lang, body, marker = match["lang"], match["body"], match["marker"]
        try:
            document = json.loads(body) if lang == "json" else yaml.safe_load(body)
        except (ValueError, yaml.YAMLError):
            document = None
        line = TEXT.count("\n", 0, match.start()) + 1
        if marker is not None:
            assert is_rules_or_selectors(document), f"README.md:{line}: marked {marker!r} but not rules or selectors"
        if marker is not None or is_rules_or_selectors(document):
            found.append((f"line{line}", lang, marker, body))
    return found


EXAMPLES = examples()


def test_the_readme_has_examples_of_each_kind() -> None:
    markers = [marker for _, _, marker, _ in EXAMPLES]
    assert "cloudtrail" in markers
    assert "invalid" in markers
    assert any(lang == "yaml" for _, lang, _, _ in EXAMPLES)


@pytest.mark.parametrize(("name", "lang", "marker", "body"), EXAMPLES, ids=[e[0] for e in EXAMPLES])
def test_example_validates(name: str, lang: str, marker: str | None, body: str, tmp_path: Path) -> None:
    path = tmp_path / f"example.{lang}"
    path.write_text(body + "\n", encoding="utf-8")
    result = run("validate", str(path), cwd=tmp_path)
    assert "Traceback" not in result.stderr
    if marker == "invalid":
        assert result.returncode == 1, result.stdout + result.stderr
        assert "did you mean" in result.stderr
        return
    assert result.returncode == 0, result.stdout + result.stderr
    assert "warning" not in result.stderr
    if marker == "cloudtrail":
        result = run("validate", str(path), "--cloudtrail", cwd=tmp_path)
        assert result.returncode == 0, result.stdout + result.stderr
        assert "CloudTrail would accept" in result.stdout


def test_text_that_says_paste_into_cloudtrail_is_marked() -> None:
    for match in FENCE.finditer(TEXT):
        before = TEXT[max(0, match.start() - 400) : match.start()]
        if "put-event-selectors" in before.split("```")[-1]:
            assert match["marker"] == "cloudtrail", TEXT.count("\n", 0, match.start()) + 1


LINK = re.compile(r"\]\(([^)\s]+)\)")


def relative_links() -> list[str]:
    targets = [target for target in LINK.findall(TEXT) if not re.match(r"[a-z]+:|#", target)]
    return sorted(set(targets))


def test_the_readme_has_relative_links() -> None:
    assert "docs/selectors.md" in relative_links()


@pytest.mark.parametrize("target", relative_links())
def test_relative_link_stays_in_the_repository_and_exists(target: str) -> None:
    path = target.split("#", 1)[0]
    assert ".." not in Path(path).parts, target
    assert (ROOT / path).exists(), target
    assert (ROOT / path).resolve().is_relative_to(ROOT)


def test_no_link_or_mention_leaves_the_repository() -> None:
    for doc in [README, *sorted((ROOT / "docs").glob("*.md"))]:
        assert "../shared" not in doc.read_text(encoding="utf-8"), doc


def synopsis() -> dict[str, str]:
    section = TEXT.split("\n## The command line\n", 1)[1].split("\n## ", 1)[0]
    block = section.split("```sh\n", 1)[1].split("\n```", 1)[0]
    entries: dict[str, str] = {}
    for entry in re.split(r"\n(?=trailsift )", block):
        words = entry.split()
        nested = words[1] in {"rules", "backfill", "selectors"} and len(words) > 2 and words[2] in {"list", "show", "status", "impact", "import-sigma", "packs"}
        key = " ".join(words[1:3]) if nested else words[1]
        entries[key] = entries.get(key, "") + "\n" + entry
    return entries


def listed(help_text: str) -> list[str]:
    commands = help_text.split("COMMAND\n", 1)[-1].split("SUBCOMMAND\n", 1)[-1].split("\noptions:", 1)[0]
    return re.findall(r"^    ([a-z][a-z-]*)(?:  |$)", commands, re.M)  # a long name has its help on the next line


def usage_options(help_text: str) -> set[str]:
    usage = help_text.split("\n\n", 1)[0]
    return set(re.findall(r"(?<![\w-])(--[a-z][a-z-]*|-[a-z])\b", usage)) - {"-h", "--help", "--selectors"}


def test_the_synopsis_lists_every_command() -> None:
    commands = listed(run("--help").stdout)
    assert {"replay", "validate", "explain", "rules", "local", "query", "backfill", "redrive"} <= set(commands)
    rules = listed(run("rules", "--help").stdout)
    assert rules == ["list", "show", "import-sigma", "packs"]
    entries = synopsis()
    selectors = listed(run("selectors", "--help").stdout)
    assert selectors == ["impact"]
    expected = (
        [c for c in commands if c not in ("rules", "selectors")]
        + [f"rules {r}" for r in rules]
        + [f"selectors {s}" for s in selectors]
        + ["backfill status", "--version"]
    )
    assert sorted(set(expected) - set(entries)) == []
    assert run("--version").returncode == 0


@pytest.mark.parametrize(
    "command",
    ["replay", "validate", "explain", "rules list", "rules show", "rules import-sigma", "rules packs", "test", "selectors impact", "query", "local", "backfill", "redrive"],
)
def test_the_synopsis_names_every_option(command: str) -> None:
    entries = synopsis()
    text = "".join(value for key, value in entries.items() if key == command or key.startswith(command + " "))
    result = run(*command.split(), "--help")
    assert result.returncode == 0
    missing = sorted(option for option in usage_options(result.stdout) if not re.search(rf"(?<![\w-]){option}\b", text))
    assert missing == [], f"trailsift {command}: {missing}"


def test_selectors_is_described_as_the_same_option() -> None:
    assert "`--selectors FILE` is the same option" in TEXT
