"""split_dns on the lab: private answers inside, public or REFUSED outside, no hairpin, safe changes."""
import hashlib
import json
import os
import re
import subprocess
import tarfile
import threading
import time
import uuid

import pytest

from lab_fixtures import conntrack_lines, http_get, lab_suite

SCENARIO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
INVENTORY = os.path.join(SCENARIO, '..', 'resources', 'lab', 'inventory.yml')
ZONE_DIR = '/etc/coredns/zones'
# Debian 13's lab hosts run systemd-resolved: the client role routes the zones there (a drop-in)
# instead of rewriting resolv.conf.
RESOLVED = lab_suite() == 'trixie'
RESOLVED_DROPIN = '/etc/systemd/resolved.conf.d/keeplocal-split-dns.conf'


def dig(host, args):
    """dig with its header: (status, header flags, answer records split in fields)."""
    out = host.check_output('dig +time=2 +tries=1 +noall +comments +answer ' + args)
    status = re.search(r'status: (\w+)', out)
    flags = re.search(r';; flags: ([a-z ]+);', out)
    answers = [line.split() for line in out.splitlines() if line and not line.startswith(';')]
    return (status.group(1) if status else None), (flags.group(1).split() if flags else []), answers


def playbook(name, *args):
    """Run one of this scenario's playbooks on the lab; (exit code, output)."""
    cmd = ['ansible-playbook', '-i', INVENTORY, os.path.join(SCENARIO, name)] + list(args)
    # Plain text to match against: molecule's environment asks ansible for colours.
    env = dict(os.environ, ANSIBLE_NOCOLOR='1', ANSIBLE_FORCE_COLOR='0')
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=SCENARIO, check=False, env=env)
    return proc.returncode, proc.stdout


def converge(*args):
    """Rerun the converge playbook (as molecule does) with extra arguments."""
    return playbook('converge.yml', *args)


def coredns_binary():
    """The lab's CoreDNS build (the path scripts/coredns-build.sh prints last)."""
    out = subprocess.run([os.path.join(SCENARIO, '..', '..', 'scripts', 'coredns-build.sh')], stdout=subprocess.PIPE,
                         text=True, check=True).stdout
    return out.splitlines()[-1]


def serial(gw, zone_file):
    return int(gw.check_output("awk '/; serial$/ {print $1}' %s", ZONE_DIR + '/' + zone_file))


def test_internal_client_gets_private_answers_and_recursion(lab):
    svc_a = lab('svc-a')
    assert_client_routes_to_private_resolver(lab, svc_a)

    # The plan's pair: app.example.test -> the backend's private address (resolv.conf path).
    assert svc_a.check_output('dig +short app.example.test') == '192.168.1.20'
    # The explicit private-only zone: A, AAAA, CNAME (chased to the private answer), SRV.
    assert svc_a.check_output('dig +short db.corp.example.test') == '192.168.1.30'
    assert svc_a.check_output('dig +short AAAA db.corp.example.test') == 'fd00:1::30'
    assert svc_a.check_output('dig +short www.corp.example.test').splitlines() == ['app.example.test.', '192.168.1.20']
    assert svc_a.check_output('dig +short SRV _postgresql._tcp.corp.example.test') == '10 5 54321 db.corp.example.test.'
    # Names the private resolver does not own are forwarded: recursion works for internal clients,
    # and the plan's pinpoint zone does not shadow its sibling db.example.test (a local_shortcut pair).
    assert svc_a.check_output('dig +short www.example.org') == '198.51.100.80'
    assert svc_a.check_output('dig +short db.example.test') == '198.51.100.1'
    status, flags, answers = dig(svc_a, '@192.168.1.1 app.example.test')
    assert (status, 'aa' in flags, [a[4] for a in answers]) == ('NOERROR', True, ['192.168.1.20'])


