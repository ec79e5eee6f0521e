import FateUpgradeArchive
import FateUpgradeCore
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Glibc


/// What `apply` did or would do, for --json and for Ansible: no secrets.
public struct ApplyReport: Codable, Sendable {
    public var schemaVersion = ReportSchema.version
    public var outcome: RunOutcome
    public var changed: Bool
    public var component: String
    public var role: String
    public var host: String
    public var journal: String?
    public var log: String?
    public var workFolder: String?
    public var steps: [String]
    public var passed: [String]
    public var warnings: [String]
    public var problems: [String]
    public var message: String?
    public var confmigrate: String?
    public var exitStatus: Int32?
}

/// An `apply` that stopped: the lines say why; the report says where (for --json).
public struct ApplyFailure: OperatorError, ReportingError {
    public var lines: [String]
    public var exitStatus: Int32
    public var applyReport: ApplyReport
    public var report: any Encodable & Sendable { applyReport }
}

/// An error that comes with a --json report of its own.
public protocol ReportingError: OperatorError {
    var report: any Encodable & Sendable { get }
}

extension PreflightFailure: ReportingError {
    public var report: any Encodable & Sendable {
        ApplyReport(outcome: .refused, changed: false, component: component, role: role, host: hostName(), journal: nil, log: nil,
                    workFolder: nil, steps: [], passed: [], warnings: [], problems: problems, message: nil, confmigrate: nil, exitStatus: nil)
    }
}

/// `apply`: checked in full before anything changes (`prepare`), then run step by step.
public struct ApplyOperation {
    public struct Options: Sendable {
        public var package: String
        public var component: UpgradeComponent
        public var workdir: String?
        public var role: MachineRole
        public var confmigrate: Bool
        public var force: Bool
        public var allowRoot: Bool
        public var scriptTimeout: Duration
        /// The package's expected SHA-256; else `<package>.sha256` is checked when it is there.
        public var sha256: String?
        /// Snapshot the database before the SQL (components that touch it).
        public var snapshot: Bool
        /// How the package's SHA-256 is checked.
        public enum Checksum: Sendable, Hashable {
            /// Against `<package>.sha256`, with a warning when it is not there.
            case beside
            case given(String)
            /// Not at all (`--no-checksum`): only the gzip CRC and the entries.
            case skip
        }
        public var checksum = Checksum.beside
        /// The operator's answers for what the site merge cannot decide.
        public var siteChoices = SiteChoices()

        public init(package: String, component: UpgradeComponent, workdir: String? = nil, role: MachineRole = .fateflow,
                    confmigrate: Bool = true, force: Bool = false, allowRoot: Bool = false, scriptTimeout: Duration = .seconds(7200),
                    sha256: String? = nil, snapshot: Bool = true) {
            self.sha256 = sha256
            self.snapshot = snapshot
            self.package = package
            self.component = component
            self.workdir = workdir
            self.role = role
            self.confmigrate = confmigrate
            self.force = force
            self.allowRoot = allowRoot
            self.scriptTimeout = scriptTimeout
        }
    }

    public let options: Options
    public let parameters: ScriptParameters
    public let plan: ApplyPlan
    public let preflight: Preflight
    public let interpreter: ScriptInterpreter
    /// Set when every part was upgraded already: nothing to do.
    public let alreadyDone: [UpgradeJournal]
    public let forcedNotes: [String]
    /// What is doubtful about the package itself: no SHA-256 to check it against, FATE's default DB_PASS.
    public let packageNotes: [String]
    public let id: String
    /// The run's place among this FATE_ROOT's runs.
    public let sequence: Int
    /// Where the package's checksum came from, when it was checked.
    public let checksum: String?

    let upgradePackage: UpgradePackage
    let lock: StateLock?
    let contents: UpgradePackage.Contents
    let workdir: String
    let scriptPath: String

    public var fateRoot: String { parameters.fateRoot }
    public var journalPath: String { "\(UpgradeJournal.folder(fateRoot: fateRoot))/journal/\(id).json" }
    public var logPath: String { "\(UpgradeJournal.folder(fateRoot: fateRoot))/logs/\(id).log" }
    public var warnings: [String] { packageNotes + preflight.warnings + forcedNotes }

