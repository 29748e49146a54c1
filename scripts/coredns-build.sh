#!/usr/bin/env bash
# The lab's CoreDNS: the pinned release built from the Go module proxy with only the plugins the
# split_dns role's Corefile can use, by CoreDNS's documented compile-time build (plugin.cfg ->
# directives_generate.go, the generator go generate runs -> go build), in the release's own module,
# so its go.sum pins every dependency.
# Built once per inputs (version, plugin list, Go version, this recipe):
#   $KEEPLOCAL_CACHE/coredns-<version>-<hash of the inputs>/{coredns,coredns.sha256}
# The sha256 beside the binary is what the split_dns role's offline install path checks. Prints the
# binary's path on the last line; progress goes to stderr. (The role's default install, the official
# release archive with every plugin, does not come from here.)
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=env.sh
. "$(dirname "$0")/env.sh"
version=${KEEPLOCAL_COREDNS_VERSION:-v1.14.7}
# Every directive roles/split_dns/templates/Corefile.j2 can emit (plugin.cfg names). molecule/split_dns
# adds only 'nonexistentplugin' to the extra directives, which must stay unknown. A directive added
# to the template goes here too, or the role's candidate check rejects it ("Unknown directive").
plugins=(bind view acl file forward loop cache errors log health ready prometheus reload)

say() { echo "coredns-build: $*" >&2; }
die() { say "$*"; exit 1; }

command -v go >/dev/null || die "Go >= 1.25 is required (go not found)"
inputs="$version ${plugins[*]} $(go env GOVERSION GOOS GOARCH | tr '\n' ' ')"
# The recipe's code is an input too; its progress lines (say) are not.
key=$( { echo "$inputs"; sed -n '/^# recipe-start/,/^# recipe-end/p' "$0" | grep -v '^ *say '; } | sha256sum | cut -c1-12)
dest=$KEEPLOCAL_CACHE/coredns-$version-$key

# recipe-start
# The built binary is CoreDNS $version, lists exactly the plugins it links in (these, and the ones
# their packages import), refuses those others as directives, and serves a Corefile shaped like the
# role's: a zone in two views by client address, acl, forward, cache, health, ready, prometheus.
check() {
  local bin=$1 work=$2 linked=$3 port pid rc=0 p out
  out=$("$bin" -version)
  grep -qx "CoreDNS-${version#v}" <<< "$out" || die "$bin -version: $out"
  diff <(tr ' ' '\n' <<< "$linked" | sort) <("$bin" -plugins | sed '/^$/d' | sort) >&2 \
    || die "$bin -plugins is not the linked plugin list (< expected, > listed)"
  port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  for p in $linked; do
    [[ " ${plugins[*]} " == *" $p "* ]] && continue
    printf '.:%s {\n    bind 127.0.0.1\n    %s\n}\n' "$port" "$p" > "$work/Corefile"
    out=$(timeout 10 "$bin" -conf "$work/Corefile" 2>&1 || true)
    [[ $out == *"Unknown directive '$p'"* ]] || die "$bin accepts the directive $p, which is not in the list: $out"
  done
  cat > "$work/db.corp" <<'EOF'
$ORIGIN corp.example.test.
@ 60 IN SOA ns.invalid. hostmaster.corp.example.test. 1 3600 600 86400 60
@ 60 IN NS ns.invalid.
db 60 IN A 192.0.2.30
EOF
  cat > "$work/Corefile" <<EOF
corp.example.test:$port {
    bind 127.0.0.1
    view internal {
        expr incidr(client_ip(), '127.0.0.2/32')
    }
    file $work/db.corp corp.example.test
    errors
    log
    prometheus 127.0.0.1:0
}
corp.example.test:$port {
    bind 127.0.0.1
    acl {
        block
    }
    errors
}
.:$port {
    bind 127.0.0.1
    acl {
        allow net 127.0.0.2/32
        block
    }
    forward . 127.0.0.1:9
    loop
    cache 30
    errors
    health 127.0.0.1:0
    ready 127.0.0.1:0
    reload
}
EOF
  "$bin" -conf "$work/Corefile" > "$work/coredns.log" 2>&1 &
  pid=$!
  python3 - "$port" "$pid" <<'EOF' || rc=$?
import os, socket, struct, sys, time
port, pid = int(sys.argv[1]), int(sys.argv[2])
def ask(src, qname):
    query = struct.pack('!6H', 0x4b4c, 0x0100, 1, 0, 0, 0) + b''.join(
        bytes([len(label)]) + label.encode() for label in qname.split('.')) + b'\0\0\1\0\1'
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((src, 0))
        s.settimeout(0.5)
        s.sendto(query, ('127.0.0.1', port))
        reply = s.recv(4096)
    return reply[3] & 0x0f, struct.unpack('!H', reply[6:8])[0], reply
want = {('127.0.0.2', 'db.corp.example.test'): (0, 1, socket.inet_aton('192.0.2.30')),  # internal view
        ('127.0.0.3', 'db.corp.example.test'): (5, 0, None),  # everyone else: REFUSED
        ('127.0.0.3', 'example.org'): (5, 0, None)}  # no recursion for outsiders
deadline = time.monotonic() + 20
while True:
    try:
        got = {q: ask(*q) for q in want}
        break
    except OSError:
        if time.monotonic() > deadline or not os.path.exists('/proc/%d' % pid):
            sys.exit('no answer on 127.0.0.1:%d' % port)
        time.sleep(0.1)
for q, (rcode, count, address) in want.items():
    if got[q][:2] != (rcode, count) or (address and address not in got[q][2]):
        sys.exit('%s asking %s: rcode, answers %s, expected %s' % (q[0], q[1], got[q][:2], (rcode, count)))
EOF
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  ((rc == 0)) || { cat "$work/coredns.log" >&2; die "$bin did not serve the test Corefile"; }
}

