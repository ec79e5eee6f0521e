import FateUpgradeCore

/// The surgical base_conf.yaml editor: any file it accepts, edited, must parse again and hold the
/// settings written (BaseConf.applying checks that itself and throws otherwise: a crash here is a bug).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    guard let conf = try? BaseConf(parsing: bytes, file: "base_conf.yaml") else { return 0 }
    _ = try? conf.current()
    _ = conf.maskedLines()
    let settings = RegistrySettings(useRegistry: true, hosts: ["zk1:2181", "10.0.0.2:2182"], useACL: true, user: "运维 'x'", password: "p@ss: \"中\" #1")
    if let edited = try? conf.applying(settings) {
        _ = UnifiedDiff.make(old: conf.maskedLines(), new: (try? BaseConf(parsing: edited, file: "b"))?.maskedLines() ?? [], oldLabel: "a", newLabel: "b")
    }
    return 0
}
