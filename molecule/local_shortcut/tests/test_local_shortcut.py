"""local_shortcut on the lab: the port-translated forward stops hairpinning, survives restarts,
is repaired when flushed, rolls back a failed change and goes away with state=absent.

The tests run in file order and build on each other (converge -> drift -> probe -> rollback ->
absent -> check mode); each one groups its assertions to keep the verify short.
"""
import json
import os
import re
import subprocess
from pathlib import Path

from lab_fixtures import conntrack_lines

SCENARIO = Path(__file__).resolve().parents[1]
INVENTORY = SCENARIO.parent / "resources" / "lab" / "inventory.yml"
OUT = Path(os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY", "/tmp"))
NFT_FILE = "/etc/nftables.d/keeplocal-shortcut.nft"
IPT_FILE = "/etc/iptables/keeplocal-shortcut.rules"
UNIT_FILE = "/etc/systemd/system/keeplocal-shortcut.service"
DB = "198.51.100.1:5432"


def playbook(name, *args):
    """Run a playbook of this scenario against the lab; returns (rc, output, {host: changed})."""
    # Molecule forces colour for its own runs; these outputs are parsed.
    env = dict(os.environ, ANSIBLE_FORCE_COLOR="0", ANSIBLE_NOCOLOR="1", PY_COLORS="0")
    proc = subprocess.run(
        ["ansible-playbook", "-i", str(INVENTORY), str(SCENARIO / name)] + list(args),
        capture_output=True, text=True, timeout=900, check=False, env=env)
    out = re.sub(r"\x1b\[[0-9;]*m", "", proc.stdout + proc.stderr)
    changed = {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\S+)\s+: ok=\d+\s+changed=(\d+)", out, re.M)}
    assert "svc-a" in changed, out  # the play ran on the lab
    return proc.returncode, out, changed


def db_reply(host, port):
    """What svc-c answers to a connection to the public name from a fixed source port."""
    return host.check_output("nc -w 3 -p %s db.example.test 5432 </dev/null", str(port))


def db_entries(gw):
    return len(conntrack_lines(gw, "-p tcp -s 192.168.1.10 -d 198.51.100.1 --dport 5432"))


def app_entries(gw):
    return len(conntrack_lines(gw, "-p tcp -s 192.168.1.10 -d 198.51.100.1 --dport 80"))


def probe(gw, label, count=200):
    """path_probe from svc-a (probe.yml); returns its result by target name and the gateway's entries for it.

    The gateway's entries for svc-a -> public address are deleted first (closed flows in TIME_WAIT
    from earlier tests); each probe connection then leaves one entry for 120 s if it went through
    the gateway, which outlasts the probe.
    """
    gw.run("conntrack -D -s 192.168.1.10 -d 198.51.100.1")
    before = (db_entries(gw), app_entries(gw))
    assert before == (0, 0), before
    out_file = OUT / ("path_probe-%s.json" % label)
    rc, out, dummy = playbook("probe.yml", "-e", "probe_out=%s" % out_file, "-e", "probe_count=%d" % count)
    assert rc == 0, out
    after = (db_entries(gw), app_entries(gw))
    result = json.loads(out_file.read_text())
    probes = {p["name"]: p for p in result["probes"]}
    print("\n== path_probe %s (%d requests per target, saved to %s)" % (label, count, out_file))
    for p in result["probes"]:
        print("  %-10s %-26s via %-13s ok %3d/%3d  connect p50 %7.3f p99 %7.3f ms  total p50 %7.3f p99 %7.3f ms  backend saw %s"
              % (p["name"], p["target"], p["address"], p["successes"], p["requests"], p["connect"]["p50_ms"],
                 p["connect"]["p99_ms"], p["total"]["p50_ms"], p["total"]["p99_ms"], p["seen_client"]))
    print("  gw conntrack entries for svc-a -> 198.51.100.1 after the probe: :5432 %d, :80 %d" % after)
    return probes, after


def sane(p, count):
    for stats in (p["connect"], p["total"]):
        assert stats["count"] == count
        assert 0 < stats["min_ms"] <= stats["p50_ms"] <= stats["p90_ms"] <= stats["p99_ms"] <= stats["max_ms"] < 5000
    assert p["connect"]["p50_ms"] <= p["total"]["p50_ms"]
    assert (p["requests"], p["failures"], p["reachable"], p["error"]) == (count, 0, True, None)


def test_shortcut_goes_direct(lab):
    svc_a, svc_b, svc_c, gw = lab("svc-a"), lab("svc-b"), lab("svc-c"), lab("gw")
    assert svc_a.check_output("dig +short db.example.test") == "198.51.100.1"

    # svc-a (nftables, from the plan): svc-c sees the real client, the gateway sees nothing, and
    # svc-a's own conntrack holds the translation.
    assert db_reply(svc_a, 61001) == "svc-c 192.168.1.10"
    assert conntrack_lines(gw, "-p tcp -s 192.168.1.10 --sport 61001") == []
    local = conntrack_lines(svc_a, "-p tcp --sport 61001")
    assert len(local) == 1 and "dst=198.51.100.1 sport=61001 dport=5432 src=192.168.1.30 dst=192.168.1.10 sport=54321" in local[0]
    assert svc_c.check_output("tail -n 1 /var/log/svc-c/peers.log").endswith(" 192.168.1.10")

    table = svc_a.check_output("nft list table ip keeplocal_shortcut")
    assert 'ip daddr 198.51.100.1 tcp dport 5432 dnat to 192.168.1.30:54321 comment "svc-a->198.51.100.1:5432/tcp"' in table
    assert "dport 80" not in table  # the split_dns pair is not this role's
    unit = svc_a.service("keeplocal-shortcut")
    assert unit.is_enabled and unit.is_running
    assert svc_a.file(NFT_FILE).mode == 0o644 and "ExecStart=/usr/sbin/nft -f " + NFT_FILE in svc_a.file(UNIT_FILE).content_string
    # Only the listed endpoint is short-cut: the web app still hairpins.
    assert json.loads(svc_a.check_output("curl -sS -m 5 http://app.example.test/"))["client"] == "192.168.1.1"

    # svc-b (iptables, explicit rule).
    assert db_reply(svc_b, 61002) == "svc-c 192.168.1.20"
    assert conntrack_lines(gw, "-p tcp -s 192.168.1.20 --sport 61002") == []
    assert svc_b.check_output("iptables -t nat -S OUTPUT").count("-j KEEPLOCAL_SHORTCUT") == 1
    assert "--dport 5432 -m comment --comment \"svc-b to svc-c\" -j DNAT --to-destination 192.168.1.30:54321" in \
        svc_b.check_output("iptables -t nat -S KEEPLOCAL_SHORTCUT")
    assert "keeplocal_shortcut" not in svc_b.check_output("nft list tables")
    assert svc_b.service("keeplocal-shortcut").is_enabled


def test_survives_restart_and_repairs_drift(lab):
    svc_a, svc_b = lab("svc-a"), lab("svc-b")
    svc_a.check_output("systemctl restart keeplocal-shortcut")
    svc_b.check_output("systemctl restart keeplocal-shortcut")
    assert db_reply(svc_a, 61003) == "svc-c 192.168.1.10"
    assert db_reply(svc_b, 61004) == "svc-c 192.168.1.20"
    assert svc_b.check_output("iptables -t nat -S OUTPUT").count("-j KEEPLOCAL_SHORTCUT") == 1

    # Someone flushes the rules: the hairpin is back (so the rule was what fixed it) ...
    svc_a.check_output("nft delete table ip keeplocal_shortcut")
    svc_b.check_output("iptables -t nat -D OUTPUT -j KEEPLOCAL_SHORTCUT")
    assert db_reply(svc_a, 61005) == "svc-c 192.168.1.1"
    # ... and the next run notices and loads them again.
    rc, out, changed = playbook("converge.yml")
    assert rc == 0, out
    assert changed["svc-a"] >= 1 and changed["svc-b"] >= 1, out
    assert db_reply(svc_a, 61006) == "svc-c 192.168.1.10"
    assert db_reply(svc_b, 61007) == "svc-c 192.168.1.20"


def test_path_probe_with_the_shortcut(lab):
    probes, entries = probe(lab("gw"), "shortcut")
    for name in ("db-public", "db-direct", "app-public", "app-direct"):
        sane(probes[name], 200)
    db, direct = probes["db-public"], probes["db-direct"]
    assert (db["host"], db["port"], db["address"]) == ("db.example.test", 5432, "198.51.100.1")
    assert db["response"] == "svc-c 192.168.1.10\n" and db["seen_client"] == "192.168.1.10"
    assert db["local_address"] == "192.168.1.10" and direct["seen_client"] == "192.168.1.10"
    assert probes["app-public"]["seen_client"] == "192.168.1.1" and probes["app-public"]["status"] == 200
    assert probes["app-direct"]["seen_client"] == "192.168.1.10"
    # 200 requests to :5432 left nothing on the gateway; 200 to :80 (still hairpinned) left 200.
    assert entries == (0, 200)


def test_failed_change_is_rolled_back(lab):
    svc_a = lab("svc-a")
    rules, unit = svc_a.file(NFT_FILE).content_string, svc_a.file(UNIT_FILE).content_string
    # A unit whose ExecStart fails: the role must restore the old unit and reload the old rules.
    rc, out, dummy = playbook("converge.yml", "--limit", "svc-a", "-e", "local_shortcut_nft_bin=/bin/false")
    assert rc != 0
    assert "applying the shortcuts failed and was rolled back: the previous files were restored and reloaded" in out, out
    assert svc_a.file(UNIT_FILE).content_string == unit and svc_a.file(NFT_FILE).content_string == rules
    assert svc_a.service("keeplocal-shortcut").is_running
    assert db_reply(svc_a, 61008) == "svc-c 192.168.1.10"


def test_absent_removes_everything_and_the_hairpin_returns(lab):
    svc_a, svc_b, gw = lab("svc-a"), lab("svc-b"), lab("gw")
    rc, out, changed = playbook("converge.yml", "-e", "local_shortcut_state=absent")
    assert rc == 0 and changed["svc-a"] >= 1 and changed["svc-b"] >= 1, out
    for host in (svc_a, svc_b):
        assert host.run("nft list table ip keeplocal_shortcut").rc != 0
        assert "KEEPLOCAL_SHORTCUT" not in host.check_output("iptables -t nat -S")
        assert not host.file(UNIT_FILE).exists and not host.file(NFT_FILE).exists and not host.file(IPT_FILE).exists
        assert host.check_output("ls /etc/systemd/system /etc/nftables.d /etc/iptables 2>/dev/null | grep -c keeplocal || true") == "0"
        # The lab image has neither rules directory: the role created its own and its undo removes it.
        assert not host.file("/etc/nftables.d").exists and not host.file("/etc/iptables").exists
        # systemctl says the unit is gone: "not-found" (exit 4 on systemd 257, 1 on 252).
        assert host.run("systemctl is-enabled keeplocal-shortcut").rc != 0
    # The hairpin is back: svc-c sees the gateway, and the gateway tracks the flow.
    assert db_reply(svc_a, 61009) == "svc-c 192.168.1.1"
    assert len(conntrack_lines(gw, "-p tcp -s 192.168.1.10 --sport 61009")) == 1
    assert db_reply(svc_b, 61010) == "svc-c 192.168.1.1"

    rc, out, changed = playbook("converge.yml", "-e", "local_shortcut_state=absent")
    assert rc == 0 and changed == {"svc-a": 0, "svc-b": 0}, out


def test_check_mode_shows_the_change_without_making_it(lab):
    svc_a = lab("svc-a")
    rc, out, changed = playbook("converge.yml", "--check", "--diff")
    assert rc == 0 and changed["svc-a"] >= 1, out
    assert "+\t\tip daddr 198.51.100.1 tcp dport 5432 dnat to 192.168.1.30:54321" in out
    assert "+ExecStart=/usr/sbin/nft -f " + NFT_FILE in out
    assert svc_a.run("nft list table ip keeplocal_shortcut").rc != 0 and not svc_a.file(NFT_FILE).exists


def test_path_probe_hairpin(lab):
    probes, entries = probe(lab("gw"), "hairpin")
    for name in ("db-public", "db-direct", "app-public", "app-direct"):
        sane(probes[name], 200)
    assert probes["db-public"]["seen_client"] == "192.168.1.1"     # NAT loopback works on this gateway
    assert probes["db-direct"]["seen_client"] == "192.168.1.10"
    assert entries == (200, 200)
