import ArgumentParser
import FateUpgradeCore
import FateUpgradeHost
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Glibc

extension FateUpgrade {
    struct Confmigrate: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Carry the ZooKeeper settings from the backed-up python code into base_conf.yaml.",
            discussion: """
                On the fateflow machine, after the upgrade replaced FATE_ROOT/python (guide §3.3). Reads \
                use_registry and the zookeeper settings from the newest python_YYYYmmddHHMMSS backup — \
                in FATE_ROOT or in the unpacked upgrade package — from fate_flow/settings.py and \
                fate_flow/utils/setting_utils.py (a 1.4.0/1.4.1 backup) or from its arch/conf/base_conf.yaml \
                (1.4.2/1.4.3), without running any of it, and writes them into base_conf.yaml. Only those \
                values change; comments, order, quoting and layout stay. The previous file is kept as \
                base_conf.yaml.bak.<timestamp>. Running it again changes nothing.
                """
        )

        @Option(help: ArgumentHelp("FATE's root folder.", valueName: "dir"), completion: .directory)
        var fateRoot = "/data/projects/fate"

        @Option(help: ArgumentHelp("The python_YYYYmmddHHMMSS backup to read (default: the newest found).", valueName: "dir"),
                completion: .directory)
        var backup: String?

        @Option(help: ArgumentHelp("The unpacked upgrade package, also searched for backups.", valueName: "dir"),
                completion: .directory)
        var upgradePackage = "~/upgrade_package"

        @Option(help: ArgumentHelp("The file to update (default: FATE_ROOT/python/arch/conf/base_conf.yaml).", valueName: "file"),
                completion: .file(extensions: ["yaml"]))
        var baseConf: String?

        @Option(help: ArgumentHelp("Set use_registry instead of taking it from the backup.", valueName: "true|false"))
        var useRegistry: Bool?

        @Option(help: ArgumentHelp("ZooKeeper hosts, comma-separated host:port.", valueName: "hosts"))
        var zkHosts: String?

        @Option(help: ArgumentHelp("Whether ZooKeeper uses ACLs.", valueName: "true|false"))
        var zkUseAcl: Bool?

        @Option(help: ArgumentHelp("The ZooKeeper ACL user.", valueName: "user"))
        var zkUser: String?

        @Flag(help: "Read the ZooKeeper password from standard input (not echoed at a terminal).")
        var zkPasswordStdin = false

        @Flag(help: "Print a diff of base_conf.yaml (password masked) and write nothing.")
        var dryRun = false

        @OptionGroup var outputOptions: OutputOptions

        func validate() throws {
            if let zkHosts, let problem = RegistrySettings.validHosts(RegistrySettings.splitHosts(zkHosts)) {
                throw ValidationError("--zk-hosts: \(problem)")
            }
        }

        mutating func run() throws {
            var overrides = RegistryMigration.Overrides(useRegistry: useRegistry, hosts: zkHosts.map(RegistrySettings.splitHosts),
                                                        useACL: zkUseAcl, user: zkUser)
            if zkPasswordStdin {
                guard let line = try Console.shared.readSecretLine(prompt: "ZooKeeper password: ") else {
                    throw InputError(SourceLocation(file: "standard input"), "no password line to read (--zk-password-stdin)")
                }
                overrides.password = line
            }
            // Not while an apply or rollback works on the same FATE_ROOT.
            let lock = dryRun || !FileSystem.isDirectory(fateRoot) ? nil : try StateLock(fateRoot: fateRoot, for: "confmigrate")
            defer { withExtendedLifetime(lock) {} }
            let report = try ConfmigrateOperation(.init(fateRoot: fateRoot, backup: backup, upgradePackage: upgradePackage,
                                                        baseConf: baseConf, overrides: overrides, dryRun: dryRun)).run()
            if outputOptions.json {
                try FateUpgrade.printJSON(report)
                return
            }
            for line in report.summary { Console.shared.say(line.hasSuffix("\n") ? String(line.dropLast()) : line) }
        }
    }
}
