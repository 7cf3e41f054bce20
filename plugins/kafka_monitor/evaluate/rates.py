"""Produce and consume rates over the window, and the time to catch up.

A rate is the change of an offset between the first and the last sample of the window that
know it, per second: the log-end offset for the produce rate, the committed offset for the
consume rate. The catch-up time is ``lag / (consume - produce)`` when that is positive.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

CAUGHT_UP = "caught_up"
CATCHING_UP = "catching_up"
NOT_CATCHING_UP = "not_catching_up"
INSUFFICIENT_HISTORY = "insufficient_history"
NO_OFFSET = "no_offset"


@dataclass(frozen=True)
class Eta:
    seconds: float | None
    reason: str


def rate(points: Sequence[tuple[float, int | None]]) -> float | None:
    """Offset change per second between the first and last known points (time-ordered input)."""
    known = [(t, v) for t, v in points if v is not None]
    if len(known) < 2 or known[-1][0] <= known[0][0]:
        return None
    return (known[-1][1] - known[0][1]) / (known[-1][0] - known[0][0])


def eta(lag: int | None, allowed_lag: int, produce_rate: float | None, consume_rate: float | None) -> Eta:
    if lag is None:
        return Eta(None, NO_OFFSET)
    if lag <= allowed_lag:
        return Eta(0.0, CAUGHT_UP)
    if produce_rate is None or consume_rate is None:
        return Eta(None, INSUFFICIENT_HISTORY)
    net = consume_rate - produce_rate
    if net <= 0:
        return Eta(None, NOT_CATCHING_UP)
    return Eta(lag / net, CATCHING_UP)


def topic_eta(partitions: Iterable[Eta]) -> Eta:
    """The topic is caught up when its slowest partition is: the largest ETA, or none at all
    when a lagging partition is not catching up (that reason first)."""
    items = list(partitions)
    if not items:
        return Eta(None, INSUFFICIENT_HISTORY)
    for reason in (NOT_CATCHING_UP, INSUFFICIENT_HISTORY):
        if any(e.seconds is None and e.reason == reason for e in items):
            return Eta(None, reason)
    timed = [e.seconds for e in items if e.seconds is not None]
    if not timed:
        return Eta(None, NO_OFFSET)
    worst = max(timed)
    return Eta(worst, CAUGHT_UP if worst == 0 else CATCHING_UP)
