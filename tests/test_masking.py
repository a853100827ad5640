"""Masking: credentials never survive, everything else is copied unchanged, and depth is no problem."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trailsift.masking import MASK, Masked, is_sensitive_key, mask_secrets

SESSION_TOKEN = (
    "IQoJb3JpZ2luX2VjEOz//////////wEaCXVzLWVhc3QtMSJHMEUCIDmZ8Rk4xEXAMPLEtokenPART2"
    "FwoGZXIvYXdzEBYaDHVzLWVhc3QtMSJGMEQCIFakeSessionTokenForTests0123456789abcdef=="
)

ASSUME_ROLE_RESPONSE = {
    "credentials": {
        "accessKeyId": "ASIAIOSFODNN7EXAMPLE",
        "sessionToken": SESSION_TOKEN,
        "expiration": "Jan 1, 2024, 1:00:00 AM",
    },
    "assumedRoleUser": {"assumedRoleId": "AROAEXAMPLE:s", "arn": "arn:aws:sts::1:assumed-role/r/s"},
}


def test_assume_role_credentials_lose_the_session_token_only():
    original = copy.deepcopy(ASSUME_ROLE_RESPONSE)
    masked, count = mask_secrets(ASSUME_ROLE_RESPONSE)
    assert count == 1
    assert masked["credentials"] == {
        "accessKeyId": "ASIAIOSFODNN7EXAMPLE",
        "sessionToken": MASK,
        "expiration": "Jan 1, 2024, 1:00:00 AM",
    }
    assert masked["assumedRoleUser"] == original["assumedRoleUser"]
    assert ASSUME_ROLE_RESPONSE == original  # the input is not modified
    assert masked["credentials"] is not ASSUME_ROLE_RESPONSE["credentials"]


@pytest.mark.parametrize(
    "key",
    [
        "sessionToken", "SessionToken", "session_token", "SESSION-TOKEN", "session.token",
        "secretAccessKey", "SecretKey", "password", "newPassword", "OldPassword", "currentPassword",
        "masterUserPassword", "privateKey", "privateKeyMaterial", "keyMaterial", "clientSecret",
        "secret", "SecretString", "secretBinary", "apiKey", "authToken", "accessToken",
        "refreshToken", "idToken", "X-Amz-Security-Token", "userData", "Plaintext", "tokenCode",
        "githubToken", "db_passwd", "sshPassphrase", "webhookSecret",
    ],
)
def test_sensitive_keys(key: str):
    assert is_sensitive_key(key)
    assert mask_secrets({key: "s3cr3t"}) == ({key: MASK}, 1)


@pytest.mark.parametrize(
    "key",
    [
        "accessKeyId", "nextToken", "NextToken", "clientToken", "ClientToken", "clientRequestToken",
        "paginationToken", "httpTokens", "secretId", "SecretARN", "passwordResetRequired",
        "PasswordUpdated", "keyId", "kmsKeyId", "keyName", "tokens", "passwordHash",
    ],
)
def test_harmless_keys_are_kept(key: str):
    assert not is_sensitive_key(key)
    assert mask_secrets({key: "value"}) == ({key: "value"}, 0)


def test_whole_objects_and_lists_under_a_sensitive_key_are_masked_but_flags_are_kept():
    value = {
        "secret": {"inner": ["a", "b"]},
        "passwords": ["x"],  # not a sensitive name ("passwords" does not end in "password")
        "password": [SESSION_TOKEN],
        "forceOverwriteReplicaSecret": True,
        "clientSecret": None,
        "apiKey": 12345,
    }
    masked, count = mask_secrets(value)
    assert masked == {
        "secret": MASK,
        "passwords": ["x"],
        "password": MASK,
        "forceOverwriteReplicaSecret": True,
        "clientSecret": None,
        "apiKey": MASK,
    }
    assert count == 3


def test_strings_that_carry_credential_text_are_masked_anywhere():
    user_data = "#!/bin/sh\nexport AWS_SESSION_TOKEN=abc\n"
    value = {
        "requestParameters": {"commands": ["ls", "echo aws_secret_access_key = wJalr >> ~/.aws/credentials"]},
        "note": user_data,
        "userAgent": "aws-cli/2.0",
    }
    masked, count = mask_secrets(value)
    assert masked == {"requestParameters": {"commands": ["ls", MASK]}, "note": MASK, "userAgent": "aws-cli/2.0"}
    assert count == 2
    assert mask_secrets("Aws_Secret_Access_Key=x") == (MASK, 1)
    assert mask_secrets([1, "two", None, 3.5]) == ([1, "two", None, 3.5], 0)


def test_scalars_tuples_and_odd_keys():
    assert mask_secrets(7) == Masked(7, 0)
    assert mask_secrets(None).value is None
    assert mask_secrets(({"password": "p"}, "x")) == ([{"password": MASK}, "x"], 1)
    assert mask_secrets({1: "one", None: "none"}).value == {1: "one", None: "none"}
    result = mask_secrets({"a": 1})
    assert result.value == {"a": 1} and result.count == 0


def test_key_order_is_preserved():
    value = {"z": 1, "password": "p", "a": {"y": 2, "b": 3}}
    masked = mask_secrets(value).value
    assert list(masked) == ["z", "password", "a"]
    assert list(masked["a"]) == ["y", "b"]


@pytest.mark.parametrize("container", ["dict", "list"])
def test_100k_levels_deep_does_not_recurse(container: str):
    depth = 100_000
    leaf: Any = {"sessionToken": SESSION_TOKEN, "keep": "me"}
    value = leaf
    for _ in range(depth):
        value = {"next": value} if container == "dict" else [value]
    masked, count = mask_secrets(value)
    assert count == 1
    node, source = masked, value
    for _ in range(depth):
        node = node["next"] if container == "dict" else node[0]
        source = source["next"] if container == "dict" else source[0]
    assert node == {"sessionToken": MASK, "keep": "me"}
    assert source["sessionToken"] == SESSION_TOKEN  # the input is not modified


# ---------------------------------------------------------------------------------------------
# property: a secret planted anywhere under a sensitive key never survives

SECRET_PREFIX = "\x00planted-secret:"  # generated text never holds NUL, so only the plant does
PLANT_KEYS = ["sessionToken", "SecretAccessKey", "x-amz-security-token", "masterUserPassword",
              "client_secret", "TokenCode", "SecretString", "userData", "private.key", "dbPasswd"]

# Keys without 'a', 'e' or 'o' cannot spell any sensitive name, so only the plant is masked.
keys = st.text(st.characters(blacklist_characters="aeoAEO\x00", blacklist_categories=("Cs",)), max_size=8)
leaves = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text(st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)), max_size=20)
)
json_values = st.recursive(
    leaves,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(keys, children, max_size=4),
    max_leaves=30,
)


def containers(value: Any) -> list[Any]:
    found, stack = [], [value]
    while stack:
        item = stack.pop()
        if isinstance(item, (dict, list)):
            found.append(item)
            stack.extend(item.values() if isinstance(item, dict) else item)
    return found


def strings(value: Any) -> list[str]:
    found, stack = [], [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            found.extend(k for k in item if isinstance(k, str))
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, str):
            found.append(item)
    return found


@settings(max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(tree=st.dictionaries(keys, json_values, max_size=5), data=st.data())
def test_planted_secret_never_survives(tree: dict[str, Any], data: st.DataObject):
    secret = SECRET_PREFIX + data.draw(st.text(max_size=10), label="secret")
    shape = data.draw(st.sampled_from(["plain", "nested", "list"]), label="shape")
    payload = {"plain": secret, "nested": {"inner": [secret, 1]}, "list": ["x", secret]}[shape]
    key = data.draw(st.sampled_from(PLANT_KEYS), label="key")

    with_secret = copy.deepcopy(tree)
    expected = copy.deepcopy(tree)
    index = data.draw(st.integers(0, len(containers(with_secret)) - 1), label="where")
    target, twin = containers(with_secret)[index], containers(expected)[index]
    if isinstance(target, dict):
        target[key], twin[key] = payload, MASK
    else:
        target.append({key: payload})
        twin.append({key: MASK})
    before = copy.deepcopy(with_secret)

    masked, count = mask_secrets(with_secret)

    # The random tree may hold sensitive keys or marker text of its own: those are masked alike.
    expected_masked, expected_count = mask_secrets(expected)
    assert count == expected_count >= 1
    assert masked == expected_masked  # every other leaf is treated exactly as without the planted secret
    assert not any(secret in text for text in strings(masked))
    assert secret not in json.dumps(masked, ensure_ascii=False)
    assert with_secret == before
