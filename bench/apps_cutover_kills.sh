#!/usr/bin/env bash
# Copyright (c) 2026 keeplocal.traffic contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# The Unix-socket cutover killed at its tasks on a real application (the apps container of
# tests/integration/targets/unix_sockets_apps, not the lab): for one site, under a counted load inside
# the container (127.0.0.1 only, paced, bounded in time), each kill point runs the role and SIGKILLs
# its process group 1 s (--delay) after the task's header (molecule/unix_sockets/files/kill_at.py),
# notes where the pair was left (nginx's line, the record's state), runs the role again and checks
# it converged: nginx on the final socket (cutover) or on the TCP address (revert), the record,
# no handover unit in /etc or /run, the port closed or open, a 200 with the app's text through nginx.
# A cutover row starts from TCP and a revert row from the switched state; when the previous row did
# not leave that state, an unkilled run of the role gets there first (not counted in the row).
# With --reboot the container is restarted (systemd stops and boots it) between the kill and the
# rerun: the load, which runs inside, stops before the restart and starts again after it, and "down"
# is the span from the restart until nginx answers with the app's text again (polled every 0.2 s).
#   bench/apps_cutover_kills.sh --site radicale-uwsgi [--kill PATH:N:TEXT ...] [--reboot] [--delay S] [--json FILE]
# PATH is cutover or revert (unix_sockets_state: absent), N the occurrence of the task header holding
# TEXT. Prints a Markdown table; about 4-8 min a row on 2 shared cores.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
here=$repo/tests/integration/targets/unix_sockets_apps
kill_at=$repo/molecule/unix_sockets/files/kill_at.py
if [[ -z "${ANSIBLE_COLLECTIONS_PATH:-}" ]]; then
  # shellcheck disable=SC1091
  . "$repo/scripts/env.sh"
fi

# The order saves runs: each cutover row leaves the switched state a revert row starts from.
kills=("cutover:1:Point nginx at the handover copy" "revert:1:Point nginx at the handover copy"
       "cutover:1:Stop the service gracefully" "revert:1:Rewrite nginx's socket lines to the TCP address"
       "cutover:1:Start the service on the socket" "cutover:1:Point nginx at the final socket")
site='' delay=1 json='' reboot=false custom=()
while (($#)); do
  case $1 in
    --site) site=$2; shift 2 ;;
    --kill) custom+=("$2"); shift 2 ;;
    --delay) delay=$2; shift 2 ;;
    --reboot) reboot=true; shift ;;
    --json) json=$2; shift 2 ;;
    *) sed -n '4,20p' "$0" >&2; exit 2 ;;
  esac
