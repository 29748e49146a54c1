# shellcheck shell=bash
# Source this: hosts as network namespaces of this machine, with real NAT between them, for the
# tests and benchmarks that run the collection without the lab (root). Each inventory host is
# ansible_connection=local with a Python that runs inside its namespace (netns_python_wrapper).
#   . scripts/netns-lib.sh
# What a caller reads or adds to is in capitals: $NETNS_DIR, the run's directory, and NETNS_PIDS,
# the processes stopped on exit (a caller's own background processes go there too).
#   netns_init PREFIX LABEL      once, first (exits unless root; LABEL starts its messages): this
#                                run's namespaces are PREFIX<pid>-NAME and its directory $NETNS_DIR;
#                                what killed runs of PREFIX left is removed; on exit (any exit) the
#                                run's processes, namespaces and directory go
#   netns_at_exit FUNCTION       FUNCTION RC runs on exit before anything is removed (logs to show)
#   netns_host NAME...           namespaces with loopback up and no IPv6 (neighbour discovery would
#                                add conntrack entries between runs)
#   netns_switch BRIDGE...       the namespace sw holding these bridges
#   netns_link NAME BRIDGE ADDRESS/PREFIX [GATEWAY]
#                                NAME's eth0, its peer p-NAME on sw's BRIDGE; default route via GATEWAY
#   netns_gateway NAME ADDRESS/PREFIX...
#                                NAME forwards (no redirects) and has the public ADDRESSes on pub0,
#                                a veth pair of its own with nothing behind it; after netns_link
#   netns_hairpin_nat GATEWAY PUBLIC LAN SOURCE PORT=BACKEND:PORT...
#                                iptables NAT: each PORT of PUBLIC to its BACKEND, forwards from LAN to
#                                LAN SNATed to SOURCE (or masquerade): the replies come back through it
#   netns_python_wrapper NAME PATH PYTHON [HOSTS_FILE]
#                                PATH runs PYTHON in NAME, with HOSTS_FILE as its /etc/hosts
#   netns_start NAME LOG COMMAND...   COMMAND in NAME in the background, output to $NETNS_DIR/LOG.log;
#                                its process id is ${NETNS_PIDS[-1]} (stopped on exit)
#   netns_hold NAME PROGRAM ARGS...   PROGRAM runs hold.py ARGS in NAME; returns once its sockets are up
#   netns_wait_for FILE SECONDS [LOG] until FILE exists; else LOG shown and a failure
#   netns_teardown               stop the processes and remove the namespaces made so far
#   netns_name NAME, netns_exec NAME COMMAND...   the namespace's full name; a command in it
#   netns_detect_world NET PUBLIC INVENTORY
#                                the hosts of tests/integration/targets/aap_slicing and scripts/ee.sh
#                                (below), their inventory written to INVENTORY
netns_hold_py=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/tests/integration/targets/aap_slicing/files/hold.py
netns_tag='' netns_label='' NETNS_DIR=''
netns_spaces=() NETNS_PIDS=() netns_exit_hooks=()
netns_holders=0

