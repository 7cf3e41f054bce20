"""The moto sandbox part: a real moto server, used through the amazon provider's hook."""

from __future__ import annotations

import json
import os
import signal
import socket

import pytest
from botocore.exceptions import ClientError
from fixtures.aws import AWS_TEST_CONN_ID

from sandbox.aws import MotoServer
from sandbox.process import SandboxError, port_open, process_group_alive


def cloudwatch_hook(conn_id: str = AWS_TEST_CONN_ID):
    from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook

    return AwsBaseHook(aws_conn_id=conn_id, client_type="cloudwatch")


def test_dashboard_put_and_get_through_aws_base_hook(aws, aws_connection):
    client = cloudwatch_hook().conn
    body = {"widgets": [{"type": "text", "x": 0, "y": 0, "width": 6, "height": 3, "properties": {"markdown": "hi"}}]}
    before = aws.request_count()

    answer = client.put_dashboard(DashboardName="sandbox-self-test", DashboardBody=json.dumps(body))
    got = client.get_dashboard(DashboardName="sandbox-self-test")

    assert answer["DashboardValidationMessages"] == []
    assert json.loads(got["DashboardBody"]) == body
    assert got["DashboardArn"].endswith(":dashboard/sandbox-self-test")
    # The hook's client really went to this server: it logged both requests.
    assert aws.request_count() - before == 2
    assert client.meta.endpoint_url == aws.endpoint_url


def test_reset_forgets_what_earlier_tests_created(aws, aws_connection):
    client = cloudwatch_hook().conn
    client.put_dashboard(DashboardName="left-behind", DashboardBody="{}")
    aws.reset()
    with pytest.raises(ClientError) as caught:
        client.get_dashboard(DashboardName="left-behind")
    assert caught.value.response["Error"]["Code"] == "ResourceNotFound"


def test_enforced_auth_accepts_an_iam_key_and_rejects_unknown_ones(aws, aws_connection):
    key_id, secret = aws.create_access_key()
    aws.enforce_auth()
    good = cloudwatch_hook(aws_connection("aws_good_key", login=key_id, password=secret)).conn
    bad = cloudwatch_hook(aws_connection("aws_bad_key", login="AKIAIOSFODNN7EXAMPLE", password="wrong")).conn

    good.put_dashboard(DashboardName="authorised", DashboardBody="{}")
    with pytest.raises(ClientError) as caught:
        bad.get_dashboard(DashboardName="authorised")
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert "InvalidClientTokenId" in str(caught.value)


def test_airflow_connection_points_at_the_server(moto_server):
    conn = moto_server.airflow_connection(config_kwargs={"retries": {"total_max_attempts": 1}})
    assert conn["conn_type"] == "aws"
    assert conn["extra"]["endpoint_url"] == moto_server.endpoint_url
    assert conn["extra"]["region_name"] == moto_server.region
    assert conn["extra"]["config_kwargs"] == {"retries": {"total_max_attempts": 1}}
    assert json.loads(moto_server.airflow_connection_json()) == moto_server.airflow_connection()


def test_start_and_stop_leave_no_process_and_no_port(tmp_path):
    server = MotoServer(tmp_path).start()
    pgid, port = server.pid, server.port
    assert process_group_alive(pgid) and port_open(port)
    server.ensure_alive()

    server.stop()

    assert not process_group_alive(pgid)
    assert not port_open(port)
    with pytest.raises(SandboxError, match=rf"moto_server \(pid {pgid}, 127\.0\.0\.1:{port}\) is not running"):
        server.ensure_alive()


def test_ensure_alive_names_the_part_when_the_server_was_killed(tmp_path):
    with MotoServer(tmp_path) as server:
        os.killpg(server.pid, signal.SIGKILL)
        server.process.proc.wait(timeout=10)
        with pytest.raises(SandboxError, match=r"moto_server \(pid \d+, 127\.0\.0\.1:\d+\) is not running"):
            server.ensure_alive()


def test_a_failed_start_names_the_part_and_leaves_no_process(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        server = MotoServer(tmp_path, port=taken.getsockname()[1], start_timeout=20)
        with pytest.raises(
            SandboxError, match=r"moto_server on 127\.0\.0\.1:\d+ (exited with status|did not become ready)"
        ):
            server.start()
    assert not process_group_alive(server.pid)
