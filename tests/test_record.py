"""trailsift.record: the one definition of a record's principal, and every place that shows one uses it."""

from __future__ import annotations

from typing import Any

import pytest

from trailsift.record import principal
from trailsift.scan import Match

ROOT_ARN = "arn:aws:iam::111122223333:root"
USER_ARN = "arn:aws:iam::111122223333:user/alice"
ROLE_ARN = "arn:aws:sts::111122223333:assumed-role/Admin/alice"


@pytest.mark.parametrize(
    ("record", "expected"),
    [
        ({"userIdentity": {"type": "Root", "arn": ROOT_ARN, "accountId": "111122223333"}}, ROOT_ARN),
        ({"userIdentity": {"type": "IAMUser", "arn": USER_ARN, "userName": "alice"}}, USER_ARN),
        # a role session acting through a service console: the session is who acted, not the service
        ({"userIdentity": {"type": "AssumedRole", "arn": ROLE_ARN, "invokedBy": "ec2.amazonaws.com"}}, ROLE_ARN),
        # a service with no ARN of its own: its name, not the bare type AWSService
        ({"userIdentity": {"type": "AWSService", "invokedBy": "cloudtrail.amazonaws.com"}}, "cloudtrail.amazonaws.com"),
        ({"userIdentity": {"type": "AWSAccount", "accountId": "444455556666"}}, "AWSAccount"),
        ({"userIdentity": {"type": "IAMUser", "arn": "", "invokedBy": 7}}, "IAMUser"),  # empty or not text: next
        ({"eventName": "ConsoleLogin"}, None),  # no userIdentity
        ({"userIdentity": None}, None),
        ({"userIdentity": "root"}, None),  # not an object
    ],
)
def test_principal(record: dict[str, Any], expected: str | None) -> None:
    assert principal(record) == expected
    assert Match("f", 0, record, ("r",)).summary()["principal"] == expected  # replay's tables and JSON lines


def test_nested_reads_a_path_and_answers_none_where_the_shape_is_not_an_object() -> None:
    from trailsift.record import nested

    record = {"userIdentity": {"sessionContext": {"attributes": {"mfaAuthenticated": "true"}}, "arn": ["x"]}}
    assert nested(record, "userIdentity", "sessionContext", "attributes", "mfaAuthenticated") == "true"
    assert nested(record, "userIdentity", "arn") == ["x"]
    assert nested(record, "userIdentity", "arn", "0") is None  # a list is not walked into
    assert nested(record, "missing", "type") is None and nested("text", "a") is None
    assert nested(record) is record
