#!/usr/bin/env bash
# Copyright (c) 2026 keeplocal.traffic contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# Detection and the plan against gateways that are not plain iptables, with real hairpin traffic:
#   gw1: nftables only, no iptables rule at all: one `table inet edge` as a hand-written
#        /etc/nftables.conf or firewalld writes it (a verdict map jumping to user chains, named
#        sets, a plain :80 forward, :5432 -> db1:15432 in an address.port map, masquerade of the
#        LAN to itself for the hairpin; on a second public address, forwards without traffic in
#        the other forms nft allows: maps on the port alone, a concatenated set, a named port set).
#   gw2: three rule sources at once, each with its own forward: a hand-written nftables `table ip
#        nat` (:5432 -> db2:15432 in a named map, its SNAT), iptables-nft rules that land in the same
#        table (:80 -> web2:80, its SNAT) and an iptables-legacy rule (:8080 -> web2:80).
# Clients cli1/cli2 hold connections to the public addresses (hairpin through their gateway), web
# and db are the same-network backends. Then, as a user would: keeplocal.traffic.detect (facts per
# host kept), keeplocal.traffic.plan from the fact cache, keeplocal.traffic.remediate --check --diff
# --tags local_shortcut (the client's shortcut, rendered), the conntrack_tuning role in check mode
# on gw1; and the rendered shortcut loaded for real in cli1's namespace (no systemd there: nft -f
# is what its unit runs), after which db1 sees cli1's own address instead of the gateway's.
# Every host is a network namespace this script creates (root; removed on exit), an inventory host
# with ansible_connection=local and a Python that runs in its namespace. No traffic leaves them.
#   tests/integration/targets/nft_gateway/runme.sh [--capture DIR] [ANSIBLE OPTIONS...]
# --capture DIR writes each gateway's `nft -j list ruleset` (and its text) and gw2's
# `iptables-nft-save -t nat` (with its stderr) and `iptables-legacy-save -t nat` there: the unit
# tests' nft-gateway-* fixtures are captured with --capture tests/unit/plugins/module_utils/fixtures.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
if [[ -z "${ANSIBLE_COLLECTIONS_PATH:-}" ]]; then
  # shellcheck disable=SC1091
  . "$here/../../../../scripts/env.sh"
fi
for tool in nft iptables-nft iptables-legacy; do
  command -v "$tool" >/dev/null || { echo "nft_gateway: $tool is not installed (scripts/host-setup.sh)" >&2; exit 1; }
done
capture=
if [[ ${1:-} == --capture ]]; then capture=$(cd "$2" && pwd); shift 2; fi
extra=("$@")   # ansible options such as -v, for every run
python=/usr/bin/python3
hosts=(gw1 cli1 web1 db1 gw2 cli2 web2 db2)
# shellcheck source=scripts/netns-lib.sh
. "$here/../../../../scripts/netns-lib.sh"
netns_init klnft nft_gateway
out=$NETNS_DIR
start=$SECONDS

# --- the networks: 10.81.0.0/24 behind gw1 (public 198.18.81.1), 10.82.0.0/24 behind gw2 (198.18.82.1)
netns_host "${hosts[@]}"
netns_switch br1 br2
declare -A address=([gw1]=10.81.0.1 [cli1]=10.81.0.10 [web1]=10.81.0.20 [db1]=10.81.0.30
                    [gw2]=10.82.0.1 [cli2]=10.82.0.10 [web2]=10.82.0.20 [db2]=10.82.0.30)
for name in "${hosts[@]}"; do
  net=${name: -1}
  gateway=10.8$net.0.1
  [[ $name != gw* ]] || gateway=''
  netns_link "$name" "br$net" "${address[$name]}/24" "$gateway"
done
for net in 1 2; do
  netns_gateway "gw$net" "198.18.8$net.1/24" "198.18.8$net.2/24"
done

