"""The planner: which keys of a trail bucket a window, accounts and regions select, found by delimiter listings.

moto runs in this process (``mock_aws``); its ListObjectsV2 paginates with MaxKeys and a
ContinuationToken as S3 does (1,000 keys a page), for keys and for common prefixes alike.
"""

from __future__ import annotations

import argparse
import calendar
import time
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import RecordingClient
from trailsift.cli import plan as plan_module
from trailsift.cli.command import CommandError, ExitCode
from trailsift.cli.plan import (
    Plan,
    Selection,
    SkipReason,
    Window,
    parse_s3_uri,
    parse_time,
    plan,
    split_prefix,
)
from trailsift.logfile import classify_key

BUCKET = "trail-bucket"
A, B, C = "111111111111", "222222222222", "333333333333"
ORG = "o-abcdefghij"
MOTO_ACCOUNT = "123456789012"  # moto's default account: its S3 backend holds the buckets
NOW = datetime(2024, 6, 1, 12, 0, tzinfo=timezone.utc)  # the planners' clock: nothing is listed past the next day


def utc(text: str) -> datetime:
    return parse_time(text)


def event_key(
    account: str,
    region: str,
    stamp: str,
    *,
    org: str | None = None,
    root: str = "",
    product: str = "CloudTrail",
    unique: str = "AbCdEfGhIjKlMnOp",
) -> str:
    """Where CloudTrail puts a file delivered at ``stamp`` (``YYYYMMDDTHHMMZ``)."""
    folder = f"{stamp[0:4]}/{stamp[4:6]}/{stamp[6:8]}"
    owner = f"{org}/{account}" if org else account
    return f"{root}AWSLogs/{owner}/{product}/{region}/{folder}/{account}_{product}_{region}_{stamp}_{unique}.json.gz"


def digest_key(account: str, region: str, stamp: str, *, org: str | None = None) -> str:
    folder = f"{stamp[0:4]}/{stamp[4:6]}/{stamp[6:8]}"
    owner = f"{org}/{account}" if org else account
    return (f"AWSLogs/{owner}/CloudTrail-Digest/{region}/{folder}/"
            f"{account}_CloudTrail-Digest_{region}_trail_{region}_{stamp[:-1]}00Z.json.gz")


@pytest.fixture
def s3(aws: Any) -> Any:
    import boto3

    client = boto3.client("s3", region_name="us-east-1")
    client.create_bucket(Bucket=BUCKET)
    return client


def put(s3: Any, *keys: str, body: bytes = b"x") -> None:
    for key in keys:
        s3.put_object(Bucket=BUCKET, Key=key, Body=body)


def put_many(keys: list[str], body: bytes = b"x") -> None:
    """Many keys straight into moto's S3 backend (a thousand PUTs through botocore take seconds)."""
    from moto.s3.models import s3_backends

    backend = s3_backends[MOTO_ACCOUNT]["aws"]
    for key in keys:
        backend.put_object(BUCKET, key, body)


def planned(s3: Any, prefix: str = "", **options: Any) -> Plan:
    options.setdefault("window", Window())
    options.setdefault("now", NOW)
    return plan(s3, BUCKET, prefix, **options)


def kept(result: Plan) -> list[str]:
    return [file.key for file in result.files]


# --- times and windows ----------------------------------------------------------------------------


@pytest.mark.parametrize("text, expected", [
    ("2026-11-01", "2026-11-01T00:00:00+00:00"),
    ("2026-11-01T06:00Z", "2026-11-01T06:00:00+00:00"),
    ("2026-11-01T06:00:30Z", "2026-11-01T06:00:30+00:00"),
    ("2026-11-01T06:00:30.250Z", "2026-11-01T06:00:30.250000+00:00"),
    ("2026-11-01T06:00:00+00:00", "2026-11-01T06:00:00+00:00"),
    ("2026-11-01T08:00+02:00", "2026-11-01T06:00:00+00:00"),
    (" 2026-11-01t06:00z ", "2026-11-01T06:00:00+00:00"),
])
def test_parse_time(text: str, expected: str) -> None:
    moment = parse_time(text)
    assert moment.isoformat() == expected
    assert moment.tzinfo is timezone.utc


