# Copyright (c) 2026 keeplocal.traffic contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The rewrites discovery proposes, run with the real servers: each case starts the server with its
original ExecStart on 127.0.0.1:<free port>, runs discovery (build_pairs) over a host shaped as the
module reports it, then starts the proposed ``exec_start`` under socket activation (a listening Unix
socket handed over as descriptor 3 with LISTEN_FDS/LISTEN_PID, as systemd does) and the proposed
``handover_exec_start`` on the handover socket, and asks each over its socket: HTTP for gunicorn,
uvicorn and uWSGI's --http-socket; the uwsgi protocol for uWSGI's --socket, directly and through a
real nginx with uwsgi_pass when nginx is installed.

The servers come from the virtual environment in KEEPLOCAL_APP_SERVERS (its bin directory or its
root; scripts/app-servers-venv.sh makes one: gunicorn, uvicorn, uWSGI), else from PATH; Puma (Ruby)
always from PATH (Debian: apt-get install puma); each case is skipped when its server is not
installed. Nothing leaves this machine: every address is on loopback or a socket in the test's
temporary directory.
"""

from __future__ import annotations

import glob
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time

import pytest

from ansible_collections.keeplocal.traffic.plugins.module_utils import _app_servers as a
from ansible_collections.keeplocal.traffic.plugins.module_utils import _gunicorn as g
from ansible_collections.keeplocal.traffic.plugins.module_utils import _nginx_upstream as nu

from ansible_collections.keeplocal.traffic.tests.unit.plugins.module_utils.test__nginx_upstream import LAB_SITE, debian, payload_of

ASGI_APP = '''\
import json, os
async def app(scope, receive, send):
    if scope['type'] != 'http':
        return
    body = json.dumps({'pid': os.getpid(), 'client': scope.get('client'), 'scheme': scope.get('scheme'),
                       'path': scope['path']}).encode()
    await send({'type': 'http.response.start', 'status': 200, 'headers': [(b'content-type', b'application/json')]})
    await send({'type': 'http.response.body', 'body': body})
'''
WSGI_APP = '''\
import json, os
def application(environ, start_response):
    body = json.dumps({'pid': os.getpid(), 'client': environ.get('REMOTE_ADDR'), 'scheme': environ.get('wsgi.url_scheme'),
                       'path': environ.get('PATH_INFO'), 'host': environ.get('HTTP_HOST')}).encode()
    start_response('200 OK', [('Content-Type', 'application/json'), ('Content-Length', str(len(body)))])
    return [body]
'''
# Puts the listening sockets given as descriptors on 3, 4, ... and sets LISTEN_FDS/LISTEN_PID for the process it
# becomes, as systemd does for a socket-activated service.
LAUNCH = '''\
import fcntl, os, sys
count = int(sys.argv[1])
fds = [int(fd) for fd in sys.argv[2:2 + count]]
moved = [fcntl.fcntl(fd, fcntl.F_DUPFD, 100) for fd in fds]
for fd in fds:
    os.close(fd)
for index, fd in enumerate(moved):
    os.dup2(fd, 3 + index)
    os.set_inheritable(3 + index, True)
    os.close(fd)
os.environ.update(LISTEN_FDS=str(count), LISTEN_PID=str(os.getpid()))
os.execvp(sys.argv[2 + count], sys.argv[2 + count:])
'''
XFF = {'X-Forwarded-For': '203.0.113.9', 'X-Forwarded-Proto': 'https'}


def server_bin():
    """The bin directory of the app servers' virtual environment, or None (then PATH)."""
    root = os.environ.get('KEEPLOCAL_APP_SERVERS')
    if not root:
        return None
    return root if os.path.basename(root.rstrip('/')) == 'bin' else os.path.join(root, 'bin')


def executable(name):
    directory = server_bin()
    if directory:
        path = os.path.join(directory, name)
        return path if os.access(path, os.X_OK) else None
    return shutil.which(name)


def require(*names):
    found = [executable(name) for name in names]
    if not all(found):
        pytest.skip('%s not installed (set KEEPLOCAL_APP_SERVERS to a venv with them: scripts/app-servers-venv.sh)'
                    % ', '.join(name for name, path in zip(names, found) if not path))
    return found


def python_of(tool):
    """The interpreter a console script runs (its #! line)."""
    with open(tool) as handle:
        return g.shebang_interpreter(handle.read(512)) or sys.executable


