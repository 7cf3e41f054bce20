"""The minute's time budget, and the checks that keep a configuration inside it.

The ``kafka_monitor`` DAG runs every minute with ``max_active_runs=1``. A run that outlives its
``dagrun_timeout`` has its running tasks marked *skipped* by Airflow — a fault that reads as
harmless in the UI — and delays the next minute. So every task's ``execution_timeout`` is a
constant here (the DAG file reads them when it is parsed), and the configuration is checked
against them (``check-config`` and every ``plan_lag``): every try ends by itself, writes its
status document, and a retry fits before the run times out.

Stages of a lag run, each preceded by ``STAGE_START_S`` for the scheduler to queue the task and
the worker to start its process:

=========================  =======================================================================
per_topic fan-out          plan_lag → collect_group (one describe per host/group, with its retry)
                           → collect_lag (one task per topic: index its rows, status document)
per_group fan-out          plan_lag → collect_group (describe once, index every topic itself)
=========================  =======================================================================

``execution_timeout`` is Airflow's last resort only: our own bounds (the remote ``timeout``,
the SSH connect/idle timeouts, the store's request timeout and retries, an in-task deadline)
end every try before it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kafka_monitor.config.schema import MirrorMaker, MonitorConfig, StoreSettings

MINUTE_S = 60.0
# dagrun_timeout: the run starts ~1-3 s after the minute; it must end before the next one.
RUN_TIMEOUT_S = 55.0
# Scheduler pick-up, queueing and task process start-up before a task's own clock starts.
STAGE_START_S = 3.0
# The margin every stage keeps between its worst case and its execution_timeout.
SAFETY_S = 1.0

PLAN_TIMEOUT_S = 6.0
# collect_group: per_topic, the describe with its retry; per_group, the describe and the
# indexing of every topic (an in-task deadline stops before the timeout).
COLLECT_GROUP_TIMEOUT_S = 30.0
# collect_lag (per_topic only): one topic's writes.
COLLECT_TOPIC_TIMEOUT_S = RUN_TIMEOUT_S - 3 * STAGE_START_S - PLAN_TIMEOUT_S - COLLECT_GROUP_TIMEOUT_S  # 10 s
# Other tasks of the DAG: plan_jmx → snapshot_jmx, and sync_dashboard alone.
JMX_TASK_TIMEOUT_S = RUN_TIMEOUT_S - 2 * STAGE_START_S - PLAN_TIMEOUT_S  # 43 s
DASHBOARD_TIMEOUT_S = 30.0
# collect_admin_lag: plan_admin_lag → one Admin-API collection of a group and its indexing.
ADMIN_TASK_TIMEOUT_S = JMX_TASK_TIMEOUT_S
# evaluate_alerts (the kafka_monitor_alerts DAG, judging the minute before): its own run.
ALERTS_TIMEOUT_S = RUN_TIMEOUT_S - STAGE_START_S - SAFETY_S  # 51 s

# The SSH hook's idle backstop waits this long beyond the remote bound (lag.ssh uses it).
IDLE_MARGIN_S = 2.0
# Store requests of one topic's collection: the verdict's history query, then one bulk (its
# documents and its status document).
STORE_WRITES_PER_TOPIC = 2
# Airflow's [core] max_map_length default.
DEFAULT_MAX_MAP_LENGTH = 1024


def describe_attempt_s(mm: MirrorMaker) -> float:
    """Worst case of one describe attempt: connect, the remote bound, the idle backstop."""
    t = mm.timeouts
    return t.connect_s + t.command_s + t.kill_grace_s + IDLE_MARGIN_S


def describe_budget_s(mm: MirrorMaker, attempts: int, pause_s: float) -> float:
    return attempts * describe_attempt_s(mm) + (attempts - 1) * pause_s


def store_request_s(store: StoreSettings) -> float:
    """Worst case of one bulk request with its retries (timeouts plus the backoff between tries)."""
    backoff = sum(min(store.initial_backoff_s * 2**i, store.max_backoff_s) for i in range(store.max_retries))
    return (store.max_retries + 1) * store.request_timeout_s + backoff


def max_map_length() -> int:
    """Airflow's ``[core] max_map_length`` where Airflow is installed, else its default."""
    try:
        from airflow.configuration import conf
    except ImportError:
        return DEFAULT_MAX_MAP_LENGTH
    return conf.getint("core", "max_map_length", fallback=DEFAULT_MAX_MAP_LENGTH)


