import FateUpgradeCore
import FateUpgradeHost
import Foundation
import Testing

/// Ordinary choices of FATE_ROOT's spelling, HOME and user never make a later command refuse
/// what `apply` wrote (issue 20): paths are normalised once, when apply first reads them, and the
/// journal is read with the home folder the script ran with.
@Suite(.serialized) struct JournalPathTests {
    typealias Scenario = ApplyRollbackTests.Scenario

    /// The later commands an operator runs after apply, each of which reads the journal.
    static func laterCommands(_ root: String) -> [[String]] {
        [["status", "--fate-root", root], ["verify", "--fate-root", root], ["rollback", "--fate-root", root, "--plan"],
         ["cleanup", "--fate-root", root, "--plan"]]
    }

    static func expectJournalFollowed(_ runs: [(arguments: [String], run: Run)], sourceLocation: Testing.SourceLocation = #_sourceLocation) {
        for (arguments, run) in runs {
            #expect(!run.output.contains("not followed") && !run.output.contains("here but"), "\(arguments): \(run.output)", sourceLocation: sourceLocation)
            #expect(run.status == 0, "\(arguments): \(run.output)", sourceLocation: sourceLocation)
        }
    }

    @Test func aTrailingSlashOnFateRootIsTheSameFateRootToEveryLaterCommand() throws {
        let scenario = try Scenario(.allinone, fateRootSpelling: { $0 + "/" })
        defer { scenario.remove() }
        let applied = try scenario.apply(["--component", "fatepython"])
        #expect(applied.status == 0, "\(applied.output)")
        // Recorded in one spelling: no trailing slash, no `//` in what was derived from it.
        let parameters = try #require(try scenario.journals().last?["parameters"] as? [String: String])
        #expect(parameters["FATE_ROOT"] == scenario.root)
        #expect(parameters["FATE_FLOW_ROOT"] == "\(scenario.root)/python/fate_flow")
        let runs = try (Self.laterCommands(scenario.root) + Self.laterCommands(scenario.root + "/")).map {
            ($0, try Support.tool($0, environment: scenario.environment))
        }
        Self.expectJournalFollowed(runs)
        // And apply itself, again: the journal it wrote is the one it reads.
        let again = try scenario.apply(["--component", "fatepython"])
        #expect(again.status == 0 && again.stdout.contains("nothing to do"), "\(again.output)")
    }

    @Test func anotherHomeOrUserReadsTheJournalWithTheHomeTheScriptRanWith() throws {
        // PYTHON_PACKAGE_PATH is ~/upgrade_package/… in the package: the journal must not expand it again.
        let scenario = try Scenario(.allinone)
        defer { scenario.remove() }
        let applied = try scenario.apply(["--component", "fatepython"])
        #expect(applied.status == 0, "\(applied.output)")
        #expect(try scenario.journals().last?["home"] as? String == scenario.folder.path)
        let elsewhere = try Support.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: elsewhere) }
        let runs = try Self.laterCommands(scenario.root).map { ($0, try Support.tool($0, environment: ["HOME": elsewhere.path])) }
        Self.expectJournalFollowed(runs)
        // No HOME at all (a cron job, `env -i`): the same.
        let bare = try Support.tool(["status", "--fate-root", scenario.root], environment: ["HOME": ""])
        Self.expectJournalFollowed([(["status", "no HOME"], bare)])
    }

    /// FATE_ROOT moved and FATE_FLOW_ROOT left at the script's /data/projects/fate/python/fate_flow:
    /// pack warns; apply refuses only the component that replaces FATE_FLOW_ROOT, with the fix; for the
    /// others it is unused, and every later command accepts the journal.
    @Test func aFateFlowRootLeftOutsideFateRootIsRefusedOnlyWhereItIsUsed() throws {
        let scenario = try Scenario(.allinone)
        defer { scenario.remove() }
        let stale = scenario.folder.appendingPathComponent("stale_flow_root.tar.gz")
        let packed = try Support.tool(["pack", scenario.package.path, "-o", stale.path, "--keep", "DB_PASS",
                                       "--set", "FATE_FLOW_ROOT=/data/projects/fate/python/fate_flow"], environment: scenario.environment)
        #expect(packed.status == 0, "\(packed.output)")
        let untouched = try HostStateTests.Untouched(scenario)
        let flow = try Support.tool(["apply", stale.path, "--component", "fateflow"], environment: scenario.environment)
        #expect(flow.status == 1, "\(flow.output)")
        #expect(flow.stderr.contains("FATE_FLOW_ROOT is /data/projects/fate/python/fate_flow, not inside FATE_ROOT \(scenario.root)")
                && flow.stderr.contains("--set FATE_FLOW_ROOT='$FATE_ROOT/python/fate_flow'"), "\(flow.stderr)")
        try untouched.expect(in: scenario)

        let python = try Support.tool(["apply", stale.path, "--component", "fatepython", "--model-store", "database"], environment: scenario.environment)
        #expect(python.status == 0, "\(python.output)")
        let runs = try Self.laterCommands(scenario.root).map { ($0, try Support.tool($0, environment: scenario.environment)) }
        Self.expectJournalFollowed(runs)
        // cleanup never looks outside FATE_ROOT for fate_flow's backups.
        #expect(!runs[3].1.output.contains("/data/projects/fate/python"), "\(runs[3].1.output)")
    }

    /// Run where apply unpacked the package, the later commands find FATE_ROOT in its script.
    @Test func withoutFateRootTheLaterCommandsReadItFromTheUnpackedPackage() throws {
        let scenario = try Scenario(.allinone)
        defer { scenario.remove() }
        let applied = try scenario.apply(["--component", "fatepython"])
        #expect(applied.status == 0, "\(applied.output)")
        let here = [["status"], ["verify"], ["rollback", "--plan"], ["cleanup", "--plan"]]
        let runs = try here.map { ($0, try Support.tool($0, in: scenario.folder, environment: scenario.environment)) }
        Self.expectJournalFollowed(runs)
        #expect(runs[0].1.stdout.contains("FATE_ROOT \(scenario.root)"), "\(runs[0].1.stdout)")
        #expect(runs[2].1.stdout.contains("\(scenario.root)"), "\(runs[2].1.stdout)")
        // The package named on the command line says it too.
        let elsewhere = try Support.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: elsewhere) }
        #expect(try FateRootDiscovery.find(given: nil, package: scenario.package.path, folder: elsewhere.path, fallback: "/nonexistent") == scenario.root)
        // Nothing to read it from and no FATE default: one line naming --fate-root.
        #expect {
            try FateRootDiscovery.find(given: nil, folder: elsewhere.path, fallback: elsewhere.appendingPathComponent("fate").path)
        } throws: { error in
            let text = (error as? HostError)?.description ?? ""
            return text.contains("give --fate-root DIR") && !text.contains("\n")
        }
    }

    @Test func pathsAreNormalisedLexically() {
        #expect(Path.normalised("/data/projects/fate/") == "/data/projects/fate")
        #expect(Path.normalised("/data//projects/./fate/python/../") == "/data/projects/fate")
        #expect(Path.normalised("/../x") == "/x")
        #expect(Path.normalised("/") == "/")
        #expect(Path.isInside("/data/projects/fate//python/fate_flow", "/data/projects/fate/"))
        #expect(!Path.isInside("/data/projects/fate_other", "/data/projects/fate"))
        #expect(!Path.isInside("/data/projects/fate/.fate-upgrade/snapshots/../../../etc", "/data/projects/fate/.fate-upgrade/snapshots"))
        #expect(ParameterPlan.fateFlowRootProblem(fateRoot: "/srv/fate/", fateFlowRoot: "/srv/fate//python/fate_flow") == nil)
        #expect(ParameterPlan.fateFlowRootProblem(fateRoot: "/srv/fate", fateFlowRoot: "/srv/fate") != nil)
        #expect(ParameterPlan.fateFlowRootProblem(fateRoot: "/srv/fate", fateFlowRoot: "/data/projects/fate/python/fate_flow") != nil)
        #expect(ParameterPlan.fateFlowRootProblem(fateRoot: "/srv/fate", fateFlowRoot: "") == nil)
    }
}

