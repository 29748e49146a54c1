#!/usr/bin/env bash
# Copyright (c) 2026 keeplocal.traffic contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# The hairpin watch end to end with real parts, on network namespaces this script creates (root;
# removed on exit): a gateway gw doing hairpin NAT (its public address 100.64.84.1:80 -> web
# 10.84.0.20:8080, masquerading LAN-to-LAN forwards so the replies come back through it), a client
# cli and a monitoring host mon, all on 10.84.0.0/24. The public address is carrier-grade NAT space,
# inside the default internal networks: the collector sees the hairpin only because
# hairpin_watch_public_addresses names it.
#
# - the role installs the collector's files (its tasks, under a directory of this run) and writes
#   the alerting rules from its template with short for: durations (component rules, on mon);
# - gw runs the collector every 2 s, as the timer would, and Debian's prometheus-node-exporter (its
#   textfile collector only) reading the collector's directory;
# - mon runs Debian's prometheus, scraping gw every second and evaluating the rules every second.
# Then cli calls the public address in a loop. Through Prometheus's HTTP API the test waits for the
# pair's series and KeeplocalHairpinActive firing, stops the calls and waits for the alert to resolve,
# then stops the collector and waits for KeeplocalCollectorStale. Every wait has a timeout.
#   tests/integration/targets/hairpin_watch_e2e/runme.sh [ansible-playbook options, e.g. -v or -e VAR=VALUE]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
if [[ -z "${ANSIBLE_COLLECTIONS_PATH:-}" ]]; then
  # shellcheck disable=SC1091
  . "$here/../../../../scripts/env.sh"
fi
for tool in prometheus prometheus-node-exporter promtool curl iptables-restore; do
  command -v "$tool" >/dev/null || { echo "hairpin_watch_e2e: $tool is not installed (scripts/host-setup.sh installs it)" >&2; exit 1; }
done
extra=("$@")
python=/usr/bin/python3
# shellcheck source=scripts/netns-lib.sh
. "$here/../../../../scripts/netns-lib.sh"
netns_init klhw hairpin_watch_e2e
out=$NETNS_DIR
chmod 755 "$out"
# How often the collector runs here (seconds), and the rules' durations the test sets.
collector_every=2
pair_for=5s
stale_after=20s
gw=10.84.0.1 cli=10.84.0.10 web=10.84.0.20 mon=10.84.0.9 public=100.64.84.1
pair="client=$cli,public=$public:80/tcp,backend=$web:8080"
pair_selector="{client=\"$cli\",public=\"$public:80/tcp\",backend=\"$web:8080\"}"
target=$gw:9100
prom_url=http://127.0.0.1:9090

show_logs() {   # show_logs RC: on a failure, the logs' last lines, the metrics and the gateway's conntrack table
  local rc=$1 log
  ((rc != 0)) || return 0
  for log in timeline.jsonl collector.log node-exporter.log prometheus.log traffic.log; do
    [[ -s $out/$log ]] || continue
    echo "--- $log (last lines)" >&2
    tail -n 15 "$out/$log" >&2
  done
  if [[ -s $out/textfile/keeplocal_hairpin.prom ]]; then
    echo "--- the collector's last metrics (keeplocal_hairpin_*)" >&2
    grep '^keeplocal_hairpin' "$out/textfile/keeplocal_hairpin.prom" >&2 || true
    echo "--- the gateway's conntrack table" >&2
    netns_exec gw conntrack -L 2>&1 | head -n 20 >&2 || true
  fi
}
netns_at_exit show_logs
start() { netns_start "$1" "$2" nice -n 10 "${@:3}"; }   # start NAMESPACE LOG COMMAND...: in the background, niced
prom() { netns_exec mon "$KEEPLOCAL_VENV/bin/python" "$here/files/prom.py" "$prom_url" "$@" >>"$out/timeline.jsonl"; }
mark() { printf '{"event": "%s", "time": %s}\n' "$1" "$(date +%s.%N)" >>"$out/timeline.jsonl"; }
begin=$SECONDS

# --- the network ---------------------------------------------------------------------------------
netns_host gw cli web mon
netns_switch br0
netns_link gw br0 "$gw/24"
netns_link cli br0 "$cli/24" "$gw"
netns_link web br0 "$web/24" "$gw"
netns_link mon br0 "$mon/24" "$gw"
netns_gateway gw "$public/24"
netns_hairpin_nat gw "$public" 10.84.0.0/24 masquerade "80=$web:8080"
# Accounting on, so the pair's bytes are counted. A closed connection leaves the table after 2 s
# instead of TIME_WAIT's 2 minutes, so the alert can resolve within the test's time.
netns_exec gw sysctl -qw net.netfilter.nf_conntrack_acct=1 net.netfilter.nf_conntrack_tcp_timeout_time_wait=2

start web traffic "$python" "$here/files/traffic.py" serve "0.0.0.0:8080" "$out/web.ready"
netns_wait_for "$out/web.ready" 5 "$out/traffic.log"

# --- the role: the collector's files on gw, the rules on mon ----------------------------------------
cat >"$out/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
rule_files:
  - $out/keeplocal-hairpin.rules.yml
