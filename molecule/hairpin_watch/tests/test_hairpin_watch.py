"""hairpin_watch on the lab with its systemd timer, Debian's node_exporter and Debian's Prometheus.

The tests run in file order and build on each other: the exporters and timers run -> before the
hairpin, svc-a's pair is absent while svc-c's calls are seen -> svc-a calls the public name, the
pair's series appears and KeeplocalHairpinActive fires, the calls stop and it clears -> the timer
alone keeps the collector fresh -> state absent removes the watch, twice.

Prometheus (svc-c) is asked through its HTTP API by the hairpin_watch_e2e target's prom.py, run on
the controller in svc-c's network namespace; every wait has a timeout. What it saw, with times, is
written to MOLECULE_EPHEMERAL_DIRECTORY/hairpin_watch-timeline.jsonl.
"""
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import yaml
from prom import selector

SCENARIO = Path(__file__).resolve().parents[1]
INVENTORY = SCENARIO.parent / "resources" / "lab" / "inventory.yml"
PROM_PY = SCENARIO.parents[1] / "tests" / "integration" / "targets" / "hairpin_watch_e2e" / "files" / "prom.py"

OUT = Path(os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY", "/tmp"))
TIMELINE = OUT / "hairpin_watch-timeline.jsonl"
# converge.yml: the collector's interval and the rules' for: of the pair alerts.
INTERVAL = 10
PAIR_FOR = 10
# The watched hosts and their node_exporters as Prometheus scrapes them.
TARGETS = {"gw": "192.168.1.1:9100", "svc-a": "192.168.1.10:9100"}
PAIR = {"client": "192.168.1.10", "public": "198.51.100.1:80/tcp", "backend": "192.168.1.20:80"}
# The lab's other hairpin: svc-c's calls to the web app every 3 s (lab-caller).
OTHER_PAIR = dict(PAIR, client="192.168.1.30")
RULES = "/etc/prometheus/keeplocal-hairpin.rules.yml"
UNIT = "keeplocal-hairpin-watch"
WATCH_FILES = [
    "/etc/systemd/system/%s.timer" % UNIT,
    "/etc/systemd/system/%s.service" % UNIT,
    "/usr/local/lib/keeplocal-watch",
    "/etc/keeplocal-hairpin-watch.json",
    "/var/lib/keeplocal-watch",
    "/var/lib/prometheus/node-exporter/keeplocal_hairpin.prom",
]
# svc-a's new hairpin: the public name in a loop, bounded in count and time (no $: systemd expands
# variables in a unit's command line).
CALLS_UNIT = "keeplocal-hairpin-calls"
CALLS = "seq 1000 | while read -r call; do curl -s -o /dev/null -m 2 http://app.example.test/; sleep 0.2; done"


def labels(pair, **more):
    """prom.py's LABELS argument: name=value,..."""
    return ",".join("%s=%s" % item for item in sorted(dict(pair, **more).items()))


def mark(event):
    with TIMELINE.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps({"event": event, "time": round(time.time(), 3)}) + "\n")


def prometheus(command, *args):
    """prom.py COMMAND ARGS against svc-c's Prometheus; returns the JSON lines it printed."""
    pid = subprocess.run(["podman", "inspect", "--format", "{{.State.Pid}}", "svc-c"],
                         capture_output=True, text=True, check=True, timeout=30).stdout.strip()
    waits = float(args[0]) if command in ("series", "firing", "resolved") else 0
    proc = subprocess.run(["nsenter", "--target", pid, "--net", sys.executable, str(PROM_PY), "http://127.0.0.1:9090",
                           command] + list(args), capture_output=True, text=True, check=False, timeout=waits + 30)
    with TIMELINE.open("a", encoding="utf-8") as handle:
        handle.write(proc.stdout)
    assert proc.returncode == 0, "prom.py %s %s: %s" % (command, " ".join(args), proc.stderr)
    return [json.loads(line) for line in proc.stdout.splitlines()]


def last_value(query):
    return float(prometheus("series", "30", query)[0]["samples"][0][1])


