# -*- coding: utf-8 -*-
# Copyright (c) 2026 keeplocal.traffic contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Pure helpers for the path_probe module: target parsing, latency statistics, result summary.

Percentiles use the nearest-rank method: the p-th percentile of n sorted samples is the sample at
rank ceil(p / 100 * n) (1-based). It always returns a value that was actually measured, needs no
interpolation, and for n = 200 makes p99 the 198th fastest request (the two slowest are ignored).

Stdlib only and no I/O: the module does the sockets and passes the measurements in.
"""

from __future__ import annotations

import json
import math
from urllib.parse import urlsplit

from ansible_collections.keeplocal.traffic.plugins.module_utils._addresses import parse_ip, parse_port, split_host_port

PERCENTILES = (50, 90, 99)
STAT_KEYS = ("count", "min_ms", "mean_ms", "p50_ms", "p90_ms", "p99_ms", "max_ms")


def percentile(values, pct):
    """Nearest-rank percentile of a non-empty sequence of numbers; pct in (0, 100]."""
    if not values:
        raise ValueError("percentile of an empty sample")
    if not 0 < pct <= 100:
        raise ValueError("percentile must be in (0, 100], got %r" % (pct,))
    ordered = sorted(values)
    rank = int(math.ceil(pct / 100.0 * len(ordered)))
    return ordered[max(rank, 1) - 1]


def summarize(values, digits=3):
    """count, min, mean, p50, p90, p99 and max (milliseconds in, milliseconds out, rounded).

    An empty sample gives count 0 and None for every statistic.
    """
    if not values:
        return dict((key, 0 if key == "count" else None) for key in STAT_KEYS)
    result = {
        "count": len(values),
        "min_ms": round(min(values), digits),
        "mean_ms": round(sum(values) / float(len(values)), digits),
        "max_ms": round(max(values), digits),
    }
    for pct in PERCENTILES:
        result["p%d_ms" % pct] = round(percentile(values, pct), digits)
    return result


def parse_tcp(spec):
    """'host:port' or '[v6]:port' -> (host, port)."""
    field = "tcp %r" % (spec,)
    if not spec or ":" not in spec:
        raise ValueError("%s: expected host:port" % field)
    split = split_host_port(spec)
    if split is None or split[1] is None:
        raise ValueError("%s: %s" % (field, "expected [address]:port for IPv6" if spec.startswith("[")
                                     else "write IPv6 addresses as [address]:port"))
    host, port = split
    if not host:
        raise ValueError("%s: the host is empty" % field)
    return host, parse_port(port, field)


def parse_url(url):
    """http://host[:port]/path?query -> (host, port, path, host_header)."""
    field = "url %r" % (url,)
    parts = urlsplit(url)
    if parts.scheme != "http":
        raise ValueError("%s: only http:// URLs are supported" % field)
    if not parts.hostname:
        raise ValueError("%s: the host is empty" % field)
    try:
        port = parts.port
    except ValueError as exc:
        raise ValueError("%s: the port is not a port number (1-65535)" % field) from exc
    port = parse_port(port if port is not None else 80, field)
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return parts.hostname, port, path, parts.netloc.rpartition("@")[2]


def parse_target(target):
    """Validate one target dict and return it normalized.

    Input: {name, url} or {name, tcp, read_line, send}. Output adds kind (http|tcp), host, port,
    path and host_header (http only). Raises ValueError naming the target and the field.
    """
    name = target.get("name")
    url, tcp = target.get("url"), target.get("tcp")
    if not name:
        raise ValueError("every target needs a name")
    if bool(url) == bool(tcp):
        raise ValueError("target %r: set exactly one of url or tcp" % (name,))
    try:
        if url:
            host, port, path, host_header = parse_url(url)
            return {"name": name, "kind": "http", "target": url, "host": host, "port": port,
                    "path": path, "host_header": host_header, "read_line": True, "send": None}
        host, port = parse_tcp(tcp)
    except ValueError as exc:
        raise ValueError("target %r: %s" % (name, exc)) from exc
    return {"name": name, "kind": "tcp", "target": tcp, "host": host, "port": port, "path": None,
            "host_header": None, "read_line": target.get("read_line", True) is not False,
            "send": target.get("send") or None}


def truncate(text, limit):
    """Text cut to at most `limit` characters (limit 0 or less: no cut); None stays None."""
    if text is None or limit is None or limit <= 0 or len(text) <= limit:
        return text
    return text[:limit]


def seen_client(response):
    """The client address a backend reports back, when its answer carries one.

    JSON objects with a "client" key (the lab's web app: {"backend": ..., "client": ...}), or a text
    line ending in an IP address (the lab's TCP service: "svc-c 192.168.1.10"). None otherwise.
    """
    if not response:
        return None
    text = response.strip()
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if isinstance(data, dict):
        client = data.get("client")
        return client if isinstance(client, str) and client else None
    words = text.splitlines()[0].split() if text else []
    if not words:
        return None
    addr = parse_ip(words[-1], literal=True)
    return None if addr is None else str(addr)


def aggregate(samples, response_limit=256):
    """Summarize the samples of one target.

    Each sample: {ok: bool, connect_ms: float or None (None when the connect failed),
    total_ms: float or None, error: str or None, response: str or None, status: int or None,
    local_address: str or None, local_port: int or None}.

    Connect statistics cover every sample whose connect succeeded; total statistics cover the
    successful samples only. `reachable` is true when at least one sample succeeded; `error` is the
    first error seen and `errors` counts each distinct error.
    """
    errors = {}
    first_error = None
    for sample in samples:
        error = sample.get("error")
        if error:
            errors[error] = errors.get(error, 0) + 1
            if first_error is None:
                first_error = error
    good = [s for s in samples if s.get("ok")]
    answered = [s for s in samples if s.get("response") is not None]
    last = answered[-1] if answered else (samples[-1] if samples else {})
    response = truncate(last.get("response"), response_limit)
    return {
        "requests": len(samples),
        "successes": len(good),
        "failures": len(samples) - len(good),
        "reachable": bool(good),
        "error": first_error,
        "errors": errors,
        "connect": summarize([s["connect_ms"] for s in samples if s.get("connect_ms") is not None]),
        "total": summarize([s["total_ms"] for s in good if s.get("total_ms") is not None]),
        "status": last.get("status"),
        "response": response,
        "seen_client": seen_client(last.get("response")),
        "local_address": last.get("local_address"),
        # Lets a caller attribute the gateway's conntrack entries to these requests only.
        "local_ports": sorted(s["local_port"] for s in samples if s.get("local_port")),
    }
