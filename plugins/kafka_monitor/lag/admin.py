"""Collect a consumer group's lag straight from the brokers (Kafka Admin API), no SSH, no JVM.

The client comes from Airflow's apache-kafka provider: ``KafkaAdminClientHook`` builds the
confluent-kafka configuration from the ``kafka`` connection's extra (bootstrap servers,
SASL/SSL settings, the provider's OAuth callbacks), so credentials only ever live in the
connection. This module adds bounds (connection set-up, each request, the whole collection)
and an error callback, and never logs or returns the configuration.

One collection serves every topic of a group (the batched fan-out), in this order:

1. ``describe_topics`` — the topics' partitions (an unknown topic is ``topic_not_found``;
   ``list_topics`` is not used because a metadata request for a missing topic may create it);
2. ``describe_consumer_groups`` — state and members' assignment (for ``consumer_id``, ``host``
   and ``client_id``; tansu answers ``members=[]``, see docs/admin-api.md);
3. ``list_consumer_group_offsets`` — the group's committed offsets of those partitions, one
   request (only when a topic has none, a second one for all of the group's, to name the cause);
4. ``list_offsets(latest)`` — the log-end offset of every partition, one request fan-out.

Committed offsets are read *before* log-end offsets: the log only grows between the two
reads, so lag = log-end - committed is never negative from that race (the complaint against
several peers; see docs/admin-api.md). A partition with no committed offset has
``current_offset`` and ``lag`` ``None`` (the describe tool's ``-``), never -1001 or a huge lag.

The rows have the describe parser's shape (partition, current_offset, log_end_offset, lag,
consumer_id, host, client_id), so ``store.documents.lag_documents`` and the evaluation apply
unchanged. Failures are ``CollectionError`` (from the SSH path) with these kinds:

=========================  =================================================================
kind                       meaning
=========================  =================================================================
kafka_connection_invalid   the Airflow connection is missing, has no ``bootstrap.servers``,
                           or carries a setting the client refuses
broker_unreachable         no broker accepted a connection (refused, unresolvable)
auth_failed                SASL authentication or the TLS handshake failed
timeout                    a broker accepted the connection but did not answer in time, or
                           the whole collection ran out of its ``total_s`` budget
topic_not_found            the topic does not exist on the cluster
group_not_found            the group is unknown to the cluster (state Dead, or not listed
                           and without offsets or members)
group_without_offsets      the group exists but has no committed offset and no member
topic_not_in_group         the group has offsets or assignment, but none for this topic
broker_error               any other error the broker or the client reported (its name kept)
=========================  =================================================================
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from kafka_monitor.config.schema import ConsumerGroupWatch
from kafka_monitor.lag.shared import TopicRows
from kafka_monitor.lag.ssh import (
    GROUP_NOT_FOUND,
    GROUP_WITHOUT_OFFSETS,
    TOPIC_NOT_IN_GROUP,
    CollectionError,
)

log = logging.getLogger(__name__)

KAFKA_CONNECTION_INVALID = "kafka_connection_invalid"
BROKER_UNREACHABLE = "broker_unreachable"
AUTH_FAILED = "auth_failed"
TIMEOUT = "timeout"
TOPIC_NOT_FOUND = "topic_not_found"
BROKER_ERROR = "broker_error"
# Whether each is retried within the minute: kafka_monitor.retry_policy.

# Connection extra keys whose values are secrets: never put into a message.
_SECRET_MARKERS = ("password", "secret", "token", "key", "credentials", "jaas")
# The tool's spelling of group states (kafka-consumer-groups.sh prints these).
_STATE_NAMES = {
    "STABLE": "Stable",
    "EMPTY": "Empty",
    "DEAD": "Dead",
    "PREPARING_REBALANCE": "PreparingRebalance",
    "COMPLETING_REBALANCE": "CompletingRebalance",
    "ASSIGNING": "Assigning",
    "RECONCILING": "Reconciling",
    "UNKNOWN": "Unknown",
}


@dataclass
class AdminTopicCollection:
    """One topic's rows, shaped like the describe parser's rows, sorted by partition."""

    rows: list[dict[str, Any]]
    group_state: str | None
    members_reported: int  # members the broker described (tansu: always 0)


@dataclass
class GroupCollection:
    """The outcome of one batched collection: per topic, rows or the error that stopped them."""

    group: str
    group_state: str | None
    topics: dict[str, AdminTopicCollection | CollectionError]
    duration_s: float
    requests: int  # Admin API calls made (each may fan out to several brokers)
    members_reported: int = 0
    steps: list[str] = field(default_factory=list)  # the Admin calls that answered, in order
    step_s: dict[str, float] = field(default_factory=dict)  # seconds each took (the first: client start too)

    def topic_rows(self, topic: str) -> TopicRows:
        """The topic's share for ``lag.pipeline``: its rows, or the error that kept them."""
        outcome = self.topics[topic]
        if isinstance(outcome, CollectionError):
            return TopicRows(group_state=self.group_state, error_kind=outcome.kind, error_message=str(outcome))
        return TopicRows(rows=outcome.rows, group_state=outcome.group_state)


