#!/usr/bin/env bash
# Copyright (c) 2026 keeplocal.traffic contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# The fleet curve on network-namespace hosts: playbooks/detect.yml vs a bare fact-gathering pass
# (ansible -m setup) on the same hosts, interleaved (setup, detect, setup, detect...), at each size;
# then the measure step of site.yml (playbooks/measure.yml) for 0, 1, 4, 16 pairs, the pairs spread
# over that many client hosts and all on one client, and for every pair the plan measures; with
# --free also the largest cuts and all pairs with the clients' play under strategy free.
#   bench/fleet_netns.sh [--sizes 24,96] [--rounds 5] [--measure-rounds 3] [--pairs 1,4,16] [--no-measure] [--free] [--hold]
# (sizes >= 20 hosts; pair counts <= 16, the forwards c001 holds)
# Prints per-round times, then one table (size, setup median, detect median, ratio) and the measure
# table; writes bench/results/fleet_netns.md. Root (it creates network namespaces; removed on exit).
# --hold builds the first size only and keeps it up (the inventory path is printed) until killed.
#
# A fleet of N hosts is N namespaces on one bridge (10.77.0.0/16) in a switch namespace:
#   gw   10.77.0.1, public 198.18.0.1: DNAT :80 -> web 10.77.0.20:80, :5432 and :6001-:6016 -> db
#        10.77.0.30:54321 (one rule each), SNAT 10.77.0.0/16 -> 10.77.0.0/16 to 10.77.0.1 (the hairpin)
#   web  a JSON echo on :80 (the client it saw), nginx -> gunicorn on 127.0.0.1:8000 (same host);
#        holds one connection to the public :5432
#   db   a line echo on :54321 ("db CLIENT_IP")
#   cNNN N-3 clients 10.77.1.x: each holds 2 connections to the public :80 and 1 to :5432 (all
#        through the hairpin, so gw's conntrack table holds 3 DNAT+SNAT entries per client); c001
#        also holds one to each of :6001-:6016 (16 port-translated pairs on one client)
# Every host is an inventory host with ansible_connection=local and a python3 started inside its
# namespace (ip netns exec, /etc/hosts bind-mounted there with the public names), for both columns.
# The servers and the held connections live in one process (bench/fleet_world.py).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck disable=SC1091
. "$here/../scripts/env.sh"
cd "$KEEPLOCAL_REPO"
sizes=24,96 rounds=5 measure_rounds=3 pair_counts=1,4,16 measure=1 free=0 hold=0
while (($#)); do
  case $1 in
    --sizes) sizes=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --measure-rounds) measure_rounds=$2; shift 2 ;;
    --pairs) pair_counts=$2; shift 2 ;;
    --no-measure) measure=0; shift ;;
    --free) free=1; shift ;;
    --hold) hold=1; shift ;;
    *) echo "usage: $0 [--sizes 24,96] [--rounds 5] [--measure-rounds 3] [--pairs 1,4,16] [--no-measure] [--free] [--hold]" >&2; exit 2 ;;
  esac
done
args="--sizes $sizes --rounds $rounds --measure-rounds $measure_rounds --pairs $pair_counts"
((measure)) || args+=' --no-measure'
((!free)) || args+=' --free'
python=/usr/bin/python3
# shellcheck source=scripts/netns-lib.sh
. "$here/../scripts/netns-lib.sh"
netns_init klfleet fleet_netns
out=$NETNS_DIR

