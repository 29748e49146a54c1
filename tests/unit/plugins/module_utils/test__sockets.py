# Copyright (c) 2026 keeplocal.traffic contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""/proc/net/tcp{,6} parsing and the outbound_flows_info summary, on socket tables captured in
network namespaces (fixtures/capture.sh): srv runs a dual-stack web server on :80/:81, "gunicorn"
on 127.0.0.1:8000 with 4 connections from "nginx"; cli holds hairpin connections to the
gateway's public address 198.51.100.1 (:80 twice, :5432 once) and 2001:db8:77::1:80, and made
short curl requests to both (3 x IPv4, 1 x IPv6)."""

from __future__ import annotations

import json
import os

import pytest

from ansible_collections.keeplocal.traffic.plugins.module_utils._sockets import (
    connections_by_process,
    decode_address,
    parse_fib_trie,
    parse_if_inet6,
    parse_ip_addr_json,
    parse_proc_net_tcp,
    summarize,
)

FIXTURES = os.path.join(os.path.dirname(__file__), 'fixtures')
PUBLIC = ['198.51.100.1', '2001:db8:77::1']


def fixture(name):
    with open(os.path.join(FIXTURES, name)) as f:
        return f.read()


def host_sockets(host):
    return (parse_proc_net_tcp(fixture('%s-proc-net-tcp.txt' % host), 'little')
            + parse_proc_net_tcp(fixture('%s-proc-net-tcp6.txt' % host), 'little'))


def owners(host):
    return json.loads(fixture('%s-socket-inodes.json' % host))


@pytest.mark.parametrize('text, byteorder, expected', [
    ('0100007F:1F40', 'little', ('127.0.0.1', 8000)),
    ('144DA8C0:0050', 'little', ('192.168.77.20', 80)),
    ('016433C6:1538', 'little', ('198.51.100.1', 5432)),
    ('7F000001:1F40', 'big', ('127.0.0.1', 8000)),
    ('00000000000000000000000001000000:2328', 'little', ('::1', 9000)),
    ('000077FD000000000000000010000000:CEB0', 'little', ('fd77::10', 52912)),
    ('B80D0120000077000000000001000000:0050', 'little', ('2001:db8:77::1', 80)),
    # a dual-stack socket's IPv4 peer is an IPv4-mapped IPv6 address: reported as IPv4
    ('0000000000000000FFFF00000A4DA8C0:E1BC', 'little', ('192.168.77.10', 57788)),
    ('00000000000000000000000000000000:0000', 'little', ('::', 0)),
])
def test_decode_address(text, byteorder, expected):
    assert decode_address(text, byteorder) == expected


@pytest.mark.parametrize('bad', ['0100007F', '0100007G:0050', '01007F:0050', ''])
def test_decode_address_rejects(bad):
    with pytest.raises(ValueError):
        decode_address(bad, 'little')


def test_parse_rows():
    sockets = parse_proc_net_tcp(fixture('srv-proc-net-tcp.txt'), 'little')
    assert len(sockets) == 11
    assert sockets[0] == {'local_ip': '127.0.0.1', 'local_port': 8000, 'remote_ip': '0.0.0.0', 'remote_port': 0,
                          'state': 'LISTEN', 'uid': 0, 'inode': sockets[0]['inode'], 'timer_jiffies': 0}
    assert sockets[0]['inode'] > 0
    six = parse_proc_net_tcp(fixture('srv-proc-net-tcp6.txt'), 'little')
    assert set(s['state'] for s in six) == {'LISTEN', 'ESTABLISHED', 'TIME_WAIT'}
    # TIME_WAIT sockets belong to no process: inode 0
    assert all(s['inode'] == 0 for s in six if s['state'] == 'TIME_WAIT')


def test_parse_skips_header_and_garbage():
    text = fixture('cli-proc-net-tcp.txt') + '\n   9: ZZZZ:0050 016433C6:0050 01 0:0 0:0 0 0 0 1\ngarbage\n  10: \n'
    assert len(parse_proc_net_tcp(text, 'little')) == len(parse_proc_net_tcp(fixture('cli-proc-net-tcp.txt'), 'little')) == 6
    assert parse_proc_net_tcp('', 'little') == []


def test_server_side_listeners_and_same_host():
    result = summarize(host_sockets('srv'), owners('srv'), ['192.168.77.20', 'fd77::20'], PUBLIC)
    assert [(item['ip'], item['port'], item['process']) for item in result['listeners']] == [
        ('::', 22, 'sshd'), ('::', 80, 'httpd'), ('::', 81, 'httpd6'), ('127.0.0.1', 8000, 'gunicorn'), ('::1', 9000, 'python3'),
    ]
    assert all(isinstance(item['pid'], int) for item in result['listeners'])
    assert result['same_host'] == [
        {'remote_ip': '127.0.0.1', 'remote_port': 8000, 'connections': 4, 'client_process': 'nginx', 'listener_process': 'gunicorn'},
        # own address to a dual-stack listener on [::]
        {'remote_ip': '192.168.77.20', 'remote_port': 80, 'connections': 1, 'client_process': 'local80', 'listener_process': 'httpd'},
        {'remote_ip': '192.168.77.20', 'remote_port': 81, 'connections': 1, 'client_process': 'v4to6', 'listener_process': 'httpd6'},
    ]
    # the backend sees hairpinned clients as the gateway (192.168.77.1), not as a public peer
    assert result['to_public'] == []


def test_client_side_to_public():
    sockets = host_sockets('cli')
    # the client closed the curl connections first: their TIME_WAIT sockets (inode 0, no process)
    # still count as connections to the public address
    assert sum(1 for s in sockets if s['state'] == 'TIME_WAIT' and s['inode'] == 0) == 3
    result = summarize(sockets, owners('cli'), ['192.168.77.10', 'fd77::10'], PUBLIC)
    assert result['to_public'] == [
        {'remote_ip': '198.51.100.1', 'remote_port': 80, 'connections': 4, 'process': 'curl'},
        {'remote_ip': '2001:db8:77::1', 'remote_port': 80, 'connections': 2, 'process': 'curl6'},
        {'remote_ip': '198.51.100.1', 'remote_port': 5432, 'connections': 1, 'process': 'psql'},
    ]
    assert result['listeners'] == [] and result['same_host'] == []


def test_without_public_addresses_or_process_names():
    result = summarize(host_sockets('cli'))
    assert result['to_public'] == []
    result = summarize(host_sockets('srv'), {}, ['192.168.77.20'])
    assert result['listeners'][0] == {'ip': '::', 'port': 22, 'process': None, 'pid': None}
    assert result['same_host'][0] == {'remote_ip': '127.0.0.1', 'remote_port': 8000, 'connections': 4,
                                      'client_process': None, 'listener_process': None}


def test_own_address_needed_for_non_loopback_same_host():
    # Without its own addresses, only loopback and self-connections count as same host; the
    # srv connections to 192.168.77.20 still have local == remote address.
    result = summarize(host_sockets('srv'), owners('srv'))
    assert [item['remote_port'] for item in result['same_host']] == [8000, 80, 81]


def test_ip_addr_json():
    assert parse_ip_addr_json(fixture('cli-ip-j-addr.json')) == ['192.168.77.10', 'fd77::10']
    assert parse_ip_addr_json(fixture('srv-ip-j-addr.json')) == ['192.168.77.20', 'fd77::20']
    assert parse_ip_addr_json('[]') == []


def test_fib_trie():
    assert parse_fib_trie(fixture('cli-fib_trie.txt')) == ['192.168.77.10']
    assert parse_fib_trie(fixture('gw-fib_trie.txt')) == ['192.168.77.1', '198.51.100.1']


def test_if_inet6():
    # global addresses only: no ::1 (scope 10) and no fe80:: (scope 20)
    assert parse_if_inet6(fixture('cli-if_inet6.txt')) == ['fd77::10']
    assert parse_if_inet6('garbage\n') == []


def _row(slot, local_port, remote, state, when):
    """A /proc/net/tcp row: 127.0.0.1:local_port -> remote (hex ip:port), state code, TIME_WAIT timer."""
    return ('%4d: 0100007F:%04X %s %s 00000000:00000000 %s:%08X 00000000     0        0 0 3 0000000000000000'
            % (slot, local_port, remote, state, '03' if state == '06' else '00', when))


def test_count_new_connections():
    from ansible_collections.keeplocal.traffic.plugins.module_utils._sockets import count_new_connections
    app = '0100007F:1F40'  # 127.0.0.1:8000
    header = '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n'
    before = header + '\n'.join([
        _row(0, 40001, app, '06', 0x1000),    # TIME_WAIT, left alone during the probe
        _row(1, 40002, app, '06', 0x1000),    # TIME_WAIT, its port reused by the probe
        _row(2, 40003, app, '06', 0x1000),    # TIME_WAIT, reused and still open
        _row(3, 40009, '0100007F:0050', '06', 0x1000),  # another address (:80)
    ])
    after = header + '\n'.join([
        _row(0, 40001, app, '06', 0x0F00),
        _row(1, 40002, app, '06', 0x1700),
        _row(2, 40003, app, '01', 0),
        _row(3, 40004, app, '06', 0x1770),    # a new port
        _row(4, 40010, '0100007F:0050', '06', 0x1770),
    ])
    parsed = [parse_proc_net_tcp(text, 'little') for text in (before, after)]
    assert count_new_connections(parsed[0], parsed[1], '127.0.0.1', 8000) == 3
    assert count_new_connections(parsed[0], parsed[1], '::ffff:127.0.0.1', '80') == 1
    assert count_new_connections(parsed[1], parsed[1], '127.0.0.1', 8000) == 0


def test_connections_by_process_per_address_and_process():
    assert connections_by_process(host_sockets('cli'), owners('cli'), PUBLIC) == [
        {'remote_ip': '198.51.100.1', 'remote_port': 80, 'process': None, 'connections': 2},
        {'remote_ip': '198.51.100.1', 'remote_port': 80, 'process': 'curl', 'connections': 2},
        {'remote_ip': '198.51.100.1', 'remote_port': 5432, 'process': 'psql', 'connections': 1},
        {'remote_ip': '2001:db8:77::1', 'remote_port': 80, 'process': None, 'connections': 1},
        {'remote_ip': '2001:db8:77::1', 'remote_port': 80, 'process': 'curl6', 'connections': 1},
    ]


def test_connections_by_process_counts_the_calling_side_only():
    """On srv, 192.168.77.10 and 127.0.0.1 are also peers of connections its listeners accepted
    (:80 on the wildcard address, 127.0.0.1:8000): only nginx's calls to gunicorn are this host's."""
    assert connections_by_process(host_sockets('srv'), owners('srv'), ['127.0.0.1', '192.168.77.10']) == [
        {'remote_ip': '127.0.0.1', 'remote_port': 8000, 'process': 'nginx', 'connections': 4},
    ]
