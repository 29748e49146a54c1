"""Steady load from a client during the whole site.yml run: one request at a time to the public
name, resolved anew for every request (as an application would), counted until SIGTERM."""
import http.client
import json
import signal
import sys
import time

URL_HOST, OUT = sys.argv[1], sys.argv[2]
counts = {"requests": 0, "failures": 0, "errors": [], "clients_seen": {}}
running = True


def stop(*_):
    global running
    running = False


signal.signal(signal.SIGTERM, stop)
while running:
    counts["requests"] += 1
    try:
        conn = http.client.HTTPConnection(URL_HOST, 80, timeout=5)
        conn.request("GET", "/load")
        resp = conn.getresponse()
        body = resp.read()
        conn.close()
        if resp.status != 200:
            raise RuntimeError("HTTP %d" % resp.status)
        client = json.loads(body)["client"]
        counts["clients_seen"][client] = counts["clients_seen"].get(client, 0) + 1
    except Exception as exc:  # every failure counts, whatever its kind
        counts["failures"] += 1
        if len(counts["errors"]) < 20:
            counts["errors"].append("%.3f %r" % (time.time(), exc))
    time.sleep(0.01)
with open(OUT, "w", encoding="utf-8") as f:
    json.dump(counts, f)
