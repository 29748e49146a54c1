#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026 keeplocal.traffic contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: path_probe
short_description: Measure connect and request latency to HTTP and TCP endpoints from this host
version_added: 0.1.0
description:
  - Runs on a client host and sends O(count) requests, one after the other, to each target, the
    way the host's applications would reach it. Reports connect and total latency (p50, p90,
    p99, mean, min, max in milliseconds), failures, the address dialed, and the last answer, so
    a playbook can show the client address the backend saw.
  - Names are resolved once per target with the host's own resolver (C(getaddrinfo)) when the
    module runs; the first address returned is dialed for every request and reported as
    RV(probes[].address). Resolution time is reported separately and is not part of the latency.
  - HTTP targets get C(GET <path>) with the URL's host in the C(Host) header and a
    C(Connection) header of C(close); a request succeeds on a status below 400. TCP targets are connected to,
    sent O(targets[].send) when set, and read until the first newline or the end of the stream
    (O(targets[].read_line)); a TCP request succeeds when a non-empty answer arrives.
  - NAT loopback check, whether the gateway supports hairpinning at all, is to probe a public
    endpoint from an internal client; RV(probes[].reachable) and RV(probes[].error) say whether
    it answered and how it failed (typically a connect timeout when the gateway has no hairpin NAT).
  - Percentiles use the nearest-rank method (the sample at rank ceil(p/100 x n) of the n sorted
    samples), so every reported percentile is a latency that was actually measured.
author:
  - keeplocal.traffic contributors (@keeplocal)
