"""The failure queue adapter: every record queued once, failed entries resent, refusals and whole failures raised."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from trailsift.aws.sqs import DeadLetterError, DeadLetterQueue


@pytest.fixture
def queue(aws: Any) -> tuple[Any, str]:
    sqs = boto3.client("sqs", region_name="us-east-1")
    return sqs, sqs.create_queue(QueueName="failures")["QueueUrl"]


def drain(sqs: Any, url: str) -> list[dict]:
    out = []
    while got := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
        for message in got:
            out.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return out


class FailingFirst:
    """Delegates to SQS but reports the chosen entry ids as failed on the first call."""

    def __init__(self, client: Any, ids: set[str], sender_fault: bool = False) -> None:
        self.client, self.ids, self.sender_fault, self.calls = client, ids, sender_fault, 0

    def send_message_batch(self, QueueUrl: str, Entries: list[dict]) -> dict:  # noqa: N803 - boto3's names
        self.calls += 1
        if self.calls == 1:
            keep = [e for e in Entries if e["Id"] not in self.ids]
            if keep:
                self.client.send_message_batch(QueueUrl=QueueUrl, Entries=keep)
            failed = [{"Id": i, "SenderFault": self.sender_fault, "Code": "x", "Message": "no"} for i in self.ids]
            return {"Successful": [], "Failed": failed}
        return self.client.send_message_batch(QueueUrl=QueueUrl, Entries=Entries)


def test_sends_every_record_in_batches_of_ten(queue) -> None:
    sqs, url = queue
    records = [{"n": n} for n in range(23)]
    assert DeadLetterQueue(sqs, url).send(records) == 23
    assert sorted(r["n"] for r in drain(sqs, url)) == list(range(23))


def test_failed_entries_are_retried_once_each(queue) -> None:
    sqs, url = queue
    client = FailingFirst(sqs, {"1", "3"})
    DeadLetterQueue(client, url, sleep=lambda _: None).send([{"n": n} for n in range(5)])
    assert sorted(r["n"] for r in drain(sqs, url)) == [0, 1, 2, 3, 4] and client.calls == 2


def test_sender_fault_raises(queue) -> None:
    sqs, url = queue
    with pytest.raises(DeadLetterError, match="refused 1"):
        DeadLetterQueue(FailingFirst(sqs, {"0"}, sender_fault=True), url, sleep=lambda _: None).send([{"n": 0}])


def test_persistent_failure_raises_after_the_attempts(queue) -> None:
    sqs, url = queue

    class AlwaysFailing:
        calls = 0

        def send_message_batch(self, QueueUrl: str, Entries: list[dict]) -> dict:  # noqa: N803
            AlwaysFailing.calls += 1
            return {"Failed": [{"Id": e["Id"], "SenderFault": False} for e in Entries]}

    with pytest.raises(DeadLetterError, match=r"still unsent after 3 round\(s\)") as caught:
        DeadLetterQueue(AlwaysFailing(), url, max_rounds=3, sleep=lambda _: None).send([{"n": n} for n in range(12)])
    assert AlwaysFailing.calls == 3  # the second batch is not sent into a failing queue
    assert caught.value.failed == [{"n": n} for n in range(12)]


def test_a_call_raising_after_the_clients_retries_is_raised_naming_the_records(queue) -> None:
    _, url = queue
    throttled = ClientError({"Error": {"Code": "RequestThrottled", "Message": "slow down"}}, "SendMessageBatch")

    class Throttled:
        calls = 0

        def send_message_batch(self, QueueUrl: str, Entries: list[dict]) -> dict:  # noqa: N803
            Throttled.calls += 1
            raise throttled

    with pytest.raises(DeadLetterError, match="RequestThrottled") as caught:
        DeadLetterQueue(Throttled(), url, sleep=pytest.fail).send([{"n": n} for n in range(12)])
    assert Throttled.calls == 1 and caught.value.__cause__ is throttled
    assert caught.value.failed == [{"n": n} for n in range(12)]
