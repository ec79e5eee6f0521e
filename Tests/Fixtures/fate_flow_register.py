"""fate_flow 1.4.4's registration in ZooKeeper, for stand-in fate_flow servers and the tests.

It does what `ServiceUtils.register()` (fate_flow/utils/service_utils.py) does when fate_flow
starts, before its servers:

    if get_base_config("use_registry", False):
        zk = ServiceUtils.get_zk()      # KazooClient; with use_acl a digest default_acl and auth_data
        zk.start()
        model_transfer_url = 'http://{}:{}{}'.format(IP, HTTP_PORT, FATE_FLOW_MODEL_TRANSFER_ENDPOINT)
        fate_flow_model_transfer_service = '{}/{}'.format(FATE_SERVICES_REGISTERED_PATH.get("fateflow", ""),
                                                          parse.quote(model_transfer_url, safe=' '))
        try:
            zk.create(fate_flow_model_transfer_service, makepath=True, ephemeral=True)
            stat_logger.info(...)
        except Exception as e:
            stat_logger.exception(e)

An unreachable ZooKeeper ends fate_flow (the exception of start() leaves its main); a failed
create (NoAuth with wrong credentials, NodeExists over a 1.4.0/1.4.1 node) is only logged and
fate_flow runs unregistered. The ephemeral node lives as long as the returned client's session:
keep the client.
"""
import traceback
from urllib import parse

import yaml
from kazoo.client import KazooClient
from kazoo.security import make_digest_acl

PROVIDERS_PATH = "/FATE-SERVICES/flow/online/transfer/providers"
TRANSFER_ENDPOINT = "/v1/model/transfer"


def node_path(ip, http_port):
    """The node fate_flow 1.4.4 creates for this address."""
    url = "http://{}:{}{}".format(ip, http_port, TRANSFER_ENDPOINT)
    return "{}/{}".format(PROVIDERS_PATH, parse.quote(url, safe=" "))


def client(zk_config):
    """ServiceUtils.get_zk(): the client as fate_flow makes it from base_conf.yaml's zookeeper block."""
    if zk_config.get("use_acl", False):
        default_acl = make_digest_acl(zk_config.get("user", ""), zk_config.get("password", ""), all=True)
        return KazooClient(hosts=zk_config.get("hosts", []), default_acl=[default_acl],
                           auth_data=[("digest", "{}:{}".format(zk_config.get("user", ""), zk_config.get("password", "")))])
    return KazooClient(hosts=zk_config.get("hosts", []))


def register(base_conf_text, ip, http_port, log, start_timeout=15):
    """Registers as fate_flow 1.4.4 does; returns the started KazooClient, or None when
    use_registry is false. `log` is called with one string (a message, or an exception's
    traceback as stat_logger.exception writes it). ZooKeeper not answering within
    `start_timeout` seconds (kazoo's 15) raises SystemExit, as fate_flow then exits."""
    conf = yaml.safe_load(base_conf_text) or {}
    if not conf.get("use_registry", False):
        return None
    zk_config = conf.get("zookeeper", {}) or {}
    zk = client(zk_config)
    try:
        zk.start(timeout=start_timeout)
    except Exception as e:
        # Without this, kazoo's connection thread would keep retrying inside a process that is ending.
        zk.stop()
        zk.close()
        raise SystemExit("fate_flow cannot start: ZooKeeper at {} did not answer: {!r}".format(
            ",".join(zk_config.get("hosts", [])), e))
    path = node_path(ip, http_port)
    try:
        zk.create(path, makepath=True, ephemeral=True)
        log("register path {} to {}".format(path, ";".join(zk_config.get("hosts", []))))
    except Exception:
        log(traceback.format_exc())
    return zk
