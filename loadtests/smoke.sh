#!/usr/bin/env bash
# Locust smoke test (CI runs it from .ci/run): start `underbid serve` on a free
# port of 127.0.0.1 with its default journal (SQLite, in a temporary --data
# directory), run a few bidders and watchers headless for a few seconds, and
# fail if any request failed, none was made, or no bid or no event delivery
# was reported.
#
#   loadtests/smoke.sh [USERS] [SECONDS]        # default 4 users for 5 s
set -euo pipefail
cd "$(dirname "$0")/.."
users=${1:-4}
seconds=${2:-5}
out=$(mktemp -d)
port=$(python -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
secret=$(python -c 'import secrets; print(secrets.token_hex(32))')

UNDERBID_SECURITY_TOKEN_SECRET=$secret underbid serve --host 127.0.0.1 --port "$port" \
  --data "$out/data" > "$out/server.log" 2>&1 &
server=$!
trap 'kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true' EXIT

# Ready when /readyz answers 200 and the banner (with the operator token) is out: at most 30 s.
token=$(python - "$port" "$out/server.log" <<'PY'
import re, sys, time, urllib.request
port, log = sys.argv[1], sys.argv[2]
deadline = time.monotonic() + 30
while time.monotonic() < deadline:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as r:
            found = re.search(r"operator token: (\S+)", open(log).read())
            if r.status == 200 and found:
                print(found[1])
                sys.exit(0)
    except OSError:
        pass
    time.sleep(0.1)
sys.exit("the server did not become ready within 30 s:\n" + open(log).read())
PY
)

set +e
UNDERBID_OPERATOR_TOKEN=$token timeout 120 locust -f loadtests/locustfile.py --headless \
  -u "$users" -r "$users" -t "${seconds}s" --host "http://127.0.0.1:$port" \
  --ub-bid-rate 5 --csv "$out/smoke" --only-summary > "$out/locust.log" 2>&1
status=$?
set -e

# Locust exits 1 when a request failed; an empty run also exits 0, so read the stats.
if ! python - "$out/smoke_stats.csv" "$status" <<'PY'
import csv, sys
path, status = sys.argv[1], int(sys.argv[2])
rows = list(csv.DictReader(open(path)))
for row in rows:
    print(f"  {row['Type']:8} {row['Name']:36} {row['Request Count']:>6} requests "
          f"{row['Failure Count']:>4} failures  median {row['Median Response Time']} ms")
total = next(r for r in rows if r["Name"] == "Aggregated")
kinds = {r["Type"] for r in rows if int(r["Request Count"]) > 0}
problems = []
if status != 0:
    problems.append(f"locust exited with status {status}")
if int(total["Failure Count"]):
    problems.append(f"{total['Failure Count']} requests failed")
if not int(total["Request Count"]):
    problems.append("no request was made")
for kind, what in (("open", "bid of the open auction"), ("event", "event delivery")):
    if kind not in kinds:
        problems.append(f"no {what} was reported")
if problems:
    sys.exit("locust smoke test failed: " + "; ".join(problems))
print(f"locust smoke test passed: {total['Request Count']} requests, 0 failures")
PY
then
  echo "--- locust log"; tail -40 "$out/locust.log"
  echo "--- server log"; tail -20 "$out/server.log"
  exit 1
fi
rm -rf "$out"
