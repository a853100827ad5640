"""`trailsift rules import-sigma`: SigmaHQ's CloudTrail folder converted, its refusals and case warnings on stderr, the
document on stdout or in a file that `trailsift validate` accepts, replayed to exactly the matches of an independent
evaluation of the Sigma rules (tests/sigma_reference.py); without pySigma, one line and exit 2."""

from __future__ import annotations

import gzip
import json
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from sigma.collection import SigmaCollection
from sigma.rule import SigmaRule

from sigma_reference import matches, set_path, sigma_values
from tests.cli_run import run

SIGMA = Path(__file__).parent / "fixtures" / "sigma"
SIGMAHQ = SIGMA / "cloudtrail"
EVENTS = Path(__file__).parent.parent / "events" / "logs"


def test_import_the_sigmahq_folder(capsys, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    code, out, err = run(capsys, "rules", "import-sigma", str(SIGMAHQ))
    assert code == 0
    document = json.loads(out)
    assert document["version"] == 1 and len(document["rules"]) == 39
    lines = err.splitlines()
    assert max(len(line) for line in lines) <= 80
    refused = [line for line in lines if line.startswith("refused  ")]
    assert len(refused) == 18
    assert "refused  aws_cloudtrail_bucket_deleted.yml: errorCode: null: selectors have no" in lines
    assert "refused  aws_delete_saml_provider.yml: 'status' is not a CloudTrail record field" in lines
    warnings = [line for line in lines if line.startswith("warning  ")]
    assert len(warnings) == 4
    mfa = lines.index("warning  aws_cloudtrail_console_login_success_without_mfa.yml:")
    assert lines[mfa + 1].strip() == "additionalEventData.MFAUsed 'NO' never matches: CloudTrail writes 'No'"
    assert lines[-4:] == [
        "converted 39 of 57 Sigma rules; refused 18: 11 contains, 4 null test, 1 field,",
        "  1 fieldref, 1 re",
        "case warnings: 1 rule with a value CloudTrail never writes in that case, 3",
        "  rules matching free-form values in the case given only",
    ]
    path = tmp_path / "sigma.json"
    path.write_text(out)
    assert run(capsys, "validate", str(path))[:2] == (0, f"valid: {path}: 39 rules, 40 selectors\n")


@pytest.mark.parametrize("suffix", [".yaml", ".yml", ".json"])
def test_output_file_is_yaml_or_json_by_extension(capsys, tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"sigma{suffix}"
    code, out, err = run(capsys, "rules", "import-sigma", str(SIGMAHQ / "aws_enum_buckets.yml"), "-o", str(path))
    assert (code, out) == (0, "")
    assert err.splitlines()[-1] == f"wrote 1 rule to {path}"
    text = path.read_text()
    document = yaml.safe_load(text) if suffix != ".json" else json.loads(text)
    assert (text.lstrip().startswith("{")) == (suffix == ".json")
    (rule,) = document["rules"]
    assert rule["name"] == "aws_enum_buckets" and rule["author"].startswith("Christopher Peacock")
    assert run(capsys, "validate", str(path))[0] == 0


def test_files_and_folders_together(capsys, tmp_path: Path) -> None:
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "root.yaml").write_text((SIGMAHQ / "aws_root_account_usage.yml").read_text())
    (folder / "notes.txt").write_text("not a rule file")
    code, out, err = run(capsys, "rules", "import-sigma", str(folder), str(SIGMAHQ / "aws_enum_buckets.yml"))
    assert code == 0
    assert [rule["name"] for rule in json.loads(out)["rules"]] == ["root", "aws_enum_buckets"]
    assert err.splitlines()[-1] == "converted 2 of 2 Sigma rules"


def test_rules_of_other_logsources_are_counted_not_listed(capsys, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    for index in range(3):
        (tmp_path / f"win{index}.yml").write_text(yaml.safe_dump({
            "title": "w", "logsource": {"product": "windows"}, "detection": {"s": {"EventID": 1}, "condition": "s"},
        }))
    code, out, err = run(capsys, "rules", "import-sigma", str(tmp_path))
    assert (code, out) == (1, "")
    assert err.splitlines() == [
        "converted 0 of 0 Sigma rules",
        "skipped 3 rules of other logsources (only product: aws, service: cloudtrail is",
        "  converted)",
    ]


def test_nothing_converted_exits_1_with_nothing_on_stdout(capsys) -> None:
    code, out, err = run(capsys, "rules", "import-sigma", str(SIGMAHQ / "aws_update_login_profile.yml"))
    assert (code, out) == (1, "")
    assert err.splitlines()[-1] == "converted 0 of 1 Sigma rules; refused 1: 1 fieldref"


def test_an_output_file_that_cannot_be_written_is_one_line(capsys, tmp_path: Path) -> None:
    target = tmp_path / "missing" / "sigma.json"
    code, out, err = run(capsys, "rules", "import-sigma", str(SIGMAHQ / "aws_enum_buckets.yml"), "-o", str(target))
    assert (code, out) == (1, "")
    assert err.splitlines()[-1] == f"trailsift: error: {target}: cannot write: No such file or directory"


def test_usage_errors_exit_2(capsys, tmp_path: Path) -> None:
    code, out, err = run(capsys, "rules", "import-sigma", str(tmp_path / "nope"))
    assert (code, out, err) == (2, "", f"trailsift: error: {tmp_path / 'nope'}: no such file or folder\n")
    code, _, err = run(capsys, "rules", "import-sigma", str(tmp_path))
    assert code == 2 and err.startswith("trailsift: error: no Sigma rule files (*.yml, *.yaml) in")


def test_without_pysigma_one_line_and_exit_2(capsys, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [name for name in sys.modules if name == "sigma" or name.startswith("sigma.")]:
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.setitem(sys.modules, "sigma", None)
    monkeypatch.delitem(sys.modules, "trailsift.cli.sigma_convert", raising=False)
    code, out, err = run(capsys, "rules", "import-sigma", str(SIGMAHQ))
    assert (code, out) == (2, "")
    assert err == "trailsift: error: pySigma is not installed; install it with: pip install 'trailsift[sigma]'\n"


# --- replay: exactly the independent evaluation's matches ------------------------------------------


def near_misses(value: str) -> list[str]:
    """Strings a value's test must tell apart from it: one character more or less at either end, other cases."""
    out = [value + "x", "x" + value, value[:-1], value[1:], value.swapcase(), value.upper(), value.lower()]
    return [text for text in dict.fromkeys(out) if text and text != value]


def records_for(rules: list[SigmaRule]) -> list[dict[str, Any]]:
    """Records built to hit every rule (each detection's values, then all detections' together) and to nearly miss
    it (each field dropped or replaced by a near miss), over CloudTrail's shape."""
    records: list[dict[str, Any]] = []
    for rule in rules:
        pairs = sigma_values(rule)
        bases: list[dict[str, str]] = []
        for detection in rule.detection.detections.values():
            first: dict[str, str] = {}
            for field, value in pairs:
                if any(getattr(item, "field", None) == field for item in detection.detection_items):
                    first.setdefault(field, value)
            bases.append(first)
        together: dict[str, str] = {}
        for base in bases:
            together.update(base)
        bases.append(together)
        for field, value in pairs:  # each value of a list, in the full record
            bases.append({**together, field: value})
        for base in bases:
            records.append(dict(base))
            for field, value in base.items():
                records.append({k: v for k, v in base.items() if k != field})
                records.extend({**base, field: miss} for miss in near_misses(value))
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    for flat in records:
        key = json.dumps(flat, sort_keys=True)
        if key in seen:
            continue
        seen.add(key)
        record: dict[str, Any] = {"eventVersion": "1.09", "eventID": f"e{len(out)}"}
        for field, value in flat.items():
            set_path(record, field, value)
        out.append(record)
    return out


def test_replaying_the_converted_rules_gives_exactly_the_sigma_matches(capsys, tmp_path: Path) -> None:
    code, out, _ = run(capsys, "rules", "import-sigma", str(SIGMAHQ), "-o", str(tmp_path / "sigma.json"))
    assert code == 0
    converted = {rule["name"] for rule in json.loads((tmp_path / "sigma.json").read_text())["rules"]}
    rules: dict[str, SigmaRule] = {}
    for path in sorted(SIGMAHQ.glob("*.yml")):
        if path.stem in converted:
            (rule,) = SigmaCollection.from_yaml(path.read_text()).rules
            assert isinstance(rule, SigmaRule)
            rules[path.stem] = rule
    assert len(rules) == 39
    synthetic = records_for(list(rules.values()))
    logs = tmp_path / "logs"
    logs.mkdir()
    with gzip.open(logs / "synthetic.json.gz", "wt") as handle:
        json.dump({"Records": synthetic}, handle)
    files: dict[str, list[dict[str, Any]]] = {str((logs / "synthetic.json.gz").resolve()): synthetic}
    for path in sorted(EVENTS.rglob("*.json.gz")):  # and the bundled real records
        try:
            document = json.loads(gzip.decompress(path.read_bytes()))
        except (OSError, ValueError):
            continue
        if isinstance(document, dict) and isinstance(document.get("Records"), list):
            copy = logs / f"real-{len(files)}.json.gz"
            copy.write_bytes(path.read_bytes())
            files[str(copy.resolve())] = document["Records"]

    code, out, _ = run(capsys, "replay", "--jobs", "1", "--rules", str(tmp_path / "sigma.json"), "--format", "jsonl", str(logs))
    assert code == 0
    replayed: dict[tuple[str, int], set[str]] = {}
    for line in out.splitlines():
        match = json.loads(line)
        replayed[(str(Path(match["file"]).resolve()), match["index"])] = set(match["rules"])
    expected: dict[tuple[str, int], set[str]] = {}
    for file, records in files.items():
        for index, record in enumerate(records):
            hit = {name for name, rule in rules.items() if isinstance(record, dict) and matches(rule, record)}
            if hit:
                expected[(file, index)] = hit
    assert replayed == expected
    assert len(synthetic) > 1000
    assert len({name for names in expected.values() for name in names}) == 39  # every rule matched some record
    # What the case warning says: the real console sign-in without MFA (MFAUsed "No") matches the Sigma rule
    # under Sigma's case-insensitive default, and not the converted rule, which asks for 'NO'.
    without_mfa = rules["aws_cloudtrail_console_login_success_without_mfa"]
    real = [(file, index) for file, records in files.items() if "real-" in file for index, record in enumerate(records)
            if isinstance(record, dict) and matches(without_mfa, record, ignore_case=True)]
    assert len(real) == 1
    assert "aws_cloudtrail_console_login_success_without_mfa" not in replayed.get(real[0], set())
