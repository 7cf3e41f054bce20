"""The pure evaluator (kafka_monitor.evaluate): Burrow's evaluator cases, kafka-lag-exporter's
lookup vectors, one test per defect their users report, and properties for any history.

Burrow's cases (core/internal/evaluator/caching_test.go, cases 0-15 at ced55ba) are copied as
data and adapted to one sample a minute, because our describe has no commit timestamps:
- each Burrow commit ``{offset, timestamp, lag}`` is the sample of one minute (Burrow's 100 s
  spacing becomes one minute; the stop rule compares durations, so the ratio is kept) with
  committed offset = offset and log-end offset = offset + lag;
- Burrow's "now" is this minute's sample: the last committed offset and log-end offset =
  offset + currentLag; the minutes between the last commit and "now", which Burrow cannot see
  but our every-minute collection does, are samples with the same committed offset;
- cases 9 and 10 have commits one second apart and a list of broker offsets: each commit
  becomes a minute, each broker offset a later minute with the last committed offset;
- case 8 (currentLag 0 with a last commit 250 behind) is given as a commit that caught up.
Where our verdict differs from Burrow's the case says why (docs/evaluation.md has the rules).
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kafka_monitor.config.evaluation import Thresholds
from kafka_monitor.evaluate.rates import Eta, eta, rate, topic_eta
from kafka_monitor.evaluate.seconds import (
    AHEAD_OF_LOG_END,
    OLDER_THAN_HISTORY,
    Point,
    interpolate_time,
    lag_seconds,
    leo_table,
)
from kafka_monitor.evaluate.topic import evaluate_topic
from kafka_monitor.evaluate.verdict import STATUSES, Rules, Sample, evaluate_partition

MIN = 60.0


def judge(samples, now, allowed_lag=0, window_minutes=10, **rules):
    """Status of the sample ``now`` = (minute, committed, log_end) after ``samples``."""
    history = [Sample(m * MIN, c, e) for m, c, e in samples]
    current = Sample(now[0] * MIN, now[1], now[2])
    return evaluate_partition(current, history, Rules(window_s=window_minutes * MIN, allowed_lag=allowed_lag, **rules))


def fill(last_minute, now_minute, committed, log_end):
    """Minutes Burrow cannot see (no commit) but we sample: same committed offset."""
    return [(m, committed, log_end) for m in range(last_minute + 1, now_minute)]


RISING = [(1, 1000, 1000), (2, 2000, 2050), (3, 3000, 3100), (4, 4000, 4150), (5, 5000, 5200)]  # cases 0-2
RISING_LAGGING = [(1, 1000, 1050), (2, 2000, 2100), (3, 3000, 3150), (4, 4000, 4200), (5, 5000, 5250)]  # 3, 8
FROZEN_FROM_ZERO = [(m, 1000, 1000 + 50 * (m - 1)) for m in range(1, 6)]  # case 4
FROZEN_GROWING = [(m, 1000, 1100 + 50 * (m - 1)) for m in range(1, 6)]  # cases 5, 13
FROZEN_FLAT = [(m, 1000, 1100) for m in range(1, 6)]  # case 6
REWOUND_RECOVERED = [(1, 1000, 1100), (2, 2000, 2150), (3, 3000, 3200), (4, 2000, 3250), (5, 4000, 4300)]  # 7, 14
# Case 15: Burrow's lags give a log-end offset that falls (2500 + 300 < 3250); a log-end offset
# never falls on one topic (for us a fall means a recreated topic), so it stays 3250.
REWOUND_NOT_RECOVERED = [(1, 1000, 1100), (2, 2000, 2150), (3, 3000, 3200), (4, 2000, 3250), (5, 2500, 3250)]
BASE = 792748079
PER_SECOND = [(m, BASE + m - 1, BASE + m - 1) for m in range(1, 16)]  # cases 9, 10: lag 0 at each commit

BURROW_CASES = [
    # (case, samples, now, allowed_lag, window, Burrow's status, ours)
    (0, RISING, (6, 5000, 5200), 0, 10, "ok", "ok"),
    # 1: Burrow: OK, 400 s since the last commit is not more than the 400 s of commits. We see
    # the minutes in between: the offset stood at 5000 for 4 minutes while 200 behind -> stall.
    (1, RISING + fill(5, 9, 5000, 5200), (9, 5000, 5200), 0, 10, "ok", "stall"),
    (2, RISING + fill(5, 10, 5000, 5200), (10, 5000, 5200), 0, 10, "stop", "stop"),
    (3, RISING_LAGGING + fill(5, 10, 5000, 5250), (10, 5000, 5250), 0, 10, "stop", "stop"),
    # 4: Burrow: OK because the lag was zero at the first commit ("another commit will turn this
    # to stall"). We see the offset frozen for 5 minutes while the log grew from the start:
    # never healthy in the window -> stop.
    (4, FROZEN_FROM_ZERO, (6, 1000, 1200), 0, 10, "ok", "stop"),
    # 5, 6, 13: Burrow: STALL, the consumer still commits (fresh commit timestamps) the same
    # offset. We have no commit times: an offset frozen for the whole window is stop (stall is
    # reserved for a freeze shorter than the healthy part of the window).
    (5, FROZEN_GROWING, (6, 1000, 1300), 0, 10, "stall", "stop"),
    (6, FROZEN_FLAT, (6, 1000, 1100), 0, 10, "stall", "stop"),
    (7, REWOUND_RECOVERED, (6, 4000, 4300), 0, 10, "ok", "ok"),
    (8, RISING_LAGGING + fill(5, 10, 5000, 5250), (10, 5250, 5250), 0, 10, "ok", "ok"),
    (
        9,
        PER_SECOND
        + [(16, BASE + 14, 792748500), (17, BASE + 14, 792748600), (18, BASE + 14, 792748800)]
        + [(19, BASE + 14, 792749000)],
        (20, BASE + 14, 792749024),
        0,
        10,
        "stop",
        "stop",
    ),
    (10, PER_SECOND + [(m, BASE + 14, BASE + 14) for m in (16, 17, 18)], (19, BASE + 14, BASE + 15), 0, 10, "ok", "ok"),
    # 11: commits with no lag (nil) are minutes without a log-end offset. Burrow's ring holds 10
    # commits; the window must reach back to the first (lag 0) one: 11 minutes.
    (
        11,
        [(m, 1000 + 500 * (m - 1), None if m % 2 == 0 else 1000 + 500 * (m - 1) + 25 * (m - 1)) for m in range(1, 11)],
        (11, 5500, 5700),
        0,
        11,
        "ok",
        "ok",
    ),
    (
        12,
        [(1, 1000, 1002), (2, 2000, 2001), (3, 2000, 2001), (4, 2000, 2001), (5, 2000, 2001)],
        (6, 2000, 2001),
        1,
        10,
        "ok",
        "ok",
    ),
    (13, FROZEN_GROWING, (6, 1000, 1300), 99, 10, "stall", "stop"),
    (14, REWOUND_RECOVERED, (6, 4000, 4300), 99, 10, "ok", "ok"),
    (15, REWOUND_NOT_RECOVERED, (6, 2500, 4300), 0, 10, "rewind", "rewind"),
]


@pytest.mark.parametrize(
    "case,samples,now,allowed,window,burrow,ours", BURROW_CASES, ids=[f"burrow-{c[0]}" for c in BURROW_CASES]
)
def test_burrow_evaluator_cases_adapted_to_minute_samples(case, samples, now, allowed, window, burrow, ours):
    verdict = judge(samples, now, allowed_lag=allowed, window_minutes=window)
    assert verdict.status == ours, (case, verdict)
    if ours != burrow:
        # Every difference is one of the documented ones: a frozen offset judged from minutes.
        assert verdict.status in ("stall", "stop") and verdict.reason.startswith("offset_unchanged")


def test_all_sixteen_burrow_cases_are_here():
    assert [c[0] for c in BURROW_CASES] == list(range(16))


# --------------------------------------------------------------------------- kafka-lag-exporter


def table_of(pairs):
    """kafka-lag-exporter's spec tables are (offset, time) pairs."""
    table, restarted = leo_table((t, offset) for offset, t in pairs)
    assert not restarted
    return table


