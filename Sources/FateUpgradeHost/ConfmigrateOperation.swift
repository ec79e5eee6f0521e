import FateUpgradeCore
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Glibc

/// Carries the site across the upgrade (guide §3.3, and what the guide leaves out): the site's
/// settings, merged three-way into the new release's files (ZooKeeper is one part of it), and its
/// models, jobs and logs, moved from the python_<timestamp> backup into the new tree.
public struct ConfmigrateOperation {
    public struct Options {
        public var fateRoot: String
        public var backup: String?
        public var upgradePackage: String
        public var baseConf: String?
        public var overrides: RegistryMigration.Overrides
        public var choices: SiteChoices
        public var dryRun: Bool
        /// Also move the site's data (models, jobs, logs); `false` settles only the settings.
        public var moveData: Bool

        public init(fateRoot: String, backup: String? = nil, upgradePackage: String, baseConf: String? = nil,
                    overrides: RegistryMigration.Overrides = .init(), choices: SiteChoices = .init(), dryRun: Bool = false,
                    moveData: Bool = true) {
            self.fateRoot = fateRoot
            self.backup = backup
            self.upgradePackage = upgradePackage
            self.baseConf = baseConf
            self.overrides = overrides
            self.choices = choices
            self.dryRun = dryRun
            self.moveData = moveData
        }
    }

    public struct Report: Codable, Sendable {
        public struct Setting: Codable, Sendable {
            public var key: String
            public var value: String
            public var reason: String
        }
        public struct FileOutcome: Codable, Sendable {
            public var file: String
            public var path: String
            /// written, unchanged, keptAsEdited (differs from both the release and the merge), absent
            public var outcome: String
            public var releaseCopy: String?
            public var diff: String
        }
        public var schemaVersion = ReportSchema.version
        /// planned (--plan), unchanged, succeeded; refused when choices are needed.
        public var outcome: RunOutcome = .planned
        public var backup: String?
        public var backupsFound: [String]
        public var ignored: [String]
        public var baseline: String?
        public var layout: String?
        public var baseConf: String
        public var changed: Bool
        public var dryRun: Bool
        /// The new release's base_conf.yaml, kept beside the merged one.
        public var previousKeptAs: String?
        public var settings: [Setting]
        public var changes: [SiteChange]
        public var decisions: [SiteDecision]
        public var files: [FileOutcome]
        public var data: [SiteDataMove]
        public var diff: String
        /// What was done beyond the settings (a link written through, a BOM removed, escapes) and backups skipped.
        public var notes: [String] = []
        /// Lines for a terminal (not in the JSON).
        public var summary: [String] = []

        enum CodingKeys: String, CodingKey {
            case schemaVersion, outcome, backup, backupsFound, ignored, baseline, layout, baseConf, changed, dryRun, previousKeptAs, settings, changes,
                 decisions, files, data, diff, notes
        }
    }

    /// Everything read and decided, before anything is written.
    public struct Planned {
        public var report: Report
        public var merge: SiteMerge?
        /// (file, where it is written, what is there now, the release's pristine bytes, the merged bytes)
        var writes: [(file: SiteFile, given: String, target: String, current: [UInt8]?, release: [UInt8]?, merged: [UInt8])] = []
        var moves: [SiteDataMove] = []
        var record: String?
        var choices = SiteChoices()
        /// What fate-upgrade wrote before (path → SHA-256), read once.
        var written: [String: String] = [:]
        public var blocked: Bool { !report.decisions.isEmpty || report.data.contains { $0.action == .collision } }
    }

    public var options: Options
    public init(_ options: Options) { self.options = options }

    var tree: String { "\(options.fateRoot)/python" }

