"""ISO 8601 times as the documents and the sync state write them: UTC, ``Z`` suffix.

A leaf: one writer and one reader, so no room formats or parses a time its own way.
"""

from __future__ import annotations

from datetime import UTC, datetime


def iso(ts: datetime) -> str:
    """``2026-11-22T10:00:00Z`` (any zone in, UTC out)."""
    return ts.astimezone(UTC).isoformat().replace("+00:00", "Z")


def parse_iso(value: str) -> datetime:
    """An ISO 8601 time that names its zone (``Z`` or an offset); ValueError otherwise."""
    ts = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if ts.tzinfo is None:
        raise ValueError(f"{value!r} has no time zone")
    return ts
