"""pytest plugin shared by the molecule scenarios' testinfra tests (loaded with `-p lab_fixtures`).

Lab hosts are reached with testinfra's podman backend (podman exec): the same containers molecule
manages, without an ansible round trip per command.
"""
import json
import os
import uuid

import pytest
import testinfra


def lab_suite():
    """The lab's Debian release, chosen as molecule/resources/lab/topology.yml chooses it."""
    return os.environ.get("KEEPLOCAL_LAB_SUITE") or "bookworm"


@pytest.fixture(scope="session")
def lab():
    """lab("svc-a") -> the testinfra host for that lab container."""
    hosts = {}

    def get(name):
        if name not in hosts:
            hosts[name] = testinfra.get_host("podman://" + name)
        return hosts[name]

    return get


@pytest.fixture
def marker():
    """A unique request path, to find one request in a backend's logs."""
    return "/probe-" + uuid.uuid4().hex[:12]


def http_get(host, url, local_port=None):
    """curl from a lab host; returns the JSON body the lab app answers with."""
    if local_port:
        out = host.check_output("curl -sS -m 5 --local-port %s %s", str(local_port), url)
    else:
        out = host.check_output("curl -sS -m 5 %s", url)
    return json.loads(out)


def conntrack_lines(gw, *args):
    """The gateway's conntrack entries matching the filter arguments (kernel-side filtering)."""
    cmd = "conntrack -L " + " ".join(args) + " 2>/dev/null"
    return [line for line in gw.check_output(cmd).splitlines() if line.strip()]