    /// Reads the backup and the new tree and merges, changing nothing.
    public func plan() throws -> Planned {
        let given = options.baseConf ?? "\(tree)/\(SiteFile.baseConf.rawValue)"
        var notes: [String] = []
        let target = try Self.writeTarget(of: given)
        if target != given {
            notes.append("\(given) is a symbolic link to \(target): that file is updated, the link stays")
        }
        // The new release's files: pristine from the `.release` copies an earlier run kept, else as they are now.
        var release: [SiteFile: SourceFile] = [:]
        var current: [SiteFile: [UInt8]] = [:]
        var paths: [SiteFile: (given: String, target: String)] = [:]
        for file in SiteFile.allCases {
            let path = file == .baseConf ? given : "\(tree)/\(file.rawValue)"
            let real = file == .baseConf ? target : path
            paths[file] = (path, real)
            if FileSystem.exists(real) { current[file] = try FileSystem.read(real) }
            let copy = Self.releaseCopy(of: path)
            if FileSystem.exists(copy) {
                release[file] = SourceFile(path: copy, bytes: try FileSystem.read(copy))
            } else if let bytes = current[file] {
                release[file] = SourceFile(path: path, bytes: bytes)
            }
        }
        guard let conf = current[.baseConf] else { throw InputError(SourceLocation(file: given), "no such file") }
        // apply planned the merge against FATE 1.4.4's files as shipped; a package may ship others.
        for (file, source) in release.sorted(by: { $0.key.rawValue < $1.key.rawValue }) where FateRelease.target.defaultFile(file) != source.bytes {
            notes.append("note: the new tree's \(file.rawValue) is not FATE \(FateRelease.target.rawValue)'s as shipped; the site is merged into it as it is")
        }
        // The file fate_flow reads is checked first: a damaged one stops the run whatever the backup holds.
        _ = try BaseConf(parsing: conf, file: given).current()

        let search = try BackupSearch(explicit: options.backup, places: [options.fateRoot, Self.expandHome(options.upgradePackage)])
        var chosen: BackupSearch.Backup? = nil
        var site: [SiteFile: SourceFile] = [:]
        var skipped: [String] = []
        for candidate in search.candidates {
            var files: [SiteFile: SourceFile] = [:]
            for file in SiteFile.allCases where FileSystem.exists("\(candidate.path)/\(file.rawValue)") {
                files[file] = SourceFile(path: "\(candidate.path)/\(file.rawValue)", bytes: try FileSystem.read("\(candidate.path)/\(file.rawValue)"))
            }
            // A backup of a tree upgraded already (the upgrade run twice) holds the new release's
            // defaults, not the site's settings.
            if !search.isExplicit, !files.isEmpty {
                let pristine = files.allSatisfy { release[$0.key]?.bytes == $0.value.bytes || FateRelease.target.defaultFile($0.key) == $0.value.bytes }
                if pristine || SiteBaseline.detect(site: files.mapValues(\.bytes)).release == .target {
                    skipped.append("skipped \(candidate.path): its files are FATE \(FateRelease.target.rawValue)'s own, not a site's (an upgrade run twice?); an older backup is used, or give one with --backup")
                    continue
                }
            }
            if let problem = Self.layoutProblem(candidate.path, files) { throw problem }
            chosen = candidate
            site = files
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

        // A run again takes the answers the earlier run for this backup was given, unless told otherwise.
        let recordPath = chosen.map { SiteRecord.path(fateRoot: options.fateRoot, backup: Path.name($0.path)) }
        let earlierRecord = recordPath.flatMap { try? SiteRecord.load($0) }
        var choices = options.choices
        if let earlier = earlierRecord?.choices {
            var reused: [String] = []
            if choices.modelStore == nil, let store = earlier.modelStore { choices.modelStore = store; reused.append("--model-store \(store.rawValue)") }
            if choices.siteRelease == nil, let release = earlier.siteRelease { choices.siteRelease = release; reused.append("--site-release \(release.rawValue)") }
            for (file, choice) in earlier.files.sorted(by: { $0.key.rawValue < $1.key.rawValue }) where choices.files[file] == nil {
                choices.files[file] = choice
                reused.append("--\(choice.rawValue) \(file.name)")
            }
            if !reused.isEmpty { notes.append("the choices given to the earlier run for this backup stand: \(reused.joined(separator: " "))") }
        }
        let merge = try SiteMerge(site: site, release: release, choices: choices, registry: options.overrides)
        var planned = Planned(report: Report(backup: chosen?.path, backupsFound: search.found.map(\.path), ignored: search.ignored,
                                             baseline: site.isEmpty ? nil : "FATE \(merge.baseline.release.shown): \(merge.baseline.reason)",
                                             layout: merge.layout?.description, baseConf: given, changed: false, dryRun: options.dryRun,
                                             previousKeptAs: nil, settings: (merge.registry?.decisions ?? []).map { Report.Setting(key: $0.key, value: $0.shown, reason: $0.reason) },
                                             changes: merge.changes, decisions: merge.decisions, files: [], data: [], diff: "", notes: []),
                              merge: merge)
        planned.choices = choices
        planned.record = recordPath
        planned.written = (try? SiteWrites.load(fateRoot: options.fateRoot)) ?? [:]
        let written = planned.written
        var diffs = ""
        for result in merge.files {
            guard let merged = result.merged, let (path, real) = paths[result.file] else { continue }
            if result.file == .baseConf {
                if let registry = merge.registry {
                    let values = [("zookeeper.user", registry.settings.user), ("zookeeper.password", registry.settings.password)]
                        + registry.settings.hosts.map { ("zookeeper.hosts", $0) }
                    for (key, value) in values where value.unicodeScalars.contains(where: { !$0.isASCII }) && !notes.contains(where: { $0.hasPrefix(key + " ") }) {
                        notes.append("\(key) has non-ASCII characters: written as \\u escapes in double quotes, which YAML reads back as the same text, so that the file stays ASCII for FATE's Python 3.6")
                    }
                }
                if let line = merged.split(separator: 0x0A, omittingEmptySubsequences: false).firstIndex(where: { $0.contains { $0 >= 0x80 } }) {
                    notes.append("warning: line \(line + 1) of \(given) has non-ASCII text; FATE 1.4.4 fails to start on it unless fate_flow runs with a UTF-8 locale (LANG=en_US.UTF-8)")
                }
            }
            let now = current[result.file]
            var outcome = now == merged ? "unchanged" : options.dryRun ? "would be written" : "written"
            // Edited by hand after an earlier merge: neither the release's file nor what fate-upgrade wrote.
            let ours = now.map { written[real] == SHA256.hex($0) } ?? false
            if let now, now != merged, now != result.release, !ours, FileSystem.exists(Self.releaseCopy(of: path)) {
                outcome = "kept as edited"
                notes.append("\(path) differs from both the release's file and the merge (edited since fate-upgrade merged it?): left as it is; the merge would give:\n" + TextLines.diff(now, merged, oldLabel: "now/\(result.file.rawValue)", newLabel: "merge/\(result.file.rawValue)"))
            } else if now != merged {
                planned.writes.append((result.file, path, real, now, result.release, merged))
            }
            diffs += result.diff
            planned.report.files.append(.init(file: result.file.rawValue, path: path, outcome: outcome,
                                              releaseCopy: result.release != nil && merged != result.release ? Self.releaseCopy(of: path) : nil, diff: result.diff))
        }
        if !options.dryRun { planned.report.previousKeptAs = planned.writes.first { $0.file == SiteFile.baseConf }.map { Self.releaseCopy(of: $0.given) } }
        planned.report.diff = diffs

        // The site's data, when there is a backup to take it from.
        if options.moveData, let chosen, FileSystem.isRealDirectory(tree) {
            let moved = Set(earlierRecord?.moves.filter { $0.action == .move }.map(\.item) ?? [])
            let since = Self.upgradeTime(of: chosen)
            var facts: [String: (site: SiteData.Facts?, new: SiteData.Facts?)] = [:]
            for item in SiteData.folders + [SiteData.standaloneDatabase] {
                facts[item] = (Self.facts("\(chosen.path)/\(item)", since: since), Self.facts("\(tree)/\(item)", since: since))
            }
            let workMode = (try? BaseConf(parsing: site[.baseConf]?.bytes ?? [], file: "").document)
                .flatMap { YAMLDocument.lookup("work_mode", in: $0.root)?.value.scalarText }
            let moves = SiteData.plan(items: facts, moved: moved, standalone: workMode == "0", backup: chosen.path, tree: tree,
                                      stamp: chosen.timestamp.isEmpty ? timestamp() : chosen.timestamp)
            planned.report.data = moves
            planned.moves = moves.filter { $0.action == .move }
        }
        planned.report.notes = skipped + merge.notes + notes
        planned.report.summary = summary(planned, search: search, chosen: chosen, skipped: skipped, notes: merge.notes + notes)
        return planned
    }

    /// Plans, then (unless a dry run, or blocked) writes the merged files and moves the data.
    public func run() throws -> Report {
        var planned = try plan()
        guard !planned.blocked else {
            if options.dryRun { return planned.report }
            throw SiteDecisionsNeeded(report: planned.report)
        }
        guard !options.dryRun else { return planned.report }
        try execute(&planned)
        return planned.report
    }

    /// The writes and moves of a plan; each file through a temporary name, each move one rename.
    func execute(_ planned: inout Planned) throws {
        var changed = false
        var written = planned.written
        for write in planned.writes {
            try Self.replace(write.target, releaseCopy: write.release.map { (Self.releaseCopy(of: write.given), $0) }, with: write.merged, modeFrom: write.current == nil ? planned.report.backup.map { "\($0)/\(write.file.rawValue)" } : nil)
            changed = true
            written[write.target] = SHA256.hex(write.merged)
        }
        if !planned.writes.isEmpty, FileSystem.isDirectory(options.fateRoot) {
            do { try SiteWrites.save(written, fateRoot: options.fateRoot) } catch {
                planned.report.notes.append("warning: what was written could not be recorded (\(error.operatorLines.joined(separator: "; "))): a later run takes these files for hand edits")
            }
        }
        if let record = planned.record, !planned.moves.isEmpty || !planned.writes.isEmpty {
            // The record first: a rollback that finds it moves back whatever got moved.
            var saved = (try? SiteRecord.load(record)) ?? SiteRecord(backup: planned.report.backup ?? "", tree: tree, moves: [])
            saved.moves += planned.moves.filter { move in !saved.moves.contains { $0.item == move.item && $0.action == .move } }
            saved.choices = planned.choices
            try saved.save(to: record)
        }
        if let record = planned.record, !planned.moves.isEmpty {
            for move in planned.moves {
                if let aside = move.aside { try FileSystem.rename(move.to, aside) }
                do { try FileSystem.rename(move.from, move.to) } catch {
                    throw HostError("\(error.operatorLines.joined(separator: "; ")): \(move.item) was not moved (nothing is copied: the backup and the new tree must be on one file system); what was moved before it is recorded in \(record)")
                }
                changed = true
            }
        }
        planned.report.changed = changed
        planned.report.outcome = changed ? .succeeded : .unchanged
        var lines = planned.report.summary
        lines.removeAll { $0.hasPrefix("dry run") }
        for write in planned.writes { lines.append("wrote \(write.target); the new release's file is kept as \(Self.releaseCopy(of: write.given))") }
        for move in planned.moves { lines.append("moved \(move.from) to \(move.to)" + (move.aside.map { " (the new tree's own kept as \(Path.name($0)))" } ?? "")) }
        if !changed { lines.append("\(planned.report.baseConf) already holds these settings; nothing changed") }
        planned.report.summary = lines
    }

    func summary(_ planned: Planned, search: BackupSearch, chosen: BackupSearch.Backup?, skipped: [String], notes: [String]) -> [String] {
        let report = planned.report
        var lines = [search.summary(chosen: chosen)]
        lines += skipped
        if let baseline = report.baseline { lines.append("site: \(baseline)") }
        if let layout = report.layout { lines.append("layout: \(layout)") }
        for decision in report.settings {
            lines.append("\(decision.key.padded(to: 20)) \(decision.value)  (\(decision.reason))")
        }
        for change in report.changes where change.action != .mapped || !report.settings.contains(where: { $0.key == change.key }) {
            lines.append(change.line)
        }
        for move in report.data {
            switch move.action {
            case .move: lines.append("data: move \(move.from) to \(move.to) (\(SiteDataMove.count(move.files)), \(sizeText(move.bytes)))" + (move.note.isEmpty ? "" : "; \(move.note)"))
            case .alreadyMoved: lines.append("data: \(move.item) is in \(move.to) already (\(move.note))")
            case .collision: lines.append("data: refused: \(move.note)")
            case .none: if move.files > 0 { lines.append("data: \(move.item) stays in the backup: \(move.note)") }
            }
        }
        lines += notes
        for decision in report.decisions {
            lines.append("decision needed: \(decision.question)")
            for choice in decision.choices { lines.append("    \(choice)") }
            if let diff = decision.diff { lines.append(diff) }
        }
        if options.dryRun { lines.append(report.diff + "dry run: nothing changed") }
        return lines
    }

    /// When the upgrade moved python/ aside: the backup's name says (local time, as FATE's script
    /// names it); else the backup folder's last status change, which the move made.
    static func upgradeTime(of backup: BackupSearch.Backup) -> Int {
        if backup.timestamp.count == 14 {
            let digits = Array(backup.timestamp.utf8).map { Int($0) - 48 }
            let number = { (from: Int, count: Int) in digits[from..<(from + count)].reduce(0) { $0 * 10 + $1 } }
            var parts = tm()
            parts.tm_year = Int32(number(0, 4) - 1900)
            parts.tm_mon = Int32(number(4, 2) - 1)
            parts.tm_mday = Int32(number(6, 2))
            parts.tm_hour = Int32(number(8, 2))
            parts.tm_min = Int32(number(10, 2))
            parts.tm_sec = Int32(number(12, 2))
            parts.tm_isdst = -1
            return Int(mktime(&parts))
        }
        var info = stat()
        return stat(backup.path, &info) == 0 ? Int(info.st_ctim.tv_sec) : Int(time(nil))
    }

    /// Files and bytes under `path`, and whether every entry is newer than `since` (a second of slack).
    static func facts(_ path: String, since: Int) -> SiteData.Facts? {
        var info = stat()
        guard lstat(path, &info) == 0 else { return nil }
        var files = 0
        var bytes: Int64 = 0
        var allNew = Int(info.st_mtim.tv_sec) >= since - 1
        func visit(_ folder: String) {
            for name in FileSystem.names(in: folder) {
                var entry = stat()
                guard lstat("\(folder)/\(name)", &entry) == 0 else { continue }
                if Int(entry.st_mtim.tv_sec) < since - 1 { allNew = false }
                if entry.st_mode & S_IFMT == S_IFDIR { visit("\(folder)/\(name)") } else {
                    files += 1
                    bytes += Int64(entry.st_size)
                }
            }
        }
        let isDirectory = info.st_mode & S_IFMT == S_IFDIR
        if isDirectory { visit(path) } else {
            files = 1
            bytes = Int64(info.st_size)
        }
        return SiteData.Facts(isDirectory: isDirectory, files: files, bytes: bytes, madeAfterUpgrade: allNew)
    }

    /// Why a backup cannot be read as a FATE tree, or nil.
    static func layoutProblem(_ folder: String, _ files: [SiteFile: SourceFile]) -> InputError? {
        if files[.settingUtils] != nil && files[.settings] == nil {
            return InputError(SourceLocation(file: "\(folder)/fate_flow/settings.py"), "missing (a 1.4.0/1.4.1 backup keeps ZOOKEEPER_HOSTS there)")
        }
        if files[.settingUtils] == nil, let settings = files[.settings], files[.baseConf] == nil || ((try? BaseConf(parsing: files[.baseConf]!.bytes, file: "").current())?.hasZooKeeper == false),
           let parsed = try? PythonSettingsFile(parsing: settings.bytes, file: settings.path), parsed.moduleValue("ZOOKEEPER_HOSTS") != nil {
            return InputError(SourceLocation(file: "\(folder)/fate_flow/utils/setting_utils.py"), "missing (a 1.4.0/1.4.1 backup keeps USE_ACL, ZK_USERNAME and ZK_PASSWORD there)")
        }
        if files.isEmpty {
            return InputError(SourceLocation(file: folder), "holds none of FATE's settings files (arch/conf/base_conf.yaml, fate_flow/settings.py): not a backup of FATE's python folder")
        }
        return nil
    }

    /// Where the new release's own file is kept beside the merged one, for comparing.
    static func releaseCopy(of path: String) -> String { "\(path).release" }

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

    /// Atomically replaces (or creates) `path` with `bytes`, keeping its mode and owner (or those of
    /// `modeFrom`), after keeping the new release's pristine file as `releaseCopy` (once: a copy an
    /// earlier run kept is the release's, and stays).
    public static func replace(_ path: String, releaseCopy: (path: String, bytes: [UInt8])?, with bytes: [UInt8], modeFrom: String? = nil) throws {
        var status = stat()
        let exists = stat(path, &status) == 0
        if !exists {
            guard let modeFrom, stat(modeFrom, &status) == 0 else { throw PackageWriteError(path, Errno.text()) }
        }
        let file = try AtomicOutputFile(path: path, overwrite: true, mode: status.st_mode & 0o7777,
                                        owner: FileOwner(uid: status.st_uid, gid: status.st_gid))
        defer { file.discard() }
        try file.write(bytes)
        var madeCopy: String? = nil
        if let releaseCopy, !FileSystem.exists(releaseCopy.path) {
            let copy = try AtomicOutputFile(path: releaseCopy.path, overwrite: false, mode: status.st_mode & 0o7777,
                                            owner: FileOwner(uid: status.st_uid, gid: status.st_gid))
            defer { copy.discard() }
            try copy.write(releaseCopy.bytes)
            try copy.commit(overwrite: false)
            madeCopy = releaseCopy.path
        }
        do {
            try file.commit(overwrite: true)
        } catch {
            if let madeCopy { unlink(madeCopy) }
            throw error
        }
    }
}

/// What a site migration moved out of one backup, so that a rollback can move it back.
public struct SiteRecord: Codable, Sendable {
    public var backup: String
    public var tree: String
    public var moves: [SiteDataMove]
    /// The operator's answers the merge ran with, which a later run takes again.
    public var choices: SiteChoices? = nil

