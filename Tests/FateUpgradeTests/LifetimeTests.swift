import FateUpgradeCore
import FateUpgradeHost
import Foundation
import Glibc
import Testing

/// Nothing outlives a run (issue 23): apply killed with SIGKILL, which no handler of ours sees,
/// takes the package's script and everything it started with it.
@Suite(.serialized) struct LifetimeTests {
    typealias Scenario = ApplyRollbackTests.Scenario

    /// The fixture script, pausing after it moved python/ aside, then making a new python/
    /// without a word (as `tar xzf` would): an orphan would do that after the kill.
    static func quietAfterPauseScript(in folder: URL) throws -> URL {
        let script = folder.appendingPathComponent("upgrade_script.sh")
        let text = try String(contentsOf: Support.fixtures.appendingPathComponent("upgrade_script.sh"), encoding: .utf8)
            .replacingOccurrences(of: "    echo \"INFO: Unpacking $PYTHON_PACKAGE_PATH into $FATE_ROOT\"",
                                  with: "    sleep 3.1416\n    mkdir -p \"$FATE_ROOT/python\" && : > \"$FATE_ROOT/python/an-orphan-wrote-this\"\n"
                                      + "    echo \"INFO: Unpacking $PYTHON_PACKAGE_PATH into $FATE_ROOT\"")
        try Data(text.utf8).write(to: script)
        return script
    }

