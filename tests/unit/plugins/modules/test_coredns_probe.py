# Copyright (c) 2026 keeplocal.traffic contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""coredns_probe against real UDP servers on the loopback interface: a stand-in DNS server thread,
and stand-in "CoreDNS" executables (a script that serves, one that fails like CoreDNS does)."""

from __future__ import annotations

import os
import socket
import stat
import sys
import threading

import pytest

from ansible_collections.keeplocal.traffic.plugins.modules import coredns_probe
from ansible_collections.keeplocal.traffic.tests.unit.plugins.modules.module_harness import fixture_path, run

FIXTURES = fixture_path('dns')


def captured(name):
    with open(os.path.join(FIXTURES, name + '.hex'), encoding='ascii') as handle:
        return [line for line in handle.read().splitlines() if line and not line.startswith(';')][0]


def free_port():
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(('127.0.0.1', 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


# A DNS "server": answers every query with a captured CoreDNS answer, its id set to the query's.
SERVER = r'''
import socket, sys
port, answer = int(sys.argv[1]), bytes.fromhex(sys.argv[2])
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sock.bind(('127.0.0.1', port))
print('.:%d on 127.0.0.1' % port, flush=True)
while True:
    data, peer = sock.recvfrom(512)
    sock.sendto(data[:2] + answer[2:], peer)
'''


@pytest.fixture
def udp_server():
    """An in-process server answering with the captured SOA (serial 2026112301)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(('127.0.0.1', 0))
    answer = bytes.fromhex(captured('soa-internal'))
    stop = threading.Event()

    def serve():
        sock.settimeout(0.1)
        while not stop.is_set():
            try:
                data, peer = sock.recvfrom(512)
            except socket.timeout:
                continue
            sock.sendto(data[:2] + answer[2:], peer)
    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield sock.getsockname()[1]
    stop.set()
    thread.join()
    sock.close()


def fake_coredns(tmp_path, body):
    """An executable that takes CoreDNS's -conf FILE arguments; FILE holds its two arguments."""
    path = tmp_path / 'coredns'
    path.write_text('#!%s\nimport sys\nargs = open(sys.argv[2]).read().split()\n%s\n' % (sys.executable, body))
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return str(path)


def run_module(args, capsys):
    return run(coredns_probe.main, args, capsys)[1]


def soa_probe(port, serial=2026112301):
    return {'server': '127.0.0.1', 'port': port, 'source': '127.0.0.1', 'name': 'corp.example.test', 'type': 'SOA',
            'expect_rcode': 'NOERROR', 'expect_serial': serial}


def test_probe_a_running_server(udp_server, capsys):
    result = run_module({'probes': [soa_probe(udp_server)], 'timeout': 2}, capsys)
    assert not result.get('failed') and result['changed'] is False
    (res,) = result['results']
    assert (res['rcode'], res['problems']) == ('NOERROR', [])
    assert res['answers'][0]['data']['serial'] == 2026112301


def test_probe_a_running_server_with_the_wrong_serial(udp_server, capsys):
    result = run_module({'probes': [soa_probe(udp_server, serial=2026112302)], 'timeout': 0.5}, capsys)
    assert result['failed']
    assert result['msg'] == ('DNS probes failed after 0.5s: corp.example.test SOA @127.0.0.1:%d: '
                             'SOA serial 2026112301, expected 2026112302' % udp_server)


def test_probe_nobody(capsys):
    port = free_port()
    result = run_module({'probes': [soa_probe(port)], 'timeout': 0.4}, capsys)
    assert result['failed'] and 'no answer from 127.0.0.1 port %d' % port in result['msg']


def test_candidate_that_serves(tmp_path, capsys):
    port = free_port()
    conf = tmp_path / 'Corefile'
    conf.write_text('%d %s' % (port, captured('soa-internal')))
    binary = fake_coredns(tmp_path, 'sys.argv = [sys.argv[0]] + args\n' + SERVER)
    result = run_module({'binary': binary, 'config': str(conf), 'probes': [soa_probe(port)], 'timeout': 5}, capsys)
    assert not result.get('failed'), result
    assert result['output'] == '.:%d on 127.0.0.1\n' % port
    # The candidate was stopped: the port is free again.
    assert coredns_probe.port_free('127.0.0.1', port)


def test_candidate_that_coredns_rejects(tmp_path, capsys):
    conf = tmp_path / 'Corefile'
    conf.write_text('x y')
    binary = fake_coredns(tmp_path, "print('maxprocs: Leaving GOMAXPROCS=2: CPU quota undefined')\n"
                                    "sys.stderr.write(\"%s:3 - Error during parsing: Unknown directive 'nonexistentplugin'\\n\" % sys.argv[2])\n"
                                    "sys.exit(1)")
    result = run_module({'binary': binary, 'config': str(conf), 'probes': [soa_probe(free_port())], 'timeout': 5}, capsys)
    assert result['failed']
    assert result['msg'] == ("CoreDNS refused the candidate configuration (exit 1): %s:3 - Error during parsing: "
                             "Unknown directive 'nonexistentplugin'" % conf)


def test_candidate_that_answers_wrong(tmp_path, capsys):
    port = free_port()
    conf = tmp_path / 'Corefile'
    conf.write_text('%d %s' % (port, captured('refused-outside')))
    binary = fake_coredns(tmp_path, 'sys.argv = [sys.argv[0]] + args\n' + SERVER)
    result = run_module({'binary': binary, 'config': str(conf), 'probes': [soa_probe(port)], 'timeout': 1}, capsys)
    assert result['failed']
    assert result['msg'].startswith('the candidate CoreDNS started but did not answer as expected: corp.example.test SOA '
                                    '@127.0.0.1:%d: rcode REFUSED, expected NOERROR, SOA serial missing, expected 2026112301' % port)
    assert coredns_probe.port_free('127.0.0.1', port)


def test_candidate_port_already_taken(udp_server, tmp_path, capsys):
    conf = tmp_path / 'Corefile'
    conf.write_text('x y')
    binary = fake_coredns(tmp_path, 'raise SystemExit(0)')
    result = run_module({'binary': binary, 'config': str(conf), 'probes': [soa_probe(udp_server)]}, capsys)
    assert result['failed'] and result['msg'].startswith('127.0.0.1:%d already in use' % udp_server)
