"""The lab's TCP service (svc-c): replies with the peer address it sees and logs it."""
import socket
import socketserver
import time

LOG = "/var/log/svc-c/peers.log"
HOST = socket.gethostname()


class Handler(socketserver.BaseRequestHandler):
    def handle(self):
        peer = self.client_address[0]
        with open(LOG, "a", encoding="utf-8") as log:
            log.write("%.6f %s\n" % (time.time(), peer))
        self.request.sendall(("%s %s\n" % (HOST, peer)).encode())


class Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True


if __name__ == "__main__":
    Server(("0.0.0.0", 54321), Handler).serve_forever()