def package_init(tool, package):
    """The text of PACKAGE/__init__.py in the environment of a console script (as the module reads versions)."""
    root = os.path.dirname(os.path.dirname(tool))
    for pattern in g.gunicorn_package_globs(python_of(tool)):
        for path in sorted(glob.glob(pattern.replace('/gunicorn/', '/%s/' % package))):
            if path.startswith(root):
                with open(path) as handle:
                    return handle.read()
    return ''


def free_port():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout=5):
        super().__init__('localhost', timeout=timeout)
        self.path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.path)


def http_get(where, path='/probe', headers=None):
    """GET over TCP (a port) or a Unix socket (a path): (status, JSON body)."""
    conn = UnixHTTPConnection(where) if isinstance(where, str) else http.client.HTTPConnection('127.0.0.1', where, timeout=5)
    try:
        conn.request('GET', path, headers=dict(headers or {}))
        response = conn.getresponse()
        return response.status, json.loads(response.read() or b'null')
    finally:
        conn.close()


def uwsgi_get(where, path='/probe'):
    """A GET in the uwsgi protocol (what nginx's uwsgi_pass sends): (status, JSON body)."""
    family, address = (socket.AF_UNIX, where) if isinstance(where, str) else (socket.AF_INET, ('127.0.0.1', where))
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.settimeout(5)
        sock.connect(address)
        sock.sendall(a.uwsgi_probe_request(path))
        data = b''
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    head, _sep, body = data.partition(b'\r\n\r\n')
    return a.response_status(head), json.loads(body or b'null')


def wait_for(ask, where, proc, log, timeout=60):
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        if proc.poll() is not None:
            break
        try:
            return ask(where)
        except (OSError, http.client.HTTPException, ValueError) as exc:
            last = exc
            time.sleep(0.2)
    with open(log) as handle:
        output = handle.read()
    raise AssertionError('no answer on %s (%s; exit %s):\n%s' % (where, last, proc.poll(), output[-3000:]))


class Servers:
    """Starts the commands of one test and stops them (their process groups) at the end."""

    def __init__(self, tmp_path):
        self.tmp_path = tmp_path
        self.procs = []

    def start(self, argv, name, sockets=(), cwd=None, env=None):
        log = str(self.tmp_path / (name + '.log'))
        environment = dict(os.environ, **(env or {}))
        for variable in ('LISTEN_FDS', 'LISTEN_PID', 'LISTEN_FDNAMES'):
            environment.pop(variable, None)
        fds = [sock.fileno() for sock in sockets]
        if fds:
            argv = [sys.executable, '-c', LAUNCH, str(len(fds))] + [str(fd) for fd in fds] + list(argv)
        with open(log, 'w') as out:
            proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=cwd,
                                    env=environment, pass_fds=fds, start_new_session=True)
        self.procs.append(proc)
        return proc, log

    def stop(self, proc):
        if proc.poll() is None:
            # SIGINT: a quick stop for all of them (uWSGI takes SIGTERM as "reload" unless --die-on-term).
            os.killpg(proc.pid, signal.SIGINT)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)

    def stop_all(self):
        for proc in self.procs:
            try:
                self.stop(proc)
            except ProcessLookupError:
                pass


@pytest.fixture
def servers(tmp_path):
    started = Servers(tmp_path)
    yield started
    started.stop_all()


def listening_unix(path, mode=0o666):
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(path)
    os.chmod(path, mode)
    sock.listen(64)
    return sock


def listening_tcp(port):
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(('127.0.0.1', port))
    sock.listen(64)
    return sock


UNIT = '# /etc/systemd/system/shop.service\n[Service]\nUser=shop\nExecStart=%s\n'


def discover(exec_start, processes, port, site=None, version=None, gunicorn_version=None, config_files=None, **kwargs):
    """build_pairs over a host where the service runs ``exec_start`` on 127.0.0.1:port (shaped as the module reports it);
    ``config_files``: {path: text} the module read."""
    tcp = [{'local_ip': '127.0.0.1', 'local_port': port, 'remote_ip': '0.0.0.0', 'remote_port': 0, 'state': 'LISTEN', 'uid': 0,
            'inode': 100}]
    found = {}
    for pid, ppid, comm, cmdline in processes:
        found[str(pid)] = {'pid': pid, 'ppid': ppid, 'comm': comm, 'cmdline': cmdline, 'unit': 'shop.service', 'cwd': '/srv/shop',
                           'environment': {}}
    unit = {'cat': UNIT % exec_start, 'socket_cat': None}
    if version:
        unit['server_version'] = {'version': version, 'path': None}
    if gunicorn_version:
        unit['gunicorn_version'] = {'version': gunicorn_version, 'path': None}
    host = {'addresses': [], 'tcp': tcp, 'unix': [], 'owners': {'100': [pid for pid, dummy, dummy2, dummy3 in processes]},
            'processes': found, 'units': {'shop.service': unit}, 'config_files': dict(config_files or {})}
    text = (site or LAB_SITE.replace('127.0.0.1:8000', '127.0.0.1:%d' % port))
    files = debian({'shop': text})
    (pair,) = nu.build_pairs(nu.analyze(payload_of(files), []), host, **kwargs)['pairs']
    assert pair['safe'], pair['reasons']
    return pair['proposed']


