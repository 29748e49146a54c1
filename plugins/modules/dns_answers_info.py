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
deprecated:
  removed_in: 1.0.0
  why: >-
    keeplocal.traffic.hairpin_facts reads every detection source in one module run, with one option
    set and one documented result.
  alternative: >-
    Use keeplocal.traffic.hairpin_facts with gather_subset=[dns_answers] and names; its dns_answers
    key holds this module's result.
author:
  - keeplocal.traffic contributors (@keeplocal)
options:
  names:
    description:
      - Host names to resolve.
    type: list
    elements: str
    required: true
extends_documentation_fragment:
  - keeplocal.traffic.detect
  - keeplocal.traffic.detect.internal_cidrs
  - keeplocal.traffic.detect.public_addresses
seealso:
  - module: keeplocal.traffic.hairpin_facts
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

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.keeplocal.traffic.plugins.module_utils._host_facts import (
    NETWORK_OPTIONS,
    check_names,
    dns_answers,
    networks,
)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            names=dict(type='list', elements='str', required=True),
            **NETWORK_OPTIONS
        ),
        supports_check_mode=True,
    )
    internal, public = networks(module)
    names = check_names(module, module.params['names'])
    module.exit_json(changed=False, **dns_answers(names, internal, public))


if __name__ == '__main__':
    main()
