# -*- coding: utf-8 -*-
# Copyright (c) 2026 keeplocal.traffic contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Build the hairpin plan (version 2) from every host's ``hairpin_detect_facts`` facts.

Pure functions, controller side, stdlib only (``ipaddress``). The input is what the detect role
gathered on each host; the output is the plan documented in docs/architecture.md. Nothing here
does I/O, and the output is deterministic: same facts, same plan (sorted lists, fixed keys).

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

import ipaddress
from collections.abc import Mapping

from ansible_collections.keeplocal.traffic.plugins.module_utils._addresses import (
    DEFAULT_INTERNAL_CIDRS,
    endpoint,
    ip_sort_key,
    parse_ip,
)
from ansible_collections.keeplocal.traffic.plugins.plugin_utils._recommend import (
    gateway_recommendation,
    pair_recommendation,
    same_host_candidate,
)

PLAN_VERSION = 2
FIX_KINDS = ('unix_socket', 'split_dns', 'local_shortcut', 'conntrack_headroom')
SEEN_BY_ORDER = ('gateway_conntrack', 'client_socket', 'dns_answer')
# Sightings of traffic; a pair seen only in DNS answers is latent: it hairpins once it is used.
ACTIVE_SIGHTINGS = frozenset(('gateway_conntrack', 'client_socket'))
RELATIONS = ('same_host', 'same_network', 'routed')
SOURCES = ('nat_rules', 'conntrack', 'hairpin_flows', 'outbound_flows', 'dns_answers')
DEFAULT_USAGE_THRESHOLD = 0.7
DEFAULT_IPV4_PREFIX = 24
DEFAULT_IPV6_PREFIX = 64


class PlanError(ValueError):
    """Bad planner input; the message names the option or fact and the fix."""


# --------------------------------------------------------------------------------------------
# small helpers


def _int(value, default=None):
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


def _mapping(value):
    return value if isinstance(value, Mapping) else {}


def _items(value):
    """The list items of ``value`` that are mappings (anything else is ignored)."""
    if not isinstance(value, (list, tuple)):
        return []
    return [item for item in value if isinstance(item, Mapping)]


def _failed(source):
    return isinstance(source, Mapping) and bool(source.get('failed'))


def _sources(hosts, source):
    """(host, facts, result) for every host whose ``source`` result is usable, in host order."""
    for host in sorted(hosts):
        facts = hosts[host]
        result = facts.get(source) if facts else None
        if isinstance(result, Mapping) and not _failed(result):
            yield host, facts, result


def _sorted_seen_by(seen):
    return [kind for kind in SEEN_BY_ORDER if kind in seen]


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
# input normalisation


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
            number = _int(port)
            if number is None or not 0 < number < 65536:
                raise PlanError('name_ports[%s]: %r is not a port (1-65535)' % (name, port))
            parsed.add(number)
        result[str(name).rstrip('.').lower()] = parsed
    return result


def _check_public_addresses(value):
    if value is None:
        return set()
    if isinstance(value, str) or not isinstance(value, (list, tuple)):
        raise PlanError('public_addresses must be a list of IP addresses such as [198.51.100.1], got %r' % (value,))
    result = set()
    for item in value:
        ip = parse_ip(item)
        if ip is None:
            raise PlanError('public_addresses: %r is not an IP address (give addresses such as 198.51.100.1, no ports)' % (item,))
        result.add(ip)
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
            result.append(ipaddress.ip_network(str(cidr).strip(), strict=False))
        except ValueError:
            raise PlanError('%s: %r is not a network; write it as address/prefix, e.g. %s or fd00::/64'
                            % (option, cidr, example)) from None
    return result


