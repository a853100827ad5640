"""Sigma rules for AWS CloudTrail, converted to trailsift rules exactly, or refused with the reason.

What ``trailsift rules import-sigma`` runs, without its command line. Rules are read by pySigma
(the optional extra ``trailsift[sigma]``: this module imports it, so only the command line may import
this module, and the Lambda layer is built without ``trailsift/cli/``). The conversion walks
pySigma's parsed objects (the rule's detections, their modifiers, and the condition tree with its
detections resolved), never the YAML:

1. a rule whose condition or detections use what selectors cannot say is refused, naming it:
   ``contains``, ``re``, ``cidr``, ``fieldref``, ``exists``, encodings, numeric comparisons, keyword
   searches, null tests, ``?`` or inner ``*`` wildcards, aggregations, correlations; so is a field
   no CloudTrail record has (``trailsift.cli.known_fields``), or a rule whose logsource is not
   ``product: aws, service: cloudtrail``;
2. each field test becomes Equals, StartsWith (``startswith``, a trailing ``*``) or EndsWith
   (``endswith``, a leading ``*``); the tests of one field in one list are one test (any of them);
3. NOT is pushed down to the field tests (De Morgan), where it becomes NotEquals, NotStartsWith or
   NotEndsWith, and the condition is expanded to an OR of ANDs: one selector each;
4. within one AND, the tests of a field are merged into its one field selector: every negated test
   joins the exclude lists (exact: no value may satisfy any); two positive tests of the same field
   are merged only when one implies the other, otherwise the rule is refused (one field selector
   asks one value to satisfy one of its includes; it cannot ask for two values);
5. selectors that differ only in the includes of one field are merged back into one selector.

The result is exact for the semantics trailsift's selectors implement (``docs/selectors.md``), which
compare case-sensitively, as CloudTrail does: the converted rule matches a record exactly when the
Sigma rule matches it with every string compared case-sensitively (the ``cased`` semantics).
Sigma compares case-insensitively unless a value is ``cased``; :class:`CaseNote` says, rule by rule,
where that makes a difference and how much (a value CloudTrail never writes in that case can never
match; a free-form field's value matches only in the case given).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from sigma.collection import SigmaCollection
from sigma.conditions import (
    ConditionAND,
    ConditionFieldEqualsValueExpression,
    ConditionIdentifier,
    ConditionItem,
    ConditionNOT,
    ConditionOR,
    ConditionSelector,
    ConditionValueExpression,
)
from sigma.correlations import SigmaCorrelationRule
from sigma.exceptions import SigmaError, SigmaRuleLocation
from sigma.modifiers import reverse_modifier_mapping
from sigma.rule import SigmaDetection, SigmaDetectionItem, SigmaRule
from sigma.types import (
    Placeholder,
    SigmaBool,
    SigmaCasedString,
    SigmaCIDRExpression,
    SigmaCompareExpression,
    SigmaExists,
    SigmaExpansion,
    SigmaFieldReference,
    SigmaNull,
    SigmaNumber,
    SigmaRegularExpression,
    SigmaString,
    SpecialChars,
)

from trailsift.cli.known_fields import field_problem
from trailsift.errors import TrailsiftError
from trailsift.rules import RULE_NAME, Rule, RulesError, Severity, parse_rule

__all__ = [
    "DRL_NOTE",
    "MAX_SELECTORS",
    "CaseNote",
    "Converted",
    "ImportResult",
    "Refused",
    "Refusal",
    "convert_rule",
    "import_paths",
    "sigma_files",
]

DRL_NOTE = "DRL-1.1 (https://github.com/SigmaHQ/Detection-Rule-License)"
"""The ``license`` of a converted rule whose Sigma file names none (SigmaHQ's rules name none: their
repository's licence, the Detection Rule License 1.1, covers them; it asks that copies and messages
about matches name the rule's author, which the rule's ``author`` and ``description`` do)."""

MAX_SELECTORS = 50
"""A condition that expands to more selectors than this is refused rather than emitted."""

_MAX_VALUE = 2048  # a selector value's length (docs/selectors.md)
_MAX_NAME = 1000  # a selector's Name
_FIELD_PATH = re.compile(r"[A-Za-z0-9_]+(?:\.[A-Za-z0-9_]+)*")
_SEVERITY = {
    "informational": Severity.INFO,
    "low": Severity.LOW,
    "medium": Severity.MEDIUM,
    "high": Severity.HIGH,
    "critical": Severity.CRITICAL,
}
_ALLOWED_MODIFIERS = frozenset({"startswith", "endswith", "all", "cased", "neq"})
_WHY_NOT: dict[str, str] = {
    "contains": "selectors have no substring test",
    "re": "selectors have no regular expressions",
    "i": "selectors have no regular expressions",
    "ignorecase": "selectors have no regular expressions",
    "m": "selectors have no regular expressions",
    "multiline": "selectors have no regular expressions",
    "s": "selectors have no regular expressions",
    "dotall": "selectors have no regular expressions",
    "cidr": "selectors have no address ranges",
    "fieldref": "selectors compare a field with fixed values, not with another field",
    "exists": "selectors have no 'field present' test",
    "gt": "selectors have no numeric comparisons",
    "gte": "selectors have no numeric comparisons",
    "lt": "selectors have no numeric comparisons",
    "lte": "selectors have no numeric comparisons",
}
_ENCODINGS = ("base64", "base64offset", "wide", "utf16", "utf16le", "utf16be", "windash", "expand")

# What CloudTrail writes, for the fields whose values it spells one way (shared/docs/cloudtrail.md,
# the CloudTrail User Guide's record contents): the case warnings compare Sigma's values with them.
CLOUDTRAIL_SPELLINGS: dict[str, tuple[str, ...]] = {
    "userIdentity.type": (
        "Root", "IAMUser", "AssumedRole", "Role", "FederatedUser", "Directory", "AWSAccount", "AWSService",
        "IdentityCenterUser", "Unknown", "SAMLUser", "WebIdentityUser",
    ),
    "userIdentity.sessionContext.sessionIssuer.type": ("Root", "IAMUser", "Role"),
    "eventType": (
        "AwsApiCall", "AwsServiceEvent", "AwsConsoleAction", "AwsConsoleSignIn", "AwsCloudTrailInsight",
        "AwsVpceEvent",
    ),
    "eventCategory": ("Management", "Data", "NetworkActivity", "Insight"),
    "additionalEventData.MFAUsed": ("Yes", "No"),
    "responseElements.ConsoleLogin": ("Success", "Failure"),
    "readOnly": ("true", "false"),
    "managementEvent": ("true", "false"),
    "sessionCredentialFromConsole": ("true", "false"),
    "userIdentity.sessionContext.attributes.mfaAuthenticated": ("true", "false"),
}
_LOWERCASE_FIELDS = ("eventSource", "awsRegion")
"""Fields CloudTrail writes in lower case only (``iam.amazonaws.com``, ``us-east-1``)."""
_FIXED_BY_API = ("eventName", "errorCode", "resources.type", "eventVersion")
"""Fields whose values are names an AWS API spells one way (an action, an error code, a resource type)."""

Operator = Literal["Equals", "StartsWith", "EndsWith"]
Test = tuple[Operator, str]
_NEGATED = {"Equals": "NotEquals", "StartsWith": "NotStartsWith", "EndsWith": "NotEndsWith"}


class Refusal(TrailsiftError):
    """Why a Sigma rule cannot be converted exactly: ``kind`` (for counts) and one line of ``reason``."""

    def __init__(self, kind: str, reason: str) -> None:
        super().__init__(reason)
        self.kind = kind
        self.reason = reason


@dataclass(frozen=True)
class CaseNote:
    """A value of a converted rule that may match differently from Sigma, which ignores case.

    With ``canonical`` (a spelling CloudTrail writes that Sigma's comparison accepts and this test no
    longer does): ``never``, the test accepts no spelling CloudTrail writes any more, so it is never
    satisfied; else it misses that one. Without: a free-form field, matched in this case only, where
    Sigma would accept any case.
    """

    field: str
    value: str
    negated: bool
    never: bool
    canonical: str | None = None
    operator: Operator = "Equals"

    @property
    def text(self) -> str:
        how = {"Equals": "", "StartsWith": "starting with ", "EndsWith": "ending with "}[self.operator]
        what = f"{self.field} {how}{self.value!r}"
        if self.canonical is not None:
            if self.never:
                effect = "never excludes anything" if self.negated else "never matches"
                return f"{what} {effect}: CloudTrail writes {self.canonical!r}"
            effect = "no longer excludes" if self.negated else "no longer matches"
            return f"{what} {effect} {self.canonical!r}, which CloudTrail writes"
        effect = "excludes" if self.negated else "matches"
        return f"{what} {effect} only in this case"


@dataclass(frozen=True)
class Converted:
    """A Sigma rule converted: the trailsift rule, the file it came from, and its case notes."""

    path: Path
    rule: Rule
    case_notes: tuple[CaseNote, ...] = ()


@dataclass(frozen=True)
class Refused:
    """A Sigma rule (or file) not converted: ``kind`` for the counts, ``reason`` one line."""

    path: Path
    title: str
    kind: str
    reason: str


@dataclass(frozen=True)
class ImportResult:
    """What an import gives: the rules converted and those refused, in file order, and the rules of other
    logsources, left out (a folder of every kind of Sigma rule holds many)."""

    converted: tuple[Converted, ...]
    refused: tuple[Refused, ...]
    skipped: tuple[Refused, ...] = ()

    def document(self) -> dict[str, Any]:
        """The trailsift rules document of the converted rules."""
        return {"version": 1, "rules": [item.rule.to_json() for item in self.converted]}

    def refused_by_kind(self) -> dict[str, int]:
        """How many rules were refused for each kind of reason, most first."""
        counts: dict[str, int] = {}
        for item in self.refused:
            counts[item.kind] = counts.get(item.kind, 0) + 1
        return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


# --- the boolean form -------------------------------------------------------------------------


@dataclass(frozen=True)
class _Lit:
    """A field test: some value of ``field`` satisfies one of ``tests`` (negated: none does)."""

    field: str
    tests: tuple[Test, ...]
    negated: bool = False


@dataclass(frozen=True)
class _And:
    items: tuple[_Node, ...]


@dataclass(frozen=True)
class _Or:
    items: tuple[_Node, ...]


_Node = _Lit | _And | _Or


@dataclass
class _Seen:
    """What the leaves of one rule held: every value, whether cased, for the case notes."""

    values: list[tuple[str, Operator, str, bool, bool]] = field(default_factory=list)  # field, op, value, cased, negated


def _refuse_modifiers(rule: SigmaRule) -> None:
    """Refuse the rule for the first modifier of a referenced detection that selectors cannot express."""
    for item in _referenced_items(rule):
        for modifier in item.modifiers:
            name = reverse_modifier_mapping.get(modifier.__name__, modifier.__name__)
            if name in _ALLOWED_MODIFIERS:
                continue
            where = f"{item.field}|{name}" if item.field else f"|{name}"
            if name in _ENCODINGS:
                raise Refusal(name, f"{where}: encoded or expanded values are not converted")
            if name in ("minute", "hour", "day", "week", "month", "year"):
                raise Refusal(name, f"{where}: selectors have no date parts")
            why = _WHY_NOT.get(name, "selectors cannot express this modifier")
            raise Refusal("re" if why.endswith("regular expressions") else name, f"{where}: {why}")
        if item.field is None:
            raise Refusal("keyword search", "a keyword search (values without a field): selectors test fields")


def _referenced_items(rule: SigmaRule) -> Iterator[SigmaDetectionItem]:
    """The detection items of the detections the rule's conditions name."""
    names: list[str] = []
    for condition in rule.detection.parsed_condition:
        tree = condition.parse(postprocess=False)
        stack: list[Any] = [tree]
        while stack:
            node = stack.pop()
            if isinstance(node, ConditionSelector):
                names.extend(ref.identifier for ref in node.resolve_referenced_detections(rule.detection))
            elif isinstance(node, ConditionIdentifier):
                names.append(node.identifier)
            elif isinstance(node, ConditionItem):
                stack.extend(node.args)
    seen: set[str] = set()
    for name in names:
        if name in seen or name not in rule.detection.detections:
            continue
        seen.add(name)
        yield from _items(rule.detection.detections[name])


