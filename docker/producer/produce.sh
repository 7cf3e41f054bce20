#!/usr/bin/env bash
# A small producer so the demo has lag to look at: creates the seed's topics on the source
# cluster, then writes to them forever, a steady trickle with a burst every few rounds.
# MirrorMaker 1 commits its offsets once a minute, so the lag the monitor reads rises between
# commits and drops after each one, and a burst shows up for a few minutes.
set -euo pipefail

BOOTSTRAP=${BOOTSTRAP_SERVERS:-source-kafka:19092}
TOPICS=${DEMO_TOPICS:?DEMO_TOPICS (space-separated topic names) is not set}
PARTITIONS=${DEMO_PARTITIONS:-6}
HEARTBEAT=${HEARTBEAT_FILE:-/tmp/producer.heartbeat}
KAFKA_BIN=${KAFKA_HOME:-/opt/kafka}/bin

for topic in $TOPICS; do
    "$KAFKA_BIN/kafka-topics.sh" --bootstrap-server "$BOOTSTRAP" --create --if-not-exists \
        --topic "$topic" --partitions "$PARTITIONS" --replication-factor 1
done

round=0
while true; do
    for topic in $TOPICS; do
        if (( round % 5 == 4 )); then records=3000; rate=1000; else records=100; rate=20; fi
        "$KAFKA_BIN/kafka-producer-perf-test.sh" --topic "$topic" --num-records "$records" \
            --record-size 200 --throughput "$rate" \
            --producer-props "bootstrap.servers=$BOOTSTRAP" acks=1 linger.ms=20 >/dev/null
    done
    touch "$HEARTBEAT"   # the health check reads its age
    round=$(( round + 1 ))
done
