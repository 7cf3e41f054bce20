"""The tansu broker of the test bed, through the Kafka admin client the checks use."""

from __future__ import annotations

import uuid

import pytest

from sandbox.broker import TansuBroker
from sandbox.process import SandboxError, port_open, process_group_alive


def test_committed_group_offsets_read_back_through_the_admin_client(broker):
    topic = f"selftest-{uuid.uuid4().hex[:8]}"
    group = f"group-{uuid.uuid4().hex[:8]}"
    broker.create_topics([topic], partitions=3)
    broker.produce(topic, {0: 5, 1: 7, 2: 0})
    broker.commit(group, {(topic, 0): 2, (topic, 1): 7})

    assert broker.end_offsets(topic, [0, 1, 2]) == {0: 5, 1: 7, 2: 0}
    assert broker.committed_offsets(group) == {(topic, 0): 2, (topic, 1): 7}
    assert broker.partitions(topic) == [0, 1, 2]


def test_many_unbatched_writes_keep_exact_log_end_offsets(broker):
    # tansu miscounts batched writes; the sandbox producer must not batch.
    topic = f"leo-{uuid.uuid4().hex[:8]}"
    broker.create_topics([topic], partitions=4)
    broker.produce(topic, {p: 40 + p for p in range(4)})
    assert broker.end_offsets(topic, range(4)) == {p: 40 + p for p in range(4)}


def test_a_stopped_broker_leaves_no_process_or_port(tmp_path):
    broker = TansuBroker(tmp_path).start()
    pid, port = broker.process.pid, broker.port
    assert port_open(port)
    broker.stop()
    assert not process_group_alive(pid)
    assert not port_open(port)
    with pytest.raises(SandboxError, match=r"tansu broker \(pid \d+, 127\.0\.0\.1:\d+\) is not running"):
        broker.ensure_alive()