def _items(detection: SigmaDetection) -> Iterator[SigmaDetectionItem]:
    for item in detection.detection_items:
        if isinstance(item, SigmaDetection):
            yield from _items(item)
        else:
            yield item


def _string_test(value: SigmaString, where: str) -> Test:
    """Equals, StartsWith or EndsWith for a Sigma string, or a refusal naming what does not fit."""
    parts: list[Any] = list(value.s)
    if any(isinstance(part, Placeholder) for part in parts):
        raise Refusal("placeholder", f"{where}: a placeholder (%name%) needs a pipeline to be filled in")
    if SpecialChars.WILDCARD_SINGLE in parts:
        raise Refusal("wildcard", f"{where}: a '?' wildcard: selectors have no single-character wildcard")
    lead = trail = 0
    while lead < len(parts) and parts[lead] is SpecialChars.WILDCARD_MULTI:
        lead += 1
    while trail < len(parts) - lead and parts[len(parts) - 1 - trail] is SpecialChars.WILDCARD_MULTI:
        trail += 1
    middle = parts[lead: len(parts) - trail]
    if any(not isinstance(part, str) for part in middle):
        raise Refusal("wildcard", f"{where}: a '*' inside the value: selectors match a whole value, a prefix or a suffix")
    text = "".join(middle)
    if (lead or trail) and not text:
        raise Refusal("wildcard", f"{where}: '*' alone matches any value: selectors have no 'field present' test")
    if lead and trail:
        raise Refusal("contains", f"{where}: '*' on both sides (contains): selectors have no substring test")
    if not text:
        raise Refusal("empty value", f"{where}: an empty value: selector values have 1 to {_MAX_VALUE} characters")
    if len(text) > _MAX_VALUE:
        raise Refusal("value too long", f"{where}: a value of {len(text)} characters (selectors allow {_MAX_VALUE})")
    if lead:
        return ("EndsWith", text)
    if trail:
        return ("StartsWith", text)
    return ("Equals", text)


