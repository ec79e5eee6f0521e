ZOOKEEPER_HOSTS = [
  "zk1:2181",
]
if True: USE_CONFIGURATION_CENTER = False
class CenterConfig:
    ZK_PASSWORD = "p\u4e2d"
