# Copyright (c) 2026 keeplocal.traffic contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Zone data for the split_dns role: validation with named fields, private names, serials, resolv.conf."""

from __future__ import annotations

import pytest

from ansible_collections.keeplocal.traffic.plugins.plugin_utils._zones import (
    ZoneError, build_config, build_probes, next_serial, normalize_record, parse_previous, parse_upstream,
    render_resolv_conf, render_zone_file, render_zone_files, resolved_foreign_global_servers)

# What the plan reader hands the server for the lab (the automatic split_dns recommendation).
NAMES = [{'name': 'app.example.test', 'private': '192.168.1.20', 'public': '198.51.100.1'}]

CORP = {
    'name': 'Corp.Example.Test.',
    'ttl': 120,
    'records': [
        {'name': 'www', 'type': 'CNAME', 'value': 'db'},
        {'name': 'db', 'type': 'A', 'value': '192.168.1.30'},
        {'name': 'db', 'type': 'AAAA', 'value': 'fd00:1:0::30', 'ttl': 60},
        {'name': '_postgresql._tcp', 'type': 'SRV', 'priority': 10, 'weight': 5, 'port': 54321, 'target': 'db'},
        {'name': 'db.corp.example.test.', 'type': 'A', 'value': '192.168.1.30'},  # duplicate, absolute form
    ],
}

CORP_INTERNAL = """\
; keeplocal.traffic split_dns: zone corp.example.test, internal view. Managed by Ansible, edits are overwritten.
; content-sha256: {digest}
$ORIGIN corp.example.test.
$TTL 120
@ IN SOA ns.invalid. hostmaster.corp.example.test. (
        {serial} ; serial
        3600 ; refresh
        600 ; retry
        604800 ; expire
        60 ) ; negative answers TTL
@ IN NS ns.invalid.
_postgresql._tcp IN SRV 10 5 54321 db.corp.example.test.
db               IN A 192.168.1.30
db               60 IN AAAA fd00:1::30
www              IN CNAME db.corp.example.test.
"""


def _config(zones=None, names=None, **kwargs):
    kwargs.setdefault('internal_cidrs', ['192.168.1.0/24'])
    kwargs.setdefault('listen_addresses', ['192.168.1.1', '198.51.100.1'])
    kwargs.setdefault('upstreams', ['198.51.100.53'])
    return build_config([CORP] if zones is None else zones, names=names, **kwargs)


def test_lab_config_is_valid_and_normalised():
    cfg = _config(names=NAMES)
    assert cfg['errors'] == []
    assert [z['name'] for z in cfg['zones']] == ['app.example.test', 'corp.example.test']
    assert cfg['domains'] == cfg['client_domains'] == ['app.example.test', 'corp.example.test']
    corp = cfg['zones'][1]
    assert [(r['name'], r['type'], r['ttl'], r['value']) for r in corp['records']] == [
        ('_postgresql._tcp', 'SRV', None, '10 5 54321 db.corp.example.test.'),
        ('db', 'A', None, '192.168.1.30'),
        ('db', 'AAAA', 60, 'fd00:1::30'),
        ('www', 'CNAME', None, 'db.corp.example.test.'),
    ]
    assert corp['public_records'] is None  # private-only
    assert cfg['upstreams'] == ['198.51.100.53']


def test_name_becomes_a_pinpoint_zone_with_a_public_view():
    cfg = _config(zones=[], names=NAMES)
    (app,) = cfg['zones']
    assert app['name'] == 'app.example.test' and app['source'] == 'names'
    assert [(r['name'], r['type'], r['value']) for r in app['records']] == [('@', 'A', '192.168.1.20')]
    assert [(r['name'], r['type'], r['value']) for r in app['public_records']] == [('@', 'A', '198.51.100.1')]
    assert cfg['names_applied'] == [{'name': 'app.example.test', 'zone': 'app.example.test',
                                     'private': '192.168.1.20', 'public': '198.51.100.1'}]


def test_names_without_public_view_are_private_only():
    (app,) = _config(zones=[], names=NAMES, names_public_view=False)['zones']
    assert app['public_records'] is None


def test_name_without_public_address_has_no_public_record():
    (app,) = _config(zones=[], names=[{'name': 'app.example.test', 'private': 'fd00::20'}])['zones']
    assert [(r['type'], r['value']) for r in app['records']] == [('AAAA', 'fd00::20')]
    assert app['public_records'] == []


