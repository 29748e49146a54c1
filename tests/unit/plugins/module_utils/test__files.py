# Copyright (c) 2026 keeplocal.traffic contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""replace_file: a reader never sees the file empty, renamed or (bind mount) written in place."""

from __future__ import annotations

import errno
import os
import threading

import pytest

from ansible_collections.keeplocal.traffic.plugins.module_utils import _files

OLD = b'search lab.example\nnameserver 198.51.100.53\nnameserver 198.51.100.54\noptions edns0 trust-ad\n'
NEW = b'nameserver 192.168.1.1\n'


@pytest.fixture
def bind_mounted(monkeypatch):
    """rename(2) over the file fails as it does over a container's bind-mounted resolv.conf."""
    def refuse(src, dst):
        raise OSError(errno.EBUSY, 'Device or resource busy')
    monkeypatch.setattr(_files.os, 'replace', refuse)


def test_rename_where_possible(tmp_path):
    path = tmp_path / 'resolv.conf'
    path.write_bytes(OLD)
    assert _files.replace_file(str(path), NEW, 0o644) == 'rename'
    assert path.read_bytes() == NEW
    assert oct(path.stat().st_mode & 0o777) == '0o644'
    assert os.listdir(tmp_path) == ['resolv.conf']


def test_in_place_on_a_bind_mount(tmp_path, bind_mounted):
    path = tmp_path / 'resolv.conf'
    path.write_bytes(OLD)
    inode = path.stat().st_ino
    assert _files.replace_file(str(path), NEW) == 'in_place'
    assert path.read_bytes() == NEW
    assert path.stat().st_ino == inode
    assert os.listdir(tmp_path) == ['resolv.conf']  # no temporary file left behind
    assert _files.replace_file(str(path), OLD) == 'in_place'
    assert path.read_bytes() == OLD


def test_a_reader_never_sees_the_file_empty(tmp_path, bind_mounted):
    """Truncating first, as a plain open(path, 'w') does, shows readers an empty file (checked: this fails then)."""
    path = str(tmp_path / 'resolv.conf')
    with open(path, 'wb') as handle:
        handle.write(OLD)
    seen_empty = []
    done = threading.Event()

    def read():
        while not done.is_set():
            with open(path, 'rb') as handle:
                if not handle.read():
                    seen_empty.append(True)

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for round_ in range(400):
            _files.replace_file(path, NEW if round_ % 2 == 0 else OLD)
    finally:
        done.set()
        reader.join()
    assert not seen_empty
