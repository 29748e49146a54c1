#!/usr/bin/env bash
# Fleet cost of detection: playbooks/detect.yml on N podman hosts vs a bare fact-gathering pass
# (ansible -m setup) on the same hosts, interleaved in one run so machine noise hits both.
#   bench/fleet.sh [HOSTS=24] [ROUNDS=3]
# Prints per-round times and the median ratio; writes bench/results/fleet_podman.md (bench/results/fleet.md
# is the summary, with bench/fleet_netns.sh's 24 and 96 network-namespace hosts).
set -euo pipefail
. "$(dirname "$0")/../scripts/env.sh"
cd "$KEEPLOCAL_REPO"
hosts=${1:-24} rounds=${2:-3}
work=$(mktemp -d /tmp/keeplocal-fleet.XXXXXX)
names=()
for i in $(seq -w 1 "$hosts"); do names+=("fleet-$i"); done
cleanup() {
  podman rm -f -t 0 "${names[@]}" >/dev/null 2>&1 || true
  podman network rm -f bench-fleet >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
cleanup; work=$(mktemp -d /tmp/keeplocal-fleet.XXXXXX)
scripts/lab-image.sh >/dev/null
podman network create --internal --subnet 10.99.0.0/24 bench-fleet >/dev/null
for n in "${names[@]}"; do
  podman run -d --name "$n" --hostname "$n" --network bench-fleet --cap-add NET_ADMIN \
    localhost/keeplocal-lab:latest sleep infinity >/dev/null
done
{
  echo "[fleet]"; printf '%s\n' "${names[@]}"
  echo "[fleet:vars]"; echo "ansible_connection=containers.podman.podman"; echo "ansible_python_interpreter=/usr/bin/python3"
} > "$work/inventory.ini"

timed() { local start end; start=$(date +%s.%N); "$@" >"$work/last.log" 2>&1 || { cat "$work/last.log"; exit 1; }; end=$(date +%s.%N); echo "$end - $start" | bc; }
# Warm-up: the first connection to each container pays podman's one-time costs.
timed ansible -i "$work/inventory.ini" fleet -m ping >/dev/null
facts=() detect=()
for r in $(seq "$rounds"); do
  f=$(timed ansible -i "$work/inventory.ini" fleet -m ansible.builtin.setup)
  d=$(timed ansible-playbook -i "$work/inventory.ini" playbooks/detect.yml -e "hairpin_detect_report_dir=$work/report")
  facts+=("$f"); detect+=("$d")
  printf 'round %d: setup %.2f s, detect %.2f s, ratio %.2f\n' "$r" "$f" "$d" "$(echo "$d / $f" | bc -l)"
done
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
mf=$(median "${facts[@]}") md=$(median "${detect[@]}")
ratio=$(echo "$md / $mf" | bc -l)
printf 'median: setup %.2f s, detect %.2f s, detect/setup = %.2f (goal <= 1.1, issue 16)\n' "$mf" "$md" "$ratio"
mkdir -p bench/results
cat > bench/results/fleet_podman.md <<MD
# Fleet cost: detect.yml vs bare fact gathering ($hosts podman hosts, $rounds interleaved rounds)

Command: \`bench/fleet.sh $hosts $rounds\` ($(date -u +%Y-%m-%d), $(nproc) cores, $(ansible --version | head -n1))

| round | ansible -m setup (s) | detect.yml (s) | ratio |
|---|---|---|---|
$(for i in "${!facts[@]}"; do printf '| %d | %.2f | %.2f | %.2f |\n' $((i+1)) "${facts[$i]}" "${detect[$i]}" "$(echo "${detect[$i]} / ${facts[$i]}" | bc -l)"; done)
| **median** | **$(printf %.2f "$mf")** | **$(printf %.2f "$md")** | **$(printf %.2f "$ratio")** |
MD