build() {
  local src linked p start=$SECONDS
  work=$(mktemp -d "$KEEPLOCAL_CACHE/coredns-build.XXXXXX")
  trap 'rm -rf "$work"' EXIT
  say "building CoreDNS $version with ${#plugins[@]} plugins (${plugins[*]}), once for these inputs:"
  say "  about 1-2 min on 2 cores with empty Go caches (150 MB of modules; the full go install: 1.6 GB, 3-13 min)"
  say "[1/4] fetching the github.com/coredns/coredns@$version module from the Go module proxy (6 MB)"
  src=$(go mod download -json "github.com/coredns/coredns@$version" | python3 -c 'import json, sys; print(json.load(sys.stdin)["Dir"])')
  cp -r "$src" "$work/src"
  chmod -R u+w "$work/src"
  say "[2/4] plugin.cfg with only these plugins (in CoreDNS's order), directives_generate.go"
  for p in "${plugins[@]}"; do
    grep -q "^$p:" "$src/plugin.cfg" || die "plugin $p is not in CoreDNS $version's plugin.cfg"
  done
  grep -E "^($(IFS='|'; echo "${plugins[*]}")):" "$src/plugin.cfg" > "$work/src/plugin.cfg"
  # What `go generate coredns.go` runs for plugin.cfg (its other generator, owners_generate.go,
  # only feeds the chaos plugin). Not go generate itself: it first loads coredns.go's imports as
  # they stand, every plugin, and so downloads every dependency (1.6 GB) before regenerating them.
  grep -qx '//go:generate go run directives_generate.go' "$work/src/coredns.go" \
    || die "CoreDNS $version's coredns.go no longer generates with directives_generate.go: update this recipe"
  (cd "$work/src" && go run directives_generate.go)
  # The directives a Corefile may use (core/dnsserver/zdirectives.go): exactly these.
  diff <(printf '%s\n' "${plugins[@]}" | sort) \
       <(sed -n 's/^\t"\([a-z0-9_]*\)",$/\1/p' "$work/src/core/dnsserver/zdirectives.go" | sort) >&2 \
    || die "directives_generate.go did not produce exactly these directives (< wanted, > generated)"
  say "[3/4] go build: downloads and compiles these plugins' dependencies (41 modules; the long step, about a minute)"
  mkdir "$work/out"
  (cd "$work/src" && CGO_ENABLED=0 go build -trimpath -buildvcs=false -ldflags='-s -w' -o "$work/out/coredns" .)
  # Plugin packages linked in: these and the ones they import (file imports transfer, forward
  # imports dnstap and debug, several import metadata); -plugins lists all of them.
  linked=$(cd "$work/src" && go list -deps . | sed -n 's#^github.com/coredns/coredns/plugin/\([a-z0-9_]*\)$#\1#p' \
           | while read -r p; do grep -v '^#' "$src/plugin.cfg" | sed -n "s/^\([a-z0-9_]*\):$p\$/\1/p"; done | sort | paste -sd' ')
  say "[4/4] checking the binary: version, plugins, serves a split-horizon Corefile on 127.0.0.1"
  say "  linked plugins: $linked (those not in the list are refused as directives)"
  check "$work/out/coredns" "$work" "$linked"
  (cd "$work/out" && sha256sum coredns > coredns.sha256)
  rm -rf "$dest"
  mv "$work/out" "$dest"
  say "built in $((SECONDS - start)) s: $dest"
}
# recipe-end

if [ ! -f "$dest/coredns.sha256" ]; then
  mkdir -p "$KEEPLOCAL_CACHE"
  # Concurrent runs (the demo, a molecule scenario's lookup) build once: the others wait here.
  exec 8>"$dest.lock"
  flock 8
  [ -f "$dest/coredns.sha256" ] || build
fi
echo "$dest/coredns"
