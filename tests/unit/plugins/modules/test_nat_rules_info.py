# Copyright (c) 2026 keeplocal.traffic contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""nat_rules_info with iptables-save, ip6tables-save and nft answering with captured output."""

from __future__ import annotations

import json
import re

from ansible_collections.keeplocal.traffic.plugins.modules import nat_rules_info
from ansible_collections.keeplocal.traffic.tests.unit.plugins.modules.module_harness import fake_tools, fixture, run, warnings

# An empty nat table as iptables-save prints it (the -A lines of the captured file removed).
EMPTY_NAT = '\n'.join(line for line in fixture('iptables-save-nat.txt').splitlines()
                      if not line.startswith('-A') and not line.startswith(':FORWARDS')) + '\n'
EMPTY_NFT = '{"nftables": [{"metainfo": {"version": "1.0.6", "release_name": "Lester Gooch #5", "json_schema_version": 1}}]}\n'
# Captured as a non-root user (setpriv --reuid=65534).
IPT_NOT_ROOT = 'iptables-save v1.8.9 (nf_tables): Could not fetch rule set generation id: Permission denied (you must be root)\n'
NFT_NOT_ROOT = 'Operation not permitted (you must be root)\nnetlink: Error: cache initialization failed: Operation not permitted\n'


def ok(text):
    return (0, text, '')


def test_iptables_host(monkeypatch, capsys):
    calls = fake_tools(monkeypatch, {
        'iptables-save': ok(fixture('iptables-save-nat.txt')),
        'ip6tables-save': ok(fixture('ip6tables-save-nat.txt')),
        'nft': ok(fixture('nft-iptables-nft.json')),
    })
    failed, result = run(nat_rules_info.main, {}, capsys)
    assert not failed and result['changed'] is False
    assert result['source'] == 'iptables'
    assert [(f['public_ip'], f['public_port'], f['private_ip'], f['private_port']) for f in result['forwards']] == [
        ('198.51.100.1', 80, '192.168.77.20', 80),
        ('198.51.100.1', 5432, '192.168.77.30', 54321),
        (None, 5000, '192.168.77.30', 6000),
        (None, 2222, '192.168.77.20', 22),
        ('2001:db8:77::1', 80, 'fd77::20', 80),
    ]
    assert len(result['snat_rules']) == 4
    # the nft view of iptables-nft rules is opaque, but iptables-save decoded them: no warnings
    assert 'warnings' not in result
    assert ['/usr/sbin/iptables-save', '-t', 'nat'] in calls and ['/usr/sbin/nft', '-j', 'list', 'ruleset'] in calls
    assert set(result) >= {'source', 'forwards', 'snat_rules'}
    assert 'unparsed' not in result


def test_nft_host(monkeypatch, capsys):
    fake_tools(monkeypatch, {'iptables-save': ok(EMPTY_NAT), 'nft': ok(fixture('nft-ruleset.json'))})
    dummy, result = run(nat_rules_info.main, {}, capsys, check_mode=True)
    assert result['source'] == 'nft'
    assert len(result['forwards']) == 8
    assert result['forwards'][2]['rule'] == 'ip daddr 198.51.100.1 tcp dport 80 dnat to 192.168.77.20:80'


def test_nft_only_installed(monkeypatch, capsys):
    fake_tools(monkeypatch, {'nft': ok(fixture('nft-ruleset.json'))})
    dummy, result = run(nat_rules_info.main, {}, capsys)
    assert result['source'] == 'nft' and len(result['forwards']) == 8
    assert 'warnings' not in result


def test_nft_source_with_iptables_nft_rules_warns(monkeypatch, capsys):
    fake_tools(monkeypatch, {'iptables-save': ok(fixture('iptables-save-nat.txt')), 'nft': ok(fixture('nft-iptables-nft.json'))})
    dummy, result = run(nat_rules_info.main, {'source': 'nft'}, capsys)
    assert result['source'] == 'nft' and result['forwards'] == []
    assert len(warnings(result)) == 10
    assert all(w.startswith('NAT rule not decoded, left out: ') for w in warnings(result))