def _leaf(node: ConditionFieldEqualsValueExpression | ConditionValueExpression) -> tuple[_Lit, bool | None]:
    """One field test of pySigma's condition tree, as a literal, and whether its value is cased (None: no
    letters to compare, a number)."""
    if isinstance(node, ConditionValueExpression):
        raise Refusal("keyword search", "a keyword search (a value without a field): selectors test fields")
    name, value = node.field, node.value
    where = f"{name}: {_describe(value)}"
    if not _FIELD_PATH.fullmatch(name) or len(name) > 1000:
        raise Refusal("field", f"field {name!r}: selectors name fields by dotted paths of [A-Za-z0-9_]")
    problem = field_problem(name)
    if problem is not None:
        raise Refusal("field", problem.text)
    if isinstance(value, SigmaNull):
        raise Refusal("null test", f"{name}: null: selectors have no 'field absent' test")
    if isinstance(value, SigmaRegularExpression):
        raise Refusal("re", f"{where}: selectors have no regular expressions")
    if isinstance(value, SigmaFieldReference):
        raise Refusal("fieldref", f"{where}: selectors compare a field with fixed values, not with another field")
    if isinstance(value, SigmaCIDRExpression):
        raise Refusal("cidr", f"{where}: selectors have no address ranges")
    if isinstance(value, SigmaCompareExpression):
        raise Refusal("comparison", f"{where}: selectors have no numeric comparisons")
    if isinstance(value, (SigmaExists, SigmaExpansion)):
        raise Refusal("exists" if isinstance(value, SigmaExists) else "expand", f"{where}: not expressible as selectors")
    if isinstance(value, SigmaBool):
        return _Lit(name, (("Equals", "true" if value.boolean else "false"),)), True  # JSON writes them so
    if isinstance(value, SigmaNumber):
        if not isinstance(value.number, int) or isinstance(value.number, bool):
            raise Refusal("number", f"{where}: only whole numbers are converted (selectors read integers in decimal)")
        return _Lit(name, (("Equals", str(value.number)),)), None
    if isinstance(value, SigmaString):
        return _Lit(name, (_string_test(value, where),)), isinstance(value, SigmaCasedString)
    raise Refusal("value", f"{where}: a {type(value).__name__} value is not converted")


