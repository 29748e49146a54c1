# Copyright (c) 2026 keeplocal.traffic contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Parse conntrack tables and find hairpin flows (stdlib only, no I/O).

Accepted line formats (one entry per line; other lines are skipped):

* ``/proc/net/nf_conntrack``:
  ``ipv4     2 tcp      6 117 TIME_WAIT src=A dst=B sport=P dport=Q src=C dst=D sport=R dport=S [ASSURED] mark=0 zone=0 use=2``
  (IPv6 addresses fully expanded, ``fd77:0000:...``);
* ``conntrack -L -o extended``: the same, ``zone=`` only when not 0, IPv6 compressed;
* ``conntrack -L``: without the leading ``ipv4     2``.

UDP has no state, ICMP has ``type= code= id=`` instead of ports, ``[UNREPLIED]`` sits between the
tuples, accounting adds ``packets= bytes=`` after each tuple.

A flow is hairpin when its original source is internal, its original destination is not internal
(or is one of the given public addresses), and its reply source is internal and differs from the
original destination (the destination was NATed to an internal backend).

A probe's entries (``count_probe_entries``) are told apart from the rest of a gateway's table by
their original tuple: one of the probe's source ports to the public or the private endpoint.
"""

from __future__ import annotations

from ansible_collections.keeplocal.traffic.plugins.module_utils._addresses import (
    InternalNetworks,
    normalize_ip,
)

_TUPLE_INT_KEYS = frozenset(('sport', 'dport', 'type', 'code', 'id', 'packets', 'bytes'))
_ENTRY_INT_KEYS = frozenset(('mark', 'zone', 'use'))


def _normalize_or_raw(value):
    try:
        return normalize_ip(value)
    except ValueError:
        return value


def parse_line(line, normalize=None):
    """Parse one conntrack line into a dict, or return None for a line that is not an entry.

    ``normalize`` maps an address string to its canonical text (default: normalize_ip; the
    scanner passes a cached one).
    """
    if normalize is None:
        normalize = _normalize_or_raw
    tokens = line.split()
    if len(tokens) < 5:
        return None
    pos = 0
    l3 = None
    if tokens[0] in ('ipv4', 'ipv6'):
        l3 = tokens[0]
        pos = 2
    try:
        proto = tokens[pos]
        protonum = int(tokens[pos + 1])
        timeout = int(tokens[pos + 2])
    except (IndexError, ValueError):
        return None
    pos += 3
    state = None
    if pos < len(tokens) and '=' not in tokens[pos] and not tokens[pos].startswith('['):
        state = tokens[pos]
        pos += 1
    orig = {}
    reply = {}
    current = None
    entry = {
        'l3': l3, 'proto': proto, 'protonum': protonum, 'timeout': timeout, 'state': state,
        'orig': orig, 'reply': reply, 'flags': [], 'mark': None, 'zone': 0, 'use': None,
    }
    for token in tokens[pos:]:
        if token.startswith('['):
            entry['flags'].append(token.strip('[]'))
            continue
        key, sep, value = token.partition('=')
        if not sep:
            return None
        if key == 'src':
            if current is None:
                current = orig
            elif current is orig:
                current = reply
            else:
                return None
            current['src'] = normalize(value)
        elif key == 'dst' and current is not None:
            current['dst'] = normalize(value)
        elif key in _TUPLE_INT_KEYS and current is not None:
            try:
                current[key] = int(value)
            except ValueError:
                return None
        elif key in _ENTRY_INT_KEYS:
            try:
                entry[key] = int(value)
            except ValueError:
                return None
        else:
            entry[key] = value
    if 'dst' not in orig or 'dst' not in reply:
        return None
    entry['assured'] = 'ASSURED' in entry['flags']
    entry['unreplied'] = 'UNREPLIED' in entry['flags']
    return entry


class HairpinScanner:
    """Stream conntrack lines and keep only hairpin flows (memory grows with them, not the table).

    ``scanner.feed(lines)`` any number of times, then ``scanner.result()``.
    """

    def __init__(self, internal=None, public_addresses=None, limit=100):
        if not isinstance(internal, InternalNetworks):
            internal = InternalNetworks(internal)
        self.internal = internal
        self.public = set(normalize_ip(addr) for addr in (public_addresses or []))
        self.limit = limit
        self.total_entries = 0
        self.hairpin_entries = 0
        self.flows = []
        self.pairs = {}
        self._kinds = {}
        self._normal_cache = {}

    def _normalize(self, value):
        try:
            return self._normal_cache[value]
        except KeyError:
            result = self._normal_cache[value] = _normalize_or_raw(value)
            return result

    def _kind(self, addr):
        """0: not an address, 1: internal, 2: public (not internal, or listed as public)."""
        try:
            normal = normalize_ip(addr)
        except ValueError:
            kind = 0
        else:
            self._normal_cache[addr] = normal
            kind = 2 if normal in self.public or not self.internal.contains(normal) else 1
        self._kinds[addr] = kind
        return kind

    def hairpin(self, src, dst, rsrc):
        """The hairpin test on an entry's original source and destination and its reply source."""
        # The source must be internal (even when it is also listed as public).
        if not self.internal.contains(src):
            return False
        kind = self._kinds.get(dst)
        if kind is None:
            kind = self._kind(dst)
        return kind == 2 and rsrc != dst and self.internal.contains(rsrc)

    def feed_entries(self, entries):
        """Scan entries already parsed into parse_line's dicts (e.g. decoded from a netlink dump)."""
        hairpin = self.hairpin
        for entry in entries:
            self.total_entries += 1
            if hairpin(entry['orig']['src'], entry['orig']['dst'], entry['reply']['src']):
                self._add(entry)

    def feed(self, lines):
        """Scan an iterable of lines (a file object streams)."""
        kinds = self._kinds
        kind_of = self._kind
        hairpin = self.hairpin
        total = 0
        for line in lines:
            # Hot loop: locate the three addresses without splitting the whole line.
            try:
                start = line.index(' src=') + 5
                end = line.index(' ', start)
                dst_start = line.index(' dst=', end) + 5
                dst_end = line.index(' ', dst_start)
                rsrc_start = line.index(' src=', dst_end) + 5
                rsrc_end = line.index(' ', rsrc_start)
            except ValueError:
                continue
            src = line[start:end]
            kind = kinds.get(src)
            if kind is None:
                kind = kind_of(src)
            if kind == 0:
                continue
            total += 1
            if not hairpin(src, line[dst_start:dst_end], line[rsrc_start:rsrc_end]):
                continue
            entry = parse_line(line, self._normalize)
            if entry is None:
                total -= 1
                continue
            self._add(entry)
        self.total_entries += total

    def _add(self, entry):
        orig = entry['orig']
        reply = entry['reply']
        self.hairpin_entries += 1
        snat_ip = reply['dst'] if reply['dst'] != orig['src'] else None
        key = (orig['src'], entry['proto'], orig['dst'], orig.get('dport'), reply['src'], reply.get('sport'))
        pair = self.pairs.get(key)
        if pair is None:
            pair = self.pairs[key] = {
                'client_ip': orig['src'], 'proto': entry['proto'], 'public_ip': orig['dst'],
                'public_port': orig.get('dport'), 'backend_ip': reply['src'],
                'backend_port': reply.get('sport'), 'snat': False, 'connections': 0,
            }
        pair['connections'] += 1
        if snat_ip is not None:
            pair['snat'] = True
        if len(self.flows) < self.limit:
            self.flows.append({
                'proto': entry['proto'], 'client_ip': orig['src'], 'client_port': orig.get('sport'),
                'public_ip': orig['dst'], 'public_port': orig.get('dport'),
                'backend_ip': reply['src'], 'backend_port': reply.get('sport'),
                'snat_ip': snat_ip, 'state': entry['state'], 'assured': entry['assured'],
            })

    def result(self):
        """The hairpin_flows_info data (without ``source``): totals, capped flows, all pairs."""
        pairs = sorted(
            self.pairs.values(),
            key=lambda p: (-p['connections'], p['client_ip'], p['proto'], p['public_ip'],
                           p['public_port'] or 0, p['backend_ip'], p['backend_port'] or 0),
        )
        return {
            'total_entries': self.total_entries,
            'hairpin_entries': self.hairpin_entries,
            'flows': list(self.flows),
            'pairs': pairs,
        }