def playbook(name, *args):
    """Run a playbook of this scenario against the lab; returns (rc, output, {host: changed})."""
    # Molecule forces colour for its own runs; these outputs are parsed.
    env = dict(os.environ, ANSIBLE_FORCE_COLOR="0", ANSIBLE_NOCOLOR="1", PY_COLORS="0")
    proc = subprocess.run(["ansible-playbook", "-i", str(INVENTORY), str(SCENARIO / name)] + list(args),
                          capture_output=True, text=True, timeout=600, check=False, env=env)
    out = re.sub(r"\x1b\[[0-9;]*m", "", proc.stdout + proc.stderr)
    changed = {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\S+)\s+: ok=\d+\s+changed=(\d+)", out, re.M)}
    return proc.returncode, out, changed


def test_exporters_timers_and_prometheus_run(lab):
    for name in TARGETS:
        host = lab(name)
        # The image's package, which the role found stopped and started: one exporter, no second one.
        exporter = host.service("prometheus-node-exporter")
        assert exporter.is_running and exporter.is_enabled
        assert host.check_output("pgrep -c -x prometheus-node") == "1"
        assert host.check_output("dpkg-query -W -f '${Status}' prometheus-node-exporter") == "install ok installed"
        timer = host.service("%s.timer" % UNIT)
        assert timer.is_running and timer.is_enabled
        assert "OnUnitActiveSec=%ds" % INTERVAL in host.file("/etc/systemd/system/%s.timer" % UNIT).content_string

    svc_c = lab("svc-c")
    assert svc_c.service("prometheus").is_running
    # The rules as the role wrote them, loaded and evaluated without error, with the scenario's for:.
    written = yaml.safe_load(svc_c.file(RULES).content_string)["groups"][0]["rules"]
    groups = json.loads(svc_c.check_output("curl -fsS -m 5 http://127.0.0.1:9090/api/v1/rules"))["data"]["groups"]
    loaded = [rule for group in groups if group["file"] == RULES for rule in group["rules"]]
    assert sorted(rule["name"] for rule in loaded) == sorted(rule.get("alert") or rule["record"] for rule in written)
    assert all(rule["health"] == "ok" for rule in loaded), loaded
    alert_for = {rule["name"]: rule["duration"] for rule in loaded if rule["type"] == "alerting"}
    assert alert_for["KeeplocalHairpinActive"] == alert_for["KeeplocalPublicAddressCalls"] == PAIR_FOR, alert_for


def test_before_the_hairpin_only_the_labs_other_pair_is_seen():
    TIMELINE.write_text("", encoding="utf-8")
    prometheus("series", "60", 'count(up{job="node"} == 1) == %d' % len(TARGETS))
    for target in TARGETS.values():
        prometheus("series", "30", 'keeplocal_collector_last_success_timestamp_seconds{instance="%s"}' % target)
    # The gateway's collector reports hairpins (svc-c's calls) ...
    prometheus("series", "60", selector("keeplocal_hairpin_connections", OTHER_PAIR) + " > 0")
    # ... and svc-a's pair is not there (prepare stopped svc-a's calls and deleted their entries).
    prometheus("absent", selector("keeplocal_hairpin_connections", PAIR))
    prometheus("absent", selector("ALERTS", dict(PAIR, alertname="KeeplocalHairpinActive")))