LKE_TABLE_1 = [(100, 30), (200, 60), (200, 700), (300, 730), (300, 9000), (400, 9030)]
LKE_TABLE_2 = [(0, 0), (10, 1), (200, 2), (3000, 3), (40000, 4)]


@pytest.mark.parametrize(
    "pairs,offset,expected",
    [
        (LKE_TABLE_1, 199, 59.7),
        (LKE_TABLE_1, 200, 700),
        (LKE_TABLE_1, 250, 715),
        (LKE_TABLE_1, 300, 9000),
        (LKE_TABLE_2, 1600, 2.5),
        (LKE_TABLE_2, 9, 0.9),
    ],
)
def test_kafka_lag_exporter_lookup_vectors_inside_the_table(pairs, offset, expected):
    assert interpolate_time(table_of(pairs), offset) == pytest.approx(expected)


def test_kafka_lag_exporter_vectors_at_and_outside_the_table_edges():
    table = table_of(LKE_TABLE_2)
    now = 10.0
    # lookup(40000) = 0: the committed offset is the newest log-end offset.
    assert lag_seconds(table, 40000, now).seconds == 0
    # lookup(-10000) = -1 and lookup(50000) = 5 are extrapolations; ours are the defect-free
    # answers (see the defect tests below): a lower bound, and 0 flagged.
    older = lag_seconds(table, -10000, now)
    assert (older.seconds, older.lower_bound, older.note) == (now - 0, True, OLDER_THAN_HISTORY)
    ahead = lag_seconds(table, 50000, now)
    assert (ahead.seconds, ahead.note) == (0, AHEAD_OF_LOG_END)


