#!/usr/bin/env bash
# Copyright (c) 2026 keeplocal.traffic contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# What a hairpin moves, counted by the hairpin watch collector on both ends of a known transfer. A
# gateway namespace gw publishes 198.18.86.1:80, DNATed to srv 10.86.0.20:8080 and SNATed to
# 10.86.0.1 (the hairpin); the client namespace cli (10.86.0.10) fetches 100,000,000 bytes through
# it. The collector, installed as the hairpin_watch role installs it (the module_utils closure and
# the entry script, run with python3 -I), runs in cli (no conntrack of its own: its byte counts come
# from its sockets through sock_diag) before, halfway through, and after the transfer while the
# connection is still open; then a 1,000,000-byte connection opens and closes between two runs. On gw
# (nf_conntrack_acct=1) it runs before and at the end. Asserted:
#   - cli's keeplocal_hairpin_bytes_total{counted_by="client"} grows across the runs and ends within
#     1 % of the bytes the client sent and received; the connection that lived between two runs is
#     not counted there (what sock_diag cannot see, stated in the collector's documentation);
#   - gw's {counted_by="gateway"} counts both connections, within 5 % (conntrack counts IP headers too).
# No traffic leaves the namespaces; they are removed on exit.
#   tests/integration/targets/hairpin_bytes/runme.sh
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
if [[ -z "${KEEPLOCAL_COLLECTIONS:-}" ]]; then
  # shellcheck disable=SC1091
  . "$here/../../../../scripts/env.sh"
fi
size=100000000
closed_size=1000000
python=/usr/bin/python3
# shellcheck source=scripts/netns-lib.sh
. "$here/../../../../scripts/netns-lib.sh"
netns_init klbytes hairpin_bytes
out=$NETNS_DIR
start=$SECONDS

# --- the network ---------------------------------------------------------------------------------
netns_host gw cli srv
netns_switch br0
netns_link gw br0 10.86.0.1/24
netns_link cli br0 10.86.0.10/24 10.86.0.1
netns_link srv br0 10.86.0.20/24 10.86.0.1
netns_gateway gw 198.18.86.1/24
netns_hairpin_nat gw 198.18.86.1 10.86.0.0/24 10.86.0.1 80=10.86.0.20:8080
# Accounting applies to entries created after it is on (the sysctl exists once the rules loaded nf_conntrack).
netns_exec gw sysctl -qw net.netfilter.nf_conntrack_acct=1

# --- the collector, as the hairpin_watch role installs it ------------------------------------------
PYTHONPATH=$KEEPLOCAL_COLLECTIONS "$KEEPLOCAL_VENV/bin/python" - "$out/lib" "$KEEPLOCAL_REPO/roles/hairpin_watch/files/keeplocal_hairpin_watch.py" <<'PY'
import os
import shutil
import sys

from ansible_collections.keeplocal.traffic.plugins.filter.hairpin_watch import module_utils_closure

root, entry = sys.argv[1:]
package = os.path.join(root, 'ansible_collections', 'keeplocal', 'traffic', 'plugins', 'module_utils')
os.makedirs(package)
directory = package
while directory != root:
    open(os.path.join(directory, '__init__.py'), 'w').close()
    directory = os.path.dirname(directory)
for path in module_utils_closure('_watch'):
    shutil.copy(path, package)
shutil.copy(entry, root)
PY
for name in cli gw; do
  mkdir -p "$out/$name/textfile" "$out/$name/state"
  printf '{"interval": 60, "textfile_directory": "%s", "state_directory": "%s", "public_addresses": ["198.18.86.1"],
"internal_cidrs": ["10.0.0.0/8"], "top_pairs": 20, "label_overrides": {}, "app_servers": [], "price_per_gb": 0.045,
"currency": "USD"}\n' "$out/$name/textfile" "$out/$name/state" > "$out/$name/config.json"
done
runs=0
collect() {   # collect HOST LABEL: one collector run in HOST; its metrics file kept as HOST-LABEL.prom
  local name=$1 label=$2
  netns_exec "$name" "$python" -I "$out/lib/keeplocal_hairpin_watch.py" --config "$out/$name/config.json"
  cp "$out/$name/textfile/keeplocal_hairpin.prom" "$out/$name-$label.prom"
  runs=$((runs + 1))
}

