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
                let aside = RollbackPlan.freeName("\(table)_pre_restore_\(date)", taken: taken)
                taken.insert(aside)
                tableRenames.append((table, aside))
            }
            if tableRenames.isEmpty { notes.append("\(database) has no tables: the snapshot is loaded into it as it is") }
        } else if component.touchesDatabase {
            var taken = tables
            for table in upgradedTables where tables.contains("\(table)_backup") {
                if tables.contains(table) {
                    let kept = RollbackPlan.freeName("\(table)_backup_\(date)", taken: taken)
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
        case .stageSnapshot(let file, let sha256): "inflate \(file) to a private file, checking its SHA-256 \(sha256.prefix(12))… and gzip CRC"
        case .loadSnapshot(let database, let file): "load \(file) into database \(database)"
        case .checkRows(let database, let rows):
            "check the row counts of \(rows.count) tables in \(database) against the snapshot's (\(rows.values.reduce(0, +)) rows)"
        case .startService: "start fate_flow"
        }
    }
}
