# Copyright (c) 2026 keeplocal.traffic contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# shellcheck shell=bash
# The callers set here, out, name and apps_who and read sites, socket and playbook_argv:
# shellcheck disable=SC2034,SC2154
#
# The apps container and its sites, for runme.sh and bench/apps_cutover_kills.sh (sourced, not run).
# Before sourcing: here (this folder), out (a folder for the run's files), name (the container's name,
# ending in the caller's process id), apps_who (the prefix of messages).

# site:port:path:text, the nginx site (its name is the unit's) and what the load asks it.
sites=(radicale-http:8101:/.web/:Radicale radicale-uwsgi:8102:/.web/:Radicale
       datasette:8103:/fixtures/towns.json:Gdansk datasette-gunicorn:8104:/fixtures/towns.json:Gdansk)
# The app's TCP port and the socket the role puts it on, per site.
declare -A tcp_port=([radicale-http]=5232 [radicale-uwsgi]=5233 [datasette]=8001 [datasette-gunicorn]=8002)
declare -A socket=([radicale-http]=/run/radicale-http/uwsgi.sock [radicale-uwsgi]=/run/radicale-uwsgi/uwsgi.sock
                   [datasette]=/run/datasette/uvicorn.sock [datasette-gunicorn]=/run/datasette-gunicorn/gunicorn.sock)
# Seconds a load client runs at most, when nobody stops it.
load_max_seconds=900

fail() { echo "$apps_who: $*" >&2; exit 1; }
in_c() { podman exec "$name" "$@"; }

apps_choose_sites() {   # apps_choose_sites "SITE ...": keeps only those sites (all when empty)
  local entry chosen=()
  [[ -n $1 ]] || return 0
  for entry in "${sites[@]}"; do [[ " $1 " == *" ${entry%%:*} "* ]] && chosen+=("$entry"); done
  ((${#chosen[@]} > 0)) || { echo "$apps_who: '$1' names none of ${!tcp_port[*]}" >&2; exit 2; }
  sites=("${chosen[@]}")
}

apps_container_start() {   # removes containers of killed runs, boots $name, waits for each site, writes $out/inventory
  local old prefix=${name%-*} entry site port path text
  for old in $(podman ps -a --format '{{.Names}}' | grep -E "^$prefix-[0-9]+\$" || true); do
    kill -0 "${old##*-}" 2>/dev/null || podman rm -f -t 5 "$old" >/dev/null 2>&1 || true
  done
  # SYS_PTRACE: discovery names the process behind a socket from /proc/PID/fd of other users' processes.
  podman run --detach --name "$name" --hostname apps --systemd=always --network=none --cap-add=SYS_PTRACE \
    localhost/keeplocal-apps:latest /sbin/init >/dev/null
  for _ in $(seq 50); do in_c systemctl is-system-running --wait >/dev/null 2>&1 && break; sleep 0.2; done
  [[ $(in_c systemctl is-system-running) == running ]] || { in_c systemctl --failed; fail "the container did not boot"; }
  for entry in "${sites[@]}"; do
    IFS=: read -r site port path text <<<"$entry"
    for _ in $(seq 60); do [[ $(in_c curl -fs "http://127.0.0.1:$port$path" 2>/dev/null) == *"$text"* ]] && continue 2; sleep 0.5; done
    fail "$site does not answer on :$port$path"
  done
  podman cp "$here/files/load.py" "$name:/root/load.py"
  printf 'apps ansible_connection=containers.podman.podman ansible_host=%s ansible_python_interpreter=/usr/bin/python3\n' "$name" >"$out/inventory"
}

apps_playbook() {   # apps_playbook PHASE: sets playbook_argv, the role's run on the chosen sites' pairs
  local pairs entry
  pairs=$(for entry in "${sites[@]}"; do printf '{"address": "127.0.0.1:%s"}\n' "${tcp_port[${entry%%:*}]}"; done | paste -sd, -)
  playbook_argv=(ansible-playbook -i "$out/inventory" "$here/playbook.yml" -e unix_sockets_apps_out="$out"
                 -e unix_sockets_apps_phase="$1" -e "{\"unix_sockets_apps_pairs\": [$pairs]}")
}

# Paced (at most 100 requests/s per site) and niced: the role's runs must not starve on 2 shared cores.
load_start() {   # load_start PHASE: one client per site, one request at a time, for $load_max_seconds at most
  local entry site port path text
  for entry in "${sites[@]}"; do
    IFS=: read -r site port path text <<<"$entry"
    in_c systemd-run --quiet --unit "apps-load-$1-$site" --collect -p Nice=19 /usr/bin/python3 /root/load.py --port "$port" --path "$path" \
      --expect-text "$text" --threads 1 --pause 0.01 --max-seconds "$load_max_seconds" --out "/root/load-$1-$site.json"
  done
  for entry in "${sites[@]}"; do
    site=${entry%%:*}
    for _ in $(seq 100); do in_c test -e "/root/load-$1-$site.json.running" && continue 2; sleep 0.1; done
    fail "the load on $site never got an answer"
  done
  sleep 2
}

load_stop() {    # load_stop PHASE: stops the clients, fetches their counts to $out
  local entry site
  sleep 2
  for entry in "${sites[@]}"; do in_c systemctl stop "apps-load-$1-${entry%%:*}"; done
  for entry in "${sites[@]}"; do
    site=${entry%%:*}
    for _ in $(seq 100); do in_c test -e "/root/load-$1-$site.json" && break; sleep 0.2; done
    in_c cat "/root/load-$1-$site.json" >"$out/load-$1-$site.json" || fail "no counts from the load on $site"
  done
}

count() { python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$1" "$2"; }
