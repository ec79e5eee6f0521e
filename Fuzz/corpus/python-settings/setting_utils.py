#
#  Copyright 2019 The FATE Authors. All Rights Reserved.
#
#  Licensed under the Apache License, Version 2.0 (the "License");
#  you may not use this file except in compliance with the License.
#  You may obtain a copy of the License at
#
#      http://www.apache.org/licenses/LICENSE-2.0
#
#  Unless required by applicable law or agreed to in writing, software
#  distributed under the License is distributed on an "AS IS" BASIS,
#  WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
#  See the License for the specific language governing permissions and
#  limitations under the License.
#
import json
import os
from urllib import parse

from kazoo.client import KazooClient
from kazoo.security import make_digest_acl

from arch.api.utils import file_utils
from arch.api.utils.core_utils import get_lan_ip
from fate_flow.settings import USE_CONFIGURATION_CENTER, ZOOKEEPER_HOSTS, SERVINGS_ZK_PATH, \
    FATE_FLOW_ZK_PATH, HTTP_PORT, FATE_FLOW_MODEL_TRANSFER_PATH, stat_logger


class CenterConfig(object):
    SERVERS = None
    USE_ACL = False
    ZK_USERNAME = 'fate'
    ZK_PASSWORD = 'fate'

    @staticmethod
    def get_settings(path, servings_zk_path=None, use_zk=False, hosts=None, server_conf_path=''):
        """
        :param path: key of the servers in server_conf.json
        :param servings_zk_path: zookeeper path of the serving providers
        :param use_zk: read from the configuration center instead of the file
        :param hosts: zookeeper hosts
        :param server_conf_path: server_conf.json
        :return: the list of servers
        """
        if servings_zk_path and use_zk:
            if CenterConfig.USE_ACL:
                default_acl = make_digest_acl(CenterConfig.ZK_USERNAME, CenterConfig.ZK_PASSWORD, all=True)
                zk = KazooClient(hosts=hosts, default_acl=[default_acl], auth_data=[("digest", "{}:{}".format(
                    CenterConfig.ZK_USERNAME, CenterConfig.ZK_PASSWORD))])
            else:
                zk = KazooClient(hosts=hosts)
            zk.start()
            nodes = zk.get_children(servings_zk_path)
            CenterConfig.SERVERS = nodes_unquote(nodes)
            zk.stop()
            return CenterConfig.SERVERS
        server_conf = file_utils.load_json_conf(server_conf_path)
        return server_conf.get(path)

    @staticmethod
    def init(hosts, use_configuation_center, fate_flow_zk_path, fate_flow_port, model_transfer_path):
        if use_configuation_center:
            USE_ACL = True if os.environ.get('FATE_ZK_USE_ACL') else CenterConfig.USE_ACL
            if USE_ACL:
                default_acl = make_digest_acl(CenterConfig.ZK_USERNAME, CenterConfig.ZK_PASSWORD, all=True)
                zk = KazooClient(hosts=hosts, default_acl=[default_acl], auth_data=[("digest", "{}:{}".format(
                    CenterConfig.ZK_USERNAME, CenterConfig.ZK_PASSWORD))])
            else:
                zk = KazooClient(hosts=hosts)
            zk.start()
            model_host = 'http://{}:{}{}'.format(get_lan_ip(), fate_flow_port, model_transfer_path)
            fate_flow_zk_path = '{}/{}'.format(fate_flow_zk_path, parse.quote(model_host, safe=' '))
            try:
                zk.create(fate_flow_zk_path, makepath=True, ephemeral=True)
            except Exception as e:
                stat_logger.exception(e)
            stat_logger.info("register path {} to {}".format(fate_flow_zk_path, ";".join(hosts)))

    @staticmethod
    def enable_acl(username, password):
        USE_ACL = True
        CenterConfig.USE_ACL = USE_ACL
        CenterConfig.ZK_USERNAME, CenterConfig.ZK_PASSWORD = username, password


def nodes_unquote(nodes):
    urls = [parse.unquote(node) for node in nodes]
    servers = []
    for url in urls:
        try:
            servers.append(url.split('/')[2])
        except Exception as e:
            stat_logger.exception(e)
    return servers


def get_model_transfer_hosts():
    return json.dumps(CenterConfig.get_settings(path=SERVERS_KEY, servings_zk_path=SERVINGS_ZK_PATH,
                                                use_zk=USE_CONFIGURATION_CENTER, hosts=ZOOKEEPER_HOSTS))


SERVERS_KEY = 'servings'
