"""What every trigger shape shares: the parse result, the answer, the field checks and the shape contract.

A shape module (:mod:`~trailsift.triggers.s3_events`, :mod:`~trailsift.triggers.sqs`, ...) reads
its event into a :class:`Trigger` with the helpers here, builds its :class:`Answer` from the
:class:`ObjectResult` of each object, and describes itself to the registry with one :class:`Shape`.
Nothing here knows any particular shape, so adding one changes this module by one
:class:`TriggerShape` member.

The field checks trust nothing: each raises :class:`Malformed` naming the field and what was
expected, never echoing the value (an event's content is written by whoever can write to a bucket
or publish to a topic, and the reasons end up in logs and answers).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any, TypeAlias, TypeGuard
from urllib.parse import unquote_plus

from trailsift.errors import TrailsiftError
from trailsift.text import escape, one_line

JsonObject: TypeAlias = Mapping[str, object]
"""A JSON object from an event, not yet checked: every value must be checked before use."""

MAX_KEY_BYTES = 1024
"""S3's limit on an object key, in UTF-8 bytes."""

_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_TOKEN = re.compile(r"[!-~]{1,1024}")  # ids, version ids, ETags: printable ASCII, no spaces
_SHOWN_CHARS = 64


# --- what a parse yields ------------------------------------------------------------------------


class TriggerShape(str, Enum):
    """How the processor was invoked, which decides how it must answer (see :class:`Shape`)."""

    S3 = "s3"  # S3 event notification {"Records":[{"eventSource":"aws:s3",...}]}
    SQS = "sqs"  # SQS batch whose bodies are S3 notifications, SNS envelopes or CloudTrail SNS messages
    SNS = "sns"  # SNS batch {"Records":[{"EventSource":"aws:sns","Sns":{"Message": ...}}]}
    EVENTBRIDGE = "eventbridge"  # {"source":"aws.s3","detail-type":"Object Created","detail":{...}}
    BATCH = "s3-batch"  # S3 Batch Operations schema 1.0 and 2.0
    STEP_FUNCTIONS = "step-functions"  # Distributed Map batch {"Items":[key,...],"BatchInput":{"bucket":...}}


@dataclass(frozen=True)
class ObjectRef:
    """One S3 object named by a trigger, key decoded, with the message or task that named it."""

    bucket: str
    key: str
    version_id: str | None = None
    size: int | None = None
    etag: str | None = None
    origin: str | None = None  # the SQS messageId or Batch taskId that named this object, else None

    @property
    def location(self) -> str:
        """``s3://bucket/key[?versionId=...]`` for alerts and index rows, with anything that could forge text escaped.

        Control and invisible format characters (newlines, bidi overrides, ...) show as ``\\n``,
        ``\\x1b``, ``\\u202e``; a backslash as ``\\\\`` and a ``?`` in the key as ``\\x3f``, so no
        key can pass for another object or version: distinct objects always have distinct locations.
        """
        text = f"s3://{escape(self.bucket)}/{escape(self.key, also='?')}"
        if self.version_id:
            text += f"?versionId={escape(self.version_id)}"
        return text


@dataclass(frozen=True)
class Rejected:
    """A part of the event that names no object we can read; permanent, since its content will not change."""

    origin: str | None  # SQS messageId / SNS MessageId / Batch taskId, or None
    reason: str  # why this part of the event names no object we can read


@dataclass(frozen=True)
class BatchJob:
    """What an S3 Batch Operations answer must echo: the schema, the invocation and every task to answer.

    Carried by the :class:`Trigger` because the answer is built from the trigger; made and read by
    :mod:`~trailsift.triggers.s3_batch` only.
    """

    schema_version: str
    invocation_id: str
    task_ids: tuple[str, ...]


@dataclass(frozen=True)
class Trigger:
    """Everything one invocation event says: objects to read, parts needing no action, malformed parts."""

    shape: TriggerShape
    objects: tuple[ObjectRef, ...]
    notices: tuple[str, ...] = ()  # parts that carry no object and need no action
    rejected: tuple[Rejected, ...] = ()  # parts that are malformed
    batch: BatchJob | None = None
    duplicates: tuple[tuple[str, str], ...] = ()
    """``(origin, kept origin)`` for each message or task whose object was already named by another one,
    so an SQS failure or a Batch result can be reported for both."""


class UnknownTrigger(TrailsiftError, ValueError):
    """The whole event has no shape we know; the message names what was seen, never a value."""


# --- what an answer is made of ------------------------------------------------------------------


@dataclass(frozen=True)
class ObjectResult:
    """How reading one object of the trigger ended, as far as the answer to Lambda is concerned.

    Made by :mod:`trailsift.invocation` from the pipeline's outcome, so that the shapes need not
    know the pipeline (which itself imports :class:`ObjectRef` from here).
    """

    ref: ObjectRef
    failed: bool
    reason: str = ""  # why it failed, or why it was skipped; empty when it was processed
    retryable: bool = False  # for a failure: whether trying again can help
    records: int = 0
    matches: int = 0  # rule matches, all rules together