def test_name_inside_an_explicit_zone_joins_it_and_explicit_records_win():
    zone = {'name': 'example.test', 'records': [{'name': 'www', 'type': 'A', 'value': '192.168.1.99'}], 'public_records': []}
    names = NAMES + [{'name': 'www.example.test', 'private': '192.168.1.20', 'public': '198.51.100.1'}]
    cfg = _config(zones=[zone], names=names)
    assert cfg['errors'] == []
    (example,) = cfg['zones']
    assert [(r['name'], r['value']) for r in example['records']] == [('app', '192.168.1.20'), ('www', '192.168.1.99')]
    assert [(r['name'], r['value']) for r in example['public_records']] == [('app', '198.51.100.1')]
    reason = 'www.example.test already has records in split_dns_zones (example.test): explicit records win'
    assert cfg['names_skipped'] == [{'name': 'www.example.test', 'reason': reason}]


def test_conflicting_private_answers_are_an_error():
    cfg = _config(zones=[], names=NAMES + [{'name': 'App.Example.Test.', 'private': '192.168.1.21'}])
    assert cfg['errors'] == [
        'split_dns_names[1]: app.example.test would answer 192.168.1.20 (split_dns_names[0]) and 192.168.1.21; '
        'split DNS gives one private answer per name: keep one']


@pytest.mark.parametrize('names, error', [
    ({'name': 'app.example.test'}, 'split_dns_names: must be a list of {name, private, public}, got dict'),
    (['app.example.test'], "split_dns_names[0]: must be a dict {name: app.example.test, private: 10.0.0.20, "
                           "public: 203.0.113.1}, got 'app.example.test'"),
    ([{'name': 'app.example.test', 'private': 'svc-b'}],
     "split_dns_names[0].private: 'svc-b' is not an IP address (the backend address answered inside)"),
    ([{'name': 'app.example.test', 'private': '192.168.1.20', 'public': '198.51.100.300'}],
     "split_dns_names[0].public: '198.51.100.300' is not an IP address (the address answered outside)"),
    ([{'name': 'app.example.test', 'address': '192.168.1.20'}],
     'split_dns_names[0]: unknown keys address (allowed: name, private, public)'),
])
def test_bad_names(names, error):
    assert _config(zones=[], names=names)['errors'] == [error]


@pytest.mark.parametrize('zones, errors', [
    ([{'name': 'bad..zone'}],
     ["split_dns_zones[0].name: 'bad..zone' has an invalid label '' (letters, digits, \"-\" and \"_\", 1 to 63 characters, "
      "no leading or trailing \"-\")"]),
    ([{'name': '.'}], ['split_dns_zones[0].name: the root zone (".") cannot be a private zone']),
    ([{'name': '-x.test'}],
     ["split_dns_zones[0].name: '-x.test' has an invalid label '-x' (letters, digits, \"-\" and \"_\", 1 to 63 characters, "
      "no leading or trailing \"-\")"]),
    ([{'name': 'a.test'}, {'name': 'A.test.'}], ['split_dns_zones[1].name: zone a.test is already defined at split_dns_zones[0]']),
    ([{'name': 'a.test', 'ttl': -1}], ['split_dns_zones[0].ttl: must be from 0 to 2147483647, got -1']),
    ([{'name': 'a.test', 'colour': 'red'}], ['split_dns_zones[0]: unknown keys colour']),
    ([{'name': 'a.test', 'records': {'name': 'x'}}], ["split_dns_zones[0].records: must be a list of records, got {'name': 'x'}"]),
    ([{'name': 'a.test', 'records': [
        {'name': 'x', 'type': 'A', 'value': '192.168.1.300'},
        {'name': 'y', 'type': 'AAAA', 'value': '192.168.1.3'},
        {'name': 'z', 'type': 'MX', 'value': 'mail'},
        {'name': 'x.a.test', 'type': 'A', 'value': '1.1.1.1'},
        {'name': 'x.b.test.', 'type': 'A', 'value': '1.1.1.1'},
        {'name': 's', 'type': 'SRV', 'priority': 1, 'weight': 1, 'port': 99999, 'target': 'x'},
        {'name': 's2', 'type': 'SRV', 'value': '1 2 3'},
        {'name': 's3', 'type': 'SRV', 'priority': 1, 'weight': 1, 'port': 80},
        {'name': 'c', 'type': 'CNAME', 'value': 'bad_target!'},
        {'name': '@', 'type': 'CNAME', 'value': 'x'},
        {'name': 'x', 'type': 'CNAME', 'value': 'y'},
        {'name': 'x', 'type': 'A', 'value': '192.168.1.3'},
    ]}], [
        "split_dns_zones[0].records[0].value: '192.168.1.300' is not an IPv4 address (type A)",
        "split_dns_zones[0].records[1].value: '192.168.1.3' is not an IPv6 address (type AAAA)",
        "split_dns_zones[0].records[2].type: must be one of A, AAAA, CNAME, SRV, got 'MX'",
        "split_dns_zones[0].records[3].name: 'x.a.test' looks like a full name: write it relative to the zone ('x') or end it with \".\"",
        "split_dns_zones[0].records[4].name: 'x.b.test.' is not inside the zone a.test",
        'split_dns_zones[0].records[5].port: must be from 0 to 65535, got 99999',
        "split_dns_zones[0].records[6].value: an SRV value is \"PRIORITY WEIGHT PORT TARGET\", got '1 2 3'",
        'split_dns_zones[0].records[7].target: required for type SRV (or give value: "PRIORITY WEIGHT PORT TARGET")',
        "split_dns_zones[0].records[8].value: 'bad_target!' has an invalid label 'bad_target!' (letters, digits, \"-\" and \"_\", "
        "1 to 63 characters, no leading or trailing \"-\") (type CNAME), got 'bad_target!'",
        'split_dns_zones[0].records: a CNAME cannot be at the zone apex of a.test (the apex holds SOA and NS)',
        'split_dns_zones[0].records: x has a CNAME and other data (A); a CNAME must be the only record of its name',
    ]),
])
def test_bad_zones_name_the_field(zones, errors):
    assert _config(zones=zones)['errors'] == errors


