#!/usr/bin/python
# Copyright (c) 2026 keeplocal.traffic contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: hairpin_flows_info
short_description: Find hairpin flows in a gateway's connection tracking table
version_added: 0.1.0
description:
  - Reads the conntrack table of the host's network namespace, from C(/proc/net/nf_conntrack) when
    the kernel provides it, else from C(conntrack -L -o extended) (same text format), and returns the
    flows that hairpin through this gateway.
  - A flow is hairpin when its original source is internal, its original destination is not
    internal (or is one of O(public_addresses)), and its reply source is internal, that is the
    destination was NATed to an internal backend.
  - The table is streamed; memory grows with the hairpin flows, not with the table size.
  - A host without a readable table returns RV(available=false) with a message; the module does not fail.
author:
  - keeplocal.traffic contributors (@keeplocal)
options:
  internal_cidrs:
    description:
      - Internal (private) address ranges.
    type: list
    elements: str
    default: ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', '100.64.0.0/10', '127.0.0.0/8', '::1/128', 'fc00::/7']
  public_addresses:
    description:
      - Public addresses of the fleet (for example the gateways' forwarded addresses). A destination
        in this list counts as public even inside O(internal_cidrs) (for example behind carrier-grade NAT).
    type: list
    elements: str
    default: []
  source:
    description:
      - Where to read the table. V(auto) uses V(proc) when C(/proc/net/nf_conntrack) exists and is
        readable, else V(conntrack).
    type: str
    choices: [auto, proc, conntrack]
    default: auto
  limit:
    description:
      - Maximum number of flows returned in RV(flows). RV(pairs) always counts every hairpin flow.
    type: int
    default: 100
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in diff mode when in check mode).
    support: none
  platform:
    description: Target OS/families that can be operated against.
    support: full
    platforms: posix
notes:
  - Needs root to read the table. Shows the table of the network namespace the module runs in.
  - With O(source=conntrack) the dump is written to the module's temporary directory (about 230 bytes per entry)
    and read back line by line; the file is removed at the end.
seealso:
  - module: keeplocal.traffic.nat_rules_info
"""

EXAMPLES = r"""
- name: Find hairpin flows on the gateway
  keeplocal.traffic.hairpin_flows_info:
    public_addresses: [198.51.100.1]
  become: true
  register: hairpin

- name: Show the hairpin pairs
  ansible.builtin.debug:
    msg: "{{ hairpin.pairs }}"
  when: hairpin.available
"""

RETURN = r"""
available:
  description: Whether a conntrack table could be read.
  returned: always
  type: bool
  sample: true
msg:
  description: Why the table could not be read, and what to do.
  returned: when RV(available) is false
  type: str
  sample: nf_conntrack is not loaded in this kernel/network namespace, so there is no table to read.
source:
  description: V(proc) (C(/proc/net/nf_conntrack)) or V(conntrack) (C(conntrack -L -o extended)); null when unavailable.
  returned: always
  type: str
  sample: proc
total_entries:
  description: Entries in the table.
  returned: always
  type: int
  sample: 57
hairpin_entries:
  description: Hairpin flows in the table.
  returned: always
  type: int
  sample: 3
flows:
  description: Hairpin flows, at most O(limit), in table order.
  returned: always
  type: list
  elements: dict
  sample:
    - proto: tcp
      client_ip: 192.168.1.10
      client_port: 41001
      public_ip: 198.51.100.1
      public_port: 80
      backend_ip: 192.168.1.20
      backend_port: 80
      snat_ip: 192.168.1.1
      state: TIME_WAIT
      assured: true
pairs:
  description: Hairpin flows aggregated by client, protocol, public address and port, backend address and port; complete.
  returned: always
  type: list
  elements: dict
  sample:
    - client_ip: 192.168.1.10
      proto: tcp
      public_ip: 198.51.100.1
      public_port: 80
      backend_ip: 192.168.1.20
      backend_port: 80
      snat: true
      connections: 3
