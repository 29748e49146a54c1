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
# The hosts are network namespaces this script creates (root; removed on exit): netns_detect_world
# of scripts/netns-lib.sh, the gateway gw with public 198.18.0.1 and its clients on 10.77.0.0/24,
# each an inventory host with ansible_connection=local and a Python that runs in its namespace,
# holding connections for every kind of finding. No traffic leaves them.
#   tests/integration/targets/aap_slicing/runme.sh [-v]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
if [[ -z "${ANSIBLE_COLLECTIONS_PATH:-}" ]]; then
  # shellcheck disable=SC1091
  . "$here/../../../../scripts/env.sh"
fi
command -v ansible-runner >/dev/null || { echo "aap_slicing: ansible-runner is not installed (test-requirements.txt)" >&2; exit 1; }
extra=("$@")   # ansible options such as -v, for every run
slices=3
# shellcheck source=scripts/netns-lib.sh
. "$here/../../../../scripts/netns-lib.sh"
netns_init klslice aap_slicing
out=$NETNS_DIR
inventory=$out/inventory.yml
netns_detect_world 10.77.0 198.18.0.1 "$inventory"

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
