"""Look a name up through the C library (nss-resolve on the benchmark's host) as fast as it answers,
for DURATION seconds; print the count, the failures and when each failed, as JSON.
    python3 resolved_reload_lookups.py DURATION NAME"""
import json
import socket
import sys
import time

duration, name = float(sys.argv[1]), sys.argv[2]
end = time.time() + duration
counts = {"lookups": 0, "failed": 0, "failure_times": [], "answers": {}}
while time.time() < end:
    counts["lookups"] += 1
    try:
        address = socket.getaddrinfo(name, 80, socket.AF_INET, socket.SOCK_STREAM)[0][4][0]
        counts["answers"][address] = counts["answers"].get(address, 0) + 1
    except socket.gaierror:
        counts["failed"] += 1
        counts["failure_times"].append(time.time())
    time.sleep(0.002)
json.dump(counts, sys.stdout)
