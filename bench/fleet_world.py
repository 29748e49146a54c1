# Copyright (c) 2026 keeplocal.traffic contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The backends and the held client connections of bench/fleet_netns.sh, for every network
namespace at once, in one process (96 hosts cost one Python, not 96).

    python3 bench/fleet_world.py SPEC READY

SPEC is a JSON file: {"listen": [[NETNS, HOST, PORT, MODE, NAME]...],
                      "connect": [[NETNS, HOST, PORT, COUNT]...]}
Each socket is created in its namespace (setns(2) on /run/netns/NETNS, then back): a socket
stays in the namespace it was made in. MODE ``line`` answers every connection at once with
"NAME CLIENT_IP\\n" and keeps it open (a TCP service; the line is what path_probe reads), MODE
``http`` answers a request with {"client": CLIENT_IP} and closes. The ``connect`` entries are
held open and never read, so every detection run sees the same sockets and conntrack entries.
READY is written once every socket is up. Runs until killed; dies with its parent (PR_SET_PDEATHSIG).
"""

import ctypes
import json
import os
import selectors
import signal
import socket
import sys
import time

CLONE_NEWNET = 0x40000000
PR_SET_PDEATHSIG = 1
libc = ctypes.CDLL(None, use_errno=True)


def setns(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        if libc.setns(fd, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), 'setns %s' % path)
    finally:
        os.close(fd)


def connect(host, port, deadline):
    while True:
        try:
            return socket.create_connection((host, port), timeout=2)
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def main(spec_path, ready):
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    with open(spec_path, encoding='utf-8') as handle:
        spec = json.load(handle)
    home = '/proc/self/ns/net'
    home_fd = os.open(home, os.O_RDONLY)
    selector = selectors.DefaultSelector()
    held = []
    for netns, host, port, mode, name in spec['listen']:
        setns('/run/netns/' + netns)
        server = socket.socket()
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind((host, port))
        server.listen(512)
        server.setblocking(False)
        selector.register(server, selectors.EVENT_READ, ('accept', mode, name))
    deadline = time.monotonic() + 20
    for netns, host, port, count in spec['connect']:
        setns('/run/netns/' + netns)
        held.extend(connect(host, port, deadline) for dummy in range(count))
    if libc.setns(home_fd, CLONE_NEWNET) != 0:
        raise OSError(ctypes.get_errno(), 'setns back')
    with open(ready, 'w', encoding='utf-8') as handle:
        handle.write('%d sockets held\n' % len(held))
    buffers = {}
    while True:
        for key, _events in selector.select():
            role = key.data
            if role[0] == 'accept':
                _kind, mode, name = role
                try:
                    conn, peer = key.fileobj.accept()
                except BlockingIOError:
                    continue
                conn.setblocking(False)
                if mode == 'line':
                    try:
                        conn.send(('%s %s\n' % (name, peer[0])).encode())
                    except OSError:
                        conn.close()
                        continue
                selector.register(conn, selectors.EVENT_READ, ('read', mode, peer[0]))
                buffers[conn] = b''
                continue
            _kind, mode, client = role
            conn = key.fileobj
            try:
                data = conn.recv(4096)
            except OSError:
                data = b''
            if data and mode == 'http':
                buffers[conn] += data
                if b'\r\n\r\n' not in buffers[conn]:
                    continue
                body = json.dumps({'client': client}).encode() + b'\n'
                try:
                    conn.send(b'HTTP/1.0 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n'
                              b'Connection: close\r\n\r\n%s' % (len(body), body))
                except OSError:
                    pass
            elif data:
                continue
            selector.unregister(conn)
            buffers.pop(conn, None)
            conn.close()


if __name__ == '__main__':
    main(*sys.argv[1:])