def argv_of(exec_start):
    """An ExecStart value as the argv systemd runs (quotes removed; no $VARIABLES or % specifiers in these)."""
    dummy, words = g.split_exec_start(exec_start)
    return [word['value'] for word in words]


def run_switch(servers, tmp_path, original, proposed, ask, cwd, checks=None, keep_tcp_port=None):
    """Original on TCP, then the final command on the socket, then the handover command on its socket."""
    port = int(proposed['port'])
    proc, log = servers.start(argv_of(original), 'original', cwd=cwd)
    status, body = wait_for(ask, port, proc, log)
    assert status == 200, body
    results = {'original': body}
    if checks:
        checks('original', port)
    servers.stop(proc)

    final_path, handover_path = str(tmp_path / 'final.sock'), str(tmp_path / 'handover.sock')
    sockets = [listening_unix(final_path)] + ([listening_tcp(keep_tcp_port)] if keep_tcp_port else [])
    exec_start = proposed['exec_start'].replace(proposed['socket'], final_path)
    proc, log = servers.start(argv_of(exec_start), 'final', sockets=sockets, cwd=cwd)
    for sock in sockets:
        sock.close()
    status, body = wait_for(ask, final_path, proc, log)
    assert status == 200, body
    results['final'] = body
    if keep_tcp_port:
        status, dummy = wait_for(ask, keep_tcp_port, proc, log)
        assert status == 200
    if checks:
        checks('final', final_path)
    with open(log) as handle:
        results['final_log'] = handle.read()
    servers.stop(proc)

    sock = listening_unix(handover_path)
    exec_start = proposed['handover_exec_start'].replace(proposed['handover_socket'], handover_path)
    proc, log = servers.start(argv_of(exec_start), 'handover', sockets=[sock], cwd=cwd)
    sock.close()
    status, body = wait_for(ask, handover_path, proc, log)
    assert status == 200, body
    results['handover'] = body
    if checks:
        checks('handover', handover_path)
    servers.stop(proc)
    return results


def write_apps(tmp_path):
    app_dir = tmp_path / 'app'
    app_dir.mkdir()
    (app_dir / 'asgi_app.py').write_text(ASGI_APP)
    (app_dir / 'wsgi_app.py').write_text(WSGI_APP)
    return str(app_dir)


# ---------------------------------------------------------------------------------------------

def test_gunicorn_with_uvicorn_workers(servers, tmp_path):
    gunicorn, dummy = require('gunicorn', 'uvicorn')
    cwd = write_apps(tmp_path)
    port = free_port()
    original = '%s -k uvicorn.workers.UvicornWorker --workers 1 --bind 127.0.0.1:%d asgi_app:app' % (gunicorn, port)
    version = g.parse_version_info(package_init(gunicorn, 'gunicorn'))
    proposed = discover(original, [(301, 1, 'gunicorn', [python_of(gunicorn), gunicorn])], port, gunicorn_version=version)
    proposed['port'] = port
    assert '--forwarded-allow-ips "*"' in proposed['exec_start']

    seen = {}

    def checks(step, where):
        seen[step] = http_get(where, headers=XFF)[1]

    run_switch(servers, tmp_path, original, proposed, http_get, cwd, checks)
    # nginx's X-Forwarded-For/-Proto count over the socket as they do over TCP (uvicorn's proxy headers).
    for step in ('original', 'final', 'handover'):
        assert (seen[step]['client'][0], seen[step]['scheme']) == ('203.0.113.9', 'https'), (step, seen[step])