    /// Reads the package, checks everything, and makes the plan. Changes nothing.
    public static func prepare(_ options: Options) throws -> ApplyOperation {
        try ApplyOperation(options)
    }

    private init(_ options: Options) throws {
        self.options = options
        upgradePackage = try UpgradePackage(path: options.package)
        guard !upgradePackage.isFolder else {
            throw PackageError.notAnArchive(options.package, "apply takes the packed .tar.gz; it extracts it itself")
        }
        // The whole package is checked before anything in it is trusted: its SHA-256 (given, or
        // beside it), then its gzip CRC and every entry (contents).
        var packageNotes: [String] = []
        switch options.checksum {
        case .skip: checksum = nil
        case .given(let digest): checksum = try PackageChecksum.check(options.package, given: digest)
        case .beside:
            checksum = try PackageChecksum.check(options.package, given: options.sha256)
            if checksum == nil {
                packageNotes.append("no \(Path.name(options.package)).sha256 beside the package and no --sha256, so a damaged copy is found only by its gzip CRC: copy the .sha256 pack wrote with it, or give --sha256 HEX (or --no-checksum to go without)")
            }
        }
        contents = try upgradePackage.contents()
        workdir = URL(fileURLWithPath: options.workdir ?? Path.parent(options.package)).standardizedFileURL.path
        scriptPath = "\(workdir)/\(contents.script.path)"
        let block = try ShellParameterBlock(parsing: contents.script.bytes, file: "\(options.package):\(contents.script.path)")
        let environment = ProcessInfo.processInfo.environment
        var values = block.evaluated(home: Path.home, environment: environment)
        // What the script derives after its block (1.5.x: PYTHON_PACKAGE_PATH=$SCRIPT_PATH/python.tar.gz).
        let derivedValues = block.derivedValues(home: Path.home, scriptFolder: Path.parent(scriptPath), values: values)
        var derived: [String: ShellParameterBlock.DerivedValue] = [:]
        for item in derivedValues where !block.names.contains(item.name) && ScriptParameters.CodingKeys(rawValue: item.name) != nil {
            derived[item.name] = item
            if let value = item.value { values[item.name] = value }
        }
        // Paths in one spelling from here on (no trailing slash, no `//` or `..`), as the journal
        // records them and every later command compares them.
        for (name, value) in values where ParameterKind.of(name: name, current: nil) == .path && value.hasPrefix("/") {
            values[name] = Path.normalised(value)
        }
        parameters = ScriptParameters(values: values)
        interpreter = ScriptInterpreter.choose(forScript: contents.script.bytes)
        // One run per FATE_ROOT at a time, from before the journal is read until this run ends.
        lock = FileSystem.isDirectory(parameters.fateRoot) ? try StateLock(fateRoot: parameters.fateRoot, for: "apply") : nil
        (id, sequence) = UpgradeJournal.newID(component: options.component, fateRoot: parameters.fateRoot)
        var check = Preflight(component: options.component, parameters: parameters, workdir: workdir, contents: contents,
                              interpreter: interpreter, allowRoot: options.allowRoot)
        check.blockNames = block.names
        check.takesSnapshot = options.snapshot
        check.derived = derived
        check.sqlCreates = ApplyOperation.backupTablesCreated(in: upgradePackage, contents: contents)
        let earlierJournals = FileSystem.isDirectory(parameters.fateRoot) ? (try? UpgradeJournal.all(fateRoot: parameters.fateRoot)) ?? [] : []
        check.ownTables = Set(earlierJournals.filter { $0.rolledBack == nil }.flatMap { run in
            (run.after?.backupTables ?? []).filter { !run.before.backupTables.contains($0) } + (run.outcome == .succeeded ? [] : upgradedTables.map { "\($0)_backup" })
        })
        check.run()
        var problems: [String] = HostFacts.survivingScripts(of: earlierJournals).map { survivor in
            "the script of the earlier run \(survivor.id) is still running (process group \(survivor.group): \(survivor.processes.joined(separator: ", "))); it changes the host still: wait for it to end, or stop it (kill -TERM -\(survivor.group))"
        }
        var done: [UpgradeJournal] = []
        var notes: [String] = []
        do {
            let journals = try UpgradeJournal.all(fateRoot: parameters.fateRoot)
            switch ApplyHistory.judge(component: options.component, journals: journals, force: options.force, fateRoot: parameters.fateRoot) {
            case .proceed: break
            case .alreadyDone(let earlier):
                // The journals say it is done; the host must agree, or nothing is trusted.
                let drift = ApplyHistory.drift(of: earlier, fateRoot: parameters.fateRoot, release: HostFacts.pythonRelease(of: "\(parameters.fateRoot)/python"),
                                               schema: check.hostState().schema)
                if drift.isEmpty { done = earlier } else { problems += drift }
            case .refused(let lines): problems += lines
            case .forced(let lines): notes = lines
            }
        } catch {
            problems += error.operatorLines
        }
        // Nothing runs when everything was done already: the host's checks (the `_backup` tables
        // the earlier run made, for one) describe the upgraded state, not a reason to refuse.
        if done.isEmpty { problems = check.problems + problems }
        // FATE's own package, not packed: its DB_PASS is still FATE's public default. Said first, as
        // the likely cause of what else is wrong (paths of FATE's default install, a refused login).
        if block.assignment(named: "DB_PASS")?.word.literalValue == "fate_dev" {
            let hint = "DB_PASS in \(Path.name(options.package)) is FATE's default fate_dev: this looks like FATE's package as shipped, not one made by fate-upgrade pack; pack it first on the jump host (fate-upgrade pack \(Path.name(options.package)) --set FATE_ROOT=… --db-pass-stdin …)"
            if problems.isEmpty { packageNotes.append(hint + ", unless fate_dev really is this site's password") } else {
                problems.insert(hint + "; if fate_dev really is this site's password, the problems below are the ones to fix", at: 0)
            }
        }
        // The site merge is planned now, from the tree the script will move aside and the files
        // FATE 1.4.4 ships: a choice it needs refuses the run before anything changes.
        let migrates = options.confmigrate && options.component.touchesPython
        var sitePlan: [String] = []
        if done.isEmpty && migrates && FileSystem.isRealDirectory("\(parameters.fateRoot)/python") {
            do {
                let release = try ApplyOperation.releaseFiles(in: upgradePackage, pythonPackage: parameters.pythonPackagePath, workdir: workdir)
                let (lines, decisions) = try ApplyOperation.planSite(fateRoot: parameters.fateRoot, release: release, choices: options.siteChoices)
                sitePlan = lines
                problems += decisions
            } catch {
                problems += error.operatorLines.map { "the site's settings cannot be read, so they cannot be carried: \($0)" }
            }
        }
        let state = UpgradeJournal.folder(fateRoot: parameters.fateRoot)
        problems += StateFolder.problems(fateRoot: parameters.fateRoot)
        if !problems.isEmpty {
            throw PreflightFailure(problems: problems, component: options.component.rawValue, role: options.role.rawValue)
        }
        preflight = check
        alreadyDone = done
        if !options.snapshot && options.component.touchesDatabase {
            notes.append("--no-snapshot: the database is not dumped first; if the SQL stops half-way, only the _backup tables it made so far are there to go back to")
        }
        forcedNotes = notes
        self.packageNotes = packageNotes

        let service = FateFlowService(parameters, owner: check.serviceOwner)
        let planner = ApplyPlanner(
            component: options.component, role: options.role, fateRoot: parameters.fateRoot, fateFlowRoot: parameters.fateFlowRoot,
            stateFolder: state, id: id, package: options.package, packageEntries: contents.paths.count, workFolder: workdir,
            script: Command(interpreter.path, interpreter.arguments + [scriptPath, options.component.rawValue], directory: Path.parent(scriptPath)),
            scriptTimeout: options.scriptTimeout, snapshotTool: options.snapshot ? check.dumpTool : nil, snapshotEstimate: check.snapshotEstimate,
            owner: check.serviceOwner, carrySite: migrates ? sitePlan : nil,
            stop: service.command("stop"), start: service.command("start"), startBound: FateFlowService.startBound)
        plan = done.isEmpty ? planner.plan : ApplyPlan(steps: [])
    }

