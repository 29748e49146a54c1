# Copyright (c) 2026 keeplocal.traffic contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The app-server probe over a Unix socket, against small servers speaking each protocol."""

from __future__ import annotations

import os
import socket
import threading

import pytest

from ansible_collections.keeplocal.traffic.plugins.module_utils import _app_servers


def serve_once(path, answer, seen):
    """Accept one connection on ``path``, keep what was sent, answer ``answer``."""
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen(1)

    def run():
        conn, dummy = server.accept()
        with conn:
            seen.append(conn.recv(65536))
            conn.sendall(answer)
        server.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


@pytest.mark.parametrize('protocol', ['http', 'uwsgi'])
def test_the_probe_speaks_the_sockets_protocol_and_returns_the_status(tmp_path, protocol):
    path = str(tmp_path / 'app.sock')
    seen = []
    thread = serve_once(path, b'HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n', seen)
    assert _app_servers.probe_socket(path, protocol, '/health?x=1') == 404
    thread.join(5)
    if protocol == 'http':
        assert seen[0].startswith(b'GET /health?x=1 HTTP/1.0\r\n')
    else:
        # modifier1 0, the variables' size (little endian), modifier2 0, then the variables.
        assert seen[0][0] == 0 and int.from_bytes(seen[0][1:3], 'little') == len(seen[0]) - 4
        assert b'PATH_INFO\x07\x00/health' in seen[0] and b'QUERY_STRING\x03\x00x=1' in seen[0]


def test_an_answer_that_is_not_http_fails(tmp_path):
    path = str(tmp_path / 'app.sock')
    serve_once(path, b'\x00\x01garbage', [])
    with pytest.raises(ValueError, match='not an HTTP status line'):
        _app_servers.probe_socket(path, 'http', '/')


def test_nothing_listening_fails(tmp_path):
    path = str(tmp_path / 'missing.sock')
    with pytest.raises(OSError):
        _app_servers.probe_socket(path, 'http', '/', timeout=1)
    assert not os.path.exists(path)