    public static func path(fateRoot: String, backup: String) -> String {
        "\(UpgradeJournal.folder(fateRoot: fateRoot))/site/\(backup).json"
    }

    public static func load(_ path: String) throws -> SiteRecord {
        try JSONDecoder().decode(SiteRecord.self, from: Data(try FileSystem.read(path)))
    }

    func save(to path: String) throws {
        try FileSystem.makeDirectories(Path.parent(Path.parent(path)), mode: 0o700)
        try FileSystem.makeDirectories(Path.parent(path), mode: 0o700)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let file = try AtomicOutputFile(path: path, overwrite: true, mode: 0o600)
        defer { file.discard() }
        try file.write(Array(try encoder.encode(self)) + [0x0A])
        try file.commit(overwrite: true)
        // Run as root for FATE's user: the record is that user's, as the state folder is, so that
        // a rollback run as that user finds it.
        if let owner = FileOwner.of(Path.parent(Path.parent(path))) {
            for made in [Path.parent(path), path] { _ = chown(made, owner.uid, owner.gid) }
        }
    }
}

/// What fate-upgrade wrote into the new tree (path → SHA-256), so that a file changed since is
/// known for a hand edit and left alone, while one it wrote may be merged again.
enum SiteWrites {
    static func path(fateRoot: String) -> String { "\(UpgradeJournal.folder(fateRoot: fateRoot))/site/written.json" }

