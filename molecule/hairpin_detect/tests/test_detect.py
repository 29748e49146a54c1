"""Detection on the lab finds both hairpins and the same-host pair, plans the right fixes, and
changes nothing on any host."""
import json
import os
import re
import shutil
import subprocess

import pytest

REPORT = os.path.join(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"], "report")
REPO = os.environ["MOLECULE_PROJECT_DIRECTORY"]
# molecule forces colour for its own runs; the recap is parsed here.
PLAIN_ENV = dict(os.environ, ANSIBLE_FORCE_COLOR="0", ANSIBLE_NOCOLOR="1")
INVENTORY = os.path.join(REPO, "molecule", "resources", "lab", "inventory.yml")


@pytest.fixture(scope="module")
def plan():
    with open(os.path.join(REPORT, "plan.json"), encoding="utf-8") as f:
        return json.load(f)


def pair(plan, port):
    found = [p for p in plan["pairs"] if p["client"]["host"] == "svc-a" and p["public"]["port"] == port]
    assert len(found) == 1, plan["pairs"]
    return found[0]


def test_web_hairpin_gets_split_dns(plan):
    web = pair(plan, 80)
    assert web["public"]["ip"] == "198.51.100.1"
    assert web["backend"] == {"host": "svc-b", "ip": "192.168.1.20", "port": 80}
    assert web["gateway"] == "gw"
    assert {"gateway_conntrack", "dns_answer"} <= set(web["seen_by"])
    assert "app.example.test" in web["public"]["names"]
    assert web["connections"] >= 5
    assert (web["relation"], web["port_translated"], web["fix"]) == ("same_network", False, "split_dns")
    assert web["status"] == "active"
    assert web["recommendation"] == {
        "mode": "automatic", "role": "keeplocal.traffic.split_dns", "host": "svc-a",
        "input": {"split_dns_names": [{"name": "app.example.test", "private": "192.168.1.20", "public": "198.51.100.1"}]},
        "change": "svc-a resolves app.example.test through the private resolver, which answers 192.168.1.20"}


def test_translated_port_gets_local_shortcut(plan):
    db = pair(plan, 5432)
    assert db["backend"] == {"host": "svc-c", "ip": "192.168.1.30", "port": 54321}
    assert db["connections"] >= 3
    assert (db["port_translated"], db["fix"], db["status"]) == (True, "local_shortcut", "active")
    assert (db["recommendation"]["mode"], db["recommendation"]["host"]) == ("automatic", "svc-a")
    assert db["recommendation"]["input"] == {"local_shortcut_rules": [
        {"public_ip": "198.51.100.1", "public_port": 5432, "proto": "tcp", "private_ip": "192.168.1.30",
         "private_port": 54321, "comment": "svc-a->198.51.100.1:5432/tcp"}]}


def test_dns_only_sightings_are_latent_and_manual(plan):
    """Every host resolves the public names; only traffic makes a pair active and its fix automatic."""
    latent = [p for p in plan["pairs"] if p["seen_by"] == ["dns_answer"]]
    assert latent, plan["pairs"]
    for item in latent:
        assert (item["status"], item["connections"], item["recommendation"]["mode"]) == ("latent", 0, "manual")
        assert "sent no traffic there yet" in item["recommendation"]["change"]
    own = [p for p in latent if p["relation"] == "same_host"]
    assert own and all(p["fix"] == "local_shortcut" for p in own)


def test_every_automatic_recommendation_names_a_role_remediate_runs(plan):
    findings = plan["pairs"] + plan["same_host"] + plan["gateways"]
    automatic = [f["recommendation"] for f in findings if f["recommendation"] and f["recommendation"]["mode"] == "automatic"]
    assert len(automatic) == plan["summary"]["automatic"] >= 3
    roles = {"keeplocal.traffic.split_dns", "keeplocal.traffic.local_shortcut", "keeplocal.traffic.unix_sockets",
             "keeplocal.traffic.conntrack_tuning"}
    assert all(rec["role"] in roles and rec["host"] and rec["input"] is not None for rec in automatic)


def test_same_host_nginx_to_gunicorn_is_a_unix_socket_candidate(plan):
    same = [s for s in plan["same_host"] if s["host"] == "svc-b" and s["port"] == 8000]
    assert len(same) == 1, plan["same_host"]
    assert same[0]["fix"] == "unix_socket"
    assert same[0]["listener_process"].startswith("gunicorn")
    assert same[0]["recommendation"]["input"] == {"unix_sockets_pairs": [{"address": "127.0.0.1:8000"}]}
    # nginx's own public listener is a front end, not a finding
    assert not [s for s in plan["same_host"] if s["listener_process"] == "nginx"]


def test_gateway_health(plan):
    gw = [g for g in plan["gateways"] if g["host"] == "gw"]
    assert len(gw) == 1
    assert gw[0]["max"] > 0 and gw[0]["count"] >= gw[0]["hairpin_entries"] >= 8
    assert gw[0]["writable"] is False  # a container is never the initial network namespace


def test_reports_are_written_and_self_contained(plan):
    with open(os.path.join(REPORT, "report.md"), encoding="utf-8") as f:
        markdown = f.read()
    assert "198.51.100.1:5432" in markdown and "local_shortcut" in markdown
    with open(os.path.join(REPORT, "report.html"), encoding="utf-8") as f:
        html = f.read()
    assert "<svg" in html
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html), "the report must not load anything"