def test_a_flat_run_is_kept_as_its_first_and_latest_point():
    table, _ = leo_table([(0, 5), (60, 7), (120, 7), (180, 7), (240, 7), (300, 9)])
    assert table == [Point(0, 5), Point(60, 7), Point(240, 7), Point(300, 9)]


# --------------------------------------------------------------------------- kafka-lag-exporter's defects


def test_defect_flat_table_divides_by_zero():
    # Theirs: table (100,100),(100,400), lookup(99) = -inf.
    table = table_of([(100, 100), (100, 400)])
    result = lag_seconds(table, 99, 460)
    assert result.seconds == 360 and result.lower_bound and math.isfinite(result.seconds)
    # Inside a flat run: the run's latest point, no division.
    assert lag_seconds(table_of([(100, 100), (100, 400), (150, 460)]), 100, 460).seconds == 60


def test_defect_commit_ahead_of_the_fetched_log_end_is_negative():
    table = table_of([(100, 0), (200, 60)])
    result = lag_seconds(table, 230, 60)
    assert (result.seconds, result.note) == (0, AHEAD_OF_LOG_END)
    verdict = judge([(0, 100, 100)], (1, 230, 200))
    assert verdict.lag == 0 and verdict.lag_seconds == 0 and verdict.lag_seconds_note == AHEAD_OF_LOG_END


def test_defect_offset_older_than_the_table_is_extrapolated_wildly():
    # The log grew 1000 a minute; the consumer rewound to 0 (reprocessing). Theirs extrapolates
    # the whole topic's history from two points; ours says "at least as old as the history".
    pairs = [(5000, 0), (6000, 60), (7000, 120)]
    theirs = 120 - (7000 - 0) * (120 - 0) / (7000 - 5000)  # their (oldest, newest) extrapolation
    result = lag_seconds(table_of(pairs), 0, 180)
    assert result.lower_bound and result.seconds == 180 - 0
    assert 180 - theirs != result.seconds  # theirs: 480 s, a guess presented as a measure


def test_defect_recreated_topic_makes_the_table_stale():
    # Log-end offset 2000, then the topic is deleted and recreated: 50, 100. Theirs rejects the
    # lower points forever; ours restarts the history at the drop.
    table, restarted = leo_table([(0, 1000), (60, 2000), (120, 50), (180, 100)])
    assert restarted and table == [Point(120, 50), Point(180, 100)]
    assert lag_seconds(table, 75, 180).seconds == 30
    verdict = judge([(0, 900, 1000), (1, 1900, 2000), (2, 10, 50)], (3, 75, 100))
    # Offsets that restarted with the topic are no rewind.
    assert verdict.history_restarted and verdict.status == "ok" and verdict.lag_seconds == 30


