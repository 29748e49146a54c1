# Copyright (c) 2026 keeplocal.traffic contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The split_dns_server_originals filter: what the CoreDNS server's undo must put back."""

from __future__ import annotations

DOCUMENTATION = r'''
name: split_dns_server_originals
short_description: The files, links and directories of a host's own CoreDNS setup that the split_dns server replaces
version_added: 0.1.0
author: keeplocal.traffic contributors (@keeplocal)
description:
  - On a host that had a CoreDNS setup before keeplocal (a Corefile, zone files, a unit, a C(coredns) link), the
    split_dns server replaces some of it. Before its first change the role copies every such file and link, and
    records the owner and mode of every such directory; C(split_dns_server_state=absent) puts them back.
  - Returns O(_input)'s existing files and links (not directories), then the zone files found, each once, as
    V(originals); the existing directories with their mode, owner and group as V(directories); and whether
    systemd ran and enabled the CoreDNS service before, as V(service), wherever its unit file lives (a package's
    unit in C(/usr/lib/systemd/system) is shadowed, not replaced, by the unit the role writes in C(/etc)).
positional: _input
options:
  _input:
    description: The C(results) of C(ansible.builtin.stat) looped over the server's paths (C(follow=false)).
    type: list
    elements: dict
    required: true
  zone_files:
    description: The C(files) of C(ansible.builtin.find) in the zone directory.
    type: list
    elements: dict
    required: true
  service:
    description:
      - The service's entry in C(ansible_facts.services) (from C(ansible.builtin.service_facts)), or V(null) when
        systemd does not know it.
    type: dict
'''

EXAMPLES = r'''
- name: Decide what to keep of the host's own CoreDNS setup
  ansible.builtin.set_fact:
    before: >-
      {{ paths_before.results
         | keeplocal.traffic.split_dns_server_originals(zone_files_before.files,
                                                         service=ansible_facts.services['coredns.service'] | default(none)) }}
'''

RETURN = r'''
_value:
  description:
    - V(originals) (absolute paths), V(directories) (V(path), V(mode), V(owner), V(group)) and V(service)
      (V(running) and V(enabled), booleans; V(null) when systemd did not know the service).
  type: dict
'''

from ansible.errors import AnsibleFilterError


def split_dns_server_originals(path_stats, zone_files, service=None):
    originals, directories = [], []
    for result in path_stats:
        stat = result.get('stat')
        if stat is None or 'item' not in result:
            raise AnsibleFilterError('split_dns_server_originals: expected the results of ansible.builtin.stat in a loop, '
                                     'got %r' % (result,))
        if not stat['exists']:
            continue
        if stat['isdir']:
            directories.append({'path': result['item'], 'mode': stat['mode'], 'owner': stat['pw_name'],
                                'group': stat['gr_name']})
        elif result['item'] not in originals:
            originals.append(result['item'])
    for path in sorted(found['path'] for found in zone_files):
        if path not in originals:
            originals.append(path)
    return {'originals': originals, 'directories': directories, 'service': _service_before(service)}


def _service_before(service):
    """Running and enabled, as the undo must leave the host's own service; a unit that is only linked
    in at runtime, static or masked was not enabled to start at boot."""
    if service is None or service.get('status') == 'not-found':
        return None
    if 'state' not in service or 'status' not in service:
        raise AnsibleFilterError('split_dns_server_originals: service must be an entry of ansible_facts.services '
                                 '(ansible.builtin.service_facts), got %r' % (service,))
    return {'running': service['state'] == 'running', 'enabled': service['status'] == 'enabled'}


class FilterModule:
    def filters(self):
        return {'split_dns_server_originals': split_dns_server_originals}
