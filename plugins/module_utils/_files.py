# Copyright (c) 2026 keeplocal.traffic contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Replacing a file that programs read at any moment (stdlib only): the one home of the
collection's atomic writes."""

from __future__ import annotations

import errno
import os
import tempfile

# rename(2) over a bind-mounted file (a container's /etc/resolv.conf) fails with one of these.
_CANNOT_RENAME = (errno.EBUSY, errno.EXDEV, errno.EPERM, errno.EACCES)


def _bytes(data):
    return data.encode('utf-8') if isinstance(data, str) else data


def _written_temporary(path, data, mode):
    """A temporary file (``.NAME.*.tmp`` beside ``path``) holding ``data`` on disk (fsync) with
    ``mode``; removed again when writing it fails."""
    directory, name = os.path.split(os.path.abspath(path))
    handle, temporary = tempfile.mkstemp(prefix='.%s.' % name, suffix='.tmp', dir=directory)
    try:
        with os.fdopen(handle, 'wb') as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
            os.fchmod(out.fileno(), mode)
    except BaseException:
        _discard(temporary)
        raise
    return temporary


def _discard(temporary):
    try:
        os.unlink(temporary)
    except FileNotFoundError:
        pass


def write_atomically(path, data, mode=0o644):
    """Replace ``path`` with ``data`` (bytes, or text written as UTF-8) in one rename: a reader sees
    the old file or the new one, never a part, and the new one is on disk before it has the name.
    The temporary file is removed on any failure."""
    temporary = _written_temporary(path, _bytes(data), mode)
    try:
        os.replace(temporary, path)
    except BaseException:
        _discard(temporary)
        raise


def replace_file(path, data, mode=0o644):
    """Put ``data`` (bytes) into ``path`` so that a reader never sees it empty; return how.

    ``'rename'``: as ``write_atomically`` (readers see the old or the new file). ``'in_place'``,
    where ``path`` cannot be renamed over (a bind mount): the new bytes are written over the old
    ones in one write, then the file is cut to their length, so a reader sees the old text, the new
    text, or the new text followed for a moment by the old text's tail; never the empty file that
    truncating first would show (glibc's resolver, which re-reads resolv.conf when it changes, then
    asks no server at all).
    """
    temporary = _written_temporary(path, data, mode)
    try:
        os.replace(temporary, path)
        return 'rename'
    except OSError as exc:
        if exc.errno not in _CANNOT_RENAME:
            raise
    finally:
        _discard(temporary)
    fd = os.open(path, os.O_WRONLY)
    try:
        written = os.pwrite(fd, data, 0)
        if written != len(data):
            raise OSError(errno.EIO, 'short write to %s (%d of %d bytes)' % (path, written, len(data)))
        os.ftruncate(fd, len(data))
        os.fsync(fd)
    finally:
        os.close(fd)
    return 'in_place'
