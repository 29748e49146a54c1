#!/usr/bin/python
# Copyright (c) 2026 keeplocal.traffic contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: hairpin_watch_info
short_description: Show what the hairpin watch collector sees on a host and whether it can run there
version_added: 0.2.0
description:
  - Runs one collection of the C(keeplocal.traffic.hairpin_watch) collector in the module's process
    and returns the Prometheus metrics text it would write, its result (conntrack health, hairpin
    entries, connections to the fleet's public addresses, same-host connections to application
    servers) and the cost estimate from the byte counters the installed collector keeps in
    O(state_directory).
  - Checks what the collector needs on the host. The textfile directory must exist or be creatable.
    A running node_exporter must read that directory. systemd must run the timer.
    RV(problems) lists what stands in the way, each naming the option to change.
  - The C(keeplocal.traffic.hairpin_watch) role runs it before it changes anything.
  - Only reads; writes no metrics file and no counters. Needs root for the conntrack table.
author:
  - keeplocal.traffic contributors (@keeplocal)
options:
  textfile_directory:
    description: node_exporter's textfile collector directory the collector writes to (Debian's default).
    type: path
    default: /var/lib/prometheus/node-exporter
  state_directory:
    description: Where the installed collector keeps its byte counters and last result.
    type: path
    default: /var/lib/keeplocal-watch
  interval:
    description: The collector's interval (a duration such as V(60s) or V(2m), at least 10 seconds); the cost window adds one.
    type: str
    default: 60s
  top_pairs:
    description: Label sets per metric that keep their own series; the rest are summed under C(other).
    type: int
    default: 20
  label_overrides:
    description:
      - "Replacement label values, per label name, for example C({client: {192.168.1.10: svc-a}}). Label
        names are C(client), C(public), C(backend), C(process) and C(listener)."
    type: dict
    default: {}
  app_servers:
    description: Process names of application servers whose same-host TCP connections are counted.
    type: list
    elements: str
    default: [daphne, granian, gunicorn, hypercorn, puma, unicorn, uvicorn, uwsgi, waitress]
  price_per_gb:
    description: Price of one GB (10^9 bytes) through the NAT gateway, for the cost estimate.
    type: float
    default: 0.045
  currency:
    description: The currency of O(price_per_gb) (ISO 4217 code).
    type: str
    default: USD
extends_documentation_fragment:
  - keeplocal.traffic.detect
  - keeplocal.traffic.detect.internal_cidrs
  - keeplocal.traffic.detect.public_addresses
notes:
  - O(public_addresses) are the fleet's public addresses (the forwards' public addresses, C(plan.pairs[].public.ip));
    a client's TCP connections to them are counted per address and process.
seealso:
  - module: keeplocal.traffic.hairpin_facts
"""

EXAMPLES = r"""
- name: Show what the collector would export on the gateway
  keeplocal.traffic.hairpin_watch_info:
    public_addresses: [198.51.100.1]
  become: true
  register: watch

- name: Print the metrics
  ansible.builtin.debug:
    msg: "{{ watch.metrics.splitlines() }}"
"""

RETURN = r"""
metrics:
  description: The Prometheus text exposition a collector run writes now.
  returned: always
  type: str
  sample: |
    # HELP keeplocal_hairpin_connections Hairpin connections in the table per pair ...
    # TYPE keeplocal_hairpin_connections gauge
    keeplocal_hairpin_connections{client="192.168.1.10",public="198.51.100.1:80/tcp",backend="192.168.1.20:80"} 3
result:
  description: The collector's result of this run (the installed collector writes the same to C(result.json) in O(state_directory)).
  returned: always
  type: dict
  contains:
    conntrack:
      description: C(available), C(count), C(max), C(usage), C(drop), C(early_drop), C(insert_failed), and C(accounting) (nf_conntrack_acct on).
      type: dict
    hairpin:
      description: C(source), C(total_entries), C(hairpin_entries), C(pairs) (a count); null without nf_conntrack.
      type: dict
    public_connections:
      description: TCP connections from this host to the fleet's public addresses.
      type: int
    client_bytes:
      description:
        - Where the TCP sockets were listed and whether their byte counters were read. C(source) (C(sock_diag) or
          C(proc)), C(byte_counters) (bool), C(msg) (why not, or null), C(counted_sockets) (connections to the public
          addresses counted this run), C(time_wait_sockets) (closed ones, whose counters are gone).
      type: dict
    same_host_connections:
      description: TCP connections from this host to its own application servers.
      type: int
    series:
      description: Samples in the metrics text.
      type: int
    cost:
      description:
        - Hairpin bytes per pair from the byte counters, extrapolated to a month (730 hours) over each pair's
          observation window, and their price; C(price_per_gb), C(currency), C(month_hours), C(bytes), C(gb_per_month),
          C(cost_per_month), C(pairs) (C(client), C(public), C(backend), C(counted_by), C(bytes), C(window_seconds),
          C(gb_per_month), C(cost_per_month)).
      type: dict
textfile_directory:
  description: C(path), C(exists), C(usable) (exists and is writable, or can be created) and C(message) (why not).
  returned: always
  type: dict
node_exporters:
  description: The node_exporters running here, C(pid), C(process), C(command), C(textfile_enabled), C(textfile_directory).
  returned: always
  type: list
  elements: dict
systemd:
  description: systemd runs here (the collector's timer needs it).
  returned: always
  type: bool
problems:
  description: What stops the collector from working on this host, each starting with the option to change; empty when none.
  returned: always
  type: list
  elements: str
"""

import os
import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.keeplocal.traffic.plugins.module_utils._app_servers import KNOWN_SERVERS
from ansible_collections.keeplocal.traffic.plugins.module_utils._host_facts import NETWORK_OPTIONS
from ansible_collections.keeplocal.traffic.plugins.module_utils._metrics import DEFAULT_CURRENCY, DEFAULT_PRICE_PER_GB
from ansible_collections.keeplocal.traffic.plugins.module_utils._watch import (
    COUNTERS_FILE,
    CollectorError,
    collect,
    host_state,
    read_json,
)
from ansible_collections.keeplocal.traffic.plugins.module_utils._watch_settings import SettingsError, check_settings


def main():
    module = AnsibleModule(
        argument_spec=dict(
            textfile_directory=dict(type='path', default='/var/lib/prometheus/node-exporter'),
            state_directory=dict(type='path', default='/var/lib/keeplocal-watch'),
            interval=dict(type='str', default='60s'),
            top_pairs=dict(type='int', default=20),
            label_overrides=dict(type='dict', default={}),
            app_servers=dict(type='list', elements='str', default=list(KNOWN_SERVERS)),
            price_per_gb=dict(type='float', default=DEFAULT_PRICE_PER_GB),
            currency=dict(type='str', default=DEFAULT_CURRENCY),
            **NETWORK_OPTIONS
        ),
        supports_check_mode=True,
    )
    try:
        settings = check_settings(dict(module.params))
    except SettingsError as exc:
        module.fail_json(msg=str(exc))
    started = time.monotonic()
    host = host_state(settings['textfile_directory'])
    counters = read_json(os.path.join(settings['state_directory'], COUNTERS_FILE), {})
    try:
        metrics, dummy, result = collect(module, settings, counters, started)
    except CollectorError as exc:
        module.fail_json(msg='the collector cannot run here: %s' % exc, **host)
    module.exit_json(changed=False, metrics=metrics, result=result, **host)


if __name__ == '__main__':
    main()
