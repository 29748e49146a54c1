# Copyright (c) 2026 keeplocal.traffic contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Open TCP connections and keep them open, so every detection run sees the same sockets and
conntrack entries.

    hold.py READY serve HOST:PORT          listen, accept every connection, keep it
    hold.py READY connect HOST:PORT:N...   open N connections to each endpoint (retrying until
                                           the listener is up, 10 s at most), keep them

READY is written once the sockets are up. Runs until killed.
"""

import socket
import sys
import time


def main(ready, mode, *specs):
    kept = []
    if mode == 'serve':
        host, port = specs[0].rsplit(':', 1)
        server = socket.socket()
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind((host, int(port)))
        server.listen(64)
        kept.append(server)
    else:
        deadline = time.monotonic() + 10
        for spec in specs:
            host, port, count = spec.rsplit(':', 2)
            for _attempt in range(int(count)):
                while True:
                    try:
                        kept.append(socket.create_connection((host, int(port)), timeout=2))
                        break
                    except OSError:
                        if time.monotonic() > deadline:
                            raise
                        time.sleep(0.1)
    with open(ready, 'w') as handle:
        handle.write('ready\n')
    if mode == 'serve':
        while True:
            kept.append(server.accept()[0])
    while True:
        time.sleep(3600)


if __name__ == '__main__':
    main(*sys.argv[1:])
