#!/usr/bin/env bash
# amqp091-go's own integration suite (github.com/rabbitmq/amqp091-go, RabbitMQ's Go client,
# written for RabbitMQ) against a running broker: prints the tests that passed on RabbitMQ
# 3.10.8, twice in a row (baseline.txt), but not on this one.
#   MIRRORS=<fetch's mirror folder, holding rabbitmq+amqp091-go and uber-go+goleak> \
#     tools/amqp091-go-suite/run.sh [AMQP_URL]
# Needs Debian's golang-go (1.19). The broker's management API must answer on
# localhost:15672: the recovery tests close connections through it. Not part of CI
# (it needs the mirrors); a diagnostic beside ../shared/client-suites.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
url=${1:-amqp://guest:guest@127.0.0.1:5672/}
: "${MIRRORS:?set MIRRORS to the folder of git mirrors}"
suite_commit=28da80de762f0cbefc5c6517f9a144d526ce06cd # v1.14.0 and later
goleak_commit=83c7e126390f1508ca9cb8e87d70849b55181104 # goleak v1.2.1: v1.3.0 needs Go 1.20
work=$(mktemp -d /tmp/amqp091-go-suite.XXXXXX)
git clone -q "$MIRRORS/rabbitmq+amqp091-go/repo" "$work/amqp091-go"
git -C "$work/amqp091-go" checkout -q "$suite_commit"
git clone -q "$MIRRORS/uber-go+goleak/repo" "$work/goleak"
git -C "$work/goleak" checkout -q "$goleak_commit"
cd "$work/amqp091-go"
export GOPROXY=off GOFLAGS=-mod=mod GOTOOLCHAIN=local
go mod edit -replace go.uber.org/goleak="$work/goleak"
go test -c -tags integration -o "$work/suite.test" .
AMQP_URL=$url "$work/suite.test" -test.v -test.timeout 600s > "$work/output.txt" 2>&1 || true
grep '^--- PASS' "$work/output.txt" | awk '{print $3}' | sort > "$work/passed.txt"
comm -23 "$here/baseline.txt" "$work/passed.txt" > "$work/regressed.txt"
echo "passed $(wc -l < "$work/passed.txt"), $(wc -l < "$work/regressed.txt") of $(wc -l < "$here/baseline.txt") baseline passes not passing (output in $work)"
grep -m1 -A3 '^panic:' "$work/output.txt" || true
cat "$work/regressed.txt"