@pytest.mark.parametrize("text, says", [
    ("", "not a time"),
    ("yesterday", "not a time"),
    ("20261101", "not a time"),
    ("2026-11-01 06:00Z", "not a time"),
    ("2026-13-01", "month must be in 1..12"),
    ("2026-02-30", "day is out of range"),
    ("2026-11-01T25:00Z", "hour must be in 0..23"),
    ("2026-11-01T06:00", "no time zone"),
])
def test_parse_time_refuses(text: str, says: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match=says):
        parse_time(text)


def test_window_parse_names_the_option_at_fault() -> None:
    assert Window.parse(None, None) == Window()
    assert Window.parse("2024-01-01", "2024-01-02T06:00Z") == Window(utc("2024-01-01"), utc("2024-01-02T06:00Z"))
    for since, until, option in (("soon", None, "--since"), ("2024-01-01", "2024-01-32", "--until")):
        with pytest.raises(CommandError) as raised:
            Window.parse(since, until)
        assert raised.value.code is ExitCode.USAGE and raised.value.line.startswith(f"{option}: not a time")


@pytest.mark.parametrize("since, until, message", [
    ("2024-01-01", "2024-01-01", "--since 2024-01-01T00:00:00Z is not before --until 2024-01-01T00:00:00Z"),
    ("2024-01-02", "2024-01-01T23:59Z", "--since 2024-01-02T00:00:00Z is not before --until 2024-01-01T23:59:00Z"),
])
def test_since_not_before_until_is_a_usage_error(since: str, until: str, message: str) -> None:
    with pytest.raises(CommandError) as raised:
        Window.parse(since, until)
    assert raised.value.code is ExitCode.USAGE and raised.value.line == message


def test_window_needs_aware_times_and_keeps_them_in_utc() -> None:
    with pytest.raises(ValueError, match="aware"):
        Window(datetime(2024, 1, 1))
    plus_two = timezone(timedelta(hours=2))
    window = Window(datetime(2024, 1, 1, 2, 0, tzinfo=plus_two))
    assert window.since == datetime(2024, 1, 1, tzinfo=timezone.utc) and window.since.tzinfo is timezone.utc


def test_admits_since_inclusive_until_exclusive_with_padding_on_the_until_side() -> None:
    window = Window(utc("2024-01-01"), utc("2024-01-02"))
    padding = timedelta(minutes=15)
    assert not window.admits(utc("2023-12-31T23:59Z"), padding)  # delivered before: only earlier events
    assert window.admits(utc("2024-01-01T00:00Z"), padding)  # since is inclusive
    assert window.admits(utc("2024-01-02T00:00Z"), padding)  # an event at 23:59 is delivered after midnight
    assert window.admits(utc("2024-01-02T00:14Z"), padding)
    assert not window.admits(utc("2024-01-02T00:15Z"), padding)  # until + padding is exclusive
    assert not window.admits(utc("2024-01-02T00:00Z"), timedelta(0))  # no padding: until itself is out
    assert Window().admits(utc("1999-01-01"), padding)
    assert Window(until=utc("2024-01-01")).admits(utc("1999-01-01"), padding)


# --- locations ------------------------------------------------------------------------------------


@pytest.mark.parametrize("uri, expected", [
    ("s3://bucket", ("bucket", "")),
    ("s3://bucket/", ("bucket", "")),
    ("s3://bucket/org1/", ("bucket", "org1/")),
    ("s3://my.bucket-1/AWSLogs/o-abcdefghij", ("my.bucket-1", "AWSLogs/o-abcdefghij")),
])
def test_parse_s3_uri(uri: str, expected: tuple[str, str]) -> None:
    assert parse_s3_uri(uri) == expected


