# -*- coding: utf-8 -*-
# Copyright (c) 2026 keeplocal.traffic contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The keeplocal.traffic.measure_result filter (documentation in measure_result.yml)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ansible.errors import AnsibleFilterError
from ansible.module_utils.common.text.converters import to_native

from ansible_collections.keeplocal.traffic.plugins.module_utils._addresses import normalize_ip, parse_port
from ansible_collections.keeplocal.traffic.plugins.module_utils._conntrack_table import count_probe_entries
from ansible_collections.keeplocal.traffic.plugins.module_utils._sockets import count_new_connections, parse_proc_net_tcp


def _field(data, path):
    """The value at a dotted ``path`` such as ``pair.public.ip`` (the first part names ``data``)."""
    value = data
    parts = path.split('.')
    for depth, key in enumerate(parts[1:], 1):
        if not isinstance(value, Mapping):
            raise ValueError('%s must be a dict' % '.'.join(parts[:depth]))
        if key not in value:
            raise ValueError('%s is missing' % path)
        value = value[key]
    return value


def _ip(data, path):
    value = _field(data, path)
    try:
        return normalize_ip(value)
    except ValueError as exc:
        raise ValueError('%s: %s' % (path, exc)) from exc


def _port(data, path):
    return parse_port(_field(data, path), path)


def _count(data, path):
    value = _field(data, path)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValueError('%s must be a number of requests (0 or more), got %r' % (path, value))
    return value


def _milliseconds(data, path):
    value = _field(data, path)
    if value is not None and (not isinstance(value, (int, float)) or isinstance(value, bool)):
        raise ValueError('%s must be a number of milliseconds or null, got %r' % (path, value))
    return value


def _text(data, path):
    value = _field(data, path)
    if value is not None and not isinstance(value, str):
        raise ValueError('%s must be a string or null, got %r' % (path, value))
    return value


def _list(value, name, element_type, element_kind):
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise ValueError('%s must be a list of %s, got %r' % (name, element_kind, value))
    for element in value:
        if not isinstance(element, element_type) or isinstance(element, bool):
            raise ValueError('%s must be a list of %s, got the element %r' % (name, element_kind, element))
    return value


def _private_endpoint(pair):
    """The backend's (ip, port), or None when the plan does not know it (e.g. a cloud NAT)."""
    if pair.get('backend') is None:
        return None
    if _field(pair, 'pair.backend.ip') is None or _field(pair, 'pair.backend.port') is None:
        return None
    return _ip(pair, 'pair.backend.ip'), _port(pair, 'pair.backend.port')


def _probe_summary(probe):
    """What every measurement takes from a path_probe probe: latency, requests, errors and addresses."""
    if not isinstance(probe, Mapping):
        raise ValueError('probe must be a dict (one of path_probe\'s probes), got %r' % (probe,))
    return {
        'p50_ms': _milliseconds(probe, 'probe.total.p50_ms'),
        'p99_ms': _milliseconds(probe, 'probe.total.p99_ms'),
        'requests': _count(probe, 'probe.requests'),
        'errors': _count(probe, 'probe.failures'),
        'backend_saw': _text(probe, 'probe.seen_client'),
        'address': _text(probe, 'probe.address'),
    }


def _measurement(pair, probe, gateway_before, gateway_after):
    if not isinstance(pair, Mapping):
        raise ValueError('pair must be a dict (a plan pair), got %r' % (pair,))
    summary = _probe_summary(probe)
    public = _ip(pair, 'pair.public.ip'), _port(pair, 'pair.public.port')
    private = _private_endpoint(pair)
    requests, address = summary['requests'], summary['address']
    local_ports = _list(_field(probe, 'probe.local_ports'), 'probe.local_ports', int, 'port numbers')
    before = _list(gateway_before, 'gateway_before', str, 'conntrack -L lines')
    after = _list(gateway_after, 'gateway_after', str, 'conntrack -L lines')
    entries_per_1000 = None
    if pair.get('gateway') and requests:
        entries = count_probe_entries(before, after, local_ports, public, private)
        entries_per_1000 = round(entries * 1000 / requests, 1)
    return dict(summary, path='public' if address is not None and _ip(probe, 'probe.address') == public[0] else 'direct',
                gw_entries_per_1000=entries_per_1000)


def measure_result(pair, probe, gateway_before, gateway_after):
    """One pair's measurement from its path_probe result and the gateway's conntrack -L lines."""
    try:
        return _measurement(pair, probe, gateway_before, gateway_after)
    except ValueError as exc:
        raise AnsibleFilterError('keeplocal.traffic.measure_result: %s' % to_native(exc)) from exc


def _same_host_measurement(entry, probe, sockets_before, sockets_after):
    if not isinstance(entry, Mapping):
        raise ValueError('entry must be a dict (a plan same_host entry), got %r' % (entry,))
    summary = _probe_summary(probe)
    ip, port = _ip(entry, 'entry.ip'), _port(entry, 'entry.port')
    requests = summary['requests']
    for name, value in (('sockets_before', sockets_before), ('sockets_after', sockets_after)):
        if not isinstance(value, str):
            raise ValueError('%s must be the text of /proc/net/tcp and /proc/net/tcp6, got %r' % (name, value))
    opened = count_new_connections(parse_proc_net_tcp(sockets_before), parse_proc_net_tcp(sockets_after), ip, port)
    return dict(summary, path='tcp' if opened else 'unix_socket', gw_entries_per_1000=None,
                loopback_entries_per_1000=round(opened * 1000 / requests, 1) if requests else None)


def measure_same_host_result(entry, probe, sockets_before, sockets_after):
    """A same-host finding's measurement: the probe through the front end, and the TCP connections it opened to the app server."""
    try:
        return _same_host_measurement(entry, probe, sockets_before, sockets_after)
    except ValueError as exc:
        raise AnsibleFilterError('keeplocal.traffic.measure_same_host_result: %s' % to_native(exc)) from exc


class FilterModule:
    """Measurement filter."""

    def filters(self):
        return {'measure_result': measure_result, 'measure_same_host_result': measure_same_host_result}
