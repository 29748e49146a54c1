# Copyright (c) 2026 keeplocal.traffic contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The remediation roles' list inputs: every problem named by its variable path, before any change."""

from __future__ import annotations

import os

import pytest
import yaml

from ansible_collections.keeplocal.traffic.plugins.plugin_utils._role_inputs import (
    CONNTRACK_TUNING_SETTINGS,
    RoleInputError,
    conntrack_tuning_settings,
    local_shortcut_rules,
    unix_sockets_pairs,
)

CONNTRACK_TUNING_DEFAULTS = os.path.join(os.path.dirname(__file__), '..', '..', '..', '..', 'roles', 'conntrack_tuning', 'defaults', 'main.yml')

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


def tuning(**changes):
    """The conntrack_tuning role's defaults as the filter takes them, with changes."""
    with open(CONNTRACK_TUNING_DEFAULTS, encoding='utf-8') as handle:
        defaults = yaml.safe_load(handle)
    settings = {name: defaults['conntrack_tuning_' + name] for name in CONNTRACK_TUNING_SETTINGS}
    settings.update(changes)
    return settings


def tuning_problems(**changes):
    with pytest.raises(RoleInputError) as exc:
        conntrack_tuning_settings(tuning(**changes))
    return str(exc.value).split('; ')


def test_tuning_defaults_become_the_module_arguments():
    assert conntrack_tuning_settings(tuning()) == {
        'policy': 'kube_proxy', 'max': None, 'per_core': 32768, 'floor': 131072, 'cap': 1048576, 'memory_share': 0.05,
        'bytes_per_entry': 320, 'allow_lower': False, 'headroom': 16384, 'hashsize': None,
        'timeouts': {'established': None, 'time_wait': None, 'close_wait': None}, 'accounting': None,
        'persist': True, 'backup': True,
        'sysctl_file': '/etc/sysctl.d/90-keeplocal-conntrack.conf',
        'modprobe_file': '/etc/modprobe.d/keeplocal-conntrack.conf',
        'modules_load_file': '/etc/modules-load.d/keeplocal-conntrack.conf',
    }


def test_tuning_numbers_are_converted_as_the_argument_spec_does():
    arguments = conntrack_tuning_settings(tuning(policy='fixed', max='262144', hashsize=65536.0, memory_share='0.1',
                                                 timeout_established='86400'))
    assert (arguments['max'], arguments['hashsize'], arguments['memory_share'], arguments['timeouts']['established']) == (
        262144, 65536, 0.1, 86400)
    assert all(isinstance(arguments[name], int) for name in ('max', 'hashsize'))


@pytest.mark.parametrize('value, expected', [(True, True), ('yes', True), ('false', False), (0, False), (None, None)])
def test_tuning_accounting_is_converted_as_the_argument_spec_does(value, expected):
    assert conntrack_tuning_settings(tuning(accounting=value))['accounting'] is expected


