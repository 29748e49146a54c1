#!/usr/bin/python
# Copyright (c) 2026 keeplocal.traffic contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Query a DNS server, or a candidate CoreDNS configuration started for the occasion."""

from __future__ import annotations

DOCUMENTATION = r'''
module: coredns_probe
short_description: Prove a CoreDNS configuration by querying it
version_added: 0.1.0
author:
  - keeplocal.traffic contributors (@keeplocal)
description:
  - Sends DNS queries (UDP) and checks the answers (rcode, SOA serial, addresses) until they all
    match or O(timeout) passes.
  - With O(binary) and O(config), first starts that CoreDNS binary on that Corefile (as O(user)),
    probes it, and stops it again. CoreDNS has no configuration check flag; this is the way to prove
    a candidate Corefile and its zone files on a scratch port before they go live. When the
    candidate exits, the module fails with CoreDNS's own output (for example
    C(Error during parsing - Unknown directive 'foo')).
  - Without O(binary), probes a running server, for example after a reload.
  - Leaves nothing behind; the started process is stopped in every case.
attributes:
  check_mode:
    description: Runs in check mode too; it changes nothing on the host.
    support: full
  diff_mode:
    description: Nothing to diff.
    support: none
  platform:
    description: Linux hosts (the candidate CoreDNS is started as a child process).
    support: full
    platforms: posix
options:
  binary:
    description: CoreDNS binary to start with O(config). Leave out to probe a running server.
    type: path
  config:
    description: The candidate Corefile; required with O(binary).
    type: path
  user:
    description: Run the candidate as this user (and its primary group) instead of the module's user.
    type: str
  probes:
    description: The queries; all must match.
    type: list
    elements: dict
    required: true
    suboptions:
      server:
        description: Address to send the query to.
        type: str
        required: true
      port:
        description: Port to send the query to.
        type: int
        default: 53
      source:
        description: Local address to send from (what the server's C(view) and C(acl) plugins see).
        type: str
      name:
        description: Name to query.
        type: str
        required: true
      type:
        description: Query type.
        type: str
        default: A
        choices: [A, AAAA, CNAME, SOA, NS, SRV, TXT, MX, PTR, HINFO]
      expect_rcode:
        description: Expected response code.
        type: str
        choices: [NOERROR, NXDOMAIN, REFUSED, SERVFAIL, FORMERR, NOTIMP]
      expect_serial:
        description: Expected SOA serial in the answer (with O(probes[].type=SOA)).
        type: int
      expect_data:
        description: Expected answer data of the query type (addresses, targets), in any order.
        type: list
        elements: str
  timeout:
    description: Seconds to wait for all probes to match (and for the candidate to start).
    type: float
    default: 10
notes:
  - CoreDNS binds with C(SO_REUSEPORT), so it can share a port with another CoreDNS without any
    error. With O(binary), every probed port must therefore be free before the start; the module
    fails otherwise instead of probing a stranger.
'''

EXAMPLES = r'''
- name: Prove a candidate Corefile on a scratch port
  keeplocal.traffic.coredns_probe:
    binary: /usr/local/bin/coredns
    config: /etc/coredns/candidate/Corefile
    user: coredns
    probes:
      - server: 192.168.1.1
        port: 15353
        source: 192.168.1.1
        name: app.example.test
        type: SOA
        expect_rcode: NOERROR
        expect_serial: 2026112300

- name: The live server answers the new zone
  keeplocal.traffic.coredns_probe:
    probes:
      - server: 192.168.1.1
        source: 192.168.1.1
        name: app.example.test
        expect_data: [192.168.1.20]
    timeout: 15
'''

RETURN = r'''
results:
  description: The last answer to each probe.
  returned: always
  type: list
  elements: dict
  contains:
    server:
      description: Server address.
      type: str
    port:
      description: Server port.
      type: int
    name:
      description: Query name.
      type: str
    type:
      description: Query type.
      type: str
    rcode:
      description: Response code, or null when no answer came.
      type: str
    answers:
      description: Answer records (name, type, ttl, data).
      type: list
      elements: dict
    problems:
      description: What did not match.
      type: list
      elements: str
output:
  description: What the started candidate printed (stdout and stderr), empty without O(binary).
  returned: always
  type: str
  sample: ".:15353 on 192.168.1.1\nCoreDNS-1.14.7\n"
'''

import os
import pwd
import random
import signal
import socket
import tempfile
import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.keeplocal.traffic.plugins.module_utils._dnswire import (
    WireError, build_query, check_response, parse_response)


def query(probe, wait):
    """One UDP query; returns (response or None, problem or None)."""
    family = socket.AF_INET6 if ':' in probe['server'] else socket.AF_INET
    qid = random.randint(0, 0xFFFF)
    sock = socket.socket(family, socket.SOCK_DGRAM)
    try:
        sock.settimeout(wait)
        if probe.get('source'):
            sock.bind((probe['source'], 0))
        sock.sendto(build_query(probe['name'], probe['type'], qid), (probe['server'], probe['port']))
        data = sock.recv(65535)
    except (OSError, socket.timeout) as exc:
        return None, 'no answer from %s port %s: %s' % (probe['server'], probe['port'], exc)
    finally:
        sock.close()
    try:
        response = parse_response(data)
    except WireError as exc:
        return None, 'unreadable answer: %s' % exc
    if response['id'] != qid:
        return None, 'answer with a foreign query id'
    return response, None


