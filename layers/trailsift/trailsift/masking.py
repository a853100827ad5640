"""Mask secrets in CloudTrail records before they leave the function (alerts, logs, index rows).

Records can carry credentials: ``responseElements.credentials.sessionToken`` of AssumeRole and
GetFederationToken, ``masterUserPassword`` of CreateDBInstance, EC2 ``userData``, Secrets Manager
``secretString``... A key is sensitive when, compared case-insensitively with '-', '_' and '.'
removed, it is one of :data:`SENSITIVE_KEYS` or ends in one of :data:`SENSITIVE_SUFFIXES`
(``password``, ``passwd``, ``passphrase``, ``secret``, ``token``) and is not one of the pagination or
idempotency tokens in :data:`HARMLESS_KEYS` (``nextToken``, ``clientToken``, ...).

Decisions:

- ``accessKeyId`` is kept: it names a key, it is not the key, and it is what an analyst pivots on.
- ``tokenCode`` (the MFA one-time code sent to AssumeRole/GetSessionToken) is masked: it is short-lived
  but still an authentication factor.
- ``keyMaterial`` (the private key in a CreateKeyPair response) is masked.
- A sensitive key's value is masked whatever its type (a whole ``credentials``-like object or list
  included), except ``true``/``false``/``null``, which hold no secret (``forceOverwriteReplicaSecret``).
- Any string containing ``aws_secret_access_key`` or ``aws_session_token`` (any case), e.g. a
  credentials file pasted into ``userData`` or a command line, is masked wherever it sits.
- Only values are masked, never keys.
"""

from __future__ import annotations

from typing import Any, NamedTuple

MASK = "***masked***"

SENSITIVE_KEYS = frozenset(
    {
        "sessiontoken",
        "secretaccesskey",
        "secretkey",
        "password",
        "newpassword",
        "oldpassword",
        "currentpassword",
        "privatekey",
        "privatekeymaterial",
        "keymaterial",
        "clientsecret",
        "secret",
        "secretstring",
        "secretbinary",
        "apikey",
        "authtoken",
        "accesstoken",
        "refreshtoken",
        "idtoken",
        "xamzsecuritytoken",
        "userdata",
        "plaintext",
        "tokencode",
    }
)
SENSITIVE_SUFFIXES = ("password", "passwd", "passphrase", "secret", "token")
# Keys ending in "token" that CloudTrail records carry as identifiers, not credentials.
HARMLESS_KEYS = frozenset(
    {
        "nexttoken",
        "clienttoken",
        "clientrequesttoken",
        "paginationtoken",
        "continuationtoken",
        "startingtoken",
        "idempotencytoken",
    }
)
# Text that only appears next to credential material (credentials files, env dumps, CLI history).
SECRET_MARKERS = ("aws_secret_access_key", "aws_session_token")

_STRIP = str.maketrans("", "", "-_.")


class Masked(NamedTuple):
    """A masked copy of a value and how many values were replaced by :data:`MASK`."""

    value: Any
    count: int  # type: ignore[assignment]  # shadows tuple.count; callers read result.count


def is_sensitive_key(key: object) -> bool:
    """True when a value under ``key`` is secret material and must be masked."""
    if not isinstance(key, str):
        return False
    name = key.translate(_STRIP).lower()
    if name in SENSITIVE_KEYS:
        return True
    return name.endswith(SENSITIVE_SUFFIXES) and name not in HARMLESS_KEYS


def _secret_text(value: str) -> bool:
    lowered = value.lower()
    return any(marker in lowered for marker in SECRET_MARKERS)


def mask_secrets(value: object) -> Masked:
    """Copy a JSON-like value with secrets replaced by :data:`MASK`; the input is left untouched.

    Works with an explicit stack, so a record nested 100,000 levels deep does not hit RecursionError.
    Tuples come back as lists; objects that are not JSON-like are kept as they are.
    """
    count = 0

    def leaf(item: Any) -> tuple[Any, bool]:
        """The copy of a scalar (or an empty container to fill later) and whether it must be filled."""
        nonlocal count
        if isinstance(item, dict):
            return {}, True
        if isinstance(item, (list, tuple)):
            return [], True
        if isinstance(item, str) and _secret_text(item):
            count += 1
            return MASK, False
        return item, False

    root, fill = leaf(value)
    stack: list[tuple[Any, Any]] = [(value, root)] if fill else []
    while stack:
        source, target = stack.pop()
        if isinstance(source, dict):
            for key, item in source.items():
                if item is not None and not isinstance(item, bool) and is_sensitive_key(key):
                    target[key] = MASK
                    count += 1
                    continue
                copy, fill = leaf(item)
                target[key] = copy
                if fill:
                    stack.append((item, copy))
        else:
            for item in source:
                copy, fill = leaf(item)
                target.append(copy)
                if fill:
                    stack.append((item, copy))
    return Masked(root, count)