    /// The `_backup` tables the package's SQL files make, each with its file's name.
    static func backupTablesCreated(in package: UpgradePackage, contents: UpgradePackage.Contents) -> [String: String] {
        let files = (try? package.files(named: Set(contents.paths.filter { $0.hasSuffix(".sql") }))) ?? [:]
        var created: [String: String] = [:]
        for (path, bytes) in files.sorted(by: { $0.key < $1.key }) {
            for table in UpgradeSQL.backupTablesCreated(by: String(decoding: bytes, as: UTF8.self)) where created[table] == nil {
                created[table] = Path.name(path)
            }
        }
        return created
    }

    /// The settings files of the tree the script will unpack, read from the python package it names
    /// (inside this package, or already on disk), so that the plan merges into what will run.
    static func releaseFiles(in package: UpgradePackage, pythonPackage: String, workdir: String) throws -> (files: [SiteFile: SourceFile], from: String) {
        let wanted = Set(SiteFile.allCases.map { "python/\($0.rawValue)" })
        var found: [String: [UInt8]]? = nil
        var from = pythonPackage
        if pythonPackage.hasPrefix(workdir + "/") {
            let member = UpgradePackage.normalised(String(pythonPackage.dropFirst(workdir.count + 1)))
            // One that is not a tar.gz is the script's to fail on (as it does, on the host): planned
            // against FATE 1.4.4's files meanwhile.
            found = (try? package.files(inMember: member, named: wanted)) ?? nil
            from = "\(package.path):\(member)"
        } else if FileSystem.exists(pythonPackage) {
            found = try? UpgradePackage(path: pythonPackage).files(named: wanted)
        }
        var files: [SiteFile: SourceFile] = [:]
        for file in SiteFile.allCases {
            if let bytes = found?["python/\(file.rawValue)"] { files[file] = SourceFile(path: "\(from):python/\(file.rawValue)", bytes: bytes) }
        }
        guard files[.baseConf] != nil else {
            // Not readable before the script runs (1.5.x derives the path): FATE 1.4.4's as shipped,
            // and the merge is done again against the new tree once it is there.
            for file in SiteFile.allCases {
                if let bytes = FateRelease.target.defaultFile(file) { files[file] = SourceFile(path: "FATE \(FateRelease.target.rawValue)'s \(file.rawValue)", bytes: bytes) }
            }
            return (files, "FATE \(FateRelease.target.rawValue)'s files as shipped (the python package's cannot be read before the script runs)")
        }
        return (files, "the files of \(from)")
    }

