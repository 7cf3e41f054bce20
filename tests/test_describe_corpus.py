"""Every sample in tests/data/describe_corpus/ parses to its expected rows, error and states.

Each case is checked on the combined capture (``<case>.txt``, what ``cmd 2>&1`` gives) and on
stdout and stderr captured apart (from ``<case>.json``), with the ``--group`` of its command.
An expected error message may abbreviate with "...": its literal pieces must appear in order.
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest

from kafka_monitor.lag.describe import ERROR_KINDS, parse_describe

CORPUS = Path(__file__).resolve().parent / "data" / "describe_corpus"
CASES = sorted(p.stem for p in CORPUS.glob("*.json"))


def load(case: str) -> tuple[dict, str]:
    return json.loads((CORPUS / f"{case}.json").read_text()), (CORPUS / f"{case}.txt").read_text()


def asked_group(command: str) -> str | None:
    argv = shlex.split(command)
    return argv[argv.index("--group") + 1] if "--group" in argv else None


def message_matches(expected: str, actual: str) -> bool:
    """Literal pieces between "..." appear in ``actual`` in order (all of it when none)."""
    pieces = expected.split("...")
    if len(pieces) == 1:
        return actual == expected
    if not actual.startswith(pieces[0]) or not actual.endswith(pieces[-1].rstrip()):
        return False
    at = 0
    for piece in pieces:
        found = actual.find(piece.strip(), at)
        if found < 0:
            return False
        at = found + len(piece.strip())
    return True


def test_the_corpus_is_all_here():
    assert len(CASES) >= 36
    for case in CASES:
        assert (CORPUS / f"{case}.txt").is_file(), case


REAL = [c for c in CASES if load(c)[0]["provenance"].startswith("REAL")]


def test_real_captures_say_where_they_come_from():
    # docs/describe-corpus.md: a real capture names its source (URL, or repository + path +
    # commit), its date, how its Kafka version is known, and every edit made to it.
    assert len(REAL) >= 14
    versions = set()
    for case in REAL:
        sample = load(case)[0]
        origin = sample.get("origin")
        assert isinstance(origin, dict), case
        assert origin.get("url") or all(origin.get(k) for k in ("repo", "path", "commit")), case
        assert origin.get("date"), case
        assert sample.get("version_evidence"), case
        assert isinstance(sample.get("edits"), list) and sample["edits"], case
        assert sample.get("whitespace"), case
        versions.add(sample["kafka_versions"].split(".")[0])
    assert {"3", "4"} <= versions  # Kafka 3.x and 4.x among them


@pytest.mark.parametrize("capture", ["combined", "separate"])
@pytest.mark.parametrize("case", CASES)
def test_corpus_case(case, capture):
    sample, combined = load(case)
    expected = sample["expected"]
    group = asked_group(sample["command"])
    if capture == "combined":
        result = parse_describe(combined, "", group)
    else:
        result = parse_describe(sample["stdout"], sample["stderr"], group)

    assert result.rows == expected["rows"]
    assert result.group_states == expected["group_states"]
    assert result.unparsed == []
    if "skipped" in expected:  # harmless lines skipped, by kind (counted, never silently dropped)
        assert result.skipped == expected["skipped"]
        assert result.skipped_lines == sum(expected["skipped"].values())
    if expected["error"] is None:
        assert result.errors == []
        assert result.error is None
    else:
        error = result.error
        assert error is not None, result
        assert error.kind == expected["error"]["kind"]
        assert error.kind in ERROR_KINDS
        assert message_matches(expected["error"]["message"], error.message), error.message
        if "exception" in expected["error"]:
            assert error.exception == expected["error"]["exception"]
    # The JSON form carries the same rows and the first error.
    doc = json.loads(json.dumps(result.to_json_dict()))
    assert doc["rows"] == expected["rows"]
    assert (doc["error"] or {}).get("kind") == (expected["error"] or {}).get("kind")


def test_the_combined_file_is_the_two_streams():
    # The corpus is consistent with itself: nothing in .txt that the streams do not hold.
    for case in CASES:
        sample, combined = load(case)
        assert sorted(combined.splitlines()) == sorted((sample["stdout"] + sample["stderr"]).splitlines()), case


def test_message_matching_helper_is_strict():
    assert message_matches("a ... c", "a b c")
    assert not message_matches("a ... c", "a b d")
    assert not message_matches("x", "xy")
