import FateUpgradeCore
import Testing

/// The planners and the verify judge, from literal surveys: what each plans or judges for a host
/// described as values, with no host behind it.
@Suite struct PlannerTests {
    static let root = "/data/projects/fate"
    static let state = "\(root)/.fate-upgrade"
    static let backup = "python_20261203101500"
    /// When the new tree's files were written, and when the run began.
    static let extracted = 1_764_000_000.0

    static func journal(_ id: String = "20261203101500-all", component: UpgradeComponent = .all, role: MachineRole = .fateflow,
                        outcome: UpgradeJournal.Outcome = .succeeded, made: [String] = [backup], tables: [String] = [],
                        verified: Bool = false, rolledBack: Bool = false, snapshot: String? = nil) -> UpgradeJournal {
        var run = UpgradeJournal(id: id, startedAt: "2026-12-03T10:15:00Z", host: "flow1", component: component, role: role.rawValue,
                                 package: "/home/app/upgrade_package_new.tar.gz", script: "/home/app/upgrade_package/upgrade_script.sh",
                                 workFolder: "/home/app/upgrade_package", parameters: ["FATE_ROOT": root, "FATE_FLOW_ROOT": "\(root)/python/fate_flow"],
                                 before: .init(pythonBackups: [], fateFlowBackups: [], backupTables: []),
                                 after: .init(pythonBackups: made, fateFlowBackups: [], backupTables: tables),
                                 log: "\(state)/logs/\(id).log", outcome: outcome,
                                 rolledBack: rolledBack ? .init(at: "2026-12-03T11:00:00Z", steps: []) : nil)
        run.verifiedAt = verified ? "2026-12-03T10:30:00Z" : nil
        run.stateBefore = HostState(python: .v140, schema: .v140)
        if let snapshot {
            run.snapshot = DatabaseSnapshot(file: snapshot, database: "fate_flow", bytes: 1000, sha256: String(repeating: "a", count: 64),
                                            uncompressedBytes: 5000, rows: ["t_job": 3], takenAt: "2026-12-03T10:15:00Z", seconds: 1, tool: "mysqldump")
        }
        return run
    }

    static func tree(_ name: String, _ release: FateRelease) -> PythonTree {
        PythonTree(name: name, path: "\(root)/\(name)", layout: release.keepsRegistryInPython ? .v140 : .v142, release: release)
    }

    /// FATE 1.4.4's base_conf.yaml with some of its lines changed.
    static func baseConf(_ replacements: [(String, String)] = []) throws -> BaseConf {
        var text = String(decoding: FateRelease.target.defaultFile(.baseConf)!, as: UTF8.self)
        for (old, new) in replacements { text = text.replacing(old, with: new) }
        return try BaseConf(parsing: Array(text.utf8), file: "\(root)/python/arch/conf/base_conf.yaml")
    }

    static let columns144: [String: [String: String]] = {
        var columns: [String: [String: String]] = ["t_queue": ["f_frequency": "int(11)"]]
        for table in SchemaState.widenedTables { columns[table] = ["f_role": "varchar(50)"] }
        return columns
    }()

    static func server(started: Double = extracted + 60, ports: [Int] = [9360, 9380], databases: [String] = []) -> FateFlowProcess {
        FateFlowProcess(pid: 4242, script: "\(root)/python/fate_flow/fate_flow_server.py", startedAt: started, scriptChangedAt: extracted,
                        workingFolder: "\(root)/python/fate_flow", outputFiles: ["\(root)/python/logs/console.log"], listening: ports,
                        openDatabases: databases)
    }

    /// An upgraded fateflow machine as it should be.
    static func upgradedHost(journals: [UpgradeJournal]? = nil, servers: [FateFlowProcess]? = nil, conf: BaseConf? = nil,
                             role: MachineRole = .fateflow, trees: [String: PythonTree]? = nil) throws -> HostSurvey {
        HostSurvey(fateRoot: root, realRoot: root, journals: journals ?? [journal()],
                   parameters: ScriptParameters(values: ["FATE_ROOT": root, "FATE_FLOW_ROOT": "\(root)/python/fate_flow"]), role: role,
                   trees: trees ?? ["python": tree("python", .v1_4_4), backup: tree(backup, .v1_4_1)],
                   servers: servers ?? [server()], baseConf: try conf ?? baseConf(), baseConfChangedAt: extracted + 30,
                   database: .read(columns: columns144, sizes: ["t_job": 100, "t_job_backup": 100]))
    }