def test_no_rules_at_all(monkeypatch, capsys):
    fake_tools(monkeypatch, {'iptables-save': ok(EMPTY_NAT), 'nft': ok(EMPTY_NFT)})
    dummy, result = run(nat_rules_info.main, {}, capsys)
    assert result['source'] == 'iptables'
    assert result['forwards'] == [] and result['snat_rules'] == []


def test_no_tools(monkeypatch, capsys):
    fake_tools(monkeypatch, {})
    failed, result = run(nat_rules_info.main, {}, capsys)
    assert not failed
    assert result['source'] == 'none' and result['forwards'] == []
    assert result['msg'] == ('iptables-save: not installed; nft: not installed. '
                             'Install iptables or nftables, run as root, or skip this host.')


def test_not_root(monkeypatch, capsys):
    fake_tools(monkeypatch, {'iptables-save': (4, '', IPT_NOT_ROOT), 'ip6tables-save': (4, '', IPT_NOT_ROOT),
                             'nft': (1, '', NFT_NOT_ROOT)})
    failed, result = run(nat_rules_info.main, {}, capsys)
    assert not failed and result['source'] == 'none'
    assert 'Permission denied (you must be root) (run as root: become: true)' in result['msg']
    assert 'nft: netlink: Error: cache initialization failed: Operation not permitted (run as root' in result['msg']


def test_partial_failure_is_a_warning(monkeypatch, capsys):
    fake_tools(monkeypatch, {'iptables-save': ok(fixture('iptables-save-nat.txt')), 'ip6tables-save': (4, '', IPT_NOT_ROOT)})
    dummy, result = run(nat_rules_info.main, {'source': 'iptables'}, capsys)
    assert result['source'] == 'iptables' and len(result['forwards']) == 4
    assert len(warnings(result)) == 1 and warnings(result)[0].startswith('ip6tables-save: ')


def test_unreadable_nft_json(monkeypatch, capsys):
    fake_tools(monkeypatch, {'nft': ok('{"nftables": [')})
    dummy, result = run(nat_rules_info.main, {'source': 'nft'}, capsys)
    assert result['source'] == 'none'
    assert re.search(r'nft: unreadable JSON', result['msg'])


def test_internal_cidrs_is_accepted_and_changes_nothing(monkeypatch, capsys):
    fake_tools(monkeypatch, {'iptables-save': ok(fixture('iptables-save-nat.txt'))})
    dummy, plain = run(nat_rules_info.main, {'source': 'iptables'}, capsys)
    dummy, result = run(nat_rules_info.main, {'source': 'iptables', 'internal_cidrs': ['10.0.0.0/8']}, capsys)
    result.pop('invocation'), plain.pop('invocation')
    assert result == plain and len(result['forwards']) == 4


def test_bad_source_choice(monkeypatch, capsys):
    fake_tools(monkeypatch, {})
    failed, result = run(nat_rules_info.main, {'source': 'pf'}, capsys)
    assert failed and 'source' in result['msg']


# The gateways of tests/integration/targets/nft_gateway, as their tools answered there.
MIXED_NFT_SAVE = (0, fixture('iptables-nft-save-gateway-mixed.txt'), fixture('iptables-nft-save-gateway-mixed.stderr'))


