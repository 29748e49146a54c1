# Copyright (c) 2026 keeplocal.traffic contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""nginx_upstream on real nginx configurations of public projects (NetBox, Sentry self-hosted, Taiga,
Read the Docs, Graphite, django-on-docker), each laid over Debian's stock /etc/nginx.

The corpus is other projects' files and stays outside the repository: ``shared/realworld/nginx/``
next to the checkout (found from this file upwards; ``scripts/test.sh`` links it next to the tree
ansible-test runs in). Every case runs the module in this process: ``nginx -T`` lists the files, the
edits are written with their backups, ``nginx -t`` checks them. Only the host's sockets and processes
are made up (a gunicorn under systemd on the case's address), and the socket's directory counts as
existing.

nginx is Debian's package when it is installed and the tests run as root (``nginx -t`` opens the
temp paths and switches to the ``user`` directive's user); otherwise a stand-in lists the files for
``-T`` (following the includes on disk) and fails ``-t`` on what the collection's reader rejects.

Each case is laid out under a temporary root: /etc/nginx/, /etc/ssl/ and /var/log/nginx/ in every
file become paths below it (absolute includes, certificates and logs stay inside the test), and
every comparison with the case's own files undoes that.
"""

from __future__ import annotations

import datetime
import os
import re
import shlex
import shutil
import stat
import subprocess
import sys

import pytest

from ansible_collections.keeplocal.traffic.plugins.modules import nginx_upstream as module_file
from ansible_collections.keeplocal.traffic.tests.unit.plugins.modules.module_harness import fixture_path
from ansible_collections.keeplocal.traffic.tests.unit.plugins.modules.module_harness import run as run_module


def find_corpus(start=os.path.dirname(os.path.abspath(__file__))):
    directory = start
    while True:
        candidate = os.path.join(directory, 'shared', 'realworld', 'nginx')
        if os.path.isdir(candidate):
            return candidate
        parent = os.path.dirname(directory)
        if parent == directory:
            return None
        directory = parent


CORPUS = find_corpus()
CASES = sorted(os.listdir(CORPUS)) if CORPUS else []
MISSING = ('the real-world nginx corpus (shared/realworld/nginx/ next to the checkout) is absent on this machine: '
           'nothing to run these cases on')
# Prefixes moved under the test's root in every file.
RELOCATED = ('/etc/nginx/', '/etc/ssl/', '/var/log/nginx/')


def real_nginx():
    if os.geteuid() != 0:
        return None
    return shutil.which('nginx', path=os.environ.get('PATH', '') + os.pathsep + '/usr/sbin:/usr/local/sbin')


NGINX = real_nginx()

STAND_IN = """\
#!{python}
# nginx -T / -t for these tests when Debian's nginx cannot run: the collection's reader reads the configuration.
import glob
import os
import sys

from ansible_collections.keeplocal.traffic.plugins.module_utils import _nginx_conf

args = sys.argv[1:]
conf = args[args.index('-c') + 1]
order = [conf]
try:
    for path in order:
        with open(path) as handle:
            pending = [_nginx_conf.parse(handle.read(), path)]
        while pending:
            for stmt in pending.pop():
                if stmt['directive'] == 'include':
                    pattern = os.path.join(os.path.dirname(conf), stmt['args'][0])
                    order.extend(name for name in sorted(glob.glob(pattern)) if name not in order)
                pending.append(stmt['block'] or [])
except _nginx_conf.NginxConfError as exc:
    sys.stderr.write('nginx: [emerg] %s in %s:%d\\n' % (str(exc).split(': ', 1)[1], exc.path, exc.line))
    sys.stderr.write('nginx: configuration file %s test failed\\n' % conf)
    sys.exit(1)
if '-T' in args:
    for path in order:
        sys.stdout.write('# configuration file %s:\\n' % path)
        with open(path) as handle:
            sys.stdout.write(handle.read())
sys.stderr.write('nginx: configuration file %s test is successful\\n' % conf)
"""


def read(path):
    with open(path) as handle:
        return handle.read()


def files_under(top):
    found = {}
    for dirpath, dummy, filenames in os.walk(top):
        for name in filenames:
            found[os.path.relpath(os.path.join(dirpath, name), top)] = read(os.path.join(dirpath, name))
    return found


def read_case(name):
    """A corpus case: its case.env, its files as deployed and as expected after the switch (relative to /etc/nginx)."""
    directory = os.path.join(CORPUS, name)
    env = {}
    with open(os.path.join(directory, 'case.env')) as handle:
        for line in handle:
            for word in shlex.split(line, comments=True):
                key, dummy, value = word.partition('=')
                env[key] = value
    assert env['BASE'] == 'debian', 'case %s: only cases over Debian stock are known' % name
    return env, files_under(os.path.join(directory, 'etc-nginx')), files_under(os.path.join(directory, 'expected'))


class Case:
    """A configuration laid over Debian's stock /etc/nginx under ``root``."""

    def __init__(self, name, root, env, deployed, expected):
        os.makedirs(str(root))
        self.name, self.root = name, os.path.realpath(str(root))
        self.address, self.socket = env['ADDRESS'], env['SOCKET']
        self.deployed, self.expected = deployed, expected
        self.etc = self.path('/etc/nginx')
        self.conf = self.path('/etc/nginx/nginx.conf')
        self.backup_dir = self.path('/var/backups/keeplocal/nginx')
        # Debian's stock tree, as far as nginx loads it.
        for name_, source in (('nginx.conf', 'nginx.conf'), ('mime.types', 'mime.types'), ('proxy_params', 'proxy_params'),
                              ('sites-available/default', 'default')):
            with open(fixture_path(os.path.join('nginx_upstream', source))) as handle:
                self.write(os.path.join(self.etc, name_), self.relocate(handle.read()))
        for name_ in ('conf.d', 'modules-enabled', 'sites-enabled'):
            os.makedirs(os.path.join(self.etc, name_), exist_ok=True)
        os.symlink(self.path('/etc/nginx/sites-available/default'), os.path.join(self.etc, 'sites-enabled', 'default'))
        os.makedirs(self.path('/var/log/nginx'))
        # The configuration as deployed.
        for rel, text in deployed.items():
            self.write(os.path.join(self.etc, rel), self.relocate(text))
        for rel in env['DROP'].split():
            os.unlink(os.path.join(self.etc, rel))
        for link in env['LINKS'].split():
            rel, dummy, target = link.partition('=')
            os.symlink(self.relocate(target), os.path.join(self.etc, rel))
        self.certificates()

    def expected_paths(self):
        return sorted(os.path.join(self.etc, rel) for rel in self.expected)

    def path(self, absolute):
        return self.root + absolute

    def relocate(self, text):
        for prefix in RELOCATED:
            text = text.replace(prefix, self.root + prefix)
        return text

    def unrelocate(self, text):
        return text.replace(self.root + '/', '/')

    @staticmethod
    def write(path, text):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, 'w') as handle:
            handle.write(text)

    def certificates(self):
        """A throwaway self-signed pair wherever the configuration names one (nginx -t loads them)."""
        wanted = {}
        for text in self.deployed.values():
            for line in self.relocate(text).splitlines():
                words = line.split()
                if len(words) == 2 and words[0] in ('ssl_certificate', 'ssl_certificate_key'):
                    wanted[words[0]] = words[1].rstrip(';')
        if not wanted:
            return
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID

        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, self.name + '.example.test')])
        now = datetime.datetime.now(datetime.timezone.utc)
        cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                .serial_number(x509.random_serial_number()).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
                .sign(key, hashes.SHA256()))
        self.write(wanted['ssl_certificate'], cert.public_bytes(serialization.Encoding.PEM).decode())
        self.write(wanted['ssl_certificate_key'], key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode())

    def host(self):
        """The host's side as the module would read it: gunicorn under <app>.service on the case's address."""
        ip, port = self.address.rsplit(':', 1)
        unit = self.socket.split('/')[2] + '.service'
        unit_text = ('# /etc/systemd/system/%s\n[Service]\nUser=app\nExecStart=/usr/bin/gunicorn --workers 2 --bind %s app:application\n'
                     % (unit, self.address))
        tcp = [{'local_ip': ip, 'local_port': int(port), 'remote_ip': '0.0.0.0', 'remote_port': 0, 'state': 'LISTEN', 'uid': 999, 'inode': 1},
               {'local_ip': '127.0.0.1', 'local_port': 40000, 'remote_ip': ip, 'remote_port': int(port), 'state': 'ESTABLISHED',
                'uid': 33, 'inode': 2}]
        processes = {'10': {'pid': 10, 'ppid': 1, 'comm': 'gunicorn', 'cmdline': ['/usr/bin/python3', '/usr/bin/gunicorn'],
                            'unit': unit, 'cwd': '/srv/app', 'environment': {}},
                     '20': {'pid': 20, 'ppid': 19, 'comm': 'nginx', 'cmdline': [], 'unit': 'nginx.service', 'cwd': None, 'environment': {}}}
        return {'addresses': ['127.0.0.1', '192.0.2.20'], 'tcp': tcp, 'unix': [], 'owners': {'1': [10], '2': [20]},
                'processes': processes, 'units': {unit: {'cat': unit_text, 'socket_cat': None}}, 'config_files': {}}