def assert_client_routes_to_private_resolver(lab, svc_a):
    if not RESOLVED:
        # svc-a's resolv.conf now starts with the gateway's CoreDNS; the original is saved.
        resolv = svc_a.file('/etc/resolv.conf').content_string.splitlines()
        assert [line for line in resolv if line.startswith('nameserver')] == ['nameserver 192.168.1.1', 'nameserver 198.51.100.53']
        assert 'nameserver 198.51.100.53' in svc_a.file('/etc/resolv.conf.keeplocal-split-dns').content_string
        return
    # resolved: the private resolver in the global scope, routing only the zones; the link keeps the
    # previous server, and resolv.conf stays resolved's stub.
    dropin = svc_a.file(RESOLVED_DROPIN).content_string
    assert 'DNS=192.168.1.1\n' in dropin and 'Domains=~app.example.test ~corp.example.test\n' in dropin, dropin
    assert svc_a.file('/etc/resolv.conf').linked_to.endswith('/run/systemd/resolve/stub-resolv.conf')
    servers = svc_a.check_output('resolvectl dns')
    assert servers.splitlines()[0].split() == ['Global:', '192.168.1.1'] and 'int0): 198.51.100.53' in servers, servers
    assert svc_a.check_output('resolvectl query --cache=no app.example.test').startswith('app.example.test: 192.168.1.20 ')
    assert svc_a.check_output('resolvectl query --cache=no www.example.org').startswith('www.example.org: 198.51.100.80 ')
    # Who was asked, from the servers' own query logs (names nobody asked before): a zone name only the
    # private resolver, never the previous server.
    zone_name = 'probe-%s.corp.example.test' % uuid.uuid4().hex[:12]
    svc_a.run('resolvectl query --cache=no %s', zone_name)
    assert asked(lab('gw'), lab('ext'), zone_name, 0) == (True, False)
    # resolved asks its global servers for every name no routing domain claims: other names reach the
    # private resolver as well (its recursion answers them alike) unless the previous server's link
    # claims them with the routing domain "~.", as the role's README says.
    other_name = 'probe-%s.example.org' % uuid.uuid4().hex[:12]
    svc_a.run('resolvectl query --cache=no %s', other_name)
    assert asked(lab('gw'), lab('ext'), other_name, 1)[1]
    svc_a.check_output("resolvectl domain int0 '~.'")
    try:
        other_name = 'probe-%s.example.org' % uuid.uuid4().hex[:12]
        svc_a.run('resolvectl query --cache=no %s', other_name)
        assert asked(lab('gw'), lab('ext'), other_name, 1) == (False, True)
        zone_name = 'probe-%s.corp.example.test' % uuid.uuid4().hex[:12]
        svc_a.run('resolvectl query --cache=no %s', zone_name)
        assert asked(lab('gw'), lab('ext'), zone_name, 0) == (True, False)
    finally:
        svc_a.check_output("resolvectl domain int0 ''")


def asked(gw, ext, name, expect):
    """(the private resolver was asked for name, the previous server was), from their query logs,
    once the one ``expect`` names (0 or 1) has logged it: both are asked at the same moment."""
    def read():
        private = gw.run('journalctl -u coredns --no-pager --since -2min | grep -c "IN %s\\. "' % name).stdout.strip()
        public = ext.run('grep -c " %s from " /var/log/dnsmasq-public.log' % name).stdout.strip()
        return private not in ('', '0'), public not in ('', '0')
    for dummy in range(20):
        seen = read()
        if seen[expect]:
            time.sleep(0.5)
            return read()
        time.sleep(0.25)
    return read()


def assert_client_back_on_previous_resolver(svc_a):
    if not RESOLVED:
        resolv = svc_a.file('/etc/resolv.conf').content_string.splitlines()
        assert [ln for ln in resolv if ln.startswith('nameserver')] == ['nameserver 198.51.100.53']
        assert not svc_a.file('/etc/resolv.conf.keeplocal-split-dns').exists
        return
    assert not svc_a.file(RESOLVED_DROPIN).exists
    # The lab image has no drop-in directory: the client created it and its undo removes it.
    assert not svc_a.file(os.path.dirname(RESOLVED_DROPIN)).exists
    servers = svc_a.check_output('resolvectl dns')
    assert servers.splitlines()[0].strip() == 'Global:' and 'int0): 198.51.100.53' in servers, servers


