"""sources.discover: the local files `trailsift replay` reads, in a stable order, each classified."""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest

from trailsift.logfile import LogFileKey, LogFileKind, classify_key
from trailsift.cli.sources import LocalFile, discover

ACCT = "123456789012"


def event_name(stamp: str, uid: str = "AbCdEfGhIjKlMnOp", region: str = "us-east-1") -> str:
    return f"{ACCT}_CloudTrail_{region}_{stamp}_{uid}.json.gz"


def event_key(day: str, stamp: str, uid: str = "AbCdEfGhIjKlMnOp", region: str = "us-east-1") -> str:
    return f"AWSLogs/{ACCT}/CloudTrail/{region}/{day}/{event_name(stamp, uid, region)}"


def touch(root: Path, relative: str, data: bytes = b"{}") -> Path:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def test_recursive_and_sorted_whatever_the_creation_order(tmp_path: Path) -> None:
    keys = [
        event_key("2024/01/01", "20240101T0005Z", "A000000000000000"),
        event_key("2024/01/01", "20240101T0005Z", "B000000000000000"),
        event_key("2024/01/01", "20240101T0010Z", "A000000000000000"),
        event_key("2024/01/02", "20240102T0000Z", "A000000000000000"),
        event_key("2024/02/01", "20240201T0000Z", "A000000000000000"),
        event_key("2024/01/01", "20240101T0005Z", "A000000000000000", region="eu-west-1"),
        f"AWSLogs/999999999999/CloudTrail/us-east-1/2024/01/01/999999999999_CloudTrail_us-east-1_20240101T0005Z_A000000000000000.json.gz",
    ]
    shuffled = keys[:]
    random.Random(7).shuffle(shuffled)
    for key in shuffled:
        touch(tmp_path, key)
    found = list(discover([tmp_path]))
    assert all(isinstance(item, LocalFile) for item in found)
    assert [item.path.relative_to(tmp_path).as_posix() for item in found] == sorted(keys)
    assert all(item.key.kind is LogFileKind.EVENTS and item.readable for item in found)
    # chronological within an account and region, because YYYY/MM/DD folders sort that way
    us_east = [item.key.delivered_at for item in found if item.key.account == ACCT and item.key.region == "us-east-1"]
    assert us_east == sorted(us_east)


def test_same_order_on_every_run(tmp_path: Path) -> None:
    for name in ["b.json", "a.json", "c/z.json", "c/a.json", "B.json", "d/e/f.json"]:
        touch(tmp_path, name)
    first = [item.path for item in discover([tmp_path])]
    assert first == [item.path for item in discover([tmp_path])]
    assert len(first) == 6
    # files of one folder come sorted by name
    top = [path.name for path in first if path.parent == tmp_path]
    assert top == sorted(top) == ["B.json", "a.json", "b.json"]


def test_file_paths_and_directories_keep_the_order_given(tmp_path: Path) -> None:
    one = touch(tmp_path, "z/" + event_name("20240101T0005Z"))
    two = touch(tmp_path, "a/" + event_name("20240101T0010Z"))
    found = [item.path for item in discover([one, tmp_path / "a", str(one)])]
    assert found == [one, two, one]


def test_each_file_is_classified(tmp_path: Path) -> None:
    touch(tmp_path, event_key("2024/01/01", "20240101T0005Z"))
    touch(tmp_path, f"AWSLogs/{ACCT}/CloudTrail-Insight/us-east-1/2024/01/01/"
                    f"{ACCT}_CloudTrail-Insight_us-east-1_20240101T0005Z_AbCdEfGhIjKlMnOp.json.gz")
    touch(tmp_path, f"AWSLogs/{ACCT}/CloudTrail-Digest/us-east-1/2024/01/01/"
                    f"{ACCT}_CloudTrail-Digest_us-east-1_trail_us-east-1_20240101T010000Z.json.gz")
    touch(tmp_path, f"AWSLogs/{ACCT}/Config/ConfigWritabilityCheckFile", b"")
    touch(tmp_path, event_key("2024/01/02", "20240102T0005Z"), b"")  # zero bytes
    touch(tmp_path, "exports/records.json")
    touch(tmp_path, "notes/README.md")
    by_name = {item.path.name: item for item in discover([tmp_path])}
    kinds = {name: (item.key.kind, item.readable) for name, item in by_name.items()}
    assert kinds == {
        event_name("20240101T0005Z"): (LogFileKind.EVENTS, True),
        f"{ACCT}_CloudTrail-Insight_us-east-1_20240101T0005Z_AbCdEfGhIjKlMnOp.json.gz": (LogFileKind.INSIGHTS, True),
        f"{ACCT}_CloudTrail-Digest_us-east-1_trail_us-east-1_20240101T010000Z.json.gz": (LogFileKind.DIGEST, False),
        "ConfigWritabilityCheckFile": (LogFileKind.CONFIG_CHECK, False),
        event_name("20240102T0005Z"): (LogFileKind.OTHER, False),
        "records.json": (LogFileKind.UNNAMED_JSON, True),
        "README.md": (LogFileKind.OTHER, False),
    }
    assert by_name[event_name("20240102T0005Z")].key.reason == "zero-byte object"


