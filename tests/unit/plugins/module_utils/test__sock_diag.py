# Copyright (c) 2026 keeplocal.traffic contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""sock_diag requests and the decoding of the kernel's answers: the TCP socket dumps captured from a
6.18 kernel (fixtures/sockdiag-capture.sh: a client calling a DNATed public address over IPv4 and
IPv6 with 5,000 bytes out and 70,000 back per connection, one such call closed into TIME_WAIT, the
server's listeners and accepted sockets), and constructed answers for what that kernel does not
send: a tcp_info without the byte counters (Linux before 4.1), errors, truncation; and the listing's
fallback to /proc/net/tcp where sock_diag cannot answer."""

from __future__ import annotations

import errno
import socket
import struct

import pytest

from ansible_collections.keeplocal.traffic.plugins.module_utils import _sock_diag
from ansible_collections.keeplocal.traffic.plugins.module_utils._sock_diag import (
    TCP_INFO_WITH_BYTES,
    DiagError,
    Dump,
    SocketsUnavailable,
    dump_request,
    tcp_sockets,
)
from ansible_collections.keeplocal.traffic.tests.unit.plugins.modules.conntrack_fakes import ctnetlink_exchange

CAPTURES = {socket.AF_INET: ('sockdiag-inet.txt', 1), socket.AF_INET6: ('sockdiag-inet6.txt', 2)}


def decode(family):
    name, seq = CAPTURES[family]
    dump = Dump(seq)
    sockets = []
    for datagram in ctnetlink_exchange(name)[1]:
        sockets.extend(dump.feed(datagram))
    return dump, sockets


@pytest.mark.parametrize('family', sorted(CAPTURES))
def test_the_request_is_the_one_the_kernel_answered(family):
    name, seq = CAPTURES[family]
    assert dump_request(seq, family) == ctnetlink_exchange(name)[0]


def test_the_ipv4_dump_decodes_to_each_socket_with_its_byte_counters():
    dump, sockets = decode(socket.AF_INET)
    assert dump.done and dump.short_info == 0
    assert sockets == [
        {'local_ip': '192.168.77.20', 'local_port': 80, 'remote_ip': '0.0.0.0', 'remote_port': 0, 'state': 'LISTEN',
         'uid': 0, 'inode': 41326137, 'cookie': 20894, 'bytes_acked': 0, 'bytes_received': 0},
        # The closed call: a TIME_WAIT socket keeps its cookie but has no tcp_info, so no counters.
        {'local_ip': '192.168.77.10', 'local_port': 47165, 'remote_ip': '198.51.100.1', 'remote_port': 80,
         'state': 'TIME_WAIT', 'uid': 0, 'inode': 0, 'cookie': 20895, 'bytes_acked': None, 'bytes_received': None},
        # The client's socket shows the public address it called (the DNAT is on the way); acked
        # bytes count the SYN too.
        {'local_ip': '192.168.77.10', 'local_port': 54537, 'remote_ip': '198.51.100.1', 'remote_port': 80,
         'state': 'ESTABLISHED', 'uid': 0, 'inode': 41326244, 'cookie': 20896, 'bytes_acked': 5001,
         'bytes_received': 70000},
        {'local_ip': '192.168.77.20', 'local_port': 80, 'remote_ip': '192.168.77.10', 'remote_port': 54537,
         'state': 'ESTABLISHED', 'uid': 0, 'inode': 41326245, 'cookie': 20897, 'bytes_acked': 70000,
         'bytes_received': 5000},
    ]


def test_the_ipv6_dump_decodes_addresses_as_the_proc_parser_spells_them():
    dump, sockets = decode(socket.AF_INET6)
    assert dump.done
    assert [(sock['local_ip'], sock['remote_ip'], sock['state'], sock['bytes_acked'], sock['bytes_received'])
            for sock in sockets] == [
        ('fd77::20', '::', 'LISTEN', 0, 0),
        ('fd77::20', 'fd77::10', 'ESTABLISHED', 70000, 5000),
        ('fd77::10', '2001:db8:77::1', 'ESTABLISHED', 5001, 70000),
    ]


# --- constructed answers ---------------------------------------------------------------------------

def message(seq, body, msg_type=20):
    return struct.pack('=IHHII', 16 + len(body), msg_type, 2, seq, 0) + body + b'\0' * (-len(body) % 4)


def diag_msg(family, state, src, sport, dst, dport, cookie, info=None):
    """An inet_diag_msg as the kernel writes it, with an INET_DIAG_INFO attribute when ``info``."""
    head = struct.pack('=BBBB', family, state, 0, 0)
    sockid = struct.pack('>HH', sport, dport) + socket.inet_pton(family, src).ljust(16, b'\0') + \
        socket.inet_pton(family, dst).ljust(16, b'\0') + struct.pack('=III', 0, cookie & 0xffffffff, cookie >> 32)
    body = head + sockid + struct.pack('=IIIII', 0, 0, 0, 1000, 4242)
    if info is not None:
        body += struct.pack('=HH', 4 + len(info), 2) + info + b'\0' * (-len(info) % 4)
    return body


def tcp_info(length, acked=0, received=0):
    info = bytearray(length)
    if length >= TCP_INFO_WITH_BYTES:
        struct.pack_into('=QQ', info, 120, acked, received)
    return bytes(info)


def test_byte_counters_are_read_at_their_offsets_and_a_64_bit_cookie_kept_whole():
    body = diag_msg(socket.AF_INET, 1, '10.86.0.10', 40000, '198.18.86.1', 80, (7 << 32) | 9,
                    tcp_info(232, acked=2 ** 40 + 1, received=123456789))
    dump = Dump(5)
    sockets = dump.feed(message(5, body) + message(5, b'\0' * 4, msg_type=3))
    assert dump.done
    assert sockets == [{'local_ip': '10.86.0.10', 'local_port': 40000, 'remote_ip': '198.18.86.1', 'remote_port': 80,
                        'state': 'ESTABLISHED', 'uid': 1000, 'inode': 4242, 'cookie': (7 << 32) | 9,
                        'bytes_acked': 2 ** 40 + 1, 'bytes_received': 123456789}]


def test_a_tcp_info_without_byte_counters_is_counted_and_leaves_them_none():
    """A kernel before 4.1 sends the 104 bytes that end before tcpi_pacing_rate."""
    dump = Dump(1)
    sockets = dump.feed(message(1, diag_msg(socket.AF_INET6, 1, 'fd86::10', 40000, '2001:db8:86::1', 443, 1,
                                            tcp_info(104))))
    assert dump.short_info == 1
    assert (sockets[0]['bytes_acked'], sockets[0]['bytes_received']) == (None, None)
    # Exactly long enough is enough.
    dump = Dump(1)
    assert dump.feed(message(1, diag_msg(socket.AF_INET, 1, '10.86.0.10', 1, '10.86.0.1', 2, 1,
                                         tcp_info(TCP_INFO_WITH_BYTES, 5, 6))))[0]['bytes_received'] == 6
    assert dump.short_info == 0


def test_ipv4_mapped_addresses_of_dual_stack_sockets_fold_to_ipv4():
    sockets = Dump(1).feed(message(1, diag_msg(socket.AF_INET6, 1, '::ffff:10.86.0.10', 1, '::ffff:198.18.86.1', 80, 1,
                                               tcp_info(232, 1, 2))))
    assert (sockets[0]['local_ip'], sockets[0]['remote_ip']) == ('10.86.0.10', '198.18.86.1')


def test_other_requests_answers_and_unknown_families_are_skipped():
    dump = Dump(2)
    other_seq = message(1, diag_msg(socket.AF_INET, 1, '10.86.0.10', 1, '10.86.0.1', 2, 1))
    unknown_family = message(2, struct.pack('=BBBB', 99, 1, 0, 0) + b'\0' * 68)
    too_short = message(2, b'\x02\x01\0\0')
    assert dump.feed(other_seq + unknown_family + too_short) == []
    assert not dump.done


def test_an_error_answer_raises_with_its_errno():
    with pytest.raises(DiagError) as caught:
        Dump(3).feed(message(3, struct.pack('=i', -errno.ENOENT) + b'\0' * 16, msg_type=2))
    assert caught.value.errno == errno.ENOENT
    # An acknowledgement (error 0) is not an error.
    assert Dump(3).feed(message(3, struct.pack('=i', 0) + b'\0' * 16, msg_type=2)) == []


def test_a_truncated_datagram_is_refused():
    data = message(1, diag_msg(socket.AF_INET, 1, '10.86.0.10', 1, '10.86.0.1', 2, 1))
    with pytest.raises(ValueError, match='truncated netlink message at byte 0'):
        Dump(1).feed(data[:-8])


# --- tcp_sockets: sock_diag, or /proc without byte counters ------------------------------------------

class Kernel:
    """A NETLINK_SOCK_DIAG socket answering each family's dump with ``answers[family]`` (datagrams)."""

    def __init__(self, answers):
        self.answers = answers
        self.pending = []

    def send(self, request):
        self.pending.extend(self.answers[request[16]])
        return len(request)

    def recv(self, size):
        return self.pending.pop(0)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def captured():
    return {family: ctnetlink_exchange(name)[1] for family, (name, dummy) in CAPTURES.items()}


def error(seq, number):
    return message(seq, struct.pack('=i', -number) + b'\0' * 16, msg_type=2)


@pytest.fixture
def proc(tmp_path):
    """A /proc with one socket in net/tcp (a connection 10.86.0.10:40000 -> 198.18.86.1:80)."""
    (tmp_path / 'net').mkdir()
    (tmp_path / 'net' / 'tcp').write_text(
        '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n'
        '   0: 0A00560A:9C40 015612C6:0050 01 00000000:00000000 00:00000000 00000000     0        0 4242 1\n')
    return str(tmp_path)


def test_tcp_sockets_lists_both_families_with_byte_counters(monkeypatch, proc):
    monkeypatch.setattr(_sock_diag, 'diag_socket', lambda: Kernel(captured()))
    listing = tcp_sockets(proc)
    assert (listing['source'], listing['byte_counters'], listing['msg']) == ('sock_diag', True, None)
    assert len(listing['sockets']) == 7 and listing['sockets'][2]['bytes_received'] == 70000


def test_tcp_sockets_without_sock_diag_reads_proc_and_says_why(monkeypatch, proc):
    def refused():
        raise OSError(errno.EPROTONOSUPPORT, 'Protocol not supported')
    monkeypatch.setattr(_sock_diag, 'diag_socket', refused)
    listing = tcp_sockets(proc)
    assert (listing['source'], listing['byte_counters']) == ('proc', False)
    assert listing['msg'] == ('sock_diag: no NETLINK_SOCK_DIAG socket: [Errno 93] Protocol not supported; the sockets '
                              'come from %s/net/tcp, without byte counters' % proc)
    assert [(sock['remote_ip'], sock['remote_port'], sock['inode']) for sock in listing['sockets']] == \
        [('198.18.86.1', 80, 4242)]


def test_tcp_sockets_falls_back_when_the_kernel_refuses_the_ipv4_dump(monkeypatch, proc):
    monkeypatch.setattr(_sock_diag, 'diag_socket', lambda: Kernel({socket.AF_INET: [error(1, errno.ENOENT)]}))
    listing = tcp_sockets(proc)
    assert listing['source'] == 'proc'
    assert listing['msg'].startswith('sock_diag: the kernel refused the TCP socket dump: No such file or directory')


def test_a_kernel_without_ipv6_still_lists_ipv4(monkeypatch, proc):
    answers = captured()
    answers[socket.AF_INET6] = [error(2, errno.EAFNOSUPPORT)]
    monkeypatch.setattr(_sock_diag, 'diag_socket', lambda: Kernel(answers))
    listing = tcp_sockets(proc)
    assert (listing['source'], listing['byte_counters'], len(listing['sockets'])) == ('sock_diag', True, 4)


def test_a_tcp_info_without_counters_lists_the_sockets_and_says_so(monkeypatch, proc):
    short = message(1, diag_msg(socket.AF_INET, 1, '10.86.0.10', 40000, '198.18.86.1', 80, 1, tcp_info(104)))
    monkeypatch.setattr(_sock_diag, 'diag_socket', lambda: Kernel({socket.AF_INET: [short + message(1, b'\0' * 4, 3)],
                                                                   socket.AF_INET6: [message(2, b'\0' * 4, 3)]}))
    listing = tcp_sockets(proc)
    assert (listing['source'], listing['byte_counters'], len(listing['sockets'])) == ('sock_diag', False, 1)
    assert listing['msg'] == ('sock_diag: the tcp_info of 1 socket(s) has no tcpi_bytes_acked/tcpi_bytes_received '
                              '(Linux 4.1 and later)')


def test_neither_sock_diag_nor_proc_is_an_error_naming_both(monkeypatch, tmp_path):
    def refused():
        raise OSError(errno.EPROTONOSUPPORT, 'Protocol not supported')
    monkeypatch.setattr(_sock_diag, 'diag_socket', refused)
    with pytest.raises(SocketsUnavailable, match='no NETLINK_SOCK_DIAG socket.*; %s/net/tcp is not readable' % tmp_path):
        tcp_sockets(str(tmp_path))
