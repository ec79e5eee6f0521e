import FateUpgradeCore
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Glibc

/// `cleanup`: what upgrades and rollbacks left behind, once the upgrade is signed off. One plan:
/// `--plan` prints it, `--yes` removes exactly it. What a rollback of a run that is not verified
/// still needs (its backup, its `_backup` tables, its snapshot, the work folder holding DB_PASS)
/// is kept unless `force`.
public struct CleanupOperation {
    public typealias Item = CleanupPlan.Item
    public typealias Step = CleanupPlan.Step

    public struct Report: Encodable, Sendable {
        public var outcome: RunOutcome
        public var changed: Bool
        public var remove: [Item]
        public var keep: [Item]
        public var removed: [String]
        public var notes: [String]
        public var bytes: Int64
    }

    public let view: HostSurvey
    public let plan: CleanupPlan
    let lock: StateLock

    public var remove: [Item] { plan.remove }
    public var keep: [Item] { plan.keep }
    public var notes: [String] { plan.notes }

    /// - Parameters:
    ///   - snapshotAge: snapshots older than this many seconds are removed (those a kept run needs, never).
    ///   - force: remove also what a rollback of a run that is not verified needs.
    public init(fateRoot: String, password: Secret?, snapshotAge: Int, force: Bool) throws {
        lock = try StateLock(fateRoot: fateRoot, for: "cleanup")
        let view = try HostSurvey(fateRoot: fateRoot, password: password)
        self.view = view
        let root = view.fateRoot
        var notes: [String] = []
        var candidates: [Item] = []

        // What each run left: its package and the folder it was extracted into.
        for run in view.journals {
            var info = stat()
            if lstat(run.package, &info) == 0, info.st_mode & S_IFMT == S_IFREG {
                candidates.append(Item(kind: .file, name: run.package, bytes: Int64(info.st_size),
                                       why: "the packed package \(run.id) ran: it holds DB_PASS", run: run.id))
                if FileSystem.exists(run.package + ".sha256") {
                    candidates.append(Item(kind: .file, name: run.package + ".sha256", bytes: HostFacts.size(of: run.package + ".sha256"),
                                           why: "the checksum beside that package", run: run.id))
                }
            }
            if let folder = run.workFolder, FileSystem.isRealDirectory(folder) {
                candidates.append(Item(kind: .folder, name: folder, bytes: HostFacts.size(of: folder),
                                       why: "the extracted package of \(run.id): it holds DB_PASS", run: run.id))
                let parent = Path.parent(folder), base = Path.name(folder)
                for name in FileSystem.names(in: parent) where name.hasPrefix("\(base).previous-") {
                    candidates.append(Item(kind: .folder, name: "\(parent)/\(name)", bytes: HostFacts.size(of: "\(parent)/\(name)"),
                                           why: "an earlier extracted package, kept aside: it holds an earlier DB_PASS", run: nil))
                }
            }
        }

        // Code backups: python_<ts> and python_upgrade_backup*, and the same of fate_flow.
        // Never a folder outside FATE_ROOT: FATE_FLOW_ROOT is only followed inside it.
        let flowRoot = Path.isInside(view.parameters.fateFlowRoot, root) ? view.parameters.fateFlowRoot : "\(root)/python/fate_flow"
        for (folder, code) in [(root, "python"), (Path.parent(flowRoot), Path.name(flowRoot))] {
            let backups = Set(UpgradeJournal.backups(in: folder, prefix: code))
            for name in FileSystem.names(in: folder).sorted() {
                let path = "\(folder)/\(name)"
                guard FileSystem.isRealDirectory(path) else { continue }
                if name.hasPrefix("\(code)_upgrade_backup") {
                    candidates.append(Item(kind: .folder, name: path, bytes: HostFacts.size(of: path),
                                           why: "the upgraded \(code)/ a rollback moved aside", run: nil))
                } else if backups.contains(name) {
                    let owner = view.journals.first { ($0.after?.pythonBackups ?? []).contains(name) || ($0.after?.fateFlowBackups ?? []).contains(name) }
                    candidates.append(Item(kind: .folder, name: path, bytes: HostFacts.size(of: path),
                                           why: "the \(code)/ from before an upgrade", run: owner?.id))
                }
            }
        }

        // Snapshots older than the age given.
        let snapshots = DatabaseSnapshots.folder(fateRoot: root)
        let now = Int(time(nil))
        for name in FileSystem.names(in: snapshots).sorted() where name.hasSuffix(".sql.gz") {
            let path = "\(snapshots)/\(name)"
            let age = now - (HostFacts.modified(path) ?? now)
            let owner = view.journals.first { $0.snapshot?.file == path }
            if age >= snapshotAge {
                candidates.append(Item(kind: .file, name: path, bytes: HostFacts.size(of: path),
                                       why: "a database snapshot \(age / 86400) days old", run: owner?.id))
            } else {
                notes.append("\(path) is younger than the age given (\(snapshotAge / 86400) days); kept")
            }
        }

        // Tables the upgrade SQL and rollbacks leave.
        if case .read(_, let sizes) = view.database {
            for table in sizes.keys.filter(HostSurvey.isLeftoverTable).sorted() {
                let owner = view.journals.last { ($0.after?.backupTables ?? []).contains(table) }
                candidates.append(Item(kind: .table, name: table, bytes: sizes[table]!,
                                       why: table.hasSuffix("_backup") ? "the upgrade SQL's copy of the table before it" : "a table a rollback moved aside",
                                       run: owner?.id))
            }
        } else if let note = view.databaseNote {
            notes.append("tables not looked at: \(note)")
        }

        var siteData: [String: [String]] = [:]
        for path in candidates.filter({ $0.kind == .folder }).map(\.name) + ["\(root)/python"] {
            siteData[path] = CleanupOperation.siteData(in: path)
        }
        plan = CleanupPlanner(fateRoot: root, fateFlowRoot: flowRoot, journals: view.journals, found: candidates,
                              siteData: siteData, notes: notes, force: force).plan
    }

