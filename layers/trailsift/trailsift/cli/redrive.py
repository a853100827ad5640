"""``trailsift redrive``: send dead letters back to the function, deleting what was accepted.

The failure queue holds three kinds of message (the body is JSON text):

- Lambda's on-failure destination record (``requestContext.condition`` RetriesExhausted or
  EventAgeExceeded): the original event is ``requestPayload``, the last error ``responsePayload``;
- trailsift's own dead letter for a file that cannot succeed as it is: the same shape with the
  condition ``PermanentFailure`` and an S3 notification naming that one object;
- the EventBridge rule's dead letter: the body is the EventBridge event itself, the error in the
  message attributes (``ERROR_CODE``, ``ERROR_MESSAGE``, ``EXHAUSTED_RETRY_CONDITION``).

In IntakeMode Queue, the intake queue's dead-letter queue (``--intake``) holds a fourth: a message
SQS moved there after ``maxReceiveCount`` deliveries, its body as S3 or the EventBridge rule sent it
(an S3 notification, an EventBridge event). Both are events the function takes directly, so they are
redriven like the others, by invoking the function with the body, not by sending it back to the
intake queue: a file that fails again is then retried and kept by Lambda's on-failure destination
beside the other dead letters (or dead-lettered by the function with its reason), where this command
finds it, instead of going round the intake queue for hours more. Why it failed is not in the
message (SQS keeps none) but in the function's log. To move a whole dead-letter queue back into the
intake queue instead, batched and within QueueMaximumConcurrency, SQS does it on its own:
``aws sqs start-message-move-task --source-arn <the dead-letter queue's ARN>``.

Anything else is an "unknown message": reported and left in the queue. :func:`redrive` hands each
payload to a *target* (a callable raising on failure: :func:`lambda_target` invokes the deployed
function asynchronously, :func:`handler_target` runs an ``app.py`` in this process) and deletes the
message only when the target accepted it. Messages it keeps stay invisible for the visibility
timeout (so one run never retries them twice), then come back for the next run; a dry run shows
what it would do and makes every message visible again at once.

boto3 is imported only when the command runs.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import IO, TYPE_CHECKING, Any

from trailsift.aws.clients import new_client
from trailsift.cli.command import CommandError, ExitCode, endpoint_url, positive_int
from trailsift.cli.report import cell
from trailsift.cli.terminal import MIN_WIDTH, terminal_width, wrap_lines
from trailsift.cli.session import aws_errors, session, stack_outputs
from trailsift.errors import TrailsiftError
from trailsift.text import for_terminal
from trailsift.triggers import UnknownTrigger, parse_trigger

if TYPE_CHECKING:
    from mypy_boto3_lambda import LambdaClient
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_sqs.type_defs import ChangeMessageVisibilityBatchRequestEntryTypeDef

QUEUE_OUTPUT = "FailureQueueUrl"
INTAKE_DLQ_OUTPUT = "IntakeDeadLetterQueueUrl"
FUNCTION_OUTPUT = "ProcessorFunctionName"
BATCH = 10  # SQS's largest receive
VISIBILITY_TIMEOUT = 60  # seconds a received message stays hidden: a crashed run leaves it for the next one
EMPTY_POLLS = 3  # short polling samples a few SQS hosts: a small queue can answer empty once in a while
TEXT_CHARS = 300  # longest error or reason shown

REDRIVEN, KEPT, UNKNOWN, LISTED = "redriven", "kept", "unknown message", "dry run"

Target = Callable[[dict[str, Any]], None]


class RedriveFailed(TrailsiftError):
    """The target refused one payload; its message is kept."""


class StopRedrive(TrailsiftError):
    """The target itself is unusable (no such function, no permission...): keep the message and stop the run."""


@dataclass(frozen=True)
class Outcome:
    """What happened to one message of the failure queue."""

    message_id: str
    status: str  # REDRIVEN, KEPT, UNKNOWN or LISTED
    condition: str | None = None
    error: str | None = None  # the failure the message records, "errorType: errorMessage"
    objects: tuple[str, ...] = ()  # s3://bucket/key of each object the payload names
    reason: str | None = None  # why it was kept (or, in a dry run, would be)

    @property
    def redriven(self) -> bool:
        return self.status == REDRIVEN

    @property
    def kept(self) -> bool:
        """Left in the queue by a real run (a dry run keeps everything by design)."""
        return self.status in (KEPT, UNKNOWN)

    @property
    def text(self) -> str:
        """The outcome as the table shows it: redriven / kept: reason / unknown message / dry run."""
        if self.status == KEPT:
            return f"kept: {self.reason}"
        if self.status == UNKNOWN:
            return f"unknown message: {self.reason}" if self.reason else UNKNOWN
        if self.status == LISTED:
            return f"dry run: would keep: {self.reason}" if self.reason else "dry run: would redrive"
        return self.status

    def as_dict(self) -> dict[str, Any]:
        return {
            "messageId": self.message_id,
            "condition": self.condition,
            "error": self.error,
            "objects": list(self.objects),
            "outcome": self.status,
            "reason": self.reason,
        }


# --- reading one message --------------------------------------------------------------------------


def _is_destination_record(body: Mapping[str, Any]) -> bool:
    context = body.get("requestContext")
    return isinstance(context, Mapping) and "condition" in context and isinstance(body.get("requestPayload"), Mapping)


def _is_eventbridge_event(body: Mapping[str, Any]) -> bool:
    return (
        body.get("source") == "aws.s3"
        and isinstance(body.get("detail-type"), str)
        and isinstance(body.get("detail"), Mapping)
    )


def _is_s3_notification(body: Mapping[str, Any]) -> bool:
    """S3's event notification, as S3 sends it to the intake queue: ``Records`` of ``aws:s3`` only."""
    records = body.get("Records")
    return (
        isinstance(records, list)
        and bool(records)
        and all(isinstance(record, Mapping) and record.get("eventSource") == "aws:s3" for record in records)
    )


