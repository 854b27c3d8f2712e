#!/usr/bin/env bash
# Static checks of the checkpoint playbooks, run by ctest:
#   check_playbooks.sh syntax   ansible-playbook --syntax-check of every playbook of the catalog
#                               (playbooks/checkpoints.yaml) against every inventory in
#                               playbooks/inventory/ (the local one and the example), after
#                               checking that each inventory parses and has the ray_head and
#                               ray_workers groups;
#   check_playbooks.sh lint     ansible-lint on the production profile over playbooks/ (its
#                               configuration is playbooks/.ansible-lint, offline: no galaxy or
#                               network access; the collections come from the ansible package
#                               pinned in scripts/requirements.txt).
# Both use the project virtualenv (.venv, made by scripts/bootstrap.sh). Exit status 0 when clean.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
PLAYBOOKS="$REPO_ROOT/playbooks"
VENV_BIN="$REPO_ROOT/.venv/bin"

die() { printf 'check_playbooks: %s\n' "$*" >&2; exit 1; }

[[ -x "$VENV_BIN/ansible-playbook" ]] || die "no $VENV_BIN/ansible-playbook: run scripts/bootstrap.sh"
# The settings of the repository only: nothing from the caller's environment or home directory.
export PATH="$VENV_BIN:$PATH"
unset ANSIBLE_CONFIG ANSIBLE_INVENTORY ANSIBLE_LIBRARY ANSIBLE_ROLES_PATH ANSIBLE_COLLECTIONS_PATH
export ANSIBLE_NOCOLOR=1 NO_COLOR=1 ANSIBLE_LINT_SKIP_SCHEMA_UPDATE=1
cd "$PLAYBOOKS"  # ansible.cfg and .ansible-lint live here, as when the service runs a checkpoint

check_syntax() {
    local playbooks=() inventories=() inventory playbook failures=0
    OUTPUT="$(mktemp)"
    trap 'rm -f "$OUTPUT"' EXIT
    mapfile -t playbooks < <("$VENV_BIN/python" - <<'PY'
import yaml
with open("checkpoints.yaml") as handle:
    for entry in yaml.safe_load(handle)["checkpoints"]:
        print(entry["playbook"])
PY
    )
    ((${#playbooks[@]} > 0)) || die "no playbook in checkpoints.yaml"
    inventories=(inventory/*.yml)
    for inventory in "${inventories[@]}"; do
        printf '== inventory %s\n' "$inventory"
        if ! "$VENV_BIN/ansible-inventory" -i "$inventory" --list 2>&1 | "$VENV_BIN/python" -c '
import json, sys
text = sys.stdin.read()
data = json.loads(text[text.index("{"):])
heads = data.get("ray_head", {}).get("hosts", [])
missing = [g for g in ("ray_head", "ray_workers") if g not in data]
if missing or len(heads) != 1:
    sys.exit("groups missing: %s; ray_head hosts: %s" % (missing, heads))
'; then
            printf 'FAILED: %s does not parse or lacks the ray_head (one host) and ray_workers groups\n' "$inventory"
            failures=$((failures + 1))
        fi
        for playbook in "${playbooks[@]}"; do
            if "$VENV_BIN/ansible-playbook" -i "$inventory" --syntax-check "$playbook" >"$OUTPUT" 2>&1; then
                printf 'ok      %s\n' "$playbook"
            else
                printf 'FAILED  %s\n' "$playbook"
                sed 's/^/        /' "$OUTPUT"
                failures=$((failures + 1))
            fi
        done
    done
    ((failures == 0)) || die "$failures syntax check(s) failed"
    printf 'syntax: %d playbooks x %d inventories clean\n' "${#playbooks[@]}" "${#inventories[@]}"
}

check_lint() {
    [[ -x "$VENV_BIN/ansible-lint" ]] || die "no $VENV_BIN/ansible-lint: run scripts/bootstrap.sh"
    "$VENV_BIN/ansible-lint" --version
    # The profile and offline mode come from playbooks/.ansible-lint; repeated here so a change
    # there cannot silently weaken the test.
    "$VENV_BIN/ansible-lint" --offline --profile production --strict --nocolor .
}

case "${1:-}" in
    syntax) check_syntax ;;
    lint) check_lint ;;
    *) die "usage: $0 syntax|lint" ;;
esac
