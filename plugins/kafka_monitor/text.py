"""Bounded, escaped text for logs, exception messages and document fields.

Anything quoting remote output (the describe tool's stdout/stderr, a JVM's message, an AWS
error) or user input (a group id, a path) goes through ``bounded`` before it reaches a log
line, an exception message or a status document: control characters and ANSI escape
sequences are escaped (``\\x1b[31m`` stays readable and cannot recolour a terminal or forge a
log line), and the text is capped with a marker saying how much was cut.
"""

from __future__ import annotations

import re

DEFAULT_LIMIT = 2048
MIN_LIMIT = 80  # room for the cut marker and some text
# C0 controls except tab/newline, DEL, C1 controls; and the Unicode line/paragraph separators
# and bidi overrides that reorder what a reader sees.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_CONTROL_WITH_NEWLINES = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    code = ord(char)
    if char == "\n":
        return "\\n"
    if char == "\r":
        return "\\r"
    if char == "\t":
        return "\\t"
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def escape_controls(text: str, *, keep_newlines: bool = False) -> str:
    """``text`` with control characters (ANSI escapes included) written as ``\\xNN``."""
    pattern = _CONTROL if keep_newlines else _CONTROL_WITH_NEWLINES
    return pattern.sub(_escape, text)


def bounded(text: object, limit: int = DEFAULT_LIMIT, *, keep_newlines: bool = False, tail: bool = False) -> str:
    """``text`` with control characters escaped, at most ``limit`` characters long.

    Longer text is cut, and a marker says how much: ``…[cut 1048000 of 1050048 characters]``
    (the marker counts towards ``limit``, so bounding twice changes nothing). ``tail`` keeps
    the end instead of the start (an error is usually at the end of stderr). Only the kept
    window is escaped: a 1 MB line costs a slice, not an escaped copy.
    """
    if limit < MIN_LIMIT:
        raise ValueError(f"limit must be at least {MIN_LIMIT}, not {limit}")
    raw = text if isinstance(text, str) else str(text)
    if len(raw) <= limit:
        escaped = escape_controls(raw, keep_newlines=keep_newlines)
        if len(escaped) <= limit:
            return escaped
    room = limit - len(_marker(len(raw), len(raw)))
    window = raw[-room:] if tail else raw[:room]
    pieces: list[str] = []
    size = 0
    for char in reversed(window) if tail else window:
        piece = escape_controls(char, keep_newlines=keep_newlines)
        if size + len(piece) > room:
            break
        pieces.append(piece)
        size += len(piece)
    marker = _marker(len(raw) - len(pieces), len(raw))
    if tail:
        return marker + "".join(reversed(pieces))
    return "".join(pieces) + marker


def _marker(cut: int, total: int) -> str:
    return f"…[cut {cut} of {total} characters]"
