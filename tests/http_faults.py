"""Faults at the HTTP level, below botocore's retries: the service's answer to each request a client sends.

:class:`HttpFaults` takes the place of moto's ``before-send`` hook on one boto3 client. For every HTTP
request (every retry botocore makes included) it asks ``decide(operation)`` for a fault: ``None`` lets
moto answer, as usual; the faults are what a busy or broken service does, so botocore's retry mode sees
them exactly as it would see AWS: a throttling error, a 5xx, a connection timeout before the request
arrives, a read timeout after it landed (the answer lost), or a batch call answered with every entry
failed on the service's side. ``requests`` counts what the client sent, by operation.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs

from botocore.awsrequest import AWSResponse
from botocore.exceptions import ConnectTimeoutError, ReadTimeoutError
from moto.core.models import botocore_stubber

THROTTLE, SERVER, TIMEOUT, LOST, FAIL_ENTRIES = "throttle", "500", "timeout", "lost", "fail-entries"

ERROR_CODES = {  # service -> fault -> (code, HTTP status), as each service says it
    "s3": {THROTTLE: ("SlowDown", 503), SERVER: ("InternalError", 500)},
    "sns": {THROTTLE: ("Throttling", 400), SERVER: ("InternalError", 500)},
    "dynamodb": {THROTTLE: ("ProvisionedThroughputExceededException", 400), SERVER: ("InternalServerError", 500)},
    "sqs": {THROTTLE: ("RequestThrottled", 400), SERVER: ("InternalFailure", 500)},
    "events": {THROTTLE: ("ThrottlingException", 400), SERVER: ("InternalException", 500)},
}
ENTRY_CODE = "InternalError"  # the code of an entry failed on the service's side (SNS, SQS)

Decide = Callable[[str], str | None]


class _Raw:
    """The raw body botocore reads an ``AWSResponse`` from."""

    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Any:
        yield self._body


class HttpFaults:
    """Answers one client's HTTP requests with ``decide``'s faults, the rest by moto; counts the requests."""

    def __init__(self, client: Any, decide: Decide) -> None:
        self.service: str = client.meta.service_model.service_name
        self.decide = decide
        self.requests: Counter[str] = Counter()
        self._lock = threading.Lock()
        client.meta.events.unregister("before-send", botocore_stubber)
        client.meta.events.register("before-send", self._send)

    @property
    def total(self) -> int:
        return sum(self.requests.values())

    def _send(self, event_name: str, request: Any, **kwargs: Any) -> AWSResponse | None:
        operation = event_name.rsplit(".", 1)[-1]
        with self._lock:
            self.requests[operation] += 1
        fault = self.decide(operation)
        if fault is None:
            return botocore_stubber(event_name=event_name, request=request, **kwargs)
        if fault == TIMEOUT:
            raise ConnectTimeoutError(endpoint_url=request.url)
        if fault == LOST:
            botocore_stubber(event_name=event_name, request=request, **kwargs)  # it lands; its answer does not
            raise ReadTimeoutError(endpoint_url=request.url)
        if fault == FAIL_ENTRIES:
            return self._entries_failed(operation, request)
        code, status = ERROR_CODES[self.service][fault]
        return self._error(request, code, status)

    def _error(self, request: Any, code: str, status: int) -> AWSResponse:
        if self.service in ("dynamodb", "sqs", "events"):  # JSON protocols
            body = json.dumps({"__type": code, "message": f"injected {code}"}).encode()
            headers = {"Content-Type": "application/x-amz-json-1.0"}
        elif self.service == "sns":  # query protocol
            body = (
                f"<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>injected {code}</Message>"
                f"</Error><RequestId>injected</RequestId></ErrorResponse>"
            ).encode()
            headers = {"Content-Type": "text/xml"}
        else:  # S3: REST-XML
            body = f"<Error><Code>{code}</Code><Message>injected {code}</Message></Error>".encode()
            headers = {"Content-Type": "application/xml"}
        return AWSResponse(request.url, status, headers, _Raw(body))

    def _entries_failed(self, operation: str, request: Any) -> AWSResponse:
        """A batch call that succeeds with every entry failed on the service's side (to be sent again)."""
        if operation == "BatchWriteItem":
            body = json.dumps({"UnprocessedItems": json.loads(request.body)["RequestItems"]}).encode()
            return AWSResponse(request.url, 200, {"Content-Type": "application/x-amz-json-1.0"}, _Raw(body))
        if operation == "SendMessageBatch":
            failed = [
                {"Id": entry["Id"], "SenderFault": False, "Code": ENTRY_CODE, "Message": "injected"}
                for entry in json.loads(request.body)["Entries"]
            ]
            body = json.dumps({"Successful": [], "Failed": failed}).encode()
            return AWSResponse(request.url, 200, {"Content-Type": "application/x-amz-json-1.0"}, _Raw(body))
        if operation == "PutEvents":
            entries = [
                {"ErrorCode": "InternalFailure", "ErrorMessage": "injected"} for _ in json.loads(request.body)["Entries"]
            ]
            body = json.dumps({"FailedEntryCount": len(entries), "Entries": entries}).encode()
            return AWSResponse(request.url, 200, {"Content-Type": "application/x-amz-json-1.1"}, _Raw(body))
        if operation == "PublishBatch":
            form = parse_qs(request.body.decode() if isinstance(request.body, bytes) else request.body)
            ids = [values[0] for name, values in sorted(form.items()) if name.endswith(".Id")]
            members = "".join(
                f"<member><Id>{entry_id}</Id><Code>{ENTRY_CODE}</Code><Message>injected</Message>"
                f"<SenderFault>false</SenderFault></member>"
                for entry_id in ids
            )
            body = (
                f"<PublishBatchResponse><PublishBatchResult><Successful/><Failed>{members}</Failed>"
                f"</PublishBatchResult><ResponseMetadata><RequestId>injected</RequestId></ResponseMetadata>"
                f"</PublishBatchResponse>"
            ).encode()
            return AWSResponse(request.url, 200, {"Content-Type": "text/xml"}, _Raw(body))
        raise AssertionError(f"{operation} is not a batch call")
