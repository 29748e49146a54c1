# -*- coding: utf-8 -*-
# Copyright (c) 2026 keeplocal.traffic contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""path_probe against real servers on the loopback interface (no socket mocks)."""

from __future__ import annotations

import json
import socket
import socketserver
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from ansible_collections.keeplocal.traffic.plugins.modules import path_probe
from ansible_collections.keeplocal.traffic.tests.unit.plugins.modules.module_harness import run


class _AppHandler(BaseHTTPRequestHandler):
    """Like the lab's web app: JSON with the client address it sees; /fail answers 500."""

    def do_GET(self):  # pylint: disable=invalid-name
        status = 500 if self.path.startswith("/fail") else 200
        body = json.dumps({"backend": "test", "client": self.client_address[0],
                           "host": self.headers.get("Host"), "path": self.path}).encode() + b"\n"
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):  # pylint: disable=arguments-differ
        pass


class _PeersHandler(socketserver.BaseRequestHandler):
    """Like the lab's svc-c: one line, '<name> <peer>', then close. 'QUIT' gets 'bye'."""

    def handle(self):
        self.request.settimeout(2)
        if self.server.expect_send:
            data = self.request.recv(64)
            self.request.sendall(b"bye\n" if data == b"QUIT\n" else b"what?\n")
            return
        self.request.sendall(("peers %s\n" % self.client_address[0]).encode())


class _SilentHandler(socketserver.BaseRequestHandler):
    """Accepts and says nothing until the client gives up."""

    def handle(self):
        self.request.settimeout(5)
        try:
            self.request.recv(1)
        except OSError:
            pass


