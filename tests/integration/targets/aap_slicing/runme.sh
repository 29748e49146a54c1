#!/usr/bin/env bash
# Copyright (c) 2026 keeplocal.traffic contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# AAP job slicing for real: keeplocal.traffic.detect runs sliced as AAP runs a sliced job template
# (the inventory's hosts sorted by name, slice k of N = every N-th host from the k-th; one
# ansible-runner run per slice, all at once; each only collects), then keeplocal.traffic.plan plans
# from the slices' artifacts: their fact caches copied into the plan run's, as AAP's fact storage
# does, and the per-host files the slices wrote. Both plans must equal the plan of one unsliced
# detect run, byte for byte; and with one slice's facts left out the plan must differ (listing that
# slice's hosts as not observed), which shows the comparison can fail.
#
# The hosts are network namespaces this script creates (root; removed on exit): a gateway gw
# (198.18.0.1, :80 -> web:80, :5432 -> db:54321, hairpin SNAT) and clients cli, web and db on
# 10.77.0.0/24, each an inventory host with ansible_connection=local and a Python that runs in its
# namespace. Connections are opened once and held, so every run sees the same sockets and conntrack
# entries: cli -> app (split DNS), cli and web -> db's translated port (local shortcut), nginx ->
# gunicorn on web (Unix socket), db only resolving the names (latent). No traffic leaves them.
#   tests/integration/targets/aap_slicing/runme.sh [-v]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
if [[ -z "${ANSIBLE_COLLECTIONS_PATH:-}" ]]; then
  # shellcheck disable=SC1091
  . "$here/../../../../scripts/env.sh"
fi
if [[ $(id -u) != 0 ]]; then
  echo "aap_slicing: needs root (it creates network namespaces)" >&2
  exit 1
fi
command -v ansible-runner >/dev/null || { echo "aap_slicing: ansible-runner is not installed (test-requirements.txt)" >&2; exit 1; }
extra=("$@")   # ansible options such as -v, for every run
slices=3
python=/usr/bin/python3
prefix=klslice
tag=$prefix$$
hosts=(cli db gw web)
tmp=${TMPDIR:-/tmp}
out=$(mktemp -d "$tmp/$tag.XXXXXX")
holders=()

