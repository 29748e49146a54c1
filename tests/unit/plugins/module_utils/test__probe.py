# -*- coding: utf-8 -*-
# Copyright (c) 2026 keeplocal.traffic contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

import pytest

from ansible_collections.keeplocal.traffic.plugins.module_utils._probe import (
    aggregate,
    parse_target,
    percentile,
    seen_client,
    summarize,
    truncate,
)

ONE_TO_200 = list(range(1, 201))


# Nearest rank: the value at rank ceil(p/100 * n) of the sorted sample.
@pytest.mark.parametrize("values, pct, expected", [
    (ONE_TO_200, 50, 100),
    (ONE_TO_200, 90, 180),
    (ONE_TO_200, 99, 198),
    (ONE_TO_200, 100, 200),
    (list(reversed(ONE_TO_200)), 99, 198),        # order of arrival does not matter
    ([7.5], 50, 7.5),
    ([7.5], 99, 7.5),
    ([4, 1, 3, 2], 50, 2),                         # rank ceil(2.0) = 2
    ([4, 1, 3, 2], 90, 4),                         # rank ceil(3.6) = 4
    ([0.2, 0.3, 0.25, 9.0, 0.21, 0.22, 0.24, 0.23, 0.26, 0.27], 50, 0.24),
    ([0.2, 0.3, 0.25, 9.0, 0.21, 0.22, 0.24, 0.23, 0.26, 0.27], 90, 0.3),   # one outlier in ten: p90 skips it
    ([0.2, 0.3, 0.25, 9.0, 0.21, 0.22, 0.24, 0.23, 0.26, 0.27], 99, 9.0),
    ([1, 2], 1, 1),                                # the lowest rank is 1, never 0
])
def test_percentile_nearest_rank(values, pct, expected):
    assert percentile(values, pct) == expected


@pytest.mark.parametrize("values, pct, message", [
    ([], 50, "empty"),
    ([1], 0, "(0, 100]"),
    ([1], 101, "(0, 100]"),
])
def test_percentile_rejects(values, pct, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace("]", r"\]")):
        percentile(values, pct)


def test_summarize_rounds_and_orders():
    # 100 connects around 0.1 ms with a slow tail of two.
    values = [0.1 + i * 0.001 for i in range(98)] + [3.0, 12.5]
    assert summarize(values) == {
        "count": 100, "min_ms": 0.1, "mean_ms": 0.301, "max_ms": 12.5,
        "p50_ms": 0.149, "p90_ms": 0.189, "p99_ms": 3.0,
    }


def test_summarize_empty():
    assert summarize([]) == {"count": 0, "min_ms": None, "mean_ms": None, "p50_ms": None,
                             "p90_ms": None, "p99_ms": None, "max_ms": None}


@pytest.mark.parametrize("target, expected", [
    ({"name": "app", "url": "http://app.example.test/"},
     {"kind": "http", "host": "app.example.test", "port": 80, "path": "/", "host_header": "app.example.test"}),
    ({"name": "app", "url": "http://app.example.test"},
     {"kind": "http", "host": "app.example.test", "port": 80, "path": "/", "host_header": "app.example.test"}),
    ({"name": "api", "url": "http://192.168.1.20:8080/health?full=1"},
     {"kind": "http", "host": "192.168.1.20", "port": 8080, "path": "/health?full=1", "host_header": "192.168.1.20:8080"}),
    ({"name": "v6", "url": "http://[fd00::20]:8080/x"},
     {"kind": "http", "host": "fd00::20", "port": 8080, "path": "/x", "host_header": "[fd00::20]:8080"}),
    ({"name": "db", "tcp": "db.example.test:5432"},
     {"kind": "tcp", "host": "db.example.test", "port": 5432, "read_line": True, "send": None}),
    ({"name": "db", "tcp": "192.168.1.30:54321", "read_line": False, "send": "PING\n"},
     {"kind": "tcp", "host": "192.168.1.30", "port": 54321, "read_line": False, "send": "PING\n"}),
    ({"name": "v6", "tcp": "[::1]:22"},
     {"kind": "tcp", "host": "::1", "port": 22}),
])
def test_parse_target(target, expected):
    parsed = parse_target(target)
    assert parsed["name"] == target["name"]
    assert parsed["target"] == (target.get("url") or target.get("tcp"))
    for key, value in expected.items():
        assert parsed[key] == value, key


@pytest.mark.parametrize("target, message", [
    ({"url": "http://a/"}, "every target needs a name"),
    ({"name": "x"}, "set exactly one of url or tcp"),
    ({"name": "x", "url": "http://a/", "tcp": "a:1"}, "set exactly one of url or tcp"),
    ({"name": "x", "url": "https://a/"}, "only http:// URLs"),
    ({"name": "x", "url": "http:///path"}, "the host is empty"),
    ({"name": "x", "url": "http://a:99999/"}, "1-65535"),
    ({"name": "x", "tcp": "db.example.test"}, "expected host:port"),
    ({"name": "x", "tcp": "db.example.test:0"}, "'0' is not a port number \\(1-65535\\)"),
    ({"name": "x", "tcp": "db.example.test:pg"}, "'pg' is not a port number \\(1-65535\\)"),
    ({"name": "x", "tcp": ":5432"}, "the host is empty"),
    ({"name": "x", "tcp": "fd00::1:5432"}, r"\[address\]:port"),
    ({"name": "x", "tcp": "[fd00::1]5432"}, "for IPv6"),
])
def test_parse_target_rejects(target, message):
    with pytest.raises(ValueError, match=message):
        parse_target(target)


