#!/usr/bin/env bash
# Benchmarks apply's database snapshot against taking one by hand, measured in the same run, on a
# fate_flow database shaped like FATE 1.4.0's (the five tables the upgrade touches) with ROWS rows
# in t_job (default 1,000,000) and as many in t_task:
#
#   bench/snapshot.sh [ROWS]
#
# Prints, for the median of 3 runs: `fate-upgrade snapshot` (what apply runs: mysqldump
# --single-transaction --routines --triggers, compressed in-process at gzip level 1, rows counted,
# SHA-256 taken); by hand `mysqldump … | gzip > file` (the KubeFATE guide's advice, gzip -6); and
# `mysqldump … > file` uncompressed; each with its size and as a ratio to the by-hand route.
# Uses the static release binary (scripts/release) unless FATE_UPGRADE_BIN names another.
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO"
source scripts/deps.sh
deps_install bc
ROWS=${1:-1000000}
RUNS=3

if [ -z "${FATE_UPGRADE_BIN:-}" ]; then
    scripts/release >&2
    BIN=$REPO/dist/$(cat dist/LATEST)/bin/fate-upgrade
else
    BIN=$FATE_UPGRADE_BIN
fi
DUMP=$(command -v mariadb-dump || command -v mysqldump)
CLIENT=$(command -v mariadb || command -v mysql)