class Networks:
    """Address classification for the planner.

    - ``internal_cidrs``: the ranges that count as inside (default RFC 1918, RFC 6598 shared space,
      IPv6 ULA, like ``hairpin_flows_info``). A host talking to a forward from an address outside
      them is an ordinary outside client, not a hairpin.
    - ``networks``: the subnets hosts sit on. Two addresses share a network when the most specific
      entry containing one also contains the other; addresses no entry covers fall back to their
      /``ipv4_prefix`` (default 24) or /``ipv6_prefix`` (default 64) network.
    """

    def __init__(self, internal_cidrs=None, networks=None, ipv4_prefix=DEFAULT_IPV4_PREFIX, ipv6_prefix=DEFAULT_IPV6_PREFIX):
        self.internal = _parse_cidrs(DEFAULT_INTERNAL_CIDRS if internal_cidrs is None else internal_cidrs,
                                     'internal_cidrs', '"10.0.0.0/8", "192.168.0.0/16"')
        self.cidrs = _parse_cidrs(networks, 'networks', '"192.168.1.0/24"')
        self.cidrs.sort(key=lambda net: (-net.prefixlen, net.version, int(net.network_address)))
        self.prefix = {4: _check_prefix(ipv4_prefix, 'ipv4_prefix', 4), 6: _check_prefix(ipv6_prefix, 'ipv6_prefix', 6)}

    def is_internal(self, ip):
        return ip is not None and any(ip.version == net.version and ip in net for net in self.internal)

    def network_of(self, ip):
        for net in self.cidrs:
            if ip.version == net.version and ip in net:
                return net
        return ipaddress.ip_network('%s/%d' % (ip, self.prefix[ip.version]), strict=False)

    def same(self, first, second):
        if first is None or second is None or first.version != second.version:
            return False
        return self.network_of(first) == self.network_of(second)


# --------------------------------------------------------------------------------------------
# indexes over all hosts


def _usable_host_ip(ip):
    return ip is not None and not (ip.is_loopback or ip.is_link_local or ip.is_unspecified or ip.is_multicast)


def host_addresses(facts):
    """A host's own addresses (facts.addresses + outbound_flows.local_addresses), as objects."""
    seen = set()
    for value in list(facts.get('addresses') or []) + list(_mapping(facts.get('outbound_flows')).get('local_addresses') or []):
        ip = parse_ip(value)
        if ip is not None:
            seen.add(ip)
    return sorted(seen, key=ip_sort_key)


def build_address_index(hosts):
    """``{ip: host}`` for addresses owned by exactly one host (loopback/link-local never map)."""
    owners = {}
    for host, facts in hosts.items():
        if not facts:
            continue
        for ip in host_addresses(facts):
            if _usable_host_ip(ip):
                owners.setdefault(ip, set()).add(host)
    return {ip: next(iter(names)) for ip, names in owners.items() if len(names) == 1}


def parse_network(value):
    """An ``ipaddress`` network for 'a.b.c.d/n' (None otherwise)."""
    if value is None or '/' not in str(value):
        return None
    try:
        return ipaddress.ip_network(str(value).strip(), strict=False)
    except ValueError:
        return None


class Forward:
    """One port forward (DNAT) of a gateway, or of the ``forwards`` option.

    Follows nat_rules_info: ``proto`` null matches every protocol, ``public_ip`` may be an address,
    a network, or null (the gateway's own addresses), ``public_port`` null forwards every port,
    ``public_port_end`` closes a range, ``private_port`` null keeps the port.
    """

    def __init__(self, gateway, item, gateway_ips):
        self.gateway = gateway
        self.proto = str(item['proto']).lower() if item.get('proto') else None
        self.public_ip = parse_ip(item.get('public_ip'))
        self.public_net = None if self.public_ip is not None else parse_network(item.get('public_ip'))
        if self.public_net is not None and self.public_net.num_addresses == 1:
            self.public_ip, self.public_net = self.public_net.network_address, None
        self.public_port = _int(item.get('public_port'))
        self.public_port_end = _int(item.get('public_port_end'))
        self.private_ip = parse_ip(item.get('private_ip'))
        self.private_port = _int(item.get('private_port'))
        self.private_port_end = _int(item.get('private_port_end'))
        self.gateway_ips = gateway_ips

    def valid(self):
        return self.private_ip is not None

    def covers_ip(self, ip):
        if ip is None:
            return False
        if self.public_ip is not None:
            return ip == self.public_ip
        if self.public_net is not None:
            return ip.version == self.public_net.version and ip in self.public_net
        return ip in self.gateway_ips

    def matches(self, ip, port, proto):
        if self.proto is not None and proto != self.proto:
            return False
        if port is None or not self.covers_ip(ip):
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


