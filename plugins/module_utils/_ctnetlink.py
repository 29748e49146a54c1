# Copyright (c) 2026 keeplocal.traffic contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Build ctnetlink requests and decode the kernel's answers (stdlib only, no I/O).

ctnetlink is the conntrack table's netlink interface (a NETLINK_NETFILTER socket; the socket itself
lives in _host_facts). Layout, from linux/netlink.h, linux/netfilter/nfnetlink.h and
linux/netfilter/nfnetlink_conntrack.h: each message is a 16-byte nlmsghdr (host byte order), a
4-byte nfgenmsg (address family, version, resource id), then attributes: a 4-byte header (length,
type; host byte order) and the value padded to 4 bytes. Nested attributes hold attributes. The
conntrack values themselves are in network byte order.

A dump answers with one message per entry, then NLMSG_DONE. ``dump_request`` asks only for the
entries whose status has IPS_DST_NAT (CTA_STATUS and CTA_STATUS_MASK; Linux 5.19 and later filter
in the kernel). Older kernels ignore the two attributes and send every entry: ``Dump`` checks the
status of every entry itself, so the entries it returns are the same either way, and
``Dump.kernel_filter`` says whether the kernel did the filtering.

Entries are decoded into the dicts ``_conntrack_table.parse_line`` returns for a text line; the
hairpin classification stays ``HairpinScanner``'s (``feed_entries``, and ``hairpin`` as the
``wanted`` test that spares decoding the rest of an entry it turns down).
"""

from __future__ import annotations

import ipaddress
import socket
import struct

NETLINK_NETFILTER = 12

NLMSG_ERROR = 2
NLMSG_DONE = 3
NLM_F_REQUEST = 0x1
NLM_F_DUMP = 0x300

_SUBSYS_CTNETLINK = 1
IPCTNL_MSG_CT_NEW = 0
IPCTNL_MSG_CT_GET = 1
IPCTNL_MSG_CT_GET_STATS = 5
_CT_NEW = (_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_NEW     # the type of each entry in a dump

CTA_TUPLE_ORIG = 1
CTA_TUPLE_REPLY = 2
CTA_STATUS = 3
CTA_PROTOINFO = 4
CTA_TIMEOUT = 7
CTA_MARK = 8
CTA_COUNTERS_ORIG = 9
CTA_COUNTERS_REPLY = 10
CTA_USE = 11
CTA_ZONE = 18
CTA_STATUS_MASK = 26

CTA_TUPLE_IP = 1
CTA_TUPLE_PROTO = 2
CTA_IP_V4_SRC = 1
CTA_IP_V4_DST = 2
CTA_IP_V6_SRC = 3
CTA_IP_V6_DST = 4
CTA_PROTO_NUM = 1
CTA_PROTO_SRC_PORT = 2
CTA_PROTO_DST_PORT = 3
CTA_PROTO_ICMP_ID = 4
CTA_PROTO_ICMP_TYPE = 5
CTA_PROTO_ICMP_CODE = 6
CTA_PROTO_ICMPV6_ID = 7
CTA_PROTO_ICMPV6_TYPE = 8
CTA_PROTO_ICMPV6_CODE = 9
CTA_PROTOINFO_TCP = 1
CTA_PROTOINFO_SCTP = 3
CTA_PROTOINFO_STATE = 1     # CTA_PROTOINFO_TCP_STATE and CTA_PROTOINFO_SCTP_STATE
CTA_COUNTERS_PACKETS = 1
CTA_COUNTERS_BYTES = 2
CTA_STATS_GLOBAL_ENTRIES = 1

IPS_SEEN_REPLY = 1 << 1
IPS_ASSURED = 1 << 2
IPS_DST_NAT = 1 << 5
IPS_OFFLOAD = 1 << 14
IPS_HW_OFFLOAD = 1 << 15

_NLA_F_NESTED = 0x8000
_NLA_TYPE_MASK = 0x3fff     # without NLA_F_NESTED and NLA_F_NET_BYTEORDER

_NLMSGHDR = struct.Struct('=IHHII')
_NLA = struct.Struct('=HH')
_NFGENMSG = struct.Struct('=BBH')
_ERRNO = struct.Struct('=i')
_BE16 = struct.Struct('>H')
_BE32 = struct.Struct('>I')
_BE64 = struct.Struct('>Q')
_HEADER = _NLMSGHDR.size + _NFGENMSG.size

# The names /proc/net/nf_conntrack prints (the kernel's l3proto/l4proto names and state tables).
_L3 = {socket.AF_INET: 'ipv4', socket.AF_INET6: 'ipv6'}
_L4 = {1: 'icmp', 6: 'tcp', 17: 'udp', 33: 'dccp', 47: 'gre', 58: 'icmpv6', 132: 'sctp', 136: 'udplite'}
_PORTS = frozenset((6, 17, 33, 132, 136))
_TCP_STATES = ('NONE', 'SYN_SENT', 'SYN_RECV', 'ESTABLISHED', 'FIN_WAIT', 'CLOSE_WAIT', 'LAST_ACK', 'TIME_WAIT',
               'CLOSE', 'SYN_SENT2')
_SCTP_STATES = ('NONE', 'CLOSED', 'COOKIE_WAIT', 'COOKIE_ECHOED', 'ESTABLISHED', 'SHUTDOWN_SENT', 'SHUTDOWN_RECD',
                'SHUTDOWN_ACK_SENT', 'HEARTBEAT_SENT', 'HEARTBEAT_ACKED')
_STATES = {CTA_PROTOINFO_TCP: _TCP_STATES, CTA_PROTOINFO_SCTP: _SCTP_STATES}


class NetlinkError(Exception):
    """The kernel answered a request with an error; ``errno`` is positive (e.g. errno.EPERM)."""

    def __init__(self, errno):
        super().__init__(errno)
        self.errno = errno


def _attr(kind, value):
    length = _NLA.size + len(value)
    return _NLA.pack(length, kind) + value + b'\0' * (-length % 4)


def _request(msg_type, flags, seq, attributes=b''):
    body = _NFGENMSG.pack(socket.AF_UNSPEC, 0, 0) + attributes
    return _NLMSGHDR.pack(_NLMSGHDR.size + len(body), (_SUBSYS_CTNETLINK << 8) | msg_type, flags, seq, 0) + body


def dump_request(seq, status=IPS_DST_NAT):
    """A dump request for the entries of every address family whose status has all ``status`` bits;
    ``status=None`` asks for every entry (what a kernel before 5.19 sends in any case)."""
    filters = b''
    if status is not None:
        filters = _attr(CTA_STATUS, _BE32.pack(status)) + _attr(CTA_STATUS_MASK, _BE32.pack(status))
    return _request(IPCTNL_MSG_CT_GET, NLM_F_REQUEST | NLM_F_DUMP, seq, filters)


def stats_request(seq):
    """A request for the table's global statistics (the entry count of this network namespace)."""
    return _request(IPCTNL_MSG_CT_GET_STATS, NLM_F_REQUEST, seq)