done
((${#custom[@]} == 0)) || kills=("${custom[@]}")
[[ -n $site ]] || { echo "apps_cutover_kills: --site is required (radicale-uwsgi, datasette, ...)" >&2; exit 2; }
for kill in "${kills[@]}"; do
  [[ $kill =~ ^(cutover|revert):[0-9]+:.+ ]] || { echo "apps_cutover_kills: --kill '$kill' is not PATH:N:TEXT (PATH cutover or revert)" >&2; exit 2; }
done

apps_who=apps_cutover_kills
name=apps-cutover-kills-$$
out=$(mktemp -d "${TMPDIR:-/tmp}/$name.XXXXXX")
# shellcheck source=tests/integration/targets/unix_sockets_apps/apps.sh
. "$here/apps.sh"
apps_choose_sites "$site"
((${#sites[@]} == 1)) || fail "--site names one site"
IFS=: read -r site port path text <<<"${sites[0]}"
address=127.0.0.1:${tcp_port[$site]}
load_max_seconds=1200
cleanup() {   # a failed run keeps its container to look at (the next run removes it)
  local rc=$?
  if ((rc == 0)); then podman rm -f -t 5 "$name" >/dev/null 2>&1 || true
  else echo "apps_cutover_kills: FAILED, container $name kept" >&2; fi
  echo "apps_cutover_kills: logs in $out" >&2
  exit $rc
}
trap cleanup EXIT

"$repo/scripts/apps-image.sh" >&2
apps_container_start
apps_playbook kill

role() {   # role PATH LOG: the role run to the end (cutover: state present, revert: state absent); its rc
  local args=()
  [[ $1 == revert ]] && args=(-e unix_sockets_state=absent)
  "${playbook_argv[@]}" "${args[@]}" >"$2" 2>&1
}
record_state() {
  in_c python3 -c "import json, sys; print(json.load(open('/var/lib/keeplocal/unix_sockets.json'))['pairs'][sys.argv[1]]['state'])" \
    "$address" 2>/dev/null || echo none
}
nginx_line() { in_c grep -hE "unix:|127\.0\.0\.1:${tcp_port[$site]}" "/etc/nginx/sites-available/$site" | sed -E 's/^ +//; s/;.*//' | paste -sd'|' -; }

problems_after() {   # problems_after PATH: what keeps the pair from the state a completed run of PATH leaves
  local line want_line other_line want_record
  if [[ $1 == revert ]]; then want_line=127.0.0.1:${tcp_port[$site]} other_line=unix: want_record=none
  else want_line=unix:${socket[$site]} other_line=127.0.0.1:${tcp_port[$site]} want_record=switched; fi
  line=$(nginx_line)
  [[ $line == *"$want_line"* && $line != *"$other_line"* ]] || echo "nginx not on $want_line alone ($line)"
  [[ $(record_state) == "$want_record" ]] || echo "record $(record_state), not $want_record"
  [[ -z $(in_c find /etc/systemd/system /run/systemd/system -name '*keeplocal-handover*') ]] || echo "handover units left"
  if [[ $1 == revert ]]; then
    [[ -n $(in_c ss -Hltn "sport = :${tcp_port[$site]}") ]] || echo "TCP port closed"
    in_c test ! -e "/etc/systemd/system/$site.socket" -a ! -e "/etc/systemd/system/$site.service.d" || echo "socket unit or drop-in left"
    in_c test ! -e "${socket[$site]}" || echo "${socket[$site]} left"
  else
    [[ -z $(in_c ss -Hltn "sport = :${tcp_port[$site]}") ]] || echo "TCP port open"
  fi
  # Read whole, not piped into grep -q: with pipefail curl's SIGPIPE would fail a good answer.
  [[ $(in_c curl -fsm 10 "http://127.0.0.1:$port$path" 2>/dev/null) == *"$text"* ]] || echo "no 200 with $text through nginx"
}

reboot_until_served() {   # restarts the container; prints the seconds until nginx serves the app again
  local start now
  start=$(date +%s.%N)
  podman restart -t 30 "$name" >/dev/null
  apps_wait_served "$port" "$path" "$text" 900 0.2 || fail "$site did not serve within 3 min of the restart"
  now=$(date +%s.%N)
  python3 -c "import sys; print(round(float(sys.argv[2]) - float(sys.argv[1]), 1))" "$start" "$now"
}

rows=$out/rows.jsonl
current=$(record_state)
index=0
for kill in "${kills[@]}"; do
  IFS=: read -r route occurrence task <<<"$kill"
  index=$((index + 1))
  # Where the row starts: TCP for a cutover, switched for a revert.
  if [[ $route == cutover && $current != none ]]; then role revert "$out/setup-$index.log" || fail "setup run failed ($out/setup-$index.log)"; fi
  if [[ $route == revert && $current != switched ]]; then role cutover "$out/setup-$index.log" || fail "setup run failed ($out/setup-$index.log)"; fi
  load_start "row$index"
  args=()
  [[ $route == revert ]] && args=(-e unix_sockets_state=absent)
  killed=$(python3 "$kill_at" --task "$task" --occurrence "$occurrence" --delay "$delay" -- "${playbook_argv[@]}" "${args[@]}" \
           | tail -n1) || true
  # The kill ends ansible-playbook, not the module it started in the container: that one finishes first.
  for _ in $(seq 120); do in_c pgrep -f AnsiballZ >/dev/null || break; sleep 0.5; done
  left="$(nginx_line); record $(record_state)"
  phase=row$index loads=("$out/load-row$index-$site.json") down_s=null
  if $reboot; then
    load_stop "$phase"
    down_s=$(reboot_until_served)
    phase=row${index}rerun loads+=("$out/load-row${index}rerun-$site.json")
    load_start "$phase"
  fi
  start=$SECONDS
  rc=0
  role "$route" "$out/rerun-$index.log" || rc=$?
  rerun_s=$((SECONDS - start))
  load_stop "$phase"
  problems=$( ((rc == 0)) && problems_after "$route" | paste -sd';' - || tail -n 30 "$out/rerun-$index.log" | grep -m1 -E 'FAILED|fatal|msg' || echo "rerun rc $rc")
  current=$(record_state)
  python3 - "$site" "$route" "$task" "$occurrence" "$killed" "$left" "$rc" "$rerun_s" "$problems" "$down_s" "${loads[@]}" <<'EOF' | tee -a "$rows"
import json, sys
site, route, task, occurrence, killed, left, rc, rerun_s, problems, down_s = sys.argv[1:11]
loads = [json.load(open(path)) for path in sys.argv[11:]]
print(json.dumps({'site': site, 'path': route, 'task': task, 'occurrence': int(occurrence),
                  'killed': bool(killed) and json.loads(killed)['killed'], 'left': left, 'rerun_rc': int(rc),
                  'rerun_s': int(rerun_s), 'converged': not problems, 'problems': problems,
                  'reboot_down_s': json.loads(down_s),
                  'requests': sum(load['requests'] for load in loads), 'failed': sum(load['failed'] for load in loads),
                  'failed_by_run': [load['failed'] for load in loads],
                  'reasons': sorted(set(f['reason'][:100] for load in loads for f in load['failures']))[:3]}))
EOF
done

python3 - "$rows" "$json" <<'EOF'
import json, sys
rows = [json.loads(line) for line in open(sys.argv[1])]
if sys.argv[2]:
    with open(sys.argv[2], 'w') as handle:
        json.dump(rows, handle, indent=1)
print('| site | path | killed at (task, occurrence) | left (nginx line; record) | reboot: down until served | rerun | converged '
      '| requests | failed (kill run / rerun) |')
print('|---|---|---|---|---|---|---|---|---|')
for row in rows:
    print('| %s | %s | %s #%d%s | %s | %s | rc %d, %d s | %s | %d | %d%s%s |' % (
        row['site'], row['path'], row['task'], row['occurrence'], '' if row['killed'] else ' (not reached)', row['left'],
        'no' if row['reboot_down_s'] is None else '%.1f s' % row['reboot_down_s'],
        row['rerun_rc'], row['rerun_s'], 'yes' if row['converged'] else 'NO: ' + row['problems'], row['requests'],
        row['failed'], ' (%s)' % ' / '.join(map(str, row['failed_by_run'])) if len(row['failed_by_run']) > 1 else '',
        (' (' + '; '.join(row['reasons']) + ')') if row['failed'] else ''))
EOF
