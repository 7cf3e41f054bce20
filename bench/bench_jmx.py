"""Wall time of one JMX snapshot: every query of a target in ONE JVM run versus one run per bean.

Each run of the JMXQuery jar starts a JVM, so asking bean by bean (as jmxquery's own wrapper
invites, one ``query()`` per bean) pays the start-up once per bean. This starts the sandbox JMX
JVM with the Kafka-like beans of the whole flow and reads the same queries both ways, in the
same run, for two targets: a broker (its default presets) and a target with every shipped
preset. Rounds alternate the two ways; the median is printed, with the ratio. Both ways must
read the same values (checked).

    .venv/bin/python bench/bench_jmx.py [--rounds 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO / "plugins"), str(REPO)]

from kafka_monitor.jmx import snapshot as jmx  # noqa: E402
from kafka_monitor.jmx.presets import load_presets, resolve_target_presets  # noqa: E402
from sandbox.jvm import JmxJvm, kafka_flow_beans  # noqa: E402

TIMEOUT_S = 30.0


def run(url: str, queries: list[str]) -> list[jmx.JarRecord]:
    rc, out, err = jmx.run_jar(
        jmx.java_binary(),
        jmx.jar_arguments(url, queries, None, None),
        timeout_s=TIMEOUT_S,
        rmi_timeout_ms=int(TIMEOUT_S * 1000),
    )
    if rc != 0:
        raise SystemExit(f"jmxquery failed ({rc}): {out} {err}")
    return jmx.parse_jar_output(out)


def one_run(url: str, per_bean: list[list[str]]) -> tuple[float, set]:
    started = time.perf_counter()
    records = run(url, [q for bean in per_bean for q in bean])
    return time.perf_counter() - started, {(r.bean, r.attribute, r.key) for r in records}


def run_per_bean(url: str, per_bean: list[list[str]]) -> tuple[float, set]:
    started = time.perf_counter()
    seen = set()
    for queries in per_bean:
        seen |= {(r.bean, r.attribute, r.key) for r in run(url, queries)}
    return time.perf_counter() - started, seen


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    cases = {
        "kafka_broker (default presets)": resolve_target_presets("kafka_broker", None),
        "every shipped preset": list(load_presets().values()),
    }
    with tempfile.TemporaryDirectory(prefix="bench-jmx-") as workdir, JmxJvm(Path(workdir)) as jvm:
        jvm.populate(kafka_flow_beans())
        run(jvm.url, ["java.lang:type=Runtime/Uptime"])  # warm the page cache for the jar and JDK
        print(f"JMX snapshot wall time, sandbox JVM on {jvm.address}, median of {args.rounds} rounds")
        for label, presets in cases.items():
            # One entry per preset query (a bean or bean pattern), holding all its attributes.
            per_bean = [q.query_strings() for p in presets for q in p.queries]
            single, split = [], []
            for _ in range(args.rounds):
                t1, values1 = one_run(jvm.url, per_bean)
                t2, values2 = run_per_bean(jvm.url, per_bean)
                if values1 != values2:
                    raise SystemExit("the two ways read different values")
                single.append(t1)
                split.append(t2)
            one, many = statistics.median(single), statistics.median(split)
            print(
                f"  {label}: {len(per_bean)} bean queries, {sum(map(len, per_bean))} attribute queries, "
                f"{len(values1)} values"
            )
            print(f"    one JVM run for all queries : {one * 1000:8.0f} ms")
            print(f"    one JVM run per bean        : {many * 1000:8.0f} ms")
            print(f"    ratio (per bean / one run)  : {many / one:8.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