scrape_configs:
  - job_name: node
    static_configs:
      - targets: ['$target']
EOF
for name in gw mon; do netns_python_wrapper "$name" "$out/python-$name" "$python"; done
cat >"$out/inventory.yml" <<EOF
all:
  vars:
    ansible_connection: local
    e2e_dir: $out
    hairpin_watch_interval: 10s
    hairpin_watch_textfile_directory: $out/textfile
    hairpin_watch_public_addresses: [$public]
    hairpin_watch_alert_pair_for: $pair_for
    hairpin_watch_alert_stale_after: $stale_after
    hairpin_watch_alert_stale_for: 1s
  hosts:
    gw: {ansible_python_interpreter: $out/python-gw}
    mon: {ansible_python_interpreter: $out/python-mon}
EOF
timeout 300 nice -n 10 ansible-playbook -i "$out/inventory.yml" "$here/playbook.yml" "${extra[@]}" >"$out/ansible.log" 2>&1 \
  || { cat "$out/ansible.log" >&2; echo "hairpin_watch_e2e: the playbook failed" >&2; exit 1; }
echo "role: collector files and rules written in $((SECONDS - begin)) s"

# --- the watch: collector and node_exporter on gw, Prometheus on mon ------------------------------
# As the systemd unit runs it; at most 150 runs. (The inner shell expands its own arguments.)
# shellcheck disable=SC2016
start gw collector sh -c 'for i in $(seq 150); do /usr/bin/python3 -I "$1" --config "$2" || echo "run $i failed: rc $?"; sleep "$3"; done' \
  collector "$out/lib/keeplocal_hairpin_watch.py" "$out/keeplocal-hairpin-watch.json" "$collector_every"
collector_pid=${NETNS_PIDS[-1]}
start gw node-exporter prometheus-node-exporter --web.listen-address="$target" --web.disable-exporter-metrics \
  --collector.disable-defaults --collector.textfile --collector.textfile.directory="$out/textfile"
start mon prometheus prometheus --config.file="$out/prometheus.yml" --storage.tsdb.path="$out/tsdb" \
  --web.listen-address=127.0.0.1:9090
prom ready 60 "$out/keeplocal-hairpin.rules.yml"
prom series 20 "keeplocal_collector_last_success_timestamp_seconds{instance=\"$target\"}"
prom series 20 "time() - keeplocal_collector_last_success_timestamp_seconds{instance=\"$target\"} < $((3 * collector_every))"
prom absent "keeplocal_hairpin_connections$pair_selector"
echo "watch: up in $((SECONDS - begin)) s"

# --- a hairpin: cli calls the public address -------------------------------------------------------
mark traffic_started
start cli traffic "$python" "$here/files/traffic.py" call "$public:80" 90
traffic_pid=${NETNS_PIDS[-1]}
prom series 30 "keeplocal_hairpin_connections$pair_selector > 0"
prom series 30 "keeplocal_hairpin_bytes_total$pair_selector > 0"
prom firing 30 KeeplocalHairpinActive "$pair"
netns_exec mon curl -fsS --max-time 3 "http://$target/metrics" | grep '^keeplocal_' >"$out/metrics.txt"
kill "$traffic_pid"
wait "$traffic_pid" || true
mark traffic_stopped
prom resolved 30 KeeplocalHairpinActive "$pair"

# --- the collector stops: its metrics age and the stale alert fires -------------------------------
kill "$collector_pid"
wait "$collector_pid" || true
mark collector_stopped
prom firing 45 KeeplocalCollectorStale "instance=$target"
# Every rule still evaluates without an error after all this.
prom ready 10 "$out/keeplocal-hairpin.rules.yml"

if grep 'failed: rc' "$out/collector.log" >&2; then
  echo "hairpin_watch_e2e: collector runs failed (above)" >&2
  exit 1
fi
echo "--- the gateway's metrics with the hairpin (node_exporter, keeplocal_ samples):"
cat "$out/metrics.txt"
echo "--- the client: $(grep calls "$out/traffic.log")"
"$KEEPLOCAL_VENV/bin/python" - "$out/timeline.jsonl" <<'EOF'
import json
import sys
import time


def utc(stamp):
    return time.strftime('%H:%M:%S', time.gmtime(stamp)) + '.%03dZ' % (stamp % 1 * 1000)


events = sorted((json.loads(line) for line in open(sys.argv[1])), key=lambda item: item['time'])
start = next(item['time'] for item in events if item['event'] == 'traffic_started')
print('--- timeline (UTC; seconds after the calls started)')
for item in events:
    detail = item.get('alert') or item.get('query', '')
    if item['event'] == 'ready':
        detail = '%d rules loaded, for: %s' % (item['rules'], item['alert_for'])
    elif item['event'] == 'firing':
        detail += ' (activeAt %s)' % item['active_at']
    elif item['event'] == 'resolved':
        detail += ' (ALERTS firing from %s to %s)' % (utc(item['firing_first_evaluation']), utc(item['firing_last_evaluation']))
    print('%-16s %s %+6.1f s  %s' % (item['event'], utc(item['time']), item['time'] - start, detail))
EOF
echo "hairpin_watch_e2e: passed in $((SECONDS - begin)) s"
