# Copyright (c) 2026 keeplocal.traffic contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Recommendations at the edges: IPv6, clients outside the inventory, unknown backends."""

from __future__ import annotations

from ansible_collections.keeplocal.traffic.plugins.plugin_utils._recommend import pair_recommendation


def finding(**changes):
    base = {
        'id': 'cli6->[2001:db8::1]:5432/tcp',
        'client': {'host': 'cli6', 'ip': 'fd00:1::10', 'process': None},
        'public': {'ip': '2001:db8::1', 'port': 5432, 'proto': 'tcp', 'names': [], 'other_names': []},
        'backend': {'host': 'db6', 'ip': 'fd00:1::30', 'port': 54321},
        'relation': 'same_network', 'fix': 'local_shortcut', 'status': 'active', 'reason': 'port translated',
    }
    base.update(changes)
    return base


def test_ipv6_split_dns_is_automatic():
    rec = pair_recommendation(finding(fix='split_dns', public={'ip': '2001:db8::1', 'port': 443, 'proto': 'tcp',
                                                               'names': ['www.example.test'], 'other_names': []},
                                      backend={'host': 'web6', 'ip': 'fd00:1::20', 'port': 443}), act_on_latent=False)
    assert (rec['mode'], rec['role'], rec['host']) == ('automatic', 'keeplocal.traffic.split_dns', 'cli6')
    assert rec['input'] == {'split_dns_names': [{'name': 'www.example.test', 'private': 'fd00:1::20', 'public': '2001:db8::1'}]}


def test_ipv6_local_shortcut_is_manual():
    """local_shortcut rewrites IPv4 only: a person points the client at the backend."""
    rec = pair_recommendation(finding(), act_on_latent=False)
    assert (rec['mode'], rec['role'], rec['input']) == ('manual', None, None)
    assert rec['change'] == ('cli6 reaches [fd00:1::30]:54321 through [2001:db8::1]:5432/tcp; the local_shortcut role rewrites '
                             'IPv4 tcp/udp only: point its client at [fd00:1::30]:54321')


def test_client_outside_the_inventory_is_manual():
    rec = pair_recommendation(finding(client={'host': None, 'ip': '10.9.9.9', 'process': None},
                                      public={'ip': '198.51.100.1', 'port': 5432, 'proto': 'tcp', 'names': [], 'other_names': []},
                                      backend={'host': 'svc-c', 'ip': '192.168.1.30', 'port': 54321}), act_on_latent=False)
    assert rec['mode'] == 'manual'
    assert rec['change'] == '10.9.9.9 is not in the inventory: point its client at 192.168.1.30:54321 instead of 198.51.100.1:5432'


def test_unknown_backend_is_manual_with_the_reason():
    rec = pair_recommendation(finding(fix=None, reason='backend unknown: run detection on the gateway'), act_on_latent=False)
    assert rec == {'mode': 'manual', 'role': None, 'host': None, 'input': None, 'change': 'backend unknown: run detection on the gateway'}
