# Copyright (c) 2026 keeplocal.traffic contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The host side of nginx_upstream: writing the edits (checksums, backups, nginx -t, restore) and
reading /proc (Unix listeners, a process's systemd service, gunicorn's arguments)."""

from __future__ import annotations

import hashlib
import os

import pytest

from ansible_collections.keeplocal.traffic.plugins.modules import nginx_upstream as module_file

SITE = 'upstream app {\n    server 127.0.0.1:8000;\n}\n'
NEW = 'upstream app {\n    server unix:/run/app/gunicorn.sock;\n}\n'
BROKEN = 'nginx: [emerg] invalid parameter "bogus" in /etc/nginx/sites-enabled/app:2\nnginx: configuration file /etc/nginx/nginx.conf test failed\n'


class Done(Exception):
    def __init__(self, kind, result):
        super().__init__(kind)
        self.kind, self.result = kind, result


class FakeModule:
    """What apply_edits and read_nginx_files use of AnsibleModule; nginx answers with ``rc`` and ``err``."""

    def __init__(self, tmp_path, rc=0, err='', backup=True, keep=10):
        (tmp_path / 'run' / 'app').mkdir(parents=True, exist_ok=True)
        self.params = {'backup': backup, 'validate': True, 'conf': '/etc/nginx/nginx.conf', 'mode': 'switch',
                       'socket': '/run/{app}/{server}.sock', 'backup_dir': str(tmp_path / 'backups'), 'backup_keep': keep}
        self.rc, self.err = rc, err
        self.commands, self.warnings = [], []

    def atomic_move(self, src, dest, unsafe_writes=False):
        os.replace(src, dest)

    def run_command(self, argv):
        self.commands.append(argv)
        return (self.rc, '', self.err or 'nginx: configuration file /etc/nginx/nginx.conf test is successful')

    def warn(self, msg):
        self.warnings.append(msg)

    def fail_json(self, **result):
        raise Done('fail', result)

    def exit_json(self, **result):
        raise Done('exit', result)


def edit_for(path, content=NEW, original=SITE):
    return {'path': path, 'realpath': path, 'checksum': hashlib.sha256(original.encode()).hexdigest(), 'content': content}


CHANGES = [{'file': '/etc/nginx/sites-enabled/app', 'line': 2, 'directive': 'server',
            'before': '    server 127.0.0.1:8000;', 'after': '    server unix:/run/app/gunicorn.sock;'}]


def apply(tmp_path, on_disk=SITE, socket=None, **kwargs):
    """apply_edits on one site: (site, fake module, Done: 'fail' with fail_json's result, or 'exit' with what it returned)."""
    site = tmp_path / 'etc' / 'nginx' / 'sites-enabled' / 'app'
    site.parent.mkdir(parents=True, exist_ok=True)
    site.write_text(on_disk)
    fake = FakeModule(tmp_path, **kwargs)
    planned = {'socket': socket or str(tmp_path / 'run' / 'app' / 'gunicorn.sock'), 'changes': CHANGES}
    try:
        returned = module_file.apply_edits(fake, '/usr/sbin/nginx', [edit_for(str(site))], planned)
    except Done as done:
        assert done.kind == 'fail'
        assert done.result['changes'] == CHANGES
        return site, fake, done
    return site, fake, Done('exit', returned)


def runs(tmp_path):
    return sorted(os.listdir(tmp_path / 'backups')) if (tmp_path / 'backups').exists() else []


def test_edit_written_backed_up_outside_the_configuration_and_validated(tmp_path):
    site, fake, done = apply(tmp_path)
    assert done.kind == 'exit'
    assert site.read_text() == NEW
    # Nothing new next to the site, where nginx's include would load it.
    assert os.listdir(site.parent) == ['app']
    (run,) = runs(tmp_path)
    assert done.result['backup_run'] == str(tmp_path / 'backups' / run)
    backup = tmp_path / 'backups' / run / str(site).lstrip('/')
    assert done.result['backup_files'] == {str(site): str(backup)}
    assert backup.read_text() == SITE
    assert os.stat(tmp_path / 'backups' / run).st_mode & 0o077 == 0
    assert fake.commands == [['/usr/sbin/nginx', '-t', '-c', '/etc/nginx/nginx.conf']]


def test_only_the_newest_runs_are_kept(tmp_path):
    old = ['20250101T000000.000000Z-1', '20250102T000000.000000Z-2', '20250103T000000.000000Z-3']
    for name in old + ['notes']:
        (tmp_path / 'backups' / name).mkdir(parents=True)
    dummy, fake, done = apply(tmp_path, keep=2)
    assert done.kind == 'exit'
    assert runs(tmp_path) == ['20250103T000000.000000Z-3', os.path.basename(done.result['backup_run']), 'notes']


def test_no_backup_when_not_asked(tmp_path):
    site, fake, done = apply(tmp_path, backup=False)
    assert done.kind == 'exit' and done.result['backup_files'] == {} and done.result['backup_run'] is None
    assert site.read_text() == NEW and runs(tmp_path) == []


def test_failed_nginx_test_restores_the_file_and_keeps_the_backup(tmp_path):
    site, fake, done = apply(tmp_path, rc=1, err=BROKEN)
    assert done.kind == 'fail'
    assert done.result['msg'] == ('nginx -t rejected the edited configuration, the previous files were restored (and nginx -t '
                                  'still fails: /etc/nginx/sites-enabled/app line 2: invalid parameter "bogus"): '
                                  '/etc/nginx/sites-enabled/app line 2: invalid parameter "bogus"')
    assert site.read_text() == SITE
    assert open(done.result['backup_files'][str(site)]).read() == SITE
    assert len(fake.commands) == 2  # the check of the restored files


def test_file_changed_since_read_is_not_touched(tmp_path):
    site, fake, done = apply(tmp_path, on_disk=SITE + '# edited meanwhile\n')
    assert done.kind == 'fail' and 'changed since it was read' in done.result['msg']
    assert site.read_text() == SITE + '# edited meanwhile\n'
    assert fake.commands == [] and runs(tmp_path) == []


def test_socket_directory_missing_is_refused_before_any_change(tmp_path):
    site, fake, done = apply(tmp_path, socket='/run/nonexistent-keeplocal-test/gunicorn.sock')
    assert done.kind == 'fail'
    assert done.result['msg'].startswith('socket: the directory /run/nonexistent-keeplocal-test of '
                                         '/run/nonexistent-keeplocal-test/gunicorn.sock does not exist, nothing was changed')
    assert site.read_text() == SITE and runs(tmp_path) == [] and fake.commands == []


def test_backup_directory_that_cannot_be_made_is_refused_before_any_change(tmp_path):
    (tmp_path / 'backups').write_text('a file where the directory should be')
    site, fake, done = apply(tmp_path)
    assert done.kind == 'fail' and done.result['msg'].startswith('backup_dir: cannot keep the backups in %s, nothing was changed'
                                                                 % (tmp_path / 'backups'))
    assert site.read_text() == SITE and fake.commands == []


@pytest.mark.parametrize('err, expected', [
    ('nginx: [emerg] duplicate upstream "app" in /etc/nginx/sites-enabled/app.4242.2026-01-01@10:00:00~:1\n'
     'nginx: configuration file /etc/nginx/nginx.conf test failed\n',
     'nginx -t fails before any change, nothing was changed: /etc/nginx/sites-enabled/app.4242.2026-01-01@10:00:00~ line 1: '
     'duplicate upstream "app". Fix: /etc/nginx/sites-enabled/app.4242.2026-01-01@10:00:00~ is a backup copy (the name ends '
     'in ~) left in a directory an include pulls in as a whole, so nginx loads it as configuration: move it out of '
     '/etc/nginx/sites-enabled (for example into BACKUPS), check that nginx -t passes, and run again'),
    (BROKEN, 'nginx -t fails before any change, nothing was changed: /etc/nginx/sites-enabled/app line 2: invalid parameter '
             '"bogus". Fix: correct line 2 of /etc/nginx/sites-enabled/app until nginx -t passes, then run again'),
    ('nginx: [emerg] no "events" section in configuration\n',
     'nginx -t fails before any change, nothing was changed: no "events" section in configuration. Fix: correct the '
     'configuration until nginx -t passes, then run again'),
])
def test_configuration_broken_before_the_run_is_refused_with_file_line_and_fix(tmp_path, err, expected):
    fake = FakeModule(tmp_path, rc=1, err=err)
    with pytest.raises(Done) as done:
        module_file.read_nginx_files(fake, '/usr/sbin/nginx')
    assert done.value.kind == 'fail'
    assert done.value.result['msg'] == expected.replace('BACKUPS', str(tmp_path / 'backups'))


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


def venv(tmp_path, version):
    """A virtual environment as pip makes it: bin/gunicorn's #! names the venv's python, the package in site-packages."""
    root = tmp_path / 'srv' / 'venv'
    (root / 'bin').mkdir(parents=True)
    (root / 'bin' / 'gunicorn').write_text('#!%s/bin/python3\n# -*- coding: utf-8 -*-\nimport re\nimport sys\n' % root)
    package = root / 'lib' / 'python3.11' / 'site-packages' / 'gunicorn'
    package.mkdir(parents=True)
    (package / '__init__.py').write_text('#\n# This file is part of gunicorn\n\nversion_info = (%s)\n'
                                         '__version__ = ".".join([str(v) for v in version_info])\n' % version.replace('.', ', '))
    return root


@pytest.mark.parametrize('exec_start', ['{root}/bin/gunicorn --bind 127.0.0.1:8000 app:app',
                                        '{root}/bin/python3 -m gunicorn --bind 127.0.0.1:8000 app:app'])
def test_gunicorn_version_is_read_where_the_unit_runs_it_from(tmp_path, exec_start):
    root = venv(tmp_path, '25.1.0')
    unit = '[Service]\nExecStart=%s\n' % exec_start.format(root=root)
    found = module_file.gunicorn_version({'cmdline': []}, unit)
    assert found == {'version': '25.1.0', 'path': str(root / 'lib' / 'python3.11' / 'site-packages' / 'gunicorn' / '__init__.py')}


def test_gunicorn_version_from_the_process_when_a_wrapper_starts_it(tmp_path):
    root = venv(tmp_path, '24.1.1')
    proc = {'cmdline': [str(root / 'bin' / 'python3'), str(root / 'bin' / 'gunicorn'), 'app:app']}
    assert module_file.gunicorn_version(proc, '[Service]\nExecStart=/srv/app/start.sh\n')['version'] == '24.1.1'


@pytest.mark.parametrize('exec_start', ['{root}/bin/uvicorn app:app --port 8000', '{root}/bin/python3 -m uvicorn app:app'])
def test_uvicorn_version_is_read_where_the_unit_runs_it_from(tmp_path, exec_start):
    root = tmp_path / 'srv' / 'venv'
    (root / 'bin').mkdir(parents=True)
    (root / 'bin' / 'uvicorn').write_text('#!%s/bin/python3\nimport sys\nfrom uvicorn.main import main\n' % root)
    package = root / 'lib' / 'python3.11' / 'site-packages' / 'uvicorn'
    package.mkdir(parents=True)
    (package / '__init__.py').write_text('from uvicorn.config import Config\n\n__version__ = "0.54.0"\n')
    found = module_file.package_version({'cmdline': []}, '[Service]\nExecStart=%s\n' % exec_start.format(root=root), 'uvicorn')
    assert found == {'version': '0.54.0', 'path': str(package / '__init__.py')}


def test_uwsgi_ini_files_from_the_unit_the_process_and_the_environment():
    unit = '[Service]\nExecStart=/usr/bin/uwsgi --ini shop.ini:prod --master\n'
    proc = {'cmdline': ['/usr/bin/uwsgi', '/etc/uwsgi/other.ini'], 'cwd': '/srv/shop', 'environment': {'UWSGI_INI': '/etc/uwsgi/env.ini'}}
    assert module_file.uwsgi_config_paths(proc, unit) == ['/srv/shop/shop.ini', '/etc/uwsgi/env.ini']
    assert module_file.uwsgi_config_paths(proc, None) == ['/etc/uwsgi/other.ini', '/etc/uwsgi/env.ini']


def test_descriptors_that_cannot_be_read_are_counted(tmp_path, monkeypatch):
    for pid, target in (('10', 'socket:[42]'), ('20', 'socket:[43]')):
        (tmp_path / pid / 'fd').mkdir(parents=True)
        os.symlink(target, str(tmp_path / pid / 'fd' / '3'))
    monkeypatch.setattr(module_file, 'PROC', str(tmp_path))
    listdir = os.listdir

    def denying(path):
        if path == os.path.join(str(tmp_path), '20', 'fd'):
            raise PermissionError(13, 'Permission denied', path)
        return listdir(path)

    monkeypatch.setattr(os, 'listdir', denying)
    denied = []
    assert module_file.socket_owners([42, 43], denied) == {'42': [10]}
    assert denied == [20]
