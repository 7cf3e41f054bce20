"""The one retry policy: for every error kind, whether a retry in the same minute can help.

Lag (``kafka_monitor.lag.ssh`` / ``describe``), JMX (``kafka_monitor.jmx.snapshot``), the
CloudWatch sync (``aws_<kind>`` of ``CloudWatchError``) and the store (``store_*``,
``index_rejected``) all name their failures by kind; ``tasks._fail`` looks the kind up here
and either raises an ordinary exception (Airflow retries the task) or
``AirflowFailException`` (the task fails at once; the next minute's run tries again anyway).

The table is the runbook's (``docs/runbook.md``) source; a test keeps the two in step and
checks that every kind constant in the package has a row.

An unknown kind is retried (a retry is cheap and bounded by the task's retries) and logged
as a policy gap, never silently dropped.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

log = logging.getLogger(__name__)

INTERNAL_ERROR = "internal_error"
CONNECTION_LOOKUP_FAILED = "connection_lookup_failed"
SECRETS_BACKEND_FAILED = "secrets_backend_failed"
CONFIG_INVALID = "config_invalid"
STORE_UNAVAILABLE = "store_unavailable"
STORE_THROTTLED = "store_throttled"
INDEX_REJECTED = "index_rejected"
STORE_NOT_OWNED = "store_not_owned"
DESCRIBE_MISSING = "describe_missing"
TASK_DEADLINE = "task_deadline"


@dataclass(frozen=True)
class Rule:
    retry: bool
    meaning: str


R, F = True, False

POLICY: dict[str, Rule] = {
    # -- configuration and our own code
    CONFIG_INVALID: Rule(F, "the configuration (or a data file in include/) is invalid"),
    INTERNAL_ERROR: Rule(F, "a bug in kafka-monitor (e.g. an unexpected exception inside the describe parser)"),
    # -- connections (Airflow 3 reports a secrets backend that failed to answer as "not defined",
    # so a missing connection cannot be told from a passing outage: both are retried)
    CONNECTION_LOOKUP_FAILED: Rule(
        R, "the Airflow connection could not be read (not defined, or the secrets backend failed)"
    ),
    SECRETS_BACKEND_FAILED: Rule(R, "a secrets backend failed while the configuration path Variable was read"),
    "ssh_connection_invalid": Rule(F, "the SSH connection exists but is malformed (no host, bad extra)"),
    "insecure_connection": Rule(F, "the SSH connection switches host key checking off: refused"),
    # -- SSH
    "ssh_connect_failed": Rule(R, "refused, unreachable, unknown host, or the session dropped"),
    "ssh_timeout": Rule(R, "connect, handshake or authentication exceeded connect_s, or the session went silent"),
    "ssh_auth_failed": Rule(F, "the server did not accept the key"),
    "host_key_mismatch": Rule(F, "the server's host key is not the pinned one (possible MITM)"),
    "host_key_unknown": Rule(F, "no pinned host key and none in known_hosts"),
    # -- the describe run (one per group per minute, shared with its topics' tasks)
    DESCRIBE_MISSING: Rule(F, "the group's describe task handed over no rows: it was killed or crashed (see its log)"),
    TASK_DEADLINE: Rule(F, "per_group fan-out: the task's deadline came before every topic was indexed"),
    "command_timeout": Rule(R, "the remote timeout ended kafka-consumer-groups.sh (command_s)"),
    "remote_command_failed": Rule(R, "the tool exited non-zero without a known cause"),
    "invalid_command_value": Rule(F, "a configured value cannot be put on the command line"),
    "unparseable_output": Rule(F, "the host's output is no known describe layout"),
    "group_not_found": Rule(F, "the consumer group does not exist"),
    "group_without_offsets": Rule(F, "the group has no partitions at all: MirrorMaker consumes nothing"),
    "topic_not_in_group": Rule(F, "the group has rows, none for this topic"),
    "not_consumer_group": Rule(F, "the group id belongs to Connect / MirrorMaker 2, not a consumer group"),
    "timeout": Rule(R, "the tool (TimeoutException) or a JMX target accepted and did not answer in time"),
    "tool_exception": Rule(R, "the tool printed another error (NPE of Kafka 2.4-2.8, ...)"),
    "jvm_startup": Rule(F, "the JVM or launcher failed before the tool ran (JMX port in use, ...)"),
    "group_missing_or_rebalancing": Rule(R, "Kafka 0.10.0: the group does not exist or is rebalancing"),
    "malformed_row": Rule(R, "a table line is not a row (truncated or garbled output)"),
    # -- the Admin-API collector (kafka_monitor.lag.admin)
    "kafka_connection_invalid": Rule(
        F, "the kafka connection is missing, has no bootstrap.servers, or a refused setting"
    ),
    "broker_unreachable": Rule(R, "no broker accepted a connection (refused, unresolvable)"),
    "topic_not_found": Rule(F, "the topic does not exist on the cluster"),
    "broker_error": Rule(R, "another error the broker or the client reported (its name kept)"),
    # -- JMX
    "target_unreachable": Rule(R, "the JMX port refused or could not be reached"),
    "auth_failed": Rule(F, "wrong or missing JMX credentials, or no access"),
    "no_beans": Rule(F, "an expected bean or attribute matched nothing"),
    "credentials": Rule(R, "the JMX credentials' Airflow connection could not be read (as connection_lookup_failed)"),
    "java_missing": Rule(F, "no java on the worker"),
    "jmx_failed": Rule(F, "anything else jmxquery reported"),
    # -- the store
    STORE_UNAVAILABLE: Rule(
        R, "the store did not answer, or answered 429/5xx to a whole request, after the sink's retries"
    ),
    STORE_THROTTLED: Rule(R, "the store kept rejecting documents with 429/5xx after the sink's retries"),
    INDEX_REJECTED: Rule(F, "the store rejected documents for good (mapping conflict, ...)"),
    STORE_NOT_OWNED: Rule(F, "an index template or index with our prefix belongs to someone else: nothing written"),
    # -- evaluation (the lag is indexed already; the next minute judges again)
    "evaluation_failed": Rule(F, "the lag was indexed, but its history could not be read back to judge it"),
    # -- CloudWatch (CloudWatchError.kind, prefixed)
    "aws_auth": Rule(F, "no usable AWS credentials, or access denied"),
    "aws_throttled": Rule(R, "CloudWatch throttled the call (after botocore's retries)"),
    "aws_invalid": Rule(F, "CloudWatch refused the dashboard or metric data"),
    "aws_unreachable": Rule(R, "the CloudWatch endpoint could not be reached"),
    "aws_connection": Rule(R, "the AWS Airflow connection could not be read (as connection_lookup_failed)"),
    "aws_aws": Rule(R, "any other AWS error"),
    "invalid_dashboard": Rule(F, "the repository's dashboard does not render or validate"),
}


def is_retryable(kind: str) -> bool:
    rule = POLICY.get(kind)
    if rule is None:
        log.warning("error kind %r has no retry rule in kafka_monitor.retry_policy: retried", kind)
        return True
    return rule.retry