class _TCPServer(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True
    expect_send = False


def _serve(server):
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    return server


@pytest.fixture
def http_server():
    server = _serve(HTTPServer(("127.0.0.1", 0), _AppHandler))
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


@pytest.fixture
def tcp_server():
    server = _serve(_TCPServer(("127.0.0.1", 0), _PeersHandler))
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def silent_server():
    server = _serve(_TCPServer(("127.0.0.1", 0), _SilentHandler))
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


@pytest.fixture
def closed_port():
    """A port nothing listens on (bound, then released)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


def _target(spec):
    return path_probe.parse_target(spec)


def _ordered(stats):
    return stats["min_ms"] <= stats["p50_ms"] <= stats["p90_ms"] <= stats["p99_ms"] <= stats["max_ms"]


def test_http_target(http_server):
    target = _target({"name": "app", "url": "http://127.0.0.1:%d/probe?x=1" % http_server})
    result = path_probe.run_target(target, count=25, timeout=2, max_failures=5, response_limit=0)
    assert (result["requests"], result["successes"], result["failures"]) == (25, 25, 0)
    assert result["reachable"] is True and result["error"] is None
    assert result["address"] == "127.0.0.1" and result["addresses"] == ["127.0.0.1"]
    assert result["status"] == 200 and result["seen_client"] == "127.0.0.1"
    expected = {"backend": "test", "client": "127.0.0.1", "host": "127.0.0.1:%d" % http_server, "path": "/probe?x=1"}
    assert json.loads(result["response"]) == expected
    assert result["connect"]["count"] == 25 and result["total"]["count"] == 25
    assert _ordered(result["connect"]) and _ordered(result["total"])
    # A request includes its connect.
    assert result["total"]["min_ms"] >= result["connect"]["min_ms"]
    assert result["local_address"] == "127.0.0.1"


def test_http_error_status_counts_as_failure(http_server):
    target = _target({"name": "app", "url": "http://127.0.0.1:%d/fail" % http_server})
    result = path_probe.run_target(target, count=10, timeout=2, max_failures=3, response_limit=0)
    # Stopped after three failures; each one connected and got an answer.
    assert (result["requests"], result["failures"]) == (3, 3)
    assert result["reachable"] is False
    assert result["error"] == "HTTP 500 Internal Server Error"
    assert result["status"] == 500 and result["connect"]["count"] == 3 and result["total"]["count"] == 0
    assert result["seen_client"] == "127.0.0.1"


def test_tcp_target_reads_a_line(tcp_server):
    port = tcp_server.server_address[1]
    target = _target({"name": "direct", "tcp": "127.0.0.1:%d" % port})
    result = path_probe.run_target(target, count=30, timeout=2, max_failures=5, response_limit=256)
    assert (result["requests"], result["successes"], result["failures"]) == (30, 30, 0)
    assert result["response"] == "peers 127.0.0.1\n" and result["seen_client"] == "127.0.0.1"
    assert result["status"] is None and result["kind"] == "tcp" and result["port"] == port
    assert _ordered(result["connect"]) and _ordered(result["total"])


def test_tcp_target_sends_first(tcp_server):
    tcp_server.expect_send = True
    target = _target({"name": "q", "tcp": "127.0.0.1:%d" % tcp_server.server_address[1], "send": "QUIT\n"})
    result = path_probe.run_target(target, count=3, timeout=2, max_failures=5, response_limit=256)
    assert result["successes"] == 3 and result["response"] == "bye\n"


def test_tcp_connect_only(silent_server):
    target = _target({"name": "connect", "tcp": "127.0.0.1:%d" % silent_server, "read_line": False})
    result = path_probe.run_target(target, count=5, timeout=2, max_failures=5, response_limit=256)
    assert result["successes"] == 5 and result["response"] is None
    assert result["total"] == result["connect"]


def test_tcp_silent_server_times_out(silent_server):
    target = _target({"name": "silent", "tcp": "127.0.0.1:%d" % silent_server})
    result = path_probe.run_target(target, count=10, timeout=0.2, max_failures=2, response_limit=256)
    assert (result["requests"], result["failures"], result["reachable"]) == (2, 2, False)
    assert result["error"] == "TimeoutError: timed out"
    # The connects worked; the answers did not come.
    assert result["connect"]["count"] == 2 and result["total"]["count"] == 0


def test_refused_is_unreachable(closed_port):
    target = _target({"name": "hairpin", "tcp": "127.0.0.1:%d" % closed_port})
    result = path_probe.run_target(target, count=200, timeout=1, max_failures=4, response_limit=256)
    assert (result["requests"], result["failures"], result["reachable"]) == (4, 4, False)
    assert result["error"].startswith("ConnectionRefusedError: ")
    assert result["errors"] == {result["error"]: 4}
    assert result["connect"]["count"] == 0 and result["local_address"] is None


def test_names_are_resolved_by_the_host(tcp_server):
    # Serve on whatever "localhost" resolves to first, so the test holds on IPv6-first hosts too.
    first = socket.getaddrinfo("localhost", 0, 0, socket.SOCK_STREAM, socket.IPPROTO_TCP)[0]
    if first[0] != socket.AF_INET:
        pytest.skip("localhost resolves to %s first" % first[4][0])
    target = _target({"name": "by-name", "tcp": "localhost:%d" % tcp_server.server_address[1]})
    result = path_probe.run_target(target, count=2, timeout=2, max_failures=2, response_limit=256)
    assert result["host"] == "localhost" and result["address"] == "127.0.0.1"
    assert result["resolve_ms"] >= 0 and result["successes"] == 2


def test_resolver_error(monkeypatch):
    def no_such_name(*args):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(path_probe.socket, "getaddrinfo", no_such_name)
    result = path_probe.run_target(_target({"name": "x", "tcp": "db.example.test:5432"}), 5, 1, 5, 256)
    assert result["address"] is None and result["requests"] == 0 and result["reachable"] is False
    assert result["error"] == "resolve: gaierror: [Errno -2] Name or service not known"


@pytest.mark.parametrize("check_mode", [False, True])
def test_main_probes_every_target(http_server, tcp_server, closed_port, check_mode, capsys):
    args = {
        "targets": [
            {"name": "app", "url": "http://127.0.0.1:%d/" % http_server},
            {"name": "peers", "tcp": "127.0.0.1:%d" % tcp_server.server_address[1]},
            {"name": "down", "tcp": "127.0.0.1:%d" % closed_port},
        ],
        "count": 5,
        "timeout": 1,
        "max_failures": 2,
    }
    failed, result = run(path_probe.main, args, capsys, check_mode=check_mode)
    assert not failed
    assert result["changed"] is False and result["count"] == 5 and result["percentile_method"] == "nearest-rank"
    assert [p["name"] for p in result["probes"]] == ["app", "peers", "down"]
    assert [p["successes"] for p in result["probes"]] == [5, 5, 0]
    assert [p["reachable"] for p in result["probes"]] == [True, True, False]
    assert result["probes"][2]["requests"] == 2


@pytest.mark.parametrize("args, message", [
    ({"targets": [{"name": "x", "tcp": "db.example.test"}]}, "targets: target 'x': tcp 'db.example.test': expected host:port"),
    ({"targets": [{"name": "x", "url": "https://a/"}]}, "only http:// URLs are supported"),
    ({"targets": [{"name": "x", "tcp": "a:1"}], "count": 0}, "count must be at least 1"),
    ({"targets": [{"name": "x", "tcp": "a:1"}], "timeout": 0}, "timeout must be above 0"),
    ({"targets": [{"name": "x", "tcp": "a:1"}], "max_failures": -1}, "max_failures must be 0"),
    ({"targets": [{"name": "x", "tcp": "a:1", "url": "http://a/"}]}, "mutually exclusive"),
    ({"targets": [{"name": "x"}]}, "one of the following is required"),
])
def test_main_rejects(args, message, capsys):
    failed, result = run(path_probe.main, args, capsys)
    assert failed and message in result["msg"]
