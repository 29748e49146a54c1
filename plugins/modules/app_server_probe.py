#!/usr/bin/python
# Copyright (c) 2026 keeplocal.traffic contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: app_server_probe
short_description: Ask an app server on a Unix socket for a page, in HTTP or the uwsgi protocol
version_added: 0.2.0
description:
  - Connects to the Unix socket, sends one GET request in the socket's protocol (HTTP, or the uwsgi protocol
    nginx's C(uwsgi_pass) speaks) and returns the HTTP status of the answer. Any status counts as an answer; a
    socket nothing accepts on, a timeout or an answer that is not HTTP fails.
  - The C(keeplocal.traffic.unix_sockets) role uses it to see the handover copy and the switched service answer
    before nginx is pointed at them. A socket-activated service is started by the connection itself.
  - Reads only; the request is whatever the app does for a GET of O(request_path).
options:
  path:
    description: The Unix socket.
    type: path
    required: true
  protocol:
    description: What the socket speaks (C(proposed.probe) of C(keeplocal.traffic.nginx_upstream)'s discovery).
    type: str
    choices: [http, uwsgi]
    default: http
  request_path:
    description: The path requested.
    type: str
    default: /
  timeout:
    description: Seconds to wait for the connection and the answer.
    type: float
    default: 5
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: none
author: keeplocal.traffic contributors (@keeplocal)
"""

EXAMPLES = r"""
- name: Wait for uWSGI on its socket
  keeplocal.traffic.app_server_probe:
    path: /run/app/uwsgi.sock
    protocol: uwsgi
  register: probe
  until: probe is succeeded
  retries: 30
  delay: 1
"""

RETURN = r"""
status:
  description: The HTTP status the app answered.
  returned: success
  type: int
  sample: 200
"""

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_native

from ansible_collections.keeplocal.traffic.plugins.module_utils._app_servers import probe_socket


def main():
    module = AnsibleModule(argument_spec=dict(
        path=dict(type='path', required=True),
        protocol=dict(type='str', choices=['http', 'uwsgi'], default='http'),
        request_path=dict(type='str', default='/'),
        timeout=dict(type='float', default=5.0),
    ), supports_check_mode=True)
    params = module.params
    try:
        status = probe_socket(params['path'], params['protocol'], params['request_path'], params['timeout'])
    except (OSError, ValueError) as exc:
        module.fail_json(msg='%s (%s): no answer: %s' % (params['path'], params['protocol'], to_native(exc)))
    module.exit_json(changed=False, status=status)


if __name__ == '__main__':
    main()
