# Copyright (c) 2026 keeplocal.traffic contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Minimal DNS wire format (RFC 1035) for probing a resolver: build a query, parse the answer,
check it against expectations. Stdlib only, no I/O."""

from __future__ import annotations

import ipaddress
import struct

QTYPES = {'A': 1, 'NS': 2, 'CNAME': 5, 'SOA': 6, 'PTR': 12, 'HINFO': 13, 'MX': 15, 'TXT': 16, 'AAAA': 28, 'SRV': 33}
QTYPE_NAMES = dict((v, k) for k, v in QTYPES.items())
RCODES = {0: 'NOERROR', 1: 'FORMERR', 2: 'SERVFAIL', 3: 'NXDOMAIN', 4: 'NOTIMP', 5: 'REFUSED'}


class WireError(ValueError):
    """The bytes are not a DNS message this parser understands."""


def encode_name(name):
    labels = [label for label in name.rstrip('.').split('.') if label] if name not in ('', '.') else []
    out = b''
    for label in labels:
        raw = label.encode('idna') if any(ord(c) > 127 for c in label) else label.encode('ascii')
        if len(raw) > 63:
            raise WireError('label %r is longer than 63 bytes' % label)
        out += struct.pack('!B', len(raw)) + raw
    return out + b'\x00'


def build_query(name, qtype='A', qid=0, recursion=True):
    """A standard query for ``name``/``qtype`` (class IN)."""
    if qtype not in QTYPES:
        raise WireError('unknown query type %r' % qtype)
    flags = 0x0100 if recursion else 0
    header = struct.pack('!HHHHHH', qid & 0xFFFF, flags, 1, 0, 0, 0)
    return header + encode_name(name) + struct.pack('!HH', QTYPES[qtype], 1)


def _read_name(data, offset, depth=0):
    labels = []
    jumped_end = None
    while True:
        if offset >= len(data):
            raise WireError('name runs past the end of the message')
        length = data[offset]
        if length & 0xC0 == 0xC0:
            if offset + 1 >= len(data) or depth > 20:
                raise WireError('bad compression pointer')
            pointer = struct.unpack('!H', data[offset:offset + 2])[0] & 0x3FFF
            if jumped_end is None:
                jumped_end = offset + 2
            offset = pointer
            depth += 1
            continue
        if length == 0:
            offset += 1
            break
        labels.append(data[offset + 1:offset + 1 + length].decode('ascii', 'replace'))
        offset += 1 + length
    name = '.'.join(labels) + '.'
    return name, (jumped_end if jumped_end is not None else offset)


def _rdata(data, rtype, start, length):
    end = start + length
    if rtype == 1 and length == 4:
        return str(ipaddress.IPv4Address(data[start:end]))
    if rtype == 28 and length == 16:
        return str(ipaddress.IPv6Address(data[start:end]))
    if rtype in (2, 5, 12):
        return _read_name(data, start)[0]
    if rtype == 6:
        mname, pos = _read_name(data, start)
        rname, pos = _read_name(data, pos)
        serial, refresh, retry, expire, minimum = struct.unpack('!IIIII', data[pos:pos + 20])
        return {'mname': mname, 'rname': rname, 'serial': serial, 'refresh': refresh, 'retry': retry,
                'expire': expire, 'minimum': minimum}
    if rtype == 33:
        prio, weight, port = struct.unpack('!HHH', data[start:start + 6])
        return '%d %d %d %s' % (prio, weight, port, _read_name(data, start + 6)[0])
    return data[start:end].hex()


def _read_records(data, offset, count):
    records = []
    for dummy in range(count):
        name, offset = _read_name(data, offset)
        if offset + 10 > len(data):
            raise WireError('record header runs past the end of the message')
        rtype, rclass, ttl, length = struct.unpack('!HHIH', data[offset:offset + 10])
        offset += 10
        if offset + length > len(data):
            raise WireError('record data runs past the end of the message')
        records.append({'name': name, 'type': QTYPE_NAMES.get(rtype, str(rtype)), 'class': rclass, 'ttl': ttl,
                        'data': _rdata(data, rtype, offset, length)})
        offset += length
    return records, offset


def parse_response(data):
    """Header flags, rcode name and the answer and authority sections of a DNS message."""
    if len(data) < 12:
        raise WireError('message shorter than a DNS header (%d bytes)' % len(data))
    qid, flags, qdcount, ancount, nscount, dummy = struct.unpack('!HHHHHH', data[:12])
    offset = 12
    question = None
    for dummy in range(qdcount):
        qname, offset = _read_name(data, offset)
        qtype = struct.unpack('!H', data[offset:offset + 2])[0]
        offset += 4
        question = {'name': qname, 'type': QTYPE_NAMES.get(qtype, str(qtype))}
    answers, offset = _read_records(data, offset, ancount)
    authority, offset = _read_records(data, offset, nscount)
    rcode = flags & 0x000F
    return {
        'id': qid,
        'qr': bool(flags & 0x8000),
        'aa': bool(flags & 0x0400),
        'tc': bool(flags & 0x0200),
        'rd': bool(flags & 0x0100),
        'ra': bool(flags & 0x0080),
        'rcode': RCODES.get(rcode, str(rcode)),
        'question': question,
        'answers': answers,
        'authority': authority,
    }


def answer_data(response, rtype=None):
    """The rdata of the answer records (of ``rtype`` when given), SOA as its serial."""
    out = []
    for rec in response['answers']:
        if rtype and rec['type'] != rtype:
            continue
        data = rec['data']
        out.append(data['serial'] if isinstance(data, dict) else data)
    return out


def check_response(probe, response):
    """Problems (a list of sentences) of ``response`` against a probe's expectations:
    expect_rcode (name), expect_serial (the SOA serial in the answer), expect_data (the set of
    answer rdata of the probe's type, e.g. addresses)."""
    problems = []
    want_rcode = probe.get('expect_rcode')
    if want_rcode and response['rcode'] != want_rcode.upper():
        problems.append('rcode %s, expected %s' % (response['rcode'], want_rcode.upper()))
    serial = probe.get('expect_serial')
    if serial is not None:
        serials = answer_data(response, 'SOA')
        if serials != [int(serial)]:
            problems.append('SOA serial %s, expected %s' % (serials[0] if serials else 'missing', serial))
    want = probe.get('expect_data')
    if want is not None:
        got = sorted(str(d) for d in answer_data(response, probe.get('type', 'A').upper()))
        if got != sorted(str(d) for d in want):
            problems.append('answer %s, expected %s' % (', '.join(got) or 'empty', ', '.join(sorted(str(d) for d in want)) or 'empty'))
    return problems
