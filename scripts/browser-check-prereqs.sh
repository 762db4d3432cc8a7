#!/usr/bin/env bash
# Lets `python -m jupyterlab.browser_check` run offline with Debian's chromium.
#
# The check runs, in <JupyterLab app dir>/browser_test, `npm install playwright`
# (skipped when node_modules exists), `npx playwright install chromium` (a download
# from Playwright's CDN, which this machine cannot reach) and a node script that
# launches Playwright's own chromium. So, once:
#   1. install the node `playwright` package there from the npm registry, pinned to
#      the driver of the Python playwright in constraints.txt;
#   2. make a Playwright browsers folder, <python prefix>/share/playwright-browsers,
#      whose chromium and headless-shell entries (for that version's revisions)
#      are links to /usr/bin/chromium, each marked installed. FFmpeg (used only to
#      record videos, which the check does not do) links to /usr/bin/ffmpeg when
#      Debian's ffmpeg is installed, and is otherwise only marked installed.
# Then run the check with PLAYWRIGHT_BROWSERS_PATH pointing at that folder:
#   PLAYWRIGHT_BROWSERS_PATH=.venv/share/playwright-browsers \
#       .venv/bin/python -m jupyterlab.browser_check --allow-root
# Idempotent; prints the folder to use.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
PY="${PYTHON:-$ROOT/.venv/bin/python}"
CHROMIUM="${STUDIO_EXT_CHROMIUM:-/usr/bin/chromium}"
# The node driver inside the Python playwright 1.65.2 wheel is playwright-core 1.65.1.
NODE_PLAYWRIGHT_VERSION="1.65.1"

log() { printf 'browser-check-prereqs: %s\n' "$*"; }

[ -x "$CHROMIUM" ] || { log "$CHROMIUM is missing (apt-get install chromium)"; exit 1; }
command -v npm >/dev/null 2>&1 || { log "npm is needed (install Node.js 20)"; exit 1; }

read -r APP_DIR PREFIX < <("$PY" -c 'import sys; from jupyterlab.commands import get_app_dir; print(get_app_dir(), sys.prefix)')
TARGET="$APP_DIR/browser_test"
BROWSERS="$PREFIX/share/playwright-browsers"

changed=0
installed="$(cd "$TARGET" 2>/dev/null && node -p 'require("playwright/package.json").version' 2>/dev/null || true)"
if [ "$installed" != "$NODE_PLAYWRIGHT_VERSION" ]; then
    log "installing playwright@$NODE_PLAYWRIGHT_VERSION (node) into $TARGET"
    changed=1
    mkdir -p "$TARGET"
    (
        cd "$TARGET"
        [ -f package.json ] || npm init -y >/dev/null
        npm install --no-audit --no-fund --loglevel=error "playwright@$NODE_PLAYWRIGHT_VERSION" >/dev/null
    )
fi

# name, revision and executable path (inside its folder) of each entry to provide.
entries="$(cd "$TARGET" && node -e '
const fs = require("fs");
const browsers = JSON.parse(fs.readFileSync("node_modules/playwright-core/browsers.json", "utf8")).browsers;
const paths = {
  "chromium": "chrome-linux64/chrome",
  "chromium-headless-shell": "chrome-headless-shell-linux64/chrome-headless-shell",
  "ffmpeg": "ffmpeg-linux",
};
for (const b of browsers) {
  if (b.name in paths) console.log(b.name.replace(/-/g, "_"), b.revision, paths[b.name]);
}')"
[ "$(printf '%s\n' "$entries" | wc -l)" -eq 3 ] || { log "unexpected playwright browsers.json:"; printf '%s\n' "$entries"; exit 1; }

while read -r name revision executable; do
    folder="$BROWSERS/$name-$revision"
    [ -f "$folder/INSTALLATION_COMPLETE" ] || changed=1
    mkdir -p "$folder"
    case "$name" in
        ffmpeg) binary=/usr/bin/ffmpeg ;;
        *) binary="$CHROMIUM" ;;
    esac
    if [ -x "$binary" ]; then
        mkdir -p "$(dirname "$folder/$executable")"
        ln -sfn "$binary" "$folder/$executable"
    fi
    touch "$folder/INSTALLATION_COMPLETE"
done <<< "$entries"

if [ "$changed" -eq 1 ]; then
    # Prove it: Playwright's installer must find everything in place (no download).
    (cd "$TARGET" && PLAYWRIGHT_BROWSERS_PATH="$BROWSERS" npx --no-install playwright install chromium >/dev/null)
fi
log "ok: PLAYWRIGHT_BROWSERS_PATH=$BROWSERS"
