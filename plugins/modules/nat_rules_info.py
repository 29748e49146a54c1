#!/usr/bin/python
# Copyright (c) 2026 keeplocal.traffic contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: nat_rules_info
short_description: Read a gateway's port forwards (DNAT) and hairpin source NAT rules
version_added: 0.1.0
description:
  - Reads the C(nat) table with C(iptables-save -t nat) and C(ip6tables-save -t nat), and the
    native nftables rules with C(nft -j list ruleset), and returns the port-forward map (public
    address and port to private address and port) and the source NAT rules in POSTROUTING.
  - Rules are followed from the built-in chains through user chains (C(-j CHAIN), nft C(jump)).
  - Decides whether hairpin NAT works, that is whether some SNAT or MASQUERADE rule would rewrite a
    connection from an internal client to a forward's private address.
  - Read-only. Needs root (the tools read the rule set through netlink).
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
      - Internal (private) address ranges, used to decide whether an SNAT rule's source covers
        internal clients.
    type: list
    elements: str
    default: ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', '100.64.0.0/10', '127.0.0.0/8', '::1/128', 'fc00::/7']
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in diff mode when in check mode).
    support: none
  platform:
    description: Target OS/families that can be operated against.
    support: full
    platforms: posix
notes:
  - Rules whose NAT target cannot be decoded (for example iptables-nft rules read through C(nft -j),
    which shows them as opaque C(xt) expressions) are reported as warnings, never guessed.
seealso:
  - module: keeplocal.traffic.hairpin_flows_info
"""

EXAMPLES = r"""
- name: Read the gateway's port forwards
  keeplocal.traffic.nat_rules_info:
  become: true
  register: nat

- name: Only the nftables rule set, with a carrier-grade NAT range counted as internal
  keeplocal.traffic.nat_rules_info:
    source: nft
    internal_cidrs: [10.0.0.0/8, 100.64.0.0/10]
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
hairpin_capable:
  description:
    - Whether some SNAT/MASQUERADE rule without an output interface matches internal sources going to
      a forward's private address (so hairpinned connections get answered through the gateway).
  returned: always
  type: bool
  sample: true
msg:
  description: Why no rules could be read.
  returned: when O(source) resolved to V(none)
  type: str
  sample: "iptables-save: not installed; nft: not installed. Install iptables or nftables, or run on the gateway."
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.keeplocal.traffic.plugins.module_utils._addresses import (
    DEFAULT_INTERNAL_CIDRS,
    InternalNetworks,
)
from ansible_collections.keeplocal.traffic.plugins.module_utils._nat_rules import (
    merge,
    parse_iptables_save,
    parse_nft_json,
)


def _run(module, tool, args, problems):
    path = module.get_bin_path(tool)
    if path is None:
        problems.append('%s: not installed' % tool)
        return None
    rc, out, err = module.run_command([path] + args)
    if rc != 0:
        text = (err or out).strip().splitlines()
        detail = text[-1] if text else 'exit code %d' % rc
        if any(word in detail for word in ('ermission denied', 'not permitted', 'must be root')):
            detail += ' (run as root: become: true)'
        problems.append('%s: %s' % (tool, detail))
        return None
    return out


def _has_rules(result):
    return bool(result and (result['forwards'] or result['snat_rules']))


def _dedupe(result):
    seen = set()
    forwards = []
    for forward in result['forwards']:
        key = tuple((k, v) for k, v in sorted(forward.items()) if k != 'rule')
        if key not in seen:
            seen.add(key)
            forwards.append(forward)
    result['forwards'] = forwards
    return result


def read_iptables(module, internal, problems):
    results = []
    ran = False
    for tool in ('iptables-save', 'ip6tables-save'):
        if tool == 'ip6tables-save' and module.get_bin_path(tool) is None:
            continue
        out = _run(module, tool, ['-t', 'nat'], problems)
        if out is not None:
            ran = True
            results.append(parse_iptables_save(out, internal))
    return merge(results) if ran else None


def read_nft(module, internal, problems):
    out = _run(module, 'nft', ['-j', 'list', 'ruleset'], problems)
    if out is None:
        return None
    try:
        return parse_nft_json(out, internal)
    except ValueError as exc:
        problems.append('nft: unreadable JSON (%s)' % exc)
        return None


def main():
    module = AnsibleModule(
        argument_spec=dict(
            source=dict(type='str', default='auto', choices=['auto', 'iptables', 'nft']),
            internal_cidrs=dict(type='list', elements='str', default=list(DEFAULT_INTERNAL_CIDRS)),
        ),
        supports_check_mode=True,
    )
    try:
        internal = InternalNetworks(module.params['internal_cidrs'])
    except ValueError as exc:
        module.fail_json(msg='internal_cidrs: %s. Give networks in CIDR notation.' % exc)

    source = module.params['source']
    problems = []
    ipt = read_iptables(module, internal, problems) if source in ('auto', 'iptables') else None
    nft = read_nft(module, internal, problems) if source in ('auto', 'nft') else None

    if source == 'auto' and ipt is not None:
        # iptables-nft rules appear in nft as opaque xt targets: iptables-save decoded them.
        if nft is not None:
            nft['unparsed'] = []
        used = [r for r in (ipt, nft) if _has_rules(r)] or [ipt]
        name = 'iptables' if _has_rules(ipt) or not _has_rules(nft) else 'nft'
    elif ipt is not None:
        used, name = [ipt], 'iptables'
    elif nft is not None:
        used, name = [nft], 'nft'
    else:
        used, name = [], 'none'

    result = _dedupe(merge(used))
    for text in result.pop('unparsed'):
        module.warn('NAT rule not decoded, left out: %s' % text)
    for problem in problems:
        if name != 'none' and 'not installed' not in problem:
            module.warn(problem)
    output = dict(changed=False, source=name, **result)
    if name == 'none':
        output['msg'] = '; '.join(problems) + '. Install iptables or nftables, run as root, or skip this host.'
    module.exit_json(**output)


if __name__ == '__main__':
    main()
