# Copyright (c) 2026 keeplocal.traffic contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The hairpin watch's Prometheus metrics, byte counters and cost estimate (stdlib only, no I/O).

The collector (``_watch``) reads the host with the detection readers and hands what it saw to
``build_families``; ``render`` writes the Prometheus text exposition format (version 0.0.4, what
node_exporter's textfile collector reads).

Label cardinality is bounded: per metric, the ``top_pairs`` largest label sets keep their own
series and the rest are summed under ``other`` in every label. Byte counters are the exception,
because a counter must never move between series: the first ``top_pairs`` pairs seen get their own
series (a freed slot goes to the busiest pair in ``other``, whose series then counts from that
moment), the other pairs add to one ``other`` counter. Every byte is counted in exactly one series.

Bytes come from two places, told apart by the ``counted_by`` label. On a gateway (``gateway``),
conntrack accounting (``nf_conntrack_acct``): each hairpin entry carries the bytes of both
directions so far, IP headers included. Between two runs an entry's growth is added to its pair; an
entry seen for the first time counts whole; an entry that shrank is a new connection on the same
tuple. A TCP entry lingers in TIME_WAIT for two minutes after the connection closes, longer than the
default interval, so every TCP connection's final count is seen; a UDP flow shorter than one
interval may be missed.

On a client (``client``), where the NAT is a cloud gateway outside the inventory: the kernel's byte
counters of each TCP socket connected to one of the fleet's public addresses (tcp_info's
``tcpi_bytes_acked`` + ``tcpi_bytes_received``, read through sock_diag: payload only, no headers),
kept per socket cookie the same way. The backend behind the NAT is ``unknown`` here. A socket's
counters end with the socket: once it is in TIME_WAIT they are gone, so the bytes a connection
carried after the last run that saw it open are missed, and a connection that opens and closes
between two runs is missed whole. Counts are exact for long-lived connections (pools, keep-alive)
and a lower bound for short ones.
"""

from __future__ import annotations

import math

from ansible_collections.keeplocal.traffic.plugins.module_utils._addresses import endpoint
from ansible_collections.keeplocal.traffic.plugins.module_utils._conntrack_table import HairpinScanner
from ansible_collections.keeplocal.traffic.plugins.module_utils._sockets import connecting_sockets

METRICS_FILE = 'keeplocal_hairpin.prom'
OTHER = 'other'
UNKNOWN_PROCESS = 'unknown'
PAIR_LABELS = ('client', 'public', 'backend')
BYTE_LABELS = PAIR_LABELS + ('counted_by',)
COUNTED_BY_GATEWAY = 'gateway'
COUNTED_BY_CLIENT = 'client'
UNKNOWN_BACKEND = 'unknown'
PUBLIC_LABELS = ('public', 'process')
SAME_HOST_LABELS = ('listener', 'process')
COUNTERS_VERSION = 2
# A pair without traffic for this long is forgotten (its byte series ends).
PAIR_RETENTION_SECONDS = 7 * 86400
# Cloud providers bill a month as 730 hours; GB here is 10^9 bytes.
MONTH_SECONDS = 730 * 3600
BYTES_PER_GB = 10 ** 9
# The price per GB when none is set: AWS NAT Gateway's data-processing list price in US East.
DEFAULT_PRICE_PER_GB = 0.045
DEFAULT_CURRENCY = 'USD'
PRICE_SOURCE = 'AWS NAT Gateway data processing, US East (N. Virginia), https://aws.amazon.com/vpc/pricing/'


# --- the exposition format -----------------------------------------------------------------------

def escape_label_value(value):
    """A label value inside double quotes: backslash, double quote and line feed escaped."""
    return str(value).replace('\\', '\\\\').replace('"', '\\"').replace('\n', '\\n')


def escape_help(text):
    """HELP text: backslash and line feed escaped (quotes stay)."""
    return text.replace('\\', '\\\\').replace('\n', '\\n')


def format_value(value):
    """A sample value: integers as integers, floats in Python's shortest round-trip form."""
    if isinstance(value, bool):
        return '1' if value else '0'
    if isinstance(value, int):
        return str(value)
    if math.isnan(value):
        return 'NaN'
    if math.isinf(value):
        return '+Inf' if value > 0 else '-Inf'
    return repr(float(value))


class Family:
    """One metric: name, type (gauge or counter), help text, label names and its samples."""

    def __init__(self, name, kind, help_text, label_names=()):
        self.name = name
        self.kind = kind
        self.help_text = help_text
        self.label_names = tuple(label_names)
        self.samples = []

    def add(self, value, label_values=()):
        self.samples.append((tuple(label_values), value))
        return self

    def lines(self):
        out = ['# HELP %s %s' % (self.name, escape_help(self.help_text)), '# TYPE %s %s' % (self.name, self.kind)]
        for values, value in self.samples:
            labels = ''
            if values:
                labels = '{%s}' % ','.join('%s="%s"' % (name, escape_label_value(text))
                                           for name, text in zip(self.label_names, values))
            out.append('%s%s %s' % (self.name, labels, format_value(value)))
        return out


