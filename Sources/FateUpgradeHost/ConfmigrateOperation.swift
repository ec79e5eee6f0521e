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
        /// What was done beyond the settings (a link written through, a BOM removed, escapes) and backups skipped.
        public var notes: [String] = []
        /// Lines for a terminal (not in the JSON).
        public var summary: [String] = []

        enum CodingKeys: String, CodingKey {
            case backup, backupsFound, ignored, layout, baseConf, changed, dryRun, previousKeptAs, settings, diff, notes
        }
    }

    public var options: Options
    public init(_ options: Options) { self.options = options }

    public func run() throws -> Report {
        let given = options.baseConf ?? "\(options.fateRoot)/python/arch/conf/base_conf.yaml"
        var notes: [String] = []
        // A symlinked base_conf.yaml (config kept in a managed folder): the file it points to is
        // what fate_flow reads, so that is what is updated; the link stays.
        let target = try Self.writeTarget(of: given)
        if target != given {
            notes.append("\(given) is a symbolic link to \(target): that file is updated, the link stays")
        }
        let original = try FileSystem.read(target)
        let conf = try BaseConf(parsing: original, file: given)

        let search = try BackupSearch(explicit: options.backup, places: [options.fateRoot, Self.expandHome(options.upgradePackage)])
        var layout: BackupLayout? = nil
        var chosen: BackupSearch.Backup? = nil
        var skipped: [String] = []
        let current = try conf.current()
        for candidate in search.candidates {
            let candidateLayout = try Self.layout(of: candidate.path)
            // A backup holding the new release's settings is a 1.4.4 tree (the upgrade ran twice):
            // carrying its values over would carry the defaults over, not the host's settings.
            if !search.isExplicit, case .baseConf(let backupConf) = candidateLayout,
               let why = Self.newReleaseSettings(try backupConf.current(), target: current) {
                skipped.append("skipped \(candidate.path): \(why) (an upgrade run twice?); an older backup is used, or give one with --backup")
                continue
            }
            layout = candidateLayout
            chosen = candidate
            break
        }
        if chosen == nil && !options.overrides.isComplete {
            if let first = skipped.first {
                throw InputError(SourceLocation(file: search.candidates.first?.path ?? given),
                                 "\(first.replacing("; an older backup is used, or give one with --backup", with: "")); no older backup was found: give the one holding the real settings with --backup, or every value with --zk-hosts, --zk-use-acl, --zk-user and --zk-password-stdin")
            }
            throw InputError(SourceLocation(file: search.places.joined(separator: ", ")),
                             "no python_YYYYmmddHHMMSS backup found there; give one with --backup, or every value with --zk-hosts, --zk-use-acl, --zk-user and --zk-password-stdin")
        }
        let migration = try RegistryMigration(layout: layout, overrides: options.overrides)
        var updated = try conf.applying(migration.settings)
        // FATE 1.4.4's Python 3.6 reads the file with a plain open(), in the locale's encoding: ASCII
        // under supervisord or systemd without LANG. A byte order mark stops it from starting.
        if updated.starts(with: [0xEF, 0xBB, 0xBF]) {
            updated.removeFirst(3)
            notes.append("removed the UTF-8 byte order mark at the start of \(given): FATE's Python 3.6 cannot read it without a UTF-8 locale")
        }
        let written = [("zookeeper.user", migration.settings.user), ("zookeeper.password", migration.settings.password)]
            + migration.settings.hosts.map { ("zookeeper.hosts", $0) }
        for (key, value) in written where value.unicodeScalars.contains(where: { !$0.isASCII }) && !notes.contains(where: { $0.hasPrefix(key + " ") }) {
            notes.append("\(key) has non-ASCII characters: written as \\u escapes in double quotes, which YAML reads back as the same text, so that the file stays ASCII for FATE's Python 3.6")
        }
        if let line = updated.split(separator: 0x0A, omittingEmptySubsequences: false).firstIndex(where: { $0.contains { $0 >= 0x80 } }) {
            notes.append("warning: line \(line + 1) of \(given) has non-ASCII text; FATE 1.4.4 fails to start on it unless fate_flow runs with a UTF-8 locale (LANG=en_US.UTF-8)")
        }

        let oldPassword = try? conf.current().password?.value
        let masked = try BaseConf(parsing: updated, file: given)
            .maskedLines(mask: oldPassword == migration.settings.password ? "********" : "********(changed)")
        let diff = UnifiedDiff.make(old: conf.maskedLines(), new: masked, oldLabel: "a/base_conf.yaml", newLabel: "b/base_conf.yaml")

        var savedAs: String? = nil
        if updated != original && !options.dryRun {
            savedAs = try Self.replace(target, keepingBackupBeside: given, with: updated, original: original)
        }
        var report = Report(backup: chosen?.path, backupsFound: search.found.map(\.path), ignored: search.ignored,
                            layout: layout?.description, baseConf: given, changed: updated != original, dryRun: options.dryRun,
                            previousKeptAs: savedAs,
                            settings: migration.decisions.map { .init(key: $0.key, value: $0.shown, reason: $0.reason) }, diff: diff,
                            notes: skipped + notes)
        var lines = [search.summary(chosen: chosen)]
        lines += skipped
        if let layout { lines.append("layout: \(layout.description)") }
        for decision in migration.decisions {
            lines.append("\(decision.key.padded(to: 20)) \(decision.shown)  (\(decision.reason))")
        }
        lines += notes
        if updated == original {
            lines.append("\(given) already holds these settings; nothing changed")
        } else if options.dryRun {
            lines.append(diff + "dry run: \(given) not changed")
        } else {
            lines.append("updated \(target == given ? given : target); the previous version is kept as \(savedAs ?? "?")")
        }
        report.summary = lines
        return report
    }

    /// Why a backup's registry settings look like the new release's, or nil.
    static func newReleaseSettings(_ backup: BaseConf.Current, target: BaseConf.Current) -> String? {
        if backup.registry == target.registry { return "its registry settings are those of the new base_conf.yaml" }
        if backup.registry == BaseConf.Current.release144Defaults { return "its registry settings are FATE 1.4.4's defaults" }
        return nil
    }

    /// The regular file behind `path`: itself, or what its symlinks lead to.
    static func writeTarget(of path: String) throws -> String {
        var info = stat()
        guard lstat(path, &info) == 0 else { throw InputError(SourceLocation(file: path), "no such file") }
        guard info.st_mode & S_IFMT == S_IFLNK else { return path }
        guard let resolved = realpath(path, nil) else {
            throw InputError(SourceLocation(file: path), "a symbolic link that leads nowhere (\(Errno.text()))")
        }
        defer { free(resolved) }
        return String(cString: resolved)
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

    /// Atomically replaces `path`, keeping its mode and owner, and keeps the old contents as
    /// `<backupBeside>.bak.<timestamp>`: a hard link to the old file when the two are the same
    /// path, else (a symlinked base_conf.yaml) a real copy beside the link. Returns that name.
    public static func replace(_ path: String, keepingBackupBeside backupBeside: String? = nil, with bytes: [UInt8],
                               original: [UInt8]) throws -> String {
        var status = stat()
        guard stat(path, &status) == 0 else { throw PackageWriteError(path, Errno.text()) }
        let file = try AtomicOutputFile(path: path, overwrite: true, mode: status.st_mode & 0o7777,
                                        owner: FileOwner(uid: status.st_uid, gid: status.st_gid))
        defer { file.discard() }
        try file.write(bytes)

        let beside = backupBeside ?? path
        let stamp = timestamp()
        var backup = "\(beside).bak.\(stamp)"
        var attempt = 1
        func taken(_ name: String) -> Bool { FileSystem.exists(name) }
        while taken(backup) {
            backup = "\(beside).bak.\(stamp).\(attempt)"
            attempt += 1
        }
        if beside == path {
            guard link(path, backup) == 0 else { throw PackageWriteError(backup, Errno.text()) }
        } else {
            let copy = try AtomicOutputFile(path: backup, overwrite: false, mode: status.st_mode & 0o7777)
            try copy.write(original)
            try copy.commit(overwrite: false)
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
    /// The ones to try, in order: the one given with --backup, else every one found, newest first.
    public let candidates: [Backup]
    public let isExplicit: Bool

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
            candidates = [Backup(path: explicit, timestamp: PythonBackupName.timestamp(of: Path.name(explicit)) ?? "")]
            isExplicit = true
        } else {
            candidates = found
            isExplicit = false
        }
    }

    public func summary(chosen: Backup?) -> String {
        var lines: [String] = []
        if let chosen {
            let how = isExplicit ? "given with --backup" : chosen.path == found.first?.path ? "the newest of \(found.count) found" : "of \(found.count) found"
            lines.append("backup: \(chosen.path) (\(how))")
            for other in found where other.path != chosen.path {
                lines.append("  also found: \(other.path)\(isExplicit && other.timestamp > chosen.timestamp ? " (newer than the one given)" : "")")
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