def _describe(value: Any) -> str:
    if isinstance(value, SigmaString):
        return repr(value.original if value.original else str(value))
    if isinstance(value, SigmaRegularExpression):
        return repr(str(value.regexp))
    return repr(str(value)) if not isinstance(value, SigmaNull) else "null"


def _tree(node: Any, seen: _Seen) -> _Node:
    """pySigma's postprocessed condition tree as And/Or/literal nodes with NOT pushed down (De Morgan)."""
    return _nnf(node, False, seen)


def _nnf(node: Any, negate: bool, seen: _Seen) -> _Node:
    if isinstance(node, ConditionNOT):
        return _nnf(node.args[0], not negate, seen)
    if isinstance(node, (ConditionAND, ConditionOR)):
        items = tuple(_nnf(arg, negate, seen) for arg in node.args)
        conjunctive = isinstance(node, ConditionAND) != negate
        return _And(items) if conjunctive else _merge_or(items)
    if isinstance(node, (ConditionFieldEqualsValueExpression, ConditionValueExpression)):
        lit, cased = _leaf(node)
        if cased is not None:
            seen.values.extend((lit.field, op, value, cased, negate) for op, value in lit.tests)
        return _Lit(lit.field, lit.tests, negate)
    if node is None:
        raise Refusal("empty", "the condition is empty")
    raise Refusal("condition", f"a {type(node).__name__} in the condition is not converted")