    /// The site merge: the lines `--plan` shows, and the decisions that refuse the run.
    static func planSite(fateRoot: String, release: (files: [SiteFile: SourceFile], from: String), choices: SiteChoices) throws -> (lines: [String], problems: [String]) {
        let tree = "\(fateRoot)/python"
        var site: [SiteFile: SourceFile] = [:]
        for file in SiteFile.allCases where FileSystem.exists("\(tree)/\(file.rawValue)") {
            site[file] = SourceFile(path: "\(tree)/\(file.rawValue)", bytes: try FileSystem.read("\(tree)/\(file.rawValue)"))
        }
        let merge = try SiteMerge(site: site, release: release.files, choices: choices)
        var lines = ["site: FATE \(merge.baseline.release.shown): \(merge.baseline.reason); merged into \(release.from)"]
        lines += merge.changes.map(\.line)
        for item in SiteData.folders + [SiteData.standaloneDatabase] {
            guard let facts = ConfmigrateOperation.facts("\(tree)/\(item)", since: 0) else { continue }
            lines.append("data: move \(item) (\(SiteDataMove.count(facts.files)), \(sizeText(facts.bytes))) from python_<timestamp> into the new python/ by rename" + (item == SiteData.standaloneDatabase ? " if the site runs standalone (work_mode 0)" : ""))
        }
        var problems: [String] = []
        for decision in merge.decisions {
            problems.append("the site's settings need a choice: \(decision.question); give " + decision.choices.map { $0.components(separatedBy: ":").first! }.joined(separator: " or ")
                            + (decision.diff.map { ":\n" + $0 } ?? ""))
        }
        return (lines, problems)
    }

