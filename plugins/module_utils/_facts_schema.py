# Copyright (c) 2026 keeplocal.traffic contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The detection facts schema, stated once (stdlib only, no I/O).

``FACTS`` is what hairpin_facts returns for one host (and, with ``host`` and ``detected_at`` added,
the ``hairpin_detect_facts`` fact the planner reads): ``addresses`` always, plus one key per gathered
subset (``SECTIONS``). Each value is described by its dict keys, their types, which may be null and
which are present only sometimes; any other key is an error, so a reader that adds a field has to
state it here. ``check(value, schema)`` lists what does not fit.

The unit tests check every detection module's results and the examples in docs/architecture.md
against these shapes, and the modules' RETURN documentation against their keys and types.
"""

from __future__ import annotations


class _Value:
    """One value's shape; ``null``: None is allowed too."""

    name = None

    def __init__(self, null=False):
        self.null = null

    def errors(self, value, path):
        if value is None:
            return [] if self.null else ['%s: null, expected %s' % (path, self.name)]
        return self._errors(value, path)

    def _errors(self, value, path):
        raise NotImplementedError


class Str(_Value):
    name = 'str'

    def __init__(self, null=False, choices=None):
        super().__init__(null)
        self.choices = tuple(choices) if choices else None

    def _errors(self, value, path):
        if not isinstance(value, str):
            return ['%s: %r is not a string' % (path, value)]
        if self.choices and value not in self.choices:
            return ['%s: %r is not one of %s' % (path, value, ', '.join(self.choices))]
        return []


class Int(_Value):
    name = 'int'

    def _errors(self, value, path):
        # bool is an int subclass in Python, never a count here
        if isinstance(value, bool) or not isinstance(value, int):
            return ['%s: %r is not an integer' % (path, value)]
        return []


class Num(_Value):
    name = 'float'

    def _errors(self, value, path):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return ['%s: %r is not a number' % (path, value)]
        return []


class Bool(_Value):
    name = 'bool'

    def _errors(self, value, path):
        if not isinstance(value, bool):
            return ['%s: %r is not true or false' % (path, value)]
        return []


class ListOf(_Value):
    name = 'list'

    def __init__(self, item, null=False):
        super().__init__(null)
        self.item = item

    def _errors(self, value, path):
        if not isinstance(value, list):
            return ['%s: %r is not a list' % (path, value)]
        found = []
        for index, item in enumerate(value):
            found.extend(self.item.errors(item, '%s[%d]' % (path, index)))
        return found


class MapOf(_Value):
    """A dict whose keys are data (e.g. the kernel's counter names), every value of one shape."""

    name = 'dict'

    def __init__(self, value, null=False):
        super().__init__(null)
        self.value = value

    def _errors(self, value, path):
        if not isinstance(value, dict):
            return ['%s: %r is not a dict' % (path, value)]
        found = []
        for key, item in value.items():
            if not isinstance(key, str):
                found.append('%s: key %r is not a string' % (path, key))
            found.extend(self.value.errors(item, '%s.%s' % (path, key)))
        return found


class Record(_Value):
    """A dict with fixed keys: every key in ``fields`` present unless listed in ``optional``, no other key."""

    name = 'dict'

    def __init__(self, fields, optional=(), null=False):
        super().__init__(null)
        self.fields = dict(fields)
        self.optional = frozenset(optional)

    def _errors(self, value, path):
        if not isinstance(value, dict):
            return ['%s: %r is not a dict' % (path, value)]
        found = ['%s.%s: missing' % (path, key) for key in self.fields if key not in value and key not in self.optional]
        found.extend('%s.%s: not in the schema' % (path, key) for key in sorted(set(value) - set(self.fields), key=str))
        for key, shape in self.fields.items():
            if key in value:
                found.extend(shape.errors(value[key], '%s.%s' % (path, key)))
        return found


def check(value, schema, path='facts'):
    """What in ``value`` does not fit ``schema``: a list of messages naming the path, empty when it fits."""
    return schema.errors(value, path)