@dataclass(frozen=True)
class Answer:
    """How the handler ends for one invocation: the value it returns, or the reasons it must raise.

    ``retry`` non-empty means the whole event must be delivered again (the shape has no way to say
    which part failed): the handler raises, and Lambda retries the event, then hands it to the
    on-failure destination.
    """

    response: dict[str, Any] | None = None
    retry: tuple[str, ...] = ()


def retry_whole_event(trigger: Trigger, results: Sequence[ObjectResult]) -> Answer:
    """The answer of the asynchronous shapes (S3 notifications, SNS, EventBridge): Lambda ignores the
    return value, so there is nothing to return; every failed object and every rejected part of the
    event is a reason to raise, listed failed objects first, in order."""
    problems = [f"{result.ref.location}: {result.reason}" for result in results if result.failed]
    problems += [f"rejected trigger part: {rejected.reason}" for rejected in trigger.rejected]
    return Answer(None, tuple(problems))


# --- collecting a trigger's parts ---------------------------------------------------------------


class Malformed(TrailsiftError):
    """One entry is unusable; caught where the entry is parsed and turned into a :class:`Rejected`."""


class Collector:
    """Accumulates a trigger's parts in order, collapsing repeated objects and notices."""

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str, str | None], ObjectRef] = {}
        self.notices: dict[str, None] = {}
        self.rejected: list[Rejected] = []
        self.duplicates: dict[tuple[str, str], None] = {}

    def add(self, ref: ObjectRef) -> None:
        """An object to read; one already named (same bucket, key and version) is read once."""
        identity = (ref.bucket, ref.key, ref.version_id)
        kept = self.objects.get(identity)
        if kept is None:
            self.objects[identity] = ref
        elif ref.origin is not None and kept.origin is not None and ref.origin != kept.origin:
            self.duplicates[(ref.origin, kept.origin)] = None

    def notice(self, text: str) -> None:
        """A part that names no object and needs no action (said once, however often it appears)."""
        self.notices[text] = None

    def reject(self, part: str | None, reason: str) -> None:
        """A malformed part, with the message or task that carried it (None when it cannot be named)."""
        self.rejected.append(Rejected(part, reason))

    def trigger(self, shape: TriggerShape, batch: BatchJob | None = None) -> Trigger:
        """Everything collected, as the :class:`Trigger` of ``shape``."""
        return Trigger(
            shape,
            tuple(self.objects.values()),
            tuple(self.notices),
            tuple(self.rejected),
            batch,
            tuple(self.duplicates),
        )


# --- the shape contract -------------------------------------------------------------------------

Recognises: TypeAlias = Callable[[JsonObject], bool]
ParseEvent: TypeAlias = Callable[[JsonObject], Trigger]
ParseRecord: TypeAlias = Callable[[JsonObject, Collector, str], None]
AnswerFor: TypeAlias = Callable[[Trigger, Sequence[ObjectResult]], Answer]


@dataclass(frozen=True)
class Shape:
    """One way the processor is invoked: how its event is recognised and read, and how it is answered.

    A shape arrives as a whole event (``recognises`` and ``parse``), as entries of a
    ``{"Records": [...]}`` batch (``record_source`` and ``parse_record``), or both (S3 sends its
    test event whole and its notifications as records); the registry
    (:mod:`~trailsift.triggers.registry`) tries each in turn. ``parse`` may raise
    :class:`UnknownTrigger` for an event it recognises but that cannot be answered;
    ``parse_record`` never raises: a bad record becomes a :class:`Rejected` part.

    ``answer`` builds what the handler returns from the trigger and the result of each object it
    named. ``asynchronous`` shapes are retried whole when the handler raises (by Lambda; a Step Functions
    batch by the state machine's ``Retry``). A shape whose answer cannot say "failed for good" (every one
    but S3 Batch Operations, whose ``PermanentFailure`` carries the reason into its report) has the objects
    that failed for good sent to the failure queue with their reason instead: retried, they could only fail
    again (an SQS message would reach its queue's dead-letter queue with no word of why).
    """

    kind: TriggerShape
    answer: AnswerFor
    asynchronous: bool = False
    reports_permanent_failures: bool = False
    """Whether the answer itself says an object failed for good (S3 Batch Operations' ``PermanentFailure``)."""
    recognises: Recognises | None = None
    parse: ParseEvent | None = None
    record_source: str | None = None
    """The ``eventSource`` (``EventSource`` for SNS) of this shape's entries in a ``Records`` batch."""
    parse_record: ParseRecord | None = None

    def __post_init__(self) -> None:
        if (self.recognises is None) != (self.parse is None):
            raise TypeError(f"shape {self.kind.value}: recognises and parse go together")
        if (self.record_source is None) != (self.parse_record is None):
            raise TypeError(f"shape {self.kind.value}: record_source and parse_record go together")
        if self.parse is None and self.parse_record is None:
            raise TypeError(f"shape {self.kind.value}: no way to read its event")