WORK=$(mktemp -d /tmp/fate-upgrade-bench-db.XXXXXX)
SOCKET=$WORK/mysql.sock
cleanup() {
    [ -f "$WORK/mariadbd.pid" ] && kill "$(cat "$WORK/mariadbd.pid")" 2>/dev/null && sleep 2
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

user=()
[ "$(id -u)" -eq 0 ] && user=(--user=root)
mariadb-install-db --no-defaults --datadir="$WORK/data" "${user[@]}" --skip-test-db >"$WORK/install.log" 2>&1
mariadbd --no-defaults "${user[@]}" --datadir="$WORK/data" --socket="$SOCKET" --pid-file="$WORK/mariadbd.pid" \
    --skip-networking --skip-log-bin --innodb-buffer-pool-size=256M --innodb-log-file-size=256M \
    --innodb-flush-log-at-trx-commit=2 --log-error="$WORK/error.log" &
for _ in $(seq 300); do [ -S "$SOCKET" ] && "$CLIENT" -S "$SOCKET" -e 'select 1' >/dev/null 2>&1 && break; sleep 0.1; done
sql() { timeout 3600 "$CLIENT" -S "$SOCKET" "$@"; }

echo "loading fate_flow with $ROWS jobs and $ROWS tasks…" >&2
load_started=$(date +%s.%N)
sql <<'EOF'
CREATE DATABASE fate_flow DEFAULT CHARACTER SET utf8mb4;
USE fate_flow;
CREATE TABLE t_queue (f_job_id varchar(100) NOT NULL, f_event varchar(500) NOT NULL, f_is_waiting int NOT NULL,
  PRIMARY KEY (f_job_id)) ENGINE=InnoDB;
CREATE TABLE t_job (f_job_id varchar(25) NOT NULL, f_name varchar(500) NULL, f_description text NULL, f_tag varchar(50) NULL,
  f_role varchar(10) NOT NULL, f_party_id varchar(10) NOT NULL, f_roles text NOT NULL, f_work_mode int NOT NULL,
  f_initiator_party_id varchar(50) NOT NULL, f_is_initiator int NULL, f_dsl longtext NOT NULL, f_runtime_conf longtext NOT NULL,
  f_train_runtime_conf longtext NULL, f_run_ip varchar(100) NOT NULL, f_status varchar(50) NOT NULL,
  f_current_steps varchar(500) NULL, f_current_tasks varchar(500) NULL, f_progress int NULL, f_create_time bigint NOT NULL,
  f_update_time bigint NULL, f_start_time bigint NULL, f_end_time bigint NULL, f_elapsed bigint NULL,
  PRIMARY KEY (f_job_id, f_role, f_party_id), KEY t_job_f_tag (f_tag), KEY t_job_f_role (f_role),
  KEY t_job_f_party_id (f_party_id)) ENGINE=InnoDB;
CREATE TABLE t_task (f_job_id varchar(25) NOT NULL, f_component_name text NOT NULL, f_task_id varchar(100) NOT NULL,
  f_role varchar(10) NOT NULL, f_party_id varchar(10) NOT NULL, f_operator varchar(100) NULL, f_run_ip varchar(100) NULL,
  f_run_pid int NULL, f_status varchar(50) NOT NULL, f_create_time bigint NOT NULL, f_update_time bigint NULL,
  f_start_time bigint NULL, f_end_time bigint NULL, f_elapsed bigint NULL,
  PRIMARY KEY (f_job_id, f_task_id, f_role, f_party_id), KEY t_task_f_role (f_role)) ENGINE=InnoDB;
CREATE TABLE t_data_view (f_job_id varchar(25) NOT NULL, f_role varchar(10) NOT NULL, f_party_id varchar(10) NOT NULL,
  f_task_id varchar(100) NOT NULL, f_size bigint NOT NULL, PRIMARY KEY (f_job_id, f_task_id)) ENGINE=InnoDB;
CREATE TABLE t_machine_learning_model_meta (f_id bigint NOT NULL, f_role varchar(10) NOT NULL, f_party_id varchar(10) NOT NULL,
  f_job_id varchar(25) NOT NULL, f_model_id varchar(100) NOT NULL, PRIMARY KEY (f_id)) ENGINE=InnoDB;
EOF
# Rows as FATE writes them: JSON DSL and runtime configuration that vary per job.
sql fate_flow -e "
INSERT INTO t_job SELECT CONCAT('2020', LPAD(seq, 18, '0')), CONCAT('hetero_lr_', seq % 97), NULL, 'exp', 'guest', '9999',
  '{\"guest\": [9999], \"host\": [10000], \"arbiter\": [10000]}', 1, '9999', 1,
  CONCAT('{\"components\": {\"dataio_0\": {\"module\": \"DataIO\", \"input\": {\"data\": {\"data\": [\"args.train_data\"]}}, \"output\": {\"data\": [\"train\"], \"model\": [\"dataio\"]}}, \"hetero_lr_', seq % 13, '\": {\"module\": \"HeteroLR\", \"input\": {\"data\": {\"train_data\": [\"dataio_0.train\"]}}, \"output\": {\"data\": [\"train\"], \"model\": [\"hetero_lr\"]}}}}'),
  CONCAT('{\"initiator\": {\"role\": \"guest\", \"party_id\": 9999}, \"job_parameters\": {\"work_mode\": 1, \"job_id\": ', seq, '}, \"role\": {\"guest\": [9999], \"host\": [10000]}}'),
  NULL, '192.168.0.1:9380', IF(seq % 10 = 0, 'failed', 'success'), '[\"dataio_0\",\"hetero_lr_0\"]', NULL, 100,
  1598961600000 + seq * 1000, 1598962200000 + seq * 1000, 1598961601000 + seq * 1000, 1598962200000 + seq * 1000, 599000
FROM seq_1_to_${ROWS};
INSERT INTO t_task SELECT CONCAT('2020', LPAD(seq, 18, '0')), 'hetero_lr_0', CONCAT('2020', LPAD(seq, 18, '0'), '_hetero_lr_0'),
  'guest', '9999', NULL, '192.168.0.1', 4000 + seq % 30000, 'success', 1598961700000 + seq, 1598962200000 + seq,
  1598961701000 + seq, 1598962199000 + seq, 498000
FROM seq_1_to_${ROWS};
INSERT INTO t_queue SELECT CONCAT('2020', LPAD(seq, 18, '0')), '{\"initiator_role\": \"guest\"}', 0 FROM seq_1_to_1000;
INSERT INTO t_data_view SELECT CONCAT('2020', LPAD(seq, 18, '0')), 'guest', '9999', 'dataio_0', 4096 FROM seq_1_to_10000;
INSERT INTO t_machine_learning_model_meta SELECT seq, 'guest', '9999', CONCAT('2020', LPAD(seq, 18, '0')), 'model' FROM seq_1_to_10000;
ANALYZE TABLE t_job, t_task;"  >/dev/null
load_seconds=$(echo "$(date +%s.%N) - $load_started" | bc)
data_mb=$(sql -N -e "SELECT ROUND(SUM(data_length + index_length) / 1048576) FROM information_schema.tables WHERE table_schema = 'fate_flow'")

# measure NAME OUTPUT COMMAND…: median wall seconds of $RUNS runs, and the output's size.
declare -A WALL=() SIZE=()
measure() {
    local name=$1 output=$2; shift 2
    local samples=()
    for _ in $(seq $RUNS); do
        rm -f "$output"
        local started; started=$(date +%s.%N)
        "$@"
        samples+=("$(echo "$(date +%s.%N) - $started" | bc)")
    done
    WALL[$name]=$(printf '%s\n' "${samples[@]}" | sort -n | sed -n "$(( (RUNS + 1) / 2 ))p")
    SIZE[$name]=$(stat -c %s "$output")
}
DUMP_FLAGS=(--single-transaction --routines --triggers --no-tablespaces --hex-blob --default-character-set=utf8mb4)
measure "fate-upgrade snapshot" "$WORK/ours.sql.gz" \
    sh -c 'FATE_DB_PASS= "$1" snapshot --tool "$2" --socket "$3" --user root --output "$4" >/dev/null' sh "$BIN" "$DUMP" "$SOCKET" "$WORK/ours.sql.gz"
measure "mysqldump | gzip (by hand)" "$WORK/hand.sql.gz" \
    sh -c '"$1" -S "$2" --single-transaction --routines --triggers fate_flow | gzip > "$3"' sh "$DUMP" "$SOCKET" "$WORK/hand.sql.gz"
measure "mysqldump > file (no compression)" "$WORK/plain.sql" \
    sh -c '"$1" -S "$2" --single-transaction --routines --triggers fate_flow > "$3"' sh "$DUMP" "$SOCKET" "$WORK/plain.sql"

baseline=${WALL["mysqldump | gzip (by hand)"]}
printf '\nfate_flow: %s jobs, %s tasks, %s MiB of tables (loaded in %.0f s); median of %d runs\n\n' "$ROWS" "$ROWS" "$data_mb" "$load_seconds" "$RUNS"
printf '| %-36s | %9s | %9s | %11s |\n' "snapshot" "seconds" "MiB" "vs by hand"
printf '|%s|%s|%s|%s|\n' "--------------------------------------" "-----------" "-----------" "-------------"
for name in "fate-upgrade snapshot" "mysqldump | gzip (by hand)" "mysqldump > file (no compression)"; do
    printf '| %-36s | %9.2f | %9.1f | %10.2f× |\n' "$name" "${WALL[$name]}" "$(echo "${SIZE[$name]} / 1048576" | bc -l)" "$(echo "${WALL[$name]} / $baseline" | bc -l)"
done