@pytest.mark.parametrize("uri, says", [
    ("s3://", "names no bucket"),
    ("s3:///AWSLogs/", "names no bucket"),
    ("s3://a/x", "not a bucket name: 'a'"),
    ("s3://bad bucket/x", "not a bucket name"),
    ("/tmp/logs", "not an s3:// location"),
])
def test_parse_s3_uri_refuses(uri: str, says: str) -> None:
    with pytest.raises(CommandError, match=says) as raised:
        parse_s3_uri(uri)
    assert raised.value.code is ExitCode.USAGE


@pytest.mark.parametrize("prefix, root, scope", [
    ("", "", "AWSLogs/"),
    ("/", "", "AWSLogs/"),
    ("myprefix", "myprefix/", "myprefix/AWSLogs/"),
    ("myprefix/", "myprefix/", "myprefix/AWSLogs/"),
    ("a/b/", "a/b/", "a/b/AWSLogs/"),
    ("AWSLogs", "", "AWSLogs/"),
    ("AWSLogs/", "", "AWSLogs/"),
    ("x/AWSLogs/o-abcdefghij", "x/", "x/AWSLogs/o-abcdefghij"),
    (f"AWSLogs/{A}/CloudTrail/us-east-1/2024/", "", f"AWSLogs/{A}/CloudTrail/us-east-1/2024/"),
    ("NotAWSLogs/", "NotAWSLogs/", "NotAWSLogs/AWSLogs/"),
])
def test_split_prefix(prefix: str, root: str, scope: str) -> None:
    assert split_prefix(prefix) == (root, scope)


# --- the plan -------------------------------------------------------------------------------------


def test_day_and_window_boundaries(s3: Any) -> None:
    inside = [event_key(A, "us-east-1", stamp) for stamp in
              ("20240101T0000Z", "20240101T1200Z", "20240101T2355Z", "20240102T0000Z", "20240102T0014Z")]
    outside = [event_key(A, "us-east-1", stamp) for stamp in ("20240102T0015Z", "20240102T1200Z")]
    never_listed = [event_key(A, "us-east-1", stamp) for stamp in ("20231231T2355Z", "20240103T0000Z")]
    put(s3, *inside, *outside, *never_listed)
    day = f"AWSLogs/{A}/CloudTrail/us-east-1/2024/01/"

    result = planned(s3, window=Window(utc("2024-01-01"), utc("2024-01-02")))
    assert kept(result) == inside
    assert result.prefixes == [day + "01/", day + "02/"]  # the folders the padded window touches, no others
    assert result.skipped == {SkipReason.OUTSIDE_WINDOW: 2}
    assert result.bytes == result.total_bytes == len(inside)
    assert [(f.account, f.region, f.delivered_at, f.size, f.insights) for f in result.files][0] == (
        A, "us-east-1", utc("2024-01-01"), 1, False)

    unpadded = planned(s3, window=Window(utc("2024-01-01"), utc("2024-01-02")), delivery_padding=timedelta(0))
    assert kept(unpadded) == inside[:3] and unpadded.prefixes == [day + "01/"]

    half_day = planned(s3, window=Window(utc("2024-01-01T12:00Z"), utc("2024-01-01T23:41Z")))  # padded: to 23:56
    assert kept(half_day) == inside[1:3] and half_day.prefixes == [day + "01/"]
    assert half_day.skipped == {SkipReason.OUTSIDE_WINDOW: 1}


def test_open_windows_discover_the_days(s3: Any) -> None:
    keys = [event_key(A, "us-east-1", stamp) for stamp in
            ("20221231T2355Z", "20230615T0000Z", "20231231T2355Z", "20240101T0010Z", "20240105T0000Z")]
    put(s3, *keys)
    assert kept(planned(s3)) == keys
    since = planned(s3, window=Window(since=utc("2023-12-31T23:55Z")))
    assert kept(since) == keys[2:]
    assert since.prefixes == [f"AWSLogs/{A}/CloudTrail/us-east-1/{day}/" for day in ("2023/12/31", "2024/01/01", "2024/01/05")]
    until = planned(s3, window=Window(until=utc("2024-01-01")))
    assert kept(until) == keys[:4]  # 00:10 on the 1st is within the padding
    assert "2024/01/05" not in "".join(until.prefixes) and until.skipped == {}
    long_window = planned(s3, window=Window(utc("2023-06-01"), utc("2024-01-01")))  # discovered: more than 14 days
    assert kept(long_window) == keys[1:4]
    assert long_window.prefixes == [f"AWSLogs/{A}/CloudTrail/us-east-1/{day}/" for day in ("2023/06/15", "2023/12/31", "2024/01/01")]