def test_a_new_hairpin_fires_and_clears(lab):
    svc_a, gw = lab("svc-a"), lab("gw")
    # The path is the hairpin: the backend sees the gateway, not svc-a.
    assert json.loads(svc_a.check_output("curl -sS -m 5 http://app.example.test/"))["client"] == "192.168.1.1"
    mark("calls_started")
    svc_a.check_output("systemd-run --unit %s --property RuntimeMaxSec=300 /bin/sh -c %s", CALLS_UNIT, CALLS)
    try:
        prometheus("series", "40", selector("keeplocal_hairpin_connections", PAIR) + " > 0")
        prometheus("series", "40", selector("keeplocal_hairpin_bytes_total", dict(PAIR, counted_by="gateway")) + " > 0")
        # svc-a's own collector sees its connections to the public address.
        prometheus("series", "40", selector("keeplocal_public_connections",
                                            {"instance": TARGETS["svc-a"], "public": PAIR["public"]}) + " > 0")
        prometheus("firing", "60", "KeeplocalHairpinActive", labels(PAIR, instance=TARGETS["gw"]))
        metrics = gw.check_output("curl -fsS -m 5 http://127.0.0.1:9100/metrics | grep '^keeplocal_'")
    finally:
        svc_a.run("systemctl stop %s", CALLS_UNIT)
    mark("calls_stopped")
    (OUT / "hairpin_watch-gw-metrics.txt").write_text(metrics + "\n", encoding="utf-8")
    prometheus("resolved", "60", "KeeplocalHairpinActive", labels(PAIR))

    print("\n== gw's node_exporter with svc-a's hairpin (keeplocal_ samples):\n" + metrics)
    events = [json.loads(line) for line in TIMELINE.read_text(encoding="utf-8").splitlines()]
    start = next(item["time"] for item in events if item["event"] == "calls_started")
    print("== timeline (UTC; seconds after svc-a's calls started)")
    for item in events:
        detail = item.get("alert") or item.get("query", "")
        if item["event"] == "firing":
            detail += " (activeAt %s)" % item["active_at"]
        elif item["event"] == "resolved":
            detail += " (ALERTS firing from %.1f s to %.1f s)" % (
                item["firing_first_evaluation"] - start, item["firing_last_evaluation"] - start)
        stamp = time.strftime("%H:%M:%S", time.gmtime(item["time"]))
        print("  %-14s %s %+6.1f s  %s" % (item["event"], stamp, item["time"] - start, detail))


def test_the_timer_keeps_the_collector_fresh(lab):
    for name, target in TARGETS.items():
        query = 'keeplocal_collector_last_success_timestamp_seconds{instance="%s"}' % target
        last = last_value(query)
        assert time.time() - last < 2 * INTERVAL + 5, (name, last)
        # A later run, with no Ansible run in between: the timer's.
        prometheus("series", str(2 * INTERVAL + 10), "%s > %f" % (query, last))
        host = lab(name)
        assert host.check_output("systemctl show %s.service -p Result --value", UNIT) == "success"
        journal = host.check_output("journalctl -u %s.service -o cat --no-pager", UNIT)
        assert "Failed" not in journal, journal
        print("%s: %d collector runs so far" % (name, journal.count("Finished ")))
    prometheus("absent", 'ALERTS{alertname="KeeplocalCollectorStale"}')


def test_absent_removes_the_watch(lab):
    svc_c = lab("svc-c")
    rc, out, changed = playbook("converge.yml", "-e", "hairpin_watch_state=absent")
    assert rc == 0 and all(changed.get(name, 0) >= 1 for name in ("gw", "svc-a", "svc-c")), out
    for name in TARGETS:
        host = lab(name)
        for path in WATCH_FILES:
            assert not host.file(path).exists, (name, path)
        assert host.run("systemctl cat %s.timer", UNIT).rc != 0
        assert UNIT not in host.check_output("systemctl list-timers --all --no-legend")
        # The exporter stays: the role cannot tell what else uses it.
        assert host.service("prometheus-node-exporter").is_running
    assert not svc_c.file(RULES).exists
    groups = json.loads(svc_c.check_output("curl -fsS -m 5 http://127.0.0.1:9090/api/v1/rules"))["data"]["groups"]
    assert [group["file"] for group in groups] == []
    # Prometheus sees the watch's series end with the metrics files.
    prometheus("series", "30", "absent(keeplocal_collector_last_success_timestamp_seconds)")

    rc, out, changed = playbook("converge.yml", "-e", "hairpin_watch_state=absent")
    assert rc == 0 and changed == {"gw": 0, "svc-a": 0, "svc-c": 0}, out
