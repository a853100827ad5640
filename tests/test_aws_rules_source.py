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


@pytest.mark.parametrize("spec", ["/trailsift/rules", "https://example.com/rules.json", "s3:/bucket/key", "SSM:/x"])
def test_unknown_spec_is_refused(spec: str) -> None:
    with pytest.raises(ValueError, match="unknown rules location"):
        ConfiguredRules(spec)