options:
  targets:
    description:
      - The endpoints to probe, in order. Each needs a O(targets[].name) and exactly one of
        O(targets[].url) or O(targets[].tcp).
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description: A label for the result (for example C(public) or C(direct)).
        type: str
        required: true
      url:
        description: An C(http://host[:port]/path) URL.
        type: str
      tcp:
        description: A C(host:port) (C([address]:port) for IPv6) to connect to.
        type: str
      send:
        description: TCP only. Text sent right after connecting (for example a request line).
        type: str
      read_line:
        description:
          - TCP only. Wait for the first line of the answer (or the end of the stream). When false
            a request is only the connect, and connect and total latency are the same.
        type: bool
        default: true
  count:
    description: Requests per target. They run sequentially (concurrency 1), one connection each.
    type: int
    default: 200
  timeout:
    description: Seconds allowed for the connect, and again for the answer, of each request.
    type: float
    default: 5.0
  max_failures:
    description:
      - Stop probing a target after this many failed requests, so an unreachable endpoint costs
        O(max_failures) x O(timeout) rather than O(count) x O(timeout). C(0) never stops early.
    type: int
    default: 5
  response_limit:
    description: Characters of the last answer returned in RV(probes[].response); C(0) keeps it whole.
    type: int
    default: 256
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
    details:
      - The probe only reads, so it runs normally in check mode and always reports no change. The
        requests it sends are real (the backends log them and a gateway tracks them).
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: none
  platform:
    description: Target OS/families that can be operated against.
    support: full
    platforms: posix
notes:
  - Connections are opened and closed one at a time; each leaves a TIME_WAIT entry on whichever side
    closes first, and, on a hairpin path, one conntrack entry on the gateway.
  - Only C(http) URLs are probed; HTTPS is out of scope (the TLS handshake would dominate the latency).
"""

EXAMPLES = r"""
- name: Public path versus direct path to the database
  keeplocal.traffic.path_probe:
    targets:
      - name: public
        tcp: db.example.test:5432
      - name: direct
        tcp: 192.168.1.30:54321
    count: 200
  register: db_probe

- name: Show p50/p99 and the client address the backend saw
  ansible.builtin.debug:
    msg: >-
      {{ item.name }} via {{ item.address }}: p50 {{ item.total.p50_ms }} ms, p99 {{ item.total.p99_ms }} ms,
      failures {{ item.failures }}, backend saw {{ item.seen_client }}
  loop: "{{ db_probe.probes }}"
  loop_control:
    label: "{{ item.name }}"

- name: NAT loopback check, does the gateway hairpin at all?
  keeplocal.traffic.path_probe:
    targets:
      - name: hairpin
        url: http://app.example.test/
    count: 3
    timeout: 2
  register: loopback

- name: Report it
  ansible.builtin.debug:
    msg: "NAT loopback {{ 'works' if loopback.probes[0].reachable else 'fails: ' ~ loopback.probes[0].error }}"
"""

RETURN = r"""
count:
  description: Requests asked per target (O(count)).
  returned: always
  type: int
  sample: 200
percentile_method:
  description: How the percentiles are computed.
  returned: always
  type: str
  sample: nearest-rank
probes:
  description: One result per target, in the order of O(targets).
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: The target's name.
      type: str
      sample: public
    kind:
      description: C(http) or C(tcp).
      type: str
      sample: tcp
    target:
      description: The URL or host:port as given.
      type: str
      sample: db.example.test:5432
    host:
      description: The host part of the target.
      type: str
      sample: db.example.test
    port:
      description: The port dialed.
      type: int
      sample: 5432
    address:
      description: The address dialed (the first one the host's resolver returned); null when the name did not resolve.
      type: str
      sample: 198.51.100.1
    addresses:
      description: Every address the resolver returned, in its order.
      type: list
      elements: str
      sample: [198.51.100.1]
    resolve_ms:
      description: Time to resolve the host, in milliseconds.
      type: float
      sample: 1.204
    local_address:
      description: This host's source address on the last connection that was established.
      type: str
      sample: 192.168.1.10
    local_ports:
      description: The source ports of the connections that were established, sorted (to find their conntrack entries).
      type: list
      elements: int
      sample: [40112, 40114]
    requests:
      description: Requests made (fewer than O(count) when O(max_failures) stopped the probe).
      type: int
      sample: 200
    successes:
      description: Requests that succeeded.
      type: int
      sample: 200
    failures:
      description: Requests that failed (connect error, timeout, no answer, HTTP status 400 or above).
      type: int
      sample: 0
    reachable:
      description: At least one request succeeded. From an internal client to a public endpoint this is the NAT loopback check.
      type: bool
      sample: true
    error:
      description: The first error seen, or the resolver's error; null when every request succeeded.
      type: str
      sample: "TimeoutError: timed out"
    errors:
      description: Each distinct error and how many requests it ended.
      type: dict
      sample: {}
    connect:
      description: Connect latency over every request whose connect succeeded.
      type: dict
      sample: {count: 200, min_ms: 0.101, mean_ms: 0.142, p50_ms: 0.131, p90_ms: 0.171, p99_ms: 0.402, max_ms: 0.95}
    total:
      description: Latency from the start of the connect to the end of the answer, over the successful requests.
      type: dict
      sample: {count: 200, min_ms: 0.301, mean_ms: 0.402, p50_ms: 0.381, p90_ms: 0.472, p99_ms: 0.901, max_ms: 1.52}
    status:
      description: HTTP status of the last answer (null for TCP).
      type: int
      sample: 200
    response:
      description: The last answer received (the body for HTTP, the line for TCP), cut to O(response_limit) characters.
      type: str
      sample: "svc-c 192.168.1.10\n"
    seen_client:
      description:
        - The client address the backend reported in its last answer, when it reports one (a JSON
          object with a C(client) key, or a line ending in an IP address); null otherwise.
      type: str
      sample: 192.168.1.10
"""

import http.client
import socket
import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.keeplocal.traffic.plugins.module_utils._probe import aggregate, parse_target

READ_LIMIT = 65536


def _error(exc):
    return "%s: %s" % (type(exc).__name__, exc)


def _ms(start, end):
    return (end - start) * 1000.0


def resolve(host, port):
    """getaddrinfo with the host's resolver: ([(family, sockaddr), ...], milliseconds)."""
    start = time.perf_counter()
    infos = socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    elapsed = _ms(start, time.perf_counter())
    seen, out = set(), []
    for family, _type, _proto, _canon, sockaddr in infos:
        if sockaddr[0] not in seen:
            seen.add(sockaddr[0])
            out.append((family, sockaddr))
    return out, elapsed


def probe_http(address, target, timeout):
    """One GET over a fresh connection to `address`; a sample for aggregate()."""
    sample = {"ok": False, "connect_ms": None, "total_ms": None, "error": None,
              "response": None, "status": None, "local_address": None}
    conn = http.client.HTTPConnection(address, target["port"], timeout=timeout)
    start = time.perf_counter()
    try:
        conn.connect()
        sample["connect_ms"] = _ms(start, time.perf_counter())
        sample["local_address"], sample["local_port"] = conn.sock.getsockname()[:2]
        conn.request("GET", target["path"], headers={
            "Host": target["host_header"], "User-Agent": "keeplocal-path-probe", "Connection": "close"})
        resp = conn.getresponse()
        body = resp.read()
        sample["total_ms"] = _ms(start, time.perf_counter())
        sample["status"] = resp.status
        sample["response"] = body.decode("utf-8", "replace")
        if resp.status < 400:
            sample["ok"] = True
        else:
            sample["error"] = "HTTP %d %s" % (resp.status, resp.reason)
    except (OSError, http.client.HTTPException) as exc:
        sample["error"] = _error(exc)
    finally:
        conn.close()
    return sample


def probe_tcp(family, sockaddr, target, timeout):
    """One connection to `sockaddr`: connect, send, read a line; a sample for aggregate()."""
    sample = {"ok": False, "connect_ms": None, "total_ms": None, "error": None,
              "response": None, "status": None, "local_address": None}
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    start = time.perf_counter()
    try:
        sock.connect(sockaddr)
        sample["connect_ms"] = _ms(start, time.perf_counter())
        sample["local_address"], sample["local_port"] = sock.getsockname()[:2]
        if target["send"]:
            sock.sendall(target["send"].encode("utf-8"))
        if not target["read_line"]:
            sample["total_ms"] = sample["connect_ms"]
            sample["ok"] = True
            return sample
        data = b""
        while b"\n" not in data and len(data) < READ_LIMIT:
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
        sample["total_ms"] = _ms(start, time.perf_counter())
        sample["response"] = data.decode("utf-8", "replace")
        if data:
            sample["ok"] = True
        else:
            sample["error"] = "closed without an answer"
    except OSError as exc:
        sample["error"] = _error(exc)
    finally:
        sock.close()
    return sample


def run_target(target, count, timeout, max_failures, response_limit):
    """Resolve once, then probe `count` times (fewer after `max_failures` failures)."""
    base = {"name": target["name"], "kind": target["kind"], "target": target["target"],
            "host": target["host"], "port": target["port"]}
    try:
        resolved, resolve_ms = resolve(target["host"], target["port"])
    except OSError as exc:
        result = aggregate([], response_limit)
        result.update(base, address=None, addresses=[], resolve_ms=None, error="resolve: " + _error(exc))
        return result
    family, sockaddr = resolved[0]
    samples = []
    failures = 0
    for _attempt in range(count):
        if target["kind"] == "http":
            sample = probe_http(sockaddr[0], target, timeout)
        else:
            sample = probe_tcp(family, sockaddr, target, timeout)
        samples.append(sample)
        if not sample["ok"]:
            failures += 1
            if max_failures and failures >= max_failures:
                break
    result = aggregate(samples, response_limit)
    result.update(base, address=sockaddr[0], addresses=[s[1][0] for s in resolved],
                  resolve_ms=round(resolve_ms, 3))
    return result


def main():
    module = AnsibleModule(
        argument_spec=dict(
            targets=dict(type="list", elements="dict", required=True, options=dict(
                name=dict(type="str", required=True),
                url=dict(type="str"),
                tcp=dict(type="str"),
                send=dict(type="str"),
                read_line=dict(type="bool", default=True),
            ), mutually_exclusive=[("url", "tcp")], required_one_of=[("url", "tcp")]),
            count=dict(type="int", default=200),
            timeout=dict(type="float", default=5.0),
            max_failures=dict(type="int", default=5),
            response_limit=dict(type="int", default=256),
        ),
        supports_check_mode=True,
    )
    params = module.params
    if params["count"] < 1:
        module.fail_json(msg="count must be at least 1, got %d" % params["count"])
    if params["timeout"] <= 0:
        module.fail_json(msg="timeout must be above 0 seconds, got %s" % params["timeout"])
    if params["max_failures"] < 0:
        module.fail_json(msg="max_failures must be 0 (never stop) or more, got %d" % params["max_failures"])
    try:
        targets = [parse_target(t) for t in params["targets"]]
    except ValueError as exc:
        module.fail_json(msg="targets: %s" % exc)

    probes = [run_target(t, params["count"], params["timeout"], params["max_failures"], params["response_limit"])
              for t in targets]
    module.exit_json(changed=False, count=params["count"], percentile_method="nearest-rank", probes=probes)


if __name__ == "__main__":
    main()
