#!/usr/bin/env bash
# Benchmark `fate-upgrade pack` against the manual route from the upgrade guide
# (untar, edit upgrade_script.sh with sed, re-tar) and against plain gzip baselines.
#
#   bench/pack.sh [SIZE_MB]      (default 200)
#
# Builds the release product, generates a fixture package with about SIZE_MB MiB
# of bulk (Tests/Fixtures/make_upgrade_package.py --bulk-mb SIZE_MB) in a temp
# folder under /tmp, runs every measurement 3 times and prints the medians as a
# Markdown table. Set SKIP_BUILD=1 to reuse an existing .build/release/fate-upgrade,
# or FATE_UPGRADE_BIN=/path/to/fate-upgrade to benchmark another binary (no build).
set -euo pipefail

SIZE_MB=${1:-200}
RUNS=3
case "$SIZE_MB" in
    ''|*[!0-9]*) echo "usage: bench/pack.sh [SIZE_MB]" >&2; exit 2 ;;
esac

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO"

if [ ! -x /usr/bin/time ]; then
    echo "installing GNU time (Debian package 'time')..." >&2
    SUDO=""
    [ "$(id -u)" -ne 0 ] && SUDO=sudo
    $SUDO apt-get update -qq >&2 && $SUDO apt-get install -y -qq time >&2
fi

if [ -z "${FATE_UPGRADE_BIN:-}" ] && [ "${SKIP_BUILD:-0}" != 1 ]; then
    echo "building release product..." >&2
    swift build -c release --product fate-upgrade >&2
fi
BIN=${FATE_UPGRADE_BIN:-$REPO/.build/release/fate-upgrade}
[ -x "$BIN" ] || { echo "missing $BIN" >&2; exit 1; }

