#!/usr/bin/env bash
# Copyright (c) 2026 keeplocal.traffic contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# The unix_sockets role on real applications as users deploy them (scripts/apps-image.sh: each app
# with its own systemd unit on TCP loopback and an nginx site in sites-available linked into
# sites-enabled), in one systemd container (podman --systemd=always, no network), through the
# lab_podman connection (lab/connection_plugins):
#   radicale-http       Radicale under Debian's uWSGI, --http-socket 127.0.0.1:5232, nginx proxy_pass
#   radicale-uwsgi      Radicale under Debian's uWSGI, --socket 127.0.0.1:5233, nginx uwsgi_pass
#   datasette           Datasette (PyPI) under uvicorn, 127.0.0.1:8001, nginx proxy_pass
#   datasette-gunicorn  Datasette under gunicorn with uvicorn workers, 127.0.0.1:8002, nginx upstream block
# With load on every site (inside the container, to 127.0.0.1 only, bounded in time): check mode
# changes nothing, the switch, check mode again and a second run change nothing, 0 failed requests,
# nginx points at the sockets and the ports are closed; then unix_sockets_state: absent the same way,
# 0 failed requests, the nginx sites (and their links) and `systemctl cat` of each unit sha256-identical
# to before, the ports open again.
# Variants (apps.sh: uWSGI's --chmod-socket, gunicorn's control socket, uvicorn from UVICORN_* and on --uds,
# tDiary under Puma; UNIX_SOCKETS_APPS_SITES=tdiary runs that one alone)
# are added with UNIX_SOCKETS_APPS_VARIANTS ("all" or names); they also check the socket's mode, owner
# and group and that gunicornc reaches the service's master before, after the switch and after the revert.
#   [UNIX_SOCKETS_APPS_SITES="SITE ..."] [UNIX_SOCKETS_APPS_VARIANTS="VARIANT ..."|all] \
#     tests/integration/targets/unix_sockets_apps/runme.sh [-v]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../../../.." && pwd)
if [[ -z "${ANSIBLE_COLLECTIONS_PATH:-}" ]]; then
  # shellcheck disable=SC1091
  . "$repo/scripts/env.sh"
fi
export ANSIBLE_CONNECTION_PLUGINS=${ANSIBLE_CONNECTION_PLUGINS:-$repo/lab/connection_plugins}
extra=("$@")
"$repo/scripts/apps-image.sh"
name=apps-unix-sockets-$$
out=$(mktemp -d "${TMPDIR:-/tmp}/$name.XXXXXX")
cleanup() {
  local rc=$?
  podman rm -f -t 5 "$name" >/dev/null 2>&1 || true
  if ((rc == 0)); then rm -rf "$out"; else echo "unix_sockets_apps: FAILED, logs kept in $out" >&2; fi
  exit $rc
}
trap cleanup EXIT
apps_who=unix_sockets_apps
# shellcheck source=tests/integration/targets/unix_sockets_apps/apps.sh
. "$here/apps.sh"
# UNIX_SOCKETS_APPS_SITES="radicale-http datasette" tests only those sites (a quicker run).
apps_choose_sites "${UNIX_SOCKETS_APPS_SITES:-}" "${UNIX_SOCKETS_APPS_VARIANTS:-}"
apps_container_start

# What must be identical after the revert: each site, its link, `systemctl cat` of its unit.
snapshot() {
  local entry site
  for entry in "${sites[@]}"; do
    site=${entry%%:*}
    in_c sh -c "sha256sum /etc/nginx/sites-available/$site; echo link \$(readlink /etc/nginx/sites-enabled/$site); \
                echo unit \$(systemctl cat $site.service | sha256sum)"
  done
}

# play NAME [ansible-playbook options]: runs the role, prints NAME, seconds and the recap; sets changed.
play() {
  local phase=$1 start=$SECONDS recap; shift
  apps_playbook "$phase"
  ANSIBLE_CALLBACKS_ENABLED=ansible.posix.profile_tasks "${playbook_argv[@]}" "$@" "${extra[@]}" >"$out/$phase.log" 2>&1 || { tail -40 "$out/$phase.log"; fail "$phase failed (log: $out/$phase.log)"; }
  recap=$(grep -E '^apps +: ' "$out/$phase.log")
  changed=$(sed -E 's/.* changed=([0-9]+) .*/\1/' <<<"$recap")
  printf '  %-14s %4d s  %s\n' "$phase" $((SECONDS - start)) "$(sed -E 's/^apps +: //; s/ +/ /g' <<<"$recap")"
  timing[$phase]=$((SECONDS - start))
}
declare -A timing

# check_control PHASE: gunicornc (run as the service's user) reaches each gunicorn site's control socket
# and the workers it lists are children of the service's main process (not of the handover copy).
check_control() {
  local entry site user main workers
  for entry in "${sites[@]}"; do
    site=${entry%%:*}
    [[ -n ${control_socket[$site]:-} ]] || continue
    user=$(in_c systemctl show -p User --value "$site.service")
    main=$(in_c systemctl show -p MainPID --value "$site.service")
    workers=$(in_c runuser -u "$user" -- /opt/datasette/bin/gunicornc -s "${control_socket[$site]}" -c 'show workers' -j) ||
      fail "$1: gunicornc does not reach ${control_socket[$site]} ($site)"
    workers=$(python3 -c 'import json, sys; print(" ".join(str(w["pid"]) for w in json.load(sys.stdin)["workers"]))' <<<"$workers")
    [[ -n $workers ]] || fail "$1: gunicornc lists no workers ($site)"
    for pid in $workers; do
      [[ $(in_c grep -Po '^PPid:\s+\K[0-9]+' "/proc/$pid/status") == "$main" ]] || fail "$1: worker $pid is not a child of $site's main process $main"
    done
    printf '  %-14s gunicornc -s %s: workers %s of main process %s (%s)\n' "$1" "${control_socket[$site]}" "$workers" "$main" "$site"
  done
}

