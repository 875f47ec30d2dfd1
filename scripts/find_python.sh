#!/usr/bin/env bash
# Print the path of a working Python interpreter of a given minor version range.
#
# usage: scripts/find_python.sh MIN_MINOR [MAX_MINOR]
#   scripts/find_python.sh 12      -> a Python 3.12 or newer (for the real icechunk 2.x wheel)
#   scripts/find_python.sh 11 11   -> a Python 3.11 (for icechunk 1.1.21)
#
# Candidates, in order: python3.MIN on PATH, then pyenv's python3.MIN (newest patch), then
# newer minors (newest first) from pyenv and PATH, then plain python3. Each candidate is run,
# since a pyenv shim can exist on PATH without a matching version being active.
set -euo pipefail

min=${1:?usage: find_python.sh MIN_MINOR [MAX_MINOR]}
max=${2:-99}
pyenv_root=${PYENV_ROOT:-$HOME/.pyenv}

ok() {  # ok PYTHON: true when PYTHON runs and is 3.min .. 3.max
    local minor
    minor=$("$1" -c 'import sys; print(sys.version_info[1] if sys.version_info[0] == 3 else -1)' \
        2>/dev/null) || return 1
    [[ $minor =~ ^[0-9]+$ ]] && ((minor >= min && minor <= max))
}

candidates=()
add_minor() {  # add_minor N: python3.N on PATH, then pyenv 3.N.* (newest patch first)
    local n=$1 dir
    if command -v "python3.$n" >/dev/null 2>&1; then
        candidates+=("$(command -v "python3.$n")")
    fi
    if [[ -d $pyenv_root/versions ]]; then
        while IFS= read -r dir; do
            [[ -n $dir ]] && candidates+=("$dir/bin/python")
        done < <(find "$pyenv_root/versions" -maxdepth 1 -name "3.$n.*" 2>/dev/null | sort -rV)
    fi
}

add_minor "$min"
top=$((max < 20 ? max : 20))
for ((n = top; n > min; n--)); do
    add_minor "$n"
done
candidates+=(python3)

for candidate in "${candidates[@]}"; do
    # Skip pyenv pre-releases and free-threaded builds (e.g. 3.13.0t): no wheels for them.
    [[ $candidate == *t/bin/python || $candidate == *[a-z]?/bin/python ]] && continue
    if ok "$candidate"; then
        command -v "$candidate"
        exit 0
    fi
done

range="3.$min or newer"
[[ $max != 99 ]] && range="3.$min..3.$max"
echo "find_python.sh: no working Python $range found." >&2
echo "  Looked for python3.$min on PATH and under $pyenv_root/versions." >&2
echo "  Install one (e.g. 'pyenv install 3.$min') and re-run make." >&2
exit 1