    func report(outcome: RunOutcome, changed: Bool, journal: UpgradeJournal? = nil, problems: [String] = [], message: String? = nil) -> ApplyReport {
        ApplyReport(outcome: outcome, changed: changed, component: options.component.rawValue, role: options.role.rawValue,
                    host: hostName(), journal: journal.map { $0.path }, log: journal?.log,
                    workFolder: journal?.workFolder, steps: plan.steps.map(\.description), passed: preflight.passed,
                    warnings: warnings + (journal?.warnings ?? []), problems: problems, message: message,
                    confmigrate: journal?.confmigrate, exitStatus: journal?.exitStatus)
    }

    /// The report of `--plan`, or of a run with nothing to do.
    public var plannedReport: ApplyReport {
        if let last = alreadyDone.last {
            return report(outcome: .unchanged, changed: false,
                          message: "\(options.component.rawValue) was already upgraded on this host (\(alreadyDone.map(\.id).joined(separator: ", ")), journal \(last.path)); nothing to do")
        }
        return report(outcome: .planned, changed: false)
    }

    /// Runs the plan. Signals are deferred: Ctrl-C stops the script's process group, and the
    /// journal records the interruption before the run ends.
    public func execute(console: Console = .shared) throws -> ApplyReport {
        guard alreadyDone.isEmpty else { return plannedReport }
        return try Signals.deferring { try run(console: console) }
    }

