import FateUpgradeArchive
import FateUpgradeCore
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Glibc

/// `rollback`: undoes the newest upgrade not yet rolled back, from its journal (guide §4).
public struct RollbackOperation {
    public struct Options: Sendable {
        public var fateRoot: String
        public var component: UpgradeComponent?
        /// Without a journal: the package or its unpacked folder, for its parameters.
        public var package: String?
        public var password: Secret?
        public var allowRoot: Bool
        /// Restore the database from the snapshot apply took, instead of from the `_backup` tables.
        public var fromSnapshot: Bool

        public init(fateRoot: String, component: UpgradeComponent? = nil, package: String? = nil, password: Secret? = nil,
                    allowRoot: Bool = false, fromSnapshot: Bool = false) {
            self.fromSnapshot = fromSnapshot
            self.fateRoot = fateRoot
            self.component = component
            self.package = package
            self.password = password
            self.allowRoot = allowRoot
        }
    }

    public struct Report: Encodable, Sendable {
        public var outcome: String
        public var changed: Bool
        public var component: String
        public var source: String
        public var journal: String?
        public var steps: [String]
        public var done: [String]
        public var notes: [String]
        public var workFolder: String?
    }

    public let options: Options
    public let component: UpgradeComponent
    public let journal: UpgradeJournal?
    public let plan: RollbackPlan
    public let service: FateFlowService
    public let source: String
    /// Set when the newest upgrade was rolled back already.
    public let alreadyRolledBack: UpgradeJournal?
    let client: MySQLClient
    let snapshot: DatabaseSnapshot?

    let lock: StateLock