/// Preflight's word on `_backup` tables is true for the package at hand: which of its SQL files
/// makes which table, and who made the one that is there.
@Suite(.serialized) struct LeftBackupTests {
    typealias Scenario = ApplyRollbackTests.Scenario

    @Test func theSQLFilesOfAPackageSayWhichBackupTablesTheyMake() throws {
        let first = try String(contentsOf: Support.fixtures.appendingPathComponent("sql/upgrade_1_4_0-1_4_1.sql"), encoding: .utf8)
        let second = try String(contentsOf: Support.fixtures.appendingPathComponent("sql/upgrade_1_4_1-1_4_2.sql"), encoding: .utf8)
        #expect(UpgradeSQL.backupTablesCreated(by: first) == ["t_queue_backup"])
        #expect(UpgradeSQL.backupTablesCreated(by: second) == ["t_job_backup", "t_task_backup", "t_data_view_backup", "t_machine_learning_model_meta_backup"])
        #expect(UpgradeSQL.backupTablesCreated(by: "CREATE TABLE IF NOT EXISTS `fate_flow`.`t_job_backup`\n  LIKE t_job;") == ["t_job_backup"])
        #expect(UpgradeSQL.backupTablesCreated(by: "create table t_job_backup (id int); create table t_x like t_job;").isEmpty)
        #expect(UpgradeSQL.stepDone(backupOf: "t_queue", schema: .v141) && !UpgradeSQL.stepDone(backupOf: "t_job", schema: .v141))
    }

    /// A 1.4.1 host keeps the t_queue_backup FATE's own 1.4.0→1.4.1 upgrade made: apply must not advise
    /// rolling anything back, but say where it came from and how to keep it.
    @Test func aBackupTableFATEsOwnUpgradeLeftIsNamedForWhatItIsAndNothingChanges() throws {
        let scenario = try Scenario(.allinone)
        defer { scenario.remove() }
        let step = try String(contentsOf: Support.fixtures.appendingPathComponent("sql/upgrade_1_4_0-1_4_1.sql"), encoding: .utf8)
        _ = try scenario.mysql.sql(step)
        let untouched = try HostStateTests.Untouched(scenario)
        let refused = try scenario.apply(["--component", "mysql"])
        #expect(refused.status == 1, "\(refused.output)")
        let line = try #require(refused.stderr.split(separator: "\n").first { $0.contains("t_queue_backup") }.map(String.init), "\(refused.stderr)")
        #expect(line.contains("FATE's own 1.4.0→1.4.1 upgrade") && line.contains("upgrade_1_4_0-1_4_1.sql in this package makes t_queue_backup again"), "\(line)")
        #expect(line.contains("RENAME TABLE `t_queue_backup` TO `t_queue_backup_\(Self.today)`"), "\(line)")
        #expect(!line.contains("roll") , "\(line)")
        try untouched.expect(in: scenario)
    }