def _merge_or(items: tuple[_Node, ...]) -> _Node:
    """An OR whose positive tests of one field become one test (some value satisfies one of them)."""
    merged: dict[str, list[Test]] = {}
    rest: list[_Node] = []
    for item in items:
        if isinstance(item, _Lit) and not item.negated:
            merged.setdefault(item.field, []).extend(item.tests)
        else:
            rest.append(item)
    lits = [_Lit(name, tuple(dict.fromkeys(tests))) for name, tests in merged.items()]
    out: tuple[_Node, ...] = (*lits, *rest)
    return out[0] if len(out) == 1 else _Or(out)


def _dnf(node: _Node) -> list[list[_Lit]]:
    """The node as an OR of ANDs of literals; refused past :data:`MAX_SELECTORS` terms."""
    if isinstance(node, _Lit):
        return [[node]]
    if isinstance(node, _Or):
        terms = [term for item in node.items for term in _dnf(item)]
    else:
        terms = [[]]
        for item in node.items:
            terms = [left + right for left in terms for right in _dnf(item)]
            if len(terms) > MAX_SELECTORS:
                break
    if len(terms) > MAX_SELECTORS:
        raise Refusal("too many selectors", f"the condition expands to more than {MAX_SELECTORS} selectors")
    return terms


def _implies(test: Test, other: Test) -> bool:
    """Whether every string satisfying ``test`` satisfies ``other``."""
    (op, value), (other_op, other_value) = test, other
    if other_op == "Equals":
        return op == "Equals" and value == other_value
    if other_op == "StartsWith":
        return op in ("Equals", "StartsWith") and value.startswith(other_value)
    return op in ("Equals", "EndsWith") and value.endswith(other_value)


def _covered(tests: Sequence[Test], by: Sequence[Test]) -> bool:
    """Whether each of ``tests`` implies one of ``by`` (so any value satisfying ``tests`` satisfies ``by``)."""
    return all(any(_implies(test, other) for other in by) for test in tests)


@dataclass(frozen=True)
class _FieldTests:
    """One field selector: includes (any), excludes (none)."""

    includes: tuple[Test, ...]
    excludes: tuple[Test, ...]


def _conjunction(lits: list[_Lit]) -> dict[str, _FieldTests]:
    """One AND of literals as one field selector per field, merged exactly, or a refusal."""
    positives: dict[str, list[tuple[Test, ...]]] = {}
    negatives: dict[str, list[Test]] = {}
    order: list[str] = []
    for lit in lits:
        if lit.field not in order:
            order.append(lit.field)
        if lit.negated:
            negatives.setdefault(lit.field, []).extend(lit.tests)
        else:
            positives.setdefault(lit.field, []).append(lit.tests)
    out: dict[str, _FieldTests] = {}
    for name in order:
        includes: tuple[Test, ...] = ()
        tests = list(dict.fromkeys(positives.get(name, [])))
        if tests:
            strongest = [candidate for candidate in tests if all(_covered(candidate, other) for other in tests)]
            if not strongest:
                shown = " and ".join(_show(t) for t in tests[:2])
                raise Refusal(
                    "same field twice",
                    f"{name} must hold {shown} in one AND: a field selector asks one value to satisfy one of "
                    "its includes, so it cannot ask for two",
                )
            includes = strongest[0]
        out[name] = _FieldTests(includes, tuple(dict.fromkeys(negatives.get(name, []))))
    return out


def _show(tests: tuple[Test, ...]) -> str:
    return " or ".join(f"{op} {value!r}" for op, value in tests)


