# Copyright (c) 2026 keeplocal.traffic contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Parse NAT rules (``iptables-save -t nat`` text, ``nft -j list ruleset`` JSON) into port forwards
and source-NAT rules (stdlib only, no I/O).

Rules are followed from the built-in hooks (PREROUTING/OUTPUT for DNAT, POSTROUTING for SNAT and
MASQUERADE) through user chains (``-j CHAIN``, nft ``jump``/``goto`` and verdict maps); a rule in a
user chain inherits the addresses, interfaces, protocol and ports of the jump that reaches it when
it does not set them itself. An nft match on a set (anonymous or named, concatenated or not) and a
NAT map (``dnat to ip daddr . tcp dport map { ... }``) become one rule per element.

Result (see docs/architecture.md, nat_rules_info): ``forwards``, ``snat_rules``, plus ``unparsed``
(rule texts that could not be decoded, for warnings).
"""

from __future__ import annotations

import json
import shlex

from ansible_collections.keeplocal.traffic.plugins.module_utils._addresses import normalize_ip, parse_network, split_host_port

DNAT_HOOKS = ('prerouting', 'output')
SNAT_HOOKS = ('postrouting',)
_NAT_TARGETS = ('DNAT', 'SNAT', 'MASQUERADE', 'REDIRECT', 'NETMAP')
_INHERITED = ('source', 'destination', 'in_interface', 'out_interface', 'proto', 'dports', 'dst_local')


class _Rule:
    """One NAT rule, decoded. Address and interface values are strings; '!' prefix = negated."""

    def __init__(self, text):
        self.text = text
        self.source = None
        self.destination = None
        self.in_interface = None
        self.out_interface = None
        self.proto = None
        self.dports = None          # list of (first, last-or-None); None = any port
        self.dst_local = False      # -m addrtype --dst-type LOCAL
        self.ctstate_dnat = False
        self.target = None          # DNAT SNAT MASQUERADE REDIRECT JUMP ...
        self.jump = None            # chain name for JUMP/GOTO
        self.to = None              # --to-destination / --to-source / nft addr (str)
        self.to_port = None         # (first, last-or-None) from nft
        self.undecoded = None       # nft: why the rule cannot be decoded ('xt': an iptables-nft target)

    def inherit(self, parent):
        """A copy of this rule with unset conditions taken from the jump rule ``parent``."""
        if parent is None:
            return self
        rule = _Rule(self.text)
        rule.__dict__.update(self.__dict__)
        for name in _INHERITED:
            if not getattr(rule, name) and getattr(parent, name):
                setattr(rule, name, getattr(parent, name))
        rule.ctstate_dnat = self.ctstate_dnat or parent.ctstate_dnat
        return rule


# ---------------------------------------------------------------------------------------------
# Shared: forwards, SNAT rules, hairpin decision


def _port_list(spec):
    """'80' -> [(80, None)]; '5000:5010' / '5000-5010' -> [(5000, 5010)]; '80,443' -> two."""
    result = []
    for part in spec.split(','):
        part = part.strip()
        if not part:
            continue
        sep = ':' if ':' in part else '-'
        first, dummy, last = part.partition(sep)
        lo = int(first)
        hi = int(last) if last else None
        result.append((lo, hi if hi != lo else None))
    return result


def _split_to_destination(value):
    """'192.168.1.20:80' / '[fd00::20]:80' / 'fd00::20' / '10.0.0.1-10.0.0.3:80-90' / ':8080'
    -> (ip or None, first port or None, last port or None)."""
    host, ports = split_host_port(value) or (value, None)
    host = host.split('-', 1)[0] if host else None
    if host:
        try:
            host = normalize_ip(host)
        except ValueError:
            pass
    first = last = None
    if ports:
        lo, dummy, hi = ports.partition('-')
        first = int(lo)
        last = int(hi) if hi and int(hi) != first else None
    return host, first, last


def _host_or_network(value):
    """Forward public address: '198.51.100.1/32' -> '198.51.100.1'; networks stay CIDRs."""
    if value is None or value.startswith('!'):
        return None
    try:
        net = parse_network(value)
    except ValueError:
        return value
    if net.num_addresses == 1:
        return normalize_ip(str(net.network_address))
    return str(net)


def _cidr(value):
    """SNAT rule address as a CIDR text (negation kept as a '!' prefix)."""
    if value is None:
        return None
    negated = value.startswith('!')
    text = value[1:] if negated else value
    try:
        text = str(parse_network(text))
    except ValueError:
        pass
    return '!' + text if negated else text


def _make_forwards(rule):
    if rule.to is None and rule.to_port is None:
        return []
    private_ip, to_first, dummy = _split_to_destination(rule.to) if rule.to else (None, None, None)
    if rule.to_port is not None:
        to_first = rule.to_port[0]
    proto = rule.proto if rule.proto and not rule.proto.startswith('!') else None
    public_ip = None if rule.dst_local and not rule.destination else _host_or_network(rule.destination)
    forwards = []
    for first, last in (rule.dports or [(None, None)]):
        private_port = to_first if to_first is not None else first
        forwards.append({
            'proto': proto,
            'public_ip': public_ip,
            'public_port': first,
            'public_port_end': last,
            'private_ip': private_ip,
            'private_port': private_port,
            'port_translated': private_port != first,
            'in_interface': rule.in_interface,
            'rule': rule.text,
        })
    return forwards


def _make_snat(rule):
    return {
        'source': _cidr(rule.source),
        'destination': _cidr(rule.destination),
        'out_interface': rule.out_interface,
        'ctstate_dnat': rule.ctstate_dnat,
        'target': rule.target,
        'to_source': rule.to,
        'rule': rule.text,
    }


def _build(dnat_rules, snat_rules, unparsed):
    forwards = []
    seen = set()
    for rule in dnat_rules:
        for forward in _make_forwards(rule):
            key = (forward['proto'], forward['public_ip'], forward['public_port'], forward['rule'])
            if key not in seen:
                seen.add(key)
                forwards.append(forward)
    snats = []
    seen = set()
    for rule in snat_rules:
        item = _make_snat(rule)
        key = (item['rule'], item['source'], item['destination'], item['out_interface'])
        if key not in seen:
            seen.add(key)
            snats.append(item)
    return {
        'forwards': forwards,
        'snat_rules': snats,
        'unparsed': unparsed,
    }


def _walk(chains, roots, wanted, undecoded=None):
    """Rules with a target in ``wanted`` reachable from ``roots``, with inherited jump conditions.

    Undecodable rules reached on the way are appended to ``undecoded`` (once each): only a rule a
    NAT hook reaches can hide a forward, so only those are reported.
    """
    found = []

    def visit(name, parent, stack):
        for rule in chains.get(name, []):
            if rule.undecoded:
                if undecoded is not None and rule not in undecoded:
                    undecoded.append(rule)
                continue
            effective = rule.inherit(parent)
            if rule.target in wanted:
                found.append(effective)
            elif rule.jump and rule.jump in chains and rule.jump not in stack:
                visit(rule.jump, effective, stack + (rule.jump,))

    for root in roots:
        if root in chains:
            visit(root, None, (root,))
    return found


# ---------------------------------------------------------------------------------------------
# iptables-save


def _parse_iptables_rule(line):
    try:
        tokens = shlex.split(line)
    except ValueError:
        return None, None
    rule = _Rule(line)
    chain = None
    negate = False
    i = 0

    def value():
        return tokens[i + 1] if i + 1 < len(tokens) else None

    while i < len(tokens):
        tok = tokens[i]
        if tok == '!':
            negate = True
            i += 1
            continue
        val = value()
        consumed = 2
        prefix = '!' if negate else ''
        if tok in ('-A', '--append'):
            chain = val
        elif tok in ('-s', '--source', '--src'):
            rule.source = prefix + val
        elif tok in ('-d', '--destination', '--dst'):
            rule.destination = prefix + val
        elif tok in ('-i', '--in-interface'):
            rule.in_interface = prefix + val
        elif tok in ('-o', '--out-interface'):
            rule.out_interface = prefix + val
        elif tok in ('-p', '--protocol'):
            rule.proto = prefix + val.lower()
        elif tok in ('--dport', '--destination-port', '--dports', '--destination-ports'):
            if not negate:
                rule.dports = _port_list(val)
        elif tok in ('--ctstate', '--state'):
            if not negate and 'DNAT' in val.split(','):
                rule.ctstate_dnat = True
        elif tok == '--dst-type':
            if not negate and val == 'LOCAL':
                rule.dst_local = True
        elif tok in ('-j', '--jump', '-g', '--goto'):
            if val in _NAT_TARGETS:
                rule.target = val
            elif val not in ('ACCEPT', 'RETURN', 'DROP', 'REJECT', 'LOG', 'MARK', 'CONNMARK', 'CT', None):
                rule.target = 'JUMP'
                rule.jump = val
        elif tok in ('--to-destination', '--to-source', '--to'):
            rule.to = val
        elif tok == '--to-ports':
            rule.to_port = _port_list(val.replace('-', ':'))[0]
        else:
            consumed = 1
        i += consumed
        negate = False
    return chain, rule


def parse_iptables_save(text):
    """Decode ``iptables-save -t nat`` (or ``ip6tables-save``) text; the nat table only."""
    chains = {}
    in_nat = True
    unparsed = []
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith('*'):
            in_nat = line[1:] == 'nat'
            continue
        if not in_nat:
            continue
        if line.startswith(':'):
            chains.setdefault(line[1:].split()[0], [])
            continue
        if not line.startswith('-A'):
            continue
        try:
            chain, rule = _parse_iptables_rule(line)
        except (ValueError, IndexError, TypeError, AttributeError):
            chain, rule = None, None
        if rule is None or chain is None:
            unparsed.append(line)
            continue
        chains.setdefault(chain, []).append(rule)
    dnat = _walk(chains, ('PREROUTING', 'OUTPUT'), ('DNAT',))
    snat = _walk(chains, ('POSTROUTING',), ('SNAT', 'MASQUERADE'))
    return _build(dnat, snat, unparsed)


# ---------------------------------------------------------------------------------------------
# nftables JSON

_L4_PROTOCOLS = ('tcp', 'udp', 'sctp', 'dccp', 'udplite')
# Statements that make a rule matter to NAT: a rule with one of them that cannot be decoded is reported.
_NFT_NAT_STATEMENTS = ('dnat', 'snat', 'masquerade', 'redirect', 'jump', 'goto', 'vmap')


class _Undecodable(Exception):
    """A part of an nft rule this parser does not follow: the rule is reported, never guessed."""


def _unwrap(element):
    """A set or map element without its options (nft -j writes {"elem": {"val": ..., "comment": ...}})."""
    while isinstance(element, dict) and 'elem' in element:
        element = element['elem'].get('val')
    return element


def _field(expr):
    """The rule attribute an nft expression selects (a match's left side, a part of a map key)."""
    if not isinstance(expr, dict):
        return None
    if 'payload' in expr:
        proto = expr['payload'].get('protocol')
        name = expr['payload'].get('field')
        if proto in ('ip', 'ip6') and name in ('saddr', 'daddr'):
            return 'source' if name == 'saddr' else 'destination'
        if (proto, name) in (('ip', 'protocol'), ('ip6', 'nexthdr')):
            return 'proto'
        if name == 'dport':
            return 'dports'
    elif 'meta' in expr:
        key = expr['meta'].get('key')
        if key in ('iifname', 'iif'):
            return 'in_interface'
        if key in ('oifname', 'oif'):
            return 'out_interface'
        if key == 'l4proto':
            return 'proto'
    return None


def _key(expr):
    """[(attribute, protocol it implies)] of a match's left side or a map's key, one per part of a
    concatenation (``ip daddr . tcp dport``); None when a part is not one this parser follows."""
    parts = expr['concat'] if isinstance(expr, dict) and 'concat' in expr else [expr]
    key = []
    for part in parts:
        name = _field(part)
        if name is None:
            return None
        proto = part['payload'].get('protocol') if 'payload' in part else None
        key.append((name, proto if name == 'dports' and proto in _L4_PROTOCOLS else None))
    return key


def _value(name, element):
    """One element (or one part of a concatenated element) as the value of attribute ``name``."""
    element = _unwrap(element)
    if name == 'dports':
        if isinstance(element, int) and not isinstance(element, bool):
            return (element, None)
        if isinstance(element, dict) and 'range' in element:
            first, last = element['range']
            return (int(first), int(last))
    elif isinstance(element, dict) and 'prefix' in element and name in ('source', 'destination'):
        return '%s/%s' % (element['prefix']['addr'], element['prefix']['len'])
    elif isinstance(element, (str, int)) and not isinstance(element, bool):
        return str(element)
    raise _Undecodable()


def _elements(right, named):
    """The elements a match compares with: one value, an anonymous set, or a named set (@name)."""
    if isinstance(right, str) and right.startswith('@'):
        if right[1:] not in named:
            raise _Undecodable()
        return named[right[1:]]
    if isinstance(right, dict) and 'set' in right:
        return right['set']
    if isinstance(right, list):
        return right
    return [right]


def _rows(key, elements):
    """One tuple of attribute values per element, one value per part of ``key``."""
    rows = []
    for element in elements:
        element = _unwrap(element)
        parts = element['concat'] if isinstance(element, dict) and 'concat' in element else [element]
        if len(parts) != len(key):
            raise _Undecodable()
        rows.append(tuple(_value(name, part) for (name, dummy), part in zip(key, parts)))
    return rows


def _map_entries(lookup, named):
    """[(key element, data)] of a map lookup ({"key": ..., "data": {"set": [[k, v], ...]} or "@name"})."""
    data = lookup.get('data')
    if isinstance(data, str) and data.startswith('@'):
        elements = named.get(data[1:])
    elif isinstance(data, dict):
        elements = data.get('set')
    else:
        elements = None
    if elements is None:
        raise _Undecodable()
    entries = []
    for element in elements:
        if not isinstance(element, list) or len(element) != 2:
            raise _Undecodable()
        entries.append((_unwrap(element[0]), element[1]))
    return entries


def _address(value):
    """A NAT target address: the text, or the first address of a range."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, dict) and 'range' in value and isinstance(value['range'][0], str):
        return value['range'][0]
    raise _Undecodable()


def _port(value):
    """A NAT target port as (first, last-or-None); None when the rule keeps the port."""
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return (value, None)
    if isinstance(value, dict) and 'range' in value:
        first, last = value['range']
        return (int(first), int(last) if last != first else None)
    raise _Undecodable()


def _nat_target(data):
    """A NAT map's data: an address, or an address and port (``10.0.0.30 . 15432``)."""
    data = _unwrap(data)
    if isinstance(data, dict) and 'concat' in data:
        if len(data['concat']) != 2:
            raise _Undecodable()
        return _address(data['concat'][0]), _port(data['concat'][1])
    return _address(data), None


def _set_value(rule, name, value):
    setattr(rule, name, [value] if name == 'dports' else value)


def _match(rule, expansions, key, negated, right, named):
    """Apply a match on ``key`` (one attribute, or several for a concatenation) to ``rule``."""
    for name, proto in key:
        if proto:
            rule.proto = proto
    rows = _rows(key, _elements(right, named))
    names = tuple(name for name, dummy in key)
    if negated:
        # Only a single negated address or interface is kept ("!value"); other negations do not
        # narrow what a forward is, so they are left out.
        if len(names) == 1 and len(rows) == 1 and names[0] in ('source', 'destination', 'in_interface', 'out_interface'):
            setattr(rule, names[0], '!' + rows[0][0])
        return
    if names == ('dports',):
        if rows:
            rule.dports = [row[0] for row in rows]
            return
    elif len(rows) == 1:
        for name, value in zip(names, rows[0]):
            _set_value(rule, name, value)
        return
    expansions.append((names, rows))


def _nat_map(rule, expansions, addr_lookup, port_lookup, named):
    """NAT targets looked up in maps (``dnat to ip daddr . tcp dport map { ... }``): one rule per map
    element, the element's key as the rule's conditions and its data as the target."""
    lookup = addr_lookup or port_lookup
    if addr_lookup and port_lookup and addr_lookup.get('key') != port_lookup.get('key'):
        raise _Undecodable()
    key = _key(lookup.get('key'))
    if key is None:
        raise _Undecodable()
    for name, proto in key:
        if proto:
            rule.proto = proto
    ports = {}
    if port_lookup:
        ports = {json.dumps(element, sort_keys=True): _port(data) for element, data in _map_entries(port_lookup, named)}
    rows = []
    for element, data in _map_entries(lookup, named):
        to, to_port = _nat_target(data) if addr_lookup else (rule.to, _port(data))
        to_port = ports.get(json.dumps(element, sort_keys=True), to_port or rule.to_port)
        rows.extend(conditions + (to, to_port) for conditions in _rows(key, [element]))
    expansions.append((tuple(name for name, dummy in key) + ('to', 'to_port'), rows))


def _verdict_map(expansions, lookup, named):
    """``ip daddr vmap { 198.51.100.1 : jump forwards }``: one jump rule per element that jumps."""
    key = _key(lookup.get('key'))
    if key is None:
        raise _Undecodable()
    rows = []
    for element, verdict in _map_entries(lookup, named):
        target = next((verdict[kind].get('target') for kind in ('jump', 'goto') if isinstance(verdict, dict) and kind in verdict), None)
        if target is not None:
            rows.extend(conditions + ('JUMP', target) for conditions in _rows(key, [element]))
    expansions.append((tuple(name for name, dummy in key) + ('target', 'jump'), rows))


def _nft_rule(exprs, named):
    """Decode one nft rule's expressions into (rule, expansions).

    ``expansions`` lists (attribute names, rows) for matches on several values and for map lookups;
    the caller makes one rule per combination of rows. Raises _Undecodable.
    """
    rule = _Rule(_nft_render(exprs))
    expansions = []
    for expr in exprs:
        if not isinstance(expr, dict) or not expr:
            continue
        kind, body = next(iter(expr.items()))
        if kind == 'xt':
            # iptables-nft rules carry their targets opaquely: a NAT target cannot be decoded
            # (iptables-save can); other xt matches/targets are ignored.
            if body.get('type') == 'target' and body.get('name') in _NAT_TARGETS:
                rule.undecoded = 'xt'
                return rule, []
            continue
        if kind == 'match':
            left = body.get('left')
            op = body.get('op', '==')
            key = _key(left)
            if key is not None:
                if op not in ('==', '!=', 'in'):
                    raise _Undecodable()
                _match(rule, expansions, key, op == '!=', body.get('right'), named)
            elif op != '!=' and isinstance(left, dict) and 'ct' in left and left['ct'].get('key') == 'status':
                if 'dnat' in [_unwrap(e) for e in _elements(body.get('right'), named)]:
                    rule.ctstate_dnat = True
            elif op != '!=' and isinstance(left, dict) and 'fib' in left:
                if 'local' in [_unwrap(e) for e in _elements(body.get('right'), named)]:
                    rule.dst_local = True
        elif kind in ('dnat', 'snat'):
            body = body or {}
            addr = body.get('addr')
            port = body.get('port')
            addr_lookup = addr.get('map') if isinstance(addr, dict) else None
            port_lookup = port.get('map') if isinstance(port, dict) else None
            rule.target = kind.upper()
            rule.to = None if addr_lookup else _address(addr)
            rule.to_port = None if port_lookup else _port(port)
            if addr_lookup or port_lookup:
                _nat_map(rule, expansions, addr_lookup, port_lookup, named)
            elif kind == 'dnat' and rule.to is None and rule.to_port is None:
                raise _Undecodable()
        elif kind == 'masquerade':
            rule.target = 'MASQUERADE'
        elif kind == 'redirect':
            rule.target = 'REDIRECT'
        elif kind in ('jump', 'goto'):
            rule.target = 'JUMP'
            rule.jump = body.get('target')
        elif kind == 'vmap':
            _verdict_map(expansions, body, named)
    return rule, expansions


def _expand(rule, expansions):
    rules = [rule]
    for names, rows in expansions:
        out = []
        for base in rules:
            for row in rows:
                copy = _Rule(base.text)
                copy.__dict__.update(base.__dict__)
                for name, value in zip(names, row):
                    _set_value(copy, name, value)
                out.append(copy)
        rules = out
    return rules


def _nft_text(value):
    if isinstance(value, dict):
        if 'prefix' in value:
            return '%s/%s' % (value['prefix']['addr'], value['prefix']['len'])
        if 'range' in value:
            return '%s-%s' % tuple(_nft_text(v) for v in value['range'])
        if 'set' in value:
            return '{ %s }' % ', '.join(_nft_text(v) for v in value['set'])
        if 'concat' in value:
            return ' . '.join(_nft_text(v) for v in value['concat'])
        if 'map' in value:
            return '%s map %s' % (_nft_text(value['map'].get('key')), _nft_text(value['map'].get('data')))
        if 'elem' in value:
            return _nft_text(value['elem'].get('val'))
        if 'payload' in value:
            return '%s %s' % (value['payload'].get('protocol', ''), value['payload'].get('field', ''))
        if 'meta' in value:
            return 'meta %s' % value['meta'].get('key')
        if 'ct' in value:
            return 'ct %s' % value['ct'].get('key')
        if len(value) == 1 and next(iter(value)) in ('jump', 'goto'):
            kind, body = next(iter(value.items()))
            return '%s %s' % (kind, body.get('target'))
        return json.dumps(value, sort_keys=True)
    if isinstance(value, list):
        # a map element: [key, data]
        return ' : '.join(_nft_text(v) for v in value)
    return str(value)


def _nft_render(exprs):
    """A readable nft-like text for a rule (the JSON has no text form)."""
    parts = []
    for expr in exprs:
        if not isinstance(expr, dict) or not expr:
            continue
        kind, body = next(iter(expr.items()))
        if kind == 'match':
            left = body.get('left', {})
            if isinstance(left, dict) and 'meta' in left and left['meta'].get('key') in ('iifname', 'oifname', 'iif', 'oif'):
                left_text = left['meta']['key']
                right_text = _nft_text(body.get('right'))
                if left_text in ('iifname', 'oifname') and isinstance(body.get('right'), str):
                    right_text = '"%s"' % right_text
            else:
                left_text = _nft_text(left)
                right_text = _nft_text(body.get('right'))
            op = body.get('op', '==')
            parts.append('%s %s' % (left_text, right_text) if op in ('==', 'in') else '%s %s %s' % (left_text, op, right_text))
        elif kind in ('dnat', 'snat'):
            body = body or {}
            addr = body.get('addr', '')
            target = addr if isinstance(addr, str) else _nft_text(addr)
            if isinstance(addr, str) and ':' in addr and 'port' in body:
                target = '[%s]' % target
            if 'port' in body:
                target += ':' + _nft_text(body['port'])
            family = body.get('family')
            parts.append('%s %sto %s' % (kind, family + ' ' if family else '', target))
        elif kind in ('masquerade', 'redirect'):
            body = body or {}
            parts.append(kind + (' to :%s' % _nft_text(body['port']) if 'port' in body else ''))
        elif kind in ('jump', 'goto'):
            parts.append('%s %s' % (kind, body.get('target')))
        elif kind == 'vmap':
            parts.append('%s vmap %s' % (_nft_text(body.get('key')), _nft_text(body.get('data'))))
        elif kind == 'counter':
            continue
        elif kind == 'xt':
            parts.append('xt %s %s' % (body.get('type'), body.get('name')))
        else:
            parts.append('%s %s' % (kind, json.dumps(body, sort_keys=True)) if body is not None else kind)
    return ' '.join(parts)


def _nft_chains(items):
    """({(family, table): {chain: [rules]}}, {(family, table): [(hook, priority, chain)]}) of the nat
    base chains and every chain's decoded rules; named sets and maps resolved."""
    named = {}
    chains = {}
    hooks = {}
    for item in items:
        if not isinstance(item, dict):
            continue
        if 'set' in item or 'map' in item:
            body = item.get('set') or item.get('map')
            named.setdefault((body.get('family'), body.get('table')), {})[body.get('name')] = body.get('elem', [])
        elif 'chain' in item:
            body = item['chain']
            key = (body.get('family'), body.get('table'))
            chains.setdefault(key, {}).setdefault(body.get('name'), [])
            if body.get('type') == 'nat' and body.get('hook'):
                hooks.setdefault(key, []).append((body['hook'], body.get('prio', 0), body.get('name')))
    for item in items:
        if not isinstance(item, dict) or 'rule' not in item:
            continue
        body = item['rule']
        key = (body.get('family'), body.get('table'))
        exprs = body.get('expr', [])
        where = '%s %s %s: ' % (body.get('family'), body.get('table'), body.get('chain'))
        try:
            rule, expansions = _nft_rule(exprs, named.get(key, {}))
            rules = _expand(rule, expansions)
        except (_Undecodable, ValueError, TypeError, KeyError, IndexError, AttributeError):
            kinds = [next(iter(expr)) for expr in exprs if isinstance(expr, dict) and expr]
            if not any(kind in _NFT_NAT_STATEMENTS for kind in kinds):
                continue   # neither NAT nor a jump: it cannot hide a forward
            try:
                text = _nft_render(exprs)
            except (TypeError, KeyError, IndexError, AttributeError):
                text = json.dumps(exprs, sort_keys=True)
            rule = _Rule(text)
            rule.undecoded = 'rule'
            rules = [rule]
        for rule in rules:
            rule.text = where + rule.text if rule.undecoded else rule.text
        chains.setdefault(key, {}).setdefault(body.get('chain'), []).extend(rules)
    return chains, hooks


def parse_nft_json(data, iptables_nft_read=False):
    """Decode ``nft -j list ruleset`` output (text or parsed JSON).

    ``iptables_nft_read``: the rules iptables-nft wrote were read through ``iptables-save`` (the
    nf_tables variant), so their opaque NAT targets here are not reported as undecodable.
    """
    if isinstance(data, (str, bytes)):
        data = json.loads(data)
    items = data.get('nftables', []) if isinstance(data, dict) else []
    chains, hooks = _nft_chains(items)
    dnat = []
    snat = []
    undecoded = []
    for key, table_hooks in sorted(hooks.items(), key=lambda kv: (str(kv[0][0]), str(kv[0][1]))):
        table_hooks.sort(key=lambda h: (h[1], str(h[2])))
        dnat.extend(_walk(chains[key], [name for hook, prio, name in table_hooks if hook in DNAT_HOOKS], ('DNAT',), undecoded))
        snat.extend(_walk(chains[key], [name for hook, prio, name in table_hooks if hook in SNAT_HOOKS], ('SNAT', 'MASQUERADE'),
                          undecoded))
    unparsed = [rule.text for rule in undecoded if not (iptables_nft_read and rule.undecoded == 'xt')]
    return _build(dnat, snat, unparsed)


def saved_by_iptables_nft(text):
    """Whether ``iptables-save`` output comes from the nf_tables variant (which decodes what
    iptables-nft wrote; the legacy variant does not see it)."""
    return any(line.startswith('# Generated by ') and '(nf_tables)' in line for line in text.splitlines()[:3])


# iptables-nft-save's note on stderr when legacy tables exist beside its own: it does not list them.
LEGACY_TABLES_PRESENT = 'iptables-legacy tables present'


def merge(results):
    """Combine several parse results (e.g. iptables-save and ip6tables-save)."""
    merged = {'forwards': [], 'snat_rules': [], 'unparsed': []}
    for result in results:
        merged['forwards'].extend(result['forwards'])
        merged['snat_rules'].extend(result['snat_rules'])
        merged['unparsed'].extend(result['unparsed'])
    return merged


def forwarded_addresses(forwards):
    """The single public addresses of port forwards (a forward may name a network, or none)."""
    found = []
    for forward in forwards:
        try:
            net = parse_network(forward.get('public_ip'))
        except ValueError:
            continue
        if net.num_addresses == 1:
            found.append(normalize_ip(str(net.network_address)))
    return found