    static var today: String {
        let formatter = DateFormatter()
        formatter.dateFormat = "yyyyMMdd"
        return formatter.string(from: Date())
    }
}

/// An SSH session that drops sends SIGHUP: apply treats it as SIGTERM (the script's process group
/// is signalled, the journal records `interrupted`, exit 128+N, the JSON object printed), status
/// says where the host stands, and one rollback finishes the undo.
@Suite(.serialized) struct HangUpTests {
    typealias Scenario = ApplyRollbackTests.Scenario

    @Test(arguments: [SIGHUP, SIGTERM])
    func aSignalDuringTheScriptIsRecordedAndOneRollbackFinishes(signal: Int32) throws {
        let scriptFolder = try Support.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: scriptFolder) }
        let scenario = try Scenario(.allinone, script: try Scenario.pausingScript(seconds: 5, in: scriptFolder))
        defer { scenario.remove() }
        let treeBefore = try scenario.sandbox.treeSnapshot("python")
        let tablesBefore = try scenario.tables()
        let process = try Support.startTool(["apply", scenario.package.path, "--component", "all", "--model-store", "database", "--json"],
                                            environment: scenario.environment)
        #expect(scenario.waitUntilPythonIsMovedAside(), "the upgrade never reached the point of moving python/ aside")
        kill(process.pid, signal)
        let result = process.wait(timeout: .seconds(60))
        #expect(result.termination == .exited(128 + signal), "\(result.termination)\n\(result.stderrText)")
        // The object is printed for automation, failures included.
        let object = try JSONSerialization.jsonObject(with: Data(result.stdout)) as? [String: Any]
        #expect(object?["outcome"] as? String == "interrupted", "\(result.stdoutText)")
        #expect(result.stderrText.contains("stopped by \(Signals.name(signal))"), "\(result.stderrText)")
        // The script's group went with it: nothing of it is left to write into python/ later.
        sleep(6)
        #expect(FateSandbox.processes(withArgument: scenario.folder.appendingPathComponent("upgrade_package/upgrade_script.sh").path).isEmpty)
        let journal = try #require(try scenario.journals().first)
        #expect(journal["outcome"] as? String == "interrupted")
        // Every finished step is on record: the script's was not one.
        let steps = (journal["stepsDone"] as? [String]) ?? []
        #expect(steps.count == 3 && steps.last?.hasPrefix("record the journal") == true, "\(steps)")

        let status = try Support.tool(["status", "--fate-root", scenario.root], environment: scenario.environment)
        #expect(status.status == 0 && status.stdout.contains("interrupted"), "\(status.output)")
        let rolledBack = try scenario.rollback()
        #expect(rolledBack.status == 0, "\(rolledBack.output)")
        #expect(try scenario.sandbox.treeSnapshot("python") == treeBefore)
        #expect(try scenario.tables() == tablesBefore)
        #expect(scenario.sandbox.isFateFlowRunning())
    }
}

/// A rollback that fails midway says what it did and what is left, the journal and status say
/// it too, and one more rollback finishes it (issue 20).
@Suite(.serialized) struct UnfinishedRollbackTests {
    typealias Scenario = ApplyRollbackTests.Scenario

    @Test func aRollbackStoppedAtTheTablesIsRecordedAndTheNextOneFinishesIt() throws {
        let scenario = try Scenario(.allinone)
        defer { scenario.remove() }
        let treeBefore = try scenario.sandbox.treeSnapshot("python")
        let tablesBefore = try scenario.tables()
        let applied = try scenario.apply(["--component", "all"])
        #expect(applied.status == 0, "\(applied.output)")

        // The database refuses the RENAME (RENAME TABLE needs DROP) after fate_flow was stopped and python/ swapped.
        _ = try scenario.mysql.sql("REVOKE DROP ON fate_flow.* FROM \(MariaDB.packageUser)@localhost; FLUSH PRIVILEGES;")
        let failed = try scenario.rollback(["--json"])
        #expect(failed.status == 1, "\(failed.output)")
        let report = try #require(try JSONSerialization.jsonObject(with: Data(failed.stdout.utf8)) as? [String: Any], "\(failed.stdout)")
        #expect(report["outcome"] as? String == "failed")
        #expect((report["stoppedAt"] as? String)?.hasPrefix("in database fate_flow: RENAME TABLE") == true, "\(report)")
        #expect((report["done"] as? [String])?.first == "stop fate_flow", "\(report)")
        #expect(failed.stderr.contains("not done: in database fate_flow: RENAME TABLE") && failed.stderr.contains("fate_flow is stopped.")
                && failed.stderr.contains("run fate-upgrade rollback --fate-root \(scenario.root) again"), "\(failed.stderr)")
        let attempt = try #require(try scenario.journals().last?["rollbackAttempt"] as? [String: Any])
        // The client's ERROR line, not the dashes it frames the statement with.
        #expect((attempt["error"] as? String)?.contains("ERROR 1142") == true && (attempt["error"] as? String)?.contains("DROP command denied") == true, "\(attempt)")
        #expect(try scenario.journals().last?["rolledBack"] == nil)
        #expect(!scenario.sandbox.isFateFlowRunning())

