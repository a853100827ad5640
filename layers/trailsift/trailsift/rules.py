"""Named rules: what to match (advanced event selectors), how bad it is, and where matches go.

A rules file (JSON, or YAML for comments) looks like::

    {"rules": [
      {"name": "cloudtrail-tampering",
       "description": "Someone stopped, deleted or changed a trail.",
       "severity": "high",
       "destinations": ["alert", "index"],
       "selectors": [{"Name": "trail changes",
                      "FieldSelectors": [{"Field": "eventName", "Equals": ["StopLogging"]}]}]}
    ]}

``destinations`` names where matches go (``alert``, ``index``, ``eventbus``: :class:`Destination`); left out,
a rule's matches go to every destination the deployment configures. The selectors are in CloudTrail's own
shape, so they can be pasted from ``put-event-selectors``. Optional ``id``, ``author``, ``references`` and
``license`` say where a rule comes from (``trailsift rules import-sigma`` keeps a Sigma rule's); they are
kept and shown, never matched on. ``group_by`` says how a rule's alerts are grouped in each log file
(:data:`GROUP_BY_FIELDS`; ``["principal"]`` when left out; ``[]`` or ``false``: one alert per event).
A rule may carry ``tests`` (:class:`RuleCase`): named records it must match or must not, inline or by
``file`` and ``index``; ``trailsift test`` runs them. Built-in packs are chosen by name (:data:`PACKS`,
:func:`pack_rules`): ``default`` (``rules/default.json``) covers the CIS AWS Foundations monitoring
controls, ``ssm`` what a security team watches in Systems Manager; their cases' records are in
``rules/cases/``, which only ``trailsift test`` reads.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import orjson

from trailsift.errors import TrailsiftError
from trailsift.selectors import EventSelector, SelectorError, parse_selectors


class Severity(str, Enum):
    INFO = "info"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


class Destination(str, Enum):
    """Where a rule's matches go; each has one sink (:mod:`trailsift.sinks`), used when the deployment configures it."""

    ALERT = "alert"  # one SNS message per group of matched events (rule and principal per file: grouping.py)
    INDEX = "index"  # one DynamoDB row per matched event and rule
    EVENTBUS = "eventbus"  # one EventBridge event per matched event


RULE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_RULE_KEYS = (
    "name", "description", "severity", "destinations", "selectors", "id", "author", "references", "license", "tests",
    "group_by",
)
GROUP_BY_FIELDS = ("principal", "account", "region", "eventName", "eventSource", "sourceIPAddress", "errorCode")
"""The fields a rule's ``group_by`` may name (:mod:`trailsift.grouping` reads each off a record)."""
DEFAULT_GROUP_BY = ("principal",)
"""A rule's ``group_by`` when its file leaves it out: an alert per rule and principal for each log file."""
_METADATA_MAX = 2048
"""The longest ``id``, ``author``, reference or ``license`` accepted (they are shown, never matched on)."""
DEFAULT_PACK = "default.json"
PACKS: dict[str, str] = {
    "default": "CIS AWS Foundations monitoring controls (CloudWatch.1-14)",
    "ssm": "Systems Manager sessions, commands, documents, parameters",
}
"""The built-in packs, by name, and what each watches: ``rules/<name>.json`` in this package (:func:`pack_rules`)."""
_CASE_KEYS = ("name", "expect", "record", "file", "index", "origin", "edited")
EXPECT = ("match", "no-match")


class RulesError(TrailsiftError, ValueError):
    """A rules file that is not valid; the message names the rule and the key at fault."""