remove_netns() {   # the namespaces of one run: their processes first
  local ns pids
  for ns in "$@"; do
    mapfile -t pids < <(ip netns pids "$ns" 2>/dev/null || true)
    ((${#pids[@]} == 0)) || kill "${pids[@]}" 2>/dev/null || true
    ip netns del "$ns" 2>/dev/null || true
  done
}
cleanup() {
  local rc=$?
  ((${#holders[@]} == 0)) || kill "${holders[@]}" 2>/dev/null || true
  remove_netns "$tag-sw" "${hosts[@]/#/$tag-}"
  rm -rf "$out"
  exit $rc
}
trap cleanup EXIT
# What a killed run left behind (named after its process id): namespaces, their processes, its directory.
for ns in $(ip netns list | awk '{print $1}' | grep -E "^${prefix}[0-9]+-" || true); do
  pid=${ns#"$prefix"}; pid=${pid%%-*}
  kill -0 "$pid" 2>/dev/null || remove_netns "$ns"
done
for dir in "$tmp/$prefix"[0-9]*.*; do
  [[ -d $dir ]] || continue
  pid=${dir#"$tmp/$prefix"}; pid=${pid%%.*}
  kill -0 "$pid" 2>/dev/null || rm -rf "$dir"
done

ns() { echo "$tag-$1"; }
in_ns() { local name=$1; shift; ip netns exec "$(ns "$name")" "$@"; }

# --- the network ---------------------------------------------------------------------------------
for name in sw "${hosts[@]}"; do
  ip netns add "$(ns "$name")"
  # No IPv6: neighbour discovery would add conntrack entries between runs.
  in_ns "$name" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
  ip -n "$(ns "$name")" link set lo up
done
ip -n "$(ns sw)" link add br0 type bridge
ip -n "$(ns sw)" link set br0 up
declare -A address=([gw]=10.77.0.1 [cli]=10.77.0.10 [web]=10.77.0.20 [db]=10.77.0.30)
for name in "${hosts[@]}"; do
  ip link add eth0 netns "$(ns "$name")" type veth peer name "p-$name" netns "$(ns sw)"
  ip -n "$(ns sw)" link set "p-$name" master br0 up
  ip -n "$(ns "$name")" addr add "${address[$name]}/24" dev eth0
  ip -n "$(ns "$name")" link set eth0 up
  [[ $name == gw ]] || ip -n "$(ns "$name")" route add default via 10.77.0.1
done
# The gateway's public side: 198.18.0.1 on a veth pair of its own (nothing behind it).
ip -n "$(ns gw)" link add pub0 type veth peer name pub1
ip -n "$(ns gw)" addr add 198.18.0.1/24 dev pub0
ip -n "$(ns gw)" link set pub0 up
ip -n "$(ns gw)" link set pub1 up
in_ns gw sysctl -qw net.ipv4.ip_forward=1 net.ipv4.conf.all.send_redirects=0 net.ipv4.conf.eth0.send_redirects=0
in_ns gw iptables -t nat -A PREROUTING -d 198.18.0.1/32 -p tcp --dport 80 -j DNAT --to-destination 10.77.0.20:80
in_ns gw iptables -t nat -A PREROUTING -d 198.18.0.1/32 -p tcp --dport 5432 -j DNAT --to-destination 10.77.0.30:54321
in_ns gw iptables -t nat -A POSTROUTING -s 10.77.0.0/24 -d 10.77.0.0/24 -m conntrack --ctstate DNAT -j SNAT --to-source 10.77.0.1

# --- the hosts: a Python in each namespace, the public names in its /etc/hosts ------------------------
mkdir -p "$out/bin"
printf '198.18.0.1 app.example.test db.example.test\n' > "$out/hosts"
for name in "${hosts[@]}"; do
  # ip netns exec runs in a mount namespace of its own: the bind mount stays inside it.
  cat > "$out/bin/python-$name" <<EOF
#!/bin/sh
exec ip netns exec $(ns "$name") sh -c 'mount --bind "\$0" /etc/hosts && exec $python "\$@"' "$out/hosts" "\$@"
EOF
  chmod +x "$out/bin/python-$name"
done
# Process names the planner goes by (/proc/PID/comm is the name the program was started as).
ln -s "$python" "$out/bin/gunicorn"
ln -s "$python" "$out/bin/nginx"
hold() {   # hold NAMESPACE PROGRAM ARGS...: start a holder, wait until its sockets are up
  local name=$1 program=$2 ready
  shift 2
  ready="$out/ready.${#holders[@]}"
  in_ns "$name" "$program" "$here/files/hold.py" "$ready" "$@" >>"$out/holders.log" 2>&1 &
  holders+=($!)
  for _ in $(seq 100); do [[ -e $ready ]] && return 0; sleep 0.1; done
  cat "$out/holders.log" >&2
  echo "aap_slicing: holder $* in $name did not start" >&2
  return 1
}
hold web "$python" serve 0.0.0.0:80
hold db "$python" serve 0.0.0.0:54321
hold web "$out/bin/gunicorn" serve 127.0.0.1:8000
hold web "$out/bin/nginx" connect 127.0.0.1:8000:2
hold cli "$python" connect 198.18.0.1:80:2 198.18.0.1:5432:1
hold web "$python" connect 198.18.0.1:5432:1

inventory=$out/inventory.yml
{
  echo "all:"
  echo "  vars:"
  echo "    ansible_connection: local"
  echo "    hairpin_detect_name_ports: {app.example.test: 80, db.example.test: 5432}"
  echo "  hosts:"
  for name in "${hosts[@]}"; do
    echo "    $name:"
    echo "      ansible_python_interpreter: $out/bin/python-$name"
    case $name in cli|db) echo "      hairpin_detect_names: [app.example.test, db.example.test]" ;; esac
  done
} > "$inventory"

# --- unsliced: one detect run over the whole inventory --------------------------------------------
run() {   # run LOG COMMAND...: the command's output goes to LOG, shown when it fails
  local log=$1; shift
  "$@" >"$log" 2>&1 || { cat "$log" >&2; echo "aap_slicing: failed: $*" >&2; return 1; }
}
start=$SECONDS
cd "$out"   # relative paths below (the facts directory) are from here, as for a user
run "$out/unsliced.log" ansible-playbook keeplocal.traffic.detect -i "$inventory" -e hairpin_detect_report_dir="$out/unsliced" "${extra[@]}"

# --- sliced, as AAP slices a job: hosts sorted by name, slice k = every N-th host from the k-th ------
mapfile -t sorted < <(ansible all -i "$inventory" --list-hosts | tail -n +2 | sed 's/^ *//' | LC_ALL=C sort)
runner=$out/runner
mkdir -p "$runner"
pids=()
for k in $(seq 1 $slices); do
  limit=$(printf '%s\n' "${sorted[@]}" | awk -v n=$slices -v k="$k" '(NR - 1) % n == k - 1' | paste -sd, -)
  echo "slice $k/$slices: $limit"
  ansible-runner run "$runner" -p keeplocal.traffic.detect --inventory "$inventory" --limit "$limit" --ident "detect-$k" \
    --cmdline "-e hairpin_detect_collect_only=true -e hairpin_detect_facts_dir=facts ${extra[*]}" >"$out/detect-$k.log" 2>&1 &
  pids+=($!)
done
for k in $(seq 1 $slices); do
  wait "${pids[k-1]}" || { cat "$out/detect-$k.log" >&2; echo "aap_slicing: slice $k failed" >&2; exit 1; }
done

# --- plan from the slices' artifacts ----------------------------------------------------------------
# AAP's fact storage: every slice's fact cache into the plan job's (ansible-runner's default cache
# is artifacts/IDENT/fact_cache; AAP saves it per host after each job and writes it back before the next).
plan_from_caches() {   # plan_from_caches IDENT SLICE...
  local ident=$1 k; shift
  mkdir -p "$runner/artifacts/$ident/fact_cache"
  for k in "$@"; do cp "$runner/artifacts/detect-$k/fact_cache/"* "$runner/artifacts/$ident/fact_cache/"; done
  run "$out/$ident.log" ansible-runner run "$runner" -p keeplocal.traffic.plan --inventory "$inventory" --ident "$ident" \
    --cmdline "-e hairpin_detect_report_dir=$out/$ident ${extra[*]}"
}
plan_from_caches plan $(seq 1 $slices)
# The per-host files the slices wrote (hairpin_detect_facts_dir, relative: ansible-runner runs
# ansible-playbook in its private data directory, the role resolves it from where the user is).
run "$out/plan-files.log" ansible-playbook keeplocal.traffic.plan -i "$inventory" \
  -e '{"hairpin_detect_facts_dirs": ["facts"]}' -e hairpin_detect_report_dir="$out/plan-files" "${extra[@]}"
# Slice 1's facts left out: the comparison must see it.
plan_from_caches plan-without-1 $(seq 2 $slices)
echo "runs: $((SECONDS - start)) s"

"$KEEPLOCAL_VENV/bin/python" - "$out" "$slices" "${sorted[@]}" <<'EOF'
import difflib
import json
import os
import sys

out, slices, hosts = sys.argv[1], int(sys.argv[2]), sys.argv[3:]


def read(run, name='plan.json'):
    with open(os.path.join(out, run, name), encoding='utf-8') as handle:
        return handle.read()


def same(run):
    problems = []
    for name in ('plan.json', 'report.md'):
        want, got = read('unsliced', name), read(run, name)
        if got != want:
            diff = difflib.unified_diff(want.splitlines(), got.splitlines(), 'unsliced/' + name, run + '/' + name, lineterm='', n=1)
            problems.append('\n'.join(list(diff)[:60]))
    return problems


unsliced = json.loads(read('unsliced'))
summary = unsliced['summary']
print('unsliced plan:', json.dumps(summary, sort_keys=True))
# The plan the slices must reproduce is not a trivial one: every kind of finding, facts from every host.
expected = {'hosts': len(hosts), 'not_observed': 0}
problems = ['unsliced plan: %s is %r, expected %r' % (key, summary[key], value) for key, value in expected.items() if summary[key] != value]
for key in ('split_dns', 'local_shortcut', 'unix_socket'):
    if summary['by_fix'][key] < 1:
        problems.append('unsliced plan: no %s finding' % key)
if summary['latent_pairs'] < 1 or summary['active_pairs'] < 2:
    problems.append('unsliced plan: expected active and latent pairs')
# Each slice saw only its own hosts.
for k in range(1, slices + 1):
    cached = sorted(os.listdir(os.path.join(out, 'runner', 'artifacts', 'detect-%d' % k, 'fact_cache')))
    if len(cached) != len(hosts[k - 1::slices]):
        problems.append('slice %d cached facts of %s, expected the hosts %s' % (k, cached, hosts[k - 1::slices]))
files = sorted(os.listdir(os.path.join(out, 'facts')))
if files != sorted(host + '.json' for host in hosts):
    problems.append('the slices wrote the facts files %s, expected one per host' % files)
for run in ('plan', 'plan-files'):
    found = same(run)
    problems.extend(found)
    print('%-15s %s' % (run + ':', 'equals the unsliced plan' if not found else 'DIFFERS from the unsliced plan'))
dropped = json.loads(read('plan-without-1'))
missing = sorted(item['host'] for item in dropped['not_observed'])
if not same('plan-without-1'):
    problems.append('plan-without-1: equals the unsliced plan although slice 1 was left out: the comparison cannot fail')
elif missing != sorted(hosts[0::slices]):
    problems.append('plan-without-1: not observed %s, expected slice 1: %s' % (missing, hosts[0::slices]))
else:
    print('plan-without-1: differs (not observed: %s), as it must' % ', '.join(missing))
if problems:
    print('\n'.join(problems), file=sys.stderr)
    sys.exit(1)
EOF
echo "aap_slicing: the plan from $slices slices equals the unsliced plan"