build() {   # build N: the fleet of N hosts, its inventory in $out/N/inventory.yml
  local size=$1 dir=$out/$1 name i hosts=(gw web db) clients=() forwards
  declare -A address=([gw]=10.77.0.1 [web]=10.77.0.20 [db]=10.77.0.30)
  for ((i = 1; i <= size - 3; i++)); do
    name=$(printf 'c%03d' "$i"); clients+=("$name"); hosts+=("$name"); address[$name]=10.77.1.$i
  done
  mkdir -p "$dir/bin"
  netns_host "${hosts[@]}"
  netns_switch br0
  netns_link gw br0 10.77.0.1/16
  for name in "${hosts[@]:1}"; do netns_link "$name" br0 "${address[$name]}/16" 10.77.0.1; done
  netns_gateway gw 198.18.0.1/24
  forwards=("80=10.77.0.20:80" "5432=10.77.0.30:54321")
  for i in $(seq 6001 6016); do forwards+=("$i=10.77.0.30:54321"); done
  netns_hairpin_nat gw 198.18.0.1 10.77.0.0/16 10.77.0.1 "${forwards[@]}"

  # The hosts: a python3 in each namespace, the public names in its /etc/hosts.
  { cat /etc/hosts; echo '198.18.0.1 app.example.test db.example.test'; } > "$dir/hosts"
  for name in "${hosts[@]}"; do
    netns_python_wrapper "$name" "$dir/bin/python-$name" "$python" "$dir/hosts"
  done

  # The servers and the held connections, one process for all namespaces.
  "$KEEPLOCAL_VENV/bin/python" - "$(netns_name '')" "$dir/world.json" "${clients[@]}" <<'EOF'
import json
import sys

prefix, path, clients = sys.argv[1], sys.argv[2], sys.argv[3:]
ns = lambda name: prefix + name
listen = [[ns('web'), '0.0.0.0', 80, 'http', 'web'], [ns('db'), '0.0.0.0', 54321, 'line', 'db']]
connect = [[ns('web'), '198.18.0.1', 5432, 1]]
for client in clients:
    connect += [[ns(client), '198.18.0.1', 80, 2], [ns(client), '198.18.0.1', 5432, 1]]
connect += [[ns(clients[0]), '198.18.0.1', port, 1] for port in range(6001, 6017)]
with open(path, 'w') as handle:
    json.dump({'listen': listen, 'connect': connect}, handle)
EOF
  "$python" "$here/fleet_world.py" "$dir/world.json" "$dir/world.ready" >>"$dir/world.log" 2>&1 &
  NETNS_PIDS+=($!)
  # nginx -> gunicorn on web's loopback (process names are what the planner goes by).
  ln -sf "$python" "$dir/bin/gunicorn"
  ln -sf "$python" "$dir/bin/nginx"
  netns_hold web "$dir/bin/gunicorn" serve 127.0.0.1:8000
  netns_hold web "$dir/bin/nginx" connect 127.0.0.1:8000:2
  netns_wait_for "$dir/world.ready" 30 "$dir/world.log"

  {
    echo "all:"
    echo "  vars:"
    echo "    ansible_connection: local"
    echo "    hairpin_detect_name_ports: {app.example.test: 80, db.example.test: 5432}"
    echo "  children:"
    echo "    fleet:"
    echo "      hosts:"
    for name in "${hosts[@]}"; do
      echo "        $name: {ansible_python_interpreter: $dir/bin/python-$name}"
    done
    echo "    clients:"
    echo "      vars:"
    echo "        hairpin_detect_names: [app.example.test, db.example.test]"
    echo "      hosts:"
    for name in "${clients[@]}"; do echo "        $name:"; done
  } > "$dir/inventory.yml"
}

timed() {   # timed LOG COMMAND...: "WALL CPU" seconds of COMMAND (CPU: user + system of it and its children: ansible, the modules)
  local log=$1; shift
  /usr/bin/time -o "$log.time" -f '%e %U %S' "$@" >"$log" 2>&1 || { cat "$log" >&2; echo "fleet_netns: failed: $*" >&2; return 1; }
  awk '{printf "%s %.2f\n", $1, $2 + $3}' "$log.time"
}
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
ratio() { printf '%.2f' "$(echo "$1 / $2" | bc -l)"; }
load() { cut -d' ' -f1 /proc/loadavg; }
check() {   # check LOG LABEL: "OK/ALL" of the measurements measure.yml showed: a pair is OK with no
  # failed request, 1000 gateway entries per 1000 requests and the backend seeing the gateway's
  # 10.77.0.1 (the hairpin), the same-host entry (through 127.0.0.1) with no failed request; the
  # others go to $out/unexpected.txt
  { grep -o '"msg": "before: [^"]*"' "$1" || true; } | awk -v label="$2" -v unexpected="$out/unexpected.txt" '
    {all++}
    / errors 0\// && (/ via 127\.0\.0\.1 / || (/ per 1000 requests 1000(\.0)?,/ && / backend saw 10\.77\.0\.1"$/)) {ok++; next}
    {print label ": " $0 >>unexpected}
    END {printf "%d/%d\n", ok, all}'
}

results=$out/results.txt   # SIZE SETUP DETECT RATIO SETUP_CPU DETECT_CPU CPU_RATIO LOADS (medians)
measured=$out/measure.txt  # SIZE CASE PAIRS HOSTS CHECKED MEDIAN ROUND_TIMES...
rounds_md=$out/rounds.md
: >"$results"; : >"$measured"; : >"$rounds_md"; : >"$out/plans.txt"; : >"$out/unexpected.txt"
IFS=, read -r -a size_list <<<"$sizes"
IFS=, read -r -a count_list <<<"$pair_counts"
version=$(ansible --version 2>/dev/null | sed -n 1p)
forks=$(ansible-config dump 2>/dev/null | awk -F' = ' '/^DEFAULT_FORKS/ {print $2}')
detect_cmd=(ansible-playbook playbooks/detect.yml)
setup_cmd=(ansible fleet -m ansible.builtin.setup)