@pytest.mark.parametrize('module_form', [False, True], ids=['uvicorn', 'python -m uvicorn'])
def test_uvicorn_standalone(servers, tmp_path, module_form):
    (uvicorn,) = require('uvicorn')
    cwd = write_apps(tmp_path)
    port = free_port()
    if module_form:
        original = '%s -m uvicorn asgi_app:app --port %d --log-level warning' % (python_of(uvicorn), port)
        processes = [(301, 1, 'python3', [python_of(uvicorn), '-m', 'uvicorn', 'asgi_app:app'])]
    else:
        original = '%s asgi_app:app --host 127.0.0.1 --port %d --workers 2' % (uvicorn, port)
        processes = [(301, 1, 'uvicorn', [python_of(uvicorn), uvicorn]),
                     (302, 301, 'python3', [python_of(uvicorn), '-c', 'from multiprocessing.spawn import spawn_main',
                                            '--multiprocessing-fork'])]
    version = a.parse_version(package_init(uvicorn, 'uvicorn'))
    proposed = discover(original, processes, port, version=version)
    proposed['port'] = port
    assert proposed['exec_start'] == proposed['handover_exec_start']
    assert ' --fd 3 ' in proposed['exec_start'] and '--port' not in proposed['exec_start']

    seen = {}

    def checks(step, where):
        seen[step] = http_get(where, headers=XFF)[1]

    results = run_switch(servers, tmp_path, original, proposed, http_get, cwd, checks)
    if not module_form:  # (--log-level warning keeps the other quiet)
        assert 'Uvicorn running on socket' in results['final_log'] and 'Started parent process' in results['final_log']
    for step in ('original', 'final', 'handover'):
        assert (seen[step]['client'][0], seen[step]['scheme']) == ('203.0.113.9', 'https'), (step, seen[step])
    # Without the trust option the socket loses the client and the scheme: what the rewrite prevents.
    path = str(tmp_path / 'bare.sock')
    sock = listening_unix(path)
    bare = proposed['exec_start'].replace(' --forwarded-allow-ips "*"', '')
    proc, log = servers.start(argv_of(bare), 'bare', sockets=[sock], cwd=cwd)
    sock.close()
    wait_for(http_get, path, proc, log)
    assert http_get(path, headers=XFF)[1]['client'] is None and http_get(path, headers=XFF)[1]['scheme'] == 'http'


@pytest.mark.parametrize('keep_tcp', [False, True], ids=['drop TCP', 'keep TCP'])
def test_uwsgi_http_socket(servers, tmp_path, keep_tcp):
    (uwsgi,) = require('uwsgi')
    cwd = write_apps(tmp_path)
    port = free_port()
    original = ('%s --master --processes 2 --http-socket 127.0.0.1:%d --wsgi-file %s/wsgi_app.py --pidfile %s/uwsgi.pid '
                '--die-on-term' % (uwsgi, port, cwd, tmp_path))
    processes = [(301, 1, 'uwsgi', [uwsgi]), (302, 301, 'uwsgi', [uwsgi])]
    proposed = discover(original, processes, port, drop_tcp=not keep_tcp)
    proposed['port'] = port
    assert '--protocol=http' in proposed['exec_start'] and '--pidfile' not in proposed['handover_exec_start']
    results = run_switch(servers, tmp_path, original, proposed, http_get, cwd,
                         keep_tcp_port=port if keep_tcp else None)
    assert '- SystemD socket activation detected -' in results['final_log']
    assert results['original']['client'] == '127.0.0.1' and results['final']['client'] == '0.0.0.0'


def test_uwsgi_socket_behind_uwsgi_pass(servers, tmp_path):
    (uwsgi,) = require('uwsgi')
    cwd = write_apps(tmp_path)
    port = free_port()
    original = '%s --master --processes 1 --socket 127.0.0.1:%d --wsgi-file %s/wsgi_app.py --die-on-term' % (uwsgi, port, cwd)
    site = ('server {\n    listen 80;\n    location / {\n        include uwsgi_params;\n        uwsgi_pass 127.0.0.1:%d;\n'
            '    }\n}\n' % port)
    proposed = discover(original, [(301, 1, 'uwsgi', [uwsgi])], port, site=site)
    proposed['port'] = port
    assert (proposed['protocol'], proposed['probe']) == ('uwsgi', 'uwsgi')
    nginx = shutil.which('nginx') or ('/usr/sbin/nginx' if os.access('/usr/sbin/nginx', os.X_OK) else None)
    via_nginx = {}

    def checks(step, where):
        if nginx is None or step == 'original':
            return
        # The uwsgi_pass line as the rewrite writes it for this socket.
        files = debian({'shop': site})
        text = nu.rewrite(payload_of(files), match_port=port, to='unix:' + where)['texts']['/etc/nginx/sites-enabled/shop']
        (line,) = [line.strip() for line in text.splitlines() if 'uwsgi_pass' in line]
        via_nginx[step] = (line, nginx_uwsgi_pass(servers, tmp_path, nginx, line, step))

    results = run_switch(servers, tmp_path, original, proposed, uwsgi_get, cwd, checks)
    assert results['final']['path'] == '/probe'
    if nginx is None:
        pytest.skip('nginx not installed: the uwsgi protocol was checked with the test\'s own client only')
    for step, path in (('final', tmp_path / 'final.sock'), ('handover', tmp_path / 'handover.sock')):
        line, (status, body) = via_nginx[step]
        assert line == 'uwsgi_pass unix:%s;' % path
        # nginx passes the client's address in uwsgi_params: the app gets it over the socket as over TCP.
        assert status == 200 and body['client'] == '127.0.0.1' and body['path'] == '/via-nginx', (step, via_nginx[step])