        let status = try Support.tool(["status", "--fate-root", scenario.root], environment: scenario.environment)
        #expect(status.stdout.contains("ROLLBACK NOT FINISHED") && status.stdout.contains("stopped at: in database fate_flow: RENAME TABLE")
                && status.stdout.contains("fate-upgrade rollback --fate-root \(scenario.root) finishes it"), "\(status.stdout)")

        // The cause fixed, the next rollback does what is left: the tables, then fate_flow started again.
        _ = try scenario.mysql.sql("GRANT DROP ON fate_flow.* TO \(MariaDB.packageUser)@localhost; FLUSH PRIVILEGES;")
        let plan = try scenario.rollback(["--plan"])
        #expect(plan.stdout.contains("RENAME TABLE") && plan.stdout.contains("start fate_flow") && !plan.stdout.contains("mv python"), "\(plan.stdout)")
        let finished = try scenario.rollback()
        #expect(finished.status == 0, "\(finished.output)")
        #expect(try scenario.sandbox.treeSnapshot("python") == treeBefore)
        #expect(try scenario.tables() == tablesBefore)
        #expect(scenario.sandbox.isFateFlowRunning())
        #expect(try scenario.journals().last?["rolledBack"] != nil)
        let after = try Support.tool(["status", "--fate-root", scenario.root], environment: scenario.environment)
        #expect(!after.stdout.contains("ROLLBACK NOT FINISHED"), "\(after.stdout)")
    }
}

extension UnfinishedRollbackTests {
    /// apply → rollback → apply → rollback --from-snapshot: the first rollback's kept tables are in the
    /// second snapshot and in the database; every name the restore gives fits MySQL's 64 characters.
    @Test func aSnapshotRestoreAfterAnEarlierRollbackFinishes() throws {
        let scenario = try Scenario(.allinone)
        defer { scenario.remove() }
        let treeBefore = try scenario.sandbox.treeSnapshot("python")
        #expect(try scenario.apply(["--component", "mysql"]).status == 0)
        #expect(try scenario.rollback().status == 0)
        let tablesBefore = try scenario.tables()
        sleep(1)
        let again = try scenario.apply(["--component", "mysql"])
        #expect(again.status == 0, "\(again.output)")
        let restored = try scenario.rollback(["--from-snapshot"])
        #expect(restored.status == 0, "\(restored.output)")
        #expect(try scenario.tables() == tablesBefore)
        let names = try scenario.mysql.sql("SHOW TABLES;", database: "fate_flow").split(separator: "\n")
        #expect(names.contains { $0.hasPrefix("t_machine_learning_model_meta_pre_restore_") } && names.allSatisfy { $0.count <= 64 }, "\(names)")
        #expect(try scenario.sandbox.treeSnapshot("python") == treeBefore)
        let status = try Support.tool(["status", "--fate-root", scenario.root], environment: scenario.environment)
        #expect(status.status == 0 && !status.stdout.contains("ROLLBACK NOT FINISHED"), "\(status.output)")
    }
}

extension UnfinishedRollbackTests {
    /// The database dies (SIGKILL) after rollback stopped fate_flow and before its RENAME TABLE: the
    /// rollback stops there on record; with MySQL started again, one more rollback finishes.
    @Test func aDatabaseKilledMidRollbackLeavesARecordAndTheNextRollbackFinishes() throws {
        let folder = try Support.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        // FATE's service.sh, slower to stop (a busy fate_flow): the window in which the database dies.
        let service = folder.appendingPathComponent("service.sh")
        let text = try String(contentsOf: Support.fixtures.appendingPathComponent("fate_flow_service.sh"), encoding: .utf8)
        #expect(text.contains("stop() {\n    getpid\n"))
        try Data(text.replacingOccurrences(of: "stop() {\n    getpid\n", with: "stop() {\n    sleep 4\n    getpid\n").utf8).write(to: service)
        let scenario = try Scenario(.allinone, service: service)
        defer { scenario.remove() }
        let treeBefore = try scenario.sandbox.treeSnapshot("python")
        let tablesBefore = try scenario.tables()
        let applied = try scenario.apply(["--component", "all"])
        #expect(applied.status == 0, "\(applied.output)")

        let rollback = try Support.startTool(["rollback", "--fate-root", scenario.root], environment: scenario.environment)
        // Once the attempt is on record, the rollback is inside its stop step, which takes 4 s.
        #expect(Support.waitUntil(seconds: 30) { ((try? scenario.journals().last?["rollbackAttempt"]) ?? nil) != nil })
        scenario.mysql.kill()
        let result = rollback.wait(timeout: .seconds(120))
        #expect(result.termination == .exited(1), "\(result.termination)\n\(result.stderrText)")
        #expect(result.stderrText.contains("rollback stopped at: in database fate_flow: RENAME TABLE") && result.stderrText.contains("fate_flow is stopped."),
                "\(result.stderrText)")
        let attempt = try #require(try scenario.journals().last?["rollbackAttempt"] as? [String: Any])
        #expect((attempt["stoppedAt"] as? String)?.hasPrefix("in database fate_flow: RENAME TABLE") == true, "\(attempt)")

        // status tells it, with the database down too.
        let status = try Support.tool(["status", "--fate-root", scenario.root], environment: scenario.environment)
        #expect(status.status == 0 && status.stdout.contains("ROLLBACK NOT FINISHED"), "\(status.output)")
        // With the database down, the next rollback refuses before it changes anything.
        let early = try scenario.rollback()
        #expect(early.status == 1 && early.stderr.contains("the database step needs the fate_flow tables"), "\(early.output)")

        try scenario.mysql.restart()
        let finished = try scenario.rollback()
        #expect(finished.status == 0, "\(finished.output)")
        #expect(try scenario.sandbox.treeSnapshot("python") == treeBefore)
        #expect(try scenario.tables() == tablesBefore)
        #expect(scenario.sandbox.isFateFlowRunning())
        #expect(try scenario.journals().last?["rolledBack"] != nil)
    }
}

