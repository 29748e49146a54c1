#!/usr/bin/env bash
# Run the project's tests. With no argument: everything, in the order CI runs it.
#   scripts/test.sh [sanity|units|lint|host|release|molecule [SCENARIO...]|molecule-trixie [SCENARIO...]|apps|all]
# Sets up what it needs first (host packages, venv, lab image, CoreDNS), all cached.
set -euo pipefail
. "$(dirname "$0")/env.sh"
cd "$KEEPLOCAL_REPO"

# ansible-test needs the collection at .../ansible_collections/keeplocal/traffic as a real
# directory: copy the checkout's files (tracked and new, not ignored) there.
ansible_test_tree() {
  # One tree per run: concurrent runs (developers, helpers) must not delete each other's tree.
  local root; root=$(mktemp -d "$KEEPLOCAL_CACHE/ansible-test.XXXXXX")
  local tree=$root/ansible_collections/keeplocal/traffic
  mkdir -p "$tree"
  # Test inputs kept next to the checkout (shared/realworld: other projects' files, never copied
  # into the repository); the tests look for them from their own directory upwards.
  if [ -d "$KEEPLOCAL_REPO/../shared" ]; then ln -s "$(cd "$KEEPLOCAL_REPO/../shared" && pwd)" "$root/shared"; fi
  git ls-files -co --exclude-standard -z | tar --null -T - -cf - | tar -C "$tree" -xf -
  # ansible-test bootstraps pip from a download host this machine cannot reach; it takes a
  # cached script instead, named after the pip version it wants.
  local pip_cache=$HOME/.ansible/test/cache venv pip_version
  mkdir -p "$pip_cache"
  for venv in "$KEEPLOCAL_VENV" "$KEEPLOCAL_VENV_PREVIOUS"; do
    pip_version=$(grep -ho "pip='[0-9.]*'" "$venv"/lib/python3*/site-packages/ansible_test/_internal/python_requirements.py | tr -dc '0-9.')
    cp scripts/ansible_test_pip_bootstrap.py "$pip_cache/get_pip_${pip_version//./_}.py"
  done
  echo "$tree"
}

# Both supported ansible-core versions: the current one (main venv) and the one before.
ansible_test() {
  local tree rc=0; tree=$(ansible_test_tree)
  for venv in "$KEEPLOCAL_VENV" "$KEEPLOCAL_VENV_PREVIOUS"; do
    echo "=== ansible-test $* with $("$venv/bin/ansible" --version | sed -n 1p)"
    (cd "$tree" && "$venv/bin/ansible-test" "$@" --local --python 3.11 --color no) || rc=$?
    ((rc == 0)) || break
  done
  rm -rf "${tree%/ansible_collections/keeplocal/traffic}"
  return $rc
}

run_sanity() { ansible_test sanity; }

run_units() { ansible_test units; }

# ansible-lint (also inside galaxy-importer) installs the checkout into ~/.ansible/collections,
# where the copy would shadow later edits for molecule and ansible-playbook: remove it again
# unless it was there before.
without_shadow_copy() {
  local copy=$HOME/.ansible/collections/ansible_collections/keeplocal/traffic had_copy=false rc=0
  [ -e "$copy" ] && had_copy=true
  "$@" || rc=$?
  $had_copy || rm -rf "$copy"
  return $rc
}

run_lint() {
  without_shadow_copy ansible-lint --offline --profile production
}

