#!/usr/bin/env bash
# What `make test` needs besides Python packages, installed only when missing:
#   - Debian's chromium (browser tests drive it through Playwright; no browser download)
#   - PostgreSQL server binaries (integration tests start their own cluster with initdb)
#   - wrk (endpoint load benchmarks)
#   - Azurite, the Azure Storage emulator (npm, tests/emulators/package-lock.json)
#   - the JupyterLab extension built into studio_ext/labextension (its npm packages
#     from labextension/package-lock.json)
#   - what `python -m jupyterlab.browser_check` needs to use Debian's chromium
#     offline (scripts/browser-check-prereqs.sh)
# Then it checks labextension/ with the extension template's linters (every run).
# Idempotent: a second run installs and builds nothing. Runs as root on a fresh Debian 12 machine,
# or as any user once the system packages are there.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"

log() { printf 'test-prereqs: %s\n' "$*"; }

have_initdb() { compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null; }

missing=()
[ -x /usr/bin/chromium ] || missing+=(chromium)
have_initdb || missing+=(postgresql)
command -v wrk >/dev/null 2>&1 || missing+=(wrk)

if [ "${#missing[@]}" -gt 0 ]; then
    if [ "$(id -u)" -ne 0 ]; then
        if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
            SUDO=(sudo -n env DEBIAN_FRONTEND=noninteractive)
        else
            log "missing system packages: ${missing[*]}"
            log "install them as root: apt-get install -y ${missing[*]}"
            exit 1
        fi
    else
        SUDO=()
    fi
    log "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    install() {
        "${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    }
    # apt-get update only when the package lists are missing or stale.
    if ! apt-cache show "${missing[@]}" >/dev/null 2>&1 || ! install; then
        "${SUDO[@]}" apt-get update -qq
        install
    fi
fi

# The JupyterLab extension in labextension/: its npm packages (npm ci when
# package-lock.json is newer than node_modules), the prebuilt extension (rebuilt when
# absent or older than its sources), then the extension template's lint check
# (stylelint, prettier, eslint: `npm run lint:check`), which fails `make test`.
LABEXT_SRC="$ROOT/labextension"
LABEXT_OUT="$ROOT/studio_ext/labextension/package.json"
# Run a step quietly; on failure show its output and stop.
quietly() {
    local what="$1" step_log
    shift
    step_log="$(mktemp)"
    if ! (cd "$LABEXT_SRC" && "$@") >"$step_log" 2>&1; then
        cat "$step_log"
        rm -f "$step_log"
        log "$what failed (output above)"
        exit 1
    fi
    rm -f "$step_log"
}
if [ -d "$LABEXT_SRC" ]; then
    command -v npm >/dev/null 2>&1 || { log "npm is needed for labextension/ (install Node.js 20)"; exit 1; }
    # The jupyter-builder CLI lives in the venv; put it on PATH for npm scripts.
    if [ -d "$ROOT/.venv/bin" ]; then export PATH="$ROOT/.venv/bin:$PATH"; fi
    if [ ! -f "$LABEXT_SRC/node_modules/.package-lock.json" ] \
        || [ "$LABEXT_SRC/package-lock.json" -nt "$LABEXT_SRC/node_modules/.package-lock.json" ]; then
        log "installing labextension/'s npm packages"
        quietly "npm ci in labextension/" npm ci --no-audit --no-fund --loglevel=error
    fi
    stale=0
    if [ ! -f "$LABEXT_OUT" ]; then
        stale=1
    elif [ -n "$(find "$LABEXT_SRC/src" "$LABEXT_SRC/style" "$LABEXT_SRC/schema" \
                "$LABEXT_SRC/package.json" "$LABEXT_SRC/tsconfig.json" \
                -newer "$LABEXT_OUT" -print -quit 2>/dev/null)" ]; then
        stale=1
    fi
    if [ "$stale" -eq 1 ]; then
        log "building the JupyterLab extension"
        quietly "building labextension/" npm run --silent build:prod
        touch "$LABEXT_OUT"
    fi
    log "lint-labextension: npm run lint:check"
    quietly "lint-labextension (cd labextension && npm run lint to fix)" \
        npm run --silent lint:check
fi
# The emulators the tests start (tests/emulators/package.json): Azurite, the Azure
# Storage emulator that blob datastores are tested against (tests/azurite.py). npm ci
# when package-lock.json is newer than node_modules.
EMULATORS="$ROOT/tests/emulators"
if [ -f "$EMULATORS/package-lock.json" ]; then
    command -v npm >/dev/null 2>&1 || { log "npm is needed for tests/emulators (Azurite; install Node.js 20)"; exit 1; }
    if [ ! -f "$EMULATORS/node_modules/.package-lock.json" ] \
        || [ "$EMULATORS/package-lock.json" -nt "$EMULATORS/node_modules/.package-lock.json" ]; then
        log "installing the test emulators (Azurite) in tests/emulators"
        step_log="$(mktemp)"
        if ! (cd "$EMULATORS" && npm ci --no-audit --no-fund --loglevel=error) >"$step_log" 2>&1; then
            cat "$step_log"
            rm -f "$step_log"
            log "npm ci in tests/emulators failed (output above)"
            exit 1
        fi
        rm -f "$step_log"
    fi
fi
# An editable install copies the extension into the environment once; link it to
# the build output instead (what `jupyter labextension develop` does), so a rebuild
# is what JupyterLab serves.
PY="${PYTHON:-$ROOT/.venv/bin/python}"
if [ -x "$PY" ] && [ -f "$ROOT/studio_ext/labextension/package.json" ]; then
    "$PY" - "$ROOT" <<'PYEOF'
import os, shutil, sys
from pathlib import Path

root = Path(sys.argv[1]).resolve()
try:
    import studio_ext
except ImportError:
    sys.exit(0)
if Path(studio_ext.__file__).resolve().parent != root / "studio_ext":
    sys.exit(0)  # installed from elsewhere (a wheel): leave it alone
build = root / "studio_ext" / "labextension"
target = Path(sys.prefix) / "share" / "jupyter" / "labextensions" / "studio-ext"
if target.is_symlink() and target.resolve() == build.resolve():
    sys.exit(0)
if target.is_symlink() or target.is_file():
    target.unlink()
elif target.is_dir():
    shutil.rmtree(target)
target.parent.mkdir(parents=True, exist_ok=True)
target.symlink_to(build, target_is_directory=True)
print(f"test-prereqs: linked {target} -> {build}")
PYEOF
fi
if [ -x "$PY" ]; then
    if command -v npm >/dev/null 2>&1; then
        PYTHON="$PY" "$ROOT/scripts/browser-check-prereqs.sh"
    else
        log "npm is missing: the jupyterlab.browser_check test will fail (install Node.js 20)"
    fi
fi
log "ok"
