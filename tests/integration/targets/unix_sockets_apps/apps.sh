# Copyright (c) 2026 keeplocal.traffic contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# shellcheck shell=bash
# The callers set repo, here, out, name and apps_who and read sites, socket and playbook_argv:
# shellcheck disable=SC2034,SC2154
#
# The apps container and its sites, for runme.sh and bench/apps_cutover_kills.sh (sourced, not run).
# Before sourcing: repo (the checkout), here (this folder), out (a folder for the run's files), name
# (the container's name, ending in the caller's process id), apps_who (the prefix of messages).

# site:port:path:text, the nginx site (its name is the unit's) and what the load asks it.
sites=(radicale-http:8101:/.web/:Radicale radicale-uwsgi:8102:/.web/:Radicale
       datasette:8103:/fixtures/towns.json:Gdansk datasette-gunicorn:8104:/fixtures/towns.json:Gdansk)
# The app's TCP port and the socket the role puts it on, per site.
declare -A tcp_port=([radicale-http]=5232 [radicale-uwsgi]=5233 [datasette]=8001 [datasette-gunicorn]=8002)
declare -A socket=([radicale-http]=/run/radicale-http/uwsgi.sock [radicale-uwsgi]=/run/radicale-uwsgi/uwsgi.sock
                   [datasette]=/run/datasette/uvicorn.sock [datasette-gunicorn]=/run/datasette-gunicorn/gunicorn.sock)
# Variants: app server options users set, installed into the container only when chosen
# (files/variants/SITE.service, SITE.nginx and an optional SITE.ini for /etc/uwsgi/).
#   radicale-chmod       uWSGI with --chmod-socket=660 on ExecStart and chown-socket in an ini file
#   datasette-gunicornc  gunicorn (>= 25.1) with its control socket at a path of its own (gunicornc)
#   datasette-env        uvicorn bound by UVICORN_HOST/UVICORN_PORT in the environment, WEB_CONCURRENCY=2
#   datasette-uds        uvicorn on --uds already, nginx proxying to the unix: path: no pair, left alone
#   tdiary               tDiary (Debian's tdiary-core, a Rack app) under Debian's Puma, -b tcp://127.0.0.1:9292 -w 2
variant_sites=(radicale-chmod:8105:/.web/:Radicale datasette-gunicornc:8106:/fixtures/towns.json:Gdansk
               datasette-env:8107:/fixtures/towns.json:Gdansk datasette-uds:8108:/fixtures/towns.json:Gdansk
               tdiary:8109:/:tDiary)
tcp_port+=([radicale-chmod]=5234 [datasette-gunicornc]=8003 [datasette-env]=8004 [tdiary]=9292)
socket+=([radicale-chmod]=/run/radicale-chmod/uwsgi.sock [datasette-gunicornc]=/run/datasette-gunicornc/gunicorn.sock
         [datasette-env]=/run/datasette-env/uvicorn.sock [tdiary]=/run/tdiary/puma.sock)
# gunicorn's control sockets (gunicorn >= 25.1; the default is ~/.gunicorn/gunicorn.ctl of the service's user).
declare -A control_socket=([datasette-gunicorn]=/srv/datasette/.gunicorn/gunicorn.ctl
                           [datasette-gunicornc]=/srv/datasette/gunicornc.ctl)
# Seconds a load client runs at most, when nobody stops it (a switch of four pairs took 956 s on a loaded machine).
load_max_seconds=2400

fail() { echo "$apps_who: $*" >&2; exit 1; }
in_c() { podman exec "$name" "$@"; }