def render(families):
    """The exposition text of the families that have samples (a family without any is left out)."""
    lines = []
    for family in families:
        if family.samples:
            lines.extend(family.lines())
    return '\n'.join(lines) + '\n' if lines else ''


# --- label sets ----------------------------------------------------------------------------------

def pair_labels(pair):
    """(client, public, backend) of a HairpinScanner pair: ``192.168.1.10``, ``198.51.100.1:80/tcp``,
    ``192.168.1.20:80`` (IPv6 in brackets; no port for ICMP), the spelling of the plan's pair ids."""
    return (pair['client_ip'], '%s/%s' % (endpoint(pair['public_ip'], pair['public_port']), pair['proto']),
            endpoint(pair['backend_ip'], pair['backend_port']))


def relabel(counts, names, overrides):
    """``counts`` ({label values: number}) with the values replaced per ``overrides`` ({label name:
    {value: replacement}}); label sets that become equal are summed."""
    merged = {}
    for values, count in counts.items():
        values = tuple(overrides.get(name, {}).get(value, value) for name, value in zip(names, values))
        merged[values] = merged.get(values, 0) + count
    return merged


def top_with_other(counts, names, limit):
    """[(label values, number)]: the ``limit`` largest of ``counts``, largest first (ties by label
    values), then the rest summed under ``other`` in every label (only when there is a rest)."""
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    kept = ranked[:limit]
    rest = ranked[limit:]
    if rest:
        kept.append(((OTHER,) * len(names), sum(count for dummy, count in rest)))
    return kept


# --- byte counters -------------------------------------------------------------------------------

def entry_key(entry):
    """One conntrack entry's identity between runs: protocol, zone and original tuple."""
    orig = entry['orig']
    return '%s %s %s %s %s %s' % (entry['proto'], entry['zone'], orig['src'], orig.get('sport', orig.get('id')),
                                  orig['dst'], orig.get('dport', orig.get('type')))


def pair_key(labels):
    """The byte counters' key of a pair: its BYTE_LABELS values joined by spaces."""
    return ' '.join(labels)


class CountingScanner(HairpinScanner):
    """A HairpinScanner that also keeps the byte counters of every hairpin entry that has them:
    ``entry_bytes`` maps entry_key to (pair key, bytes of both directions)."""

    def __init__(self, internal=None, public_addresses=None, limit=100):
        super().__init__(internal, public_addresses, limit)
        self.entry_bytes = {}

    def _add(self, entry):
        super()._add(entry)
        orig, reply = entry['orig'], entry['reply']
        if 'bytes' in orig or 'bytes' in reply:
            labels = pair_labels({
                'client_ip': orig['src'], 'proto': entry['proto'], 'public_ip': orig['dst'], 'public_port': orig.get('dport'),
                'backend_ip': reply['src'], 'backend_port': reply.get('sport'),
            })
            self.entry_bytes[entry_key(entry)] = (pair_key(labels + (COUNTED_BY_GATEWAY,)),
                                                  orig.get('bytes', 0) + reply.get('bytes', 0))

    def result(self):
        result = super().result()
        result['entry_bytes'] = dict(self.entry_bytes)
        return result


def socket_entry_bytes(sockets, public_addresses):
    """The client side's ``entry_bytes``: {``socket COOKIE``: (pair key, bytes acked + received)} of
    this host's connections to ``public_addresses`` (_sockets.connecting_sockets) whose socket still
    has its byte counters (_sock_diag: not in TIME_WAIT)."""
    found = {}
    for sock in connecting_sockets(sockets, public_addresses):
        if sock.get('bytes_acked') is None:
            continue
        labels = (sock['local_ip'], '%s/tcp' % endpoint(sock['remote_ip'], sock['remote_port']), UNKNOWN_BACKEND,
                  COUNTED_BY_CLIENT)
        found['socket %d' % sock['cookie']] = (pair_key(labels), sock['bytes_acked'] + sock['bytes_received'])
    return found


