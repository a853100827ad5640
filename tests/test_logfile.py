"""classify_key: what an object in a trail bucket (or a local file) is, from its key alone."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trailsift.logfile import LogFileKind, _classify_any_key, _classify_full_event_key, classify_key

ACCT = "123456789012"
NAME = f"{ACCT}_CloudTrail_us-east-1_20240229T2355Z_AbCdEfGhIjKlMnOp.json.gz"
KEY = f"AWSLogs/{ACCT}/CloudTrail/us-east-1/2024/02/29/{NAME}"
INSIGHT_NAME = f"{ACCT}_CloudTrail-Insight_eu-west-1_20230102T0025Z_VEFgkYmfNPupzbmF.json.gz"
INSIGHT_KEY = f"AWSLogs/{ACCT}/CloudTrail-Insight/eu-west-1/2023/01/02/{INSIGHT_NAME}"
DIGEST_NAME = f"{ACCT}_CloudTrail-Digest_us-east-1_my-trail_us-east-1_20230719T220000Z.json.gz"


def test_event_file_key() -> None:
    key = classify_key(KEY)
    assert key.kind is LogFileKind.EVENTS
    assert key.holds_events
    assert key.key == KEY
    assert key.account == ACCT
    assert key.region == "us-east-1"
    assert key.organization_id is None
    assert key.delivered_at == datetime(2024, 2, 29, 23, 55, tzinfo=timezone.utc)
    assert key.reason == "CloudTrail event file"


def test_event_file_bare_name_and_uncompressed_name() -> None:
    assert classify_key(NAME).kind is LogFileKind.EVENTS
    plain = classify_key(NAME.removesuffix(".gz"))
    assert plain.kind is LogFileKind.EVENTS
    assert plain.account == ACCT


def test_insights_file() -> None:
    key = classify_key(INSIGHT_KEY)
    assert key.kind is LogFileKind.INSIGHTS
    assert key.holds_events
    assert key.region == "eu-west-1"
    assert key.reason == "CloudTrail Insights file"
    assert key.delivered_at == datetime(2023, 1, 2, 0, 25, tzinfo=timezone.utc)


def test_organization_trail_key() -> None:
    org_key = f"AWSLogs/o-abc1234567/{ACCT}/CloudTrail/us-east-1/2024/02/29/{NAME}"
    key = classify_key(org_key)
    assert key.kind is LogFileKind.EVENTS
    assert key.organization_id == "o-abc1234567"
    assert key.account == ACCT
    insight = classify_key(f"AWSLogs/o-abc1234567/{ACCT}/CloudTrail-Insight/eu-west-1/2023/01/02/{INSIGHT_NAME}")
    assert insight.kind is LogFileKind.INSIGHTS
    assert insight.organization_id == "o-abc1234567"


@pytest.mark.parametrize(
    "prefix",
    ["my-prefix/", "a/b/c/", "/tmp/pytest-1/events/logs/", "logs/AWSLogs-copy/"],
)
def test_key_with_prefix(prefix: str) -> None:
    key = classify_key(prefix + KEY)
    assert key.kind is LogFileKind.EVENTS
    assert key.account == ACCT
    assert key.region == "us-east-1"


def test_prefix_with_organization() -> None:
    key = classify_key(f"trails/prod/AWSLogs/o-exampleorgid12/{ACCT}/CloudTrail/us-east-1/2024/02/29/{NAME}")
    assert key.kind is LogFileKind.EVENTS
    assert key.organization_id == "o-exampleorgid12"


def test_digest_file_by_name_and_by_path() -> None:
    by_path_and_name = classify_key(f"AWSLogs/{ACCT}/CloudTrail-Digest/us-east-1/2023/07/19/{DIGEST_NAME}")
    by_name = classify_key(f"somewhere/{DIGEST_NAME}")
    by_path = classify_key(f"AWSLogs/{ACCT}/CloudTrail-Digest/us-east-1/2023/07/19/renamed.json.gz")
    for key in (by_path_and_name, by_name, by_path):
        assert key.kind is LogFileKind.DIGEST
        assert not key.holds_events
        assert "digest" in key.reason
    # a digest is a digest whatever its size
    assert classify_key(DIGEST_NAME, size=0).kind is LogFileKind.DIGEST


def test_digest_under_organization_path() -> None:
    key = classify_key(f"AWSLogs/o-abc1234567/{ACCT}/CloudTrail-Digest/us-east-1/2023/07/19/{DIGEST_NAME}")
    assert key.kind is LogFileKind.DIGEST


@pytest.mark.parametrize("size", [None, 0])
def test_config_writability_check_file(size: int | None) -> None:
    key = classify_key(f"AWSLogs/{ACCT}/Config/ConfigWritabilityCheckFile", size=size)
    assert key.kind is LogFileKind.CONFIG_CHECK
    assert not key.holds_events
    assert "AWS Config" in key.reason
    assert classify_key("prefix/AWSLogs/o-abc1234567/111122223333/Config/ConfigWritabilityCheckFile").kind is (
        LogFileKind.CONFIG_CHECK
    )


@pytest.mark.parametrize(
    "key",
    [f"AWSLogs/{ACCT}/CloudTrail/", f"AWSLogs/{ACCT}/CloudTrail/us-east-1/2024/02/29/", "AWSLogs/", "/"],
)
def test_folder_markers(key: str) -> None:
    classified = classify_key(key, size=0)
    assert classified.kind is LogFileKind.FOLDER
    assert not classified.holds_events
    assert classify_key(key).kind is LogFileKind.FOLDER


def test_zero_byte_event_file_is_not_read() -> None:
    key = classify_key(KEY, size=0)
    assert key.kind is LogFileKind.OTHER
    assert key.reason == "zero-byte object"
    assert not key.holds_events
    # a size that is known and not zero changes nothing
    assert classify_key(KEY, size=1).kind is LogFileKind.EVENTS


@pytest.mark.parametrize(
    "key",
    [
        # account in the path differs from the name
        f"AWSLogs/999999999999/CloudTrail/us-east-1/2024/02/29/{NAME}",
        # region in the path differs from the name
        f"AWSLogs/{ACCT}/CloudTrail/eu-west-1/2024/02/29/{NAME}",
        # an event file under CloudTrail-Insight/, an Insights file under CloudTrail/
        f"AWSLogs/{ACCT}/CloudTrail-Insight/us-east-1/2024/02/29/{NAME}",
        f"AWSLogs/{ACCT}/CloudTrail/eu-west-1/2023/01/02/{INSIGHT_NAME}",
        # an event file under Config/
        f"AWSLogs/{ACCT}/Config/us-east-1/2024/02/29/{NAME}",
        # organization trail with the wrong account
        f"AWSLogs/o-abc1234567/999999999999/CloudTrail/us-east-1/2024/02/29/{NAME}",
    ],
)
def test_name_and_path_mismatch_is_not_trusted(key: str) -> None:
    classified = classify_key(key)
    assert classified.kind is LogFileKind.OTHER
    assert classified.reason == "file name disagrees with its AWSLogs/ path"
    assert not classified.holds_events


def test_path_without_region_folders_still_agrees() -> None:
    assert classify_key(f"AWSLogs/{ACCT}/CloudTrail/{NAME}").kind is LogFileKind.EVENTS


@pytest.mark.parametrize(
    ("key", "kind"),
    [
        ("README.md", LogFileKind.OTHER),
        (f"AWSLogs/{ACCT}/CloudTrail/us-east-1/2024/02/29/notes.txt", LogFileKind.OTHER),
        (NAME + ".tmp", LogFileKind.OTHER),
        (NAME.removesuffix(".json.gz") + ".gz", LogFileKind.OTHER),
        ("LICENSE", LogFileKind.OTHER),
        (".DS_Store", LogFileKind.OTHER),
        ("export.json", LogFileKind.UNNAMED_JSON),
        ("dump/records.json.gz", LogFileKind.UNNAMED_JSON),
        # 15-character id, 11-digit account, upper-case region, no stamp: not CloudTrail's names
        (f"{ACCT}_CloudTrail_us-east-1_20240229T2355Z_AbCdEfGhIjKlMnO.json.gz", LogFileKind.UNNAMED_JSON),
        ("12345678901_CloudTrail_us-east-1_20240229T2355Z_AbCdEfGhIjKlMnOp.json.gz", LogFileKind.UNNAMED_JSON),
        (f"{ACCT}_CloudTrail_US-EAST-1_20240229T2355Z_AbCdEfGhIjKlMnOp.json.gz", LogFileKind.UNNAMED_JSON),
        (f"{ACCT}_CloudTrail_us-east-1_AbCdEfGhIjKlMnOp.json.gz", LogFileKind.UNNAMED_JSON),
        (f"{ACCT}_CloudTrail_us-east-1_20240229T2355Z_AbCdEfGhIjKlMn-p.json.gz", LogFileKind.UNNAMED_JSON),
    ],
)
def test_other_keys(key: str, kind: LogFileKind) -> None:
    classified = classify_key(key)
    assert classified.kind is kind
    assert not classified.holds_events
    assert classified.account is None and classified.delivered_at is None


def test_unnamed_json_reason() -> None:
    assert classify_key("x.json").reason == "JSON file without a CloudTrail log file name"
    assert classify_key("x.txt").reason == "not a CloudTrail log file name"


@pytest.mark.parametrize(
    ("stamp", "expected"),
    [
        ("20240229T2355Z", datetime(2024, 2, 29, 23, 55, tzinfo=timezone.utc)),
        ("20231231T2359Z", datetime(2023, 12, 31, 23, 59, tzinfo=timezone.utc)),
        ("20240101T0000Z", datetime(2024, 1, 1, 0, 0, tzinfo=timezone.utc)),
    ],
)
def test_delivery_time(stamp: str, expected: datetime) -> None:
    key = classify_key(f"{ACCT}_CloudTrail_us-east-1_{stamp}_AbCdEfGhIjKlMnOp.json.gz")
    assert key.delivered_at == expected
    assert key.delivered_at.utcoffset().total_seconds() == 0


@pytest.mark.parametrize("stamp", ["20231301T0000Z", "20230230T1200Z", "20230101T2460Z", "00000000T0000Z"])
def test_impossible_delivery_time_is_not_an_error(stamp: str) -> None:
    """Digits in the right places but no such moment: classify, do not raise (one odd key must not stop a replay)."""
    key = classify_key(f"AWSLogs/{ACCT}/CloudTrail/us-east-1/2023/01/01/{ACCT}_CloudTrail_us-east-1_{stamp}_AbCdEfGhIjKlMnOp.json.gz")
    assert key.kind is LogFileKind.OTHER
    assert not key.holds_events
    assert stamp in key.reason


def test_sample_tree_is_classified_as_intended(events_logs) -> None:
    """Every file of events/logs is what its place says: event/Insights files hold events, the rest do not."""
    kinds = {}
    for path in sorted(events_logs.rglob("*")):
        if path.is_file():
            kinds[path.relative_to(events_logs).as_posix()] = classify_key(path.as_posix(), size=path.stat().st_size).kind
    assert sum(kind is LogFileKind.EVENTS for kind in kinds.values()) == 17
    assert sum(kind is LogFileKind.INSIGHTS for kind in kinds.values()) == 2
    assert [k for k, kind in kinds.items() if kind is LogFileKind.DIGEST] == [
        "AWSLogs/123456789012/CloudTrail-Digest/us-east-1/2023/07/19/"
        "123456789012_CloudTrail-Digest_us-east-1_example-trail_us-east-1_20230719T220000Z.json.gz"
    ]
    assert kinds["AWSLogs/123456789012/Config/ConfigWritabilityCheckFile"] is LogFileKind.CONFIG_CHECK
    for name, kind in kinds.items():
        if name.startswith("LICENSES/"):
            assert kind is LogFileKind.OTHER


# --- the fast path for full-layout event keys says what the general rules say ---------------------

ARABIC_DIGITS = "\u0661\u0662\u0663\u0664\u0665\u0666\u0667\u0668\u0669\u0660\u0661\u0662"  # \d takes them, [0-9] not
accounts = st.sampled_from([ACCT, "999999999999", "12345678901", "1234567890123", ARABIC_DIGITS])
regions = st.sampled_from(["us-east-1", "eu-west-1", "US-EAST-1", "us_east_1", "x"])
products = st.sampled_from(["CloudTrail", "CloudTrail-Insight", "CloudTrail-Digest", "Config", "cloudtrail"])
stamps = st.sampled_from([
    "20240229T2355Z", "20240101T0000Z", "20231301T0000Z", "20230230T1200Z", "20230101T2460Z",
    "00000000T0000Z", "2024022T2355Z", "20240229T2355", "\u0662\u0660\u0662\u0664" + "0229T2355Z",
])  # fmt: skip
uniques = st.sampled_from(["AbCdEfGhIjKlMnOp", "0123456789abcdef", "AbCdEfGhIjKlMnO", "AbCdEfGhIjKlMn-p"])
suffixes = st.sampled_from([".json.gz", ".json", ".gz", ".json.gz.tmp", ".json.gz\n", ""])
prefixes = st.sampled_from([
    "", "/", "a/b/", "/tmp/pytest-1/logs/", "x", "logs/AWSLogs-copy/", "AWSLogs/", "x/AWSLogs/",
    f"AWSLogs/{ACCT}/CloudTrail/", f"old/AWSLogs/{ACCT}/CloudTrail-Digest/us-east-1/2024/02/29/",
    f"AWSLogs/o-abc1234567/{ACCT}/CloudTrail-Insight/",
])  # fmt: skip
orgs = st.sampled_from(["o-abc1234567/", "o-" + "a1" * 16 + "/", "o-abc/", "o-ABC1234567/", "o-a/b/"])
dates = st.sampled_from(["2024/2/29", "\u0662\u0660\u0662\u0664/02/29", "2024/02", "2024/02/29/30"])
# the pieces log_keys may break
PIECES = (
    "prefix", "root", "org", "account", "product", "region", "date", "folders", "layout", "both-accounts",
    "both-regions", "name-account", "name-product", "name-region", "stamp", "unique", "suffix", "name",
)  # fmt: skip


@st.composite
def log_keys(draw: st.DrawFn) -> str:
    """A full-layout key of any product, with none, one or two of its pieces slightly wrong."""
    broken = {draw(st.sampled_from(PIECES)) for _ in range(draw(st.sampled_from([0, 0, 0, 1, 1, 1, 1, 2])))}

    def piece(which: str, right: str, wrong: st.SearchStrategy[str]) -> str:
        return draw(wrong) if which in broken else right

    account = piece("both-accounts", draw(st.sampled_from([ACCT, "210987654321"])), accounts)
    region = piece("both-regions", draw(st.sampled_from(["us-east-1", "ap-southeast-2"])), regions)
    product = draw(st.sampled_from(["CloudTrail", "CloudTrail", "CloudTrail-Insight", "CloudTrail-Digest", "Config"]))
    stamp = draw(st.sampled_from(["20240229T2355Z", "20231231T2359Z"]))
    name = (
        f"{piece('name-account', account, accounts)}_{piece('name-product', product, products)}_"
        f"{piece('name-region', region, regions)}_{piece('stamp', stamp, stamps)}_"
        f"{piece('unique', 'AbCdEfGhIjKlMnOp', uniques)}{piece('suffix', '.json.gz', suffixes)}"
    )
    name = piece("name", name, st.sampled_from(["ConfigWritabilityCheckFile", "", "README.md", "x.json", DIGEST_NAME]))
    org = draw(st.sampled_from(["", "o-abc1234567/"]))
    folders = f"{piece('region', region, regions)}/{piece('date', '2024/02/29', dates)}/"
    layout = (
        f"{piece('root', 'AWSLogs', st.sampled_from(['awslogs', 'AWSLog', 'xAWSLogs']))}/{piece('org', org, orgs)}"
        f"{piece('account', account, accounts)}/{piece('product', product, products)}/"
        f"{piece('folders', folders, st.just(''))}"
    )
    return piece("prefix", "", prefixes) + piece("layout", layout, st.just("")) + name


@settings(max_examples=1500, deadline=None)
@given(key=log_keys(), size=st.sampled_from([None, None, 0, 1, 4096]))
def test_fast_path_agrees_with_the_general_rules(key: str, size: int | None) -> None:
    """Where the fast path answers, it answers what the general rules do; classify_key always does."""
    general = _classify_any_key(key, size)
    fast = _classify_full_event_key(key, size)
    assert fast is None or fast == general
    assert classify_key(key, size=size) == general


@pytest.mark.parametrize(
    "key",
    [
        KEY,
        INSIGHT_KEY,
        "/tmp/x/" + KEY,
        "/tmp/AWSLogs-copy/" + KEY,
        f"AWSLogs/o-abc1234567/{ACCT}/CloudTrail/us-east-1/2024/02/29/{NAME}",
        f"trails/AWSLogs/o-abc1234567/{ACCT}/CloudTrail-Insight/eu-west-1/2023/01/02/{INSIGHT_NAME}",
        KEY.removesuffix(".gz"),
    ],
)
def test_full_layout_keys_take_the_fast_path(key: str) -> None:
    fast = _classify_full_event_key(key, None)
    assert fast is not None
    assert fast == _classify_any_key(key, None)
    assert repr(fast) == repr(_classify_any_key(key, None))
    assert hash(fast) == hash(_classify_any_key(key, None))


@pytest.mark.parametrize(
    "key",
    [
        f"xAWSLogs/{ACCT}/CloudTrail/us-east-1/2024/02/29/{NAME}",  # not a folder named AWSLogs
        f"AWSLogs/{ACCT}/CloudTrail/{NAME}",  # no region folders
        NAME,
        f"AWSLogs/{ACCT}/CloudTrail/us-east-1/2023/01/01/{ACCT}_CloudTrail_us-east-1_20231301T0000Z_AbCdEfGhIjKlMnOp.json.gz",
        # an earlier AWSLogs/ decides the layout, and it disagrees with the name
        f"AWSLogs/999999999999/CloudTrail/us-east-1/2024/02/29/AWSLogs/{ACCT}/CloudTrail/us-east-1/2024/02/29/{NAME}",
    ],
)
def test_other_keys_take_the_general_path(key: str) -> None:
    assert _classify_full_event_key(key, None) is None
    assert classify_key(key) == _classify_any_key(key, None)


def test_fast_path_leaves_zero_byte_objects_to_the_general_rules() -> None:
    assert _classify_full_event_key(KEY, 0) is None
    assert classify_key(KEY, size=0).reason == "zero-byte object"