def test_key_is_the_posix_path(tmp_path: Path) -> None:
    path = touch(tmp_path, event_key("2024/01/01", "20240101T0005Z"))
    (item,) = discover([path])
    assert item.key.key == path.as_posix()
    assert item.key.account == ACCT


def test_nonexistent_path_raises(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-dir"
    with pytest.raises(FileNotFoundError) as info:
        list(discover([missing]))
    assert str(missing) in str(info.value)


def test_nonexistent_path_after_good_ones_raises_when_reached(tmp_path: Path) -> None:
    good = touch(tmp_path, "a.json")
    files = discover([good, tmp_path / "missing.json.gz"])
    assert next(files).path == good
    with pytest.raises(FileNotFoundError, match="missing.json.gz"):
        next(files)


def test_empty_directory_gives_nothing(tmp_path: Path) -> None:
    (tmp_path / "empty" / "deeper").mkdir(parents=True)
    assert list(discover([tmp_path / "empty"])) == []


def test_sample_tree(events_logs: Path) -> None:
    found = list(discover([events_logs]))
    assert len(found) == 24
    assert sum(item.readable for item in found) == 19
    assert [item.path for item in found] == sorted(item.path for item in found)


def discover_as_before(paths: list[str | Path]) -> list[tuple[Path, LogFileKey]]:
    """What discover gave when it built a Path and ran a stat for every file: the reference for the lazy one."""
    found = []
    for given in map(Path, paths):
        if given.is_dir():
            for root, dirs, files in os.walk(given):
                dirs.sort()
                found.extend(Path(root, name) for name in sorted(files))
        else:
            found.append(given)

    def size(path: Path) -> int | None:
        try:
            return path.stat().st_size
        except OSError:
            return None

    return [(path, classify_key(path.as_posix(), size=size(path))) for path in found]


def mixed_tree(root: Path) -> None:
    """Every kind of file, empty and not, a symlink to a file, to a folder and to nothing."""
    for data in (b"{}", b""):
        day = "2024/01/01" if data else "2024/01/02"
        touch(root, event_key(day, "20240101T0005Z"), data)
        touch(root, f"AWSLogs/o-abc1234567/{ACCT}/CloudTrail-Insight/us-east-1/{day}/"
                    f"{ACCT}_CloudTrail-Insight_us-east-1_20240101T0005Z_AbCdEfGhIjKlMnOp.json.gz", data)
        touch(root, f"AWSLogs/999999999999/CloudTrail/us-east-1/{day}/{event_name('20240101T0005Z')}", data)
        touch(root, f"AWSLogs/{ACCT}/CloudTrail/us-east-1/{day}/{event_name('20241301T0005Z')}", data)
        touch(root, f"AWSLogs/{ACCT}/CloudTrail-Digest/us-east-1/{day}/"
                    f"{ACCT}_CloudTrail-Digest_us-east-1_trail_us-east-1_20240101T010000Z.json.gz", data)
        touch(root, f"exports/{len(data)}/records.json", data)
        touch(root, f"notes/{len(data)}/README.md", data)
    touch(root, f"AWSLogs/{ACCT}/Config/ConfigWritabilityCheckFile", b"")
    (root / "links").mkdir()
    (root / "links" / "to-file.json").symlink_to(root / "exports" / "2" / "records.json")
    (root / "links" / "to-folder").symlink_to(root / "exports")  # not walked into, as os.walk does
    (root / "links" / "broken.json.gz").symlink_to(root / "nowhere")


def test_same_paths_and_keys_as_a_path_and_a_stat_per_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    mixed_tree(tmp_path)
    monkeypatch.chdir(tmp_path)
    single = Path("AWSLogs", ACCT, "CloudTrail", "us-east-1", "2024", "01", "02", event_name("20240101T0005Z"))
    for paths in ([tmp_path], ["."], ["./AWSLogs/"], [f"{tmp_path}//exports/"], ["exports", str(single), single]):
        found = list(discover(paths))
        expected = discover_as_before(paths)
        assert [(item.path, item.key) for item in found] == expected, paths
        assert [item.location for item in found] == [str(path) for path, _ in expected]
        assert [item.readable for item in found] == [key.holds_events or key.kind is LogFileKind.UNNAMED_JSON
                                                     for _, key in expected]


def test_the_name_decides_at_once_the_size_when_asked(tmp_path: Path) -> None:
    """``named`` is what the name says; ``key`` adds what the size says, looked at once, on first use."""
    path = touch(tmp_path, event_key("2024/01/01", "20240101T0005Z"), b"")
    (item,) = discover([path])
    assert item.named == classify_key(path.as_posix())
    assert item.named.kind is LogFileKind.EVENTS and item.readable_by_name
    assert item.key == classify_key(path.as_posix(), size=0)
    assert not item.readable
    path.write_bytes(b"{}")
    assert item.key.reason == "zero-byte object"  # learnt once, kept
    assert item.path is item.path
    (again,) = discover([path])
    assert again.key == again.named and again.readable
