#!/usr/bin/env bash
# Copyright (c) 2026 keeplocal.traffic contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# The write path of keeplocal.traffic.conntrack_tuning on this machine's own kernel (initial
# network namespace, root). It records nf_conntrack_max, the hash size, three TCP timeouts,
# nf_conntrack_acct and the persistence files first, and always restores them (also after a killed
# run: see playbook.yml).
#   tests/integration/targets/conntrack_tuning_host/runme.sh [-v]
# Standalone it sources scripts/env.sh; under ansible-test it uses the environment it is given.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
if [[ -z "${ANSIBLE_COLLECTIONS_PATH:-}" ]]; then
  # shellcheck disable=SC1091
  . "$here/../../../../scripts/env.sh"
fi
if [[ $(id -u) != 0 ]]; then
  echo "conntrack_tuning_host: needs root (it writes /proc/sys/net/netfilter and /etc)" >&2
  exit 1
fi
max=/proc/sys/net/netfilter/nf_conntrack_max
if [[ ! -e $max ]]; then
  echo "conntrack_tuning_host: nf_conntrack is not loaded on this kernel: nothing to test" >&2
  exit 1
fi
if [[ $(stat -c %a "$max") != 644 ]]; then
  echo "conntrack_tuning_host: not the initial network namespace ($max is read-only here): run it on the host" >&2
  exit 1
fi
cd "$here"
# One run at a time on a machine: the values are global.
exec flock /var/lock/keeplocal-conntrack-host.lock ansible-playbook -i inventory.yml playbook.yml "$@"
