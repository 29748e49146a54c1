# -*- coding: utf-8 -*-
# Copyright (c) 2026 keeplocal.traffic contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Build the hairpin plan (version 2) from every host's ``hairpin_detect_facts`` facts.

Pure functions, controller side, stdlib only (``ipaddress``). The input is what the detect role
gathered on each host; the output is the plan documented in docs/architecture.md. Nothing here
does I/O, and the output is deterministic: same facts, same plan (sorted lists, fixed keys).

Each fact is read once. What several stages consult is read first into records (``_Host``: a
host's addresses, forwards, conntrack health and app-server sockets), each distinct address parsed
once into one ``_Address``; the entries a single stage consumes (conntrack pairs, client sockets,
DNS answers: most of the facts) are read by that stage as it goes. The stages join through
indexes by address (``_address_owners``), by forward (``_ForwardIndex``) and by name, so the cost
grows with the facts, not with pairs times forwards.

Decision table (one fix per pair; what applies it is decided in ``_recommend.py``):

================  ===============  ==================  ==================================================
relation          port translated  fix                 why
================  ===============  ==================  ==================================================
same_host         any              ``local_shortcut``  the host reaches itself through the gateway: send the
                                                       public endpoint to its own backend address locally
same_network      no               ``split_dns``       a private DNS answer sends the client straight there
same_network      yes              ``local_shortcut``  DNS has no ports: the client would dial the public port
routed            no               ``split_dns``       a private answer works when the subnet is routable
routed            yes              ``local_shortcut``  as above
unknown backend   unknown          ``null``            no forward map and no gateway entry: nothing to aim at
================  ===============  ==================  ==================================================

A ``split_dns`` pair without a name that answers for its backend alone (the client dials the
address, or the name reaches other forwards too) gets ``local_shortcut``: DNS cannot carry it.
Same-host TCP to an app server (``same_host[]``) gets ``unix_socket``.
"""

from __future__ import annotations

import contextlib
import gc
import ipaddress
import itertools
from collections import namedtuple
from collections.abc import Mapping

from ansible_collections.keeplocal.traffic.plugins.module_utils._addresses import (
    DEFAULT_INTERNAL_CIDRS,
    ip_sort_key,
    parse_ip,
    parse_network,
    parse_port,
)
from ansible_collections.keeplocal.traffic.plugins.plugin_utils._recommend import (
    gateway_recommendation,
    pair_recommendation,
    same_host_candidate,
)

PLAN_VERSION = 2
FIX_KINDS = ('unix_socket', 'split_dns', 'local_shortcut', 'conntrack_headroom')
SEEN_BY_ORDER = ('gateway_conntrack', 'client_socket', 'dns_answer')
# A pair's sightings as bits (in SEEN_BY_ORDER), and the seen_by list of each combination.
_BY_GATEWAY, _BY_CLIENT, _BY_DNS = 1, 2, 4
_SEEN_BY = [[kind for bit, kind in zip((_BY_GATEWAY, _BY_CLIENT, _BY_DNS), SEEN_BY_ORDER) if seen & bit] for seen in range(8)]
# Sightings of traffic; a pair seen only in DNS answers is latent: it hairpins once it is used.
_ACTIVE = _BY_GATEWAY | _BY_CLIENT
RELATIONS = ('same_host', 'same_network', 'routed')
SOURCES = ('nat_rules', 'conntrack', 'hairpin_flows', 'outbound_flows', 'dns_answers')
DEFAULT_USAGE_THRESHOLD = 0.7
ACCOUNTING_OFF = ('; conntrack accounting is off (nf_conntrack_acct=0), so the bytes of these hairpins cannot be counted here: '
                  'conntrack_tuning_accounting: true turns it on')
DEFAULT_IPV4_PREFIX = 24
DEFAULT_IPV6_PREFIX = 64
_BITS = {4: 32, 6: 128}


class PlanError(ValueError):
    """Bad planner input; the message names the option or fact and the fix."""


# --------------------------------------------------------------------------------------------
# coercion of loosely shaped facts: used only while reading them into records


def _int(value, default=None):
    if value.__class__ is int:  # the common case first (a bool is no number here)
        return value
    if value is None or isinstance(value, bool):
        return default
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _num(value, default=None):
    if value is None or isinstance(value, bool):
        return default
    try:
        return float(value)
    except (TypeError, ValueError):
        return default


def _is_mapping(value):
    # dict first: facts are plain dicts, and the abstract Mapping check costs ten times as much
    # (written out again where it runs per list item, which a call would double)
    return value.__class__ is dict or isinstance(value, Mapping)


def _mapping(value):
    return value if _is_mapping(value) else {}


def _items(value):
    """The list items of ``value`` that are mappings (anything else is ignored)."""
    if not isinstance(value, (list, tuple)):
        return []
    return [item for item in value if item.__class__ is dict or isinstance(item, Mapping)]


def _listed(value):
    return value if isinstance(value, (list, tuple)) else ()


def _failed(source):
    return _is_mapping(source) and bool(source.get('failed'))


def _usable(source):
    """A module result the planner can read (a dict that did not fail)."""
    return _is_mapping(source) and not source.get('failed')


def _ratio(value):
    return round(value, 6) if value is not None else None


def format_percent(value, missing='?'):
    """A share (0.123) as text for people: 12%, 1.2%, 0.012%; ``missing`` for None."""
    if value is None:
        return missing
    pct = value * 100
    if pct == 0:
        return '0%'
    if pct < 0.1:
        return '%.3f%%' % pct
    if pct < 10:
        return '%.1f%%' % pct
    return '%.0f%%' % pct


# --------------------------------------------------------------------------------------------
# options


def normalize_facts(data):
    """Accept the forms the filter documents and return ``{host: facts-or-None}``.

    - ``{host: hairpin_detect_facts}``;
    - ``{host: hostvars[host]}`` (a mapping holding a ``hairpin_detect_facts`` key), e.g.
      ``dict(groups['all'] | zip(groups['all'] | map('extract', hostvars)))``;
    - a list of ``hairpin_detect_facts`` dicts, each naming its ``host`` (e.g. read back from the
      per-host JSON files that sliced jobs wrote).
    """
    if data is None:
        return {}
    result = {}
    if isinstance(data, Mapping):
        pairs = list(data.items())
    elif isinstance(data, (list, tuple)):
        pairs = []
        for index, item in enumerate(data):
            if not isinstance(item, Mapping):
                raise PlanError('facts list item %d is a %s, not a dict: pass hairpin_detect_facts dicts (each with its "host")'
                                % (index, type(item).__name__))
            facts = item.get('hairpin_detect_facts', item)
            host = _mapping(facts).get('host') or item.get('inventory_hostname')
            if not host:
                raise PlanError('facts list item %d has no "host": pass a dict {host: hairpin_detect_facts} instead, or add the host name'
                                % index)
            pairs.append((host, item))
    else:
        raise PlanError('hairpin_plan expects a dict {host: hairpin_detect_facts} (or a list of hairpin_detect_facts dicts), got %s'
                        % type(data).__name__)
    for host, value in pairs:
        if isinstance(value, Mapping) and 'hairpin_detect_facts' in value:
            value = value['hairpin_detect_facts']
        if value is not None and not isinstance(value, Mapping):
            raise PlanError('facts for host %s are a %s, not a dict: pass the hairpin_detect_facts fact as set by hairpin_detect'
                            % (host, type(value).__name__))
        result[str(host)] = value or None
    return result


def _check_threshold(usage_threshold):
    if usage_threshold is None:
        return DEFAULT_USAGE_THRESHOLD
    value = _num(usage_threshold)
    if value is None or not 0 < value <= 1:
        raise PlanError('usage_threshold must be a number in (0, 1] (a share of nf_conntrack_max, e.g. 0.7), got %r'
                        % (usage_threshold,))
    return value


def _check_prefix(value, name, version):
    top = 32 if version == 4 else 128
    number = _int(value)
    if number is None or not 0 <= number <= top:
        raise PlanError('%s must be an integer prefix length 0-%d, got %r' % (name, top, value))
    return number


def _check_name_ports(name_ports):
    result = {}
    if name_ports is None:
        return result
    if not isinstance(name_ports, Mapping):
        raise PlanError('name_ports must be a dict {dns name: port or list of ports}, e.g. {"app.example.test": [80]}; got %s'
                        % type(name_ports).__name__)
    for name, ports in name_ports.items():
        if not isinstance(ports, (list, tuple)):
            ports = [ports]
        parsed = set()
        for port in ports:
            try:
                parsed.add(parse_port(port))
            except ValueError:
                raise PlanError('name_ports[%s]: %r is not a port (1-65535)' % (name, port)) from None
        result[str(name).rstrip('.').lower()] = parsed
    return result


def _check_public_addresses(value, book):
    if value is None:
        return set()
    if isinstance(value, str) or not isinstance(value, (list, tuple)):
        raise PlanError('public_addresses must be a list of IP addresses such as [198.51.100.1], got %r' % (value,))
    result = set()
    for item in value:
        address = book.parse(item)
        if address is None:
            raise PlanError('public_addresses: %r is not an IP address (give addresses such as 198.51.100.1, no ports)' % (item,))
        result.add(address)
    return result


def _parse_cidrs(value, option, example):
    if value is None:
        return []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, (list, tuple)):
        raise PlanError('%s must be a list of CIDRs such as [%s], got %s' % (option, example, type(value).__name__))
    result = []
    for cidr in value:
        try:
            result.append(parse_network(cidr))
        except ValueError:
            raise PlanError('%s: %r is not a network; write it as address/prefix, e.g. %s or fd00::/64'
                            % (option, cidr, example)) from None
    return result


def _masked(net):
    """(version, netmask, network) as integers: membership is one AND and one compare."""
    return net.version, int(net.netmask), int(net.network_address)


class Networks:
    """Address classification for the planner.

    - ``internal_cidrs``: the ranges that count as inside (default RFC 1918, RFC 6598 shared space,
      IPv6 ULA, like ``hairpin_flows_info``). A host talking to a forward from an address outside
      them is an ordinary outside client, not a hairpin.
    - ``networks``: the subnets hosts sit on. Two addresses share a network when the most specific
      entry containing one also contains the other; addresses no entry covers fall back to their
      /``ipv4_prefix`` (default 24) or /``ipv6_prefix`` (default 64) network.

    ``network_of`` returns a network's text (``192.168.1.0/24``), one str object per network, so
    two results are the same network exactly when they are the same object.
    """

    def __init__(self, internal_cidrs=None, networks=None, ipv4_prefix=DEFAULT_IPV4_PREFIX, ipv6_prefix=DEFAULT_IPV6_PREFIX):
        self.internal = _parse_cidrs(DEFAULT_INTERNAL_CIDRS if internal_cidrs is None else internal_cidrs,
                                     'internal_cidrs', '"10.0.0.0/8", "192.168.0.0/16"')
        self.cidrs = _parse_cidrs(networks, 'networks', '"192.168.1.0/24"')
        self.cidrs.sort(key=lambda net: (-net.prefixlen, net.version, int(net.network_address)))
        self.prefix = {4: _check_prefix(ipv4_prefix, 'ipv4_prefix', 4), 6: _check_prefix(ipv6_prefix, 'ipv6_prefix', 6)}
        self._internal = [_masked(net) for net in self.internal]
        self._cidrs = [_masked(net) + (str(net),) for net in self.cidrs]
        self._fallback = {}

    def is_internal(self, ip):
        """``ip`` (an ``ipaddress`` address) lies in ``internal_cidrs``."""
        value = int(ip)
        return any(version == ip.version and value & mask == network for version, mask, network in self._internal)

    def network_of(self, ip):
        """The network ``ip`` (an ``ipaddress`` address) sits on, as its text: one object per network."""
        value = int(ip)
        for version, mask, network, text in self._cidrs:
            if version == ip.version and value & mask == network:
                return text
        prefix = self.prefix[ip.version]
        bits = _BITS[ip.version]
        key = (ip.version, value >> (bits - prefix))
        text = self._fallback.get(key)
        if text is None:
            text = self._fallback[key] = str(ipaddress.ip_network('%s/%d' % (ip, prefix), strict=False))
        return text


# --------------------------------------------------------------------------------------------
# addresses


class _Address:
    """One distinct address of a planning run, with what the planner asks of it computed once.

    ``_AddressBook`` hands out a single object per address, so identity is equality: dicts and sets
    of them hash by identity instead of calling ``ipaddress``'s Python-level hash and compare.
    """

    __slots__ = ('ip', 'version', 'text', 'host_text', 'sort_key', 'usable', 'internal', 'network')

    def __init__(self, ip, networks):
        self.ip = ip
        self.version = ip.version
        self.text = str(ip)
        self.host_text = '[%s]' % self.text if ':' in self.text else self.text
        self.sort_key = ip_sort_key(ip)
        # an address a host can be known by: loopback, link-local and the like never map to one host
        self.usable = not (ip.is_loopback or ip.is_link_local or ip.is_unspecified or ip.is_multicast)
        self.internal = networks.is_internal(ip)
        self.network = networks.network_of(ip)     # its text, one object per network


class _AddressBook:
    """Parses addresses once: one ``_Address`` per distinct address, looked up by its text."""

    def __init__(self, networks):
        self.networks = networks
        self._by_text = {}      # also None and other values that are no address
        self._by_value = {}     # (version, integer): the aliases of one address (::ffff:a.b.c.d, a.b.c.d) share it

    def parse(self, value):
        """The ``_Address`` for address text (or an ``ipaddress`` address), None when it is not one."""
        try:
            return self._by_text[value]
        except KeyError:
            address = self._by_text[value] = self.intern(parse_ip(value))
            return address
        except TypeError:  # unhashable, so no address
            return None

    def intern(self, ip):
        if ip is None:
            return None
        key = (ip.version, int(ip))
        address = self._by_value.get(key)
        if address is None:
            address = self._by_value[key] = _Address(ip, self.networks)
        return address


def _endpoint(address, port):
    """``ip:port`` of an ``_Address`` like ``_addresses.endpoint`` (IPv6 in brackets; no port: the address alone)."""
    return address.host_text if port is None else '%s:%s' % (address.host_text, port)


def _forward_network(value):
    """A forward's public network for 'a.b.c.d/n' (None otherwise: an address, or no forward address)."""
    if not isinstance(value, str) or '/' not in value:
        return None
    try:
        return parse_network(value)
    except ValueError:
        return None


# --------------------------------------------------------------------------------------------
# records: the facts of one host, read once


class Forward:
    """One port forward (DNAT) of a gateway, or of the ``forwards`` option.

    Follows nat_rules_info: ``proto`` null matches every protocol, ``public_ip`` may be an address,
    a network, or null (the gateway's own addresses), ``public_port`` null forwards every port,
    ``public_port_end`` closes a range, ``private_port`` null keeps the port.
    """

    def __init__(self, gateway, item, gateway_ips, book):
        self.gateway = gateway
        self.proto = str(item['proto']).lower() if item.get('proto') else None
        self.public_ip = book.parse(item.get('public_ip'))
        self.public_net = None if self.public_ip is not None else _forward_network(item.get('public_ip'))
        if self.public_net is not None and self.public_net.num_addresses == 1:
            self.public_ip, self.public_net = book.intern(self.public_net.network_address), None
        self.public_port = _int(item.get('public_port'))
        self.public_port_end = _int(item.get('public_port_end'))
        self.private_ip = book.parse(item.get('private_ip'))
        self.private_port = _int(item.get('private_port'))
        self.private_port_end = _int(item.get('private_port_end'))
        self.gateway_ips = gateway_ips

    def valid(self):
        return self.private_ip is not None

    def covers_ip(self, address):
        if self.public_ip is not None:
            return address is self.public_ip
        if self.public_net is not None:
            return address.version == self.public_net.version and address.ip in self.public_net
        return address in self.gateway_ips

    def matches(self, address, port, proto):
        if self.proto is not None and proto != self.proto:
            return False
        if port is None or not self.covers_ip(address):
            return False
        if self.public_port is None:
            return True
        last = self.public_port_end if self.public_port_end is not None else self.public_port
        return self.public_port <= port <= last

    def single_port(self):
        """The one public port of this forward, or None for ranges and all-port forwards."""
        if self.public_port is None or self.public_port_end not in (None, self.public_port):
            return None
        return self.public_port

    def ports_text(self):
        if self.public_port is None:
            return '*'
        if self.single_port() is None:
            return '%s-%s' % (self.public_port, self.public_port_end)
        return str(self.public_port)

    def backend_port(self, port):
        if self.private_port is None:
            return port
        if self.private_port_end is not None and self.public_port is not None and self.public_port_end is not None:
            return self.private_port + (port - self.public_port)
        return self.private_port

    def translated(self):
        """The private port differs from the public one (DNS cannot express that)."""
        return self.private_port is not None and self.private_port != self.public_port


# An outbound_flows.same_host entry whose listener is an app server.
_SameHost = namedtuple('_SameHost', 'ip port client listener connections')


class _Health:
    """conntrack_info (and hairpin_flows_info's counts) of one gateway or host, as the plan shows it."""

    __slots__ = ('is_gateway', 'available', 'count', 'max', 'buckets', 'usage', 'counters', 'hairpin_entries', 'share',
                 'writable', 'accounting', 'unobserved')

    def __init__(self, conntrack, flows, is_gateway):
        self.is_gateway = is_gateway
        ct = conntrack if _usable(conntrack) else {}
        stats = _mapping(ct.get('stats'))
        self.available = bool(ct.get('available')) if ct else False
        self.count = _int(ct.get('count'))
        self.max = _int(ct.get('max'))
        self.buckets = _int(ct.get('buckets'))
        usage = _num(ct.get('usage'))
        if usage is None and self.count is not None and self.max:
            usage = self.count / float(self.max)
        self.usage = usage
        self.counters = {key: (_int(stats.get(key), 0) if self.available else None) for key in ('drop', 'insert_failed', 'early_drop')}
        self.hairpin_entries = None
        total = None
        if _usable(flows):
            self.hairpin_entries = _int(flows.get('hairpin_entries'))
            total = _int(flows.get('total_entries'))
        if not total:
            total = self.count
        self.share = None
        if self.hairpin_entries is not None and total:
            self.share = self.hairpin_entries / float(total)
        elif self.hairpin_entries == 0:
            self.share = 0.0
        self.writable = ct.get('writable') if ct else None   # as reported; the plan shows it as a bool
        accounting = ct.get('accounting')
        self.accounting = accounting if isinstance(accounting, bool) else None   # None: not reported (older facts)
        if _failed(conntrack):
            self.unobserved = 'conntrack not observed: %s' % (conntrack.get('msg') or 'the module failed')
        elif conntrack is None:
            self.unobserved = 'conntrack not observed: conntrack_info did not run on this host'
        else:
            self.unobserved = 'conntrack not observed: nf_conntrack is not loaded in this network namespace'


class _Host:
    """One host's facts: records of what several stages consult, and the entries one stage reads.

    An unreachable host (no facts) has empty ones.
    """

    __slots__ = ('name', 'usable_addresses', 'inside', 'forwards', 'conntrack_pairs', 'pairs_counted', 'to_public', 'same_host',
                 'answers', 'health', 'not_observed')

    def __init__(self, name):
        self.name = name
        self.usable_addresses = []      # own addresses that can name this host (no loopback, link-local, ...), sorted
        self.inside = {4: [], 6: []}    # those that are internal, per IP version: where its connections leave from
        self.forwards = []
        self.same_host = []
        self.health = None              # None: neither a gateway nor reporting conntrack
        self.not_observed = []          # (source, reason)
        # Entries as the facts hold them (dicts), each read by the one stage that uses it.
        self.conntrack_pairs = []       # hairpin_flows pairs, or its flows when a result has no pairs: _gateway_pairs
        self.pairs_counted = True       # the entries carry a connection count (pairs do, flows count once)
        self.to_public = []             # outbound_flows.to_public: _client_pairs
        self.answers = []               # dns_answers.answers: _collect_names


def _read_host(name, facts, book):
    host = _Host(name)
    if not facts:
        host.not_observed.append(('all', 'no hairpin_detect_facts facts: host unreachable or detection skipped'))
        return host
    outbound = facts.get('outbound_flows')
    own = set(book.parse(value) for value in [*_listed(facts.get('addresses')), *_listed(_mapping(outbound).get('local_addresses'))])
    host.usable_addresses = sorted((address for address in own if address is not None and address.usable),
                                   key=lambda address: address.sort_key)
    for address in host.usable_addresses:
        if address.internal:
            host.inside[address.version].append(address)

    nat = facts.get('nat_rules')
    listed_forwards = _items(nat.get('forwards')) if _usable(nat) else []
    gateway_ips = frozenset(host.usable_addresses)
    host.forwards = [fwd for fwd in (Forward(name, item, gateway_ips, book) for item in listed_forwards) if fwd.valid()]

    flows = facts.get('hairpin_flows')
    if _usable(flows):
        # a result without the aggregate: count the (capped) flows themselves
        host.pairs_counted = 'pairs' in flows
        host.conntrack_pairs = _items(flows.get('pairs') if host.pairs_counted else flows.get('flows'))
    if _usable(outbound):
        host.to_public = _items(outbound.get('to_public'))
        host.same_host = _read_same_host(outbound, book)
    dns = facts.get('dns_answers')
    if _usable(dns):
        host.answers = _items(dns.get('answers'))

    conntrack = facts.get('conntrack')
    is_gateway = bool(listed_forwards) or _usable(flows)
    if is_gateway or conntrack is not None:
        host.health = _Health(conntrack, flows, is_gateway)
    host.not_observed = _unobserved_sources(facts)
    return host


def _read_same_host(outbound, book):
    result = []
    for item in _items(outbound.get('same_host')):
        ip = book.parse(item.get('remote_ip'))
        port = _int(item.get('remote_port'))
        listener = item.get('listener_process')
        if ip is None or port is None or not same_host_candidate(listener):
            continue
        result.append(_SameHost(ip, port, item.get('client_process'), listener, max(_int(item.get('connections'), 1), 0)))
    return result


def _unobserved_sources(facts):
    result = []
    for source in SOURCES:
        value = facts.get(source)
        if value is None:
            continue
        if not _is_mapping(value):
            result.append((source, 'unexpected value (not a dict)'))
        elif value.get('failed'):
            result.append((source, str(value.get('msg') or 'the module failed')))
        elif source == 'conntrack' and value.get('available') is False:
            # conntrack_info's own key; hairpin_flows and nat_rules say why in msg
            result.append((source, str(value.get('message') or 'nf_conntrack not loaded here')))
        elif source == 'hairpin_flows' and value.get('available') is False:
            result.append((source, str(value.get('msg') or 'conntrack table not readable here')))
    return result


# --------------------------------------------------------------------------------------------
# indexes over all hosts


def _address_owners(hosts):
    """``{address: host name}`` for addresses owned by exactly one host (loopback/link-local never map)."""
    owners = {}
    for host in hosts:
        for address in host.usable_addresses:
            owners.setdefault(address, set()).add(host.name)
    return {address: next(iter(names)) for address, names in owners.items() if len(names) == 1}


class _ForwardIndex:
    """Every forward, looked up by public address, or by address, port and protocol.

    Rule order (gateways by name, then the ``forwards`` option) decides between forwards that
    overlap: the first that matches wins.
    """

    def __init__(self, forwards):
        self._position = {fwd: number for number, fwd in enumerate(forwards)}
        self._by_address = {}   # forwards on one address, or on their gateway's own addresses
        self._by_network = {}   # (version, prefix length): {network as an integer: forwards}
        for fwd in forwards:
            if fwd.public_ip is not None:
                self._by_address.setdefault(fwd.public_ip, []).append(fwd)
            elif fwd.public_net is not None:
                net = fwd.public_net
                table = self._by_network.setdefault((net.version, net.prefixlen), {})
                table.setdefault(int(net.network_address), []).append(fwd)
            else:
                for address in fwd.gateway_ips:
                    self._by_address.setdefault(address, []).append(fwd)
        self._at = {}
        self._found = {}

    def at(self, address):
        """The forwards answering on ``address``, in rule order."""
        found = self._at.get(address)
        if found is None:
            found = list(self._by_address.get(address, ()))
            value = int(address.ip)
            for (version, prefix), table in self._by_network.items():
                if version == address.version:
                    found.extend(table.get(value >> (_BITS[version] - prefix) << (_BITS[version] - prefix), ()))
            if len(found) > 1:
                found.sort(key=self._position.__getitem__)
            self._at[address] = found
        return found

    def covered(self, address):
        """Some forward answers on ``address`` (a forward map is known for that address)."""
        return bool(self.at(address))

    def find(self, address, port, proto):
        key = (address, port, proto)
        try:
            return self._found[key]
        except KeyError:
            pass
        fwd = next((fwd for fwd in self.at(address) if fwd.matches(address, port, proto)), None)
        self._found[key] = fwd
        return fwd


def _read_forwards(hosts, extra_forwards, book):
    forwards = [fwd for host in hosts for fwd in host.forwards]
    if extra_forwards is not None:
        if not isinstance(extra_forwards, (list, tuple)):
            raise PlanError('forwards must be a list of port forwards like nat_rules_info returns '
                            '({proto, public_ip, public_port, private_ip, private_port}), got %s' % type(extra_forwards).__name__)
        for index, item in enumerate(extra_forwards):
            if not isinstance(item, Mapping):
                raise PlanError('forwards[%d] is not a dict' % index)
            fwd = Forward(item.get('gateway'), item, frozenset(), book)
            if (fwd.public_ip is None and fwd.public_net is None) or fwd.public_port is None or not fwd.valid():
                raise PlanError('forwards[%d] needs public_ip, public_port and private_ip (e.g. a cloud NAT rule '
                                '{public_ip: 203.0.113.7, public_port: 443, private_ip: 10.0.0.5, private_port: 8443}); got %r'
                                % (index, dict(item)))
            forwards.append(fwd)
    return _ForwardIndex(forwards)


# --------------------------------------------------------------------------------------------
# pairs


class _Pair:
    """A client host (or address) reaching a public endpoint; every sighting names the client's address."""

    __slots__ = ('client_host', 'client_ip', 'client_process', 'proto', 'public_ip', 'public_port', 'backend_ip', 'backend_port',
                 'gateway', 'seen', 'conn_gateway', 'conn_client', 'names')

    def __init__(self, client_host, client_ip, proto, public_ip, public_port):
        self.client_host = client_host
        self.client_ip = client_ip
        self.client_process = None
        self.proto = proto
        self.public_ip = public_ip
        self.public_port = public_port
        self.backend_ip = None
        self.backend_port = None
        self.gateway = None     # the first by name of the gateways that saw it
        self.seen = 0           # _BY_* bits
        self.conn_gateway = 0
        self.conn_client = 0
        self.names = ()         # the _Name entries that answer with its public address, by name (shared per endpoint)

    def client_label(self):
        return self.client_host or self.client_ip.text

    def sort_key(self):
        return (self.client_label(), self.client_ip.sort_key, self.public_ip.sort_key, self.public_port, self.proto)


class _PairTable:
    """The pairs by (client, proto, public address, public port); the client is its host, or its address when no host owns it.

    A host name (a str) never equals an ``_Address``, so the two kinds of client share the key's first place.
    """

    def __init__(self, owners):
        self.owners = owners
        self.pairs = {}

    def get(self, client_host, client_ip, proto, public_ip, public_port):
        if client_host is None:
            client_host = self.owners.get(client_ip)
        key = (client_host or client_ip, proto, public_ip, public_port)
        pair = self.pairs.get(key)
        if pair is None:
            pair = self.pairs[key] = _Pair(client_host, client_ip, proto, public_ip, public_port)
        return pair

    def has(self, client_host, proto, public_ip, public_port):
        return (client_host, proto, public_ip, public_port) in self.pairs


def _choose_client_ip(host, remote_ip, backend_ip):
    """The host's own address a connection to ``remote_ip`` most likely left from."""
    candidates = host.inside[remote_ip.version]
    if not candidates:
        return None
    if backend_ip is not None:
        for address in candidates:
            if address.network is backend_ip.network:
                return address
    return candidates[0]


def _gateway_pairs(hosts, table, book):
    """The pairs the gateways' conntrack saw: client -> public address -> backend."""
    parse = book.parse
    for host in hosts:
        for item in host.conntrack_pairs:
            client_ip = parse(item.get('client_ip'))
            public_ip = parse(item.get('public_ip'))
            public_port = _int(item.get('public_port'))
            if client_ip is None or public_ip is None or public_port is None:
                continue
            proto = item.get('proto')
            pair = table.get(None, client_ip, str(proto).lower() if proto else 'tcp', public_ip, public_port)
            pair.client_ip = client_ip
            backend_ip = parse(item.get('backend_ip'))
            if backend_ip is not None:
                pair.backend_ip = backend_ip
                pair.backend_port = _int(item.get('backend_port'), public_port)
            if pair.gateway is None or host.name < pair.gateway:
                pair.gateway = host.name
            pair.seen |= _BY_GATEWAY
            pair.conn_gateway += max(_int(item.get('connections'), 1), 0) if host.pairs_counted else 1


def _client_pairs(hosts, table, forwards, listed_public, book):
    """The pairs the clients' sockets saw: connections to a forward's public address (or a listed one)."""
    parse = book.parse
    for host in hosts:
        for item in host.to_public:
            remote_ip = parse(item.get('remote_ip'))
            remote_port = _int(item.get('remote_port'))
            if remote_ip is None or remote_port is None:
                continue
            proto = item.get('proto')
            proto = str(proto).lower() if proto else 'tcp'
            fwd = forwards.find(remote_ip, remote_port, proto)
            if fwd is None and (forwards.covered(remote_ip) or remote_ip not in listed_public):
                # A known gateway address without a forward on that port, or a public address no
                # forward covers and nobody listed (the internet): not a hairpin.
                continue
            if fwd is not None and fwd.gateway == host.name:
                continue  # the gateway talking to its own forward is local DNAT, not a hairpin
            client_ip = parse(item.get('local_ip'))
            if client_ip is None:
                client_ip = _choose_client_ip(host, remote_ip, fwd.private_ip if fwd else None)
            if client_ip is None or not client_ip.internal:
                continue  # an outside client using the public address as intended
            pair = table.get(host.name, client_ip, proto, remote_ip, remote_port)
            pair.seen |= _BY_CLIENT
            pair.conn_client += max(_int(item.get('connections'), 1), 0)
            process = item.get('process')
            if process and not pair.client_process:
                pair.client_process = str(process)


class _Name:

    def __init__(self, name, ports):
        self.name = name
        self.ports = ports      # the ports name_ports allows, None for all
        self.public_ips = set()
        self.resolved_by = set()
        self.forwards = []      # [(public address, Forward)] the name can reach (name_ports applied)
        self.backend = None     # the one backend host (or address) behind all of them; None when there are several
        self.safe = False       # a private answer breaks none of them
        self.pair_ids = set()


def _collect_names(hosts, forwards, owners, name_ports, book):
    """The names hosts resolved to a forward's public address, or to a listed public address no host owns."""
    names = {}
    parse = book.parse
    for host in hosts:
        for item in host.answers:
            name = str(item.get('name') or '').rstrip('.').lower()
            if not name:
                continue
            addresses = item.get('addresses') or []
            if not isinstance(addresses, (list, tuple)):
                addresses = [addresses]
            public_match = item.get('public_match')
            for value in addresses:
                address = parse(value)
                if address is not None and (forwards.covered(address) or (public_match and address not in owners)):
                    entry = names.get(name)
                    if entry is None:
                        entry = names[name] = _Name(name, name_ports.get(name))
                    entry.public_ips.add(address)
                    entry.resolved_by.add(host.name)
    return names


def _name_forwards(entry, forwards):
    result = []
    for address in sorted(entry.public_ips, key=lambda item: item.sort_key):
        for fwd in forwards.at(address):
            if entry.ports is not None and not any(fwd.matches(address, port, fwd.proto) for port in entry.ports):
                continue
            result.append((address, fwd))
    return result


def _dns_pairs(names, table, hosts_by_name):
    """A host that resolved a name to a forward's public address is a client of that forward."""
    for name in sorted(names):
        entry = names[name]
        # ranges and all-port forwards are left out: DNS alone does not say which port
        endpoints = [(address, fwd.single_port(), fwd.proto or 'tcp', fwd) for address, fwd in entry.forwards
                     if fwd.single_port() is not None]
        if not endpoints:
            continue
        for host_name in sorted(entry.resolved_by):
            host = hosts_by_name[host_name]
            for address, port, proto, fwd in endpoints:
                if fwd.gateway == host_name or table.has(host_name, proto, address, port):
                    continue  # the gateway's own forward is local DNAT; a pair already seen stays as it is
                client_ip = _choose_client_ip(host, address, fwd.private_ip)
                if client_ip is None:
                    continue  # no internal address: the host resolves the name from outside
                table.get(host_name, client_ip, proto, address, port)


def _attach_names(names, table):
    """Candidate names per pair: they answer with its public address (and name_ports allows its port)."""
    by_endpoint = {}    # (address, port) -> names limited to some ports
    by_address = {}     # address -> names valid on every port
    for entry in names.values():
        for address in entry.public_ips:
            if entry.ports is None:
                by_address.setdefault(address, []).append(entry)
            else:
                for port in entry.ports:
                    by_endpoint.setdefault((address, port), []).append(entry)
    at_endpoint = {}    # (address, port) -> its names, sorted: many pairs share an endpoint
    for pair in table.pairs.values():
        endpoint = (pair.public_ip, pair.public_port)
        entries = at_endpoint.get(endpoint)
        if entries is None:
            entries = at_endpoint[endpoint] = sorted([*by_address.get(pair.public_ip, ()), *by_endpoint.get(endpoint, ())],
                                                     key=lambda entry: entry.name)
        pair.names = entries
        if pair.client_host:
            for entry in entries:
                if pair.client_host in entry.resolved_by:
                    pair.seen |= _BY_DNS
                    break


def _split_names(pair, pair_id, backend_key, fix):
    """(names, other_names) of a pair.

    A name belongs to the pair when every forward it can reach goes to this pair's backend and,
    for a split_dns pair, a private answer breaks none of them; so a split-DNS consumer can answer
    ``backend.ip`` for each of ``public.names`` without breaking anything. Names that answer with
    the public address but cannot be attributed are ``other_names`` (see the plan's ``names``).
    """
    own = []
    other = []
    for entry in pair.names:
        if entry.forwards:
            mine = entry.backend is not None and entry.backend == backend_key and (fix != 'split_dns' or entry.safe)
        else:
            mine = fix is None  # no forward map at all: keep the name for information only
        if mine:
            own.append(entry.name)
            entry.pair_ids.add(pair_id)
        else:
            other.append(entry.name)
    return own, other


# --------------------------------------------------------------------------------------------
# decisions


def decide(relation, port_translated):
    """The fix for one pair (the decision table in the module docstring), before names are known."""
    if relation == 'same_host':
        return 'local_shortcut'
    if relation not in ('same_network', 'routed'):
        return None
    return 'local_shortcut' if port_translated else 'split_dns'


def _names_note(own, other, backend_ip):
    if not own and not other:
        return ('; no DNS name was seen answering with this public address: if clients dial the address itself, '
                'give the detect role the names they use, or apply local_shortcut')
    note = ''
    if own:
        note += '; answer %s for %s' % (backend_ip.text, ', '.join(own))
    if other:
        note += ('; %s also reach%s other forwards, so a private answer would break them (see names[]): '
                 'tell the planner which ports each name serves (name_ports)'
                 % (', '.join(other), 'es' if len(other) == 1 else ''))
    return note


def _pair_reason(pair, relation, fix, names, known_forward, public, backend):
    if fix is None:
        return ('backend unknown: no gateway conntrack entry and no known forward for %s/%s (cloud NAT?); '
                'run detection on the gateway or pass its forward map to the planner (forwards=)' % (public, pair.proto))
    if relation == 'same_host':
        return ('client and backend are the same host (%s): it reaches itself through %s and the gateway; '
                'send %s straight to its own %s' % (pair.client_label(), public, public, backend))
    if fix == 'local_shortcut' and pair.backend_port != pair.public_port:
        return ('public port %s is translated to %s: a private DNS answer alone would make the client dial %s, '
                'so send %s straight to %s on the client' % (pair.public_port, pair.backend_port,
                                                             _endpoint(pair.backend_ip, pair.public_port), public, backend))
    if fix == 'local_shortcut':
        text = ('no DNS name answers for this backend alone (the client dials %s itself, or its names reach other '
                'forwards too): send %s straight to %s on the client' % (public, public, backend))
        if names[1]:
            text += ('; %s also reach other forwards: tell the planner which ports each name serves (name_ports) '
                     'to fix this with split DNS instead' % ', '.join(names[1]))
        return text
    # split_dns
    if relation == 'same_network':
        text = ('client and backend share %s and the port is not translated: private DNS answers remove the hairpin'
                % pair.client_ip.network)
    else:
        text = ('client (%s) and backend (%s) are on different internal networks and the port is not translated: '
                'a private DNS answer removes the hairpin when %s is routable from the client'
                % (pair.client_ip.network, pair.backend_ip.network, pair.backend_ip.text))
    if not known_forward:
        text += ' (forward not in any rule set read; backend taken from conntrack)'
    return text + _names_note(names[0], names[1], pair.backend_ip)


def _finish_pair(pair, forwards, owners, act_on_latent):
    fwd = forwards.find(pair.public_ip, pair.public_port, pair.proto)
    if fwd is not None and pair.backend_ip is None:
        pair.backend_ip = fwd.private_ip
        pair.backend_port = fwd.backend_port(pair.public_port)
    backend_ip = pair.backend_ip
    if backend_ip is None:
        backend_host = backend_key = backend_text = relation = None
    else:
        backend_host = owners.get(backend_ip)
        backend_key = backend_host or backend_ip.text
        backend_text = _endpoint(backend_ip, pair.backend_port)
        if (pair.client_host and pair.client_host == backend_host) or pair.client_ip is backend_ip:
            relation = 'same_host'
        elif pair.client_ip.network is backend_ip.network:
            relation = 'same_network'
        else:
            relation = 'routed'
    translated = None if pair.backend_port is None else pair.backend_port != pair.public_port
    fix = decide(relation, translated)
    public_text = _endpoint(pair.public_ip, pair.public_port)
    pair_id = '%s->%s/%s' % (pair.client_label(), public_text, pair.proto)
    own, other = _split_names(pair, pair_id, backend_key, fix)
    if fix == 'split_dns' and not own:
        # No name answers for this backend alone: DNS cannot carry the fix, a local path can.
        fix = 'local_shortcut'
        own, other = _split_names(pair, pair_id, backend_key, fix)
    # the gateway whose conntrack saw it, else the one whose forward it reaches
    gateway = pair.gateway if pair.gateway is not None else (fwd.gateway if fwd is not None else None)
    finding = {
        'id': pair_id,
        'client': {'host': pair.client_host, 'ip': pair.client_ip.text, 'process': pair.client_process},
        'public': {'ip': pair.public_ip.text, 'port': pair.public_port, 'proto': pair.proto, 'names': own, 'other_names': other},
        'backend': {'host': backend_host, 'ip': backend_ip.text if backend_ip is not None else None, 'port': pair.backend_port},
        'gateway': gateway,
        'seen_by': list(_SEEN_BY[pair.seen]),
        'connections': max(pair.conn_gateway, pair.conn_client),
        'relation': relation,
        'port_translated': translated,
        'fix': fix,
        'reason': _pair_reason(pair, relation, fix, (own, other), fwd is not None, public_text, backend_text),
        'status': 'active' if pair.seen & _ACTIVE else 'latent',
    }
    finding['recommendation'] = pair_recommendation(finding, act_on_latent)
    return finding


def _names_out(names, forwards, owners):
    result = {}
    for name in sorted(names):
        entry = names[name]
        entry.forwards = _name_forwards(entry, forwards)
        reached = []
        backends = set()
        translated = []
        for address, fwd in entry.forwards:
            label = '%s/%s' % (_endpoint(address, fwd.ports_text()), fwd.proto or 'any')
            target = _endpoint(fwd.private_ip, fwd.private_port)
            reached.append('%s -> %s' % (label, target))
            backends.add(owners.get(fwd.private_ip) or fwd.private_ip.text)
            if fwd.translated():
                translated.append(label)
        if len(backends) == 1:
            entry.backend = next(iter(backends))
        private = []
        public_ips = sorted(entry.public_ips, key=lambda address: address.sort_key)
        if not entry.forwards:
            reason = 'no known forward answers on %s: nothing to point the name at' % ', '.join(address.text for address in public_ips)
        elif len(backends) > 1:
            reason = 'the name reaches forwards to different backends (%s): a private answer would break some of them' % '; '.join(reached)
        elif translated:
            reason = 'port translated on %s: a private answer would make clients dial the public port on the backend' % ', '.join(translated)
        else:
            private = [address.text for address in sorted(set(fwd.private_ip for _address, fwd in entry.forwards),
                                                          key=lambda address: address.sort_key)]
            reason = 'every forward the name reaches goes to %s without port translation: answer %s inside' % (
                sorted(backends)[0], ', '.join(private))
        entry.safe = bool(private)
        result[name] = {
            'name': name,
            'public_ips': [address.text for address in public_ips],
            'resolved_by': sorted(entry.resolved_by),
            'forwards': reached,
            'private_answers': private,
            'reason': reason,
        }
    return result


def _same_host(hosts):
    """Same-host TCP an app server answers: Unix-socket findings (a front end's own listener is none)."""
    rows = []
    for host in hosts:
        for item in host.same_host:
            address = _endpoint(item.ip, item.port)
            entry = {
                'id': '%s->%s/tcp' % (host.name, address),
                'host': host.name,
                'ip': item.ip.text,
                'port': item.port,
                'client_process': item.client,
                'listener_process': item.listener,
                'connections': item.connections,
                'status': 'active',
                'fix': 'unix_socket',
                'reason': '%s reaches %s over TCP %s on the same host (%d connection%s, each a conntrack entry and a TCP '
                          'stack round trip): serve and connect over a Unix socket'
                          % (item.client or 'a local client', item.listener, address, item.connections,
                             '' if item.connections == 1 else 's'),
            }
            entry['recommendation'] = pair_recommendation(entry, act_on_latent=False)
            rows.append(((host.name, item.ip.sort_key, item.port, item.client or '', item.listener or ''), entry))
    rows.sort(key=lambda row: row[0])
    return [entry for _key, entry in rows]


def _gateways(hosts, usage_threshold):
    result = []
    for host in hosts:
        health = host.health
        if health is None:
            continue
        entry = {
            'host': host.name,
            'is_gateway': health.is_gateway,
            'available': health.available,
            'count': health.count,
            'max': health.max,
            'buckets': health.buckets,
            'usage': _ratio(health.usage),
            'drop': health.counters['drop'],
            'insert_failed': health.counters['insert_failed'],
            'early_drop': health.counters['early_drop'],
            'hairpin_entries': health.hairpin_entries,
            'hairpin_share': _ratio(health.share),
            'writable': None if health.writable is None else bool(health.writable),
            'accounting': health.accounting,
            'fix': None,
            'reason': '',
            'recommendation': None,
        }
        if not health.available:
            entry['reason'] = health.unobserved
            result.append(entry)
            continue
        problems = []
        if health.usage is not None and health.usage >= usage_threshold:
            problems.append('table %s full (%s of %s, threshold %s)' % (format_percent(health.usage), health.count, health.max,
                                                                        format_percent(usage_threshold)))
        for key in ('drop', 'insert_failed', 'early_drop'):
            if health.counters[key]:
                problems.append('%s %d' % (key, health.counters[key]))
        hairpin = ''
        if health.hairpin_entries is not None:
            hairpin = '; hairpin flows hold %d entr%s (%s of the table)' % (
                health.hairpin_entries, 'y' if health.hairpin_entries == 1 else 'ies', format_percent(health.share))
        if health.hairpin_entries and health.accounting is False:
            hairpin += ACCOUNTING_OFF
        if problems:
            entry['fix'] = 'conntrack_headroom'
            text = 'at risk: %s: raise nf_conntrack_max and the hash buckets' % ', '.join(problems)
            if health.writable is False:
                text += ' (read-only in this network namespace: set them on the host or in the initial namespace)'
            entry['reason'] = text + hairpin
            entry['recommendation'] = gateway_recommendation(entry)
        else:
            entry['reason'] = 'healthy: %s of max %s used, no drops or insert failures%s' % (
                format_percent(health.usage), health.max, hairpin)
        result.append(entry)
    return result


def _not_observed(hosts):
    return [{'host': host.name, 'source': source, 'reason': reason} for host in hosts for source, reason in host.not_observed]


@contextlib.contextmanager
def _collector_paused():
    """Pause CPython's cyclic garbage collector while the plan is built, then restore it as it was.

    Planning allocates a few containers per fact, and the plan keeps about eight per pair. Every
    time the surviving containers grow the heap by a quarter, the collector walks the whole heap
    again, the caller's facts included: on a fleet of 1,000 hosts three such walks cost about as
    much as the planning itself (bench/results/plan_scale.md). The planner builds no reference
    cycles (records point at addresses and forwards, never back; only ``ipaddress``'s objects for
    two-address networks, as in a /31 forward, hold one each), so there is next to nothing for the
    collector meanwhile; the caller's next collection examines the plan's objects once.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


@_collector_paused()
def build_plan(facts, internal_cidrs=None, networks=None, usage_threshold=None, ipv4_prefix=DEFAULT_IPV4_PREFIX,
               ipv6_prefix=DEFAULT_IPV6_PREFIX, name_ports=None, forwards=None, public_addresses=None, act_on_latent=False):
    """Return the plan (version 2) for ``facts`` (see :func:`normalize_facts` for the accepted forms).

    ``act_on_latent``: latent pairs (seen in DNS answers only) get automatic recommendations too;
    by default a person decides on them (manual), since nothing uses that path yet.
    """
    if not isinstance(act_on_latent, bool):
        raise PlanError('act_on_latent must be true or false, got %r' % (act_on_latent,))
    raw = normalize_facts(facts)
    book = _AddressBook(Networks(internal_cidrs, networks, ipv4_prefix, ipv6_prefix))
    threshold = _check_threshold(usage_threshold)
    ports = _check_name_ports(name_ports)
    hosts = [_read_host(name, raw[name], book) for name in sorted(raw)]
    owners = _address_owners(hosts)
    fwds = _read_forwards(hosts, forwards, book)
    listed_public = _check_public_addresses(public_addresses, book)

    table = _PairTable(owners)
    _gateway_pairs(hosts, table, book)
    _client_pairs(hosts, table, fwds, listed_public, book)
    names = _collect_names(hosts, fwds, owners, ports, book)
    names_out = _names_out(names, fwds, owners)
    _dns_pairs(names, table, {host.name: host for host in hosts})
    _attach_names(names, table)
    pairs = [_finish_pair(pair, fwds, owners, act_on_latent) for pair in sorted(table.pairs.values(), key=_Pair.sort_key)]
    for name, entry in names.items():
        names_out[name]['pairs'] = sorted(entry.pair_ids)
    same_host = _same_host(hosts)
    gateways = _gateways(hosts, threshold)
    not_observed = _not_observed(hosts)

    # one pass over the findings: the plan of a large fleet holds tens of thousands
    by_fix = {kind: 0 for kind in FIX_KINDS}
    by_mode = {'automatic': 0, 'manual': 0}
    for item in itertools.chain(pairs, same_host, gateways):
        if item['fix'] in by_fix:
            by_fix[item['fix']] += 1
        if item['recommendation']:
            by_mode[item['recommendation']['mode']] += 1
    by_status = {'active': 0, 'latent': 0}
    connections = unplanned = 0
    for pair in pairs:
        by_status[pair['status']] += 1
        connections += pair['connections']
        if pair['fix'] is None:
            unplanned += 1
    summary = {
        'hosts': len(hosts),
        'pairs': len(pairs),
        'active_pairs': by_status['active'],
        'latent_pairs': by_status['latent'],
        'automatic': by_mode['automatic'],
        'manual': by_mode['manual'],
        'same_host': len(same_host),
        'hairpin_connections': connections,
        'by_fix': by_fix,
        'unplanned_pairs': unplanned,
        'gateways': sum(1 for gw in gateways if gw['is_gateway']),
        'gateways_at_risk': sum(1 for gw in gateways if gw['fix'] == 'conntrack_headroom'),
        'not_observed': len(not_observed),
    }
    return {
        'version': PLAN_VERSION,
        'pairs': pairs,
        'names': [names_out[name] for name in sorted(names_out)],
        'same_host': same_host,
        'gateways': gateways,
        'not_observed': not_observed,
        'summary': summary,
    }
