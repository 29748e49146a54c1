# Copyright (c) 2026 keeplocal.traffic contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A run of nginx_upstream on a fake host: what nginx -T lists and the host's sockets, processes and units are
made up, and the writing step (apply_edits, tested in test_nginx_upstream.py) is replaced by a recorder. These
tests cover what a run decides: argument checks, discovery, the unsafe refusal, check mode with its diff, the
edits handed to the writing step (checksums, symlinks resolved) and a failed nginx -t coming back from it.
"""

from __future__ import annotations

import hashlib

import pytest

from ansible_collections.keeplocal.traffic.plugins.modules import nginx_upstream as module_file
from ansible_collections.keeplocal.traffic.tests.unit.plugins.modules.module_harness import run as run_module

MAIN = 'user www-data;\nevents {}\nhttp {\n    include /etc/nginx/sites-enabled/*;\n}\n'
SITE = ('upstream app {\n    server 127.0.0.1:8000;  # gunicorn\n}\n\n'
        'server {\n    listen 80;\n    location / { proxy_pass http://app; }\n}\n')
UNIT = ('# /etc/systemd/system/app.service\n[Service]\nUser=app\n'
        'ExecStart=/usr/bin/gunicorn --chdir /srv/app --workers 2 --bind 127.0.0.1:8000 app:application\n')


RUN = '/var/backups/keeplocal/nginx/20260101T100000.000042Z-4242'
BACKUP = RUN + '/etc/nginx/sites-available/app'


# podman's and docker's default capabilities: no CAP_SYS_PTRACE (bit 19).
NO_PTRACE = {'euid': 0, 'cap_eff': '00000000a80425fb', 'cap_sys_ptrace': False}


def host(other_client=False, privileges=None):
    tcp = [{'local_ip': '127.0.0.1', 'local_port': 8000, 'remote_ip': '0.0.0.0', 'remote_port': 0, 'state': 'LISTEN', 'uid': 999, 'inode': 1},
           {'local_ip': '127.0.0.1', 'local_port': 40000, 'remote_ip': '127.0.0.1', 'remote_port': 8000, 'state': 'ESTABLISHED', 'uid': 0, 'inode': 2}]
    processes = {'10': {'pid': 10, 'ppid': 1, 'comm': 'gunicorn', 'cmdline': ['/usr/bin/python3', '/usr/bin/gunicorn'], 'unit': 'app.service',
                        'cwd': '/srv/app', 'environment': {}},
                 '20': {'pid': 20, 'ppid': 19, 'comm': 'curl' if other_client else 'nginx', 'cmdline': [], 'unit': None, 'cwd': None,
                        'environment': {}}}
    facts = {'addresses': ['192.168.1.20'], 'tcp': tcp, 'unix': [], 'owners': {'1': [10], '2': [20]}, 'processes': processes,
             'units': {'app.service': {'cat': UNIT, 'socket_cat': None}}, 'config_files': {}}
    if privileges is not None:
        facts['privileges'] = privileges
        if not privileges['cap_sys_ptrace']:
            # Root without the capability reads none of the other users' descriptors.
            facts.update(owners={}, fd_denied=2)
    return facts


def collected(site=SITE, extra_files=(), **kwargs):
    files = [{'path': '/etc/nginx/nginx.conf', 'realpath': '/etc/nginx/nginx.conf', 'content': MAIN},
             {'path': '/etc/nginx/sites-enabled/app', 'realpath': '/etc/nginx/sites-available/app', 'content': site}]
    files += [{'path': path, 'realpath': path, 'content': content} for path, content in extra_files]
    for item in files:
        item['checksum'] = hashlib.sha256(item['content'].encode()).hexdigest()
    return {'files': files, 'host': host(**kwargs)}


@pytest.fixture
def run(monkeypatch, capsys):
    """run(args, check_mode, apply_result, **host): (result, reads, writes) of one module run. ``reads`` lists the
    host reads (nginx -T and the facts), ``writes`` the calls of the writing step, each {edits, planned}."""

    def run_(args, check_mode=False, apply_result=None, **kwargs):
        reads, writes = [], []
        host_side = collected(**kwargs)
        monkeypatch.setattr(module_file, 'nginx_command', lambda module: '/usr/sbin/nginx')

        def read_nginx_files(module, nginx):
            reads.append('nginx -T')
            return host_side['files']

        def host_facts(module):
            reads.append('facts')
            return host_side['host']

        def apply_edits(module, nginx, edits, planned):
            writes.append({'edits': edits, 'planned': planned, 'params': dict(module.params)})
            if apply_result and apply_result.get('failed'):
                module.fail_json(**dict(apply_result, changes=planned['changes']))
            return apply_result or {'backup_files': {'/etc/nginx/sites-available/app': BACKUP}, 'backup_run': RUN,
                                    'nginx_test': 'syntax is ok'}

        monkeypatch.setattr(module_file, 'read_nginx_files', read_nginx_files)
        monkeypatch.setattr(module_file, 'host_facts', host_facts)
        monkeypatch.setattr(module_file, 'apply_edits', apply_edits)
        failed, result = run_module(module_file.main, args, capsys, check_mode=check_mode)
        assert failed == bool(result.get('failed'))
        return result, reads, writes
    return run_


def test_discover_reports_the_pair(run):
    result, reads, writes = run({'mode': 'discover'})
    assert not result.get('failed'), result
    (pair,) = result['pairs']
    assert (pair['address'], pair['safe'], pair['unit']) == ('127.0.0.1:8000', True, 'app.service')
    assert result['unsafe'] == [] and result['changed'] is False
    assert result['nginx']['files'] == ['/etc/nginx/nginx.conf', '/etc/nginx/sites-enabled/app']
    assert result['nginx']['user'] == ['www-data']
    assert reads == ['nginx -T', 'facts'] and writes == []


def test_check_mode_returns_the_diff_and_does_not_write(run):
    result, reads, writes = run({'mode': 'switch', 'address': '127.0.0.1:8000'}, check_mode=True)
    assert result['changed'] and result['socket'] == '/run/app/gunicorn.sock'
    (diff,) = result['diff']
    assert diff['before'] == SITE
    assert diff['after'] == SITE.replace('server 127.0.0.1:8000;', 'server unix:/run/app/gunicorn.sock;')
    assert writes == [] and 'backup_files' not in result


def test_switch_writes_through_the_module_with_checksums(run):
    result, reads, writes = run({'mode': 'switch', 'address': '127.0.0.1:8000', 'socket': '/run/app/g.sock'})
    assert result['changed'] and result['backup_files'] == {'/etc/nginx/sites-available/app': BACKUP}
    assert result['backup_run'] == RUN and result['nginx_test'] == 'syntax is ok'
    (write,) = writes
    assert (write['params']['mode'], write['planned']['socket']) == ('switch', '/run/app/g.sock')
    assert (write['params']['backup'], write['params']['backup_dir'], write['params']['backup_keep']) == (True, '/var/backups/keeplocal/nginx', 10)
    (edit,) = write['edits']
    assert edit['path'] == '/etc/nginx/sites-enabled/app' and edit['realpath'] == '/etc/nginx/sites-available/app'
    assert edit['checksum'] == hashlib.sha256(SITE.encode()).hexdigest()
    assert edit['content'] == SITE.replace('127.0.0.1:8000;', 'unix:/run/app/g.sock;')
    assert result['changes'] == [{'file': '/etc/nginx/sites-enabled/app', 'line': 2, 'directive': 'server',
                                  'before': '    server 127.0.0.1:8000;  # gunicorn', 'after': '    server unix:/run/app/g.sock;  # gunicorn'}]


def test_unsafe_pair_is_refused_unless_forced(run):
    result, reads, writes = run({'mode': 'switch', 'address': '127.0.0.1:8000'}, other_client=True)
    assert result['failed'] and 'clients other than nginx: curl (1)' in result['msg'] and writes == []
    result, reads, writes = run({'mode': 'switch', 'address': '127.0.0.1:8000', 'force': True}, other_client=True)
    assert result['changed'] and len(writes) == 1


def test_failed_nginx_test_comes_back_failed(run):
    failure = {'failed': True, 'msg': 'nginx -t rejected the edited configuration, the previous files were restored: bad'}
    result, dummy, writes = run({'mode': 'switch', 'address': '127.0.0.1:8000', 'server_parameters': ['bogus']}, apply_result=failure)
    assert result['failed'] and 'restored' in result['msg'] and result['changes'][0]['after'].endswith('bogus;  # gunicorn')


@pytest.mark.parametrize('args, message', [
    ({'mode': 'switch'}, 'address is required'),
    ({'mode': 'switch', 'address': '127.0.0.1'}, "address: '127.0.0.1' is not host:port"),
    ({'mode': 'switch', 'address': '127.0.0.1:70000'}, "address: the port of '127.0.0.1:70000' is not a port number (1-65535)"),
    ({'mode': 'discover', 'address': '127.0.0.1:0'}, "address: the port of '127.0.0.1:0' is not a port number (1-65535)"),
    ({'mode': 'switch', 'address': '127.0.0.1:8000', 'socket': 'run/x.sock'}, "socket: 'run/x.sock' is not an absolute path"),
    ({'mode': 'switch', 'address': '127.0.0.1:8000', 'replace_sockets': ['x.sock']}, "replace_sockets: 'x.sock' is not an absolute path"),
    ({'mode': 'switch', 'address': '127.0.0.1:8000', 'backup_keep': 0}, 'backup_keep: 0 keeps no backup'),
])
def test_bad_arguments_are_refused_before_reading_the_host(run, args, message):
    result, reads, writes = run(args)
    assert result['failed'] and result['msg'].startswith(message) and reads == [] and writes == []


LEFTOVER = '/etc/nginx/sites-enabled/app.4242.2026-01-01@10:00:00~'


@pytest.mark.parametrize('args, kwargs, message', [
    ({'mode': 'switch', 'address': '127.0.0.1:9999'}, {},
     'address: nginx does not proxy to 127.0.0.1:9999: no upstream server or proxy_pass in the 2 files nginx loads names port '
     '9999 on a local address. Give the address nginx proxies to now; the same-host backends it names: 127.0.0.1:8000 '
     '(/etc/nginx/sites-enabled/app:2)'),
    ({'mode': 'revert', 'address': '127.0.0.1:9999', 'socket': '/run/app/gunicorn.sock'}, {},
     'address: nginx does not proxy to 127.0.0.1:9999: no upstream server or proxy_pass in the 2 files nginx loads names port '
     '9999 on a local address or unix:/run/app/gunicorn.sock.'),
    ({'mode': 'switch', 'address': '10.0.0.5:8000'}, {},
     'address: 10.0.0.5:8000 is not an address of this host (its addresses: 192.168.1.20, or loopback)'),
    ({'mode': 'switch', 'address': '127.0.0.1:8000', 'socket': '/srv/app/app.sock'}, {},
     'socket: the socket /srv/app/app.sock is outside /run: use /run/<app>/'),
    ({'mode': 'switch', 'address': '127.0.0.1:8000', 'backup_dir': '/etc/nginx/backups'}, {},
     "backup_dir: /etc/nginx/backups is inside nginx's configuration directory /etc/nginx"),
    ({'mode': 'switch', 'address': '127.0.0.1:8000', 'backup_dir': '/srv/conf'},
     {'extra_files': [('/srv/conf/extra.conf', '')]}, 'backup_dir: nginx loads /srv/conf/extra.conf, which is inside /srv/conf'),
    ({'mode': 'discover'}, {'extra_files': [(LEFTOVER, SITE)]},
     'nginx loads %s as configuration: a backup copy (the name ends in ~) in a directory an include pulls in' % LEFTOVER),
])
def test_bad_input_is_refused_before_any_change(run, args, kwargs, message):
    result, reads, writes = run(args, **kwargs)
    assert result['failed'] and result['msg'].startswith(message), result['msg']
    assert reads == ['nginx -T', 'facts'] and writes == []


def test_revert_moves_the_socket_back_to_tcp(run):
    switched = SITE.replace('127.0.0.1:8000', 'unix:/run/app/gunicorn.sock')
    result, reads, writes = run({'mode': 'revert', 'address': '127.0.0.1:8000', 'socket': '/run/app/gunicorn.sock'}, site=switched)
    assert result['changed'] and writes[0]['edits'][0]['content'] == SITE
    # The TCP configuration has nothing to revert.
    result, reads, writes = run({'mode': 'revert', 'address': '127.0.0.1:8000', 'socket': '/run/app/gunicorn.sock'})
    assert result['changed'] is False and writes == []


def test_root_without_cap_sys_ptrace_is_told_which_capability_is_missing(run):
    for check_mode in (True, False):
        result, reads, writes = run({'mode': 'switch', 'address': '127.0.0.1:8000', 'socket': '/run/app/gunicorn.sock'},
                                    check_mode=check_mode, privileges=NO_PTRACE)
        assert result['failed'] and writes == [], result
        assert result['msg'].startswith('127.0.0.1:8000 cannot safely be switched to a Unix socket: cannot tell which process listens '
                                        'on port 8000 or which processes hold 1 connections to port 8000: needs CAP_SYS_PTRACE to '
                                        'read the owners of sockets; this task runs as root without it'), result['msg']
        assert 'run as root' not in result['msg']
    # What the unix_sockets role reads (discover, with the socket still a template).
    (pair,) = run({'mode': 'discover', 'address': '127.0.0.1:8000'}, privileges=NO_PTRACE)[0]['unsafe']
    assert [reason['code'] for reason in pair['reasons']] == ['owners_unreadable']
    assert 'needs CAP_SYS_PTRACE to read the owners of sockets' in pair['reasons'][0]['msg']


DIRECT_SITE = 'server {\n    listen 80;\n    location / {\n        proxy_pass http://127.0.0.1:8000;\n    }\n}\n'


def test_host_header_change_is_refused_in_check_mode_too_and_forced_through(run):
    for check_mode in (True, False):
        result, reads, writes = run({'mode': 'switch', 'address': '127.0.0.1:8000'}, check_mode=check_mode, site=DIRECT_SITE)
        assert result['failed'] and writes == [], result
        assert ('proxy_pass http://127.0.0.1:8000 at /etc/nginx/sites-enabled/app:4 (http > server > location /) sends Host: '
                '127.0.0.1:8000 over TCP and would send Host: localhost over the socket') in result['msg']
        assert 'Fix: add `proxy_set_header Host 127.0.0.1:8000;`' in result['msg']
    (pair,) = run({'mode': 'discover'}, site=DIRECT_SITE)[0]['unsafe']
    assert [reason['code'] for reason in pair['reasons']] == ['host_header_changes']
    result, reads, writes = run({'mode': 'switch', 'address': '127.0.0.1:8000', 'force': True}, site=DIRECT_SITE)
    assert result['changed'] and writes[0]['edits'][0]['content'] == DIRECT_SITE.replace('127.0.0.1:8000', 'unix:/run/app/gunicorn.sock')