apps_choose_sites() {   # apps_choose_sites "SITE ..."|none ["VARIANT ..."|all]: those sites (all when empty) and variants
  local entry chosen=() wanted=$1 variants=${2:-} names
  [[ $variants == all ]] && variants=$(for entry in "${variant_sites[@]}"; do printf '%s ' "${entry%%:*}"; done)
  names=$(for entry in "${sites[@]}" "${variant_sites[@]}"; do printf '%s ' "${entry%%:*}"; done)
  # "none": only the variants.
  [[ -n $wanted ]] || wanted=$(for entry in "${sites[@]}"; do printf '%s ' "${entry%%:*}"; done)
  [[ $wanted != none ]] || wanted=
  for entry in "${sites[@]}" "${variant_sites[@]}"; do [[ " $wanted $variants " == *" ${entry%%:*} "* ]] && chosen+=("$entry"); done
  for entry in $wanted $variants; do
    [[ " $names" == *" $entry "* ]] || { echo "$apps_who: '$entry' is none of $names" >&2; exit 2; }
  done
  sites=("${chosen[@]}")
}

apps_pair_sites() {   # the chosen sites the role switches (a site without a TCP port has no pair)
  local entry
  for entry in "${sites[@]}"; do [[ -n ${tcp_port[${entry%%:*}]:-} ]] && printf '%s\n' "${entry%%:*}"; done
  return 0
}

apps_install_variants() {   # installs the chosen variants' units, ini files and nginx sites, starts them
  local entry site files=$here/files/variants units=()
  for entry in "${sites[@]}"; do
    site=${entry%%:*}
    [[ -e $files/$site.service ]] || continue
    podman cp "$files/$site.service" "$name:/etc/systemd/system/$site.service"
    podman cp "$files/$site.nginx" "$name:/etc/nginx/sites-available/$site"
    if [[ -e $files/$site.ini ]]; then in_c mkdir -p /etc/uwsgi; podman cp "$files/$site.ini" "$name:/etc/uwsgi/$site.ini"; fi
    in_c ln -s "../sites-available/$site" "/etc/nginx/sites-enabled/$site"
    units+=("$site.service")
  done
  ((${#units[@]} > 0)) || return 0
  in_c systemctl daemon-reload
  in_c systemctl enable --quiet --now "${units[@]}"
  in_c systemctl reload nginx
}

apps_wait_served() {   # apps_wait_served PORT PATH TEXT TRIES PAUSE: until nginx on PORT answers PATH with TEXT
  local _
  for _ in $(seq "$4"); do
    [[ $(in_c curl -fsm 2 "http://127.0.0.1:$1$2" 2>/dev/null) == *"$3"* ]] && return 0
    sleep "$5"
  done
  return 1
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
  apps_install_variants
  for entry in "${sites[@]}"; do
    IFS=: read -r site port path text <<<"$entry"
    apps_wait_served "$port" "$path" "$text" 60 0.5 || fail "$site does not answer on :$port$path"
  done
  podman cp "$repo/molecule/resources/files/http_load.py" "$name:/root/http_load.py"
  printf 'apps ansible_connection=lab_podman ansible_host=%s ansible_python_interpreter=/usr/bin/python3\n' "$name" >"$out/inventory"
}

apps_playbook() {   # apps_playbook PHASE: sets playbook_argv, the role's run on the chosen sites' pairs
  local pairs site
  pairs=$(for site in $(apps_pair_sites); do printf '{"address": "127.0.0.1:%s"}\n' "${tcp_port[$site]}"; done | paste -sd, -)
  playbook_argv=(ansible-playbook -i "$out/inventory" "$here/playbook.yml" -e unix_sockets_apps_out="$out"
                 -e unix_sockets_apps_phase="$1" -e "{\"unix_sockets_apps_pairs\": [$pairs]}")
}

# Paced (at most 100 requests/s per site) and niced: the role's runs must not starve on 2 shared cores.
load_start() {   # load_start PHASE: one client per site, one request at a time, for $load_max_seconds at most
  local entry site port path text
  for entry in "${sites[@]}"; do
    IFS=: read -r site port path text <<<"$entry"
    in_c systemd-run --quiet --unit "apps-load-$1-$site" --collect -p Nice=19 /usr/bin/python3 /root/http_load.py --host 127.0.0.1 --port "$port" \
      --path "$path" --expect-text "$text" --threads 1 --pause 0.01 --max-seconds "$load_max_seconds" --out "/root/load-$1-$site.json"
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
