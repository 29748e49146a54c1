# Copyright (c) 2026 keeplocal.traffic contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The split_dns_resolv_conf filter: a resolv.conf that asks the private resolvers first."""

from __future__ import annotations

DOCUMENTATION = r'''
name: split_dns_resolv_conf
short_description: Put the private resolvers first in a resolv.conf text
version_added: 0.1.0
author: keeplocal.traffic contributors (@keeplocal)
description:
  - Plain resolv.conf has no per-domain routing, so the private resolver must answer everything
    (it forwards what is not private). Its addresses go first; the original C(search), C(options) and
    C(domain) lines stay; the original nameservers follow as fallbacks when O(keep_existing) is set
    (glibc reads at most three).
  - Feed it the original file (the saved copy), not the current one, so the result does not depend
    on earlier runs.
positional: _input
options:
  _input:
    description: The original resolv.conf text.
    type: str
    required: true
  nameservers:
    description: The private resolvers' addresses.
    type: list
    elements: str
    required: true
  keep_existing:
    description: Keep the original nameservers after the private ones.
    type: bool
    default: true
  backup_path:
    description: Where the original is saved, named in the header comment.
    type: str
'''

EXAMPLES = r'''
- name: Render resolv.conf
  ansible.builtin.copy:
    content: "{{ original | keeplocal.traffic.split_dns_resolv_conf(['192.168.1.1']) }}"
    dest: /etc/resolv.conf
    mode: "0644"
'''

RETURN = r'''
_value:
  description: The resolv.conf text.
  type: str
'''

from ansible.errors import AnsibleFilterError

from ansible_collections.keeplocal.traffic.plugins.plugin_utils._zones import ZoneError, render_resolv_conf


def split_dns_resolv_conf(original, nameservers, keep_existing=True, backup_path=None):
    try:
        return render_resolv_conf(original, nameservers, keep_existing=bool(keep_existing), backup_path=backup_path)
    except (ZoneError, ValueError) as exc:
        raise AnsibleFilterError('split_dns_resolv_conf: %s' % exc) from exc


class FilterModule:
    def filters(self):
        return {'split_dns_resolv_conf': split_dns_resolv_conf}