def _merge_selectors(terms: list[dict[str, _FieldTests]]) -> list[dict[str, _FieldTests]]:
    """Selectors equal but for the includes of one field become one, with both includes (exact)."""
    out: list[dict[str, _FieldTests]] = []
    for term in terms:
        if term in out:
            continue
        for index, kept in enumerate(out):
            if list(kept) != list(term):
                continue
            differing = [name for name in term if term[name] != kept[name]]
            if len(differing) != 1:
                continue
            name = differing[0]
            a, b = kept[name], term[name]
            if a.excludes == b.excludes and a.includes and b.includes:
                merged = dict(kept)
                merged[name] = _FieldTests(tuple(dict.fromkeys(a.includes + b.includes)), a.excludes)
                out[index] = merged
                break
        else:
            out.append(term)
    return out if len(out) == len(terms) else _merge_selectors(out)


def _field_selector(name: str, tests: _FieldTests) -> dict[str, Any]:
    selector: dict[str, Any] = {"Field": name}
    for op in ("Equals", "StartsWith", "EndsWith"):
        values = [value for test_op, value in tests.includes if test_op == op]
        if values:
            selector[op] = values
    for op in ("Equals", "StartsWith", "EndsWith"):
        values = [value for test_op, value in tests.excludes if test_op == op]
        if values:
            selector[_NEGATED[op]] = values
    return selector


# --- case -------------------------------------------------------------------------------------


def _satisfies(operator: str, text: str, value: str) -> bool:
    if operator == "Equals":
        return text == value
    return text.startswith(value) if operator == "StartsWith" else text.endswith(value)


def case_notes(values: Iterable[tuple[str, Operator, str, bool, bool]]) -> tuple[CaseNote, ...]:
    """Where comparing case-sensitively (selectors) differs from Sigma's case-insensitive default.

    ``values`` are (field, operator, value, cased, negated). Cased values and values without
    letters compare the same either way. For a field CloudTrail spells one way
    (:data:`CLOUDTRAIL_SPELLINGS`, the lower-case fields), the test is put to every spelling
    CloudTrail writes, case-sensitively and not: when both accept the same spellings the value matches
    exactly the records Sigma's comparison would, and no note is made; otherwise the note names a
    spelling now missed (``never`` when none is accepted any more). An API's names (``eventName``,
    ``errorCode``, ``resources.type``) are taken as spelt by the rule's author. Any other field is
    free-form (a user agent, a name, a message): records may hold the value in any case, and only this
    case matches now.
    """
    notes: list[CaseNote] = []
    for name, operator, value, cased, negated in dict.fromkeys(values):
        if cased or value.lower() == value.upper():
            continue
        known = CLOUDTRAIL_SPELLINGS.get(name)
        if known is None and name in _LOWERCASE_FIELDS:
            known = (value.lower(),)  # the one spelling, of those Sigma's comparison accepts, CloudTrail can write
        if known is not None:
            loose = [k for k in known if _satisfies(operator, k.lower(), value.lower())]
            strict = [k for k in known if _satisfies(operator, k, value)]
            if loose != strict:
                missed = [k for k in loose if k not in strict]
                notes.append(CaseNote(name, value, negated, not strict, missed[0], operator))
            continue
        if name in _FIXED_BY_API or value in ("true", "false"):
            continue  # spelt as the API (or JSON) writes it, by the rule author's word: nothing to compare with
        notes.append(CaseNote(name, value, negated, False, None, operator))
    return tuple(notes)


# --- rules and files ----------------------------------------------------------------------------


