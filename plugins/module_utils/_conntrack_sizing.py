# -*- coding: utf-8 -*-
# Copyright (c) 2026 keeplocal.traffic contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Sizing of the connection-tracking table (pure functions, stdlib only).

Policies for nf_conntrack_max:

- ``fixed``: the value given.
- ``kube_proxy``: kube-proxy's rule, ``max(per_core x CPUs, floor)`` (defaults 32768 and 131072),
  capped at ``cap`` (1048576 as in newer kube-proxy; 0 = no cap).
- ``memory``: the largest table whose entries fit a share of RAM:
  ``entries x bytes_per_entry <= memory_share x RAM`` (buckets are reported on top).

Safety rules, in this order:

1. The policy's value must leave ``headroom`` free entries above the entries in use now; a lower
   value is refused (an error naming the field), whatever ``allow_lower`` says: a table below its
   use drops new connections.
2. The running value is never lowered unless ``allow_lower``: a lower policy value keeps the
   running one (reported, not an error). The same holds for the hash size.

Hash size (buckets): explicit, or ``max / 4`` (kube-proxy's ratio: chains of 4 entries on average
when the table is full). The kernel rounds a requested size up to a whole page of bucket pointers
(``page_size / pointer_size``, 512 on x86_64: 65537 reads back as 66048, checked), so the target is
rounded the same way: what is written reads back identical, which makes the write verifiable and
the next run idempotent. Bounds: at least one page of buckets, at most the target nf_conntrack_max
(more buckets than entries only costs memory; the kernel's own default is one bucket per entry) and
at most ``HASHSIZE_LIMIT`` (the kernel refuses bucket arrays above INT_MAX bytes).

Timeouts (seconds, per network namespace): unchanged unless given. Documented starting points:
established 86400 (kube-proxy; kernel default 432000 = 5 days keeps dead peers' entries for days),
close_wait 3600 (kube-proxy; kernel default 60), time_wait 120 (kernel default, twice the
maximum segment lifetime: lowering it risks mixing old and new connections).

Accounting (``nf_conntrack_acct``, per network namespace): unchanged unless given. On, every new
entry carries packet and byte counters for both directions (two 16-byte counters, inside the
``BYTES_PER_ENTRY`` estimate), which is what counts the bytes a hairpin pair moves; entries created
before it was turned on stay without counters.
"""

from __future__ import annotations

from ansible_collections.keeplocal.traffic.plugins.module_utils._conntrack_stats import BYTES_PER_BUCKET, BYTES_PER_ENTRY

POLICIES = ('fixed', 'kube_proxy', 'memory')
KUBE_PROXY_PER_CORE = 32768
KUBE_PROXY_FLOOR = 131072
KUBE_PROXY_CAP = 1048576
DEFAULT_MEMORY_SHARE = 0.05
MAX_MEMORY_SHARE = 0.5
DEFAULT_HEADROOM = 16384
MIN_BYTES_PER_ENTRY = 64
MAX_BYTES_PER_ENTRY = 65536
# nf_conntrack_max is an int sysctl.
MAX_LIMIT = 2 ** 31 - 1
# nf_ct_alloc_hashtable refuses more than INT_MAX / sizeof(pointer) buckets.
HASHSIZE_LIMIT = (2 ** 31 - 1) // 8
# Timeouts are seconds converted to jiffies in an int: above INT_MAX / HZ (HZ up to 1000) the
# kernel answers EINVAL.
TIMEOUT_LIMIT = (2 ** 31 - 1) // 1000

TIMEOUT_SYSCTLS = {
    'established': 'nf_conntrack_tcp_timeout_established',
    'time_wait': 'nf_conntrack_tcp_timeout_time_wait',
    'close_wait': 'nf_conntrack_tcp_timeout_close_wait',
}
RECOMMENDED_TIMEOUTS = {'established': 86400, 'time_wait': 120, 'close_wait': 3600}
TIMEOUT_HINTS = {
    'established': 'kube-proxy uses %d' % RECOMMENDED_TIMEOUTS['established'],
    'time_wait': "the kernel's %d is sane" % RECOMMENDED_TIMEOUTS['time_wait'],
    'close_wait': 'kube-proxy uses %d' % RECOMMENDED_TIMEOUTS['close_wait'],
}

ACCOUNTING_SYSCTL = 'nf_conntrack_acct'

MANAGED_HEADER = '# Managed by keeplocal.traffic (conntrack_limits): local changes are overwritten.\n'


class SizingError(ValueError):
    """A request that cannot be applied; ``field`` names the option to fix."""

    def __init__(self, field, message):
        super().__init__(message)
        self.field = field
        self.message = message


class OptionNames(object):
    """How messages spell an option and a setting of it.

    The module's own spelling by default (``max``, ``timeouts.established``, ``policy=fixed``); a role
    passes its variables' (``conntrack_tuning_max``, ``conntrack_tuning_policy: fixed``), so one set of
    rules speaks to whoever set the values.
    """

    def __init__(self, prefix='', timeouts='timeouts.', assign='%s=%s'):
        self.prefix = prefix
        self.timeouts = timeouts
        self.assign = assign

    def name(self, field):
        if field.startswith('timeouts.'):
            field = self.timeouts + field[len('timeouts.'):]
        return self.prefix + field

    def setting(self, field, value):
        return self.assign % (self.name(field), value)


MODULE_NAMES = OptionNames()


def _int_within(value, minimum, maximum):
    return not isinstance(value, bool) and isinstance(value, int) and minimum <= value <= maximum


def request_problems(request, names=MODULE_NAMES):
    """Every problem of a request on its own (no host values needed), as ``SizingError``s in option
    order; an empty list when it can be planned. Each message names the option as ``names`` spells
    it and says what to set.

    Keys: policy, max, per_core, floor, cap, memory_share, bytes_per_entry, hashsize, headroom,
    timeouts ({established, time_wait, close_wait}: int or None), accounting (bool or None). Every
    value is checked whatever the policy: an option the policy ignores today is read as soon as the
    policy changes.
    """
    problems = []
    name = names.name

    def add(field, message):
        problems.append(SizingError(field, message))

    policy = request.get('policy')
    if policy not in POLICIES:
        add('policy', '%s must be one of %s, got %r' % (name('policy'), ', '.join(POLICIES), policy))
    fixed = names.setting('policy', 'fixed')
    value = request.get('max')
    if value is None:
        if policy == 'fixed':
            add('max', '%s is required by %s (the nf_conntrack_max to set), e.g. %s'
                % (name('max'), fixed, names.setting('max', 262144)))
    elif policy in POLICIES and policy != 'fixed':
        add('max', '%s is only used by %s (the policy is %s): remove %s or set %s' % (name('max'), fixed, policy, name('max'), fixed))
    elif not _int_within(value, 1, MAX_LIMIT):
        add('max', '%s must be an integer from 1 to %d (entries), got %r' % (name('max'), MAX_LIMIT, value))

    value = request.get('per_core')
    if not _int_within(value, 1, MAX_LIMIT):
        add('per_core', '%s must be an integer from 1 to %d (entries per CPU, kube-proxy uses %d), got %r'
            % (name('per_core'), MAX_LIMIT, KUBE_PROXY_PER_CORE, value))
    floor = request.get('floor')
    floor_ok = _int_within(floor, 1, MAX_LIMIT)
    if not floor_ok:
        add('floor', '%s must be an integer from 1 to %d (minimum entries, kube-proxy uses %d), got %r'
            % (name('floor'), MAX_LIMIT, KUBE_PROXY_FLOOR, floor))
    value = request.get('cap')
    if not (_int_within(value, 0, 0) or _int_within(value, floor if floor_ok else 1, MAX_LIMIT)):
        lowest = '%s (%d)' % (name('floor'), floor) if floor_ok else '1'
        add('cap', '%s must be 0 (no cap) or at least %s and at most %d, got %r' % (name('cap'), lowest, MAX_LIMIT, value))

    value = request.get('memory_share')
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= MAX_MEMORY_SHARE:
        add('memory_share', '%s must be a fraction of RAM above 0 and at most %s (e.g. %s), got %r'
            % (name('memory_share'), MAX_MEMORY_SHARE, DEFAULT_MEMORY_SHARE, value))
    value = request.get('bytes_per_entry')
    if not _int_within(value, MIN_BYTES_PER_ENTRY, MAX_BYTES_PER_ENTRY):
        add('bytes_per_entry', '%s must be from %d to %d bytes (%d is the documented estimate), got %r'
            % (name('bytes_per_entry'), MIN_BYTES_PER_ENTRY, MAX_BYTES_PER_ENTRY, BYTES_PER_ENTRY, value))
    value = request.get('headroom')
    if not _int_within(value, 0, MAX_LIMIT):
        add('headroom', '%s must be from 0 to %d free entries above the entries in use, got %r' % (name('headroom'), MAX_LIMIT, value))
    value = request.get('hashsize')
    if value is not None and not _int_within(value, 1, HASHSIZE_LIMIT):
        add('hashsize', "%s must be from 1 to %d buckets (the kernel's limit), or unset for max/4, got %r"
            % (name('hashsize'), HASHSIZE_LIMIT, value))

    for key, value in sorted((request.get('timeouts') or {}).items()):
        if key not in TIMEOUT_SYSCTLS:
            add('timeouts', '%s: unknown timeout %r, use %s' % (name('timeouts'), key, ', '.join(sorted(TIMEOUT_SYSCTLS))))
        elif value is not None and not _int_within(value, 1, TIMEOUT_LIMIT):
            field = 'timeouts.' + key
            add(field, '%s must be from 1 to %d seconds, or unset to leave it unchanged (%s), got %r'
                % (name(field), TIMEOUT_LIMIT, TIMEOUT_HINTS[key], value))
    value = request.get('accounting')
    if value is not None and not isinstance(value, bool):
        add('accounting', '%s must be true (count packets and bytes per connection), false, or unset to leave %s as it is, '
            'got %r' % (name('accounting'), ACCOUNTING_SYSCTL, value))
    return problems


def validate_request(request):
    """Raise ``SizingError`` listing every problem of ``request_problems`` (``field``: the first one's)."""
    problems = request_problems(request)
    if problems:
        raise SizingError(problems[0].field, '; '.join(problem.message for problem in problems))


def policy_max(request, cpus, mem_total_bytes):
    """nf_conntrack_max according to the policy alone: ``(value, reason)``."""
    policy = request['policy']
    if policy == 'fixed':
        return request['max'], 'policy fixed: %d' % request['max']
    if policy == 'kube_proxy':
        per_core, floor, cap = request['per_core'], request['floor'], request['cap']
        value = max(per_core * cpus, floor)
        reason = 'policy kube_proxy: max(%d per core x %d CPUs, floor %d) = %d' % (per_core, cpus, floor, value)
        if cap and value > cap:
            value = cap
            reason += ', capped at %d' % cap
        return value, reason
    share, bpe = request['memory_share'], request['bytes_per_entry']
    value = min(int(share * mem_total_bytes) // bpe, MAX_LIMIT)
    if value < 1:
        raise SizingError('memory_share', 'memory_share %s of %d bytes of RAM holds no entry of %d bytes: raise memory_share'
                          % (share, mem_total_bytes, bpe))
    return value, 'policy memory: %s of %d MiB RAM / %d B per entry = %d' % (share, mem_total_bytes // 2 ** 20, bpe, value)


def _policy_field(policy):
    return {'fixed': 'max', 'kube_proxy': 'floor', 'memory': 'memory_share'}[policy]


def round_hashsize(value, granule):
    """Round up to the kernel's allocation granule (a page of bucket pointers)."""
    granule = max(int(granule), 1)
    return -(-value // granule) * granule


def plan_limits(request, current):
    """Decide the target values. Raises SizingError naming the field to fix.

    ``current``: count, max, buckets (ints), timeouts ({key: int or None}), accounting (the
    nf_conntrack_acct value, int, or None when the kernel has none), cpus, mem_total_bytes, granule
    (hash buckets per page, page_size // pointer size).
    Returns a dict: policy, cpus, mem_total_bytes, policy_max, max, max_reason, hashsize,
    hashsize_reason, timeouts, accounting (bool or None: unchanged), memory_bytes,
    memory_share_of_ram, lowered, changes, warnings.
    """
    validate_request(request)
    count, running_max, running_buckets = current['count'], current['max'], current['buckets']
    allow_lower = bool(request.get('allow_lower'))
    headroom = request['headroom']
    bpe = request['bytes_per_entry']
    granule = current.get('granule') or 512

    wanted, reason = policy_max(request, current['cpus'], current['mem_total_bytes'])
    needed = count + headroom
    if wanted < needed:
        field = _policy_field(request['policy'])
        raise SizingError(
            field,
            'nf_conntrack_max %d (%s) is below the entries in use (%d) plus headroom (%d) = %d: a table below its use drops '
            'new connections; raise %s to at least %d or lower headroom' % (wanted, reason, count, headroom, needed, field, needed))
    warnings = []
    target_max = wanted
    lowered = False
    if running_max is not None and wanted < running_max:
        if allow_lower:
            lowered = True
            reason += '; lowered from %d (allow_lower)' % running_max
        else:
            target_max = running_max
            reason += '; below the running %d, kept (set allow_lower to lower it)' % running_max

    if request.get('hashsize') is not None:
        asked = request['hashsize']
        if asked > target_max:
            raise SizingError('hashsize', 'hashsize %d is larger than allowed: at most the target nf_conntrack_max %d '
                                          '(more buckets than entries only costs memory); set hashsize <= %d or leave it unset (max/4)'
                              % (asked, target_max, target_max))
        hreason = 'hashsize %d' % asked
    else:
        asked = max(target_max // 4, 1)
        hreason = 'max/4 = %d' % asked
    wanted_buckets = min(round_hashsize(asked, granule), HASHSIZE_LIMIT)
    if wanted_buckets != asked:
        hreason += ', rounded up to %d (whole pages of buckets, as the kernel does)' % wanted_buckets
    target_buckets = wanted_buckets
    if running_buckets is not None and wanted_buckets < running_buckets:
        if allow_lower:
            lowered = True
            hreason += '; lowered from %d (allow_lower)' % running_buckets
        else:
            target_buckets = running_buckets
            hreason += '; below the running %d, kept (set allow_lower to lower it)' % running_buckets

    timeouts = {}
    for key, value in sorted((request.get('timeouts') or {}).items()):
        if value is not None:
            timeouts[key] = value

    accounting = request.get('accounting')
    if accounting is not None and current.get('accounting') is None:
        raise SizingError('accounting', 'this kernel has no %s (no /proc/sys/net/netfilter/%s): leave accounting unset'
                          % (ACCOUNTING_SYSCTL, ACCOUNTING_SYSCTL))

    memory = target_max * bpe + target_buckets * BYTES_PER_BUCKET
    share = round(float(memory) / current['mem_total_bytes'], 4) if current.get('mem_total_bytes') else None
    if share is not None and share > 0.25:
        warnings.append('a full table would take %d MiB, %d%% of RAM (kernel memory, never swapped)' % (memory // 2 ** 20, share * 100))

    changes = {}
    if running_max != target_max:
        changes['max'] = {'before': running_max, 'after': target_max}
    if running_buckets != target_buckets:
        changes['hashsize'] = {'before': running_buckets, 'after': target_buckets}
    for key, value in timeouts.items():
        if current['timeouts'].get(key) != value:
            changes['timeout_' + key] = {'before': current['timeouts'].get(key), 'after': value}
    if accounting is not None and current['accounting'] != int(accounting):
        changes['accounting'] = {'before': current['accounting'], 'after': int(accounting)}

    return {
        'policy': request['policy'],
        'cpus': current['cpus'],
        'mem_total_bytes': current['mem_total_bytes'],
        'policy_max': wanted,
        'max': target_max,
        'max_reason': reason,
        'hashsize': target_buckets,
        'hashsize_reason': hreason,
        'timeouts': timeouts,
        'accounting': accounting,
        'memory_bytes': memory,
        'memory_share_of_ram': share,
        'lowered': lowered,
        'changes': changes,
        'warnings': warnings,
    }


def render_sysctl(target_max, hashsize=None, timeouts=None, accounting=None):
    """/etc/sysctl.d content. ``hashsize`` goes in as nf_conntrack_buckets when given (kernels where
    that sysctl is writable; it also covers a built-in nf_conntrack, which ignores modprobe.d);
    ``accounting`` (bool) as nf_conntrack_acct when given."""
    lines = [MANAGED_HEADER,
             '# nf_conntrack must be loaded before systemd-sysctl runs, or these lines are skipped at boot:\n',
             '# see the modules-load.d file of the same role.\n']
    if hashsize is not None:
        lines.append('net.netfilter.nf_conntrack_buckets = %d\n' % hashsize)
    lines.append('net.netfilter.nf_conntrack_max = %d\n' % target_max)
    for key in sorted(timeouts or {}):
        lines.append('net.netfilter.%s = %d\n' % (TIMEOUT_SYSCTLS[key], timeouts[key]))
    if accounting is not None:
        lines.append('net.netfilter.%s = %d\n' % (ACCOUNTING_SYSCTL, int(accounting)))
    return ''.join(lines)


def render_modprobe(hashsize):
    """/etc/modprobe.d content: the hash size applied when the nf_conntrack module loads."""
    return MANAGED_HEADER + 'options nf_conntrack hashsize=%d\n' % hashsize


def render_modules_load():
    """/etc/modules-load.d content: load nf_conntrack at boot, before systemd-sysctl."""
    return MANAGED_HEADER + 'nf_conntrack\n'
