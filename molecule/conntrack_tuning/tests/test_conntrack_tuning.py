# Copyright (c) 2026 keeplocal.traffic contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The container after converge: tools installed, nothing written, limits as the host has them;
the modules, run directly, keep to the read-only contract."""

import os

import testinfra

NETFILTER = "/proc/sys/net/netfilter/"
FILES = [
    "/etc/sysctl.d/90-keeplocal-conntrack.conf",
    "/etc/modprobe.d/keeplocal-conntrack.conf",
    "/etc/modules-load.d/keeplocal-conntrack.conf",
]


def container():
    return testinfra.get_host("podman://ct-tuning")


def through_ansible():
    return testinfra.get_host("ansible://ct-tuning", ansible_inventory=os.environ["MOLECULE_INVENTORY_FILE"])


def host_value(name):
    with open(NETFILTER + name) as f:
        return int(f.read())


def test_installed_and_nothing_written():
    ct = container()
    assert ct.package("conntrack").is_installed
    assert ct.run("conntrack --version").rc == 0
    for path in FILES:
        assert not ct.file(path).exists, path
    # the limits are the host's (global), and the asked timeout was not applied in the container
    assert int(ct.file(NETFILTER + "nf_conntrack_max").content_string) == host_value("nf_conntrack_max")
    assert int(ct.file(NETFILTER + "nf_conntrack_buckets").content_string) == host_value("nf_conntrack_buckets")
    assert int(ct.file(NETFILTER + "nf_conntrack_tcp_timeout_established").content_string) != 86400
    # what the decision relies on: the kernel marks nf_conntrack_max 0444 outside the initial namespace
    assert ct.file(NETFILTER + "nf_conntrack_max").mode == 0o444


def test_modules_in_the_container():
    ans = through_ansible()
    info = ans.ansible("keeplocal.traffic.conntrack_info", "", check=False)
    assert info["available"] is True
    assert info["initial_netns"] is False and info["writable"] is False
    assert info["max"] == host_value("nf_conntrack_max")
    with open("/proc/net/stat/nf_conntrack") as f:
        assert len(info["per_cpu"]) == len(f.read().splitlines()) - 1  # one row per possible CPU
    assert "must be set on the host" in info["message"]
    # no CAP_SYSLOG for dmesg, and the container's journal holds no kernel messages: unknown
    assert info["table_full_messages"] is None and info["kernel_log"] is None

    raise_to = host_value("nf_conntrack_max") + 65536
    for check in (True, False):
        res = ans.ansible("keeplocal.traffic.conntrack_limits", "policy=fixed max=%d" % raise_to, check=check)
        assert res["changed"] is False and res["applied"] is False, res
        assert res["would_set"]["nf_conntrack_max"] == raise_to
        assert "apply it on the host" in res["msg"]

    # a refused value is still an error in a read-only namespace (it names the option). ansible-core
    # 2.19's --tree output, which testinfra reads, drops the "failed" key, so testinfra may not raise.
    try:
        refused = ans.ansible("keeplocal.traffic.conntrack_limits", "policy=fixed max=0", check=False)
    except ans.ansible.AnsibleException as e:
        refused = e.result
    assert refused["field"] == "max" and "from 1 to 2147483647" in refused["msg"]
    assert "would_set" not in refused


def test_runs_on_the_lab_platform():
    # KEEPLOCAL_LAB_SUITE picks the base image (molecule/resources/lab/topology.yml).
    assert container().system_info.codename == (os.environ.get("KEEPLOCAL_LAB_SUITE") or "bookworm")
