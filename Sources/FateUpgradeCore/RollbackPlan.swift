/// What an upgrade component touches, and so what its rollback undoes (guide §4).
public enum UpgradeComponent: String, CaseIterable, Codable, Sendable {
    case all, mysql, fatepython, fateflow

    /// fate_flow is stopped and started around code changes.
    public var touchesService: Bool { self != .mysql }
    public var touchesPython: Bool { self == .all || self == .fatepython }
    public var touchesFateFlow: Bool { self == .fateflow }
    public var touchesDatabase: Bool { self == .all || self == .mysql }

    /// Whether the two upgrade any of the same things.
    public func overlaps(_ other: UpgradeComponent) -> Bool {
        (touchesDatabase && other.touchesDatabase) || (touchesPython && other.touchesPython)
            || (touchesFateFlow && other.touchesFateFlow)
    }
}

/// The tables FATE's 1.4.x upgrade SQL backs up as `<t>_backup` before changing them.
public let upgradedTables = ["t_queue", "t_job", "t_task", "t_data_view", "t_machine_learning_model_meta"]

/// The steps of a rollback, in order, from what the upgrade left behind. Pure: the caller
/// says what exists; the plan says what to rename.
public struct RollbackPlan: Hashable, Sendable {
    public enum Step: Hashable, Sendable {
        case stopService
        /// The site's data (models, jobs, logs) moved back from the upgraded tree into the backup
        /// it came from, before the folders are renamed: each (from, to), one rename each.
        case moveSiteData([(from: String, to: String)])
        /// Renames in one folder, in order: each (from, to).
        case renameFolders(in: String, [(from: String, to: String)])
        /// One RENAME TABLE statement, atomic in MySQL and MariaDB.
        case renameTables(database: String, statement: String, [(from: String, to: String)])
        /// Inflate the snapshot to a private file, its SHA-256 and gzip CRC checked: nothing
        /// visible changes until it is whole.
        case stageSnapshot(file: String, sha256: String)
        /// Load the staged dump into the (emptied) database.
        case loadSnapshot(database: String, file: String)
        /// Count each table's rows and compare with the counts recorded when the dump was taken.
        case checkRows(database: String, [String: Int])
        case startService

        public static func == (lhs: Step, rhs: Step) -> Bool { lhs.description == rhs.description }
        public func hash(into hasher: inout Hasher) { hasher.combine(description) }
    }

    public var steps: [Step]
    /// Why parts of the rollback have nothing to do, for the operator.
    public var notes: [String]

    public var isEmpty: Bool { steps.isEmpty }

