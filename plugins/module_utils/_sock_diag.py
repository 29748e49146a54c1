# Copyright (c) 2026 keeplocal.traffic contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""List this host's TCP sockets with the kernel's byte counters of each connection (stdlib only).

``tcp_sockets`` asks sock_diag, the socket table's netlink interface (a NETLINK_SOCK_DIAG socket),
and falls back to /proc/net/tcp and tcp6 (without byte counters) where the kernel has none. The
rest is pure: ``dump_request`` builds a request and ``Dump`` decodes the kernel's answers; the unit
tests replace ``diag_socket`` with captured answers. Layout, from linux/netlink.h, linux/sock_diag.h, linux/inet_diag.h and
linux/tcp.h: a request is a 16-byte nlmsghdr (host byte order) and an inet_diag_req_v2 (family,
protocol, the extensions wanted as a bit mask, the TCP states wanted as a bit mask, a socket id); the
kernel answers a dump with one message per socket, an inet_diag_msg (family, state, timer,
retransmits, socket id, expires, queues, uid, inode), then attributes (4-byte header: length, type;
the value padded to 4 bytes), then NLMSG_DONE. Ports and addresses in the socket id are in network
byte order, everything else in host byte order.

The INET_DIAG_INFO attribute is the socket's ``struct tcp_info``, the same bytes getsockopt(TCP_INFO)
returns. Its ``tcpi_bytes_acked`` (payload bytes this side sent that the peer acknowledged, plus one
for the SYN) and ``tcpi_bytes_received`` (payload bytes received in order) exist since Linux 4.1: a
shorter tcp_info leaves them None. A socket in TIME_WAIT or NEW_SYN_RECV is a minimal kernel object
with no tcp_info: its counters are gone, and it carries no INET_DIAG_INFO.

