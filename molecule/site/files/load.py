"""Steady load from a client during the whole site.yml run: one request at a time to the public
name, resolved anew for every request (as an application would), counted until SIGTERM.

systemd-resolved fails a lookup that is in flight while it reloads (bench/resolved_reload.sh: about
one in ten reloads, within a few milliseconds of its "Config file reloaded" line, whatever the
configuration; a restart fails hundreds). The split_dns client must reload it to read its drop-in,
so a lookup failure that close to a reload is counted apart, with its time, and every other failure
counts."""
import http.client
import json
import signal
import socket
import subprocess
import sys
import time

URL_HOST, OUT = sys.argv[1], sys.argv[2]
RELOAD_WINDOW_S = 0.1
counts = {"requests": 0, "failures": 0, "errors": [], "clients_seen": {}, "lookups_failed_at_resolved_reload": []}
lookup_failures = []
running = True


def stop(*_):
    global running
    running = False


def resolved_reload_times():
    """When systemd-resolved reread its configuration (nothing when it does not run here)."""
    journal = subprocess.run(["journalctl", "-u", "systemd-resolved", "-o", "short-unix", "--no-pager"],
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, check=False).stdout
    return [float(line.split()[0]) for line in journal.splitlines() if "Config file reloaded" in line]


def count_failure(when, exc):
    counts["failures"] += 1
    if len(counts["errors"]) < 20:
        counts["errors"].append("%.3f %r" % (when, exc))


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
    except socket.gaierror as exc:
        lookup_failures.append((time.time(), exc))
    except Exception as exc:  # every failure counts, whatever its kind
        count_failure(time.time(), exc)
    time.sleep(0.01)
reloads = resolved_reload_times() if lookup_failures else []
for when, exc in lookup_failures:
    if any(abs(when - reload) <= RELOAD_WINDOW_S for reload in reloads):
        counts["lookups_failed_at_resolved_reload"].append("%.3f %r" % (when, exc))
    else:
        count_failure(when, exc)
with open(OUT, "w", encoding="utf-8") as f:
    json.dump(counts, f)