def ip_covered(forwards, ip):
    """Some forward answers on ``ip`` (a forward map is known for that address)."""
    return any(fwd.covers_ip(ip) for fwd in forwards)


def build_forwards(hosts, extra_forwards=None):
    forwards = []
    for host, facts, nat in _sources(hosts, 'nat_rules'):
        gateway_ips = frozenset(ip for ip in host_addresses(facts) if _usable_host_ip(ip))
        for item in _items(nat.get('forwards')):
            fwd = Forward(host, item, gateway_ips)
            if fwd.valid():
                forwards.append(fwd)
    if extra_forwards is not None:
        if not isinstance(extra_forwards, (list, tuple)):
            raise PlanError('forwards must be a list of port forwards like nat_rules_info returns '
                            '({proto, public_ip, public_port, private_ip, private_port}), got %s' % type(extra_forwards).__name__)
        for index, item in enumerate(extra_forwards):
            if not isinstance(item, Mapping):
                raise PlanError('forwards[%d] is not a dict' % index)
            fwd = Forward(item.get('gateway'), item, frozenset())
            if (fwd.public_ip is None and fwd.public_net is None) or fwd.public_port is None or not fwd.valid():
                raise PlanError('forwards[%d] needs public_ip, public_port and private_ip (e.g. a cloud NAT rule '
                                '{public_ip: 203.0.113.7, public_port: 443, private_ip: 10.0.0.5, private_port: 8443}); got %r'
                                % (index, dict(item)))
            forwards.append(fwd)
    return forwards


def find_forward(forwards, ip, port, proto):
    for fwd in forwards:
        if fwd.matches(ip, port, proto):
            return fwd
    return None


# --------------------------------------------------------------------------------------------
# pairs


class _Pair:

    def __init__(self, client_host, client_ip, proto, public_ip, public_port):
        self.client_host = client_host
        self.client_ip = client_ip
        self.client_process = None
        self.proto = proto
        self.public_ip = public_ip
        self.public_port = public_port
        self.backend_ip = None
        self.backend_port = None
        self.gateways = set()
        self.forward_gateway = None
        self.seen = set()
        self.conn_gateway = 0
        self.conn_client = 0
        self.names = set()

    def client_label(self):
        return self.client_host or str(self.client_ip)

    def pair_id(self):
        return '%s->%s/%s' % (self.client_label(), endpoint(self.public_ip, self.public_port), self.proto)

    def sort_key(self):
        return (self.client_label(), ip_sort_key(self.client_ip), ip_sort_key(self.public_ip), self.public_port, self.proto)


class _PairTable:

    def __init__(self, index):
        self.index = index
        self.pairs = {}

    def get(self, client_host, client_ip, proto, public_ip, public_port):
        if client_host is None and client_ip is not None:
            client_host = self.index.get(client_ip)
        key = (('host', client_host) if client_host else ('ip', str(client_ip)), proto, str(public_ip), public_port)
        pair = self.pairs.get(key)
        if pair is None:
            pair = _Pair(client_host, client_ip, proto, public_ip, public_port)
            self.pairs[key] = pair
        elif pair.client_ip is None and client_ip is not None:
            pair.client_ip = client_ip
        return pair

    def has(self, client_host, proto, public_ip, public_port):
        return (('host', client_host), proto, str(public_ip), public_port) in self.pairs


def _choose_client_ip(facts, remote_ip, backend_ip, networks):
    """The host's own address a connection to ``remote_ip`` most likely left from."""
    candidates = [ip for ip in host_addresses(facts)
                  if _usable_host_ip(ip) and ip.version == remote_ip.version and networks.is_internal(ip)]
    if not candidates:
        return None
    if backend_ip is not None:
        for ip in candidates:
            if networks.same(ip, backend_ip):
                return ip
    return candidates[0]