    // MARK: apply

    static func applyPlanner(component: UpgradeComponent = .all, role: MachineRole = .fateflow, owner: FileOwner? = nil,
                             carry: [String]? = ["site: FATE 1.4.1"], tool: String? = "/usr/bin/mysqldump") -> ApplyPlanner {
        ApplyPlanner(component: component, role: role, fateRoot: root, fateFlowRoot: "\(root)/python/fate_flow", stateFolder: state,
                     id: "20261203101500-\(component.rawValue)", package: "/home/app/upgrade_package_new.tar.gz", packageEntries: 12,
                     workFolder: "/home/app", script: Command("/bin/bash", ["/home/app/upgrade_package/upgrade_script.sh", component.rawValue],
                                                              environment: ["PATH": "/usr/bin:/bin"], directory: "/home/app/upgrade_package"),
                     scriptTimeout: .seconds(7200), snapshotTool: tool, snapshotEstimate: 1 << 20, owner: owner, carrySite: carry,
                     stop: Command("/bin/bash", ["\(root)/python/fate_flow/service.sh", "stop"], environment: [:]),
                     start: Command("/bin/bash", ["\(root)/python/fate_flow/service.sh", "start"], environment: [:], user: owner),
                     startBound: .seconds(30))
    }

    /// Each step's case name.
    static func kinds(_ plan: ApplyPlan) -> [String] {
        plan.steps.map { Mirror(reflecting: $0).children.first?.label ?? "?" }
    }

    @Test func applyOnTheFateflowMachineSnapshotsRunsTheScriptPausesCarriesHandsOverAndStartsJudged() {
        let app = FileOwner(uid: 1000, gid: 1000, name: "app")
        let planner = Self.applyPlanner(owner: app)
        let steps = planner.plan.steps
        #expect(Self.kinds(planner.plan) == ["extract", "snapshot", "recordJournal", "runScript", "pauseService", "carrySite", "handOver", "startService"])
        // What runs is the command given, byte for byte, with its bound: not one rebuilt later.
        #expect(steps[3] == .runScript(planner.script, log: "\(Self.state)/logs/20261203101500-all.log", timeout: .seconds(7200)))
        #expect(steps[1] == .snapshot(database: "fate_flow", file: "\(Self.state)/snapshots/20261203101500-all.sql.gz", tool: "/usr/bin/mysqldump", estimate: 1 << 20))
        #expect(steps[6] == .handOver(paths: ["\(Self.root)/python", Self.state], owner: app))
        #expect(steps[7] == .startService(planner.start, within: .seconds(30)))
        #expect(steps[7].description.contains("(as app)") && steps[7].description.contains("within 30.0 seconds"))
    }

    @Test func applyOnANodemanagerLeavesFateFlowStoppedAndMySQLTouchesNoService() {
        #expect(Self.kinds(Self.applyPlanner(role: .nodemanager).plan) == ["extract", "snapshot", "recordJournal", "runScript", "pauseService", "carrySite"])
        #expect(Self.kinds(Self.applyPlanner(role: .nodemanager, carry: nil).plan) == ["extract", "snapshot", "recordJournal", "runScript", "stopService"])
        let owner = FileOwner(uid: 1000, gid: 1000, name: "app")
        let mysql = Self.applyPlanner(component: .mysql, owner: owner, carry: nil).plan
        #expect(Self.kinds(mysql) == ["extract", "snapshot", "recordJournal", "runScript", "handOver"])
        #expect(mysql.steps.last == .handOver(paths: [Self.state], owner: owner))
        // A carry is planned only where the python tree changes.
        #expect(!Self.kinds(Self.applyPlanner(component: .mysql).plan).contains("carrySite"))
    }

