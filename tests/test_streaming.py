"""The streaming splitter gives exactly the records of a full parse, whatever the chunking, encoding and shape."""

from __future__ import annotations

import json

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trailsift.projection import RecordProjection
from trailsift.streaming import NotStreamable, StreamError, record_batches

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


PROJECTION = RecordProjection(["eventName", "resources.ARN", "x"])


def stream_records(chunks, *, limit: int = 1 << 20, project=None) -> list:
    """Every entry the batches hold, in order, checking that batches follow each other without gaps."""
    found: list = []
    for batch in record_batches(chunks, max_record_bytes=limit, project=project):
        assert batch.first == len(found)
        entries = orjson.loads(batch.text)  # the text is the batch's entries, as a JSON array
        assert batch.count == len(entries)
        if batch.views is not None:
            assert batch.views == PROJECTION.decode_records(batch.text)
        else:
            assert batch.entries == entries
        found.extend(entries)
    return found


@settings(max_examples=300, deadline=None)
@given(st.lists(elements, max_size=8), encodings(), st.lists(st.integers(1, 64), max_size=40), st.booleans())
def test_stream_equals_full_parse(entries, how, sizes, projected):
    data = encode({"Records": entries}, how)
    if how["sort_keys"] is False:
        assert data.lstrip().startswith(b"{")
    expected = orjson.loads(data)["Records"]
    project = PROJECTION.decode_records if projected else None
    assert stream_records(chunked(data, sizes), project=project) == expected


def test_every_chunk_boundary_of_a_tricky_document():
    """A boundary at every byte: inside strings, escapes, numbers, multi-byte characters and separators."""
    records = [
        {"eventName": "a},{\"b\\", "n": -12.5e-3, "x": "é€😀\u2028"},
        {"resources": [{"ARN": "arn:1"}, {"ARN": "}, {\"eventName\""}], "eventName": "[]{}"},
        {},
        {"eventName": "\\\"},{\"eventName\":"},
    ]
    for ensure_ascii in (True, False):
        data = json.dumps({"Records": records}, ensure_ascii=ensure_ascii).encode()
        for at in range(1, len(data)):
            for project in (None, PROJECTION.decode_records):
                assert stream_records(iter([data[:at], data[at:]]), project=project) == records, at


@settings(max_examples=200, deadline=None)
@given(st.lists(records, min_size=1, max_size=6), st.integers(1, 40))
def test_truncated_document_is_an_error(entries, cut):
    data = json.dumps({"Records": entries}).encode()
    truncated = data[: max(1, len(data) - cut)]
    with pytest.raises((StreamError, NotStreamable)):
        stream_records(iter([truncated]))


def test_records_not_first_is_not_streamable_and_keeps_what_was_read():
    data = b'{"other": 1, "Records": [{"a": 1}]}'
    with pytest.raises(NotStreamable) as caught:
        stream_records(iter([data[:10], data[10:]]))
    assert caught.value.consumed in data and b"other" in caught.value.consumed


def test_members_after_records_are_checked():
    assert stream_records(iter([b'{"Records":[{"a":1}],"extra":{"b":2}}'])) == [{"a": 1}]
    with pytest.raises(StreamError, match="second 'Records'"):
        stream_records(iter([b'{"Records":[{"a":1}],"Records":[{"b":2}]}']))
    with pytest.raises(StreamError, match="after Records"):
        stream_records(iter([b'{"Records":[{"a":1}] junk']))
    with pytest.raises(StreamError, match="not valid JSON after Records"):  # a trailing comma, as orjson refuses it whole
        stream_records(iter([b'{"Records":[{"a":1}],}']))
    with pytest.raises(StreamError, match="second 'Records'"):
        stream_records(iter([b'{"Records":[{"a":1}],"x":1,"Records":0}']))
    with pytest.raises(StreamError, match="a comma before the end of Records"):
        stream_records(iter([b'{"Records":[{"a":1},]}']))


