#!/usr/bin/env bash
# The docs site with antsibull-docs + sphinx, built offline into build/docsite/html.
# References into docs.ansible.com (intersphinx) cannot resolve without the network: those
# "undefined label" warnings are expected; any other warning fails the build.
set -euo pipefail
. "$(dirname "$0")/env.sh"
cd "$KEEPLOCAL_REPO"
"$KEEPLOCAL_VENV_RELEASE/bin/antsibull-docs" lint-collection-docs --plugin-docs .
site=$KEEPLOCAL_REPO/build/docsite
rm -rf "$site"; mkdir -p "$site"
PATH=$KEEPLOCAL_VENV_RELEASE/bin:$PATH
antsibull-docs sphinx-init --use-current --dest-dir "$site" keeplocal.traffic >/dev/null
echo "intersphinx_mapping = {}  # offline build" >> "$site/conf.py"
mkdir -p "$site/rst"; chmod og-w "$site/rst"
antsibull-docs --config-file "$site/antsibull-docs.cfg" collection --cleanup everything --use-current \
  --dest-dir "$site/rst" keeplocal.traffic >/dev/null
sphinx-build -M html "$site/rst" "$site/build" -c "$site" -q 2> "$site/warnings.log"
if grep -v "WARNING: undefined label: '[a-z_]*' \[ref.ref\]" "$site/warnings.log" | grep .; then
  echo "docs: unexpected warnings (above)" >&2; exit 1
fi
echo "docs: $site/build/html/index.html"
