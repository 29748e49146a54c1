#!/usr/bin/python
# Copyright (c) 2026 keeplocal.traffic contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: hairpin_flows_info
short_description: Find hairpin flows in a gateway's connection tracking table
version_added: 0.1.0
description:
  - Reads the conntrack table of the host's network namespace, from C(/proc/net/nf_conntrack) when
    the kernel provides it, else from C(conntrack -L -o extended) (same text format), and returns the
    flows that hairpin through this gateway.
  - A flow is hairpin when its original source is internal, its original destination is not
    internal (or is one of O(public_addresses)), and its reply source is internal, that is the
    destination was NATed to an internal backend.
  - The table is streamed; memory grows with the hairpin flows, not with the table size.
  - A host without a readable table returns RV(available=false) with a message; the module does not fail.
author:
  - keeplocal.traffic contributors (@keeplocal)
options:
  source:
    description:
      - Where to read the table. V(auto) uses V(proc) when C(/proc/net/nf_conntrack) exists and is
        readable, else V(conntrack).
    type: str
    choices: [auto, proc, conntrack]
    default: auto
  limit:
    description:
      - Maximum number of flows returned in RV(flows). RV(pairs) always counts every hairpin flow.
    type: int
    default: 100
extends_documentation_fragment:
  - keeplocal.traffic.detect
  - keeplocal.traffic.detect.internal_cidrs
  - keeplocal.traffic.detect.public_addresses
notes:
  - Needs root to read the table. Shows the table of the network namespace the module runs in.
  - With O(source=conntrack) the dump is written to the module's temporary directory (about 230 bytes per entry)
    and read back line by line; the file is removed at the end.
seealso:
  - module: keeplocal.traffic.nat_rules_info
"""

EXAMPLES = r"""
- name: Find hairpin flows on the gateway
  keeplocal.traffic.hairpin_flows_info:
    public_addresses: [198.51.100.1]
  become: true
  register: hairpin

- name: Show the hairpin pairs
  ansible.builtin.debug:
    msg: "{{ hairpin.pairs }}"
  when: hairpin.available
"""

RETURN = r"""
available:
  description: Whether a conntrack table could be read.
  returned: always
  type: bool
  sample: true
msg:
  description: Why the table could not be read, and what to do.
  returned: when RV(available) is false
  type: str
  sample: nf_conntrack is not loaded in this kernel/network namespace, so there is no table to read.
source:
  description: V(proc) (C(/proc/net/nf_conntrack)) or V(conntrack) (C(conntrack -L -o extended)); null when unavailable.
  returned: always
  type: str
  sample: proc
total_entries:
  description: Entries in the table.
  returned: always
  type: int
  sample: 57
hairpin_entries:
  description: Hairpin flows in the table.
  returned: always
  type: int
  sample: 3
flows:
  description: Hairpin flows, at most O(limit), in table order.
  returned: always
  type: list
  elements: dict
  sample:
    - proto: tcp
      client_ip: 192.168.1.10
      client_port: 41001
      public_ip: 198.51.100.1
      public_port: 80
      backend_ip: 192.168.1.20
      backend_port: 80
      snat_ip: 192.168.1.1
      state: TIME_WAIT
      assured: true
pairs:
  description: Hairpin flows aggregated by client, protocol, public address and port, backend address and port; complete.
  returned: always
  type: list
  elements: dict
  sample:
    - client_ip: 192.168.1.10
      proto: tcp
      public_ip: 198.51.100.1
      public_port: 80
      backend_ip: 192.168.1.20
      backend_port: 80
      snat: true
      connections: 3
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.keeplocal.traffic.plugins.module_utils._host_facts import (
    NETWORK_OPTIONS,
    hairpin_flows,
    networks,
)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            source=dict(type='str', default='auto', choices=['auto', 'proc', 'conntrack']),
            limit=dict(type='int', default=100),
            **NETWORK_OPTIONS
        ),
        supports_check_mode=True,
    )
    internal, public = networks(module)
    result = hairpin_flows(module, internal, public, module.params['source'], module.params['limit'])
    module.exit_json(changed=False, **result)


if __name__ == '__main__':
    main()
