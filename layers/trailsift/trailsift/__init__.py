"""trailsift: filter CloudTrail log files with advanced event selectors, alert on and index what matches.

The core (this package minus its AWS adapters) is pure: it reads log files, validates and compiles
selectors and rules, and matches records, without calling AWS. Every exception it defines derives
from :class:`TrailsiftError`.
"""

from trailsift.errors import TrailsiftError

__all__ = ["TrailsiftError", "__version__"]

__version__ = "0.1.0"
