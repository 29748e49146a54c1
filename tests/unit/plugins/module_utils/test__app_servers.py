# Copyright (c) 2026 keeplocal.traffic contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which app server a unit runs (gunicorn, uvicorn, uWSGI), where its listener comes from, and the
ExecStart rewrites onto systemd socket activation: only the listener options change, every other
word keeps its spelling. The same rewrites run against real servers in test__app_servers_real.py."""

from __future__ import annotations

import pytest

from ansible_collections.keeplocal.traffic.plugins.module_utils import _app_servers as a
from ansible_collections.keeplocal.traffic.plugins.module_utils import _gunicorn as g


def words(value):
    return g.split_exec_start(value)[1]


@pytest.mark.parametrize('value, expected', [
    ('/srv/venv/bin/gunicorn -b 127.0.0.1:8000 app:app', ('gunicorn', 1)),
    ('/usr/bin/python3 -m gunicorn app:app', ('gunicorn', 3)),
    ('/srv/venv/bin/uvicorn app:app --port 8000', ('uvicorn', 1)),
    ('/srv/venv/bin/python3.11 -m uvicorn app:app', ('uvicorn', 3)),
    ('/usr/bin/uwsgi --http-socket :8000', ('uwsgi', 1)),
    ('/usr/bin/uwsgi_python311 --ini /etc/uwsgi/app.ini', ('uwsgi', 1)),
    ('/usr/local/bin/uwsgi-core --socket :8000', ('uwsgi', 1)),
    ('/srv/app/start.sh', (None, None)),
    ('/bin/sh -c "exec uvicorn app:app"', (None, None)),
    ('/usr/bin/python3 /srv/app/server.py', (None, None)),
])
def test_command_server(value, expected):
    assert a.command_server(words(value)) == expected


@pytest.mark.parametrize('comm, cmdline, expected', [
    ('gunicorn', ['/srv/venv/bin/python3', '/srv/venv/bin/gunicorn', 'app:app'], 'gunicorn'),
    ('uvicorn', ['/srv/venv/bin/python3', '/srv/venv/bin/uvicorn', 'app:app'], 'uvicorn'),
    ('python3', ['/srv/venv/bin/python3', '-m', 'uvicorn', 'app:app'], 'uvicorn'),
    ('uwsgi', ['/usr/bin/uwsgi', '--ini', 'app.ini'], 'uwsgi'),
    ('uWSGI worker 1', ['uWSGI worker 1'], 'uwsgi'),
    # uvicorn's --workers children: spawned interpreters, told apart by their parent (build_pairs).
    ('python3', ['/srv/venv/bin/python3', '-c', 'from multiprocessing.spawn import spawn_main; spawn_main(tracker_fd=5)',
                 '--multiprocessing-fork'], None),
    ('python3', ['/usr/bin/python3', '/srv/app/server.py'], None),
])
def test_process_server(comm, cmdline, expected):
    assert a.process_server(comm, cmdline) == expected


def test_socket_path_template():
    assert a.socket_path(a.SOCKET_TEMPLATE, 'shop', 'uvicorn') == '/run/shop/uvicorn.sock'
    assert a.socket_path('/run/{app}/gunicorn.sock', 'shop', 'uwsgi') == '/run/shop/gunicorn.sock'


@pytest.mark.parametrize('allow, address, expected', [
    ('127.0.0.1,::1', '127.0.0.1', True),
    ('127.0.0.1,::1', '192.168.1.20', False),
    ('10.0.0.0/8', '10.1.2.3', True),
    ('*', '192.168.1.20', True),
    ('', '127.0.0.1', False),
    ('unix:/x', '127.0.0.1', False),
    ('::1', '::1', True),
    ('127.0.0.1', '::ffff:127.0.0.1', False),
    ('', '', False),
    ('app-host', 'app-host', True),
])
def test_trusted(allow, address, expected):
    assert a.trusted(allow, address) is expected


@pytest.mark.parametrize('address, expected', [
    ('127.0.0.1:8000', {'host': '127.0.0.1', 'port': 8000}),
    (':8000', {'host': '0.0.0.0', 'port': 8000}),
    ('[::1]:8000', {'host': '::1', 'port': 8000}),
    ('::1:8000', {'host': '::1', 'port': 8000}),     # uWSGI reads the port after the last colon
    ('localhost:8000', {'host': 'localhost', 'port': 8000}),
    ('[::1]', None),
    ('127.0.0.1:http', None),
    ('/run/app.sock', None),
    ('@abstract', None),
    ('', None),
])
def test_parse_tcp(address, expected):
    assert a.parse_tcp(address, '0.0.0.0') == expected


# ---------------------------------------------------------------------------------------------
# uvicorn

@pytest.mark.parametrize('args, environment, binds, source', [
    (['app:app'], {}, ['127.0.0.1:8000'], 'default'),
    (['app:app', '--host', '127.0.0.1', '--port', '8001'], {}, ['127.0.0.1:8001'], 'command line'),
    (['--port=8002', 'app:app'], {'UVICORN_PORT': '9000'}, ['127.0.0.1:8002'], 'command line'),
    (['app:app'], {'UVICORN_PORT': '9000', 'UVICORN_HOST': '::1'}, ['[::1]:9000'], 'UVICORN_HOST'),
    (['app:app', '--uds', '/run/x.sock'], {}, ['unix:/run/x.sock'], 'command line'),
    (['app:app', '--fd', '3'], {}, ['fd://3'], 'command line'),
])
def test_uvicorn_listener(args, environment, binds, source):
    settings = a.uvicorn_settings(args, environment)
    assert (settings['binds'], settings['bind_source']) == (binds, source)


def test_uvicorn_settings_the_switch_depends_on():
    settings = a.uvicorn_settings(['app:app', '--workers', '4', '--no-proxy-headers'], {'FORWARDED_ALLOW_IPS': '10.0.0.1'})
    assert (settings['workers'], settings['reload'], settings['proxy_headers'], settings['forwarded_allow_ips']) == (4, False, False, '10.0.0.1')
    settings = a.uvicorn_settings(['app:app', '--reload'], {'WEB_CONCURRENCY': '2'})
    assert (settings['workers'], settings['reload'], settings['proxy_headers']) == (2, True, True)
    assert settings['forwarded_allow_ips'] == '127.0.0.1,::1'
    assert a.uvicorn_settings(['app:app'], {'UVICORN_RELOAD': 'true'})['reload'] is True


def test_uvicorn_exec_start_takes_descriptor_3_and_keeps_the_rest():
    value = '/srv/venv/bin/uvicorn --host 127.0.0.1 --port=8000 --workers 2 --log-level "warning" shop.asgi:app'
    assert a.uvicorn_exec_start(value) == '/srv/venv/bin/uvicorn --fd 3 --workers 2 --log-level "warning" shop.asgi:app'
    assert a.uvicorn_exec_start(value, trust_all=True) == ('/srv/venv/bin/uvicorn --fd 3 --forwarded-allow-ips "*" --workers 2 '
                                                           '--log-level "warning" shop.asgi:app')
    value = '-/usr/bin/python3 -m uvicorn shop.asgi:app --port 8000 --forwarded-allow-ips 127.0.0.1 --proxy-headers'
    assert a.uvicorn_exec_start(value, trust_all=True) == ('-/usr/bin/python3 -m uvicorn --fd 3 --forwarded-allow-ips "*" '
                                                           'shop.asgi:app --proxy-headers')
    with pytest.raises(ValueError, match='does not run uvicorn directly'):
        a.uvicorn_exec_start('/srv/app/start.sh')


def codes(problems):
    return [code for code, dummy in problems]


@pytest.mark.parametrize('args, version, drop_tcp, expected', [
    (['app:app'], '0.54.0', True, []),
    (['app:app'], None, True, []),
    (['app:app', '--workers', '4'], '0.54.0', True, []),
    (['app:app', '--workers', '4'], '0.14.0', True, ['server_version']),
    (['app:app', '--workers', '4'], None, True, ['server_version']),
    (['app:app', '--reload'], '0.54.0', True, ['development_server']),
    (['app:app'], '0.54.0', False, ['keep_tcp_unsupported']),
    (['app:app', '--ssl-certfile', '/etc/ssl/x.pem'], '0.54.0', True, ['https']),
])
def test_uvicorn_problems(args, version, drop_tcp, expected):
    problems = a.uvicorn_problems('shop.service', a.uvicorn_settings(args, {}), version, drop_tcp)
    assert codes(problems) == expected
    for dummy, msg in problems:
        assert 'shop.service' in msg


def test_reload_is_refused_with_the_unit_and_the_fix():
    ((code, msg),) = a.uvicorn_problems('shop.service', a.uvicorn_settings(['app:app', '--reload'], {}), '0.54.0', True)
    assert code == 'development_server'
    assert msg.startswith('shop.service runs uvicorn with --reload, its development mode')
    assert msg.endswith('remove --reload from ExecStart (use --workers N for more processes), restart shop.service and run again')


@pytest.mark.parametrize('version, expected', [('0.54.0', (0, 54, 0)), ('0.15.0rc1', (0, 15, 0)), (None, None), ('x', None)])
def test_version_tuple(version, expected):
    assert a.version_tuple(version) == expected


def test_parse_version():
    assert a.parse_version('from x import y\n__version__ = "0.54.0"\n') == '0.54.0'
    assert a.parse_version("__version__: str = '0.15.0'\n") == '0.15.0'
    assert a.parse_version('') is None


# ---------------------------------------------------------------------------------------------
# gunicorn with uvicorn's workers

def test_gunicorn_worker_class_and_forwarded_allow_ips():
    assert a.gunicorn_worker_class(['-k', 'uvicorn.workers.UvicornWorker', 'app:app'], [], None) == 'uvicorn.workers.UvicornWorker'
    assert a.gunicorn_worker_class(['app:app'], ['--worker-class=uvicorn_worker.UvicornWorker'], None) == 'uvicorn_worker.UvicornWorker'
    assert a.gunicorn_worker_class(['app:app'], [], 'worker_class = "uvicorn.workers.UvicornH11Worker"\n') == 'uvicorn.workers.UvicornH11Worker'
    assert a.gunicorn_worker_class(['app:app'], [], None) == 'sync'
    assert a.is_uvicorn_worker('uvicorn.workers.UvicornWorker') and not a.is_uvicorn_worker('gthread')
    assert a.gunicorn_forwarded_allow_ips(['--forwarded-allow-ips', '10.0.0.1'], [], None) == '10.0.0.1'
    assert a.gunicorn_forwarded_allow_ips([], [], "forwarded_allow_ips = '*'\n") == '*'
    assert a.gunicorn_forwarded_allow_ips([], [], None, {'FORWARDED_ALLOW_IPS': '127.0.0.1'}) == '127.0.0.1'
    assert a.gunicorn_forwarded_allow_ips([], [], None) == '127.0.0.1,::1'


# ---------------------------------------------------------------------------------------------
# uWSGI

INI = """\
[uwsgi]
; the app
module = shop.wsgi:application
http_socket = 127.0.0.1:8000
master = true
processes = 4
stats = 127.0.0.1:9191

