#!/usr/bin/env bash
# Copyright (c) 2026 keeplocal.traffic contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# What a reload and a restart of systemd-resolved do to lookups in flight, side by side in one run:
# the split_dns client reloads resolved once when it writes its drop-in and once when it removes it.
# One Debian 13 container of the lab image (scripts/lab-image.sh, KEEPLOCAL_LAB_SUITE=trixie) on an
# internal podman network of its own (10.99.0.0/24, nothing routed), dnsmasq on two addresses of it:
# 10.99.0.2 as the link's resolver and 10.99.0.3 as the private one (the drop-in's DNS=). A lookup
# loop (getaddrinfo through nss-resolve, as applications do) runs while resolved is, in turn:
#   reload-no-change    reloaded N times, the configuration unchanged
#   reload-drop-in      reloaded N times, the split_dns drop-in written and removed in turn
#   restart-drop-in     restarted N times, the same drop-in in turn
#   idle                left alone (the baseline: the loop itself fails nothing)
# and prints, per row, lookups, failed lookups, failures per 100 reloads and how far each failure
# were within 100 ms of resolved's "Config file reloaded" (or "Started") line in its journal, and the
# farthest. (The restart row resets resolved's start limit before each restart: it is 5 in 10 s.)
#   bench/resolved_reload.sh [--cycles 40]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
cycles=40
while (($#)); do
  case $1 in
    --cycles) cycles=$2; shift 2 ;;
    *) echo "resolved_reload: unknown argument $1 (known: --cycles N)" >&2; exit 2 ;;
  esac
done
# shellcheck disable=SC1091
. "$repo/scripts/env.sh"
KEEPLOCAL_LAB_SUITE=trixie "$repo/scripts/lab-image.sh" >/dev/null
name=keeplocal-bench-resolved
net=keeplocal-bench-resolved
cleanup() {
  podman rm -f -t 2 "$name" >/dev/null 2>&1 || true
  podman network rm -f "$net" >/dev/null 2>&1 || true
}
trap cleanup EXIT
cleanup
podman network create --internal --subnet 10.99.0.0/24 "$net" >/dev/null
podman run -d --name "$name" --network "$net:ip=10.99.0.10" --dns=none --cap-add=SYS_ADMIN \
  --cap-add=NET_ADMIN --systemd=always localhost/keeplocal-lab:trixie /sbin/init >/dev/null
in_c() { podman exec "$name" bash -c "$1"; }
for _ in $(seq 30); do in_c 'systemctl is-active -q systemd-resolved' 2>/dev/null && break; sleep 1; done
in_c '
ip addr add 10.99.0.2/24 dev eth0 && ip addr add 10.99.0.3/24 dev eth0
dnsmasq --no-resolv --no-hosts --bind-interfaces --listen-address=10.99.0.2 --address=/app.example.test/198.51.100.80
dnsmasq --no-resolv --no-hosts --bind-interfaces --listen-address=10.99.0.3 --address=/app.example.test/192.168.1.20
resolvectl dns eth0 10.99.0.2
mkdir -p /etc/systemd/resolved.conf.d'
podman cp "$here/resolved_reload_lookups.py" "$name:/root/lookups.py"

drop_in='printf "[Resolve]\nDNS=10.99.0.3\nDomains=~example.test\n" > /etc/systemd/resolved.conf.d/keeplocal-split-dns.conf'
remove='rm -f /etc/systemd/resolved.conf.d/keeplocal-split-dns.conf'
declare -A action=(
  [reload-no-change]="systemctl reload systemd-resolved"
  [reload-drop-in]="if ((i % 2)); then $remove; else $drop_in; fi; systemctl reload systemd-resolved"
  [restart-drop-in]="if ((i % 2)); then $remove; else $drop_in; fi; systemctl reset-failed systemd-resolved; systemctl restart systemd-resolved"
  [idle]="true"
)
printf '| row | changes | lookups | failed | failed per 100 changes | failed within 100 ms of a reload/start | farthest |\n|---|---|---|---|---|---|---|\n'
for row in idle reload-no-change reload-drop-in restart-drop-in; do
  in_c "$remove; systemctl restart systemd-resolved; sleep 1"
  since=$(in_c 'date +%s.%N')
  duration=$(awk -v c="$cycles" 'BEGIN { print c * 0.7 + 2 }')
  in_c "python3 /root/lookups.py $duration app.example.test > /root/$row.json &
        sleep 1; for i in \$(seq $cycles); do ${action[$row]}; sleep 0.7; done; wait"
  in_c "journalctl -o short-unix --no-pager -u systemd-resolved --since @${since%.*} \
        | awk '/Config file reloaded|Started systemd-resolved/ { print \$1 }'" > "/tmp/$name-$row.marks"
  podman exec "$name" cat "/root/$row.json" | python3 -c '
import json, sys
row, cycles, marks_file = sys.argv[1], int(sys.argv[2]), sys.argv[3]
counts = json.load(sys.stdin)
marks = [float(line) for line in open(marks_file) if line.strip()]
changes = 0 if row == "idle" else cycles
gaps = [min(abs(t - m) for m in marks) for t in counts["failure_times"]] if marks else []
print("| %s | %d | %d | %d | %s | %d | %s |" % (row, changes, counts["lookups"], counts["failed"],
      "%.1f" % (100.0 * counts["failed"] / changes) if changes else "-", sum(1 for g in gaps if g <= 0.1),
      "%.0f ms" % (1000 * max(gaps)) if gaps else "-"))
' "$row" "$cycles" "/tmp/$name-$row.marks"
  rm -f "/tmp/$name-$row.marks"
done
