#!/usr/bin/env bash
# Re-fetch the dashboard's front-end libraries from the npm registry (no build step, no CDN).
#
#   bash scripts/vendor_frontend.sh
#
# Pinned versions and the registry's sha512 integrity of each tarball are below; a tarball
# that does not match is refused. The files the page needs and each package's LICENSE are
# copied to hub/dashboard/static/vendor/<name>-<version>/ (versioned folder names, so a
# browser never mixes versions from its cache), and SHA256SUMS lists every vendored file
# (tests/dashboard/test_assets.py checks it). To upgrade: change a version and its integrity
# (`npm view <name>@<version> dist.integrity`), run this script, update the version in
# hub/dashboard/assets.py and commit the result.
set -euo pipefail

LEAFLET_VERSION=1.9.4
LEAFLET_INTEGRITY="sha512-nxS1ynzJOmOlHp+iL3FyWqK89GtNL8U8rvlMOsQdTTssxZwCXh8N2NB3GDQOL+YR3XnWyZAxwQixURb+FA74PA=="
UPLOT_VERSION=1.6.32
UPLOT_INTEGRITY="sha512-KIMVnG68zvu5XXUbC4LQEPnhwOxBuLyW1AHtpm6IKTXImkbLgkMy+jabjLgSLMasNuGGzQm/ep3tOkyTxpiQIw=="

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
VENDOR="$ROOT/hub/dashboard/static/vendor"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

fetch() {  # name version integrity -> unpacked package folder
    local name=$1 version=$2 integrity=$3 tgz got
    tgz=$(cd "$WORK" && npm pack --silent "$name@$version")
    got="sha512-$(openssl dgst -sha512 -binary "$WORK/$tgz" | base64 -w0)"
    if [ "$got" != "$integrity" ]; then
        echo "vendor_frontend: $name@$version integrity $got does not match the pinned $integrity" >&2
        exit 1
    fi
    mkdir -p "$WORK/$name"
    tar -xzf "$WORK/$tgz" -C "$WORK/$name"
    echo "$WORK/$name/package"
}

rm -rf "$VENDOR"
mkdir -p "$VENDOR"

src=$(fetch leaflet "$LEAFLET_VERSION" "$LEAFLET_INTEGRITY")
dst="$VENDOR/leaflet-$LEAFLET_VERSION"
mkdir -p "$dst/images"
cp "$src/LICENSE" "$src/dist/leaflet.js" "$src/dist/leaflet.css" "$dst/"
cp "$src"/dist/images/*.png "$dst/images/"

src=$(fetch uplot "$UPLOT_VERSION" "$UPLOT_INTEGRITY")
dst="$VENDOR/uplot-$UPLOT_VERSION"
mkdir -p "$dst"
cp "$src/LICENSE" "$src/dist/uPlot.iife.min.js" "$src/dist/uPlot.min.css" "$dst/"

cat > "$VENDOR/README.md" <<README
# Vendored front-end libraries

Fetched from the npm registry by \`scripts/vendor_frontend.sh\`; do not edit by hand.

| package | version | licence | tarball integrity |
| --- | --- | --- | --- |
| leaflet | $LEAFLET_VERSION | BSD-2-Clause (leaflet-$LEAFLET_VERSION/LICENSE) | $LEAFLET_INTEGRITY |
| uplot | $UPLOT_VERSION | MIT (uplot-$UPLOT_VERSION/LICENSE) | $UPLOT_INTEGRITY |

SHA256SUMS lists the SHA-256 of every vendored file.
README

(cd "$VENDOR" && find . -type f ! -name SHA256SUMS ! -name README.md | LC_ALL=C sort | sed 's|^\./||' \
    | xargs sha256sum > SHA256SUMS)
echo "vendored leaflet $LEAFLET_VERSION and uplot $UPLOT_VERSION into $VENDOR"