@pytest.mark.parametrize('changes, message', [
    ({'policy': 'fixed'},
     'conntrack_tuning_max is required by conntrack_tuning_policy: fixed (the nf_conntrack_max to set), e.g. conntrack_tuning_max: 262144'),
    ({'max': 262144},
     'conntrack_tuning_max is only used by conntrack_tuning_policy: fixed (the policy is kube_proxy): remove conntrack_tuning_max '
     'or set conntrack_tuning_policy: fixed'),
    ({'policy': 'fixed', 'max': 0}, 'conntrack_tuning_max must be an integer from 1 to 2147483647 (entries), got 0'),
    ({'policy': 'fixed', 'max': 'lots'}, "conntrack_tuning_max must be an integer from 1 to 2147483647 (entries), got 'lots'"),
    ({'policy': 'fixed', 'max': 1.5}, 'conntrack_tuning_max must be an integer from 1 to 2147483647 (entries), got 1.5'),
    ({'per_core': 0},
     'conntrack_tuning_per_core must be an integer from 1 to 2147483647 (entries per CPU, kube-proxy uses 32768), got 0'),
    ({'floor': -1},
     'conntrack_tuning_floor must be an integer from 1 to 2147483647 (minimum entries, kube-proxy uses 131072), got -1'),
    ({'cap': 1000},
     'conntrack_tuning_cap must be 0 (no cap) or at least conntrack_tuning_floor (131072) and at most 2147483647, got 1000'),
    ({'memory_share': 0.9},
     'conntrack_tuning_memory_share must be a fraction of RAM above 0 and at most 0.5 (e.g. 0.05), got 0.9'),
    ({'bytes_per_entry': 8},
     'conntrack_tuning_bytes_per_entry must be from 64 to 65536 bytes (320 is the documented estimate), got 8'),
    ({'headroom': -1}, 'conntrack_tuning_headroom must be from 0 to 2147483647 free entries above the entries in use, got -1'),
    ({'hashsize': 268435456},
     "conntrack_tuning_hashsize must be from 1 to 268435455 buckets (the kernel's limit), or unset for max/4, got 268435456"),
    ({'timeout_established': 0}, 'conntrack_tuning_timeout_established must be from 1 to 2147483 seconds, or unset to leave it '
                                 'unchanged (kube-proxy uses 86400), got 0'),
    ({'timeout_time_wait': 2147484}, 'conntrack_tuning_timeout_time_wait must be from 1 to 2147483 seconds, or unset to leave it '
                                     "unchanged (the kernel's 120 is sane), got 2147484"),
    ({'timeout_close_wait': -5}, 'conntrack_tuning_timeout_close_wait must be from 1 to 2147483 seconds, or unset to leave it '
                                 'unchanged (kube-proxy uses 3600), got -5'),
    ({'accounting': 'sometimes'}, 'conntrack_tuning_accounting must be true (count packets and bytes per connection), false, '
                                  "or unset to leave nf_conntrack_acct as it is, got 'sometimes'"),
    ({'accounting': 2}, 'conntrack_tuning_accounting must be true (count packets and bytes per connection), false, '
                        'or unset to leave nf_conntrack_acct as it is, got 2'),
    ({'sysctl_file': '90-keeplocal.txt'}, 'conntrack_tuning_sysctl_file must be a plain file name ending in .conf (it goes to '
                                          "/etc/sysctl.d, where systemd-sysctl reads only *.conf), got '90-keeplocal.txt'"),
    ({'modprobe_file': '../modprobe.conf'}, 'conntrack_tuning_modprobe_file must be a plain file name ending in .conf (it goes to '
                                            "/etc/modprobe.d, where modprobe reads only *.conf), got '../modprobe.conf'"),
    ({'modules_load_file': 'x.conf\n'}, 'conntrack_tuning_modules_load_file must be a plain file name ending in .conf (it goes '
                                        "to /etc/modules-load.d, where systemd-modules-load reads only *.conf), got 'x.conf\\n'"),
    ({'sysctl_file': None}, 'conntrack_tuning_sysctl_file must be a plain file name ending in .conf (it goes to '
                            '/etc/sysctl.d, where systemd-sysctl reads only *.conf), got None'),
    ({'sysctl_file': '.hidden.conf'}, 'conntrack_tuning_sysctl_file must be a plain file name ending in .conf (it goes to '
                                      "/etc/sysctl.d, where systemd-sysctl reads only *.conf), got '.hidden.conf'"),
])
def test_tuning_each_rule_names_the_variable_and_the_fix(changes, message):
    assert tuning_problems(**changes) == [message]


def test_tuning_every_problem_at_once():
    problems = tuning_problems(policy='fixed', cap=5, timeout_close_wait=0, modprobe_file='x')
    assert [problem.split()[0] for problem in problems] == [
        'conntrack_tuning_max', 'conntrack_tuning_cap', 'conntrack_tuning_timeout_close_wait', 'conntrack_tuning_modprobe_file']


@pytest.mark.parametrize('settings, message', [
    (['policy'], 'the settings must be a dict of the role variables, got list'),
    ({'policy': 'fixed'}, 'missing allow_lower, persist, backup, max, per_core,'),
    (dict(tuning(), timeout_fin_wait=1), 'missing none, unknown timeout_fin_wait'),
])
def test_tuning_takes_every_variable_and_nothing_else(settings, message):
    with pytest.raises(RoleInputError) as exc:
        conntrack_tuning_settings(settings)
    assert message in str(exc.value)
