#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026 keeplocal.traffic contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: remediation_record
short_description: Keep the record of what a remediation role changed on a host
version_added: 0.3.0
description:
  - The roles that change hosts write C(<directory>/<kind>.json) with this module after a change, and remove it when
    they undo the change. C(keeplocal.traffic.revert) reads the records back (C(keeplocal.traffic.remediation_records)).
  - The keys named in O(keep) are taken from the record already on the host, so the originals a role saw the first
    time it changed the host survive every later run.
  - A record on the host that this collection cannot read (or of a newer version) fails the task, naming the file,
    before anything is written.
options:
  kind:
    description: The record kind.
    type: str
    required: true
    choices: [split_dns_client, split_dns_server, local_shortcut, unix_sockets, conntrack_tuning]
  content:
    description: What the role changed (O(state=present)).
    type: dict
    default: {}
  keep:
    description: Keys whose value the record already on the host keeps.
    type: list
    elements: str
    default: []
  state:
    description:
      - V(present) writes the record.
      - V(absent) removes it, and the directory the record names as C(created_directory) (one the role created for
        its own file) when nothing else is in it; the directory goes first, so a run killed in between still has the
        record that names it.
    type: str
    choices: [present, absent]
    default: present
  directory:
    description: Where the records are kept (mode 0700, records 0600, root only).
    type: path
    default: /var/lib/keeplocal
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in diff mode when in check mode).
    support: full
  platform:
    description: Target OS/families that can be operated against.
    support: full
    platforms: posix
author:
  - keeplocal.traffic contributors (@keeplocal)
"""

EXAMPLES = r"""
- name: Record the original limits the first time they change
  keeplocal.traffic.remediation_record:
    kind: conntrack_tuning
    content:
      original: "{{ before }}"
      files: "{{ written }}"
    keep: [original, files]
"""

RETURN = r"""
record:
  description: The record as written (O(state=present)), or as it was before it was removed.
  returned: always
  type: dict
removed_directory:
  description: The record's C(created_directory), removed (or, in check mode, to be removed) because it was empty; V(null) otherwise.
  returned: always
  type: str
  sample: /etc/systemd/resolved.conf.d
path:
  description: The record's file.
  returned: always
  type: str
  sample: /var/lib/keeplocal/conntrack_tuning.json
"""

import json
import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.keeplocal.traffic.plugins.module_utils._files import replace_file
from ansible_collections.keeplocal.traffic.plugins.module_utils._records import (
    VERSIONS,
    RecordError,
    merged,
    parse,
    record_path,
)


def read(path):
    try:
        with open(path, encoding='utf-8') as handle:
            return handle.read()
    except FileNotFoundError:
        return None


def render(record):
    return json.dumps(record, indent=2, sort_keys=True) + '\n'


def empty_created_directory(record):
    """The directory the record says its role created, when it exists and nothing else is in it."""
    directory = (record or {}).get('created_directory')
    if not isinstance(directory, str) or not os.path.isdir(directory) or os.path.islink(directory):
        return None
    return None if os.listdir(directory) else directory


def main():
    module = AnsibleModule(
        argument_spec=dict(
            kind=dict(type='str', required=True, choices=sorted(VERSIONS)),
            content=dict(type='dict', default={}),
            keep=dict(type='list', elements='str', default=[], no_log=False),
            state=dict(type='str', choices=['present', 'absent'], default='present'),
            directory=dict(type='path', default='/var/lib/keeplocal'),
        ),
        supports_check_mode=True,
    )
    p = module.params
    path = record_path(p['kind'], p['directory'])
    before = read(path)
    try:
        old = parse(p['kind'], before, path)
        record = merged(p['kind'], before, p['content'], p['keep'], path) if p['state'] == 'present' else None
    except RecordError as exc:
        module.fail_json(msg='%s: nothing was changed: %s' % (p['kind'], exc))
    after = render(record) if record is not None else None
    removed_directory = empty_created_directory(old) if p['state'] == 'absent' else None
    changed = (before or None) != after or removed_directory is not None
    if changed and not module.check_mode:
        if removed_directory is not None:
            os.rmdir(removed_directory)
        if after is not None:
            os.makedirs(p['directory'], mode=0o700, exist_ok=True)
            replace_file(path, after.encode('utf-8'), mode=0o600)
        else:
            os.unlink(path)
    module.exit_json(changed=changed, record=record if record is not None else (old or {}), path=path,
                     removed_directory=removed_directory,
                     diff={'before': before or '', 'after': after or '', 'before_header': path, 'after_header': path})


if __name__ == '__main__':
    main()
