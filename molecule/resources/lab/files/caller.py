"""A lab service's outgoing calls, as a deployed app makes them: by the services' public names.

Each run (started by lab-caller.timer) makes one request per target with a 2 s timeout, so the
gateway, the clients' sockets and the backends see steady traffic on every path. The lab's
traffic stops by itself: after the deadline in /etc/keeplocal-lab/caller-until, runs do nothing.
  caller.py http://app.example.test/ tcp://db.example.test:5432
"""
import socket
import sys
import time
import urllib.parse
import urllib.request

DEADLINE_FILE = "/etc/keeplocal-lab/caller-until"
TIMEOUT = 2.0


def call(target):
    url = urllib.parse.urlsplit(target)
    if url.scheme == "http":
        with urllib.request.urlopen(target, timeout=TIMEOUT) as response:
            response.read()
        return
    with socket.create_connection((url.hostname, url.port), timeout=TIMEOUT) as conn:
        conn.recv(256)


def main(targets):
    with open(DEADLINE_FILE, encoding="utf-8") as handle:
        if time.time() > float(handle.read()):
            return 0
    failed = 0
    for target in targets:
        try:
            call(target)
        except OSError as exc:
            failed += 1
            print("%s: %s" % (target, exc), file=sys.stderr)
    return 1 if failed == len(targets) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