def _gateway_pairs(hosts, table):
    for host, dummy, flows in _sources(hosts, 'hairpin_flows'):
        if 'pairs' in flows:
            entries = _items(flows.get('pairs'))
        else:  # a result without the aggregate: count the (capped) flows themselves
            entries = [dict(item, connections=1) for item in _items(flows.get('flows'))]
        for item in entries:
            client_ip = parse_ip(item.get('client_ip'))
            public_ip = parse_ip(item.get('public_ip'))
            public_port = _int(item.get('public_port'))
            if client_ip is None or public_ip is None or public_port is None:
                continue
            proto = str(item.get('proto') or 'tcp').lower()
            pair = table.get(None, client_ip, proto, public_ip, public_port)
            pair.client_ip = client_ip
            backend_ip = parse_ip(item.get('backend_ip'))
            if backend_ip is not None:
                pair.backend_ip = backend_ip
                pair.backend_port = _int(item.get('backend_port'), public_port)
            pair.gateways.add(host)
            pair.seen.add('gateway_conntrack')
            pair.conn_gateway += max(_int(item.get('connections'), 1), 0)


def _client_pairs(hosts, table, forwards, networks, listed_public):
    for host, facts, outbound in _sources(hosts, 'outbound_flows'):
        for item in _items(outbound.get('to_public')):
            remote_ip = parse_ip(item.get('remote_ip'))
            remote_port = _int(item.get('remote_port'))
            if remote_ip is None or remote_port is None:
                continue
            proto = str(item.get('proto') or 'tcp').lower()
            fwd = find_forward(forwards, remote_ip, remote_port, proto)
            if fwd is None and (ip_covered(forwards, remote_ip) or remote_ip not in listed_public):
                # A known gateway address without a forward on that port, or a public address no
                # forward covers and nobody listed (the internet): not a hairpin.
                continue
            if fwd is not None and fwd.gateway == host:
                continue  # the gateway talking to its own forward is local DNAT, not a hairpin
            client_ip = parse_ip(item.get('local_ip'))
            if client_ip is None:
                client_ip = _choose_client_ip(facts, remote_ip, fwd.private_ip if fwd else None, networks)
            if not networks.is_internal(client_ip):
                continue  # an outside client using the public address as intended
            pair = table.get(host, client_ip, proto, remote_ip, remote_port)
            if pair.client_ip is None:
                pair.client_ip = client_ip
            pair.seen.add('client_socket')
            pair.conn_client += max(_int(item.get('connections'), 1), 0)
            process = item.get('process')
            if process and not pair.client_process:
                pair.client_process = str(process)


class _Name:

    def __init__(self, name):
        self.name = name
        self.public_ips = set()
        self.resolved_by = set()
        self.forwards = []      # [(public_ip, Forward)] the name can reach (name_ports applied)
        self.backends = set()   # backend hosts (or addresses) behind those forwards
        self.safe = False       # a private answer breaks none of them
        self.pair_ids = set()


def _collect_names(hosts, forwards, index):
    names = {}
    for host, dummy, dns in _sources(hosts, 'dns_answers'):
        for item in _items(dns.get('answers')):
            name = str(item.get('name') or '').rstrip('.').lower()
            if not name:
                continue
            addresses = item.get('addresses') or []
            if not isinstance(addresses, (list, tuple)):
                addresses = [addresses]
            for value in addresses:
                ip = parse_ip(value)
                if ip is None:
                    continue
                if ip_covered(forwards, ip) or (item.get('public_match') and ip not in index):
                    entry = names.setdefault(name, _Name(name))
                    entry.public_ips.add(ip)
                    entry.resolved_by.add(host)
    return names


def _name_forwards(entry, forwards, name_ports):
    ports = name_ports.get(entry.name)
    result = []
    for ip in sorted(entry.public_ips, key=ip_sort_key):
        for fwd in forwards:
            if not fwd.covers_ip(ip):
                continue
            if ports is not None and not any(fwd.matches(ip, port, fwd.proto) for port in ports):
                continue
            result.append((ip, fwd))
    return result


def _name_allows(entry, name_ports, port):
    ports = name_ports.get(entry.name)
    return ports is None or port in ports