def test_pagination_past_a_thousand_keys_in_one_day(s3: Any) -> None:
    stamps = [f"20240101T{minute // 60:02d}{minute % 60:02d}Z" for minute in range(0, 1440, 1)]
    keys = [event_key(A, "us-east-1", stamp, unique=f"{number:016d}") for number, stamp in enumerate(stamps[:1200])]
    put_many(keys)
    calls: list[tuple[str, str, dict[str, Any]]] = []
    result = planned(RecordingClient(s3, "s3", calls), window=Window(utc("2024-01-01"), utc("2024-01-01T19:00Z")),
                     delivery_padding=timedelta(0))
    assert kept(result) == sorted(keys[:1140])  # 19 hours of minutes
    assert result.skipped == {SkipReason.OUTSIDE_WINDOW: 60}
    day = f"AWSLogs/{A}/CloudTrail/us-east-1/2024/01/01/"
    assert result.prefixes == [day]
    assert len(kept(planned(s3))) == 1200
    # the day's 1,200 keys took two pages; each delimiter level one
    assert result.requests == 1 + 1 + 1 + 2


def test_every_level_follows_every_page(s3: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Pages of two keys or prefixes: accounts, organization accounts, products, regions, years, months and
    days each span several pages, and the plan is the one pages of a thousand give."""
    keys = []
    for number, account in enumerate([A, B, C, "444444444444", "555555555555"]):
        org = ORG if number % 2 else None
        for region in ("us-east-1", "eu-west-1", "ap-south-1"):
            for stamp in ("20231130T2300Z", "20231201T0000Z", "20240101T0000Z", "20240102T0000Z", "20240103T0000Z"):
                keys.append(event_key(account, region, stamp, org=org))
        keys.append(digest_key(account, "us-east-1", "20240101T0000Z", org=org))
        keys.append(event_key(account, "us-east-1", "20240101T0100Z", org=org, product="CloudTrail-Insight"))
    put_many(keys)
    for window in (Window(), Window(utc("2024-01-01"), utc("2024-01-03"))):
        whole = planned(s3, window=window, include_insights=True)
        monkeypatch.setattr(plan_module, "LIST_PAGE_SIZE", 2)
        paged = planned(s3, window=window, include_insights=True)
        monkeypatch.setattr(plan_module, "LIST_PAGE_SIZE", 1000)
        assert paged.files == whole.files and paged.prefixes == whole.prefixes
        assert paged.skipped == whole.skipped and paged.prefixes_skipped == whole.prefixes_skipped
        assert paged.accounts == whole.accounts == sorted([A, B, C, "444444444444", "555555555555"])
        assert paged.requests > whole.requests
    assert len(whole.files) == 5 * 3 * 3 + 5  # three days of events per account and region, and the Insights


def test_organization_and_plain_layouts_with_several_accounts_and_regions(s3: Any) -> None:
    keys = [
        event_key(A, "us-east-1", "20240101T0100Z"),
        event_key(A, "eu-west-1", "20240101T0100Z"),
        event_key(B, "us-east-1", "20240101T0100Z", org=ORG),
        event_key(C, "ap-south-1", "20240101T0100Z", org=ORG),
        event_key(C, "us-east-1", "20240101T0100Z", org="o-zzzzzzzzzz"),
    ]
    put(s3, *keys)
    result = planned(s3, window=Window(utc("2024-01-01"), utc("2024-01-02")))
    assert sorted(kept(result)) == sorted(keys)
    assert kept(result) == sorted(keys, key=lambda key: key.split("/"))  # the order of a walk of the tree on disk
    assert result.accounts == [A, B, C]
    assert result.organizations == [ORG, "o-zzzzzzzzzz"]
    assert result.regions == ["ap-south-1", "eu-west-1", "us-east-1"]
    assert {f.key: f.organization_id for f in result.files}[keys[2]] == ORG
    assert {f.key: f.organization_id for f in result.files}[keys[0]] is None


def test_accounts_and_regions_filters(s3: Any) -> None:
    keys = [event_key(account, region, "20240101T0100Z", org=ORG if account == B else None)
            for account in (A, B, C) for region in ("us-east-1", "eu-west-1")]
    put(s3, *keys)
    window = Window(utc("2024-01-01"), utc("2024-01-02"))
    result = planned(s3, window=window, accounts=[B, C, "999999999999"], regions=["eu-west-1"])
    assert kept(result) == [event_key(C, "eu-west-1", "20240101T0100Z"),
                            event_key(B, "eu-west-1", "20240101T0100Z", org=ORG)]
    assert result.accounts == [B, C] and result.regions == ["eu-west-1"]
    assert result.prefixes_skipped == {SkipReason.OTHER_ACCOUNT: 1, SkipReason.OTHER_REGION: 2}
    assert result.missing_accounts == ["999999999999"]
    assert any("999999999999" in note for note in result.notes)
    assert kept(planned(s3, window=window, accounts=C, regions="eu-west-1")) == kept(result)[:1]  # one string, one name
    for empty in ({"accounts": []}, {"regions": ()}):
        with pytest.raises(CommandError) as raised:
            planned(s3, window=window, **empty)
        assert raised.value.code is ExitCode.USAGE


@pytest.mark.parametrize("prefix", ["myprefix", "myprefix/", "/myprefix/"])
def test_a_key_prefix_before_awslogs(s3: Any, prefix: str) -> None:
    keys = [event_key(A, "us-east-1", "20240101T0100Z", root="myprefix/"),
            event_key(B, "us-east-1", "20240101T0100Z", root="myprefix/", org=ORG)]
    put(s3, *keys, event_key(A, "us-east-1", "20240101T0200Z", root="other/"))
    assert kept(planned(s3, prefix)) == keys


def test_nested_key_prefix_and_a_hint_when_awslogs_is_not_at_the_top(s3: Any) -> None:
    key = event_key(A, "us-east-1", "20240101T0100Z", root="org1/trails/")
    put(s3, key)
    assert kept(planned(s3, "org1/trails")) == [key]
    nothing = planned(s3)
    assert nothing.files == [] and nothing.accounts == []
    assert nothing.notes == [f"nothing under s3://{BUCKET}/AWSLogs/ (a trail with a key prefix writes under "
                             f"s3://{BUCKET}/PREFIX/AWSLogs/; found: org1/)"]


def test_a_prefix_into_the_layout_narrows_the_walk(s3: Any) -> None:
    keys = [
        event_key(A, "us-east-1", "20240101T0100Z"),
        event_key(A, "us-east-1", "20240201T0100Z"),
        event_key(A, "eu-west-1", "20240101T0100Z"),
        event_key(B, "us-east-1", "20240101T0100Z", org=ORG),
        event_key(C, "us-east-1", "20240101T0100Z", org=ORG),
    ]
    put(s3, *keys)
    assert kept(planned(s3, f"AWSLogs/{ORG}")) == keys[3:]
    assert kept(planned(s3, f"AWSLogs/{ORG}/{C}/")) == keys[4:]
    assert kept(planned(s3, f"AWSLogs/{A}/CloudTrail/us-east-1/")) == keys[:2]
    month = planned(s3, f"AWSLogs/{A}/CloudTrail/us-east-1/2024/02")
    assert kept(month) == keys[1:2] and month.prefixes == [f"AWSLogs/{A}/CloudTrail/us-east-1/2024/02/01/"]
    assert kept(planned(s3, keys[2])) == keys[2:3]  # a whole key: that one file
    assert kept(planned(s3, f"AWSLogs/{A}/CloudTrail/us-east-1/", window=Window(utc("2024-02-01"), utc("2024-02-02")))) == keys[1:2]


def test_an_empty_window_and_a_window_in_the_future_give_empty_plans(s3: Any) -> None:
    put(s3, event_key(A, "us-east-1", "20240101T0100Z"))
    empty = planned(s3, window=Window(utc("2024-01-05"), utc("2024-01-06")))
    assert empty.files == [] and empty.skipped == {} and empty.accounts == [A]
    assert len(empty.prefixes) == 2  # the 5th and the 6th (padding): listed, nothing there
    future = planned(s3, window=Window(NOW + timedelta(days=3), NOW + timedelta(days=4)))
    assert future.files == [] and future.prefixes == []  # nothing listed after tomorrow
    assert future.notes == [f"the window starts in the future ({NOW + timedelta(days=3):%Y-%m-%dT%H:%M:%S}Z)"]
    assert planned(s3, window=Window(since=NOW + timedelta(days=3))).prefixes == []
    real_clock = plan(s3, BUCKET, window=Window(datetime.now(timezone.utc) + timedelta(hours=1)))
    assert real_clock.files == [] and real_clock.notes[0].startswith("the window starts in the future")


def test_insights_only_when_asked_for(s3: Any) -> None:
    events = event_key(A, "us-east-1", "20240101T0100Z")
    insights = event_key(A, "us-east-1", "20240101T0100Z", product="CloudTrail-Insight")
    put(s3, events, insights)
    window = Window(utc("2024-01-01"), utc("2024-01-02"))
    without = planned(s3, window=window)
    assert kept(without) == [events] and without.prefixes_skipped == {SkipReason.INSIGHTS: 1}
    with_insights = planned(s3, window=window, include_insights=True)
    assert kept(with_insights) == [events, insights]
    assert [f.insights for f in with_insights.files] == [False, True]


def test_digest_and_other_objects_are_skipped(s3: Any) -> None:
    events = event_key(A, "us-east-1", "20240101T0100Z")
    day = f"AWSLogs/{A}/CloudTrail/us-east-1/2024/01/01/"
    put(s3, events, digest_key(A, "us-east-1", "20240101T0100Z"), digest_key(B, "us-east-1", "20240101T0100Z", org=ORG))
    put(s3, f"{day}{A}_CloudTrail-Digest_us-east-1_trail_us-east-1_20240101T010000Z.json.gz")  # a digest name among events
    put(s3, f"AWSLogs/{A}/Config/ConfigWritabilityCheckFile", f"AWSLogs/{A}/CloudTrail/", day, body=b"")
    put(s3, f"{day}notes.txt", f"{day}{B}_CloudTrail_us-east-1_20240101T0100Z_AbCdEfGhIjKlMnOp.json.gz")  # name disagrees
    put(s3, f"{day}{A}_CloudTrail_us-east-1_20240101T0200Z_AbCdEfGhIjKlMnOp.json.gz", body=b"")  # zero bytes
    put(s3, "AWSLogs/readme.txt", "AWSLogs/not-an-account/x")
    result = planned(s3, window=Window(utc("2024-01-01"), utc("2024-01-02")))
    assert kept(result) == [events]
    assert result.skipped == {SkipReason.DIGEST: 1, SkipReason.NOT_EVENTS: 6}
    assert result.prefixes_skipped == {SkipReason.DIGEST: 2, SkipReason.NOT_EVENTS: 2}
    assert all(classify_key(key).kind.value != "digest" for key in kept(result))


def test_a_missing_bucket_is_a_usage_error_and_other_errors_a_failure(s3: Any) -> None:
    with pytest.raises(CommandError) as raised:
        plan(s3, "no-such-bucket", window=Window())
    assert raised.value.code is ExitCode.USAGE and raised.value.line == "bucket 'no-such-bucket' does not exist"
    with pytest.raises(CommandError) as raised:
        plan(s3, "x", window=Window())
    assert raised.value.code is ExitCode.USAGE

    class Denied:
        def get_paginator(self, name: str) -> Any:
            from botocore.exceptions import ClientError

            raise ClientError({"Error": {"Code": "AccessDenied", "Message": "Access Denied"}}, "ListObjectsV2")

    with pytest.raises(CommandError) as raised:
        plan(Denied(), BUCKET, window=Window())  # type: ignore[arg-type]
    assert raised.value.code is ExitCode.FAILED
    assert raised.value.line == f"cannot list s3://{BUCKET}/: AccessDenied: Access Denied"


def test_the_plan_is_the_same_whatever_the_concurrency(s3: Any) -> None:
    keys = [event_key(account, region, f"202401{day:02d}T0{hour}00Z", org=ORG if account == C else None)
            for account in (A, B, C) for region in ("us-east-1", "eu-west-1") for day in (1, 2, 3) for hour in (0, 5)]
    put_many(keys)
    window = Window(utc("2024-01-01"), utc("2024-01-03"))
    one, eight = planned(s3, window=window, concurrency=1), planned(s3, window=window, concurrency=8)
    assert one == eight and len(one.files) == 3 * 2 * 5  # two whole days, and 00:00 of the third in the padding


def test_report_and_json(s3: Any) -> None:
    put(s3, event_key(A, "us-east-1", "20240101T0100Z"), event_key(A, "us-east-1", "20240102T0100Z"),
        digest_key(A, "us-east-1", "20240101T0100Z"))
    result = planned(s3, window=Window(utc("2024-01-01"), utc("2024-01-02")))
    report = result.report()
    assert f"plan: s3://{BUCKET}/\n" in report
    assert "window: files delivered from 2024-01-01T00:00:00Z to 2024-01-02T00:00:00Z (exclusive), and up to 15 min" in report
    assert f"accounts: 1 ({A})\n" in report and "files: 1 (1 byte)\n" in report
    assert "keys skipped:\n  outside the window: 1\n" in report and "prefixes not listed:\n  digest file: 1\n" in report
    document = result.as_json()
    assert document["files"] == [{"key": event_key(A, "us-east-1", "20240101T0100Z"), "size": 1, "account": A,
                                  "region": "us-east-1", "deliveredAt": "2024-01-01T01:00:00Z",
                                  "organizationId": None, "insights": False}]
    assert document["skipped"] == {"outside the window": 1} and document["prefixesSkipped"] == {"digest file": 1}
    assert result.uri(result.files[0]) == f"s3://{BUCKET}/{result.files[0].key}"


# --- the window filter, as a property -------------------------------------------------------------


def stamp_seconds(stamp: str) -> int:
    """Seconds since the epoch of a ``YYYYMMDDTHHMMZ`` stamp, by the C library's calendar."""
    return calendar.timegm(time.strptime(stamp, "%Y%m%dT%H%MZ"))


def expected_kept(stamps: list[str], since: datetime | None, until: datetime | None, padding_minutes: int) -> set[str]:
    """The independent predicate: a stamp is kept when ``since <= stamp < until + padding``, in epoch seconds."""
    low = None if since is None else since.timestamp()
    high = None if until is None else until.timestamp() + 60 * padding_minutes
    return {stamp for stamp in stamps
            if (low is None or stamp_seconds(stamp) >= low) and (high is None or stamp_seconds(stamp) < high)}


STAMPS = sorted({
    f"202312{day:02d}T{hour:02d}{minute:02d}Z"
    for day in (29, 30, 31) for hour in (0, 11, 23) for minute in (0, 1, 14, 15, 59)
} | {f"202401{day:02d}T{hour:02d}{minute:02d}Z" for day in (1, 2, 3) for hour in (0, 12, 23) for minute in (0, 15, 45, 59)})
moments = st.datetimes(min_value=datetime(2023, 12, 28), max_value=datetime(2024, 1, 5), timezones=st.just(timezone.utc))


@pytest.fixture
def stamped_bucket(s3: Any) -> Any:
    """A bucket holding one event file per stamp of :data:`STAMPS`, in two regions' folders; only read, so
    one bucket serves every example of a test."""
    put_many([event_key(A, region, stamp) for stamp in STAMPS for region in ("us-east-1", "eu-west-1")])
    return s3


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(since=st.none() | moments, until=st.none() | moments, padding=st.sampled_from([0, 1, 15, 60, 24 * 60 + 1]))
def test_plan_keeps_exactly_the_window(stamped_bucket: Any, since: datetime | None, until: datetime | None,
                                       padding: int) -> None:
    if since is not None and until is not None and since >= until:
        with pytest.raises(CommandError):
            Window(since, until)
        return
    result = plan(stamped_bucket, BUCKET, window=Window(since, until), delivery_padding=timedelta(minutes=padding),
                  now=NOW, regions=["eu-west-1"])
    found = [key.rsplit("_", 2)[1] for key in kept(result)]
    assert found == sorted(found) and len(found) == len(set(found))
    assert set(found) == expected_kept(STAMPS, since, until, padding)
    # only folders the padded window touches were listed
    low = None if since is None else since.date()
    high = None if until is None else (until + timedelta(minutes=padding) - timedelta(microseconds=1)).date()
    for prefix in result.prefixes:
        day = datetime.strptime(prefix[-11:-1], "%Y/%m/%d").date()
        assert (low is None or day >= low) and (high is None or day <= high), prefix


@settings(max_examples=300)
@given(delivered=moments, since=st.none() | moments, until=st.none() | moments, padding=st.integers(0, 3000))
def test_selection_keeps_what_the_predicate_keeps(delivered: datetime, since: datetime | None,
                                                  until: datetime | None, padding: int) -> None:
    if since is not None and until is not None and since >= until:
        return
    stamp = f"{delivered:%Y%m%dT%H%MZ}"
    key = classify_key(event_key(A, "us-east-1", stamp))
    selection = Selection(Window(since, until), delivery_padding=timedelta(minutes=padding))
    expected = expected_kept([stamp], since, until, padding) == {stamp}
    assert (selection.reason(key) is None) == expected
    assert selection.reason(key) in (None, SkipReason.OUTSIDE_WINDOW)


def test_selection_reasons() -> None:
    window = Window(utc("2024-01-01"), utc("2024-01-02"))
    selection = Selection(window, frozenset({A}), frozenset({"us-east-1"}))
    assert selection.reason(classify_key(event_key(A, "us-east-1", "20240101T0100Z"))) is None
    assert selection.reason(classify_key(event_key(B, "us-east-1", "20240101T0100Z"))) is SkipReason.OTHER_ACCOUNT
    assert selection.reason(classify_key(event_key(A, "eu-west-1", "20240101T0100Z"))) is SkipReason.OTHER_REGION
    assert selection.reason(classify_key(event_key(A, "us-east-1", "20240103T0100Z"))) is SkipReason.OUTSIDE_WINDOW
    insight = classify_key(event_key(A, "us-east-1", "20240101T0100Z", product="CloudTrail-Insight"))
    assert selection.reason(insight) is SkipReason.INSIGHTS
    assert Selection(window, include_insights=True).reason(insight) is None
    assert selection.reason(classify_key(digest_key(A, "us-east-1", "20240101T0100Z"))) is SkipReason.DIGEST
    assert selection.reason(classify_key("export/records.json")) is SkipReason.NOT_EVENTS
    assert not Selection().filters and Selection(Window(until=utc("2024-01-01"))).filters
    assert Selection(regions=frozenset({"x"})).filters


def test_counts_are_printed_in_the_reasons_order() -> None:
    result = Plan(BUCKET, "", Selection())
    result.skipped.update({SkipReason.OTHER_REGION: 2, SkipReason.DIGEST: 1})
    assert plan_module._ordered(result.skipped) == [(SkipReason.DIGEST, 1), (SkipReason.OTHER_REGION, 2)]
    assert "keys skipped:\n  digest file: 1\n  other region: 2\n" in result.report()