def _messages(data, seq):
    """Yield (message type, payload start, end) of the messages in one datagram that answer ``seq``;
    raises NetlinkError for an error answer."""
    pos = 0
    size = len(data)
    while pos + _NLMSGHDR.size <= size:
        length, msg_type, dummy, msg_seq, dummy = _NLMSGHDR.unpack_from(data, pos)
        if length < _NLMSGHDR.size or pos + length > size:
            raise ValueError('truncated netlink message at byte %d of %d' % (pos, size))
        if msg_seq == seq:
            if msg_type == NLMSG_ERROR:
                errno = -_ERRNO.unpack_from(data, pos + _NLMSGHDR.size)[0]
                if errno:
                    raise NetlinkError(errno)
            else:
                yield msg_type, pos + _NLMSGHDR.size, pos + length
        pos += (length + 3) & ~3


def _index(data, pos, end):
    """{type: (value start, value end)} of the attributes in data[pos:end]."""
    found = {}
    while pos + 4 <= end:
        length, kind = _NLA.unpack_from(data, pos)
        if length < 4:
            break
        found[kind & _NLA_TYPE_MASK] = (pos + 4, pos + length)
        pos += (length + 3) & ~3
    return found


def _be32(data, span):
    return _BE32.unpack_from(data, span[0])[0] if span else None