Sockets are decoded into the dicts _sockets.parse_proc_net_tcp returns for a /proc/net/tcp row
(without its timer field), plus ``cookie`` (the kernel's 64-bit id of the socket, unique while the
network namespace lives; a socket in TIME_WAIT keeps the cookie the connection had),
``bytes_acked`` and ``bytes_received``.
"""

from __future__ import annotations

import errno
import ipaddress
import os
import socket
import struct

from ansible_collections.keeplocal.traffic.plugins.module_utils._procfs import read_text
from ansible_collections.keeplocal.traffic.plugins.module_utils._sockets import TCP_STATES, parse_proc_net_tcp

NETLINK_SOCK_DIAG = 4
SOCK_DIAG_BY_FAMILY = 20

NLMSG_ERROR = 2
NLMSG_DONE = 3
NLM_F_REQUEST = 0x1
NLM_F_DUMP = 0x300

INET_DIAG_INFO = 2
ALL_STATES = 0xfff          # bit N = TCP state N (1 ESTABLISHED .. 11 CLOSING); 0 is unused

# struct tcp_info: tcpi_bytes_acked and tcpi_bytes_received, two __u64 after the 104 bytes of
# the older fields and tcpi_pacing_rate, tcpi_max_pacing_rate.
TCPI_BYTES_ACKED = 120
TCPI_BYTES_RECEIVED = 128
TCP_INFO_WITH_BYTES = 136

_NLMSGHDR = struct.Struct('=IHHII')
_REQ_V2 = struct.Struct('=BBBxI')
_SOCKID = struct.Struct('>HH16s16s')        # ports and addresses, network byte order
_SOCKID_SIZE = _SOCKID.size + 4 + 8         # + interface index, cookie (host byte order)
_MSG_HEAD = struct.Struct('=BBBB')
_MSG_TAIL = struct.Struct('=IIIII')         # expires, rqueue, wqueue, uid, inode
_COOKIE = struct.Struct('=II')
_NLA = struct.Struct('=HH')
_ERRNO = struct.Struct('=i')
_U64 = struct.Struct('=Q')
_MSG_SIZE = _MSG_HEAD.size + _SOCKID_SIZE + _MSG_TAIL.size
NETLINK_TIMEOUT = 30    # seconds of silence before a dump counts as failed
_DATAGRAM = 65536       # a dump datagram is at most 32 KiB
# A kernel without IPv6 (or without its diag handler) answers an AF_INET6 dump with one of these:
# there are no IPv6 sockets to list.
_NO_FAMILY = (errno.ENOENT, errno.EAFNOSUPPORT, errno.EINVAL)
_STATE_NAMES = dict((int(code, 16), name) for code, name in TCP_STATES.items())
_ADDRESS_SIZE = {socket.AF_INET: 4, socket.AF_INET6: 16}


class DiagError(Exception):
    """The kernel answered a request with an error; ``errno`` is positive (e.g. errno.ENOENT)."""

    def __init__(self, errno):
        super().__init__(errno)
        self.errno = errno


def dump_request(seq, family, states=ALL_STATES, info=True):
    """A dump request for the TCP sockets of ``family`` (socket.AF_INET or AF_INET6) in ``states``,
    with their tcp_info when ``info``. An AF_INET6 dump also lists the dual-stack sockets that carry
    IPv4 (as IPv4-mapped addresses)."""
    extensions = 1 << (INET_DIAG_INFO - 1) if info else 0
    body = _REQ_V2.pack(family, socket.IPPROTO_TCP, extensions, states) + b'\0' * _SOCKID_SIZE
    return _NLMSGHDR.pack(_NLMSGHDR.size + len(body), SOCK_DIAG_BY_FAMILY, NLM_F_REQUEST | NLM_F_DUMP, seq, 0) + body


def _address(family, raw):
    if family == socket.AF_INET:
        return socket.inet_ntop(socket.AF_INET, raw[:4])
    # ipaddress, not inet_ntop: the text _addresses.normalize_ip gives (IPv4-mapped folded to IPv4).
    addr = ipaddress.IPv6Address(raw)
    return str(addr.ipv4_mapped or addr)


def decode_socket(data, pos, end):
    """(socket dict, length of its tcp_info or None) of the inet_diag_msg and its attributes in
    data[pos:end]; (None, None) when the message is too short or of an unknown family."""
    if end - pos < _MSG_SIZE:
        return None, None
    family, state, dummy, dummy = _MSG_HEAD.unpack_from(data, pos)
    if family not in _ADDRESS_SIZE:
        return None, None
    sport, dport, src, dst = _SOCKID.unpack_from(data, pos + _MSG_HEAD.size)
    low, high = _COOKIE.unpack_from(data, pos + _MSG_HEAD.size + _SOCKID.size + 4)
    dummy, dummy, dummy, uid, inode = _MSG_TAIL.unpack_from(data, pos + _MSG_HEAD.size + _SOCKID_SIZE)
    found = {
        'local_ip': _address(family, src), 'local_port': sport,
        'remote_ip': _address(family, dst), 'remote_port': dport,
        'state': _STATE_NAMES.get(state, '%02X' % state), 'uid': uid, 'inode': inode,
        'cookie': high << 32 | low, 'bytes_acked': None, 'bytes_received': None,
    }
    info_length = None
    at = pos + _MSG_SIZE
    while at + _NLA.size <= end:
        length, kind = _NLA.unpack_from(data, at)
        if length < _NLA.size or at + length > end:
            break
        if kind == INET_DIAG_INFO:
            info_length = length - _NLA.size
            if info_length >= TCP_INFO_WITH_BYTES:
                found['bytes_acked'] = _U64.unpack_from(data, at + _NLA.size + TCPI_BYTES_ACKED)[0]
                found['bytes_received'] = _U64.unpack_from(data, at + _NLA.size + TCPI_BYTES_RECEIVED)[0]
        at += (length + 3) & ~3
    return found, info_length


class Dump:
    """Decode the datagrams that answer ``dump_request(seq, ...)``, in order.

    ``sockets = dump.feed(datagram)`` until ``dump.done``. ``short_info`` counts the sockets whose
    tcp_info came without the byte counters (a kernel before 4.1).
    """

    def __init__(self, seq):
        self.seq = seq
        self.done = False
        self.short_info = 0

    def feed(self, data):
        """The sockets in one datagram; DiagError when the kernel answers with an error."""
        sockets = []
        pos = 0
        size = len(data)
        while pos + _NLMSGHDR.size <= size:
            length, msg_type, dummy, msg_seq, dummy = _NLMSGHDR.unpack_from(data, pos)
            if length < _NLMSGHDR.size or pos + length > size:
                raise ValueError('truncated netlink message at byte %d of %d' % (pos, size))
            if msg_seq == self.seq:
                if msg_type == NLMSG_DONE:
                    self.done = True
                    break
                if msg_type == NLMSG_ERROR:
                    errno = -_ERRNO.unpack_from(data, pos + _NLMSGHDR.size)[0]
                    if errno:
                        raise DiagError(errno)
                elif msg_type == SOCK_DIAG_BY_FAMILY:
                    found, info_length = decode_socket(data, pos + _NLMSGHDR.size, pos + length)
                    if found is not None:
                        if info_length is not None and info_length < TCP_INFO_WITH_BYTES:
                            self.short_info += 1
                        sockets.append(found)
            pos += (length + 3) & ~3
        return sockets


# --- I/O -----------------------------------------------------------------------------------------

class SocketsUnavailable(Exception):
    """The sockets cannot be listed; the message says why."""


def diag_socket():
    """A bound NETLINK_SOCK_DIAG socket for sock_diag requests."""
    sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_SOCK_DIAG)
    try:
        sock.settimeout(NETLINK_TIMEOUT)
        sock.bind((0, 0))
    except OSError:
        sock.close()
        raise
    return sock


def _diag_sockets():
    """(sockets, sockets whose tcp_info lacks the byte counters) of both address families."""
    try:
        sock = diag_socket()
    except OSError as exc:
        raise SocketsUnavailable('sock_diag: no NETLINK_SOCK_DIAG socket: %s' % exc) from None
    sockets = []
    short_info = 0
    try:
        with sock:
            for seq, family in ((1, socket.AF_INET), (2, socket.AF_INET6)):
                dump = Dump(seq)
                sock.send(dump_request(seq, family))
                try:
                    while not dump.done:
                        sockets.extend(dump.feed(sock.recv(_DATAGRAM)))
                except DiagError as exc:
                    if family == socket.AF_INET or exc.errno not in _NO_FAMILY:
                        raise
                short_info += dump.short_info
    except DiagError as exc:
        raise SocketsUnavailable('sock_diag: the kernel refused the TCP socket dump: %s (a kernel without '
                                 'CONFIG_INET_DIAG/tcp_diag)' % os.strerror(exc.errno)) from None
    except (OSError, ValueError) as exc:
        raise SocketsUnavailable('sock_diag: TCP socket dump failed: %s' % exc) from None
    return sockets, short_info


def tcp_sockets(proc='/proc'):
    """This network namespace's TCP sockets: {sockets, source, byte_counters, msg}.

    sock_diag lists them with each connection's byte counters (source ``sock_diag``, byte_counters
    true, ``msg`` None). Where the kernel's tcp_info predates the counters (Linux 4.1) byte_counters
    is false and ``msg`` says so. Without sock_diag the sockets come from ``proc``/net/tcp and tcp6
    (source ``proc``, their byte counters None, ``msg`` why). Raises SocketsUnavailable when neither can
    be read.
    """
    try:
        sockets, short_info = _diag_sockets()
    except SocketsUnavailable as exc:
        problem = str(exc)
    else:
        if not short_info:
            return {'sockets': sockets, 'source': 'sock_diag', 'byte_counters': True, 'msg': None}
        return {'sockets': sockets, 'source': 'sock_diag', 'byte_counters': False,
                'msg': 'sock_diag: the tcp_info of %d socket(s) has no tcpi_bytes_acked/tcpi_bytes_received '
                       '(Linux 4.1 and later)' % short_info}
    tcp = read_text(os.path.join(proc, 'net/tcp'))
    if tcp is None:
        raise SocketsUnavailable('%s; %s/net/tcp is not readable: is /proc mounted?' % (problem, proc))
    sockets = parse_proc_net_tcp(tcp) + parse_proc_net_tcp(read_text(os.path.join(proc, 'net/tcp6')) or '')
    return {'sockets': sockets, 'source': 'proc', 'byte_counters': False,
            'msg': '%s; the sockets come from %s/net/tcp, without byte counters' % (problem, proc)}