def run_probes(probes, wait):
    results = []
    for probe in probes:
        response, problem = query(probe, wait)
        problems = [problem] if problem else check_response(probe, response)
        results.append({
            'server': probe['server'], 'port': probe['port'], 'name': probe['name'], 'type': probe['type'],
            'rcode': response['rcode'] if response else None,
            'answers': response['answers'] if response else [],
            'problems': problems,
        })
    return results


def port_free(server, port):
    """Whether nothing listens on server:port (UDP), checked by binding without SO_REUSEPORT."""
    family = socket.AF_INET6 if ':' in server else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_DGRAM)
    try:
        sock.bind((server, port))
        return True
    except OSError:
        return False
    finally:
        sock.close()


class Candidate:
    """A CoreDNS started in the background (fork and exec: module.run_command waits for the end)."""

    def __init__(self, argv, cwd, log, user=None):
        ids = None
        if user:
            entry = pwd.getpwnam(user)
            ids = (entry.pw_uid, entry.pw_gid)
        self.returncode = None
        self.pid = os.fork()
        if self.pid == 0:  # the child: never returns
            try:
                os.chdir(cwd)
                devnull = os.open(os.devnull, os.O_RDONLY)
                os.dup2(devnull, 0)
                os.dup2(log.fileno(), 1)
                os.dup2(log.fileno(), 2)
                os.closerange(3, 4096)
                if ids:
                    os.setgroups([])
                    os.setgid(ids[1])
                    os.setuid(ids[0])
                os.execv(argv[0], argv)
            except BaseException as exc:  # pylint: disable=broad-exception-caught
                os.write(2, ('cannot start %s: %s\n' % (argv[0], exc)).encode())
            os._exit(127)

    def poll(self):
        """The exit code once the process has ended, else None."""
        if self.returncode is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.returncode = os.WEXITSTATUS(status) if os.WIFEXITED(status) else -os.WTERMSIG(status)
        return self.returncode

    def stop(self, grace=5.0):
        if self.poll() is not None:
            return
        os.kill(self.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        while self.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        if self.poll() is None:
            os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
            self.returncode = -signal.SIGKILL


def summary(results):
    return '; '.join('%s %s @%s:%s: %s' % (r['name'], r['type'], r['server'], r['port'], ', '.join(r['problems']))
                     for r in results if r['problems'])


def main():
    module = AnsibleModule(
        argument_spec=dict(
            binary=dict(type='path'),
            config=dict(type='path'),
            user=dict(type='str'),
            probes=dict(type='list', elements='dict', required=True, options=dict(
                server=dict(type='str', required=True),
                port=dict(type='int', default=53),
                source=dict(type='str'),
                name=dict(type='str', required=True),
                type=dict(type='str', default='A', choices=['A', 'AAAA', 'CNAME', 'SOA', 'NS', 'SRV', 'TXT', 'MX', 'PTR', 'HINFO']),
                expect_rcode=dict(type='str', choices=['NOERROR', 'NXDOMAIN', 'REFUSED', 'SERVFAIL', 'FORMERR', 'NOTIMP']),
                expect_serial=dict(type='int'),
                expect_data=dict(type='list', elements='str'),
            )),
            timeout=dict(type='float', default=10.0),
        ),
        required_together=[('binary', 'config')],
        supports_check_mode=True,
    )
    params = module.params
    probes = params['probes']
    if not probes:
        module.fail_json(msg='probes: give at least one query')
    deadline = time.monotonic() + params['timeout']
    wait = min(1.0, max(0.2, params['timeout'] / 10))

    if not params['binary']:
        while True:
            results = run_probes(probes, wait)
            if not any(r['problems'] for r in results):
                module.exit_json(changed=False, results=results, output='')
            if time.monotonic() >= deadline:
                module.fail_json(msg='DNS probes failed after %ss: %s' % (params['timeout'], summary(results)),
                                 results=results, output='')
            time.sleep(0.2)

    for path in (params['binary'], params['config']):
        if not os.path.isfile(path):
            module.fail_json(msg='%s does not exist' % path, results=[], output='')
    busy = sorted(set('%s:%s' % (p['server'], p['port']) for p in probes if not port_free(p['server'], p['port'])))
    if busy:
        module.fail_json(msg='%s already in use: another process (a leftover candidate?) would answer the probes; '
                             'stop it or choose another scratch port' % ', '.join(busy), results=[], output='')
    if params['user']:
        try:
            pwd.getpwnam(params['user'])
        except KeyError:
            module.fail_json(msg='user %s does not exist' % params['user'], results=[], output='')

    log = tempfile.TemporaryFile()
    proc = Candidate([params['binary'], '-conf', params['config']], os.path.dirname(params['config']) or '/', log, params['user'])
    results = []
    exited = None
    try:
        while True:
            exited = proc.poll()
            if exited is not None:
                break
            results = run_probes(probes, wait)
            if not any(r['problems'] for r in results):
                break
            if time.monotonic() >= deadline:
                break
            time.sleep(0.2)
    finally:
        proc.stop()
        log.seek(0)
        output = log.read().decode('utf-8', 'replace')
        log.close()
    errors = [line for line in output.splitlines() if 'error' in line.lower() or line.startswith('Listen:')]
    if exited is not None:
        module.fail_json(msg='CoreDNS refused the candidate configuration (exit %s): %s'
                             % (exited, ' | '.join(errors) or output.strip()), results=results, output=output)
    if any(r['problems'] for r in results):
        module.fail_json(msg='the candidate CoreDNS started but did not answer as expected: %s%s'
                             % (summary(results), (' | CoreDNS said: ' + ' | '.join(errors)) if errors else ''),
                         results=results, output=output)
    module.exit_json(changed=False, results=results, output=output)


if __name__ == '__main__':
    main()