def test_outside_client_never_gets_a_private_answer(lab):
    ext = lab('ext')
    status, flags, answers = dig(ext, '@198.51.100.1 app.example.test')
    assert status == 'NOERROR' and 'aa' in flags
    assert [a[4] for a in answers] == ['198.51.100.1']
    # Private-only zone: refused, whatever the type.
    for qtype in ('A', 'AAAA', 'SRV', 'SOA'):
        name = '_postgresql._tcp.corp.example.test' if qtype == 'SRV' else 'db.corp.example.test'
        status, flags, answers = dig(ext, '@198.51.100.1 %s %s' % (qtype, name))
        assert (qtype, status, answers) == (qtype, 'REFUSED', [])
    # Not an open resolver.
    status, flags, answers = dig(ext, '@198.51.100.1 www.example.org')
    assert (status, answers) == ('REFUSED', [])
    # Nothing private leaks out, whatever the question (ext has no route to 192.168.1.0/24).
    for question in ('app.example.test ANY', 'app.example.test AAAA', 'corp.example.test AXFR', 'db.corp.example.test ANY'):
        out = ext.run('dig +time=2 +tries=1 @198.51.100.1 ' + question).stdout
        assert '192.168.' not in out and 'fd00:' not in out, (question, out)


def test_hairpin_is_gone(lab, marker):
    svc_a, gw, svc_b = lab('svc-a'), lab('gw'), lab('svc-b')
    answer = http_get(svc_a, 'http://app.example.test' + marker, local_port=41101)
    # svc-b sees the real client, and the gateway tracked nothing for this connection.
    assert answer == {'backend': 'svc-b', 'client': '192.168.1.10'}
    assert svc_b.check_output('grep -F %s /var/log/nginx/access.log', marker).startswith('192.168.1.10 ')
    assert conntrack_lines(gw, '-p tcp -s 192.168.1.10 --sport 41101') == []
    # The old answer still hairpins: the same request to the public address goes through gw.
    old = json.loads(svc_a.check_output('curl -sS -m 5 --local-port 41102 --resolve app.example.test:80:198.51.100.1 %s',
                                        'http://app.example.test' + marker))
    assert old == {'backend': 'svc-b', 'client': '192.168.1.1'}
    assert len(conntrack_lines(gw, '-p tcp -s 192.168.1.10 --sport 41102')) == 1


def test_server_is_hardened(lab):
    gw = lab('gw')
    props = dict(line.split('=', 1) for line in gw.check_output(
        'systemctl show coredns -p User -p CapabilityBoundingSet -p AmbientCapabilities -p ProtectSystem '
        '-p NoNewPrivileges -p Restart -p ExecReload -p ReadOnlyPaths -p ActiveState -p UnitFileState').splitlines())
    assert props['ActiveState'] == 'active' and props['UnitFileState'] == 'enabled'
    assert props['User'] == 'coredns'
    assert props['CapabilityBoundingSet'] == props['AmbientCapabilities'] == 'cap_net_bind_service'
    assert props['ProtectSystem'] == 'strict' and props['NoNewPrivileges'] == 'yes' and props['Restart'] == 'on-failure'
    assert '/etc/coredns' in props['ReadOnlyPaths'] and 'SIGUSR1' in props['ExecReload']
    assert gw.check_output('ps -o user= -C coredns') == 'coredns'
    # Versioned install, current version linked; configuration root's and read-only to coredns.
    assert gw.file('/usr/local/bin/coredns').linked_to == '/opt/coredns/1.14.7/coredns'
    for path in ('/etc/coredns/Corefile', ZONE_DIR + '/db.app.example.test.internal', ZONE_DIR + '/db.corp.example.test.internal'):
        f = gw.file(path)
        assert (path, f.user, f.group, f.mode) == (path, 'root', 'coredns', 0o640)
    assert not gw.file('/etc/coredns/candidate').exists
    corefile = gw.file('/etc/coredns/Corefile').content_string
    for directive in ('view internal', "incidr(client_ip(), '192.168.1.0/24')", 'forward . 198.51.100.53', 'loop',
                      'cache 30', 'health 127.0.0.1:8080', 'ready 127.0.0.1:8181', 'prometheus 127.0.0.1:9153', 'reload',
                      'bind 192.168.1.1 198.51.100.1'):
        assert directive in corefile
    # The public view exists only for the plan's zone.
    assert gw.file(ZONE_DIR + '/db.app.example.test.public').exists
    assert not gw.file(ZONE_DIR + '/db.corp.example.test.public').exists
    assert gw.check_output('curl -s http://127.0.0.1:8181/ready') == 'OK'