# gw1: nftables only.
netns_exec gw1 nft -f - <<'NFT'
table inet edge {
	set public4 {
		type ipv4_addr
		elements = { 198.18.81.1, 198.18.81.2 }
	}
	set lan4 {
		type ipv4_addr
		flags interval
		elements = { 10.81.0.0/24 }
	}
	set admin_ports {
		type inet_service
		elements = { 9000 comment "admin", 9001 }
	}
	chain prerouting {
		type nat hook prerouting priority dstnat; policy accept;
		meta nfproto ipv4 ip daddr vmap { 198.18.81.1 : jump port_forwards, 198.18.81.2 : goto more_forwards, 198.18.81.3 : accept }
	}
	chain output {
		type nat hook output priority -100; policy accept;
		ip daddr @public4 jump port_forwards
	}
	chain port_forwards {
		tcp dport 80 dnat ip to 10.81.0.20
		dnat ip to ip daddr . tcp dport map { 198.18.81.1 . 5432 : 10.81.0.30 . 15432 }
	}
	chain more_forwards {
		dnat ip to tcp dport map { 8080 : 10.81.0.20 }
		dnat ip to tcp dport map { 8081 : 10.81.0.20 } : tcp dport map { 8081 : 18081 }
		ip daddr . tcp dport { 198.18.81.2 . 2222, 198.18.81.2 . 2223 } dnat ip to 10.81.0.30:22
		tcp dport @admin_ports dnat ip to 10.81.0.30
	}
	chain postrouting {
		type nat hook postrouting priority srcnat; policy accept;
		ip saddr @lan4 ip daddr @lan4 ct status dnat masquerade
		oifname "pub0" masquerade
	}
}
NFT
# gw2: the hand-written nftables rules first (as nftables.service loads them at boot)...
netns_exec gw2 nft -f - <<'NFT'
table ip nat {
	map forwards {
		type ipv4_addr . inet_service : ipv4_addr . inet_service
		elements = { 198.18.82.1 . 5432 : 10.82.0.30 . 15432 }
	}
	chain prerouting {
		type nat hook prerouting priority dstnat; policy accept;
		dnat to ip daddr . tcp dport map @forwards
	}
	chain postrouting {
		type nat hook postrouting priority srcnat; policy accept;
		ip saddr 10.82.0.0/24 ip daddr 10.82.0.30 ct status dnat snat to 10.82.0.1
	}
}
NFT
# ... then iptables-nft (its chains land in the same table) and iptables-legacy, as tools add them.
netns_exec gw2 iptables-nft -t nat -A PREROUTING -d 198.18.82.1/32 -p tcp --dport 80 -j DNAT --to-destination 10.82.0.20:80
netns_exec gw2 iptables-nft -t nat -A POSTROUTING -s 10.82.0.0/24 -d 10.82.0.20/32 -m conntrack --ctstate DNAT -j SNAT --to-source 10.82.0.1
netns_exec gw2 iptables-legacy -t nat -A PREROUTING -d 198.18.82.1/32 -p tcp --dport 8080 -j DNAT --to-destination 10.82.0.20:80
if [[ -n $capture ]]; then
  declare -A kind=([gw1]=native [gw2]=mixed)
  for gw in gw1 gw2; do
    netns_exec "$gw" nft -j list ruleset > "$capture/nft-gateway-${kind[$gw]}.json"
    netns_exec "$gw" nft list ruleset > "$capture/nft-gateway-${kind[$gw]}.nft" 2>/dev/null
  done
  netns_exec gw2 iptables-nft-save -t nat > "$capture/iptables-nft-save-gateway-mixed.txt" 2> "$capture/iptables-nft-save-gateway-mixed.stderr"
  netns_exec gw2 iptables-legacy-save -t nat > "$capture/iptables-legacy-save-gateway-mixed.txt"
fi

# --- the hosts: a Python in each namespace, the public names in its /etc/hosts ----------------------
mkdir -p "$out/bin"
printf '198.18.81.1 app1.example.test db1.example.test\n198.18.82.1 app2.example.test db2.example.test\n' > "$out/hosts"
for name in "${hosts[@]}"; do
  netns_python_wrapper "$name" "$out/bin/python-$name" "$python" "$out/hosts"
done
netns_hold web1 "$python" serve 0.0.0.0:80
netns_hold db1 "$python" serve 0.0.0.0:15432
netns_hold web2 "$python" serve 0.0.0.0:80
netns_hold db2 "$python" serve 0.0.0.0:15432
# Through the gateways' DNAT and back through their SNAT: a connection only opens when both work.
netns_hold cli1 "$python" connect 198.18.81.1:80:2 198.18.81.1:5432:1
netns_hold cli2 "$python" connect 198.18.82.1:80:2 198.18.82.1:5432:1 198.18.82.1:8080:1
echo "nft_gateway: namespaces and hairpin connections up in $((SECONDS - start)) s"