[other]
socket = /run/other.sock
"""


def listeners(settings):
    return [(item['option'], item['address'], item['protocol'], item['source']) for item in settings['listeners']]


def test_uwsgi_listeners_from_the_command_line():
    settings = a.uwsgi_settings(['--http-socket', '127.0.0.1:8000', '-s', '/run/x.sock', '--socket=:9000', '--master'])
    assert listeners(settings) == [('http-socket', '127.0.0.1:8000', 'http', 'command line'),
                                   ('socket', '/run/x.sock', 'uwsgi', 'command line'),
                                   ('socket', ':9000', 'uwsgi', 'command line')]
    assert [item['tcp'] for item in settings['listeners']] == [{'host': '127.0.0.1', 'port': 8000}, None, {'host': '0.0.0.0', 'port': 9000}]
    assert a.uwsgi_binds(settings) == ['127.0.0.1:8000', 'unix:/run/x.sock', '0.0.0.0:9000']
    # --protocol makes the default sockets speak it.
    assert listeners(a.uwsgi_settings(['--socket', ':8000', '--protocol=http']))[0][2] == 'http'


def test_uwsgi_listeners_from_an_ini_file_and_the_environment():
    settings = a.uwsgi_settings(['--ini', 'shop.ini'], {'UWSGI_SOCKET': '/run/env.sock'}, {'/srv/shop/shop.ini': INI}, cwd='/srv/shop')
    assert settings['configs'] == [{'kind': 'ini', 'path': '/srv/shop/shop.ini', 'section': 'uwsgi', 'read': True}]
    assert listeners(settings) == [('socket', '/run/env.sock', 'uwsgi', 'environment UWSGI_SOCKET'),
                                   ('http-socket', '127.0.0.1:8000', 'http', '/srv/shop/shop.ini line 4')]
    assert settings['handover_conflicts'] == [{'option': 'stats', 'value': '127.0.0.1:9191', 'source': '/srv/shop/shop.ini line 7'}]
    # Another section, and a bare config file argument.
    assert listeners(a.uwsgi_settings(['/srv/shop/shop.ini:other'], {}, {'/srv/shop/shop.ini': INI}))[0][1] == '/run/other.sock'


def test_uwsgi_exec_start_http_socket():
    value = '/srv/venv/bin/uwsgi --master --http-socket 127.0.0.1:8000 --pidfile /run/shop/uwsgi.pid --wsgi-file shop/wsgi.py'
    settings = a.uwsgi_settings(a.server_args(value, 'uwsgi'))
    (listener,) = settings['listeners']
    assert a.uwsgi_exec_start(value, listener, '/run/shop/uwsgi.sock') == (
        '/srv/venv/bin/uwsgi --http-socket /run/shop/uwsgi.sock --protocol=http --master --pidfile /run/shop/uwsgi.pid '
        '--wsgi-file shop/wsgi.py')
    assert a.uwsgi_exec_start(value, listener, '/run/shop/uwsgi.sock', keep_tcp=True) == (
        '/srv/venv/bin/uwsgi --http-socket /run/shop/uwsgi.sock --protocol=http --master --http-socket 127.0.0.1:8000 '
        '--pidfile /run/shop/uwsgi.pid --wsgi-file shop/wsgi.py')
    # The handover copy does not share the service's pid file (nor stats, master fifo).
    assert a.uwsgi_exec_start(value, listener, '/run/shop/uwsgi.handover.sock', handover=True) == (
        '/srv/venv/bin/uwsgi --http-socket /run/shop/uwsgi.handover.sock --protocol=http --master --wsgi-file shop/wsgi.py')


def test_uwsgi_exec_start_uwsgi_protocol():
    value = '/usr/bin/uwsgi -s 127.0.0.1:8000 --chmod-socket=660 --plugin python3 --module shop.wsgi --stats=/run/shop/stats.sock'
    (listener,) = a.uwsgi_settings(a.server_args(value, 'uwsgi'))['listeners']
    assert a.uwsgi_exec_start(value, listener, '/run/shop/uwsgi.sock') == (
        '/usr/bin/uwsgi --socket /run/shop/uwsgi.sock --chmod-socket=660 --plugin python3 --module shop.wsgi '
        '--stats=/run/shop/stats.sock')
    assert a.uwsgi_exec_start(value, listener, '/run/shop/uwsgi.handover.sock', handover=True) == (
        '/usr/bin/uwsgi --socket /run/shop/uwsgi.handover.sock --chmod-socket=660 --plugin python3 --module shop.wsgi')


def uwsgi_codes(args, environment=None, configs=None, port=8000):
    settings = a.uwsgi_settings(args, environment, configs, cwd='/srv/shop')
    listener = next((item for item in settings['listeners'] if item['tcp'] and item['tcp']['port'] == port), None)
    return codes(a.uwsgi_problems('shop.service', settings, listener, port))


@pytest.mark.parametrize('args, environment, configs, expected', [
    (['--http-socket', '127.0.0.1:8000'], {}, {}, []),
    (['--socket', '127.0.0.1:8000'], {}, {}, []),
    (['--http', '127.0.0.1:8000', '--wsgi-file', 'x.py'], {}, {}, ['server_option_unsupported']),
    (['--ini', 'shop.ini'], {}, {'/srv/shop/shop.ini': INI}, ['config_file_binds', 'handover_conflict']),
    (['--ini', 'shop.ini'], {}, {}, ['config_file_unsupported']),
    (['--yaml', 'shop.yaml', '--http-socket', ':8000'], {}, {}, ['config_file_unsupported']),
    (['--emperor', '/etc/uwsgi/vassals'], {}, {}, ['server_option_unsupported']),
    ([], {'UWSGI_HTTP_SOCKET': '127.0.0.1:8000'}, {}, ['config_file_binds']),
    (['--https-socket', '127.0.0.1:8000,cert.pem,key.pem'], {}, {}, ['https']),
    (['--fastcgi-socket', '127.0.0.1:8000'], {}, {}, ['non_http_use']),
    (['--ini', 'shop.ini'], {}, {'/srv/shop/shop.ini': '[uwsgi]\nhttp-socket = %(host):8000\n'}, ['config_file_binds']),
])
def test_uwsgi_problems(args, environment, configs, expected):
    assert uwsgi_codes(args, environment, configs) == expected


def test_socket_in_the_ini_file_is_refused_with_the_line_and_the_fix():
    settings = a.uwsgi_settings(['--ini', '/srv/shop/shop.ini'], {}, {'/srv/shop/shop.ini': INI})
    problems = a.uwsgi_problems('shop.service', settings, settings['listeners'][0], 8000)
    assert problems[0] == ('config_file_binds', 'shop.service: uWSGI takes port 8000 from /srv/shop/shop.ini line 4 '
                           '(http-socket = 127.0.0.1:8000); every socket option there adds a listener that ExecStart cannot take '
                           'back, so the switch would leave the TCP listener bound and the handover copy could not start: move it '
                           'to ExecStart (delete that line, add --http-socket 127.0.0.1:8000 to ExecStart), restart shop.service '
                           'and run again')


def test_uwsgi_packet():
    packet = a.uwsgi_packet({'PATH_INFO': '/x', 'A': ''})
    body = b'\x09\x00PATH_INFO\x02\x00/x\x01\x00A\x00\x00'
    assert packet == b'\x00' + len(body).to_bytes(2, 'little') + b'\x00' + body
    request = a.uwsgi_probe_request('/health?full=1', 'shop.example.test')
    assert request[0] == 0 and int.from_bytes(request[1:3], 'little') == len(request) - 4
    assert b'\x0c\x00QUERY_STRING\x06\x00full=1' in request and b'\x09\x00PATH_INFO\x07\x00/health' in request
    with pytest.raises(ValueError):
        a.uwsgi_packet({'X': 'y' * 70000})
    assert a.response_status(b'HTTP/1.1 404 Not Found\r\n') == 404 and a.response_status(b'') is None


# ---------------------------------------------------------------------------------------------
# Puma (checked with 5.6.5, Debian bookworm's puma package)

@pytest.mark.parametrize('value, expected', [
    ('/usr/bin/puma -b tcp://127.0.0.1:9292 config.ru', ('puma', 1)),
    ('/srv/app/bin/puma -C config/puma.rb', ('puma', 1)),
    ('/usr/local/bin/bundle exec puma -p 9292', (None, None)),
])
def test_command_server_puma(value, expected):
    assert a.command_server(words(value)) == expected


@pytest.mark.parametrize('comm, cmdline, expected', [
    # Puma sets its process title; the rest of the old command line is NULs.
    ('puma', ['puma 5.6.5 (tcp://127.0.0.1:9292) [shop]', '', ''], 'puma'),
    ('puma', ['puma: cluster worker 0: 4242 [shop]', ''], 'puma'),
    ('ruby', ['/usr/bin/ruby', '/usr/bin/puma', '-p', '9292'], 'puma'),
    ('ruby', ['/usr/bin/ruby', '/srv/app/server.rb'], None),
])
def test_process_server_puma(comm, cmdline, expected):
    assert a.process_server(comm, cmdline) == expected


@pytest.mark.parametrize('args, binds', [
    (['-b', 'tcp://127.0.0.1:9292', 'config.ru'], ['127.0.0.1:9292']),
    (['--bind=tcp://127.0.0.1:9292'], ['127.0.0.1:9292']),
    (['-p', '3000'], ['0.0.0.0:3000']),
    (['-p3000', '-b', 'unix:///run/shop/puma.sock'], ['0.0.0.0:3000', 'unix:/run/shop/puma.sock']),
    (['--port', '3000', '--bind', 'ssl://127.0.0.1:3001?key=k&cert=c'], ['0.0.0.0:3000', '127.0.0.1:3001']),
    (['-C', 'config/puma.rb'], []),
])
def test_puma_binds(args, binds):
    assert a.puma_binds(a.puma_settings(args)) == binds


def test_puma_config_files():
    assert a.puma_settings(['-C', 'config/puma.rb'], {}, '/srv/shop')['config_candidates'] == ['/srv/shop/config/puma.rb']
    assert a.puma_settings(['config.ru'], {'RAILS_ENV': 'production'}, '/srv/shop')['config_candidates'] == [
        '/srv/shop/config/puma/production.rb', '/srv/shop/config/puma.rb']
    assert a.puma_settings(['--dir', '/srv/other', '-e', 'staging'], {}, '/srv/shop')['config_candidates'] == [
        '/srv/other/config/puma/staging.rb', '/srv/other/config/puma.rb']


def test_puma_exec_start_replaces_the_pairs_bind_and_keeps_the_rest():
    value = '/usr/bin/puma -b tcp://127.0.0.1:9292 --pidfile /run/shop/puma.pid -w 2 --control-url "tcp://127.0.0.1:9293" config.ru'
    settings = a.puma_settings(a.server_args(value, 'puma'))
    (bind,) = settings['binds']
    assert a.puma_exec_start(value, bind, '/run/shop/puma.sock') == (
        '/usr/bin/puma -b unix:///run/shop/puma.sock --pidfile /run/shop/puma.pid -w 2 --control-url "tcp://127.0.0.1:9293" config.ru')
    # The handover copy: no pidfile, state file or control server of the service's.
    assert a.puma_exec_start(value, bind, '/run/shop/puma.handover.sock', handover=True) == (
        '/usr/bin/puma -b unix:///run/shop/puma.handover.sock -w 2 config.ru')
    # drop_tcp false: the TCP bind stays and takes the socket unit's TCP descriptor.
    assert a.puma_exec_start(value, bind, '/run/shop/puma.sock', keep_tcp=True).startswith(
        '/usr/bin/puma -b unix:///run/shop/puma.sock -b tcp://127.0.0.1:9292 ')
    value = '-/usr/bin/puma --port=9292 --environment production'
    (bind,) = a.puma_settings(a.server_args(value, 'puma'))['binds']
    assert a.puma_exec_start(value, bind, '/run/shop/puma.sock') == '-/usr/bin/puma -b unix:///run/shop/puma.sock --environment production'
    with pytest.raises(ValueError, match='does not run Puma directly'):
        a.puma_exec_start('/usr/local/bin/bundle exec puma -p 9292', bind, '/run/shop/puma.sock')


RAILS_PUMA_RB = """\
# Specifies the `pidfile` that Puma will use.
pidfile ENV.fetch("PIDFILE") { "tmp/pids/server.pid" }
port ENV.fetch("PORT") { 3000 }
"""


@pytest.mark.parametrize('text, shared', [
    (RAILS_PUMA_RB, ['pidfile']),
    ("state_path '/srv/shop/tmp/puma.state'\nactivate_control_app 'unix:///srv/shop/tmp/ctl.sock', { no_token: true }\n"
     "pidfile '/srv/shop/tmp/puma.pid'\n", ['pidfile', 'state_path', 'activate_control_app']),
    ("  activate_control_app\n", ['activate_control_app']),
    ("# pidfile 'x'\n   # state_path 'y'\n=begin\nactivate_control_app\n=end\nworkers 2\n", []),
    # A word on a line with code counts even in a trailing comment: an override too many is harmless.
    ("workers 2 # no pidfile here\n", ['pidfile']),
    ('', []),
    (None, []),
])
def test_puma_config_shared_reads_the_dsl_words_outside_comments(text, shared):
    assert a.puma_config_shared(text) == shared


def test_puma_handover_gets_private_values_for_what_the_config_file_sets():
    overrides = a.puma_handover_overrides(['pidfile', 'state_path', 'activate_control_app'], '/run/shop-keeplocal-handover')
    assert overrides == ['--pidfile', '/run/shop-keeplocal-handover/puma.pid', '--state', '/run/shop-keeplocal-handover/puma.state',
                         '--control-url', 'unix:///run/shop-keeplocal-handover/puma-control.sock']
    assert a.puma_handover_overrides(['state_path'], '/run/shop-keeplocal-handover/') == [
        '--state', '/run/shop-keeplocal-handover/puma.state']
    assert a.puma_handover_overrides([], '/run/shop-keeplocal-handover') == []
    value = '/usr/bin/puma -C config/puma.rb -b tcp://127.0.0.1:9292 --pidfile /run/shop/puma.pid config.ru'
    (bind,) = a.puma_settings(a.server_args(value, 'puma'))['binds']
    # The command line's --pidfile goes, the private one follows the bind; the service's ExecStart gets none of them.
    assert a.puma_exec_start(value, bind, '/run/shop/puma.handover.sock', handover=True, overrides=overrides[:2]) == (
        '/usr/bin/puma -b unix:///run/shop/puma.handover.sock --pidfile /run/shop-keeplocal-handover/puma.pid '
        '-C config/puma.rb config.ru')
    assert a.puma_exec_start(value, bind, '/run/shop/puma.sock', overrides=overrides) == (
        '/usr/bin/puma -b unix:///run/shop/puma.sock -C config/puma.rb --pidfile /run/shop/puma.pid config.ru')


def test_puma_bind_in_a_config_file_is_refused_with_the_file_and_the_fix():
    settings = a.puma_settings(['-C', '/srv/shop/config/puma.rb'], {}, '/srv/shop')
    ((code, msg),) = a.puma_problems('shop.service', settings, None, 9292, ['/srv/shop/config/puma.rb'])
    assert code == 'config_file_binds'
    assert msg == ('shop.service: Puma takes port 9292 from /srv/shop/config/puma.rb, not from ExecStart; the switch rewrites '
                   'only ExecStart: move the bind to ExecStart (add -b tcp://127.0.0.1:9292 there; a bind on the command line '
                   'replaces the config file\'s), restart shop.service and run again')
    ((code, msg),) = a.puma_problems('shop.service', a.puma_settings([], {}, '/srv/shop'), None, 9292, [])
    assert code == 'config_file_binds' and 'no config file (/srv/shop/config/puma/development.rb, /srv/shop/config/puma.rb)' in msg


def test_puma_tls_is_refused():
    settings = a.puma_settings(['-b', 'ssl://127.0.0.1:9292?key=k&cert=c'])
    assert [code for code, dummy in a.puma_problems('shop.service', settings, settings['binds'][0], 9292)] == ['https']


def test_messages_name_the_switched_servers_from_one_list():
    assert a.switched_servers() == 'gunicorn, uvicorn, uWSGI or Puma'
    assert a.switched_servers('and') == 'gunicorn, uvicorn, uWSGI and Puma'
    assert set(a.SERVER_NAMES) == set(a.SERVERS)
    assert a.in_words(['gunicorn']) == 'gunicorn'
