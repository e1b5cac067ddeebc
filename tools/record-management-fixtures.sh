#!/bin/sh
# Records RabbitMQ 3.10's management API answers for a fixed state into
# test/fixtures/management/rabbitmq-3.10/*.json, which
# test/management/rabbitmq-shapes.test.ts compares warren's answers with.
# Starts a private RabbitMQ node (Debian's rabbitmq-server with its management
# plugin) under a temporary directory, on ports that leave a running broker
# alone, runs tools/record-management-fixtures.mjs against it and stops it.
# Run by hand, not by CI:  sh tools/record-management-fixtures.sh
set -eu
cd "$(dirname "$0")/.."

AMQP_PORT=${AMQP_PORT:-5699}
HTTP_PORT=${HTTP_PORT:-15699}
RABBITMQ_BIN=${RABBITMQ_BIN:-/usr/lib/rabbitmq/bin}
OUT=${OUT:-test/fixtures/management/rabbitmq-3.10}

tmp=$(mktemp -d /tmp/warren-rabbitmq.XXXXXX)
# Everything the node writes lives under $tmp: its database, logs, plugin list
# and the Erlang cookie (in $HOME), so the system's RabbitMQ is not touched.
export HOME="$tmp"
export RABBITMQ_NODENAME="warrenfixtures@localhost"
export RABBITMQ_NODE_PORT="$AMQP_PORT"
export RABBITMQ_DIST_PORT=$((AMQP_PORT + 20000))
export RABBITMQ_MNESIA_BASE="$tmp/mnesia"
export RABBITMQ_LOG_BASE="$tmp/log"
export RABBITMQ_PID_FILE="$tmp/node.pid"
export RABBITMQ_CONF_ENV_FILE="$tmp/rabbitmq-env.conf"
export RABBITMQ_CONFIG_FILE="$tmp/rabbitmq.conf"
export RABBITMQ_ADVANCED_CONFIG_FILE="$tmp/advanced.config"
export RABBITMQ_ENABLED_PLUGINS_FILE="$tmp/enabled_plugins"
: >"$RABBITMQ_CONF_ENV_FILE"
echo '[].' >"$RABBITMQ_ADVANCED_CONFIG_FILE"
echo '[rabbitmq_management].' >"$RABBITMQ_ENABLED_PLUGINS_FILE"
cat >"$RABBITMQ_CONFIG_FILE" <<EOF
listeners.tcp.default = $AMQP_PORT
management.tcp.port = $HTTP_PORT
management.tcp.ip = 127.0.0.1
# Statistics every 500 ms rather than 5 s, so the recorder waits less.
collect_statistics_interval = 500
cluster_name = warren-fixtures
EOF

# epmd is shared by every Erlang node on the machine: stop it afterwards only
# if this script started it.
epmd_was_running=
if epmd -names >/dev/null 2>&1; then epmd_was_running=1; fi

cleanup() {
  pid=$(cat "$RABBITMQ_PID_FILE" 2>/dev/null || true)
  "$RABBITMQ_BIN/rabbitmqctl" -n "$RABBITMQ_NODENAME" -q stop >/dev/null 2>&1 || true
  # The node's process may take a few seconds to go: wait for it, then kill what is left.
  if [ -n "$pid" ]; then
    i=0
    while kill -0 "$pid" 2>/dev/null && [ $i -lt 60 ]; do
      sleep 0.5
      i=$((i + 1))
    done
    kill "$pid" 2>/dev/null || true
  fi
  if [ -z "$epmd_was_running" ]; then epmd -kill >/dev/null 2>&1 || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

"$RABBITMQ_BIN/rabbitmq-server" -detached
"$RABBITMQ_BIN/rabbitmqctl" -n "$RABBITMQ_NODENAME" -q wait --timeout 120 "$RABBITMQ_PID_FILE"
# The management listener starts with the plugin, after the node is up.
i=0
until curl -sf -u guest:guest "http://127.0.0.1:$HTTP_PORT/api/overview" >/dev/null; do
  i=$((i + 1))
  if [ $i -gt 120 ]; then echo "management API did not come up" >&2; exit 1; fi
  sleep 0.5
done

mkdir -p "$OUT"
node tools/record-management-fixtures.mjs "http://guest:guest@127.0.0.1:$HTTP_PORT" "amqp://guest:guest@127.0.0.1:$AMQP_PORT" "$OUT"
