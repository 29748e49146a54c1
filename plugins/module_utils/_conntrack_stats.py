# -*- coding: utf-8 -*-
# Copyright (c) 2026 keeplocal.traffic contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Connection-tracking health from the kernel's own files (pure functions, stdlib only).

The caller (a module) reads the files and passes their text and metadata in; nothing here does I/O.

Sources:

- ``/proc/net/stat/nf_conntrack``: a header row naming the columns, then one row per possible CPU,
  every value in hexadecimal. ``entries`` is the namespace's table size (the same value on every
  row, not a per-CPU counter); every other column is a per-CPU counter, summed for ``stats``.
  Column names differ between kernels (``searched``/``delete_list`` on old ones, ``clashres``/
  ``chainlength`` on new ones), so they are taken from the header, never assumed.
- ``/proc/sys/net/netfilter/nf_conntrack_{count,max,buckets}``.
- ``/proc/sys/net/netfilter/nf_conntrack_acct``: accounting, per network namespace. On, each entry
  created afterwards carries packet and byte counters: how a gateway counts a hairpin's bytes.

Memory estimate (documented, deliberately simple): ``BYTES_PER_ENTRY`` (320) per entry, the
nf_conntrack slab object (256 B on 6.x kernels) plus typical extensions (acct, timestamp, NAT),
and ``BYTES_PER_BUCKET`` (8, one pointer) per hash bucket. Kernel memory, never swapped.

