"""Files of every hostile or unusual shape: each gets its disposition in memory bounded by the settings.

Each shape (``bench/shapes.py``) is written at 160 MB decompressed, more than a reader that held the
document could fit in the memory allowed here, and read by ``scan_log_file`` with the default
settings in a child process under an address-space limit. The child's peak RSS must stay under
:data:`PEAK_RSS_MB`; a reader that held the document, or one record of it past the record limit,
fails either bound. Timing is not asserted (``bench/shapes_bench.py`` measures it).
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
from pathlib import Path

import pytest

from bench.shapes import CHILD_PRELUDE, SHAPES, Shape, write_shape
from trailsift.reader import DEFAULT_MAX_RECORD_BYTES

REPO = Path(__file__).resolve().parent.parent
SIZE = 160 << 20
ADDRESS_SPACE = 640 << 20  # the interpreter and its libraries take about 300 MB of address space
PEAK_RSS_MB = 120

CHILD = CHILD_PRELUDE + r"""
outcome = scan_outcome("hostile")
outcome["peak_mb"] = peak_mb()
print(json.dumps(outcome))
"""


def _limit_address_space() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE, ADDRESS_SPACE))


def read_in_child(path: Path) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(path), str(REPO / "layers" / "trailsift")],
        capture_output=True,
        text=True,
        preexec_fn=_limit_address_space,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout)  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def shape_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, int]]:
    directory = tmp_path_factory.mktemp("shapes")
    files = {}
    for name, shape in SHAPES.items():
        path = directory / f"{name}.json.gz"
        files[name] = (path, write_shape(path, shape, SIZE))
    return files


def expected_records(shape: Shape, size: int) -> int:
    """How many records a shape written at ``size`` holds (the whitespace shape holds two)."""
    if shape.separator:
        return shape.units_for(size)
    return 2


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_each_shape_gets_its_disposition_in_bounded_memory(name: str, shape_files: dict[str, tuple[Path, int]]) -> None:
    shape = SHAPES[name]
    path, written = shape_files[name]
    assert written > SIZE * 0.9
    outcome = read_in_child(path)
    assert outcome["peak_mb"] < PEAK_RSS_MB, outcome  # type: ignore[operator]
    if shape.refused is None:
        assert outcome["disposition"] == "read", outcome
        assert outcome["records"] == expected_records(shape, SIZE)
        assert outcome["problems"] == 0
    else:
        assert outcome["disposition"] == "refused", outcome
        assert shape.refused in str(outcome["reason"])
        assert outcome["index"] == 0
        assert str(outcome["message"]).startswith("hostile record 0: ")  # names the file and the record


def test_the_record_limit_names_the_limit(shape_files: dict[str, tuple[Path, int]]) -> None:
    outcome = read_in_child(shape_files["huge-string"][0])
    assert f"larger than the limit of {DEFAULT_MAX_RECORD_BYTES} bytes" in str(outcome["reason"])


def test_a_reader_that_holds_the_document_would_fail_these_bounds(shape_files: dict[str, tuple[Path, int]]) -> None:
    """The bounds can fail: reading the whitespace file whole, as a naive reader does, breaks them."""
    path = shape_files["whitespace"][0]
    naive = (
        "import gzip, json, sys; json.loads(gzip.decompress(open(sys.argv[1], 'rb').read()));"
        "print([int(l.split()[1]) / 1024 for l in open('/proc/self/status') if l.startswith('VmHWM:')][0])"
    )
    done = subprocess.run(
        [sys.executable, "-c", naive, str(path)], capture_output=True, text=True, preexec_fn=_limit_address_space
    )
    assert done.returncode != 0 or float(done.stdout) > PEAK_RSS_MB