extension UnfinishedRollbackTests {
    /// MySQL's data folder full while `rollback --from-snapshot` restores: it stops on record wherever the
    /// disk gave out; with room again, the same command finishes and the tables are the snapshot's.
    @Test func aFullDataFolderStopsASnapshotRestoreOnRecordAndTheNextOneFinishes() throws {
        try #require(getuid() == 0, "puts MariaDB's data directory on a tmpfs: needs root, as CI has")
        let scenario = try Scenario(.allinone, dataFolderSize: "512m")
        defer { scenario.remove() }
        // Rows enough that loading them needs room.
        _ = try scenario.mysql.sql("INSERT INTO t_job (f_job_id, f_role, f_party_id, f_roles, f_work_mode, f_initiator_party_id, f_dsl, f_runtime_conf, f_run_ip, f_status, f_create_time) SELECT CONCAT('bulk', seq), 'guest', '9999', '{}', 1, '9999', REPEAT('d', 2000), '{}', '127.0.0.1', 'success', seq FROM seq_1_to_20000;",
                                   database: "fate_flow")
        let tablesBefore = try scenario.tables()
        let applied = try scenario.apply(["--component", "mysql"])
        #expect(applied.status == 0, "\(applied.output)")

        try scenario.mysql.limitDataFolder(freeBytes: 0)
        let stopped = try scenario.rollback(["--from-snapshot", "--json"])
        #expect(stopped.status == 1, "\(stopped.output)")
        let report = try #require(try JSONSerialization.jsonObject(with: Data(stopped.stdout.utf8)) as? [String: Any], "\(stopped.stdout)")
        #expect(report["outcome"] as? String == "failed" && report["stoppedAt"] is String, "\(report)")
        let status = try Support.tool(["status", "--fate-root", scenario.root], environment: scenario.environment)
        #expect(status.stdout.contains("ROLLBACK NOT FINISHED"), "\(status.output)")

        try scenario.mysql.limitDataFolder(freeBytes: 256 << 20)
        let finished = try scenario.rollback(["--from-snapshot"])
        #expect(finished.status == 0, "\(finished.output)")
        #expect(try scenario.tables() == tablesBefore)
        #expect(try scenario.journals().last?["rolledBack"] != nil)
    }
}

/// With --json, every command prints one JSON object on stdout, failures included (issue 20).
@Suite struct JSONOnFailureTests {
    @Test(arguments: [["status"], ["verify"], ["rollback", "--plan"], ["cleanup", "--plan"], ["apply", "/nonexistent/upgrade_package_new.tar.gz", "--component", "all"]])
    func aFailureStillPrintsItsObject(command: [String]) throws {
        let missing = try Support.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: missing) }
        let root = command[0] == "apply" ? [] : ["--fate-root", missing.appendingPathComponent("no-such-fate").path]
        let run = try Support.tool(command + root + ["--json"], in: missing)
        #expect(run.status != 0, "\(run.output)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any], "\(command): \(run.stdout)")
        #expect((object["outcome"] as? String).flatMap(RunOutcome.init(rawValue:)) != nil, "\(object)")
        #expect(!run.stderr.isEmpty)
    }
}

/// Mistakes get a message naming the fix (issue 21).
@Suite struct GuidingMessageTests {
    @Test func aMistypedParameterNameGetsTheOneItMeant() {
        let names = ScriptParameters.CodingKeys.allCases.map(\.rawValue)
        #expect(Suggestion.closest(to: "FATE_RO0T", among: names) == "FATE_ROOT")
        #expect(Suggestion.closest(to: "fate_root", among: names) == "FATE_ROOT")
        #expect(Suggestion.closest(to: "DB_PSAS", among: names) == "DB_PASS")
        #expect(Suggestion.closest(to: "MYSQL_SOCKET", among: names) == nil)
        #expect(Suggestion.closest(to: "X", among: names) == nil)
    }

    @Test func packSuggestsTheParameterAndApplySaysAnUnpackedPackageWasNotPacked() throws {
        let folder = try Support.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let raw = folder.appendingPathComponent("upgrade_1_4_0-1_4_4.tar.gz")
        try Support.makePackage(at: raw)
        let typo = try Support.tool(["pack", raw.path, "--set", "FATE_RO0T=/srv/fate", "--keep", "DB_PASS"], in: folder)
        #expect(typo.status != 0 && typo.stderr.contains("FATE_RO0T: unknown parameter (did you mean FATE_ROOT?)"), "\(typo.stderr)")
        // FATE's package as shipped, applied as it is: the first line names pack.
        let applied = try Support.tool(["apply", raw.path, "--component", "all"], in: folder)
        #expect(applied.status != 0, "\(applied.output)")
        let first = applied.stderr.split(separator: "\n").first.map(String.init) ?? ""
        #expect(first.contains("DB_PASS in upgrade_1_4_0-1_4_4.tar.gz is FATE's default fate_dev") && first.contains("pack it first"), "\(applied.stderr)")
    }

    @Test func aMistypedCommandGetsTheOneItMeant() throws {
        let run = try Support.tool(["aply", "x.tar.gz"])
        #expect(run.status == 64 && run.stderr == "fate-upgrade: unknown command 'aply' (did you mean apply?); see fate-upgrade --help\n", "\(run.stderr)")
        // Hidden commands are not suggested, and a word far from every command gets argument-parser's own message.
        #expect(try Support.tool(["snapshto"]).stderr.contains("Unexpected argument 'snapshto'"))
        #expect(try Support.tool(["frobnicate"]).stderr.contains("Unexpected argument 'frobnicate'"))
    }