def snapshot(top):
    """Everything under ``top``: {relative path: bytes, ('link', target) or 'dir'}; nginx's own logs aside."""
    found = {}
    for dirpath, dirnames, filenames in os.walk(top):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            rel = os.path.relpath(path, top)
            if os.path.dirname(path).endswith('/var/log/nginx'):
                continue
            if os.path.islink(path):
                found[rel] = ('link', os.readlink(path))
            elif stat.S_ISDIR(os.lstat(path).st_mode):
                found[rel] = 'dir'
            else:
                with open(path, 'rb') as handle:
                    found[rel] = handle.read()
    return found


@pytest.fixture
def lay(tmp_path, monkeypatch, capsys):
    """lay(name, env, deployed, expected): the Case laid out, with ``case.run(args, check_mode)`` running the
    module in this process."""
    nginx = NGINX
    if nginx is None:
        nginx = str(tmp_path / 'nginx')
        with open(nginx, 'w') as handle:
            handle.write(STAND_IN.format(python=sys.executable))
        os.chmod(nginx, 0o755)

    def lay_out(name, env, deployed, expected):
        case = Case(name, tmp_path / 'root', env, deployed, expected)
        monkeypatch.setattr(module_file, 'host_facts', lambda module: case.host())
        isdir = os.path.isdir
        monkeypatch.setattr(os.path, 'isdir', lambda path: path == os.path.dirname(case.socket) or isdir(path))

        def run(args, check_mode=False):
            args = dict(args, address=case.address, conf=case.conf, nginx_binary=nginx, backup_dir=case.backup_dir)
            return run_module(module_file.main, args, capsys, check_mode=check_mode, diff=True)[1]

        def loaded():
            """The files nginx loads (its own -T listing)."""
            out = subprocess.run([nginx, '-T', '-c', case.conf], capture_output=True, text=True, check=False).stdout
            return re.findall(r'^# configuration file (.+):$', out, re.M)

        case.run, case.loaded = run, loaded
        return case
    return lay_out


