"""trailsift.cli.known_fields: which selector fields no CloudTrail record has, and the field meant instead."""

from __future__ import annotations

import json
from importlib import resources

import pytest

from tests.conftest import REPO, SHARED_CLOUDTRAIL
from trailsift.cli.known_fields import OPEN_OBJECTS, build, field_problem, field_warning, known_fields
from trailsift.rules import default_rules
from trailsift.selectors import CLOUDTRAIL_FIELDS


@pytest.mark.parametrize(
    ("field", "meant"),
    [
        ("eventsource", "eventSource"),
        ("EventName", "eventName"),
        ("errorcode", "errorCode"),
        ("sourceIpAddress", "sourceIPAddress"),
        ("srcIPAddress", "sourceIPAddress"),
        ("event_name", "eventName"),
        ("useridentity.type", "userIdentity.type"),
        ("userIdentity.tpye", "userIdentity.type"),
        ("userIdentity.accountid", "userIdentity.accountId"),
        ("resources.arn", "resources.ARN"),
        ("userIdentity.sessioncontext.attributes.mfaAuthenticated", "userIdentity.sessionContext.attributes.mfaAuthenticated"),
    ],
)
def test_misspelled_field_warns_with_the_field_meant(field: str, meant: str) -> None:
    problem = field_problem(field)
    assert problem is not None and problem.suggestion == meant
    assert problem.text.startswith(f"{field!r} is not a CloudTrail record field")
    assert problem.text.endswith(f"; did you mean {meant!r}?")


def test_the_issue_example_word_for_word() -> None:
    assert field_warning("eventsource") == "'eventsource' is not a CloudTrail record field; did you mean 'eventSource'?"


@pytest.mark.parametrize(
    "field",
    [
        *CLOUDTRAIL_FIELDS,
        "userIdentity.type", "userIdentity.invokedBy", "sourceIPAddress", "awsRegion", "recipientAccountId",
        "resources.ARNPrefix", "resources.accountId", "tlsDetails.tlsVersion", "managementEvent",
        # open objects: keys depend on the service and call, so none of these warn
        "requestParameters.bucketName", "responseElements.ConsoleLogin", "additionalEventData.MFAUsed",
        "requestParameters.anything.at.all", "serviceEventDetails.snapshotId",
        "userIdentity.sessionContext.attributes.mfaAuthenticated", "userIdentity.sessionContext.sessionIssuer.userName",
        "insightDetails.eventName",
    ],
)
def test_fields_records_have_do_not_warn(field: str) -> None:
    assert field_problem(field) is None


def test_unknown_field_without_a_near_one() -> None:
    problem = field_problem("zzz")
    assert problem is not None and problem.suggestion is None
    assert problem.text == "'zzz' is not a CloudTrail record field"
    assert field_warning("userIdentity.zzz") == "'userIdentity.zzz' is not a CloudTrail record field ('zzz' is not a field of 'userIdentity')"


def test_objects_and_paths_below_values_have_no_value() -> None:
    # selectors.md: objects give no value; a path cannot go on below a string
    assert field_warning("userIdentity") == (
        "'userIdentity' is an object, which has no value: name a field inside it such as accessKeyId, accountId, arn, "
        "credentialId"
    )
    assert field_warning("requestParameters") == "'requestParameters' is an object, which has no value: name a field inside it"
    assert field_warning("eventName.x") == "'eventName.x' goes below 'eventName', which holds a value, not an object"


def test_the_default_pack_and_the_documented_examples_are_clean() -> None:
    for rule in default_rules():
        for selector in rule.selectors:
            for fs in selector.field_selectors:
                assert field_problem(fs.field) is None, fs.field
    # docs/selectors.md's extended-field examples
    for field in ("userIdentity.type", "additionalEventData.MFAUsed", "responseElements.ConsoleLogin",
                  "requestParameters.bucketName", "sourceIPAddress", "awsRegion", "recipientAccountId"):
        assert field in (REPO / "docs" / "selectors.md").read_text()
        assert field_problem(field) is None, field


def test_data_file_is_packaged_and_says_how_it_was_made() -> None:
    raw = json.loads(resources.files("trailsift.cli").joinpath("known_fields.json").read_text(encoding="utf-8"))
    assert "python -m trailsift.cli.known_fields" in raw["about"]
    assert tuple(raw["open_objects"]) == OPEN_OBJECTS
    assert set(known_fields().kinds) == set(raw["fields"])


@pytest.mark.skipif(not SHARED_CLOUDTRAIL.is_dir(), reason="the shared corpus is not in a clone")
def test_data_file_is_what_the_corpus_gives() -> None:
    """The committed file is the generator's output on shared/data/cloudtrail (regenerate it when this fails)."""
    committed = json.loads(resources.files("trailsift.cli").joinpath("known_fields.json").read_text(encoding="utf-8"))
    assert build(SHARED_CLOUDTRAIL) == committed


@pytest.mark.skipif(not SHARED_CLOUDTRAIL.is_dir(), reason="the shared corpus is not in a clone")
def test_hand_edited_fixture_misspellings_are_not_known() -> None:
    # the Panther fixtures carry userIdentity.accesKeyId, resources.arn, userIdentity.sessioncontext...
    kinds = known_fields().kinds
    assert "userIdentity.accesKeyId" not in kinds and "resources.arn" not in kinds
    assert "userIdentity.sessioncontext" not in kinds
    assert not any(field.startswith("p_") or field.startswith("@") for field in kinds)