    /// A script that says nothing for a while (here, a sleep; on hosts, mysql waiting on a locked table)
    /// gets a line every 10 s naming what runs, on the terminal and in the log.
    @Test func aQuietScriptGetsAHeartbeatNamingWhatRuns() throws {
        let folder = try Support.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let scenario = try ApplyRollbackTests.Scenario(.allinone, script: try ApplyRollbackTests.Scenario.pausingScript(seconds: 12, in: folder))
        defer { scenario.remove() }
        let applied = try scenario.apply(["--component", "fatepython"])
        #expect(applied.status == 0, "\(applied.output)")
        let beat = try #require(applied.stderr.split(separator: "\n").first { $0.contains("still waiting for the upgrade script (pid ") }.map(String.init), "\(applied.stderr)")
        #expect(beat.contains("nothing from it for 10 s") && beat.contains("running now: sleep"), "\(beat)")
        let log = try #require(try scenario.journals().last?["log"] as? String)
        #expect(try String(contentsOfFile: log, encoding: .utf8).contains("still waiting for the upgrade script"))
    }

    /// Another session holds the tables apply needs (a fate_flow job, an operator's LOCK TABLES): apply
    /// waits as long as it takes, saying every 10 s what it waits on, and goes on once they are free.
    @Test func aLockedTableGetsAHeartbeatNamingTheDatabaseAndTheRunGoesOnWhenItIsFree() throws {
        let scenario = try ApplyRollbackTests.Scenario(.allinone)
        defer { scenario.remove() }
        let holding = DispatchSemaphore(value: 0)
        let released = DispatchSemaphore(value: 0)
        DispatchQueue.global().async {
            holding.signal()
            _ = try? scenario.mysql.sql("LOCK TABLES t_queue WRITE, t_job WRITE, t_task WRITE; SELECT SLEEP(14); UNLOCK TABLES;", database: "fate_flow")
            released.signal()
        }
        holding.wait()
        usleep(500_000)
        let started = Date()
        let applied = try scenario.apply(["--component", "mysql"])
        #expect(released.wait(timeout: .now() + 30) == .success)
        #expect(applied.status == 0, "\(applied.output)")
        #expect(Date().timeIntervalSince(started) >= 10, "apply did not wait for the lock")
        let beat = applied.stderr.split(separator: "\n").first { $0.contains("still waiting for the database") }
        #expect(beat?.contains("nothing from it for 10 s") == true, "\(applied.stderr)")
        #expect(try scenario.tables().contains("f_frequency"), "the SQL ran once the tables were free")
    }

    /// One word on every command that can change something: --plan, with --dry-run its alias.
    @Test func planAndDryRunAreOneFlagEverywhere() throws {
        let folder = try Support.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let raw = folder.appendingPathComponent("upgrade_1_4_0-1_4_4.tar.gz")
        try Support.makePackage(at: raw)
        let before = try Support.files(in: folder)
        let arguments = ["pack", raw.path, "--set", "FATE_ROOT=/srv/fate", "--set", "FATE_FLOW_ROOT=$FATE_ROOT/python/fate_flow", "--keep", "DB_PASS"]
        let plan = try Support.tool(arguments + ["--plan"], in: folder)
        let dry = try Support.tool(arguments + ["--dry-run"], in: folder)
        #expect(plan.status == 0 && plan.stdout == dry.stdout && plan.stdout.contains("FATE_ROOT=/srv/fate"), "\(plan.output)")
        #expect(try Support.files(in: folder) == before)
        for command in ["pack", "confmigrate", "apply", "rollback", "cleanup"] {
            let help = try Support.tool([command, "--help"])
            #expect(help.stdout.contains("--plan, --dry-run"), "\(command): \(help.stdout)")
        }
    }

