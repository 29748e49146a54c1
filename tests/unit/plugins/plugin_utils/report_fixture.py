# Copyright (c) 2026 keeplocal.traffic contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Plan version 2 inputs for the report tests: the lab's plan (fixtures/lab_plan_v2.json) with its
site.yml measurements, and a generated fleet plan with 36 pairs for the layout tests.

The lab plan is the planner's lab plan plus the two latent sightings the lab shows (svc-b and svc-c
resolve the public names and would reach themselves through the gateway), both manual because
detection does not act on latent findings by default.
"""

from __future__ import annotations

import copy
import json
import os

from ansible_collections.keeplocal.traffic.tests.unit.plugins.plugin_utils.lab_fixture import (
    FIXTURES,
    PAIR_80,
    PAIR_5432,
    SAME_HOST_B,
)

with open(os.path.join(FIXTURES, 'lab_plan_v2.json'), encoding='utf-8') as handle:
    _LAB_PLAN = json.load(handle)

LATENT_B = 'svc-b->198.51.100.1:80/tcp'
LATENT_C = 'svc-c->198.51.100.1:5432/tcp'

# What was measured on the lab (README, "Measured results": site.yml for the pairs, bench/unix_socket.py for
# nginx -> gunicorn).
LAB_MEASUREMENTS = {
    'before': {
        PAIR_80: {'p50_ms': 1.79, 'p99_ms': 4.27, 'gw_entries_per_1000': 1000, 'backend_saw': '192.168.1.1', 'requests': 200, 'errors': 0},
        PAIR_5432: {'p50_ms': 0.54, 'p99_ms': 4.09, 'gw_entries_per_1000': 1000, 'backend_saw': '192.168.1.1', 'requests': 200, 'errors': 0},
        SAME_HOST_B: {'p50_ms': 3.02, 'p99_ms': 5.23, 'gw_entries_per_1000': 0, 'backend_saw': '127.0.0.1', 'loopback_entries_per_1000': 1000,
                      'rps': 5272.0, 'path': 'direct'},
    },
    'after': {
        PAIR_80: {'p50_ms': 0.64, 'p99_ms': 1.64, 'gw_entries_per_1000': 0, 'backend_saw': '192.168.1.10', 'requests': 200, 'errors': 0},
        PAIR_5432: {'p50_ms': 0.26, 'p99_ms': 0.83, 'gw_entries_per_1000': 0, 'backend_saw': '192.168.1.10', 'requests': 200, 'errors': 0},
        SAME_HOST_B: {'p50_ms': 2.5, 'p99_ms': 4.35, 'gw_entries_per_1000': 0, 'backend_saw': 'unix:', 'loopback_entries_per_1000': 0,
                      'rps': 6450.0, 'path': 'unix_socket'},
    },
}


def lab_plan():
    """A fresh deep copy of the lab's plan (tests may edit it)."""
    return copy.deepcopy(_LAB_PLAN)


def lab_measurements():
    return copy.deepcopy(LAB_MEASUREMENTS)


# --- a generated fleet: 9 clients x 4 backends behind two gateways --------------------------------

FLEET_CLIENTS = ['web-01', 'web-02', 'web-03', 'worker-01', 'worker-02', 'batch-worker-07.eu-central-1.compute.internal',
                 'reporting', None, 'ci-runner-with-a-rather-long-inventory-name']
# (host, private ip, private port, public ip, public port, gateway)
FLEET_BACKENDS = [
    ('db-primary', '10.20.0.5', 54321, '198.51.100.10', 5432, 'gw-east'),
    ('cache', '10.20.0.6', 6379, '198.51.100.11', 6379, 'gw-east'),
    ('api-internal-gateway.services.example.net', '10.30.0.7', 8443, '198.51.100.12', 443, 'gw-west'),
    ('search', 'fd00:30::8', 9200, '2001:db8:ffff:1::80', 9200, 'gw-west'),
]


def _endpoint(ip, port):
    return '[%s]:%s' % (ip, port) if ':' in ip else '%s:%s' % (ip, port)