"""

import os
import shlex
import tempfile

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.keeplocal.traffic.plugins.module_utils._addresses import (
    DEFAULT_INTERNAL_CIDRS,
    InternalNetworks,
    normalize_ip,
)
from ansible_collections.keeplocal.traffic.plugins.module_utils._conntrack_table import HairpinScanner

PROC_TABLE = '/proc/net/nf_conntrack'
CONNTRACK_MAX = '/proc/sys/net/netfilter/nf_conntrack_max'


class Unavailable(Exception):
    pass


def read_proc(scanner, path):
    try:
        with open(path, 'r') as table:
            scanner.feed(table)
    except PermissionError:
        raise Unavailable('%s is not readable: run as root (become: true)' % path) from None
    except FileNotFoundError:
        raise Unavailable('%s does not exist (kernel without CONFIG_NF_CONNTRACK_PROCFS): use source=conntrack '
                          'with the conntrack tool installed' % path) from None
    except OSError as exc:
        raise Unavailable('%s could not be read: %s' % (path, exc)) from None


def read_conntrack(module, scanner):
    path = module.get_bin_path('conntrack')
    if path is None:
        raise Unavailable(
            '%s is absent (kernel without CONFIG_NF_CONNTRACK_PROCFS) and the conntrack tool is not installed: '
            'install the conntrack package (conntrack-tools)' % PROC_TABLE)
    # The dump goes to a file in the module's temporary directory and is read back line by line,
    # so memory stays bounded by the hairpin flows (run_command would hold the whole dump).
    handle, dump = tempfile.mkstemp(prefix='conntrack-', suffix='.txt', dir=module.tmpdir)
    os.close(handle)
    try:
        command = '%s -L -o extended > %s' % (shlex.quote(path), shlex.quote(dump))
        rc, dummy, err = module.run_command(command, use_unsafe_shell=True, environ_update={'LC_ALL': 'C'})
        if rc != 0:
            detail = err.strip().splitlines()[-1] if err.strip() else 'exit code %d' % rc
            if any(word in detail for word in ('ermission denied', 'not permitted', 'must be root')):
                detail += ' (run as root: become: true)'
            raise Unavailable('conntrack -L failed: %s' % detail)
        with open(dump, 'r') as table:
            scanner.feed(table)
    finally:
        os.unlink(dump)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            internal_cidrs=dict(type='list', elements='str', default=list(DEFAULT_INTERNAL_CIDRS)),
            public_addresses=dict(type='list', elements='str', default=[]),
            source=dict(type='str', default='auto', choices=['auto', 'proc', 'conntrack']),
            limit=dict(type='int', default=100),
        ),
        supports_check_mode=True,
    )
    params = module.params
    if params['limit'] < 0:
        module.fail_json(msg='limit must be 0 or more, got %d' % params['limit'])
    try:
        internal = InternalNetworks(params['internal_cidrs'])
    except ValueError as exc:
        module.fail_json(msg='internal_cidrs: %s. Give networks in CIDR notation.' % exc)
    for addr in params['public_addresses']:
        try:
            normalize_ip(addr)
        except ValueError:
            module.fail_json(msg='public_addresses: %r is not an IP address (give addresses such as 198.51.100.1, no ports)' % addr)

    result = dict(changed=False, available=False, source=None, total_entries=0, hairpin_entries=0, flows=[], pairs=[])
    source = params['source']
    if source == 'auto':
        source = 'proc' if os.access(PROC_TABLE, os.R_OK) else 'conntrack'
    if not os.path.exists(PROC_TABLE) and not os.path.exists(CONNTRACK_MAX):
        result['msg'] = ('nf_conntrack is not loaded in this kernel/network namespace, so there is no table to read '
                         '(no NAT or stateful firewall rule uses it here); not a gateway, or load it with modprobe nf_conntrack')
        module.exit_json(**result)

    scanner = HairpinScanner(internal, params['public_addresses'], params['limit'])
    try:
        if source == 'proc':
            read_proc(scanner, PROC_TABLE)
        else:
            read_conntrack(module, scanner)
    except Unavailable as exc:
        result['msg'] = str(exc)
        module.exit_json(**result)
    result.update(scanner.result())
    result.update(available=True, source=source)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