def update_counters(state, entry_bytes, now, top_pairs, retention=PAIR_RETENTION_SECONDS):
    """The byte counters after a run that saw ``entry_bytes`` at ``now``: CountingScanner.entry_bytes
    and socket_entry_bytes merged (their keys never meet).

    ``state`` is the previous result (``{}`` at first; one of another COUNTERS_VERSION is dropped):
    ``entries`` {entry key: [pair key, bytes]}, ``pairs`` {pair key: {bytes, first_seen, last_seen,
    offset}}, ``other_bytes``. A pair with an ``offset`` has its own series, valued ``bytes -
    offset``; the others add to ``other_bytes``.
    """
    if state.get('version') != COUNTERS_VERSION:
        state = {}
    old_entries = state.get('entries', {})
    pairs = {key: dict(pair) for key, pair in state.get('pairs', {}).items()}
    other = state.get('other_bytes', 0)
    grown = {}
    entries = {}
    for key, (owner, total) in entry_bytes.items():
        before = old_entries.get(key)
        same = before is not None and before[0] == owner and total >= before[1]
        grown[owner] = grown.get(owner, 0) + (total - before[1] if same else total)
        entries[key] = [owner, total]
    for owner in grown:
        pair = pairs.setdefault(owner, {'bytes': 0, 'first_seen': now, 'last_seen': now, 'offset': None})
        pair['last_seen'] = now
    for owner in [key for key, pair in pairs.items() if pair['last_seen'] < now - retention]:
        del pairs[owner]
    free = top_pairs - sum(1 for pair in pairs.values() if pair['offset'] is not None)
    waiting = sorted((key for key, pair in pairs.items() if pair['offset'] is None),
                     key=lambda key: (-(pairs[key]['bytes'] + grown.get(key, 0)), key))
    for owner in waiting[:max(free, 0)]:
        pairs[owner]['offset'] = pairs[owner]['bytes']
    for owner, count in grown.items():
        pair = pairs[owner]
        pair['bytes'] += count
        if pair['offset'] is None:
            other += count
    return {'version': COUNTERS_VERSION, 'entries': entries, 'pairs': pairs, 'other_bytes': other}


def byte_series(counters):
    """{pair labels: bytes} of the byte counter series: the pairs with their own, and ``other``
    once any byte went there."""
    series = {}
    for key, pair in counters.get('pairs', {}).items():
        if pair['offset'] is not None:
            series[tuple(key.split(' '))] = pair['bytes'] - pair['offset']
    if counters.get('other_bytes'):
        series[(OTHER,) * len(BYTE_LABELS)] = counters['other_bytes']
    return series


def per_month(count, window_seconds, price_per_gb):
    """(GB per month, money per month) of ``count`` bytes seen over ``window_seconds``: GB per month =
    bytes / window x 730 h / 10^9, money = GB x ``price_per_gb``; rounded to 3 and 2 decimals."""
    gb = count * MONTH_SECONDS / float(window_seconds) / BYTES_PER_GB
    return round(gb, 3), round(gb * price_per_gb, 2)


def costs(counters, now, interval, price_per_gb, currency):
    """What each pair's bytes come to per month, extrapolated from its observation window.

    A pair's window runs from one interval before it was first seen (its entries held that much
    traffic already) to ``now``; ``per_month`` does the arithmetic.
    """
    pairs = []
    for key, pair in sorted(counters.get('pairs', {}).items(), key=lambda item: (-item[1]['bytes'], item[0])):
        window = now - pair['first_seen'] + interval
        gb, money = per_month(pair['bytes'], window, price_per_gb)
        client, public, backend, counted_by = key.split(' ')
        pairs.append({
            'client': client, 'public': public, 'backend': backend, 'counted_by': counted_by, 'bytes': pair['bytes'],
            'window_seconds': int(round(window)), 'gb_per_month': gb, 'cost_per_month': money,
        })
    return {
        'price_per_gb': price_per_gb, 'currency': currency, 'month_hours': MONTH_SECONDS // 3600,
        'bytes': sum(pair['bytes'] for pair in pairs),
        'gb_per_month': round(sum(pair['gb_per_month'] for pair in pairs), 3),
        'cost_per_month': round(sum(pair['cost_per_month'] for pair in pairs), 2),
        'pairs': pairs,
    }


# --- the metrics of one run ----------------------------------------------------------------------

def _labelled(family, counts, overrides, limit=None):
    counts = relabel(counts, family.label_names, overrides)
    ranked = top_with_other(counts, family.label_names, limit) if limit is not None else \
        sorted(counts.items(), key=lambda item: (item[0] == (OTHER,) * len(family.label_names), -item[1], item[0]))
    for values, count in ranked:
        family.add(count, values)
    return family