# The same controller-side validation, checkers and install code run on both releases; the Debian 13
# lab spends its time on what differs there (resolved's routing and stub listener, below).
@pytest.mark.skipif(RESOLVED, reason='runs on the Debian 12 lab only (CI time)')
def test_changes_are_proven_before_they_go_live(lab, tmp_path, request):
    """Bad input fails with the checker's words and leaves the running server as it was; a real
    change bumps only the changed zone's serial and is served at once; check mode on a fresh host
    changes nothing; the release-archive install path works."""
    gw, svc_a, svc_c = lab('gw'), lab('svc-a'), lab('svc-c')
    # svc-c, a host that never had the role, meanwhile (its playbooks touch no other host): check
    # mode, then the release-archive install path with a wrong and with the right checksum.
    archive = tmp_path / 'coredns_1.14.7_linux_amd64.tgz'
    with tarfile.open(archive, 'w:gz') as tar:
        tar.add(coredns_binary(), arcname='coredns')
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()
    fresh = {}

    def svc_c_runs():
        fresh['check'] = playbook('check_fresh.yml', '--check')
        fresh['paths'] = [path for path in ('/etc/coredns', '/opt/coredns', '/etc/systemd/system/coredns.service',
                                            '/usr/local/bin/coredns', '/home/coredns')
                          if subprocess.run(['podman', 'exec', 'svc-c', 'test', '-e', path], check=False).returncode == 0]
        fresh['user'] = subprocess.run(['podman', 'exec', 'svc-c', 'getent', 'passwd', 'coredns'], check=False).returncode
        fresh['bad_sum'] = playbook('check_fresh.yml', '-e', json.dumps({'split_dns_coredns_local_archive': str(archive),
                                                                         'split_dns_coredns_sha256': '0' * 64}))
        fresh['install'] = playbook('check_fresh.yml', '-e', json.dumps({'split_dns_coredns_local_archive': str(archive),
                                                                         'split_dns_coredns_sha256': digest}))
    side = threading.Thread(target=svc_c_runs)
    side.start()
    request.addfinalizer(side.join)  # never leave a playbook running behind a failed assertion

    before = gw.check_output('cat /etc/coredns/Corefile %s/*', ZONE_DIR)
    serials = {f: serial(gw, f) for f in ('db.corp.example.test.internal', 'db.app.example.test.internal')}

    # A Corefile CoreDNS rejects: the candidate's own error text, nothing live changed.
    rc, out = converge('--limit', 'gw', '-e', json.dumps({'lab_corefile_extra': ['nonexistentplugin']}))
    assert rc != 0 and "Unknown directive 'nonexistentplugin'" in out and 'nothing live was changed' in out, out[-3000:]
    # A zone file named-checkzone rejects.
    rc, out = converge('--limit', 'gw', '-e', json.dumps({'lab_zone_extra_lines': ['broken IN A 999.1.1.1']}))
    assert rc != 0 and 'named-checkzone rejected zone corp.example.test' in out and 'bad dotted quad' in out, out[-3000:]
    # Bad variables: every problem named by its field, before any change.
    bad = {'split_dns_internal_cidrs': ['192.168.1.1/24'],
           'split_dns_zones': [{'name': 'bad..zone'},
                               {'name': 'corp.example.test', 'records': [{'name': 'x', 'type': 'A', 'value': '192.168.1.300'},
                                                                         {'name': 'db', 'type': 'A', 'value': '192.168.1.30'},
                                                                         {'name': 'db', 'type': 'CNAME', 'value': 'y'}]}]}
    rc, out = converge('--limit', 'gw', '-e', json.dumps(bad))
    assert rc != 0, out[-3000:]
    for expected in ("split_dns_zones[0].name: 'bad..zone' has an invalid label",
                     "split_dns_zones[1].records[0].value: '192.168.1.300' is not an IPv4 address",
                     'split_dns_zones[1].records: db has a CNAME and other data',
                     "split_dns_internal_cidrs[0]: '192.168.1.1/24' is not a network CIDR",
                     'did you mean 192.168.1.0/24?'):
        assert expected in out, (expected, out[-3000:])
    # The argument spec rejects record types the role does not model, naming the field.
    rc, out = converge('--limit', 'gw', '-e', json.dumps({'lab_extra_records': [{'name': 'mx', 'type': 'MX', 'value': 'mail'}]}))
    assert rc != 0 and 'records' in out and 'MX' in out and 'A, AAAA, CNAME, SRV' in out, out[-3000:]
    assert gw.check_output('cat /etc/coredns/Corefile %s/*', ZONE_DIR) == before
    assert svc_a.check_output('dig +short app.example.test') == '192.168.1.20'

    # A real change: only the corp zone's serial moves, and the new record is served right away.
    rc, out = converge('--limit', 'gw', '-e', json.dumps({'lab_extra_records': [{'name': 'new', 'type': 'A', 'value': '192.168.1.40'}]}))
    assert rc == 0, out[-3000:]
    assert serial(gw, 'db.corp.example.test.internal') > serials['db.corp.example.test.internal']
    assert serial(gw, 'db.app.example.test.internal') == serials['db.app.example.test.internal']
    assert svc_a.check_output('dig +short new.corp.example.test') == '192.168.1.40'

    side.join()
    # Check mode on the fresh host: no failure, nothing created, no download attempted.
    rc, out = fresh['check']
    assert rc == 0 and 'Would download https://github.com/coredns/coredns/releases/download/v1.14.7/' in out, out[-3000:]
    assert fresh['paths'] == [] and fresh['user'] != 0
    # The archive path: a wrong checksum is refused before anything is copied, the right one installs.
    rc, out = fresh['bad_sum']
    assert rc != 0 and 'has sha256 %s, expected %s' % (digest, '0' * 64) in out, out[-3000:]
    rc, out = fresh['install']
    assert rc == 0, out[-3000:]
    assert svc_c.file('/opt/coredns/archives/coredns_1.14.7_linux_amd64.tgz').sha256sum == digest
    assert svc_c.file('/usr/local/bin/coredns').linked_to == '/opt/coredns/1.14.7/coredns'
    assert svc_a.check_output('dig +short @192.168.1.30 db.corp.example.test') == '192.168.1.30'