for size in "${size_list[@]}"; do
  ((size >= 20)) || { echo "fleet_netns: a fleet needs at least 20 hosts (16 spread pairs)" >&2; exit 2; }
  start=$SECONDS
  build "$size"
  dir=$out/$size inv=$out/$size/inventory.yml
  if ((hold)); then   # --hold: build the first size and keep it for experiments until killed
    echo "fleet of $size hosts up: ansible -i $inv fleet ... (Ctrl-C or kill $$ removes it)"
    sleep infinity & wait $!
  fi
  echo "== $size hosts (built in $((SECONDS - start)) s; world: $(cat "$dir/world.ready"))"
  # Warm-up, untimed: one pass of each column (page cache, the payloads' first compile).
  timed "$dir/warmup-ping.log" ansible -i "$inv" fleet -m ansible.builtin.ping >/dev/null
  timed "$dir/warmup-setup.log" "${setup_cmd[@]}" -i "$inv" >/dev/null
  timed "$dir/warmup-detect.log" "${detect_cmd[@]}" -i "$inv" -e "hairpin_detect_report_dir=$dir/report" >/dev/null
  setups=() detects=() setup_cpu=() detect_cpu=() loads=()
  for r in $(seq "$rounds"); do
    loads+=("$(load)")
    res=$(timed "$dir/setup-$r.log" "${setup_cmd[@]}" -i "$inv"); read -r s sc <<<"$res"
    res=$(timed "$dir/detect-$r.log" "${detect_cmd[@]}" -i "$inv" -e "hairpin_detect_report_dir=$dir/report"); read -r d dc <<<"$res"
    setups+=("$s"); detects+=("$d"); setup_cpu+=("$sc"); detect_cpu+=("$dc")
    printf 'round %d: setup %.2f s, detect %.2f s, ratio %s; CPU %.2f vs %.2f s (load %s)\n' \
      "$r" "$s" "$d" "$(ratio "$d" "$s")" "$sc" "$dc" "${loads[-1]}"
    printf '| %d | %d | %.2f | %.2f | %s | %.2f | %.2f | %s | %s |\n' "$size" "$r" "$s" "$d" "$(ratio "$d" "$s")" \
      "$sc" "$dc" "$(ratio "$dc" "$sc")" "${loads[-1]}" >>"$rounds_md"
  done
  if ((rounds > 0)); then
    ms=$(median "${setups[@]}") md=$(median "${detects[@]}") msc=$(median "${setup_cpu[@]}") mdc=$(median "${detect_cpu[@]}")
    echo "$size $ms $md $(ratio "$md" "$ms") $msc $mdc $(ratio "$mdc" "$msc") $(IFS=/; echo "${loads[*]}")" >>"$results"
  fi
  summary=$(jq -c '.summary | {hosts, active_pairs, latent_pairs, by_fix}' "$dir/report/plan.json")
  echo "plan: $summary"
  echo "$size $summary" >>"$out/plans.txt"

  if ((measure)); then
    # Plans for the measure step, cut from this fleet's plan: only the pairs chosen stay.
    mkdir -p "$dir/plans"
    "$KEEPLOCAL_VENV/bin/python" - "$dir/report/plan.json" "$dir/plans" "${count_list[@]}" >"$dir/shape.txt" <<'EOF'
import json
import os
import sys

source, target, counts = sys.argv[1], sys.argv[2], [int(c) for c in sys.argv[3:]]
with open(source) as handle:
    plan = json.load(handle)
measured = [p for p in plan['pairs'] if p['status'] == 'active' and p['recommendation']['mode'] == 'automatic']
spread = sorted((p for p in measured if p['public']['port'] == 5432 and p['client']['host'].startswith('c')),
                key=lambda p: p['client']['host'])
one_host = sorted((p for p in measured if p['client']['host'] == 'c001' and p['public']['port'] >= 6001),
                  key=lambda p: p['public']['port'])


def write(name, pairs, same_host=()):
    cut = dict(plan, pairs=pairs, same_host=list(same_host), gateways=[])
    with open(os.path.join(target, name + '.json'), 'w') as handle:
        json.dump(cut, handle)
    hosts = len({p['client']['host'] for p in pairs} | {e['host'] for e in same_host})
    print('%s %d %d' % (name, len(pairs) + len(same_host), hosts))