    public init(_ options: Options) throws {
        self.options = options
        lock = try StateLock(fateRoot: options.fateRoot, for: "rollback")
        let stateProblems = StateFolder.problems(fateRoot: options.fateRoot)
        if let first = stateProblems.first { throw HostError(first) }
        let journals = try UpgradeJournal.all(fateRoot: options.fateRoot)
        let journal = journals.last { $0.rolledBack == nil }
        self.journal = journal
        alreadyRolledBack = journal == nil ? journals.last : nil
        if let journal, let removed = journal.cleanedUp, !removed.isEmpty {
            throw HostError("the upgrade \(journal.id) was signed off and cleanup removed what rolling it back needs (\(removed.map(Path.name).joined(separator: ", "))); restore from your own backups")
        }
        let component = options.component ?? journal?.component ?? .all
        self.component = component

        let parameters = try HostParameters.resolve(fateRoot: options.fateRoot, journal: journal, package: options.package,
                                                    password: options.password)

        var owner: FileOwner? = nil
        if geteuid() == 0, let treeOwner = FileOwner.of(parameters.fateRoot), treeOwner.uid != 0 {
            guard options.allowRoot else {
                let command = (["sudo", "-u", treeOwner.userName] + CommandLine.arguments).map(shellQuoted).joined(separator: " ")
                throw HostError("FATE_ROOT \(parameters.fateRoot) belongs to \(treeOwner), and this is root: fate_flow would be started as root. Run it as the owner: \(command)   (or add --allow-root)")
            }
            owner = treeOwner
        }
        service = FateFlowService(parameters, owner: owner)
        client = MySQLClient(parameters)

        // What the upgrade left: its backup folders and tables.
        let flowRoot = parameters.fateFlowRoot
        let codeFolder = component.touchesFateFlow ? Path.parent(flowRoot) : parameters.fateRoot
        let codeName = component.touchesFateFlow ? Path.name(flowRoot) : "python"
        let now = UpgradeJournal.backups(in: codeFolder, prefix: codeName).filter { FileSystem.isRealDirectory("\(codeFolder)/\($0)") }
        let before = component.touchesFateFlow ? journal?.before.fateFlowBackups : journal?.before.pythonBackups
        let candidates = before.map { old in now.filter { !old.contains($0) } } ?? now
        var backup = candidates.sorted().last
        var entries = Set(FileSystem.names(in: codeFolder))
        var codeNotes: [String] = []
        if component.touchesPython {
            let trees = PythonTree.survey(codeFolder)
            // The backup to restore is the one that holds the release from before, proved by its files,
            // not the newest name: the upgrade script run again by hand moves a 1.4.4 tree aside too.
            let made = journal.map { run in (run.after?.pythonBackups ?? []).filter { !run.before.pythonBackups.contains($0) } } ?? []
            let old = candidates.filter { trees[$0]?.holdsOldRelease == true }
            let chosen = old.filter(made.contains).sorted().last ?? old.sorted().last
            for name in candidates.sorted() where name != chosen && trees[name]?.release == .target {
                codeNotes.append("\(codeFolder)/\(name) holds FATE \(FateRelease.target.rawValue)'s files (the upgrade script run again by hand?): it is not restored, and stays where it is")
            }
            if let chosen, chosen != backup, let release = trees[chosen]?.release { codeNotes.append("restoring \(codeFolder)/\(chosen): it holds FATE \(release.shown)'s files") }
            if chosen == nil, let newest = backup {
                codeNotes.append("no backup holds a release from before \(FateRelease.target.rawValue) (\(candidates.sorted().joined(separator: ", ")) hold \(FateRelease.target.rawValue)'s files): the code is not rolled back; restore python/ from your own backup")
                entries.remove(newest)
            }
            backup = chosen ?? backup
            // python/ already back on the old release (rolled back by hand): nothing of the code to undo.
            if let now = trees[codeName]?.release, now != .target, let chosen {
                codeNotes.append("\(codeFolder)/python already holds FATE \(now.shown)'s files (rolled back by hand?): the folders are not renamed, and \(chosen) stays")
                entries.remove(chosen)
            }
        }
        var tables: Set<String> = []
        if component.touchesDatabase && alreadyRolledBack == nil {
            guard !parameters.dbPass.isEmpty else {
                throw HostError("DB_PASS is needed for the database step: give it with --db-pass-stdin, --db-pass-file or FATE_DB_PASS")
            }
            tables = try client.tables(in: Preflight.database)
        }
        var snapshot: DatabaseSnapshot? = nil
        if options.fromSnapshot {
            guard let journal else { throw HostError("--from-snapshot: there is no upgrade left to roll back in \(options.fateRoot)") }
            guard component.touchesDatabase else {
                throw HostError("--from-snapshot: the run \(journal.id) upgraded \(component.rawValue), which does not touch the database")
            }
            guard let taken = journal.snapshot else {
                throw HostError("--from-snapshot: the run \(journal.id) has no snapshot (\(journal.snapshotSkipped ?? "none was taken")); roll back without --from-snapshot")
            }
            if let problem = DatabaseSnapshots.problem(with: taken) { throw HostError("--from-snapshot: \(problem); nothing was changed") }
            if let free = FileSystem.freeBytes(at: Path.parent(taken.file)), free < taken.uncompressedBytes + (1 << 20) {
                throw HostError("--from-snapshot: \(Path.parent(taken.file)) has \(sizeText(free)) free; the inflated dump needs \(sizeText(taken.uncompressedBytes)); nothing was changed")
            }
            snapshot = taken
        }
        self.snapshot = snapshot
        // What confmigrate moved out of this backup goes back into it, so the old tree is whole again.
        var siteData: [(from: String, to: String)] = []
        var dataNotes: [String] = []
        if let backup, component.touchesPython, let record = try? SiteRecord.load(SiteRecord.path(fateRoot: parameters.fateRoot, backup: backup)) {
            for move in record.moves where move.action == .move {
                switch (FileSystem.exists(move.to), FileSystem.exists(move.from)) {
                case (true, false): siteData.append((move.to, move.from))
                case (true, true):
                    // Never merged: the upgraded tree keeps its copy (it goes aside with it) and says so.
                    dataNotes.append("\(move.from) is there again, so \(move.to) is not moved back over it: it stays in the upgraded tree, which the rollback keeps as python_upgrade_backup")
                case (false, _): dataNotes.append("\(move.to) is gone (moved or removed since the upgrade): nothing of \(move.item) to move back")
                }
            }
        }
        var plan = RollbackPlan(component: component, codeFolder: codeFolder, codeName: codeName, backup: backup,
                                entries: entries, database: Preflight.database, tables: tables, date: Clock.local("%Y%m%d"),
                                snapshot: snapshot, siteData: siteData)
        plan.notes += codeNotes + dataNotes
        // A nodemanager machine must not run fate_flow (one per cluster): it stays stopped.
        if journal?.role == MachineRole.nodemanager.rawValue, plan.steps.contains(.startService) {
            plan.steps.removeAll { $0 == .startService }
            plan.notes.append("fate_flow is not started again: this is a nodemanager machine (the journal says so)")
        }
        self.plan = plan
        source = journal.map { "the journal \($0.id) (\($0.outcome.rawValue))" } ?? "discovery (no journal)"
    }

