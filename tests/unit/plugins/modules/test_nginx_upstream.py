# Copyright (c) 2026 keeplocal.traffic contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The host side of nginx_upstream: writing the edits (checksums, backups, nginx -t, restore) and
reading /proc (Unix listeners, a process's systemd service, gunicorn's arguments)."""

from __future__ import annotations

import hashlib
import os
import shutil

import pytest

from ansible_collections.keeplocal.traffic.plugins.modules import nginx_upstream as module_file

SITE = 'upstream app {\n    server 127.0.0.1:8000;\n}\n'
NEW = 'upstream app {\n    server unix:/run/app/gunicorn.sock;\n}\n'


class Done(Exception):
    def __init__(self, kind, result):
        super().__init__(kind)
        self.kind, self.result = kind, result


class FakeModule:
    """What apply_edits uses of AnsibleModule; nginx -t answers with ``test_rc``."""

    def __init__(self, edits, test_rc=0, backup=True):
        self.params = {'edits': edits, 'backup': backup, 'validate': True, 'conf': '/etc/nginx/nginx.conf'}
        self.test_rc = test_rc
        self.commands = []

    def backup_local(self, path):
        backup = path + '.1.bak~'
        shutil.copy2(path, backup)
        return backup

    def atomic_move(self, src, dest, unsafe_writes=False):
        os.replace(src, dest)

    def run_command(self, argv):
        self.commands.append(argv)
        return (self.test_rc, '', 'nginx: [emerg] invalid parameter "bogus"' if self.test_rc else 'syntax is ok')

    def fail_json(self, **result):
        raise Done('fail', result)

    def exit_json(self, **result):
        raise Done('exit', result)


def edit_for(path, content=NEW, original=SITE):
    return {'path': path, 'realpath': path, 'checksum': hashlib.sha256(original.encode()).hexdigest(), 'content': content}


def apply(tmp_path, test_rc=0, on_disk=SITE):
    path = tmp_path / 'app'
    path.write_text(on_disk)
    fake = FakeModule([edit_for(str(path))], test_rc)
    with pytest.raises(Done) as done:
        module_file.apply_edits(fake, '/usr/sbin/nginx')
    return path, fake, done.value


def test_edit_written_backed_up_and_validated(tmp_path):
    path, fake, done = apply(tmp_path)
    assert done.kind == 'exit' and done.result['changed']
    assert path.read_text() == NEW
    assert (tmp_path / 'app.1.bak~').read_text() == SITE
    assert done.result['backup_files'] == {str(path): str(path) + '.1.bak~'}
    assert fake.commands == [['/usr/sbin/nginx', '-t', '-c', '/etc/nginx/nginx.conf']]


def test_failed_nginx_test_restores_the_file_and_keeps_the_backup(tmp_path):
    path, fake, done = apply(tmp_path, test_rc=1)
    assert done.kind == 'fail'
    assert 'nginx -t rejected the edited configuration, the previous files were restored' in done.result['msg']
    assert 'invalid parameter "bogus"' in done.result['msg']
    assert path.read_text() == SITE
    assert (tmp_path / 'app.1.bak~').read_text() == SITE
    assert len(fake.commands) == 2  # the check of the restored files


def test_file_changed_since_read_is_not_touched(tmp_path):
    path, fake, done = apply(tmp_path, on_disk=SITE + '# edited meanwhile\n')
    assert done.kind == 'fail' and 'changed since it was read' in done.result['msg']
    assert path.read_text() == SITE + '# edited meanwhile\n'
    assert fake.commands == [] and not (tmp_path / 'app.1.bak~').exists()


PROC_NET_UNIX = """\
Num       RefCount Protocol Flags    Type St Inode Path
0000000000000000: 00000002 00000000 00010000 0001 01 23456 /run/app/gunicorn.sock
0000000000000000: 00000003 00000000 00000000 0001 03 23460 /run/app/gunicorn.sock
0000000000000000: 00000002 00000000 00010000 0001 01 12345 @/tmp/.X11-unix/X0
0000000000000000: 00000002 00000000 00010000 0005 01 14001 /run/systemd/journal/stdout
0000000000000000: 00000002 00000000 00000000 0002 01 14002
"""


def test_listening_unix_sockets():
    assert module_file.parse_proc_net_unix(PROC_NET_UNIX) == [
        {'path': '/run/app/gunicorn.sock', 'inode': 23456},
        {'path': '/run/systemd/journal/stdout', 'inode': 14001},
    ]


@pytest.mark.parametrize('cgroup, unit', [
    ('0::/system.slice/app.service\n', 'app.service'),
    ('0::/system.slice/app.service/init.scope\n', 'app.service'),
    ('12:pids:/system.slice/nginx.service\n0::/system.slice/nginx.service\n', 'nginx.service'),
    ('0::/user.slice/user-0.slice/session-1.scope\n', None),
    ('', None),
])
def test_unit_of(cgroup, unit):
    assert module_file.unit_of(cgroup) == unit


def test_gunicorn_args_from_unit_or_command_line():
    proc = {'cmdline': ['/usr/bin/python3', '/usr/bin/gunicorn', '-c', 'conf.py', 'app:app']}
    unit = '[Service]\nExecStart=/usr/bin/gunicorn --config /etc/g.py app:app\n'
    assert module_file.gunicorn_args(proc, unit) == ['--config', '/etc/g.py', 'app:app']
    assert module_file.gunicorn_args(proc, None) == ['-c', 'conf.py', 'app:app']
    assert module_file.gunicorn_args({'cmdline': ['gunicorn: master [app:app]']}, None) == []
