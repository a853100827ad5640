"""trailsift.errors: every exception the package defines derives from TrailsiftError."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest

import trailsift
from trailsift.errors import TrailsiftError
from trailsift.rules import RulesError
from trailsift.triggers import UnknownTrigger


def defined_exceptions() -> dict[str, type[BaseException]]:
    """Every exception class defined (not merely imported) in a trailsift module, by qualified name."""
    found: dict[str, type[BaseException]] = {}
    for info in pkgutil.walk_packages(trailsift.__path__, prefix="trailsift."):
        if info.name.endswith(".__main__"):  # `python -m trailsift.cli`: importing it runs the command line
            continue
        module = importlib.import_module(info.name)
        for name, value in vars(module).items():
            if inspect.isclass(value) and issubclass(value, BaseException) and value.__module__ == module.__name__:
                found[f"{module.__name__}.{name}"] = value
    return found


def test_every_exception_of_the_package_derives_from_the_root() -> None:
    exceptions = defined_exceptions()
    assert len(exceptions) > 20  # the walk found the package's modules, the CLI and the adapters included
    outside = {name for name, cls in exceptions.items() if not issubclass(cls, TrailsiftError)}
    assert outside == set()


def test_exceptions_keep_the_bases_callers_catch() -> None:
    assert issubclass(RulesError, ValueError) and issubclass(UnknownTrigger, ValueError)
    assert trailsift.TrailsiftError is TrailsiftError
    with pytest.raises(TrailsiftError):
        raise RulesError("bad rules")
