/// What `cleanup` removes and keeps, and the steps that remove it: `--plan` prints them, `--yes`
/// runs exactly them.
public struct CleanupPlan: Sendable {
    public struct Item: Codable, Sendable, Hashable {
        public enum Kind: String, Codable, Sendable { case folder, table, file }
        public var kind: Kind
        /// A path, or a table name.
        public var name: String
        public var bytes: Int64
        public var why: String
        /// The run it belongs to, if any.
        public var run: String?

        public init(kind: Kind, name: String, bytes: Int64, why: String, run: String?) {
            self.kind = kind
            self.name = name
            self.bytes = bytes
            self.why = why
            self.run = run
        }
    }

    /// One removal: the tables in one DROP TABLE, or one folder or file.
    public enum Step: CustomStringConvertible, Sendable, Hashable {
        case dropTables(database: String, statement: String, [String])
        case remove(Item)

        public var description: String {
            switch self {
            case .dropTables(let database, let statement, _): "in database \(database): \(statement)"
            case .remove(let item): item.kind == .folder ? "rm -rf \(shellQuoted(item.name))" : "rm \(shellQuoted(item.name))"
            }
        }
    }

    public var remove: [Item]
    public var keep: [Item]
    public var notes: [String]

    public var bytes: Int64 { remove.reduce(0) { $0 + $1.bytes } }

    public var steps: [Step] {
        let tables = remove.filter { $0.kind == .table }.map(\.name)
        var steps: [Step] = []
        if !tables.isEmpty {
            let names = tables.map { "`" + $0.replacing("`", with: "``") + "`" }
            steps.append(.dropTables(database: fateFlowDatabase, statement: "DROP TABLE " + names.joined(separator: ", ") + ";", tables))
        }
        return steps + remove.filter { $0.kind != .table }.map(Step.remove)
    }
}

/// Decides what of the leftovers found may go: never what a rollback of a run that is not
/// verified still needs (its backup, its `_backup` tables, its snapshot) unless `force`, and never
/// a tree that holds the site's models, jobs or logs. Pure.
public struct CleanupPlanner: Sendable {
    public var fateRoot: String
    public var fateFlowRoot: String
    public var journals: [UpgradeJournal]
    /// The leftovers found on disk and in the database, in the order found.
    public var found: [CleanupPlan.Item]
    /// The site data items each found folder holds (`jobs/ (12 files)`), by path.
    public var siteData: [String: [String]]
    /// What finding noticed (snapshots too young, tables not looked at).
    public var notes: [String]
    public var force: Bool

    public init(fateRoot: String, fateFlowRoot: String, journals: [UpgradeJournal], found: [CleanupPlan.Item],
                siteData: [String: [String]], notes: [String] = [], force: Bool) {
        self.fateRoot = fateRoot
        self.fateFlowRoot = fateFlowRoot
        self.journals = journals
        self.found = found
        self.siteData = siteData
        self.notes = notes
        self.force = force
    }

    /// What each run a rollback may still need holds, with the reason. Named from FATE_ROOT as
    /// given here and the tool's own naming scheme, never from paths in a journal (a journal is the
    /// FATE user's file): its snapshot is `<state>/snapshots/<id>.sql.gz`; its code backups are
    /// every `python_<ts>` / `fate_flow_<ts>` that was not there when it began (a killed run never
    /// recorded the one it made); its tables every `_backup` table of the upgrade that was not
    /// there when it began (a run that lost the database after the SQL never recorded them).
    public var needed: [String: String] {
        var needed: [String: String] = [:]
        let snapshots = "\(UpgradeJournal.folder(fateRoot: fateRoot))/snapshots"
        let flowParent = Path.parent(fateFlowRoot), flowName = Path.name(fateFlowRoot)
        for run in journals where run.rolledBack == nil && (run.outcome != .succeeded || run.verifiedAt == nil) {
            let reason = run.outcome != .succeeded ? "\(run.id) \(run.outcome.rawValue) and is not rolled back: rollback needs it"
                : "\(run.id) is not verified: rollback needs it (run fate-upgrade verify first, or give --force)"
            func note(_ name: String) { if needed[name] == nil { needed[name] = reason } }
            for item in found {
                let parent = Path.parent(item.name), name = Path.name(item.name)
                switch item.kind {
                case .folder where parent == fateRoot && PythonBackupName.timestamp(of: name) != nil && !run.before.pythonBackups.contains(name):
                    note(item.name)
                case .folder where parent == flowParent && name.hasPrefix(flowName + "_")
                    && PythonBackupName.timestamp(of: "python_" + name.dropFirst(flowName.count + 1)) != nil && !run.before.fateFlowBackups.contains(name):
                    note(item.name)
                case .table where name.hasSuffix("_backup") && upgradedTables.contains(String(name.dropLast(7))) && !run.before.backupTables.contains(name):
                    note(item.name)
                default: break
                }
            }
            // A run that stopped half-way may have made them again over ones that were there.
            if run.outcome != .succeeded { for table in upgradedTables { note("\(table)_backup") } }
            if !run.id.contains("/") { note("\(snapshots)/\(run.id).sql.gz") }
        }
        return needed
    }

    public var plan: CleanupPlan {
        var protected = force ? [:] : needed
        // Models, jobs and logs are never removed with a tree: a backup still holding them holds
        // the only copy (confmigrate did not move them, or a rollback moved them back there).
        for item in found where item.kind == .folder {
            guard let held = siteData[item.name], !held.isEmpty else { continue }
            protected[item.name] = "holds the site's \(held.joined(separator: ", ")): never removed by cleanup; move them into \(fateRoot)/python with fate-upgrade confmigrate, or by hand, if they are wanted"
        }
        var notes = self.notes
        if let live = siteData["\(fateRoot)/python"], !live.isEmpty {
            notes.append("the site's \(live.joined(separator: ", ")) are in \(fateRoot)/python, which cleanup never touches")
        }
        var remove: [CleanupPlan.Item] = []
        var keep: [CleanupPlan.Item] = []
        var seen: Set<String> = []
        for item in found where seen.insert(item.name).inserted {
            if let reason = protected[item.name] {
                keep.append(CleanupPlan.Item(kind: item.kind, name: item.name, bytes: item.bytes, why: reason, run: item.run))
            } else {
                remove.append(item)
            }
        }
        return CleanupPlan(remove: remove, keep: keep, notes: notes)
    }
}