def _dns_pairs(names, table, hosts, networks):
    """A host that resolved a name to a forward's public address is a client of that forward."""
    for name in sorted(names):
        entry = names[name]
        for host in sorted(entry.resolved_by):
            facts = hosts.get(host) or {}
            for ip, fwd in entry.forwards:
                port = fwd.single_port()
                if port is None or fwd.gateway == host:
                    continue  # ranges/all-port forwards: DNS alone does not say which port
                proto = fwd.proto or 'tcp'
                if table.has(host, proto, ip, port):
                    continue
                client_ip = _choose_client_ip(facts, ip, fwd.private_ip, networks)
                if client_ip is None:
                    continue  # no internal address: the host resolves the name from outside
                table.get(host, client_ip, proto, ip, port)


def _attach_names(names, table, name_ports):
    """Candidate names per pair: they answer with its public address (and name_ports allows its port)."""
    for pair in table.pairs.values():
        for entry in names.values():
            if pair.public_ip in entry.public_ips and _name_allows(entry, name_ports, pair.public_port):
                pair.names.add(entry.name)
                if pair.client_host and pair.client_host in entry.resolved_by:
                    pair.seen.add('dns_answer')


def _split_names(pair, backend_key, fix, names):
    """(names, other_names) of a pair.

    A name belongs to the pair when every forward it can reach goes to this pair's backend and,
    for a split_dns pair, a private answer breaks none of them; so a split-DNS consumer can answer
    ``backend.ip`` for each of ``public.names`` without breaking anything. Names that answer with
    the public address but cannot be attributed are ``other_names`` (see the plan's ``names``).
    """
    own = []
    other = []
    for name in sorted(pair.names):
        entry = names[name]
        if entry.forwards:
            mine = entry.backends == {backend_key} and (fix != 'split_dns' or entry.safe)
        else:
            mine = fix is None  # no forward map at all: keep the name for information only
        if mine:
            own.append(name)
            entry.pair_ids.add(pair.pair_id())
        else:
            other.append(name)
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
        note += '; answer %s for %s' % (backend_ip, ', '.join(own))
    if other:
        note += ('; %s also reach%s other forwards, so a private answer would break them (see names[]): '
                 'tell the planner which ports each name serves (name_ports)'
                 % (', '.join(other), 'es' if len(other) == 1 else ''))
    return note


def _pair_reason(pair, relation, fix, networks, names, known_forward):
    public = endpoint(pair.public_ip, pair.public_port)
    if fix is None:
        if pair.backend_ip is None:
            return ('backend unknown: no gateway conntrack entry and no known forward for %s/%s (cloud NAT?); '
                    'run detection on the gateway or pass its forward map to the planner (forwards=)' % (public, pair.proto))
        return 'client address unknown: cannot tell whether client and backend share a network'
    backend = endpoint(pair.backend_ip, pair.backend_port)
    if relation == 'same_host':
        return ('client and backend are the same host (%s): it reaches itself through %s and the gateway; '
                'send %s straight to its own %s' % (pair.client_host or pair.client_ip, public, public, backend))
    if fix == 'local_shortcut' and pair.backend_port != pair.public_port:
        return ('public port %s is translated to %s: a private DNS answer alone would make the client dial %s, '
                'so send %s straight to %s on the client' % (pair.public_port, pair.backend_port,
                                                             endpoint(pair.backend_ip, pair.public_port), public, backend))
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
                % networks.network_of(pair.client_ip))
    else:
        text = ('client (%s) and backend (%s) are on different internal networks and the port is not translated: '
                'a private DNS answer removes the hairpin when %s is routable from the client'
                % (networks.network_of(pair.client_ip), networks.network_of(pair.backend_ip), pair.backend_ip))
    if not known_forward:
        text += ' (forward not in any rule set read; backend taken from conntrack)'
    return text + _names_note(names[0], names[1], pair.backend_ip)