def cases():
    if not CASES:
        return [pytest.param(None, marks=pytest.mark.skip(reason=MISSING))]
    return CASES


# Where a case's app would get another Host header over the socket: a direct proxy_pass http://127.0.0.1:PORT in a
# block whose proxy_set_header lines set no Host, so nginx sends $proxy_host ("127.0.0.1:PORT" over TCP, "localhost"
# over the socket). case -> [(file as nginx names it, line of the proxy_pass, Host over TCP, line the fix goes before)].
HOST_CHANGES = {
    'netbox': [('/etc/nginx/sites-enabled/netbox', 18, '127.0.0.1:8001', 19)],
    'readthedocs-proxito': [('/etc/nginx/conf.d/proxito.conf', 34, '127.0.0.1:8000', 35)],
}


def host_change_messages(case, name):
    return ['proxy_pass http://%s at %s:%d (http > server > location /) sends Host: %s over TCP and would send Host: localhost '
            'over the socket' % (host, case.path(path), line, host) for path, line, host, dummy in HOST_CHANGES.get(name, [])]


@pytest.mark.parametrize('name', cases())
def test_switch_check_mode_idempotence_and_revert(lay, name):
    case = lay(name, *read_case(name))
    original = snapshot(case.root)
    etc = snapshot(case.etc)

    # The pair as discovery sees it: nothing on nginx's side blocks it, except a Host header the app would see change.
    found = case.run({'mode': 'discover'})
    assert not found.get('failed'), found.get('msg')
    (pair,) = found['pairs']
    expected = host_change_messages(case, name)
    assert [reason['code'] for reason in pair['reasons']] == ['host_header_changes'] * len(expected), pair['reasons']
    for reason, start in zip(pair['reasons'], expected):
        assert reason['msg'].startswith(start), reason['msg']
    assert pair['safe'] is not expected
    force = bool(expected)
    if expected:
        # Refused before any change, also in check mode, naming the line; force switches anyway.
        for check_mode in (True, False):
            refused = case.run({'mode': 'switch', 'socket': case.socket}, check_mode=check_mode)
            assert refused.get('failed') and expected[0] in refused['msg'], refused
            assert snapshot(case.root) == original

    # Check mode: the diff, and nothing written anywhere.
    preview = case.run({'mode': 'switch', 'socket': case.socket, 'force': force}, check_mode=True)
    assert not preview.get('failed'), preview.get('msg')
    assert preview['changed']
    assert sorted(os.path.realpath(item['after_header']) for item in preview['diff']) == case.expected_paths()
    assert snapshot(case.root) == original

    # The switch: exactly the expected files change, nginx -t passes, the backups land outside nginx's tree.
    switched = case.run({'mode': 'switch', 'socket': case.socket, 'force': force})
    assert not switched.get('failed'), switched.get('msg')
    assert switched['changed'] and 'test is successful' in switched['nginx_test']
    after = snapshot(case.etc)
    assert sorted(after) == sorted(etc), 'files appeared or vanished under the nginx prefix'
    for rel, before in etc.items():
        if rel in case.expected:
            assert case.unrelocate(after[rel].decode()) == case.expected[rel], rel
        else:
            assert after[rel] == before, '%s changed' % rel
    assert sorted(switched['backup_files']) == case.expected_paths()
    for path, backup in switched['backup_files'].items():
        assert backup == switched['backup_run'] + path and backup.startswith(case.backup_dir + '/')
        with open(backup, 'rb') as handle:
            assert handle.read() == etc[os.path.relpath(path, case.etc)]

    # Idempotent: a second switch changes nothing and backs nothing up.
    again = case.run({'mode': 'switch', 'socket': case.socket, 'force': force})
    assert not again.get('failed'), again.get('msg')
    assert again['changed'] is False and snapshot(case.etc) == after
    assert os.listdir(case.backup_dir) == [os.path.basename(switched['backup_run'])]

    # Revert: the original bytes, everywhere under the nginx prefix.
    reverted = case.run({'mode': 'revert', 'socket': case.socket})
    assert not reverted.get('failed'), reverted.get('msg')
    assert reverted['changed'] and 'test is successful' in reverted['nginx_test'] and snapshot(case.etc) == etc


