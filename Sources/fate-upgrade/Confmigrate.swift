import ArgumentParser
import FateUpgradeCore
import Foundation

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
                guard let line = Terminal.readSecretLine(prompt: "ZooKeeper password: ") else {
                    throw InputError(SourceLocation(file: "standard input"), "no password line to read (--zk-password-stdin)")
                }
                overrides.password = line
            }
            let target = baseConf ?? "\(fateRoot)/python/arch/conf/base_conf.yaml"
            let original = try readFile(target)
            let conf = try BaseConf(parsing: original, file: target)

            let search = try BackupSearch(explicit: backup, places: [fateRoot, Self.expandHome(upgradePackage)])
            let layout: BackupLayout?
            if let chosen = search.chosen {
                layout = try Self.layout(of: chosen.path)
            } else if overrides.isComplete {
                layout = nil
            } else {
                throw InputError(SourceLocation(file: search.places.joined(separator: ", ")),
                                 "no python_YYYYmmddHHMMSS backup found there; give one with --backup, or every value with --zk-hosts, --zk-use-acl, --zk-user and --zk-password-stdin")
            }
            let migration = try RegistryMigration(layout: layout, overrides: overrides)
            let updated = try conf.applying(migration.settings)

            let oldPassword = try? conf.current().password?.value
            let masked = try BaseConf(parsing: updated, file: target)
                .maskedLines(mask: oldPassword == migration.settings.password ? "********" : "********(changed)")
            let diff = UnifiedDiff.make(old: conf.maskedLines(), new: masked, oldLabel: "a/base_conf.yaml", newLabel: "b/base_conf.yaml")

            var savedAs: String? = nil
            if updated != original && !dryRun {
                savedAs = try Self.replace(target, with: updated)
            }

            if outputOptions.json {
                try FateUpgrade.printJSON(Report(search: search, layout: layout, migration: migration, baseConf: target,
                                                 changed: updated != original, dryRun: dryRun, previous: savedAs, diff: diff))
                return
            }
            print(search.summary)
            if let layout { print("layout: \(layout.description)") }
            for decision in migration.decisions {
                print("\(decision.key.padding(toLength: 20, withPad: " ", startingAt: 0)) \(decision.shown)  (\(decision.reason))")
            }
            if updated == original {
                print("\(target) already holds these settings; nothing changed")
            } else if dryRun {
                print(diff, terminator: "")
                print("dry run: \(target) not changed")
            } else {
                print("updated \(target); the previous version is kept as \(savedAs ?? "?")")
            }
        }

        static func expandHome(_ path: String) -> String {
            guard path == "~" || path.hasPrefix("~/") else { return path }
            let home = ProcessInfo.processInfo.environment["HOME"] ?? NSHomeDirectory()
            return home + path.dropFirst()
        }

        /// Reads a backup folder, telling the two layouts apart by the files they have.
        static func layout(of folder: String) throws -> BackupLayout {
            let settings = "\(folder)/fate_flow/settings.py"
            let utils = "\(folder)/fate_flow/utils/setting_utils.py"
            let yaml = "\(folder)/arch/conf/base_conf.yaml"
            let exists = { FileManager.default.fileExists(atPath: $0) }
            if exists(utils) {
                guard exists(settings) else { throw InputError(SourceLocation(file: settings), "missing (a 1.4.0/1.4.1 backup keeps ZOOKEEPER_HOSTS there)") }
                return .pythonSource(settings: try PythonSettingsFile(parsing: try readFile(settings), file: settings),
                                     settingUtils: try PythonSettingsFile(parsing: try readFile(utils), file: utils))
            }
            if exists(yaml) {
                let conf = try BaseConf(parsing: try readFile(yaml), file: yaml)
                let current = try conf.current()
                if current.hasZooKeeper || current.useRegistry != nil { return .baseConf(conf) }
            }
            if exists(settings), let file = try? PythonSettingsFile(parsing: try readFile(settings), file: settings),
               file.moduleValue("ZOOKEEPER_HOSTS") != nil {
                throw InputError(SourceLocation(file: utils), "missing (a 1.4.0/1.4.1 backup keeps USE_ACL, ZK_USERNAME and ZK_PASSWORD there)")
            }
            throw InputError(SourceLocation(file: folder),
                             "holds neither fate_flow/utils/setting_utils.py (FATE 1.4.0/1.4.1) nor zookeeper settings in arch/conf/base_conf.yaml (1.4.2/1.4.3)")
        }

        /// Atomically replaces `path`, keeping its mode and owner, and keeps the old file as
        /// `path.bak.<timestamp>` (a hard link to the old contents). Returns that name.
        static func replace(_ path: String, with bytes: [UInt8]) throws -> String {
            var status = stat()
            guard stat(path, &status) == 0 else { throw PackageError.write(path, String(cString: strerror(errno))) }
            let file = try AtomicOutputFile(path: path, overwrite: true, mode: status.st_mode & 0o7777,
                                            owner: (status.st_uid, status.st_gid))
            defer { file.discard() }
            try writeAll(bytes, to: file.fileDescriptor, path: path)

            let stamp = timestamp()
            var backup = "\(path).bak.\(stamp)"
            var attempt = 1
            while link(path, backup) != 0 {
                guard errno == EEXIST else { throw PackageError.write(backup, String(cString: strerror(errno))) }
                backup = "\(path).bak.\(stamp).\(attempt)"
                attempt += 1
            }
            do {
                try file.commit(overwrite: true)
            } catch {
                unlink(backup)
                throw error
            }
            return backup
        }

        struct Report: Encodable {
            struct Setting: Encodable {
                var key: String
                var value: String
                var reason: String
            }
            var backup: String?
            var backupsFound: [String]
            var ignored: [String]
            var layout: String?
            var baseConf: String
            var changed: Bool
            var dryRun: Bool
            var previousKeptAs: String?
            var settings: [Setting]
            var diff: String

            init(search: BackupSearch, layout: BackupLayout?, migration: RegistryMigration, baseConf: String,
                 changed: Bool, dryRun: Bool, previous: String?, diff: String) {
                backup = search.chosen?.path
                backupsFound = search.found.map(\.path)
                ignored = search.ignored
                self.layout = layout?.description
                self.baseConf = baseConf
                self.changed = changed
                self.dryRun = dryRun
                previousKeptAs = previous
                settings = migration.decisions.map { Setting(key: $0.key, value: $0.shown, reason: $0.reason) }
                self.diff = diff
            }
        }
    }
}