def test_bad_cidrs_addresses_and_upstreams_name_the_variable():
    cfg = _config(zones=[], internal_cidrs=['192.168.1.1/24', 'lan'], listen_addresses=['192.168.1.1', 'gw'],
                  upstreams=['127.0.0.53', '192.168.1.1', 'dns.example', '198.51.100.53:5353', '[2001:db8::53]:53', '2001:db8::35'],
                  client_nameservers=['x'], client_domains=['ok.test', 'no way'])
    assert cfg['errors'] == [
        "split_dns_internal_cidrs[0]: '192.168.1.1/24' is not a network CIDR: it has host bits set (did you mean 192.168.1.0/24?)",
        "split_dns_internal_cidrs[1]: 'lan' is not a CIDR such as 192.168.0.0/16 or fd00::/8",
        "split_dns_listen_addresses[1]: 'gw' is not an IP address",
        "split_dns_upstreams[0]: 127.0.0.53 is systemd-resolved's stub listener; forwarding there loops as soon as the host "
        "resolves through this server: give the real upstream resolvers",
        'split_dns_upstreams[1]: 192.168.1.1 is this server itself (split_dns_listen_addresses): a forwarding loop',
        "split_dns_upstreams[2]: 'dns.example' is not an upstream address such as 198.51.100.53, 198.51.100.53:5353 or "
        "[2001:db8::53]:53",
        "split_dns_client_nameservers[0]: 'x' is not an IP address",
        "split_dns_client_domains[1]: 'no way' has an invalid label 'no way' (letters, digits, \"-\" and \"_\", 1 to 63 "
        "characters, no leading or trailing \"-\")",
    ]
    assert cfg['upstreams'] == ['198.51.100.53:5353', '[2001:db8::53]:53', '[2001:db8::35]:53']


@pytest.mark.parametrize('value, expected', [
    ('198.51.100.53', ('198.51.100.53', 53)),
    ('dns://198.51.100.53:5353', ('198.51.100.53', 5353)),
    ('[2001:db8::53]:5300', ('2001:db8::53', 5300)),
    ('2001:db8::53', ('2001:db8::53', 53)),
])
def test_parse_upstream(value, expected):
    assert parse_upstream(value) == expected


@pytest.mark.parametrize('value, message', [
    ('198.51.100.53:0', "the port of '198.51.100.53:0' is not a port number (1-65535)"),
    ('[2001:db8::53]:65536', "the port of '[2001:db8::53]:65536' is not a port number (1-65535)"),
    ('198.51.100.300', "'198.51.100.300': '198.51.100.300' is not an IP address (CoreDNS forwards to addresses, not names)"),
])
def test_parse_upstream_rejects(value, message):
    with pytest.raises(ZoneError) as error:
        parse_upstream(value)
    assert str(error.value) == message