def payload_of(body: object) -> dict[str, Any] | None:
    """The event to send the function again, or ``None`` when ``body`` is no dead letter we know.

    A Lambda on-failure record (trailsift's own ``PermanentFailure`` records have the same shape)
    gives its ``requestPayload``; an EventBridge dead letter (from the rule, or the intake queue's) and
    an S3 notification (the intake queue's) are themselves the event.
    """
    if not isinstance(body, Mapping):
        return None
    if _is_destination_record(body):
        return dict(body["requestPayload"])
    if _is_eventbridge_event(body) or _is_s3_notification(body):
        return dict(body)
    return None


def clean(value: object, limit: int = TEXT_CHARS) -> str | None:
    """Untrusted text fit for one line: control characters neutralized, at most ``limit`` characters."""
    if value is None:
        return None
    return for_terminal(value if isinstance(value, str) else json.dumps(value, default=str), limit)


def _attribute(attributes: Mapping[str, Any] | None, name: str) -> str | None:
    """A message attribute as receive_message gives it (``{"StringValue": ...}``) or as a plain string."""
    value = (attributes or {}).get(name)
    if isinstance(value, Mapping):
        value = value.get("StringValue")
    return value if isinstance(value, str) and value else None


def _is_intake_dead_letter(body: Mapping[str, Any], attributes: Mapping[str, Any] | None) -> bool:
    """A message the intake queue's redrive policy moved: an S3 notification (only the intake queue
    receives those bare), or an EventBridge event that SQS says came from another queue (the rule's own
    dead letters carry EventBridge's error attributes instead)."""
    if _is_s3_notification(body):
        return True
    return _attribute(attributes, "DeadLetterQueueSourceArn") is not None and _attribute(attributes, "ERROR_CODE") is None


def _destination_error(body: Mapping[str, Any]) -> str | None:
    response = body.get("responsePayload")
    if isinstance(response, Mapping):
        kind, message = response.get("errorType"), response.get("errorMessage")
        if kind or message:
            return ": ".join(str(part) for part in (kind, message) if part)
    elif response is not None:
        return response if isinstance(response, str) else json.dumps(response, default=str)
    context = body.get("responseContext")
    if isinstance(context, Mapping) and context.get("functionError"):
        return f"function error ({context['functionError']})"
    return None


