#!/usr/bin/env bash
# Installs the Debian packages the test suite needs beyond Python, when one is missing:
#   chromium        the browser test (tests/browser) drives Debian's Chromium; Playwright never downloads one
#   postgresql      the local Airflow stack of the browser test runs PostgreSQL's server programs
#   docker-compose  tests/unit/test_local_airflow.py has docker-compose check docker-compose.yaml
# Uses apt-get (as root, or through sudo without a password). Where it cannot install, it says what is
# missing and how to install it, and exits 0: the tests that need the package then fail with their own
# message, and every other test still runs.
set -euo pipefail

log() {
  printf 'system_packages: %s\n' "$*" >&2
}

has_initdb() {
  command -v initdb >/dev/null 2>&1 && return 0
  compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null
}

# Prints the Debian packages whose program is not found, one per line.
missing_packages() {
  command -v chromium >/dev/null 2>&1 || echo chromium
  has_initdb || echo postgresql
  command -v docker-compose >/dev/null 2>&1 || echo docker-compose
}

# Runs its arguments as root: directly when root, else through passwordless sudo; fails otherwise.
as_root() {
  if [[ "$(id -u)" == 0 ]]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    sudo -n "$@"
  else
    return 1
  fi
}

main() {
  local -a missing
  mapfile -t missing < <(missing_packages)
  if ((${#missing[@]} == 0)); then
    return 0
  fi
  if ! command -v apt-get >/dev/null 2>&1; then
    log "missing ${missing[*]} and no apt-get here: install them with your package manager"
    return 0
  fi
  log "installing ${missing[*]} with apt-get"
  if ! install_packages "${missing[@]}"; then
    log "could not install ${missing[*]} (needs root or passwordless sudo):" \
      "run: sudo apt-get install ${missing[*]}"
  fi
}

# apt-get installs its arguments; docker-compose without its recommends (a whole Docker engine).
install_packages() {
  local -a with_recommends=() without_recommends=()
  local package
  for package in "$@"; do
    if [[ "${package}" == docker-compose ]]; then
      without_recommends+=("${package}")
    else
      with_recommends+=("${package}")
    fi
  done
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q || return 1
  if ((${#with_recommends[@]})); then
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${with_recommends[@]}" || return 1
  fi
  if ((${#without_recommends[@]})); then
    as_root env DEBIAN_FRONTEND=noninteractive \
      apt-get install -y -q --no-install-recommends "${without_recommends[@]}" || return 1
  fi
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
  main "$@"
fi