def _finish_pair(pair, forwards, index, networks, names, act_on_latent):
    fwd = find_forward(forwards, pair.public_ip, pair.public_port, pair.proto)
    if fwd is not None:
        pair.forward_gateway = fwd.gateway
        if pair.backend_ip is None:
            pair.backend_ip = fwd.private_ip
            pair.backend_port = fwd.backend_port(pair.public_port)
    backend_host = index.get(pair.backend_ip) if pair.backend_ip is not None else None
    if pair.backend_ip is None:
        relation = None
    elif (pair.client_host and backend_host and pair.client_host == backend_host) or \
            (pair.client_ip is not None and pair.client_ip == pair.backend_ip):
        relation = 'same_host'
    elif pair.client_ip is None:
        relation = None
    elif networks.same(pair.client_ip, pair.backend_ip):
        relation = 'same_network'
    else:
        relation = 'routed'
    translated = None if pair.backend_port is None else pair.backend_port != pair.public_port
    fix = decide(relation, translated)
    gateway = sorted(pair.gateways)[0] if pair.gateways else pair.forward_gateway
    backend_key = (backend_host or str(pair.backend_ip)) if pair.backend_ip is not None else None
    own, other = _split_names(pair, backend_key, fix, names)
    if fix == 'split_dns' and not own:
        # No name answers for this backend alone: DNS cannot carry the fix, a local path can.
        fix = 'local_shortcut'
        own, other = _split_names(pair, backend_key, fix, names)
    finding = {
        'id': pair.pair_id(),
        'client': {'host': pair.client_host, 'ip': str(pair.client_ip) if pair.client_ip is not None else None,
                   'process': pair.client_process},
        'public': {'ip': str(pair.public_ip), 'port': pair.public_port, 'proto': pair.proto, 'names': own, 'other_names': other},
        'backend': {'host': backend_host, 'ip': str(pair.backend_ip) if pair.backend_ip is not None else None,
                    'port': pair.backend_port},
        'gateway': gateway,
        'seen_by': _sorted_seen_by(pair.seen),
        'connections': max(pair.conn_gateway, pair.conn_client),
        'relation': relation,
        'port_translated': translated,
        'fix': fix,
        'reason': _pair_reason(pair, relation, fix, networks, (own, other), fwd is not None),
        'status': 'active' if pair.seen & ACTIVE_SIGHTINGS else 'latent',
    }
    finding['recommendation'] = pair_recommendation(finding, act_on_latent)
    return finding


def _names_out(names, forwards, name_ports, index):
    result = {}
    for name in sorted(names):
        entry = names[name]
        entry.forwards = _name_forwards(entry, forwards, name_ports)
        reached = []
        backends = set()
        translated = []
        for ip, fwd in entry.forwards:
            label = '%s/%s' % (endpoint(ip, fwd.ports_text()), fwd.proto or 'any')
            target = endpoint(fwd.private_ip, fwd.private_port)
            reached.append('%s -> %s' % (label, target))
            backends.add(index.get(fwd.private_ip) or str(fwd.private_ip))
            if fwd.translated():
                translated.append(label)
        entry.backends = backends
        private = []
        if not entry.forwards:
            reason = 'no known forward answers on %s: nothing to point the name at' % ', '.join(str(ip) for ip in sorted(entry.public_ips, key=ip_sort_key))
        elif len(backends) > 1:
            reason = 'the name reaches forwards to different backends (%s): a private answer would break some of them' % '; '.join(reached)
        elif translated:
            reason = 'port translated on %s: a private answer would make clients dial the public port on the backend' % ', '.join(translated)
        else:
            private = sorted(set(str(fwd.private_ip) for _ip, fwd in entry.forwards), key=lambda text: ip_sort_key(parse_ip(text)))
            reason = 'every forward the name reaches goes to %s without port translation: answer %s inside' % (
                sorted(backends)[0], ', '.join(private))
        entry.safe = bool(private)
        result[name] = {
            'name': name,
            'public_ips': sorted((str(ip) for ip in entry.public_ips), key=lambda text: ip_sort_key(parse_ip(text))),
            'resolved_by': sorted(entry.resolved_by),
            'forwards': reached,
            'private_answers': private,
            'reason': reason,
        }
    return result