CONNTRACK = Record({
    'available': Bool(),
    'count': Int(null=True),
    'max': Int(null=True),
    'buckets': Int(null=True),
    'usage': Num(null=True),
    'initial_netns': Bool(null=True),
    'writable': Bool(),
    'accounting': Bool(null=True),
    # column names come from the kernel's header row and differ between kernels
    'stats': MapOf(Int()),
    'per_cpu': ListOf(MapOf(Int())),
    'memory_bytes': Int(null=True),
    'max_memory_bytes': Int(null=True),
    'table_full_messages': Int(null=True),
    'kernel_log': Str(null=True, choices=('dmesg', 'journal')),
    'message': Str(null=True),
})

FORWARD = Record({
    'proto': Str(null=True),
    'public_ip': Str(null=True),
    'public_port': Int(null=True),
    'public_port_end': Int(null=True),
    'private_ip': Str(null=True),
    'private_port': Int(null=True),
    'port_translated': Bool(),
    'in_interface': Str(null=True),
    'rule': Str(),
})

SNAT_RULE = Record({
    'source': Str(null=True),
    'destination': Str(null=True),
    'out_interface': Str(null=True),
    'ctstate_dnat': Bool(),
    'target': Str(choices=('SNAT', 'MASQUERADE')),
    'to_source': Str(null=True),
    'rule': Str(),
})

NAT_RULES = Record({
    'source': Str(choices=('iptables', 'nft', 'none')),
    'forwards': ListOf(FORWARD),
    'snat_rules': ListOf(SNAT_RULE),
    'msg': Str(),
}, optional=('msg',))

FLOW = Record({
    'proto': Str(),
    'client_ip': Str(),
    'client_port': Int(null=True),
    'public_ip': Str(),
    'public_port': Int(null=True),
    'backend_ip': Str(),
    'backend_port': Int(null=True),
    'snat_ip': Str(null=True),
    'state': Str(null=True),
    'assured': Bool(),
})

FLOW_PAIR = Record({
    'client_ip': Str(),
    'proto': Str(),
    'public_ip': Str(),
    'public_port': Int(null=True),
    'backend_ip': Str(),
    'backend_port': Int(null=True),
    'snat': Bool(),
    'connections': Int(),
})

HAIRPIN_FLOWS = Record({
    'available': Bool(),
    'source': Str(null=True, choices=('netlink', 'proc', 'conntrack')),
    'kernel_filter': Bool(),
    'total_entries': Int(),
    'hairpin_entries': Int(),
    'flows': ListOf(FLOW),
    'pairs': ListOf(FLOW_PAIR),
    'msg': Str(),
}, optional=('msg',))

LISTENER = Record({
    'ip': Str(),
    'port': Int(),
    'process': Str(null=True),
    'pid': Int(null=True),
})

TO_PUBLIC = Record({
    'remote_ip': Str(),
    'remote_port': Int(),
    'connections': Int(),
    'process': Str(null=True),
})

SAME_HOST = Record({
    'remote_ip': Str(),
    'remote_port': Int(),
    'connections': Int(),
    'client_process': Str(null=True),
    'listener_process': Str(null=True),
})

OUTBOUND_FLOWS = Record({
    'listeners': ListOf(LISTENER),
    'to_public': ListOf(TO_PUBLIC),
    'same_host': ListOf(SAME_HOST),
})

ANSWER = Record({
    'name': Str(),
    'addresses': ListOf(Str()),
    'public_match': Bool(),
    'private': Bool(),
    'error': Str(null=True),
})

DNS_ANSWERS = Record({
    'resolvers': ListOf(Str()),
    'answers': ListOf(ANSWER),
})

# One key per gather_subset name.
SECTIONS = {
    'conntrack': CONNTRACK,
    'nat_rules': NAT_RULES,
    'hairpin_flows': HAIRPIN_FLOWS,
    'outbound_flows': OUTBOUND_FLOWS,
    'dns_answers': DNS_ANSWERS,
}

ADDRESSES = ListOf(Str())

FACTS = Record(
    dict(
        # set by the hairpin_detect role, not by the module: inventory_hostname, and when the facts
        # were gathered (UTC, 2026-01-31T12:00:00Z; a later plan over several runs leaves out old ones)
        host=Str(),
        detected_at=Str(),
        addresses=ADDRESSES,
        **SECTIONS
    ),
    optional=('host', 'detected_at') + tuple(SECTIONS),
)
