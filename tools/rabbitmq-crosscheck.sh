#!/bin/sh
# Runs test/wire/rabbitmq-crosscheck.test.ts (warren's answers to bad input),
# test/wire/rabbitmq-differential.fuzz.test.ts (random method sequences),
# test/wire/rabbitmq-message-differential.fuzz.test.ts (where numbered messages end up, and the firehose's copies of them),
# test/wire/rabbitmq-routing-differential.fuzz.test.ts (where random topologies route them),
# test/wire/rabbitmq-lifecycle-differential.fuzz.test.ts (queues and consumers of two connections over their lives),
# test/wire/rabbitmq-stream-differential.fuzz.test.ts (what consumers of a stream get, from any offset) beside a
# local RabbitMQ's (apt-get install rabbitmq-server); and
# test/management/rabbitmq-management-differential.fuzz.test.ts (the HTTP API, policies included) beside its management plugin
# (rabbitmq-plugins enable rabbitmq_management). Starts
# rabbitmq-server when nothing listens on 5672, and stops it afterwards.
# One file at a time: the differentials wait fixed pauses for RabbitMQ's queue
# processes, which a busy two-core machine stretches.
# Not part of CI, which runs against warren alone.
set -e
cd "$(dirname "$0")/.."
started=
if ! rabbitmqctl -q status >/dev/null 2>&1; then
  rabbitmq-plugins enable --offline rabbitmq_management >/dev/null
  rabbitmq-server -detached
  started=1
  rabbitmqctl -q wait --timeout 60 /var/lib/rabbitmq/mnesia/rabbit@$(hostname -s).pid >/dev/null 2>&1 || sleep 10
fi
npx tsc -p tsconfig.json
status=0
RABBITMQ_URL=${RABBITMQ_URL:-amqp://guest:guest@127.0.0.1:5672} RABBITMQ_MANAGEMENT_URL=${RABBITMQ_MANAGEMENT_URL:-http://guest:guest@127.0.0.1:15672} npx vitest run --no-file-parallelism test/wire/rabbitmq-crosscheck.test.ts test/wire/rabbitmq-differential.fuzz.test.ts test/wire/rabbitmq-message-differential.fuzz.test.ts test/wire/rabbitmq-routing-differential.fuzz.test.ts test/wire/rabbitmq-lifecycle-differential.fuzz.test.ts test/wire/rabbitmq-stream-differential.fuzz.test.ts test/management/rabbitmq-management-differential.fuzz.test.ts || status=$?
if [ -n "$started" ]; then rabbitmqctl -q stop; fi
exit $status