def _same_host(hosts):
    """Same-host TCP an app server answers: Unix-socket findings (a front end's own listener is none)."""
    result = []
    for host, dummy, outbound in _sources(hosts, 'outbound_flows'):
        for item in _items(outbound.get('same_host')):
            ip = parse_ip(item.get('remote_ip'))
            port = _int(item.get('remote_port'))
            listener = item.get('listener_process')
            if ip is None or port is None or not same_host_candidate(listener):
                continue
            client = item.get('client_process')
            connections = max(_int(item.get('connections'), 1), 0)
            entry = {
                'id': '%s->%s/tcp' % (host, endpoint(ip, port)),
                'host': host,
                'ip': str(ip),
                'port': port,
                'client_process': client,
                'listener_process': listener,
                'connections': connections,
                'status': 'active',
                'fix': 'unix_socket',
                'reason': '%s reaches %s over TCP %s on the same host (%d connection%s, each a conntrack entry and a TCP '
                          'stack round trip): serve and connect over a Unix socket'
                          % (client or 'a local client', listener, endpoint(ip, port), connections, '' if connections == 1 else 's'),
            }
            entry['recommendation'] = pair_recommendation(entry, act_on_latent=False)
            result.append(entry)
    result.sort(key=lambda item: (item['host'], ip_sort_key(parse_ip(item['ip'])), item['port'],
                                  item['client_process'] or '', item['listener_process'] or ''))
    return result


def _gateways(hosts, usage_threshold):
    result = []
    for host in sorted(hosts):
        facts = hosts[host]
        if not facts:
            continue
        nat = facts.get('nat_rules')
        flows = facts.get('hairpin_flows')
        conntrack = facts.get('conntrack')
        is_gateway = bool(isinstance(nat, Mapping) and not _failed(nat) and _items(nat.get('forwards'))) or \
            bool(isinstance(flows, Mapping) and not _failed(flows))
        if not is_gateway and conntrack is None:
            continue
        ct = conntrack if isinstance(conntrack, Mapping) and not _failed(conntrack) else {}
        stats = _mapping(ct.get('stats'))
        available = bool(ct.get('available')) if ct else False
        count = _int(ct.get('count'))
        maximum = _int(ct.get('max'))
        usage = _num(ct.get('usage'))
        if usage is None and count is not None and maximum:
            usage = count / float(maximum)
        counters = {key: (_int(stats.get(key), 0) if available else None) for key in ('drop', 'insert_failed', 'early_drop')}
        hairpin_entries = None
        total = None
        if isinstance(flows, Mapping) and not _failed(flows):
            hairpin_entries = _int(flows.get('hairpin_entries'))
            total = _int(flows.get('total_entries'))
        if not total:
            total = count
        share = None
        if hairpin_entries is not None and total:
            share = hairpin_entries / float(total)
        elif hairpin_entries == 0:
            share = 0.0
        writable = ct.get('writable') if ct else None
        entry = {
            'host': host,
            'is_gateway': is_gateway,
            'available': available,
            'count': count,
            'max': maximum,
            'buckets': _int(ct.get('buckets')),
            'usage': _ratio(usage),
            'drop': counters['drop'],
            'insert_failed': counters['insert_failed'],
            'early_drop': counters['early_drop'],
            'hairpin_entries': hairpin_entries,
            'hairpin_share': _ratio(share),
            'writable': None if writable is None else bool(writable),
            'fix': None,
            'reason': '',
            'recommendation': None,
        }
        if not available:
            if _failed(conntrack):
                entry['reason'] = 'conntrack not observed: %s' % (conntrack.get('msg') or 'the module failed')
            elif conntrack is None:
                entry['reason'] = 'conntrack not observed: conntrack_info did not run on this host'
            else:
                entry['reason'] = 'conntrack not observed: nf_conntrack is not loaded in this network namespace'
            result.append(entry)
            continue
        problems = []
        if usage is not None and usage >= usage_threshold:
            problems.append('table %s full (%s of %s, threshold %s)' % (format_percent(usage), count, maximum, format_percent(usage_threshold)))
        for key in ('drop', 'insert_failed', 'early_drop'):
            if counters[key]:
                problems.append('%s %d' % (key, counters[key]))
        hairpin = ''
        if hairpin_entries is not None:
            hairpin = '; hairpin flows hold %d entr%s (%s of the table)' % (hairpin_entries, 'y' if hairpin_entries == 1 else 'ies', format_percent(share))
        if problems:
            entry['fix'] = 'conntrack_headroom'
            text = 'at risk: %s: raise nf_conntrack_max and the hash buckets' % ', '.join(problems)
            if writable is False:
                text += ' (read-only in this network namespace: set them on the host or in the initial namespace)'
            entry['reason'] = text + hairpin
            entry['recommendation'] = gateway_recommendation(entry)
        else:
            entry['reason'] = 'healthy: %s of max %s used, no drops or insert failures%s' % (format_percent(usage), maximum, hairpin)
        result.append(entry)
    return result


