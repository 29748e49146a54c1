#!/bin/sh
# snapshot.sh OUT: every directory, file and link under the trees a remediation may touch, with its
# type, mode, owner and link target, and every file's content hash; two snapshots compare with diff.
set -u
{
  find /etc /usr/local /opt /var/lib/keeplocal -printf '%y %m %u:%g %p %l\n' 2>/dev/null
  find /etc /usr/local /opt /var/lib/keeplocal -type f -exec sha256sum {} + 2>/dev/null
} | LC_ALL=C sort >"$1"