    /// Ctrl-C, SIGTERM or SIGHUP while the database snapshot is being written: exit 128+N, nothing
    /// changed (the partial dump removed, no journal, the script never run), and said so.
    @Test(arguments: [SIGINT, SIGTERM, SIGHUP])
    func aSignalDuringTheSnapshotExits128PlusNAndChangesNothing(signal: Int32) throws {
        let scenario = try ApplyRollbackTests.Scenario(.allinone)
        defer { scenario.remove() }
        // Rows enough that the dump takes a while.
        _ = try scenario.mysql.sql("INSERT INTO t_job (f_job_id, f_role, f_party_id, f_roles, f_work_mode, f_initiator_party_id, f_dsl, f_runtime_conf, f_run_ip, f_status, f_create_time) SELECT CONCAT('bulk', seq), 'guest', '9999', '{}', 1, '9999', REPEAT(MD5(seq), 64), '{}', '127.0.0.1', 'success', seq FROM seq_1_to_150000;",
                                   database: "fate_flow")
        let untouched = try HostStateTests.Untouched(scenario)
        let apply = try Support.startTool(["apply", scenario.package.path, "--component", "mysql"], environment: scenario.environment)
        let snapshots = scenario.sandbox.fateRoot.appendingPathComponent(".fate-upgrade/snapshots")
        let dumping = Support.waitUntil(seconds: 60) { !((try? Support.files(in: snapshots)) ?? []).isEmpty }
        kill(apply.pid, signal)
        let result = apply.wait(timeout: .seconds(60))
        try #require(dumping, "the snapshot never began: \(result.stderrText)")
        #expect(result.termination == .exited(128 + signal), "\(result.termination)\n\(result.stderrText)")
        #expect(result.stderrText.contains("stopped by \(Signals.name(signal))") && result.stderrText.contains("nothing else changed")
                && result.stderrText.contains("the package stays extracted in \(scenario.folder.path)/upgrade_package"), "\(result.stderrText)")
        // The database, the tree, no journal, no snapshot: as they were. Only the extracted package is there, private.
        #expect(try scenario.sandbox.treeSnapshot() == untouched.tree)
        #expect(try scenario.mysql.snapshot() == untouched.database)
        #expect(((try? Support.files(in: snapshots)) ?? []).isEmpty)
        #expect(!FileManager.default.fileExists(atPath: scenario.sandbox.fateRoot.appendingPathComponent(".fate-upgrade/journal").path))
        var info = stat()
        #expect(stat(scenario.folder.appendingPathComponent("upgrade_package").path, &info) == 0 && info.st_mode & 0o077 == 0)
    }

    @Test func packStoppedByCtrlCSaysItWroteNothing() throws {
        let folder = try Support.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let raw = folder.appendingPathComponent("upgrade_1_4_0-1_4_4.tar.gz")
        try Support.makePackage(at: raw)
        // Waiting for the password on its standard input, which stays open.
        var ends: [Int32] = [-1, -1]
        #expect(pipe(&ends) == 0)
        defer { close(ends[1]) }
        let pack = try ChildProcess.start(Command(Support.binary, ["pack", raw.path, "-o", folder.appendingPathComponent("out.tar.gz").path, "--set", "FATE_ROOT=/srv/fate",
                                                                   "--set", "FATE_FLOW_ROOT=$FATE_ROOT/python/fate_flow", "--db-pass-stdin"],
                                                  environment: ProcessInfo.processInfo.environment.filter { $0.key != "FATE_DB_PASS" }),
                                          input: .descriptor(ends[0]))
        close(ends[0])
        sleep(2)
        kill(pack.pid, SIGINT)
        let result = pack.wait(timeout: .seconds(30))
        #expect(result.termination == .signaled(SIGINT), "\(result.termination)")
        #expect(result.stderrText.contains("fate-upgrade: stopped by a signal: pack wrote nothing"), "\(result.stderrText)")
        #expect(try Support.files(in: folder).filter { $0.hasPrefix("out") || $0.hasPrefix(".") }.isEmpty)
    }

    @Test func aPackageWithoutItsSHA256IsAppliedWithAWarningThatNamesTheChoices() throws {
        let scenario = try ApplyRollbackTests.Scenario(.allinone)
        defer { scenario.remove() }
        try FileManager.default.removeItem(atPath: scenario.package.path + ".sha256")
        let planned = try scenario.apply(["--component", "all", "--plan"])
        #expect(planned.status == 0, "\(planned.output)")
        #expect(planned.stderr.contains("warning: no upgrade_package_new.tar.gz.sha256 beside the package")
                && planned.stderr.contains("--sha256 HEX") && planned.stderr.contains("--no-checksum"), "\(planned.stderr)")
        let explicit = try scenario.apply(["--component", "all", "--plan", "--no-checksum"])
        #expect(explicit.status == 0 && !explicit.stderr.contains(".sha256 beside"), "\(explicit.output)")
        let both = try scenario.apply(["--component", "all", "--plan", "--no-checksum", "--sha256", String(repeating: "a", count: 64)])
        #expect(both.status != 0 && both.stderr.contains("--sha256 and --no-checksum"), "\(both.output)")
    }
}

