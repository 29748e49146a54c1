#!/usr/bin/env bash
# The report-write failure of issue 18 and its fix, on this machine, without the lab.
#   bench/report_write.sh [RUNS] [SWEEP_SECONDS]
# RUNS concurrent ansible-playbook runs (default 20) against four localhost aliases each write three
# report files: "before", the way hairpin_detect wrote them (ansible.builtin.copy in a loop,
# delegated to localhost, run_once), "after", with keeplocal.traffic.report_files, and "detect",
# playbooks/detect.yml itself (the hosts' own modules use a temporary directory of their own, as
# remote hosts would, so only the controller's side meets the sweep). The copy goes
# through a remote temporary directory, ~/.ansible/tmp/ansible-tmp-*, that must survive from its
# mkdir until the module has run; the action plugin writes on the controller and has none.
# SWEEP_SECONDS > 0 (default 0.2) runs, next to the runs, what takes such a directory away: a process
# that removes ~/.ansible/tmp/ansible-tmp-* every SWEEP_SECONDS (a cleanup of that shared directory,
# as another job on the controller may do). 0 runs the runs side by side only.
# Prints, per variant, the runs that failed and the errors they printed.
set -euo pipefail
runs=${1:-20}
sweep=${2:-0.2}
. "$(dirname "$0")/../scripts/env.sh"
work=$(mktemp -d /tmp/keeplocal-report-write.XXXXXX)
trap 'kill "${sweeper:-}" 2>/dev/null || true; [[ -n ${KEEP:-} ]] || rm -rf "$work"' EXIT

cat > "$work/inventory.ini" <<'INI'
[fleet]
h1 ansible_host=127.0.0.1
h2 ansible_host=127.0.0.1
h3 ansible_host=127.0.0.1
h4 ansible_host=127.0.0.1

[fleet:vars]
ansible_connection=local
ansible_python_interpreter=/usr/bin/python3
INI
# The hosts' own temporary directory, as on a remote host; delegated tasks use the controller's.
echo "ansible_remote_tmp=$work/hosts-tmp" >> "$work/inventory.ini"

# The report's three files, of the sizes the lab's report has.
cat > "$work/vars.yml" <<'YAML'
report_files:
  - {name: plan.json, content: "{{ range(1500) | list | to_nice_json }}"}
  - {name: report.md, content: "{{ 'markdown ' * 700 }}"}
  - {name: report.html, content: "{{ '<p>html</p>' * 1400 }}"}
YAML

cat > "$work/before.yml" <<'YAML'
- name: Write the report as hairpin_detect did (delegated copies)
  hosts: fleet
  gather_facts: false
  vars_files: [vars.yml]
  tasks:
    - name: Write the report
      run_once: true
      delegate_to: localhost
      check_mode: false
      block:
        - name: Create the report directory
          ansible.builtin.file:
            path: "{{ report_dir }}"
            state: directory
            mode: "0755"
        - name: Write the report files
          ansible.builtin.copy:
            dest: "{{ report_dir }}/{{ item.name }}"
            content: "{{ item.content }}"
            mode: "0644"
          loop: "{{ report_files }}"
          loop_control:
            label: "{{ item.name }}"
YAML

cat > "$work/after.yml" <<'YAML'
- name: Write the report with keeplocal.traffic.report_files
  hosts: fleet
  gather_facts: false
  vars_files: [vars.yml]
  tasks:
    - name: Write the report files
      keeplocal.traffic.report_files:
        dir: "{{ report_dir }}"
        files: "{{ report_files }}"
      run_once: true
YAML

if [[ $sweep != 0 ]]; then
  (while :; do rm -rf "$HOME"/.ansible/tmp/ansible-tmp-*; sleep "$sweep"; done) &
  sweeper=$!
fi
for variant in before after detect; do
  mkdir "$work/$variant"
  start=$SECONDS
  pids=()
  for i in $(seq 1 "$runs"); do
    if [[ $variant == detect ]]; then
      ansible-playbook -i "$work/inventory.ini" "$KEEPLOCAL_REPO/playbooks/detect.yml" -e keeplocal_hosts=fleet \
        -e "hairpin_detect_report_dir=$work/$variant/out$i" > "$work/$variant/run$i.log" 2>&1 &
    else
      ansible-playbook -i "$work/inventory.ini" "$work/$variant.yml" -e "report_dir=$work/$variant/out$i" \
        > "$work/$variant/run$i.log" 2>&1 &
    fi
    pids+=($!)
  done
  wait "${pids[@]}" || true  # a failed run is counted below
  failed=$(grep -lE 'failed=[1-9]|unreachable=[1-9]|ERROR' "$work/$variant"/run*.log | wc -l || true)
  written=$(find "$work/$variant" -name report.html | wc -l)
  echo "$variant: $failed of $runs runs failed, $written wrote report.html ($((SECONDS - start)) s, sweep every ${sweep}s)"
  for log in "$work/$variant"/run*.log; do
    grep -m1 -oE "Failed to transfer file to '/[^']+'" "$log" || grep -m1 -oE "^\[ERROR\]: .{0,120}" "$log" || true
  done | sed -E "s#ansible-tmp-[^/]+#ansible-tmp-...#; s#^#    #" | sort | uniq -c
done
