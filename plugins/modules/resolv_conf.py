#!/usr/bin/python
# Copyright (c) 2026 keeplocal.traffic contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: resolv_conf
short_description: Replace a resolv.conf without a moment in which lookups fail
version_added: 0.2.0
description:
  - Writes a resolver configuration (C(/etc/resolv.conf)) so that a program resolving a name at that very moment
    still finds a nameserver. glibc re-reads the file when it changes; a file that is empty for an instant (what
    truncating and then writing does, e.g. C(ansible.builtin.copy) with C(unsafe_writes) on a bind mount) makes a
    lookup in that instant ask no server and fail with "Temporary failure in name resolution".
  - A temporary file in the same directory is renamed over the file. Where that is impossible (a container
    runtime bind-mounts C(/etc/resolv.conf)), the new text is written over the old text in one write and the file
    is then cut to its length, so readers see the old text, the new text, or the new text followed for a moment by
    the end of the old one, whose stray lines the resolver ignores or reads as further nameservers.
  - A file whose content is already right is left alone.
options:
  path:
    description: The file.
    type: path
    default: /etc/resolv.conf
  content:
    description: The new text.
    type: str
    required: true
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: full
author: keeplocal.traffic contributors (@keeplocal)
"""

EXAMPLES = r"""
- name: The private resolver first
  keeplocal.traffic.resolv_conf:
    content: |
      nameserver 192.168.1.1
      nameserver 198.51.100.53
"""

RETURN = r"""
method:
  description: How the file was replaced (V(rename) or V(in_place)); null when nothing changed.
  returned: always
  type: str
  sample: in_place
"""

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.keeplocal.traffic.plugins.module_utils._files import replace_file


def main():
    module = AnsibleModule(
        argument_spec={'path': {'type': 'path', 'default': '/etc/resolv.conf'}, 'content': {'type': 'str', 'required': True}},
        supports_check_mode=True)
    path, wanted = module.params['path'], module.params['content'].encode('utf-8')
    try:
        with open(path, 'rb') as current:
            before = current.read()
    except FileNotFoundError:
        before = b''
    changed = before != wanted
    diff = {'before': before.decode('utf-8', 'replace'), 'after': module.params['content'], 'before_header': path, 'after_header': path}
    result = {'changed': changed, 'method': None, 'diff': diff}
    if changed and not module.check_mode:
        mode = os.stat(path).st_mode & 0o7777 if before or os.path.exists(path) else 0o644
        result['method'] = replace_file(path, wanted, mode)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