def nginx_uwsgi_pass(servers, tmp_path, nginx, uwsgi_pass, step):
    """nginx (a process of this test, on a loopback port) with the given uwsgi_pass line, asked once over HTTP."""
    if not os.path.exists('/etc/nginx/uwsgi_params'):
        pytest.skip('nginx without /etc/nginx/uwsgi_params')
    prefix = tmp_path / ('nginx-' + step)
    prefix.mkdir()
    port = free_port()
    conf = prefix / 'nginx.conf'
    conf.write_text(
        '%sdaemon off;\npid {p}/nginx.pid;\nerror_log {p}/error.log;\nevents {{}}\nhttp {{\n  access_log off;\n'
        '  client_body_temp_path {p}/cb; proxy_temp_path {p}/pt; fastcgi_temp_path {p}/ft; uwsgi_temp_path {p}/ut;'
        ' scgi_temp_path {p}/st;\n  server {{\n    listen 127.0.0.1:{port};\n    location / {{\n'
        '      include /etc/nginx/uwsgi_params;\n      {line}\n    }}\n  }}\n}}\n'.format(p=prefix, port=port, line=uwsgi_pass)
        % ('user root;\n' if os.geteuid() == 0 else ''))
    proc, log = servers.start([nginx, '-p', str(prefix), '-c', str(conf)], 'nginx-' + step)
    try:
        return wait_for(lambda where: http_get(where, '/via-nginx'), port, proc, log, timeout=20)
    finally:
        servers.stop(proc)


# ---------------------------------------------------------------------------------------------
# Puma (Ruby): from PATH (Debian: apt-get install puma), not from the Python venv

RACK_APP = '''\
require 'json'
run(proc do |env|
  sleep 1 if env['PATH_INFO'] == '/slow'
  body = JSON.generate({'pid' => Process.pid, 'client' => env['REMOTE_ADDR'], 'scheme' => env['rack.url_scheme'],
                        'path' => env['PATH_INFO'], 'host' => env['HTTP_HOST']})
  [200, {'Content-Type' => 'application/json', 'Content-Length' => body.bytesize.to_s}, [body]]
end)
'''


def rack_app(tmp_path):
    """Debian's puma and a directory holding the Rack app; the test is skipped without puma."""
    puma = shutil.which('puma')
    if not puma:
        pytest.skip('puma not installed (Debian: apt-get install puma)')
    cwd = tmp_path / 'rack'
    cwd.mkdir()
    (cwd / 'config.ru').write_text(RACK_APP)
    return puma, cwd