def describe(body: object, attributes: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """What one message says: ``shape``, ``condition``, ``error``, ``objects``, ``payload`` and ``problem``.

    ``shape`` is ``lambda`` (on-failure destination), ``trailsift`` (its own ``PermanentFailure``),
    ``eventbridge`` (rule dead letter), ``intake`` (moved by the intake queue's redrive policy:
    condition ``maxReceiveCount``) or ``None`` (unknown). ``problem`` says why the payload cannot
    be redriven as it is (``None`` when it can). ``attributes``: the message's SQS message attributes
    and system attributes (they carry the EventBridge dead letter's error, and the deliveries of an
    intake dead letter). Every text is cleaned for display.
    """
    info: dict[str, Any] = {
        "shape": None, "condition": None, "error": None, "objects": [], "payload": None, "problem": None,
    }
    payload = payload_of(body)
    if payload is None:
        info["problem"] = "not a failure record this tool knows"
        return info
    assert isinstance(body, Mapping)
    if _is_destination_record(body):
        condition = body["requestContext"].get("condition")
        info["shape"] = "trailsift" if condition == "PermanentFailure" else "lambda"
        info["condition"] = clean(condition, 40)
        info["error"] = clean(_destination_error(body))
    elif _is_intake_dead_letter(body, attributes):
        info["shape"], info["condition"] = "intake", "maxReceiveCount"
        deliveries = _attribute(attributes, "ApproximateReceiveCount")
        if deliveries is not None and deliveries.isdigit():
            info["error"] = f"{int(deliveries)} deliveries without success (the function's log says why)"
    else:
        info["shape"] = "eventbridge"
        exhausted = _attribute(attributes, "EXHAUSTED_RETRY_CONDITION")
        info["condition"] = clean(f"EventBridge {exhausted}" if exhausted else "EventBridge", 60)
        code, message = _attribute(attributes, "ERROR_CODE"), _attribute(attributes, "ERROR_MESSAGE")
        info["error"] = clean(": ".join(part for part in (code, message) if part) or None)
    info["payload"] = payload
    try:
        trigger = parse_trigger(payload)
    except UnknownTrigger as exc:
        info["problem"] = clean(f"the function would refuse it: {exc}")
        return info
    info["objects"] = [clean(ref.location, 2000) for ref in trigger.objects]
    if not trigger.objects and trigger.rejected:
        info["problem"] = clean(f"names no readable object: {trigger.rejected[0].reason}")
    return info


# --- the run --------------------------------------------------------------------------------------


def redrive(
    queue_client: SQSClient,
    queue_url: str,
    target: Target,
    *,
    max_messages: int | None = None,
    dry_run: bool = False,
    visibility_timeout: int = VISIBILITY_TIMEOUT,
    report: Callable[[Outcome], None] | None = None,
) -> list[Outcome]:
    """Hand each message's payload to ``target`` and delete the messages it accepted; one :class:`Outcome` each.

    Stops when the queue has nothing more to give, after ``max_messages`` messages, or when the
    target raises :class:`StopRedrive`. A message whose objects were all redriven earlier in this
    run (the function dead-lettered them again) is kept, so a run never loops. ``report`` is called
    with each outcome as it is decided. SQS errors propagate; messages received but not yet handled
    are made visible again first.
    """
    outcomes: list[Outcome] = []
    seen: dict[str, str] = {}  # message id -> latest receipt handle
    redriven_objects: set[str] = set()
    pending: dict[str, str] = {}  # received, not handled yet: visible again if the run stops early
    idle = 0
    try:
        while max_messages is None or len(outcomes) < max_messages:
            want = BATCH if max_messages is None else min(BATCH, max_messages - len(outcomes))
            messages = queue_client.receive_message(
                QueueUrl=queue_url,
                MaxNumberOfMessages=want,
                WaitTimeSeconds=0,
                VisibilityTimeout=visibility_timeout,
                MessageAttributeNames=["All"],
                MessageSystemAttributeNames=["ApproximateReceiveCount", "DeadLetterQueueSourceArn"],
            ).get("Messages", [])
            fresh = []
            for message in messages:
                if message["MessageId"] in seen:  # back after its timeout in a long run: not retried twice
                    seen[message["MessageId"]] = message["ReceiptHandle"]
                else:
                    seen[message["MessageId"]] = message["ReceiptHandle"]
                    pending[message["MessageId"]] = message["ReceiptHandle"]
                    fresh.append(message)
            if not fresh:
                idle += 1
                if idle >= EMPTY_POLLS:
                    break
                continue
            idle = 0
            for message in fresh:
                outcome, stop = _handle(queue_client, queue_url, message, target, dry_run, redriven_objects)
                if not stop:
                    del pending[message["MessageId"]]
                outcomes.append(outcome)
                if report is not None:
                    report(outcome)
                if stop:
                    return outcomes
    finally:
        handles = list(seen.values()) if dry_run else list(pending.values())
        _make_visible(queue_client, queue_url, handles)
    return outcomes


def _handle(
    queue_client: SQSClient,
    queue_url: str,
    message: Mapping[str, Any],
    target: Target,
    dry_run: bool,
    redriven_objects: set[str],
) -> tuple[Outcome, bool]:
    """One message: its outcome, and whether the run must stop."""
    message_id = message["MessageId"]
    try:
        body = json.loads(message.get("Body") or "")
    except (ValueError, RecursionError):
        return Outcome(message_id, UNKNOWN, reason="not JSON"), False
    info = describe(body, {**message.get("MessageAttributes", {}), **message.get("Attributes", {})})  # SQS's own win
    facts = {"condition": info["condition"], "error": info["error"], "objects": tuple(info["objects"])}
    if info["payload"] is None:
        return Outcome(message_id, UNKNOWN, **facts), False
    problem = info["problem"]
    objects = set(info["objects"])
    if problem is None and objects and objects <= redriven_objects:
        problem = "its objects were already redriven in this run (a duplicate, or dead-lettered again)"
    if dry_run:
        return Outcome(message_id, LISTED, reason=problem, **facts), False
    if problem is not None:
        return Outcome(message_id, KEPT, reason=problem, **facts), False
    try:
        target(info["payload"])
    except StopRedrive as exc:
        return Outcome(message_id, KEPT, reason=clean(f"run stopped: {exc}"), **facts), True
    except Exception as exc:  # the target failed on this payload: keep it for another run
        return Outcome(message_id, KEPT, reason=clean(_exception_text(exc)), **facts), False
    redriven_objects.update(objects)
    try:
        queue_client.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
    except Exception as exc:  # accepted, but it will come back: say so rather than claim success
        reason = clean(f"redriven, but deleting the message failed: {_exception_text(exc)}")
        return Outcome(message_id, KEPT, reason=reason, **facts), False
    return Outcome(message_id, REDRIVEN, **facts), False


def _exception_text(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _make_visible(queue_client: SQSClient, queue_url: str, handles: list[str]) -> None:
    """Best effort: these messages may be received again at once (an error here must not hide the run's own)."""
    for start in range(0, len(handles), BATCH):
        entries: list[ChangeMessageVisibilityBatchRequestEntryTypeDef] = [
            {"Id": str(number), "ReceiptHandle": handle, "VisibilityTimeout": 0}
            for number, handle in enumerate(handles[start : start + BATCH])
        ]
        with contextlib.suppress(Exception):
            queue_client.change_message_visibility_batch(QueueUrl=queue_url, Entries=entries)


# --- targets --------------------------------------------------------------------------------------

# Invoke errors that concern the payload rather than the function: only that message is kept.
_PAYLOAD_ERRORS = ("RequestTooLargeException", "InvalidRequestContentException")


def lambda_target(lambda_client: LambdaClient, function_name: str) -> Target:
    """Invoke ``function_name`` asynchronously (``InvocationType="Event"``); accepted means a 202 answer.

    The function's own retries and on-failure destination apply again, as for any invocation.
    """
    from botocore.exceptions import BotoCoreError, ClientError

    def invoke(payload: dict[str, Any]) -> None:
        try:
            response = lambda_client.invoke(
                FunctionName=function_name,
                InvocationType="Event",
                Payload=json.dumps(payload, separators=(",", ":")).encode(),
            )
        except ClientError as exc:
            error = exc.response.get("Error", {})
            code, text = error.get("Code", ""), error.get("Message", str(exc))
            if code in _PAYLOAD_ERRORS:
                raise RedriveFailed(f"{code}: {text}") from None
            raise StopRedrive(f"invoking {function_name}: {code}: {text}") from None
        except BotoCoreError as exc:
            raise StopRedrive(f"invoking {function_name}: {exc}") from None
        status = response.get("StatusCode")
        if status != 202:
            raise RedriveFailed(f"Lambda answered {status}, not 202 (accepted)")

    return invoke


def handler_target(module: ModuleType, out: IO[str] | None = None) -> Target:
    """Run ``module.handler`` (an ``app.py`` loaded with :func:`trailsift.cli.local.load_handler`) here, synchronously.

    It succeeds when the handler returns without reporting a failed item; what it prints (logs,
    metrics) goes to ``out`` (default: stderr), keeping stdout for the command's own lines. A
    configuration error stops the run: every message would fail the same way.
    """
    from trailsift.cli.local import LambdaContext
    from trailsift.settings import SettingsError

    def invoke(payload: dict[str, Any]) -> None:
        try:
            with contextlib.redirect_stdout(out or sys.stderr):
                response = module.handler(payload, LambdaContext())
        except SettingsError as exc:
            raise StopRedrive(f"the function's configuration: {exc}") from None
        failed = _failed_items(response)
        if failed:
            raise RedriveFailed(failed)

    return invoke


def _failed_items(response: object) -> str | None:
    """What an SQS-batch or S3 Batch Operations answer reports as failed (those answer instead of raising)."""
    if not isinstance(response, Mapping):
        return None
    items = response.get("batchItemFailures")
    if items:
        return f"the function reported {len(items)} failed SQS message(s)"
    results = response.get("results")
    if isinstance(results, list):
        failed = [r for r in results if isinstance(r, Mapping) and r.get("resultCode") != "Succeeded"]
        if failed:
            return f"{failed[0].get('resultCode')}: {failed[0].get('resultString')}"
    return None


# --- the command ----------------------------------------------------------------------------------


def message_lines(outcome: Outcome, width: int) -> list[str]:
    """One message as lines that fit ``width`` (80 columns at least): its id, condition and outcome, then,
    indented, the error and each object it names (event text is escaped, :func:`cell`; long values folded)."""
    head = f"{outcome.message_id}  {outcome.condition or '-'}  {outcome.text}"
    lines = wrap_lines([cell(head, 0)], width)
    if outcome.error:
        lines += wrap_lines([f"    error: {cell(outcome.error, 0)}"], width)
    for name in outcome.objects:
        lines += wrap_lines([f"    object: {cell(name, 0)}"], width)
    return lines


def jsonl_line(outcome: Outcome) -> str:
    """One JSON object per message, ASCII only (any terminal or pipe takes it)."""
    return json.dumps(outcome.as_dict(), ensure_ascii=True) + "\n"


def summary_line(outcomes: list[Outcome], dry_run: bool) -> str:
    if dry_run:
        return f"dry run: {len(outcomes)} messages listed; nothing invoked or deleted\n"
    counts = {status: sum(1 for o in outcomes if o.status == status) for status in (REDRIVEN, KEPT, UNKNOWN)}
    return f"{counts[REDRIVEN]} redriven, {counts[KEPT]} kept, {counts[UNKNOWN]} unknown\n"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``redrive`` command's options."""
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument(
        "--stack", metavar="STACK", help=f"a deployed stack (its {QUEUE_OUTPUT} and {FUNCTION_OUTPUT} outputs)"
    )
    where.add_argument(
        "--queue-url", metavar="URL",
        help="the failure queue, or the intake queue's dead-letter queue (with --function or --handler)",
    )
    parser.add_argument(
        "--intake", action="store_true",
        help=f"with --stack: the intake queue's dead-letter queue ({INTAKE_DLQ_OUTPUT}, IntakeMode Queue) "
        "instead of the failure queue",
    )
    target = parser.add_mutually_exclusive_group()
    target.add_argument("--function", metavar="NAME", help="the function to invoke (name or ARN)")
    target.add_argument(
        "--handler", metavar="PATH", type=Path,
        help="run this app.py here instead (its TRAILSIFT_* settings from the environment)",
    )
    parser.add_argument("--max", metavar="N", type=positive_int, help="handle at most N messages")
    parser.add_argument("--dry-run", action="store_true", help="list the messages; invoke and delete nothing")
    parser.add_argument(
        "--endpoint-url", metavar="URL", type=endpoint_url,
        help="an emulated AWS endpoint (e.g. moto server); --handler uses it too",
    )
    parser.add_argument("--region", metavar="REGION", help="AWS region (default: the AWS configuration's)")
    parser.add_argument("--format", choices=("table", "jsonl"), default="table", help="output format (default: table)")


@contextlib.contextmanager
def _endpoint_for_handler(endpoint_url: str | None) -> Iterator[None]:
    """``--endpoint-url`` for the in-process function's own clients too (unless AWS_ENDPOINT_URL is set)."""
    if not endpoint_url or os.environ.get("AWS_ENDPOINT_URL"):
        yield
        return
    os.environ["AWS_ENDPOINT_URL"] = endpoint_url
    try:
        yield
    finally:
        os.environ.pop("AWS_ENDPOINT_URL", None)


def run(args: argparse.Namespace) -> ExitCode:
    """Run one ``trailsift redrive``: a line per message on stdout (the in-process function's logs on
    stderr); OK when every message was redriven (or a dry run), FAILED when some were kept. A
    :class:`CommandError` when it cannot run or AWS stops it, after the lines of the messages handled.
    """
    if args.queue_url is not None and not (args.function or args.handler):
        raise CommandError("--queue-url needs --function NAME or --handler PATH", ExitCode.USAGE)
    if args.intake and args.stack is None:
        raise CommandError("--intake goes with --stack (--queue-url takes either queue's URL)", ExitCode.USAGE)
    if args.stack is not None and args.function:
        raise CommandError("--function cannot be combined with --stack (it names the function)", ExitCode.USAGE)
    if args.handler is not None and not args.handler.is_file():
        raise CommandError(f"--handler {args.handler}: no such file", ExitCode.USAGE)
    out = sys.stdout
    outcomes: list[Outcome] = []

    width = terminal_width(out, minimum=MIN_WIDTH)

    def report(outcome: Outcome) -> None:
        if args.format == "jsonl":
            out.write(jsonl_line(outcome))
        else:
            out.write("".join(line + "\n" for line in message_lines(outcome, width)))
        out.flush()
        outcomes.append(outcome)

    aws = session("redrive", args.region)
    queue_url, function = args.queue_url, args.function
    if args.stack is not None:
        outputs = stack_outputs(aws, args.stack, args.endpoint_url)
        if args.intake and not outputs.values.get(INTAKE_DLQ_OUTPUT):
            raise CommandError(
                f"stack {args.stack!r} has no {INTAKE_DLQ_OUTPUT} output (is it deployed with IntakeMode=Queue?)"
            )
        queue_url = outputs.require(INTAKE_DLQ_OUTPUT if args.intake else QUEUE_OUTPUT)
        function = outputs.require(FUNCTION_OUTPUT) if args.handler is None else None
    with aws_errors(stack=args.stack):
        sqs = new_client("sqs", session=aws, endpoint_url=args.endpoint_url)
        with _endpoint_for_handler(args.endpoint_url if args.handler else None):
            if args.handler is not None:
                from trailsift.cli.local import load_handler

                with contextlib.redirect_stdout(sys.stderr):  # Powertools' logger writes where stdout was at import
                    module = load_handler(args.handler)
                target = handler_target(module, sys.stderr)
            else:
                target = lambda_target(new_client("lambda", session=aws, endpoint_url=args.endpoint_url), function)
            redrive(sqs, queue_url, target, max_messages=args.max, dry_run=args.dry_run, report=report)
    if args.format == "table":
        if not outcomes:
            out.write("no messages\n")
        out.write(summary_line(outcomes, args.dry_run))
    out.flush()
    return ExitCode.FAILED if not args.dry_run and any(o.kept for o in outcomes) else ExitCode.OK
