#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026 keeplocal.traffic contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: remediation_records
short_description: Read what the remediation roles changed on a host, and what undoing it takes
version_added: 0.3.0
description:
  - The roles that change hosts (C(split_dns), C(local_shortcut), C(unix_sockets), C(conntrack_tuning)) keep a record
    of each change in O(directory) (C(<kind>.json)) - what they changed, the originals and where their backups are.
  - This module reads them and returns, per kind, the role variables that undo the change, in the order
    C(keeplocal.traffic.revert) applies them. It changes nothing.
  - A record it cannot read (not JSON, not written by this collection, or of a newer version than this collection
    reads) fails the task, naming the file and the version, before anything is undone.
options:
  directory:
    description: Where the roles keep their records.
    type: path
    default: /var/lib/keeplocal
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
    details: It only reads.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in diff mode when in check mode).
    support: none
  platform:
    description: Target OS/families that can be operated against.
    support: full
    platforms: posix
author:
  - keeplocal.traffic contributors (@keeplocal)
"""

EXAMPLES = r"""
- name: What did the remediation change here?
  keeplocal.traffic.remediation_records:
  register: records

- name: Undo the Unix-socket switches
  ansible.builtin.include_role:
    name: keeplocal.traffic.unix_sockets
  vars:
    unix_sockets_state: absent
    unix_sockets_pairs: "{{ records.revert.unix_sockets.unix_sockets_pairs }}"
  when: "'unix_sockets' in records.revert"
"""

RETURN = r"""
records:
  description: The records found, by kind.
  returned: always
  type: dict
  sample: {split_dns_client: {format: keeplocal.traffic/split_dns_client, version: 1, method: resolv_conf}}
revert:
  description:
    - Per kind with something to undo, the role variables its undo mode needs besides C(state=absent) (what the role
      cannot read on the host itself); keys in the order to apply them.
  returned: always
  type: dict
  sample: {split_dns_client: {split_dns_client_method: resolv_conf}, local_shortcut: {}}
order:
  description: The kinds of RV(revert) in the order to undo them.
  returned: always
  type: list
  elements: str
  sample: [split_dns_client, unix_sockets]
ignored:
  description: Files in O(directory) that are no record this collection knows (left alone).
  returned: always
  type: list
  elements: str
"""

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.keeplocal.traffic.plugins.module_utils._records import (
    RecordError,
    read_directory,
    revert_inputs,
)


def listing(directory):
    """``{name: text}`` of the JSON files in ``directory`` ({} when it does not exist)."""
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return {}
    texts = {}
    for name in names:
        path = os.path.join(directory, name)
        if name.endswith('.json') and os.path.isfile(path):
            with open(path, encoding='utf-8') as handle:
                texts[name] = handle.read()
    return texts


def main():
    module = AnsibleModule(argument_spec=dict(directory=dict(type='path', default='/var/lib/keeplocal')),
                           supports_check_mode=True)
    directory = module.params['directory']
    try:
        records, ignored = read_directory(listing(directory), directory)
    except RecordError as exc:
        module.fail_json(msg=str(exc))
    revert = revert_inputs(records)
    module.exit_json(changed=False, records=records, revert=revert, order=list(revert), ignored=ignored)


if __name__ == '__main__':
    main()