    @Test func anApplyTheJournalsCallDoneIsRefusedWhenTheFilesOrTheSchemaSayOtherwise() {
        let run = Self.journal()
        #expect(ApplyHistory.drift(of: [run], fateRoot: Self.root, release: .v1_4_4, schema: .v144).isEmpty)
        let lines = ApplyHistory.drift(of: [run], fateRoot: Self.root, release: .v1_4_1, schema: .v140)
        #expect(lines.count == 2)
        #expect(lines.first?.contains("\(Self.root)/python holds FATE 1.4.1's files") == true)
        #expect(lines.last?.contains("the fate_flow schema is 1.4.0") == true)
        // A mysql run says nothing about python/.
        #expect(ApplyHistory.drift(of: [Self.journal(component: .mysql)], fateRoot: Self.root, release: .v1_4_1, schema: .v144).isEmpty)
    }

    @Test func applyWithoutACarryRestartsOnlyToRunAsTheOwnerAndSnapshotsOnlyTheDatabase() {
        #expect(Self.kinds(Self.applyPlanner(carry: nil).plan) == ["extract", "snapshot", "recordJournal", "runScript"])
        let owner = FileOwner(uid: 1000, gid: 1000, name: "app")
        let asRoot = Self.applyPlanner(component: .fateflow, owner: owner, carry: nil).plan
        #expect(Self.kinds(asRoot) == ["extract", "recordJournal", "runScript", "handOver", "restartService"])
        #expect(asRoot.steps[3] == .handOver(paths: ["\(Self.root)/python/fate_flow", Self.state], owner: owner))
        // --no-snapshot, or no dump tool: no snapshot step.
        #expect(!Self.kinds(Self.applyPlanner(tool: nil).plan).contains("snapshot"))
    }

    // MARK: rollback

    static func rollbackPlanner(journal: UpgradeJournal? = journal(), backups: [String], trees: [String: PythonTree],
                                tables: Set<String> = [], snapshot: DatabaseSnapshot? = nil) -> RollbackPlanner {
        RollbackPlanner(component: journal?.component ?? .all, journal: journal, codeFolder: root, codeName: "python",
                        entries: Set(trees.keys), backups: backups, trees: trees, tables: tables, date: "20261203", snapshot: snapshot)
    }

