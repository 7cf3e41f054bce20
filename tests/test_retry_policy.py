"""The one retry policy: every error kind has a rule, the runbook says the same, tasks obey it."""

from __future__ import annotations

import inspect
import re

import pytest
from airflow.sdk.exceptions import AirflowFailException

from kafka_monitor import retry_policy, tasks
from kafka_monitor.cloudwatch import aws, errors, metrics, sync
from kafka_monitor.jmx import snapshot
from kafka_monitor.lag import admin, describe, ssh
from kafka_monitor.paths import PACKAGE_DIR
from kafka_monitor.retry_policy import POLICY, is_retryable
from kafka_monitor.text import DEFAULT_LIMIT

RUNBOOK = PACKAGE_DIR.parent.parent / "docs" / "runbook.md"


def kinds_in_the_code() -> set[str]:
    """Every error kind the package can report (an independent scan, not the policy's list)."""
    snake = re.compile(r"[a-z]+(_[a-z]+)*")
    found = {v for k, v in vars(ssh).items() if k.isupper() and isinstance(v, str) and snake.fullmatch(v)}
    found |= {v for k, v in vars(admin).items() if k.isupper() and isinstance(v, str) and snake.fullmatch(v)}
    found |= set(describe.ERROR_KINDS)
    found |= {getattr(snapshot, n) for n in ("TARGET_UNREACHABLE", "TIMEOUT", "AUTH_FAILED", "NO_BEANS")}
    found |= {getattr(snapshot, n) for n in ("CREDENTIALS", "JAVA_MISSING", "JMX_FAILED")}
    cloudwatch_kinds = {
        kind
        for module in (aws, errors, metrics, sync)
        for kind in re.findall(r'kind="([a-z_]+)"', inspect.getsource(module))
    }
    found |= {f"aws_{kind}" for kind in cloudwatch_kinds}
    found |= {
        retry_policy.INTERNAL_ERROR,
        retry_policy.CONFIG_INVALID,
        retry_policy.STORE_UNAVAILABLE,
        retry_policy.STORE_THROTTLED,
        retry_policy.INDEX_REJECTED,
        retry_policy.STORE_NOT_OWNED,
        retry_policy.SECRETS_BACKEND_FAILED,
        "invalid_dashboard",
    }
    return found


def runbook_table() -> dict[str, bool]:
    rows = re.findall(r"^\| `([a-z_]+)` \| .*? \| (yes|no) \| .*\|$", RUNBOOK.read_text(), flags=re.M)
    return {kind: answer == "yes" for kind, answer in rows}


def test_every_error_kind_of_the_package_has_a_rule():
    missing = kinds_in_the_code() - set(POLICY)
    assert not missing, f"error kinds without a retry rule: {sorted(missing)}"


def test_the_runbook_table_is_the_policy():
    assert runbook_table() == {kind: rule.retry for kind, rule in POLICY.items()}


@pytest.mark.parametrize(
    ("kind", "retried"),
    [
        ("ssh_connect_failed", True),
        ("connection_lookup_failed", True),  # a passing secrets-backend failure
        ("host_key_mismatch", False),
        ("internal_error", False),
        ("store_throttled", True),  # item-level 429, like a request-level one
        ("index_rejected", False),
        ("auth_failed", False),  # JMX: used to be decided in tasks.py by a list of its own
        ("aws_auth", False),  # CloudWatch: used to be always retried
        ("aws_throttled", True),
    ],
)
def test_tasks_fail_as_the_policy_says(kind, retried):
    exc = tasks._fail("something went wrong", kind)
    assert isinstance(exc, AirflowFailException) is not retried
    assert str(exc) == f"[{kind}] something went wrong"
    assert is_retryable(kind) is retried


def test_a_task_failure_message_is_bounded_and_escaped():
    exc = tasks._fail("\x1b[2J" + "x" * 100_000, "remote_command_failed")
    assert len(str(exc)) <= DEFAULT_LIMIT + len("[remote_command_failed] ") and "\x1b" not in str(exc)


def test_an_unknown_kind_is_retried_and_logged(caplog):
    assert is_retryable("a_kind_nobody_wrote_down")
    assert "has no retry rule" in caplog.text


def test_lag_uses_the_same_table():
    from kafka_monitor.lag.pipeline import LagCollectionFailed

    for kind, rule in POLICY.items():
        assert LagCollectionFailed("x", kind).retryable is rule.retry