def test_parse_target_names_the_target():
    with pytest.raises(ValueError, match=r"target 'public': tcp 'db:70000': '70000' is not a port number \(1-65535\)"):
        parse_target({"name": "public", "tcp": "db:70000"})


@pytest.mark.parametrize("response, expected", [
    ('{"backend": "svc-b", "client": "192.168.1.1"}\n', "192.168.1.1"),
    ('{"backend": "svc-b", "client": "192.168.1.10"}', "192.168.1.10"),
    ("svc-c 192.168.1.10\n", "192.168.1.10"),
    ("svc-c 192.168.1.1\n", "192.168.1.1"),
    ("peer fd00::10\nmore\n", "fd00::10"),
    ('{"backend": "svc-b"}', None),
    ('["192.168.1.1"]', None),
    ("SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n", None),
    ("", None),
    (None, None),
])
def test_seen_client(response, expected):
    assert seen_client(response) == expected


@pytest.mark.parametrize("text, limit, expected", [
    ("abcdef", 3, "abc"),
    ("abc", 3, "abc"),
    ("abcdef", 0, "abcdef"),
    (None, 3, None),
])
def test_truncate(text, limit, expected):
    assert truncate(text, limit) == expected


def _ok(connect, total, response="svc-c 192.168.1.10\n"):
    return {"ok": True, "connect_ms": connect, "total_ms": total, "error": None,
            "response": response, "status": None, "local_address": "192.168.1.10"}


def _fail(error, connect=None):
    return {"ok": False, "connect_ms": connect, "total_ms": None, "error": error,
            "response": None, "status": None, "local_address": None}


def test_aggregate_all_good():
    samples = [_ok(0.1 * i, 0.2 * i) for i in range(1, 11)]
    result = aggregate(samples)
    assert (result["requests"], result["successes"], result["failures"]) == (10, 10, 0)
    assert result["reachable"] is True and result["error"] is None and result["errors"] == {}
    assert result["connect"]["p50_ms"] == 0.5 and result["connect"]["p99_ms"] == 1.0
    assert result["total"]["p50_ms"] == 1.0 and result["total"]["p90_ms"] == 1.8
    assert result["response"] == "svc-c 192.168.1.10\n"
    assert result["seen_client"] == "192.168.1.10" and result["local_address"] == "192.168.1.10"


def test_aggregate_mixed_keeps_connects_of_failed_reads():
    samples = [
        _ok(0.3, 0.5, '{"backend": "svc-b", "client": "192.168.1.1"}\n'),
        _fail("TimeoutError: timed out", connect=0.4),      # connected, then no answer
        _fail("ConnectionRefusedError: [Errno 111] Connection refused"),
        _fail("TimeoutError: timed out", connect=0.2),
    ]
    result = aggregate(samples, response_limit=20)
    assert (result["requests"], result["successes"], result["failures"]) == (4, 1, 3)
    assert result["reachable"] is True
    assert result["error"] == "TimeoutError: timed out"
    assert result["errors"] == {"TimeoutError: timed out": 2, "ConnectionRefusedError: [Errno 111] Connection refused": 1}
    assert result["connect"]["count"] == 3 and result["connect"]["max_ms"] == 0.4
    assert result["total"]["count"] == 1 and result["total"]["p99_ms"] == 0.5
    # The last answer received, cut to the limit; the client address is read from the whole answer.
    assert result["response"] == '{"backend": "svc-b",'
    assert result["seen_client"] == "192.168.1.1"


def test_aggregate_unreachable_is_the_nat_loopback_verdict():
    samples = [_fail("TimeoutError: timed out")] * 5
    result = aggregate(samples)
    assert result["reachable"] is False
    assert result["failures"] == 5 and result["successes"] == 0
    assert result["error"] == "TimeoutError: timed out"
    assert result["connect"]["count"] == 0 and result["total"]["p50_ms"] is None
    assert result["response"] is None and result["seen_client"] is None


def test_aggregate_nothing():
    result = aggregate([])
    assert result["requests"] == 0 and result["reachable"] is False and result["error"] is None


def test_aggregate_lists_the_source_ports_used():
    samples = [
        {"ok": True, "connect_ms": 0.2, "total_ms": 0.5, "error": None, "response": "svc-c 192.168.1.10",
         "status": None, "local_address": "192.168.1.10", "local_port": 40114},
        {"ok": False, "connect_ms": None, "total_ms": None, "error": "refused", "response": None,
         "status": None, "local_address": None, "local_port": None},
        {"ok": True, "connect_ms": 0.3, "total_ms": 0.6, "error": None, "response": "svc-c 192.168.1.10",
         "status": None, "local_address": "192.168.1.10", "local_port": 40112},
    ]
    assert aggregate(samples)["local_ports"] == [40112, 40114]
