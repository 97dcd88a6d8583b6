#!/usr/bin/env bash
# The collection as it is released: the changelog generated from changelogs/ is the one committed, the
# tarball builds, galaxy-importer accepts it without an error or a warning, antsibull-docs finds every
# plugin's documentation clean, and playbooks/site.yml runs through ansible-runner from the installed tarball.
# Release tools live in their own venv (tests/release/requirements.txt; tests/setup.sh makes it).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
venv=${WGSPLIT_VENV:-/opt/wgsplit-venv}
release_venv=${WGSPLIT_RELEASE_VENV:-/opt/wgsplit-release-venv}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

echo "-- changelog (antsibull-changelog)"
cp -a "$root/." "$work/checkout"
(cd "$work/checkout" && "$release_venv/bin/antsibull-changelog" lint && "$release_venv/bin/antsibull-changelog" generate)
diff -u "$root/CHANGELOG.rst" "$work/checkout/CHANGELOG.rst" || { echo "CHANGELOG.rst is not what changelogs/ generate"; exit 1; }

echo "-- build and install into an empty collections path"
"$venv/bin/ansible-galaxy" collection build --output-path "$work/dist" "$root" >/dev/null
tarball=$(ls "$work"/dist/wgsplit-gateway-*.tar.gz)
"$venv/bin/ansible-galaxy" collection install --offline -p "$work/collections" "$tarball" >/dev/null 2>&1
installed="$work/collections/ansible_collections/wgsplit/gateway"

echo "-- galaxy-importer"
(cd "$work" && "$release_venv/bin/python" -m galaxy_importer.main "$tarball" > importer.log 2>&1) ||
  { cat "$work/importer.log"; exit 1; }
if grep -Ei '(error|warning)' "$work/importer.log"; then exit 1; fi
tail -n 1 "$work/importer.log"

echo "-- antsibull-docs lint-collection-docs --plugin-docs"
(cd "$installed" && ANSIBLE_COLLECTIONS_PATH="$work/collections" "$release_venv/bin/antsibull-docs" \
  lint-collection-docs --plugin-docs . > "$work/docs-lint.log" 2>&1) || { cat "$work/docs-lint.log"; exit 1; }
if grep -v 'is not part of the configured Ansible collections paths' "$work/docs-lint.log" | grep .; then exit 1; fi
echo "no findings"

echo "-- playbooks/site.yml through ansible-runner, from the installed tarball"
"$venv/bin/python" "$root/tests/release/runner_site.py" "$work/collections"