# --- the transfers -------------------------------------------------------------------------------
netns_start srv server "$python" "$here/files/transfer.py" serve 10.86.0.20 8080
for _ in $(seq 50); do netns_exec srv ss -Hltn 'sport = :8080' | grep -q . && break; sleep 0.1; done

collect cli before
collect gw before
mkdir "$out/flag"
transfer_start=$SECONDS
netns_exec cli "$python" "$here/files/transfer.py" fetch 198.18.86.1 80 "$size" "$out/flag" &
fetcher=$!
NETNS_PIDS+=("$fetcher")
netns_wait_for "$out/flag/half" 60
collect cli halfway
touch "$out/flag/go"
netns_wait_for "$out/flag/done" 60
collect cli after
touch "$out/flag/close"
wait "$fetcher"
netns_exec cli "$python" "$here/files/transfer.py" fetch-closed 198.18.86.1 80 "$closed_size"
collect cli closed
collect gw end
echo "hairpin_bytes: $size + $closed_size bytes through the hairpin, $runs collector runs in $((SECONDS - transfer_start)) s"

"$KEEPLOCAL_VENV/bin/python" - "$out" "$size" "$closed_size" <<'PY'
import json
import os
import sys

out, size, closed_size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
PUBLIC = '198.18.86.1:80/tcp'


def counted(host, label, counted_by):
    """keeplocal_hairpin_bytes_total of the pair to PUBLIC counted by ``counted_by`` in one run's file."""
    total = 0
    with open(os.path.join(out, '%s-%s.prom' % (host, label))) as handle:
        for line in handle:
            if line.startswith('keeplocal_hairpin_bytes_total{') and 'public="%s"' % PUBLIC in line \
                    and 'counted_by="%s"' % counted_by in line:
                total += int(float(line.rsplit(' ', 1)[1]))
    return total


with open(os.path.join(out, 'flag', 'done')) as handle:
    done = json.load(handle)
with open(os.path.join(out, 'cli', 'state', 'result.json')) as handle:
    client_result = json.load(handle)
moved = done['received'] + done['sent']
client = {label: counted('cli', label, 'client') for label in ('before', 'halfway', 'after', 'closed')}
gateway = {label: counted('gw', label, 'gateway') for label in ('before', 'end')}
# The closed connection's request line is as long as the first one's, less one digit.
gateway_moved = moved + closed_size + done['sent'] - 1


def percent(count, of):
    return 100.0 * (count - of) / of


print('client (sock_diag, payload): %d bytes counted, %d moved (%d received + %d sent): %+.3f %%'
      % (client['after'], moved, done['received'], done['sent'], percent(client['after'], moved)))
print('client runs: before %d, halfway %d, after the transfer %d, after a %d-byte connection closed between runs %d'
      % (client['before'], client['halfway'], client['after'], closed_size, client['closed']))
print('gateway (conntrack accounting, IP): %d bytes counted, %d payload moved in both connections: %+.3f %%'
      % (gateway['end'], gateway_moved, percent(gateway['end'], gateway_moved)))
problems = []
if client_result['client_bytes']['source'] != 'sock_diag' or not client_result['client_bytes']['byte_counters']:
    problems.append('the client run did not read byte counters: %r' % client_result['client_bytes'])
if client['before'] != 0 or gateway['before'] != 0:
    problems.append('bytes counted before any transfer: client %d, gateway %d' % (client['before'], gateway['before']))
if not size // 2 <= client['halfway'] < client['after']:
    problems.append('the halfway run counted %d: not between half the transfer and its end' % client['halfway'])
if abs(percent(client['after'], moved)) > 1:
    problems.append('the client counted %d bytes of %d moved: more than 1 %% off' % (client['after'], moved))
if client['closed'] != client['after']:
    problems.append('the client counter moved by %d for a connection that lived between two runs (sock_diag cannot '
                    'see it: expected no change)' % (client['closed'] - client['after']))
if abs(percent(gateway['end'], gateway_moved)) > 5:
    problems.append('the gateway counted %d bytes of %d moved: more than 5 %% off' % (gateway['end'], gateway_moved))
for problem in problems:
    print('hairpin_bytes: ' + problem, file=sys.stderr)
sys.exit(1 if problems else 0)
PY
echo "hairpin_bytes: passed in $((SECONDS - start)) s"
