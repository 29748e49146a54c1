# Copyright (c) 2026 keeplocal.traffic contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""gunicorn's bind settings (command line, GUNICORN_CMD_ARGS, gunicorn.conf.py, defaults) and the
systemd ExecStart rewrite: only bind/umask/pid words change, the others keep their spelling."""

from __future__ import annotations

import pytest

from ansible_collections.keeplocal.traffic.plugins.module_utils import _gunicorn as g

LAB_EXEC = '/usr/bin/gunicorn --chdir /srv/app --workers 2 --bind 127.0.0.1:8000 app:application'

# `systemctl cat app.service` with a vendor fragment and two drop-ins.
CAT = """\
# /lib/systemd/system/app.service
[Unit]
Description=App
After=network.target

[Service]
Type=notify
User=app
Group=app
WorkingDirectory=/srv/app
Environment=DJANGO_SETTINGS_MODULE=app.settings "GUNICORN_CMD_ARGS=--bind 127.0.0.1:9000 --timeout 30"
EnvironmentFile=-/etc/default/app
RuntimeDirectory=app-gunicorn
ExecStart=/srv/venv/bin/gunicorn \\
    --workers 3 \\
    --bind 127.0.0.1:8000 \\
    app.wsgi
ExecReload=/bin/kill -s HUP $MAINPID

[Install]
WantedBy=multi-user.target

# /etc/systemd/system/app.service.d/override.conf
[Service]
ExecStart=
ExecStart=/srv/venv/bin/gunicorn --workers 4 -b 127.0.0.1:8000 --access-logfile - app.wsgi
Environment=PORT=5000