# --------------------------------------------------------------------------- the client


class _Client:
    """The hook's AdminClient with our bounds, an error callback and secret-free messages."""

    def __init__(self, watch: ConsumerGroupWatch):
        self.watch = watch
        self.errors: list[Any] = []  # KafkaError objects from error_cb
        self.deadline = time.monotonic() + watch.timeouts.total_s
        self.requests = 0
        self.marks: dict[str, float] = {}
        self._mark = time.monotonic()
        self._secrets: list[str] = []
        self.bootstrap = "?"
        self.admin = self._make()

    @property
    def where(self) -> str:
        w = self.watch
        return f"{w.name} (connection {w.kafka_conn_id!r}, {self.bootstrap}, group {w.group!r})"

    def _make(self) -> Any:
        from airflow.providers.apache.kafka.hooks.client import KafkaAdminClientHook
        from confluent_kafka.admin import AdminClient

        w = self.watch
        named = f"Kafka connection {w.kafka_conn_id!r}"
        hook = KafkaAdminClientHook(kafka_config_id=w.kafka_conn_id)
        try:
            # The provider's own config builder (what hook.get_conn uses): the extra, callbacks
            # resolved, managed OAuth added. Built here so our bounds can be added to it.
            config = dict(hook._build_config())
        except Exception as exc:  # noqa: BLE001 - missing connection, no bootstrap.servers, bad callback
            raise CollectionError(
                f"{named} is not usable: {type(exc).__name__}: {self.redact(str(exc))}", KAFKA_CONNECTION_INVALID
            ) from None
        self._secrets = [
            str(v)
            for k, v in config.items()
            if isinstance(v, (str, int)) and any(m in k.lower() for m in _SECRET_MARKERS) and len(str(v)) >= 3
        ]
        self.bootstrap = str(config.get("bootstrap.servers"))
        t = w.timeouts
        config.update(
            {
                "socket.connection.setup.timeout.ms": int(t.connect_s * 1000),
                "socket.timeout.ms": int(t.request_s * 1000),
                "error_cb": self.errors.append,
                "logger": log,
            }
        )
        try:
            return AdminClient(config)
        except Exception as exc:  # noqa: BLE001 - librdkafka refuses a setting
            raise CollectionError(
                f"{named} has a setting the Kafka client refuses: {self.redact(str(exc))}", KAFKA_CONNECTION_INVALID
            ) from None

    def lap(self, name: str) -> None:
        now = time.monotonic()
        self.marks[name] = round(now - self._mark, 3)
        self._mark = now

    def redact(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text

    def remaining(self, step: str) -> float:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise CollectionError(
                f"{self.where}: the collection used its whole budget of {self.watch.timeouts.total_s:g} s before {step}",
                TIMEOUT,
            )
        return left

    def call(self, step: str, start: Callable[[float], Any]) -> Any:
        """Start one Admin request (``start(request_timeout_s)`` returns futures) and bound it."""
        bound = min(self.watch.timeouts.request_s, self.remaining(step))
        self.requests += 1
        return start(bound)

    def result(self, step: str, future: Any) -> Any:
        """One future's value; a Kafka error becomes a classified CollectionError."""
        from confluent_kafka import KafkaException

        wait = min(self.watch.timeouts.request_s + 1.0, self.remaining(step))
        try:
            return future.result(timeout=wait)
        except KafkaException as exc:
            raise self.classify(step, exc.args[0] if exc.args else None) from None
        except TimeoutError:  # concurrent.futures: no answer within our own bound
            raise self.classify(step, None) from None

    def classify(self, step: str, error: Any) -> CollectionError:
        """Name the cause from the request's error and what the error callback saw."""
        self.admin.poll(0)  # serve error_cb: connection failures arrive there, not in the future
        name = error.name() if error is not None else "_TIMED_OUT"
        text = self.redact(error.str() if error is not None else "no answer")
        seen = [self.redact(e.str()) for e in self.errors]
        seen_names = {e.name() for e in self.errors}
        seen_text = " | ".join(dict.fromkeys(seen))[-600:]
        where = self.where
        auth = ("_AUTHENTICATION", "SASL_AUTHENTICATION_FAILED", "_SSL", "TOPIC_AUTHORIZATION_FAILED")
        tls_failed = "SSL handshake failed" in seen_text or "certificate" in seen_text.lower()
        if name in auth or seen_names & {"_AUTHENTICATION", "_SSL"} or "SASL" in seen_text or tls_failed:
            return CollectionError(
                f"{where}: authentication with the brokers failed while {step}: {seen_text or text}", AUTH_FAILED
            )
        if name == "GROUP_AUTHORIZATION_FAILED" or name.endswith("AUTHORIZATION_FAILED"):
            return CollectionError(f"{where}: not authorised while {step}: {text}", AUTH_FAILED)
        if name == "_RESOLVE" or any(m in seen_text for m in ("Connection refused", "resolve", "No route")):
            return CollectionError(
                f"{where}: no broker reachable while {step}: {seen_text or text}", BROKER_UNREACHABLE
            )
        if name in ("_TIMED_OUT", "REQUEST_TIMED_OUT", "_TRANSPORT", "_ALL_BROKERS_DOWN", "_TIMED_OUT_QUEUE"):
            detail = f"; client saw: {seen_text}" if seen_text else ""
            return CollectionError(
                f"{where}: no answer within {self.watch.timeouts.request_s:g} s while {step} "
                f"(a broker accepted the connection but did not reply){detail}",
                TIMEOUT,
            )
        if name == "UNKNOWN_TOPIC_OR_PART":
            return CollectionError(f"{where}: {text} while {step}", TOPIC_NOT_FOUND)
        if name in ("GROUP_ID_NOT_FOUND", "_NOENT"):
            return CollectionError(f"{where}: the group is unknown to the cluster ({text})", GROUP_NOT_FOUND)
        return CollectionError(f"{where}: the broker reported {name} while {step}: {text}", BROKER_ERROR)


# --------------------------------------------------------------------------- collection


def collect_group(watch: ConsumerGroupWatch | Mapping[str, Any], topics: Iterable[str]) -> GroupCollection:
    """Every listed topic of the group from one set of Admin requests.

    Never raises for a collection failure: a failure of the whole group (connection, auth,
    timeout, unknown group) is every topic's error; a topic's own failure is that topic's.
    """
    if not isinstance(watch, ConsumerGroupWatch):
        watch = ConsumerGroupWatch.model_validate(watch)
    wanted = list(dict.fromkeys(topics))
    started = time.monotonic()
    result = GroupCollection(group=watch.group, group_state=None, topics={}, duration_s=0.0, requests=0)
    client: _Client | None = None
    try:
        client = _Client(watch)
        _collect(client, watch, wanted, result)
    except CollectionError as exc:
        for topic in wanted:
            result.topics.setdefault(topic, exc)
    finally:
        if client is not None:
            client.admin.poll(0)  # deliver the client's queued log lines and errors to our logger
        result.duration_s = round(time.monotonic() - started, 3)
        result.requests = client.requests if client else 0
        result.step_s = dict(client.marks) if client else {}
    return result


def _collect(client: _Client, watch: ConsumerGroupWatch, wanted: list[str], result: GroupCollection) -> None:
    from confluent_kafka import ConsumerGroupTopicPartitions, TopicCollection, TopicPartition
    from confluent_kafka.admin import OffsetSpec

    group = watch.group

    # 1. partitions of each topic
    step = "describing the topics"
    futures = client.call(step, lambda s: client.admin.describe_topics(TopicCollection(wanted), request_timeout=s))
    partitions: dict[str, list[int]] = {}
    for topic in wanted:
        try:
            description = client.result(step, futures[topic])
        except CollectionError as exc:
            if exc.kind != TOPIC_NOT_FOUND:
                raise  # the cluster did not answer: every topic shares the cause
            result.topics[topic] = CollectionError(
                f"{client.where}: topic {topic!r} does not exist on the cluster", TOPIC_NOT_FOUND
            )
            continue
        partitions[topic] = sorted(p.id for p in description.partitions)
    result.steps.append("describe_topics")
    client.lap("describe_topics")
    if not partitions:
        return

    # 2. state and members (assignment)
    step = "describing the consumer group"
    futures = client.call(step, lambda s: client.admin.describe_consumer_groups([group], request_timeout=s))
    description = client.result(step, futures[group])
    state_name = getattr(description.state, "name", str(description.state))
    result.group_state = _STATE_NAMES.get(state_name, state_name.title())
    owners: dict[tuple[str, int], Any] = {}
    for member in description.members or []:
        assignment = getattr(member, "assignment", None)
        for tp in getattr(assignment, "topic_partitions", None) or []:
            owners[(tp.topic, tp.partition)] = member
    result.members_reported = len(description.members or [])
    result.steps.append("describe_consumer_groups")
    client.lap("describe_consumer_groups")

    # 3. committed offsets of the watched partitions, before any log-end offset
    step = "listing the group's committed offsets"
    wanted_tps = [TopicPartition(topic, p) for topic, ps in partitions.items() for p in ps]
    committed = _committed(client, step, ConsumerGroupTopicPartitions(group, wanted_tps))
    result.steps.append("list_consumer_group_offsets")
    client.lap("list_consumer_group_offsets")

    consumed = {t_ for (t_, _p) in committed} | {t_ for (t_, _p) in owners}
    idle = [topic for topic in partitions if topic not in consumed]
    if idle:
        # Only to name the cause: what does the group consume at all? (one more request, rare)
        everything = _committed(
            client, "listing all of the group's committed offsets", ConsumerGroupTopicPartitions(group)
        )
        result.steps.append("list_consumer_group_offsets(all)")
        client.lap("list_consumer_group_offsets(all)")
        group_topics = {t_ for (t_, _p) in everything} | {t_ for (t_, _p) in owners}
        if not group_topics:
            if result.group_state == "Dead" or not _group_listed(client, group):
                raise CollectionError(
                    f"{client.where}: the consumer group does not exist on the cluster "
                    f"(state {result.group_state}, no committed offsets, no members)",
                    GROUP_NOT_FOUND,
                )
            raise CollectionError(
                f"{client.where}: the consumer group has no committed offsets and no members "
                f"(state {result.group_state}): nothing consumes, no lag to report",
                GROUP_WITHOUT_OFFSETS,
            )
        ordered = sorted(group_topics)
        shown = ", ".join(ordered[:10]) + (f" and {len(ordered) - 10} more" if len(ordered) > 10 else "")
        for topic in idle:
            result.topics[topic] = CollectionError(
                f"{client.where}: topic {topic!r} is not in consumer group {group!r} (no committed offset "
                f"and no assignment for it); the group has: {shown}",
                TOPIC_NOT_IN_GROUP,
            )
            del partitions[topic]
    if not partitions:
        return

    # 4. log-end offsets, after the committed ones
    step = "listing log-end offsets"
    request = {TopicPartition(topic, p): OffsetSpec.latest() for topic, ps in partitions.items() for p in ps}
    futures = client.call(step, lambda s: client.admin.list_offsets(request, request_timeout=s))
    ends: dict[tuple[str, int], int | CollectionError] = {}
    for tp, future in futures.items():
        try:
            ends[(tp.topic, tp.partition)] = client.result(step, future).offset
        except CollectionError as exc:
            if exc.kind in (TIMEOUT, BROKER_UNREACHABLE, AUTH_FAILED):
                raise
            ends[(tp.topic, tp.partition)] = exc
    result.steps.append("list_offsets")
    client.lap("list_offsets")

    for topic, ps in partitions.items():
        failed = [ends[(topic, p)] for p in ps if isinstance(ends[(topic, p)], CollectionError)]
        if failed:
            first = failed[0]
            assert isinstance(first, CollectionError)
            result.topics[topic] = CollectionError(
                f"{first} ({len(failed)} of {len(ps)} partitions of {topic!r} without a log-end offset)", first.kind
            )
            continue
        rows = []
        for p in ps:
            end = ends[(topic, p)]
            assert isinstance(end, int)
            current = committed.get((topic, p))
            member = owners.get((topic, p))
            rows.append(
                {
                    "group": group,
                    "topic": topic,
                    "partition": p,
                    "current_offset": current,
                    "log_end_offset": end,
                    "lag": None if current is None else end - current,
                    "consumer_id": getattr(member, "member_id", None) or None,
                    "host": getattr(member, "host", None) or None,
                    "client_id": getattr(member, "client_id", None) or None,
                }
            )
        result.topics[topic] = AdminTopicCollection(
            rows=rows, group_state=result.group_state, members_reported=result.members_reported
        )
        if result.members_reported == 0 and result.group_state not in ("Empty", "Dead"):
            # Only an Empty group says "no member": a group in any other state listed with no
            # members (tansu answers so for a live consumer) cannot tell owners, so no row
            # reads "unassigned" for it (docs/evaluation.md, the owner rule).
            for row in rows:
                row["owner_known"] = False


def _committed(client: _Client, step: str, request: Any) -> dict[tuple[str, int], int]:
    """Committed offsets of ``request`` (a ConsumerGroupTopicPartitions); none is -1001: left out."""
    futures = client.call(step, lambda s: client.admin.list_consumer_group_offsets([request], request_timeout=s))
    listed = client.result(step, futures[request.group_id])
    committed: dict[tuple[str, int], int] = {}
    for tp in listed.topic_partitions or []:
        if tp.error is None and tp.offset >= 0:
            committed[(tp.topic, tp.partition)] = tp.offset
    return committed


def _group_listed(client: _Client, group: str) -> bool:
    step = "listing the consumer groups"
    future = client.call(step, lambda s: client.admin.list_consumer_groups(request_timeout=s))
    listing = client.result(step, future)
    return any(g.group_id == group for g in listing.valid or [])
