# Copyright (c) 2026 keeplocal.traffic contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The measure_result filter as playbooks/tasks/measure_record.yml calls it (the counting rule is
tested in module_utils/test__conntrack_table.py)."""

from __future__ import annotations

import copy

import pytest

from ansible.errors import AnsibleFilterError
from ansible_collections.keeplocal.traffic.plugins.filter import measure
from ansible_collections.keeplocal.traffic.plugins.filter.measure import measure_result

PAIR = {
    'id': 'svc-a->198.51.100.1:80/tcp',
    'client': {'host': 'svc-a', 'ip': '192.168.1.10', 'process': None},
    'public': {'ip': '198.51.100.1', 'port': 80, 'proto': 'tcp', 'names': ['app.example.test'], 'other_names': []},
    'backend': {'host': 'svc-b', 'ip': '192.168.1.20', 'port': 80},
    'gateway': 'gw',
}
PROBE = {
    'name': PAIR['id'], 'kind': 'http', 'address': '198.51.100.1', 'local_ports': [40001, 40002, 40003, 40004],
    'requests': 4, 'successes': 4, 'failures': 0, 'seen_client': '192.168.1.1',
    'total': {'count': 4, 'min_ms': 0.9, 'mean_ms': 1.2, 'p50_ms': 1.0, 'p90_ms': 1.9, 'p99_ms': 2.0, 'max_ms': 2.0},
}


def listed(timeout, sport, dst='198.51.100.1'):
    return ('tcp      6 %d TIME_WAIT src=192.168.1.10 dst=%s sport=%d dport=80 src=192.168.1.20 dst=192.168.1.1 sport=80 '
            'dport=%d [ASSURED] mark=0 use=1' % (timeout, dst, sport, sport))


# 40001 stale, 40002 renewed, 40003 new; 40004 left no entry.
BEFORE = [listed(100, 40001), listed(30, 40002)]
AFTER = [listed(98, 40001), listed(119, 40002), listed(119, 40003)]


def changed(data, path, value):
    """A deep copy of ``data`` with the dotted ``path`` set to ``value`` (or removed when value is ...)."""
    result = copy.deepcopy(data)
    *parents, key = path.split('.')
    target = result
    for parent in parents:
        target = target[parent]
    if value is ...:
        del target[key]
    else:
        target[key] = value
    return result


def test_filter_is_registered():
    assert measure.FilterModule().filters() == {'measure_result': measure_result,
                                                'measure_same_host_result': measure.measure_same_host_result}


def test_measurement_through_the_gateway():
    assert measure_result(PAIR, PROBE, BEFORE, AFTER) == {
        'p50_ms': 1.0, 'p99_ms': 2.0, 'requests': 4, 'errors': 0, 'backend_saw': '192.168.1.1',
        'address': '198.51.100.1', 'path': 'public', 'gw_entries_per_1000': 500.0,
    }


def test_entries_per_1000_are_rounded():
    probe = changed(PROBE, 'requests', 3)
    assert measure_result(PAIR, probe, BEFORE, AFTER)['gw_entries_per_1000'] == 666.7


def test_direct_path_after_the_fix():
    # Split DNS answers the backend's address: the probe dials it, the gateway only routes.
    probe = changed(PROBE, 'address', '192.168.1.20')
    after = [listed(119, port, dst='192.168.1.20') for port in PROBE['local_ports']]
    result = measure_result(PAIR, probe, [], after)
    assert result['path'] == 'direct'
    assert result['gw_entries_per_1000'] == 1000.0


def test_ipv6_public_address_in_another_text_form():
    pair = changed(PAIR, 'public.ip', '2001:0db8:0077:0000:0000:0000:0000:0001')
    probe = changed(PROBE, 'address', '2001:db8:77::1')
    assert measure_result(pair, probe, [], [])['path'] == 'public'


@pytest.mark.parametrize('pair', [
    changed(PAIR, 'gateway', None),
    changed(PAIR, 'gateway', ''),
    changed(PAIR, 'gateway', ...),
])
def test_no_gateway_no_count(pair):
    assert measure_result(pair, PROBE, [], [])['gw_entries_per_1000'] is None


def test_no_request_no_count():
    probe = changed(changed(PROBE, 'requests', 0), 'local_ports', [])
    probe['total'] = {'count': 0, 'min_ms': None, 'mean_ms': None, 'p50_ms': None, 'p90_ms': None, 'p99_ms': None,
                      'max_ms': None}
    result = measure_result(PAIR, probe, BEFORE, AFTER)
    assert result['gw_entries_per_1000'] is None
    assert result['p50_ms'] is None and result['p99_ms'] is None


def test_name_that_did_not_resolve():
    probe = changed(changed(PROBE, 'address', None), 'seen_client', None)
    result = measure_result(PAIR, probe, [], [])
    assert result['address'] is None and result['backend_saw'] is None
    assert result['path'] == 'direct'


@pytest.mark.parametrize('backend', [None, {'host': None, 'ip': None, 'port': None}, ...])
def test_unknown_backend_counts_the_public_endpoint_only(backend):
    pair = changed(PAIR, 'backend', backend)
    after = [listed(119, 40001), listed(119, 40002, dst='192.168.1.20')]
    assert measure_result(pair, PROBE, [], after)['gw_entries_per_1000'] == 250.0


@pytest.mark.parametrize('pair, probe, before, after, field', [
    ('svc-a', PROBE, [], [], 'pair must be a dict'),
    (PAIR, [PROBE], [], [], 'probe must be a dict'),
    (changed(PAIR, 'public', ...), PROBE, [], [], 'pair.public.ip is missing'),
    (changed(PAIR, 'public', '198.51.100.1:80'), PROBE, [], [], 'pair.public must be a dict'),
    (changed(PAIR, 'public.ip', 'app.example.test'), PROBE, [], [], 'pair.public.ip: '),
    (changed(PAIR, 'public.port', 'http'), PROBE, [], [], 'pair.public.port: '),
    (changed(PAIR, 'public.port', True), PROBE, [], [], 'pair.public.port: '),
    (changed(PAIR, 'public.port', 0), PROBE, [], [], 'pair.public.port: '),
    (changed(PAIR, 'backend', '192.168.1.20'), PROBE, [], [], 'pair.backend must be a dict'),
    (changed(PAIR, 'backend.ip', '192.168.1.300'), PROBE, [], [], 'pair.backend.ip: '),
    (changed(PAIR, 'backend.port', 70000), PROBE, [], [], 'pair.backend.port: '),
    (PAIR, changed(PROBE, 'requests', ...), [], [], 'probe.requests is missing'),
    (PAIR, changed(PROBE, 'requests', -1), [], [], 'probe.requests must be a number of requests'),
    (PAIR, changed(PROBE, 'failures', '0'), [], [], 'probe.failures must be a number of requests'),
    (PAIR, changed(PROBE, 'total', None), [], [], 'probe.total must be a dict'),
    (PAIR, changed(PROBE, 'total.p50_ms', '1.0'), [], [], 'probe.total.p50_ms must be a number of milliseconds'),
    (PAIR, changed(PROBE, 'total.p99_ms', ...), [], [], 'probe.total.p99_ms is missing'),
    (PAIR, changed(PROBE, 'seen_client', 7), [], [], 'probe.seen_client must be a string'),
    (PAIR, changed(PROBE, 'address', 'app.example.test'), [], [], 'probe.address: '),
    (PAIR, changed(PROBE, 'local_ports', '40001'), [], [], 'probe.local_ports must be a list of port numbers'),
    (PAIR, changed(PROBE, 'local_ports', ['40001']), [], [], 'probe.local_ports must be a list of port numbers'),
    (PAIR, PROBE, None, [], 'gateway_before must be a list of conntrack -L lines'),
    (PAIR, PROBE, [], '\n'.join(AFTER), 'gateway_after must be a list of conntrack -L lines'),
    (PAIR, PROBE, [], [{'stdout_lines': AFTER}], 'gateway_after must be a list of conntrack -L lines'),
])
def test_bad_input_names_the_field(pair, probe, before, after, field):
    with pytest.raises(AnsibleFilterError, match='^keeplocal.traffic.measure_result: ') as raised:
        measure_result(pair, probe, before, after)
    assert field in str(raised.value)


SAME_HOST = {'id': 'svc-b->127.0.0.1:8000/tcp', 'host': 'svc-b', 'ip': '127.0.0.1', 'port': 8000}
TCP_HEADER = '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n'


def tcp_row(slot, local_port, state='06', when=0x1770):
    return ('%4d: 0100007F:%04X 0100007F:1F40 %s 00000000:00000000 03:%08X 00000000     0        0 0 3 0000000000000000\n'
            % (slot, local_port, state, when))


def test_same_host_over_tcp_and_over_a_unix_socket():
    probe = dict(PROBE, address='127.0.0.1', seen_client='127.0.0.1')
    over_tcp = measure.measure_same_host_result(SAME_HOST, probe, TCP_HEADER, TCP_HEADER + tcp_row(0, 40001) + tcp_row(1, 40002))
    assert (over_tcp['path'], over_tcp['loopback_entries_per_1000'], over_tcp['gw_entries_per_1000']) == ('tcp', 500.0, None)
    assert (over_tcp['p50_ms'], over_tcp['p99_ms'], over_tcp['requests'], over_tcp['errors']) == (1.0, 2.0, 4, 0)
    # the same sockets before and after: the front end opened no TCP connection to the app server
    after = TCP_HEADER + tcp_row(0, 40001, when=0x0100)
    over_socket = measure.measure_same_host_result(SAME_HOST, probe, TCP_HEADER + tcp_row(0, 40001, when=0x0200), after)
    assert (over_socket['path'], over_socket['loopback_entries_per_1000']) == ('unix_socket', 0.0)


@pytest.mark.parametrize('entry, probe, before, message', [
    (dict(SAME_HOST, port=70000), PROBE, TCP_HEADER, 'entry.port'),
    (SAME_HOST, PROBE, None, 'sockets_before must be the text of /proc/net/tcp'),
    ('svc-b', PROBE, TCP_HEADER, 'entry must be a dict'),
])
def test_same_host_bad_input(entry, probe, before, message):
    with pytest.raises(AnsibleFilterError) as exc:
        measure.measure_same_host_result(entry, probe, before, TCP_HEADER)
    assert message in str(exc.value)