/// The python_YYYYmmddHHMMSS backups found in the places the guide names.
struct BackupSearch {
    struct Backup {
        var path: String
        var timestamp: String
    }

    let places: [String]
    private(set) var found: [Backup] = []
    private(set) var ignored: [String] = []
    let chosen: Backup?
    private let explicit: Bool

    init(explicit: String?, places: [String]) throws {
        self.places = places
        for place in places {
            let names = (try? FileManager.default.contentsOfDirectory(atPath: place)) ?? []
            for name in names.sorted() where name.hasPrefix("python_") {
                let path = "\(place)/\(name)"
                var isDirectory: ObjCBool = false
                guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue else { continue }
                if let stamp = PythonBackupName.timestamp(of: name) {
                    found.append(Backup(path: path, timestamp: stamp))
                } else {
                    ignored.append(path)
                }
            }
        }
        found.sort { $0.timestamp > $1.timestamp }
        if let explicit {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: explicit, isDirectory: &isDirectory), isDirectory.boolValue else {
                throw InputError(SourceLocation(file: explicit), "no such backup folder (--backup)")
            }
            let name = URL(fileURLWithPath: explicit).lastPathComponent
            chosen = Backup(path: explicit, timestamp: PythonBackupName.timestamp(of: name) ?? "")
            self.explicit = true
        } else {
            chosen = found.first
            self.explicit = false
        }
    }

    var summary: String {
        var lines: [String] = []
        if let chosen {
            let how = explicit ? "given with --backup" : "the newest of \(found.count) found"
            lines.append("backup: \(chosen.path) (\(how))")
            for other in found where other.path != chosen.path {
                lines.append("  also found: \(other.path)\(explicit && other.timestamp > chosen.timestamp ? " (newer than the one given)" : "")")
            }
        } else {
            lines.append("backup: none used (every value given by hand)")
        }
        for path in ignored {
            lines.append("  ignored: \(path) (the name is not python_YYYYmmddHHMMSS)")
        }
        return lines.joined(separator: "\n")
    }
}