# The lab's networks and names exist once per machine: scenarios take turns. The first scenario of a
# run installs the lab and commits it as the run's snapshot; the others start fresh containers from it
# (molecule/resources/lab/prepare.yml). Snapshots of earlier runs are removed first (those a
# running lab still uses stay), this run's at its end.
run_molecule() {
  local scenarios=("$@") dir
  export KEEPLOCAL_LAB_SNAPSHOT=${KEEPLOCAL_LAB_SNAPSHOT:-run$(date +%s)-$$}
  lab_snapshots_remove ''
  if ((${#scenarios[@]} == 0)); then
    # The lab proof first, the end-to-end run last. For CI's time hairpin_watch (the watch role with
    # its timer, node_exporter and Prometheus on the lab; about 6 min) runs by name on both platforms;
    # make test's host stage runs the collector, node_exporter and the role's rules end to end.
    local by_name=(hairpin_watch)
    scenarios=(lab hairpin_detect conntrack_tuning split_dns unix_sockets local_shortcut site)
    for dir in molecule/*/molecule.yml; do
      dir=${dir#molecule/}; dir=${dir%/molecule.yml}
      [[ " ${scenarios[*]} ${by_name[*]} " == *" $dir "* ]] || { echo "scripts/test.sh: scenario $dir is not in the list" >&2; return 1; }
    done
  fi
  local start
  for s in "${scenarios[@]}"; do
    echo "=== molecule test -s $s${KEEPLOCAL_LAB_SUITE:+ ($KEEPLOCAL_LAB_SUITE)}"
    start=$SECONDS
    flock /var/lock/keeplocal-lab.lock molecule test -s "$s"
    echo "=== molecule test -s $s${KEEPLOCAL_LAB_SUITE:+ ($KEEPLOCAL_LAB_SUITE)}: $((SECONDS - start)) s"
  done
  lab_snapshots_remove "$KEEPLOCAL_LAB_SNAPSHOT-"
}

# lab_snapshots_remove TAG-PREFIX: the lab snapshot images whose tag starts with it ('' for all).
lab_snapshots_remove() {
  podman images --format '{{.Repository}}:{{.Tag}}' \
    | grep "^localhost/keeplocal-lab-snapshot:$1" | xargs -r podman rmi >/dev/null 2>&1 || true
}

# The second lab platform: Debian 13 hosts with systemd-resolved and an nftables-native gateway.
# split_dns for resolved's routing and its stub listener, conntrack_tuning for the package install,
# local_shortcut on the nft gateway, unix_sockets for nginx 1.26 and systemd 257 (kills, forced
# failure and revert under load), site for every remediation role on it, the measurement and the
# revert. hairpin_watch runs by name here too: scripts/test.sh molecule-trixie hairpin_watch.
run_molecule_trixie() {
  local scenarios=("$@")
  ((${#scenarios[@]})) || scenarios=(split_dns conntrack_tuning local_shortcut unix_sockets site)
  KEEPLOCAL_LAB_SUITE=trixie scripts/lab-image.sh
  KEEPLOCAL_LAB_SUITE=trixie run_molecule "${scenarios[@]}"
}

# The Galaxy artifact: built clean, then Galaxy's own import checks (galaxy-importer runs
# ansible-doc on every plugin, ansible-lint, changelog and metadata checks). Any warning fails.
run_release() {
  local out
  out=$KEEPLOCAL_CACHE/build-$(echo "$KEEPLOCAL_REPO" | sha256sum | cut -c1-12)
  rm -rf "$out"
  ansible-galaxy collection build --force --output-path "$out" . >/dev/null
  local artifact; artifact=$(ls "$out"/keeplocal-traffic-*.tar.gz)
  if tar tzf "$artifact" | grep -E '(^|/)(molecule|bench|lab|scripts|tests/output|__pycache__)/|\.pyc$'; then
    echo "release: the artifact carries files it must not (above)" >&2; return 1
  fi
  # Run from the build directory: the importer writes importer_result.json into the working directory.
  (cd "$out" && without_shadow_copy "$KEEPLOCAL_VENV_RELEASE/bin/python" -m galaxy_importer.main "$artifact" > "$out/importer.log" 2>&1) || true
  cat "$out/importer.log"
  grep -q "Importer processing completed successfully" "$out/importer.log" || { echo "release: import failed" >&2; return 1; }
  if grep -E '^(WARNING|ERROR)|: (WARNING|ERROR)' "$out/importer.log"; then
    echo "release: galaxy-importer reported the warnings above" >&2; return 1
  fi
  echo "release: $artifact imports clean"
  run_installed "$artifact"
  scripts/docs.sh
}

# The artifact as a user installs it (README): ansible-core and requirements.txt only, no other
# collection on the path; detect.yml must run against localhost and write a current plan.
run_installed() {
  local artifact=$1 root rc=0
  root=$(mktemp -d "$KEEPLOCAL_CACHE/installed.XXXXXX")
  # Only the installed copy on the path: the checkout's tree (env.sh) would make the install a no-op.
  env -u ANSIBLE_CONFIG ANSIBLE_COLLECTIONS_PATH="$root/collections" \
    "$KEEPLOCAL_VENV_INSTALL/bin/ansible-galaxy" collection install --offline -p "$root/collections" "$artifact" >/dev/null
  (cd "$root" && env -u ANSIBLE_CONFIG ANSIBLE_COLLECTIONS_PATH="$root/collections" ANSIBLE_COLLECTIONS_SCAN_SYS_PATH=false \
    "$KEEPLOCAL_VENV_INSTALL/bin/ansible-playbook" keeplocal.traffic.detect -i localhost, -c local --check \
    -e ansible_python_interpreter=/usr/bin/python3 -e hairpin_detect_report_dir="$root/report" >"$root/detect.log" 2>&1) || rc=$?
  if ((rc != 0)) || ! "$KEEPLOCAL_VENV_INSTALL/bin/python" -c 'import json, sys; assert json.load(open(sys.argv[1]))["version"] == 2' \
      "$root/report/plan.json"; then
    cat "$root/detect.log"; rm -rf "$root"
    echo "release: detect.yml failed with only ansible-core and requirements.txt installed" >&2; return 1
  fi
  rm -rf "$root"
  echo "release: the installed artifact runs detect.yml with ansible-core and requirements.txt only"
}

# Integration targets that run on this machine: the conntrack write path needs a real kernel's
# initial network namespace, this machine's own (disposable in CI; the runner records the original
# values and always restores them); measure_pair runs measure.yml's counting on localhost.
# report_files writes a report on localhost with no usable remote temporary directory.
# aap_slicing runs detect sliced with ansible-runner on network namespaces and plans from the slices.
# platform_check runs the roles' platform check on localhost aliases with faked distribution facts.
# nft_gateway runs detect, plan, local_shortcut and conntrack_tuning against an nftables-only gateway
# and one with iptables-nft, iptables-legacy and nft rules at once, on network namespaces.
# hairpin_bytes counts a 100 MB transfer through a namespace hairpin with the watch collector on both ends.
# hairpin_watch_e2e: the watch collector, Debian's node_exporter and Prometheus with the role's rules
# on network namespaces; a hairpin must fire KeeplocalHairpinActive and resolve once it stops.
run_host() {
  tests/integration/targets/conntrack_tuning_host/runme.sh
  tests/integration/targets/measure_pair/runme.sh
  tests/integration/targets/report_files/runme.sh
  tests/integration/targets/aap_slicing/runme.sh
  tests/integration/targets/platform_check/runme.sh
  tests/integration/targets/nft_gateway/runme.sh
  tests/integration/targets/hairpin_bytes/runme.sh
  tests/integration/targets/hairpin_watch_e2e/runme.sh
  run_app_servers
  run_promtool
}

# The unix_sockets rewrites of gunicorn, uvicorn and uWSGI command lines, run against the real servers
# (a cached venv; uWSGI compiles on its first build).
run_app_servers() {
  KEEPLOCAL_APP_SERVERS=$(scripts/app-servers-venv.sh) PYTHONPATH=$KEEPLOCAL_COLLECTIONS \
    python -m pytest -p no:cacheprovider -q tests/unit/plugins/module_utils/test__app_servers_real.py
}

# The unix_sockets role on real apps under load (Radicale under uWSGI's --http-socket and --socket,
# Datasette under uvicorn and under gunicorn with uvicorn workers) in a systemd container of the apps
# image (scripts/apps-image.sh); not the lab, so it needs no lab lock. About 25 min on a loaded 2-core
# machine (each task over the podman connection takes seconds), so it is a stage of its own, not in all.
run_apps() {
  tests/integration/targets/unix_sockets_apps/runme.sh
}

# The hairpin_watch role's alerting rules: promtool checks the shipped file and runs its unit tests.
run_promtool() {
  promtool check rules roles/hairpin_watch/files/keeplocal-hairpin.rules.yml
  promtool test rules tests/prometheus/*.test.yml
}

prepare() {
  local start=$SECONDS
  echo "=== setup: host packages, venvs, lab images, CoreDNS (each cached; about 10 min on a fresh machine)"
  scripts/host-setup.sh
  scripts/venv.sh
  scripts/lab-image.sh
  scripts/coredns-build.sh >/dev/null
  echo "=== setup: $((SECONDS - start)) s"
}

what=${1:-all}; shift || true
case $what in
  sanity) run_sanity ;;
  units) run_units ;;
  lint) run_lint ;;
  host) run_host ;;
  apps) run_apps ;;
  release) run_release ;;
  molecule) run_molecule "$@" ;;
  molecule-trixie) run_molecule_trixie "$@" ;;
  all)
    prepare
    start=$SECONDS
    run_sanity;   echo "=== sanity: $((SECONDS - start)) s"; start=$SECONDS
    run_units;    echo "=== units: $((SECONDS - start)) s"; start=$SECONDS
    run_lint;     echo "=== lint: $((SECONDS - start)) s"; start=$SECONDS
    run_host;     echo "=== host (conntrack write path, measure counting): $((SECONDS - start)) s"; start=$SECONDS
    run_release;  echo "=== release: $((SECONDS - start)) s"; start=$SECONDS
    scripts/ee.sh; echo "=== execution environment (ansible-builder, detect in it): $((SECONDS - start)) s"; start=$SECONDS
    run_molecule; echo "=== molecule: $((SECONDS - start)) s"; start=$SECONDS
    run_molecule_trixie; echo "=== molecule on Debian 13: $((SECONDS - start)) s"
    echo "=== all tests passed"
    ;;
  *) echo "usage: $0 [sanity|units|lint|host|release|molecule [SCENARIO...]|molecule-trixie [SCENARIO...]|apps|all]" >&2; exit 2 ;;
esac