def find_hairpin_flows(lines, internal=None, public_addresses=None, limit=100):
    """One-shot helper: scan ``lines`` and return the result dict."""
    scanner = HairpinScanner(internal, public_addresses, limit)
    scanner.feed(lines)
    return scanner.result()


def _original_sport(line):
    """The text of the original tuple's ``sport=`` (the first one on the line), or None."""
    start = line.find(' sport=')
    if start < 0:
        return None
    start += 7
    end = line.find(' ', start)
    return line[start:] if end < 0 else line[start:end]


def _endpoint_entries(lines, ports, endpoints):
    """Map the original tuple of each entry from ``ports`` to ``endpoints`` to its timeout."""
    timeouts = {}
    for line in lines:
        # The port is matched on the text, so the tens of thousands of other entries are never parsed.
        if _original_sport(line) not in ports:
            continue
        entry = parse_line(line)
        if entry is None:
            continue
        orig = entry['orig']
        endpoint = (orig['dst'], orig.get('dport'))
        if endpoint not in endpoints:
            continue
        timeouts[(entry['proto'], entry['zone'], orig['src'], orig.get('sport')) + endpoint] = entry['timeout']
    return timeouts


def count_probe_entries(before_lines, after_lines, local_ports, public, private=None):
    """How many of a gateway's conntrack entries a probe created or renewed.

    ``before_lines`` and ``after_lines`` list the gateway's table before and after the probe (any
    format ``parse_line`` reads, e.g. ``conntrack -L -s CLIENT``), ``local_ports`` the probe's source
    ports, ``public`` and ``private`` the endpoints it may reach as ``(ip, port)`` (``private`` None
    when unknown). An entry is the probe's when its original tuple goes to one of the endpoints from
    one of the ports, and it is new or its timeout went up: a connection that reuses the tuple of an
    entry still in TIME_WAIT on the gateway replaces that entry, with a fresh timeout.

    Raises ValueError when an endpoint's address is not an IP address or its port not a number.
    """
    ports = frozenset(str(int(port)) for port in local_ports)
    endpoints = {(normalize_ip(public[0]), int(public[1]))}
    if private is not None:
        endpoints.add((normalize_ip(private[0]), int(private[1])))
    before = _endpoint_entries(before_lines, ports, endpoints)
    after = _endpoint_entries(after_lines, ports, endpoints)
    return sum(1 for key, timeout in after.items() if key not in before or timeout > before[key])
