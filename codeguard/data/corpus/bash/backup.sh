#!/usr/bin/env bash
#
# backup.sh - rotate compressed backups of one or more directories.
#
# Usage: backup.sh [-k KEEP] [-d DEST] [-n] [-v] DIR...

set -euo pipefail

readonly SCRIPT_NAME="${0##*/}"
readonly DEFAULT_DEST="${BACKUP_DEST:-/var/backups}"

KEEP=7
DEST="$DEFAULT_DEST"
DRY_RUN=0
VERBOSE=0
declare -a SOURCES=()

# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() {
    cat <<USAGE
Usage: $SCRIPT_NAME [options] DIR...

Options:
  -k KEEP   number of archives to keep per directory (default: $KEEP)
  -d DEST   destination directory (default: $DEFAULT_DEST)
  -n        dry run: print what would be done
  -v        verbose output
  -h        show this help
USAGE
}

parse_args() {
    local opt
    while getopts ":k:d:nvh" opt; do
        case "$opt" in
            k)
                if [[ ! "$OPTARG" =~ ^[0-9]+$ ]] || (( OPTARG < 1 )); then
                    die "KEEP must be a positive integer, got '$OPTARG'"
                fi
                KEEP="$OPTARG"
                ;;
            d) DEST="$OPTARG" ;;
            n) DRY_RUN=1 ;;
            v) VERBOSE=1 ;;
            h)
                usage
                exit 0
                ;;
            :) die "option -$OPTARG requires an argument" ;;
            \?) die "unknown option -$OPTARG" ;;
        esac
    done
    shift $((OPTIND - 1))

    if (( $# == 0 )); then
        usage >&2
        exit 2
    fi
    SOURCES=("$@")
}

run() {
    if (( DRY_RUN )); then
        printf '[dry-run] %s\n' "$*"
    else
        (( VERBOSE )) && log_debug "running: $*"
        "$@"
    fi
}

archive_dir() {
    local src="$1"
    local name stamp target
    name="$(basename "$(realpath "$src")")"
    stamp="$(date +%Y%m%d-%H%M%S)"
    target="$DEST/${name}-${stamp}.tar.gz"

    if [[ ! -d "$src" ]]; then
        log_warn "skipping '$src': not a directory"
        return 1
    fi

    log_info "archiving $src -> $target"
    run tar --create --gzip --file "$target" \
        --exclude='*.tmp' --exclude='.cache' \
        --directory "$(dirname "$src")" "$name"

    rotate "$name"
}

rotate() {
    local name="$1"
    local -a archives
    mapfile -t archives < <(ls -1t "$DEST/${name}"-*.tar.gz 2>/dev/null || true)

    local count=${#archives[@]}
    if (( count <= KEEP )); then
        log_debug "$name: $count archive(s), nothing to rotate"
        return 0
    fi

    local old
    for old in "${archives[@]:KEEP}"; do
        log_info "removing old archive ${old##*/}"
        run rm -f -- "$old"
    done
}

main() {
    parse_args "$@"
    require_cmd tar gzip realpath

    [[ -d "$DEST" ]] || run mkdir -p "$DEST"

    local failures=0 dir
    for dir in "${SOURCES[@]}"; do
        if ! archive_dir "$dir"; then
            failures=$((failures + 1))
        fi
    done

    if (( failures > 0 )); then
        log_error "$failures of ${#SOURCES[@]} backup(s) failed"
        exit 1
    fi
    log_info "all backups completed"
}

main "$@"