# --- field checks -------------------------------------------------------------------------------


def as_object(value: object, where: str) -> JsonObject:
    """``value`` if it is a JSON object, else :class:`Malformed`."""
    if not isinstance(value, Mapping):
        raise Malformed(f"{where}: {problem(value, 'an object')}")
    return value


def is_bucket(value: object) -> TypeGuard[str]:
    """Whether ``value`` is a valid S3 bucket name."""
    return isinstance(value, str) and _BUCKET.fullmatch(value) is not None


def bucket_name(value: object, where: str) -> str:
    """A bucket name: 3-63 lowercase letters, digits, dots and hyphens, starting and ending with a letter or digit."""
    if not isinstance(value, str):
        raise Malformed(f"{where}: {problem(value, 'a bucket name')}")
    if not is_bucket(value):
        raise Malformed(
            f"{where}: not a valid S3 bucket name "
            "(3-63 lowercase letters, digits, dots and hyphens, starting and ending with a letter or digit)"
        )
    return value


def object_key(value: object, where: str, *, encoded: bool) -> str:
    """An object key, URL-decoded when the shape encodes it: non-empty, at most 1024 UTF-8 bytes, no NUL."""
    if not isinstance(value, str):
        raise Malformed(f"{where}: {problem(value, 'a string')}")
    key = value
    if encoded:
        try:
            key = unquote_plus(value, errors="strict")
        except UnicodeDecodeError:
            raise Malformed(f"{where}: not valid UTF-8 once URL-decoded") from None
    if not key:
        raise Malformed(f"{where}: empty")
    try:
        size = len(key.encode("utf-8"))
    except UnicodeEncodeError:
        raise Malformed(f"{where}: not valid Unicode (lone surrogate)") from None
    if size > MAX_KEY_BYTES:
        raise Malformed(f"{where}: {size} bytes, S3 keys are at most {MAX_KEY_BYTES}")
    if "\x00" in key:
        raise Malformed(f"{where}: contains a NUL character")
    return key


def object_size(value: object, where: str) -> int | None:
    """An object size: absent or null mean unknown; otherwise a non-negative integer (not a boolean)."""
    if value is None:
        return None
    if type(value) is not int or value < 0:
        raise Malformed(f"{where}: {problem(value, 'a non-negative integer')}")
    return value


def is_token(value: object) -> TypeGuard[str]:
    """Whether ``value`` is an id as AWS makes them: 1-1024 printable ASCII characters, no spaces."""
    return isinstance(value, str) and _TOKEN.fullmatch(value) is not None


def optional_token(value: object, where: str) -> str | None:
    """A version id or ETag: absent, null or empty mean none; otherwise printable ASCII without spaces."""
    if value is None or value == "":
        return None
    if not is_token(value):
        raise Malformed(f"{where}: {problem(value, 'a printable ASCII string of at most 1024 characters')}")
    return value


def record_source(record: object) -> str | None:
    """The ``eventSource`` (or SNS's ``EventSource``) of one entry of a ``Records`` list, if it is a string."""
    if not isinstance(record, Mapping):
        return None
    source = record.get("eventSource", record.get("EventSource"))
    return source if isinstance(source, str) else None


# --- describing untrusted content without echoing it --------------------------------------------


def kind_of(value: object) -> str:
    """What a JSON value is (``a string``, ``null``, ...), never what it says."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, (list, tuple)):
        return "a list"
    if isinstance(value, Mapping):
        return "an object"
    return f"a {type(value).__name__}"


def problem(value: object, expected: str) -> str:
    """``missing, expected ...`` or ``invalid (<kind>), expected ...``."""
    if value is None:
        return f"missing, expected {expected}"
    return f"invalid ({kind_of(value)}), expected {expected}"


def describe_keys(value: object) -> str:
    """The top-level keys of an object (at most 10, each shortened and escaped), or what it is instead."""
    if not isinstance(value, Mapping):
        return f"{kind_of(value)}, not an object"
    names = list(value)
    if not names:
        return "an empty object"
    shown = ", ".join(f"'{shorten(name)}'" if isinstance(name, str) else f"<{kind_of(name)}>" for name in names[:10])
    more = f", ... ({len(names)} keys)" if len(names) > 10 else ""
    return f"top-level keys {shown}{more}"


def shorten(text: str) -> str:
    """Untrusted text fit for a message: escaped, and cut to a few dozen characters."""
    return one_line(text, _SHOWN_CHARS)
