# Copyright (c) 2026 keeplocal.traffic contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Shared address helpers."""

from __future__ import annotations

import pytest

from ansible_collections.keeplocal.traffic.plugins.module_utils._addresses import (
    DEFAULT_INTERNAL_CIDRS,
    InternalNetworks,
    is_loopback,
    normalize_ip,
    parse_endpoint,
    parse_ip,
    parse_network,
    parse_port,
    split_host_port,
)


@pytest.mark.parametrize('text, expected', [
    ('192.168.1.10', '192.168.1.10'),
    # /proc/net/nf_conntrack writes IPv6 fully expanded
    ('fd77:0000:0000:0000:0000:0000:0000:0010', 'fd77::10'),
    ('2001:0DB8:0077:0000:0000:0000:0000:0001', '2001:db8:77::1'),
    # dual-stack sockets show IPv4 peers as IPv4-mapped IPv6
    ('::ffff:192.168.77.20', '192.168.77.20'),
    ('[fd77::20]', 'fd77::20'),
    ('fe80::1%eth0', 'fe80::1'),
    (' 10.0.0.1 ', '10.0.0.1'),
])
def test_normalize_ip(text, expected):
    assert normalize_ip(text) == expected


@pytest.mark.parametrize('text', ['', 'app.example.test', '192.168.1.300', '198.51.100.1:80', '10.0.0.0/8', None, 42])
def test_normalize_ip_rejects(text):
    with pytest.raises(ValueError):
        normalize_ip(text)


@pytest.mark.parametrize('ip, internal', [
    ('10.1.2.3', True),
    ('172.16.0.1', True),
    ('172.32.0.1', False),
    ('192.168.77.20', True),
    ('100.64.0.1', True),       # RFC 6598
    ('100.128.0.1', False),
    ('127.0.0.1', True),
    ('198.51.100.1', False),
    ('8.8.8.8', False),
    ('fd77::10', True),
    ('fd77:0000:0000:0000:0000:0000:0000:0010', True),
    ('::1', True),
    ('2001:db8:77::1', False),
    ('::ffff:192.168.1.1', True),
    ('::ffff:198.51.100.1', False),
    ('not-an-address', False),
    ('', False),
])
def test_default_internal(ip, internal):
    assert InternalNetworks().contains(ip) is internal


def test_default_list_is_the_documented_one():
    assert DEFAULT_INTERNAL_CIDRS == [
        '10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', '100.64.0.0/10', '127.0.0.0/8', '::1/128', 'fc00::/7']


def test_custom_networks_and_cache():
    nets = InternalNetworks(['192.168.1.0/24', '2001:db8:1::/48'])
    assert nets.contains('192.168.1.7')
    assert not nets.contains('192.168.2.7')
    assert nets.contains('2001:db8:1::5')
    assert not nets.contains('10.0.0.1')
    # the answer is cached per string
    assert nets._cache['192.168.1.7'] is True  # pylint: disable=protected-access
    assert nets.cidrs == ['192.168.1.0/24', '2001:db8:1::/48']


def test_host_bits_are_accepted():
    assert InternalNetworks(['192.168.1.1/24']).contains('192.168.1.200')


@pytest.mark.parametrize('bad', ['192.168.1.0/33', '10.0.0.0/8,', 'lan', '', '300.0.0.0/8'])
def test_bad_cidr_names_the_value(bad):
    with pytest.raises(ValueError, match='is not a CIDR'):
        InternalNetworks(['10.0.0.0/8', bad])


@pytest.mark.parametrize('cidr, overlaps', [
    ('192.168.77.0/24', True),
    ('0.0.0.0/0', True),
    ('192.168.77.20', True),
    ('198.51.100.0/24', False),
    ('fd77::/64', True),
    ('2001:db8::/32', False),
])
def test_overlaps(cidr, overlaps):
    assert InternalNetworks().overlaps(cidr) is overlaps


def test_parse_network():
    assert str(parse_network('192.168.1.20/32')) == '192.168.1.20/32'
    assert str(parse_network('192.168.1.20')) == '192.168.1.20/32'
    assert str(parse_network('fd77::1/64')) == 'fd77::/64'