def test_defect_a_restart_empties_the_table():
    # Ours keeps nothing in memory: the history is the store's documents; the first evaluation
    # in a fresh process already has the whole window.
    minute = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
    history = [
        {"partition": 0, "@timestamp": (minute - timedelta(minutes=k)).isoformat(), "current_offset": 0}
        | {"log_end_offset": 100 * (10 - k), "consumer_id": "c-1"}
        for k in range(1, 10)
    ]
    row = {"partition": 0, "current_offset": 100, "log_end_offset": 1000, "consumer_id": "c-1"}
    first = evaluate_topic(
        [row],
        history,
        Thresholds(window_minutes=10, allowed_lag=0, max_lag_seconds=None, critical_lag_seconds=None),
        minute,
    )
    again = evaluate_topic(
        [row],
        history,
        Thresholds(window_minutes=10, allowed_lag=0, max_lag_seconds=None, critical_lag_seconds=None),
        minute,
    )
    assert first.partitions[0].lag_seconds == again.partitions[0].lag_seconds == 9 * 60


# --------------------------------------------------------------------------- what users complain about


def test_complaint_false_stop_on_an_idle_partition():
    # Burrow #38/#123/#303: no traffic, so the consumer commits nothing new: ours is ok/idle.
    idle = judge([(m, 500, 500) for m in range(1, 10)], (10, 500, 500))
    assert (idle.status, idle.reason) == ("ok", "idle")
    # Records arrive after a long idle time: one minute behind is no stop (nor a stall).
    burst = judge([(m, 500, 500) for m in range(1, 10)], (10, 500, 520))
    assert burst.status == "ok"


def test_complaint_lag_frozen_once_commits_stop_and_stop_found_late():
    # Burrow #287/#303: our lag is this minute's log-end minus committed, so it keeps growing,
    # and a consumer that stops is stall two minutes later and stop once the freeze is longer
    # than the window shows it healthy.
    moving = [(m, 100 * m, 100 * m + 5) for m in range(0, 5)]
    statuses = []
    for now in range(5, 11):
        frozen = [(m, 400, 100 * m + 5) for m in range(5, now)]
        statuses.append(judge(moving + frozen, (now, 400, 100 * now + 5)).status)
    assert statuses == ["warn", "stall", "stall", "stall", "stop", "stop"]  # warn: the lag jumped


def test_complaint_transactional_markers_leave_a_lag_of_one():
    samples = [(m, 10 * m, 10 * m + 1) for m in range(1, 10)]
    assert judge(samples, (10, 100, 101)).status in ("ok", "warn")
    assert judge(samples, (10, 100, 101), allowed_lag=1).status == "ok"
    assert judge([(m, 100, 101) for m in range(1, 10)], (10, 100, 101), allowed_lag=1).reason == "idle"


def test_complaint_negative_lag_from_the_offset_race():
    verdict = judge([(m, 10 * m, 10 * m) for m in range(1, 5)], (5, 52, 50))
    assert verdict.lag == 0 and verdict.lag_seconds == 0 and verdict.status == "ok"


def test_complaint_no_committed_offset_shown_as_huge_lag_or_minus_one():
    verdict = judge([(m, None, 10 * m) for m in range(1, 5)], (5, None, 50))
    assert (verdict.status, verdict.lag, verdict.lag_seconds, verdict.eta_seconds) == ("no_offset", None, None, None)


def test_complaint_lag_disappears_when_the_group_has_no_members():
    # kafka-lag-exporter #36/#63: ours raises unassigned, even with a small lag, and keeps the lag.
    history = [Sample(m * MIN, 10 * m, 10 * m + 1) for m in range(1, 5)]
    verdict = evaluate_partition(Sample(5 * MIN, 50, 51, owned=False), history, Rules())
    assert (verdict.status, verdict.reason, verdict.lag, verdict.severity) == ("unassigned", "no_owner", 1, "error")
    # A source that cannot tell owners (owned=None) is not judged on them.
    assert evaluate_partition(Sample(5 * MIN, 50, 50, owned=None), history, Rules()).status == "ok"