WORK=$(mktemp -d /tmp/fate-upgrade-bench.XXXXXX)
cleanup() { rm -rf "$WORK"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

INPUT=$WORK/upgrade_1_4_0-1_4_4.tar.gz
OUT_TOOL=$WORK/out_tool.tar.gz
OUT_MANUAL=$WORK/out_manual.tar.gz
MANUAL_DIR=$WORK/manual
TIMEFILE=$WORK/time.txt

echo "generating fixture with --bulk-mb $SIZE_MB..." >&2
python3 Tests/Fixtures/make_upgrade_package.py "$INPUT" --bulk-mb "$SIZE_MB"

SED_ARGS="-e 's|^FATE_ROOT=.*|FATE_ROOT=/opt/fate|' -e 's|^DB_USER=.*|DB_USER=fate_admin|' -e 's|^DB_PASS=.*|DB_PASS=s3cret|'"
SCRIPT_IN_DIR=$MANUAL_DIR/upgrade_package/upgrade_script.sh

# timed CMD... : runs CMD under GNU time, appends "wall_s rss_kib" to $SAMPLES.
# GNU time reports %M from the wait4() rusage of the process it started; for a
# process tree (bash -c '... && ... | ...') that is the peak RSS of the single
# largest process in the tree (ru_maxrss of waited-for children is a max, not a
# sum), so pipelines whose stages run concurrently are under-reported.
timed() {
    /usr/bin/time -f '%e %M' -o "$TIMEFILE" "$@" >/dev/null
    tail -n 1 "$TIMEFILE" >>"$SAMPLES"
}

median_col() {  # median_col FILE COLUMN
    awk -v c="$2" '{print $c}' "$1" | sort -g | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'
}

declare -a ROUTES=()
declare -A WALL=() RSS=()
record() {  # record NAME  (reads $SAMPLES)
    ROUTES+=("$1")
    WALL[$1]=$(median_col "$SAMPLES" 1)
    RSS[$1]=$(median_col "$SAMPLES" 2)
}

fresh_manual_dir() { rm -rf "$MANUAL_DIR"; mkdir -p "$MANUAL_DIR"; }

# a. fate-upgrade pack
SAMPLES=$WORK/s_tool; : >"$SAMPLES"
for _ in $(seq $RUNS); do
    timed env FATE_DB_PASS=s3cret "$BIN" pack "$INPUT" -o "$OUT_TOOL" \
        --set FATE_ROOT=/opt/fate --set DB_USER=fate_admin --force
done
record "fate-upgrade pack"

# b. manual route, as one sequence
SAMPLES=$WORK/s_manual; : >"$SAMPLES"
for _ in $(seq $RUNS); do
    fresh_manual_dir
    timed bash -c "tar xzf '$INPUT' -C '$MANUAL_DIR' && sed -i $SED_ARGS '$SCRIPT_IN_DIR' && tar czf '$OUT_MANUAL' -C '$MANUAL_DIR' upgrade_package"
done
record "manual: tar xzf + sed -i + tar czf"

# b'. manual route, step by step
S1=$WORK/s_x; S2=$WORK/s_sed; S3=$WORK/s_c; : >"$S1"; : >"$S2"; : >"$S3"
for _ in $(seq $RUNS); do
    fresh_manual_dir
    SAMPLES=$S1 timed tar xzf "$INPUT" -C "$MANUAL_DIR"
    SAMPLES=$S2 timed bash -c "sed -i $SED_ARGS '$SCRIPT_IN_DIR'"
    SAMPLES=$S3 timed tar czf "$OUT_MANUAL" -C "$MANUAL_DIR" upgrade_package
done
SAMPLES=$S1 record "manual step 1: tar xzf"
SAMPLES=$S2 record "manual step 2: sed -i"
SAMPLES=$S3 record "manual step 3: tar czf"

# c. baselines
SAMPLES=$WORK/s_gunzip; : >"$SAMPLES"
for _ in $(seq $RUNS); do
    timed bash -c "gzip -dc '$INPUT' > /dev/null"
done
record "baseline: gzip -dc"

SAMPLES=$WORK/s_regzip; : >"$SAMPLES"
for _ in $(seq $RUNS); do
    timed bash -c "gzip -dc '$INPUT' | gzip -6 > /dev/null"
done
record "baseline: gzip -dc | gzip -6"

mib() { awk -v b="$(stat -c %s "$1")" 'BEGIN {printf "%.2f", b/1048576}'; }

MANUAL_WALL=${WALL["manual: tar xzf + sed -i + tar czf"]}
echo
echo "fixture: --bulk-mb $SIZE_MB; input $(mib "$INPUT") MiB; output: fate-upgrade $(mib "$OUT_TOOL") MiB, manual $(mib "$OUT_MANUAL") MiB; median of $RUNS runs"
echo
echo "| route | wall s | peak RSS MiB | wall ratio vs manual |"
echo "|---|---:|---:|---:|"
for r in "${ROUTES[@]}"; do
    awk -v r="$r" -v w="${WALL[$r]}" -v m="${RSS[$r]}" -v base="$MANUAL_WALL" 'BEGIN {
        gsub(/\|/, "\\|", r)   # a literal | would split the Markdown cell
        ratio = (base > 0) ? sprintf("%.2f", w / base) : "n/a"
        printf "| %s | %.2f | %.1f | %s |\n", r, w, m / 1024, ratio }'
done
echo

if diff <(tar tzf "$OUT_TOOL" | sort) <(tar tzf "$OUT_MANUAL" | sort) >"$WORK/names.diff"; then
    echo "member names (fate-upgrade vs manual): OK"
else
    echo "member names (fate-upgrade vs manual): FAIL"
    head -n 20 "$WORK/names.diff"
fi
if cmp -s <(tar xzOf "$OUT_TOOL" upgrade_package/upgrade_script.sh) \
          <(tar xzOf "$OUT_MANUAL" upgrade_package/upgrade_script.sh); then
    echo "upgrade_script.sh (fate-upgrade vs manual): identical"
else
    echo "upgrade_script.sh (fate-upgrade vs manual): differs (informational)"
fi
