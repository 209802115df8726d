#!/usr/bin/env bash
# The repository's static checks, each with a one-line verdict; exits non-zero if any fails (all run).
#
#   setup/lint.sh          ruff (lint and format), mypy, import-linter, actionlint, shellcheck
#
# The tools come from the environment on PATH (bootstrap.sh's test job installs them into .venv at
# the versions constraints.txt pins). Configuration: ruff.toml, mypy.ini, .importlinter,
# .github/actionlint.yaml.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 2

failed=()
check() {
  local name=$1 log
  shift
  log=$(mktemp)
  if "$@" >"$log" 2>&1; then
    echo "lint: $name: ok"
  else
    cat "$log"
    echo "lint: $name: FAILED ($*)"
    failed+=("$name")
  fi
  rm -f "$log"
}

# the shell scripts git tracks, with the ones that have no .sh suffix
mapfile -t scripts < <(git ls-files '*.sh' bootstrap.sh .ci/run)

check "ruff check" ruff check --no-cache .
check "ruff format" ruff format --no-cache --check .
check "mypy" mypy
check "import-linter" lint-imports --no-cache
check "actionlint" actionlint
check "shellcheck" shellcheck "${scripts[@]}"

if [ ${#failed[@]} -gt 0 ]; then
  echo "lint: ${#failed[@]} of 6 failed: ${failed[*]}"
  exit 1
fi
echo "lint: all 6 passed"
