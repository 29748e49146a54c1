# Copyright (c) 2026 keeplocal.traffic contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The two ends of runme.sh's transfers (run inside the test's network namespaces).

    transfer.py serve ADDRESS PORT
        for each connection: read a line with a byte count, send that many bytes, wait for the
        client to close.
    transfer.py fetch ADDRESS PORT SIZE DIR
        ask for SIZE bytes; after half of them create DIR/half and wait for DIR/go; after all of
        them create DIR/done (holding the byte counts read and sent) and wait for DIR/close; close.
    transfer.py fetch-closed ADDRESS PORT SIZE
        ask for SIZE bytes, read them, close: a connection that lives between two collector runs.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import threading
import time

CHUNK = 1 << 16
WAIT_SECONDS = 60


def wait_for(path):
    deadline = time.monotonic() + WAIT_SECONDS
    while not os.path.exists(path):
        if time.monotonic() > deadline:
            sys.exit('transfer.py: %s did not appear within %d s' % (path, WAIT_SECONDS))
        time.sleep(0.02)


def touch(path, text=''):
    with open(path, 'w') as handle:
        handle.write(text)


def serve(address, port):
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((address, int(port)))
    srv.listen(8)

    def answer(conn):
        with conn:
            size = int(conn.makefile('rb').readline())
            block = b'k' * CHUNK
            while size:
                size -= conn.send(block[:min(size, CHUNK)])
            while conn.recv(CHUNK):
                pass

    while True:
        conn, dummy = srv.accept()
        threading.Thread(target=answer, args=(conn,), daemon=True).start()


def ask(address, port, size):
    sock = socket.create_connection((address, int(port)), timeout=WAIT_SECONDS)
    request = b'%d\n' % size
    sock.sendall(request)
    return sock, len(request)


def read(sock, count):
    got = 0
    while got < count:
        data = sock.recv(min(CHUNK, count - got))
        if not data:
            sys.exit('transfer.py: the server closed after %d of %d bytes' % (got, count))
        got += len(data)
    return got


def fetch(address, port, size, directory):
    size = int(size)
    sock, sent = ask(address, port, size)
    got = read(sock, size // 2)
    touch(os.path.join(directory, 'half'))
    wait_for(os.path.join(directory, 'go'))
    got += read(sock, size - size // 2)
    touch(os.path.join(directory, 'done'), json.dumps({'received': got, 'sent': sent}))
    wait_for(os.path.join(directory, 'close'))
    sock.close()


def fetch_closed(address, port, size):
    sock, dummy = ask(address, port, int(size))
    read(sock, int(size))
    sock.close()


def main(argv):
    commands = {'serve': serve, 'fetch': fetch, 'fetch-closed': fetch_closed}
    commands[argv[1]](*argv[2:])


if __name__ == '__main__':
    main(sys.argv)