def test_complaint_lag_seconds_nan_on_idle_and_absurd_while_reprocessing():
    idle = judge([(m, 500, 500) for m in range(1, 10)], (10, 500, 500))
    assert idle.lag_seconds == 0
    reprocessing = judge([(m, 1000 * m, 1000 * m) for m in range(1, 10)], (10, 0, 10000))
    assert reprocessing.lag_seconds_lower_bound and reprocessing.lag_seconds == 9 * 60
    assert reprocessing.status == "rewind"


# --------------------------------------------------------------------------- warn, rates, ETA, thresholds


def test_lag_growing_over_the_whole_window_is_warn_with_no_eta():
    samples = [(m, 4 * m, 10 * m) for m in range(1, 6)]
    verdict = judge(samples, (6, 24, 60))
    assert (verdict.status, verdict.reason) == ("warn", "lag_growing")
    assert verdict.produce_rate == pytest.approx(10 / 60) and verdict.consume_rate == pytest.approx(4 / 60)
    assert (verdict.eta_seconds, verdict.eta_reason) == (None, "not_catching_up")


def test_catching_up_gives_the_eta_from_the_window_rates():
    samples = [(m, 100 + 12 * m, 160 + 2 * m) for m in range(0, 3)]
    verdict = judge(samples, (3, 136, 166))
    assert (verdict.status, verdict.reason) == ("ok", "catching_up")
    assert verdict.eta_seconds == pytest.approx(30 / (10 / 60))


def test_lag_seconds_thresholds():
    samples = [(m, 10 * m, 10 * m + 10) for m in range(0, 9)]
    plain = judge(samples, (9, 90, 100))
    assert plain.status == "ok" and plain.lag_seconds == 60
    warned = judge(samples, (9, 90, 100), max_lag_seconds=30)
    assert (warned.status, warned.reason, warned.severity) == ("warn", "lag_seconds_above_max", "warn")
    critical = judge(samples, (9, 90, 100), max_lag_seconds=30, critical_lag_seconds=50)
    assert (critical.status, critical.reason, critical.severity) == ("warn", "lag_seconds_above_critical", "error")


def test_rates_and_topic_eta():
    assert rate([(0, 10), (60, None), (120, 70)]) == 0.5
    assert rate([(0, 10)]) is None
    assert eta(0, 0, None, None) == Eta(0.0, "caught_up")
    assert eta(5, 0, None, 1.0) == Eta(None, "insufficient_history")
    assert topic_eta([Eta(10, "catching_up"), Eta(0.0, "caught_up")]) == Eta(10, "catching_up")
    assert topic_eta([Eta(10, "catching_up"), Eta(None, "not_catching_up")]) == Eta(None, "not_catching_up")


def test_a_gap_is_not_a_zero():
    # Minutes 3-6 missing (failed collections): the window spans the gap, rates are per second
    # between the samples that exist, and nothing reads as lag 0.
    verdict = judge([(1, 100, 110), (2, 200, 210), (7, 700, 710), (8, 800, 810)], (9, 900, 910))
    assert verdict.status == "ok" and verdict.samples == 5
    assert verdict.consume_rate == pytest.approx(100 / 60)


def test_topic_roll_up_is_the_worst_partition_with_counts():
    minute = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
    rows = [
        {"partition": 0, "current_offset": 10, "log_end_offset": 10, "consumer_id": "c"},
        {"partition": 1, "current_offset": 10, "log_end_offset": 12, "consumer_id": "-"},
        {"partition": 2, "current_offset": None, "log_end_offset": 5, "consumer_id": "c"},
    ]
    th = Thresholds(window_minutes=10, allowed_lag=0, max_lag_seconds=None, critical_lag_seconds=None)
    summary = evaluate_topic(rows, [], th, minute).summary
    assert (summary["status"], summary["worst_partition"], summary["status_reason"]) == ("unassigned", 1, "no_owner")
    assert {k: v for k, v in summary["status_counts"].items() if v} == {"ok": 1, "unassigned": 1, "no_offset": 1}
    assert summary["severity"] == "error"


# --------------------------------------------------------------------------- properties

