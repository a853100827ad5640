"""Which selector fields a CloudTrail record can hold, so a misspelled field is caught before it silently never matches.

A field selector on a field no record has (``eventsource`` for ``eventSource``) is valid, and
matches nothing (or, with exclude operators only, everything). :func:`field_warning` says so, with
the closest known field, from ``known_fields.json`` next to this module: CloudTrail's record
fields, as documented and as seen in real records, and which of them are objects.

The rule (``docs/selectors.md``, "Field warnings"):

- the first step of a path must be a known top-level field;
- below a *closed* object (``userIdentity``, ``resources``, ``tlsDetails``, ``addendum``) each step
  must be a field known there;
- below an *open* object (``requestParameters``, ``responseElements``, ``additionalEventData``,
  ``serviceEventDetails``, ``insightDetails``, ``edgeDeviceDetails``, ``userIdentity.sessionContext``,
  ``userIdentity.onBehalfOf``, ``userIdentity.inScopeOf``), whose keys depend on the service and the
  call, anything goes;
- a path that ends on an object, or goes on below a plain value, never has a value either.

The data file is generated, and committed because the corpus it is made from is not part of a
clone::

    python -m trailsift.cli.known_fields ../shared/data/cloudtrail > layers/trailsift/trailsift/cli/known_fields.json
"""

from __future__ import annotations

import difflib
import gzip
import json
import re
import sys
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

DATA_FILE = "known_fields.json"
VALUE = "value"
OBJECT = "object"

OPEN_OBJECTS = (
    "requestParameters",
    "responseElements",
    "additionalEventData",
    "serviceEventDetails",
    "insightDetails",
    "edgeDeviceDetails",
    "userIdentity.sessionContext",
    "userIdentity.onBehalfOf",
    "userIdentity.inScopeOf",
)
"""Objects whose keys depend on the service and the call: any path below them is accepted."""

DOCUMENTED: dict[str, tuple[str, ...]] = {
    # docs/selectors.md (CloudTrail's own selector fields and the extended examples) and the record
    # fields table of shared/docs/cloudtrail.md; then the CloudTrail User Guide's "CloudTrail record
    # contents" (apiVersion, serviceEventDetails, vpcEndpointAccountId, the userIdentity and
    # addendum keys below).
    "eventVersion": (VALUE,),
    "userIdentity": (OBJECT,),
    "userIdentity.type": (VALUE,),
    "userIdentity.arn": (VALUE,),
    "userIdentity.principalId": (VALUE,),
    "userIdentity.accountId": (VALUE,),
    "userIdentity.accessKeyId": (VALUE,),
    "userIdentity.userName": (VALUE,),
    "userIdentity.invokedBy": (VALUE,),
    "userIdentity.identityProvider": (VALUE,),
    "userIdentity.credentialId": (VALUE,),
    "userIdentity.sessionContext": (OBJECT,),
    "userIdentity.onBehalfOf": (OBJECT,),
    "userIdentity.inScopeOf": (OBJECT,),
    "eventTime": (VALUE,),
    "eventSource": (VALUE,),
    "eventName": (VALUE,),
    "awsRegion": (VALUE,),
    "sourceIPAddress": (VALUE,),
    "userAgent": (VALUE,),
    "errorCode": (VALUE,),
    "errorMessage": (VALUE,),
    "requestParameters": (OBJECT,),
    "responseElements": (OBJECT,),
    "additionalEventData": (OBJECT,),
    "requestID": (VALUE,),
    "eventID": (VALUE,),
    "eventType": (VALUE,),
    "apiVersion": (VALUE,),
    "readOnly": (VALUE,),
    "managementEvent": (VALUE,),
    "resources": (OBJECT,),
    "resources.type": (VALUE,),
    "resources.ARN": (VALUE,),
    "resources.ARNPrefix": (VALUE,),
    "resources.accountId": (VALUE,),
    "eventCategory": (VALUE,),
    "sessionCredentialFromConsole": (VALUE,),
    "recipientAccountId": (VALUE,),
    "sharedEventID": (VALUE,),
    "vpcEndpointId": (VALUE,),
    "vpcEndpointAccountId": (VALUE,),
    "serviceEventDetails": (OBJECT,),
    "tlsDetails": (OBJECT,),
    "tlsDetails.tlsVersion": (VALUE,),
    "tlsDetails.cipherSuite": (VALUE,),
    "tlsDetails.clientProvidedHostHeader": (VALUE,),
    "addendum": (OBJECT,),
    "addendum.reason": (VALUE,),
    "addendum.updatedFields": (VALUE,),
    "addendum.originalRequestID": (VALUE,),
    "addendum.originalEventID": (VALUE,),
    "edgeDeviceDetails": (OBJECT,),
    "insightDetails": (OBJECT,),
}

