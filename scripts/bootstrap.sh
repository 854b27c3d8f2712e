#!/usr/bin/env bash
# Installs what raydeploy needs to build, test and run:
#   - the Debian packages listed below (only the missing ones), Chromium for the WebUI's tests included,
#   - the project virtualenv .venv with the Python tools pinned in scripts/requirements.txt,
#   - web/node_modules from web/package-lock.json (the WebUI's build and its tests), with Node.js
#     from Debian's packages when the machine has none.
# Idempotent and quiet: when everything is already there it prints nothing and takes well under a second.
#
# Environment:
#   RAYDEPLOY_PYTHON   interpreter used to create .venv (default: /usr/bin/python3, else python3 on PATH)
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
REQUIREMENTS="$REPO_ROOT/scripts/requirements.txt"
VENV="$REPO_ROOT/.venv"
STAMP="$VENV/.raydeploy-requirements.sha256"

DEB_PACKAGES=(
    cmake ninja-build pkg-config g++ ccache
    libboost1.81-all-dev libboost-json1.81-dev libboost-url1.81-dev
    libyaml-cpp-dev libsqlite3-dev libssl-dev
    # GET /metrics: prometheus-cpp's core library (metrics and their text format).
    prometheus-cpp-dev
    python3-venv python3-pip
    # The browser the WebUI's tests drive (web/tests/): Debian's, so Playwright never downloads one.
    chromium
    # systemd-analyze checks the packaged unit (tests/install); nothing starts it.
    systemd
    # The sanitizer build and its libFuzzer targets (scripts/test-sanitized.sh, scripts/fuzz.sh).
    clang-14 libclang-rt-14-dev
)

# Node.js and npm build the WebUI that the binary embeds; the machine's own Node.js (>= 18.19) is
# used when there is one.
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    DEB_PACKAGES+=(nodejs npm)
fi

log() { printf 'bootstrap: %s\n' "$*"; }
die() { printf 'bootstrap: error: %s\n' "$*" >&2; exit 1; }

install_debian_packages() {
    if ! command -v dpkg-query >/dev/null 2>&1; then
        die "dpkg-query not found: this script expects Debian 12 (bookworm); install these yourself: ${DEB_PACKAGES[*]}"
    fi

    local missing=() pkg status
    for pkg in "${DEB_PACKAGES[@]}"; do
        # shellcheck disable=SC2016  # ${Status} is a dpkg-query field, not a shell expansion
        status="$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)"
        [[ "$status" == "install ok installed" ]] || missing+=("$pkg")
    done
    ((${#missing[@]} == 0)) && return 0

    local sudo=()
    if ((EUID != 0)); then
        command -v sudo >/dev/null 2>&1 \
            || die "missing Debian packages (${missing[*]}) and not root, and sudo is not available"
        sudo=(sudo)
    fi

    log "installing Debian packages: ${missing[*]}"
    # apt's and dpkg's chatter goes to a log that is shown only when something fails.
    local aptlog rc=0
    aptlog="$(mktemp)"
    {
        "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
            "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
                apt-get install -y -qq --no-install-recommends -o Dpkg::Use-Pty=0 "${missing[@]}"
    } >"$aptlog" 2>&1 || rc=$?
    if ((rc != 0)); then
        cat "$aptlog" >&2
        rm -f "$aptlog"
        die "apt-get failed (exit $rc) installing: ${missing[*]}"
    fi
    rm -f "$aptlog"
}

pick_python() {
    if [[ -n "${RAYDEPLOY_PYTHON:-}" ]]; then
        printf '%s\n' "$RAYDEPLOY_PYTHON"
    elif [[ -x /usr/bin/python3 ]]; then
        # Debian's interpreter: python3-venv above provides its venv/ensurepip.
        printf '%s\n' /usr/bin/python3
    else
        command -v python3 || die "python3 not found"
    fi
}

setup_venv() {
    [[ -f "$REQUIREMENTS" ]] || die "missing $REQUIREMENTS"

    # A venv whose interpreter no longer runs (moved repo, removed Python) is rebuilt from scratch.
    if [[ -d "$VENV" ]] && ! "$VENV/bin/python" -c '' >/dev/null 2>&1; then
        log "virtualenv .venv is broken; recreating it"
        rm -rf "$VENV"
    fi
    if [[ ! -d "$VENV" ]]; then
        local python
        python="$(pick_python)"
        log "creating virtualenv .venv ($python)"
        "$python" -m venv "$VENV"
    fi
    # Keep the venv out of git even without a top-level .gitignore entry.
    [[ -f "$VENV/.gitignore" ]] || printf '*\n' >"$VENV/.gitignore"

    local want have=""
    want="$(sha256sum "$REQUIREMENTS" | cut -d' ' -f1)"
    [[ -f "$STAMP" ]] && have="$(<"$STAMP")"
    [[ "$want" == "$have" ]] && return 0

    log "installing Python tools from scripts/requirements.txt into .venv"
    # pip's default cache (~/.cache/pip) is kept, so a fresh clone on the same machine installs fast.
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check -r "$REQUIREMENTS"
    printf '%s\n' "$want" >"$STAMP"
}

# npm ci, only when web/package-lock.json changed since the last one. npm's cache (~/.npm) is kept,
# so a fresh clone on the same machine installs from it without the network.
setup_node_modules() {
    local web="$REPO_ROOT/web" stamp="$REPO_ROOT/web/node_modules/.raydeploy-lock.sha256"
    local want have=""
    want="$(sha256sum "$web/package-lock.json" | cut -d' ' -f1)"
    [[ -f "$stamp" ]] && have="$(<"$stamp")"
    [[ "$want" == "$have" ]] && return 0

    log "installing the WebUI's npm packages from web/package-lock.json"
    # ignore-scripts (web/.npmrc): no package runs code at install time.
    (cd "$web" && npm ci --prefer-offline --no-audit --no-fund --loglevel=error) \
        || die "npm ci failed in web/; check the network to the npm registry, or remove web/node_modules and retry"
    printf '%s\n' "$want" >"$stamp"
}

install_debian_packages
setup_venv
setup_node_modules