    public var needsConfirmation: Bool { journal == nil }

    public func shown(_ step: RollbackPlan.Step) -> String {
        switch step {
        case .stopService: "stop fate_flow: \(service.describe("stop"))"
        case .startService: "start fate_flow: \(service.describe("start"))"
        default: step.description
        }
    }

    public func report(outcome: String, changed: Bool, done: [String] = []) -> Report {
        Report(outcome: outcome, changed: changed, component: component.rawValue, source: source, journal: journal?.path,
               steps: plan.steps.map(shown), done: done, notes: plan.notes, workFolder: journal?.workFolder)
    }

    /// Marks a journal whose rollback has nothing left to do as rolled back.
    public func closeEmpty() throws {
        guard plan.isEmpty, var finished = journal else { return }
        finished.rolledBack = .init(at: isoNow(), steps: [])
        try finished.save()
    }

    /// Runs the steps; a signal is acted on between steps, never inside a rename.
    public func execute(console: Console = .shared) throws -> Report {
        try Signals.deferring {
            var staged: StagedDump? = nil
            var runner = StepRunner<RollbackPlan.Step>()
            try runner.run(plan.steps, interrupted: { signal, step, done in
                throw Interrupted(signal: signal, detail: "rollback stopped before: \(shown(step)); done so far: \(done)")
            }) { step, done in
                switch step {
                case .stopService:
                    try service.stop(console: console)
                case .startService:
                    try service.start(console: console)
                case .moveSiteData(let moves):
                    for move in moves {
                        do { try FileSystem.rename(move.from, move.to) } catch {
                            throw HostError("\(error.operatorLines.joined(separator: "; ")); done so far: \(done)")
                        }
                    }
                case .renameFolders(let folder, let renames):
                    for rename in renames {
                        do { try FileSystem.rename("\(folder)/\(rename.from)", "\(folder)/\(rename.to)") } catch {
                            throw HostError("\(error.operatorLines.joined(separator: "; ")); done so far: \(done)")
                        }
                    }
                case .renameTables(let database, let statement, _):
                    try client.run(statement, database: database)
                case .stageSnapshot:
                    guard let snapshot else { throw HostError("internal: no snapshot to stage") }
                    staged = try DatabaseSnapshots.stage(snapshot)
                case .loadSnapshot(let database, let file):
                    guard let dump = staged else { throw HostError("internal: the snapshot was not staged") }
                    do { try client.run(input: .descriptor(dump.descriptor), database: database, timeout: .seconds(6 * 3600)) } catch {
                        throw HostError("loading \(file) failed: \(error.operatorLines.joined(separator: "; ")); done so far: \(done). The tables as they were are kept under their _pre_restore_ names")
                    }
                    staged = nil
                case .checkRows(let database, let expected):
                    let differences = DatabaseSnapshots.differences(expected: expected, actual: try client.rowCounts(Array(expected.keys), in: database))
                    guard differences.isEmpty else {
                        throw HostError("the restored \(database) does not match the snapshot: \(differences.joined(separator: "; ")); done so far: \(done)")
                    }
                }
                console.say("done: \(step.description)")
            }
            let done = runner.done.map(\.description)
            if var finished = journal {
                finished.rolledBack = .init(at: isoNow(), steps: done)
                try finished.save()
            }
            console.say("rollback of \(component.rawValue) finished")
            if let folder = journal?.workFolder, FileSystem.exists(folder) {
                console.say("\(folder) holds DB_PASS and is no longer needed for this upgrade: delete it (rm -rf \(shellQuoted(folder)))")
            }
            return report(outcome: "rolled back", changed: true, done: done)
        }
    }
}
