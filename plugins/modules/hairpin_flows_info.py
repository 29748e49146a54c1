#!/usr/bin/python
# Copyright (c) 2026 keeplocal.traffic contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: hairpin_flows_info
short_description: Find hairpin flows in a gateway's connection tracking table
version_added: 0.1.0
description:
  - Reads the conntrack table of the host's network namespace and returns the flows that hairpin
    through this gateway. It asks the kernel over netlink (ctnetlink) for the DNATed entries only,
    the only ones that can be hairpin, so the cost follows the NATed flows rather than the table
    size; where netlink is not allowed it reads C(/proc/net/nf_conntrack), else
    C(conntrack -L -o extended) (same text format). RV(source) says which one answered.
  - A flow is hairpin when its original source is internal, its original destination is not
    internal (or is one of O(public_addresses)), and its reply source is internal, that is the
    destination was NATed to an internal backend.
  - The table is streamed from every source; memory grows with the hairpin flows, not with the table size.
  - A host without a readable table returns RV(available=false) with a message; the module does not fail.
deprecated:
  removed_in: 1.0.0
  why: >-
    keeplocal.traffic.hairpin_facts reads every detection source in one module run, with one option
    set and one documented result.
  alternative: >-
    Use keeplocal.traffic.hairpin_facts with gather_subset=[hairpin_flows]; its hairpin_flows key
    holds this module's result, its hairpin_flows_source option is this module's source, its
    flow_limit this module's limit.
author:
  - keeplocal.traffic contributors (@keeplocal)
options:
  source:
    description:
      - Where to read the table. V(netlink) dumps the DNATed entries over a ctnetlink socket (the
        kernel filters them on Linux 5.19 and later; older kernels send every entry and the module
        filters, see RV(kernel_filter)). V(proc) reads C(/proc/net/nf_conntrack). V(conntrack) runs
        C(conntrack -L -o extended).
      - V(auto) tries V(netlink), then V(proc), then V(conntrack), and uses the first that answers.
        On a host with IPVS (C(/proc/net/ip_vs) exists) it starts with V(proc).
    type: str
    choices: [auto, netlink, proc, conntrack]
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
  - Needs root to read the table (netlink needs CAP_NET_ADMIN). Shows the table of the network namespace
    the module runs in.
  - V(netlink) sees the entries whose destination the kernel's NAT rewrote (status IPS_DST_NAT, what
    iptables and nftables DNAT rules set). Entries rewritten otherwise, by IPVS or inserted with
    C(conntrack -I), lack that status; read those tables with V(proc) or V(conntrack).
  - With O(source=conntrack) the dump is written to the module's temporary directory (about 230 bytes per entry)
    and read back line by line; the file is removed at the end.
seealso:
  - module: keeplocal.traffic.hairpin_facts
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
  description: >-
    Where the table was read: V(netlink) (a ctnetlink dump), V(proc) (C(/proc/net/nf_conntrack)) or
    V(conntrack) (C(conntrack -L -o extended)); null when unavailable.
  returned: always
  type: str
  sample: netlink
kernel_filter:
  description: >-
    Whether the kernel sent only the DNATed entries (V(source=netlink) on Linux 5.19 and later). False
    when the module read every entry and filtered it itself (V(proc), V(conntrack), or a kernel that
    ignores the netlink status filter).
  returned: always
  type: bool
  sample: true
total_entries:
  description: Entries in the table (with V(source=netlink), the kernel's count for this network namespace).
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
            source=dict(type='str', default='auto', choices=['auto', 'netlink', 'proc', 'conntrack']),
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