Initial network namespace: only there are ``nf_conntrack_max`` and ``nf_conntrack_buckets``
writable. The kernel registers ``nf_conntrack_max`` with mode 0444 in every other namespace and
0644 in the initial one (checked on 6.18 with ``unshare -n``: even root gets EACCES there, and a
write of the module parameter ``hashsize`` gets EOPNOTSUPP). The mode is set by the kernel itself,
so it holds inside containers, user namespaces and ``ip netns``. Comparing ``/proc/self/ns/net``
with ``/proc/1/ns/net`` is not used: PID 1 is the container's own init inside a container, and
``/proc/1/ns/net`` may not even be readable (it is not on the machines this was built on).
Writable additionally needs a read-write mount (containers sharing the host's namespace usually
mount ``/proc/sys`` read-only) and permission (``os.access``: for a sysctl the kernel enforces the
mode bits even for root, so it answers correctly, but it cannot tell why; hence the three inputs).
"""

from __future__ import annotations

BYTES_PER_ENTRY = 320
BYTES_PER_BUCKET = 8

# Counters that mean lost or refused connections; the report highlights them.
DROP_COUNTERS = ('drop', 'early_drop', 'insert_failed')

# The kernel's message when the table is full (net_warn_ratelimited in nf_conntrack_core.c; newer
# kernels print it with a second "nf_conntrack: " prefix). Rate-limited: the count is a lower bound.
TABLE_FULL_MARKER = 'table full, dropping packet'

# Column whose value is the namespace's table size rather than a per-CPU counter.
_GLOBAL_COLUMNS = ('entries',)

MSG_NOT_INITIAL = ('this is not the initial network namespace (a container or a netns): '
                   'nf_conntrack_max and the hash size are read-only here and must be set on the host')
MSG_READONLY_MOUNT = ('this is the initial network namespace but /proc/sys is mounted read-only here '
                      '(a container sharing the host network?): set the values on the host')
MSG_NO_PERMISSION = 'no permission to write the conntrack sysctls: run as root (become: true)'
MSG_UNAVAILABLE = ('nf_conntrack is not loaded in this kernel (no /proc/sys/net/netfilter/nf_conntrack_max): '
                   'there is no connection-tracking table to size; it appears once a NAT or conntrack rule needs it')


def parse_stat(text):
    """Parse /proc/net/stat/nf_conntrack.

    Returns ``(per_cpu, stats)``: ``per_cpu`` is a list of ``{'cpu': i, column: value, ...}``
    (row i is the i-th possible CPU), ``stats`` sums the counters over CPUs and carries the
    ``entries`` value as is. Rows that do not match the header (garbage, truncated lines) are
    skipped. Raises ValueError when there is no header row.
    """
    columns = None
    per_cpu = []
    for line in text.splitlines():
        fields = line.split()
        if not fields:
            continue
        if columns is None:
            if fields[0] != 'entries':
                raise ValueError('not /proc/net/stat/nf_conntrack: the first line is not a header starting with "entries"')
            columns = fields
            continue
        if len(fields) != len(columns):
            continue
        try:
            values = [int(field, 16) for field in fields]
        except ValueError:
            continue
        row = {'cpu': len(per_cpu)}
        row.update(zip(columns, values))
        per_cpu.append(row)
    if columns is None:
        raise ValueError('empty /proc/net/stat/nf_conntrack: no header row')
    stats = {}
    for column in columns:
        if column in _GLOBAL_COLUMNS:
            stats[column] = per_cpu[0][column] if per_cpu else 0
        else:
            stats[column] = sum(row[column] for row in per_cpu)
    return per_cpu, stats


def memory_estimate(entries, buckets, bytes_per_entry=BYTES_PER_ENTRY, bytes_per_bucket=BYTES_PER_BUCKET):
    """Kernel memory for ``entries`` tracked connections in a table of ``buckets`` buckets."""
    if entries is None or buckets is None:
        return None
    return entries * bytes_per_entry + buckets * bytes_per_bucket


def netns_state(max_mode, readonly_mount, can_write):
    """Decide where we are from the metadata of /proc/sys/net/netfilter/nf_conntrack_max.

    ``max_mode``: its st_mode (None when the file is absent); ``readonly_mount``: its file system is
    mounted read-only (statvfs ST_RDONLY); ``can_write``: os.access(path, os.W_OK).
    Returns ``{'initial_netns': bool|None, 'writable': bool, 'message': str|None}``.
    """
    if max_mode is None:
        return {'initial_netns': None, 'writable': False, 'message': MSG_UNAVAILABLE}
    if not max_mode & 0o200:
        return {'initial_netns': False, 'writable': False, 'message': MSG_NOT_INITIAL}
    if readonly_mount:
        return {'initial_netns': True, 'writable': False, 'message': MSG_READONLY_MOUNT}
    if not can_write:
        return {'initial_netns': True, 'writable': False, 'message': MSG_NO_PERMISSION}
    return {'initial_netns': True, 'writable': True, 'message': None}


def count_table_full(log_text):
    """How many "table full, dropping packet" kernel messages a kernel log text holds."""
    if log_text is None:
        return None
    return sum(1 for line in log_text.splitlines() if TABLE_FULL_MARKER in line)


def unavailable_result(message=MSG_UNAVAILABLE):
    """The conntrack_info result for a kernel or namespace without nf_conntrack."""
    return {
        'available': False,
        'count': None,
        'max': None,
        'buckets': None,
        'usage': None,
        'initial_netns': None,
        'writable': False,
        'stats': {},
        'per_cpu': [],
        'memory_bytes': None,
        'max_memory_bytes': None,
        'table_full_messages': None,
        'kernel_log': None,
        'accounting': None,
        'message': message,
    }


def build_info(count, max_entries, buckets, stat_text, netns, table_full_messages=None, kernel_log=None,
               bytes_per_entry=BYTES_PER_ENTRY, accounting=None):
    """The conntrack_info result (docs/architecture.md) from the values the module read.

    ``count``/``max_entries``/``buckets``: the sysctl values (int or None); ``stat_text``: the text of
    /proc/net/stat/nf_conntrack or None; ``netns``: the dict from netns_state();
    ``table_full_messages``/``kernel_log``: count_table_full() of the kernel log and its source name;
    ``accounting``: the nf_conntrack_acct value (int, None when unreadable).
    """
    per_cpu, stats = ([], {})
    if stat_text is not None:
        per_cpu, stats = parse_stat(stat_text)
    if count is None and 'entries' in stats:
        count = stats['entries']
    usage = None
    if count is not None and max_entries:
        usage = round(float(count) / max_entries, 6)
    return {
        'available': True,
        'count': count,
        'max': max_entries,
        'buckets': buckets,
        'usage': usage,
        'initial_netns': netns['initial_netns'],
        'writable': netns['writable'],
        'stats': stats,
        'per_cpu': per_cpu,
        'memory_bytes': memory_estimate(count, buckets, bytes_per_entry),
        'max_memory_bytes': memory_estimate(max_entries, buckets, bytes_per_entry),
        'table_full_messages': table_full_messages,
        'kernel_log': kernel_log,
        'accounting': None if accounting is None else bool(accounting),
        'message': netns['message'],
    }