@pytest.mark.parametrize('keep_tcp', [False, True], ids=['drop TCP', 'keep TCP'])
def test_puma(servers, tmp_path, keep_tcp):
    puma, cwd = rack_app(tmp_path)
    port = free_port()
    original = '%s -b tcp://127.0.0.1:%d -w 2 --pidfile %s/puma.pid config.ru' % (puma, port, tmp_path)
    processes = [(301, 1, 'puma', ['puma 5.6.5 (tcp://127.0.0.1:%d) [rack]' % port, '']),
                 (302, 301, 'puma', ['puma: cluster worker 0: 301 [rack]', ''])]
    proposed = discover(original, processes, port, drop_tcp=not keep_tcp)
    proposed['port'] = port
    assert '--pidfile' not in proposed['handover_exec_start']
    assert ('tcp://127.0.0.1:%d' % port in proposed['exec_start']) is keep_tcp
    results = run_switch(servers, tmp_path, original, proposed, http_get, str(cwd), keep_tcp_port=port if keep_tcp else None)
    # Puma adopts the descriptor systemd passes ("Activated"), it does not bind the path itself.
    assert 'Activated unix://%s' % (tmp_path / 'final.sock') in results['final_log'], results['final_log']
    assert results['original']['client'] == '127.0.0.1' and results['final']['client'] == '127.0.0.1'

    # SIGTERM (systemd's stop signal) answers the request in flight before Puma exits.
    path = str(tmp_path / 'stop.sock')
    sock = listening_unix(path)
    proc, log = servers.start(argv_of(proposed['exec_start'].replace(proposed['socket'], path)), 'stop', sockets=[sock], cwd=str(cwd))
    sock.close()
    wait_for(http_get, path, proc, log)
    conn = UnixHTTPConnection(path)
    conn.request('GET', '/slow')
    time.sleep(0.3)
    os.killpg(proc.pid, signal.SIGTERM)
    response = conn.getresponse()
    assert response.status == 200 and json.loads(response.read())['path'] == '/slow'
    conn.close()
    # Puma 5 re-raises SIGTERM after its graceful stop; systemd counts death by the stop signal as a clean exit.
    assert proc.wait(15) in (0, -signal.SIGTERM)


@pytest.mark.parametrize('control', ['unix', 'tcp'])
def test_puma_config_file_pidfile_state_and_control_stay_the_services(servers, tmp_path, control):
    """A config file setting pidfile, state_path and activate_control_app: the handover copy, which reads it too, runs
    next to the service with its own (in what stands for its RuntimeDirectory) and leaves the service's intact."""
    puma, cwd = rack_app(tmp_path)
    service_dir, runtime_dir = tmp_path / 'service', tmp_path / 'handover-runtime'
    service_dir.mkdir()
    runtime_dir.mkdir()
    control_url = 'unix://%s/control.sock' % service_dir if control == 'unix' else 'tcp://127.0.0.1:%d' % free_port()
    config = str(cwd / 'puma.rb')
    text = ("pidfile '%s/puma.pid'\nstate_path '%s/puma.state'\nactivate_control_app '%s', { no_token: true }\n"
            % (service_dir, service_dir, control_url))
    (cwd / 'puma.rb').write_text(text)
    port = free_port()
    original = '%s -C %s -b tcp://127.0.0.1:%d -w 2 config.ru' % (puma, config, port)
    processes = [(301, 1, 'puma', ['puma 5.6.5 (tcp://127.0.0.1:%d) [rack]' % port, ''])]
    proposed = discover(original, processes, port, config_files={config: text})
    assert proposed['handover_runtime_directory'] == 'shop-keeplocal-handover'

    final_path, handover_path = str(tmp_path / 'final.sock'), str(tmp_path / 'handover.sock')
    sock = listening_unix(final_path)
    service, service_log = servers.start(argv_of(proposed['exec_start'].replace(proposed['socket'], final_path)), 'service',
                                         sockets=[sock], cwd=str(cwd))
    sock.close()
    wait_for(http_get, final_path, service, service_log)
    control_at = (control_url[len('unix://'):] if control == 'unix' else int(control_url.rsplit(':', 1)[1]))

    def service_intact():
        assert (service_dir / 'puma.pid').read_text().strip() == str(service.pid)
        assert 'pid: %d\n' % service.pid in (service_dir / 'puma.state').read_text()
        status, stats = http_get(control_at, '/stats')
        assert status == 200 and 'booted_workers' in stats, stats
        assert http_get(final_path)[0] == 200

    service_intact()
    sock = listening_unix(handover_path)
    handover_exec_start = (proposed['handover_exec_start'].replace(proposed['handover_socket'], handover_path)
                           .replace('/run/shop-keeplocal-handover', str(runtime_dir)))
    handover, handover_log = servers.start(argv_of(handover_exec_start), 'handover', sockets=[sock], cwd=str(cwd))
    sock.close()
    status, body = wait_for(http_get, handover_path, handover, handover_log)
    assert status == 200 and body['pid'] != service.pid
    # The copy's own pidfile and control server, in its runtime directory.
    assert (runtime_dir / 'puma.pid').read_text().strip() == str(handover.pid)
    # Its control server has a token of its own (Puma makes one up): it answers, and refuses us.
    conn = UnixHTTPConnection(str(runtime_dir / 'puma-control.sock'))
    conn.request('GET', '/stats')
    assert conn.getresponse().status == 403
    conn.close()
    service_intact()
    os.killpg(handover.pid, signal.SIGTERM)
    assert handover.wait(15) in (0, -signal.SIGTERM)
    service_intact()
