# Copyright (c) 2026 keeplocal.traffic contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The split_dns_resolved_conflicts filter: global resolved servers the private zones cannot share."""

from __future__ import annotations

DOCUMENTATION = r'''
name: split_dns_resolved_conflicts
short_description: Global systemd-resolved servers that would also get the private zones' names
version_added: 0.1.0
author: keeplocal.traffic contributors (@keeplocal)
description:
  - The split_dns client adds the private resolvers to systemd-resolved's global scope with routing
    domains (V(~zone)). resolved asks any server of a scope's list for the domains the scope routes, so
    another server in the global list (from C(resolved.conf) or a drop-in) would get the private zones'
    names too and could answer them with the public, hairpinning address.
  - Returns those other global servers, read from the output of C(resolvectl dns); empty when the
    global scope holds only the private resolvers or nothing.
positional: _input
options:
  _input:
    description: The output of C(resolvectl dns).
    type: str
    required: true
  nameservers:
    description: The private resolvers' addresses.
    type: list
    elements: str
    required: true
'''

EXAMPLES = r'''
- name: Refuse to share the global scope
  ansible.builtin.assert:
    that: resolvectl.stdout | keeplocal.traffic.split_dns_resolved_conflicts(['192.168.1.1']) | length == 0
'''

RETURN = r'''
_value:
  description: The other global servers as resolvectl prints them (V(address), V(address:port), V(address#name)).
  type: list
  elements: str
'''

from ansible.errors import AnsibleFilterError

from ansible_collections.keeplocal.traffic.plugins.plugin_utils._zones import ZoneError, resolved_foreign_global_servers


def split_dns_resolved_conflicts(resolvectl_dns, nameservers):
    try:
        return resolved_foreign_global_servers(resolvectl_dns, nameservers)
    except ZoneError as exc:
        raise AnsibleFilterError('split_dns_resolved_conflicts: %s' % exc) from exc


class FilterModule:
    def filters(self):
        return {'split_dns_resolved_conflicts': split_dns_resolved_conflicts}
