"""Lag in seconds from the log-end-offset history (kafka-lag-exporter's interpolation, repaired).

The history is the partition's (time, log-end offset) points of the window, read back from the
store every minute: nothing lives in memory, so a restart loses nothing. A committed offset
``o`` is placed on that curve: the time the log reached ``o`` is interpolated between the two
points around it, and the lag in seconds is ``now`` minus that time.

What kafka-lag-exporter gets wrong and this does not:
- a flat run (the log did not grow) never divides by zero: inside a flat run the time is the
  run's latest point, and the table keeps a run as its first and latest point only;
- a committed offset at or ahead of the newest log-end offset is 0 s, never negative (ahead is
  flagged ``ahead_of_log_end``: committed and log-end offsets are read at slightly different
  moments);
- an offset older than the whole history is not extrapolated: the answer is the age of the
  oldest point, flagged as a lower bound;
- a log-end offset that went down (the topic was deleted and created again) restarts the
  history at that point instead of rejecting every later point;
- no committed offset gives ``None``, never a number.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

AHEAD_OF_LOG_END = "ahead_of_log_end"
OLDER_THAN_HISTORY = "older_than_history"
NO_OFFSET = "no_offset"
NO_LOG_END_OFFSET = "no_log_end_offset"


@dataclass(frozen=True)
class Point:
    t: float  # seconds
    offset: int  # log-end offset at t


@dataclass(frozen=True)
class LagSeconds:
    seconds: float | None
    lower_bound: bool = False
    note: str | None = None  # why the value is special (see the module's constants)


def leo_table(points: Iterable[tuple[float, int | None]]) -> tuple[list[Point], bool]:
    """The lookup table from (time, log-end offset) points, and whether the history restarted.

    Points without an offset (a minute whose log-end offset is unknown) are skipped; for one
    time the last point given wins. After the last drop of the offset only later points count.
    """
    by_time: dict[float, int] = {}
    for t, offset in points:
        if offset is not None:
            by_time[t] = offset
    ordered = [Point(t, by_time[t]) for t in sorted(by_time)]
    restart = 0
    for i in range(1, len(ordered)):
        if ordered[i].offset < ordered[i - 1].offset:
            restart = i
    ordered = ordered[restart:]
    table: list[Point] = []
    for point in ordered:
        # A flat run is kept as its first and latest point (as kafka-lag-exporter's addPoint).
        if len(table) >= 2 and table[-1].offset == point.offset and table[-2].offset == point.offset:
            table[-1] = point
        else:
            table.append(point)
    return table, restart > 0


def interpolate_time(table: list[Point], offset: int) -> float | None:
    """The time the log reached ``offset``, for an offset inside the table's range, else None.

    Scans from the newest pair for ``left.offset <= offset <= right.offset`` (kafka-lag-exporter's
    lookup); inside a flat pair the answer is the pair's later time instead of a division by zero.
    """
    for i in range(len(table) - 1, 0, -1):
        left, right = table[i - 1], table[i]
        if left.offset <= offset <= right.offset:
            if right.offset == left.offset:
                return right.t
            return right.t - (right.offset - offset) * (right.t - left.t) / (right.offset - left.offset)
    return None


def lag_seconds(table: list[Point], committed: int | None, now: float) -> LagSeconds:
    """Seconds the committed offset is behind the log, never negative, ``None`` when unknowable."""
    if committed is None:
        return LagSeconds(None, note=NO_OFFSET)
    if not table:
        return LagSeconds(None, note=NO_LOG_END_OFFSET)
    newest, oldest = table[-1], table[0]
    if committed >= newest.offset:
        return LagSeconds(0.0, note=AHEAD_OF_LOG_END if committed > newest.offset else None)
    if committed < oldest.offset:
        # Written before the history begins: at least as old as the oldest point.
        return LagSeconds(max(0.0, now - oldest.t), lower_bound=True, note=OLDER_THAN_HISTORY)
    t = interpolate_time(table, committed)
    if t is None:  # unreachable for oldest.offset <= committed < newest.offset; kept total
        return LagSeconds(max(0.0, now - oldest.t), lower_bound=True, note=OLDER_THAN_HISTORY)
    return LagSeconds(max(0.0, now - t))
