# Copyright (c) 2026 keeplocal.traffic contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Parse NAT rules (``iptables-save -t nat`` text, ``nft -j list ruleset`` JSON) into port forwards
and source-NAT rules, and decide whether hairpin NAT works (stdlib only, no I/O).

Rules are followed from the built-in hooks (PREROUTING/OUTPUT for DNAT, POSTROUTING for SNAT and
MASQUERADE) through user chains (``-j CHAIN``, nft ``jump``/``goto``); a rule in a user chain
inherits the addresses, interfaces, protocol and ports of the jump that reaches it when it does not
set them itself.

Result (see docs/architecture.md, nat_rules_info): ``forwards``, ``snat_rules``,
``hairpin_capable``, plus ``unparsed`` (rule texts that could not be decoded, for warnings).
"""

from __future__ import annotations

import json
import shlex

from ansible_collections.keeplocal.traffic.plugins.module_utils._addresses import (
    InternalNetworks,
    normalize_ip,
    parse_network,
)

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
    host = value
    ports = ''
    if value.startswith('['):
        host, dummy, rest = value[1:].partition(']')
        ports = rest[1:] if rest.startswith(':') else ''
    elif value.count(':') == 1:
        host, dummy, ports = value.partition(':')
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


def _snat_matches_forward(rule, forward, internal):
    """Would ``rule`` source-NAT a connection from an internal client to ``forward``'s backend?"""
    private_ip = forward['private_ip']
    if rule.out_interface is not None or not private_ip:
        return False
    try:
        private = parse_network(private_ip).network_address
    except ValueError:
        return False
    if rule.source is not None:
        if rule.source.startswith('!'):
            return False
        try:
            if not internal.overlaps(rule.source):
                return False
        except ValueError:
            return False
    if rule.destination is not None:
        negated = rule.destination.startswith('!')
        try:
            net = parse_network(rule.destination.lstrip('!'))
        except ValueError:
            return False
        if net.version != private.version or (private in net) == negated:
            return False
    if rule.proto and not rule.proto.startswith('!'):
        if forward['proto'] != rule.proto:
            return False
    if rule.dports:
        port = forward['private_port']
        if port is None or not any(port == lo or (hi is not None and lo <= port <= hi) for lo, hi in rule.dports):
            return False
    return True


def _build(dnat_rules, snat_rules, unparsed, internal):
    if not isinstance(internal, InternalNetworks):
        internal = InternalNetworks(internal)
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
    capable = any(_snat_matches_forward(rule, forward, internal) for rule in snat_rules for forward in forwards)
    return {
        'forwards': forwards,
        'snat_rules': snats,
        'hairpin_capable': capable,
        'unparsed': unparsed,
    }


def _walk(chains, roots, wanted):
    """Rules with a target in ``wanted`` reachable from ``roots``, with inherited jump conditions."""
    found = []

    def visit(name, parent, stack):
        for rule in chains.get(name, []):
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


def parse_iptables_save(text, internal=None):
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
    return _build(dnat, snat, unparsed, internal)


# ---------------------------------------------------------------------------------------------
# nftables JSON


def _nft_values(right, sets):
    """A match's right-hand side as a list of strings/ints/('range', lo, hi); None if unknown."""
    if isinstance(right, (str, int)):
        if isinstance(right, str) and right.startswith('@'):
            return sets.get(right[1:])
        return [right]
    if isinstance(right, dict):
        if 'prefix' in right:
            return ['%s/%s' % (right['prefix']['addr'], right['prefix']['len'])]
        if 'range' in right:
            return [('range', right['range'][0], right['range'][1])]
        if 'set' in right:
            out = []
            for item in right['set']:
                values = _nft_values(item, sets)
                if values is None:
                    return None
                out.extend(values)
            return out
    if isinstance(right, list):
        out = []
        for item in right:
            values = _nft_values(item, sets)
            if values is None:
                return None
            out.extend(values)
        return out
    return None


def _nft_text(value):
    if isinstance(value, dict):
        if 'prefix' in value:
            return '%s/%s' % (value['prefix']['addr'], value['prefix']['len'])
        if 'range' in value:
            return '%s-%s' % tuple(_nft_text(v) for v in value['range'])
        if 'set' in value:
            return '{ %s }' % ', '.join(_nft_text(v) for v in value['set'])
        if 'payload' in value:
            return '%s %s' % (value['payload'].get('protocol', ''), value['payload'].get('field', ''))
        if 'meta' in value:
            return 'meta %s' % value['meta'].get('key')
        if 'ct' in value:
            return 'ct %s' % value['ct'].get('key')
        return json.dumps(value, sort_keys=True)
    if isinstance(value, list):
        return ','.join(_nft_text(v) for v in value)
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
            target = body.get('addr', '')
            target = _nft_text(target) if not isinstance(target, str) else target
            if ':' in target and 'port' in body:
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
        elif kind == 'counter':
            continue
        elif kind == 'xt':
            parts.append('xt %s %s' % (body.get('type'), body.get('name')))
        else:
            parts.append('%s %s' % (kind, json.dumps(body, sort_keys=True)) if body is not None else kind)
    return ' '.join(parts)


