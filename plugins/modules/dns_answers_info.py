#!/usr/bin/python
# Copyright (c) 2026 keeplocal.traffic contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: dns_answers_info
short_description: Resolve names through the host's own resolver and flag answers that are the fleet's public addresses
version_added: 0.1.0
description:
  - Resolves each of O(names) with the host's resolver (C(getaddrinfo), so C(/etc/hosts),
    C(/etc/nsswitch.conf), systemd-resolved and C(/etc/resolv.conf) all apply, as for the services
    themselves) and says which answers are public addresses of the fleet's own NAT (the root cause of
    hairpin traffic) and which are internal.
  - Also returns the name servers listed in C(/etc/resolv.conf).
  - A name that does not resolve is reported with an error message; the module does not fail.
author:
  - keeplocal.traffic contributors (@keeplocal)
options:
  names:
    description:
      - Host names to resolve.
    type: list
    elements: str
    required: true
  public_addresses:
    description:
      - Public addresses of the fleet (for example the gateways' forwarded addresses).
    type: list
    elements: str
    default: []
  internal_cidrs:
    description:
      - Internal (private) address ranges.
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
seealso:
  - module: keeplocal.traffic.outbound_flows_info
"""

EXAMPLES = r"""
- name: Check what the service names resolve to on this host
  keeplocal.traffic.dns_answers_info:
    names: [app.example.test, db.example.test]
    public_addresses: [198.51.100.1]
  register: dns

- name: Names that still resolve to the gateway's public address
  ansible.builtin.debug:
    msg: "{{ dns.answers | selectattr('public_match') | map(attribute='name') | list }}"
"""

RETURN = r"""
resolvers:
  description: Name servers from C(/etc/resolv.conf), in order.
  returned: always
  type: list
  elements: str
  sample: [198.51.100.53]
answers:
  description: One entry per name, in the order of O(names).
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: The name.
      type: str
      sample: app.example.test
    addresses:
      description: The addresses the resolver returned (IPv4 and IPv6, unique, in resolver order).
      type: list
      elements: str
      sample: [198.51.100.1]
    public_match:
      description: Whether an address is one of O(public_addresses).
      type: bool
      sample: true
    private:
      description: Whether the name resolved and every address is inside O(internal_cidrs).
      type: bool
      sample: false
    error:
      description: The resolver's error when the name did not resolve, else null.
      type: str
      sample: null
"""

import socket

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.keeplocal.traffic.plugins.module_utils._addresses import (
    DEFAULT_INTERNAL_CIDRS,
    InternalNetworks,
    normalize_ip,
)

RESOLV_CONF = '/etc/resolv.conf'


def read_resolvers(path):
    servers = []
    try:
        with open(path, 'r') as handle:
            lines = handle.read().splitlines()
    except OSError:
        return servers
    for line in lines:
        fields = line.split()
        if len(fields) >= 2 and fields[0] == 'nameserver':
            try:
                servers.append(normalize_ip(fields[1]))
            except ValueError:
                servers.append(fields[1])
    return servers


def resolve(name):
    """(addresses, error) for one name through getaddrinfo."""
    try:
        infos = socket.getaddrinfo(name, None, 0, socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        return [], str(exc)
    addresses = []
    for info in infos:
        addr = normalize_ip(info[4][0])
        if addr not in addresses:
            addresses.append(addr)
    return addresses, None


def main():
    module = AnsibleModule(
        argument_spec=dict(
            names=dict(type='list', elements='str', required=True),
            public_addresses=dict(type='list', elements='str', default=[]),
            internal_cidrs=dict(type='list', elements='str', default=list(DEFAULT_INTERNAL_CIDRS)),
        ),
        supports_check_mode=True,
    )
    try:
        internal = InternalNetworks(module.params['internal_cidrs'])
    except ValueError as exc:
        module.fail_json(msg='internal_cidrs: %s. Give networks in CIDR notation.' % exc)
    public = set()
    for addr in module.params['public_addresses']:
        try:
            public.add(normalize_ip(addr))
        except ValueError:
            module.fail_json(msg='public_addresses: %r is not an IP address (give addresses such as 198.51.100.1, no ports)' % addr)
    for name in module.params['names']:
        if not name or not name.strip() or ' ' in name.strip():
            module.fail_json(msg='names: %r is not a host name' % name)

    answers = []
    for name in module.params['names']:
        addresses, error = resolve(name.strip())
        answers.append({
            'name': name.strip(),
            'addresses': addresses,
            'public_match': any(addr in public for addr in addresses),
            'private': bool(addresses) and all(internal.contains(addr) for addr in addresses),
            'error': error,
        })
    module.exit_json(changed=False, resolvers=read_resolvers(RESOLV_CONF), answers=answers)


if __name__ == '__main__':
    main()