OLD_STYLE = '.4242.2026-01-01@10:00:00~'


@pytest.mark.parametrize('name', cases())
def test_backups_an_older_run_left_next_to_the_files_never_break_a_run(lay, name):
    """Hosts may hold <file>.<pid>.<date>~ copies (ansible's backup naming) next to the files a switch edits:
    where nginx loads one the run is refused before any change, naming it; elsewhere it is left alone and
    the switch works."""
    case = lay(name, *read_case(name))
    leftovers = []
    for rel, text in case.expected.items():
        leftovers.append(os.path.join(case.etc, rel + OLD_STYLE))
        case.write(leftovers[-1], case.relocate(case.deployed[rel]))
    original = snapshot(case.root)
    loaded = [path for path in leftovers if path in case.loaded()]
    switched = case.run({'mode': 'switch', 'socket': case.socket, 'force': name in HOST_CHANGES})
    if loaded:
        assert switched.get('failed') and loaded[0] in switched['msg'], switched
        assert 'nothing was changed' in switched['msg']
        assert snapshot(case.root) == original
    else:
        assert not switched.get('failed'), switched.get('msg')
        assert switched['changed']
        for path in leftovers:
            assert read(path) == case.relocate(case.deployed[os.path.relpath(path, case.etc)[:-len(OLD_STYLE)]])


