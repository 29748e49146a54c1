# Copyright (c) 2026 keeplocal.traffic contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""DNS wire format against answers captured from CoreDNS 1.14.7 (fixtures/dns/capture-coredns.sh)."""

from __future__ import annotations

import os
import struct

import pytest

from ansible_collections.keeplocal.traffic.plugins.module_utils._dnswire import (
    WireError, answer_data, build_query, check_response, encode_name, parse_response)

FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'fixtures', 'dns')


def captured(name):
    with open(os.path.join(FIXTURES, name + '.hex'), encoding='ascii') as handle:
        lines = [line for line in handle.read().splitlines() if line and not line.startswith(';')]
    return bytes.fromhex(lines[0])


def test_build_query_matches_the_capture_script():
    # The capture script built its queries by hand; ours must be byte-identical.
    expected = struct.pack('!HHHHHH', 0x1000, 0x0100, 1, 0, 0, 0) + b'\x02db\x04corp\x07example\x04test\x00' + struct.pack('!HH', 1, 1)
    assert build_query('db.corp.example.test.', 'A', 0x1000) == expected
    assert build_query('db.corp.example.test', 'A', 0x1000, recursion=False)[2:4] == b'\x00\x00'
    assert encode_name('.') == b'\x00'
    with pytest.raises(WireError):
        build_query('x.test', 'BOGUS')
    with pytest.raises(WireError):
        encode_name('a' * 64 + '.test')


@pytest.mark.parametrize('fixture, qid, rcode, aa, answers', [
    ('a-internal', 0x1000, 'NOERROR', True, [('db.corp.example.test.', 'A', 120, '192.168.1.30')]),
    ('aaaa-internal', 0x1001, 'NOERROR', True, [('db.corp.example.test.', 'AAAA', 120, 'fd00:1::30')]),
    ('cname-internal', 0x1002, 'NOERROR', True, [('www.corp.example.test.', 'CNAME', 120, 'db.corp.example.test.'),
                                                 ('db.corp.example.test.', 'A', 120, '192.168.1.30')]),
    ('srv-internal', 0x1003, 'NOERROR', True, [('_postgresql._tcp.corp.example.test.', 'SRV', 120,
                                                '10 5 54321 db.corp.example.test.')]),
    ('nxdomain-internal', 0x1005, 'NXDOMAIN', True, []),
    ('refused-outside', 0x1006, 'REFUSED', False, []),
])
def test_parse_captured_answers(fixture, qid, rcode, aa, answers):
    response = parse_response(captured(fixture))
    assert (response['id'], response['qr'], response['rcode'], response['aa']) == (qid, True, rcode, aa)
    assert [(r['name'], r['type'], r['ttl'], r['data']) for r in response['answers']] == answers


def test_parse_soa_and_authority():
    response = parse_response(captured('soa-internal'))
    (soa,) = response['answers']
    assert soa['data'] == {'mname': 'ns.invalid.', 'rname': 'hostmaster.corp.example.test.', 'serial': 2026112301,
                           'refresh': 3600, 'retry': 600, 'expire': 604800, 'minimum': 60}
    assert answer_data(response, 'SOA') == [2026112301]
    nxdomain = parse_response(captured('nxdomain-internal'))
    assert [r['type'] for r in nxdomain['authority']] == ['SOA']


def test_compression_pointers():
    # Header, question www.example.test A, answer with the owner as a pointer to offset 12 and a CNAME
    # target "app" + pointer to "example.test" (offset 16).
    msg = struct.pack('!HHHHHH', 7, 0x8180, 1, 1, 0, 0) + b'\x03www\x07example\x04test\x00' + struct.pack('!HH', 1, 1)
    msg += b'\xc0\x0c' + struct.pack('!HHIH', 5, 1, 30, 6) + b'\x03app\xc0\x10'
    response = parse_response(msg)
    assert response['question'] == {'name': 'www.example.test.', 'type': 'A'}
    assert response['answers'] == [{'name': 'www.example.test.', 'type': 'CNAME', 'class': 1, 'ttl': 30, 'data': 'app.example.test.'}]
    assert response['ra'] and response['rd'] and not response['aa']


@pytest.mark.parametrize('data', [b'', b'\x00' * 11, captured('a-internal')[:-3], b'\x00\x01\x81\x80\x00\x01\x00\x00\x00\x00\x00\x00\xc0\x0c'])
def test_truncated_or_looping_messages_raise(data):
    with pytest.raises(WireError):
        parse_response(data)


@pytest.mark.parametrize('probe, problems', [
    ({'type': 'SOA', 'expect_rcode': 'NOERROR', 'expect_serial': 2026112301}, []),
    ({'type': 'SOA', 'expect_serial': 2026112302}, ['SOA serial 2026112301, expected 2026112302']),
    ({'type': 'SOA', 'expect_rcode': 'refused'}, ['rcode NOERROR, expected REFUSED']),
])
def test_check_soa(probe, problems):
    assert check_response(probe, parse_response(captured('soa-internal'))) == problems


def test_check_data_and_missing_soa():
    cname = parse_response(captured('cname-internal'))
    assert check_response({'type': 'A', 'expect_data': ['192.168.1.30']}, cname) == []
    assert check_response({'type': 'A', 'expect_data': ['192.168.1.20']}, cname) == ['answer 192.168.1.30, expected 192.168.1.20']
    refused = parse_response(captured('refused-outside'))
    assert check_response({'type': 'SOA', 'expect_serial': 1}, refused) == ['SOA serial missing, expected 1']
    assert check_response({'type': 'A', 'expect_data': []}, refused) == []