netns_init() {
  local prefix=$1 tmp=${TMPDIR:-/tmp} name pid dir
  netns_label=$2
  if [[ $(id -u) != 0 ]]; then
    echo "$netns_label: needs root (it creates network namespaces)" >&2
    exit 1
  fi
  netns_tag=$prefix$$
  # What a killed run left behind (named after its process id): namespaces, their processes, its directory.
  for name in $(ip netns list | awk '{print $1}' | grep -E "^${prefix}[0-9]+-" || true); do
    pid=${name#"$prefix"}; pid=${pid%%-*}
    kill -0 "$pid" 2>/dev/null || netns_remove "$name"
  done
  for dir in "$tmp/$prefix"[0-9]*.*; do
    [[ -d $dir ]] || continue
    pid=${dir#"$tmp/$prefix"}; pid=${pid%%.*}
    kill -0 "$pid" 2>/dev/null || rm -rf "$dir"
  done
  NETNS_DIR=$(mktemp -d "$tmp/$netns_tag.XXXXXX")
  trap netns_cleanup EXIT
  trap 'exit 130' INT TERM
}

netns_at_exit() { netns_exit_hooks+=("$1"); }

netns_cleanup() {
  local rc=$? hook
  for hook in "${netns_exit_hooks[@]}"; do "$hook" "$rc" || true; done
  netns_teardown
  rm -rf "$NETNS_DIR"
  exit "$rc"
}

netns_remove() {   # netns_remove NAMESPACE...: their processes first
  local name held
  for name in "$@"; do
    mapfile -t held < <(ip netns pids "$name" 2>/dev/null || true)
    ((${#held[@]} == 0)) || kill "${held[@]}" 2>/dev/null || true
    ip netns del "$name" 2>/dev/null || true
  done
}

netns_teardown() {
  ((${#NETNS_PIDS[@]} == 0)) || kill "${NETNS_PIDS[@]}" 2>/dev/null || true
  ((${#NETNS_PIDS[@]} == 0)) || wait "${NETNS_PIDS[@]}" 2>/dev/null || true
  NETNS_PIDS=()
  netns_remove "${netns_spaces[@]}"
  netns_spaces=()
}

netns_name() { echo "$netns_tag-$1"; }
netns_exec() { local name=$1; shift; ip netns exec "$(netns_name "$name")" "$@"; }

netns_host() {
  local name
  for name in "$@"; do
    netns_spaces+=("$(netns_name "$name")")
    ip netns add "$(netns_name "$name")"
    netns_exec "$name" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
    ip -n "$(netns_name "$name")" link set lo up
  done
}

netns_switch() {
  local bridge
  netns_host sw
  for bridge in "$@"; do
    ip -n "$(netns_name sw)" link add "$bridge" type bridge
    ip -n "$(netns_name sw)" link set "$bridge" up
  done
}

netns_link() {
  local name=$1 bridge=$2 address=$3 gateway=${4:-} space
  space=$(netns_name "$name")
  ip link add eth0 netns "$space" type veth peer name "p-$name" netns "$(netns_name sw)"
  ip -n "$(netns_name sw)" link set "p-$name" master "$bridge" up
  ip -n "$space" addr add "$address" dev eth0
  ip -n "$space" link set eth0 up
  [[ -z $gateway ]] || ip -n "$space" route add default via "$gateway"
}

netns_gateway() {
  local name=$1 space address
  shift
  space=$(netns_name "$name")
  ip -n "$space" link add pub0 type veth peer name pub1
  for address in "$@"; do ip -n "$space" addr add "$address" dev pub0; done
  ip -n "$space" link set pub0 up
  ip -n "$space" link set pub1 up
  netns_exec "$name" sysctl -qw net.ipv4.ip_forward=1 net.ipv4.conf.all.send_redirects=0 net.ipv4.conf.eth0.send_redirects=0
}

netns_hairpin_nat() {
  local gateway=$1 public=$2 lan=$3 source=$4 forward snat
  shift 4
  snat="-j SNAT --to-source $source"
  [[ $source != masquerade ]] || snat="-j MASQUERADE"
  {
    echo '*nat'
    for forward in "$@"; do
      echo "-A PREROUTING -d $public/32 -p tcp --dport ${forward%%=*} -j DNAT --to-destination ${forward#*=}"
    done
    echo "-A POSTROUTING -s $lan -d $lan -m conntrack --ctstate DNAT $snat"
    echo 'COMMIT'
  } | netns_exec "$gateway" iptables-restore
}

netns_python_wrapper() {
  local name=$1 path=$2 python=$3 hosts=${4:-}
  if [[ -n $hosts ]]; then
    # ip netns exec runs in a mount namespace of its own: the bind mount stays inside it.
    cat > "$path" <<EOF
#!/bin/sh
exec ip netns exec $(netns_name "$name") sh -c 'mount --bind "\$0" /etc/hosts && exec $python "\$@"' "$hosts" "\$@"
EOF
  else
    printf '#!/bin/sh\nexec ip netns exec %s %s "$@"\n' "$(netns_name "$name")" "$python" > "$path"
  fi
  chmod +x "$path"
}

netns_start() {
  local name=$1 log=$2
  shift 2
  # ip netns exec execs the command: the process id is the command's, for kill.
  ip netns exec "$(netns_name "$name")" "$@" >>"$NETNS_DIR/$log.log" 2>&1 &
  NETNS_PIDS+=($!)
}

netns_hold() {
  local name=$1 program=$2 ready=$NETNS_DIR/ready.$netns_holders
  shift 2
  netns_holders=$((netns_holders + 1))
  netns_start "$name" holders "$program" "$netns_hold_py" "$ready" "$@"
  netns_wait_for "$ready" 10 "$NETNS_DIR/holders.log" || { echo "$netns_label: holder $* in $name did not start" >&2; return 1; }
}

netns_wait_for() {
  local file=$1 seconds=$2 log=${3:-} _
  for _ in $(seq $((seconds * 10))); do [[ -e $file ]] && return 0; sleep 0.1; done
  [[ -z $log ]] || cat "$log" >&2
  echo "$netns_label: $file did not appear within $seconds s" >&2
  return 1
}

# The hairpins detect must find, each kind once: a gateway gw (NET.1, public PUBLIC: :80 -> web
# NET.20:80, :5432 -> db NET.30:54321, hairpin SNAT) and clients cli (NET.10), web and db on
# NET.0/24. Connections are opened once and held, so every run sees the same sockets and conntrack
# entries: cli -> app (split DNS), cli and web -> db's translated port (local shortcut), nginx ->
# gunicorn on web (Unix socket), db only resolving the names (latent). Each host is an inventory
# host with ansible_connection=local and /usr/bin/python3 run in its namespace (scripts/ee.sh: the
# image's, from inside its container), the public names in its /etc/hosts.
netns_detect_world() {
  local net=$1 public=$2 inventory=$3 name
  local hosts=(cli db gw web)
  declare -A address=([gw]=$net.1 [cli]=$net.10 [web]=$net.20 [db]=$net.30)
  netns_host "${hosts[@]}"
  netns_switch br0
  netns_link gw br0 "${address[gw]}/24"
  for name in cli db web; do netns_link "$name" br0 "${address[$name]}/24" "${address[gw]}"; done
  netns_gateway gw "$public/24"
  netns_hairpin_nat gw "$public" "$net.0/24" "${address[gw]}" "80=${address[web]}:80" "5432=${address[db]}:54321"

  mkdir -p "$NETNS_DIR/bin"
  printf '%s app.example.test db.example.test\n' "$public" > "$NETNS_DIR/hosts"
  for name in "${hosts[@]}"; do
    netns_python_wrapper "$name" "$NETNS_DIR/bin/python-$name" /usr/bin/python3 "$NETNS_DIR/hosts"
  done
  # Process names the planner goes by (/proc/PID/comm is the name the program was started as).
  ln -s /usr/bin/python3 "$NETNS_DIR/bin/gunicorn"
  ln -s /usr/bin/python3 "$NETNS_DIR/bin/nginx"
  netns_hold web /usr/bin/python3 serve 0.0.0.0:80
  netns_hold db /usr/bin/python3 serve 0.0.0.0:54321
  netns_hold web "$NETNS_DIR/bin/gunicorn" serve 127.0.0.1:8000
  netns_hold web "$NETNS_DIR/bin/nginx" connect 127.0.0.1:8000:2
  netns_hold cli /usr/bin/python3 connect "$public:80:2" "$public:5432:1"
  netns_hold web /usr/bin/python3 connect "$public:5432:1"

  {
    echo "all:"
    echo "  vars:"
    echo "    ansible_connection: local"
    echo "    hairpin_detect_name_ports: {app.example.test: 80, db.example.test: 5432}"
    echo "  hosts:"
    for name in "${hosts[@]}"; do
      echo "    $name:"
      echo "      ansible_python_interpreter: $NETNS_DIR/bin/python-$name"
      case $name in cli|db) echo "      hairpin_detect_names: [app.example.test, db.example.test]" ;; esac
    done
  } > "$inventory"
}
