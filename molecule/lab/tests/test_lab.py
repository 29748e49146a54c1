"""The lab reproduces the seed's hairpin, and its direct and outside paths work."""
from lab_fixtures import conntrack_lines, http_get


def test_public_name_hairpins_through_gw(lab, marker):
    svc_a, gw, svc_b = lab("svc-a"), lab("gw"), lab("svc-b")
    assert svc_a.check_output("dig +short app.example.test") == "198.51.100.1"

    answer = http_get(svc_a, "http://app.example.test" + marker, local_port=41001)

    # The backend saw the gateway, not the client.
    assert answer == {"backend": "svc-b", "client": "192.168.1.1"}
    access = svc_b.check_output("grep -F %s /var/log/nginx/access.log", marker)
    assert access.startswith("192.168.1.1 ")
    # The gateway holds the DNAT+SNAT entry: original 192.168.1.10 -> public, reply from the
    # backend to the gateway.
    entries = conntrack_lines(gw, "-p tcp -s 192.168.1.10 --sport 41001")
    assert len(entries) == 1, entries
    assert "src=192.168.1.10 dst=198.51.100.1 sport=41001 dport=80 " in entries[0]
    assert "src=192.168.1.20 dst=192.168.1.1 sport=80 dport=41001 " in entries[0]


def test_port_translated_forward_hairpins(lab):
    svc_a, gw = lab("svc-a"), lab("gw")
    reply = svc_a.check_output("nc -w 3 -p 41002 db.example.test 5432 </dev/null")
    assert reply == "svc-c 192.168.1.1"
    entries = conntrack_lines(gw, "-p tcp -s 192.168.1.10 --sport 41002")
    assert len(entries) == 1, entries
    assert "dport=5432 " in entries[0] and "src=192.168.1.30 dst=192.168.1.1 sport=54321 " in entries[0]


def test_direct_path_skips_gw(lab, marker):
    svc_a, gw, svc_b = lab("svc-a"), lab("gw"), lab("svc-b")
    answer = http_get(svc_a, "http://192.168.1.20" + marker, local_port=41003)
    assert answer == {"backend": "svc-b", "client": "192.168.1.10"}
    assert svc_b.check_output("grep -F %s /var/log/nginx/access.log", marker).startswith("192.168.1.10 ")
    assert conntrack_lines(gw, "-p tcp -s 192.168.1.10 --sport 41003") == []


def test_outside_client_reaches_public_address(lab, marker):
    ext = lab("ext")
    assert ext.check_output("dig +short app.example.test") == "198.51.100.1"
    answer = http_get(ext, "http://198.51.100.1" + marker)
    assert answer == {"backend": "svc-b", "client": "198.51.100.53"}