def global_entries(data, seq):
    """The entry count in the kernel's answer to ``stats_request(seq)``."""
    for msg_type, pos, end in _messages(data, seq):
        if msg_type == (_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_GET_STATS:
            count = _be32(data, _index(data, pos + _NFGENMSG.size, end).get(CTA_STATS_GLOBAL_ENTRIES))
            if count is not None:
                return count
    raise ValueError('no CTA_STATS_GLOBAL_ENTRIES in the answer to request %d' % seq)


def _tuple_layout(address_size, src_type, dst_type):
    """(value length, header Struct, expected headers, value Struct) of the tuple the kernel writes for a
    port protocol: CTA_TUPLE_IP {src, dst}, CTA_TUPLE_PROTO {num, src port, dst port}. Addresses (4 or
    16 bytes) need no padding."""
    headers = struct.Struct('=2H 2H%dx 2H%dx 2H 2H4x 2H4x 2H4x' % (address_size, address_size))
    values = struct.Struct('>4x 4x%ds 4x%ds 4x 4xB3x 4xH2x 4xH2x' % (address_size, address_size))
    ip_length = 4 + 2 * (4 + address_size)
    expected = (ip_length, CTA_TUPLE_IP | _NLA_F_NESTED, 4 + address_size, src_type, 4 + address_size, dst_type,
                28, CTA_TUPLE_PROTO | _NLA_F_NESTED, 5, CTA_PROTO_NUM, 6, CTA_PROTO_SRC_PORT, 6, CTA_PROTO_DST_PORT)
    return ip_length + 28, headers, expected, values


# Most entries are TCP or UDP: their tuples are read with two unpacks each, after checking that every
# attribute header is where this layout puts it; any other tuple is walked attribute by attribute.
_TUPLE_LAYOUTS = {
    layout[0]: layout
    for layout in (_tuple_layout(4, CTA_IP_V4_SRC, CTA_IP_V4_DST), _tuple_layout(16, CTA_IP_V6_SRC, CTA_IP_V6_DST))
}


class Dump:
    """Decode the datagrams that answer ``dump_request(seq, status)``, in order.

    ``entries = dump.feed(datagram)`` until ``dump.done``; each call returns the entries of one
    datagram that have the ``status`` bits, so memory stays bounded by what the caller keeps.
    ``wanted(orig_src, orig_dst, reply_src)``, when given, drops the entries it returns False for
    before the rest of them is decoded.
    """

    def __init__(self, seq, status=IPS_DST_NAT, wanted=None):
        self.seq = seq
        self.status = status
        self.wanted = wanted
        self.done = False
        self.read = 0               # entries the kernel sent
        self.kernel_filter = True   # False once the kernel sent an entry without the status bits
        self._texts = {}

    def feed(self, data):
        """The wanted entries in one datagram; NetlinkError when the kernel answers with an error."""
        entries = []
        for msg_type, pos, end in _messages(data, self.seq):
            if msg_type == NLMSG_DONE:
                self.done = True
                break
            if msg_type != _CT_NEW:
                continue
            self.read += 1
            entry = self._entry(data, pos, end)
            if entry is not None:
                entries.append(entry)
        return entries

    def _address(self, raw):
        try:
            return self._texts[raw]
        except KeyError:
            pass
        if len(raw) == 4:
            text = socket.inet_ntop(socket.AF_INET, raw)
        else:
            # ipaddress, not inet_ntop: the same text normalize_ip gives the /proc table's addresses
            # (IPv4-mapped folded to IPv4, no dotted quad in ::/96).
            addr = ipaddress.IPv6Address(raw)
            text = str(addr.ipv4_mapped or addr)
        self._texts[raw] = text
        return text

    def _entry(self, data, pos, end):
        """One entry as parse_line's dict, or None when its status lacks the wanted bits (or ``wanted``
        turns it down)."""
        spans = {}
        unpack = _NLA.unpack_from
        at = pos + _NFGENMSG.size
        # The kernel writes the tuples, the zone, then CTA_STATUS: an unwanted entry costs a few
        # attribute headers.
        while at + 4 <= end:
            length, kind = unpack(data, at)
            if length < 4:
                return None
            kind &= _NLA_TYPE_MASK
            spans[kind] = (at + 4, at + length)
            at += (length + 3) & ~3
            if kind == CTA_STATUS:
                break
        else:
            return None
        status = _BE32.unpack_from(data, spans[CTA_STATUS][0])[0]
        if status & self.status != self.status:
            self.kernel_filter = False
            return None
        if CTA_TUPLE_ORIG not in spans or CTA_TUPLE_REPLY not in spans:
            return None
        orig, protonum = self._tuple(data, spans[CTA_TUPLE_ORIG])
        reply = self._tuple(data, spans[CTA_TUPLE_REPLY])[0]
        if 'dst' not in orig or 'dst' not in reply:
            return None
        if self.wanted is not None and not self.wanted(orig['src'], orig['dst'], reply['src']):
            return None
        while at + 4 <= end:
            length, kind = unpack(data, at)
            if length < 4:
                break
            spans[kind & _NLA_TYPE_MASK] = (at + 4, at + length)
            at += (length + 3) & ~3
        for kind, side in ((CTA_COUNTERS_ORIG, orig), (CTA_COUNTERS_REPLY, reply)):
            if kind in spans:
                counters = _index(data, *spans[kind])
                for name, counter in (('packets', CTA_COUNTERS_PACKETS), ('bytes', CTA_COUNTERS_BYTES)):
                    if counter in counters:
                        side[name] = _BE64.unpack_from(data, counters[counter][0])[0]
        flags = [] if status & IPS_SEEN_REPLY else ['UNREPLIED']
        for bit, name in ((IPS_ASSURED, 'ASSURED'), (IPS_OFFLOAD, 'OFFLOAD'), (IPS_HW_OFFLOAD, 'HW_OFFLOAD')):
            if status & bit:
                flags.append(name)
        zone = spans.get(CTA_ZONE)
        return {
            'l3': _L3.get(data[pos], 'unknown'), 'proto': _L4.get(protonum, 'unknown'), 'protonum': protonum,
            'timeout': _be32(data, spans.get(CTA_TIMEOUT)), 'state': _state(data, spans.get(CTA_PROTOINFO)),
            'orig': orig, 'reply': reply, 'flags': flags, 'mark': _be32(data, spans.get(CTA_MARK)),
            'zone': _BE16.unpack_from(data, zone[0])[0] if zone else 0, 'use': _be32(data, spans.get(CTA_USE)),
            'assured': bool(status & IPS_ASSURED), 'unreplied': not status & IPS_SEEN_REPLY,
        }

    def _tuple(self, data, span):
        """(the tuple's addresses and ports, or ICMP type, code and id; its protocol number)."""
        start, end = span
        layout = _TUPLE_LAYOUTS.get(end - start)
        if layout is not None and layout[1].unpack_from(data, start) == layout[2]:
            src, dst, protonum, sport, dport = layout[3].unpack_from(data, start)
            if protonum in _PORTS:
                return {'src': self._address(src), 'dst': self._address(dst), 'sport': sport, 'dport': dport}, protonum
        side = {}
        found = _index(data, start, end)
        if CTA_TUPLE_IP in found:
            for kind, (value, stop) in _index(data, *found[CTA_TUPLE_IP]).items():
                side['src' if kind in (CTA_IP_V4_SRC, CTA_IP_V6_SRC) else 'dst'] = self._address(data[value:stop])
        proto = _index(data, *found[CTA_TUPLE_PROTO]) if CTA_TUPLE_PROTO in found else {}
        protonum = data[proto[CTA_PROTO_NUM][0]] if CTA_PROTO_NUM in proto else None
        # GRE keys travel in the port attributes too; /proc shows ports only for port protocols.
        fields = _PORT_FIELDS if protonum in _PORTS else _ICMP_FIELDS
        for name, kinds, unpack in fields:
            for kind in kinds:
                if kind in proto:
                    side[name] = unpack(data, proto[kind][0])
        return side, protonum


def _u8(data, pos):
    return data[pos]


def _be16(data, pos):
    return _BE16.unpack_from(data, pos)[0]


_PORT_FIELDS = (('sport', (CTA_PROTO_SRC_PORT,), _be16), ('dport', (CTA_PROTO_DST_PORT,), _be16))
_ICMP_FIELDS = (
    ('type', (CTA_PROTO_ICMP_TYPE, CTA_PROTO_ICMPV6_TYPE), _u8),
    ('code', (CTA_PROTO_ICMP_CODE, CTA_PROTO_ICMPV6_CODE), _u8),
    ('id', (CTA_PROTO_ICMP_ID, CTA_PROTO_ICMPV6_ID), _be16),
)


def _state(data, span):
    """The TCP or SCTP state name in a CTA_PROTOINFO value, or None."""
    if span is None:
        return None
    protoinfo = _index(data, *span)
    for kind, names in _STATES.items():
        if kind in protoinfo:
            info = _index(data, *protoinfo[kind]).get(CTA_PROTOINFO_STATE)
            if info is not None:
                state = data[info[0]]
                return names[state] if state < len(names) else None
    return None
