"""Property tests: compiled selectors and the indexed engine agree with a plain reference evaluator.

The reference below is written from shared/docs/selectors.md alone and works on the raw JSON
selectors; it does not use trailsift.fields or trailsift.selectors (those are only compared against).
"""

from __future__ import annotations

import functools
import gzip
import json
import random
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trailsift.engine import RuleEngine
from trailsift.rules import Rule, RuleSet
from trailsift.selectors import compile_selectors, parse_selectors

# ---------------------------------------------------------------------------------------------
# the reference evaluator (selectors.md, "Evaluation")

_INCLUDE = {
    "Equals": lambda value, operand: value == operand,
    "StartsWith": lambda value, operand: value[: len(operand)] == operand,
    "EndsWith": lambda value, operand: len(value) >= len(operand) and value[len(value) - len(operand) :] == operand,
}
_EXCLUDE = {"NotEquals": "Equals", "NotStartsWith": "StartsWith", "NotEndsWith": "EndsWith"}


def ref_text(value: Any) -> str | None:
    """JSON strings as they are, booleans as true/false, integers in decimal; nothing else has text.

    (A float with an integral value is the JSON number of that integer: 12.0 reads "12".)
    """
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int):
        return "%d" % value
    if isinstance(value, float) and value == value and value not in (float("inf"), float("-inf")):
        if value == int(value):
            return "%d" % int(value)
    return None


def ref_flatten(nodes: list[Any]) -> list[Any]:
    """Fan out over arrays (nested arrays too)."""
    out: list[Any] = []
    pending = list(reversed(nodes))
    while pending:
        node = pending.pop()
        if isinstance(node, list):
            pending.extend(reversed(node))
        else:
            out.append(node)
    return out


def ref_values(record: dict[str, Any], field: str) -> list[str]:
    """V: every string value the record holds for ``field``."""
    parts = field.split(".")
    nodes: list[Any] = [record]
    for step, part in enumerate(parts):
        last = step == len(parts) - 1
        keys = ["ARN", "ARNPrefix"] if (field == "resources.ARN" and last) else [part]
        nodes = [node[key] for node in ref_flatten(nodes) if isinstance(node, dict) for key in keys if key in node]
    texts = [ref_text(node) for node in ref_flatten(nodes)]
    return [text for text in texts if text is not None]


def ref_field_selector(fs: dict[str, Any], record: dict[str, Any]) -> bool:
    values = ref_values(record, fs["Field"])
    includes = [(op, operand) for op in _INCLUDE for operand in fs.get(op, [])]
    excludes = [(_EXCLUDE[op], operand) for op in _EXCLUDE for operand in fs.get(op, [])]
    if includes and not any(_INCLUDE[op](v, operand) for v in values for op, operand in includes):
        return False
    if any(_INCLUDE[op](v, operand) for v in values for op, operand in excludes):
        return False
    return True


def ref_selector(selector: dict[str, Any], record: dict[str, Any]) -> bool:
    return all(ref_field_selector(fs, record) for fs in selector["FieldSelectors"])


def reference(selectors: list[dict[str, Any]], record: dict[str, Any]) -> bool:
    return any(ref_selector(selector, record) for selector in selectors)


def test_reference_sanity() -> None:
    # the reference itself, on the spec's own examples
    assert ref_values({"resources": [{"ARN": "a"}, {"ARNPrefix": "b"}]}, "resources.ARN") == ["a", "b"]
    assert ref_values({"insightDetails": {"eventName": "x"}}, "eventName") == []
    assert ref_values({"readOnly": False}, "readOnly") == ["false"]
    tampering = [
        {
            "FieldSelectors": [
                {"Field": "eventName", "Equals": ["StopLogging", "DeleteTrail"]},
                {"Field": "readOnly", "Equals": ["false"]},
            ]
        }
    ]
    assert reference(tampering, {"eventName": "StopLogging", "readOnly": False})
    assert not reference(tampering, {"eventName": "StopLogging", "readOnly": True})
    secret = [{"FieldSelectors": [{"Field": "resources.ARN", "NotStartsWith": ["arn:aws:s3:::s/"]}]}]
    assert not reference(secret, {"resources": [{"ARN": "arn:aws:s3:::p/x"}, {"ARN": "arn:aws:s3:::s/y"}]})
    assert reference(secret, {})


# ---------------------------------------------------------------------------------------------
# generators: records and selectors over a small shared alphabet, so that matches happen

