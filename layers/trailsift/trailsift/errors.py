"""The root of every exception trailsift defines, so a caller can tell trailsift's errors from the rest.

Each exception keeps the built-in base its callers rely on (``RulesError`` is still a
``ValueError``, ``InvocationFailed`` a ``RuntimeError``) and adds :class:`TrailsiftError`:
``except TrailsiftError`` catches what trailsift raised on purpose and lets real bugs through.
"""

from __future__ import annotations

__all__ = ["TrailsiftError"]


class TrailsiftError(Exception):
    """Base class of every exception trailsift defines (see the module docstring)."""
