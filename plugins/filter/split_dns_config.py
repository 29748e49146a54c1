# Copyright (c) 2026 keeplocal.traffic contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The split_dns_config filter: validate the split_dns role's variables and merge the private names."""

from __future__ import annotations

DOCUMENTATION = r'''
name: split_dns_config
short_description: Validate split-horizon DNS zones and merge the names answered privately into them
version_added: 0.1.0
author: keeplocal.traffic contributors (@keeplocal)
description:
  - Checks zone names, records (A, AAAA, CNAME, SRV), TTLs, internal CIDRs, listen addresses and
    upstream resolvers, and reports every problem with the variable path that holds it.
  - Adds the C(names) as records. A public name inside a zone of the input becomes
    a record of that zone; any other name gets a zone of its own holding just that name, so the
    private resolver never shadows names it does not know.
  - Explicit records win over C(names). One name cannot get two different private answers.
  - Used by the C(keeplocal.traffic.split_dns) role; its preflight fails on C(errors).
positional: _input
options:
  _input:
    description:
      - The zones (C(split_dns_zones)). Each zone is a dict with C(name), optional C(ttl), C(records),
        C(public_records) (the answers for clients outside the internal CIDRs; leave it out for a
        private-only zone, whose outside queries are refused), C(extra_lines), C(nameserver),
        C(hostmaster), C(refresh), C(retry), C(expire), C(negative_ttl).
      - A record is C(name) (V(@), relative, or absolute ending with a dot), C(type) (A, AAAA, CNAME, SRV),
        C(value), optional C(ttl); SRV takes C(priority), C(weight), C(port), C(target) or a
        C(value) of V(PRIORITY WEIGHT PORT TARGET).
    type: list
    elements: dict
    required: true
  names:
    description:
      - Names to answer privately, C([{name, private, public}]) (C(split_dns_names)); C(public) is optional.
      - The plan reader (C(keeplocal.traffic.plan_assignments)) computes them from the plan's automatic split_dns recommendations.
    type: list
    elements: dict
  internal_cidrs:
    description: Networks of the internal clients (network addresses, no host bits).
    type: list
    elements: str
  listen_addresses:
    description: Addresses CoreDNS binds to; empty means all.
    type: list
    elements: str
  upstreams:
    description: Resolvers for everything else, C(IP) or C(IP:PORT) or C([IPv6]:PORT).
    type: list
    elements: str
  listen_port:
    description: The DNS port, used to recognise an upstream that is this server itself.
    type: int
    default: 53
  names_public_view:
    description: Give zones made for C(names) a public view answering the public address (else outside queries are refused).
    type: bool
    default: true
  zone_defaults:
    description: Defaults for zone keys (C(ttl), C(refresh), C(retry), C(expire), C(negative_ttl), C(nameserver), C(hostmaster)).
    type: dict
  client_nameservers:
    description: The private resolver's addresses as clients reach them.
    type: list
    elements: str
  client_domains:
    description: The clients' routing domains; empty means the zone names.
    type: list
    elements: str
'''

EXAMPLES = r'''
- name: Validate the zones and merge the private names
  ansible.builtin.set_fact:
    split_dns_checked: >-
      {{ split_dns_zones | keeplocal.traffic.split_dns_config(names=[{'name': 'app.example.test', 'private': '192.168.1.20'}],
         internal_cidrs=['192.168.1.0/24'],
         upstreams=['198.51.100.53']) }}

- name: Fail on any problem
  ansible.builtin.assert:
    that: split_dns_checked.errors | length == 0
    fail_msg: "{{ split_dns_checked.errors | join('; ') }}"
'''

RETURN = r'''
_value:
  description: The checked configuration.
  type: dict
  contains:
    zones:
      description: Zones sorted by name, records normalised (owner relative to the zone, targets absolute) and sorted.
      type: list
      elements: dict
    domains:
      description: The zone names.
      type: list
      elements: str
    client_nameservers:
      description: The private resolver's addresses, normalised.
      type: list
      elements: str
    client_domains:
      description: The clients' routing domains (O(client_domains), else the zone names).
      type: list
      elements: str
    internal_cidrs:
      description: The internal networks, normalised.
      type: list
      elements: str
    listen_addresses:
      description: The listen addresses, normalised.
      type: list
      elements: str
    upstreams:
      description: The upstreams as CoreDNS C(forward) takes them.
      type: list
      elements: str
    names_applied:
      description: One entry per name turned into records (C(name), C(zone), C(private), C(public)).
      type: list
      elements: dict
    names_skipped:
      description: Names left out (an explicit record wins), with the reason.
      type: list
      elements: dict
    errors:
      description: One message per problem, each naming the variable that holds it.
      type: list
      elements: str
'''

from ansible_collections.keeplocal.traffic.plugins.plugin_utils._zones import build_config


def split_dns_config(zones, names=None, internal_cidrs=None, listen_addresses=None, upstreams=None, listen_port=53,
                     names_public_view=True, zone_defaults=None, client_nameservers=None, client_domains=None):
    return build_config(zones, names=names, internal_cidrs=internal_cidrs, listen_addresses=listen_addresses,
                        upstreams=upstreams, listen_port=int(listen_port), names_public_view=bool(names_public_view),
                        zone_defaults=zone_defaults, client_nameservers=client_nameservers, client_domains=client_domains)


class FilterModule:
    def filters(self):
        return {'split_dns_config': split_dns_config}