def _not_observed(hosts):
    result = []
    for host in sorted(hosts):
        facts = hosts[host]
        if not facts:
            result.append({'host': host, 'source': 'all', 'reason': 'no hairpin_detect_facts facts: host unreachable or detection skipped'})
            continue
        for source in SOURCES:
            value = facts.get(source)
            if _failed(value):
                result.append({'host': host, 'source': source, 'reason': str(value.get('msg') or 'the module failed')})
            elif value is not None and not isinstance(value, Mapping):
                result.append({'host': host, 'source': source, 'reason': 'unexpected value (not a dict)'})
            elif source == 'conntrack' and isinstance(value, Mapping) and value.get('available') is False:
                result.append({'host': host, 'source': source, 'reason': str(value.get('msg') or 'nf_conntrack not loaded here')})
            elif source == 'hairpin_flows' and isinstance(value, Mapping) and value.get('available') is False:
                result.append({'host': host, 'source': source, 'reason': str(value.get('msg') or 'conntrack table not readable here')})
    return result


def build_plan(facts, internal_cidrs=None, networks=None, usage_threshold=None, ipv4_prefix=DEFAULT_IPV4_PREFIX,
               ipv6_prefix=DEFAULT_IPV6_PREFIX, name_ports=None, forwards=None, public_addresses=None, act_on_latent=False):
    """Return the plan (version 2) for ``facts`` (see :func:`normalize_facts` for the accepted forms).

    ``act_on_latent``: latent pairs (seen in DNS answers only) get automatic recommendations too;
    by default a person decides on them (manual), since nothing uses that path yet.
    """
    if not isinstance(act_on_latent, bool):
        raise PlanError('act_on_latent must be true or false, got %r' % (act_on_latent,))
    hosts = normalize_facts(facts)
    networks = Networks(internal_cidrs, networks, ipv4_prefix, ipv6_prefix)
    threshold = _check_threshold(usage_threshold)
    ports = _check_name_ports(name_ports)
    index = build_address_index(hosts)
    fwds = build_forwards(hosts, forwards)
    listed_public = _check_public_addresses(public_addresses)

    table = _PairTable(index)
    _gateway_pairs(hosts, table)
    _client_pairs(hosts, table, fwds, networks, listed_public)
    names = _collect_names(hosts, fwds, index)
    names_out = _names_out(names, fwds, ports, index)
    _dns_pairs(names, table, hosts, networks)
    _attach_names(names, table, ports)
    pairs = [_finish_pair(pair, fwds, index, networks, names, act_on_latent) for pair in sorted(table.pairs.values(), key=lambda p: p.sort_key())]
    for name, entry in names.items():
        names_out[name]['pairs'] = sorted(entry.pair_ids)
    same_host = _same_host(hosts)
    gateways = _gateways(hosts, threshold)
    not_observed = _not_observed(hosts)

    by_fix = {kind: 0 for kind in FIX_KINDS}
    for item in pairs + same_host + gateways:
        if item['fix'] in by_fix:
            by_fix[item['fix']] += 1
    recommendations = [item['recommendation'] for item in pairs + same_host + gateways if item['recommendation']]
    summary = {
        'hosts': len(hosts),
        'pairs': len(pairs),
        'active_pairs': sum(1 for pair in pairs if pair['status'] == 'active'),
        'latent_pairs': sum(1 for pair in pairs if pair['status'] == 'latent'),
        'automatic': sum(1 for item in recommendations if item['mode'] == 'automatic'),
        'manual': sum(1 for item in recommendations if item['mode'] == 'manual'),
        'same_host': len(same_host),
        'hairpin_connections': sum(pair['connections'] for pair in pairs),
        'by_fix': by_fix,
        'unplanned_pairs': sum(1 for pair in pairs if pair['fix'] is None),
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
