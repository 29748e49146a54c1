#!/usr/bin/env bash
# Run the project's tests. With no argument: everything, in the order CI runs it.
#   scripts/test.sh [sanity|units|lint|molecule [SCENARIO...]|all]
# Sets up what it needs first (host packages, venv, lab image, CoreDNS), all cached.
set -euo pipefail
. "$(dirname "$0")/env.sh"
cd "$KEEPLOCAL_REPO"

# ansible-test needs the collection at .../ansible_collections/keeplocal/traffic as a real
# directory: copy the checkout's files (tracked and new, not ignored) there.
ansible_test_tree() {
  local tree=$KEEPLOCAL_CACHE/ansible-test-$(echo "$KEEPLOCAL_REPO" | sha256sum | cut -c1-12)/ansible_collections/keeplocal/traffic
  rm -rf "$tree"; mkdir -p "$tree"
  git ls-files -co --exclude-standard -z | tar --null -T - -cf - | tar -C "$tree" -xf -
  local pip_cache=$HOME/.ansible/test/cache
  mkdir -p "$pip_cache"
  cp scripts/ansible_test_pip_bootstrap.py "$pip_cache/get_pip_24_2.py"
  echo "$tree"
}

run_sanity() {
  local tree; tree=$(ansible_test_tree)
  (cd "$tree" && ansible-test sanity --local --python 3.11 --color no)
}

run_units() {
  local tree; tree=$(ansible_test_tree)
  (cd "$tree" && ansible-test units --local --python 3.11 --color no)
}

run_lint() {
  ansible-lint --offline --profile production
}

# The lab's networks and names exist once per machine: scenarios take turns.
run_molecule() {
  local scenarios=("$@")
  if ((${#scenarios[@]} == 0)); then
    mapfile -t scenarios < <(ls molecule | grep -v '^resources$')
  fi
  for s in "${scenarios[@]}"; do
    echo "=== molecule test -s $s"
    flock /var/lock/keeplocal-lab.lock molecule test -s "$s"
  done
}

prepare() {
  scripts/host-setup.sh
  scripts/venv.sh
  scripts/lab-image.sh
  scripts/coredns-build.sh >/dev/null
}

what=${1:-all}; shift || true
case $what in
  sanity) run_sanity ;;
  units) run_units ;;
  lint) run_lint ;;
  molecule) run_molecule "$@" ;;
  all)
    prepare
    start=$SECONDS
    run_sanity;   echo "=== sanity: $((SECONDS - start)) s"; start=$SECONDS
    run_units;    echo "=== units: $((SECONDS - start)) s"; start=$SECONDS
    run_lint;     echo "=== lint: $((SECONDS - start)) s"; start=$SECONDS
    run_molecule; echo "=== molecule: $((SECONDS - start)) s"
    echo "=== all tests passed"
    ;;
  *) echo "usage: $0 [sanity|units|lint|molecule [SCENARIO...]|all]" >&2; exit 2 ;;
esac
