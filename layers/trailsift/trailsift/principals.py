"""Who acted, shown one way everywhere an alert names a principal (subject, text body, JSON document, chat).

The rule (the README's "Alerts" section says it too):

- Within the event's account (``recipientAccountId``) the short form of the ARN's resource part:
  ``user/alice``, ``role/Admin``, ``assumed-role/Admin/alice``, ``federated-user/bob``. IAM paths are
  left out (``user/ops/alice`` is ``user/alice``): an IAM name is unique in its account whatever its path.
  The root user is ``root``.
- A caller in another account than the event's is marked with ``@`` and its account after the last
  ``@``: ``role/Deploy@111122223333``, ``root@111122223333``. Without a ``recipientAccountId`` nothing is
  marked (there is nothing to compare with).
- Role names are never cut. Session names (``assumed-role/<role>/<session>``, which an SSO user's
  e-mail address or an SDK's timestamp fills) longer than :data:`SESSION_CHARS` characters show their
  first ``SESSION_CHARS - 3`` characters and ``...``.
- An AWS service acting without an ARN of its own is its ``invokedBy`` name (``ec2.amazonaws.com``);
  another account acting without an ARN (``type`` ``AWSAccount``) is ``account/<id>``.
- Without an ARN, the identity's ``type`` and ``userName`` stand in (``user/anaya``,
  ``assumed-role/<issuer>``, ``unknown/<name>``); else its type alone.

Everything read from the record is text an attacker may have written: callers escape what they show
(:mod:`trailsift.text`), and each part read here is bounded (``trailsift.record``'s limits).
Pure: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from trailsift import record as rec

__all__ = ["SESSION_CHARS", "Principal", "principal_of", "shorten_session"]

SESSION_CHARS = 24  # longest session name shown whole; longer ones are cut to 21 characters and "..."
_TYPE_PREFIX = {
    "iamuser": "user",
    "assumedrole": "assumed-role",
    "federateduser": "federated-user",
    "root": "root",
    "unknown": "unknown",
}


@dataclass(frozen=True)
class Principal:
    """A principal as the rule shows it (:attr:`shown`), with what it was made from.

    ``stem`` is the short form without session name or account (``assumed-role/Admin``, ``user/alice``,
    ``root``); ``session`` the whole session name of an assumed role; ``account`` the principal's own
    account (the ARN's, else ``userIdentity.accountId``); ``external`` whether that account is another
    than the event's ``recipientAccountId``; ``arn`` is ``userIdentity.arn`` when the record has one.
    """

    stem: str
    arn: str | None = None
    account: str | None = None
    external: bool = False
    session: str | None = None

    @property
    def shown(self) -> str:
        """``stem``, ``/`` and the session name shortened (:func:`shorten_session`), ``@account`` when external."""
        return self.form(SESSION_CHARS)

    def form(self, session_chars: int) -> str:
        """:attr:`shown` with the session name cut to ``session_chars`` instead (0: left out), for a
        subject short of room; the role name and the account marker stay whole."""
        text = self.stem
        if self.session is not None and session_chars > 0:
            text += "/" + shorten_session(self.session, session_chars)
        return f"{text}@{self.account}" if self.external else text


def shorten_session(session: str, limit: int = SESSION_CHARS) -> str:
    """``session`` whole up to ``limit`` characters, else its first ``limit - 3`` and ``...`` (``limit`` >= 4)."""
    limit = max(limit, 4)
    return session if len(session) <= limit else session[: limit - 3] + "..."


def _resource(arn: str) -> tuple[str | None, str] | None:
    """``(account, resource)`` of an ARN (``arn:<partition>:<service>:<region>:<account>:<resource>``)."""
    parts = arn.split(":", 5)
    if len(parts) != 6 or parts[0] != "arn" or not parts[5]:
        return None
    return (parts[4] or None), parts[5]


def _short(resource: str) -> tuple[str, str | None]:
    """The stem of an ARN's resource part, and the session name of an assumed role."""
    kind, slash, rest = resource.partition("/")
    if not slash:
        return resource, None  # "root", or a resource of a shape not known here: as it is
    if kind == "assumed-role":
        role, slash, session = rest.partition("/")
        if slash and role and session:
            return f"assumed-role/{role}", session
        return resource, None
    if kind in ("user", "role", "group", "federated-user") and rest.rsplit("/", 1)[-1]:
        return f"{kind}/{rest.rsplit('/', 1)[-1]}", None  # the path left out
    return resource, None


def _field(mapping: Any, name: str, limit: int = 256) -> str | None:
    """A non-empty string of at most ``limit`` characters under ``name``, else ``None``."""
    value = rec.nested(mapping, name)
    if not isinstance(value, str) or not value or len(value) > limit:
        return None
    return value


def _without_arn(identity: dict[str, Any], kind: str, account: str | None) -> str | None:
    """The stem of an identity without a usable ARN (see the rule), or ``None`` when nothing names it."""
    if kind == "root":
        return "root"
    if kind == "awsaccount" and account:
        return f"account/{account}"
    service = _field(identity, "invokedBy")
    if service is not None:
        return service
    name = _field(identity, "userName")
    if kind == "assumedrole" and name is None:
        name = _field(rec.nested(identity, "sessionContext", "sessionIssuer"), "userName")
    prefix = _TYPE_PREFIX.get(kind) or _field(identity, "type", 64)
    if prefix and name:
        return f"{prefix}/{name}"
    return prefix


def principal_of(record: dict[str, Any]) -> Principal | None:
    """The principal of ``record`` as the rule above shows it; ``None`` without a ``userIdentity`` object
    or anything in it that names someone."""
    identity = record.get("userIdentity")
    if not isinstance(identity, dict):
        return None
    recipient = rec.field_text(record, "recipientAccountId", 64)
    arn = rec.principal_arn(record)
    parsed = _resource(arn) if arn else None
    kind = (_field(identity, "type", 64) or "").lower()
    account = (parsed[0] if parsed else None) or _field(identity, "accountId", 64)
    session: str | None = None
    if parsed is not None:
        stem, session = _short(parsed[1])
    else:
        found = _without_arn(identity, kind, account) or arn
        if found is None:
            return None
        stem = found
        if stem == _field(identity, "invokedBy"):
            return Principal(stem, arn)  # a service: no account of its own to mark
        if kind == "awsaccount":
            return Principal(stem, arn, account)  # the account is the name already
    external = bool(recipient and account and account != recipient)
    return Principal(stem, arn, account, external, session)