@dataclass(frozen=True)
class RuleCase:
    """One test case a rule carries: a record it must match (``expect`` ``match``) or must not (``no-match``).

    The record is inline (``record``) or in a file (``file``, relative to the rules file's folder, a pack's
    to the pack: a CloudTrail log file, ``.json`` or ``.json.gz``, whose ``Records[index]`` it is, or a
    file of one record). File cases are only read when the case runs (``trailsift test``), never when
    the rules load, so a pack's cases cost the function nothing. ``origin`` and ``edited`` say where the
    record came from and what was changed in it, for the reader (and the tests of the shipped packs).
    """

    name: str
    expect: Literal["match", "no-match"]
    record: dict[str, Any] | None = field(default=None, hash=False)
    file: str | None = None
    index: int | None = None
    origin: str | None = None
    edited: str | None = None
    base: Path | None = field(default=None, compare=False, repr=False)
    """The folder ``file`` is relative to (the rules file's); not part of the case's identity."""

    @property
    def expects_match(self) -> bool:
        return self.expect == "match"

    @property
    def path(self) -> Path | None:
        """The case's record file, resolved against ``base``; None for an inline record."""
        if self.file is None:
            return None
        return self.base / self.file if self.base is not None else Path(self.file)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "expect": self.expect}
        if self.record is not None:
            out["record"] = self.record
        for key in ("file", "index", "origin", "edited"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        return out


@dataclass(frozen=True)
class Rule:
    """One named rule: it matches a record when any of its selectors does."""

    name: str
    selectors: tuple[EventSelector, ...]
    severity: Severity = Severity.MEDIUM
    description: str = ""
    destinations: tuple[Destination, ...] = tuple(Destination)  # unset in the file: every configured one
    # Where the rule comes from (a Sigma rule's id, author, references and licence: `rules import-sigma`);
    # optional, kept and shown, never matched on.
    id: str | None = None
    author: str | None = None
    references: tuple[str, ...] = ()
    license: str | None = None
    tests: tuple[RuleCase, ...] = ()
    """The rule's own test cases (``trailsift test`` runs them); never read by the engine."""
    group_by: tuple[str, ...] = DEFAULT_GROUP_BY
    """What the alerts of one log file are grouped by, besides the rule (:mod:`trailsift.grouping`);
    ``()`` (``[]`` or ``false`` in the file): one alert per event."""

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name,
            "description": self.description,
            "severity": self.severity.value,
            "destinations": [d.value for d in self.destinations],
            "selectors": [s.to_json() for s in self.selectors],
        }
        for key in ("id", "author", "license"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        if self.references:
            out["references"] = list(self.references)
        if self.tests:
            out["tests"] = [case.to_json() for case in self.tests]
        if self.group_by != DEFAULT_GROUP_BY:  # shown after the destinations: how the alerts go out
            items = list(out.items())
            at = list(out).index("destinations") + 1
            out = dict([*items[:at], ("group_by", list(self.group_by)), *items[at:]])
        return out


@dataclass(frozen=True)
class RuleSet:
    """An ordered collection of rules with unique names."""

    rules: tuple[Rule, ...]
    source: str = "<memory>"

    def __iter__(self) -> Iterator[Rule]:
        return iter(self.rules)

    def __len__(self) -> int:
        return len(self.rules)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(rule.name for rule in self.rules)

    def get(self, name: str) -> Rule:
        for rule in self.rules:
            if rule.name == name:
                return rule
        raise KeyError(name)


def _enum_list(raw: Any, enum: type[Enum], where: str) -> tuple[Any, ...]:
    choices = ", ".join(member.value for member in enum)
    if not isinstance(raw, list) or not raw:
        raise RulesError(f"{where}: must be a non-empty list of {choices}")
    out = []
    for value in raw:
        try:
            member = enum(value)
        except ValueError:
            raise RulesError(f"{where}: unknown value {value!r}; expected {choices}") from None
        if member in out:
            raise RulesError(f"{where}: {value!r} is listed twice")
        out.append(member)
    return tuple(out)


def _metadata_text(raw: Mapping[str, Any], key: str, where: str) -> str | None:
    """An optional metadata string (``id``, ``author``, ``license``): 1 to 2,048 characters, or absent."""
    value = raw.get(key)
    if value is None and key not in raw:
        return None
    if not isinstance(value, str) or not 1 <= len(value) <= _METADATA_MAX:
        raise RulesError(f"{where}: {key!r} must be a string of 1 to {_METADATA_MAX} characters")
    return value


def _references(raw: Mapping[str, Any], where: str) -> tuple[str, ...]:
    """The optional ``references``: a list of strings (URLs, as Sigma rules give them), each 1 to 2,048 characters."""
    value = raw.get("references", [])
    if not isinstance(value, list) or not all(
        isinstance(item, str) and 1 <= len(item) <= _METADATA_MAX for item in value
    ):
        raise RulesError(f"{where}: 'references' must be a list of strings of 1 to {_METADATA_MAX} characters")
    return tuple(value)


def _text(case: Mapping[str, Any], key: str, where: str) -> str | None:
    value = case.get(key)
    if key in case and (not isinstance(value, str) or not value.strip()):
        raise RulesError(f"{where}: {key!r} must be a non-empty string")
    return value


def parse_case(raw: Any, number: int, where: str, base: Path | None = None) -> RuleCase:
    """Validate one test case of a rule (``where`` names the rule, ``number`` is the case's position)."""
    name = raw.get("name") if isinstance(raw, Mapping) else None
    at = f"{where}: test {number}" + (f" ({name!r})" if isinstance(name, str) else "")
    if not isinstance(raw, Mapping):
        raise RulesError(f"{at}: must be an object, got {type(raw).__name__}")
    unknown = [key for key in raw if key not in _CASE_KEYS]
    if unknown:
        raise RulesError(f"{at}: unknown key {unknown[0]!r}; test keys are {', '.join(_CASE_KEYS)}")
    if not isinstance(name, str) or not name.strip():
        raise RulesError(f"{at}: 'name' must be a non-empty string")
    expect = raw.get("expect")
    if expect not in EXPECT:
        raise RulesError(f"{at}: 'expect' must be 'match' or 'no-match', got {expect!r}")
    has_record, has_file = "record" in raw, "file" in raw
    if has_record == has_file:
        raise RulesError(f"{at}: give the record inline ('record') or in a file ('file' and 'index'), not "
                         + ("both" if has_record else "neither"))
    record, index = raw.get("record"), raw.get("index")
    if has_record:
        if not isinstance(record, dict) or not record:
            raise RulesError(f"{at}: 'record' must be a non-empty object (one CloudTrail record)")
        if "index" in raw:
            raise RulesError(f"{at}: 'index' goes with 'file', not with an inline 'record'")
    file = _text(raw, "file", at)
    if "index" in raw and (isinstance(index, bool) or not isinstance(index, int) or index < 0):
        raise RulesError(f"{at}: 'index' must be a whole number from 0 (the record's place in the file's Records)")
    return RuleCase(name, expect, record, file, index, _text(raw, "origin", at), _text(raw, "edited", at), base)


def _cases(raw: Any, where: str, base: Path | None) -> tuple[RuleCase, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list) or not raw:
        raise RulesError(f"{where}: 'tests' must be a non-empty list of cases")
    cases = tuple(parse_case(case, number, where, base) for number, case in enumerate(raw))
    seen: set[str] = set()
    for number, case in enumerate(cases):
        if case.name in seen:
            raise RulesError(f"{where}: test {number} ({case.name!r}): name already used by another test of this rule")
        seen.add(case.name)
    return cases


def parse_rule(raw: Any, index: int, *, base: Path | None = None, with_tests: bool = True) -> Rule:
    """Validate one rule object (``index`` is its position, for messages; ``base``: the folder its tests'
    files are relative to; ``with_tests`` false: its ``tests`` are left unread, as the function needs none)."""
    if not isinstance(raw, Mapping):
        raise RulesError(f"rule {index}: must be an object, got {type(raw).__name__}")
    name = raw.get("name")
    where = f"rule {index} ({name!r})" if isinstance(name, str) else f"rule {index}"
    unknown = [key for key in raw if key not in _RULE_KEYS]
    if unknown:
        raise RulesError(f"{where}: unknown key {unknown[0]!r}; rule keys are {', '.join(_RULE_KEYS)}")
    if name is None:
        raise RulesError(f"{where}: missing 'name'")
    if not isinstance(name, str) or not RULE_NAME.fullmatch(name):
        raise RulesError(
            f"{where}: bad name {name!r}: 1-128 characters of letters, digits, '.', '_' and '-', "
            "starting with a letter or digit"
        )
    description = raw.get("description", "")
    if not isinstance(description, str):
        raise RulesError(f"{where}: 'description' must be a string")
    severity_raw = raw.get("severity", Severity.MEDIUM.value)
    try:
        severity = Severity(severity_raw)
    except ValueError:
        raise RulesError(
            f"{where}: unknown severity {severity_raw!r}; expected {', '.join(s.value for s in Severity)}"
        ) from None
    destinations = _enum_list(
        raw.get("destinations", [d.value for d in Destination]), Destination, f"{where}: 'destinations'"
    )
    if "selectors" not in raw:
        raise RulesError(f"{where}: missing 'selectors'")
    try:
        selectors = parse_selectors(raw["selectors"], context=f"{where}: ")
    except SelectorError as exc:
        raise RulesError(str(exc)) from None
    return Rule(
        name, selectors, severity, description, destinations,
        id=_metadata_text(raw, "id", where), author=_metadata_text(raw, "author", where),
        references=_references(raw, where), license=_metadata_text(raw, "license", where),
        tests=_cases(raw.get("tests"), where, base) if with_tests and "tests" in raw else (),
        group_by=_group_by(raw.get("group_by", list(DEFAULT_GROUP_BY)), where),
    )


def _group_by(raw: Any, where: str) -> tuple[str, ...]:
    """A rule's ``group_by``: a list of :data:`GROUP_BY_FIELDS` names, each once; ``[]`` or ``false``: none."""
    if raw is False:
        return ()
    choices = ", ".join(GROUP_BY_FIELDS)
    if not isinstance(raw, list):
        raise RulesError(f"{where}: 'group_by' must be a list of {choices} (or false: one alert per event)")
    for name in raw:
        if name not in GROUP_BY_FIELDS:
            raise RulesError(f"{where}: 'group_by': unknown field {name!r}; expected {choices}")
    if len(set(raw)) != len(raw):
        raise RulesError(f"{where}: 'group_by': a field is listed twice")
    return tuple(raw)


def parse_rules(document: Any, *, source: str = "<memory>", base: Path | None = None, with_tests: bool = True) -> RuleSet:
    """Validate a rules document (``{"rules": [...]}``) into a :class:`RuleSet` (``base``: the folder its
    tests' files are relative to, the rules file's)."""
    if not isinstance(document, Mapping):
        raise RulesError(f"{source}: a rules file is an object with a 'rules' list")
    unknown = [key for key in document if key not in ("rules", "version")]
    if unknown:
        raise RulesError(f"{source}: unknown top-level key {unknown[0]!r}; expected 'rules' (and 'version')")
    version = document.get("version", 1)
    if isinstance(version, bool) or version != 1:  # True == 1 in Python; JSON true is not version 1
        raise RulesError(f"{source}: unsupported version {version!r}; this trailsift reads version 1")
    raw_rules = document.get("rules")
    if not isinstance(raw_rules, list) or not raw_rules:
        raise RulesError(f"{source}: 'rules' must be a non-empty list")
    rules = [parse_rule(raw, index, base=base, with_tests=with_tests) for index, raw in enumerate(raw_rules)]
    seen: dict[str, int] = {}
    for index, rule in enumerate(rules):
        if rule.name in seen:
            raise RulesError(f"rule {index} ({rule.name!r}): name already used by rule {seen[rule.name]}")
        seen[rule.name] = index
    return RuleSet(tuple(rules), source)


def rules_from_selectors(selectors: Sequence[EventSelector], *, source: str = "<memory>") -> RuleSet:
    """One rule per selector, named after the selector (``selector-<i>`` when it has no Name)."""
    rules = []
    used: set[str] = set()
    for index, selector in enumerate(selectors):
        name = selector.name or f"selector-{index}"
        while name in used:  # "a#2" may itself be taken (by a selector named "a#2")
            name = f"{name}#{index}"
        used.add(name)
        rules.append(Rule(name, (selector,), description=f"{source} selector {index}"))
    return RuleSet(tuple(rules), source)


def load_document(path: str | Path) -> Any:
    """Read a JSON or YAML (``.yaml``/``.yml``) file; raise :class:`RulesError` naming the file on bad syntax."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise RulesError(f"{path}: cannot read: {exc.strerror or exc}") from None
    return decode_document(data, str(path), yaml=path.suffix.lower() in (".yaml", ".yml"))


def decode_document(data: bytes | str, source: str, *, yaml: bool | None = None) -> Any:
    """Decode rules text: JSON, or YAML when ``yaml`` is true (``None``: JSON, falling back to YAML)."""
    json_error = ""
    if not yaml:
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            if yaml is not None:
                raise RulesError(f"{source}: not valid JSON: {exc}") from None
            json_error = f"not valid JSON ({exc}) nor "
    import yaml as pyyaml  # only YAML users pay for the import

    try:
        return pyyaml.safe_load(data)
    except pyyaml.YAMLError as exc:
        raise RulesError(f"{source}: {json_error}not valid YAML: {exc}") from None


def is_rules_document(document: Any) -> bool:
    """True for a rules file, False for a selector set (list or get-event-selectors output)."""
    return isinstance(document, Mapping) and "rules" in document


def load_rules(path: str | Path) -> RuleSet:
    """Load a rules file (JSON or YAML)."""
    return parse_rules(load_document(path), source=str(path))


def load_selector_rules(path: str | Path) -> RuleSet:
    """Load a selectors file (a JSON list, or ``get-event-selectors`` output) as one rule per selector."""
    return selector_rules(load_document(path), source=str(path))


def selector_rules(document: Any, *, source: str) -> RuleSet:
    """A selector set (list or ``get-event-selectors`` output) as one rule per selector."""
    try:
        selectors = parse_selectors(document, context=f"{source}: ")
    except SelectorError as exc:
        raise RulesError(str(exc)) from None
    return rules_from_selectors(selectors, source=source)


Kind = Literal["rules", "selectors"]
_SELECTOR_KEYS = ("AdvancedEventSelectors", "EventSelectors", "FieldSelectors")
_WHAT_FITS = (
    "a rules file is an object with 'rules'; a selectors file is a list of advanced event selectors, "
    "or get-event-selectors output (an object with 'AdvancedEventSelectors')"
)


def document_kind(document: Any, *, source: str) -> Kind:
    """Whether ``document`` is a rules document or a selector set, by its content alone.

    An object with ``rules`` is a rules document; a list, or an object with ``AdvancedEventSelectors``
    (``get-event-selectors`` output: its ``TrailARN`` is no rule key), ``EventSelectors`` or
    ``FieldSelectors``, is a selector set (whose parser says what is wrong with the last two).
    Anything else is neither: a :class:`RulesError` naming the first top-level key, and the key it
    was probably meant to be.
    """
    if isinstance(document, list):
        return "selectors"
    if isinstance(document, Mapping):
        if "rules" in document:
            return "rules"
        if any(key in document for key in _SELECTOR_KEYS):
            return "selectors"
        if not document:
            raise RulesError(f"{source}: empty object; {_WHAT_FITS}")
        first = next(iter(document))
        hint = ""
        if isinstance(first, str):
            choices = ("rules", *_SELECTOR_KEYS[:1])
            by_case = [choice for choice in choices if choice.lower() == first.lower()]
            close = by_case or difflib.get_close_matches(first, choices, n=1, cutoff=0.6)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise RulesError(f"{source}: unknown top-level key {first!r}{hint}; {_WHAT_FITS}")
    what = {type(None): "null (an empty file?)", str: "a string", bool: "a boolean"}.get(type(document), "a number")
    raise RulesError(f"{source}: neither rules nor selectors (the document is {what}); {_WHAT_FITS}")


def rules_from_document(document: Any, *, source: str) -> RuleSet:
    """A rules document or a selector set, whichever ``document`` is (:func:`document_kind`)."""
    if document_kind(document, source=source) == "rules":
        return parse_rules(document, source=source)
    return selector_rules(document, source=source)


@dataclass(frozen=True)
class RulesFile:
    """What a rules or selectors file holds: its rules (one per selector for a selector set), and which it was."""

    rules: RuleSet
    kind: Kind


def load_rules_file(path: str | Path) -> RulesFile:
    """Load a rules file or a selectors file, told apart by content (:func:`document_kind`): the one loader
    of every command's ``--rules``. Raises :class:`RulesError` naming the file."""
    document = load_document(path)
    source = str(path)
    kind = document_kind(document, source=source)
    if kind == "rules":
        rules = parse_rules(document, source=source, base=Path(path).parent)
    else:
        rules = selector_rules(document, source=source)
    return RulesFile(rules, kind)


def is_pack_name(spec: str) -> bool:
    """Whether ``spec`` names a built-in pack rather than a file: a bare name, with no path separator and
    no ``.`` (``default``, ``ssm``); ``./default`` or ``rules.json`` is always a file. The rule needs no
    look at the disk, so a file that happens to exist never changes what a name means."""
    return bool(spec) and not any(char in spec for char in "/\\.") and ":" not in spec


def pack_source(name: str) -> str:
    """How a pack's rules name their source (``trailsift:rules/ssm.json``)."""
    return f"trailsift:rules/{name}.json"


def pack_rules(name: str, *, with_tests: bool = True) -> RuleSet:
    """The built-in pack ``name`` (:data:`PACKS`); a :class:`RulesError` naming the packs for any other name.
    ``with_tests`` false leaves the rules' cases unread (the function's cold start: about 1.7 ms less for
    the default pack's 112 cases; ``tests/test_default_rules.py`` and ``trailsift test`` read them)."""
    if name not in PACKS:
        raise RulesError(f"no built-in pack {name!r}; the packs are {', '.join(PACKS)} (a file: give its path, as ./{name})")
    folder = resources.files("trailsift").joinpath("rules")
    text = folder.joinpath(f"{name}.json").read_bytes()
    return parse_rules(orjson.loads(text), source=pack_source(name), base=Path(str(folder)), with_tests=with_tests)


def combine_rules(sets: Sequence[RuleSet]) -> RuleSet:
    """Several rule sets as one, in order; rule names must stay unique across them (a :class:`RulesError`
    naming both sources otherwise). One set is returned as it is."""
    if len(sets) == 1:
        return sets[0]
    if not sets:
        raise RulesError("no rules given")
    seen: dict[str, str] = {}
    for ruleset in sets:
        for rule in ruleset:
            if rule.name in seen and seen[rule.name] == ruleset.source:
                raise RulesError(f"{ruleset.source} is given twice; rule names must be unique across the rules combined")
            if rule.name in seen:
                raise RulesError(
                    f"rule {rule.name!r} is in both {seen[rule.name]} and {ruleset.source}; "
                    "rule names must be unique across the rules combined"
                )
            seen[rule.name] = ruleset.source
    return RuleSet(tuple(rule for ruleset in sets for rule in ruleset), " + ".join(s.source for s in sets))


@dataclass(frozen=True)
class RulesSetting:
    """What the function's rules setting (``TRAILSIFT_RULES``) names: built-in packs, and at most one rules
    document stored in SSM (``ssm:<parameter name>``) or S3 (``s3://bucket/key``).

    Empty: the default pack. A document alone: that document alone (it replaces the default pack).
    Packs, with or without a document: those packs, then the document, combined (names unique).
    """

    packs: tuple[str, ...] = ()
    location: str | None = None


def parse_rules_setting(spec: str) -> RulesSetting:
    """Read ``default,ssm``, ``ssm:/trailsift/rules``, ``default,s3://bucket/key``...: comma-separated items,
    each a pack's name (:data:`PACKS`; note ``ssm`` is a pack, ``ssm:NAME`` a parameter), ``ssm:<parameter
    name>`` or ``s3://bucket/key`` (one document at most; a key holding a comma cannot be named here).
    A :class:`RulesError` naming the item at fault."""
    packs: list[str] = []
    locations: list[str] = []
    for item in (part.strip() for part in spec.split(",")):
        if not item:
            continue
        if item.startswith("ssm:") and len(item) > 4 or item.startswith("s3://") and "/" in item[5:].strip("/"):
            locations.append(item)
        elif item in PACKS:
            if item in packs:
                raise RulesError(f"pack {item!r} is named twice")
            packs.append(item)
        else:
            raise RulesError(
                f"unknown rules source {item!r}: expected a built-in pack ({', '.join(PACKS)}), "
                "'ssm:<parameter name>' or 's3://bucket/key', comma-separated"
            )
    if len(locations) > 1:
        raise RulesError(f"one rules document at most, got {len(locations)}: {', '.join(locations)}")
    return RulesSetting(tuple(packs), locations[0] if locations else None)


def default_rules() -> RuleSet:
    """The rule pack shipped with trailsift (CIS AWS Foundations monitoring controls)."""
    return pack_rules("default")