def _fleet_pair(index, client, backend):
    host, private_ip, private_port, public_ip, public_port, gateway = backend
    client_ip = '10.10.0.%d' % (10 + index // len(FLEET_BACKENDS))
    client_key = client or client_ip
    pair_id = '%s->%s/tcp' % (client_key, _endpoint(public_ip, public_port))
    latent = index % 5 == 4
    translated = private_port != public_port
    fix = 'local_shortcut' if translated else 'split_dns'
    if client is None:
        recommendation = {'mode': 'manual', 'role': None, 'host': None, 'input': None,
                          'change': '%s is not in the inventory: have it reach %s directly' % (client_ip, _endpoint(private_ip, private_port))}
    elif ':' in public_ip:
        fix = None
        recommendation = {'mode': 'manual', 'role': None, 'host': None, 'input': None,
                          'change': '%s reaches %s through %s: point its client at %s' % (
                              client, host, _endpoint(public_ip, public_port), _endpoint(private_ip, private_port))}
    elif latent:
        recommendation = {'mode': 'manual', 'role': None, 'host': None, 'input': None,
                          'change': '%s resolves the name but sent no traffic there yet, so nothing is changed for it' % client}
    elif fix == 'split_dns':
        recommendation = {'mode': 'automatic', 'role': 'keeplocal.traffic.split_dns', 'host': client,
                          'input': {'split_dns_names': [{'name': '%s.example.net' % host.split('.')[0], 'private': private_ip, 'public': public_ip}]},
                          'change': '%s resolves %s.example.net through the private resolver, which answers %s' % (client, host.split('.')[0], private_ip)}
    else:
        recommendation = {'mode': 'automatic', 'role': 'keeplocal.traffic.local_shortcut', 'host': client,
                          'input': {'local_shortcut_rules': [{'public_ip': public_ip, 'public_port': public_port, 'proto': 'tcp',
                                                              'private_ip': private_ip, 'private_port': private_port, 'comment': pair_id}]},
                          'change': 'on %s, send %s/tcp straight to %s (a local DNAT, no gateway)' % (
                              client, _endpoint(public_ip, public_port), _endpoint(private_ip, private_port))}
    return {
        'id': pair_id,
        'client': {'host': client, 'ip': client_ip, 'process': 'java' if client else None},
        'public': {'ip': public_ip, 'port': public_port, 'proto': 'tcp', 'names': ['%s.example.net' % host.split('.')[0]], 'other_names': []},
        'backend': {'host': host, 'ip': private_ip, 'port': private_port},
        'gateway': gateway,
        'seen_by': ['dns_answer'] if latent else ['gateway_conntrack', 'client_socket'],
        'connections': 0 if latent else 100 + 997 * index,
        'relation': 'routed',
        'port_translated': translated,
        'fix': fix,
        'reason': 'generated pair %d' % index,
        'status': 'latent' if latent else 'active',
        'recommendation': recommendation,
    }


def fleet_plan():
    """36 pairs (9 clients x 4 backends, two gateways, one IPv6 service), 4 same-host pairs, one gateway at risk."""
    pairs = []
    for client in FLEET_CLIENTS:
        for backend in FLEET_BACKENDS:
            pairs.append(_fleet_pair(len(pairs), client, backend))
    same_host = []
    for host, listener, port in (('db-primary', 'gunicorn', 8000), ('cache', 'uvicorn', 8001),
                                 ('api-internal-gateway.services.example.net', 'gunicorn', 8000), ('search', 'gunicorn', 8080)):
        same_host.append({
            'id': '%s->127.0.0.1:%d/tcp' % (host, port), 'host': host, 'ip': '127.0.0.1', 'port': port,
            'client_process': 'nginx', 'listener_process': listener, 'connections': 40 + port % 7, 'status': 'active',
            'fix': 'unix_socket', 'reason': 'nginx reaches %s over TCP 127.0.0.1:%d on the same host' % (listener, port),
            'recommendation': {'mode': 'automatic', 'role': 'keeplocal.traffic.unix_sockets', 'host': host,
                               'input': {'unix_sockets_pairs': [{'address': '127.0.0.1:%d' % port}]},
                               'change': 'on %s, %s serves on a Unix socket and nginx connects to it instead of 127.0.0.1:%d' % (host, listener, port)}})
    gateways = [
        {'host': 'gw-east', 'is_gateway': True, 'available': True, 'count': 12000, 'max': 262144, 'buckets': 65536, 'usage': 0.045776,
         'drop': 0, 'insert_failed': 0, 'early_drop': 0, 'hairpin_entries': 9000, 'hairpin_share': 0.75, 'writable': True,
         'fix': None, 'reason': 'healthy', 'recommendation': None},
        {'host': 'gw-west', 'is_gateway': True, 'available': True, 'count': 240000, 'max': 262144, 'buckets': 65536, 'usage': 0.915527,
         'drop': 17, 'insert_failed': 3, 'early_drop': 0, 'hairpin_entries': 120000, 'hairpin_share': 0.5, 'writable': True,
         'fix': 'conntrack_headroom', 'reason': 'at risk: table 91.6% full',
         'recommendation': {'mode': 'automatic', 'role': 'keeplocal.traffic.conntrack_tuning', 'host': 'gw-west', 'input': {},
                            'change': 'on gw-west, size nf_conntrack_max and the hash buckets with conntrack_tuning\'s policy'}},
    ]
    findings = pairs + same_host + [gw for gw in gateways if gw['recommendation']]
    modes = [item['recommendation']['mode'] for item in findings]
    by_fix = {kind: sum(1 for item in findings if item['fix'] == kind)
              for kind in ('unix_socket', 'split_dns', 'local_shortcut', 'conntrack_headroom')}
    return {
        'version': 2, 'pairs': pairs, 'names': [], 'same_host': same_host, 'gateways': gateways, 'not_observed': [],
        'summary': {'hosts': 15, 'pairs': len(pairs), 'active_pairs': sum(1 for pair in pairs if pair['status'] == 'active'),
                    'latent_pairs': sum(1 for pair in pairs if pair['status'] == 'latent'), 'automatic': modes.count('automatic'),
                    'manual': modes.count('manual'), 'same_host': len(same_host),
                    'hairpin_connections': sum(pair['connections'] for pair in pairs), 'by_fix': by_fix,
                    'unplanned_pairs': sum(1 for pair in pairs if pair['fix'] is None), 'gateways': 2, 'gateways_at_risk': 1,
                    'not_observed': 0},
    }


def fleet_measurements(plan):
    """Before for every automatic active finding; after for every other one of them, so some paths stay red."""
    before, after = {}, {}
    findings = [pair for pair in plan['pairs'] if pair['status'] == 'active'] + plan['same_host']
    for index, item in enumerate(findings):
        if item['recommendation']['mode'] != 'automatic':
            continue
        before[item['id']] = {'p50_ms': 2.0 + index / 10.0, 'p99_ms': 9.5, 'gw_entries_per_1000': 1000, 'backend_saw': '10.10.0.1'}
        if index % 2 == 0:
            after[item['id']] = {'p50_ms': 0.7, 'p99_ms': 1.9, 'gw_entries_per_1000': 0, 'backend_saw': (item.get('client') or {}).get('ip')}
    return {'before': before, 'after': after}
