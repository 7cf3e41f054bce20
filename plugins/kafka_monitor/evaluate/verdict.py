"""The per-partition verdict: Burrow's evaluator adapted to one sample a minute (pure, no I/O).

A sample is what one minute's describe row says about a partition: committed offset, log-end
offset, and whether a consumer owns it. The window is the samples of the last
``window_minutes`` minutes, this one included; a minute without a sample is a gap (never a
zero). The rules, in order (docs/evaluation.md explains each one and how it differs from
Burrow):

1. ``unknown``     — this minute has no log-end offset for the partition;
2. ``unassigned``  — no consumer owns the partition (``CONSUMER-ID`` is ``-``), whatever the lag;
3. ``no_offset``   — the group never committed an offset for it;
4. ``ok``          — the lag is within ``allowed_lag`` (an idle partition lands here);
5. ``rewind``      — the committed offset went backwards in the window and never got back;
6. ``stop``/``stall`` — the committed offset has not changed for two sample intervals or more
   while the partition was behind: ``stop`` when that lasted longer than the window shows it
   healthy (moving, or caught up) before, ``stall`` until then;
7. ``warn``        — at least three samples, every lag above ``allowed_lag``, never decreasing,
   and grown over the window (a steady lag is a mirror committing once a minute);
8. ``ok``          — otherwise (consuming, catching up, or a single sample: no history yet).
Then the lag-in-seconds thresholds: above ``max_lag_seconds`` an ``ok`` becomes ``warn``;
above ``critical_lag_seconds`` the severity is ``error``.

The log-end offsets restart with the topic: a drop of the log-end offset (the topic was
recreated) cuts the window at that minute.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from kafka_monitor.evaluate import rates as rates_mod
from kafka_monitor.evaluate.seconds import LagSeconds, lag_seconds, leo_table

OK = "ok"
WARN = "warn"
STALL = "stall"
STOP = "stop"
REWIND = "rewind"
UNASSIGNED = "unassigned"
NO_OFFSET = "no_offset"
UNKNOWN = "unknown"
# Least to most severe: a topic's (and group's) status is its worst partition's.
STATUSES = (OK, NO_OFFSET, WARN, UNKNOWN, REWIND, STALL, STOP, UNASSIGNED)
RANK = {status: i for i, status in enumerate(STATUSES)}

SEVERITY_OK = "ok"
SEVERITY_WARN = "warn"
SEVERITY_UNKNOWN = "unknown"
SEVERITY_ERROR = "error"
SEVERITIES = (SEVERITY_OK, SEVERITY_WARN, SEVERITY_UNKNOWN, SEVERITY_ERROR)
SEVERITY_OF = {
    OK: SEVERITY_OK,
    NO_OFFSET: SEVERITY_WARN,
    WARN: SEVERITY_WARN,
    UNKNOWN: SEVERITY_UNKNOWN,
    REWIND: SEVERITY_ERROR,
    STALL: SEVERITY_ERROR,
    STOP: SEVERITY_ERROR,
    UNASSIGNED: SEVERITY_ERROR,
}

# Reasons (machine-readable, one per rule).
R_NO_LOG_END_OFFSET = "no_log_end_offset"
R_NO_OWNER = "no_owner"
R_NEVER_COMMITTED = "never_committed"
R_IDLE = "idle"
R_WITHIN_ALLOWED_LAG = "within_allowed_lag"
R_OFFSET_WENT_BACKWARDS = "offset_went_backwards"
R_FROZEN_LONGER_THAN_HEALTHY = "offset_unchanged_longer_than_seen_healthy"
R_FROZEN_WHILE_BEHIND = "offset_unchanged_while_behind"
R_LAG_GROWING = "lag_growing"
R_CATCHING_UP = "catching_up"
R_CONSUMING = "consuming"
R_INSUFFICIENT_HISTORY = "insufficient_history"
R_SECONDS_ABOVE_MAX = "lag_seconds_above_max"
R_SECONDS_ABOVE_CRITICAL = "lag_seconds_above_critical"
R_COLLECTION_FAILED = "collection_failed"

# MirrorMaker 1 commits once a minute: one unchanged minute is normal, two are not.
FROZEN_INTERVALS = 2
# Fewer samples than this say nothing about a trend.
WARN_MIN_SAMPLES = 3


@dataclass(frozen=True)
class Sample:
    t: float  # the scheduled minute, in seconds
    committed: int | None
    log_end: int | None
    owned: bool | None = True  # None: the source cannot tell (then the owner rule is skipped)


@dataclass(frozen=True)
class Rules:
    window_s: float = 600.0
    interval_s: float = 60.0
    allowed_lag: int = 0
    max_lag_seconds: float | None = None
    critical_lag_seconds: float | None = None


@dataclass(frozen=True)
class PartitionVerdict:
    status: str
    reason: str
    severity: str
    lag: int | None
    lag_seconds: float | None
    lag_seconds_lower_bound: bool
    lag_seconds_note: str | None
    produce_rate: float | None
    consume_rate: float | None
    eta_seconds: float | None
    eta_reason: str
    history_restarted: bool
    samples: int  # samples in the window, this minute's included

    def fields(self) -> dict:
        """The fields a partition document carries."""
        return {
            "status": self.status,
            "status_rank": RANK[self.status],
            "status_reason": self.reason,
            "severity": self.severity,
            "lag_seconds": _round(self.lag_seconds),
            "lag_seconds_lower_bound": self.lag_seconds_lower_bound,
            "lag_seconds_note": self.lag_seconds_note,
            "produce_rate": _round(self.produce_rate, 4),
            "consume_rate": _round(self.consume_rate, 4),
            "eta_seconds": _round(self.eta_seconds),
            "eta_reason": self.eta_reason,
            "history_restarted": self.history_restarted,
            "window_samples": self.samples,
        }


def _round(value: float | None, digits: int = 1) -> float | None:
    return None if value is None else round(value, digits)


def window_of(current: Sample, history: Iterable[Sample], rules: Rules) -> list[Sample]:
    """This minute plus the history inside the window, time-ordered, one sample a minute."""
    start = current.t - rules.window_s
    by_time = {s.t: s for s in history if start < s.t < current.t}
    by_time[current.t] = current
    return [by_time[t] for t in sorted(by_time)]


def _restart(window: list[Sample]) -> tuple[list[Sample], bool]:
    """Cut the window after the last drop of the log-end offset (the topic was recreated)."""
    cut = 0
    last: int | None = None
    for i, s in enumerate(window):
        if s.log_end is not None:
            if last is not None and s.log_end < last:
                cut = i
            last = s.log_end
    return window[cut:], cut > 0


def lag_of(s: Sample) -> int | None:
    if s.committed is None or s.log_end is None:
        return None
    return max(0, s.log_end - s.committed)


def evaluate_partition(current: Sample, history: Iterable[Sample], rules: Rules) -> PartitionVerdict:
    window, restarted = _restart(window_of(current, history, rules))
    now = current.t
    lag = lag_of(current)

    table, _ = leo_table((s.t, s.log_end) for s in window)
    seconds = lag_seconds(table, current.committed, now) if current.log_end is not None else LagSeconds(None)
    produce = rates_mod.rate([(s.t, s.log_end) for s in window])
    consume = rates_mod.rate([(s.t, s.committed) for s in window])
    eta = rates_mod.eta(lag, rules.allowed_lag, produce, consume)

    status, reason = _status(current, window, lag, rules)
    severity = SEVERITY_OF[status]
    if seconds.seconds is not None and status in (OK, WARN):
        if rules.critical_lag_seconds is not None and seconds.seconds > rules.critical_lag_seconds:
            status, reason, severity = WARN, R_SECONDS_ABOVE_CRITICAL, SEVERITY_ERROR
        elif rules.max_lag_seconds is not None and seconds.seconds > rules.max_lag_seconds and status == OK:
            status, reason = WARN, R_SECONDS_ABOVE_MAX
            severity = SEVERITY_WARN
    return PartitionVerdict(
        status=status,
        reason=reason,
        severity=severity,
        lag=lag,
        lag_seconds=seconds.seconds,
        lag_seconds_lower_bound=seconds.lower_bound,
        lag_seconds_note=seconds.note,
        produce_rate=produce,
        consume_rate=consume,
        eta_seconds=eta.seconds,
        eta_reason=eta.reason,
        history_restarted=restarted,
        samples=len(window),
    )


def _status(current: Sample, window: Sequence[Sample], lag: int | None, rules: Rules) -> tuple[str, str]:
    if current.log_end is None:
        return UNKNOWN, R_NO_LOG_END_OFFSET
    if current.owned is False:
        return UNASSIGNED, R_NO_OWNER
    if current.committed is None or lag is None:
        return NO_OFFSET, R_NEVER_COMMITTED
    if lag <= rules.allowed_lag:
        ends = [s.log_end for s in window if s.log_end is not None]
        return (OK, R_IDLE) if len(ends) >= 2 and min(ends) == max(ends) else (OK, R_WITHIN_ALLOWED_LAG)

    if len(window) < 2:
        return OK, R_INSUFFICIENT_HISTORY  # behind, but one minute shows no trend yet
    committed = [(s.t, s.committed) for s in window if s.committed is not None]
    if _rewound(committed):
        return REWIND, R_OFFSET_WENT_BACKWARDS

    frozen = _frozen(current, window, committed, rules)
    if frozen is not None:
        return frozen

    lags = [x for x in (lag_of(s) for s in window) if x is not None]
    if (
        len(lags) >= WARN_MIN_SAMPLES
        and all(x > rules.allowed_lag for x in lags)
        and all(b >= a for a, b in zip(lags, lags[1:]))
        and lags[-1] > lags[0]
    ):
        return WARN, R_LAG_GROWING
    if lags and lag < lags[0]:
        return OK, R_CATCHING_UP
    return OK, R_CONSUMING


def _rewound(committed: Sequence[tuple[float, int]]) -> bool:
    """Burrow's rule: the first step backwards, unless a later offset got back to where it was."""
    offsets = [c for _, c in committed]
    for i in range(1, len(offsets)):
        if offsets[i] < offsets[i - 1]:
            return not any(later >= offsets[i - 1] for later in offsets[i:])
    return False


