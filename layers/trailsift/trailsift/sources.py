"""Find log files on the local disk: the input of ``trailsift replay``."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from trailsift.logfile import LogFileKey, LogFileKind, classify_key


@dataclass(frozen=True)
class LocalFile:
    """A file found under the paths given, and what its name says it is."""

    path: Path
    key: LogFileKey

    @property
    def readable(self) -> bool:
        """Event and Insights files, and (locally) any other ``.json``/``.json.gz``: the content decides."""
        return self.key.holds_events or self.key.kind is LogFileKind.UNNAMED_JSON


def _walk(directory: Path) -> Iterator[Path]:
    for root, dirs, files in os.walk(directory):
        dirs.sort()
        for name in sorted(files):
            yield Path(root, name)


def discover(paths: Iterable[str | Path]) -> Iterator[LocalFile]:
    """Every file named, and every file under every directory named (recursively, sorted).

    Raises FileNotFoundError for a path that does not exist, before yielding anything of it.
    """
    for given in map(Path, paths):
        if given.is_dir():
            for path in _walk(given):
                yield _local(path, size=_size(path))
        elif given.exists():
            yield _local(given, size=_size(given))
        else:
            raise FileNotFoundError(f"{given}: no such file or directory")


def _size(path: Path) -> int | None:
    try:
        return path.stat().st_size
    except OSError:
        return None


def _local(path: Path, *, size: int | None) -> LocalFile:
    return LocalFile(path, classify_key(path.as_posix(), size=size))