def _recap(output):
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\S+)\s+: ok=\d+\s+changed=(\d+)", output, re.M)}


def test_detect_in_check_mode_changes_no_host(tmp_path):
    run = subprocess.run(
        ["ansible-playbook", "-i", INVENTORY, os.path.join(REPO, "playbooks", "detect.yml"), "--check", "--diff",
         "-e", "hairpin_detect_report_dir=%s" % tmp_path],
        capture_output=True, text=True, check=False, env=PLAIN_ENV)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    recap = _recap(run.stdout)
    assert set(recap) >= {"gw", "svc-a", "svc-b", "svc-c", "ext"}
    # The recap counts run_once report writes (delegated to the controller) under the first
    # host; task lines tell them apart: "changed: [gw -> localhost]".
    changed_on_hosts = re.findall(r"^changed: \[([^\]>]+)\]", run.stdout, re.M)
    assert changed_on_hosts == [], changed_on_hosts
    assert (tmp_path / "plan.json").exists()


def test_audit_of_this_machine_without_inventory(tmp_path):
    run = subprocess.run(
        ["ansible-playbook", "keeplocal.traffic.detect", "-i", "localhost,", "-c", "local", "--check",
         "-e", "ansible_python_interpreter=/usr/bin/python3",
         "-e", "hairpin_detect_report_dir=%s" % tmp_path],
        capture_output=True, text=True, check=False, env=PLAIN_ENV)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    plan = json.loads((tmp_path / "plan.json").read_text())
    assert plan["version"] == 2
    assert set(plan) >= {"pairs", "same_host", "gateways", "summary"}


def test_html_report_renders_in_headless_chromium(tmp_path):
    chromium = shutil.which("chromium")
    assert chromium, "chromium is installed by scripts/host-setup.sh"
    shot = tmp_path / "report.png"
    subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--window-size=1280,900",
         "--screenshot=%s" % shot, "file://" + os.path.join(REPORT, "report.html")],
        capture_output=True, check=True, timeout=120)
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert (width, height) == (1280, 900)
    assert len(data) > 20000, "a blank page compresses to a few kB"


def test_detect_through_ansible_runner_as_aap_runs_it(tmp_path):
    """AAP runs job templates with ansible-runner: the job succeeds and set_stats reaches the
    artifacts a workflow branches on."""
    lab_dir = os.path.join(REPO, "molecule", "resources", "lab")
    (tmp_path / "project").mkdir()
    shutil.copy(os.path.join(REPO, "playbooks", "detect.yml"), tmp_path / "project")
    shutil.copytree(os.path.join(lab_dir, "group_vars"), tmp_path / "inventory" / "group_vars")
    shutil.copy(os.path.join(lab_dir, "inventory.yml"), tmp_path / "inventory" / "hosts.yml")
    (tmp_path / "env").mkdir()
    envvars = {k: os.environ[k] for k in ("ANSIBLE_COLLECTIONS_PATH", "CONTAINERS_CONF", "KEEPLOCAL_CACHE", "ANSIBLE_CONFIG")}
    (tmp_path / "env" / "envvars").write_text(json.dumps(envvars))
    run = subprocess.run(
        ["ansible-runner", "run", str(tmp_path), "-p", "detect.yml", "--ident", "job",
         "--cmdline", "--check -e hairpin_detect_report_dir=%s" % (tmp_path / "report")],
        capture_output=True, text=True, check=False, env=PLAIN_ENV)
    artifacts = tmp_path / "artifacts" / "job"
    assert run.returncode == 0, (artifacts / "stdout").read_text()[-3000:]
    assert (artifacts / "status").read_text() == "successful"
    stats = [json.loads(p.read_text()) for p in (artifacts / "job_events").glob("*.json")]
    data = [e["event_data"]["artifact_data"] for e in stats if e.get("event") == "playbook_on_stats"][0]
    assert data["keeplocal_detect_summary"]["by_fix"]["split_dns"] >= 1
    assert data["keeplocal_detect_plan"]["version"] == 2
