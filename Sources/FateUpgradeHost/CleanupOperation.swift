import FateUpgradeCore
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Glibc

/// `cleanup`: what upgrades and rollbacks left behind inside FATE_ROOT, once the upgrade is signed
/// off. One plan: `--plan` prints it, `--yes` removes exactly it, through `AnchoredFolder`. What a
/// rollback of a run that is not verified still needs (its backup, its `_backup` tables, its
/// snapshot) is kept unless `force`. The package and work folder outside FATE_ROOT are only named.
public struct CleanupOperation {
    public typealias Item = CleanupPlan.Item
    public typealias Step = CleanupPlan.Step

    public struct Report: Codable, Sendable {
        public var schemaVersion = ReportSchema.version
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
    /// FATE_ROOT as it really is; every path removed is below it.
    public let root: String
    let allowRoot: Bool
    let lock: StateLock

    public var remove: [Item] { plan.remove }
    public var keep: [Item] { plan.keep }
    public var notes: [String] { plan.notes }

    /// - Parameters:
    ///   - snapshotAge: snapshots older than this many seconds are removed (those a kept run needs, never).
    ///   - force: remove also what a rollback of a run that is not verified needs.
    ///   - allowRoot: root may remove from a tree another user owns (whose files that user can
    ///     write, and so can have arranged); refused otherwise, when it comes to removing.
    public init(fateRoot: String, password: Secret?, snapshotAge: Int, force: Bool, allowRoot: Bool = false) throws {
        lock = try StateLock(fateRoot: fateRoot, for: "cleanup")
        let view = try HostSurvey(fateRoot: fateRoot, password: password)
        self.view = view
        // Every path from FATE_ROOT as it really is (no symlink, one spelling), so that what a run
        // needs is known whatever spelling of FATE_ROOT it or this command was given.
        guard let root = HostFacts.realPath(view.fateRoot) else { throw HostError("FATE_ROOT \(view.fateRoot): \(Errno.text())") }
        self.root = root
        self.allowRoot = allowRoot
        var notes: [String] = []
        if geteuid() == 0, let owner = FileOwner.of(root), owner.uid != 0 {
            notes.append("running as root on FATE_ROOT owned by \(owner): \(allowRoot ? "--allow-root given, so" : "--yes needs --allow-root, since") root removes from a tree whose files \(owner.userName) can write")
        }
        var candidates: [Item] = []

        // The package and the folder it was extracted into are outside FATE_ROOT, where only a
        // journal (the FATE user's file) names them: said, never removed.
        var pending: Set<String> = []
        for run in view.journals where run.rolledBack == nil && (run.outcome != .succeeded || run.verifiedAt == nil) { pending.insert(run.id) }
        for run in view.journals {
            let named = [run.workFolder, run.package].compactMap { $0 }.filter { path in
                var info = stat()
                return lstat(path, &info) == 0 && [S_IFREG, S_IFDIR].contains(info.st_mode & S_IFMT)
            }
            guard !named.isEmpty else { continue }
            let holding = named.map(shellQuoted).joined(separator: " ")
            notes.append(pending.contains(run.id)
                ? "\(holding) (what \(run.id) ran from) hold DB_PASS and rollback may need them; cleanup removes nothing outside FATE_ROOT"
                : "\(holding) (what \(run.id) ran from) hold DB_PASS; cleanup removes nothing outside FATE_ROOT: rm -rf \(holding)")
        }

        // Code backups: python_<ts> and python_upgrade_backup*, and the same of fate_flow.
        // Never a folder outside FATE_ROOT: FATE_FLOW_ROOT is only followed inside it.
        let given = Path.normalised(view.parameters.fateFlowRoot), spelled = Path.normalised(view.parameters.fateRoot)
        let flowRoot = Path.isInside(given, spelled) && given != spelled ? root + given.dropFirst(spelled.count) : "\(root)/python/fate_flow"
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
            let owner = view.journals.first { "\($0.id).sql.gz" == name }
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
        if geteuid() == 0, !allowRoot, let owner = FileOwner.of(root), owner.uid != 0 {
            let command = (["sudo", "-u", owner.userName] + CommandLine.arguments).map(shellQuoted).joined(separator: " ")
            throw HostError("FATE_ROOT \(root) belongs to \(owner), and this is root: root would remove from a tree whose files \(owner.userName) can write, and so can have arranged. Run it as the owner: \(command)   (or add --allow-root); nothing was removed")
        }
        return try Signals.deferring {
            var removed: [String] = []
            // The journals learn what went even when a removal fails half-way, so that rollback
            // never looks for a backup that is gone.
            defer { try? recordInJournals(removed) }
            var runner = StepRunner<Step>()
            let anchor = try AnchoredFolder(root)
            try runner.run(steps, interrupted: { signal, _, _ in
                throw Interrupted(signal: signal, detail: "cleanup stopped; removed so far: \(removed.isEmpty ? "nothing" : removed.joined(separator: ", "))")
            }) { step, _ in
                switch step {
                case .dropTables(let database, let statement, let tables):
                    guard let client = view.client else { throw HostError("internal: no database client for \(statement)") }
                    try client.runStep(statement, database: database)
                    removed += tables
                    console.say("dropped \(tables.joined(separator: ", "))")
                case .remove(let item):
                    guard Path.isInside(item.name, root), item.name != root else { throw HostError("internal: \(item.name) is not below \(root)") }
                    do throws(HostError) { try anchor.remove(String(item.name.dropFirst(root.count + 1)), kind: item.kind == .folder ? .folder : .file) } catch {
                        throw HostError("\(error.description); removed so far: \(removed.isEmpty ? "nothing" : removed.joined(separator: ", "))")
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
