#!/usr/bin/env bash
# kombu's integration tests over py-amqp (github.com/celery/kombu v5.2.4, Debian's
# python3-kombu: Celery's messaging layer), t/integration/test_py_amqp.py, with Debian's
# python3-pytest.
. "$(dirname "$0")/common.sh"
checkout celery+kombu 444aa42d4aecb5e73a1d6bab046bcc8ac8131455 "$work/kombu" # v5.2.4
cd "$work/kombu"
/usr/bin/python3 -m pytest -p no:cacheprovider -W ignore -E py-amqp -rA t/integration/test_py_amqp.py > "$work/output.txt" 2>&1 || true
tail -1 "$work/output.txt"
grep '^PASSED ' "$work/output.txt" | awk '{print $2}' > "$work/passed.txt"
report kombu
