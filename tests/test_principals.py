"""The one rule for showing principals: on real records of every identity type, and crafted cross-account ones."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trailsift.principals import SESSION_CHARS, Principal, principal_of, shorten_session


def records_under(root: Path) -> Iterator[dict[str, Any]]:
    """Every record of the JSON (optionally gzipped) documents under ``root``."""
    for path in sorted(root.rglob("*.json*")):
        data = path.read_bytes()
        if path.suffix == ".gz":
            data = gzip.decompress(data)
        document = json.loads(data)
        records = document.get("Records", []) if isinstance(document, dict) else document
        yield from (record for record in records if isinstance(record, dict))


@pytest.fixture(scope="module")
def real_records(shared_cloudtrail: Path) -> list[dict[str, Any]]:
    return list(records_under(shared_cloudtrail))


def first(records: list[dict[str, Any]], **wanted: Any) -> dict[str, Any]:
    """The first record whose userIdentity has the wanted values (``None``: the key is absent)."""
    for record in records:
        identity = record.get("userIdentity")
        if isinstance(identity, dict) and all(identity.get(k) == v for k, v in wanted.items()):
            return record
    raise AssertionError(f"no record with {wanted}")


def shown(record: dict[str, Any]) -> str | None:
    principal = principal_of(record)
    return None if principal is None else principal.shown


# --- real records --------------------------------------------------------------------------------


def test_iam_user_in_its_own_account(real_records: list[dict[str, Any]]) -> None:
    record = first(real_records, arn="arn:aws:iam::070411556318:user/christophe")
    principal = principal_of(record)
    assert principal == Principal("user/christophe", "arn:aws:iam::070411556318:user/christophe", "070411556318")
    assert principal is not None and principal.shown == "user/christophe" and not principal.external


def test_assumed_role_with_a_long_sdk_session(real_records: list[dict[str, Any]]) -> None:
    arn = "arn:aws:sts::307578594326:assumed-role/stratus-red-team-leave-org-role/aws-go-sdk-1722587398902687000"
    principal = principal_of(first(real_records, arn=arn))
    assert principal is not None
    assert principal.stem == "assumed-role/stratus-red-team-leave-org-role"
    assert principal.session == "aws-go-sdk-1722587398902687000"
    assert principal.shown == "assumed-role/stratus-red-team-leave-org-role/aws-go-sdk-1722587398..."
    assert principal.arn == arn


def test_root_federated_user_and_service(real_records: list[dict[str, Any]]) -> None:
    assert shown(first(real_records, type="Root", arn="arn:aws:iam::123456789012:root")) == "root"
    record = first(real_records, arn="arn:aws:sts::742491224508:federated-user/stratus_red_team")
    assert shown(record) == "federated-user/stratus_red_team"
    assert shown(first(real_records, type="AWSService", invokedBy="lambda.amazonaws.com")) == "lambda.amazonaws.com"
    # invokedBy beside an ARN: the principal is the user; the service is shown apart (the body's "invoked by")
    record = first(real_records, arn="arn:aws:iam::123456789:user/user1", invokedBy="cloudformation.amazonaws.com")
    assert shown(record) == "user/user1"


def test_identities_without_an_arn(real_records: list[dict[str, Any]]) -> None:
    assert shown(first(real_records, type="IAMUser", userName="anaya")) == "user/anaya"
    assert shown(first(real_records, type="AWSAccount", accountId="111111111111")) == "account/111111111111"
    assert shown(first(real_records, type="AssumedRole", accountId="11111")) == "assumed-role/asdsda@11111"
    assert shown(first(real_records, type="Root", accountId="redacted")) == "root"
    # a service acting in the account (no type, no ARN): its name, never marked with an account
    record = first(real_records, invokedBy="ec2.amazonaws.com", accountId="123837392027")
    assert shown(record) == "ec2.amazonaws.com"


def test_a_caller_of_another_account_is_marked(real_records: list[dict[str, Any]], events_logs: Path) -> None:
    arn = "arn:aws:sts::123456789012:assumed-role/SomeRole/1641313043312360000"
    record = first(real_records, arn=arn)
    assert record["recipientAccountId"] == "123456789013"
    principal = principal_of(record)
    assert principal is not None and principal.external and principal.account == "123456789012"
    assert principal.shown == "assumed-role/SomeRole/1641313043312360000@123456789012"
    # the bundled invictus sample: its file sits under 218007301253, but bert-jan acts in his own account
    record = first(list(records_under(events_logs)), arn="arn:aws:iam::123837392027:user/bert-jan")
    assert record["recipientAccountId"] == "123837392027" and shown(record) == "user/bert-jan"


def test_every_real_record_gets_a_bounded_form(real_records: list[dict[str, Any]]) -> None:
    kinds = set()
    for record in real_records:
        principal = principal_of(record)
        if principal is None:
            assert not record.get("userIdentity") or not any(
                isinstance(v, str) and v for v in record["userIdentity"].values())
            continue
        kinds.add(principal.shown.split("/")[0])
        assert principal.shown and "arn:" not in principal.shown
        if principal.session is not None:
            assert len(principal.shown.rsplit("/", 1)[-1].split("@")[0]) <= SESSION_CHARS
    assert {"user", "assumed-role", "root", "federated-user", "account"} <= kinds


# --- crafted -------------------------------------------------------------------------------------


def crafted(arn: str | None = None, recipient: str | None = "111122223333", **identity: Any) -> dict[str, Any]:
    record: dict[str, Any] = {"userIdentity": {**identity, **({"arn": arn} if arn else {})}}
    if recipient:
        record["recipientAccountId"] = recipient
    return record


@pytest.mark.parametrize(
    ("arn", "expected"),
    [
        ("arn:aws:iam::111122223333:user/alice", "user/alice"),
        ("arn:aws:iam::111122223333:user/ops/team/alice", "user/alice"),
        ("arn:aws:iam::111122223333:role/service-role/Admin", "role/Admin"),
        ("arn:aws:sts::111122223333:assumed-role/Admin/alice", "assumed-role/Admin/alice"),
        ("arn:aws:iam::111122223333:root", "root"),
        ("arn:aws:iam::444455556666:root", "root@444455556666"),
        ("arn:aws:sts::444455556666:assumed-role/Deploy/ci", "assumed-role/Deploy/ci@444455556666"),
        ("arn:aws:iam::444455556666:role/Deploy", "role/Deploy@444455556666"),
        ("arn:aws-us-gov:iam::444455556666:user/bob", "user/bob@444455556666"),
        ("arn:aws:sts::111122223333:federated-user/bob", "federated-user/bob"),
        ("arn:aws:iam::111122223333:some-new-kind/x/y", "some-new-kind/x/y"),
        ("not an arn", "not an arn"),
    ],
)
def test_short_forms(arn: str, expected: str) -> None:
    assert shown(crafted(arn)) == expected


def test_no_recipient_account_marks_nothing() -> None:
    assert shown(crafted("arn:aws:iam::444455556666:role/Deploy", recipient=None)) == "role/Deploy"


def test_sso_session_names_are_cut_the_same_way_every_time() -> None:
    role = "AWSReservedSSO_AdministratorAccess_0123456789abcdef"
    arn = f"arn:aws:sts::444455556666:assumed-role/{role}/firstname.lastname@example.com"
    principal = principal_of(crafted(arn))
    assert principal is not None
    assert principal.shown == f"assumed-role/{role}/firstname.lastname@ex...@444455556666"
    assert principal.form(12) == f"assumed-role/{role}/firstname...@444455556666"
    assert principal.form(0) == f"assumed-role/{role}@444455556666"
    assert principal.shown.rsplit("@", 1)[1] == "444455556666"  # the account is what follows the last @


@settings(max_examples=150, deadline=None, database=None)
@given(role=st.text(st.characters(min_codepoint=33, max_codepoint=126, blacklist_characters="/"), min_size=1, max_size=64),
       session=st.text(st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=64),
       account=st.sampled_from(["111122223333", "444455556666"]))
def test_role_never_cut_session_bounded(role: str, session: str, account: str) -> None:
    principal = principal_of(crafted(f"arn:aws:sts::{account}:assumed-role/{role}/{session}"))
    assert principal is not None and principal.stem == f"assumed-role/{role}"
    assert principal.shown.startswith(f"assumed-role/{role}/")
    assert principal.shown.endswith("@444455556666") == (account == "444455556666")
    shown_session = principal.shown[len(f"assumed-role/{role}/"):]
    if principal.external:
        shown_session = shown_session.rsplit("@", 1)[0]
    assert shown_session == shorten_session(session)
    assert shown_session == session if len(session) <= SESSION_CHARS else (
        shown_session == session[: SESSION_CHARS - 3] + "...")


@settings(max_examples=150, deadline=None, database=None)
@given(identity=st.dictionaries(
    st.sampled_from(["arn", "type", "invokedBy", "userName", "accountId", "principalId", "sessionContext"]),
    st.none() | st.text(max_size=80) | st.integers() | st.dictionaries(st.text(max_size=5), st.text(max_size=5)),
    max_size=6), recipient=st.none() | st.text(max_size=20))
def test_any_identity_gives_a_principal_or_none(identity: dict[str, Any], recipient: str | None) -> None:
    record: dict[str, Any] = {"userIdentity": identity}
    if recipient is not None:
        record["recipientAccountId"] = recipient
    principal = principal_of(record)
    if principal is not None:
        assert isinstance(principal.shown, str) and principal.shown
        assert len(principal.form(0)) <= len(principal.form(12)) <= len(principal.shown)


def test_not_a_user_identity() -> None:
    assert principal_of({}) is None
    assert principal_of({"userIdentity": "root"}) is None
    assert principal_of({"userIdentity": {}}) is None
    assert shorten_session("x" * 30, 10) == "xxxxxxx..."
