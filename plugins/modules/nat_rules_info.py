#!/usr/bin/python
# Copyright (c) 2026 keeplocal.traffic contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: nat_rules_info
short_description: Read a gateway's port forwards (DNAT) and source NAT rules
version_added: 0.1.0
description:
  - Reads the C(nat) table with C(iptables-save -t nat) and C(ip6tables-save -t nat) (and with
    C(iptables-legacy-save) when C(iptables-save) says legacy tables exist beside its own), and the
    native nftables rules with C(nft -j list ruleset), and returns the port-forward map (public
    address and port to private address and port) and the source NAT rules in POSTROUTING.
  - Rules are followed from the built-in chains through user chains (C(-j CHAIN), nft C(jump),
    C(goto) and verdict maps); nft sets, named sets and NAT maps (C(dnat to ip daddr . tcp dport map
    { ... })) give one forward per element.
  - Read-only. Needs root (the tools read the rule set through netlink).
deprecated:
  removed_in: 1.0.0
  why: >-
    keeplocal.traffic.hairpin_facts reads every detection source in one module run, with one option
    set and one documented result.
  alternative: >-
    Use keeplocal.traffic.hairpin_facts with gather_subset=[nat_rules]; its nat_rules key holds this
    module's result, and its nat_rules_source option is this module's source.
author:
  - keeplocal.traffic contributors (@keeplocal)
options:
  source:
    description:
      - Where to read the rules from.
      - V(auto) reads both iptables and nftables and merges what they decode; rules that
        iptables-nft stores in nftables are read through C(iptables-save), which decodes them.
    type: str
    choices: [auto, iptables, nft]
    default: auto
  internal_cidrs:
    description:
      - Has no effect on the rules read. Still accepted, so that tasks which set it keep working
        until the module is removed.
    type: list
    elements: str
    default: ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', '100.64.0.0/10', '127.0.0.0/8', '::1/128', 'fc00::/7']
extends_documentation_fragment:
  - keeplocal.traffic.detect
notes:
  - Rules whose NAT target cannot be decoded (for example iptables-nft rules read through C(nft -j),
    which shows them as opaque C(xt) expressions) are reported as warnings, never guessed.
seealso:
  - module: keeplocal.traffic.hairpin_facts
"""

EXAMPLES = r"""
- name: Read the gateway's port forwards
  keeplocal.traffic.nat_rules_info:
  become: true
  register: nat

- name: Only the nftables rule set
  keeplocal.traffic.nat_rules_info:
    source: nft
  become: true
  register: nat

- name: Show the forwards whose port is translated
  ansible.builtin.debug:
    msg: "{{ nat.forwards | selectattr('port_translated') | list }}"
"""

RETURN = r"""
source:
  description: Where the rules came from; V(none) when no tool could be run.
  returned: always
  type: str
  sample: iptables
forwards:
  description: Port forwards (DNAT), one per public address, port and protocol.
  returned: always
  type: list
  elements: dict
  contains:
    proto:
      description: Protocol (V(tcp), V(udp), ...), null when the rule matches any protocol.
      type: str
      sample: tcp
    public_ip:
      description: Public address matched by the rule; null for any local address; a CIDR when the rule matches a network.
      type: str
      sample: 198.51.100.1
    public_port:
      description: Public port (the first of a range); null when any port matches.
      type: int
      sample: 80
    public_port_end:
      description: Last port of a port range, null for a single port.
      type: int
      sample: null
    private_ip:
      description: Address the connection is forwarded to.
      type: str
      sample: 192.168.1.20
    private_port:
      description: Port the connection is forwarded to (the public port when the rule keeps it).
      type: int
      sample: 80
    port_translated:
      description: Whether the private port differs from the public port.
      type: bool
      sample: false
    in_interface:
      description: Input interface the rule requires (V(!name) when negated), or null.
      type: str
      sample: null
    rule:
      description: The rule text (nft rules are rendered in nft syntax).
      type: str
      sample: -A PREROUTING -d 198.51.100.1/32 -p tcp -m tcp --dport 80 -j DNAT --to-destination 192.168.1.20:80
  sample:
    - proto: tcp
      public_ip: 198.51.100.1
      public_port: 80
      public_port_end: null
      private_ip: 192.168.1.20
      private_port: 80
      port_translated: false
      in_interface: null
      rule: -A PREROUTING -d 198.51.100.1/32 -p tcp -m tcp --dport 80 -j DNAT --to-destination 192.168.1.20:80
snat_rules:
  description: SNAT and MASQUERADE rules reached from POSTROUTING.
  returned: always
  type: list
  elements: dict
  contains:
    source:
      description: Source network (CIDR, V(!) prefix when negated), null for any.
      type: str
      sample: 192.168.1.0/24
    destination:
      description: Destination network (CIDR, V(!) prefix when negated), null for any.
      type: str
      sample: 192.168.1.20/32
    out_interface:
      description: Output interface the rule requires, or null.
      type: str
      sample: null
    ctstate_dnat:
      description: Whether the rule only matches connections that were destination-NATed.
      type: bool
      sample: true
    target:
      description: V(SNAT) or V(MASQUERADE).
      type: str
      sample: SNAT
    to_source:
      description: The SNAT address (null for MASQUERADE).
      type: str
      sample: 192.168.1.1
    rule:
      description: The rule text.
      type: str
      sample: -A POSTROUTING -s 192.168.1.0/24 -d 192.168.1.20/32 -m conntrack --ctstate DNAT -j SNAT --to-source 192.168.1.1
msg:
  description: Why no rules could be read.
  returned: when O(source) resolved to V(none)
  type: str
  sample: "iptables-save: not installed; nft: not installed. Install iptables or nftables, or run on the gateway."
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.keeplocal.traffic.plugins.module_utils._host_facts import (
    NETWORK_OPTIONS,
    nat_rules,
)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            source=dict(type='str', default='auto', choices=['auto', 'iptables', 'nft']),
            internal_cidrs=NETWORK_OPTIONS['internal_cidrs'],
        ),
        supports_check_mode=True,
    )
    module.exit_json(changed=False, **nat_rules(module, module.params['source']))


if __name__ == '__main__':
    main()
