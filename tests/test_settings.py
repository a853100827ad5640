"""Settings.from_env: defaults, every variable, and a SettingsError naming the variable for every bad value."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trailsift import settings as mod
from trailsift.reader import DEFAULT_MAX_DECOMPRESSED_BYTES, DEFAULT_MAX_RECORD_BYTES
from trailsift.settings import Settings, SettingsError

TOPIC = "arn:aws:sns:us-east-1:123456789012:trailsift-alerts"
INTEGERS = (mod.RETENTION_DAYS, mod.MAX_DECOMPRESSED_MIB, mod.FETCH_CONCURRENCY, mod.DEADLINE_MARGIN_SECONDS)


def test_names_are_the_template_ones() -> None:
    assert (mod.ALERT_TOPIC_ARN, mod.INDEX_TABLE, mod.BUCKETS, mod.KEY_PREFIX, mod.RULES) == (
        "TRAILSIFT_ALERT_TOPIC_ARN", "TRAILSIFT_INDEX_TABLE", "TRAILSIFT_BUCKETS", "TRAILSIFT_KEY_PREFIX",
        "TRAILSIFT_RULES",
    )
    assert INTEGERS == (
        "TRAILSIFT_RETENTION_DAYS", "TRAILSIFT_MAX_DECOMPRESSED_MIB", "TRAILSIFT_FETCH_CONCURRENCY",
        "TRAILSIFT_DEADLINE_MARGIN_SECONDS",
    )


@pytest.mark.parametrize("env", [{}, {name: "" for name in (*INTEGERS, mod.ALERT_TOPIC_ARN, mod.INDEX_TABLE,
                                                             mod.BUCKETS, mod.RULES, mod.KEY_PREFIX)},
                                 {name: "   " for name in (*INTEGERS, mod.ALERT_TOPIC_ARN, mod.INDEX_TABLE,
                                                            mod.BUCKETS, mod.RULES)}])
def test_defaults(env: dict[str, str]) -> None:
    config = Settings.from_env(env)
    assert config == Settings()
    assert config.alert_topic_arn is None
    assert config.index_table is None
    assert config.buckets == frozenset()
    assert config.key_prefix == ""
    assert config.rules == ""
    assert config.retention_days == 90
    assert config.max_decompressed_bytes == DEFAULT_MAX_DECOMPRESSED_BYTES == 2 * 1024**3
    assert config.max_record_bytes == DEFAULT_MAX_RECORD_BYTES == 2 * 1024**2
    assert config.max_object_bytes == mod.DEFAULT_MAX_OBJECT_BYTES == 128 * 1024**2
    assert config.fetch_concurrency == 16
    assert config.deadline_margin_ms == 10_000


def test_unrelated_variables_are_ignored() -> None:
    assert Settings.from_env({"PATH": "/usr/bin", "TRAILSIFT_OTHER": "x", "AWS_REGION": "us-east-1"}) == Settings()


def test_every_variable_parsed() -> None:
    config = Settings.from_env(
        {
            "TRAILSIFT_ALERT_TOPIC_ARN": f"  {TOPIC}\n",
            "TRAILSIFT_INDEX_TABLE": " trailsift-index ",
            "TRAILSIFT_BUCKETS": " logs-a ,logs-b.example,, logs-a ",
            "TRAILSIFT_KEY_PREFIX": "org/AWSLogs/",
            "TRAILSIFT_RULES": " ssm:/trailsift/rules ",
            "TRAILSIFT_RETENTION_DAYS": "30",
            "TRAILSIFT_MAX_DECOMPRESSED_MIB": " 512 ",
            "TRAILSIFT_FETCH_CONCURRENCY": "16",
            "TRAILSIFT_DEADLINE_MARGIN_SECONDS": " 25 ",
        }
    )
    assert config == Settings(
        alert_topic_arn=TOPIC,
        index_table="trailsift-index",
        buckets=frozenset({"logs-a", "logs-b.example"}),
        key_prefix="org/AWSLogs/",
        rules="ssm:/trailsift/rules",
        retention_days=30,
        max_decompressed_bytes=512 * 1024 * 1024,
        fetch_concurrency=16,
        deadline_margin_ms=25_000,
    )


def test_settings_are_frozen() -> None:
    with pytest.raises(AttributeError):
        Settings().fetch_concurrency = 3  # type: ignore[misc]


def test_key_prefix_is_kept_verbatim() -> None:
    assert Settings.from_env({mod.KEY_PREFIX: " a b/"}).key_prefix == " a b/"


@pytest.mark.parametrize(
    "topic",
    [
        TOPIC,
        "arn:aws:sns:eu-west-1:123456789012:alerts.fifo",
        "arn:aws-us-gov:sns:us-gov-west-1:123456789012:a_b-C",
        "arn:aws-cn:sns:cn-north-1:123456789012:x",
    ],
)
def test_topic_arns_accepted(topic: str) -> None:
    assert Settings.from_env({mod.ALERT_TOPIC_ARN: topic}).alert_topic_arn == topic


@pytest.mark.parametrize(
    "topic",
    [
        "trailsift-alerts",
        "arn:aws:sqs:us-east-1:123456789012:queue",
        "arn:aws:sns:us-east-1:12345678901:short-account",
        "arn:aws:sns:us-east-1:123456789012:",
        "arn:aws:sns:us-east-1:123456789012:bad name",
        "arn:aws:sns:us-east-1:123456789012:" + "a" * 257,
        "arn:aws:sns:us-east-1:١٢٣٤٥٦٧٨٩٠١٢:arabic-digits",
        f"{TOPIC}\nX-Injected: 1",
    ],
)
def test_bad_topic_arn(topic: str) -> None:
    with pytest.raises(SettingsError, match=mod.ALERT_TOPIC_ARN):
        Settings.from_env({mod.ALERT_TOPIC_ARN: topic})


@pytest.mark.parametrize("table", ["ab", "bad table", "table/name", "t" * 256, "tab:le"])
def test_bad_table_name(table: str) -> None:
    with pytest.raises(SettingsError, match=mod.INDEX_TABLE):
        Settings.from_env({mod.INDEX_TABLE: table})


@pytest.mark.parametrize("table", ["abc", "Trail_Sift.index-1", "t" * 255])
def test_table_names_accepted(table: str) -> None:
    assert Settings.from_env({mod.INDEX_TABLE: table}).index_table == table


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("one-bucket", {"one-bucket"}),
        ("a-bucket,b-bucket", {"a-bucket", "b-bucket"}),
        (" a-bucket , b-bucket ,", {"a-bucket", "b-bucket"}),
        (",,,", set()),
        ("dup-bucket,dup-bucket", {"dup-bucket"}),
        ("my.dotted.bucket,x1y", {"my.dotted.bucket", "x1y"}),
    ],
)
def test_buckets_split_on_commas(raw: str, expected: set[str]) -> None:
    assert Settings.from_env({mod.BUCKETS: raw}).buckets == frozenset(expected)


@pytest.mark.parametrize(
    "raw", ["Upper-Bucket", "ok-bucket,bad_bucket", "ab", "-starts-with-dash", "ends-with-dash-", "two words", "b" * 64]
)
def test_bad_bucket_names(raw: str) -> None:
    with pytest.raises(SettingsError, match=mod.BUCKETS):
        Settings.from_env({mod.BUCKETS: raw})


@pytest.mark.parametrize(
    "spec",
    [
        "ssm:/trailsift/rules", "ssm:trailsift-rules", "s3://rules-bucket/rules.json", "s3://rules.bucket/a/b.yaml",
        # built-in packs by name, combined, and packs beside one document (as the template joins them)
        "default", "ssm", "default,ssm", "ssm,s3://rules-bucket/rules.json", ",ssm:/trailsift/rules", ",",
    ],
)
def test_rules_specs_accepted(spec: str) -> None:
    assert Settings.from_env({mod.RULES: spec}).rules == spec


@pytest.mark.parametrize(
    "spec",
    [
        "ssm:",
        "ssm;default",
        "s3://rules-bucket",
        "s3://rules-bucket/",
        "s3://Rules_Bucket/rules.json",
        "s3:/rules-bucket/rules.json",
        "S3://rules-bucket/rules.json",
        "https://example.com/rules.json",
        "rules.json",
        "/etc/trailsift/rules.json",
        "cis",
        "default,default",
        "ssm:/a,ssm:/b",
        "default,s3://Rules_Bucket/rules.json",
    ],
)
def test_bad_rules_specs(spec: str) -> None:
    with pytest.raises(SettingsError, match=mod.RULES):
        Settings.from_env({mod.RULES: spec})


# --- the integer variables ------------------------------------------------------------------------


def _read(name: str, raw: str) -> int:
    config = Settings.from_env({name: raw})
    return {
        mod.RETENTION_DAYS: config.retention_days,
        mod.MAX_DECOMPRESSED_MIB: config.max_decompressed_bytes,
        mod.MAX_RECORD_KIB: config.max_record_bytes,
        mod.FETCH_CONCURRENCY: config.fetch_concurrency,
        mod.DEADLINE_MARGIN_SECONDS: config.deadline_margin_ms,
    }[name]


@given(name=st.sampled_from(INTEGERS), value=st.integers(max_value=0))
def test_non_positive_integers_raise_naming_the_variable(name: str, value: int) -> None:
    with pytest.raises(SettingsError, match=name) as raised:
        Settings.from_env({name: str(value)})
    assert repr(str(value)) in str(raised.value)


@given(
    name=st.sampled_from(INTEGERS),
    raw=st.text(min_size=1).filter(lambda text: not text.strip().isascii() or not text.strip().isdigit()),
)
def test_non_numeric_values_raise_naming_the_variable(name: str, raw: str) -> None:
    if not raw.strip():
        assert _read(name, raw) > 0  # blank means the default
        return
    with pytest.raises(SettingsError, match=name):
        Settings.from_env({name: raw})


@pytest.mark.parametrize("name", INTEGERS)
@pytest.mark.parametrize("raw", ["1.5", "1e3", "0x10", "ten", "+5", "1_000", "٣", "5 5", "-0", "NaN", "9" * 5000])
def test_malformed_integer_examples(name: str, raw: str) -> None:
    with pytest.raises(SettingsError, match=name):
        Settings.from_env({name: raw})


@given(value=st.integers(min_value=1, max_value=10**6), pad=st.sampled_from(["", " ", "\t", "\n", "  "]))
def test_retention_days_parsed(value: int, pad: str) -> None:
    assert _read(mod.RETENTION_DAYS, f"{pad}{value}{pad}") == value


@given(value=st.integers(min_value=1, max_value=10**6))
def test_max_decompressed_mib_is_converted_to_bytes(value: int) -> None:
    assert _read(mod.MAX_DECOMPRESSED_MIB, str(value)) == value * 1024 * 1024


def test_record_and_object_limits_are_read_in_kib_and_mib() -> None:
    assert _read(mod.MAX_RECORD_KIB, "512") == 512 * 1024
    assert Settings.from_env({mod.MAX_OBJECT_MIB: "60"}).max_object_bytes == 60 * 1024 * 1024
    for name in (mod.MAX_RECORD_KIB, mod.MAX_OBJECT_MIB):
        with pytest.raises(SettingsError, match=name):
            Settings.from_env({name: "0"})


def test_max_decompressed_mib_examples() -> None:
    assert _read(mod.MAX_DECOMPRESSED_MIB, "1") == 1_048_576
    assert _read(mod.MAX_DECOMPRESSED_MIB, "2048") == DEFAULT_MAX_DECOMPRESSED_BYTES
    assert _read(mod.MAX_DECOMPRESSED_MIB, "007") == 7 * 1_048_576


@given(value=st.integers(min_value=1, max_value=10**4))
def test_fetch_concurrency_is_capped_at_64(value: int) -> None:
    assert _read(mod.FETCH_CONCURRENCY, str(value)) == min(value, 64)


@given(value=st.integers(min_value=1, max_value=10**4))
def test_deadline_margin_seconds_is_converted_to_milliseconds(value: int) -> None:
    assert _read(mod.DEADLINE_MARGIN_SECONDS, str(value)) == value * 1000


def test_first_bad_variable_is_named() -> None:
    with pytest.raises(SettingsError) as raised:
        Settings.from_env({mod.INDEX_TABLE: "x", mod.FETCH_CONCURRENCY: "0"})
    assert str(raised.value).startswith(mod.INDEX_TABLE)


def test_settings_error_is_a_value_error() -> None:
    assert issubclass(SettingsError, ValueError)


def test_accounts_are_parsed_and_checked() -> None:
    assert Settings.from_env({"TRAILSIFT_ACCOUNTS": "111122223333, 444455556666"}).accounts == frozenset(
        {"111122223333", "444455556666"}
    )
    assert Settings.from_env({}).accounts == frozenset()
    with pytest.raises(SettingsError, match="TRAILSIFT_ACCOUNTS"):
        Settings.from_env({"TRAILSIFT_ACCOUNTS": "1234"})


def test_alert_rate_bound_and_group_size() -> None:
    assert (Settings().alert_rate_limit, Settings().alert_rate_window_seconds, Settings().alert_group_max_events) == (
        20, 3600, 500,
    )
    config = Settings.from_env({
        mod.ALERT_RATE_LIMIT: " 5 ", mod.ALERT_RATE_WINDOW_MINUTES: "15", mod.ALERT_GROUP_MAX_EVENTS: "1",
    })
    assert (config.alert_rate_limit, config.alert_rate_window_seconds, config.alert_group_max_events) == (5, 900, 1)
    assert Settings.from_env({mod.ALERT_RATE_LIMIT: "0"}).alert_rate_limit == 0  # no bound
    for name, raw, said in [
        (mod.ALERT_RATE_LIMIT, "-1", "positive integer"),
        (mod.ALERT_RATE_WINDOW_MINUTES, "0", "positive integer"),
        (mod.ALERT_RATE_WINDOW_MINUTES, "1441", "at most 1440"),
        (mod.ALERT_GROUP_MAX_EVENTS, "501", "at most 500"),
        (mod.ALERT_GROUP_MAX_EVENTS, "0", "positive integer"),
    ]:
        with pytest.raises(SettingsError, match=f"{name}: .*{said}"):
            Settings.from_env({name: raw})


def test_alert_chatbot_flag() -> None:
    assert Settings().alert_chatbot is False
    assert Settings.from_env({mod.ALERT_CHATBOT: "true"}).alert_chatbot is True
    assert Settings.from_env({mod.ALERT_CHATBOT: " False "}).alert_chatbot is False
    assert Settings.from_env({mod.ALERT_CHATBOT: ""}).alert_chatbot is False
    with pytest.raises(SettingsError, match=f"{mod.ALERT_CHATBOT}: expected true or false, got 'yes'"):
        Settings.from_env({mod.ALERT_CHATBOT: "yes"})
