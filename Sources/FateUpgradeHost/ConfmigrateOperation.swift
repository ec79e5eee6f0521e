import FateUpgradeCore
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Glibc

/// Carries the ZooKeeper settings from the backed-up python code into base_conf.yaml (guide §3.3).
public struct ConfmigrateOperation {
    public struct Options {
        public var fateRoot: String
        public var backup: String?
        public var upgradePackage: String
        public var baseConf: String?
        public var overrides: RegistryMigration.Overrides
        public var dryRun: Bool

        public init(fateRoot: String, backup: String? = nil, upgradePackage: String, baseConf: String? = nil,
                    overrides: RegistryMigration.Overrides = .init(), dryRun: Bool = false) {
            self.fateRoot = fateRoot
            self.backup = backup
            self.upgradePackage = upgradePackage
            self.baseConf = baseConf
            self.overrides = overrides
            self.dryRun = dryRun
        }
    }

    public struct Report: Encodable {
        public struct Setting: Encodable {
            public var key: String
            public var value: String
            public var reason: String
        }
        public var backup: String?
        public var backupsFound: [String]
        public var ignored: [String]
        public var layout: String?
        public var baseConf: String
        public var changed: Bool
        public var dryRun: Bool
        public var previousKeptAs: String?
        public var settings: [Setting]
        public var diff: String
        /// Lines for a terminal (not in the JSON).
        public var summary: [String] = []

        enum CodingKeys: String, CodingKey {
            case backup, backupsFound, ignored, layout, baseConf, changed, dryRun, previousKeptAs, settings, diff
        }
    }

    public var options: Options
    public init(_ options: Options) { self.options = options }

    public func run() throws -> Report {
        let target = options.baseConf ?? "\(options.fateRoot)/python/arch/conf/base_conf.yaml"
        let original = try FileSystem.read(target)
        let conf = try BaseConf(parsing: original, file: target)

        let search = try BackupSearch(explicit: options.backup, places: [options.fateRoot, Self.expandHome(options.upgradePackage)])
        let layout: BackupLayout?
        if let chosen = search.chosen {
            layout = try Self.layout(of: chosen.path)
        } else if options.overrides.isComplete {
            layout = nil
        } else {
            throw InputError(SourceLocation(file: search.places.joined(separator: ", ")),
                             "no python_YYYYmmddHHMMSS backup found there; give one with --backup, or every value with --zk-hosts, --zk-use-acl, --zk-user and --zk-password-stdin")
        }
        let migration = try RegistryMigration(layout: layout, overrides: options.overrides)
        let updated = try conf.applying(migration.settings)

        let oldPassword = try? conf.current().password?.value
        let masked = try BaseConf(parsing: updated, file: target)
            .maskedLines(mask: oldPassword == migration.settings.password ? "********" : "********(changed)")
        let diff = UnifiedDiff.make(old: conf.maskedLines(), new: masked, oldLabel: "a/base_conf.yaml", newLabel: "b/base_conf.yaml")

        var savedAs: String? = nil
        if updated != original && !options.dryRun {
            savedAs = try Self.replace(target, with: updated)
        }
        var report = Report(backup: search.chosen?.path, backupsFound: search.found.map(\.path), ignored: search.ignored,
                            layout: layout?.description, baseConf: target, changed: updated != original, dryRun: options.dryRun,
                            previousKeptAs: savedAs,
                            settings: migration.decisions.map { .init(key: $0.key, value: $0.shown, reason: $0.reason) }, diff: diff)
        var lines = [search.summary]
        if let layout { lines.append("layout: \(layout.description)") }
        for decision in migration.decisions {
            lines.append("\(decision.key.padded(to: 20)) \(decision.shown)  (\(decision.reason))")
        }
        if updated == original {
            lines.append("\(target) already holds these settings; nothing changed")
        } else if options.dryRun {
            lines.append(diff + "dry run: \(target) not changed")
        } else {
            lines.append("updated \(target); the previous version is kept as \(savedAs ?? "?")")
        }
        report.summary = lines
        return report
    }

