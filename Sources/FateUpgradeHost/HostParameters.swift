import FateUpgradeArchive
import FateUpgradeCore
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Glibc

/// The parameters of the upgrade on this host, for the commands that come after `apply`
/// (rollback, status, verify, cleanup): the journal's (secrets masked), completed from the
/// package's script it names (which holds DB_PASS while its folder is kept), then FATE's defaults.
public enum HostParameters {
    public static func resolve(fateRoot: String, journal: UpgradeJournal?, package: String? = nil,
                               password: Secret? = nil) throws -> ScriptParameters {
        var values = journal?.parameters ?? [:]
        let scriptPath = journal?.script ?? package
        if let scriptPath, FileSystem.exists(scriptPath) {
            // The journal names the extracted script; --package may be an archive or its folder.
            let isPackage = FileSystem.isDirectory(scriptPath) || [".gz", ".tgz", ".tar"].contains(where: scriptPath.hasSuffix)
            let bytes = isPackage ? try UpgradePackage(path: scriptPath).readScript().bytes : try FileSystem.read(scriptPath)
            var scriptValues = try ShellParameterBlock(parsing: bytes, file: scriptPath).evaluated(home: journal?.home ?? Path.home)
            for (name, value) in scriptValues where ParameterKind.of(name: name, current: nil) == .path && value.hasPrefix("/") {
                scriptValues[name] = Path.normalised(value)
            }
            // Commands and paths come from the package's own parameters; a journal that says
            // otherwise (edited, or from another package) is not followed.
            if let journal {
                for (name, value) in scriptValues where journal.parameters[name] != nil && journal.parameters[name] != ShellParameterBlock.mask
                    && journal.parameters[name] != value && Path.normalised(journal.parameters[name]!) != value {
                    throw InputError(SourceLocation(file: journal.path), "\(name) is \(journal.parameters[name]!) here but \(value) in the package's script \(scriptPath); rollback follows neither: check which is right")
                }
            }
            for (name, value) in scriptValues where values[name] == nil || values[name] == ShellParameterBlock.mask {
                values[name] = value
            }
        }
        values["FATE_ROOT"] = values["FATE_ROOT"] ?? fateRoot
        let defaults = ["DEPLOY_METHOD": "allinone", "DB_USER": "root", "FATE_FLOW_ROOT": "\(fateRoot)/python/fate_flow",
                        "MYSQL_ROOT": "\(fateRoot)/common/mysql/mysql-8.0.13", "SUPERVISOR_ROOT": "/data/projects/common/supervisord"]
        for (name, value) in defaults where values[name] == nil { values[name] = value }
        if values["MYSQL_SOCKET_PATH"] == nil { values["MYSQL_SOCKET_PATH"] = "\(values["MYSQL_ROOT"]!)/run/mysql.sock" }
        if let password { values["DB_PASS"] = password.revealed }
        if values["DB_PASS"] == ShellParameterBlock.mask { values["DB_PASS"] = nil }
        return ScriptParameters(values: values)
    }
}

/// FATE_ROOT when `--fate-root` is not given: the one the upgrade's own script names (the package
/// given, or the `upgrade_package/` apply unpacked in the folder the command runs in), else FATE's
/// default folder when it is there.
public enum FateRootDiscovery {
    public static let fateDefault = "/data/projects/fate"

    public static func find(given: String?, package: String? = nil, folder: String = FileSystem.currentDirectory,
                            fallback: String = fateDefault) throws -> String {
        if let given { return given }
        var scripts: [String] = []
        if let package { scripts.append(package) }
        scripts += ["\(folder)/upgrade_package/upgrade_script.sh", "\(folder)/upgrade_script.sh"]
        for script in scripts where FileSystem.exists(script) {
            let isPackage = FileSystem.isDirectory(script) || [".gz", ".tgz", ".tar"].contains(where: script.hasSuffix)
            let bytes = isPackage ? try UpgradePackage(path: script).readScript().bytes : try FileSystem.read(script, limit: 16 << 20)
            let values = try ShellParameterBlock(parsing: bytes, file: script).evaluated(home: Path.home)
            if let root = values["FATE_ROOT"], root.hasPrefix("/") { return Path.normalised(root) }
        }
        if FileSystem.isDirectory(fallback) { return fallback }
        throw HostError("FATE_ROOT is not known: give --fate-root DIR (\(folder) holds no upgrade_package/upgrade_script.sh to read it from, and FATE's default \(fallback) is not here)")
    }
}
