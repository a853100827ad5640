"""The streaming splitter gives exactly the records of a full parse, whatever the chunking and encoding."""

from __future__ import annotations

import json

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trailsift.streaming import NotStreamable, StreamError, stream_records

# Text that tries to confuse a splitter: braces, brackets, commas, quotes and escapes inside strings.
tricky_text = st.text(alphabet='ab},{]["\\/ é\u2028x', max_size=12)
scalars = st.one_of(st.none(), st.booleans(), st.integers(-(2**40), 2**40), tricky_text)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.sampled_from(["a", "b", "Records", "}"]), inner, max_size=4)
    ),
    max_leaves=12,
)
records = st.dictionaries(st.sampled_from(["eventName", "resources", "requestParameters", "x"]), values, max_size=4)
elements = st.one_of(records, records, records, scalars, st.lists(scalars, max_size=3))


def encodings():
    return st.fixed_dictionaries(
        {
            "indent": st.sampled_from([None, 0, 1, 2]),
            "compact": st.booleans(),
            "ensure_ascii": st.booleans(),
            "sort_keys": st.booleans(),
        }
    )


def encode(document: object, how: dict) -> bytes:
    separators = (",", ":") if how["compact"] else None
    text = json.dumps(
        document, indent=how["indent"], separators=separators, ensure_ascii=how["ensure_ascii"],
        sort_keys=how["sort_keys"],
    )
    return text.encode()


def chunked(data: bytes, sizes: list[int]):
    pos = 0
    for size in sizes:
        if pos >= len(data):
            break
        yield data[pos : pos + size]
        pos += size
    if pos < len(data):
        yield data[pos:]


@settings(max_examples=300, deadline=None)
@given(st.lists(elements, max_size=8), encodings(), st.lists(st.integers(1, 64), max_size=40))
def test_stream_equals_full_parse(entries, how, sizes):
    data = encode({"Records": entries}, how)
    if how["sort_keys"] is False:
        assert data.lstrip().startswith(b"{")
    expected = orjson.loads(data)["Records"]
    assert list(stream_records(chunked(data, sizes))) == expected


@settings(max_examples=200, deadline=None)
@given(st.lists(records, min_size=1, max_size=6), st.integers(1, 40))
def test_truncated_document_is_an_error(entries, cut):
    data = json.dumps({"Records": entries}).encode()
    truncated = data[: max(1, len(data) - cut)]
    with pytest.raises((StreamError, NotStreamable)):
        list(stream_records(iter([truncated])))


def test_records_not_first_is_not_streamable_and_keeps_what_was_read():
    data = b'{"other": 1, "Records": [{"a": 1}]}'
    with pytest.raises(NotStreamable) as caught:
        list(stream_records(iter([data[:10], data[10:]])))
    assert data.startswith(caught.value.consumed)


def test_members_after_records_are_checked():
    assert list(stream_records(iter([b'{"Records":[{"a":1}],"extra":{"b":2}}']))) == [{"a": 1}]
    with pytest.raises(StreamError, match="second 'Records'"):
        list(stream_records(iter([b'{"Records":[{"a":1}],"Records":[{"b":2}]}'])))
    with pytest.raises(StreamError, match="after Records"):
        list(stream_records(iter([b'{"Records":[{"a":1}] junk'])))


def test_invalid_record_names_the_byte_offset():
    with pytest.raises(StreamError, match=r"byte \d+"):
        list(stream_records(iter([b'{"Records":[{"a":1},{"b":tru}]}'])))


def test_missing_separator_between_records():
    with pytest.raises(StreamError, match="expected ',' or ']'"):
        list(stream_records(iter([b'{"Records":[{"a":1} {"b":2}]}'])))


def test_record_with_many_inner_array_objects_uses_the_exact_fallback():
    record = {"resources": [{"ARN": f"arn:{i}", "x": "},{"} for i in range(50)], "eventName": "E"}
    data = json.dumps({"Records": [record, {"eventName": "F"}]}).encode()
    assert list(stream_records(iter([data]))) == [record, {"eventName": "F"}]


def test_empty_records():
    assert list(stream_records(iter([b'{ "Records" : [ ] }']))) == []