    static func load(fateRoot: String) throws -> [String: String] {
        try JSONDecoder().decode([String: String].self, from: Data(try FileSystem.read(path(fateRoot: fateRoot))))
    }

    static func save(_ written: [String: String], fateRoot: String) throws {
        let file = path(fateRoot: fateRoot)
        try FileSystem.makeDirectories(Path.parent(Path.parent(file)), mode: 0o700)
        try FileSystem.makeDirectories(Path.parent(file), mode: 0o700)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let output = try AtomicOutputFile(path: file, overwrite: true, mode: 0o600)
        defer { output.discard() }
        try output.write(Array(try encoder.encode(written)) + [0x0A])
        try output.commit(overwrite: true)
        if let owner = FileOwner.of(Path.parent(Path.parent(file))) {
            for made in [Path.parent(file), file] { _ = chown(made, owner.uid, owner.gid) }
        }
    }
}

/// The merge needs the operator's choices: nothing was changed.
public struct SiteDecisionsNeeded: OperatorError, ReportingError {
    public var confmigrateReport: ConfmigrateOperation.Report
    public init(report: ConfmigrateOperation.Report) {
        confmigrateReport = report
        confmigrateReport.outcome = .refused
    }
    public var lines: [String] {
        var lines = confmigrateReport.summary
        let count = confmigrateReport.decisions.count + confmigrateReport.data.filter { $0.action == .collision }.count
        lines.append("stopped: \(count) thing\(count == 1 ? "" : "s") above cannot be carried without a choice; nothing was changed")
        return lines
    }
    public var exitStatus: Int32 { 1 }
    public var report: any Encodable & Sendable { confmigrateReport }
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
