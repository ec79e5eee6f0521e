extension RegistrySettings {
    /// The settings as fate_flow 1.4.4 reads base_conf.yaml (`get_base_config("use_registry", False)`,
    /// `zk_config.get("use_acl", False)`, `.get("user", "")`, …): what is missing counts as off or empty.
    public init(asFateFlowReads current: BaseConf.Current) {
        self.init(useRegistry: current.useRegistry?.value ?? false, hosts: current.hosts?.value ?? [],
                  useACL: current.useACL?.value ?? false, user: current.user?.value ?? "", password: current.password?.value ?? "")
    }
}