    /// The site data items a tree holds, with something in them (`jobs/ (12 files)`).
    static func siteData(in tree: String) -> [String] {
        (SiteData.folders + [SiteData.standaloneDatabase]).compactMap { item in
            guard let facts = ConfmigrateOperation.facts("\(tree)/\(item)", since: 0), facts.files > 0 else { return nil }
            return "\(item)\(facts.isDirectory ? "/" : "") (\(SiteDataMove.count(facts.files)))"
        }
    }

    public var bytes: Int64 { plan.bytes }

    public func report(outcome: RunOutcome, removed: [String] = []) -> Report {
        Report(outcome: outcome, changed: !removed.isEmpty, remove: remove, keep: keep, removed: removed, notes: notes, bytes: bytes)
    }

    public var steps: [Step] { plan.steps }

    /// Runs the steps; journals record what went.
    public func execute(console: Console = .shared) throws -> Report {
        try Signals.deferring {
            var removed: [String] = []
            // The journals learn what went even when a removal fails half-way, so that rollback
            // never looks for a backup that is gone.
            defer { try? recordInJournals(removed) }
            var runner = StepRunner<Step>()
            try runner.run(steps, interrupted: { signal, _, _ in
                throw Interrupted(signal: signal, detail: "cleanup stopped; removed so far: \(removed.isEmpty ? "nothing" : removed.joined(separator: ", "))")
            }) { step, _ in
                switch step {
                case .dropTables(let database, let statement, let tables):
                    guard let client = view.client else { throw HostError("internal: no database client for \(statement)") }
                    try client.run(statement, database: database)
                    removed += tables
                    console.say("dropped \(tables.joined(separator: ", "))")
                case .remove(let item):
                    if item.kind == .folder { try FileSystem.removeTree(item.name) } else if unlink(item.name) != 0 && errno != ENOENT {
                        throw HostError("\(item.name): cannot remove: \(Errno.text()); removed so far: \(removed.isEmpty ? "nothing" : removed.joined(separator: ", "))")
                    }
                    removed.append(item.name)
                    console.say("removed \(item.name)")
                }
            }
            return report(outcome: .succeeded, removed: removed)
        }
    }

    private func recordInJournals(_ removed: [String]) throws {
        var byRun: [String: [String]] = [:]
        for item in remove where removed.contains(item.name) {
            if let run = item.run { byRun[run, default: []].append(item.name) }
        }
        guard !byRun.isEmpty else { return }
        for var run in try UpgradeJournal.all(fateRoot: view.fateRoot) where byRun[run.id] != nil {
            run.cleanedUp = (run.cleanedUp ?? []) + byRun[run.id]!
            try run.save()
        }
    }
}