    private func run(console: Console) throws -> ApplyReport {
        let p = parameters
        let service = FateFlowService(p, owner: preflight.serviceOwner)
        var journal: UpgradeJournal? = nil
        var log: LogFile? = nil
        defer { console.attach(nil) }
        var confmigrateChanged = false
        var snapshot: DatabaseSnapshot? = nil

        func fail(_ given: UpgradeJournal.Outcome, _ givenLines: [String], status givenStatus: Int32 = 1) throws -> Never {
            // A step a signal cut short (the snapshot's dump, an extraction) ends as interrupted,
            // with 128+N, whatever error it came back with.
            var outcome = given, lines = givenLines, status = givenStatus
            if let signal = Signals.received, given != .interrupted {
                if given != .succeeded { outcome = .interrupted }
                status = 128 + signal
                lines[0] = "stopped by \(Signals.name(signal)): " + lines[0]
            }
            if var record = journal {
                if record.outcome == .running || outcome == .interrupted { record.outcome = outcome }
                record.finishedAt = record.finishedAt ?? isoNow()
                record.logError = log?.failure
                journal = record
                do { try record.save() } catch { console.warn("the journal could not be updated: \(error.operatorLines.joined(separator: "; "))") }
            }
            // After the script succeeded, a later step failing leaves the upgrade done but incomplete.
            let shown: RunOutcome = switch outcome {
            case .succeeded: .incomplete
            case .interrupted: .interrupted
            case .running, .failed: .failed
            }
            throw ApplyFailure(lines: lines, exitStatus: status,
                               applyReport: report(outcome: shown, changed: journal != nil, journal: journal, problems: lines))
        }
        func checkpoint(_ at: String) throws {
            if let signal = Signals.received {
                try fail(.interrupted, ["stopped by \(Signals.name(signal)) \(at)" + (journal.map { "; the journal \($0.path) records it; to undo: fate-upgrade rollback --fate-root \(shellQuoted(p.fateRoot))" } ?? "; nothing was changed")],
                         status: 128 + signal)
            }
        }

        var runner = StepRunner<ApplyPlan.Step>()
        try runner.run(plan.steps, interrupted: { _, step, _ in try checkpoint("before: \(step)") }, record: { done in
            // Every finished step, from the journal's own on: where a run stopped is on record.
            guard var record = journal else { return }
            record.stepsDone = done.map(\.description)
            journal = record
            do { try record.save() } catch { console.warn("the journal could not record the step: \(error.operatorLines.joined(separator: "; "))") }
        }) { step, _ in
            switch step {
            case .extract:
                do { try extract(console: console) } catch {
                    try fail(.failed, ["extracting \(options.package) failed, nothing was changed: " + error.operatorLines.joined(separator: "; ")])
                }
            case .snapshot(let database, let file, let tool, _):
                do {
                    let taken = try DatabaseSnapshots.take(client: preflight.client, tool: tool, database: database,
                                                           into: Path.parent(file), name: Path.name(file), timeout: options.scriptTimeout)
                    handStateToOwner()
                    console.say("snapshot of \(database): \(taken.file), \(sizeText(taken.bytes)) (\(taken.rows.values.reduce(0, +)) rows in \(taken.rows.count) tables) in \(Int(taken.seconds * 10) / 10).\(Int(taken.seconds * 10) % 10) s")
                    snapshot = taken
                } catch {
                    let extracted = "\(workdir)/\(contents.script.path.split(separator: "/").first ?? "")"
                    try fail(.failed, ["the database snapshot failed, so the script was not run and nothing else changed (the package stays extracted in \(extracted), readable by you only): " + error.operatorLines.joined(separator: "; ")])
                }
            case .recordJournal:
                let state = UpgradeJournal.folder(fateRoot: p.fateRoot)
                do {
                    for folder in [state, "\(state)/journal", "\(state)/logs"] { try FileSystem.makeDirectories(folder, mode: 0o700) }
                    let record = UpgradeJournal(
                        id: id, startedAt: isoNow(), host: hostName(), component: options.component, role: options.role.rawValue,
                        package: URL(fileURLWithPath: options.package).standardizedFileURL.path, script: scriptPath,
                        workFolder: "\(workdir)/\(contents.script.path.split(separator: "/").first ?? "")",
                        interpreter: interpreter.shown, parameters: p.masked, before: preflight.snapshot(), log: logPath,
                        outcome: .running, warnings: warnings.isEmpty ? nil : warnings, forced: forcedNotes.isEmpty ? nil : forcedNotes.joined(separator: " "))
                    var withState = record
                    withState.sequence = sequence
                    withState.snapshot = snapshot
                    if !options.snapshot && options.component.touchesDatabase { withState.snapshotSkipped = "--no-snapshot was given" }
                    withState.stateBefore = preflight.hostState()
                    withState.home = Path.home
                    try withState.save()
                    handStateToOwner()
                    journal = withState
                } catch {
                    try fail(.failed, ["cannot record the journal, the script was not run: " + error.operatorLines.joined(separator: "; ")])
                }
            case .runScript(let command, _, let timeout):
                do { log = try LogFile(path: logPath) } catch {
                    console.warn("\(error.operatorLines.joined(separator: "; ")); the script's output is shown here only")
                }
                handStateToOwner()
                console.attach(log)
                let verdict = try runScript(command, timeout: timeout, console: console) { group in
                    // On record at once: a later run finds the script's group if it outlives us.
                    guard var record = journal else { return }
                    record.scriptGroup = group
                    journal = record
                    try? record.save()
                }
                var record = journal!
                record.after = preflight.snapshot()
                record.finishedAt = isoNow()
                record.exitStatus = verdict.exitStatus
                record.logError = log?.failure
                if let warning = verdict.warning {
                    console.warn(warning)
                    record.warnings = (record.warnings ?? []) + [warning]
                }
                journal = record
                if let signal = Signals.received {
                    record.message = "interrupted by \(Signals.name(signal)) while the script ran"
                    journal = record
                    try fail(.interrupted, ["stopped by \(Signals.name(signal)) while the script ran; its process group was stopped too. The journal \(record.path) records it; to undo: fate-upgrade rollback --fate-root \(shellQuoted(p.fateRoot))"],
                             status: 128 + signal)
                }
                guard verdict.succeeded else {
                    record.message = verdict.failure
                    journal = record
                    try fail(.failed, ["the upgrade script failed (\(verdict.failure ?? "?")); the journal \(record.path) records what changed, the log is \(logPath); to undo: fate-upgrade rollback --fate-root \(shellQuoted(p.fateRoot))"])
                }
                record.outcome = .succeeded
                record.message = verdict.finished
                journal = record
                do { try record.save() } catch {
                    console.warn("the journal could not be updated after the script succeeded: \(error.operatorLines.joined(separator: "; "))")
                }
            case .handOver(let paths, let owner):
                do {
                    for path in paths where FileSystem.exists(path) { try FileSystem.changeOwnerOfTree(path, to: owner) }
                    console.say("handed \(paths.joined(separator: ", ")) to \(owner.userName)")
                } catch {
                    try fail(.succeeded, ["the upgrade succeeded, but handing its files to \(owner.userName) did not: \(error.operatorLines.joined(separator: "; ")); run chown -R \(owner.uid):\(owner.gid) on them"])
                }
            case .pauseService(let command):
                do {
                    try service.stop(command, console: console)
                    console.say(options.role == .nodemanager
                                ? "stopped fate_flow: a cluster runs one fate_flow, and this is a nodemanager machine"
                                : "stopped fate_flow, which the script started with the new release's defaults, so that the site's settings and data can move in")
                } catch {
                    try fail(.succeeded, ["the upgrade succeeded, but stopping fate_flow before the site's data moves did not: \(error.operatorLines.joined(separator: "; ")); stop it, then run fate-upgrade confmigrate --fate-root \(shellQuoted(p.fateRoot))"])
                }
            case .carrySite:
                do {
                    let migration = ConfmigrateOperation(.init(fateRoot: p.fateRoot, upgradePackage: journal?.workFolder ?? "\(workdir)/upgrade_package",
                                                               choices: options.siteChoices))
                    let result = try migration.run()
                    result.summary.forEach(console.say)
                    confmigrateChanged = result.changed
                    journal?.confmigrate = result.changed ? "done" : "unchanged"
                    journal?.siteBackup = result.backup
                } catch {
                    journal?.confmigrate = "failed: \(error.operatorLines.joined(separator: "; "))"
                    // The tree is still the owner's to fix from, as the hand-over after the carry would have made it.
                    for case .handOver(let paths, let owner) in plan.steps {
                        for path in paths where FileSystem.exists(path) { try? FileSystem.changeOwnerOfTree(path, to: owner) }
                    }
                    try fail(.succeeded, ["the upgrade succeeded, but carrying the site's settings and data into the new tree did not; fate_flow is stopped. " + error.operatorLines.joined(separator: "\n") + "\nthen run fate-upgrade confmigrate --fate-root \(shellQuoted(p.fateRoot)) with the choices, and start fate_flow"])
                }
            case .startService(let command, let bound):
                do {
                    let process = try service.start(command, console: console, bound: bound)
                    console.say("started fate_flow from the new tree with the site's settings: pid \(process.pid), listening on \(process.listening.map(String.init).joined(separator: ", ")), answering HTTP")
                } catch {
                    try fail(.succeeded, ["the upgrade succeeded, but starting fate_flow did not: \(error.operatorLines.joined(separator: "; "))"])
                }
            case .restartService(let stop, let start, let bound, let always):
                // The script started fate_flow before the settings moved; it reads them only at start.
                guard confmigrateChanged || always else { return }
                do {
                    try service.stop(stop, console: console)
                    try service.start(start, console: console, bound: bound)
                    console.say(confmigrateChanged ? "restarted fate_flow so that it reads the migrated settings" : "restarted fate_flow as \(service.owner?.userName ?? "you")")
                } catch {
                    try fail(.succeeded, ["the upgrade succeeded, but restarting fate_flow did not: \(error.operatorLines.joined(separator: "; "))"])
                }
            case .stopService(let command):
                do {
                    try service.stop(command, console: console)
                    console.say("stopped fate_flow: a cluster runs one fate_flow, and this is a nodemanager machine")
                } catch {
                    try fail(.succeeded, ["the upgrade succeeded, but stopping fate_flow on this nodemanager did not: \(error.operatorLines.joined(separator: "; "))"])
                }
            }
        }
        guard var record = journal else { throw HostError("internal: no journal after the plan ran") }
        record.logError = log?.failure
        do { try record.save() } catch {
            console.warn("the journal could not be updated at the end: \(error.operatorLines.joined(separator: "; "))")
        }
        console.attach(nil)
        console.say("upgrade of \(options.component.rawValue) finished; journal \(record.path), log \(logPath)")
        if let folder = record.workFolder {
            console.say("\(folder) holds DB_PASS (readable by you only); rollback reads DB_PASS from it: keep it until the upgrade is signed off, then delete it (rm -rf \(shellQuoted(folder)))")
        }
        return report(outcome: .succeeded, changed: true, journal: record)
    }

