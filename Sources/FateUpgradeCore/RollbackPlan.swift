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
        /// Renames in one folder, in order: each (from, to).
        case renameFolders(in: String, [(from: String, to: String)])
        /// One RENAME TABLE statement, atomic in MySQL and MariaDB.
        case renameTables(database: String, statement: String, [(from: String, to: String)])
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
    public init(component: UpgradeComponent, codeFolder folder: String, codeName: String, backup: String?,
                entries: Set<String>, database: String, tables: Set<String>, date: String) {
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
        if component.touchesDatabase {
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
        if !codeRenames.isEmpty {
            steps.append(.stopService)
            steps.append(.renameFolders(in: folder, codeRenames))
        }
        if !tableRenames.isEmpty {
            let pairs = tableRenames.map { "`\($0.from)` TO `\($0.to)`" }.joined(separator: ", ")
            steps.append(.renameTables(database: database, statement: "RENAME TABLE \(pairs);", tableRenames))
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
        case .renameFolders(let folder, let renames):
            "in \(folder): " + renames.map { "mv \($0.from) \($0.to)" }.joined(separator: "; ")
        case .renameTables(let database, let statement, _): "in database \(database): \(statement)"
        case .startService: "start fate_flow"
        }
    }
}
