#!/usr/bin/env bash
# Copyright (c) 2026 keeplocal.traffic contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# keeplocal.traffic.platform_check, the first task of every role that changes hosts: on localhost
# aliases with faked distribution facts a RedHat or Suse host fails with the role's message, Ubuntu
# 24.04 and Debian 11 warn and go on, Debian 12 and 13 pass; this machine's own facts are gathered (the
# distribution subset only) and kept. Then each of those roles, run on the RedHat host, stops there.
#   tests/integration/targets/platform_check/runme.sh [-v]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
if [[ -z "${ANSIBLE_COLLECTIONS_PATH:-}" ]]; then
  # shellcheck disable=SC1091
  . "$here/../../../../scripts/env.sh"
fi
cd "$here"
out=$(mktemp)
trap 'rm -f "$out"' EXIT
rc=0
ANSIBLE_FORCE_COLOR=0 ansible-playbook -i inventory.yml playbook.yml "$@" >"$out" 2>&1 || rc=$?
cat "$out"
((rc == 0)) || exit $rc
# The warnings reach the output as warnings (what an AAP job shows), one per untested host.
for host in ubuntu2404 debian11; do
  grep -q "\[WARNING\]: split_dns: $host runs " "$out" \
    || { echo "platform_check: no warning for $host in the output" >&2; exit 1; }
done
echo "platform_check: RedHat and Suse refused, Ubuntu 24.04 and Debian 11 warned, Debian 12 and 13 passed; every role stops first"
