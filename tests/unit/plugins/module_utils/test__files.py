# Copyright (c) 2026 keeplocal.traffic contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""write_atomically: one rename, nothing left behind on failure; replace_file: a reader never sees the
file empty, renamed or (bind mount) written in place."""

from __future__ import annotations

import errno
import os
import threading

import pytest

from ansible_collections.keeplocal.traffic.plugins.module_utils import _files

OLD = b'search lab.example\nnameserver 198.51.100.53\nnameserver 198.51.100.54\noptions edns0 trust-ad\n'
NEW = b'nameserver 192.168.1.1\n'


def test_write_atomically_replaces_in_one_rename(tmp_path):
    path = str(tmp_path / 'keeplocal_hairpin.prom')
    _files.write_atomically(path, 'old 1\n')
    with open(path) as reader:
        _files.write_atomically(path, 'new 2\n')
        # A reader that opened the old file reads all of it; a new reader gets all of the new one.
        assert reader.read() == 'old 1\n'
    with open(path) as reader:
        assert reader.read() == 'new 2\n'
    assert os.listdir(str(tmp_path)) == ['keeplocal_hairpin.prom']
    assert os.stat(path).st_mode & 0o777 == 0o644
    _files.write_atomically(path, b'bytes 3\n', mode=0o600)
    assert os.stat(path).st_mode & 0o777 == 0o600


@pytest.mark.parametrize('broken', ['fsync', 'replace'])
def test_write_atomically_leaves_no_temporary_file_on_failure(tmp_path, monkeypatch, broken):
    path = str(tmp_path / 'keeplocal_hairpin.prom')
    _files.write_atomically(path, 'old 1\n')

    def full_disk(*args):
        raise OSError(errno.ENOSPC, 'No space left on device')

    monkeypatch.setattr(_files.os, broken, full_disk)
    with pytest.raises(OSError):
        _files.write_atomically(path, 'new 2\n')
    assert os.listdir(str(tmp_path)) == ['keeplocal_hairpin.prom']
    with open(path) as reader:
        assert reader.read() == 'old 1\n'


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
