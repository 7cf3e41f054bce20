#!/usr/bin/env bash
# Entry point of the demo MirrorMaker host: sshd (root, port 22) for the monitor, and
# MirrorMaker 1 (as appuser) copying the source cluster's topics to the target cluster.
#
#   mirrormaker-host               install the keys, start sshd and MirrorMaker, exit when either dies
#   mirrormaker-host install-keys  only install the keys (the tests run this against a real sshd)
#
# The keys come from the kafka-monitor-setup service, which generates them at the stack's
# first start into a volume mounted read-only here: the host key the Airflow connection pins,
# and the public half of the key the Airflow connection logs in with.
set -euo pipefail

KEYS_DIR=${MM_KEYS_DIR:-/keys}
SSH_DIR=${MM_SSH_DIR:-/etc/ssh/kafka-monitor}      # what sshd_config points at
CONFIG_DIR=${MM_CONFIG_DIR:-/etc/mirrormaker}
KAFKA_HOME=${KAFKA_HOME:-/opt/kafka}
RUN_AS=${MM_USER:-appuser}
HOST_KEY=mirrormaker_host_ed25519_key
CLIENT_PUBLIC_KEY=airflow_ed25519.pub

log() { echo "mirrormaker-host: $*" >&2; }

install_keys() {
    local name
    for name in "$HOST_KEY" "$CLIENT_PUBLIC_KEY"; do
        if [ ! -s "$KEYS_DIR/$name" ]; then
            log "$KEYS_DIR/$name is missing or empty; the kafka-monitor-setup service creates it at the stack's first start"
            exit 1
        fi
    done
    # sshd refuses a host key others can read, and (StrictModes) an authorized_keys file
    # others can write: copies owned by root with tight modes, whatever the volume holds.
    install -d -m 0755 "$SSH_DIR"
    install -m 0600 "$KEYS_DIR/$HOST_KEY" "$SSH_DIR/ssh_host_ed25519_key"
    install -m 0644 "$KEYS_DIR/$CLIENT_PUBLIC_KEY" "$SSH_DIR/authorized_keys"
    log "installed the host key and the monitor's public key in $SSH_DIR"
}

run() {
    install_keys
    : "${MIRROR_TOPICS:?MIRROR_TOPICS (a Java regex of the topics to mirror) is not set}"
    mkdir -p /run/sshd
    /usr/sbin/sshd -t -f "$CONFIG_DIR/sshd_config"
    /usr/sbin/sshd -D -e -f "$CONFIG_DIR/sshd_config" &
    local sshd_pid=$!

    # JMX for the monitor's jmx task. Only this JVM gets JMX_PORT: sshd starts every session
    # with a clean environment, so the kafka-consumer-groups.sh the monitor runs over SSH does
    # not try to bind the same port (it would die with "Port already in use").
    local jmx_port=${MM_JMX_PORT:-9102}
    local jmx_host=${MM_JMX_HOSTNAME:-$(hostname)}
    (
        export JMX_PORT=$jmx_port
        export KAFKA_JMX_OPTS="-Dcom.sun.management.jmxremote=true -Dcom.sun.management.jmxremote.authenticate=false -Dcom.sun.management.jmxremote.ssl=false -Dcom.sun.management.jmxremote.local.only=false -Djava.rmi.server.hostname=$jmx_host -Dcom.sun.management.jmxremote.rmi.port=$jmx_port"
        export KAFKA_HEAP_OPTS=${MM_HEAP_OPTS:--Xms128m -Xmx256m}
        # Offsets are committed every minute (MirrorMaker 1's default), so per-minute lag
        # samples show the sawtooth of real MirrorMaker 1 hosts.
        exec su-exec "$RUN_AS" "$KAFKA_HOME/bin/kafka-mirror-maker.sh" \
            --consumer.config "$CONFIG_DIR/consumer.properties" \
            --producer.config "$CONFIG_DIR/producer.properties" \
            --include "$MIRROR_TOPICS" \
            --num.streams "${MM_NUM_STREAMS:-2}" \
            --offset.commit.interval.ms 60000
    ) &
    local mm_pid=$!
    log "sshd pid $sshd_pid, MirrorMaker pid $mm_pid (JMX on $jmx_host:$jmx_port)"

    trap 'kill -TERM "$mm_pid" "$sshd_pid" 2>/dev/null || true' TERM INT
    local status=0
    # Whichever dies first takes the container down (restart: unless-stopped brings it back).
    wait -n "$sshd_pid" "$mm_pid" || status=$?
    log "a process ended (exit $status); stopping the other"
    kill -TERM "$mm_pid" "$sshd_pid" 2>/dev/null || true
    wait || true
    exit "$(( status == 0 ? 1 : status ))"
}

case "${1:-run}" in
    run) run ;;
    install-keys) install_keys ;;
    *) log "unknown command ${1}; expected run or install-keys"; exit 2 ;;
esac