def test_parse_network_strict_names_the_network_meant():
    assert str(parse_network('192.168.1.0/24', strict=True)) == '192.168.1.0/24'
    assert str(parse_network('192.168.1.20', strict=True)) == '192.168.1.20/32'
    with pytest.raises(ValueError, match=r"^'192.168.1.1/24' is not a network CIDR: it has host bits set \(did you mean 192.168.1.0/24\?\)$"):
        parse_network('192.168.1.1/24', strict=True)
    with pytest.raises(ValueError, match=r"^'lan' is not a CIDR"):
        parse_network('lan', strict=True)


@pytest.mark.parametrize('text, folded, literal', [
    ('192.168.1.20', '192.168.1.20', '192.168.1.20'),
    (' 2001:DB8::1 ', '2001:db8::1', '2001:db8::1'),
    ('::ffff:192.168.1.20', '192.168.1.20', '::ffff:c0a8:114'),
    ('[2001:db8::1]', '2001:db8::1', None),
    ('fe80::1%eth0', 'fe80::1', 'fe80::1%eth0'),
    ('app.example.test', None, None),
    ('198.51.100.1:80', None, None),
    (None, None, None),
    (True, None, None),
])
def test_parse_ip_folded_and_literal(text, folded, literal):
    for result, expected in ((parse_ip(text), folded), (parse_ip(text, literal=True), literal)):
        assert (None if result is None else str(result)) == expected


@pytest.mark.parametrize('text, loopback', [
    ('127.0.0.1', True), ('127.9.9.9', True), ('::1', True), ('::ffff:127.0.0.1', True), ('[::1]', True),
    ('192.168.1.20', False), ('::', False), ('localhost', False), ('', False), (None, False),
])
def test_is_loopback(text, loopback):
    assert is_loopback(text) is loopback


@pytest.mark.parametrize('text, expected', [
    ('127.0.0.1:8000', ('127.0.0.1', '8000')),
    ('localhost:80', ('localhost', '80')),
    ('app', ('app', None)),
    (':8000', ('', '8000')),
    ('host:', ('host', '')),
    ('host:pg', ('host', 'pg')),
    ('[::1]:8000', ('::1', '8000')),
    ('[::1]', ('::1', None)),
    ('[::1]:', ('::1', '')),
    ('[::1', None),
    ('[::1]8000', None),
    ('::1', None),
    ('::1:8000', None),
])
def test_split_host_port(text, expected):
    assert split_host_port(text) == expected


@pytest.mark.parametrize('value, expected', [(80, 80), ('65535', 65535), (' 1 ', 1)])
def test_parse_port(value, expected):
    assert parse_port(value) == expected


@pytest.mark.parametrize('value', [0, 65536, '-1', '8o', '', None, True, 1.5])
def test_parse_port_rejects_naming_the_field(value):
    with pytest.raises(ValueError, match=r'^pairs\[0\]\.port: .* is not a port number \(1-65535\)$'):
        parse_port(value, 'pairs[0].port')


@pytest.mark.parametrize('value, expected', [
    ('127.0.0.1:8000', ('127.0.0.1', 8000)),
    ('[::1]:8000', ('::1', 8000)),
    ('[::ffff:127.0.0.1]:80', ('127.0.0.1', 80)),
    ('127.0.0.1', "address: '127.0.0.1' is not an address with a port"),
    ('::1:8000', "address: '::1:8000' is not an address with a port"),
    ('[::1]', "address: '[::1]' is not an address with a port"),
    (':8000', "address: ':8000' is not an address with a port"),
    (8000, "address: 8000 is not an address with a port"),
    ('localhost:8000', "address: 'localhost' is not an IP address (in 'localhost:8000')"),
    ('127.0.0.1:70000', "address: the port of '127.0.0.1:70000' is not a port number (1-65535)"),
])
def test_parse_endpoint(value, expected):
    if isinstance(expected, tuple):
        ip, port = parse_endpoint(value)
        assert (str(ip), port) == expected
    else:
        with pytest.raises(ValueError) as error:
            parse_endpoint(value)
        assert str(error.value).startswith(expected)