WORDS = ["A", "AB", "B", "BA", "true", "false", "1", "12", "A*", "\u00e9t\u00e9", "\u2603\U0001f600"]
TYPES = ["AWS::S3::Object", "AWS::S3::Bucket", "A"]
ARNS = ["arn:aws:s3:::b/k", "arn:aws:s3:::b", "arn:aws:s3:::c/", "A", "AB"]
MISSING = object()  # a key drawn as MISSING is left out of the object

scalars = st.one_of(
    st.sampled_from(WORDS),
    st.sampled_from(WORDS),
    st.booleans(),
    st.integers(min_value=-3, max_value=13),
    st.none(),
    st.sampled_from([12.0, 2.5, -3.0]),
)


def maybe_list(inner: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Mostly a plain value, sometimes an array (possibly nested) of them."""
    return st.one_of(inner, inner, inner, st.lists(st.one_of(inner, st.lists(inner, max_size=2)), max_size=3))


def obj(entries: dict[str, st.SearchStrategy[Any]], missing: float = 0.25) -> st.SearchStrategy[dict[str, Any]]:
    """Objects with these keys, each left out with probability about ``missing``."""
    weight = max(1, round(missing * 8))
    drawn = {
        key: st.one_of(*[strategy] * (8 - weight), *[st.just(MISSING)] * weight) for key, strategy in entries.items()
    }
    return st.fixed_dictionaries(drawn).map(lambda d: {k: v for k, v in d.items() if v is not MISSING})


resource_entry = st.one_of(
    obj({"ARN": st.sampled_from(ARNS), "type": st.sampled_from(TYPES), "accountId": st.just("1")}),
    obj({"ARNPrefix": st.sampled_from(ARNS), "type": st.sampled_from(TYPES)}),
    obj({"ARN": st.sampled_from(ARNS), "ARNPrefix": st.sampled_from(ARNS)}, missing=0.5),
    st.none(),
)

user_identity = obj(
    {
        "type": maybe_list(st.sampled_from(["A", "AB", "B", "Root"])),
        "arn": st.sampled_from(ARNS),
        "invokedBy": scalars,
    }
)

leaf = st.one_of(scalars, scalars, st.lists(scalars, max_size=3))
request_parameters = obj(
    {
        "bucketName": maybe_list(scalars),
        "key": scalars,
        "eventName": st.sampled_from(WORDS),
        "items": st.lists(obj({"key": leaf, "value": leaf}), max_size=3),
        "nested": st.one_of(leaf, obj({"key": leaf})),
    }
)

records = obj(
    {
        "eventName": st.one_of(*[st.sampled_from(WORDS)] * 4, maybe_list(scalars)),
        "eventSource": scalars,
        "readOnly": st.one_of(st.booleans(), st.booleans(), st.sampled_from(["true", "false"]), st.none()),
        "errorCode": scalars,
        "userIdentity": st.one_of(user_identity, user_identity, user_identity, st.none(), st.lists(user_identity, max_size=2)),
        "resources": st.one_of(st.lists(resource_entry, min_size=1, max_size=3), st.lists(resource_entry, max_size=0), st.none()),
        "requestParameters": st.one_of(request_parameters, request_parameters, st.none()),
        "insightDetails": obj({"eventName": st.sampled_from(WORDS)}),
    },
    missing=0.2,
)

# field -> the values worth comparing it with (the record side draws from the same pools)
FIELD_VALUES: dict[str, list[str]] = {
    "eventName": WORDS,
    "eventSource": WORDS,
    "readOnly": ["true", "false"],
    "errorCode": WORDS + ["-", "3"],
    "userIdentity.type": ["A", "AB", "B", "Root", "R"],
    "userIdentity.arn": ARNS + ["arn:aws:s3:::"],
    "userIdentity.invokedBy": WORDS,
    "resources.ARN": ARNS + ["arn:aws:s3:::", "arn:aws:s3:::b/"],
    "resources.type": TYPES + ["S3"],
    "resources.ARNPrefix": ARNS,
    "requestParameters.bucketName": WORDS,
    "requestParameters.key": WORDS,
    "requestParameters.items.key": WORDS,
    "requestParameters.nested.key": WORDS,
    "requestParameters.eventName": WORDS,
    "insightDetails.eventName": WORDS,
    "requestParameters": WORDS,
    "absentField": WORDS,
}
FIELDS = list(FIELD_VALUES)
OPERATOR_NAMES = ["Equals", "StartsWith", "EndsWith", "NotEquals", "NotStartsWith", "NotEndsWith"]


_OPERANDS = {
    field: st.lists(st.sampled_from([value for value in pool if value]), min_size=1, max_size=2)
    for field, pool in FIELD_VALUES.items()
}
_OPERATOR_LISTS = st.lists(st.sampled_from(OPERATOR_NAMES), min_size=1, max_size=2, unique=True)
_READ_ONLY_VALUES = st.lists(st.sampled_from(["true", "false"]), min_size=1, max_size=2)


def operands(field: str) -> st.SearchStrategy[list[str]]:
    return _OPERANDS[field]


_FIELD_CHOICE = st.sampled_from(FIELDS)
_EXTRA_EVENT_NAME_OPERATOR = st.sampled_from([None, None, "NotEquals", "NotStartsWith", "StartsWith", "EndsWith"])
_SELECTOR_NAME = st.sampled_from([None, None, "n", "", "same"])


@st.composite
def _field_selector(draw: st.DrawFn) -> dict[str, Any]:
    field = draw(_FIELD_CHOICE)
    if field == "readOnly":  # CloudTrail: Equals only, true/false
        return {"Field": field, "Equals": draw(_READ_ONLY_VALUES)}
    if field == "resources.type":  # CloudTrail: Equals only
        return {"Field": field, "Equals": draw(operands(field))}
    return {"Field": field, **{op: draw(operands(field)) for op in draw(_OPERATOR_LISTS)}}


@st.composite
def _event_name_equals(draw: st.DrawFn) -> dict[str, Any]:
    """An ``eventName Equals [...]`` field selector (what the engine indexes), sometimes with more conditions."""
    fs: dict[str, Any] = {"Field": "eventName", "Equals": draw(operands("eventName"))}
    extra = draw(_EXTRA_EVENT_NAME_OPERATOR)
    if extra:
        fs[extra] = draw(operands("eventName"))
    return fs


field_selector = _field_selector()
event_name_equals = _event_name_equals()
_FIELD_SELECTOR_LISTS = st.lists(field_selector, min_size=1, max_size=2)
_THIRDS = st.integers(0, 2)


@st.composite
def _selector(draw: st.DrawFn) -> dict[str, Any]:
    fss = draw(_FIELD_SELECTOR_LISTS)
    if draw(_THIRDS) == 0:  # an indexed eventName condition, anywhere in the selector
        fss.insert(draw(_THIRDS) % (len(fss) + 1), draw(event_name_equals))
    selector: dict[str, Any] = {"FieldSelectors": fss}
    name = draw(_SELECTOR_NAME)
    if name is not None:
        selector["Name"] = name
    return selector


selector = _selector()
selector_sets = st.lists(selector, min_size=1, max_size=3)

FAST = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# ---------------------------------------------------------------------------------------------
# properties


@FAST
@given(raw=selector_sets, record=records)
def test_compiled_selectors_equal_reference(raw: list[dict[str, Any]], record: dict[str, Any]) -> None:
    expected = reference(raw, record)
    assert compile_selectors(parse_selectors(raw))(record) is expected, (raw, record)


@FAST
@given(raw=selector_sets, record=records)
def test_each_selector_and_field_selector_equal_reference(raw: list[dict[str, Any]], record: dict[str, Any]) -> None:
    # finer-grained: every single field selector, and every selector alone, agree with the reference
    for selector in raw:
        for fs in selector["FieldSelectors"]:
            one = [{"FieldSelectors": [fs]}]
            assert compile_selectors(parse_selectors(one))(record) == ref_field_selector(fs, record), (fs, record)
        assert compile_selectors(parse_selectors([selector]))(record) == ref_selector(selector, record)


_SELECTOR_LISTS = st.lists(selector, min_size=1, max_size=2)
_AT_MOST_ONE_FIELD_SELECTOR = st.lists(field_selector, max_size=1)
Rules = list[tuple[str, list[dict[str, Any]]]]


@st.composite
def _rule_set(draw: st.DrawFn) -> Rules:
    rules = []
    for index in range(draw(st.integers(1, 4))):
        sels = draw(_SELECTOR_LISTS)
        if draw(st.booleans()):  # make sure indexed selectors are common
            sels.append({"FieldSelectors": [draw(event_name_equals), *draw(_AT_MOST_ONE_FIELD_SELECTOR)]})
        rules.append((f"rule-{index}", sels))
    return rules


rule_sets = _rule_set()


def build_engine(rules: Rules) -> RuleEngine:
    return RuleEngine(RuleSet(tuple(Rule(name, parse_selectors(sels)) for name, sels in rules)))


@FAST
@given(rules=rule_sets, record=records)
def test_engine_equals_reference(rules: Rules, record: dict[str, Any]) -> None:
    expected = tuple(name for name, sels in rules if reference(sels, record))
    assert build_engine(rules).match(record) == expected, (rules, record)


encodings = st.fixed_dictionaries(
    {
        "indent": st.sampled_from([None, 0, 1, 2, "\t", " "]),
        "separators": st.sampled_from([(",", ":"), (", ", ": "), (" ,\n", " :\t"), ("\n,", "\r\n:")]),
        "sort_keys": st.booleans(),
        "ensure_ascii": st.booleans(),
    }
)


@FAST
@given(rules=rule_sets, record=records, encoding=encodings)
def test_reencoding_does_not_change_results(
    rules: Rules, record: dict[str, Any], encoding: dict[str, Any]
) -> None:
    text = json.dumps(record, **encoding)
    decoded = orjson.loads(text)
    assert decoded == record  # the encoding is a faithful one
    if encoding["ensure_ascii"] and any(ord(ch) > 127 for ch in json.dumps(record, ensure_ascii=False)):
        assert "\\u" in text  # the escapes really are exercised
    engine = build_engine(rules)
    assert engine.match(decoded) == engine.match(record)
    for _, sels in rules:
        test = compile_selectors(parse_selectors(sels))
        assert test(decoded) == test(record) == reference(sels, record)


def shuffled(node: Any, rng: random.Random) -> Any:
    """The same JSON value with every object's keys in another order."""
    if isinstance(node, dict):
        items = list(node.items())
        rng.shuffle(items)
        return {key: shuffled(value, rng) for key, value in items}
    if isinstance(node, list):
        return [shuffled(item, rng) for item in node]
    return node


@FAST
@given(rules=rule_sets, record=records, rng=st.randoms(use_true_random=False))
def test_key_order_does_not_matter(
    rules: Rules, record: dict[str, Any], rng: random.Random
) -> None:
    permuted = shuffled(record, rng)
    assert permuted == record
    engine = build_engine(rules)
    assert engine.match(permuted) == engine.match(record)
    # selector (and field selector) order is irrelevant too: OR and AND are commutative
    for _, sels in rules:
        flipped = [{"FieldSelectors": list(reversed(s["FieldSelectors"]))} for s in reversed(sels)]
        assert compile_selectors(parse_selectors(flipped))(permuted) == compile_selectors(parse_selectors(sels))(record)


_NEGATION = {"Equals": "NotEquals", "StartsWith": "NotStartsWith", "EndsWith": "NotEndsWith"}


@FAST
@given(
    field=st.sampled_from([f for f in FIELDS if f not in ("readOnly", "resources.type")]),
    conditions=st.dictionaries(st.sampled_from(list(_NEGATION)), operands("eventName"), min_size=1),
    record=records,
)
def test_exclude_operators_negate_include_operators(
    field: str, conditions: dict[str, list[str]], record: dict[str, Any]
) -> None:
    # No value satisfies any include condition  <=>  no value satisfies the matching exclude condition.
    include = [{"FieldSelectors": [{"Field": field, **conditions}]}]
    exclude = [{"FieldSelectors": [{"Field": field, **{_NEGATION[op]: v for op, v in conditions.items()}}]}]
    assert compile_selectors(parse_selectors(exclude))(record) is not compile_selectors(parse_selectors(include))(record)


# ---------------------------------------------------------------------------------------------
# real records (shared/data/cloudtrail), selectors built from the values they hold

SHARED_CLOUDTRAIL = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "cloudtrail"
REAL_FIELDS = [
    "eventName",
    "eventSource",
    "eventType",
    "eventCategory",
    "readOnly",
    "managementEvent",
    "errorCode",
    "awsRegion",
    "sourceIPAddress",
    "userIdentity.type",
    "userIdentity.arn",
    "userIdentity.invokedBy",
    "userIdentity.sessionContext.attributes.mfaAuthenticated",
    "resources.ARN",
    "resources.type",
    "requestParameters.bucketName",
    "additionalEventData.MFAUsed",
    "responseElements.ConsoleLogin",
    "tlsDetails.tlsVersion",
]


@functools.cache
def real_corpus() -> tuple[list[dict[str, Any]], dict[str, list[str]]]:
    """The shared records, and for each field some values (and prefixes, suffixes) they hold."""
    assert SHARED_CLOUDTRAIL.is_dir(), f"missing shared data at {SHARED_CLOUDTRAIL}"
    found: list[dict[str, Any]] = []
    for path in sorted(SHARED_CLOUDTRAIL.rglob("*.json*")):
        data = path.read_bytes()
        found.extend(orjson.loads(gzip.decompress(data) if path.suffix == ".gz" else data)["Records"])
    pools: dict[str, list[str]] = {}
    for field in REAL_FIELDS:
        seen = sorted({v for record in found for v in ref_values(record, field) if v})
        sample = seen[:: max(1, len(seen) // 12)][:12]
        pools[field] = sorted(set(sample) | {v[:4] for v in sample if len(v) > 4} | {v[-4:] for v in sample if len(v) > 4})
        if field == "readOnly":
            pools[field] = ["true", "false"]
    return found, pools


@st.composite
def _real_case(draw: st.DrawFn) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    found, pools = real_corpus()
    raw = []
    for _ in range(draw(st.integers(1, 2))):
        fss = []
        for _ in range(draw(st.integers(1, 2))):
            field = draw(st.sampled_from([f for f in REAL_FIELDS if pools[f]]))
            values = st.lists(st.sampled_from(pools[field]), min_size=1, max_size=3)
            if field in ("readOnly", "resources.type", "eventCategory"):
                fss.append({"Field": field, "Equals": draw(values)})
            else:
                fss.append({"Field": field, **{op: draw(values) for op in draw(_OPERATOR_LISTS)}})
        raw.append({"FieldSelectors": fss})
    return raw, draw(st.sampled_from(found))


def test_real_corpus_is_loaded() -> None:
    found, pools = real_corpus()
    assert len(found) > 3000
    assert all(pools[field] for field in ("eventName", "eventSource", "resources.ARN", "userIdentity.type"))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=_real_case())
def test_real_records_compiled_selectors_equal_reference(case: tuple[list[dict[str, Any]], dict[str, Any]]) -> None:
    raw, record = case
    assert compile_selectors(parse_selectors(raw))(record) is reference(raw, record), (raw, record.get("eventID"))
    engine = RuleEngine(RuleSet(tuple(Rule(f"r{i}", parse_selectors([sel])) for i, sel in enumerate(raw))))
    assert engine.match(record) == tuple(f"r{i}" for i, sel in enumerate(raw) if ref_selector(sel, record))


# ---------------------------------------------------------------------------------------------
# the generators are not vacuous


def test_generated_examples_both_match_and_miss() -> None:
    outcomes: Counter[str] = Counter()

    @settings(max_examples=300, deadline=None, derandomize=True, database=None)
    @given(raw=selector_sets, record=records, rules=rule_sets)
    def run(raw: list[dict[str, Any]], record: dict[str, Any], rules: Rules) -> None:
        outcomes["examples"] += 1
        outcomes["set matches" if reference(raw, record) else "set misses"] += 1
        for selector in raw:
            for fs in selector["FieldSelectors"]:
                outcomes["fs total"] += 1
                outcomes["fs matches"] += ref_field_selector(fs, record)
                outcomes["fs has values"] += bool(ref_values(record, fs["Field"]))
        matched = build_engine(rules).match(record)
        outcomes["engine some" if matched else "engine none"] += 1
        names = ref_values(record, "eventName")
        indexed_hit = any(
            fs["Field"] == "eventName" and "Equals" in fs and set(fs["Equals"]) & set(names)
            for _, sels in rules
            for sel in sels
            for fs in sel["FieldSelectors"]
        )
        outcomes["index hit"] += indexed_hit

    run()
    total = outcomes["examples"]
    assert total >= 100
    assert outcomes["set matches"] >= 0.2 * total, outcomes
    assert outcomes["set misses"] >= 0.2 * total, outcomes
    assert 0.2 * outcomes["fs total"] <= outcomes["fs matches"] <= 0.8 * outcomes["fs total"], outcomes
    assert outcomes["fs has values"] >= 0.25 * outcomes["fs total"], outcomes
    assert outcomes["engine some"] >= 0.2 * total, outcomes
    assert outcomes["engine none"] >= 0.1 * total, outcomes
    assert outcomes["index hit"] >= 0.1 * total, outcomes


def test_real_cases_both_match_and_miss() -> None:
    outcomes: Counter[bool] = Counter()

    @settings(max_examples=200, deadline=None, derandomize=True, database=None)
    @given(case=_real_case())
    def run(case: tuple[list[dict[str, Any]], dict[str, Any]]) -> None:
        raw, record = case
        outcomes[reference(raw, record)] += 1

    run()
    total = sum(outcomes.values())
    assert total >= 100
    assert outcomes[True] >= 0.15 * total, outcomes
    assert outcomes[False] >= 0.15 * total, outcomes
