#!/usr/bin/python
# Copyright (c) 2026 keeplocal.traffic contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: hairpin_facts
short_description: Gather everything hairpin detection needs from one host in one module run
version_added: 0.2.0
description:
  - Runs, in one process on the host, what the single-source modules return one by one, that is
    M(keeplocal.traffic.conntrack_info), M(keeplocal.traffic.nat_rules_info),
    M(keeplocal.traffic.hairpin_flows_info) (only on a host with port forwards),
    M(keeplocal.traffic.outbound_flows_info) and M(keeplocal.traffic.dns_answers_info) (only when
    O(names) are given).
  - One module run per host instead of three to five is what keeps detection close to the cost
    of plain fact gathering on a large fleet; the role C(keeplocal.traffic.hairpin_detect) uses it.
  - Which public peers are the fleet's own NAT is decided on the controller by the
    P(keeplocal.traffic.hairpin_plan#filter) filter, which knows every gateway's forwards, so no
    host needs another host's results first.
  - Only reads; never changes anything. Needs root for the NAT rules and the conntrack table.
author:
  - keeplocal.traffic contributors (@keeplocal)
options:
  names:
    description:
      - Host names of the services to resolve through the host's own resolver (see
        M(keeplocal.traffic.dns_answers_info)). Empty skips the DNS part.
    type: list
    elements: str
    default: []
  flow_limit:
    description:
      - Maximum number of single flows returned in C(hairpin_flows.flows); C(hairpin_flows.pairs)
        always counts every hairpin flow.
    type: int
    default: 100
  kernel_log:
    description:
      - Count the kernel's C(table full, dropping packet) messages (see M(keeplocal.traffic.conntrack_info)).
    type: bool
    default: true
extends_documentation_fragment:
  - keeplocal.traffic.detect
  - keeplocal.traffic.detect.internal_cidrs
  - keeplocal.traffic.detect.public_addresses
notes:
  - The conntrack table is read as M(keeplocal.traffic.hairpin_flows_info) reads it with its default
    source, over netlink first, then from C(/proc/net/nf_conntrack), then with C(conntrack -L);
    C(hairpin_flows.source) says which one answered.
  - The conntrack table is scanned with the host's own forwarded addresses added to
    O(public_addresses), so a gateway whose public side lies inside O(internal_cidrs) (carrier-grade
    NAT) still finds its hairpin flows. Clients only know such addresses when they are listed in
    O(public_addresses).
seealso:
  - module: keeplocal.traffic.conntrack_info
  - module: keeplocal.traffic.nat_rules_info
  - module: keeplocal.traffic.hairpin_flows_info
  - module: keeplocal.traffic.outbound_flows_info
  - module: keeplocal.traffic.dns_answers_info
"""

EXAMPLES = r"""
- name: Gather the detection facts of every host
  keeplocal.traffic.hairpin_facts:
    names: [app.example.test]
  become: true
  register: facts

- name: Plan the fixes on the controller
  ansible.builtin.set_fact:
    plan: >-
      {{ dict(ansible_play_hosts | zip(ansible_play_hosts | map('extract', hostvars, ['facts'])))
         | keeplocal.traffic.hairpin_plan }}
  run_once: true
"""

RETURN = r"""
addresses:
  description: The host's own addresses (no loopback, no link-local).
  returned: always
  type: list
  elements: str
  sample: [192.168.1.10]
conntrack:
  description: What M(keeplocal.traffic.conntrack_info) returns.
  returned: always
  type: dict
nat_rules:
  description: What M(keeplocal.traffic.nat_rules_info) returns.
  returned: always
  type: dict
hairpin_flows:
  description: What M(keeplocal.traffic.hairpin_flows_info) returns.
  returned: when the host has port forwards
  type: dict
outbound_flows:
  description: What M(keeplocal.traffic.outbound_flows_info) returns.
  returned: always
  type: dict
dns_answers:
  description: What M(keeplocal.traffic.dns_answers_info) returns.
  returned: when O(names) are given
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.keeplocal.traffic.plugins.module_utils._host_facts import (
    NETWORK_OPTIONS,
    check_names,
    conntrack_health,
    dns_answers,
    hairpin_flows,
    nat_rules,
    networks,
    outbound_flows,
)
from ansible_collections.keeplocal.traffic.plugins.module_utils._nat_rules import forwarded_addresses


def main():
    module = AnsibleModule(
        argument_spec=dict(
            names=dict(type='list', elements='str', default=[]),
            flow_limit=dict(type='int', default=100),
            kernel_log=dict(type='bool', default=True),
            **NETWORK_OPTIONS
        ),
        supports_check_mode=True,
    )
    params = module.params
    internal, public = networks(module)
    names = check_names(module, params['names'])
    if params['flow_limit'] < 0:
        module.fail_json(msg='flow_limit must be 0 or more, got %d' % params['flow_limit'])

    result = dict(changed=False)
    result['conntrack'] = conntrack_health(module, kernel_log=params['kernel_log'])
    result['nat_rules'] = nat_rules(module, internal)
    forwards = result['nat_rules']['forwards']
    if forwards:
        scan_public = sorted(set(public + forwarded_addresses(forwards)))
        result['hairpin_flows'] = hairpin_flows(module, internal, scan_public, limit=params['flow_limit'])
    result['outbound_flows'] = outbound_flows(module, internal, public)
    result['addresses'] = result['outbound_flows']['local_addresses']
    if names:
        result['dns_answers'] = dns_answers(names, internal, public)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