def _frozen(
    current: Sample, window: Sequence[Sample], committed: Sequence[tuple[float, int]], rules: Rules
) -> tuple[str, str] | None:
    """Stall or stop: the committed offset unchanged while the partition was behind.

    ``since``: when the offset took its present value (the oldest sample of the trailing run of
    equal offsets), or, if later, the last minute the log ended at or before that offset plus
    the allowed lag (the partition was caught up then: an idle partition is not stopped).
    """
    c_now = current.committed
    since = current.t
    for t, c in reversed(committed):
        if c != c_now:
            break
        since = t
    assert c_now is not None
    caught_up = [s.t for s in window if s.log_end is not None and s.log_end <= c_now + rules.allowed_lag]
    if caught_up:
        since = max(since, max(caught_up))
    frozen_s = current.t - since
    if frozen_s < FROZEN_INTERVALS * rules.interval_s:
        return None
    healthy_s = since - window[0].t
    if frozen_s > healthy_s:
        return STOP, R_FROZEN_LONGER_THAN_HEALTHY
    return STALL, R_FROZEN_WHILE_BEHIND


def worst(statuses: Iterable[str]) -> str | None:
    ranked = [s for s in statuses if s in RANK]
    return max(ranked, key=RANK.__getitem__) if ranked else None


def worst_severity(severities: Iterable[str]) -> str | None:
    order = {s: i for i, s in enumerate(SEVERITIES)}
    ranked = [s for s in severities if s in order]
    return max(ranked, key=order.__getitem__) if ranked else None