write('none', [])
for count in counts:
    if count > len(spread) or count > len(one_host):
        sys.exit('fleet_netns: %d pairs asked, the plan has %d spread and %d on c001' % (count, len(spread), len(one_host)))
    write('spread-%d' % count, spread[:count])
    if count > 1:
        write('one-host-%d' % count, one_host[:count])
same = [e for e in plan['same_host'] if e['status'] == 'active' and e['recommendation']['mode'] == 'automatic']
write('all', measured, same)
EOF
    if ((free)); then
      # --free: the largest cuts again with the clients' play under strategy free (a copy of
      # measure.yml), to show what the linear strategy's lockstep costs (see bench/results/fleet.md).
      sed -e "s#tasks/#$KEEPLOCAL_REPO/playbooks/tasks/#" \
        -e '/^- name: Measure from the clients/,/^  tasks:/ s/^  gather_facts: false/  gather_facts: false\n  strategy: free/' \
        playbooks/measure.yml >"$dir/measure_free.yml"
      grep -q 'strategy: free' "$dir/measure_free.yml"
      awk -v k="${count_list[-1]}" '$1 == "spread-" k || $1 == "one-host-" k || $1 == "all" {print $1 "/free", $2, $3}' "$dir/shape.txt" >"$dir/free.txt"
      cat "$dir/free.txt" >>"$dir/shape.txt"
    fi
    mapfile -t cases < <(awk '{print $1}' "$dir/shape.txt")
    declare -A times=() checked=()
    for r in $(seq "$measure_rounds"); do
      for case in "${cases[@]}"; do
        # every pair the plan measures: once, in the last round (it is the long one)
        [[ $case != all* || $r == "$measure_rounds" ]] || continue
        playbook=playbooks/measure.yml
        [[ $case != */free ]] || playbook=$dir/measure_free.yml
        log=$dir/measure-${case/\//-}-$r.log
        res=$(ANSIBLE_CALLBACKS_ENABLED=profile_tasks PROFILE_TASKS_TASK_OUTPUT_LIMIT=all ANSIBLE_CALLBACK_RESULT_FORMAT=json \
          timed "$log" ansible-playbook -i "$inv" "$playbook" \
          -e "keeplocal_plan_file=$dir/plans/${case%/free}.json" -e keeplocal_measure_phase=before)
        read -r t _cpu <<<"$res"
        times[$case]+=" $t"
        checked[$case]=$(check "$log" "$size hosts, $case, round $r")
        printf 'measure %-16s round %d: %.2f s (measured as expected: %s)\n' "$case" "$r" "$t" "${checked[$case]}"
      done
    done
    while read -r case npairs nhosts; do
      # shellcheck disable=SC2086
      echo "$size $case $npairs $nhosts ${checked[$case]} $(median ${times[$case]})${times[$case]}" >>"$measured"
    done <"$dir/shape.txt"
    # Where the time goes: profile_tasks of the last round, summed per task over the pairs.
    k=${count_list[-1]}
    for case in "spread-$k" "one-host-$k" "spread-$k/free" all all/free; do
      log=$dir/measure-${case/\//-}-$measure_rounds.log
      [[ -e $log ]] || continue
      {
        echo "$size hosts, $case ($(awk -v c="$case" '$1 == c {print $2 " pairs on " $3 " client hosts"}' "$dir/shape.txt"), $(awk '{print $1}' "$log.time") s):"
        grep -E ' -+ +[0-9.]+s$' "$log" \
          | sed -E 's/^[^:]*: //; s/ \([^)]*\)//; s/ -+ +([0-9.]+)s$/\t\1/' \
          | awk -F'\t' '{t[$1] += $2; n[$1]++} END {for (k in t) printf "  %7.2f s  %3d x  %s\n", t[k], n[k], k}' \
          | sort -rn | head -n 6
      } | tee -a "$out/profile.txt"
    done
    unset times checked
  fi
  netns_teardown
done

measure_rows() {   # the measure table's rows: SIZE CASE PAIRS HOSTS CHECKED MEDIAN PER_PAIR ROUNDS
  local size case npairs nhosts ok m rest none per
  while read -r size case npairs nhosts ok m rest; do
    none=$(awk -v s="$size" '$1 == s && $2 == "none" {print $6}' "$measured")
    per=-
    ((npairs == 0)) || per=$(printf '%.2f' "$(echo "($m - $none) / $npairs" | bc -l)")
    echo "$size $case $npairs $nhosts $ok $m $per $rest"
  done < <(sort -k1,1n -k3,3n -k2,2 "$measured")
}

echo
if [[ -s $results ]]; then
  echo "detect.yml vs ansible -m setup on network-namespace hosts, medians of $rounds interleaved rounds (forks $forks)"
  printf '%-6s %10s %11s %7s   %9s %10s %9s   %s\n' hosts 'setup (s)' 'detect (s)' ratio 'setup CPU' 'detect CPU' 'CPU ratio' 'load (1-min, per round)'
  while read -r size s d r sc dc cr l; do
    printf '%-6s %10.2f %11.2f %7s   %9.2f %10.2f %9s   %s\n' "$size" "$s" "$d" "$r" "$sc" "$dc" "$cr" "$l"
  done <"$results"
fi
if ((measure)); then
  echo
  echo "measure.yml (site.yml's measure step) per plan cut, medians of $measure_rounds rounds ('all': 1 round)"
  printf '%-6s %-16s %6s %13s %11s %19s %9s\n' hosts case pairs 'client hosts' 'median (s)' '(median-none)/pair' 'as expected'
  measure_rows | while read -r size case npairs nhosts ok m per _rest; do
    printf '%-6s %-16s %6d %13d %11.2f %19s %9s\n' "$size" "$case" "$npairs" "$nhosts" "$m" "$per" "$ok"
  done
fi

mkdir -p bench/results
{
  echo "# Fleet cost on network-namespace hosts: detect.yml vs ansible -m setup, and the measure step"
  echo
  echo "Command: \`bench/fleet_netns.sh $args\` ($(date -u +%Y-%m-%d), $(nproc) cores, $version, forks $forks, Linux $(uname -r))."
  echo "Wall time is the goal's measure; CPU is user + system time of the command and its children (ansible and the modules)."
  if [[ -s $results ]]; then
    echo
    echo "| hosts | ansible -m setup, median (s) | detect.yml, median (s) | ratio | setup CPU (s) | detect CPU (s) | CPU ratio | 1-min load per round |"
    echo "|---|---|---|---|---|---|---|---|"
    while read -r size s d r sc dc cr l; do
      printf '| %s | %.2f | %.2f | **%s** | %.2f | %.2f | %s | %s |\n' "$size" "$s" "$d" "$r" "$sc" "$dc" "$cr" "$l"
    done <"$results"
    echo
    echo "| hosts | round | setup (s) | detect (s) | ratio | setup CPU (s) | detect CPU (s) | CPU ratio | load |"
    echo "|---|---|---|---|---|---|---|---|---|"
    cat "$rounds_md"
  fi
  echo
  echo "Plans (detect.yml's summary):"
  echo
  # shellcheck disable=SC2016
  sed 's/^\([0-9]*\) /- \1 hosts: `/; s/$/`/' "$out/plans.txt"
  if ((measure)); then
    echo
    echo "measure.yml per plan cut (\`none\`: no pair, the step's fixed cost; \`spread-K\`: K pairs on K client hosts;"
    echo "\`one-host-K\`: K pairs on one client; \`all\`: every pair the plan measures, one round, in the last; \`/free\`: the clients' play"
    echo "under strategy free instead of linear, a copy of measure.yml), $measure_rounds rounds; measured as expected: the"
    echo "measurements (last round) with no failed request, 1000 gateway entries per 1000 requests and the backend seeing"
    echo "the gateway (10.77.0.1), the same-host one with no failed request:"
    echo
    echo "| hosts | case | pairs | client hosts | median (s) | (median - none) / pairs (s) | rounds (s) | measured as expected |"
    echo "|---|---|---|---|---|---|---|---|"
    measure_rows | while read -r size case npairs nhosts ok m per rest; do
      printf '| %s | %s | %d | %d | %.2f | %s | %s | %s |\n' "$size" "$case" "$npairs" "$nhosts" "$m" "$per" "$rest" "$ok"
    done
    if [[ -s $out/unexpected.txt ]]; then
      echo
      echo "Measurements not as expected (any round):"
      echo
      echo '```'
      cat "$out/unexpected.txt"
      echo '```'
    fi
    if [[ -s $out/profile.txt ]]; then
      echo
      echo "profile_tasks of the last round, seconds summed per task over the pairs:"
      echo
      echo '```'
      cat "$out/profile.txt"
      echo '```'
    fi
  fi
} > bench/results/fleet_netns.md
echo
echo "written: bench/results/fleet_netns.md"
