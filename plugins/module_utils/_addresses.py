# Copyright (c) 2026 keeplocal.traffic contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one home for addresses: IP, CIDR and host:port parsing and formatting, and the default
internal networks (stdlib only, no I/O).

Imported by the modules on managed hosts and by the controller plugins alike, so that detection,
the planner, the plan reader and the roles' checks agree on what an address is.
"""

from __future__ import annotations

import ipaddress

# RFC 1918, RFC 6598 (carrier-grade NAT), loopback, IPv6 loopback and unique local addresses.
DEFAULT_INTERNAL_CIDRS = [
    '10.0.0.0/8',
    '172.16.0.0/12',
    '192.168.0.0/16',
    '100.64.0.0/10',
    '127.0.0.0/8',
    '::1/128',
    'fc00::/7',
]


def _address(value):
    """Parse an address string (IPv4, IPv6, [IPv6], IPv6%scope); IPv4-mapped IPv6 becomes IPv4."""
    text = value.strip()
    if text.startswith('[') and text.endswith(']'):
        text = text[1:-1]
    if '%' in text:
        text = text.split('%', 1)[0]
    addr = ipaddress.ip_address(text)
    if addr.version == 6 and addr.ipv4_mapped is not None:
        return addr.ipv4_mapped
    return addr


def parse_ip(value, literal=False):
    """The ``ipaddress`` object for ``value`` (IPv4-mapped IPv6 folded to IPv4), or None when it is not an address.

    ``literal``: the address exactly as written, for text handed on as it is (DNS data, an address
    to bind or to connect to): no brackets, an IPv4-mapped address stays IPv6 and a zone index stays.
    """
    if not isinstance(value, str):
        if value is None or isinstance(value, bool) or not isinstance(value, (ipaddress.IPv4Address, ipaddress.IPv6Address)):
            return None
        value = str(value)
    try:
        return ipaddress.ip_address(value.strip()) if literal else _address(value)
    except ValueError:
        return None


def is_loopback(value):
    """True when ``value`` (any text form) is a loopback address; False for anything else."""
    addr = parse_ip(value)
    return addr is not None and addr.is_loopback


def split_host_port(text):
    """``(host, port text)`` of ``host:port``, ``[v6]:port``, ``host`` or ``[v6]``, the port text None
    when there is none and the host empty for ``:port``; None when ``text`` is not such a form (a
    bracket not closed, something else after ``]``, an IPv6 address without brackets). The callers
    check what their own format allows of the host (a name, an address) and the port."""
    if text.startswith('['):
        host, sep, rest = text[1:].partition(']')
        if not sep or (rest and not rest.startswith(':')):
            return None
        return host, rest[1:] if rest else None
    host, sep, port = text.rpartition(':')
    if not sep:
        return text, None
    if ':' in host:
        return None
    return host, port


def ip_sort_key(ip):
    """Sort key for an address object or None (None last)."""
    if ip is None:
        return (9, 0, '')
    return (ip.version, int(ip), str(ip))


def endpoint(ip, port):
    """``ip:port`` with IPv6 addresses in brackets; ``?`` stands for an unknown address."""
    if ip is None:
        return '?:%s' % port if port is not None else '?'
    text = str(ip)
    if ':' in text:
        text = '[%s]' % text
    return text if port is None else '%s:%s' % (text, port)


def parse_port(value, field='port'):
    """A port number 1-65535 from an int or its decimal text; ValueError naming ``field`` otherwise."""
    text = str(value).strip() if not isinstance(value, bool) else ''
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise ValueError('%s: %r is not a port number (1-65535)' % (field, value))
    return int(text)


def parse_endpoint(value, field='address'):
    """``(ip, port)`` from ``192.0.2.1:80`` or ``[2001:db8::1]:80``; ValueError naming ``field`` and the form otherwise."""
    split = split_host_port(value.strip()) if isinstance(value, str) else None
    if split is None or not split[0] or split[1] is None:
        raise ValueError('%s: %r is not an address with a port; write it as 127.0.0.1:8000 or [::1]:8000' % (field, value))
    host, port = split
    ip = parse_ip(host)
    if ip is None:
        raise ValueError('%s: %r is not an IP address (in %r); write it as 127.0.0.1:8000 or [::1]:8000' % (field, host, value))
    try:
        return ip, parse_port(port)
    except ValueError:
        raise ValueError('%s: the port of %r is not a port number (1-65535)' % (field, value)) from None


def normalize_ip(value):
    """Return the canonical text of an address: compressed IPv6, IPv4-mapped IPv6 as IPv4.

    Raises ValueError when ``value`` is not an IP address.
    """
    if not isinstance(value, str):
        raise ValueError('%r is not an IP address' % (value,))
    return str(_address(value))


def parse_network(value, strict=False):
    """Parse a CIDR (or a single address) into an ip_network; host bits are allowed unless ``strict``.

    Raises ValueError with a message naming the value (with ``strict``, and the network meant).
    """
    if not isinstance(value, str):
        raise ValueError('%r is not a CIDR such as 192.168.0.0/16' % (value,))
    try:
        net = ipaddress.ip_network(value.strip(), strict=False)
    except ValueError:
        raise ValueError('%r is not a CIDR such as 192.168.0.0/16 or fd00::/8' % (value,)) from None
    if strict and ipaddress.ip_interface(value.strip()).ip != net.network_address:
        raise ValueError('%r is not a network CIDR: it has host bits set (did you mean %s?)' % (value, net))
    return net


class InternalNetworks:
    """A set of internal networks with a cached membership test per address string."""

    def __init__(self, cidrs=None):
        if cidrs is None:
            cidrs = DEFAULT_INTERNAL_CIDRS
        self.cidrs = list(cidrs)
        self.networks = [parse_network(cidr) for cidr in self.cidrs]
        self._v4 = tuple(net for net in self.networks if net.version == 4)
        self._v6 = tuple(net for net in self.networks if net.version == 6)
        self._cache = {}

    def contains(self, ip):
        """True when ``ip`` (any text form) lies in one of the networks; False for non-addresses."""
        try:
            return self._cache[ip]
        except KeyError:
            pass
        try:
            addr = _address(ip)
        except (ValueError, AttributeError):
            result = False
        else:
            nets = self._v4 if addr.version == 4 else self._v6
            result = any(addr in net for net in nets)
        self._cache[ip] = result
        return result

    def overlaps(self, cidr):
        """True when the network ``cidr`` (or address) shares addresses with one of the networks."""
        net = parse_network(cidr)
        if net.version == 6 and net.prefixlen == 128 and net.network_address.ipv4_mapped is not None:
            net = ipaddress.ip_network(net.network_address.ipv4_mapped)
        return any(net.version == own.version and net.overlaps(own) for own in self.networks)
