#!/bin/bash
set -euo pipefail

################################  请根据实际情况修改以下参数  ################################
FATE_ROOT=/data/projects/fate
DB_USER=root
DB_PASS=fate_dev
MYSQL_ROOT=$FATE_ROOT/common/mysql/mysql-8.0.13
MYSQL_SOCKET_PATH=$MYSQL_ROOT/run/mysql.sock
# 原部署方式（需从allinone和ansible中进行选择修改）
DEPLOY_METHOD=allinone
# 如果部署方式为ansible的情况下，还需指定ansible安装的supervisor根目录
SUPERVISOR_ROOT=/data/projects/common/supervisord
################################  以上请根据实际情况修改参数  ################################

FATE_PYTHON_ROOT=$FATE_ROOT/python
SCRIPT_PATH=$(dirname $(readlink -f "$0"))
PYTHON_PACKAGE_PATH=$SCRIPT_PATH/python.tar.gz
export PYTHONPATH=$FATE_PYTHON_ROOT
CURDATE=`date -d today +"%Y%m%d%H%M%S"`

check_deploy_method() {
    if [ "$DEPLOY_METHOD" != "allinone" ] && [ "$DEPLOY_METHOD" != "ansible" ]; then
        echo "ERROR: deploy method must be allinone or ansible. Upgrade process aborting."
        exit 1
    fi
    echo "INFO: deploy method is $DEPLOY_METHOD"
}

case "$1" in
    all)
        check_deploy_method
        echo "INFO: Upgrading process finished."
        ;;
    *)
        echo "Usage: bash upgrade.sh all"
        exit 1
        ;;
esac
