#!/usr/bin/env bash
# The main job on the lab: set up (cached), bring the lab up, run the collection against it and
# print what it found. The lab stays up for a look around; `make lab-down` removes it.
set -euo pipefail
. "$(dirname "$0")/env.sh"
cd "$KEEPLOCAL_REPO"
echo "demo: setting up this machine: host packages, venvs, lab images, CoreDNS (each cached; about 10 min on a fresh machine)"
scripts/host-setup.sh
scripts/venv.sh
scripts/lab-image.sh
coredns=$(scripts/coredns-build.sh | tail -n1)
lab=molecule/resources/lab
exec 9>/var/lock/keeplocal-lab.lock
flock 9
echo "demo: CoreDNS for the lab is $coredns"
echo "demo: bringing the lab up (five systemd containers, two networks; about a minute)"
ansible-playbook -i $lab/inventory.yml $lab/up.yml
# The hairpin as found: client, gateway conntrack, backend log.
ansible-playbook -i $lab/inventory.yml $lab/show.yml
# The main job: detect -> measure -> remediate -> measure -> report.
ansible-playbook -i $lab/inventory.yml playbooks/site.yml -e "hairpin_detect_report_dir=$KEEPLOCAL_REPO/keeplocal-report"
report=$KEEPLOCAL_REPO/keeplocal-report
echo
echo "demo: the outcome (per pair: the fix, then before -> after)"
sed 's/^/  /' "$report/outcome.txt"
echo
echo "demo: the full report: $report/report.html (open it in a browser, e.g. xdg-open $report/report.html);"
echo "      report.md is the same as text, plan.json the plan, measurements.json the raw numbers"
echo "demo: undo: the lab is still up (podman ps); make lab-down removes all of it. On your own hosts, nginx files"
echo "      the Unix-socket switch replaced are kept under /var/backups/keeplocal/nginx/ and"
echo "      local_shortcut_state=absent / split_dns_client_state=absent undo those fixes"