def upstream_site():
    """django-on-docker's site (an upstream block) as a plain file in sites-enabled/, Debian's layout."""
    env, deployed, expected = read_case('django-on-docker')
    return env, {'sites-enabled/hello_django': deployed['conf.d/nginx.conf']}, {'sites-enabled/hello_django': expected['conf.d/nginx.conf']}


@pytest.mark.skipif(not CASES, reason=MISSING)
def test_leftover_of_a_site_with_an_upstream_block_is_named_with_the_fix(lay):
    """The issue's broken host: nginx -t fails on the duplicate upstream in the copy; nothing is changed."""
    case = lay('upstream-site', *upstream_site())
    site = os.path.join(case.etc, 'sites-enabled', 'hello_django')
    leftover = site + OLD_STYLE
    shutil.copy2(site, leftover)
    original = snapshot(case.root)
    for mode in ('discover', 'switch'):
        result = case.run({'mode': mode, 'socket': case.socket})
        assert result.get('failed') and snapshot(case.root) == original
        if NGINX:
            assert result['msg'].startswith('nginx -t fails before any change, nothing was changed: %s line 1: duplicate upstream '
                                            '"hello_django". Fix: %s is a backup copy' % (leftover, leftover)), result['msg']
        else:
            assert result['msg'].startswith('nginx loads %s as configuration' % leftover), result['msg']
    # Moved out as the message says, the switch works and its own backup goes elsewhere.
    os.rename(leftover, str(case.root) + '/hello_django' + OLD_STYLE)
    switched = case.run({'mode': 'switch', 'socket': case.socket})
    assert not switched.get('failed'), switched.get('msg')
    assert case.unrelocate(read(site)) == case.expected['sites-enabled/hello_django']
    assert sorted(os.listdir(os.path.dirname(site))) == ['hello_django']
    reverted = case.run({'mode': 'revert', 'socket': case.socket})
    assert reverted['changed'] and case.unrelocate(read(site)) == case.deployed['sites-enabled/hello_django']


@pytest.mark.parametrize('name', sorted(HOST_CHANGES) if CASES else cases())
def test_the_fix_a_host_header_refusal_names_makes_the_pair_safe(lay, name):
    """The line the refusal names, added where it says, keeps the Host the app gets over TCP: the pair is safe, nginx -t
    passes, and over the socket the app receives the same Host."""
    case = lay(name, *read_case(name))
    (pair,) = case.run({'mode': 'discover'})['pairs']
    (reason,) = pair['reasons']
    match = re.search(r'Fix: add `(proxy_set_header Host [^`]+;)` next to the proxy_set_header lines of that block \((.+):(\d+)\)$',
                      reason['msg'])
    assert match, reason['msg']
    (path, dummy, host, before) = HOST_CHANGES[name][0]
    assert (match.group(1), match.group(2), int(match.group(3))) == ('proxy_set_header Host %s;' % host, case.path(path), before)
    with open(match.group(2)) as handle:
        lines = handle.read().split('\n')
    target = lines[before - 1]
    lines.insert(before - 1, target[:len(target) - len(target.lstrip())] + match.group(1))
    with open(match.group(2), 'w') as handle:
        handle.write('\n'.join(lines))

    (pair,) = case.run({'mode': 'discover'})['pairs']
    assert pair['safe'] and pair['reasons'] == [], pair['reasons']
    requests = [request for reference in pair['references'] for request in reference['requests']]
    assert requests and all(request['tcp']['Host'] == request['socket']['Host'] == host for request in requests
                            if request['line'] == HOST_CHANGES[name][0][1])
    switched = case.run({'mode': 'switch', 'socket': case.socket})
    assert not switched.get('failed'), switched.get('msg')
    assert switched['changed'] and 'test is successful' in switched['nginx_test']
