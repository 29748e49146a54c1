#!/usr/bin/env bash
# Host prerequisites for the lab and the tests (Debian 12). Idempotent: installs only what is missing.
set -euo pipefail
# nginx: the unit tests run nginx -T and nginx -t on real configurations (the daemon is not needed).
# prometheus: promtool checks and tests the hairpin_watch alerting rules; prometheus-node-exporter:
# the hairpin_watch_e2e target starts both binaries itself, in a network namespace.
# puma: the unix_sockets rewrite of Puma's command line runs against the real server (units).
packages=(podman runc netavark uidmap slirp4netns fuse-overlayfs debootstrap conntrack iptables
          nftables dnsutils iproute2 kmod chromium shellcheck bc nginx prometheus prometheus-node-exporter
          puma)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "host-setup: installing ${missing[*]} (apt-get, a few minutes on a fresh machine; once)"
  start=$SECONDS
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # Installed here for its binary only: the service the package starts stays off.
  if [[ " ${missing[*]} " == *" nginx "* ]]; then systemctl disable --now nginx >/dev/null 2>&1 || true; fi
  if [[ " ${missing[*]} " == *" prometheus "* ]]; then systemctl disable --now prometheus >/dev/null 2>&1 || true; fi
  if [[ " ${missing[*]} " == *" prometheus-node-exporter "* ]]; then
    systemctl disable --now prometheus-node-exporter >/dev/null 2>&1 || true
  fi
  echo "host-setup: installed in $((SECONDS - start)) s"
fi
# The gateway tests need conntrack in the kernel.
modprobe nf_conntrack 2>/dev/null || true
echo "host-setup: ok"