offsets = st.one_of(st.none(), st.integers(min_value=-5, max_value=10**12))
samples = st.builds(
    Sample,
    t=st.integers(min_value=-30, max_value=0).map(lambda m: m * MIN),
    committed=offsets,
    log_end=offsets,
    owned=st.sampled_from([True, False, None]),
)
rules = st.builds(
    Rules,
    window_s=st.integers(min_value=2, max_value=60).map(lambda m: m * MIN),
    allowed_lag=st.integers(min_value=0, max_value=5),
    max_lag_seconds=st.one_of(st.none(), st.floats(min_value=1, max_value=1e5)),
    critical_lag_seconds=st.one_of(st.none(), st.floats(min_value=1, max_value=1e5)),
)


@settings(max_examples=400, deadline=None)
@given(history=st.lists(samples, max_size=40), current=samples, rules=rules)
def test_any_history_gives_a_known_status_and_never_negative_seconds(history, current, rules):
    current = Sample(0.0, current.committed, current.log_end, current.owned)
    verdict = evaluate_partition(current, history, rules)
    assert verdict.status in STATUSES
    assert verdict.lag is None or verdict.lag >= 0
    assert verdict.lag_seconds is None or (math.isfinite(verdict.lag_seconds) and verdict.lag_seconds >= 0)
    assert verdict.eta_seconds is None or (math.isfinite(verdict.eta_seconds) and verdict.eta_seconds >= 0)


junk = st.one_of(st.none(), st.integers(), st.text(max_size=5), st.floats(allow_nan=True), st.booleans())
docs = st.fixed_dictionaries(
    {
        "partition": st.one_of(st.integers(min_value=0, max_value=3), junk),
        "@timestamp": st.one_of(
            st.integers(min_value=1, max_value=15).map(
                lambda k: (datetime(2026, 11, 22, 12, 0, tzinfo=UTC) - timedelta(minutes=k)).isoformat()
            ),
            junk,
        ),
        "current_offset": st.one_of(offsets, junk),
        "log_end_offset": st.one_of(offsets, junk),
        "consumer_id": st.one_of(st.none(), st.just("-"), st.just("c-1")),
    }
)


@settings(max_examples=200, deadline=None)
@given(history=st.lists(docs, max_size=30), rows=st.lists(docs, max_size=4))
def test_any_stored_history_and_rows_never_raise(history, rows):
    th = Thresholds(window_minutes=10, allowed_lag=0, max_lag_seconds=None, critical_lag_seconds=None)
    verdict = evaluate_topic(rows, history, th, datetime(2026, 11, 22, 12, 0, tzinfo=UTC))
    assert verdict.summary["status"] in (*STATUSES, None)
    for v in verdict.partitions.values():
        assert v.status in STATUSES
        assert v.lag_seconds is None or v.lag_seconds >= 0


def test_group_status_is_the_worst_topic():
    from kafka_monitor.evaluate.topic import group_status

    summaries = [
        {"status": "warn", "status_counts": {"ok": 3, "warn": 1}},
        {"status": "stop", "status_counts": {"ok": 1, "stop": 2}},
        {"status": "unknown", "status_counts": {}},
    ]
    result = group_status(summaries)
    assert result["status"] == "stop"
    assert {k: v for k, v in result["status_counts"].items() if v} == {"ok": 4, "warn": 1, "stop": 2}


def test_the_owner_signal_reads_consumer_id_or_the_old_owner_column():
    minute = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
    th = Thresholds(window_minutes=10, allowed_lag=0, max_lag_seconds=None, critical_lag_seconds=None)
    rows = [
        {"partition": 0, "current_offset": 1, "log_end_offset": 1, "consumer_id": None, "owner": "mm-0_/10.0.0.1"},
        {"partition": 1, "current_offset": 1, "log_end_offset": 1, "consumer_id": None, "owner": None},
        {"partition": 2, "current_offset": 1, "log_end_offset": 1, "consumer_id": "-"},
        {"partition": 3, "current_offset": 1, "log_end_offset": 1, "consumer_id": None, "owner_known": False},
    ]
    verdicts = evaluate_topic(rows, [], th, minute).partitions
    assert [verdicts[p].status for p in range(4)] == ["ok", "unassigned", "unassigned", "ok"]
