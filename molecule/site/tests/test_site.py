"""site.yml on the lab: every hairpin found, fixed and re-measured, no failed request."""
import json
import os
import re
import subprocess

import pytest

REPORT = os.path.join(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"], "report")
REPO = os.environ["MOLECULE_PROJECT_DIRECTORY"]
# molecule forces colour for its own runs; the recap is parsed here.
PLAIN_ENV = dict(os.environ, ANSIBLE_FORCE_COLOR="0", ANSIBLE_NOCOLOR="1")


@pytest.fixture(scope="module")
def measurements():
    with open(os.path.join(REPORT, "measurements.json"), encoding="utf-8") as f:
        return json.load(f)


WEB = "svc-a->198.51.100.1:80/tcp"
DB = "svc-a->198.51.100.1:5432/tcp"
SAME_HOST = "svc-b->127.0.0.1:8000/tcp"


@pytest.mark.parametrize("pair", [WEB, DB])
def test_hairpin_before_direct_after(measurements, pair):
    before, after = measurements["before"][pair], measurements["after"][pair]
    assert before["errors"] == after["errors"] == 0
    assert before["address"] == "198.51.100.1" and before["backend_saw"] == "192.168.1.1"
    # Every request through the hairpin costs the gateway one conntrack entry; none after.
    assert before["gw_entries_per_1000"] >= 990
    assert after["gw_entries_per_1000"] == 0
    assert after["backend_saw"] == "192.168.1.10"


def test_same_host_pair_measured_before_and_after(measurements):
    """nginx -> gunicorn: every request opened a TCP connection over loopback before, none after."""
    before, after = measurements["before"][SAME_HOST], measurements["after"][SAME_HOST]
    assert before["errors"] == after["errors"] == 0
    assert (before["path"], after["path"]) == ("tcp", "unix_socket")
    assert before["loopback_entries_per_1000"] >= 300
    assert after["loopback_entries_per_1000"] == 0


def test_every_automatic_fix_was_applied_and_measured(measurements):
    """No third state: what the plan calls automatic remediate applied, and the measurement shows it."""
    with open(os.path.join(REPORT, "plan.json"), encoding="utf-8") as f:
        plan = json.load(f)
    measured = [f for f in plan["pairs"] + plan["same_host"]
                if f["status"] == "active" and f["recommendation"]["mode"] == "automatic"]
    assert {f["id"] for f in measured} >= {WEB, DB, SAME_HOST}
    for finding in measured:
        after = measurements["after"][finding["id"]]
        assert after["errors"] == 0
        assert after["gw_entries_per_1000"] in (0, None) and after.get("loopback_entries_per_1000") in (0, None)


def test_web_pair_now_resolves_privately(measurements):
    assert measurements["after"][WEB]["address"] == "192.168.1.20"


def test_no_request_failed_during_the_changes(lab):
    load = json.loads(lab("svc-a").check_output("cat /var/tmp/keeplocal-load.json"))
    assert load["failures"] == 0, load["errors"]
    assert load["requests"] >= 500
    # The load saw both worlds: through the gateway before, direct after.
    assert set(load["clients_seen"]) == {"192.168.1.1", "192.168.1.10"}


def test_same_host_pair_moved_to_unix_socket(lab):
    svc_b = lab("svc-b")
    assert svc_b.socket("tcp://127.0.0.1:8000").is_listening is False
    assert "unix:" in svc_b.check_output("grep -h 'server ' /etc/nginx/sites-available/app")
    assert svc_b.check_output("curl -sS -m 5 http://127.0.0.1/").startswith('{"backend": "svc-b"')


def test_report_shows_before_and_after():
    with open(os.path.join(REPORT, "report.md"), encoding="utf-8") as f:
        markdown = f.read()
    assert WEB in markdown and DB in markdown
    with open(os.path.join(REPORT, "report.html"), encoding="utf-8") as f:
        assert "<svg" in f.read()


def test_remediate_again_changes_nothing():
    run = subprocess.run(
        ["ansible-playbook", "-i", os.path.join(REPO, "molecule", "resources", "lab", "inventory.yml"),
         os.path.join(REPO, "playbooks", "remediate.yml"),
         "-e", "keeplocal_plan_file=%s" % os.path.join(REPORT, "plan.json")],
        capture_output=True, text=True, check=False, env=PLAIN_ENV)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    changed = {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\S+)\s+: ok=\d+\s+changed=(\d+)", run.stdout, re.M)}
    assert changed and all(v == 0 for v in changed.values()), changed