def test_client_is_reversible(lab):
    """Absent puts the client back on its previous resolver (resolv.conf, or resolved without the
    drop-in), present applies the role again."""
    svc_a = lab('svc-a')
    rc, out = converge('--limit', 'svc-a', '-e', 'lab_client_state=absent')
    assert rc == 0, out[-3000:]
    assert_client_back_on_previous_resolver(svc_a)
    assert svc_a.check_output('dig +short app.example.test') == '198.51.100.1'
    rc, out = converge('--limit', 'svc-a')
    assert rc == 0 and svc_a.check_output('dig +short app.example.test') == '192.168.1.20', out[-3000:]


@pytest.mark.skipif(not RESOLVED, reason='systemd-resolved runs on the Debian 13 lab only')
def test_resolved_conflicts_are_refused_before_any_change(lab):
    svc_a, gw = lab('svc-a'), lab('gw')
    # Another global server would share the scope the zones are routed in.
    dropin = svc_a.check_output('cat %s', RESOLVED_DROPIN)
    svc_a.check_output('printf "[Resolve]\\nDNS=198.51.100.53\\n" > /etc/systemd/resolved.conf.d/50-site.conf'
                       ' && systemctl reload-or-restart systemd-resolved')
    try:
        rc, out = converge('--limit', 'svc-a')
        assert rc != 0 and 'has global DNS servers (198.51.100.53)' in out and 'Nothing was changed' in out, out[-3000:]
        assert svc_a.check_output('cat %s', RESOLVED_DROPIN) == dropin
    finally:
        svc_a.check_output('rm -f /etc/systemd/resolved.conf.d/50-site.conf && systemctl reload-or-restart systemd-resolved')
    # CoreDNS on every address would take port 53 from resolved's stub listener on gw.
    before = gw.check_output('cat /etc/coredns/Corefile')
    rc, out = converge('--limit', 'gw', '-e', json.dumps({'split_dns_listen_addresses': []}))
    assert rc != 0 and "systemd-resolved's stub listener holds 127.0.0.53:53" in out, out[-3000:]
    assert gw.check_output('cat /etc/coredns/Corefile') == before
    assert gw.check_output('ss -Hlun sport = :53').count('127.0.0.53') == 1
    assert svc_a.check_output('dig +short app.example.test') == '192.168.1.20'