def convert_rule(sigma: SigmaRule, name: str) -> Converted:
    """One Sigma rule as a trailsift rule named ``name``, or :class:`Refusal`."""
    if sigma.errors:
        raise Refusal("invalid Sigma", f"pySigma: {sigma.errors[0]}")
    product = (sigma.logsource.product or "").lower()
    service = (sigma.logsource.service or "").lower()
    if (product, service) != ("aws", "cloudtrail"):
        raise Refusal(
            "not CloudTrail",
            f"logsource product {sigma.logsource.product!r}, service {sigma.logsource.service!r}: "
            "only 'product: aws, service: cloudtrail' rules are converted",
        )
    try:
        _refuse_modifiers(sigma)
        trees = [condition.parsed for condition in sigma.detection.parsed_condition]
    except SigmaError as exc:
        if "pipe syntax" in str(exc):
            raise Refusal("aggregation", "an aggregation (condition '| count() ...'): selectors match one record at a time") from None
        raise Refusal("invalid Sigma", f"pySigma: {exc}") from None
    seen = _Seen()
    nodes = tuple(_tree(tree, seen) for tree in trees)  # several conditions (deprecated) are ORed
    root: _Node = nodes[0] if len(nodes) == 1 else _merge_or(nodes)
    terms = _merge_selectors([_conjunction(lits) for lits in _dnf(root)])
    title = sigma.title or name
    selectors = []
    for index, term in enumerate(terms):
        label = title if len(terms) == 1 else f"{title} #{index + 1}"
        selectors.append({"Name": label[:_MAX_NAME], "FieldSelectors": [_field_selector(f, t) for f, t in term.items()]})
    level = sigma.level.name.lower() if sigma.level is not None else "medium"
    raw: dict[str, Any] = {
        "name": name,
        "description": title + (f" (Sigma rule by {sigma.author})" if sigma.author else " (Sigma rule)"),
        "severity": _SEVERITY.get(level, Severity.MEDIUM).value,
        "selectors": selectors,
        "license": sigma.license or DRL_NOTE,
    }
    if sigma.id is not None:
        raw["id"] = str(sigma.id)
    if sigma.author:
        raw["author"] = sigma.author
    if sigma.references:
        raw["references"] = [str(ref) for ref in sigma.references]
    try:
        rule = parse_rule(raw, 0)
    except RulesError as exc:  # what the selectors' own validation refuses (readOnly's values, ...)
        raise Refusal("invalid selectors", str(exc).removeprefix(f"rule 0 ({name!r}): ")) from None
    return Converted(Path(str(sigma.source.path)) if sigma.source and sigma.source.path else Path(name), rule, case_notes(seen.values))


def sigma_files(paths: Sequence[Path]) -> list[Path]:
    """The Sigma files ``paths`` name: files as given, folders walked for ``*.yml`` and ``*.yaml``, sorted."""
    out: list[Path] = []
    for path in paths:
        if path.is_dir():
            out.extend(sorted(p for p in path.rglob("*") if p.suffix.lower() in (".yml", ".yaml") and p.is_file()))
        else:
            out.append(path)
    return list(dict.fromkeys(out))


def rule_name(path: Path, taken: set[str]) -> str:
    """The trailsift name for a Sigma file: its name without extension, made a valid rule name, unique."""
    base = re.sub(r"[^A-Za-z0-9._-]", "-", path.stem).lstrip("._-")[:120] or "sigma-rule"
    name, number = base, 2
    while name in taken or not RULE_NAME.fullmatch(name):
        name, number = f"{base}-{number}", number + 1
    taken.add(name)
    return name


def import_paths(paths: Sequence[Path]) -> ImportResult:
    """Read every Sigma file ``paths`` name and convert each rule, or refuse it with the reason.

    A file that cannot be read or parsed is one refusal; a file of several rules gives several rules
    (named ``<file>``, ``<file>-2``, ...); a rule of another logsource is skipped, not refused. Raises :class:`OSError` only for a path that does not exist.
    """
    converted: list[Converted] = []
    refused: list[Refused] = []
    skipped: list[Refused] = []
    taken: set[str] = set()
    for path in sigma_files(paths):
        try:
            text = path.read_text(encoding="utf-8")
            collection = SigmaCollection.from_yaml(text, collect_errors=True, source=SigmaRuleLocation(path))
        except (OSError, UnicodeDecodeError) as exc:
            refused.append(Refused(path, path.name, "unreadable", f"cannot read: {getattr(exc, 'strerror', None) or exc}"))
            continue
        except Exception as exc:  # noqa: BLE001 - YAML and pySigma raise many types; each is one refusal
            refused.append(Refused(path, path.name, "invalid Sigma", f"not a Sigma rule file: {' '.join(str(exc).split())}"))
            continue
        if collection.errors and not collection.rules:
            refused.append(Refused(path, path.name, "invalid Sigma", f"pySigma: {collection.errors[0]}"))
            continue
        for sigma in collection.rules:
            title = getattr(sigma, "title", "") or path.name
            if isinstance(sigma, SigmaCorrelationRule):
                refused.append(Refused(
                    path, title, "correlation",
                    f"a correlation ({sigma.type.name.lower()}): selectors match one record at a time",
                ))
                continue
            name = rule_name(path, taken)
            try:
                item = convert_rule(sigma, name)
            except Refusal as refusal:
                taken.discard(name)
                kept = skipped if refusal.kind == "not CloudTrail" else refused
                kept.append(Refused(path, title, refusal.kind, refusal.reason))
                continue
            converted.append(Converted(path, item.rule, item.case_notes))
    return ImportResult(tuple(converted), tuple(refused), tuple(skipped))
