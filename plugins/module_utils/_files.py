# Copyright (c) 2026 keeplocal.traffic contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Replacing a file that programs read at any moment (stdlib only)."""

from __future__ import annotations

import errno
import os
import tempfile

# rename(2) over a bind-mounted file (a container's /etc/resolv.conf) fails with one of these.
_CANNOT_RENAME = (errno.EBUSY, errno.EXDEV, errno.EPERM, errno.EACCES)


def replace_file(path, data, mode=0o644):
    """Put ``data`` (bytes) into ``path`` so that a reader never sees it empty; return how.

    ``'rename'``: a temporary file in the same directory renamed over ``path`` (readers see the old
    or the new file). ``'in_place'``, where ``path`` cannot be renamed over (a bind mount): the new
    bytes are written over the old ones in one write, then the file is cut to their length, so a
    reader sees the old text, the new text, or the new text followed for a moment by the old text's
    tail; never the empty file that truncating first would show (glibc's resolver, which re-reads
    resolv.conf when it changes, then asks no server at all).
    """
    directory = os.path.dirname(os.path.abspath(path))
    handle, temporary = tempfile.mkstemp(prefix='.%s.' % os.path.basename(path), dir=directory)
    try:
        with os.fdopen(handle, 'wb') as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temporary, mode)
        try:
            os.replace(temporary, path)
            return 'rename'
        except OSError as exc:
            if exc.errno not in _CANNOT_RENAME:
                raise
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)
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