UNTRUSTED_FILES = ("panther-analysis-tests",)
"""Corpus files whose records were edited by hand (they carry ``userIdentity.accesKeyId``,
``resources.arn``, ``userIdentity.sessioncontext``, ...): their fields count only when documented or
seen elsewhere too."""
_SELECTOR_FIELD = re.compile(r"[A-Za-z0-9_]+(?:\.[A-Za-z0-9_]+)*")
_ENRICHMENT = ("p_",)  # Panther's enrichment keys, added to the records it stores; not CloudTrail's


@dataclass(frozen=True)
class KnownFields:
    """Known field paths (arrays are walked through, as selectors walk them) and what each holds."""

    kinds: dict[str, frozenset[str]]
    open_objects: frozenset[str]

    def children(self, parent: str) -> list[str]:
        """The known names one step below ``parent`` ("" for the top level)."""
        depth = parent.count(".") + 1 if parent else 0
        prefix = f"{parent}." if parent else ""
        return sorted(
            path[len(prefix):] for path in self.kinds if path.startswith(prefix) and path.count(".") == depth
        )

    def open_above(self, path: str) -> str | None:
        """The open object ``path`` lies below, if any."""
        parts = path.split(".")
        for end in range(1, len(parts)):
            prefix = ".".join(parts[:end])
            if prefix in self.open_objects:
                return prefix
        return None


@cache
def known_fields() -> KnownFields:
    """The vendored data file, read once."""
    raw = json.loads(resources.files("trailsift.cli").joinpath(DATA_FILE).read_text(encoding="utf-8"))
    return KnownFields(
        {path: frozenset(kinds) for path, kinds in raw["fields"].items()}, frozenset(raw["open_objects"])
    )


def _closest(word: str, choices: Iterable[str]) -> str | None:
    """The choice equal to ``word`` but for letter case, else the closest by spelling (difflib), else None."""
    choices = list(choices)
    lowered = word.lower()
    for choice in choices:
        if choice.lower() == lowered:
            return choice
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.75)
    if close:
        return close[0]
    by_case = {choice.lower(): choice for choice in choices}
    close = difflib.get_close_matches(lowered, list(by_case), n=1, cutoff=0.75)
    return by_case[close[0]] if close else None


@dataclass(frozen=True)
class FieldProblem:
    """Why no record has a value for ``field``, and the known field it was probably meant to be."""

    field: str
    reason: str
    suggestion: str | None = None

    @property
    def text(self) -> str:
        """The warning, one line: ``'eventsource' is not a CloudTrail record field; did you mean 'eventSource'?``."""
        return f"{self.field!r} {self.reason}" + (f"; did you mean {self.suggestion!r}?" if self.suggestion else "")


def field_problem(field: str, known: KnownFields | None = None) -> FieldProblem | None:
    """Why no record has a value for ``field``, or None when some record may (see the module's rule)."""
    known = known or known_fields()
    if known.open_above(field) is not None:
        return None
    parts = field.split(".")
    for end in range(1, len(parts) + 1):
        path = ".".join(parts[:end])
        if path in known.kinds:
            continue
        parent = ".".join(parts[: end - 1])
        if parent and OBJECT not in known.kinds[parent]:
            return FieldProblem(field, f"goes below {parent!r}, which holds a value, not an object")
        where = f" ({parts[end - 1]!r} is not a field of {parent!r})" if parent else ""
        return FieldProblem(field, f"is not a CloudTrail record field{where}", _suggestion(parts, end - 1, known))
    if known.kinds[field] == frozenset({OBJECT}):
        inside = ", ".join(known.children(field)[:4])
        example = f" such as {inside}" if inside else ""
        return FieldProblem(field, f"is an object, which has no value: name a field inside it{example}")
    return None