# /etc/systemd/system/app.service.d/keeplocal-unix-socket.conf
[X-Keeplocal]
Address=127.0.0.1:8000
Socket=/run/app/gunicorn.sock
"""


def test_effective_settings_follow_drop_ins():
    settings = g.effective_settings(CAT)
    assert settings['exec_start'] == '/srv/venv/bin/gunicorn --workers 4 -b 127.0.0.1:8000 --access-logfile - app.wsgi'
    assert settings['exec_start_count'] == 1
    assert settings['environment'] == {'DJANGO_SETTINGS_MODULE': 'app.settings',
                                       'GUNICORN_CMD_ARGS': '--bind 127.0.0.1:9000 --timeout 30', 'PORT': '5000'}
    assert settings['environment_files'] == ['-/etc/default/app']
    assert (settings['user'], settings['group'], settings['working_directory'], settings['type']) == ('app', 'app', '/srv/app', 'notify')
    assert settings['runtime_directories'] == ['app-gunicorn']
    assert settings['keeplocal'] == {'Address': '127.0.0.1:8000', 'Socket': '/run/app/gunicorn.sock'}
    assert settings['sources'] == ['/lib/systemd/system/app.service', '/etc/systemd/system/app.service.d/override.conf',
                                   '/etc/systemd/system/app.service.d/keeplocal-unix-socket.conf']


def test_continuation_lines_are_joined():
    settings = g.effective_settings(CAT.split('# /etc/systemd/system/app.service.d/override.conf', maxsplit=1)[0])
    assert settings['exec_start'] == '/srv/venv/bin/gunicorn --workers 3 --bind 127.0.0.1:8000 app.wsgi'


@pytest.mark.parametrize('value, words', [
    ('/usr/bin/gunicorn -b 127.0.0.1:8000 app:app', ['/usr/bin/gunicorn', '-b', '127.0.0.1:8000', 'app:app']),
    ('gunicorn "--bind=unix:/run/my app/g.sock" x', ['gunicorn', '--bind=unix:/run/my app/g.sock', 'x']),
    ("gunicorn --name 'my app' --env A=\\\"b\\\"", ['gunicorn', '--name', 'my app', '--env', 'A="b"']),
    ('gunicorn --log-level=${LEVEL} $OPTS', ['gunicorn', '--log-level=${LEVEL}', '$OPTS']),
])
def test_split_words(value, words):
    assert [word['value'] for word in g.split_words(value)] == words
    assert ' '.join(word['raw'] for word in g.split_words(value)) == value


@pytest.mark.parametrize('args, env, config, binds, source', [
    (['--bind', '127.0.0.1:8000', 'app:app'], {}, None, ['127.0.0.1:8000'], 'command line'),
    (['-b', '127.0.0.1:8000', '--bind=unix:/run/a.sock', '-b[::1]:8001'], {}, None,
     ['127.0.0.1:8000', 'unix:/run/a.sock', '[::1]:8001'], 'command line'),
    (['app:app'], {'GUNICORN_CMD_ARGS': '--bind=127.0.0.1:9000 --workers=3'}, 'bind = "127.0.0.1:7000"\n',
     ['127.0.0.1:9000'], 'GUNICORN_CMD_ARGS'),
    (['-c', 'gunicorn.conf.py', 'app:app'], {}, 'import multiprocessing\nbind = ["127.0.0.1:7000", "unix:/run/a.sock"]\nworkers = 2\n',
     ['127.0.0.1:7000', 'unix:/run/a.sock'], 'config file'),
    (['app:app'], {}, 'bind: str = "127.0.0.1:7001"\n', ['127.0.0.1:7001'], 'config file'),
    (['app:app'], {}, 'workers = 4\n', ['127.0.0.1:8000'], 'default'),
    (['app:app'], {'PORT': '5000'}, None, ['0.0.0.0:5000'], 'default'),
])
def test_effective_binds_precedence(args, env, config, binds, source):
    assert g.effective_binds(args, env, config) == {'binds': binds, 'source': source}


def test_computed_bind_in_config_is_refused():
    with pytest.raises(ValueError, match='computed'):
        g.effective_binds(['app:app'], {}, 'import os\nbind = os.environ["BIND"]\n')


@pytest.mark.parametrize('args, env, cwd, path', [
    (['-c', 'conf/g.py'], '', '/srv/app', '/srv/app/conf/g.py'),
    (['--config=/etc/app/gunicorn.py'], '', '/srv/app', '/etc/app/gunicorn.py'),
    ([], '--config /etc/g.py', '/srv/app', '/etc/g.py'),
    ([], '', '/srv/app', '/srv/app/gunicorn.conf.py'),
    (['-c', 'python:app.gunicorn_conf'], '', '/srv/app', None),
])
def test_config_file_path(args, env, cwd, path):
    assert g.config_file_path(args, env.split(), cwd) == path


@pytest.mark.parametrize('value, binds, umask, expected', [
    (LAB_EXEC, ['unix:/run/app/gunicorn.sock'], '0117',
     '/usr/bin/gunicorn --bind unix:/run/app/gunicorn.sock --umask 0117 --chdir /srv/app --workers 2 app:application'),
    (LAB_EXEC, ['unix:/run/app/gunicorn.sock', '127.0.0.1:8000'], '0117',
     '/usr/bin/gunicorn --bind unix:/run/app/gunicorn.sock --bind 127.0.0.1:8000 --umask 0117 --chdir /srv/app --workers 2 app:application'),
    # Every bind spelling goes, the umask is replaced, the pid file is dropped (a handover copy must not share it).
    ('-/srv/venv/bin/gunicorn -b127.0.0.1:8000 --bind=[::1]:8000 -m 002 --pid /run/app.pid "--name=my app" app.wsgi',
     ['unix:/run/app/gunicorn.sock'], '007',
     '-/srv/venv/bin/gunicorn --bind unix:/run/app/gunicorn.sock --umask 007 "--name=my app" app.wsgi'),
    ('/usr/bin/python3 -m gunicorn --workers=${WORKERS} %i.wsgi:application', ['unix:/run/a b/g.sock'], None,
     '/usr/bin/python3 -m gunicorn --bind "unix:/run/a b/g.sock" --workers=${WORKERS} %i.wsgi:application'),
])
def test_rewrite_exec_start(value, binds, umask, expected):
    assert g.rewrite_exec_start(value, binds, umask) == expected


def test_rewritten_exec_start_reads_back():
    new = g.rewrite_exec_start(LAB_EXEC, ['unix:/run/app/gunicorn.sock'], '0117')
    prefix, words = g.split_exec_start(new)
    args = [word['value'] for word in words[g.gunicorn_start(words):]]
    assert g.effective_binds(args) == {'binds': ['unix:/run/app/gunicorn.sock'], 'source': 'command line'}
    assert g.option_from_args(args, 'umask') == '0117'


@pytest.mark.parametrize('value', ['/srv/app/start.sh', '/usr/bin/uwsgi --http :8000', '/bin/sh -c "exec gunicorn app:app"'])
def test_wrappers_are_not_rewritten(value):
    with pytest.raises(ValueError, match='does not run gunicorn directly'):
        g.rewrite_exec_start(value, ['unix:/run/a.sock'])


@pytest.mark.parametrize('text, quoted', [
    ('unix:/run/app/gunicorn.sock', 'unix:/run/app/gunicorn.sock'),
    ('unix:/run/my app/g.sock', '"unix:/run/my app/g.sock"'),
    ('/run/%i.sock', '/run/%%i.sock'),
    ('a"b', '"a\\"b"'),
])
def test_quote_word(text, quoted):
    assert g.quote_word(text) == quoted
    if '%' not in text:
        assert [word['value'] for word in g.split_words(quoted)] == [text]


@pytest.mark.parametrize('comm, cmdline, expected', [
    ('gunicorn', ['/usr/bin/python3', '/usr/bin/gunicorn', 'app:app'], True),
    ('python3', ['/usr/bin/python3', '/srv/venv/bin/gunicorn', 'app:app'], True),
    ('python3', ['/usr/bin/python3', '-m', 'gunicorn', 'app:app'], True),
    ('gunicorn: maste', ['gunicorn: master [app:application]'], True),
    ('python3', ['/usr/bin/python3', '/srv/peers/peers.py'], False),
    ('uwsgi', ['uwsgi', '--http', ':8000'], False),
])
def test_is_gunicorn_process(comm, cmdline, expected):
    assert g.is_gunicorn_process(comm, cmdline) is expected


@pytest.mark.parametrize('bind, parsed', [
    ('unix:/run/a.sock', {'type': 'unix', 'path': '/run/a.sock'}),
    ('127.0.0.1:8000', {'type': 'tcp', 'host': '127.0.0.1', 'port': 8000}),
    ('[::1]:8001', {'type': 'tcp', 'host': '::1', 'port': 8001}),
    (':8000', {'type': 'tcp', 'host': '0.0.0.0', 'port': 8000}),
    ('[::1]', {'type': 'tcp', 'host': '::1', 'port': 8000}),
    ('localhost', {'type': 'tcp', 'host': 'localhost', 'port': 8000}),
    ('fd://3', {'type': 'fd', 'fd': '3'}),
])
def test_parse_bind(bind, parsed):
    assert g.parse_bind(bind) == parsed


def test_unit_copy_drops_install_x_sections_and_our_drop_in():
    copy = g.unit_copy_text(CAT, skip_sources=['/etc/systemd/system/app.service.d/keeplocal-unix-socket.conf'])
    assert '[Install]' not in copy and 'WantedBy' not in copy
    assert 'X-Keeplocal' not in copy and 'Socket=/run/app/gunicorn.sock' not in copy
    assert '# /etc/systemd/system/app.service.d/override.conf' in copy
    settings = g.effective_settings(copy)
    assert settings['exec_start'] == g.effective_settings(CAT)['exec_start']
    assert settings['keeplocal'] == {}


def test_environment_file():
    assert g.parse_environment_file('# c\nA=1\nexport B="two words"\n\nC=\'x\'\n') == {'A': '1', 'B': 'two words', 'C': 'x'}


# ---------------------------------------------------------------------------------------------
# The control socket (gunicorn >= 25.1): the handover copy runs without one

@pytest.mark.parametrize('value, control_socket, expected', [
    # gunicorn 25.1 or later, the default control socket: the copy gets none.
    (LAB_EXEC, True,
     '/usr/bin/gunicorn --bind unix:/run/app/gunicorn.handover.sock --umask 0117 --no-control-socket --chdir /srv/app --workers 2 '
     'app:application'),
    # The service's own control-socket options, every spelling, go from the copy.
    ('/srv/venv/bin/gunicorn --control-socket /run/app/app.ctl --control-socket-mode=0660 -b 127.0.0.1:8000 app.wsgi', True,
     '/srv/venv/bin/gunicorn --bind unix:/run/app/gunicorn.handover.sock --umask 0117 --no-control-socket app.wsgi'),
    ('/srv/venv/bin/gunicorn "--control-socket=/run/my app/app.ctl" --control-socket-mode 432 -b 127.0.0.1:8000 app.wsgi', True,
     '/srv/venv/bin/gunicorn --bind unix:/run/app/gunicorn.handover.sock --umask 0117 --no-control-socket app.wsgi'),
    # Already disabled: one flag, and the word after it is not taken for its value.
    ('/srv/venv/bin/gunicorn --no-control-socket app.wsgi --bind 127.0.0.1:8000', True,
     '/srv/venv/bin/gunicorn --bind unix:/run/app/gunicorn.handover.sock --umask 0117 --no-control-socket app.wsgi'),
    ('/usr/bin/python3 -m gunicorn --workers=${WORKERS} -b 127.0.0.1:8000 %i.wsgi:application', True,
     '/usr/bin/python3 -m gunicorn --bind unix:/run/app/gunicorn.handover.sock --umask 0117 --no-control-socket --workers=${WORKERS} '
     '%i.wsgi:application'),
    # Older gunicorn: it does not know --no-control-socket (it would exit), the command stays as it was.
    (LAB_EXEC, False,
     '/usr/bin/gunicorn --bind unix:/run/app/gunicorn.handover.sock --umask 0117 --chdir /srv/app --workers 2 app:application'),
    ('-/srv/venv/bin/gunicorn -p /run/app.pid -b 127.0.0.1:8000 app.wsgi', False,
     '-/srv/venv/bin/gunicorn --bind unix:/run/app/gunicorn.handover.sock --umask 0117 app.wsgi'),
])
def test_handover_exec_start(value, control_socket, expected):
    new = g.handover_exec_start(value, 'unix:/run/app/gunicorn.handover.sock', '0117', control_socket=control_socket)
    assert new == expected
    args = [word['value'] for word in g.split_exec_start(new)[1][g.gunicorn_start(g.split_exec_start(new)[1]):]]
    assert g.binds_from_args(args) == ['unix:/run/app/gunicorn.handover.sock']
    assert g.option_from_args(args, 'control_socket') is None
    assert g.option_from_args(args, 'no_control_socket') is (True if control_socket else None)


def test_the_service_keeps_its_control_socket():
    """Only the handover copy loses it: the switched service's ExecStart keeps the options."""
    value = '/srv/venv/bin/gunicorn --control-socket /run/app/app.ctl -b 127.0.0.1:8000 app.wsgi'
    assert g.rewrite_exec_start(value, ['unix:/run/app/gunicorn.sock'], '0117') == (
        '/srv/venv/bin/gunicorn --bind unix:/run/app/gunicorn.sock --umask 0117 --control-socket /run/app/app.ctl app.wsgi')


