import FateUpgradeCore

/// The Python settings reader (FATE 1.4.0/1.4.1 settings.py and setting_utils.py) and the migration
/// that reads ZooKeeper values from it.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    guard let file = try? PythonSettingsFile(parsing: bytes, file: "settings.py") else { return 0 }
    for name in ["ZOOKEEPER_HOSTS", "USE_CONFIGURATION_CENTER"] {
        _ = file.moduleValue(name)
        _ = file.everyModuleAssignment(name)
    }
    _ = file.everyClassAssignment("CenterConfig", "ZK_PASSWORD")
    _ = try? RegistryMigration(layout: .pythonSource(settings: file, settingUtils: file), overrides: .init())
    return 0
}
