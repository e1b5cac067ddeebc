# Sourced by the suite runners in this folder: a checkout of a mirrored repository at a
# pinned commit, and the comparison of what passed with what passed on RabbitMQ 3.10.8.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
: "${MIRRORS:?set MIRRORS to the folder of git mirrors (owner+name/repo) that fetch fills}"
work=$(mktemp -d "/tmp/$(basename "$0" .sh).XXXXXX")

# checkout OWNER+NAME COMMIT DIR
checkout() {
  git clone -q "$MIRRORS/$1/repo" "$3"
  git -C "$3" checkout -q "$2"
}

# report SUITE: $work/passed.txt (one test id a line) against $here/SUITE-baseline.txt;
# with BASELINE=1 the passes become the baseline instead (run against RabbitMQ, twice).
report() {
  sort -u -o "$work/passed.txt" "$work/passed.txt"
  local baseline="$here/$1-baseline.txt"
  if [ "${BASELINE:-}" = 1 ]; then
    if [ -f "$baseline" ]; then comm -12 "$baseline" "$work/passed.txt" > "$work/kept.txt"; mv "$work/kept.txt" "$baseline"; else cp "$work/passed.txt" "$baseline"; fi
    echo "$1: baseline of $(wc -l < "$baseline") tests (output in $work)"
    return
  fi
  comm -23 "$baseline" "$work/passed.txt" > "$work/regressed.txt"
  echo "$1: passed $(wc -l < "$work/passed.txt"), $(wc -l < "$work/regressed.txt") of $(wc -l < "$baseline") baseline passes not passing (output in $work)"
  cat "$work/regressed.txt"
}

# management API calls (users and vhosts a suite expects), guest's credentials
mgmt_put() {
  curl -sf -u guest:guest -H 'content-type: application/json' -X PUT "http://127.0.0.1:15672/api/$1" -d "$2" > /dev/null
}
