#!/usr/bin/env bash
# Re-vendor the dashboard's browser libraries from the npm registry into gateway/static/vendor/.
#
# The gateway serves gateway/static/ as is: no CDN, no build step when it runs. The versions are pinned in
# dashboard-vendor/package.json + dashboard-vendor/package-lock.json (npm checks the registry's integrity hashes); this script
# installs exactly those, copies the built files and their LICENSE files, and records versions and sha256 sums
# in gateway/static/vendor/VERSIONS.json. To upgrade: bump the versions in dashboard-vendor/package.json, run
# `npm install --prefix dashboard-vendor` to refresh the lock file, run this script, test, commit.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
front="$here/frontend"
vendor="$here/gateway/static/vendor"

command -v npm >/dev/null || { echo "vendor-frontend: npm is required (apt-get install npm)" >&2; exit 2; }
(cd "$front" && npm ci --no-audit --no-fund --ignore-scripts >/dev/null)

nm="$front/node_modules"
rm -rf "$vendor/uplot" "$vendor/msgpack"
mkdir -p "$vendor/uplot" "$vendor/msgpack"
cp "$nm/uplot/dist/uPlot.iife.min.js" "$nm/uplot/dist/uPlot.min.css" "$nm/uplot/LICENSE" "$vendor/uplot/"
cp "$nm/@msgpack/msgpack/dist.umd/msgpack.min.js" "$nm/@msgpack/msgpack/LICENSE" "$vendor/msgpack/"

# VERSIONS.json: what was vendored, from where, and the sha256 of every file (a reviewer can re-run this
# script and diff).
node - "$front" "$vendor" <<'JS'
const fs = require("fs"), path = require("path"), crypto = require("crypto");
const [front, vendor] = process.argv.slice(2);
const lock = JSON.parse(fs.readFileSync(path.join(front, "package-lock.json"), "utf8"));
const pkgs = { uplot: "uplot", msgpack: "@msgpack/msgpack" };
const out = {};
for (const [dir, name] of Object.entries(pkgs)) {
  const meta = JSON.parse(fs.readFileSync(path.join(front, "node_modules", name, "package.json"), "utf8"));
  const locked = lock.packages["node_modules/" + name];
  const files = {};
  for (const f of fs.readdirSync(path.join(vendor, dir)).sort()) {
    const data = fs.readFileSync(path.join(vendor, dir, f));
    files[f] = "sha256-" + crypto.createHash("sha256").update(data).digest("hex");
  }
  out[name] = { version: meta.version, license: meta.license, resolved: locked.resolved || `https://registry.npmjs.org/${name}/-/${name.split("/").pop()}-${meta.version}.tgz`,
                integrity: locked.integrity, homepage: meta.homepage || null, dir: "vendor/" + dir, files };
}
fs.writeFileSync(path.join(vendor, "VERSIONS.json"), JSON.stringify(out, null, 2) + "\n");
JS
echo "vendored into $vendor:" >&2
# shellcheck disable=SC2016 # JavaScript template literals, not shell expansions
node -e 'const v=require(process.argv[1]);for(const[k,x]of Object.entries(v))console.error(`  ${k} ${x.version} (${x.license})`)' "$vendor/VERSIONS.json"
