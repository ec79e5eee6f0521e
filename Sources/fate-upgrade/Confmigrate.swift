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
    struct Confmigrate: ParsableCommand, JSONReporting {
        static let configuration = CommandConfiguration(
            abstract: "Carry the site's settings and data from the python backup into the new tree.",
            discussion: """
                After the upgrade replaced FATE_ROOT/python (guide §3.3, and what it leaves out). Reads the \
                newest python_YYYYmmddHHMMSS backup — in FATE_ROOT or in the unpacked upgrade package — \
                without running any of it, and merges each settings file three ways, as dpkg treats \
                conffiles: the default of the release the site ran, the site's file, and the new release's. \
                What the site changed (work_mode, database, ports, proxy, servings, tunables in settings.py, \
                the ZooKeeper values of 1.4.0/1.4.1's .py files) is written into the new files, only those \
                values, with comments, order, quoting and layout kept; the new release's own file is kept \
                beside as <file>.release. What cannot be carried (a code edit, a key the new release has \
                not, the redis model store of 1.4.0/1.4.1) stops the run, nothing changed, with the choice \
                spelled out. Then model_local_cache/, jobs/, logs/ (and a standalone site's sqlite database) \
                are moved, by rename, from the backup into the new tree. Running it again changes nothing.

                \(ExitStatusText.changing)
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

        // One word for "show what would change, change nothing" on every command; --dry-run as well.
        @Flag(name: [.customLong("plan"), .customLong("dry-run")], help: "Print what would be carried, the diffs (secrets masked) and the moves, and change nothing.")
        var dryRun = false

        @OptionGroup var siteOptions: SiteChoiceOptions

        @OptionGroup var outputOptions: OutputOptions
        var json: Bool { outputOptions.json }

        func validate() throws {
            if let zkHosts, let problem = RegistrySettings.validHosts(RegistrySettings.splitHosts(zkHosts)) {
                throw ValidationError("--zk-hosts: \(problem)")
            }
        }

        mutating func run() throws {
            Signals.farewell("the file being written was removed; files already written and data already moved stay so: run confmigrate again to finish (its --plan shows what is left)")
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
            var report = try ConfmigrateOperation(.init(fateRoot: fateRoot, backup: backup, upgradePackage: upgradePackage,
                                                        baseConf: baseConf, overrides: overrides, choices: try siteOptions.choices(),
                                                        dryRun: dryRun)).run()
            let blocked = !report.decisions.isEmpty || report.data.contains(where: { $0.action == .collision })
            if blocked { report.outcome = .refused }
            if outputOptions.json {
                try FateUpgrade.printJSON(report)
            } else {
                for line in report.summary { Console.shared.say(line.hasSuffix("\n") ? String(line.dropLast()) : line) }
            }
            if blocked { throw ExitCode(1) }
        }
    }
}

/// The operator's answers to what a site merge cannot decide alone (confmigrate and apply).
struct SiteChoiceOptions: ParsableArguments {
    @Option(name: .customLong("accept-release"), help: ArgumentHelp(
        "For this settings file, take the new release's file with every value that can be carried, and leave out what cannot (a code edit, a key FATE 1.4.4 has not). Repeatable.",
        valueName: "file"))
    var acceptRelease: [String] = []

    @Option(name: .customLong("keep-site"), help: ArgumentHelp(
        "For this settings file, keep the site's file as it is instead of merging (only if FATE 1.4.4 runs with it). Repeatable.",
        valueName: "file"))
    var keepSite: [String] = []

    @Option(help: ArgumentHelp("Where FATE 1.4.4 stores models, for a 1.4.0/1.4.1 site that used redis: database (on the site's fate_flow MySQL server) or release (as FATE 1.4.4 ships it).",
                               valueName: "database|release"))
    var modelStore: SiteChoices.ModelStore?

    @Option(help: ArgumentHelp("The release the site ran, when its files do not tell.", valueName: "1.4.0|1.4.1|1.4.2|1.4.3"))
    var siteRelease: FateRelease?

    func validate() throws { _ = try choices() }

    func choices() throws -> SiteChoices {
        var choices = SiteChoices(modelStore: modelStore, siteRelease: siteRelease)
        for (names, choice, flag) in [(acceptRelease, SiteChoices.FileChoice.acceptRelease, "--accept-release"), (keepSite, .keepSite, "--keep-site")] {
            for name in names {
                guard let file = SiteFile(name: name) else {
                    throw ValidationError("\(flag) \(name): not one of \(SiteFile.allCases.map(\.name).joined(separator: ", "))")
                }
                if let earlier = choices.files[file], earlier != choice {
                    throw ValidationError("\(file.name) is given both --accept-release and --keep-site; choose one")
                }
                choices.files[file] = choice
            }
        }
        return choices
    }
}

extension SiteChoices.ModelStore: ExpressibleByArgument {}
extension FateRelease: ExpressibleByArgument {}