    public static func expandHome(_ path: String) -> String {
        guard path == "~" || path.hasPrefix("~/") else { return path }
        let home = Path.home
        return home + path.dropFirst()
    }

    /// Reads a backup folder, telling the two layouts apart by the files they have.
    public static func layout(of folder: String) throws -> BackupLayout {
        let settings = "\(folder)/fate_flow/settings.py"
        let utils = "\(folder)/fate_flow/utils/setting_utils.py"
        let yaml = "\(folder)/arch/conf/base_conf.yaml"
        let exists = FileSystem.exists
        if exists(utils) {
            guard exists(settings) else { throw InputError(SourceLocation(file: settings), "missing (a 1.4.0/1.4.1 backup keeps ZOOKEEPER_HOSTS there)") }
            return .pythonSource(settings: try PythonSettingsFile(parsing: try FileSystem.read(settings), file: settings),
                                 settingUtils: try PythonSettingsFile(parsing: try FileSystem.read(utils), file: utils))
        }
        if exists(yaml) {
            let conf = try BaseConf(parsing: try FileSystem.read(yaml), file: yaml)
            let current = try conf.current()
            if current.hasZooKeeper || current.useRegistry != nil { return .baseConf(conf) }
        }
        if exists(settings), let file = try? PythonSettingsFile(parsing: try FileSystem.read(settings), file: settings),
           file.moduleValue("ZOOKEEPER_HOSTS") != nil {
            throw InputError(SourceLocation(file: utils), "missing (a 1.4.0/1.4.1 backup keeps USE_ACL, ZK_USERNAME and ZK_PASSWORD there)")
        }
        throw InputError(SourceLocation(file: folder),
                         "holds neither fate_flow/utils/setting_utils.py (FATE 1.4.0/1.4.1) nor zookeeper settings in arch/conf/base_conf.yaml (1.4.2/1.4.3)")
    }

    /// Atomically replaces `path`, keeping its mode and owner, and keeps the old file as
    /// `path.bak.<timestamp>` (a hard link to the old contents). Returns that name.
    public static func replace(_ path: String, with bytes: [UInt8]) throws -> String {
        var status = stat()
        guard stat(path, &status) == 0 else { throw PackageWriteError(path, Errno.text()) }
        let file = try AtomicOutputFile(path: path, overwrite: true, mode: status.st_mode & 0o7777,
                                        owner: FileOwner(uid: status.st_uid, gid: status.st_gid))
        defer { file.discard() }
        try file.write(bytes)

        let stamp = timestamp()
        var backup = "\(path).bak.\(stamp)"
        var attempt = 1
        while link(path, backup) != 0 {
            guard errno == EEXIST else { throw PackageWriteError(backup, Errno.text()) }
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
}

/// The python_YYYYmmddHHMMSS backups found in the places the guide names.
public struct BackupSearch {
    public struct Backup {
        public var path: String
        public var timestamp: String
    }

    public let places: [String]
    public private(set) var found: [Backup] = []
    public private(set) var ignored: [String] = []
    public let chosen: Backup?
    private let explicit: Bool

    public init(explicit: String?, places: [String]) throws {
        self.places = places
        for place in places {
            for name in FileSystem.names(in: place) where name.hasPrefix("python_") {
                let path = "\(place)/\(name)"
                guard FileSystem.isDirectory(path) else { continue }
                if let stamp = PythonBackupName.timestamp(of: name) {
                    found.append(Backup(path: path, timestamp: stamp))
                } else {
                    ignored.append(path)
                }
            }
        }
        found.sort { $0.timestamp > $1.timestamp }
        if let explicit {
            guard FileSystem.isDirectory(explicit) else {
                throw InputError(SourceLocation(file: explicit), "no such backup folder (--backup)")
            }
            let name = Path.name(explicit)
            chosen = Backup(path: explicit, timestamp: PythonBackupName.timestamp(of: name) ?? "")
            self.explicit = true
        } else {
            chosen = found.first
            self.explicit = false
        }
    }

    public var summary: String {
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
