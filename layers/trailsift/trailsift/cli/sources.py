"""Find log files on the local disk: the input of ``trailsift replay``."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from trailsift.logfile import LogFileKey, LogFileKind, classify_key

_POSIX = os.sep == "/"


@dataclass(frozen=True)
class LocalFile:
    """A file found under the paths given, and what its name (and, once asked, its size) says it is.

    Discovery looks at names only: the size (one ``stat``) is learnt when :attr:`key` is first used,
    and reading a file learns it anyway, so a replay never pays for it on files it reads.
    """

    location: str  # str(path), built without a Path object: building one costs more than classifying
    named: LogFileKey  # what the name alone says (size unknown)

    @cached_property
    def path(self) -> Path:
        """The file's path, built on first use."""
        return Path(self.location)

    @cached_property
    def key(self) -> LogFileKey:
        """What the file is: what its name says, or a zero-byte object when it is empty (one stat, on first use)."""
        return classify_key(self.named.key, size=0) if _size(self.location) == 0 else self.named

    @property
    def readable(self) -> bool:
        """Event and Insights files, and (locally) any other ``.json``/``.json.gz``: the content decides."""
        return _readable(self.key)

    @property
    def readable_by_name(self) -> bool:
        """:attr:`readable` without the stat: also true of an empty file, which reading skips as a zero-byte object."""
        return _readable(self.named)


def _readable(key: LogFileKey) -> bool:
    """Whether a file so classified is worth reading: events may be in it."""
    return key.holds_events or key.kind is LogFileKind.UNNAMED_JSON


def _walk(directory: str) -> Iterator[list[str]]:
    """The files under ``directory`` as ``str(Path(root, name))``, a folder at a time in ``os.walk``'s order, sorted."""
    for root, dirs, files in os.walk(directory):
        dirs.sort()
        files.sort()
        base = str(Path(root))
        if _POSIX:  # what Path(base, name) makes of it, without building a Path per file
            prefix = "" if base == "." else base if base.endswith("/") else base + "/"
            yield [prefix + name for name in files]
        else:
            yield [str(Path(base, name)) for name in files]


def discover(paths: Iterable[str | Path]) -> Iterator[LocalFile]:
    """Every file named, and every file under every directory named (recursively, sorted).

    Raises FileNotFoundError for a path that does not exist, before yielding anything of it.
    """
    for given in map(Path, paths):
        if given.is_dir():
            for locations in _walk(str(given)):
                yield from map(_local, locations)
        elif given.exists():
            yield _local(str(given))
        else:
            raise FileNotFoundError(f"{given}: no such file or directory")


def _size(location: str) -> int | None:
    """The file's size in bytes, or None when it cannot be known."""
    try:
        return os.stat(location).st_size
    except OSError:
        return None


def _local(location: str) -> LocalFile:
    """A :class:`LocalFile` classified by its POSIX path (the name and its ``AWSLogs/`` layout)."""
    return LocalFile(location, classify_key(location if _POSIX else location.replace(os.sep, "/")))