def field_warning(field: str, known: KnownFields | None = None) -> str | None:
    """:func:`field_problem` as one line of text, or None."""
    problem = field_problem(field, known)
    return None if problem is None else problem.text


def _suggestion(parts: list[str], bad: int, known: KnownFields) -> str | None:
    """The known field meant by the path whose step ``bad`` is unknown, or None."""
    field = ".".join(parts).lower()
    for path in known.kinds:
        if path.lower() == field:  # only the letter case differs (useridentity.type)
            return path
    parent = ".".join(parts[:bad])
    step = _closest(parts[bad], known.children(parent))  # else the unknown step's nearest sibling
    return None if step is None else ".".join([*parts[:bad], step, *parts[bad + 1:]])


# --- making the data file ------------------------------------------------------------------------


def _records(root: Path) -> Iterator[tuple[Path, Any]]:
    for path in sorted(root.rglob("*.json*")):
        if not path.name.endswith((".json", ".json.gz")):
            continue
        data = path.read_bytes()
        if data[:2] == b"\x1f\x8b":
            data = gzip.decompress(data)
        document = json.loads(data)
        for record in document.get("Records", []) if isinstance(document, dict) else []:
            yield path, record


def _walk(node: Any, path: str, seen: dict[str, set[str]]) -> None:
    """Record each path below ``node`` and what it holds; arrays are walked through, open objects not entered."""
    if isinstance(node, list):
        for item in node:
            _walk(item, path, seen)
        return
    if node is None:
        if path:
            seen.setdefault(path, set())
        return
    if path:
        seen.setdefault(path, set()).add(OBJECT if isinstance(node, dict) else VALUE)
    if isinstance(node, dict) and path not in OPEN_OBJECTS:
        for key, value in node.items():
            _walk(value, f"{path}.{key}" if path else key, seen)


def build(root: Path) -> dict[str, Any]:
    """The data file's content from the CloudTrail records under ``root`` (``.json`` and ``.json.gz`` log files)."""
    trusted: dict[str, set[str]] = defaultdict(set)
    records = 0
    names: set[Path] = set()
    for path, record in _records(root):
        records += 1
        names.add(path)
        if any(mark in path.name for mark in UNTRUSTED_FILES):
            continue
        seen: dict[str, set[str]] = {}
        _walk(record, "", seen)
        for field, kinds in seen.items():
            trusted[field] |= kinds
    files = len(names)
    fields: dict[str, set[str]] = defaultdict(set)
    for field, documented in DOCUMENTED.items():
        fields[field] |= set(documented)
    for field, kinds in trusted.items():
        if _SELECTOR_FIELD.fullmatch(field) and not field.startswith(_ENRICHMENT) and kinds:
            fields[field] |= kinds
    return {
        "about": (
            "CloudTrail record fields for `trailsift validate`'s field warnings: documented ones (docs/selectors.md, "
            "docs of the CloudTrail record contents) and those seen in "
            f"{records} real records of {files} files (shared/data/cloudtrail; hand-edited fixtures only where "
            "also documented or seen elsewhere). Open objects: any key below them is accepted. Made by "
            "`python -m trailsift.cli.known_fields ../shared/data/cloudtrail`."
        ),
        "open_objects": list(OPEN_OBJECTS),
        "fields": {field: sorted(kinds) for field, kinds in sorted(fields.items())},
    }


def main(argv: list[str] | None = None) -> int:
    """``python -m trailsift.cli.known_fields CORPUS``: the data file on stdout."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m trailsift.cli.known_fields CORPUS_DIRECTORY", file=sys.stderr)
        return 2
    sys.stdout.write(json.dumps(build(Path(args[0])), indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