    /// - Parameters:
    ///   - folder: the folder holding the upgraded code and its backup (FATE_ROOT for python,
    ///     FATE_ROOT/python for fate_flow); `entries` is what it holds now.
    ///   - backup: the backup folder the upgrade made (`python_<ts>` / `fate_flow_<ts>`), if known.
    ///   - tables: the tables of the database now.
    ///   - date: YYYYmmdd, for the names the upgraded tables are kept under.
    ///   - snapshot: restore the database from this dump instead of from the `_backup` tables:
    ///     every current table is renamed aside (to `<t>_pre_restore_<date>`), then the dump is loaded.
    public init(component: UpgradeComponent, codeFolder folder: String, codeName: String, backup: String?,
                entries: Set<String>, database: String, tables: Set<String>, date: String,
                snapshot: DatabaseSnapshot? = nil, siteData: [(from: String, to: String)] = []) {
        var steps: [Step] = []
        var notes: [String] = []
        var codeRenames: [(from: String, to: String)] = []
        if component.touchesPython || component.touchesFateFlow {
            if let backup, entries.contains(backup) {
                if entries.contains(codeName) {
                    codeRenames.append((codeName, RollbackPlan.freeName("\(codeName)_upgrade_backup", taken: entries)))
                }
                codeRenames.append((backup, codeName))
            } else if let backup {
                notes.append("\(folder)/\(backup) is not there: the code was already rolled back or never backed up")
            } else {
                notes.append("no \(codeName)_<timestamp> backup in \(folder): the code was not replaced")
            }
        }
        var tableRenames: [(from: String, to: String)] = []
        if component.touchesDatabase, snapshot != nil {
            var taken = tables
            for table in tables.sorted() {
                let aside = RollbackPlan.asideName(for: table, marker: "pre_restore", date: date, taken: taken)
                taken.insert(aside)
                tableRenames.append((table, aside))
            }
            if tableRenames.isEmpty { notes.append("\(database) has no tables: the snapshot is loaded into it as it is") }
        } else if component.touchesDatabase {
            var taken = tables
            for table in upgradedTables where tables.contains("\(table)_backup") {
                if tables.contains(table) {
                    let kept = RollbackPlan.asideName(for: table, marker: "backup", date: date, taken: taken)
                    taken.insert(kept)
                    tableRenames.append((table, kept))
                }
                tableRenames.append(("\(table)_backup", table))
            }
            if tableRenames.isEmpty { notes.append("no *_backup tables in \(database): the database was not upgraded, or was already rolled back") }
        }
        if component.touchesDatabase, let snapshot {
            steps.append(.stageSnapshot(file: snapshot.file, sha256: snapshot.sha256))
        }
        if !codeRenames.isEmpty {
            steps.append(.stopService)
            if !siteData.isEmpty { steps.append(.moveSiteData(siteData)) }
            steps.append(.renameFolders(in: folder, codeRenames))
        }
        if !tableRenames.isEmpty {
            let pairs = tableRenames.map { "`\($0.from)` TO `\($0.to)`" }.joined(separator: ", ")
            steps.append(.renameTables(database: database, statement: "RENAME TABLE \(pairs);", tableRenames))
        }
        if component.touchesDatabase, let snapshot {
            steps.append(.loadSnapshot(database: database, file: snapshot.file))
            steps.append(.checkRows(database: database, snapshot.rows))
        }
        if !codeRenames.isEmpty { steps.append(.startService) }
        self.steps = steps
        self.notes = notes
    }

    /// MySQL's and MariaDB's limit on a table name, in characters.
    public static let tableNameLimit = 64

    /// The name a table is kept under: `<t>_<marker>_<date>`, then `_1`, `_2`… whichever is free,
    /// where `<t>` is the upgraded table it comes from (a table a rollback already moved aside is
    /// named for its table again, not `<t>_backup_<date>_pre_restore_<date>`), and any other
    /// table's name is shortened so that the whole fits in 64 characters.
    public static func asideName(for table: String, marker: String, date: String, taken: Set<String>) -> String {
        let base = upgradedTable(of: table) ?? table
        let suffix = "_\(marker)_\(date)"
        // Room for a counter of four digits.
        let room = tableNameLimit - suffix.count - 5
        let stem = base.count <= room ? base : String(base.prefix(room))
        return freeName(stem + suffix, taken: taken)
    }

    /// The upgraded table a leftover is named for (`t_job_backup`, `t_job_backup_20261203_1`,
    /// `t_job_pre_restore_20261203` → `t_job`), or nil for any other table.
    public static func upgradedTable(of name: String) -> String? {
        for table in upgradedTables.sorted(by: { $0.count > $1.count }) {
            for marker in ["_backup", "_pre_restore_"] where name.hasPrefix(table + marker) {
                let rest = name.dropFirst(table.count + marker.count)
                if marker == "_backup" && rest.isEmpty { return table }
                let parts = rest.drop { $0 == "_" }.split(separator: "_", omittingEmptySubsequences: false)
                if let first = parts.first, first.count == 8, first.allSatisfy(\.isNumber), parts.count <= 2,
                   parts.dropFirst().allSatisfy({ !$0.isEmpty && $0.allSatisfy(\.isNumber) }) { return table }
            }
        }
        return nil
    }

