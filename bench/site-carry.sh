#!/usr/bin/env bash
# Benchmarks carrying a site into the new tree (`fate-upgrade confmigrate`: the three-way merge of
# its settings and the move of its models, jobs and logs) against the manual route's copy of the
# same data with tar, measured in the same run:
#
#   bench/site-carry.sh [DATA_MB ...]      (default: 256 1024)
#
# For each size it prints the median of 3 runs of confmigrate, of `tar cf - | tar xf -` of the data
# (the copy an operator makes by hand), and of `cp -a`, each as a ratio to tar. The site is a cluster
# site of FATE 1.4.0 (Tests/Fixtures/fate-release) with DATA_MB of models in files of 8 MiB, a
# thousand job folders and logs. Uses the static release binary unless FATE_UPGRADE_BIN names another.
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO"
SIZES=("$@")
[ ${#SIZES[@]} -gt 0 ] || SIZES=(256 1024)
RUNS=3
if [ -z "${FATE_UPGRADE_BIN:-}" ]; then
    scripts/release >&2
    BIN=$REPO/dist/$(cat dist/LATEST)/bin/fate-upgrade
else
    BIN=$FATE_UPGRADE_BIN
fi
WORK=$(mktemp -d /tmp/fate-upgrade-bench.XXXXXX)
trap 'rm -rf "$WORK"' EXIT

seconds() { local start=$(date +%s.%N); "$@" >/dev/null 2>&1; echo "$(date +%s.%N) - $start" | bc; }
median() { printf '%s\n' "$@" | sort -g | sed -n 2p; }

# One site: the new tree as 1.4.4 ships it, the backup a 1.4.0 cluster site holding the data (hard links to the seed).
site() {
    local root=$1 seed=$2
    rm -rf "$root" && mkdir -p "$root"
    cp -r Tests/Fixtures/fate-release/v1.4.4 "$root/python"
    cp -r Tests/Fixtures/fate-release/v1.4.0 "$root/python_20200901120000"
    chmod -R u+w "$root"
    sed -i -e 's/^work_mode: 0/work_mode: 1/' -e '0,/^  host: 127.0.0.1/s//  host: 192.168.0.1/' "$root/python_20200901120000/arch/conf/base_conf.yaml"
    sed -i -e 's/^MAX_CONCURRENT_JOB_RUN = 5$/MAX_CONCURRENT_JOB_RUN = 20/' "$root/python_20200901120000/fate_flow/settings.py"
    for item in model_local_cache jobs logs; do cp -al "$seed/$item" "$root/python_20200901120000/$item"; done
}

printf '%-8s %14s %10s %10s %14s %10s\n' "data" "confmigrate s" "tar s" "cp -a s" "confmigrate/tar" "cp/tar"
for mb in "${SIZES[@]}"; do
    seed=$WORK/seed-$mb
    mkdir -p "$seed/model_local_cache" "$seed/jobs" "$seed/logs/fate_flow"
    for ((i = 0; i < mb / 8; i++)); do head -c $((8 << 20)) /dev/urandom > "$seed/model_local_cache/model-$i.pb"; done
    for ((i = 0; i < 1000; i++)); do mkdir -p "$seed/jobs/job-$i" && echo '{"role": "guest"}' > "$seed/jobs/job-$i/job_runtime_conf.json"; done
    head -c $((4 << 20)) /dev/urandom | base64 > "$seed/logs/fate_flow/fate_flow_stat.log"
    carry=() tars=() cps=()
    for ((run = 0; run < RUNS; run++)); do
        site "$WORK/fate" "$seed"
        carry+=("$(seconds "$BIN" confmigrate --fate-root "$WORK/fate" --upgrade-package "$WORK/none" --model-store database)")
        [ -d "$WORK/fate/python/model_local_cache" ] || { echo "confmigrate did not move the models" >&2; exit 1; }
        site "$WORK/fate" "$seed"
        sync; mkdir -p "$WORK/copy-tar"
        tars+=("$(seconds sh -c "tar -C '$WORK/fate/python_20200901120000' -cf - model_local_cache jobs logs | tar -C '$WORK/copy-tar' -xf -")")
        rm -rf "$WORK/copy-tar"; mkdir -p "$WORK/copy-cp"
        cps+=("$(seconds cp -a "$WORK/fate/python_20200901120000/model_local_cache" "$WORK/fate/python_20200901120000/jobs" "$WORK/fate/python_20200901120000/logs" "$WORK/copy-cp/")")
        rm -rf "$WORK/copy-cp"
    done
    c=$(median "${carry[@]}") t=$(median "${tars[@]}") p=$(median "${cps[@]}")
    printf '%-8s %14.3f %10.3f %10.3f %14.4f %10.2f\n' "${mb}MiB" "$c" "$t" "$p" "$(echo "$c / $t" | bc -l)" "$(echo "$p / $t" | bc -l)"
    rm -rf "$seed"
done