    /// The script and its pause, by their arguments.
    static func survivors() -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).compactMap { name in
            guard let pid = pid_t(name), let arguments = HostFacts.arguments(of: pid), HostFacts.isAlive(pid),
                  arguments.contains("3.1416") || arguments.contains(where: { $0.hasSuffix("/upgrade_script.sh") }) else { return nil }
            return "\(pid) \(arguments.joined(separator: " "))"
        }
    }

    @Test func applyKilledWithSIGKILLTakesTheScriptAndItsChildrenWithIt() throws {
        let folder = try Support.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let scenario = try Scenario(.allinone, script: try Self.quietAfterPauseScript(in: folder))
        defer { scenario.remove() }
        let treeBefore = try scenario.sandbox.treeSnapshot("python")
        let apply = try Support.startTool(["apply", scenario.package.path, "--component", "fatepython", "--model-store", "database"],
                                          environment: scenario.environment)
        #expect(scenario.waitUntilPythonIsMovedAside())
        #expect(!Self.survivors().isEmpty, "the script runs")
        kill(apply.pid, SIGKILL)
        _ = apply.wait(timeout: .seconds(30))
        #expect(Support.waitUntil(seconds: 5) { Self.survivors().isEmpty }, "left running: \(Self.survivors())")
        sleep(5)  // past the pause: an orphan would now make python/
        #expect(!FileManager.default.fileExists(atPath: scenario.sandbox.fateRoot.appendingPathComponent("python/an-orphan-wrote-this").path))
        let back = try scenario.rollback()
        #expect(back.status == 0, "\(back.output)")
        #expect(try scenario.sandbox.treeSnapshot("python") == treeBefore)
    }

    /// SIGHUP (the operator's SSH session dropped) while rollback's RENAME TABLE waits on a table
    /// another session holds: the statement is not cut; it ends when the table is free, the run
    /// stops there with 129 and says so, and one more rollback finishes.
    @Test func aHangUpDuringTheRenameWaitsForItThenStops() throws {
        let scenario = try Scenario(.allinone)
        defer { scenario.remove() }
        let tablesBefore = try scenario.tables()
        let treeBefore = try scenario.sandbox.treeSnapshot("python")
        #expect(try scenario.apply(["--component", "all"]).status == 0)
        let released = DispatchSemaphore(value: 0)
        DispatchQueue.global().async {
            _ = try? scenario.mysql.sql("LOCK TABLES t_job READ; SELECT SLEEP(8); UNLOCK TABLES;", database: "fate_flow")
            released.signal()
        }
        // The lock is held before the rollback starts.
        let holding = Support.waitUntil(seconds: 30) {
            ((try? scenario.mysql.sql("SELECT info FROM information_schema.processlist WHERE info LIKE 'SELECT SLEEP(8)%'")) ?? "").contains("SLEEP")
        }
        try #require(holding, "the lock was never taken")
        let rollback = try Support.startTool(["rollback", "--fate-root", scenario.root], environment: scenario.environment)
        let waiting = Support.waitUntil(seconds: 30) {
            ((try? scenario.mysql.sql("SELECT info FROM information_schema.processlist WHERE info LIKE 'RENAME TABLE%'")) ?? "").contains("RENAME TABLE")
        }
        #expect(waiting, "the rollback never reached its RENAME TABLE")
        kill(rollback.pid, SIGHUP)
        let stopped = rollback.wait(timeout: .seconds(60))
        #expect(released.wait(timeout: .now() + 30) == .success)
        #expect(stopped.termination == .exited(129), "\(stopped.termination): \(stopped.stderrText)")
        #expect(stopped.stderrText.contains("stopped by SIGHUP"), "\(stopped.stderrText)")
        // The rename ran whole: every table is back as it was, none half-renamed.
        #expect(try scenario.tables() == tablesBefore)
        let finished = try scenario.rollback()
        #expect(finished.status == 0, "\(finished.output)")
        #expect(try scenario.tables() == tablesBefore)
        #expect(try scenario.sandbox.treeSnapshot("python") == treeBefore)
        #expect(scenario.sandbox.isFateFlowRunning())
    }

    /// `fate-upgrade` under libfaketime: the wall clock as given (FAKETIME), the monotonic one real.
    static func atTime(_ spec: String, _ arguments: [String], _ scenario: Scenario) throws -> Run {
        try Support.run("faketime", ["-f", spec, Support.binary] + arguments,
                        environment: scenario.environment.merging(["FAKETIME_DONT_FAKE_MONOTONIC": "1"]) { $1 })
    }

    /// A wall clock that stands still: apply, rollback and apply again in one second of it. The
    /// second run gets an id of its own; no journal, snapshot or log of the first is replaced.
    @Test func aFrozenClockNeverMakesARunTakeAnotherRunsName() throws {
        let scenario = try Scenario(.allinone)
        defer { scenario.remove() }
        let frozen = "2026-12-01 10:00:00"
        let apply = ["apply", scenario.package.path, "--component", "mysql"]
        #expect(try Self.atTime(frozen, apply, scenario).status == 0)
        #expect(try Self.atTime(frozen, ["rollback", "--fate-root", scenario.root], scenario).status == 0)
        let again = try Self.atTime(frozen, apply, scenario)
        #expect(again.status == 0, "\(again.output)")
        // In the order they ran (their names, both of one second, do not say it).
        let journals = try scenario.journals().sorted { ($0["sequence"] as? Int ?? 0) < ($1["sequence"] as? Int ?? 0) }
        let ids = journals.compactMap { $0["id"] as? String }
        #expect(ids.count == 2 && Set(ids).count == 2, "\(ids)")
        #expect(journals.compactMap { $0["sequence"] as? Int } == [1, 2], "\(journals.map { $0["sequence"] ?? "-" })")
        #expect(journals.first?["rolledBack"] != nil, "the first run's journal keeps its rollback")
        let state = scenario.sandbox.fateRoot.appendingPathComponent(".fate-upgrade")
        for id in ids {
            #expect(FileManager.default.fileExists(atPath: state.appendingPathComponent("logs/\(id).log").path), "\(id)")
            #expect(FileManager.default.fileExists(atPath: state.appendingPathComponent("snapshots/\(id).sql.gz").path), "\(id)")
        }
        // Later commands read both: status lists them in the order they ran.
        let status = try Support.tool(["status", "--fate-root", scenario.root, "--json"], environment: scenario.environment)
        #expect(try JSONDecoder().decode(HostStatus.self, from: Data(status.stdout.utf8)).runs.map(\.id) == ids, "\(status.output)")
    }

    /// The clock set back a day between two runs: the later run is the later one for status and
    /// for rollback, whatever its time says.
    @Test func aClockSetBackDoesNotReorderTheRuns() throws {
        let scenario = try Scenario(.allinone)
        defer { scenario.remove() }
        let tablesBefore = try scenario.tables()
        let apply = ["apply", scenario.package.path, "--component", "mysql"]
        #expect(try scenario.apply(["--component", "mysql"]).status == 0)
        #expect(try scenario.rollback().status == 0)
        let yesterday = "@" + Clock.local("%Y-%m-%d %H:%M:%S", Date().addingTimeInterval(-86400))
        let later = try Self.atTime(yesterday, apply, scenario)
        #expect(later.status == 0, "\(later.output)")
        let journals = try scenario.journals()
        let laterID = try #require(journals.first { $0["rolledBack"] == nil }?["id"] as? String)
        let status = try Support.tool(["status", "--fate-root", scenario.root, "--json"], environment: scenario.environment)
        let runs = try JSONDecoder().decode(HostStatus.self, from: Data(status.stdout.utf8)).runs
        #expect(runs.last?.id == laterID && runs.count == 2, "\(runs.map(\.id))")
        let plan = try scenario.rollback(["--plan"])
        #expect(plan.stdout.contains(laterID), "\(plan.output)")
        #expect(try scenario.rollback().status == 0)
        #expect(try scenario.tables() == tablesBefore)
        #expect(try scenario.journals().allSatisfy { $0["rolledBack"] != nil })
    }

    /// The guardian killed too (the OOM killer, a `kill -9` of the wrong pid): the script survives in
    /// its group. The journal names the group; status reports it, rollback refuses until it is gone.
    @Test func aScriptThatOutlivesItsRunIsFoundBeforeAnythingChanges() throws {
        let folder = try Support.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let script = try Self.quietAfterPauseScript(in: folder)
        try Data(try String(contentsOf: script, encoding: .utf8).replacingOccurrences(of: "sleep 3.1416", with: "sleep 31.416").utf8).write(to: script)
        let scenario = try Scenario(.allinone, script: script)
        defer { scenario.remove() }
        let apply = try Support.startTool(["apply", scenario.package.path, "--component", "fatepython", "--model-store", "database"],
                                          environment: scenario.environment)
        #expect(scenario.waitUntilPythonIsMovedAside())
        var group: Int32 = 0
        #expect(Support.waitUntil(seconds: 10) { group = Int32((try? scenario.journals().last?["scriptGroup"] as? Int) ?? 0); return group > 0 }, "no scriptGroup recorded")
        defer { kill(-group, SIGKILL) }
        kill(group, SIGKILL)  // the guardian
        kill(apply.pid, SIGKILL)
        _ = apply.wait(timeout: .seconds(30))
        #expect(!HostFacts.processes(inGroup: group).isEmpty, "the script should survive here")
        let refused = try scenario.rollback()
        #expect(refused.status == 1 && refused.stderr.contains("is still running (process group \(group)") && refused.stderr.contains("kill -TERM -\(group)"), "\(refused.output)")
        let status = try Support.tool(["status", "--fate-root", scenario.root], environment: scenario.environment)
        #expect(status.stdout.contains("is still running (process group \(group)"), "\(status.output)")
        kill(-group, SIGTERM)
        #expect(Support.waitUntil(seconds: 10) { HostFacts.processes(inGroup: group).isEmpty })
        let back = try scenario.rollback()
        #expect(back.status == 0, "\(back.output)")
    }
}