def test_content_after_records_is_bounded_by_the_record_limit():
    tail = b',"extra":"' + b"x" * 5000 + b'"}'
    with pytest.raises(StreamError, match="more than 1000 bytes after Records"):
        stream_records(iter([b'{"Records":[{"a":1}]', tail[:2500], tail[2500:]]), limit=1000)


def test_invalid_record_names_the_byte_offset():
    data = b'{"Records":[{"a":1},{"b":tru}]}'
    with pytest.raises(StreamError, match=r"byte 25") as caught:
        stream_records(iter([data]))
    assert data[25:28] == b"tru"  # the offset is in the document, where the bad literal starts


def test_missing_separator_between_records():
    with pytest.raises(StreamError, match=r"expected ',' or '\]' after record 0, found '{'"):
        stream_records(iter([b'{"Records":[{"a":1} {"b":2}]}']))


def test_record_with_many_inner_array_objects_uses_the_exact_fallback():
    record = {"resources": [{"ARN": f"arn:{i}", "x": "},{"} for i in range(50)], "eventName": "E"}
    data = json.dumps({"Records": [record, {"eventName": "F"}]}).encode()
    assert stream_records(iter([data])) == [record, {"eventName": "F"}]


def test_fake_separators_in_every_record_still_give_the_records():
    """Every record carries the first record's key after a '},{' inside a string and a nested array:
    every guess fails, and the exact scanner decides, in batches larger than one record."""
    record = {"eventName": "x", "a": [{"b": 1}, {"eventName": "y"}], "s": '},{"eventName":"z"}'}
    records = [dict(record, n=i) for i in range(300)]
    data = json.dumps({"Records": records}, separators=(",", ":")).encode()
    sizes = [len(data) // 7] * 8
    batches = list(record_batches(chunked(data, sizes), max_record_bytes=1000))
    assert [entry for batch in batches for entry in orjson.loads(batch.text)] == records
    assert len(batches) < len(records) // 5


def test_scalar_entries_are_cut_in_batches_too():
    entries = list(range(20000))
    data = json.dumps({"Records": entries}).encode()
    batches = list(record_batches(chunked(data, [4096] * 100), max_record_bytes=8192))
    assert [e for batch in batches for e in batch.entries] == entries
    assert len(batches) < 100


@pytest.mark.parametrize("size", [999, 1000])
def test_a_record_up_to_the_limit_is_read(size):
    record = b'{"eventName":"' + b"a" * (size - 16) + b'"}'
    assert len(record) == size
    data = b'{"Records":[{"eventName":"before"},' + record + b',{"eventName":"after"}]}'
    assert len(stream_records(chunked(data, [300] * 20), limit=1000)) == 3


@pytest.mark.parametrize("chunk", [100, 700, 5000])
def test_a_record_over_the_limit_is_refused_with_its_index(chunk):
    record = b'{"eventName":"' + b"a" * 1000 + b'"}'
    data = b'{"Records":[{"eventName":"before"},' + record + b',{"eventName":"after"}]}'
    with pytest.raises(StreamError, match="larger than the limit of 1000 bytes") as caught:
        stream_records(chunked(data, [chunk] * 100), limit=1000)
    assert caught.value.index == 1


def test_an_unterminated_huge_string_is_refused_once_past_the_limit():
    consumed = []

    def chunks():
        yield b'{"Records":[{"eventName":"'
        for _ in range(10_000):  # 10 MB if it were all read
            consumed.append(1)
            yield b"A" * 1000

    with pytest.raises(StreamError, match="larger than the limit") as caught:
        stream_records(chunks(), limit=20_000)
    assert caught.value.index == 0
    assert len(consumed) < 30  # refused soon after the limit, not at the end


def test_whitespace_between_records_is_dropped_as_it_arrives():
    def chunks():
        yield b'{"Records":[{"a":1}'
        for _ in range(200):
            yield b" " * 1000
        yield b',   \n\t  '
        for _ in range(200):
            yield b" " * 1000
        yield b'{"b":2}  ]  }'

    assert stream_records(chunks(), limit=5000) == [{"a": 1}, {"b": 2}]


def test_empty_records():
    assert stream_records(iter([b'{ "Records" : [ ] }'])) == []
