"""How fast the describe parser reads a big ``kafka-consumer-groups.sh --describe`` output.

Generates a 100,000-row output in the 2.3-3.7 layout (the Scala format string
``"\\n%-Gs %-Ts %-10s %-15s %-15s %-15s %-Cs %-Hs %s"``, one MirrorMaker group, 200 topics of
500 partitions, rows in the tool's member order), then times, in the same run:

- ``parse_describe`` on it (rows, errors, group states, rows sorted);
- a bare loop of ``str.split()`` over its lines, the least any parser must do.

Prints rows per second of each and their ratio: best of several repetitions, run in turns.

    .venv/bin/python bench/bench_describe.py [ROWS]
"""

from __future__ import annotations

import sys
import time

from kafka_monitor.lag.describe import parse_describe

GROUP = "mirrormaker-prod-dc1-to-dc2"
TOPICS = 200
REPEATS = 7


def generate(rows: int) -> str:
    partitions = max(1, rows // TOPICS)
    members = 8
    assignments = []
    for t in range(TOPICS):
        topic = f"dc1.service-{t:03d}.events"
        for p in range(partitions):
            if len(assignments) == rows:
                break
            m = (t * partitions + p) % members
            client = f"{GROUP}-{m}"
            offset = 10_000_000_000 + 7919 * (t * partitions + p)
            lag = (p * 37) % 1000 - 3  # a few negative
            assignments.append(
                (
                    GROUP,
                    topic,
                    p,
                    offset,
                    offset + lag,
                    lag,
                    f"{client}-3f2a1c9e-8b7d-4e6f-9a0b-1c2d3e4f5a6{m}",
                    f"/10.20.4.{11 + m}",
                    client,
                )
            )
    assignments.sort(key=lambda a: a[8])  # members together, as the tool prints them
    widths = [max([15] + [len(str(a[i])) for a in assignments]) for i in (0, 1, 6, 7)]
    fmt = (
        "\n%"
        + str(-widths[0])
        + "s %"
        + str(-widths[1])
        + "s %-10s %-15s %-15s %-15s %"
        + str(-widths[2])
        + "s %"
        + str(-widths[3])
        + "s %s"
    )
    out = [
        fmt
        % ("GROUP", "TOPIC", "PARTITION", "CURRENT-OFFSET", "LOG-END-OFFSET", "LAG", "CONSUMER-ID", "HOST", "CLIENT-ID")
    ]
    out.extend(fmt % a for a in assignments)
    out.append("\n")
    return "".join(out)


def best_interleaved(fns, repeats: int = REPEATS) -> list[tuple[float, object]]:
    """Best time of each function, run in turns so a busy machine slows them alike."""
    times: list[list[float]] = [[] for _ in fns]
    values: list[object] = [None] * len(fns)
    for _ in range(repeats):
        for i, fn in enumerate(fns):
            start = time.perf_counter()
            values[i] = fn()
            times[i].append(time.perf_counter() - start)
    return [(min(t), v) for t, v in zip(times, values)]


def split_loop(text: str) -> int:
    fields = 0
    for line in text.split("\n"):
        fields += len(line.split())
    return fields


def main() -> None:
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    text = generate(rows)
    (parse_s, result), (split_s, _) = best_interleaved(
        [lambda: parse_describe(text, "", GROUP), lambda: split_loop(text)]
    )
    parsed = len(result.rows)
    if parsed != rows or result.errors:  # make sure the figures are of real work
        raise SystemExit(f"parsed {parsed} of {rows} rows; errors: {result.errors[:3]}")
    print(f"describe parser, {rows:,} rows (2.6 layout, {len(text) / 1e6:.1f} MB), best of {REPEATS}:")
    print(f"  parse_describe   {parse_s * 1000:8.1f} ms  {rows / parse_s:12,.0f} rows/s")
    print(f"  str.split() loop {split_s * 1000:8.1f} ms  {rows / split_s:12,.0f} rows/s")
    print(f"  ratio parse/split: {parse_s / split_s:.2f}x the time of a bare split loop")


if __name__ == "__main__":
    main()
