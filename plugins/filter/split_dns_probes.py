# Copyright (c) 2026 keeplocal.traffic contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The split_dns_probes filter: queries that prove a server answers the rendered zones."""

from __future__ import annotations

DOCUMENTATION = r'''
name: split_dns_probes
short_description: DNS queries proving a split-horizon server serves the rendered zone files
version_added: 0.1.0
author: keeplocal.traffic contributors (@keeplocal)
description:
  - Builds the O(keeplocal.traffic.coredns_probe#module:probes) for the zone files of
    P(keeplocal.traffic.split_dns_zone_files#filter).
  - From a listen address inside the internal CIDRs to itself, the internal view must answer each
    zone's SOA with the internal file's serial. From a listen address outside them, the public view
    must answer the public file's serial, or REFUSED for a private-only zone.
  - With neither kind of address, one plain query per zone proves the server answers at all.
positional: _input, listen_addresses, internal_cidrs
options:
  _input:
    description: The zone files (C(zone), C(view), C(serial)).
    type: list
    elements: dict
    required: true
  listen_addresses:
    description: The server's addresses (its listen addresses, or the host's addresses when it listens on all).
    type: list
    elements: str
    required: true
  internal_cidrs:
    description: The internal client networks.
    type: list
    elements: str
    required: true
  port:
    description: The port to query.
    type: int
    default: 53
'''

EXAMPLES = r'''
- name: Prove the live server serves the new zones
  keeplocal.traffic.coredns_probe:
    probes: "{{ zone_files | keeplocal.traffic.split_dns_probes(['192.168.1.1', '198.51.100.1'], ['192.168.1.0/24']) }}"
'''

RETURN = r'''
_value:
  description: Probes (C(server), C(source), C(port), C(name), C(type), C(expect_rcode), C(expect_serial)).
  type: list
  elements: dict
'''

from ansible.errors import AnsibleFilterError

from ansible_collections.keeplocal.traffic.plugins.plugin_utils._zones import build_probes


def split_dns_probes(zone_files, listen_addresses, internal_cidrs, port=53):
    try:
        return build_probes(zone_files, listen_addresses, internal_cidrs, int(port))
    except (KeyError, ValueError) as exc:
        raise AnsibleFilterError('split_dns_probes: %s' % exc) from exc


class FilterModule:
    def filters(self):
        return {'split_dns_probes': split_dns_probes}