# A host's own CoreDNS: its Corefile serving site.test on 127.0.0.1, a zone file, a coredns link to its
# own binary and a unit, either written by hand in /etc/systemd/system (replaced by the role's) or shipped
# like a package's in /usr/lib/systemd/system (shadowed by the role's); {start} is how it ran before.
SITE_COREDNS = r'''
set -e
mkdir -p /opt/site-coredns /etc/coredns/zones
chmod 0755 /etc/coredns /etc/coredns/zones
ln -sfn /opt/site-coredns/coredns /usr/local/bin/coredns
printf 'site.test:53 {{\n    bind 127.0.0.1\n    file /etc/coredns/zones/db.site.test\n}}\n' > /etc/coredns/Corefile
cat > /etc/coredns/zones/db.site.test <<'ZONE'
$ORIGIN site.test.
@ 300 IN SOA ns hostmaster 1 7200 3600 1209600 300
@ 300 IN NS ns
ns 300 IN A 127.0.0.1
www 300 IN A 10.1.2.3
ZONE
cat > {unit_dir}/coredns.service <<'UNIT'
[Unit]
Description=The site CoreDNS
[Service]
ExecStart=/usr/local/bin/coredns -conf /etc/coredns/Corefile
[Install]
WantedBy=multi-user.target
UNIT
systemctl daemon-reload
systemctl {start} coredns
'''
# Every directory, file and link of the host's own CoreDNS setup and of what the role adds, with type,
# mode, owner, link target and content hash, and whether systemd enables and runs the service.
SITE_COREDNS_SNAPSHOT = ("{ find /etc/coredns /etc/systemd/system /usr/local/bin /opt/site-coredns /opt/coredns "
                         "-printf '%y %m %u:%g %p %l\\n' 2>/dev/null; find /etc/coredns /etc/systemd/system/coredns.service "
                         "/usr/lib/systemd/system/coredns.service -type f -exec sha256sum {} + 2>/dev/null; "
                         "systemctl is-enabled coredns; systemctl is-active coredns; } | LC_ALL=C sort")


