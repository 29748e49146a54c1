# Copyright (c) 2026 keeplocal.traffic contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The remediation roles' list inputs: every problem named by its variable path, before any change."""

from __future__ import annotations

import pytest

from ansible_collections.keeplocal.traffic.plugins.plugin_utils._role_inputs import (
    RoleInputError,
    local_shortcut_rules,
    unix_sockets_pairs,
)

RULE = {'public_ip': '198.51.100.1', 'public_port': 5432, 'proto': 'tcp', 'private_ip': '192.168.1.30', 'private_port': 54321,
        'comment': 'svc-a->198.51.100.1:5432/tcp'}


def test_rules_are_keyed_and_duplicates_collapse():
    result = local_shortcut_rules([RULE, dict(RULE), dict(RULE, public_port='80', private_port='8080', proto='TCP', comment=None)])
    assert [(rule['key'], rule['target'], rule['comment']) for rule in result['rules']] == [
        ('198.51.100.1:5432/tcp', '192.168.1.30:54321', 'svc-a->198.51.100.1:5432/tcp'),
        ('198.51.100.1:80/tcp', '192.168.1.30:8080', ''),
    ]
    assert len(result['fingerprint']) == 16
    assert local_shortcut_rules([RULE])['fingerprint'] != result['fingerprint']


def test_fingerprint_matches_the_previous_template_rule():
    """Hosts switched earlier keep their table: the value equals to_json | hash('sha1') of keys, targets, comments."""
    import hashlib
    import json
    text = json.dumps([['198.51.100.1:5432/tcp'], ['192.168.1.30:54321'], ['svc-a->198.51.100.1:5432/tcp']])
    assert local_shortcut_rules([RULE])['fingerprint'] == hashlib.sha1(text.encode()).hexdigest()[:16]


@pytest.mark.parametrize('rules, message', [
    ({'public_ip': '1.2.3.4'}, 'local_shortcut_rules must be a list such as'),
    ([dict(RULE, public_ip='fd00::1')], "local_shortcut_rules[0].public_ip: 'fd00::1' is not an IPv4 address (IPv6 is not supported)"),
    ([dict(RULE, private_port=70000)], 'local_shortcut_rules[0].private_port: 70000 is not a port number (1-65535)'),
    ([dict(RULE, proto='sctp')], 'local_shortcut_rules[0].proto: sctp must be tcp or udp'),
    ([dict(RULE, comment='a "quoted" comment')], 'local_shortcut_rules[0].comment: at most 100 characters'),
    ([dict(RULE, private_ip='198.51.100.1', private_port=5432)],
     'local_shortcut_rules[0]: private endpoint 198.51.100.1:5432 is the public endpoint itself'),
    ([RULE, dict(RULE, private_port=5433)],
     '198.51.100.1:5432/tcp is sent to 192.168.1.30:54321 by local_shortcut_rules[0] and to 192.168.1.30:5433 by '
     'local_shortcut_rules[1]; keep one'),
    ([dict(RULE, port=1)], 'local_shortcut_rules[0]: unknown key port'),
])
def test_bad_rules(rules, message):
    with pytest.raises(RoleInputError) as exc:
        local_shortcut_rules(rules)
    assert message in str(exc.value)


def test_every_problem_is_listed():
    with pytest.raises(RoleInputError) as exc:
        local_shortcut_rules([dict(RULE, public_ip='x'), dict(RULE, proto='icmp')])
    assert str(exc.value).count('local_shortcut_rules[') == 2


def test_pairs_get_their_socket_and_collapse_by_address():
    pairs = unix_sockets_pairs([{'address': '127.0.0.1:8000'}, {'address': '[::1]:8001', 'socket': '/run/b/b.sock'},
                                {'address': ' 127.0.0.1:8000 ', 'socket': '/run/a/a.sock'}], '/run/{app}/gunicorn.sock')
    assert pairs == [{'address': '127.0.0.1:8000', 'socket': '/run/a/a.sock'}, {'address': '[::1]:8001', 'socket': '/run/b/b.sock'}]


@pytest.mark.parametrize('pairs, message', [
    ([{'address': '127.0.0.1:70000'}], "unix_sockets_pairs[0].address: the port of '127.0.0.1:70000' is not a port number (1-65535)"),
    ([{'address': 'localhost:8000'}], "unix_sockets_pairs[0].address: 'localhost' is not an IP address"),
    ([{'address': '127.0.0.1'}], "unix_sockets_pairs[0].address: '127.0.0.1' is not an address with a port"),
    ([{'address': '::1:8000'}], "unix_sockets_pairs[0].address: '::1:8000' is not an address with a port"),
    ([{'address': '127.0.0.1:8000', 'socket': 'run/app.sock'}], "unix_sockets_pairs[0].socket: 'run/app.sock' must be an absolute path"),
    (['127.0.0.1:8000'], 'unix_sockets_pairs[0] must be a dict such as {address: 127.0.0.1:8000}'),
    ([{'address': '127.0.0.1:8000', 'port': 1}], 'unix_sockets_pairs[0]: unknown key port'),
])
def test_bad_pairs(pairs, message):
    with pytest.raises(RoleInputError) as exc:
        unix_sockets_pairs(pairs, '/run/{app}/gunicorn.sock')
    assert message in str(exc.value)
