# Copyright (c) 2026 keeplocal.traffic contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""dns_answers_info: the lab's public DNS answers (app.example.test -> 198.51.100.1) through a
stand-in getaddrinfo, and the real resolver for localhost."""

from __future__ import annotations

import socket

import pytest

from ansible_collections.keeplocal.traffic.plugins.module_utils import _host_facts
from ansible_collections.keeplocal.traffic.plugins.modules import dns_answers_info
from ansible_collections.keeplocal.traffic.tests.unit.plugins.modules.module_harness import run

# getaddrinfo(name, None, 0, SOCK_STREAM) answers in its own tuple format.
ANSWERS = {
    'app.example.test': [(socket.AF_INET, socket.SOCK_STREAM, 6, '', ('198.51.100.1', 0))],
    'db.example.test': [(socket.AF_INET, socket.SOCK_STREAM, 6, '', ('198.51.100.1', 0))],
    'www.example.org': [(socket.AF_INET, socket.SOCK_STREAM, 6, '', ('198.51.100.80', 0))],
    # after split DNS: private answers, IPv4 and IPv6, the IPv4 one twice
    'app.internal.test': [(socket.AF_INET, socket.SOCK_STREAM, 6, '', ('192.168.1.20', 0)),
                          (socket.AF_INET6, socket.SOCK_STREAM, 6, '', ('fd00::20', 0, 0, 0)),
                          (socket.AF_INET, socket.SOCK_STREAM, 6, '', ('192.168.1.20', 0))],
    'mixed.example.test': [(socket.AF_INET, socket.SOCK_STREAM, 6, '', ('192.168.1.20', 0)),
                           (socket.AF_INET, socket.SOCK_STREAM, 6, '', ('198.51.100.1', 0))],
}


@pytest.fixture
def resolver(tmp_path, monkeypatch):
    resolv = tmp_path / 'resolv.conf'
    resolv.write_text('# written by the lab\nsearch example.test\nnameserver 198.51.100.53\nnameserver fd00:0::53\noptions ndots:1\n')
    monkeypatch.setattr(_host_facts, 'RESOLV_CONF', str(resolv))

    def getaddrinfo(host, port, family=0, type=0, proto=0, flags=0):
        if host not in ANSWERS:
            raise socket.gaierror(socket.EAI_NONAME, 'Name or service not known')
        return ANSWERS[host]

    monkeypatch.setattr(_host_facts.socket, 'getaddrinfo', getaddrinfo)
    return resolv


def test_lab_answers(resolver, capsys):
    failed, result = run(dns_answers_info.main, {
        'names': ['app.example.test', 'db.example.test', 'www.example.org', 'app.internal.test', 'mixed.example.test', 'nope.example.test'],
        'public_addresses': ['198.51.100.1'],
    }, capsys)
    assert not failed and result['changed'] is False
    assert result['resolvers'] == ['198.51.100.53', 'fd00::53']
    assert result['answers'] == [
        {'name': 'app.example.test', 'addresses': ['198.51.100.1'], 'public_match': True, 'private': False, 'error': None},
        {'name': 'db.example.test', 'addresses': ['198.51.100.1'], 'public_match': True, 'private': False, 'error': None},
        # public, but not one of the fleet's addresses
        {'name': 'www.example.org', 'addresses': ['198.51.100.80'], 'public_match': False, 'private': False, 'error': None},
        {'name': 'app.internal.test', 'addresses': ['192.168.1.20', 'fd00::20'], 'public_match': False, 'private': True, 'error': None},
        {'name': 'mixed.example.test', 'addresses': ['192.168.1.20', '198.51.100.1'], 'public_match': True, 'private': False,
         'error': None},
        {'name': 'nope.example.test', 'addresses': [], 'public_match': False, 'private': False, 'error': '[Errno -2] Name or service not known'},
    ]


def test_internal_cidrs(resolver, capsys):
    dummy, result = run(dns_answers_info.main, {'names': ['app.internal.test'], 'internal_cidrs': ['192.168.1.0/24']}, capsys,
                        check_mode=True)
    # fd00::20 is not internal with this list
    assert result['answers'][0]['private'] is False


def test_no_resolv_conf(resolver, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(_host_facts, 'RESOLV_CONF', str(tmp_path / 'absent'))
    dummy, result = run(dns_answers_info.main, {'names': ['app.example.test']}, capsys)
    assert result['resolvers'] == []


def test_real_resolver_for_localhost(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(_host_facts, 'RESOLV_CONF', str(tmp_path / 'absent'))
    dummy, result = run(dns_answers_info.main, {'names': ['localhost']}, capsys)
    answer = result['answers'][0]
    assert answer['error'] is None
    assert set(answer['addresses']) <= {'127.0.0.1', '::1'} and answer['addresses']
    assert answer['private'] is True and answer['public_match'] is False


@pytest.mark.parametrize('args, message', [
    ({}, 'missing required arguments: names'),
    ({'names': ['']}, "names: '' is not a host name"),
    ({'names': ['app example']}, "names: 'app example' is not a host name"),
    ({'names': ['app.example.test'], 'public_addresses': ['198.51.100.1/32']}, "public_addresses: '198.51.100.1/32' is not an IP address"),
    ({'names': ['app.example.test'], 'internal_cidrs': ['private']}, "internal_cidrs: 'private' is not a CIDR"),
])
def test_bad_input(resolver, capsys, args, message):
    failed, result = run(dns_answers_info.main, args, capsys)
    assert failed and message in result['msg']