def _nft_rule(exprs, sets):
    """Decode one nft rule's expressions. Returns (rule, expansions, undecodable).

    ``expansions`` lists (field, values) for matches on sets of addresses/interfaces; the caller
    makes one rule per value.
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
                return rule, [], True
            continue
        if kind == 'match':
            left = body.get('left')
            op = body.get('op', '==')
            negated = op == '!='
            prefix = '!' if negated else ''
            values = _nft_values(body.get('right'), sets)
            if not isinstance(left, dict):
                continue
            if 'payload' in left:
                proto = left['payload'].get('protocol')
                field = left['payload'].get('field')
                if proto in ('ip', 'ip6') and field in ('saddr', 'daddr'):
                    name = 'source' if field == 'saddr' else 'destination'
                    if values is None:
                        return rule, [], True
                    texts = [prefix + v for v in values if isinstance(v, str)]
                    if len(texts) == 1 or negated:
                        setattr(rule, name, texts[0] if len(texts) == 1 else None)
                    else:
                        expansions.append((name, texts))
                elif proto in ('ip', 'ip6') and field in ('protocol', 'nexthdr') and values and not negated:
                    rule.proto = str(values[0])
                elif field == 'dport':
                    if proto in ('tcp', 'udp', 'sctp', 'dccp', 'udplite'):
                        rule.proto = proto
                    if values is None:
                        return rule, [], True
                    if not negated:
                        rule.dports = [(v[1], v[2]) if isinstance(v, tuple) else (int(v), None) for v in values]
            elif 'meta' in left:
                key = left['meta'].get('key')
                if key in ('iifname', 'iif', 'oifname', 'oif') and values:
                    name = 'in_interface' if key.startswith('i') else 'out_interface'
                    if len(values) == 1:
                        setattr(rule, name, prefix + str(values[0]))
                    elif not negated:
                        expansions.append((name, [str(v) for v in values]))
                elif key == 'l4proto' and values and not negated:
                    rule.proto = str(values[0])
            elif 'ct' in left and left['ct'].get('key') == 'status' and not negated:
                if values and 'dnat' in values:
                    rule.ctstate_dnat = True
            elif 'fib' in left and not negated and values and 'local' in values:
                rule.dst_local = True
        elif kind in ('dnat', 'snat'):
            body = body or {}
            addr = body.get('addr')
            if addr is not None and not isinstance(addr, str):
                if isinstance(addr, dict) and 'range' in addr:
                    addr = str(addr['range'][0])
                else:
                    return rule, [], True
            port = body.get('port')
            if isinstance(port, dict) and 'range' in port:
                rule.to_port = (port['range'][0], port['range'][1])
            elif isinstance(port, int):
                rule.to_port = (port, None)
            elif port is not None:
                return rule, [], True
            rule.target = kind.upper()
            if kind == 'dnat':
                rule.to = addr if addr is not None else None
                if rule.to is None and rule.to_port is None:
                    return rule, [], True
            else:
                rule.to = addr
        elif kind == 'masquerade':
            rule.target = 'MASQUERADE'
        elif kind == 'redirect':
            rule.target = 'REDIRECT'
        elif kind in ('jump', 'goto'):
            rule.target = 'JUMP'
            rule.jump = body.get('target')
    return rule, expansions, False


def _expand(rule, expansions):
    rules = [rule]
    for name, values in expansions:
        out = []
        for base in rules:
            for val in values:
                copy = _Rule(base.text)
                copy.__dict__.update(base.__dict__)
                setattr(copy, name, val)
                out.append(copy)
        rules = out
    return rules


def parse_nft_json(data, internal=None):
    """Decode ``nft -j list ruleset`` output (text or parsed JSON)."""
    if isinstance(data, (str, bytes)):
        data = json.loads(data)
    items = data.get('nftables', []) if isinstance(data, dict) else []
    sets = {}
    chains = {}
    hooks = {}
    unparsed = []
    for item in items:
        if not isinstance(item, dict):
            continue
        if 'set' in item:
            body = item['set']
            key = (body.get('family'), body.get('table'))
            values = _nft_values({'set': body.get('elem', [])}, {}) or []
            sets.setdefault(key, {})[body.get('name')] = values
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
        try:
            rule, expansions, bad = _nft_rule(body.get('expr', []), sets.get(key, {}))
        except (ValueError, TypeError, KeyError, IndexError, AttributeError):
            unparsed.append(json.dumps(body.get('expr'), sort_keys=True))
            continue
        if bad:
            unparsed.append('%s %s %s: %s' % (body.get('family'), body.get('table'), body.get('chain'), rule.text))
            continue
        chains.setdefault(key, {}).setdefault(body.get('chain'), []).extend(_expand(rule, expansions))
    dnat = []
    snat = []
    for key, table_hooks in sorted(hooks.items(), key=lambda kv: (str(kv[0][0]), str(kv[0][1]))):
        table_hooks.sort(key=lambda h: (h[1], str(h[2])))
        dnat.extend(_walk(chains[key], [name for hook, prio, name in table_hooks if hook in DNAT_HOOKS], ('DNAT',)))
        snat.extend(_walk(chains[key], [name for hook, prio, name in table_hooks if hook in SNAT_HOOKS], ('SNAT', 'MASQUERADE')))
    return _build(dnat, snat, unparsed, internal)


def merge(results):
    """Combine several parse results (e.g. iptables-save and ip6tables-save)."""
    merged = {'forwards': [], 'snat_rules': [], 'hairpin_capable': False, 'unparsed': []}
    for result in results:
        merged['forwards'].extend(result['forwards'])
        merged['snat_rules'].extend(result['snat_rules'])
        merged['unparsed'].extend(result['unparsed'])
        merged['hairpin_capable'] = merged['hairpin_capable'] or result['hairpin_capable']
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