@pytest.mark.parametrize('version, args, env_args, config, observed, supported', [
    ('25.1.0', [], [], None, [], True),
    ('27.0.1', [], [], None, [], True),
    ('24.1.1', [], [], None, [], False),
    ('20.1.0', [], [], None, [], False),
    # The version on disk wins over a master started from other code.
    ('24.1.1', [], [], None, ['/srv/app/gunicorn.ctl'], False),
    (None, [], [], None, ['/srv/app/gunicorn.ctl'], True),
    (None, ['--control-socket', '/run/app/app.ctl'], [], None, [], True),
    (None, [], ['--no-control-socket'], None, [], True),
    (None, [], [], 'workers = 2\ncontrol_socket = "/run/app/app.ctl"\n', [], True),
    (None, ['--bind', '127.0.0.1:8000'], [], 'workers = 2\n', [], None),
])
def test_control_socket_support(version, args, env_args, config, observed, supported):
    assert g.control_socket_support(version, args, env_args, config, observed)['supported'] is supported


@pytest.mark.parametrize('text, version', [
    ('#\n# This file is part of gunicorn\n\nversion_info = (25, 1, 0)\n__version__ = ".".join([str(v) for v in version_info])\n', '25.1.0'),
    ('version_info = (20, 1, 0)\n', '20.1.0'),
    ('version_info = (19, 9)\n', '19.9'),
    ('__version__ = "x"\n', None),
])
def test_parse_version_info(text, version):
    assert g.parse_version_info(text) == version


@pytest.mark.parametrize('text, python', [
    ('#!/srv/venv/bin/python3\n# -*- coding: utf-8 -*-\nimport re\n', '/srv/venv/bin/python3'),
    ('#!/usr/bin/python3 -I\n', '/usr/bin/python3'),
    ('#!/usr/bin/env python3\n', None),
    ('\x7fELF', None),
])
def test_shebang_interpreter(text, python):
    assert g.shebang_interpreter(text) == python


def test_package_globs_start_at_the_interpreter_prefix_without_resolving_links():
    globs = g.gunicorn_package_globs('/srv/venv/bin/python3', home='/home/app')
    assert globs[0] == '/srv/venv/lib/python3*/site-packages/gunicorn/__init__.py'
    assert '/home/app/.local/lib/python3*/site-packages/gunicorn/__init__.py' in globs
    assert globs[-2:] == ['/usr/lib/python3/dist-packages/gunicorn/__init__.py', '/usr/lib/python3*/site-packages/gunicorn/__init__.py']
    assert len(globs) == len(set(globs))