inventory=$out/inventory.yml
{
  echo "all:"
  echo "  vars:"
  echo "    ansible_connection: local"
  echo "    hairpin_detect_name_ports: {app1.example.test: 80, db1.example.test: 5432, app2.example.test: 80, db2.example.test: 5432}"
  echo "  hosts:"
  for name in "${hosts[@]}"; do
    echo "    $name:"
    echo "      ansible_python_interpreter: $out/bin/python-$name"
    case $name in cli*) echo "      hairpin_detect_names: [app${name: -1}.example.test, db${name: -1}.example.test]" ;; esac
  done
  # remediate.yml reads the plan's split_dns fixes too and wants their DNS server named; only its
  # local_shortcut plays run here.
  echo "  children:"
  echo "    dns_servers:"
  echo "      hosts: {web1: {}}"
} > "$inventory"

run() {   # run LOG COMMAND...: the command's output goes to LOG, shown when it fails
  local log=$1; shift
  "$@" >"$log" 2>&1 || { cat "$log" >&2; echo "nft_gateway: failed: $*" >&2; return 1; }
}
run_json() {   # run_json FILE COMMAND...: ansible's JSON callback output to FILE, its stderr beside it
  local json=$1; shift
  env ANSIBLE_STDOUT_CALLBACK=ansible.builtin.json "$@" >"$json" 2>"$json.err" \
    || { cat "$json" "$json.err" >&2; echo "nft_gateway: failed: $*" >&2; return 1; }
}
cd "$out"
export ANSIBLE_CACHE_PLUGIN=jsonfile ANSIBLE_CACHE_PLUGIN_CONNECTION=$out/fact_cache
step=$SECONDS
run "$out/detect.log" ansible-playbook keeplocal.traffic.detect -i "$inventory" \
  -e hairpin_detect_report_dir="$out/detect" -e hairpin_detect_facts_dir="$out/facts" "${extra[@]}"
echo "nft_gateway: detect.yml $((SECONDS - step)) s"; step=$SECONDS
run "$out/plan.log" ansible-playbook keeplocal.traffic.plan -i "$inventory" -e hairpin_detect_report_dir="$out/plan" "${extra[@]}"
echo "nft_gateway: plan.yml $((SECONDS - step)) s"; step=$SECONDS
# The roles' results as JSON, to check what they did and would do.
run_json "$out/shortcut.json" ansible-playbook keeplocal.traffic.remediate \
  -i "$inventory" --check --diff --tags local_shortcut -e keeplocal_plan_file="$out/detect/plan.json" \
  -e keeplocal_dns_server_address=10.81.0.20 -e local_shortcut_manage_packages=false "${extra[@]}"
echo "nft_gateway: remediate.yml --check --tags local_shortcut $((SECONDS - step)) s"; step=$SECONDS
cat > "$out/conntrack.yml" <<'EOF'
- name: Conntrack tuning on the nftables gateway, check mode
  hosts: gw1
  gather_facts: false
  roles:
    - role: keeplocal.traffic.conntrack_tuning
      vars:
        conntrack_tuning_install_tools: false
EOF
run_json "$out/conntrack.json" ansible-playbook "$out/conntrack.yml" \
  -i "$inventory" --check "${extra[@]}"
echo "nft_gateway: conntrack_tuning --check $((SECONDS - step)) s"

"$KEEPLOCAL_VENV/bin/python" "$here/files/check.py" "$out"

# --- the shortcut for real: the rules the role rendered, loaded in cli1's namespace as its unit would.
netns_exec db1 ss -Htn state established '( sport = :15432 )' > "$out/db1-before.txt"
netns_exec cli1 nft -f "$out/shortcut-cli1.nft"
netns_hold cli1 "$python" connect 198.18.81.1:5432:1
netns_exec db1 ss -Htn state established '( sport = :15432 )' > "$out/db1-after.txt"
if grep -q '10\.81\.0\.10:' "$out/db1-before.txt" || ! grep -q '10\.81\.0\.10:' "$out/db1-after.txt"; then
  echo "nft_gateway: expected db1's peers to be the gateway (10.81.0.1) before the shortcut and cli1 (10.81.0.10) after it" >&2
  cat "$out/db1-before.txt" "$out/db1-after.txt" >&2
  exit 1
fi
echo "nft_gateway: with the rendered shortcut loaded, cli1 -> 198.18.81.1:5432 reaches db1 from 10.81.0.10 directly"
echo "nft_gateway: passed in $((SECONDS - start)) s"
