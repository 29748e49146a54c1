#!/usr/bin/env bash
# Bring the lab up or down by hand (the demo and the molecule scenarios do this themselves).
#   scripts/lab.sh up|down
set -euo pipefail
. "$(dirname "$0")/env.sh"
cd "$KEEPLOCAL_REPO"
lab=molecule/resources/lab
case ${1:-} in
  up)
    scripts/host-setup.sh; scripts/venv.sh; scripts/lab-image.sh
    flock /var/lock/keeplocal-lab.lock ansible-playbook -i $lab/inventory.yml $lab/up.yml ;;
  down)
    flock /var/lock/keeplocal-lab.lock ansible-playbook $lab/destroy.yml ;;
  *) echo "usage: $0 up|down" >&2; exit 2 ;;
esac
