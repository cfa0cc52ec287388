#!/usr/bin/env bash
# lib.sh - shared helpers for logging, locking and dependency checks.
# Source this file; do not execute it.

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
    echo "lib.sh is a library; source it instead" >&2
    exit 1
fi

# Colours only when stderr is a terminal.
if [[ -t 2 ]]; then
    _RED=$'\033[31m'
    _YELLOW=$'\033[33m'
    _DIM=$'\033[2m'
    _RESET=$'\033[0m'
else
    _RED='' _YELLOW='' _DIM='' _RESET=''
fi

LOG_LEVEL="${LOG_LEVEL:-info}"

_level_num() {
    case "$1" in
        debug) echo 10 ;;
        info) echo 20 ;;
        warn) echo 30 ;;
        error) echo 40 ;;
        *) echo 20 ;;
    esac
}

_log() {
    local level="$1"
    shift
    if (( $(_level_num "$level") < $(_level_num "$LOG_LEVEL") )); then
        return 0
    fi
    local colour=""
    case "$level" in
        warn) colour="$_YELLOW" ;;
        error) colour="$_RED" ;;
        debug) colour="$_DIM" ;;
    esac
    printf '%s%s [%-5s] %s%s\n' "$colour" "$(date '+%H:%M:%S')" "$level" "$*" "$_RESET" >&2
}

log_debug() { _log debug "$@"; }
log_info() { _log info "$@"; }
log_warn() { _log warn "$@"; }
log_error() { _log error "$@"; }

die() {
    log_error "$@"
    exit 1
}

require_cmd() {
    local cmd missing=()
    for cmd in "$@"; do
        command -v "$cmd" >/dev/null 2>&1 || missing+=("$cmd")
    done
    if (( ${#missing[@]} > 0 )); then
        die "missing required command(s): ${missing[*]}"
    fi
}

# with_lock FILE CMD... - run CMD while holding an exclusive lock on FILE.
with_lock() {
    local lockfile="$1"
    shift
    exec {fd}>"$lockfile" || return 1
    if ! flock -n "$fd"; then
        log_warn "another instance holds $lockfile"
        return 75
    fi
    "$@"
    local status=$?
    flock -u "$fd"
    exec {fd}>&-
    return "$status"
}

# retry N CMD... - run CMD up to N times with exponential back-off.
retry() {
    local attempts="$1" delay=1 i
    shift
    for (( i = 1; i <= attempts; i++ )); do
        if "$@"; then
            return 0
        fi
        if (( i < attempts )); then
            log_warn "attempt $i/$attempts failed; retrying in ${delay}s"
            sleep "$delay"
            delay=$(( delay * 2 ))
        fi
    done
    return 1
}

# Cleanup handlers run in reverse order on exit.
declare -a _CLEANUP=()

on_exit() {
    _CLEANUP+=("$*")
}

_run_cleanup() {
    local i
    for (( i = ${#_CLEANUP[@]} - 1; i >= 0; i-- )); do
        eval "${_CLEANUP[i]}" || true
    done
}
trap _run_cleanup EXIT

# make_temp_dir VAR [PREFIX] - create a temp dir, store its path in VAR and
# remove it on exit. (Not usable via $(...): that would run in a subshell.)
make_temp_dir() {
    local -n _out="$1"
    _out="$(mktemp -d "${TMPDIR:-/tmp}/${2:-work}.XXXXXX")"
    on_exit rm -rf -- "$_out"
}