    /// Names the plan would give that MySQL refuses: checked before anything runs.
    public var tooLongNames: [String] {
        steps.flatMap { step -> [String] in
            guard case .renameTables(_, _, let renames) = step else { return [] }
            return renames.map(\.to).filter { $0.count > RollbackPlan.tableNameLimit }
        }
    }

    /// `name`, or `name_1`, `name_2`… whichever is not taken.
    public static func freeName(_ name: String, taken: Set<String>) -> String {
        guard taken.contains(name) else { return name }
        var index = 1
        while taken.contains("\(name)_\(index)") { index += 1 }
        return "\(name)_\(index)"
    }
}

extension RollbackPlan.Step: CustomStringConvertible {
    public var description: String {
        switch self {
        case .stopService: "stop fate_flow"
        case .moveSiteData(let moves):
            "move the site's data back where it came from: " + moves.map { "mv \($0.from) \($0.to)" }.joined(separator: "; ")
        case .renameFolders(let folder, let renames):
            "in \(folder): " + renames.map { "mv \($0.from) \($0.to)" }.joined(separator: "; ")
        case .renameTables(let database, let statement, _): "in database \(database): \(statement)"
        case .stageSnapshot(let file, let sha256): "inflate \(file) to a private file, checking its SHA-256 \(sha256.prefix(12))…, its gzip CRC and every statement against what a dump of fate_flow holds"
        case .loadSnapshot(let database, let file): "load \(file) into database \(database)"
        case .checkRows(let database, let rows):
            "check the row counts of \(rows.count) tables in \(database) against the snapshot's (\(rows.values.reduce(0, +)) rows)"
        case .startService: "start fate_flow"
        }
    }
}

/// Plans a rollback from what the survey found: which backup holds the old code (proved by its
/// files, not its name), what the site's data moves back, which tables are renamed. Pure.
public struct RollbackPlanner: Sendable {
    /// One item confmigrate moved out of the backup, and whether each end is there now.
    public struct SiteDataMove: Sendable, Hashable {
        public var item: String
        /// Where it was in the backup, and where it is in the upgraded tree.
        public var from: String
        public var to: String
        public var fromExists: Bool
        public var toExists: Bool

        public init(item: String, from: String, to: String, fromExists: Bool, toExists: Bool) {
            self.item = item
            self.from = from
            self.to = to
            self.fromExists = fromExists
            self.toExists = toExists
        }
    }

    public var component: UpgradeComponent
    /// The newest run not rolled back, if there is one.
    public var journal: UpgradeJournal?
    /// The folder holding the code and its backups (FATE_ROOT, or FATE_FLOW_ROOT's parent) and its names now.
    public var codeFolder: String
    public var codeName: String
    public var entries: Set<String>
    /// The `<codeName>_<timestamp>` backups in it that are real folders.
    public var backups: [String]
    /// Its python trees, by name (for components that touch python).
    public var trees: [String: PythonTree]
    public var tables: Set<String>
    /// YYYYmmdd, for the names tables are kept under.
    public var date: String
    public var snapshot: DatabaseSnapshot?
    /// Whether a fate_flow of this FATE_ROOT runs now.
    public var fateFlowRunning: Bool

    public init(component: UpgradeComponent, journal: UpgradeJournal?, codeFolder: String, codeName: String, entries: Set<String>,
                backups: [String], trees: [String: PythonTree], tables: Set<String>, date: String, snapshot: DatabaseSnapshot? = nil,
                fateFlowRunning: Bool = true) {
        self.fateFlowRunning = fateFlowRunning
        self.component = component
        self.journal = journal
        self.codeFolder = codeFolder
        self.codeName = codeName
        self.entries = entries
        self.backups = backups
        self.trees = trees
        self.tables = tables
        self.date = date
        self.snapshot = snapshot
    }