# The package-unit case runs on one platform only, for CI's time: what it adds (the unit directory, the
# recorded enablement and state) is systemd's, the same on both.
@pytest.mark.parametrize('unit_dir, start', [
    pytest.param('/etc/systemd/system', 'enable --now', id='own-unit-running'),
    pytest.param('/usr/lib/systemd/system', 'enable', id='package-unit-stopped',
                 marks=pytest.mark.skipif(not RESOLVED, reason='runs on the Debian 13 lab only (CI time)')),
])
def test_undo_gives_a_host_its_own_coredns_back(lab, request, unit_dir, start):
    """On a host that had its own CoreDNS (a Corefile, a zone file, a unit, a coredns link), the server
    replaces or shadows them; state absent puts each back as it was (content, mode, owner, link target),
    removes what keeplocal added, and leaves the host's CoreDNS enabled and running (serving its own zone)
    or stopped as before. Check mode first changes nothing; a second undo changes nothing."""
    svc_b = lab('svc-b')
    subprocess.run(['podman', 'exec', 'svc-b', 'mkdir', '-p', '/opt/site-coredns'], check=True)
    subprocess.run(['podman', 'cp', coredns_binary(), 'svc-b:/opt/site-coredns/coredns'], check=True)
    request.addfinalizer(lambda: subprocess.run(
        ['podman', 'exec', 'svc-b', 'sh', '-c', 'systemctl disable --now coredns; rm -rf /etc/coredns /opt/site-coredns '
         '/usr/local/bin/coredns /etc/systemd/system/coredns.service /usr/lib/systemd/system/coredns.service; '
         'systemctl daemon-reload'], check=False))
    svc_b.check_output('bash -c %s', SITE_COREDNS.format(unit_dir=unit_dir, start=start))
    serves_its_zone = 'dig +short @127.0.0.1 www.site.test'
    if unit_dir == '/etc/systemd/system':
        assert svc_b.check_output(serves_its_zone) == '10.1.2.3'
    before = svc_b.check_output(SITE_COREDNS_SNAPSHOT)
    binary = coredns_binary()
    with open(os.path.join(os.path.dirname(binary), 'coredns.sha256'), encoding='utf-8') as handle:
        digest = handle.read().split()[0]
    server = ['-e', json.dumps({'lab_server_host': 'svc-b', 'split_dns_listen_addresses': ['192.168.1.20'],
                                'split_dns_coredns_local_binary': binary, 'split_dns_coredns_sha256': digest})]
    rc, out = playbook('check_fresh.yml', *server)
    assert rc == 0, out[-3000:]
    assert lab('svc-a').check_output('dig +short @192.168.1.20 db.corp.example.test') == '192.168.1.30'
    assert svc_b.file('/usr/local/bin/coredns').linked_to == '/opt/coredns/1.14.7/coredns'
    replaced = svc_b.check_output(SITE_COREDNS_SNAPSHOT)
    assert replaced != before

    undo = server + ['-e', 'lab_server_state=absent']
    rc, out = playbook('check_fresh.yml', '--check', *undo)
    assert rc == 0 and re.search(r'svc-b\s+: ok=\d+\s+changed=[1-9]', out), out[-3000:]
    assert svc_b.check_output(SITE_COREDNS_SNAPSHOT) == replaced
    rc, out = playbook('check_fresh.yml', *undo)
    assert rc == 0, out[-3000:]
    assert svc_b.check_output(SITE_COREDNS_SNAPSHOT) == before
    if unit_dir == '/etc/systemd/system':
        assert svc_b.check_output(serves_its_zone) == '10.1.2.3'
    assert not svc_b.file('/var/backups/keeplocal/split_dns/originals').exists
    assert not svc_b.file('/var/lib/keeplocal/split_dns_server.json').exists
    rc, out = playbook('check_fresh.yml', *undo)
    assert rc == 0 and re.search(r'svc-b\s+: ok=\d+\s+changed=0', out), out[-3000:]
