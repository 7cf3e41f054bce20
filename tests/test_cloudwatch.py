"""The CloudWatch dashboard as code: render, local validation, sync against moto, lag metrics.

AWS is moto's real server (sandbox/aws.py) reached through the amazon provider's AwsBaseHook;
calls are counted for real: by the server's own request log, by the fault proxy in front of it,
or by botocore's event hooks on the real client. Faults are real too: moto enforcing IAM
auth, a proxy answering with CloudWatch's throttling error, a port nobody listens on.
"""

from __future__ import annotations

import copy
import io
import json
import shutil
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from fixtures.aws import AWS_TEST_CONN_ID

from kafka_monitor.cloudwatch.aws import cloudwatch_client
from kafka_monitor.cloudwatch.errors import CloudWatchError, DashboardValidationError
from kafka_monitor.cloudwatch.metrics import publish_lag_metrics
from kafka_monitor.cloudwatch.render import cli_render_dashboard, render_dashboard
from kafka_monitor.cloudwatch.sync import MemorySyncState, SyncRecord, VariableSyncState, sync_dashboard
from kafka_monitor.cloudwatch.validate import validate_dashboard
from kafka_monitor.config.schema import load_config, parse_config
from kafka_monitor.errors import ConfigError
from kafka_monitor.store.documents import lag_documents
from sandbox.faultproxy import FaultProxy
from sandbox.process import free_port

REPO = Path(__file__).resolve().parent.parent
SEED_CONFIG = REPO / "include" / "kafka_monitor.yaml"
GOLDEN = REPO / "tests" / "data" / "cloudwatch" / "seed_dashboard.json"
SEED_TOPICS = [
    "topic-navilog2-post-json",
    "HEC_H_RECV_01",
    "btvplus-post-log-json",
    "topic-lgs5.0-json",
    "topic-skt-search-log-json",
]
T0 = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)

# CloudWatch's throttling answer in the JSON protocol botocore speaks to it (awsQueryCompatible:
# the query-protocol code travels in x-amzn-query-error).
THROTTLE_BODY = json.dumps(
    {"__type": "com.amazonaws.cloudwatch#ThrottlingException", "message": "Rate exceeded"}
).encode()
THROTTLE_HEADERS = {"Content-Type": "application/x-amz-json-1.0", "x-amzn-query-error": "Throttling;Sender"}
PUT_DASHBOARD = b'"DashboardBody"'  # only PutDashboard requests carry this member


def seed_data() -> dict:
    data = yaml.safe_load(SEED_CONFIG.read_text())
    data.pop("jmx", None)  # not needed here; keeps these tests independent of the JMX presets
    return data


def make_config(mutate=None, **cloudwatch_fields):
    data = seed_data()
    data["cloudwatch"].update({"aws_conn_id": AWS_TEST_CONN_ID, **cloudwatch_fields})
    if mutate:
        mutate(data)
    return parse_config(data, "test config")


def widget(body: dict, title_part: str) -> dict:
    [found] = [w for w in body["widgets"] if title_part in w["properties"].get("title", "")]
    return found


def deployed_body(client, name: str = "kafka-monitor-all-in-one") -> dict:
    return json.loads(client.get_dashboard(DashboardName=name)["DashboardBody"])


def changed_lines(diff: str, sign: str) -> list[str]:
    """The diff's added ("+") or removed ("-") lines, without indentation."""
    return [line[1:].strip() for line in diff.splitlines() if line.startswith(sign) and not line.startswith(sign * 3)]


class CallLog:
    """Operations the real botocore client sent over HTTP (one entry per attempt)."""

    def __init__(self, client):
        self.ops: list[str] = []
        client.meta.events.register("before-send.cloudwatch", self._sent)

    def _sent(self, event_name: str, **_):
        self.ops.append(event_name.rsplit(".", 1)[1])

    def take(self) -> list[str]:
        ops, self.ops = self.ops, []
        return ops