    /// Into a private folder, then renamed into place; the earlier upgrade_package (it holds
    /// an earlier DB_PASS) is kept aside, readable by us only.
    /// FATE_ROOT's owner when root runs on another user's tree (--allow-root): what this run makes
    /// there and in the work folder is handed to that user as it is made, not only at the end, so
    /// that a run that stops midway leaves nothing the owner cannot read or remove.
    var treeOwner: FileOwner? {
        guard geteuid() == 0, options.allowRoot, let owner = FileOwner.of(parameters.fateRoot), owner.uid != 0 else { return nil }
        return owner
    }

    private func handStateToOwner() {
        guard let owner = treeOwner else { return }
        let state = UpgradeJournal.folder(fateRoot: parameters.fateRoot)
        if FileSystem.exists(state) { try? FileSystem.changeOwnerOfTree(state, to: owner) }
    }

    private func extract(console: Console) throws {
        let top = contents.script.path.split(separator: "/").first.map(String.init) ?? ""
        let staging = try FileSystem.makePrivateDirectory(in: workdir, prefix: ".fate-upgrade-extract-")
        do {
            try upgradePackage.extract(into: staging)
            if contents.script.path.contains("/") {
                try FileSystem.chmod("\(staging)/\(top)", 0o700)
            }
            var info = stat()
            if stat("\(staging)/\(contents.script.path)", &info) == 0 {
                try FileSystem.chmod("\(staging)/\(contents.script.path)", info.st_mode & 0o700)
            }
            let names = contents.script.path.contains("/") ? [top] : FileSystem.names(in: staging)
            for name in names {
                let target = "\(workdir)/\(name)"
                if FileSystem.exists(target) {
                    let aside = "\(target).previous-\(timestamp())"
                    try FileSystem.rename(target, aside)
                    if FileSystem.isRealDirectory(aside) { try? FileSystem.chmod(aside, 0o700) }
                    console.say("kept the existing \(target) as \(aside)")
                }
                try FileSystem.rename("\(staging)/\(name)", target)
                // Root on another user's tree: the work folder (and DB_PASS in it) is the owner's, as
                // the owner's own run would have left it, so the owner's rollback can read it.
                if let owner = treeOwner { try FileSystem.changeOwnerOfTree(target, to: owner) }
            }
            rmdir(staging)
        } catch {
            try? FileSystem.removeTree(staging)
            throw error
        }
        console.say("extracted \(options.package) into \(workdir)")
    }

