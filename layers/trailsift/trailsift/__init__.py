"""trailsift: filter CloudTrail log files with advanced event selectors, alert on and index what matches.

The core (this package minus its AWS adapters) is pure: it reads log files, validates and compiles
selectors and rules, and matches records, without calling AWS.
"""

__version__ = "0.1.0"
