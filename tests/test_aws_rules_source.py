"""trailsift.aws.rules_source: the function's rules from the default pack, an SSM parameter or an S3 object."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from trailsift.aws.rules_source import ConfiguredRules
from trailsift.rules import RulesError, Severity, default_rules

PARAMETER = "/trailsift/rules"
BUCKET = "trailsift-rules-bucket"

STOP_LOGGING = {"eventName": "StopLogging", "eventSource": "cloudtrail.amazonaws.com"}
DELETE_BUCKET = {"eventName": "DeleteBucket", "eventSource": "s3.amazonaws.com"}

RULES_DOCUMENT = {
    "rules": [
        {
            "name": "trail-stopped",
            "severity": "critical",
            "destinations": ["alert"],
            "selectors": [
                {"Name": "stop", "FieldSelectors": [{"Field": "eventName", "Equals": ["StopLogging"]}]}
            ],
        }
    ]
}

RULES_YAML = """\
# comments are why people write YAML
rules:
  - name: bucket-deleted
    severity: low
    destinations: [index]
    selectors:
      - Name: delete
        FieldSelectors:
          - Field: eventName
            Equals: [DeleteBucket]
"""

SELECTORS = [
    {"Name": "trail-stops", "FieldSelectors": [{"Field": "eventName", "Equals": ["StopLogging"]}]},
    {"Name": "bucket-deletes", "FieldSelectors": [{"Field": "eventName", "StartsWith": ["DeleteB"]}]},
]


@pytest.fixture
def ssm(aws: Any) -> Any:
    return boto3.client("ssm", region_name="us-east-1")


@pytest.fixture
def no_parameter_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    """Powertools reads this on every get: 0 means every get reaches SSM/S3."""
    monkeypatch.setenv("POWERTOOLS_PARAMETERS_MAX_AGE", "0")


def _put(ssm: Any, text: str) -> None:
    ssm.put_parameter(Name=PARAMETER, Value=text, Type="String", Overwrite=True)


def test_empty_spec_is_the_default_pack() -> None:
    source = ConfiguredRules("")
    rules, engine = source.get()
    assert rules.names == default_rules().names
    assert len(rules) > 5
    assert "cloudtrail-changes" in engine.match(STOP_LOGGING)
    assert source.get() == (rules, engine)
    assert source.get()[1] is engine


def test_ssm_json_document(ssm: Any) -> None:
    _put(ssm, json.dumps(RULES_DOCUMENT))
    rules, engine = ConfiguredRules(f"ssm:{PARAMETER}", ssm_client=ssm).get()
    assert rules.names == ("trail-stopped",)
    assert rules.get("trail-stopped").severity is Severity.CRITICAL
    assert rules.source == f"ssm:{PARAMETER}"
    assert engine.match(STOP_LOGGING) == ("trail-stopped",)
    assert not engine.match(DELETE_BUCKET)


def test_ssm_yaml_document_with_a_default_client(ssm: Any) -> None:
    _put(ssm, RULES_YAML)
    rules, engine = ConfiguredRules(f"ssm:{PARAMETER}").get()  # the provider builds its own client
    assert rules.names == ("bucket-deleted",)
    assert rules.get("bucket-deleted").severity is Severity.LOW
    assert engine.match(DELETE_BUCKET) == ("bucket-deleted",)
    assert not engine.match(STOP_LOGGING)


def test_ssm_selector_list_gives_one_rule_per_selector(ssm: Any) -> None:
    _put(ssm, json.dumps(SELECTORS))
    rules, engine = ConfiguredRules(f"ssm:{PARAMETER}", ssm_client=ssm).get()
    assert rules.names == ("trail-stops", "bucket-deletes")
    assert all(len(rule.selectors) == 1 for rule in rules)
    assert engine.match(STOP_LOGGING) == ("trail-stops",)
    assert engine.match(DELETE_BUCKET) == ("bucket-deletes",)


def test_s3_object_document(aws: Any) -> None:
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket=BUCKET)
    s3.put_object(Bucket=BUCKET, Key="config/rules v2.json", Body=json.dumps(RULES_DOCUMENT).encode())
    rules, engine = ConfiguredRules(f"s3://{BUCKET}/config/rules v2.json", s3_client=s3).get()
    assert rules.names == ("trail-stopped",)
    assert engine.match(STOP_LOGGING) == ("trail-stopped",)


def test_s3_object_with_a_default_client(aws: Any) -> None:
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket=BUCKET)
    s3.put_object(Bucket=BUCKET, Key="rules.yaml", Body=RULES_YAML.encode())
    rules, _ = ConfiguredRules(f"s3://{BUCKET}/rules.yaml").get()
    assert rules.names == ("bucket-deleted",)


def test_invalid_document_raises_with_the_validation_message(ssm: Any) -> None:
    bad = {"rules": [{"name": "r", "selectors": [{"FieldSelectors": [{"Field": "eventName", "Matches": ["x"]}]}]}]}
    _put(ssm, json.dumps(bad))
    source = ConfiguredRules(f"ssm:{PARAMETER}", ssm_client=ssm)  # constructing reads nothing
    with pytest.raises(RulesError) as caught:
        source.get()
    assert "unknown key 'Matches'" in str(caught.value)
    assert "operators are" in str(caught.value)


def test_unparseable_document_raises_rules_error(ssm: Any) -> None:
    _put(ssm, '{"rules": [')
    with pytest.raises(RulesError, match=f"ssm:{PARAMETER}: not valid"):
        ConfiguredRules(f"ssm:{PARAMETER}", ssm_client=ssm).get()


def test_engine_is_rebuilt_only_when_the_text_changes(ssm: Any, no_parameter_cache: None) -> None:
    _put(ssm, json.dumps(RULES_DOCUMENT))
    source = ConfiguredRules(f"ssm:{PARAMETER}", ssm_client=ssm)
    first = source.get()
    again = source.get()  # fetched again (no cache), same text: same objects
    assert again is first
    assert again[1] is first[1]

    _put(ssm, json.dumps(SELECTORS))
    changed = source.get()
    assert changed is not first
    assert changed[0].names == ("trail-stops", "bucket-deletes")
    assert changed[1].match(DELETE_BUCKET) == ("bucket-deletes",)
    assert source.get() is changed

    _put(ssm, json.dumps({"rules": [{"name": "bad", "selectors": [{"FieldSelectors": []}]}]}))
    with pytest.raises(RulesError):
        source.get()
    _put(ssm, json.dumps(SELECTORS))  # back to the text in use: the engine already built is kept
    assert source.get() is changed


def test_parameter_cache_keeps_the_old_rules_until_it_expires(ssm: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POWERTOOLS_PARAMETERS_MAX_AGE", "300")
    _put(ssm, json.dumps(RULES_DOCUMENT))
    source = ConfiguredRules(f"ssm:{PARAMETER}", ssm_client=ssm)
    first = source.get()
    _put(ssm, json.dumps(SELECTORS))
    assert source.get() is first  # still cached: no new fetch, no rebuild
    monkeypatch.setenv("POWERTOOLS_PARAMETERS_MAX_AGE", "0")
    source._provider.clear_cache()  # type: ignore[union-attr]
    assert source.get()[0].names == ("trail-stops", "bucket-deletes")


@pytest.mark.parametrize("spec", ["/trailsift/rules", "https://example.com/rules.json", "s3:/bucket/key", "SSM:/x", "cis"])
def test_unknown_spec_is_refused(spec: str) -> None:
    with pytest.raises(ValueError, match="unknown rules source .*expected a built-in pack .*default, ssm"):
        ConfiguredRules(spec)


@pytest.mark.parametrize(
    ("spec", "message"),
    [("ssm:/a,s3://bucket/key", "one rules document at most"), ("ssm,ssm", "named twice")],
)
def test_two_documents_or_a_pack_twice_are_refused(spec: str, message: str) -> None:
    with pytest.raises(RulesError, match=message):
        ConfiguredRules(spec)


def test_packs_by_name_combined_in_order() -> None:
    ssm_only, _ = ConfiguredRules("ssm").get()
    assert ssm_only.names and all(name.startswith("ssm-") for name in ssm_only.names)
    rules, engine = ConfiguredRules(" default , ssm ,").get()  # as the template joins it: spaces and empties ignored
    assert rules.names == default_rules().names + ssm_only.names
    assert engine.match(STOP_LOGGING) == ("cloudtrail-changes",)
    assert engine.match({"eventSource": "ssm.amazonaws.com", "eventName": "ModifyDocumentPermission"}) == ("ssm-document-shared",)
    assert ConfiguredRules(",").get()[0].names == default_rules().names  # the template's join of two empties


def test_packs_and_a_document_combined(ssm: Any) -> None:
    _put(ssm, json.dumps(RULES_DOCUMENT))
    rules, engine = ConfiguredRules(f"ssm,ssm:{PARAMETER}", ssm_client=ssm).get()
    assert rules.names[-1] == "trail-stopped" and rules.names[0].startswith("ssm-")
    assert engine.match(STOP_LOGGING) == ("trail-stopped",)
    # A document alone still replaces the default pack, as it did before packs could be named.
    assert ConfiguredRules(f",ssm:{PARAMETER}", ssm_client=ssm).get()[0].names == ("trail-stopped",)


def test_a_document_reusing_a_pack_rule_name_is_refused_naming_both(ssm: Any) -> None:
    clash = {"rules": [{**RULES_DOCUMENT["rules"][0], "name": "cloudtrail-changes"}]}  # type: ignore[dict-item]
    _put(ssm, json.dumps(clash))
    with pytest.raises(RulesError, match=f"'cloudtrail-changes' is in both trailsift:rules/default.json and ssm:{PARAMETER}"):
        ConfiguredRules(f"default,ssm:{PARAMETER}", ssm_client=ssm).get()


def test_the_function_loads_packs_without_their_test_cases() -> None:
    """Cases are for `trailsift test`; the function's cold start parses none of them."""
    rules, _ = ConfiguredRules("default,ssm").get()
    assert all(rule.tests == () for rule in rules)
    assert default_rules().rules[0].tests  # the pack does carry them
    assert [r.selectors for r in ConfiguredRules("").get()[0]] == [r.selectors for r in default_rules()]
