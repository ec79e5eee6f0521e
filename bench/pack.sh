#!/usr/bin/env bash
# Benchmarks `fate-upgrade pack` and apply's extraction against the obvious baselines, measured in
# the same run, on packages shaped like the real one (the script, a nested python tarball, mostly
# already-compressed dependencies, small text files):
#
#   bench/pack.sh [SIZE_MB ...]      (default: 130 1024)
#
# For each size it prints the median of 3 runs: pack; the manual route (tar xzf + sed + tar czf);
# bsdtar -czf new @old (copies without editing); gzip -dc and pigz -dc of the input (reading it
# once); each as a ratio to gzip -dc; the output size against tar czf of the same tree; peak RSS;
# and apply's extraction (`fate-upgrade extract`: check every entry, then extract) against tar xzf.
# Uses the static release binary (scripts/release) unless FATE_UPGRADE_BIN names another.
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO"
source scripts/deps.sh
deps_install time pigz libarchive-tools
SIZES=("$@")
[ ${#SIZES[@]} -gt 0 ] || SIZES=(130 1024)
RUNS=3

if [ -z "${FATE_UPGRADE_BIN:-}" ]; then
    scripts/release >&2
    BIN=$REPO/dist/$(cat dist/LATEST)/bin/fate-upgrade
else
    BIN=$FATE_UPGRADE_BIN
fi

WORK=$(mktemp -d /tmp/fate-upgrade-bench.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
trap 'exit 130' INT TERM
TIMEFILE=$WORK/time

# measure NAME COMMAND: median wall seconds and peak RSS (KiB, of the largest process) over $RUNS runs.
declare -A WALL=() RSS=()
measure() {
    local name=$1; shift
    local samples=$WORK/samples; : >"$samples"
    for _ in $(seq $RUNS); do
        rm -rf "$WORK/x" "$WORK/out.tar.gz" "$WORK/out.tar.gz.sha256"; mkdir -p "$WORK/x"
        sync
        /usr/bin/time -f '%e %M' -o "$TIMEFILE" bash -c "$*" >/dev/null 2>&1
        tail -n 1 "$TIMEFILE" >>"$samples"
    done
    WALL[$name]=$(awk '{print $1}' "$samples" | sort -g | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}')
    RSS[$name]=$(awk '{print $2}' "$samples" | sort -g | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}')
}

for size in "${SIZES[@]}"; do
    INPUT=$WORK/upgrade_1_4_0-1_4_4.tar.gz
    echo "generating a package with --bulk-mb $size..." >&2
    python3 Tests/Fixtures/make_upgrade_package.py "$INPUT" --bulk-mb "$size"
    SED="-e 's|^FATE_ROOT=.*|FATE_ROOT=/opt/fate|' -e 's|^DB_PASS=.*|DB_PASS=s3cret|'"
    ROUTES=("fate-upgrade pack" "manual: tar xzf + sed + tar czf" "bsdtar -czf new @old" "gzip -dc" "pigz -dc")
    measure "fate-upgrade pack" "FATE_DB_PASS=s3cret '$BIN' pack '$INPUT' -o '$WORK/out.tar.gz' --set FATE_ROOT=/opt/fate"
    measure "manual: tar xzf + sed + tar czf" "tar xzf '$INPUT' -C '$WORK/x' && sed -i $SED '$WORK/x/upgrade_package/upgrade_script.sh' && tar czf '$WORK/out.tar.gz' -C '$WORK/x' upgrade_package"
    measure "bsdtar -czf new @old" "bsdtar -czf '$WORK/out.tar.gz' @'$INPUT'"
    measure "gzip -dc" "gzip -dc '$INPUT' > /dev/null"
    measure "pigz -dc" "pigz -dc '$INPUT' > /dev/null"
    measure "apply's extraction (fate-upgrade extract)" "'$BIN' extract '$INPUT' --into '$WORK/x/e'"
    measure "tar xzf" "tar xzf '$INPUT' -C '$WORK/x'"

    # Sizes: pack's output against tar czf of the tree it holds.
    FATE_DB_PASS=s3cret "$BIN" pack "$INPUT" -o "$WORK/packed.tar.gz" --set FATE_ROOT=/opt/fate --force >/dev/null
    rm -rf "$WORK/tree"; mkdir -p "$WORK/tree"; tar xzf "$WORK/packed.tar.gz" -C "$WORK/tree"
    tar czf "$WORK/reference.tar.gz" -C "$WORK/tree" upgrade_package
    packed=$(stat -c %s "$WORK/packed.tar.gz"); reference=$(stat -c %s "$WORK/reference.tar.gz")
    gunzip=${WALL["gzip -dc"]}

    echo
    echo "### --bulk-mb $size: input $(awk -v b="$(stat -c %s "$INPUT")" 'BEGIN {printf "%.1f", b/1048576}') MiB, median of $RUNS runs"
    echo
    echo "| route | wall s | ÷ gzip -dc | peak RSS MiB |"
    echo "|---|---:|---:|---:|"
    for r in "${ROUTES[@]}" "apply's extraction (fate-upgrade extract)" "tar xzf"; do
        awk -v r="$r" -v w="${WALL[$r]}" -v m="${RSS[$r]}" -v g="$gunzip" 'BEGIN {
            printf "| %s | %.2f | %.2f | %.1f |\n", r, w, (g > 0 ? w / g : 0), m / 1024 }'
    done
    echo
    awk -v p="$packed" -v r="$reference" -v w="${WALL["fate-upgrade pack"]}" -v g="$gunzip" -v e="${WALL["apply's extraction (fate-upgrade extract)"]}" -v t="${WALL["tar xzf"]}" 'BEGIN {
        printf "pack ÷ gzip -dc: %.2f (goal ≤ 2); output ÷ tar czf: %.4f (goal ≤ 1.01); extraction ÷ tar xzf: %.2f\n", w / g, p / r, e / t }'
    rm -f "$INPUT" "$WORK/packed.tar.gz" "$WORK/reference.tar.gz"; rm -rf "$WORK/tree" "$WORK/x"
done
