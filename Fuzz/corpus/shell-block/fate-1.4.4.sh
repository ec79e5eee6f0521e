#!/bin/bash

# FATE v1.4.0 - v1.4.4 upgrade script
################################  请根据实际情况修改以下参数  ################################
FATE_ROOT=/data/projects/fate
FATE_FLOW_ROOT=/data/projects/fate/python/fate_flow
PYTHON_PACKAGE_PATH=~/upgrade_package/upgrade_python_package.tar.gz
DB_USER=root
DB_PASS=fate_dev
MYSQL_ROOT=$FATE_ROOT/common/mysql/mysql-8.0.13
MYSQL_SOCKET_PATH=$MYSQL_ROOT/run/mysql.sock
# allinone or ansible
DEPLOY_METHOD=allinone
# only needed when DEPLOY_METHOD=ansible
SUPERVISOR_ROOT=/data/projects/common/supervisord
################################  以上请根据实际情况修改参数  ################################

# Shaped as FATE writes these scripts (the published 1.5.0→1.5.1 upgrade.sh): bash with
# `set -euo pipefail` (it dies at once under dash), `function`, the password passed unquoted on
# the mysql command line, `INFO:` lines, `ERROR: <what>. Upgrade process aborting.` and exit 1 on
# failure, and a finished line per component.
set -euo pipefail

FATE_PYTHON_ROOT=$FATE_ROOT/python
SCRIPT_PATH=$(dirname $(readlink -f "$0"))
SQL_PATH=$SCRIPT_PATH/sql
CURDATE=`date -d today +"%Y%m%d%H%M%S"`
export FATE_ROOT FATE_PYTHON_ROOT

function abort() {
    echo "ERROR: $1. Upgrade process aborting."
    exit 1
}

function check_deploy_method() {
    echo "INFO: Checking deploy method: $DEPLOY_METHOD"
    if [[ "$DEPLOY_METHOD" == "ansible" ]]; then
        if [[ ! -f "$SUPERVISOR_ROOT/service.sh" ]]; then
            abort "Supervisor service script $SUPERVISOR_ROOT/service.sh not found"
        fi
    elif [[ "$DEPLOY_METHOD" != "allinone" ]]; then
        abort "Deploy method must be allinone or ansible, got '$DEPLOY_METHOD'"
    fi
    echo "INFO: Deploy method check passed."
}

function check_fate_root() {
    echo "INFO: Checking FATE root directory: $FATE_ROOT"
    if [[ ! -d "$FATE_ROOT" ]]; then
        abort "FATE root directory $FATE_ROOT does not exist"
    fi
    echo "INFO: FATE root directory check passed."
}

function check_python_package() {
    echo "INFO: Checking python package: $PYTHON_PACKAGE_PATH"
    if [[ ! -f "$PYTHON_PACKAGE_PATH" ]]; then
        abort "Python package $PYTHON_PACKAGE_PATH does not exist"
    fi
    echo "INFO: Python package check passed."
}

function check_fate_flow_root() {
    echo "INFO: Checking FATE Flow root directory: $FATE_FLOW_ROOT"
    if [[ ! -d "$FATE_FLOW_ROOT" ]]; then
        abort "FATE Flow root directory $FATE_FLOW_ROOT does not exist"
    fi
    echo "INFO: FATE Flow root directory check passed."
}

function check_mysql() {
    echo "INFO: Checking MySQL root directory: $MYSQL_ROOT"
    if [[ ! -d "$MYSQL_ROOT" ]]; then
        abort "MySQL root directory $MYSQL_ROOT does not exist"
    fi
    echo "INFO: Checking MySQL connection through socket $MYSQL_SOCKET_PATH"
    if ! $MYSQL_ROOT/bin/mysql -u$DB_USER -p$DB_PASS -S $MYSQL_SOCKET_PATH -e "select 'x';" > /dev/null 2>&1; then
        abort "Cannot connect to MySQL as $DB_USER via $MYSQL_SOCKET_PATH"
    fi
    echo "INFO: MySQL check passed."
}

function fate_flow_service() {
    # $1: stop|start
    echo "INFO: Trying to $1 fate_flow service ($DEPLOY_METHOD)."
    if [[ "$DEPLOY_METHOD" == "allinone" ]]; then
        bash $FATE_PYTHON_ROOT/fate_flow/service.sh $1
    else
        bash $SUPERVISOR_ROOT/service.sh $1 fate-fateflow
    fi
}

function upgrade_mysql() {
    for sql_file in $SQL_PATH/upgrade_1_4_0-1_4_1.sql $SQL_PATH/upgrade_1_4_1-1_4_2.sql; do
        if [[ ! -f $sql_file ]]; then
            abort "SQL file $sql_file not found"
        fi
        echo "INFO: Applying $(basename $sql_file)"
        $MYSQL_ROOT/bin/mysql -u$DB_USER -p$DB_PASS -S $MYSQL_SOCKET_PATH < $sql_file || abort "Applying $sql_file failed"
    done
}

function upgrade_fatepython() {
    fate_flow_service stop
    echo "INFO: Backing up $FATE_PYTHON_ROOT to $FATE_ROOT/python_$CURDATE"
    mv $FATE_PYTHON_ROOT $FATE_ROOT/python_$CURDATE
    echo "INFO: Unpacking $PYTHON_PACKAGE_PATH into $FATE_ROOT"
    tar zxf $PYTHON_PACKAGE_PATH -C $FATE_ROOT
    fate_flow_service start
}

function upgrade_fateflow() {
    fate_flow_service stop
    unpack_dir=$SCRIPT_PATH/python_package_$CURDATE
    mkdir -p $unpack_dir
    tar zxf $PYTHON_PACKAGE_PATH -C $unpack_dir
    echo "INFO: Backing up $FATE_FLOW_ROOT to ${FATE_FLOW_ROOT}_$CURDATE"
    mv $FATE_FLOW_ROOT ${FATE_FLOW_ROOT}_$CURDATE
    cp -r $unpack_dir/python/fate_flow $FATE_FLOW_ROOT
    rm -rf $unpack_dir
    fate_flow_service start
}

case "${1:-}" in
    all)
        check_deploy_method
        check_fate_root
        check_python_package
        check_mysql
        upgrade_mysql
        upgrade_fatepython
        echo "INFO: Upgrading process finished."
        ;;
    mysql)
        check_mysql
        upgrade_mysql
        echo "INFO: Upgrading mysql process finished."
        ;;
    fatepython)
        check_deploy_method
        check_fate_root
        check_python_package
        upgrade_fatepython
        echo "INFO: Upgrading fate python process finished."
        ;;
    fateflow)
        check_deploy_method
        check_fate_flow_root
        check_python_package
        upgrade_fateflow
        echo "INFO: Upgrading fate flow process finished."
        ;;
    *)
        echo "Usage: sh upgrade_script.sh all|mysql|fatepython|fateflow"
        exit 1
        ;;
esac