echo "unix_sockets_apps: switch under load"
snapshot >"$out/before.txt"
check_control before
load_start switch
play check --check
snapshot | cmp -s - "$out/before.txt" || fail "check mode changed the sites or units"
in_c test ! -e /var/lib/keeplocal/unix_sockets.json || fail "check mode wrote the record"
play switch
((changed > 0)) || fail "the switch changed nothing"
play check-again --check
((changed == 0)) || fail "check mode after the switch reports $changed changes"
play switch-again
((changed == 0)) || fail "the second run changed $changed"
load_stop switch

nginx_conf=$(in_c nginx -T 2>/dev/null)
for site in $(apps_pair_sites); do
  grep -q "unix:${socket[$site]}" <<<"$nginx_conf" || fail "nginx does not point at ${socket[$site]} ($site)"
  ! grep -q "127.0.0.1:${tcp_port[$site]}" <<<"$nginx_conf" || fail "nginx still names 127.0.0.1:${tcp_port[$site]} ($site)"
  in_c test -S "${socket[$site]}" || fail "${socket[$site]} is not a socket"
  [[ -z $(in_c ss -Hltn "sport = :${tcp_port[$site]}") ]] || fail "port ${tcp_port[$site]} is still open ($site)"
  # The socket unit's owner, group and mode decide who connects: the app server's own socket options
  # (uWSGI's chmod-socket, chown-socket) apply only to sockets it binds itself, not to those systemd passes.
  mode=$(in_c stat -c '%a %U %G' "${socket[$site]}")
  [[ $mode == "660 $(in_c systemctl show -p User --value "$site.service") www-data" ]] || fail "${socket[$site]} is $mode ($site)"
  printf '  socket %-40s mode, owner, group: %s\n' "${socket[$site]}" "$mode"
done
check_control switched

echo "unix_sockets_apps: back to TCP under load (unix_sockets_state: absent)"
load_start revert
play revert-check --check -e unix_sockets_state=absent
play revert -e unix_sockets_state=absent
((changed > 0)) || fail "the revert changed nothing"
play revert-again -e unix_sockets_state=absent
((changed == 0)) || fail "the second revert changed $changed"
load_stop revert
snapshot >"$out/after.txt"
diff "$out/before.txt" "$out/after.txt" || fail "the sites or units differ from before the switch (above)"
check_control reverted
for site in $(apps_pair_sites); do
  [[ -n $(in_c ss -Hltn "sport = :${tcp_port[$site]}") ]] || fail "port ${tcp_port[$site]} is not open again ($site)"
  in_c test ! -e "${socket[$site]}" || fail "${socket[$site]} is left behind"
done

failed=0
printf '\n%-20s %-34s %9s %7s %9s %7s\n' site "app server" switch failed revert failed
for entry in "${sites[@]}"; do
  site=${entry%%:*}
  case $site in
    radicale-http) server='uWSGI --http-socket, proxy_pass' ;;
    radicale-uwsgi) server='uWSGI --socket, uwsgi_pass' ;;
    datasette) server='uvicorn, proxy_pass' ;;
    datasette-gunicorn) server='gunicorn+uvicorn workers, upstream' ;;
    radicale-chmod) server='uWSGI --chmod-socket, proxy_pass' ;;
    datasette-gunicornc) server='gunicorn --control-socket, proxy_pass' ;;
    datasette-env) server='uvicorn UVICORN_HOST/PORT, proxy_pass' ;;
    tdiary) server='Puma -w 2, proxy_pass' ;;
    *) server='uvicorn --uds (no pair), proxy_pass' ;;
  esac
  s=$out/load-switch-$site.json r=$out/load-revert-$site.json
  printf '%-20s %-34s %9s %7s %9s %7s\n' "$site" "$server" "$(count "$s" requests)" "$(count "$s" failed)" \
    "$(count "$r" requests)" "$(count "$r" failed)"
  failed=$((failed + $(count "$s" failed) + $(count "$r" failed)))
done
printf 'role runs (s): check %s, switch %s, check %s, again %s; revert check %s, revert %s, again %s\n' \
  "${timing[check]}" "${timing[switch]}" "${timing[check-again]}" "${timing[switch-again]}" \
  "${timing[revert-check]}" "${timing[revert]}" "${timing[revert-again]}"
if ((failed > 0)); then
  for f in "$out"/load-*.json; do python3 -c 'import json, sys; [print(sys.argv[1], x) for x in json.load(open(sys.argv[1]))["failures"][:5]]' "$f"; done
  fail "$failed requests failed"
fi
echo "unix_sockets_apps: passed (0 failed requests; sites and units identical after the revert)"