    /// The package's script with the interpreter it names, its output passed on line by line
    /// with DB_PASS masked, and judged as FATE's scripts report.
    private func runScript(_ command: Command, timeout: Duration, console: Console, started: (Int32) -> Void) throws -> ScriptVerdict {
        var lines = LineSplitter()
        var verdict = ScriptVerdict(exitStatus: nil)
        // On bytes: a line need not be UTF-8, and a trace shows the password quoted or escaped.
        let secret = SecretMask(parameters.dbPass.revealed)
        let masked = { (line: [UInt8]) -> [UInt8] in secret.apply(line) }
        let handle = { (line: [UInt8]) in
            let shown = masked(line)
            verdict.note(line: String(decoding: shown, as: UTF8.self))
            console.relay(shown)
        }
        // A killed fate-upgrade takes the script and all it started with it.
        var bound = command
        bound.diesWithUs = true
        let result: ChildResult
        do {
            let child = try ChildProcess.start(bound, mergeOutput: true)
            started(child.pid)
            result = child.wait(timeout: timeout, heartbeat: .init(what: "the upgrade script")) { _, chunk in
                lines.feed(chunk).forEach(handle)
            }
        } catch {
            verdict.exitStatus = 127
            verdict.aborted = "cannot run the script: \(error.operatorLines.joined(separator: "; "))"
            return verdict
        }
        if let rest = lines.finish() { handle(rest) }
        verdict.exitStatus = result.termination.status
        verdict.signal = result.termination.signal
        if result.timedOut {
            verdict.aborted = "the script did not finish within \(timeout); it was stopped"
        }
        if result.outputLeftOpen {
            console.warn("something the script started still holds its output open (a daemon started without redirecting it); stopped reading 2 s after the script exited")
        }
        return verdict
    }
}