    @Test func rollbackRestoresTheBackupHoldingTheOldReleaseNotTheNewestName() {
        // The script run again by hand moved a 1.4.4 tree aside under a newer name.
        let again = "python_20261203120000"
        let run = Self.journal(made: [Self.backup, again])
        let planner = Self.rollbackPlanner(journal: run, backups: [Self.backup, again],
                                           trees: ["python": Self.tree("python", .v1_4_4), Self.backup: Self.tree(Self.backup, .v1_4_1),
                                                   again: Self.tree(again, .v1_4_4)],
                                           tables: ["t_job", "t_job_backup"])
        #expect(planner.restore.backup == Self.backup)
        let plan = planner.plan()
        #expect(plan.steps == [.stopService, .renameFolders(in: Self.root, [("python", "python_upgrade_backup"), (Self.backup, "python")]),
                               .renameTables(database: "fate_flow", statement: "RENAME TABLE `t_job` TO `t_job_backup_20261203`, `t_job_backup` TO `t_job`;",
                                             [("t_job", "t_job_backup_20261203"), ("t_job_backup", "t_job")]),
                               .startService])
        #expect(plan.notes.contains { $0.contains(again) && $0.contains("is not restored") })
    }

    @Test func rollbackLeavesTheCodeWhenPythonIsOldAlreadyOrNoBackupHoldsTheOldRelease() {
        let byHand = Self.rollbackPlanner(backups: [Self.backup], trees: ["python": Self.tree("python", .v1_4_1), Self.backup: Self.tree(Self.backup, .v1_4_4)])
        #expect(byHand.plan().steps.isEmpty)
        let onlyNew = Self.rollbackPlanner(backups: [Self.backup], trees: ["python": Self.tree("python", .v1_4_4), Self.backup: Self.tree(Self.backup, .v1_4_4)])
        let plan = onlyNew.plan()
        #expect(!plan.steps.contains(.stopService))
        #expect(plan.notes.contains { $0.hasPrefix("no backup holds a release from before 1.4.4") })
    }

    @Test func rollbackMovesTheSiteBackOnlyWhereItCanAndANodemanagerStaysStopped() {
        let trees = ["python": Self.tree("python", .v1_4_4), Self.backup: Self.tree(Self.backup, .v1_4_1)]
        let planner = Self.rollbackPlanner(journal: Self.journal(role: .nodemanager), backups: [Self.backup], trees: trees)
        let moves = [RollbackPlanner.SiteDataMove(item: "jobs", from: "\(Self.root)/\(Self.backup)/jobs", to: "\(Self.root)/python/jobs", fromExists: false, toExists: true),
                     RollbackPlanner.SiteDataMove(item: "logs", from: "\(Self.root)/\(Self.backup)/logs", to: "\(Self.root)/python/logs", fromExists: true, toExists: true),
                     RollbackPlanner.SiteDataMove(item: "model_local_cache", from: "a", to: "b", fromExists: false, toExists: false)]
        let plan = planner.plan(siteData: moves)
        #expect(plan.steps.first == .stopService)
        #expect(plan.steps[1] == .moveSiteData([("\(Self.root)/python/jobs", "\(Self.root)/\(Self.backup)/jobs")]))
        #expect(!plan.steps.contains(.startService))
        #expect(plan.notes.contains { $0.contains("logs is there again") })
        #expect(plan.notes.contains { $0.contains("nothing of model_local_cache to move back") })
        #expect(plan.notes.contains { $0.contains("nodemanager") })
    }

    @Test func everyTableNameARollbackGivesFitsInMySQLs64Characters() {
        // apply → rollback → apply → rollback --from-snapshot: the first rollback's kept tables are
        // there, and the snapshot restore moves every table aside.
        let tables: Set<String> = ["t_machine_learning_model_meta", "t_machine_learning_model_meta_backup_20261202",
                                   "t_machine_learning_model_meta_pre_restore_20261203", "t_job",
                                   "t_tracking_metric_20261202_with_a_name_as_long_as_mysql_allows_ab"]
        let snapshot = DatabaseSnapshot(file: "\(Self.state)/snapshots/x.sql.gz", database: "fate_flow", bytes: 1, sha256: String(repeating: "a", count: 64),
                                        uncompressedBytes: 1, rows: [:], takenAt: "x", seconds: 0, tool: "mysqldump")
        let plan = Self.rollbackPlanner(journal: Self.journal(component: .mysql), backups: [], trees: [:], tables: tables, snapshot: snapshot).plan()
        #expect(plan.tooLongNames.isEmpty)
        guard let renames = plan.steps.compactMap({ step -> [(from: String, to: String)]? in
            if case .renameTables(_, _, let renames) = step { renames } else { nil }
        }).first else { Issue.record("no renames: \(plan.steps)"); return }
        let targets = renames.map(\.to)
        #expect(targets.allSatisfy { $0.count <= 64 }, "\(targets)")
        #expect(Set(targets).count == targets.count && Set(targets).isDisjoint(with: tables))
        // Named for the table they come from, so that cleanup knows them.
        #expect(renames.first { $0.from == "t_machine_learning_model_meta_backup_20261202" }?.to == "t_machine_learning_model_meta_pre_restore_20261203_2")
        #expect(targets.filter { $0.hasPrefix("t_machine_learning_model_meta") }.allSatisfy(HostSurvey.isLeftoverTable))
        #expect(renames.first { $0.from.hasPrefix("t_tracking") }?.to.hasSuffix("_pre_restore_20261203") == true)
    }

    // MARK: cleanup

    static func found(_ name: String, _ kind: CleanupPlan.Item.Kind = .folder, run: String? = nil) -> CleanupPlan.Item {
        CleanupPlan.Item(kind: kind, name: name, bytes: 10, why: "found", run: run)
    }

    @Test func cleanupKeepsWhatAnUnverifiedRunNeedsAndRemovesWhatAVerifiedOneLeft() {
        // The journal records neither the table nor the backup the run made (it lost the database
        // after the SQL, and was killed before it wrote `after`): the naming scheme protects them.
        var unverified = Self.journal(made: [], tables: [], snapshot: "\(Self.state)/snapshots/20261203101500-all.sql.gz")
        unverified.before = .init(pythonBackups: ["python_20261101090000"], fateFlowBackups: [], backupTables: ["t_queue_backup"])
        let found = [Self.found("\(Self.root)/\(Self.backup)"), Self.found("\(Self.root)/python_20261101090000"),
                     Self.found("\(Self.root)/python/fate_flow_20261203101500"), Self.found("t_job_backup", .table), Self.found("t_queue_backup", .table),
                     Self.found("\(Self.state)/snapshots/20261203101500-all.sql.gz", .file), Self.found("t_queue_backup_20261101", .table)]
        let kept = CleanupPlanner(fateRoot: Self.root, fateFlowRoot: "\(Self.root)/python/fate_flow", journals: [unverified], found: found,
                                  siteData: [:], force: false).plan
        // What was there before the run began is not its own: it may go.
        #expect(kept.remove.map(\.name) == ["\(Self.root)/python_20261101090000", "t_queue_backup", "t_queue_backup_20261101"])
        #expect(kept.keep.map(\.name) == ["\(Self.root)/\(Self.backup)", "\(Self.root)/python/fate_flow_20261203101500", "t_job_backup",
                                          "\(Self.state)/snapshots/20261203101500-all.sql.gz"])
        #expect(kept.keep.allSatisfy { $0.why.contains("is not verified: rollback needs it") })
        #expect(kept.steps.first == .dropTables(database: "fate_flow", statement: "DROP TABLE `t_queue_backup`, `t_queue_backup_20261101`;",
                                                ["t_queue_backup", "t_queue_backup_20261101"]))

        // Protected by name, however the journal was edited: paths in it are not looked at.
        var edited = unverified
        edited.snapshot?.file = "/etc/shadow"
        edited.workFolder = "/etc"
        edited.parameters["FATE_FLOW_ROOT"] = "/elsewhere/fate_flow"
        let same = CleanupPlanner(fateRoot: Self.root, fateFlowRoot: "\(Self.root)/python/fate_flow", journals: [edited], found: found,
                                  siteData: [:], force: false).plan
        #expect(same.keep.map(\.name) == kept.keep.map(\.name))

        var verified = unverified
        verified.verifiedAt = "2026-12-03T10:30:00Z"
        let removed = CleanupPlanner(fateRoot: Self.root, fateFlowRoot: "\(Self.root)/python/fate_flow", journals: [verified], found: found,
                                     siteData: [:], force: false).plan
        #expect(removed.keep.isEmpty && removed.remove.count == found.count)
        // The tables in one DROP TABLE first, then each path.
        #expect(removed.steps.first == .dropTables(database: "fate_flow", statement: "DROP TABLE `t_job_backup`, `t_queue_backup`, `t_queue_backup_20261101`;",
                                                   ["t_job_backup", "t_queue_backup", "t_queue_backup_20261101"]))
        #expect(removed.steps.dropFirst().map(\.description) == ["rm -rf \(Self.root)/\(Self.backup)", "rm -rf \(Self.root)/python_20261101090000",
                                                                 "rm -rf \(Self.root)/python/fate_flow_20261203101500",
                                                                 "rm \(Self.state)/snapshots/20261203101500-all.sql.gz"])
    }

    @Test func cleanupNeverRemovesATreeHoldingTheSiteAndKeepsBackupTablesOfAFailedRunEvenWithForce() {
        let failed = Self.journal(outcome: .failed)
        let found = [Self.found("\(Self.root)/\(Self.backup)"), Self.found("t_queue_backup", .table)]
        let plan = CleanupPlanner(fateRoot: Self.root, fateFlowRoot: "\(Self.root)/python/fate_flow", journals: [failed], found: found,
                                  siteData: ["\(Self.root)/\(Self.backup)": ["jobs/ (12 files)"], "\(Self.root)/python": ["logs/ (3 files)"]], force: false).plan
        #expect(plan.remove.isEmpty)
        #expect(plan.keep.first { $0.name == "t_queue_backup" }?.why.contains("failed and is not rolled back") == true)
        #expect(plan.keep.first { $0.name.hasSuffix(Self.backup) }?.why.contains("holds the site's jobs/ (12 files)") == true)
        #expect(plan.notes == ["the site's logs/ (3 files) are in \(Self.root)/python, which cleanup never touches"])
        let forced = CleanupPlanner(fateRoot: Self.root, fateFlowRoot: "\(Self.root)/python/fate_flow", journals: [failed], found: found,
                                    siteData: ["\(Self.root)/\(Self.backup)": ["jobs/ (12 files)"]], force: true).plan
        #expect(forced.remove.map(\.name) == ["t_queue_backup"])
        #expect(forced.keep.map(\.name) == ["\(Self.root)/\(Self.backup)"])
    }

    // MARK: verify

    static func judge(_ survey: HostSurvey, rolledBack: Bool = false) -> VerifyJudge {
        VerifyJudge(survey: survey, rolledBack: rolledBack, stopCommand: "bash service.sh stop", startCommand: "bash service.sh start")
    }

    static func failing(_ checks: [VerifyJudge.Check]) -> [String] { checks.filter { !$0.ok }.map(\.name) }

    @Test func aHealthyUpgradedHostPassesEveryCheckAfterTheProbesTheJudgeAskedFor() throws {
        let judge = Self.judge(try Self.upgradedHost())
        #expect(judge.probes == [.site(backup: "\(Self.root)/\(Self.backup)", workFolder: "/home/app/upgrade_package"), .http(host: "127.0.0.1", port: 9380)])
        let checks = judge.judge(.init(site: .carried(values: 4, moved: ["jobs"]), httpAnswers: true))
        #expect(checks.map(\.name) == ["journal", "python", "site", "schema", "fate_flow"])
        #expect(Self.failing(checks).isEmpty, "\(checks)")
        // The same host without an HTTP answer, or with the site not carried, fails there.
        #expect(Self.failing(judge.judge(.init(site: .carried(values: 4, moved: []), httpAnswers: false))) == ["fate_flow"])
        #expect(Self.failing(judge.judge(.init(site: .pending(decisions: 0, files: ["base_conf.yaml"], data: []), httpAnswers: true))) == ["site"])
    }

    @Test func aDeadStaleOrMovedFateFlowFailsWithTheFixAndIsNotAskedOverHTTP() throws {
        let dead = Self.judge(try Self.upgradedHost(servers: []))
        #expect(!dead.probes.contains { if case .http = $0 { true } else { false } })
        let deadCheck = dead.judge(.init(site: .carried(values: 1, moved: []))).last!
        #expect(!deadCheck.ok && deadCheck.detail.contains("no fate_flow runs from \(Self.root)/python") && deadCheck.detail.hasSuffix("start it (bash service.sh start)"))
        // Started before the new tree's files: the pre-upgrade server, still serving from the backup.
        let stale = Self.judge(try Self.upgradedHost(servers: [Self.server(started: Self.extracted - 3600)]))
        #expect(Self.failing(stale.judge(.init(site: .carried(values: 1, moved: []), httpAnswers: true))) == ["fate_flow"])
        // Started before base_conf.yaml last changed: it runs with the settings from before.
        let before = Self.judge(try Self.upgradedHost(servers: [Self.server(started: Self.extracted + 10)]))
        #expect(Self.failing(before.judge(.init(site: .carried(values: 1, moved: []), httpAnswers: true))) == ["fate_flow"])
        // Not on the configured port.
        let moved = Self.judge(try Self.upgradedHost(servers: [Self.server(ports: [9360, 9381])]))
        #expect(Self.failing(moved.judge(.init(site: .carried(values: 1, moved: []), httpAnswers: true))) == ["fate_flow"])
    }

    @Test func clusterModeAsksTheDatabaseFateFlowUsesAndRefusesAStandaloneServer() throws {
        let conf = try Self.baseConf([("work_mode: 0", "work_mode: 1"), ("  user: fate_dev\n  passwd: fate_dev\n  host: 127.0.0.1\n  port: 3306", "  user: fate\n  passwd: s3cret\n  host: 10.0.0.5\n  port: 3306")])
        let judge = Self.judge(try Self.upgradedHost(conf: conf))
        guard case .database(let database)? = judge.probes.first(where: { if case .database = $0 { true } else { false } }) else {
            Issue.record("no database probe: \(judge.probes)"); return
        }
        #expect(database.host == "10.0.0.5" && database.user == "fate" && database.password.revealed == "s3cret")
        let site = VerifyJudge.SiteAnswer.carried(values: 1, moved: [])
        #expect(Self.failing(judge.judge(.init(site: site, httpAnswers: true, database: .schema(.v144)))).isEmpty)
        let refused = judge.judge(.init(site: site, httpAnswers: true, database: .refused("Access denied for user 'fate'")))
        #expect(Self.failing(refused) == ["database"])
        #expect(!refused.contains { $0.detail.contains("s3cret") })
        #expect(Self.failing(judge.judge(.init(site: site, httpAnswers: true, database: .schema(.v141)))) == ["database"])
        // A server holding the standalone sqlite database although base_conf.yaml says cluster.
        let standalone = Self.judge(try Self.upgradedHost(servers: [Self.server(databases: ["\(Self.root)/python/fate_flow/fate_flow_sqlite.db"])], conf: conf))
        #expect(Self.failing(standalone.judge(.init(site: site, httpAnswers: true, database: .schema(.v144)))) == ["fate_flow"])
    }

    @Test func withUseRegistryTheRegistryIsAskedAndEachFailureNamesItsStep() throws {
        let conf = try Self.baseConf([("use_registry: false", "use_registry: true")])
        let judge = Self.judge(try Self.upgradedHost(conf: conf))
        #expect(judge.probes.contains { if case .registry(let settings, 9380) = $0 { settings.useRegistry && settings.useACL } else { false } })
        let node = FlowProviderNode(ip: "10.0.0.7", httpPort: 9380)
        let site = VerifyJudge.SiteAnswer.carried(values: 1, moved: [])
        let registered = judge.judge(.init(site: site, httpAnswers: true, registry: .findings(node, [.registered(node: node.url, session: 7)])))
        #expect(Self.failing(registered).isEmpty)
        let missing = judge.judge(.init(site: site, httpAnswers: true, registry: .findings(node, [.missing(node: node.url)])))
        #expect(Self.failing(missing) == ["registry"])
        let refused = judge.judge(.init(site: site, httpAnswers: true, registry: .failed(.authenticate, "auth failed")))
        #expect(refused.first { $0.name == "registry" }?.detail.contains("failed at authenticate") == true)
        // The registry is not asked without use_registry.
        #expect(!Self.judge(try Self.upgradedHost()).probes.contains { if case .registry = $0 { true } else { false } })
    }

    @Test func rolledBackIsJudgedByTheFilesAndANodemanagerMustNotRunFateFlow() throws {
        let back = try Self.upgradedHost(journals: [Self.journal(rolledBack: true)], servers: [Self.server(started: Self.extracted + 60)],
                                         trees: ["python": Self.tree("python", .v1_4_1), "python_upgrade_backup": Self.tree("python_upgrade_backup", .v1_4_4)])
        var survey = back
        survey.database = .read(columns: ["t_queue": [:]], sizes: [:])
        let checks = Self.judge(survey, rolledBack: true).judge(.init(httpAnswers: true))
        #expect(checks.map(\.name) == ["journal", "python", "schema", "fate_flow"])
        #expect(Self.failing(checks).isEmpty, "\(checks)")
        // Not rolled back in the files: python/ still holds 1.4.4's.
        let notBack = try Self.upgradedHost(journals: [Self.journal(rolledBack: true)])
        #expect(Self.failing(Self.judge(notBack, rolledBack: true).judge(.init(httpAnswers: true))).contains("python"))
        let nodemanager = try Self.upgradedHost(role: .nodemanager)
        let stopped = Self.judge(nodemanager).judge(.init(site: .carried(values: 1, moved: [])))
        #expect(stopped.last?.ok == false && stopped.last?.detail.contains("stop it (bash service.sh stop)") == true)
    }
}