def test_srv_value_form_and_absolute_targets():
    rec = normalize_record({'name': '_http._tcp', 'type': 'srv', 'value': '0 0 80 web.example.org.'}, 'corp.test', 'r')
    assert rec == {'name': '_http._tcp', 'type': 'SRV', 'ttl': None, 'value': '0 0 80 web.example.org.'}
    with pytest.raises(ZoneError, match=r'^r.value: a CNAME cannot point to "."$'):
        normalize_record({'name': 'x', 'type': 'CNAME', 'value': '.'}, 'corp.test', 'r')


def test_zone_file_text_and_stable_serial():
    cfg = _config()
    (corp,) = cfg['zones']
    first = render_zone_file(corp, 'internal', previous=None, today='20261123')
    digest, serial = parse_previous(first)
    assert serial == 2026112300
    assert first == CORP_INTERNAL.format(digest=digest, serial=2026112300)
    # Unchanged content: the serial stays, whatever the date.
    assert render_zone_file(corp, 'internal', previous=first, today='20270101') == first
    # The order of the records in the variables does not matter.
    shuffled = dict(CORP, records=list(reversed(CORP['records'])))
    assert render_zone_file(_config(zones=[shuffled])['zones'][0], 'internal', previous=first, today='20270101') == first


def test_serial_moves_only_with_content_and_only_up():
    corp = _config()['zones'][0]
    first = render_zone_file(corp, 'internal', today='20261123')
    changed = _config(zones=[dict(CORP, records=CORP['records'] + [{'name': 'new', 'value': '192.168.1.40'}])])['zones'][0]
    same_day = render_zone_file(changed, 'internal', previous=first, today='20261123')
    assert parse_previous(same_day)[1] == 2026112301
    next_day = render_zone_file(corp, 'internal', previous=same_day, today='20261124')
    assert parse_previous(next_day)[1] == 2026112400
    # A serial already ahead of the date keeps counting up.
    assert next_serial(2026120599, '20261124') == 2026120600
    with pytest.raises(ZoneError, match='does not fit in 32 bits'):
        next_serial(4294967295, '20261124')
    # A file not written by us (no hash) gets a date serial.
    assert parse_previous('$ORIGIN x.\n@ IN SOA a. b. 7 1 1 1 1\n') == (None, None)


def test_render_zone_files_public_view_and_extra_lines():
    zones = _config(zones=[dict(CORP, extra_lines=['mail IN MX 10 db'])], names=NAMES)['zones']
    files = render_zone_files(zones, previous={}, today='20261123')
    assert [(f['file'], f['zone'], f['view'], f['serial']) for f in files] == [
        ('db.app.example.test.internal', 'app.example.test', 'internal', 2026112300),
        ('db.app.example.test.public', 'app.example.test', 'public', 2026112300),
        ('db.corp.example.test.internal', 'corp.example.test', 'internal', 2026112300),
    ]
    public = files[1]['content']
    assert public.splitlines()[-1] == '@ IN A 198.51.100.1' and '192.168.' not in public
    assert files[2]['content'].endswith('; extra_lines\nmail IN MX 10 db\n')
    with pytest.raises(ZoneError, match='has no public view'):
        render_zone_file(zones[1], 'public')


def test_rendered_zones_parse_with_dnspython():
    dns_zone = pytest.importorskip('dns.zone')
    zones = _config(names=NAMES)['zones']
    for item in render_zone_files(zones, today='20261123'):
        parsed = dns_zone.from_text(item['content'], origin=item['zone'], relativize=False, check_origin=True)
        soa = parsed.find_rdataset(item['zone'] + '.', 'SOA')[0]
        assert soa.serial == item['serial']
    corp = dns_zone.from_text(render_zone_files(zones, today='20261123')[2]['content'], origin='corp.example.test',
                              relativize=False)
    assert corp.find_rdataset('_postgresql._tcp.corp.example.test.', 'SRV')[0].to_text() == '10 5 54321 db.corp.example.test.'
    assert corp.find_rdataset('db.corp.example.test.', 'AAAA').ttl == 60


