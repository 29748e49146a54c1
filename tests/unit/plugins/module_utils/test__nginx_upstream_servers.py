# Copyright (c) 2026 keeplocal.traffic contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Discovery and the nginx rewrite for the app servers besides plain gunicorn: gunicorn with uvicorn's
workers, uvicorn standalone, uWSGI behind proxy_pass (--http-socket) and behind uwsgi_pass (--socket).
The host facts are shaped as the module reports them (see test__nginx_upstream.lab_host)."""

from __future__ import annotations

import pytest

from ansible_collections.keeplocal.traffic.plugins.module_utils import _nginx_upstream as nu

from ansible_collections.keeplocal.traffic.tests.unit.plugins.module_utils.test__nginx_upstream import LAB_SITE, assert_only, debian, payload_of

UNIT = """\
# /etc/systemd/system/shop.service
[Unit]
Description=shop
After=network.target

[Service]
User=shop
Group=shop
WorkingDirectory=/srv/shop
ExecStart={exec_start}
Restart=on-failure

[Install]
WantedBy=multi-user.target
"""

SITE = LAB_SITE.replace('upstream app', 'upstream shop').replace('http://app', 'http://shop')
UWSGI_SITE = """\
server {
    listen 80 default_server;
    location /static/ { alias /srv/shop/static/; }
    location / {
        include uwsgi_params;
        uwsgi_pass 127.0.0.1:8000;
    }
}
"""


def host_for(exec_start, processes, environment=None, config_files=None, version=None, listen_ip='127.0.0.1'):
    """One app listening on listen_ip:8000 in shop.service, nginx (pid 401) connected to it.

    ``processes``: [(pid, ppid, comm, cmdline)]; every one of them holds the listener.
    """
    tcp = [
        {'local_ip': listen_ip, 'local_port': 8000, 'remote_ip': '0.0.0.0', 'remote_port': 0, 'state': 'LISTEN', 'uid': 999, 'inode': 100},
        {'local_ip': '127.0.0.1', 'local_port': 41000, 'remote_ip': '127.0.0.1', 'remote_port': 8000, 'state': 'ESTABLISHED', 'uid': 33, 'inode': 200},
    ]
    found = {'401': {'pid': 401, 'ppid': 400, 'comm': 'nginx', 'cmdline': [], 'unit': 'nginx.service', 'cwd': None, 'environment': {}}}
    for pid, ppid, comm, cmdline in processes:
        found[str(pid)] = {'pid': pid, 'ppid': ppid, 'comm': comm, 'cmdline': cmdline, 'unit': 'shop.service', 'cwd': '/srv/shop',
                           'environment': dict(environment or {})}
    unit = {'cat': UNIT.format(exec_start=exec_start), 'socket_cat': None}
    if version:
        unit['server_version'] = {'version': version, 'path': '/srv/venv/lib/python3.11/site-packages/uvicorn/__init__.py'}
    return {'addresses': ['192.168.1.20'], 'tcp': tcp, 'unix': [],
            'owners': {'100': [pid for pid, dummy, dummy2, dummy3 in processes], '200': [401]},
            'processes': found, 'units': {'shop.service': unit}, 'config_files': dict(config_files or {})}


def pair_for(host, site=SITE, **kwargs):
    files = debian({'shop': site})
    (pair,) = nu.build_pairs(nu.analyze(payload_of(files), host['addresses']), host, **kwargs)['pairs']
    return pair


def codes(pair):
    return [reason['code'] for reason in pair['reasons']]


VENV = '/srv/venv/bin/'
UVICORN = [(301, 1, 'uvicorn', ['/srv/venv/bin/python3', VENV + 'uvicorn', 'shop.asgi:app'])]
SPAWNED = ['/srv/venv/bin/python3', '-c', 'from multiprocessing.spawn import spawn_main; spawn_main(tracker_fd=5, pipe_handle=7)',
           '--multiprocessing-fork']
UWSGI = [(301, 1, 'uwsgi', [VENV + 'uwsgi']), (302, 301, 'uwsgi', [VENV + 'uwsgi'])]


# ---------------------------------------------------------------------------------------------
# gunicorn with uvicorn's workers: it is gunicorn

def test_gunicorn_with_uvicorn_workers_is_switched_like_gunicorn_and_keeps_trusting_nginx():
    exec_start = VENV + 'gunicorn -k uvicorn.workers.UvicornWorker --workers 2 --bind 127.0.0.1:8000 shop.asgi:app'
    gunicorns = [(301, 1, 'gunicorn', ['/srv/venv/bin/python3', VENV + 'gunicorn']),
                 (302, 301, 'gunicorn', ['/srv/venv/bin/python3', VENV + 'gunicorn'])]
    pair = pair_for(host_for(exec_start, gunicorns))
    assert pair['safe'], pair['reasons']
    assert pair['gunicorn'] is pair['server'] and pair['server']['worker_class'] == 'uvicorn.workers.UvicornWorker'
    proposed = pair['proposed']
    assert (proposed['server'], proposed['protocol'], proposed['probe'], proposed['socket']) == (
        'gunicorn', 'http', 'http', '/run/shop/gunicorn.sock')
    # uvicorn's workers trust X-Forwarded-* from forwarded_allow_ips only: over the socket the peer has no address.
    assert proposed['exec_start'] == (VENV + 'gunicorn --bind unix:/run/shop/gunicorn.sock --umask 0117 --forwarded-allow-ips "*" '
                                      '-k uvicorn.workers.UvicornWorker --workers 2 shop.asgi:app')
    assert proposed['handover_exec_start'] == (VENV + 'gunicorn --bind unix:/run/shop/gunicorn.handover.sock --umask 0117 '
                                               '--forwarded-allow-ips "*" -k uvicorn.workers.UvicornWorker --workers 2 shop.asgi:app')
    assert proposed['trust_forwarded'] is True
    assert any('--forwarded-allow-ips *' in warning for warning in pair['warnings'])


def test_plain_gunicorn_gets_no_forwarded_option():
    exec_start = VENV + 'gunicorn --bind 127.0.0.1:8000 shop.wsgi'
    pair = pair_for(host_for(exec_start, [(301, 1, 'gunicorn', [VENV + 'gunicorn'])]))
    assert pair['safe'] and pair['proposed']['trust_forwarded'] is False
    assert '--forwarded-allow-ips' not in pair['proposed']['exec_start']


# ---------------------------------------------------------------------------------------------
# uvicorn standalone

def test_uvicorn_is_switched_onto_descriptor_3():
    exec_start = VENV + 'uvicorn shop.asgi:app --host 127.0.0.1 --port 8000 --workers 2 --log-level warning'
    processes = UVICORN + [(302, 301, 'python3', SPAWNED), (303, 301, 'python3', SPAWNED)]
    pair = pair_for(host_for(exec_start, processes, version='0.54.0'))
    assert pair['safe'], pair['reasons']
    assert pair['gunicorn'] is None
    server = pair['server']
    assert (server['server'], server['binds'], server['bind_source'], server['version'], server['workers']) == (
        'uvicorn', ['127.0.0.1:8000'], 'command line', '0.54.0', 2)
    proposed = pair['proposed']
    assert (proposed['socket'], proposed['handover_socket']) == ('/run/shop/uvicorn.sock', '/run/shop/uvicorn.handover.sock')
    final = VENV + 'uvicorn --fd 3 --forwarded-allow-ips "*" shop.asgi:app --workers 2 --log-level warning'
    # Service and handover copy each take descriptor 3 from their own socket unit.
    assert proposed['exec_start'] == proposed['handover_exec_start'] == final
    assert proposed['tcp_listen'] == [] and proposed['original_exec_start'] == exec_start
    assert pair['references'][0]['requests'][0]['socket']['REMOTE_ADDR'] is None
    assert any(warning.startswith('uvicorn gives the app the client 127.0.0.1 over TCP and none over the Unix socket')
               for warning in pair['warnings'])


def test_python_m_uvicorn_with_the_port_from_the_environment():
    exec_start = '/usr/bin/python3 -m uvicorn shop.asgi:app --no-proxy-headers'
    processes = [(301, 1, 'python3', ['/usr/bin/python3', '-m', 'uvicorn', 'shop.asgi:app'])]
    pair = pair_for(host_for(exec_start, processes, environment={'UVICORN_PORT': '8000'}))
    assert pair['safe'], pair['reasons']
    assert pair['server']['bind_source'] == 'UVICORN_PORT'
    assert pair['proposed']['exec_start'] == '/usr/bin/python3 -m uvicorn --fd 3 shop.asgi:app --no-proxy-headers'


@pytest.mark.parametrize('exec_start, version, kwargs, expected', [
    (VENV + 'uvicorn shop.asgi:app --port 8000 --reload', '0.54.0', {}, ['development_server']),
    (VENV + 'uvicorn shop.asgi:app --port 8000 --workers 3', '0.14.0', {}, ['server_version']),
    (VENV + 'uvicorn shop.asgi:app --port 8000', '0.54.0', {'drop_tcp': False}, ['keep_tcp_unsupported']),
    (VENV + 'uvicorn shop.asgi:app --port 9000', '0.54.0', {}, ['exec_start_unsupported']),
    ('/srv/shop/run.sh', '0.54.0', {}, ['exec_start_unsupported']),
])
def test_uvicorn_refusals(exec_start, version, kwargs, expected):
    pair = pair_for(host_for(exec_start, UVICORN, version=version), **kwargs)
    assert not pair['safe'] and codes(pair) == expected
    assert all('shop.service' in reason['msg'] for reason in pair['reasons'])


def test_wrapper_script_is_refused_naming_the_unit_and_the_fix():
    pair = pair_for(host_for('/srv/shop/run.sh', UVICORN))
    (reason,) = pair['reasons']
    assert reason == {'code': 'exec_start_unsupported',
                      'msg': "ExecStart of shop.service does not run uvicorn directly (/srv/shop/run.sh); a wrapper hides its "
                             "options: make ExecStart run uvicorn itself (the wrapper's last line, with its options), or change "
                             "the listener by hand"}
    assert pair['proposed'] is None


def test_unknown_server_is_refused_naming_the_unit():
    pair = pair_for(host_for(VENV + 'hypercorn shop.asgi:app', [(301, 1, 'hypercorn', ['/srv/venv/bin/python3', VENV + 'hypercorn'])]))
    assert codes(pair) == ['unknown_server']
    assert pair['reasons'][0]['msg'] == ('port 8000 is served by hypercorn (pid 301) in shop.service, which is not an app server '
                                         'this module switches (gunicorn, uvicorn, uWSGI or Puma): move it to a Unix socket by hand, or '
                                         'run the app under one of them')


# ---------------------------------------------------------------------------------------------
# uWSGI behind proxy_pass (--http-socket)

def test_uwsgi_http_socket_behind_proxy_pass():
    exec_start = VENV + 'uwsgi --master --processes 2 --http-socket 127.0.0.1:8000 --wsgi-file /srv/shop/wsgi.py'
    pair = pair_for(host_for(exec_start, UWSGI))
    assert pair['safe'], pair['reasons']
    assert (pair['server']['server'], pair['server']['protocol'], pair['server']['binds']) == ('uwsgi', 'http', ['127.0.0.1:8000'])
    proposed = pair['proposed']
    assert (proposed['socket'], proposed['protocol'], proposed['probe']) == ('/run/shop/uwsgi.sock', 'http', 'http')
    assert proposed['exec_start'] == (VENV + 'uwsgi --http-socket /run/shop/uwsgi.sock --protocol=http --master --processes 2 '
                                      '--wsgi-file /srv/shop/wsgi.py')
    assert proposed['handover_exec_start'] == (VENV + 'uwsgi --http-socket /run/shop/uwsgi.handover.sock --protocol=http --master '
                                               '--processes 2 --wsgi-file /srv/shop/wsgi.py')
    assert pair['references'][0]['requests'][0]['socket']['REMOTE_ADDR'] == '0.0.0.0'


def test_uwsgi_keeping_tcp_takes_both_from_the_socket_unit():
    exec_start = VENV + 'uwsgi --http-socket 127.0.0.1:8000 --wsgi-file /srv/shop/wsgi.py'
    pair = pair_for(host_for(exec_start, UWSGI), drop_tcp=False)
    assert pair['safe'], pair['reasons']
    assert pair['proposed']['tcp_listen'] == ['127.0.0.1:8000']
    assert pair['proposed']['exec_start'] == (VENV + 'uwsgi --http-socket /run/shop/uwsgi.sock --protocol=http --http-socket '
                                              '127.0.0.1:8000 --wsgi-file /srv/shop/wsgi.py')


def test_uwsgi_socket_in_the_ini_file_is_refused():
    ini = '[uwsgi]\nmodule = shop.wsgi\nhttp-socket = 127.0.0.1:8000\n'
    pair = pair_for(host_for(VENV + 'uwsgi --ini /etc/uwsgi/shop.ini', UWSGI, config_files={'/etc/uwsgi/shop.ini': ini}))
    assert codes(pair) == ['config_file_binds'] and pair['proposed'] is None
    assert pair['server']['listeners'] == [{'option': 'http-socket', 'address': '127.0.0.1:8000', 'protocol': 'http',
                                            'source': '/etc/uwsgi/shop.ini line 3'}]
    assert 'add --http-socket 127.0.0.1:8000 to ExecStart' in pair['reasons'][0]['msg']


def test_uwsgi_ini_without_the_socket_is_switched():
    ini = '[uwsgi]\nmodule = shop.wsgi\nmaster = true\n'
    exec_start = VENV + 'uwsgi --ini /etc/uwsgi/shop.ini --http-socket 127.0.0.1:8000'
    pair = pair_for(host_for(exec_start, UWSGI, config_files={'/etc/uwsgi/shop.ini': ini}))
    assert pair['safe'], pair['reasons']
    assert pair['proposed']['exec_start'] == VENV + 'uwsgi --http-socket /run/shop/uwsgi.sock --protocol=http --ini /etc/uwsgi/shop.ini'


def test_uwsgi_http_router_is_refused_with_the_fix():
    pair = pair_for(host_for(VENV + 'uwsgi --http 127.0.0.1:8000 --wsgi-file /srv/shop/wsgi.py', UWSGI))
    assert codes(pair) == ['server_option_unsupported']
    assert 'replace it with --http-socket 127.0.0.1:8000' in pair['reasons'][0]['msg']


# ---------------------------------------------------------------------------------------------
# uWSGI behind uwsgi_pass (--socket, the uwsgi protocol)

def test_uwsgi_pass_site_is_a_pair_with_the_uwsgi_protocol():
    exec_start = VENV + 'uwsgi --socket 127.0.0.1:8000 --chmod-socket=660 --module shop.wsgi'
    pair = pair_for(host_for(exec_start, UWSGI), site=UWSGI_SITE)
    assert pair['safe'], pair['reasons']
    (reference,) = pair['references']
    assert (reference['directive'], reference['protocol'], reference['requests']) == ('uwsgi_pass', 'uwsgi', [])
    proposed = pair['proposed']
    assert (proposed['protocol'], proposed['probe']) == ('uwsgi', 'uwsgi')
    assert proposed['exec_start'] == VENV + 'uwsgi --socket /run/shop/uwsgi.sock --chmod-socket=660 --module shop.wsgi'
    # nginx passes the client's address in uwsgi_params (REMOTE_ADDR $remote_addr): nothing the app gets changes.
    assert not any('REMOTE_ADDR' in warning for warning in pair['warnings'])


@pytest.mark.parametrize('exec_start, site, expected', [
    # nginx speaks uwsgi to a server speaking HTTP (and the other way round): broken already, not switched.
    (VENV + 'uwsgi --http-socket 127.0.0.1:8000 --module shop.wsgi', UWSGI_SITE, ['protocol_mismatch']),
    (VENV + 'uwsgi --socket 127.0.0.1:8000 --module shop.wsgi', SITE, ['protocol_mismatch']),
    (VENV + 'uwsgi --socket 127.0.0.1:8000 --module shop.wsgi', UWSGI_SITE.replace('uwsgi_pass 127', 'uwsgi_pass suwsgi://127'),
     ['https']),
])
def test_protocols_must_match(exec_start, site, expected):
    assert codes(pair_for(host_for(exec_start, UWSGI), site=site)) == expected


def test_uwsgi_pass_to_a_gunicorn_port_is_a_mismatch():
    pair = pair_for(host_for(VENV + 'gunicorn -b 127.0.0.1:8000 shop.wsgi', [(301, 1, 'gunicorn', [VENV + 'gunicorn'])]), site=UWSGI_SITE)
    assert codes(pair) == ['protocol_mismatch']


@pytest.mark.parametrize('line, expected', [
    ('uwsgi_pass 127.0.0.1:8000;', 'uwsgi_pass unix:/run/shop/uwsgi.sock;'),
    ('uwsgi_pass uwsgi://127.0.0.1:8000;', 'uwsgi_pass uwsgi://unix:/run/shop/uwsgi.sock;'),
    ('uwsgi_pass "localhost:8000";', 'uwsgi_pass "unix:/run/shop/uwsgi.sock";'),
])
def test_uwsgi_pass_is_rewritten_and_reverted_byte_for_byte(line, expected):
    site = UWSGI_SITE.replace('uwsgi_pass 127.0.0.1:8000;', line)
    files = debian({'shop': site})
    result = nu.rewrite(payload_of(files), match_port=8000, to='unix:/run/shop/uwsgi.sock')
    new = result['texts']['/etc/nginx/sites-enabled/shop']
    assert_only(site, new, {6: '        ' + expected})
    assert result['changes'][0]['directive'] == 'uwsgi_pass'
    switched = dict(files, **{'/etc/nginx/sites-enabled/shop': new})
    back = nu.rewrite(payload_of(switched), match_sockets=['/run/shop/uwsgi.sock'], to='localhost:8000' if 'localhost' in line
                      else '127.0.0.1:8000')
    assert back['texts']['/etc/nginx/sites-enabled/shop'] == site


def test_uwsgi_pass_through_an_upstream_block():
    site = 'upstream shop {\n    server 127.0.0.1:8000;\n}\n' + UWSGI_SITE.replace('uwsgi_pass 127.0.0.1:8000;', 'uwsgi_pass shop;')
    pair = pair_for(host_for(VENV + 'uwsgi --socket 127.0.0.1:8000 --module shop.wsgi', UWSGI), site=site)
    assert pair['safe'], pair['reasons']
    assert pair['references'][0]['protocol'] == 'uwsgi' and pair['references'][0]['directive'] == 'server'
    files = debian({'shop': site})
    result = nu.rewrite(payload_of(files), match_port=8000, to='unix:/run/shop/uwsgi.sock')
    assert_only(site, result['texts']['/etc/nginx/sites-enabled/shop'], {2: '    server unix:/run/shop/uwsgi.sock;'})


def test_socket_path_with_placeholders_left_is_refused():
    assert 'still names {server}' in nu.socket_path_problem('/run/shop/{server}.sock')
    assert nu.socket_path_problem('/run/shop/uwsgi.sock') is None


def test_uwsgi_stopped_with_sigterm_is_a_warning():
    exec_start = VENV + 'uwsgi --http-socket 127.0.0.1:8000 --wsgi-file /srv/shop/wsgi.py'
    pair = pair_for(host_for(exec_start, UWSGI))
    assert pair['safe'] and any(warning.startswith('shop.service stops uWSGI with SIGTERM (no KillSignal=)') for warning in pair['warnings'])
    for quiet in (exec_start + ' --die-on-term', exec_start + '\nKillSignal=SIGQUIT'):
        assert not any('SIGTERM' in warning for warning in pair_for(host_for(quiet, UWSGI))['warnings'])


def test_uwsgi_with_die_on_term_stopped_with_sigquit_is_a_warning():
    # --die-on-term swaps uWSGI 2.0's SIGTERM and SIGQUIT: SIGQUIT (uWSGI's systemd page) then reloads, and each stop
    # waits out TimeoutStopSec (seen with Debian's uWSGI 2.0.21: "binary reloading uWSGI", SIGKILL after 90 s).
    exec_start = VENV + 'uwsgi --http-socket 127.0.0.1:8000 --wsgi-file /srv/shop/wsgi.py --die-on-term'
    pair = pair_for(host_for(exec_start + '\nKillSignal=SIGQUIT', UWSGI))
    assert pair['safe'] and any(warning.startswith('shop.service stops uWSGI with KillSignal=SIGQUIT, which uWSGI 2.0 takes as a '
                                                   'reload with --die-on-term') for warning in pair['warnings'])
    for quiet in (exec_start, exec_start + '\nKillSignal=SIGINT', exec_start + '\nKillSignal=SIGTERM'):
        assert not any('reload' in warning for warning in pair_for(host_for(quiet, UWSGI))['warnings'])


@pytest.mark.parametrize('option, site, socket', [
    ('--http-socket', SITE.replace('server 127.0.0.1:8000', 'server unix:/run/shop/uwsgi.handover.sock'), '/run/shop/uwsgi.handover.sock'),
    ('--socket', UWSGI_SITE.replace('127.0.0.1:8000', 'unix:/run/shop/uwsgi.sock'), '/run/shop/uwsgi.sock'),
])
def test_uwsgi_on_a_unix_socket_is_read_not_switched(option, site, socket):
    # Where a cutover stands (nginx on the handover copy's socket, or on the final one): the pair is a socket, not a port.
    host = host_for(VENV + 'uwsgi %s %s --module shop.wsgi' % (option, socket), UWSGI)
    host['tcp'] = []
    host['unix'] = [{'path': socket, 'inode': 100, 'state': 'LISTEN'}]
    pair = pair_for(host, site=site)
    assert (pair['kind'], pair['socket'], pair['unit']) == ('unix', socket, 'shop.service')
    assert (pair['server']['server'], pair['server']['protocol']) == ('uwsgi', 'http' if option == '--http-socket' else 'uwsgi')


# ---------------------------------------------------------------------------------------------
# Puma

PUMA = [(301, 1, 'puma', ['puma 5.6.5 (tcp://127.0.0.1:8000) [shop]', '', '']),
        (302, 301, 'puma', ['puma: cluster worker 0: 301 [shop]', '']),
        (303, 301, 'puma', ['puma: cluster worker 1: 301 [shop]', ''])]


def test_puma_is_switched_onto_the_socket_systemd_passes():
    exec_start = '/usr/bin/puma -b tcp://127.0.0.1:8000 -w 2 --pidfile /run/shop/puma.pid config.ru'
    pair = pair_for(host_for(exec_start, PUMA))
    assert pair['safe'], pair['reasons']
    server = pair['server']
    assert (server['server'], server['binds'], server['bind_source'], server['workers']) == (
        'puma', ['127.0.0.1:8000'], 'command line', 2)
    proposed = pair['proposed']
    assert (proposed['protocol'], proposed['probe'], proposed['socket']) == ('http', 'http', '/run/shop/puma.sock')
    assert proposed['exec_start'] == '/usr/bin/puma -b unix:///run/shop/puma.sock -w 2 --pidfile /run/shop/puma.pid config.ru'
    assert proposed['handover_exec_start'] == '/usr/bin/puma -b unix:///run/shop/puma.handover.sock -w 2 config.ru'
    assert proposed['tcp_listen'] == [] and proposed['trust_forwarded'] is False
    assert pair['references'][0]['requests'][0]['socket']['REMOTE_ADDR'] == '127.0.0.1'
    assert any(warning.startswith('Puma sets REMOTE_ADDR 127.0.0.1 over TCP and 127.0.0.1 over the Unix socket')
               for warning in pair['warnings'])


def test_puma_keeps_tcp_when_asked():
    pair = pair_for(host_for('/usr/bin/puma -p 8000 config.ru', PUMA[:1], listen_ip='0.0.0.0'), drop_tcp=False)
    assert pair['safe'], pair['reasons']
    assert pair['proposed']['tcp_listen'] == ['0.0.0.0:8000']
    assert pair['proposed']['exec_start'] == '/usr/bin/puma -b unix:///run/shop/puma.sock -p 8000 config.ru'


@pytest.mark.parametrize('config_text, shared, overrides', [
    ('pidfile ENV.fetch("PIDFILE") { "tmp/pids/server.pid" }\nstate_path "tmp/pids/puma.state"\n'
     'activate_control_app "tcp://127.0.0.1:9293"\n', ['pidfile', 'state_path', 'activate_control_app'],
     '--pidfile /run/shop-keeplocal-handover/puma.pid --state /run/shop-keeplocal-handover/puma.state '
     '--control-url unix:///run/shop-keeplocal-handover/puma-control.sock '),
    ('workers 2\n', [], ''),
    # Found but not readable: taken to set all three.
    (None, ['pidfile', 'state_path', 'activate_control_app'],
     '--pidfile /run/shop-keeplocal-handover/puma.pid --state /run/shop-keeplocal-handover/puma.state '
     '--control-url unix:///run/shop-keeplocal-handover/puma-control.sock '),
])
def test_puma_handover_copy_gets_its_own_files_for_what_the_config_file_sets(config_text, shared, overrides):
    exec_start = '/usr/bin/puma -b tcp://127.0.0.1:8000 config.ru'
    pair = pair_for(host_for(exec_start, PUMA[:1], config_files={'/srv/shop/config/puma.rb': config_text}))
    assert pair['safe'], pair['reasons']
    assert pair['server']['config_file'] == '/srv/shop/config/puma.rb' and pair['server']['config_shared'] == shared
    proposed = pair['proposed']
    assert proposed['exec_start'] == '/usr/bin/puma -b unix:///run/shop/puma.sock config.ru'
    assert proposed['handover_exec_start'] == '/usr/bin/puma -b unix:///run/shop/puma.handover.sock %sconfig.ru' % overrides
    assert proposed['handover_runtime_directory'] == ('shop-keeplocal-handover' if shared else None)


@pytest.mark.parametrize('exec_start, config_files, expected', [
    ('/usr/bin/puma -C /srv/shop/config/puma.rb', {'/srv/shop/config/puma.rb': "bind 'tcp://127.0.0.1:8000'\n"}, ['config_file_binds']),
    ('/usr/bin/puma', {}, ['config_file_binds']),
    ('/usr/bin/puma -b tcp://127.0.0.1:9000', {}, ['exec_start_unsupported']),
    ('/usr/bin/puma -b tcp://127.0.0.1:8000 -b tcp://127.0.0.1:8001', {}, ['other_binds']),
    ('/usr/local/bin/bundle exec puma -b tcp://127.0.0.1:8000', {}, ['exec_start_unsupported']),
])
def test_puma_refusals(exec_start, config_files, expected):
    pair = pair_for(host_for(exec_start, PUMA[:1], config_files=config_files))
    assert not pair['safe']
    assert codes(pair) == expected, pair['reasons']
