#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026 keeplocal.traffic contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: conntrack_limits
short_description: Size the connection-tracking table (nf_conntrack_max, hash size, timeouts, accounting) and persist it
version_added: 0.1.0
description:
  - Computes a target nf_conntrack_max from a policy (O(policy=fixed), kube-proxy's rule, or a share of
    RAM), a hash size (explicit or max/4), optional TCP timeouts and optional conntrack accounting
    (C(nf_conntrack_acct)), then sets them at run time and persists them across reboots.
  - Never lowers a running value unless O(allow_lower=true), and refuses any value below the entries in
    use plus O(headroom) (a table below its use drops new connections). Bad values are reported all at
    once, each naming the option to fix; the result key C(field) names the first.
  - Runtime values are written to C(/proc/sys/net/netfilter) and C(/sys/module/nf_conntrack/parameters/hashsize),
    then read back; a value the kernel did not take (C(sysctl -w) exits 0 even then) fails the task and
    restores what was written before.
  - Persistence (O(persist=true)) writes three files, with backups of files it replaces. A sysctl.d file holds
    C(nf_conntrack_max), the timeouts, C(nf_conntrack_acct) when O(accounting) is set, and C(nf_conntrack_buckets)
    where that sysctl is writable. A modprobe.d
    file holds C(options nf_conntrack hashsize=N). A modules-load.d file holds C(nf_conntrack), because
    systemd-sysctl runs before nf_conntrack is loaded and would otherwise skip the sysctl lines at boot.
  - nf_conntrack_max and the hash size can only be set in the initial network namespace. Anywhere else
    (a container, an C(ip netns)) the module reports what it would set and that it must be applied on the
    host, changes nothing and does not fail. On a kernel without nf_conntrack it says so and does nothing.
  - C(nf_conntrack_acct) is the exception - it belongs to each network namespace, and the kernel lets root
    write it inside one. There O(accounting) is set for this namespace at run time only (no file is written - it
    lasts as long as the namespace), and the message says how to keep it (the container runtime's
    C(--sysctl net.netfilter.nf_conntrack_acct=1)). Where C(/proc/sys) is mounted read-only it is reported, not set.
author:
  - keeplocal.traffic contributors (@keeplocal)
