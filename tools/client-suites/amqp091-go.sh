#!/usr/bin/env bash
# RabbitMQ's Go client's integration suite (github.com/rabbitmq/amqp091-go), built with
# Debian's golang-go 1.19; the recovery tests close connections through the management API.
. "$(dirname "$0")/common.sh"
url=${1:-amqp://guest:guest@127.0.0.1:5672/}
checkout rabbitmq+amqp091-go 28da80de762f0cbefc5c6517f9a144d526ce06cd "$work/amqp091-go" # v1.14.0 and later
checkout uber-go+goleak 83c7e126390f1508ca9cb8e87d70849b55181104 "$work/goleak" # v1.2.1: v1.3.0 needs Go 1.20
cd "$work/amqp091-go"
export GOPROXY=off GOFLAGS=-mod=mod GOTOOLCHAIN=local
go mod edit -replace go.uber.org/goleak="$work/goleak"
go test -c -tags integration -o "$work/suite.test" .
AMQP_URL=$url "$work/suite.test" -test.v -test.timeout 600s > "$work/output.txt" 2>&1 || true
grep -m1 -A3 '^panic:' "$work/output.txt" || true
grep '^--- PASS' "$work/output.txt" | awk '{print $3}' > "$work/passed.txt"
report amqp091-go