def _conntrack_families(health, accounting):
    families = []
    if not health or not health.get('available'):
        return families
    for name, key, help_text in (
            ('keeplocal_conntrack_entries', 'count', 'Entries in the connection-tracking table (nf_conntrack_count).'),
            ('keeplocal_conntrack_max', 'max', 'Size limit of the connection-tracking table (nf_conntrack_max).'),
            ('keeplocal_conntrack_usage_ratio', 'usage', 'Entries in the table divided by its limit.')):
        if health.get(key) is not None:
            families.append(Family(name, 'gauge', help_text).add(health[key]))
    stats = health.get('stats') or {}
    for stat, help_text in (
            ('drop', 'Packets dropped because a new entry could not be added (table full), summed over CPUs.'),
            ('early_drop', 'Entries evicted to make room in a full table, summed over CPUs.'),
            ('insert_failed', 'Entries that could not be inserted (clashes, full table), summed over CPUs.')):
        if stat in stats:
            families.append(Family('keeplocal_conntrack_%s_total' % stat, 'counter', help_text).add(stats[stat]))
    if accounting is not None:
        families.append(Family('keeplocal_conntrack_accounting', 'gauge',
                               '1 when conntrack accounting (nf_conntrack_acct) is on, so hairpin bytes are counted.')
                        .add(1 if accounting else 0))
    return families


def build_families(observation, counters, settings, finished, duration):
    """Every metric of one run, in exposition order.

    ``observation``: what the collector read: ``conntrack`` (conntrack_info's result, or None),
    ``accounting`` (bool, or None without nf_conntrack), ``hairpin`` (hairpin_flows_info's result
    read with CountingScanner, or None), ``public_connections``
    (_sockets.connections_by_process to the fleet's public addresses), ``same_host``
    (_sockets.summarize's same_host, app servers only), ``client_byte_counters`` (bool: the socket
    listing has byte counters, or None when not known). ``counters``: update_counters' result.
    ``settings``: top_pairs and label_overrides. ``finished``: the Unix time the run succeeded;
    ``duration``: its length in seconds.
    """
    limit = settings['top_pairs']
    overrides = settings.get('label_overrides') or {}
    families = [
        Family('keeplocal_collector_last_success_timestamp_seconds', 'gauge',
               'Unix time of the last successful keeplocal hairpin watch run.').add(finished),
        Family('keeplocal_collector_duration_seconds', 'gauge',
               'How long the last keeplocal hairpin watch run took.').add(round(duration, 6)),
    ]
    families.extend(_conntrack_families(observation.get('conntrack'), observation.get('accounting')))
    hairpin = observation.get('hairpin')
    if hairpin and hairpin.get('available'):
        total = hairpin['total_entries']
        families.append(Family('keeplocal_hairpin_entries', 'gauge',
                               'Conntrack entries of hairpin flows (internal client, this host\'s DNAT, internal '
                               'backend).').add(hairpin['hairpin_entries']))
        families.append(Family('keeplocal_hairpin_share_ratio', 'gauge',
                               'Hairpin entries divided by all entries in the table.')
                        .add(round(hairpin['hairpin_entries'] / float(total), 6) if total else 0))
        connections = {}
        for pair in hairpin['pairs']:
            labels = pair_labels(pair)
            connections[labels] = connections.get(labels, 0) + pair['connections']
        families.append(_labelled(Family('keeplocal_hairpin_connections', 'gauge',
                                         'Hairpin connections in the table per pair; pairs past the top ones are '
                                         'summed under "other".',
                                         PAIR_LABELS), connections, overrides, limit))
    families.append(_labelled(Family('keeplocal_hairpin_bytes_total', 'counter',
                                     'Hairpin bytes per pair, both directions, counted by the gateway (conntrack) or '
                                     'client (sockets); later pairs in "other".',
                                     BYTE_LABELS), byte_series(counters), overrides))
    if observation.get('client_byte_counters') is not None:
        families.append(Family('keeplocal_client_byte_counters', 'gauge',
                               '1 when this host\'s TCP byte counters are read (sock_diag with tcp_info), so its '
                               'own connections to the public addresses count bytes.')
                        .add(1 if observation['client_byte_counters'] else 0))
    public = {}
    for item in observation.get('public_connections') or []:
        labels = ('%s/tcp' % endpoint(item['remote_ip'], item['remote_port']), item['process'] or UNKNOWN_PROCESS)
        public[labels] = public.get(labels, 0) + item['connections']
    families.append(_labelled(Family('keeplocal_public_connections', 'gauge',
                                     'TCP connections from this host to the fleet\'s public addresses, per address '
                                     'and process.',
                                     PUBLIC_LABELS), public, overrides, limit))
    same_host = {}
    for item in observation.get('same_host') or []:
        labels = (endpoint(item['remote_ip'], item['remote_port']), item['listener_process'] or UNKNOWN_PROCESS)
        same_host[labels] = same_host.get(labels, 0) + item['connections']
    families.append(_labelled(Family('keeplocal_same_host_connections', 'gauge',
                                     'TCP connections from this host to its own application servers, per '
                                     'listener.',
                                     SAME_HOST_LABELS), same_host, overrides, limit))
    return families
