# Copyright (c) 2026 keeplocal.traffic contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A fake /proc + /sys conntrack tree and a replayed ctnetlink socket for the conntrack module tests."""

from __future__ import annotations

import os
import struct

from ansible_collections.keeplocal.traffic.plugins.module_utils import _ctnetlink
from ansible_collections.keeplocal.traffic.tests.unit.plugins.modules.module_harness import fixture

# Kernel defaults on this machine's kernel (6.18, 24 GiB RAM).
DEFAULTS = {
    'nf_conntrack_count': 21,
    'nf_conntrack_max': 262144,
    'nf_conntrack_buckets': 262144,
    'nf_conntrack_tcp_timeout_established': 432000,
    'nf_conntrack_tcp_timeout_time_wait': 120,
    'nf_conntrack_tcp_timeout_close_wait': 60,
    'nf_conntrack_acct': 0,
}


class FakeKernel(object):
    """Files laid out like the kernel's, under tmp_path; the module's path constants point at them."""

    def __init__(self, root, initial_netns=True, loaded=True, builtin=True, stat='conntrack-stat-host.txt'):
        self.root = root
        self.netfilter = os.path.join(root, 'proc/sys/net/netfilter')
        self.stat_file = os.path.join(root, 'proc/net/stat/nf_conntrack')
        self.module_dir = os.path.join(root, 'sys/module/nf_conntrack')
        self.meminfo = os.path.join(root, 'proc/meminfo')
        self.etc = os.path.join(root, 'etc')
        os.makedirs(os.path.dirname(self.stat_file))
        with open(self.meminfo, 'w') as f:
            f.write('MemTotal:       24683656 kB\nMemFree:        22949691 kB\n')
        if not loaded:
            return
        os.makedirs(self.netfilter)
        os.makedirs(os.path.join(self.module_dir, 'parameters'))
        if not builtin:
            with open(os.path.join(self.module_dir, 'initstate'), 'w') as f:
                f.write('live\n')
        for name, value in DEFAULTS.items():
            self.set(name, value)
        self.write(self.hashsize_path, DEFAULTS['nf_conntrack_buckets'])
        with open(self.stat_file, 'w') as f:
            f.write(fixture(stat))
        # the kernel's own marks: 0444 for max/buckets outside the initial namespace, count always 0444
        os.chmod(self.path('nf_conntrack_count'), 0o444)
        if not initial_netns:
            os.chmod(self.path('nf_conntrack_max'), 0o444)
            os.chmod(self.path('nf_conntrack_buckets'), 0o444)

    @property
    def hashsize_path(self):
        return os.path.join(self.module_dir, 'parameters', 'hashsize')

    def path(self, name):
        return os.path.join(self.netfilter, name)

    @staticmethod
    def write(path, value):
        with open(path, 'w') as f:
            f.write('%s\n' % value)

    def set(self, name, value):
        self.write(self.path(name), value)

    def get(self, name):
        with open(self.path(name)) as f:
            return int(f.read())

    def hashsize(self):
        with open(self.hashsize_path) as f:
            return int(f.read())

    def snapshot(self):
        """Every file's content under the fake root, to prove nothing changed."""
        out = {}
        for top, dummy, names in os.walk(self.root):
            for name in names:
                with open(os.path.join(top, name), 'rb') as f:
                    out[os.path.join(top, name)] = f.read()
        return out


def ctnetlink_exchange(name):
    """(request, [datagrams]) of a ctnetlink exchange captured by fixtures/ctnetlink-capture.sh."""
    request = None
    datagrams = []
    for line in fixture(name).splitlines():
        direction, data = line.split()
        if direction == '>':
            request = bytes.fromhex(data)
        else:
            datagrams.append(bytes.fromhex(data))
    return request, datagrams


class FakeNetlink(object):
    """A ctnetlink socket answering dump and stats requests with the kernel's captured datagrams;
    ``requests`` keeps what the module sent."""

    def __init__(self, dump='ctnetlink-dump-dnat.txt', stats='ctnetlink-stats.txt'):
        self.answers = {
            _ctnetlink.IPCTNL_MSG_CT_GET: ctnetlink_exchange(dump)[1],
            _ctnetlink.IPCTNL_MSG_CT_GET_STATS: ctnetlink_exchange(stats)[1],
        }
        self.requests = []
        self.pending = []
        self.closed = False

    def send(self, request):
        self.requests.append(request)
        msg_type = struct.unpack_from('=H', request, 4)[0]
        self.pending.extend(self.answers[msg_type & 0xff])
        return len(request)

    def recv(self, size):
        data = self.pending.pop(0)
        assert len(data) <= size
        return data

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.closed = True
