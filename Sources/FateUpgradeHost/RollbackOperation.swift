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

    public struct Report: Codable, Sendable {
        public var schemaVersion = ReportSchema.version
        public var outcome: RunOutcome
        public var changed: Bool
        public var component: String
        public var source: String
        public var journal: String?
        public var steps: [String]
        public var done: [String]
        public var notes: [String]
        public var workFolder: String?
        /// Where a rollback that did not finish stopped, and the command that finishes it.
        public var stoppedAt: String?
        public var next: String?
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
        let survey = try HostSurvey(fateRoot: options.fateRoot, package: options.package, password: options.password)
        let journals = survey.journals
        // A script that outlived its run (its guardian killed too) would change the host under us.
        if let survivor = HostFacts.survivingScripts(of: journals).first {
            throw HostError("the script of \(survivor.id) is still running (process group \(survivor.group): \(survivor.processes.joined(separator: ", "))); it would change the host under the rollback: wait for it to end, or stop it (kill -TERM -\(survivor.group)); nothing was changed")
        }
        let journal = journals.last { $0.rolledBack == nil }
        self.journal = journal
        alreadyRolledBack = journal == nil ? journals.last : nil
        if let journal, let removed = journal.cleanedUp, !removed.isEmpty {
            throw HostError("the upgrade \(journal.id) was signed off and cleanup removed what rolling it back needs (\(removed.map(Path.name).joined(separator: ", "))); restore from your own backups")
        }
        let component = options.component ?? journal?.component ?? .all
        self.component = component

        let parameters = survey.parameters

        var owner: FileOwner? = nil
        if geteuid() == 0, let treeOwner = FileOwner.of(parameters.fateRoot), treeOwner.uid != 0 {
            guard options.allowRoot else {
                let command = (["sudo", "-u", treeOwner.userName] + CommandLine.arguments).map(shellQuoted).joined(separator: " ")
                throw HostError("FATE_ROOT \(parameters.fateRoot) belongs to \(treeOwner), and this is root: fate_flow would be started as root, and root would act on files (journal, snapshot, backups) \(treeOwner.userName) can write. Run it as the owner: \(command)   (or add --allow-root)")
            }
            owner = treeOwner
        }
        service = FateFlowService(parameters, owner: owner)
        client = MySQLClient(parameters)

        // What the upgrade left: its backup folders and tables.
        let flowRoot = parameters.fateFlowRoot
        let codeFolder = component.touchesFateFlow ? Path.parent(flowRoot) : parameters.fateRoot
        let codeName = component.touchesFateFlow ? Path.name(flowRoot) : "python"
        let backups = UpgradeJournal.backups(in: codeFolder, prefix: codeName).filter { FileSystem.isRealDirectory("\(codeFolder)/\($0)") }
        var tables: Set<String> = []
        if component.touchesDatabase && alreadyRolledBack == nil {
            guard !parameters.dbPass.isEmpty else {
                throw HostError("DB_PASS is needed for the database step: give it with --db-pass-stdin, --db-pass-file or FATE_DB_PASS")
            }
            guard let found = survey.database.tables else {
                throw HostError("the database step needs the fate_flow tables: \(survey.database.problem ?? "the database was not asked")")
            }
            tables = found
        }
        var snapshot: DatabaseSnapshot? = nil
        if options.fromSnapshot {
            guard let journal else {
                if let last = journals.last, let done = last.rolledBack {
                    let how = done.steps.contains { $0.hasPrefix("load ") } ? "from its snapshot" : "with its _backup tables"
                    throw HostError("--from-snapshot: the last upgrade, \(last.id), was rolled back at \(done.at) \(how): there is no upgrade left whose snapshot to load; nothing was changed")
                }
                throw HostError("--from-snapshot: there is no upgrade left to roll back in \(options.fateRoot); nothing was changed")
            }
            guard component.touchesDatabase else {
                throw HostError("--from-snapshot: the run \(journal.id) upgraded \(component.rawValue), which does not touch the database")
            }
            guard let taken = journal.snapshot else {
                throw HostError("--from-snapshot: the run \(journal.id) has no snapshot (\(journal.snapshotSkipped ?? "none was taken")); roll back without --from-snapshot")
            }
            if let problem = DatabaseSnapshots.problem(with: taken) ?? DatabaseSnapshots.refusal(of: taken) {
                throw HostError("--from-snapshot: \(problem); nothing was changed")
            }
            if let free = FileSystem.freeBytes(at: Path.parent(taken.file)), free < taken.uncompressedBytes + (1 << 20) {
                throw HostError("--from-snapshot: \(Path.parent(taken.file)) has \(sizeText(free)) free; the inflated dump needs \(sizeText(taken.uncompressedBytes)); nothing was changed")
            }
            snapshot = taken
        }
        self.snapshot = snapshot
        let planner = RollbackPlanner(component: component, journal: journal, codeFolder: codeFolder, codeName: codeName,
                                      entries: Set(FileSystem.names(in: codeFolder)), backups: backups,
                                      trees: component.touchesPython ? survey.trees : [:], tables: tables,
                                      date: Clock.local("%Y%m%d"), snapshot: snapshot, fateFlowRunning: !survey.fateFlowPids.isEmpty)
        var siteData: [RollbackPlanner.SiteDataMove] = []
        if let backup = planner.restore.backup, component.touchesPython,
           let record = try? SiteRecord.load(SiteRecord.path(fateRoot: parameters.fateRoot, backup: backup)) {
            siteData = record.moves.filter { $0.action == .move }.map {
                .init(item: $0.item, from: $0.from, to: $0.to, fromExists: FileSystem.exists($0.from), toExists: FileSystem.exists($0.to))
            }
        }
        var plan = planner.plan(siteData: siteData)
        if let owner {
            plan.notes.insert("running as root on FATE_ROOT owned by \(owner): --allow-root given, so fate_flow is started as \(owner.userName); the journal and snapshot \(owner.userName) can write are checked, not trusted (see the guide, 6.1)", at: 0)
        }
        if let long = plan.tooLongNames.first {
            throw HostError("internal: the table name \(long) is longer than MySQL's 64 characters; nothing was changed")
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

    public func report(outcome: RunOutcome, changed: Bool, done: [String] = []) -> Report {
        Report(outcome: outcome, changed: changed, component: component.rawValue, source: source, journal: journal?.path,
               steps: plan.steps.map(shown), done: done, notes: plan.notes, workFolder: journal?.workFolder, stoppedAt: nil, next: nil)
    }

    /// Marks a journal whose rollback has nothing left to do as rolled back.
    public func closeEmpty() throws {
        guard plan.isEmpty, var finished = journal else { return }
        finished.rolledBack = .init(at: isoNow(), steps: [])
        try finished.save()
    }

    /// Runs the steps; a signal is acted on between steps, never inside a rename. The journal
    /// records the attempt before the first step and after each; a step that fails ends the run
    /// with what was done, what is left, and the command that finishes it.
    public func execute(console: Console = .shared) throws -> Report {
        try Signals.deferring {
            var staged: StagedDump? = nil
            var runner = StepRunner<RollbackPlan.Step>()
            var record = journal
            record?.rollbackAttempt = .init(startedAt: isoNow(), planned: plan.steps.map(\.description))
            try record?.save()
            func stopped(at step: RollbackPlan.Step?, _ error: any Error) throws -> Never {
                let why = error.operatorLines.joined(separator: "; ")
                record?.rollbackAttempt?.stoppedAt = step?.description
                record?.rollbackAttempt?.error = why
                do { try record?.save() } catch { console.warn("the journal could not record where the rollback stopped: \(error.operatorLines.joined(separator: "; "))") }
                let done = runner.done.map(\.description)
                let left = plan.steps.dropFirst(runner.done.count).map(\.description)
                let service = runner.done.contains(.stopService) && !runner.done.contains(.startService) ? " fate_flow is stopped." : ""
                let next = "fix the cause, then run fate-upgrade rollback --fate-root \(shellQuoted(options.fateRoot)) again: it finishes from here"
                var lines = ["rollback stopped\(step.map { " at: \(shown($0))" } ?? ""): \(why)",
                             "done: \(done.isEmpty ? "nothing" : done.joined(separator: "; "))", "not done: \(left.joined(separator: "; "))\(service)", next]
                var exitStatus: Int32 = 1
                var outcome = RunOutcome.failed
                if let interrupted = error as? Interrupted {
                    exitStatus = interrupted.exitStatus
                    outcome = .interrupted
                    lines[0] = interrupted.lines.joined(separator: "; ")
                }
                var report = self.report(outcome: outcome, changed: !done.isEmpty, done: done)
                report.stoppedAt = step?.description
                report.next = next
                throw RollbackFailure(lines: lines, exitStatus: exitStatus, rollbackReport: report)
            }
            var current: RollbackPlan.Step? = nil
            do {
                try runner.run(plan.steps, interrupted: { signal, step, done in
                    current = step
                    throw Interrupted(signal: signal, detail: "rollback stopped before: \(shown(step)); done so far: \(done)")
                }, record: { done in
                    record?.rollbackAttempt?.done = done.map(\.description)
                    do { try record?.save() } catch { console.warn("the journal could not record the rollback's progress: \(error.operatorLines.joined(separator: "; "))") }
                }) { step, done in
                    current = step
                    switch step {
                    case .stopService:
                        try service.stop(console: console)
                    case .startService:
                        try service.start(console: console)
                    case .moveSiteData(let moves):
                        for move in moves { try FileSystem.rename(move.from, move.to) }
                    case .renameFolders(let folder, let renames):
                        for rename in renames { try FileSystem.rename("\(folder)/\(rename.from)", "\(folder)/\(rename.to)") }
                    case .renameTables(let database, let statement, _):
                        try client.runStep(statement, database: database)
                    case .stageSnapshot:
                        guard let snapshot else { throw HostError("internal: no snapshot to stage") }
                        staged = try DatabaseSnapshots.stage(snapshot)
                    case .loadSnapshot(let database, let file):
                        guard let dump = staged else { throw HostError("internal: the snapshot was not staged") }
                        do { try client.run(input: .descriptor(dump.descriptor), database: database, timeout: .seconds(6 * 3600), commandsOff: true) } catch {
                            throw HostError("loading \(file) failed: \(error.operatorLines.joined(separator: "; ")). The tables as they were are kept under their _pre_restore_ names")
                        }
                        staged = nil
                    case .checkRows(let database, let expected):
                        let differences = DatabaseSnapshots.differences(expected: expected, actual: try client.rowCounts(Array(expected.keys), in: database))
                        guard differences.isEmpty else {
                            throw HostError("the restored \(database) does not match the snapshot: \(differences.joined(separator: "; "))")
                        }
                    }
                    console.say("done: \(step.description)")
                }
            } catch {
                try stopped(at: current, error)
            }
            let done = runner.done.map(\.description)
            if var finished = record {
                finished.rolledBack = .init(at: isoNow(), steps: done)
                try finished.save()
            }
            console.say("rollback of \(component.rawValue) finished")
            if let folder = journal?.workFolder, FileSystem.exists(folder) {
                console.say("\(folder) holds DB_PASS and is no longer needed for this upgrade: delete it (rm -rf \(shellQuoted(folder)))")
            }
            return report(outcome: .succeeded, changed: true, done: done)
        }
    }
}

/// A rollback that stopped before its last step: the lines say what was done and what is left;
/// the report says it for --json.
public struct RollbackFailure: OperatorError, ReportingError {
    public var lines: [String]
    public var exitStatus: Int32
    public var rollbackReport: RollbackOperation.Report
    public var report: any Encodable & Sendable { rollbackReport }
}
