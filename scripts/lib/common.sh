# Shared shell helpers for scripts/*. Source, don't execute.
# shellcheck shell=bash

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VENV="${JARVIS_VENV:-$ROOT/.venv}"              # Home Assistant + integration + test tools
ADDON_VENV="${JARVIS_ADDON_VENV:-$ROOT/.venv-addon}"  # the add-on worker (its own container in production)
OCTOPRINT_VENV="${JARVIS_OCTOPRINT_VENV:-$ROOT/.venv-octoprint}"  # real OctoPrint 1.11.8 for printer tests
MOONRAKER_VENV="${JARVIS_MOONRAKER_VENV:-$ROOT/.venv-moonraker}"  # real Moonraker 0.11.0 for printer tests
TRIPOSR_VENV="${JARVIS_TRIPOSR_VENV:-$ROOT/.venv-triposr}"  # the TripoSR runner: CPU torch on Python 3.11

log() { printf '\033[1;34m[jarvis]\033[0m %s\n' "$*" >&2; }
warn() { printf '\033[1;33m[jarvis] WARNING:\033[0m %s\n' "$*" >&2; }
die() { printf '\033[1;31m[jarvis] ERROR:\033[0m %s\n' "$*" >&2; exit 1; }

# HA 2026.2.3 needs Python >= 3.13.2. Prefer python3.14, then a 3.13 >= 3.13.2, then pyenv's 3.13.0
# (installed with --ignore-requires-python; HA's tests run fine on it). Sets PYTHON and PIP_EXTRA.
pick_python() {
  local cand ver
  local -a cands=()
  for cand in python3.14 python3.13; do
    command -v "$cand" >/dev/null 2>&1 && cands+=("$(command -v "$cand")")
  done
  if [ -n "${PYENV_ROOT:-}" ]; then
    for cand in "$PYENV_ROOT"/versions/3.14*/bin/python3 "$PYENV_ROOT"/versions/3.13*/bin/python3; do
      [ -x "$cand" ] && cands+=("$cand")
    done
  fi
  PYTHON="" ; PIP_EXTRA=() ; local best="" bestver=0
  for cand in "${cands[@]}"; do
    # pyenv shims exist without a matching version: ask the interpreter itself.
    ver=$("$cand" -c 'import sys; print("%d%02d%02d" % sys.version_info[:3])' 2>/dev/null) || continue
    [ "$ver" -ge 31300 ] || continue
    if [ "$ver" -gt "$bestver" ]; then best="$cand"; bestver="$ver"; fi
  done
  [ -n "$best" ] || die "no Python >= 3.13 found (need 3.14, or 3.13.2+, or pyenv's 3.13.0)"
  PYTHON="$best"
  if [ "$bestver" -lt 31302 ]; then
    warn "using $PYTHON ($("$PYTHON" -V 2>&1)), older than the 3.13.2 Home Assistant 2026.2.3 requires;"
    warn "installing with pip --ignore-requires-python (the test suite runs fine on it)."
    PIP_EXTRA=(--ignore-requires-python)
  fi
}

# OctoPrint 1.11 and Moonraker 0.11 want Python 3.12 or 3.11 (not 3.13). Sets PEER_PYTHON.
pick_peer_python() {
  local cand
  PEER_PYTHON=""
  # 3.12 first: some of OctoPrint's unpinned dependencies (Deprecated 1.3) use 3.12 syntax.
  for cand in python3.12 "${PYENV_ROOT:-/nonexistent}"/versions/3.12*/bin/python3 python3.11 "${PYENV_ROOT:-/nonexistent}"/versions/3.11*/bin/python3; do
    if command -v "$cand" >/dev/null 2>&1 && "$cand" -c 'import sys; assert sys.version_info[:2] in ((3, 12), (3, 11))' 2>/dev/null; then
      PEER_PYTHON=$(command -v "$cand"); return
    fi
  done
  die "no Python 3.12 or 3.11 found for OctoPrint/Moonraker (install one, e.g. with pyenv)"
}

# The only CPU torch wheel on this machine is for Python 3.11: prefer python3.11, then pyenv's 3.11.x.
# Sets PYTHON311 (empty when there is none).
pick_python311() {
  local cand
  PYTHON311=""
  for cand in "$(command -v python3.11 2>/dev/null || true)" "${PYENV_ROOT:-/nonexistent}"/versions/3.11*/bin/python3; do
    [ -n "$cand" ] && [ -x "$cand" ] || continue
    if "$cand" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' 2>/dev/null; then
      PYTHON311="$cand"; return
    fi
  done
}