def test_mixed_gateway_every_source_is_read(monkeypatch, capsys):
    # iptables-nft rules, iptables-legacy rules (iptables-save only says they exist) and native nft
    # rules, one forward each.
    calls = fake_tools(monkeypatch, {
        'iptables-save': MIXED_NFT_SAVE,
        'iptables-legacy-save': ok(fixture('iptables-legacy-save-gateway-mixed.txt')),
        'nft': ok(fixture('nft-gateway-mixed.json')),
    })
    dummy, result = run(nat_rules_info.main, {}, capsys)
    assert sorted((f['public_port'], f['private_ip'], f['private_port']) for f in result['forwards']) == [
        (80, '10.82.0.20', 80), (5432, '10.82.0.30', 15432), (8080, '10.82.0.20', 80)]
    assert ['/usr/sbin/iptables-legacy-save', '-t', 'nat'] in calls
    # iptables-save (nf_tables) decoded what iptables-nft wrote: its opaque nft view is no warning
    assert 'warnings' not in result


def test_no_legacy_tables_no_legacy_read(monkeypatch, capsys):
    calls = fake_tools(monkeypatch, {
        'iptables-save': ok(fixture('iptables-nft-save-gateway-mixed.txt')),
        'iptables-legacy-save': ok(fixture('iptables-legacy-save-gateway-mixed.txt')),
        'nft': ok(fixture('nft-gateway-mixed.json')),
    })
    dummy, result = run(nat_rules_info.main, {}, capsys)
    assert [f['public_port'] for f in result['forwards']] == [80, 5432]
    assert not any('legacy' in call[0] for call in calls)


def test_legacy_iptables_save_leaves_iptables_nft_rules_unread(monkeypatch, capsys):
    # iptables-save is the legacy variant: what iptables-nft wrote is seen only by nft, opaquely.
    fake_tools(monkeypatch, {
        'iptables-save': ok(fixture('iptables-legacy-save-gateway-mixed.txt')),
        'nft': ok(fixture('nft-gateway-mixed.json')),
    })
    dummy, result = run(nat_rules_info.main, {}, capsys)
    assert [f['public_port'] for f in result['forwards']] == [8080, 5432]
    assert warnings(result) == ['NAT rule not decoded, left out: ip nat PREROUTING: ip daddr 198.18.82.1 tcp dport 80 xt target DNAT',
                                'NAT rule not decoded, left out: ip nat POSTROUTING: ip saddr 10.82.0.0/24 ip daddr 10.82.0.20 '
                                'xt match conntrack xt target SNAT']


def test_native_gateway_warns_about_what_it_cannot_decode(monkeypatch, capsys):
    # nftables only: iptables-save answers with nothing, every forward comes from nft; a rule nft
    # holds but the parser cannot decode is a warning although iptables-save ran.
    data = json.loads(fixture('nft-gateway-native.json'))
    data['nftables'].append({'rule': {'family': 'inet', 'table': 'edge', 'chain': 'more_forwards', 'handle': 99, 'expr': [
        {'dnat': {'family': 'ip', 'addr': {'map': {'key': {'meta': {'key': 'mark'}}, 'data': {'set': [[1, '10.81.0.30']]}}}}}]}})
    fake_tools(monkeypatch, {'iptables-save': ok(''), 'nft': ok(json.dumps(data))})
    dummy, result = run(nat_rules_info.main, {}, capsys)
    assert result['source'] == 'nft' and len(result['forwards']) == 9
    assert warnings(result) == ['NAT rule not decoded, left out: inet edge more_forwards: dnat ip to meta mark map { 1 : 10.81.0.30 }']


def test_incompatible_nat_table_leaves_iptables_nft_rules_as_warnings(monkeypatch, capsys):
    # A hand-written `table ip nat` with a user chain iptables cannot show makes iptables-nft-save
    # print only this line (rc 0, seen on this machine with iptables 1.8.9): the iptables-nft rules
    # in that table are then reported, not silently left out.
    fake_tools(monkeypatch, {
        'iptables-save': ok("# Table `nat' is incompatible, use 'nft' tool.\n"),
        'nft': ok(fixture('nft-gateway-mixed.json')),
    })
    dummy, result = run(nat_rules_info.main, {}, capsys)
    assert [f['public_port'] for f in result['forwards']] == [5432]
    assert len(warnings(result)) == 2 and all('xt target' in w for w in warnings(result))
