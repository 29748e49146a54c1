# Copyright (c) 2026 keeplocal.traffic contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The hairpin's two ends: a backend and a client calling it by the gateway's public address.

    traffic.py serve HOST:PORT READY      answer every connection with PAYLOAD bytes, then close;
                                          READY is written once the socket listens
    traffic.py call HOST:PORT SECONDS     one short connection after another (a request, the whole
                                          answer, close) for SECONDS at most; prints the count

Short connections, as an HTTP client without keep-alive makes them: each one is a conntrack entry
on the gateway, so the collector sees the pair as long as the calls go on.
"""

import signal
import socket
import sys
import time

PAYLOAD = 64 * 1024
PAUSE_SECONDS = 0.2


def endpoint(spec):
    host, port = spec.rsplit(':', 1)
    return host, int(port)


def serve(spec, ready):
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(endpoint(spec))
    server.listen(64)
    with open(ready, 'w') as handle:
        handle.write('ready\n')
    answer = b'x' * PAYLOAD
    while True:
        conn = server.accept()[0]
        with conn:
            conn.settimeout(5)
            try:
                conn.recv(1024)
                conn.sendall(answer)
            except OSError:
                pass


def stop(dummy_signum, dummy_frame):
    raise SystemExit(0)


def call(spec, seconds):
    # Stopped by the test (SIGTERM) once it has seen what it waits for: the count is printed then too.
    signal.signal(signal.SIGTERM, stop)
    deadline = time.monotonic() + float(seconds)
    calls = failures = 0
    try:
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(endpoint(spec), timeout=2) as conn:
                    conn.sendall(b'GET / HTTP/1.0\r\n\r\n')
                    received = 0
                    while True:
                        chunk = conn.recv(65536)
                        if not chunk:
                            break
                        received += len(chunk)
                calls += 1
                if received != PAYLOAD:
                    failures += 1
            except OSError:
                failures += 1
            time.sleep(PAUSE_SECONDS)
    finally:
        print('%d calls of %d bytes, %d failed' % (calls, PAYLOAD, failures), flush=True)


if __name__ == '__main__':
    if sys.argv[1] == 'serve':
        serve(*sys.argv[2:])
    else:
        call(*sys.argv[2:])
