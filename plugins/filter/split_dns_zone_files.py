# Copyright (c) 2026 keeplocal.traffic contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The split_dns_zone_files filter: zone file texts with content-hash based SOA serials."""

from __future__ import annotations

DOCUMENTATION = r'''
name: split_dns_zone_files
short_description: Render split-horizon zone files whose SOA serial changes only with their content
version_added: 0.1.0
author: keeplocal.traffic contributors (@keeplocal)
description:
  - Renders one zone file per zone and view (V(internal), and V(public) when the zone has public records).
  - Each file carries the SHA-256 of its content (all but the serial). When the previous file has the
    same hash its serial is kept, so a run without changes changes nothing; otherwise the serial
    becomes C(YYYYMMDD00) or the previous serial plus one, whichever is higher.
positional: _input
options:
  _input:
    description: The C(zones) of P(keeplocal.traffic.split_dns_config#filter)'s result.
    type: list
    elements: dict
    required: true
  previous:
    description: The current zone files on the server, file name (for example V(db.example.test.internal)) to text.
    type: dict
  today:
    description: The date for new serials, C(YYYYMMDD); defaults to today (UTC).
    type: str
'''

EXAMPLES = r'''
- name: Render the zone files
  ansible.builtin.set_fact:
    zone_files: "{{ checked.zones | keeplocal.traffic.split_dns_zone_files(previous=current_files) }}"
'''

RETURN = r'''
_value:
  description: One entry per file.
  type: list
  elements: dict
  contains:
    file:
      description: File name, C(db.ZONE.VIEW).
      type: str
    zone:
      description: Zone name.
      type: str
    view:
      description: V(internal) or V(public).
      type: str
    serial:
      description: The SOA serial written.
      type: int
    content:
      description: The zone file text.
      type: str
'''

from ansible.errors import AnsibleFilterError

from ansible_collections.keeplocal.traffic.plugins.plugin_utils._zones import ZoneError, render_zone_files


def split_dns_zone_files(zones, previous=None, today=None):
    try:
        return render_zone_files(zones, previous=previous or {}, today=today)
    except ZoneError as exc:
        raise AnsibleFilterError(str(exc)) from exc


class FilterModule:
    def filters(self):
        return {'split_dns_zone_files': split_dns_zone_files}
