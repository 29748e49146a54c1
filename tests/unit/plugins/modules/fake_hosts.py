# Copyright (c) 2026 keeplocal.traffic contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A fake host for the detection modules, built from captured text: the readers' path constants
(_host_facts) point at files under a temporary directory, the tools answer with captured output,
netlink with captured kernel datagrams and getaddrinfo with fixed answers."""

from __future__ import annotations

import errno
import json
import os
import socket

from ansible_collections.keeplocal.traffic.plugins.module_utils import _host_facts, _sock_diag
from ansible_collections.keeplocal.traffic.tests.unit.plugins.modules.conntrack_fakes import (
    FakeKernel,
    FakeNetlink,
    ctnetlink_exchange,
)
from ansible_collections.keeplocal.traffic.tests.unit.plugins.modules.module_harness import fake_tools, fixture, fixture_path

# An empty nat table as iptables-save prints it (the -A lines of the captured file removed).
EMPTY_NAT = '\n'.join(line for line in fixture('iptables-save-nat.txt').splitlines()
                      if not line.startswith('-A') and not line.startswith(':FORWARDS')) + '\n'

# getaddrinfo(name, None, 0, SOCK_STREAM) answers in its own tuple format; other names do not resolve.
ANSWERS = {
    'app.example.test': [(socket.AF_INET, socket.SOCK_STREAM, 6, '', ('198.51.100.1', 0))],
    'db.example.test': [(socket.AF_INET, socket.SOCK_STREAM, 6, '', ('198.51.100.1', 0))],
    'app.internal.test': [(socket.AF_INET, socket.SOCK_STREAM, 6, '', ('192.168.1.20', 0)),
                          (socket.AF_INET6, socket.SOCK_STREAM, 6, '', ('fd00::20', 0, 0, 0))],
}


class FakeDiag:
    """A NETLINK_SOCK_DIAG socket answering each address family's TCP dump with the kernel's datagrams
    captured by fixtures/sockdiag-capture.sh; ``requests`` keeps what was sent."""

    def __init__(self):
        self.answers = {socket.AF_INET: ctnetlink_exchange('sockdiag-inet.txt')[1],
                        socket.AF_INET6: ctnetlink_exchange('sockdiag-inet6.txt')[1]}
        self.requests = []
        self.pending = []

    def send(self, request):
        self.requests.append(request)
        self.pending.extend(self.answers[request[16]])     # inet_diag_req_v2 starts with the family
        return len(request)

    def recv(self, size):
        data = self.pending.pop(0)
        assert len(data) <= size
        return data

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def no_sock_diag():
    """What socket() raises on a kernel built without sock_diag."""
    raise OSError(errno.EPROTONOSUPPORT, os.strerror(errno.EPROTONOSUPPORT))


def fake_proc(root, host, with_processes=True):
    """A /proc under ``root`` with the captured socket tables and addresses of ``host`` (cli, srv),
    and /proc/PID/fd socket links for the captured inode owners."""
    (root / 'net').mkdir(parents=True)
    for name in ('tcp', 'tcp6'):
        (root / 'net' / name).write_text(fixture('%s-proc-net-%s.txt' % (host, name)))
    (root / 'net' / 'fib_trie').write_text(fixture('%s-fib_trie.txt' % host))
    if host == 'cli':
        (root / 'net' / 'if_inet6').write_text(fixture('cli-if_inet6.txt'))
    (root / 'self').mkdir()  # not a PID directory: skipped
    if with_processes:
        for inode, (pid, comm) in json.loads(fixture('%s-socket-inodes.json' % host)).items():
            fd_dir = root / str(pid) / 'fd'
            fd_dir.mkdir(parents=True, exist_ok=True)
            (root / str(pid) / 'comm').write_text(comm + '\n')
            os.symlink('socket:[%s]' % inode, str(fd_dir / str(len(os.listdir(str(fd_dir))) + 3)))
            if not (fd_dir / '0').exists():
                os.symlink('/dev/null', str(fd_dir / '0'))
    return root


def fake_host(tmp_path, monkeypatch, nat=None, sockets='cli', netlink='ctnetlink-eperm.txt', table='nf_conntrack.txt',
              conntrack=True, tools=None, sock_diag=False):
    """Build one host; returns the list of commands the modules run.

    ``nat``: iptables-save output (None: an empty nat table); ``sockets``: whose socket tables and
    addresses (cli, srv); ``netlink``: the captured ctnetlink dump (EPERM by default: the table is then
    read from ``table``, a /proc/net/nf_conntrack capture, or None for none); ``conntrack``: whether
    nf_conntrack is loaded; ``tools``: the installed tools (name -> (rc, stdout, stderr)) instead of
    iptables-save answering ``nat`` and ip answering the captured addresses; ``sock_diag``: whether
    sock_diag answers (with the captured dumps, FakeDiag) or the kernel has none (the sockets then
    come from the fake /proc).
    """
    kernel = FakeKernel(str(tmp_path / 'kernel'), loaded=conntrack)
    sock = FakeNetlink(dump=netlink)
    monkeypatch.setattr(_host_facts, 'netlink_socket', lambda: sock)
    monkeypatch.setattr(_sock_diag, 'diag_socket', FakeDiag if sock_diag else no_sock_diag)
    monkeypatch.setattr(_host_facts, 'IPVS_TABLE', str(tmp_path / 'no-ip_vs'))
    monkeypatch.setattr(_host_facts, 'NETFILTER_SYSCTL', kernel.netfilter)
    monkeypatch.setattr(_host_facts, 'CONNTRACK_STAT', kernel.stat_file)
    monkeypatch.setattr(_host_facts, 'CONNTRACK_TABLE', fixture_path(table) if table else str(tmp_path / 'no-nf_conntrack'))
    monkeypatch.setattr(_host_facts, 'PROC', str(fake_proc(tmp_path / 'proc', sockets)))
    resolv = tmp_path / 'resolv.conf'
    resolv.write_text('nameserver 192.168.77.1\n')
    monkeypatch.setattr(_host_facts, 'RESOLV_CONF', str(resolv))

    def getaddrinfo(name, *args, **kwargs):
        if name not in ANSWERS:
            raise socket.gaierror(socket.EAI_NONAME, 'Name or service not known')
        return ANSWERS[name]

    monkeypatch.setattr(_host_facts.socket, 'getaddrinfo', getaddrinfo)
    if tools is None:
        tools = {'iptables-save': (0, nat or EMPTY_NAT, ''), 'ip': (0, fixture('%s-ip-j-addr.json' % sockets), '')}
    return fake_tools(monkeypatch, tools)