    /// The backup to restore, the names the plan may rename, and why others are left alone.
    public var restore: (backup: String?, entries: Set<String>, notes: [String]) {
        let before = component.touchesFateFlow ? journal?.before.fateFlowBackups : journal?.before.pythonBackups
        let candidates = before.map { old in backups.filter { !old.contains($0) } } ?? backups
        var backup = candidates.sorted().last
        var entries = self.entries
        var notes: [String] = []
        guard component.touchesPython else { return (backup, entries, notes) }
        // The one that holds the release from before, not the newest name: the upgrade script run
        // again by hand moves a 1.4.4 tree aside too.
        let made = journal.map { run in (run.after?.pythonBackups ?? []).filter { !run.before.pythonBackups.contains($0) } } ?? []
        let old = candidates.filter { trees[$0]?.holdsOldRelease == true }
        let chosen = old.filter(made.contains).sorted().last ?? old.sorted().last
        for name in candidates.sorted() where name != chosen && trees[name]?.release == .target {
            notes.append("\(codeFolder)/\(name) holds FATE \(FateRelease.target.rawValue)'s files (the upgrade script run again by hand?): it is not restored, and stays where it is")
        }
        if let chosen, chosen != backup, let release = trees[chosen]?.release { notes.append("restoring \(codeFolder)/\(chosen): it holds FATE \(release.shown)'s files") }
        if chosen == nil, let newest = backup {
            notes.append("no backup holds a release from before \(FateRelease.target.rawValue) (\(candidates.sorted().joined(separator: ", ")) hold \(FateRelease.target.rawValue)'s files): the code is not rolled back; restore python/ from your own backup")
            entries.remove(newest)
        }
        backup = chosen ?? backup
        // python/ already back on the old release (rolled back by hand): nothing of the code to undo.
        if let now = trees[codeName]?.release, now != .target, let chosen {
            notes.append("\(codeFolder)/python already holds FATE \(now.shown)'s files (rolled back by hand?): the folders are not renamed, and \(chosen) stays")
            entries.remove(chosen)
        }
        return (backup, entries, notes)
    }

    /// - Parameter siteData: what confmigrate moved out of `restore.backup`, as its record says.
    public func plan(siteData: [SiteDataMove] = []) -> RollbackPlan {
        let restore = self.restore
        // What confmigrate moved out of the backup goes back into it, so the old tree is whole again.
        var moves: [(from: String, to: String)] = []
        var notes: [String] = []
        for move in siteData {
            switch (move.toExists, move.fromExists) {
            case (true, false): moves.append((move.to, move.from))
            case (true, true):
                // Never merged: the upgraded tree keeps its copy (it goes aside with it) and says so.
                notes.append("\(move.from) is there again, so \(move.to) is not moved back over it: it stays in the upgraded tree, which the rollback keeps as \(codeName)_upgrade_backup")
            case (false, _): notes.append("\(move.to) is gone (moved or removed since the upgrade): nothing of \(move.item) to move back")
            }
        }
        var plan = RollbackPlan(component: component, codeFolder: codeFolder, codeName: codeName, backup: restore.backup,
                                entries: restore.entries, database: fateFlowDatabase, tables: tables, date: date,
                                snapshot: snapshot, siteData: moves)
        plan.notes += restore.notes + notes
        // A rollback that stopped midway may have stopped fate_flow before its renames: what is left
        // of the undo ends with starting it again.
        if let attempt = journal?.rollbackAttempt, attempt.unfinished, component.touchesService, !fateFlowRunning,
           !plan.steps.contains(.startService) {
            plan.steps.append(.startService)
            plan.notes.append("the rollback begun at \(attempt.startedAt) stopped\(attempt.stoppedAt.map { " at: \($0)" } ?? "") with fate_flow stopped: this one starts it at the end")
        }
        // A nodemanager machine must not run fate_flow (one per cluster): it stays stopped.
        if journal?.role == MachineRole.nodemanager.rawValue, plan.steps.contains(.startService) {
            plan.steps.removeAll { $0 == .startService }
            plan.notes.append("fate_flow is not started again: this is a nodemanager machine (the journal says so)")
        }
        return plan
    }
}
