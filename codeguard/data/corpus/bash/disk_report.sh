#!/usr/bin/env bash
# disk_report.sh - summarise disk usage per file extension under a directory.
#
#   disk_report.sh [-t TOP] [DIR]

set -o errexit -o nounset -o pipefail

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

top=10
while getopts "t:" flag; do
    case $flag in
        t) top=$OPTARG ;;
        *) die "usage: ${0##*/} [-t TOP] [DIR]" ;;
    esac
done
shift $(( OPTIND - 1 ))
root="${1:-.}"

[[ -d $root ]] || die "not a directory: $root"

declare -A bytes=() files=()
total=0

while IFS= read -r -d '' path; do
    size=$(stat -c %s -- "$path" 2>/dev/null) || continue
    base="${path##*/}"
    if [[ $base == *.* && $base != .* ]]; then
        ext="${base##*.}"
        ext="${ext,,}"
    else
        ext="(none)"
    fi
    bytes[$ext]=$(( ${bytes[$ext]:-0} + size ))
    files[$ext]=$(( ${files[$ext]:-0} + 1 ))
    total=$(( total + size ))
done < <(find "$root" -type f -not -path '*/.git/*' -print0)

if (( total == 0 )); then
    log_warn "no files found under $root"
    exit 0
fi

human() {
    local n=$1 unit
    for unit in B KiB MiB GiB TiB; do
        if (( n < 1024 )) || [[ $unit == TiB ]]; then
            printf '%d %s' "$n" "$unit"
            return
        fi
        n=$(( n / 1024 ))
    done
}

printf '%-12s %8s %12s %6s\n' EXT FILES SIZE SHARE
for ext in "${!bytes[@]}"; do
    printf '%s\t%s\n' "${bytes[$ext]}" "$ext"
done | sort -rn | head -n "$top" | while IFS=$'\t' read -r size ext; do
    share=$(( size * 100 / total ))
    printf '%-12s %8d %12s %5d%%\n' "$ext" "${files[$ext]}" "$(human "$size")" "$share"
done
printf 'total: %s in %d extension(s)\n' "$(human "$total")" "${#bytes[@]}"
