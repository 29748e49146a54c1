# Copyright (c) 2026 keeplocal.traffic contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Read /proc and /sys files the way the modules need them (stdlib only)."""

from __future__ import annotations

import os

from ansible_collections.keeplocal.traffic.plugins.module_utils._conntrack_stats import netns_state


def read_text(path):
    """The file's text (undecodable bytes replaced), or None when it cannot be read."""
    try:
        with open(path, 'rb') as handle:
            return handle.read().decode('utf-8', 'replace')
    except OSError:
        return None


def read_int(path):
    text = read_text(path)
    try:
        return int(text.strip()) if text is not None else None
    except ValueError:
        return None


def sysctl_writable(path):
    """The sysctl at ``path`` can be written here: the kernel's mode bits (which bind root too), a
    read-write mount and the permission."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return False
    return bool(mode & 0o200) and not os.statvfs(path).f_flag & os.ST_RDONLY and os.access(path, os.W_OK)


def read_netns_state(path):
    """netns_state() from the metadata of the nf_conntrack_max file at ``path`` (its mode tells the
    initial network namespace)."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return netns_state(None, False, False)
    readonly = bool(os.statvfs(path).f_flag & os.ST_RDONLY)
    return netns_state(mode, readonly, os.access(path, os.W_OK))
