#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026 keeplocal.traffic contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: conntrack_info
short_description: Report the connection-tracking table's size, use, drops and memory
version_added: 0.1.0
description:
  - Reads C(/proc/sys/net/netfilter/nf_conntrack_count), C(nf_conntrack_max), C(nf_conntrack_buckets)
    and the per-CPU statistics in C(/proc/net/stat/nf_conntrack) of the network namespace it runs in.
  - Says whether the limits can be written here. They can only be written in the initial network
    namespace; the kernel makes C(nf_conntrack_max) read-only (mode 0444) in every other one, which is
    what this module checks, together with a read-only mount and the permission to write.
  - Counts the kernel's C(table full, dropping packet) messages in C(dmesg), or the kernel journal
    when C(dmesg) is not readable, as a best effort (they are rate-limited, so the count is a lower
    bound, and the kernel log is shared by all namespaces).
  - On a kernel without nf_conntrack (or where it is not loaded) returns O(ignore:available=false) and does not fail.
  - Only reads; never changes anything.
author:
  - keeplocal.traffic contributors (@keeplocal)
options:
  bytes_per_entry:
    description:
      - Kernel memory assumed per table entry for the memory estimate (the slab object plus typical
        extensions; 8 bytes per hash bucket are added).
    type: int
    default: 320
  kernel_log:
    description:
      - Count the kernel's C(table full, dropping packet) messages in C(dmesg) or C(journalctl -k).
    type: bool
    default: true
extends_documentation_fragment:
  - keeplocal.traffic.detect
notes:
  - Values are per network namespace (the count and the statistics) except nf_conntrack_max and the
    hash size, which are global and set from the initial namespace.
seealso:
  - module: keeplocal.traffic.conntrack_limits
"""

EXAMPLES = r"""
- name: Read the gateway's conntrack health
  keeplocal.traffic.conntrack_info:
  register: conntrack

- name: Warn when the table is more than 70 % full
  ansible.builtin.debug:
    msg: "conntrack {{ conntrack.count }} / {{ conntrack.max }} ({{ (conntrack.usage * 100) | round(1) }} %)"
  when: conntrack.available and conntrack.usage > 0.7
"""

RETURN = r"""
available:
  description: nf_conntrack is present in this kernel and namespace.
  returned: always
  type: bool
  sample: true
count:
  description: Entries in the table now (nf_conntrack_count).
  returned: always
  type: int
  sample: 123
max:
  description: The table's limit (nf_conntrack_max).
  returned: always
  type: int
  sample: 262144
buckets:
  description: Hash buckets (nf_conntrack_buckets, the module parameter hashsize).
  returned: always
  type: int
  sample: 262144
usage:
  description: count / max.
  returned: always
  type: float
  sample: 0.0005
initial_netns:
  description: This is the initial network namespace (the host), where the limits can be set; null when nf_conntrack is absent.
  returned: always
  type: bool
  sample: false
writable:
  description: nf_conntrack_max can be written here (initial namespace, read-write mount, permission).
  returned: always
  type: bool
  sample: false
stats:
  description:
    - The counters of /proc/net/stat/nf_conntrack summed over CPUs (column names as the kernel prints them).
    - C(entries) is the table size, the same on every row, so it is taken as is rather than summed.
  returned: always
  type: dict
  sample: {entries: 123, found: 0, invalid: 3, insert: 0, insert_failed: 0, drop: 0, early_drop: 0, search_restart: 0}
per_cpu:
  description: One dict per CPU row of /proc/net/stat/nf_conntrack, with C(cpu) (the row index) and every column.
  returned: always
  type: list
  elements: dict
  sample: [{cpu: 0, entries: 123, invalid: 3, drop: 0}]
memory_bytes:
  description: Estimated kernel memory now, count x O(bytes_per_entry) + buckets x 8.
  returned: always
  type: int
  sample: 2136512
max_memory_bytes:
  description: Estimated kernel memory of a full table, max x O(bytes_per_entry) + buckets x 8.
  returned: always
  type: int
  sample: 85983232
table_full_messages:
  description: Kernel messages "table full, dropping packet" found (a lower bound); null when no kernel log was readable.
  returned: always
  type: int
  sample: 0
accounting:
  description:
    - Conntrack accounting (C(nf_conntrack_acct), per network namespace) is on, so new entries count their packets
      and bytes; null when it cannot be read or nf_conntrack is absent.
    - The C(keeplocal.traffic.conntrack_tuning) role turns it on with C(conntrack_tuning_accounting=true).
  returned: always
  type: bool
  sample: false
kernel_log:
  description: Where table_full_messages was counted, C(dmesg) or C(journal); null when none was readable or O(kernel_log=false).
  returned: always
  type: str
  sample: dmesg
message:
  description: Why the limits cannot be written here, or why there is no table; null when writable.
  returned: always
  type: str
  sample: >-
    this is not the initial network namespace (a container or a netns): nf_conntrack_max and the hash size
    are read-only here and must be set on the host
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.keeplocal.traffic.plugins.module_utils._host_facts import conntrack_health


def main():
    module = AnsibleModule(
        argument_spec=dict(
            bytes_per_entry=dict(type='int', default=320),
            kernel_log=dict(type='bool', default=True),
        ),
        supports_check_mode=True,
    )
    result = conntrack_health(module, module.params['bytes_per_entry'], module.params['kernel_log'])
    module.exit_json(changed=False, **result)


if __name__ == '__main__':
    main()