@pytest.fixture
def console(aws):
    """A separate client, like someone using the AWS console."""
    import boto3

    return boto3.client(
        "cloudwatch",
        endpoint_url=aws.endpoint_url,
        region_name="ap-northeast-2",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


# --------------------------------------------------------------------------- render


def test_seed_dashboard_matches_the_golden_file():
    body = render_dashboard(load_config(SEED_CONFIG))
    validate_dashboard(body)
    assert body == json.loads(GOLDEN.read_text())


def test_seed_dashboard_has_the_source_documents_widgets():
    body = render_dashboard(load_config(SEED_CONFIG))
    instance = "i-0a1b2c3d4e5f60718"
    assert widget(body, "NetworkIn")["properties"]["metrics"] == [["AWS/EC2", "NetworkIn", "InstanceId", instance]]
    assert widget(body, "CPUUtilization")["properties"]["metrics"] == [
        ["AWS/EC2", "CPUUtilization", "InstanceId", instance]
    ]

    # MessagesInPerSec: one visible line per topic, the SUM of its three brokers' series.
    metrics = widget(body, "messages in per second")["properties"]["metrics"]
    lines = [m[0] for m in metrics if isinstance(m[0], dict)]
    assert [line["label"] for line in lines] == SEED_TOPICS
    series = [m for m in metrics if isinstance(m[0], str)]
    assert {(m[5], m[7]) for m in series} == {(b, t) for b in ("1", "2", "3") for t in SEED_TOPICS}
    assert all(
        m[:4] == ["AWS/Kafka", "MessagesInPerSec", "Cluster Name", "oasis-msk"]
        and m[4] == "Broker ID"
        and m[6] == "Topic"
        and m[8]["visible"] is False
        for m in series
    )
    by_id = {m[-1]["id"]: m for m in series}
    for line in lines:
        refs = line["expression"].removeprefix("SUM([").removesuffix("])").split(", ")
        assert {by_id[r][7] for r in refs} == {line["label"]}

    # MSK consumer lag of the MirrorMaker group, per topic, with MSK's dimension set.
    for metric in ("SumOffsetLag", "MaxOffsetLag", "EstimatedMaxTimeLag"):
        rows = widget(body, metric)["properties"]["metrics"]
        assert [r[5] for r in rows] == SEED_TOPICS
        for row in rows:
            assert row[:2] == ["AWS/Kafka", metric]
            assert dict(zip(row[2:8:2], row[3:8:2])) == {
                "Consumer Group": "oasis-group",
                "Topic": row[5],
                "Cluster Name": "oasis-msk",
            }

    [text] = [w for w in body["widgets"] if w["type"] == "text"]
    assert (
        "(https://kibana.example.internal/app/dashboards#/view/kafka-monitor-mirrormaker-lag)"
        in text["properties"]["markdown"]
    )
    assert all(w["properties"]["region"] == "ap-northeast-2" for w in body["widgets"] if w["type"] != "text")


def test_layout_fits_one_screen_on_the_24_column_grid():
    body = render_dashboard(load_config(SEED_CONFIG))
    cells = set()
    for w in body["widgets"]:
        assert w["x"] + w["width"] <= 24
        for x in range(w["x"], w["x"] + w["width"]):
            for y in range(w["y"], w["y"] + w["height"]):
                assert (x, y) not in cells, f"widgets overlap at {(x, y)}"
                cells.add((x, y))
    assert max(w["y"] + w["height"] for w in body["widgets"]) <= 18
    assert len(cells) == 24 * 18  # no holes either


def test_defaults_take_every_mirrored_topic_and_the_first_mirrormakers_group():
    def add_second_mirrormaker(data):
        data["cloudwatch"].pop("consumer_group")
        second = copy.deepcopy(data["mirrormakers"][0])
        second.update(name="mm-ec2-2", group="other-group", topics=["extra-topic", SEED_TOPICS[0]])
        data["mirrormakers"].append(second)

    body = render_dashboard(make_config(add_second_mirrormaker))
    rows = widget(body, "SumOffsetLag")["properties"]["metrics"]
    assert [r[5] for r in rows] == SEED_TOPICS + ["extra-topic"]
    assert {r[3] for r in rows} == {"oasis-group"}

    chosen = render_dashboard(make_config(topics=["HEC_H_RECV_01"], consumer_group="g2"))
    assert [r[5] for r in widget(chosen, "MaxOffsetLag")["properties"]["metrics"]] == ["HEC_H_RECV_01"]
    assert widget(chosen, "MaxOffsetLag")["properties"]["metrics"][0][3] == "g2"


def test_names_that_need_escaping_stay_intact_in_json_and_markdown():
    group = 'oasis "blue" \\ <group> `x` *y*'
    body = render_dashboard(make_config(consumer_group=group, topics=["a.b_c-D"]))
    validate_dashboard(body)
    assert widget(body, "EstimatedMaxTimeLag")["properties"]["metrics"][0][3] == group
    markdown = next(w for w in body["widgets"] if w["type"] == "text")["properties"]["markdown"]
    assert r'oasis "blue" \\ \<group\> \`x\` \*y\*' in markdown


def test_kibana_link_is_optional_and_must_be_an_http_url():
    without = render_dashboard(make_config(kibana_url=None))
    assert (
        "cloudwatch.kibana\\_url"
        in next(w for w in without["widgets"] if w["type"] == "text")["properties"]["markdown"]
    )

    parens = render_dashboard(make_config(kibana_url="https://k.example/app#/view/x?_g=(time:(from:now-1h))"))
    assert "(https://k.example/app#/view/x?_g=%28time:%28from:now-1h%29%29)" in json.dumps(parens)

    with pytest.raises(ConfigError, match=r"cloudwatch\.kibana_url: 'javascript:alert\(1\)' is not an http\(s\) URL"):
        render_dashboard(make_config(kibana_url="javascript:alert(1)"))
    # A quote or an angle bracket would end the markdown link: refused when the file is loaded.
    with pytest.raises(ConfigError, match=r"cloudwatch\.kibana_url: .* is not an http\(s\) URL"):
        make_config(kibana_url='https://k.example/"><img src=x>')


def test_published_lag_metrics_get_their_own_row():
    body = render_dashboard(make_config(publish_lag_metrics=True, lag_metric_namespace="KafkaMonitor"))
    validate_dashboard(body)
    custom = widget(body, "custom metrics")
    assert (custom["x"], custom["y"], custom["width"]) == (0, 18, 24)
    assert custom["properties"]["metrics"][0][:8] == [
        "KafkaMonitor",
        "TotalLag",
        "MirrorMaker",
        "mm-ec2-1",
        "ConsumerGroup",
        "oasis-group",
        "Topic",
        SEED_TOPICS[0],
    ]
    assert len(custom["properties"]["metrics"]) == 5


def test_a_broken_template_is_reported_with_its_line(tmp_path, monkeypatch):
    config = make_config()
    shutil.copytree(REPO / "include" / "cloudwatch", tmp_path / "cloudwatch")
    template = tmp_path / "cloudwatch" / "dashboard.json.j2"
    template.write_text(template.read_text().replace('"periodOverride": "inherit",', '"periodOverride": "inherit",,'))
    monkeypatch.setenv("KAFKA_MONITOR_INCLUDE", str(tmp_path))
    with pytest.raises(DashboardValidationError, match=r"rendered invalid JSON at line \d+, column \d+: .*inherit"):
        render_dashboard(config)


# --------------------------------------------------------------------------- validate


def _mutated(mutate) -> dict:
    body = json.loads(GOLDEN.read_text())
    mutate(body)
    return body


def _set(path, value):
    def mutate(body):
        target = body
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value

    return mutate


MSG_WIDGET = "widget 3 ('MSK oasis-msk: messages in per second, per topic')"
SUM_WIDGET = "widget 4 ('MirrorMaker lag on MSK: SumOffsetLag per topic (messages)')"


@pytest.mark.parametrize(
    "mutate, expected",
    [
        (_set(["widgets", 4, "x"], 16), f"{SUM_WIDGET}: x + width = 28 runs past the 24-column grid"),
        (
            _set(["widgets", 0, "width"], 0),
            "widget 0 ('MirrorMaker EC2: NetworkIn (bytes per 5 minutes)'): width: 0 is out of range (1..24)",
        ),
        (
            _set(["widgets", 1, "y"], -1),
            "widget 1 ('MirrorMaker EC2: CPUUtilization (%)'): y: -1 is out of range (>= 0)",
        ),
        (
            _set(["widgets", 1, "height"], "6"),
            "widget 1 ('MirrorMaker EC2: CPUUtilization (%)'): height: required integer, got '6'",
        ),
        (
            _set(["widgets", 2, "type"], "markdown"),
            "widget 2: type: 'markdown' is not one of metric, text, log, alarm, explorer",
        ),
        (
            _set(["widgets", 2, "properties"], {"markdown": " "}),
            "widget 2: properties.markdown: a text widget needs non-empty markdown",
        ),
        (
            lambda b: b["widgets"][4]["properties"].pop("region"),
            f"{SUM_WIDGET}: properties.region: required AWS region",
        ),
        (
            _set(["widgets", 3, "properties", "metrics", 1, 5], 1),
            f"{MSG_WIDGET}: properties.metrics[1][5]: must be a string, got int 1",
        ),
        (
            lambda b: b["widgets"][4]["properties"]["metrics"][0].pop(7),
            f"{SUM_WIDGET}: properties.metrics[0]: dimension name 'Cluster Name' has no value",
        ),
        (
            _set(["widgets", 3, "properties", "metrics", 0, 0, "expression"], "SUM([t0_b1, t0_b9])"),
            f"{MSG_WIDGET}: properties.metrics[0][0].expression: 'SUM([t0_b1, t0_b9])' refers to unknown metric id 't0_b9'",
        ),
        (
            _set(["widgets", 3, "properties", "metrics", 2, 8, "id"], "t0_b1"),
            f"{MSG_WIDGET}: properties.metrics[2]: id 't0_b1' is already used by properties.metrics[1]",
        ),
        (
            _set(["widgets", 3, "properties", "metrics", 2, 8, "id"], "T0"),
            f"{MSG_WIDGET}: properties.metrics[2][8].id: 'T0' must start with a lower-case letter",
        ),
        (
            lambda b: b["widgets"][4]["properties"]["metrics"][0].insert(2, {"label": "x"}),
            f"{SUM_WIDGET}: properties.metrics[0][2]: the options object must be the last element",
        ),
        (
            _set(["widgets", 4, "properties", "metrics", 0, 8, "lable"], "typo"),
            f"{SUM_WIDGET}: properties.metrics[0][8].lable: unknown metric option",
        ),
        (
            _set(["widgets", 4, "properties", "metrics", 1], []),
            f"{SUM_WIDGET}: properties.metrics[1]: must be a non-empty array",
        ),
        (
            _set(["widgets", 4, "properties", "metrics"], []),
            f"{SUM_WIDGET}: properties.metrics: a metric widget needs a non-empty array",
        ),
        (
            _set(["widgets", 4, "properties", "stat"], "Avg"),
            f"{SUM_WIDGET}: properties.stat: 'Avg' is not a CloudWatch statistic",
        ),
        (
            _set(["widgets", 4, "properties", "period"], 45),
            f"{SUM_WIDGET}: properties.period: must be 1, 5, 10, 30 or a multiple of 60 seconds, got 45",
        ),
        (_set(["widgets", 4, "properties", "view"], "lines"), f"{SUM_WIDGET}: properties.view: 'lines' is not one of"),
        (
            _set(["widgets", 5, "y"], 6),
            "widget 5 ('MirrorMaker lag on MSK: MaxOffsetLag per topic (messages)'): x/y: overlaps widget 3",
        ),
        (
            _set(["widgets", 0, "colour"], "red"),
            "widget 0 ('MirrorMaker EC2: NetworkIn (bytes per 5 minutes)'): colour: unknown widget field",
        ),
        (_set(["dashboardName"], "x"), "dashboardName: unknown top-level field"),
        (_set(["periodOverride"], "always"), "periodOverride: 'always' must be 'auto' or 'inherit'"),
        (lambda b: b.pop("widgets"), "widgets: required, an array of widget objects"),
        (
            _set(["widgets", 4, "properties", "metrics", 0, 3], "그룹"),
            f"{SUM_WIDGET}: properties.metrics[0][3]: dimension 'Consumer Group' value must be ASCII",
        ),
    ],
)
def test_invalid_bodies_are_rejected_naming_widget_and_field(mutate, expected):
    with pytest.raises(DashboardValidationError) as caught:
        validate_dashboard(_mutated(mutate))
    assert expected in str(caught.value)


def test_every_problem_is_listed_not_only_the_first():
    def two_problems(body):
        body["widgets"][0]["width"] = 30
        body["widgets"][5]["properties"]["stat"] = "avg"

    with pytest.raises(DashboardValidationError) as caught:
        validate_dashboard(_mutated(two_problems))
    assert len(caught.value.problems) == 2
    assert str(caught.value).startswith("invalid CloudWatch dashboard body (2 problems):")


def test_valid_variants_pass():
    body = json.loads(GOLDEN.read_text())
    body["widgets"][4]["properties"]["stat"] = "p99.9"
    body["widgets"][4]["properties"]["metrics"][1] = ["...", "HEC_H_RECV_01", "Cluster Name", "oasis-msk"]
    body["widgets"].append(
        {
            "type": "alarm",
            "x": 0,
            "y": 18,
            "width": 6,
            "height": 3,
            "properties": {
                "region": "ap-northeast-2",
                "alarms": ["arn:aws:cloudwatch:ap-northeast-2:123456789012:alarm:lag"],
            },
        }
    )
    validate_dashboard(body)
    validate_dashboard({"widgets": []})
    with pytest.raises(DashboardValidationError, match="body must be a JSON object, got list"):
        validate_dashboard([])


# --------------------------------------------------------------------------- command line


def test_cli_prints_the_golden_body():
    out, err = io.StringIO(), io.StringIO()
    assert cli_render_dashboard(str(SEED_CONFIG), out, err) == 0
    assert json.loads(out.getvalue()) == json.loads(GOLDEN.read_text())
    assert err.getvalue() == ""


def test_cli_through_python_dash_m():
    proc = subprocess.run(
        [sys.executable, "-m", "kafka_monitor", "render-dashboard", "--config", str(SEED_CONFIG)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == json.loads(GOLDEN.read_text())


@pytest.mark.parametrize(
    "mutate, expected",
    [
        (lambda d: d["cloudwatch"].update(broker_ids=[]), "cloudwatch.broker_ids"),
        (lambda d: d.pop("cloudwatch"), "cloudwatch: the configuration has no cloudwatch section"),
        (lambda d: d["cloudwatch"].update(consumer_group="그룹"), "dimension 'Consumer Group' value must be ASCII"),
    ],
)
def test_cli_exits_2_with_the_message(tmp_path, mutate, expected):
    data = seed_data()
    mutate(data)
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True))
    out, err = io.StringIO(), io.StringIO()
    assert cli_render_dashboard(str(path), out, err) == 2
    assert expected in err.getvalue()
    assert out.getvalue() == ""


# --------------------------------------------------------------------------- sync against moto


def test_first_run_creates_and_unchanged_minutes_make_no_aws_request(aws, aws_connection):
    config = make_config()
    state = MemorySyncState()
    before = aws.request_count()

    first = sync_dashboard(config, state=state, now=T0)
    assert (first.action, first.put, first.aws_calls) == ("created", True, ["GetDashboard", "PutDashboard"])
    assert aws.request_count() - before == 2
    assert first.diff.startswith("--- deployed:kafka-monitor-all-in-one\n+++ repository")

    # No client is even built: the minutes after send nothing (the server's own log agrees).
    for minute in range(1, 60):
        later = sync_dashboard(config, state=state, now=T0 + minute * MINUTE)
        assert (later.action, later.aws_called, later.put) == ("skipped_no_change", False, False)
    assert aws.request_count() - before == 2
    assert state.record.body_hash == first.body_hash

    client = cloudwatch_client(config.cloudwatch)
    assert deployed_body(client) == render_dashboard(config)


def test_drift_check_reads_the_deployed_copy_without_putting(aws, aws_connection):
    config = make_config(drift_check_minutes=30)
    state = MemorySyncState()
    client = cloudwatch_client(config.cloudwatch)
    calls = CallLog(client)

    sync_dashboard(config, state=state, now=T0, client=client)
    assert calls.take() == ["GetDashboard", "PutDashboard"]
    assert sync_dashboard(config, state=state, now=T0 + 29 * MINUTE, client=client).action == "skipped_no_change"
    assert calls.take() == []

    checked = sync_dashboard(config, state=state, now=T0 + 30 * MINUTE, client=client)
    assert (checked.action, checked.put, checked.drift_checked) == ("unchanged", False, True)
    assert calls.take() == ["GetDashboard"]
    assert state.record.drift_checked_at == T0 + 30 * MINUTE and state.record.synced_at == T0
    assert sync_dashboard(config, state=state, now=T0 + 31 * MINUTE, client=client).action == "skipped_no_change"
    assert calls.take() == []


def test_a_configuration_change_updates_with_a_readable_diff(aws, aws_connection):
    state = MemorySyncState()
    client = cloudwatch_client(make_config().cloudwatch)
    calls = CallLog(client)
    sync_dashboard(make_config(), state=state, now=T0, client=client)
    calls.take()

    changed = make_config(broker_ids=[1, 2, 3, 4])
    result = sync_dashboard(changed, state=state, now=T0 + MINUTE, client=client)

    assert (result.action, result.put) == ("updated", True)
    assert calls.take() == ["GetDashboard", "PutDashboard"]
    added, removed = changed_lines(result.diff, "+"), changed_lines(result.diff, "-")
    assert '"expression": "SUM([t0_b1, t0_b2, t0_b3, t0_b4])",' in added and '"id": "t4_b4",' in added
    assert all(f'"expression": "SUM([t{i}_b1, t{i}_b2, t{i}_b3])",' in removed for i in range(5))
    assert not [line for line in removed if "AWS/EC2" in line or "Lag" in line]  # nothing else changed
    assert deployed_body(client) == render_dashboard(changed)
    assert sync_dashboard(changed, state=state, now=T0 + 2 * MINUTE, client=client).action == "skipped_no_change"


def test_a_hand_edit_in_the_console_is_put_back_at_the_next_drift_check(aws, aws_connection, console):
    config = make_config(drift_check_minutes=60)
    state = MemorySyncState()
    client = cloudwatch_client(config.cloudwatch)
    sync_dashboard(config, state=state, now=T0, client=client)

    edited = render_dashboard(config)
    edited["widgets"][1]["properties"]["title"] = "CPU (edited by hand)"
    edited["widgets"].pop(5)
    console.put_dashboard(DashboardName="kafka-monitor-all-in-one", DashboardBody=json.dumps(edited))

    # Between drift checks the edit stays: no AWS call is made to notice it.
    assert sync_dashboard(config, state=state, now=T0 + 59 * MINUTE, client=client).action == "skipped_no_change"
    assert deployed_body(console) == edited

    repaired = sync_dashboard(config, state=state, now=T0 + 60 * MINUTE, client=client)
    assert (repaired.action, repaired.put) == ("drift_repaired", True)
    assert '"title": "CPU (edited by hand)",' in changed_lines(repaired.diff, "-")
    assert '"title": "MirrorMaker lag on MSK: MaxOffsetLag per topic (messages)",' in changed_lines(repaired.diff, "+")
    assert deployed_body(console) == render_dashboard(config)


def test_lost_state_with_a_matching_dashboard_puts_nothing(aws, aws_connection):
    config = make_config()
    sync_dashboard(config, state=MemorySyncState(), now=T0)
    client = cloudwatch_client(config.cloudwatch)
    calls = CallLog(client)

    fresh = MemorySyncState()
    result = sync_dashboard(config, state=fresh, now=T0 + MINUTE, client=client)
    assert (result.action, result.put) == ("unchanged", False)
    assert calls.take() == ["GetDashboard"]
    assert fresh.record.body_hash == result.body_hash


def test_an_invalid_definition_is_rejected_before_any_aws_call(aws, aws_connection):
    config = make_config(consumer_group="미러메이커")  # CloudWatch dimension values must be ASCII
    state = MemorySyncState()
    before = aws.request_count()
    with pytest.raises(DashboardValidationError) as caught:
        sync_dashboard(config, state=state, now=T0)
    assert (
        "widget 4 ('MirrorMaker lag on MSK: SumOffsetLag per topic (messages)'): properties.metrics[0][3]: "
        "dimension 'Consumer Group' value must be ASCII" in str(caught.value)
    )
    assert aws.request_count() == before
    assert state.saves == 0


def test_disabled_section_does_nothing(aws, aws_connection):
    before = aws.request_count()
    result = sync_dashboard(make_config(enabled=False), state=MemorySyncState(), now=T0)
    assert (result.action, result.aws_called) == ("disabled", False)
    assert aws.request_count() == before


# --------------------------------------------------------------------------- AWS faults


def test_bad_credentials_fail_with_the_cause(aws, aws_connection):
    key_id, secret = aws.create_access_key()
    aws.enforce_auth()
    state = MemorySyncState()

    aws_connection(login="AKIAIOSFODNN7EXAMPLE", password="not-the-secret")
    with pytest.raises(CloudWatchError) as caught:
        sync_dashboard(make_config(), state=state, now=T0)
    assert caught.value.kind == "auth"
    assert (
        "CloudWatch GetDashboard for dashboard 'kafka-monitor-all-in-one' failed: InvalidClientTokenId (HTTP 403): "
        "The security token included in the request is invalid" in str(caught.value)
    )
    assert state.saves == 0

    # The same server with the IAM key it issued: the sync goes through.
    aws_connection(login=key_id, password=secret)
    assert sync_dashboard(make_config(), state=state, now=T0 + MINUTE).action == "created"


def test_throttling_fails_with_the_cause_when_retries_run_out(aws, aws_connection):
    with FaultProxy(aws.endpoint_url) as proxy:
        aws_connection(endpoint_url=proxy.url, config_kwargs={"retries": {"mode": "standard", "total_max_attempts": 2}})
        proxy.fail_next(2, 400, THROTTLE_BODY, headers=THROTTLE_HEADERS)
        state = MemorySyncState()
        before = aws.request_count()
        with pytest.raises(CloudWatchError) as caught:
            sync_dashboard(make_config(), state=state, now=T0)
        assert caught.value.kind == "throttled"
        assert (
            "CloudWatch GetDashboard for dashboard 'kafka-monitor-all-in-one' failed after 1 retries: "
            "Throttling (HTTP 400): Rate exceeded" in str(caught.value)
        )
        assert [s.outcome for s in proxy.seen] == ["failed 400", "failed 400"]
        assert aws.request_count() == before and state.saves == 0

        # One throttled answer is absorbed by botocore's retry; the sync then completes.
        proxy.fail_next(1, 400, THROTTLE_BODY, headers=THROTTLE_HEADERS)
        assert sync_dashboard(make_config(), state=state, now=T0 + MINUTE).action == "created"
        assert [s.outcome for s in proxy.seen[2:]] == ["failed 400", "forwarded", "forwarded"]


def test_put_refused_by_cloudwatch_reports_its_validation_messages(aws, aws_connection):
    refusal = json.dumps(
        {
            "__type": "com.amazonaws.cloudwatch#InvalidParameterInput",
            "message": "The dashboard body is invalid, there are 1 validation errors",
            "dashboardValidationMessages": [
                {"DataPath": "/widgets/3/properties/metrics/1", "Message": "Should NOT have more than 4 items"}
            ],
        }
    ).encode()
    with FaultProxy(aws.endpoint_url) as proxy:
        aws_connection(endpoint_url=proxy.url, config_kwargs={"retries": {"total_max_attempts": 1}})
        proxy.fail_next(
            1,
            400,
            refusal,
            headers={
                "Content-Type": "application/x-amz-json-1.0",
                "x-amzn-query-error": "InvalidParameterInput;Sender",
            },
            body_contains=PUT_DASHBOARD,
        )
        state = MemorySyncState()
        with pytest.raises(CloudWatchError) as caught:
            sync_dashboard(make_config(), state=state, now=T0)
    assert caught.value.kind == "invalid"
    assert caught.value.validation_messages == ["/widgets/3/properties/metrics/1: Should NOT have more than 4 items"]
    assert (
        "CloudWatch PutDashboard for dashboard 'kafka-monitor-all-in-one' failed: InvalidParameterInput (HTTP 400)"
        in str(caught.value)
    )
    assert state.saves == 0


def test_put_accepted_with_warnings_surfaces_them(aws, aws_connection, caplog):
    def add_warning(reply: bytes) -> bytes:
        answer = json.loads(reply)
        answer["DashboardValidationMessages"] = [{"DataPath": "/widgets/2", "Message": "Unknown markdown element"}]
        return json.dumps(answer).encode()

    with FaultProxy(aws.endpoint_url) as proxy:
        aws_connection(endpoint_url=proxy.url)
        proxy.rewrite_next(add_warning, body_contains=PUT_DASHBOARD)
        with caplog.at_level("WARNING", logger="kafka_monitor.cloudwatch.sync"):
            result = sync_dashboard(make_config(), state=MemorySyncState(), now=T0)
    assert (result.action, result.validation_messages) == ("created", ["/widgets/2: Unknown markdown element"])
    assert "CloudWatch validation message: /widgets/2: Unknown markdown element" in caplog.text


def test_unreachable_endpoint_and_missing_connection_name_the_cause(aws, aws_connection):
    aws_connection(endpoint_url=f"http://127.0.0.1:{free_port()}", config_kwargs={"retries": {"total_max_attempts": 1}})
    with pytest.raises(CloudWatchError, match=r"GetDashboard .* failed: cannot reach the endpoint") as caught:
        sync_dashboard(make_config(), state=MemorySyncState(), now=T0)
    assert caught.value.kind == "unreachable"

    with pytest.raises(
        CloudWatchError,
        match=r"Airflow connection 'kafka_monitor_no_such_aws' \(cloudwatch.aws_conn_id\) is not defined",
    ) as caught:
        sync_dashboard(make_config(aws_conn_id="kafka_monitor_no_such_aws"), state=MemorySyncState(), now=T0)
    assert caught.value.kind == "connection"


# --------------------------------------------------------------------------- sync state


def test_sync_record_round_trips_through_json():
    record = SyncRecord("d", "eu-west-1", "abc", T0, T0 + MINUTE)
    assert SyncRecord.from_dict(json.loads(json.dumps(record.to_dict()))) == record


def test_variable_state_reads_airflows_variable_and_ignores_garbage(monkeypatch):
    record = SyncRecord("kafka-monitor-all-in-one", "ap-northeast-2", "abc", T0, T0 + MINUTE)
    monkeypatch.setenv("AIRFLOW_VAR_KAFKA_MONITOR_DASHBOARD_SYNC", json.dumps(record.to_dict()))
    assert VariableSyncState().load() == record
    monkeypatch.setenv("AIRFLOW_VAR_KAFKA_MONITOR_DASHBOARD_SYNC", "not json")
    assert VariableSyncState().load() is None
    monkeypatch.delenv("AIRFLOW_VAR_KAFKA_MONITOR_DASHBOARD_SYNC")
    assert VariableSyncState(key="kafka_monitor_no_such_variable").load() is None


STATE_PROBE_DAG = """
import json, os
from datetime import datetime

import pendulum
from airflow.sdk import DAG, task

with DAG("kafka_monitor_cloudwatch_state_probe", schedule=None, catchup=False,
         start_date=pendulum.datetime(2026, 1, 1, tz="UTC")) as dag:

    @task
    def sync(stamp: str) -> dict:
        from kafka_monitor.cloudwatch import sync as cloudwatch
        from kafka_monitor.config.schema import parse_config

        config = parse_config(json.loads(os.environ["PROBE_CONFIG"]))
        result = cloudwatch.sync_dashboard(config, state=cloudwatch.VariableSyncState(),
                                           now=datetime.fromisoformat(stamp))
        with open(os.environ["PROBE_OUT"], "a") as out:
            out.write(json.dumps(result.as_dict()) + "\\n")
        return result.as_dict()

    sync.override(task_id="first")(stamp="2026-11-22T10:00:00+00:00") >> \\
        sync.override(task_id="a_minute_later")(stamp="2026-11-22T10:01:00+00:00")

if __name__ == "__main__":
    run = dag.test(logical_date=pendulum.datetime(2026, 11, 22, 10, 0, tz="UTC"))
    assert run.state == "success", run.state
    from airflow.models.variable import Variable  # the metadata DB's copy, read directly
    print("STORED=" + Variable.get("kafka_monitor_dashboard_sync"))
"""


@pytest.mark.slow
def test_variable_state_survives_between_airflow_task_runs(aws, airflow, tmp_path):
    """Two task instances (dag.test: the real task runner and execution API, SQLite metadata
    DB): the second finds the first one's record in the Airflow Variable, makes no AWS call."""
    dags = tmp_path / "dags"
    dags.mkdir()
    (dags / "cloudwatch_state_probe.py").write_text(STATE_PROBE_DAG)
    out = tmp_path / "results.jsonl"
    data = seed_data()
    data["cloudwatch"]["aws_conn_id"] = AWS_TEST_CONN_ID
    before = aws.request_count()

    proc = subprocess.run(
        [sys.executable, str(dags / "cloudwatch_state_probe.py")],
        env=airflow.environment(
            {
                "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
                f"AIRFLOW_CONN_{AWS_TEST_CONN_ID.upper()}": aws.airflow_connection_json(),
                "PROBE_CONFIG": json.dumps(data),
                "PROBE_OUT": str(out),
            }
        ),
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    first, second = [json.loads(line) for line in out.read_text().splitlines()]
    assert (first["action"], first["aws_calls"]) == ("created", ["GetDashboard", "PutDashboard"])
    assert (second["action"], second["aws_called"]) == ("skipped_no_change", False)
    assert aws.request_count() - before == 2
    [stored] = [line.removeprefix("STORED=") for line in proc.stdout.splitlines() if line.startswith("STORED=")]
    assert json.loads(stored)["body_hash"] == first["body_hash"]


# --------------------------------------------------------------------------- lag as custom metrics


def summaries(topics, group="oasis-group", minute=T0, lags=(5, 0, 7)):
    docs = []
    for topic in topics:
        rows = [
            {"partition": p, "lag": lag, "current_offset": 1, "log_end_offset": 1 + (lag or 0)}
            for p, lag in enumerate(lags)
        ]
        docs += [
            d
            for d in lag_documents(
                index_prefix="kafka-lag",
                minute=minute,
                mirrormaker="mm-ec2-1",
                group=group,
                topic=topic,
                rows=rows,
                group_state="Stable",
                collected_at=minute,
            )
            if d.source["doc_type"] == "topic_summary"
        ]
    return docs


def test_lag_summaries_become_custom_metrics(aws, aws_connection):
    from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook

    hook = AwsBaseHook(aws_conn_id=AWS_TEST_CONN_ID, client_type="cloudwatch")
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    report = publish_lag_metrics(hook, "KafkaMonitor", summaries(SEED_TOPICS[:2], minute=now), now=now)
    assert (report.published, report.requests, report.rejected) == (4, 1, [])

    client = hook.conn
    stats = client.get_metric_statistics(
        Namespace="KafkaMonitor",
        MetricName="TotalLag",
        StartTime=now - MINUTE,
        EndTime=now + MINUTE,
        Period=60,
        Statistics=["Maximum"],
        Dimensions=[
            {"Name": "MirrorMaker", "Value": "mm-ec2-1"},
            {"Name": "ConsumerGroup", "Value": "oasis-group"},
            {"Name": "Topic", "Value": SEED_TOPICS[1]},
        ],
    )
    assert [p["Maximum"] for p in stats["Datapoints"]] == [12.0]
    names = {
        (m["MetricName"], tuple(d["Value"] for d in m["Dimensions"]))
        for m in client.list_metrics(Namespace="KafkaMonitor")["Metrics"]
    }
    assert ("MaxLag", ("mm-ec2-1", "oasis-group", SEED_TOPICS[0])) in names and len(names) == 4


def test_lag_metrics_are_batched_within_the_api_limit(aws, aws_connection):
    client = cloudwatch_client(make_config().cloudwatch)
    calls = CallLog(client)
    now = datetime.now(UTC)
    report = publish_lag_metrics(
        client, "KafkaMonitor", summaries([f"t-{i}" for i in range(1100)], minute=now), now=now
    )
    assert (report.published, report.requests) == (2200, 3)
    assert calls.take() == ["PutMetricData"] * 3


def test_unusable_summaries_are_reported_after_the_rest_is_published(aws, aws_connection):
    client = cloudwatch_client(make_config().cloudwatch)
    now = datetime.now(UTC)
    docs = (
        summaries(["good"], minute=now)
        + summaries(["bad"], group="그룹", minute=now)
        + summaries(["unknown"], minute=now, lags=(None,))
        + summaries(["old"], minute=now - timedelta(days=15))
    )
    with pytest.raises(CloudWatchError) as caught:
        publish_lag_metrics(client, "KafkaMonitor", docs, now=now)
    report = caught.value.report
    assert (report.published, report.skipped_no_value, len(report.rejected)) == (2, 2, 2)
    assert "group '그룹' cannot be a CloudWatch dimension value" in str(caught.value)
    assert "is outside what CloudWatch accepts" in str(caught.value)
    assert {m["Dimensions"][2]["Value"] for m in client.list_metrics(Namespace="KafkaMonitor")["Metrics"]} == {"good"}


def test_aws_namespaces_are_refused():
    with pytest.raises(ConfigError, match="cloudwatch.lag_metric_namespace: 'AWS/Kafka'"):
        publish_lag_metrics(None, "AWS/Kafka", [])
