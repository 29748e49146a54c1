# Copyright (c) 2026 keeplocal.traffic contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Split-horizon DNS data for the split_dns role (controller side, stdlib only, no I/O).

- ``build_config``: validate the role's variables (zones, internal CIDRs, listen addresses,
  upstreams) and merge the names to answer privately (``split_dns_names``) into zones. Every problem is reported
  with the variable path that holds it (``split_dns_zones[0].records[2].value: ...``).
- ``render_zone_files``: zone file text per zone and view, with an SOA serial that changes only
  when the content changes (the content hash is kept in the file, the previous file is the input).
- ``render_resolv_conf``: a client's resolv.conf with the private resolvers first.
"""

from __future__ import annotations

import datetime
import hashlib
import re

from ansible_collections.keeplocal.traffic.plugins.module_utils._addresses import (
    is_loopback,
    parse_ip,
    parse_network,
    parse_port,
)

RECORD_TYPES = ('A', 'AAAA', 'CNAME', 'SRV')
VIEWS = ('internal', 'public')
MAX_SERIAL = 4294967295
MAX_TTL = 2147483647

ZONE_DEFAULTS = {
    'ttl': 300,
    'refresh': 3600,
    'retry': 600,
    'expire': 604800,
    'negative_ttl': 60,
    'nameserver': 'ns.invalid.',
    'hostmaster': '',
}

_LABEL = re.compile(r'^(?!-)[a-z0-9_-]{1,63}(?<!-)$')
_HASH_LINE = re.compile(r'^; content-sha256: ([0-9a-f]{64})\s*$', re.M)
_SERIAL_LINE = re.compile(r'^\s+(\d+) ; serial\s*$', re.M)
_UPSTREAM = re.compile(r'^(?:dns://)?(?:\[(?P<ip6>[0-9a-fA-F:.]+)\]|(?P<ip>[0-9.]+|[0-9a-fA-F:]+))(?::(?P<port>\d+))?$')

RESOLV_MARKER = '# keeplocal.traffic split_dns:'
RESOLV_MAX_NAMESERVERS = 3  # glibc reads at most three


class ZoneError(ValueError):
    """A problem in the zone data, named by its variable path."""


# --- names -------------------------------------------------------------------------------------

def check_domain(value, allow_wildcard=False):
    """Return the lower-case domain without its trailing dot; raise ZoneError(reason) otherwise."""
    if not isinstance(value, str) or not value.strip():
        raise ZoneError('must be a non-empty domain name, got %r' % (value,))
    text = value.strip().lower()
    if text.endswith('.'):
        text = text[:-1]
    if not text:
        raise ZoneError('the root zone (".") cannot be a private zone')
    if len(text) > 253:
        raise ZoneError('%r is longer than 253 characters' % value)
    labels = text.split('.')
    for pos, label in enumerate(labels):
        if label == '*' and allow_wildcard and pos == 0:
            continue
        if not _LABEL.match(label):
            raise ZoneError('%r has an invalid label %r (letters, digits, "-" and "_", 1 to 63 characters, '
                            'no leading or trailing "-")' % (value, label))
    return text


def _owner(name, zone):
    """Owner name relative to the zone: '@' for the apex, else the relative labels."""
    if not isinstance(name, str) or not name.strip():
        raise ZoneError('must be "@", a name relative to the zone, or a name ending with "." inside it')
    text = name.strip().lower()
    if text == '@':
        return '@'
    if text.endswith('.'):
        fqdn = check_domain(text, allow_wildcard=True)
        if fqdn == zone:
            return '@'
        if not fqdn.endswith('.' + zone):
            raise ZoneError('%r is not inside the zone %s' % (name, zone))
        return fqdn[:-len(zone) - 1]
    relative = check_domain(text, allow_wildcard=True)
    if relative == zone or relative.endswith('.' + zone):
        raise ZoneError('%r looks like a full name: write it relative to the zone (%r) or end it with "."'
                        % (name, relative[:-len(zone) - 1] if relative != zone else '@'))
    return relative


def _target(value, zone):
    """A CNAME/SRV target as an absolute name with its trailing dot ('.' stays '.')."""
    if not isinstance(value, str) or not value.strip():
        raise ZoneError('must be a host name')
    text = value.strip().lower()
    if text == '.':
        return '.'
    if text == '@':
        return zone + '.'
    if text.endswith('.'):
        return check_domain(text) + '.'
    return check_domain(text) + '.' + zone + '.'


def _int_field(record, key, low, high, path):
    value = record.get(key)
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, str) and value.strip().isdigit():
            value = int(value)
        else:
            raise ZoneError('%s.%s: must be an integer from %d to %d, got %r' % (path, key, low, high, value))
    if not low <= value <= high:
        raise ZoneError('%s.%s: must be from %d to %d, got %r' % (path, key, low, high, value))
    return value


# --- records -----------------------------------------------------------------------------------

def normalize_record(record, zone, path):
    """Validate one record dict and return its normal form; raise ZoneError naming ``path``."""
    if not isinstance(record, dict):
        raise ZoneError('%s: must be a dict with name, type and value, got %r' % (path, record))
    unknown = sorted(set(record) - {'name', 'type', 'value', 'ttl', 'priority', 'weight', 'port', 'target'})
    if unknown:
        raise ZoneError('%s: unknown keys %s' % (path, ', '.join(unknown)))
    try:
        owner = _owner(record.get('name', '@'), zone)
    except ZoneError as exc:
        raise ZoneError('%s.name: %s' % (path, exc)) from None
    rtype = str(record.get('type', 'A')).upper()
    if rtype not in RECORD_TYPES:
        raise ZoneError('%s.type: must be one of %s, got %r' % (path, ', '.join(RECORD_TYPES), record.get('type')))
    ttl = None
    if record.get('ttl') is not None:
        ttl = _int_field(record, 'ttl', 0, MAX_TTL, path)
    value = record.get('value')
    if rtype in ('A', 'AAAA'):
        version = 4 if rtype == 'A' else 6
        addr = parse_ip(value, literal=True)
        if addr is None or addr.version != version:
            raise ZoneError('%s.value: %r is not an IPv%d address (type %s)' % (path, value, version, rtype))
        data = str(addr)
    elif rtype == 'CNAME':
        try:
            data = _target(value, zone)
        except ZoneError as exc:
            raise ZoneError('%s.value: %s (type CNAME), got %r' % (path, exc, value)) from None
        if data == '.':
            raise ZoneError('%s.value: a CNAME cannot point to "."' % path)
    else:
        if value is not None:
            parts = str(value).split()
            if len(parts) != 4:
                raise ZoneError('%s.value: an SRV value is "PRIORITY WEIGHT PORT TARGET", got %r' % (path, value))
            record = dict(record, priority=parts[0], weight=parts[1], port=parts[2], target=parts[3])
        for key in ('priority', 'weight', 'port', 'target'):
            if record.get(key) is None:
                raise ZoneError('%s.%s: required for type SRV (or give value: "PRIORITY WEIGHT PORT TARGET")'
                                % (path, key))
        prio = _int_field(record, 'priority', 0, 65535, path)
        weight = _int_field(record, 'weight', 0, 65535, path)
        port = _int_field(record, 'port', 0, 65535, path)
        try:
            target = _target(record['target'], zone)
        except ZoneError as exc:
            raise ZoneError('%s.target: %s, got %r' % (path, exc, record['target'])) from None
        data = '%d %d %d %s' % (prio, weight, port, target)
    return {'name': owner, 'type': rtype, 'ttl': ttl, 'value': data}


def _check_owner_conflicts(records, zone, path, errors):
    """CNAME must stand alone and not sit at the apex (RFC 1034 3.6.2)."""
    by_owner = {}
    for rec in records:
        by_owner.setdefault(rec['name'], set()).add(rec['type'])
    for owner, types in sorted(by_owner.items()):
        if 'CNAME' in types and owner == '@':
            errors.append('%s: a CNAME cannot be at the zone apex of %s (the apex holds SOA and NS)' % (path, zone))
        elif 'CNAME' in types and len(types) > 1:
            errors.append('%s: %s has a CNAME and other data (%s); a CNAME must be the only record of its name'
                          % (path, owner, ', '.join(sorted(types - {'CNAME'}))))


def _dedupe(records):
    seen = set()
    out = []
    for rec in records:
        key = (rec['name'], rec['type'], rec['value'])
        if key not in seen:
            seen.add(key)
            out.append(rec)
    return out


def _record_sort_key(rec):
    order = {'A': 0, 'AAAA': 1, 'CNAME': 2, 'SRV': 3}
    return (rec['name'] != '@', rec['name'], order[rec['type']], rec['value'])


# --- zones -------------------------------------------------------------------------------------

def _zone_int(zone, key, default, low, high, path):
    if zone.get(key) is None:
        return default
    return _int_field(zone, key, low, high, path)


def normalize_zone(zone, path, defaults=None):
    """Validate one zone dict; returns (zone, errors)."""
    defaults = dict(ZONE_DEFAULTS, **(defaults or {}))
    errors = []
    if not isinstance(zone, dict):
        return None, ['%s: must be a dict with at least "name", got %r' % (path, zone)]
    unknown = sorted(set(zone) - {'name', 'ttl', 'records', 'public_records', 'extra_lines', 'nameserver',
                                  'hostmaster', 'refresh', 'retry', 'expire', 'negative_ttl'})
    if unknown:
        errors.append('%s: unknown keys %s' % (path, ', '.join(unknown)))
    try:
        name = check_domain(zone.get('name'))
    except ZoneError as exc:
        return None, errors + ['%s.name: %s' % (path, exc)]
    out = {'name': name, 'source': 'vars'}
    try:
        out['ttl'] = _zone_int(zone, 'ttl', defaults['ttl'], 0, MAX_TTL, path)
        out['refresh'] = _zone_int(zone, 'refresh', defaults['refresh'], 1, MAX_TTL, path)
        out['retry'] = _zone_int(zone, 'retry', defaults['retry'], 1, MAX_TTL, path)
        out['expire'] = _zone_int(zone, 'expire', defaults['expire'], 1, MAX_TTL, path)
        out['negative_ttl'] = _zone_int(zone, 'negative_ttl', defaults['negative_ttl'], 0, 86400, path)
    except ZoneError as exc:
        errors.append(str(exc))
    for key in ('nameserver', 'hostmaster'):
        value = zone.get(key) or defaults[key] or ('hostmaster.%s.' % name if key == 'hostmaster' else '')
        try:
            out[key] = check_domain(value) + '.'
        except ZoneError as exc:
            errors.append('%s.%s: %s' % (path, key, exc))
    for key in ('records', 'public_records'):
        items = zone.get(key)
        if items is None:
            out[key] = [] if key == 'records' else None
            continue
        if not isinstance(items, list):
            errors.append('%s.%s: must be a list of records, got %r' % (path, key, items))
            out[key] = [] if key == 'records' else None
            continue
        records = []
        for idx, rec in enumerate(items):
            try:
                records.append(normalize_record(rec, name, '%s.%s[%d]' % (path, key, idx)))
            except ZoneError as exc:
                errors.append(str(exc))
        out[key] = _dedupe(records)
        _check_owner_conflicts(out[key], name, '%s.%s' % (path, key), errors)
    extra = zone.get('extra_lines') or []
    if isinstance(extra, str):
        extra = extra.splitlines()
    if not isinstance(extra, list) or not all(isinstance(line, str) for line in extra):
        errors.append('%s.extra_lines: must be a list of zone file lines' % path)
        extra = []
    out['extra_lines'] = [line.rstrip() for line in extra if line.strip()]
    return out, errors


# --- names answered privately (split_dns_names) --------------------------------------------------

def _ip_record(ip):
    addr = parse_ip(ip, literal=True)
    if addr is None:
        raise ValueError('%r is not an IP address' % (ip,))
    return ('A' if addr.version == 4 else 'AAAA'), str(addr)


def _find_zone(zones, fqdn):
    best = None
    for zone in zones:
        if fqdn == zone['name'] or fqdn.endswith('.' + zone['name']):
            if best is None or len(zone['name']) > len(best['name']):
                best = zone
    return best


def _add_name_record(records, owner, rtype, value):
    """Explicit records win: a name that already has records is left alone."""
    if any(rec['name'] == owner for rec in records):
        return False
    records.append({'name': owner, 'type': rtype, 'ttl': None, 'value': value})
    return True


def _pinpoint_zone(fqdn, public_view, defaults):
    return {
        'name': fqdn, 'source': 'names', 'ttl': defaults['ttl'], 'refresh': defaults['refresh'],
        'retry': defaults['retry'], 'expire': defaults['expire'], 'negative_ttl': defaults['negative_ttl'],
        'nameserver': check_domain(defaults['nameserver']) + '.',
        'hostmaster': check_domain(defaults['hostmaster'] or 'hostmaster.%s' % fqdn) + '.',
        'records': [], 'public_records': [] if public_view else None, 'extra_lines': [],
    }


def merge_names(zones, names, public_view=True, defaults=None):
    """Add ``split_dns_names`` (``[{name, private, public}]``) to ``zones`` (modified in place).

    A name inside an explicit zone becomes a record of that zone (its public view gets the public
    address when the zone has one). Any other name gets a zone of its own holding just that name
    ("pinpoint" zone), so the private resolver never shadows sibling names it does not know.
    Returns (errors, skipped, applied) where applied lists {name, zone, private, public}.
    """
    errors, skipped, applied = [], [], []
    if names is None:
        return errors, skipped, applied
    if not isinstance(names, list):
        return ['split_dns_names: must be a list of {name, private, public}, got %s' % type(names).__name__], [], []
    defaults = dict(ZONE_DEFAULTS, **(defaults or {}))
    chosen = {}
    for idx, item in enumerate(names):
        path = 'split_dns_names[%d]' % idx
        if not isinstance(item, dict):
            errors.append('%s: must be a dict {name: app.example.test, private: 10.0.0.20, public: 203.0.113.1}, got %r' % (path, item))
            continue
        unknown = sorted(set(item) - {'name', 'private', 'public'})
        if unknown:
            errors.append('%s: unknown keys %s (allowed: name, private, public)' % (path, ', '.join(unknown)))
            continue
        try:
            fqdn = check_domain(item.get('name'))
        except ZoneError as exc:
            errors.append('%s.name: %s' % (path, exc))
            continue
        try:
            private_type, private_ip = _ip_record(item.get('private'))
        except ValueError:
            errors.append('%s.private: %r is not an IP address (the backend address answered inside)' % (path, item.get('private')))
            continue
        public_ip = None
        if item.get('public') is not None:
            try:
                public_type, public_ip = _ip_record(item['public'])
            except ValueError:
                errors.append('%s.public: %r is not an IP address (the address answered outside)' % (path, item.get('public')))
                continue
        previous = chosen.get(fqdn)
        if previous and previous[0] != private_ip:
            errors.append('%s: %s would answer %s (%s) and %s; split DNS gives one private answer per name: keep one'
                          % (path, fqdn, previous[0], previous[1], private_ip))
            continue
        if previous:
            continue
        chosen[fqdn] = (private_ip, path)
        zone = _find_zone(zones, fqdn)
        if zone is None:
            zone = _pinpoint_zone(fqdn, public_view, defaults)
            zones.append(zone)
        owner = '@' if fqdn == zone['name'] else fqdn[:-len(zone['name']) - 1]
        if not _add_name_record(zone['records'], owner, private_type, private_ip):
            skipped.append({'name': fqdn, 'reason': '%s already has records in split_dns_zones (%s): explicit records win'
                            % (fqdn, zone['name'])})
            continue
        public_added = None
        if zone['public_records'] is not None and public_ip is not None:
            if _add_name_record(zone['public_records'], owner, public_type, public_ip):
                public_added = public_ip
        applied.append({'name': fqdn, 'zone': zone['name'], 'private': private_ip, 'public': public_added})
    return errors, skipped, applied


# --- the rest of the configuration --------------------------------------------------------------

def _check_cidrs(values, var, errors):
    out = []
    if not isinstance(values, list):
        errors.append('%s: must be a list of CIDRs such as 192.168.1.0/24, got %r' % (var, values))
        return out
    for idx, value in enumerate(values):
        try:
            out.append(str(parse_network(value, strict=True)))
        except ValueError as exc:
            errors.append('%s[%d]: %s' % (var, idx, exc))
    return out


def _check_addresses(values, var, errors):
    out = []
    if not isinstance(values, list):
        errors.append('%s: must be a list of IP addresses, got %r' % (var, values))
        return out
    for idx, value in enumerate(values):
        addr = parse_ip(value, literal=True)
        if addr is None:
            errors.append('%s[%d]: %r is not an IP address' % (var, idx, value))
        else:
            out.append(str(addr))
    return out


def parse_upstream(value):
    """'198.51.100.53', '198.51.100.53:5353', '[2001:db8::53]:53', '2001:db8::53' -> (ip, port)."""
    match = _UPSTREAM.match(str(value).strip())
    if not match:
        raise ZoneError('%r is not an upstream address such as 198.51.100.53, 198.51.100.53:5353 or [2001:db8::53]:53'
                        % (value,))
    ip_text = match.group('ip6') or match.group('ip')
    ip = parse_ip(ip_text, literal=True)
    if ip is None:
        raise ZoneError('%r: %r is not an IP address (CoreDNS forwards to addresses, not names)' % (value, ip_text))
    try:
        port = parse_port(match.group('port') or 53)
    except ValueError:
        raise ZoneError('the port of %r is not a port number (1-65535)' % (value,)) from None
    return str(ip), port


def build_config(zones, names=None, internal_cidrs=None, listen_addresses=None, upstreams=None, listen_port=53,
                 names_public_view=True, zone_defaults=None, client_nameservers=None, client_domains=None):
    """Validate the role's variables and merge the names. Returns a dict:

    zones (sorted by name, each with records/public_records sorted), internal_cidrs, listen_addresses,
    upstreams, domains (zone names), client_nameservers, client_domains (the client side's routing
    domains: ``client_domains``, else the zone names), names_applied, names_skipped, errors (one message
    per problem, each naming its variable).
    """
    errors = []
    out_zones = []
    defaults = dict(ZONE_DEFAULTS, **(zone_defaults or {}))
    try:
        defaults['nameserver'] = check_domain(defaults['nameserver'])
    except ZoneError as exc:
        errors.append('split_dns_nameserver: %s' % exc)
        defaults['nameserver'] = ZONE_DEFAULTS['nameserver']
    if zones is None:
        zones = []
    if not isinstance(zones, list):
        errors.append('split_dns_zones: must be a list of zones, got %r' % (zones,))
        zones = []
    seen = {}
    for idx, zone in enumerate(zones):
        path = 'split_dns_zones[%d]' % idx
        norm, zone_errors = normalize_zone(zone, path, defaults)
        errors.extend(zone_errors)
        if norm is None:
            continue
        if norm['name'] in seen:
            errors.append('%s.name: zone %s is already defined at %s' % (path, norm['name'], seen[norm['name']]))
            continue
        seen[norm['name']] = path
        out_zones.append(norm)
    name_errors, skipped, applied = merge_names(out_zones, names, public_view=names_public_view, defaults=defaults)
    errors.extend(name_errors)
    cidrs = _check_cidrs(internal_cidrs if internal_cidrs is not None else [], 'split_dns_internal_cidrs', errors)
    listen = _check_addresses(listen_addresses if listen_addresses is not None else [], 'split_dns_listen_addresses', errors)
    ups = []
    if upstreams is None:
        upstreams = []
    if not isinstance(upstreams, list):
        errors.append('split_dns_upstreams: must be a list of addresses, got %r' % (upstreams,))
        upstreams = []
    for idx, value in enumerate(upstreams):
        try:
            ip, port = parse_upstream(value)
        except ZoneError as exc:
            errors.append('split_dns_upstreams[%d]: %s' % (idx, exc))
            continue
        if ip in ('127.0.0.53', '127.0.0.54'):
            errors.append('split_dns_upstreams[%d]: %s is systemd-resolved\'s stub listener; forwarding there loops as soon as '
                          'the host resolves through this server: give the real upstream resolvers' % (idx, value))
            continue
        if port == listen_port and (ip in listen or (not listen and is_loopback(ip))):
            errors.append('split_dns_upstreams[%d]: %s is this server itself (split_dns_listen_addresses): a forwarding loop'
                          % (idx, value))
            continue
        if ':' in ip:
            ups.append('[%s]:%d' % (ip, port))
        else:
            ups.append(ip if port == 53 else '%s:%d' % (ip, port))
    for zone in out_zones:
        zone['records'] = sorted(zone['records'], key=_record_sort_key)
        if zone['public_records'] is not None:
            zone['public_records'] = sorted(zone['public_records'], key=_record_sort_key)
    out_zones.sort(key=lambda z: z['name'])
    nameservers = _check_addresses(client_nameservers if client_nameservers is not None else [],
                                   'split_dns_client_nameservers', errors)
    domains = []
    if client_domains is None:
        client_domains = []
    if not isinstance(client_domains, list):
        errors.append('split_dns_client_domains: must be a list of domains, got %r' % (client_domains,))
        client_domains = []
    for idx, value in enumerate(client_domains or []):
        try:
            domains.append(check_domain(value))
        except ZoneError as exc:
            errors.append('split_dns_client_domains[%d]: %s' % (idx, exc))
    return {
        'zones': out_zones,
        'domains': [z['name'] for z in out_zones],
        'client_nameservers': nameservers,
        'client_domains': domains or [z['name'] for z in out_zones],
        'internal_cidrs': cidrs,
        'listen_addresses': listen,
        'upstreams': ups,
        'names_applied': applied,
        'names_skipped': skipped,
        'errors': errors,
    }


# --- zone files --------------------------------------------------------------------------------

def _render_body(zone, view):
    records = zone['records'] if view == 'internal' else zone['public_records']
    lines = [
        '$ORIGIN %s.' % zone['name'],
        '$TTL %d' % zone['ttl'],
        '@ IN SOA %s %s (' % (zone['nameserver'], zone['hostmaster']),
        '        {serial} ; serial',
        '        %d ; refresh' % zone['refresh'],
        '        %d ; retry' % zone['retry'],
        '        %d ; expire' % zone['expire'],
        '        %d ) ; negative answers TTL' % zone['negative_ttl'],
        '@ IN NS %s' % zone['nameserver'],
    ]
    width = max([len(rec['name']) for rec in records] + [1])
    for rec in records:
        ttl = ' %d' % rec['ttl'] if rec.get('ttl') is not None else ''
        lines.append('%s%s IN %s %s' % (rec['name'].ljust(width), ttl, rec['type'], rec['value']))
    if view == 'internal' and zone.get('extra_lines'):
        lines.append('; extra_lines')
        lines.extend(zone['extra_lines'])
    return '\n'.join(lines) + '\n'


def parse_previous(text):
    """(content hash, serial) written by render_zone_file, or (None, None)."""
    if not text:
        return None, None
    digest = _HASH_LINE.search(text)
    serial = _SERIAL_LINE.search(text)
    return (digest.group(1) if digest else None), (int(serial.group(1)) if serial else None)


def next_serial(previous_serial, today):
    """YYYYMMDDnn, and always above the previous serial (RFC 1912 style)."""
    base = int(today) * 100
    serial = base if previous_serial is None else max(previous_serial + 1, base)
    if serial > MAX_SERIAL:
        raise ZoneError('the next SOA serial %d does not fit in 32 bits; reset the zone serial by hand' % serial)
    return serial


def _today(today):
    if today is None:
        return datetime.datetime.now(datetime.timezone.utc).strftime('%Y%m%d')
    text = str(today).replace('-', '')
    if not re.match(r'^\d{8}$', text):
        raise ZoneError('today must be YYYYMMDD, got %r' % (today,))
    return text


def zone_file_name(zone_name, view):
    return 'db.%s.%s' % (zone_name, view)


def render_zone_file(zone, view, previous=None, today=None):
    """Zone file text for one view. The serial stays when the content hash is unchanged."""
    if view not in VIEWS:
        raise ZoneError('view must be one of %s' % ', '.join(VIEWS))
    if view == 'public' and zone.get('public_records') is None:
        raise ZoneError('zone %s has no public view' % zone['name'])
    body = _render_body(zone, view)
    digest = hashlib.sha256(body.encode('utf-8')).hexdigest()
    prev_digest, prev_serial = parse_previous(previous)
    if prev_digest == digest and prev_serial is not None:
        serial = prev_serial
    else:
        serial = next_serial(prev_serial, _today(today))
    header = [
        '; keeplocal.traffic split_dns: zone %s, %s view. Managed by Ansible, edits are overwritten.' % (zone['name'], view),
        '; content-sha256: %s' % digest,
    ]
    return '\n'.join(header) + '\n' + body.replace('{serial}', str(serial), 1)


def render_zone_files(zones, previous=None, today=None):
    """[{file, zone, view, serial, content}] for every zone and view; ``previous`` maps file -> text."""
    previous = previous or {}
    today = _today(today)
    out = []
    for zone in zones:
        for view in VIEWS:
            if view == 'public' and zone.get('public_records') is None:
                continue
            name = zone_file_name(zone['name'], view)
            content = render_zone_file(zone, view, previous.get(name), today)
            out.append({'file': name, 'zone': zone['name'], 'view': view,
                        'serial': parse_previous(content)[1], 'content': content})
    return out


# --- clients -----------------------------------------------------------------------------------

def _nameserver_addresses(nameservers):
    """The nameservers' addresses in their canonical text, once each, in order; ZoneError names the
    first one that is not an IP address."""
    addresses = []
    for ip in nameservers or []:
        addr = parse_ip(ip, literal=True)
        if addr is None:
            raise ZoneError('%r is not an IP address' % (ip,))
        if str(addr) not in addresses:
            addresses.append(str(addr))
    return addresses


def render_resolv_conf(original, nameservers, keep_existing=True, backup_path=None):
    """resolv.conf with ``nameservers`` first; other lines of ``original`` are kept.

    With keep_existing the original nameservers follow (up to glibc's three), so names keep
    resolving if the private resolver is down (the answers are then the public ones).
    """
    ours = _nameserver_addresses(nameservers)
    if not ours:
        raise ZoneError('no nameserver given')
    kept, others = [], []
    for line in (original or '').splitlines():
        stripped = line.strip()
        if stripped.startswith(RESOLV_MARKER):
            continue
        parts = stripped.split()
        if parts and parts[0] == 'nameserver' and len(parts) > 1:
            if parts[1] not in ours and parts[1] not in kept:
                kept.append(parts[1])
            continue
        others.append(line.rstrip())
    servers = ours + (kept if keep_existing else [])
    servers = servers[:max(RESOLV_MAX_NAMESERVERS, len(ours))]
    note = ' (the original is saved as %s)' % backup_path if backup_path else ''
    lines = ['%s private zones are answered by %s%s' % (RESOLV_MARKER, ', '.join(ours), note)]
    lines += ['nameserver %s' % ip for ip in servers]
    lines += [line for line in others if line.strip()]
    return '\n'.join(lines) + '\n'


def resolved_foreign_global_servers(resolvectl_dns, nameservers):
    """The global DNS servers of systemd-resolved that are not ``nameservers``, from `resolvectl dns`.

    resolved keeps one server list per scope and asks any server of a scope for every domain the
    scope routes: the private resolvers cannot share the global scope with other servers, or names of
    the private zones reach those servers too. `resolvectl dns` prints ``Global: <servers>`` first,
    then one ``Link N (name): <servers>`` line per link; a server may carry ``:port`` or ``#name``.
    """
    ours = set(_nameserver_addresses(nameservers))
    for line in (resolvectl_dns or '').splitlines():
        label, sep, servers = line.partition(':')
        if sep and label.strip() == 'Global':
            foreign = []
            for server in servers.split():
                address = _resolved_server_address(server)
                if address not in ours and server not in foreign:
                    foreign.append(server)
            return foreign
    return []


def _resolved_server_address(server):
    """The address of a resolved server spec: ``1.2.3.4``, ``1.2.3.4:53``, ``[::1]:53``, ``1.2.3.4#name``."""
    address = server.split('#', 1)[0].split('%', 1)[0]
    if address.startswith('['):
        return address[1:].split(']', 1)[0]
    if address.count(':') == 1:
        return address.split(':', 1)[0]
    return address


# --- probes ------------------------------------------------------------------------------------

def build_probes(zone_files, listen_addresses, internal_cidrs, port=53):
    """Queries proving a server answers the rendered zone files, for keeplocal.traffic.coredns_probe.

    Sent from the host to itself: from one of its addresses inside the internal CIDRs (internal view:
    the SOA serial of the internal file) and from one outside them (public view: the public file's
    serial, or REFUSED for a private-only zone). Without such addresses, a plain liveness query.
    """
    nets = [parse_network(cidr) for cidr in internal_cidrs or []]
    internal = public = None
    for text in listen_addresses or []:
        addr = parse_ip(text, literal=True)
        if addr is None:
            raise ZoneError('listen_addresses: %r is not an IP address' % (text,))
        if any(addr.version == net.version and addr in net for net in nets):
            internal = internal or str(addr)
        elif not addr.is_loopback and not addr.is_link_local:
            public = public or str(addr)
    serials = {}
    for item in zone_files:
        serials[(item['zone'], item['view'])] = item['serial']
    probes = []
    for zone in sorted(set(z for z, dummy in serials)):
        if internal:
            probes.append({'server': internal, 'source': internal, 'port': port, 'name': zone, 'type': 'SOA',
                           'expect_rcode': 'NOERROR', 'expect_serial': serials[(zone, 'internal')]})
        if public:
            probe = {'server': public, 'source': public, 'port': port, 'name': zone, 'type': 'SOA'}
            if (zone, 'public') in serials:
                probe.update(expect_rcode='NOERROR', expect_serial=serials[(zone, 'public')])
            else:
                probe.update(expect_rcode='REFUSED')
            probes.append(probe)
        if not internal and not public:
            server = (listen_addresses or ['127.0.0.1'])[0]
            probes.append({'server': server, 'port': port, 'name': zone, 'type': 'SOA'})
    return probes
