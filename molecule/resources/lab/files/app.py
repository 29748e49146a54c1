"""The lab's web app (svc-b): answers with the client address it sees and logs it.

nginx passes the peer it saw in X-Real-IP; behind the hairpin that peer is the gateway.
"""
import json
import socket
import time

LOG = "/var/log/app/clients.log"
HOST = socket.gethostname()


def application(environ, start_response):
    client = environ.get("HTTP_X_REAL_IP") or environ.get("REMOTE_ADDR") or "-"
    with open(LOG, "a", encoding="utf-8") as log:
        log.write("%.6f %s %s\n" % (time.time(), client, environ.get("PATH_INFO", "/")))
    body = json.dumps({"backend": HOST, "client": client}).encode() + b"\n"
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]
