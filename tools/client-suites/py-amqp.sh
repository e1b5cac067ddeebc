#!/usr/bin/env bash
# py-amqp's tests against a live broker (github.com/celery/py-amqp v5.1.1, Debian's
# python3-amqp: Celery's and kombu's AMQP client), t/integration/test_rmq.py, with
# Debian's python3-pytest; its TLS cases need their CI's certificates and are left out.
. "$(dirname "$0")/common.sh"
checkout celery+py-amqp 2ac44d526cff79a059a5b270b736aa58c6c90bb2 "$work/py-amqp" # v5.1.1
cd "$work/py-amqp"
/usr/bin/python3 -m pytest -p no:cacheprovider -W ignore -E rabbitmq -k 'not tls' -rA t/integration/test_rmq.py > "$work/output.txt" 2>&1 || true
tail -1 "$work/output.txt"
grep '^PASSED ' "$work/output.txt" | awk '{print $2}' > "$work/passed.txt"
report py-amqp