def check_budget(config: MonitorConfig) -> list[str]:
    """Why this configuration cannot run inside the minute; empty when it fits.

    Each problem names the numbers involved and which fields to change.
    """
    problems: list[str] = []
    lag = config.lag
    store_s = store_request_s(config.store)
    store_fields = "store.request_timeout_s, store.max_retries or store.max_backoff_s"
    topic_writes_s = STORE_WRITES_PER_TOPIC * store_s
    if config.lag.fan_out == "per_topic":
        group_limit = COLLECT_GROUP_TIMEOUT_S - SAFETY_S
        attempts = lag.describe_attempts
        topic_limit = COLLECT_TOPIC_TIMEOUT_S - SAFETY_S
        if topic_writes_s > topic_limit:
            problems.append(
                f"store: one topic's {STORE_WRITES_PER_TOPIC} writes may take {topic_writes_s:g} s "
                f"({STORE_WRITES_PER_TOPIC} x ({config.store.max_retries} retries + 1) x "
                f"{config.store.request_timeout_s:g} s plus backoff), more than the {topic_limit:g} s a "
                f"collect_lag task has; lower {store_fields}"
            )
    else:
        # The group's task also indexes: one attempt and at least one topic's writes must fit
        # (a second attempt is made only when the time left still holds it).
        group_limit = COLLECT_GROUP_TIMEOUT_S - SAFETY_S - topic_writes_s
        attempts = 1
    for i, mm in enumerate(config.mirrormakers):
        need = describe_budget_s(mm, attempts, lag.retry_pause_s)
        if need > group_limit:
            t = mm.timeouts
            pauses = f" + {attempts - 1} x lag.retry_pause_s {lag.retry_pause_s:g}" if attempts > 1 else ""
            problems.append(
                f"mirrormakers[{i}] ({mm.name}): {attempts} describe attempt(s) may take {need:g} s "
                f"({attempts} x (connect_s {t.connect_s:g} + command_s {t.command_s:g} + kill_grace_s "
                f"{t.kill_grace_s:g} + {IDLE_MARGIN_S:g} s SSH idle margin){pauses}), more than the "
                f"{group_limit:g} s the minute leaves for them with lag.fan_out {lag.fan_out}; lower "
                f"mirrormakers[{i}].timeouts.command_s or connect_s"
                + (", or lag.describe_attempts" if attempts > 1 else ", or the store's timeouts")
            )
    admin_limit = ADMIN_TASK_TIMEOUT_S - SAFETY_S - topic_writes_s
    for i, watch in enumerate(config.consumer_groups):
        if watch.timeouts.total_s > admin_limit:
            problems.append(
                f"consumer_groups[{i}] ({watch.name}): timeouts.total_s ({watch.timeouts.total_s:g} s) leaves no "
                f"time in the minute to index what it collects: at most {admin_limit:g} s with these store "
                f"settings; lower consumer_groups[{i}].timeouts.total_s or {store_fields}"
            )
    jmx_limit = JMX_TASK_TIMEOUT_S - SAFETY_S - topic_writes_s
    if config.jmx.targets and config.jmx.timeout_s > jmx_limit:
        problems.append(
            f"jmx.timeout_s ({config.jmx.timeout_s:g} s) leaves no time in the minute to index the snapshot: "
            f"at most {jmx_limit:g} s with these store settings; lower jmx.timeout_s"
        )
    return problems


def check_fan_out(config: MonitorConfig, limit: int | None = None) -> list[str]:
    """Why the chosen fan-out cannot map this configuration (Airflow's max_map_length)."""
    limit = max_map_length() if limit is None else limit
    groups = len(config.mirrormakers)
    topics = sum(len(mm.topics) for mm in config.mirrormakers)
    problems = []
    if config.lag.fan_out == "per_topic" and topics > limit:
        problems.append(
            f"lag.fan_out per_topic maps one task per topic: {topics} topics exceed Airflow's "
            f"[core] max_map_length of {limit}; set lag.fan_out: per_group (one task per host/group, "
            f"{groups} here) or raise [core] max_map_length (each topic task costs about a CPU-second "
            "per minute, see docs/operations.md)"
        )
    if groups > limit:
        problems.append(
            f"{groups} MirrorMaker entries exceed Airflow's [core] max_map_length of {limit}; "
            "raise [core] max_map_length or split the configuration over several deployments"
        )
    return problems


def check_minute(config: MonitorConfig, map_limit: int | None = None) -> list[str]:
    return check_fan_out(config, map_limit) + check_budget(config)


def topic_tasks_per_minute(config: MonitorConfig) -> int:
    return sum(len(mm.topics) for mm in config.mirrormakers) if config.lag.fan_out == "per_topic" else 0


def describe_sessions_per_minute(config: MonitorConfig) -> int:
    """SSH sessions (and tool JVMs) per minute on all hosts: one per (host, group)."""
    return len(config.mirrormakers)