options:
  policy:
    description:
      - How nf_conntrack_max is chosen.
      - V(fixed) uses O(max).
      - V(kube_proxy) uses max(O(per_core) x CPUs, O(floor)), capped at O(cap).
      - V(memory) uses the largest table whose entries fit O(memory_share) of RAM at O(bytes_per_entry) each.
    type: str
    choices: [fixed, kube_proxy, memory]
    default: kube_proxy
  max:
    description: nf_conntrack_max for O(policy=fixed) (required then, not allowed with other policies).
    type: int
  per_core:
    description: Entries per CPU for O(policy=kube_proxy).
    type: int
    default: 32768
  floor:
    description: Minimum entries for O(policy=kube_proxy).
    type: int
    default: 131072
  cap:
    description: Maximum entries for O(policy=kube_proxy), as in newer kube-proxy; V(0) means no cap, any other value is at least O(floor).
    type: int
    default: 1048576
  memory_share:
    description: Share of RAM (above 0, at most 0.5) the full table may take for O(policy=memory).
    type: float
    default: 0.05
  bytes_per_entry:
    description: Kernel memory per entry used by O(policy=memory) and the memory report.
    type: int
    default: 320
  hashsize:
    description:
      - Hash buckets. Unset means max/4 (kube-proxy's ratio). Rounded up to whole pages of buckets as the
        kernel does (multiples of 512 on x86_64). At most the target nf_conntrack_max.
    type: int
  headroom:
    description: Free entries that must remain above the entries in use now; a target below count + headroom is refused.
    type: int
    default: 16384
  allow_lower:
    description: Allow lowering a running nf_conntrack_max or hash size (never below count + O(headroom)).
    type: bool
    default: false
  timeouts:
    description:
      - TCP conntrack timeouts in seconds; each one unset is left unchanged.
      - Starting points, documented rather than applied, are established 86400 and close_wait 3600
        (kube-proxy's values) and time_wait 120 (the kernel default).
    type: dict
    suboptions:
      established:
        description: nf_conntrack_tcp_timeout_established (kernel default 432000).
        type: int
      time_wait:
        description: nf_conntrack_tcp_timeout_time_wait (kernel default 120).
        type: int
      close_wait:
        description: nf_conntrack_tcp_timeout_close_wait (kernel default 60).
        type: int
  accounting:
    description:
      - Conntrack accounting (C(net.netfilter.nf_conntrack_acct)) - V(true) gives every new connection packet and byte
        counters for both directions, which is what counts the bytes of a hairpin; V(false) turns it off.
      - Unset leaves it as it is. It applies to connections opened after it is turned on.
    type: bool
  persist:
    description: Write the sysctl.d, modprobe.d and modules-load.d files so the values survive a reboot.
    type: bool
    default: true
  sysctl_file:
    description: The sysctl.d file.
    type: path
    default: /etc/sysctl.d/90-keeplocal-conntrack.conf
  modprobe_file:
    description: The modprobe.d file.
    type: path
    default: /etc/modprobe.d/keeplocal-conntrack.conf
  modules_load_file:
    description: The modules-load.d file.
    type: path
    default: /etc/modules-load.d/keeplocal-conntrack.conf
  backup:
    description: Keep a timestamped copy of a persistence file before replacing it (its name does not end in .conf, so it is not read).
    type: bool
    default: true
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: full
    details: Shows the runtime values and each persistence file before and after.
  platform:
    description: Target OS/families that can be operated against.
    support: full
    platforms: posix
notes:
  - A built-in nf_conntrack (C(nf_conntrack_builtin=true) in the result) ignores modprobe.d; the hash size is then
    persisted by the C(nf_conntrack_buckets) line of the sysctl.d file (or the kernel command line C(nf_conntrack.hashsize=N)).
  - Timeouts are per network namespace, but this module changes nothing outside the initial one; set them
    for a container with its runtime (for example C(podman run --sysctl net.netfilter.nf_conntrack_tcp_timeout_established=86400)).
    Accounting is per network namespace too; see the description for what the module does there.
seealso:
  - module: keeplocal.traffic.conntrack_info
  - name: kube-proxy conntrack settings
    description: The per-core rule this module's kube_proxy policy follows.
    link: https://kubernetes.io/docs/reference/config-api/kube-proxy-config.v1alpha1/
"""

EXAMPLES = r"""
- name: Size the table like kube-proxy and persist it
  keeplocal.traffic.conntrack_limits:
    policy: kube_proxy
  become: true

- name: A fixed limit with an explicit hash size and shorter established timeout
  keeplocal.traffic.conntrack_limits:
    policy: fixed
    max: 524288
    hashsize: 131072
    timeouts:
      established: 86400
  become: true

- name: Count the bytes of every connection (conntrack accounting), keep the table size as it is
  keeplocal.traffic.conntrack_limits:
    policy: kube_proxy
    accounting: true
  become: true

- name: At most 5 % of RAM, runtime only
  keeplocal.traffic.conntrack_limits:
    policy: memory
    memory_share: 0.05
    persist: false
  become: true
"""

RETURN = r"""
available:
  description: nf_conntrack is present.
  returned: always
  type: bool
  sample: true
applied:
  description: The values were (or, in check mode, would be) applied here; false in a read-only namespace or without nf_conntrack.
  returned: always
  type: bool
  sample: true
writable:
  description: The limits can be written here.
  returned: always
  type: bool
  sample: true
initial_netns:
  description: This is the initial network namespace.
  returned: always
  type: bool
  sample: true
check_mode:
  description: The module ran in check mode (nothing was written; after is a prediction).
  returned: when available
  type: bool
  sample: false
nf_conntrack_builtin:
  description: nf_conntrack is built into the kernel (modprobe.d options do not apply to it).
  returned: when available
  type: bool
  sample: false
before:
  description: Runtime values before the run (count, max, buckets, timeouts, accounting - nf_conntrack_acct, null when absent).
  returned: when available
  type: dict
  sample: {count: 21, max: 262144, buckets: 262144, timeouts: {established: 432000, time_wait: 120, close_wait: 60}, accounting: 0}
after:
  description:
    - Runtime values after the run, read back from the kernel (predicted in check mode).
    - In a read-only namespace they equal before, except accounting where it was set in this namespace.
  returned: when available
  type: dict
  sample: {count: 21, max: 524288, buckets: 262144, timeouts: {established: 86400, time_wait: 120, close_wait: 60}, accounting: 1}
target:
  description:
    - The decision - policy, cpus, mem_total_bytes, policy_max (the policy's own value), max and max_reason,
      hashsize and hashsize_reason, timeouts, accounting (null - unchanged), memory_bytes (full table, max x bytes_per_entry + buckets x 8),
      memory_share_of_ram, lowered, changes (before/after per value), warnings.
  returned: when available
  type: dict
  sample: {policy: fixed, max: 524288, max_reason: "policy fixed: 524288", hashsize: 262144, memory_bytes: 169869312, changes: {}}
would_set:
  description:
    - What would be set on the host, when this namespace is read-only.
    - C(accounting) (null - unchanged) belongs to this namespace; it is listed here when it could not be set here either.
  returned: when the limits are not writable here
  type: dict
  sample: {nf_conntrack_max: 262144, hashsize: 65536, timeouts: {}, accounting: null}
files:
  description: Persistence files with path, changed and backup_file (when one was made).
  returned: when available
  type: dict
  sample: {sysctl: {path: /etc/sysctl.d/90-keeplocal-conntrack.conf, changed: true}}
field:
  description: On failure, the option to fix (the first one when the message lists several).
  returned: failure
  type: str
  sample: max
message:
  description: What happened, in one sentence (also in msg).
  returned: always
  type: str
  sample: "nf_conntrack_max 262144 -> 524288; persisted"
"""

import os
import struct

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_bytes, to_native

from ansible_collections.keeplocal.traffic.plugins.module_utils._conntrack_sizing import (
    ACCOUNTING_SYSCTL,
    TIMEOUT_SYSCTLS,
    SizingError,
    plan_limits,
    render_modprobe,
    render_modules_load,
    render_sysctl,
)
from ansible_collections.keeplocal.traffic.plugins.module_utils._files import write_atomically
from ansible_collections.keeplocal.traffic.plugins.module_utils._procfs import (
    read_int,
    read_netns_state,
    read_text,
    sysctl_writable,
)

NETFILTER_SYSCTL = '/proc/sys/net/netfilter'
MODULE_DIR = '/sys/module/nf_conntrack'
MEMINFO = '/proc/meminfo'


def sysctl_path(name):
    return os.path.join(NETFILTER_SYSCTL, name)


def hashsize_param():
    return os.path.join(MODULE_DIR, 'parameters', 'hashsize')


def mem_total_bytes():
    text = read_text(MEMINFO) or ''
    for line in text.splitlines():
        if line.startswith('MemTotal:'):
            return int(line.split()[1]) * 1024
    return None


def read_runtime():
    """count, max, buckets, the managed timeouts and accounting as the kernel reports them."""
    # The module parameter is where the hash size is written (root-only); the sysctl mirrors it.
    buckets = read_int(hashsize_param())
    if buckets is None:
        buckets = read_int(sysctl_path('nf_conntrack_buckets'))
    return {
        'count': read_int(sysctl_path('nf_conntrack_count')),
        'max': read_int(sysctl_path('nf_conntrack_max')),
        'buckets': buckets,
        'timeouts': dict((key, read_int(sysctl_path(name))) for key, name in TIMEOUT_SYSCTLS.items()),
        'accounting': read_int(sysctl_path(ACCOUNTING_SYSCTL)),
    }


def buckets_sysctl_writable():
    try:
        return bool(os.stat(sysctl_path('nf_conntrack_buckets')).st_mode & 0o200)
    except OSError:
        return False


def write_int(path, value):
    """Write a value to a /proc or /sys file; the kernel's refusal surfaces as OSError."""
    fd = os.open(path, os.O_WRONLY | os.O_TRUNC)
    try:
        os.write(fd, to_bytes('%d\n' % value))
    finally:
        os.close(fd)


def runtime_text(values):
    lines = ['nf_conntrack_max = %s' % values['max'], 'hashsize = %s' % values['buckets']]
    for key in sorted(values['timeouts']):
        lines.append('%s = %s' % (TIMEOUT_SYSCTLS[key], values['timeouts'][key]))
    if values['accounting'] is not None:
        lines.append('%s = %s' % (ACCOUNTING_SYSCTL, values['accounting']))
    return '\n'.join(lines) + '\n'


class Runtime(object):
    """Runtime writes, each read back; rollback() restores what was written, newest first."""

    def __init__(self):
        self.done = []

    def set(self, label, path, before, after):
        try:
            write_int(path, after)
        except OSError as e:
            raise RuntimeError('the kernel refused %s = %d (%s): %s' % (label, after, path, to_native(e)))
        # Remember it before checking: a write that "succeeded" with another value is undone too.
        self.done.append((label, path, before))
        got = read_int(path)
        if got != after:
            raise RuntimeError('%s reads back %s after writing %d (%s): the kernel did not take the value' % (label, got, after, path))

    def rollback(self):
        errors = []
        for label, path, before in reversed(self.done):
            try:
                write_int(path, before)
            except OSError as e:
                errors.append('%s: %s' % (label, to_native(e)))
        self.done = []
        return errors


class Files(object):
    """Persistence files written atomically, with backups; rollback() restores them."""

    def __init__(self, module, backup):
        self.module = module
        self.backup = backup
        self.done = []

    def write(self, path, content, old):
        backup_file = None
        if old is not None and self.backup:
            backup_file = self.module.backup_local(path)
        directory = os.path.dirname(path)
        if not os.path.isdir(directory):
            os.makedirs(directory, 0o755)
        write_atomically(path, to_bytes(content))
        self.done.append((path, old))
        return backup_file

    def rollback(self):
        errors = []
        for path, old in reversed(self.done):
            try:
                if old is None:
                    os.unlink(path)
                else:
                    write_atomically(path, to_bytes(old))
            except OSError as e:
                errors.append('%s: %s' % (path, to_native(e)))
        return errors


def request_from(params):
    return {
        'policy': params['policy'],
        'max': params['max'],
        'per_core': params['per_core'],
        'floor': params['floor'],
        'cap': params['cap'],
        'memory_share': params['memory_share'],
        'bytes_per_entry': params['bytes_per_entry'],
        'hashsize': params['hashsize'],
        'headroom': params['headroom'],
        'allow_lower': params['allow_lower'],
        'timeouts': params['timeouts'] or {},
        'accounting': params['accounting'],
    }


def describe(plan):
    parts = []
    for key in ('max', 'hashsize'):
        change = plan['changes'].get(key)
        if change:
            parts.append('%s %s -> %s' % ('nf_conntrack_max' if key == 'max' else key, change['before'], change['after']))
    for key in sorted(TIMEOUT_SYSCTLS):
        change = plan['changes'].get('timeout_' + key)
        if change:
            parts.append('%s %s -> %s' % (TIMEOUT_SYSCTLS[key], change['before'], change['after']))
    change = plan['changes'].get('accounting')
    if change:
        parts.append('%s %s -> %s' % (ACCOUNTING_SYSCTL, change['before'], change['after']))
    return ', '.join(parts)


def accounting_here(module, plan, before, initial_netns):
    """Set nf_conntrack_acct in this non-initial network namespace, where the limits are read-only:
    ``(after, text, diff)``. It belongs to the namespace (the host cannot set it for a container) and
    the kernel lets root write it here; no file keeps it, since files here outlive the namespace or
    belong to the host's initial one."""
    change = plan['changes'].get('accounting')
    path = sysctl_path(ACCOUNTING_SYSCTL)
    if change is None or initial_netns or not sysctl_writable(path):
        return before, '', []
    keep = ('to keep it, set it where the namespace is made, e.g. podman run --sysctl net.netfilter.%s=%d'
            % (ACCOUNTING_SYSCTL, change['after']))
    after = dict(before, accounting=change['after'])
    diff = [{'before_header': 'runtime (this network namespace)', 'after_header': 'runtime (this network namespace)',
             'before': '%s = %s\n' % (ACCOUNTING_SYSCTL, change['before']), 'after': '%s = %s\n' % (ACCOUNTING_SYSCTL, change['after'])}]
    if module.check_mode:
        return after, '; check mode, would set %s %s -> %s in this network namespace (%s)' % (
            ACCOUNTING_SYSCTL, change['before'], change['after'], keep), diff
    runtime = Runtime()
    try:
        runtime.set(ACCOUNTING_SYSCTL, path, change['before'], change['after'])
    except RuntimeError as e:
        runtime.rollback()
        module.fail_json(msg='%s; nothing was left changed' % to_native(e), field='accounting')
    return read_runtime(), '; %s %s -> %s in this network namespace (it is per namespace; runtime only: %s)' % (
        ACCOUNTING_SYSCTL, change['before'], change['after'], keep), diff


def main():
    module = AnsibleModule(
        argument_spec=dict(
            policy=dict(type='str', default='kube_proxy', choices=['fixed', 'kube_proxy', 'memory']),
            max=dict(type='int'),
            per_core=dict(type='int', default=32768),
            floor=dict(type='int', default=131072),
            cap=dict(type='int', default=1048576),
            memory_share=dict(type='float', default=0.05),
            bytes_per_entry=dict(type='int', default=320),
            hashsize=dict(type='int'),
            headroom=dict(type='int', default=16384),
            allow_lower=dict(type='bool', default=False),
            timeouts=dict(type='dict', options=dict(
                established=dict(type='int'),
                time_wait=dict(type='int'),
                close_wait=dict(type='int'),
            )),
            persist=dict(type='bool', default=True),
            sysctl_file=dict(type='path', default='/etc/sysctl.d/90-keeplocal-conntrack.conf'),
            modprobe_file=dict(type='path', default='/etc/modprobe.d/keeplocal-conntrack.conf'),
            modules_load_file=dict(type='path', default='/etc/modules-load.d/keeplocal-conntrack.conf'),
            backup=dict(type='bool', default=True),
            accounting=dict(type='bool'),
        ),
        supports_check_mode=True,
    )
    params = module.params
    netns = read_netns_state(sysctl_path('nf_conntrack_max'))
    if netns['initial_netns'] is None:
        module.exit_json(changed=False, available=False, applied=False, writable=False, initial_netns=None,
                         msg=netns['message'], message=netns['message'])

    before = read_runtime()
    current = dict(before)
    current['cpus'] = os.cpu_count() or 1
    current['mem_total_bytes'] = mem_total_bytes()
    current['granule'] = os.sysconf('SC_PAGE_SIZE') // struct.calcsize('P')
    if current['count'] is None or current['max'] is None or current['buckets'] is None:
        module.fail_json(msg='cannot read nf_conntrack_count, nf_conntrack_max or nf_conntrack_buckets in %s' % NETFILTER_SYSCTL)
    try:
        plan = plan_limits(request_from(params), current)
    except SizingError as e:
        module.fail_json(msg=e.message, field=e.field)
    for warning in plan['warnings']:
        module.warn(warning)

    builtin = os.path.isdir(MODULE_DIR) and not os.path.exists(os.path.join(MODULE_DIR, 'initstate'))
    result = dict(available=True, writable=netns['writable'], initial_netns=netns['initial_netns'],
                  nf_conntrack_builtin=builtin, before=before, target=plan, files={}, check_mode=module.check_mode)

    if not netns['writable']:
        if netns['initial_netns'] and not module.check_mode and 'permission' in netns['message']:
            module.fail_json(msg=netns['message'], **result)
        after, accounting_text, diff = accounting_here(module, plan, before, netns['initial_netns'])
        changed = after['accounting'] != before['accounting']
        # In the initial namespace (a read-only mount) accounting goes to the host with the rest; in
        # another one it is this namespace's own, listed only when it is needed and could not be set.
        stuck = 'accounting' in plan['changes'] and not changed and not netns['initial_netns']
        would_set = {'nf_conntrack_max': plan['max'], 'hashsize': plan['hashsize'], 'timeouts': plan['timeouts'],
                     'accounting': plan['accounting'] if netns['initial_netns'] or stuck else None}
        host_values = dict((TIMEOUT_SYSCTLS[k], v) for k, v in plan['timeouts'].items())
        if netns['initial_netns'] and plan['accounting'] is not None:
            host_values[ACCOUNTING_SYSCTL] = int(plan['accounting'])
        message = '%s. Would set nf_conntrack_max=%d, hashsize=%d%s (%s): apply it on the host (the initial network namespace)' % (
            netns['message'], plan['max'], plan['hashsize'],
            ''.join(', %s=%d' % (name, value) for name, value in sorted(host_values.items())), plan['max_reason'])
        if stuck:
            message += ('; %s belongs to this network namespace, where it is read-only (/proc/sys mounted read-only): '
                        'set it with the container runtime, e.g. podman run --sysctl net.netfilter.%s=%d'
                        % (ACCOUNTING_SYSCTL, ACCOUNTING_SYSCTL, plan['accounting']))
        message += accounting_text
        module.exit_json(changed=changed, applied=False, after=after, would_set=would_set, diff=diff, msg=message, message=message,
                         **result)

    after = {'count': before['count'], 'max': plan['max'], 'buckets': plan['hashsize'],
             'timeouts': dict(before['timeouts'], **plan['timeouts']),
             'accounting': before['accounting'] if plan['accounting'] is None else int(plan['accounting'])}
    diff = [{'before_header': 'runtime', 'after_header': 'runtime', 'before': runtime_text(before), 'after': runtime_text(after)}]

    desired = {}
    if params['persist']:
        desired = {
            'sysctl': (params['sysctl_file'], render_sysctl(plan['max'], plan['hashsize'] if buckets_sysctl_writable() else None,
                                                            plan['timeouts'], plan['accounting'])),
            'modprobe': (params['modprobe_file'], render_modprobe(plan['hashsize'])),
            'modules_load': (params['modules_load_file'], render_modules_load()),
        }
    file_changes = {}
    for name, (path, content) in sorted(desired.items()):
        old = read_text(path)
        result['files'][name] = {'path': path, 'changed': old != content}
        if old != content:
            file_changes[name] = (path, content, old)
            diff.append({'before_header': path, 'after_header': path, 'before': old or '', 'after': content})

    changed = bool(plan['changes']) or bool(file_changes)
    summary = describe(plan) or 'runtime values already at target (%s)' % plan['max_reason']
    if file_changes:
        summary += '; %s %s' % ('would persist in' if module.check_mode else 'persisted in',
                                ', '.join(path for path, dummy, dummy2 in sorted(file_changes.values())))
    result['check_mode'] = module.check_mode
    if module.check_mode or not changed:
        if module.check_mode and changed:
            summary = 'check mode, would apply: ' + summary
        result['after'] = after
        module.exit_json(changed=changed, applied=True, diff=diff, msg=summary, message=summary, **result)

    runtime = Runtime()
    files = Files(module, params['backup'])
    try:
        if 'hashsize' in plan['changes']:
            path = hashsize_param() if os.path.exists(hashsize_param()) else sysctl_path('nf_conntrack_buckets')
            runtime.set('hashsize', path, before['buckets'], plan['hashsize'])
        if 'max' in plan['changes']:
            runtime.set('nf_conntrack_max', sysctl_path('nf_conntrack_max'), before['max'], plan['max'])
        for key, value in sorted(plan['timeouts'].items()):
            if 'timeout_' + key in plan['changes']:
                runtime.set(TIMEOUT_SYSCTLS[key], sysctl_path(TIMEOUT_SYSCTLS[key]), before['timeouts'][key], value)
        if 'accounting' in plan['changes']:
            runtime.set(ACCOUNTING_SYSCTL, sysctl_path(ACCOUNTING_SYSCTL), before['accounting'], plan['changes']['accounting']['after'])
        for name, (path, content, old) in sorted(file_changes.items()):
            backup_file = files.write(path, content, old)
            if backup_file:
                result['files'][name]['backup_file'] = backup_file
    except (RuntimeError, OSError) as e:
        errors = runtime.rollback() + files.rollback()
        msg = '%s; nothing was left changed' % to_native(e)
        if errors:
            msg = '%s; rollback failed for %s' % (to_native(e), '; '.join(errors))
        result['after'] = read_runtime()
        module.fail_json(msg=msg, **result)

    result['after'] = read_runtime()
    module.exit_json(changed=True, applied=True, diff=diff, msg=summary, message=summary, **result)


if __name__ == '__main__':
    main()
