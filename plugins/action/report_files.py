# Copyright (c) 2026 keeplocal.traffic contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin keeplocal.traffic.report_files: write the run's report files on the controller.

Everything happens in this process: no connection, no module, no remote temporary directory
(``~/.ansible/tmp/ansible-tmp-*``) that another run on the same controller can take away between
its creation and its use. Each file is written to a temporary file in the target directory and
renamed over the old one, so a reader (or a concurrent run) sees the old file or the new one,
never a part. The files are the playbook's output, so they are written in check mode too.
"""

from __future__ import annotations

import os
import re
import stat

from ansible.errors import AnsibleActionFail
from ansible.module_utils.common.text.converters import to_bytes, to_native
from ansible.plugins.action import ActionBase

from ansible_collections.keeplocal.traffic.plugins.module_utils._files import write_atomically

ARGUMENT_SPEC = {
    'dir': {'type': 'path', 'required': True},
    'files': {'type': 'list', 'elements': 'dict', 'required': True, 'options': {
        'name': {'type': 'str', 'required': True},
        'content': {'type': 'str', 'required': True},
    }},
    'mode': {'type': 'str', 'default': '0644'},
    'dir_mode': {'type': 'str', 'default': '0755'},
}
_OCTAL_MODE = re.compile(r'^0?[0-7]{3}$')


def parse_mode(value, option):
    if not _OCTAL_MODE.match(value):
        raise AnsibleActionFail('report_files: %s must be an octal permission such as 0644, got %r' % (option, value))
    return int(value, 8)


def check_name(name):
    """A file name of its own in the directory: no path separator, not . or .."""
    if not name or '/' in name or name in ('.', '..') or '\0' in name:
        raise AnsibleActionFail('report_files: files[].name must be a plain file name in dir, got %r' % (name,))
    return name


def _unchanged(path, data, mode):
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return False
    if not stat.S_ISREG(info.st_mode) or stat.S_IMODE(info.st_mode) != mode or info.st_size != len(data):
        return False
    with open(path, 'rb') as handle:
        return handle.read() == data


def write_report_files(directory, files, mode=0o644, dir_mode=0o755):
    """Create ``directory`` (absolute) if needed and write ``files`` ([(name, bytes)]) into it.

    Returns ``(changed, paths, changed_paths)``; a file whose content and mode are already right is
    left alone.
    """
    created = False
    if not os.path.isdir(directory):
        os.makedirs(directory, exist_ok=True)
        os.chmod(directory, dir_mode)
        created = True
    paths, changed_paths = [], []
    for name, data in files:
        path = os.path.join(directory, name)
        paths.append(path)
        if not _unchanged(path, data, mode):
            write_atomically(path, data, mode)
            changed_paths.append(path)
    return created or bool(changed_paths), paths, changed_paths


class ActionModule(ActionBase):

    TRANSFERS_FILES = False
    # No connection to the host is used: a persistent (network) connection is not started for it.
    _requires_connection = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        dummy, args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
        # relative to the directory ansible-playbook runs in, like any controller path
        directory = os.path.abspath(os.path.expanduser(args['dir']))
        files = [(check_name(item['name']), to_bytes(item['content'], errors='surrogate_or_strict')) for item in args['files']]
        names = [name for name, dummy in files]
        if len(set(names)) != len(names):
            raise AnsibleActionFail('report_files: files[].name must be unique, got %s' % ', '.join(names))
        mode, dir_mode = parse_mode(args['mode'], 'mode'), parse_mode(args['dir_mode'], 'dir_mode')
        try:
            changed, paths, changed_paths = write_report_files(directory, files, mode, dir_mode)
        except OSError as exc:
            raise AnsibleActionFail('report_files: cannot write the report files in %s: %s' % (directory, to_native(exc)))
        result.update(changed=changed, dir=directory, paths=paths, changed_paths=changed_paths)
        return result