def test_probes_from_internal_and_public_addresses():
    files = render_zone_files(_config(names=NAMES)['zones'], today='20261123')
    probes = build_probes(files, ['192.168.1.1', '198.51.100.1'], ['192.168.1.0/24'], 15353)
    assert probes == [
        {'server': '192.168.1.1', 'source': '192.168.1.1', 'port': 15353, 'name': 'app.example.test', 'type': 'SOA',
         'expect_rcode': 'NOERROR', 'expect_serial': 2026112300},
        {'server': '198.51.100.1', 'source': '198.51.100.1', 'port': 15353, 'name': 'app.example.test', 'type': 'SOA',
         'expect_rcode': 'NOERROR', 'expect_serial': 2026112300},
        {'server': '192.168.1.1', 'source': '192.168.1.1', 'port': 15353, 'name': 'corp.example.test', 'type': 'SOA',
         'expect_rcode': 'NOERROR', 'expect_serial': 2026112300},
        {'server': '198.51.100.1', 'source': '198.51.100.1', 'port': 15353, 'name': 'corp.example.test', 'type': 'SOA',
         'expect_rcode': 'REFUSED'},
    ]
    # Only loopback: a plain liveness query.
    assert build_probes(files[2:], ['127.0.0.1'], ['192.168.1.0/24']) == [
        {'server': '127.0.0.1', 'port': 53, 'name': 'corp.example.test', 'type': 'SOA'}]
    with pytest.raises(ZoneError, match=r"^listen_addresses: 'gw' is not an IP address$"):
        build_probes(files, ['gw'], ['192.168.1.0/24'])


# podman's resolv.conf of a lab container, and a typical DHCP one.
PODMAN_RESOLV = 'nameserver 198.51.100.53\n'
DHCP_RESOLV = '# Generated by NetworkManager\nsearch corp.example.test\nnameserver 10.0.0.1\nnameserver 10.0.0.2\noptions edns0\n'


@pytest.mark.parametrize('original, keep, expected', [
    (PODMAN_RESOLV, True, 'nameserver 192.168.1.1\nnameserver 198.51.100.53\n'),
    (PODMAN_RESOLV, False, 'nameserver 192.168.1.1\n'),
    (DHCP_RESOLV, True, 'nameserver 192.168.1.1\nnameserver 10.0.0.1\nnameserver 10.0.0.2\n'
                        '# Generated by NetworkManager\nsearch corp.example.test\noptions edns0\n'),
    ('', True, 'nameserver 192.168.1.1\n'),
])
def test_resolv_conf(original, keep, expected):
    header = '# keeplocal.traffic split_dns: private zones are answered by 192.168.1.1 (the original is saved as /b)\n'
    out = render_resolv_conf(original, ['192.168.1.1'], keep_existing=keep, backup_path='/b')
    assert out == header + expected
    # Idempotent when fed its own output.
    assert render_resolv_conf(out, ['192.168.1.1'], keep_existing=keep, backup_path='/b') == out


def test_resolv_conf_caps_at_three_nameservers():
    out = render_resolv_conf(DHCP_RESOLV + 'nameserver 10.0.0.3\n', ['192.168.1.1', '192.168.1.2'])
    assert [ln for ln in out.splitlines() if ln.startswith('nameserver')] == [
        'nameserver 192.168.1.1', 'nameserver 192.168.1.2', 'nameserver 10.0.0.1']
    with pytest.raises(ZoneError):
        render_resolv_conf(PODMAN_RESOLV, [])


RESOLVECTL_DNS = """Global: 192.168.1.1
Link 2 (int0): 198.51.100.53
Link 3 (eth1): 10.0.0.2:53
"""


@pytest.mark.parametrize('output, foreign', [
    (RESOLVECTL_DNS, []),
    ('Global:\nLink 2 (int0): 198.51.100.53\n', []),
    ('Global: 198.51.100.53 192.168.1.1\nLink 2 (int0): 198.51.100.53\n', ['198.51.100.53']),
    ('Global: 192.168.1.1:53 [fd00::53]:53 9.9.9.9#dns.quad9.net\n', ['[fd00::53]:53', '9.9.9.9#dns.quad9.net']),
    ('Global: fe80::1%int0\n', ['fe80::1%int0']),
    ('', []),
])
def test_resolved_foreign_global_servers(output, foreign):
    assert resolved_foreign_global_servers(output, ['192.168.1.1']) == foreign


def test_resolved_foreign_global_servers_names_a_bad_nameserver():
    with pytest.raises(ZoneError, match="'gw' is not an IP address"):
        resolved_foreign_global_servers(RESOLVECTL_DNS, ['gw'])