/// A snapshot is input from a folder the FATE user owns: only what a dump of the fate_flow tables
/// holds may reach the mysql client (issue 22).
@Suite(.serialized) struct DumpGuardTests {
    /// What the FATE user can do: put `insert` after the first `UNLOCK TABLES;` of the last run's
    /// snapshot and rewrite the recorded size and SHA-256 to match (owner and mode kept).
    static func tamperSnapshot(_ scenario: ApplyRollbackTests.Scenario, insert: String) throws {
        let journalFolder = scenario.sandbox.fateRoot.appendingPathComponent(".fate-upgrade/journal")
        let journalFile = journalFolder.appendingPathComponent(try #require(try Support.files(in: journalFolder).last))
        var journal = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: journalFile)) as? [String: Any])
        var snapshot = try #require(journal["snapshot"] as? [String: Any])
        let file = try #require(snapshot["file"] as? String)
        let dump = try Support.run("gzip", ["-dc", file]).stdout
        let tampered = dump.replacingOccurrences(of: "UNLOCK TABLES;", with: "UNLOCK TABLES;\n" + insert, options: [], range: dump.range(of: "UNLOCK TABLES;"))
        let owners = [file, journalFile.path].map { FileOwner.of($0) }
        try Data(tampered.utf8).write(to: URL(fileURLWithPath: file + ".plain"))
        #expect(try Support.run("sh", ["-c", "gzip -c \"$1.plain\" > \"$1\" && rm \"$1.plain\"", "x", file]).status == 0)
        let digest = try Support.run("sha256sum", [file]).stdout.prefix(64)
        var info = stat()
        stat(file, &info)
        snapshot["sha256"] = String(digest)
        snapshot["bytes"] = Int(info.st_size)
        journal["snapshot"] = snapshot
        try JSONSerialization.data(withJSONObject: journal).write(to: journalFile)
        for (path, owner) in zip([file, journalFile.path], owners) {
            if let owner { chown(path, owner.uid, owner.gid) }
            chmod(path, 0o600)
        }
    }

    @Test func aRealDumpPassesAndEveryTamperingIsRefusedWithItsLine() throws {
        let scenario = try ApplyRollbackTests.Scenario(.allinone)
        defer { scenario.remove() }
        let applied = try scenario.apply(["--component", "mysql"])
        #expect(applied.status == 0, "\(applied.output)")
        let snapshot = try #require(try scenario.journals().last?["snapshot"] as? [String: Any])
        let file = try #require(snapshot["file"] as? String)
        let tables = Set(((snapshot["rows"] as? [String: Any]) ?? [:]).keys)
        let dump = try Support.run("gzip", ["-dc", file]).stdout
        #expect(dump.contains("INSERT INTO `t_job`"))
        func judged(_ text: String) -> DumpGuard.Refusal? {
            var guardian = DumpGuard(tables: tables)
            guardian.feed(Array(text.utf8))
            return guardian.finish()
        }
        #expect(judged(dump) == nil, "\(String(describing: judged(dump)))")
        let lines = dump.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let at = try #require(lines.firstIndex { $0.hasPrefix("INSERT INTO `t_job`") })
        for evil in ["\\! id > /tmp/owned", "system id;", "source /etc/passwd;", "\\. /etc/passwd", "GRANT ALL ON *.* TO 'x'@'%' IDENTIFIED BY 'x';",
                     "DROP DATABASE mysql;", "INSERT INTO mysql.user VALUES (1);", "INSERT INTO `mysql`.`user` VALUES (1);",
                     "LOAD DATA INFILE '/etc/passwd' INTO TABLE `t_job`;", "SELECT * FROM `t_job` INTO OUTFILE '/tmp/x';",
                     "DELIMITER ;;", "INSERT INTO `t_job` VALUES ((SELECT 1));", "SET GLOBAL general_log = 1;",
                     "CREATE TABLE `t_job` (x int) DATA DIRECTORY = '/tmp';", "USE mysql;", "/*!50000 GRANT ALL ON *.* TO x */;",
                     "INSERT INTO `t_evil` VALUES (1);", "/*M!100000 system id */"] {
            var tampered = lines
            tampered.insert(evil, at: at)
            let refusal = judged(tampered.joined(separator: "\n"))
            #expect(refusal?.line == at + 1, "\(evil): \(String(describing: refusal))")
        }
        // Cut short: refused too.
        let cut = String(dump.prefix(dump.count * 2 / 3))
        #expect(judged(cut) != nil)
    }

    /// The FATE user edits the snapshot to run a shell command and rewrites the recorded hash to match:
    /// the restore refuses it, naming the line, before anything changes; the command never runs.
    @Test func aTamperedSnapshotWithItsHashRewrittenIsRefusedBeforeAnythingChanges() throws {
        let scenario = try ApplyRollbackTests.Scenario(.allinone)
        defer { scenario.remove() }
        let applied = try scenario.apply(["--component", "mysql"])
        #expect(applied.status == 0, "\(applied.output)")
        let marker = "/tmp/fate-upgrade-owned-\(UUID().uuidString)"
        try Self.tamperSnapshot(scenario, insert: "\\! touch \(marker)")
        let tablesBefore = try scenario.tables()
        let treeBefore = try scenario.sandbox.treeSnapshot("python")

        let refused = try scenario.rollback(["--from-snapshot"])
        #expect(refused.status == 1, "\(refused.output)")
        #expect(refused.stderr.contains("a backslash outside a string") && refused.stderr.contains("line ") && refused.stderr.contains("nothing was changed"), "\(refused.stderr)")
        #expect(!FileManager.default.fileExists(atPath: marker))
        #expect(try scenario.tables() == tablesBefore)
        #expect(try scenario.sandbox.treeSnapshot("python") == treeBefore)
        #expect(scenario.sandbox.isFateFlowRunning())
    }
}

/// Undo that can be repeated: a second `--from-snapshot`, or one after a plain rollback, is refused
/// before any change with the reason (issue 22).
@Suite(.serialized) struct RepeatedUndoTests {
    @Test func aSecondRestoreOrOneAfterAPlainRollbackIsRefusedWithItsReasonAndChangesNothing() throws {
        let scenario = try ApplyRollbackTests.Scenario(.allinone)
        defer { scenario.remove() }
        #expect(try scenario.apply(["--component", "all"]).status == 0)
        let restored = try scenario.rollback(["--from-snapshot"])
        #expect(restored.status == 0, "\(restored.output)")
        for (first, how) in [("--from-snapshot", "from its snapshot"), ("plain", "with its _backup tables")] {
            if first == "plain" {
                #expect(try scenario.apply(["--component", "all"]).status == 0)
                let plain = try scenario.rollback()
                #expect(plain.status == 0, "\(plain.output)")
            }
            let tables = try scenario.tables()
            let tree = try scenario.sandbox.treeSnapshot("python")
            let again = try scenario.rollback(["--from-snapshot", "--json"])
            #expect(again.status == 1, "\(again.output)")
            #expect(again.stderr.contains("was rolled back at") && again.stderr.contains(how) && again.stderr.contains("nothing was changed"), "\(again.stderr)")
            #expect(!again.stderr.contains("-----"))
            #expect(again.stdout.contains("\"outcome\" : \"failed\""), "\(again.stdout)")
            #expect(try scenario.tables() == tables)
            #expect(try scenario.sandbox.treeSnapshot("python") == tree)
            #expect(scenario.sandbox.isFateFlowRunning())
        }
    }
}
