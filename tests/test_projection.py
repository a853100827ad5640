"""RecordProjection: the fields asked for, per record, as columns; everything else skipped but validated."""

from __future__ import annotations

import doctest
import json

import orjson
import pytest

from trailsift import projection as projection_module
from trailsift.fields import MANY
from trailsift.projection import RecordProjection, raw_records

PROJECTION = RecordProjection(["eventName", "userIdentity.type", "userIdentity.sessionContext.sourceIdentity", "resources.ARN", "f0"])


def column(field: str, records: list[object]) -> list[object]:
    views = PROJECTION.decode(json.dumps({"Records": records}).encode())
    assert views is not None
    return PROJECTION.column(field)(views)


def test_values_missing_and_null() -> None:
    records = [{"eventName": "A"}, {}, {"eventName": None}, {"eventName": "B", "other": {"eventName": "C"}}]
    assert column("eventName", records) == ["A", None, None, "B"]


def test_nested_paths_through_objects_null_and_other_values() -> None:
    records = [
        {"userIdentity": {"type": "Root"}},
        {"userIdentity": None},
        {},
        {"userIdentity": {"sessionContext": {"sourceIdentity": "me"}}},
        {"userIdentity": [{"type": "Root"}]},  # an array on the way: read that record in full
        {"userIdentity": "Root"},  # a scalar on the way
    ]
    assert column("userIdentity.type", records) == ["Root", None, None, None, MANY, MANY]
    assert column("userIdentity.sessionContext.sourceIdentity", records) == [None, None, None, "me", MANY, MANY]


def test_leaves_hold_any_json_value() -> None:
    records = [{"eventName": 12}, {"eventName": True}, {"eventName": ["A", "B"]}, {"eventName": {"x": 1}}]
    assert column("eventName", records) == [12, True, ["A", "B"], {"x": 1}]


def test_aliased_fields_are_read_in_full() -> None:
    records = [{"resources": [{"ARN": "a"}]}, {}, {"resources": {"ARNPrefix": "p"}}, {"resources": {"type": "t"}}]
    assert column("resources.ARN", records) == [MANY, None, MANY, None]


def test_any_key_works_even_one_named_like_an_attribute() -> None:
    assert column("f0", [{"f0": "x", "eventName": "y"}]) == ["x"]
    assert column("eventName", [{"f0": "x", "eventName": "y"}]) == ["y"]


def test_duplicate_keys_keep_the_last_like_orjson() -> None:
    text = b'{"Records":[{"eventName":"A","eventName":"B","userIdentity":{"type":"X","type":"Root"}}]}'
    views = PROJECTION.decode(text)
    assert views is not None
    expected = orjson.loads(text)["Records"][0]
    assert PROJECTION.column("eventName")(views) == [expected["eventName"]] == ["B"]
    assert PROJECTION.column("userIdentity.type")(views) == ["Root"]


@pytest.mark.parametrize(
    "document",
    [
        b"",
        b"[]",
        b'{"Records":{}}',
        b'{"Records":[1]}',
        b'{"Records":[{"eventName":"A"}]',
        b'{"Records":[{"eventName":"A",}]}',
        b'{"logFiles":[]}',
        b'{"Records":[{"eventName":1e999}]}',
        b'{"Records":[{"eventName":"A"}]}x',
    ],
)
def test_documents_it_cannot_read_give_none(document: bytes) -> None:
    assert PROJECTION.decode(document) is None


def test_raw_records_are_each_entry_as_written() -> None:
    text = b'{"Records": [ {"a": 1} , {"b" : [2, {"c": "}"}]} ], "x": 1}'
    assert [orjson.loads(bytes(raw)) for raw in raw_records(text)] == orjson.loads(text)["Records"]


def test_module_examples_run() -> None:
    assert doctest.testmod(projection_module).failed == 0
