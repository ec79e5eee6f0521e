import FateUpgradeCore
import FateUpgradeHost
import Foundation
import Testing

/// `apply` and `rollback` on hosts shaped like real FATE 1.4.x machines (issue 7): fate_flow started with
/// `nohup … &` keeping every inherited descriptor, a bash upgrade script with `set -euo pipefail` and
/// component-specific finished lines that passes `-p$DB_PASS` unquoted, a real MariaDB. Every run is bounded
/// (`Support.run` throws after its timeout): a hang is a failure.
@Suite(.serialized) struct RealHostTests {
    typealias Scenario = ApplyRollbackTests.Scenario

    struct ComponentCase: CustomStringConvertible, Sendable {
        var component: String
        var role: String
        var deploy: FateSandbox.Deploy
        var finished: String
        var description: String { "\(component) --role \(role) (\(deploy.rawValue))" }
    }

    static let components: [ComponentCase] = [
        ComponentCase(component: "mysql", role: "fateflow", deploy: .ansible, finished: "INFO: Upgrading mysql process finished."),
        ComponentCase(component: "fatepython", role: "fateflow", deploy: .allinone, finished: "INFO: Upgrading fate python process finished."),
        ComponentCase(component: "fatepython", role: "nodemanager", deploy: .ansible, finished: "INFO: Upgrading fate python process finished."),
    ]

    /// Each component finishes (bounded), is judged a success by its own finished line, reports JSON for
    /// automation, and rolls back exactly.
    @Test(arguments: components)
    func eachComponentSucceedsAndRollsBackExactly(run: ComponentCase) throws {
        let scenario = try Scenario(run.deploy)
        defer { scenario.remove() }
        let treeBefore = try scenario.sandbox.treeSnapshot("python")
        let tablesBefore = try scenario.tables()
        let started = Date()
        let applied = try Support.tool(["apply", scenario.package.path, "--component", run.component, "--model-store", "database", "--role", run.role, "--json"],
                                       environment: scenario.environment, timeout: .seconds(120))
        #expect(applied.status == 0, "\(applied.output)")
        #expect(Date().timeIntervalSince(started) < 60)
        #expect(applied.stderr.contains(run.finished), "\(applied.stderr)")
        #expect(!applied.stderr.contains("printed no \"Upgrading"))
        // stdout is the JSON report alone.
        let report = try #require(try JSONSerialization.jsonObject(with: Data(applied.stdout.utf8)) as? [String: Any], "\(applied.stdout)")
        #expect(report["outcome"] as? String == "succeeded")
        #expect(report["changed"] as? Bool == true)
        #expect(report["component"] as? String == run.component)
        #expect(!applied.output.contains(MariaDB.packagePassword))
        let journal = try #require(try scenario.journals().first)
        #expect(journal["outcome"] as? String == "succeeded")
        #expect(journal["interpreter"] as? String == "/bin/bash" || journal["interpreter"] as? String == "/usr/bin/bash")
        if run.component == "mysql" {
            #expect(try scenario.mysql.tables().filter { $0.hasSuffix("_backup") }.count == 5)
            #expect(try scenario.sandbox.treeSnapshot("python") == treeBefore)
        } else {
            #expect(try scenario.sandbox.treeSnapshot("python") != treeBefore)
        }
        #expect(scenario.sandbox.isFateFlowRunning() == (run.role == "fateflow"))

        let rolledBack = try Support.tool(["rollback", "--fate-root", scenario.root, "--json"], environment: scenario.environment,
                                          timeout: .seconds(120))
        #expect(rolledBack.status == 0, "\(rolledBack.output)")
        let undone = try #require(try JSONSerialization.jsonObject(with: Data(rolledBack.stdout.utf8)) as? [String: Any], "\(rolledBack.stdout)")
        #expect(undone["outcome"] as? String == "succeeded")
        #expect(try scenario.sandbox.treeSnapshot("python") == treeBefore)
        #expect(try scenario.tables() == tablesBefore)
        #expect(scenario.sandbox.isFateFlowRunning() == (run.role == "fateflow"))
    }

    /// A fate_flow started without redirecting its output keeps apply's pipe open for its whole life: apply
    /// must still end within seconds of the script, and say what held it.
    @Test func aDaemonThatKeepsTheOutputOpenDoesNotHoldApply() throws {
        let folder = try Support.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let service = folder.appendingPathComponent("service.sh")
        let text = try String(contentsOf: Support.fixtures.appendingPathComponent("fate_flow_service.sh"), encoding: .utf8)
        let start = #"nohup python ${FATE_PYTHON_ROOT}/fate_flow/fate_flow_server.py >> "${log_dir}/console.log" 2>>"${log_dir}/error.log" &"#
        #expect(text.contains(start))
        try Data(text.replacingOccurrences(of: start, with: #"nohup python ${FATE_PYTHON_ROOT}/fate_flow/fate_flow_server.py &"#).utf8).write(to: service)
        let scenario = try Scenario(.allinone, service: service)
        defer { scenario.remove() }
        let started = Date()
        let applied = try Support.tool(["apply", scenario.package.path, "--component", "fatepython", "--model-store", "database"], environment: scenario.environment,
                                       timeout: .seconds(120))
        let elapsed = Date().timeIntervalSince(started)
        #expect(applied.status == 0, "\(applied.output)")
        #expect(elapsed < 30, "apply took \(elapsed) s")
        #expect(applied.stderr.contains("still holds its output open"), "\(applied.stderr)")
        #expect(applied.stdout.contains("upgrade of fatepython finished"))
        #expect(scenario.sandbox.isFateFlowRunning())
    }

    /// Ctrl-C while the script runs stops the script's whole process group, records the interruption, and
    /// blocks a second apply until rollback, which restores everything.
    @Test func ctrlCStopsTheScriptsProcessGroup() throws {
        let folder = try Support.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let script = try Scenario.pausingScript(seconds: 37, in: folder)
        let scenario = try Scenario(.allinone, script: script)
        defer { scenario.remove() }
        let treeBefore = try scenario.sandbox.treeSnapshot("python")
        let tablesBefore = try scenario.tables()

        let process = try Support.startTool(["apply", scenario.package.path, "--component", "all", "--model-store", "database"], environment: scenario.environment)
        let moved = scenario.waitUntilPythonIsMovedAside()
        #expect(moved, "the upgrade never reached the point of moving python/ aside")
        let interrupted = Date()
        kill(process.pid, SIGINT)
        let result = process.wait(timeout: .seconds(30))
        #expect(Date().timeIntervalSince(interrupted) < 10)
        #expect(result.termination == .exited(130), "\(result.stdoutText)\(result.stderrText)")
        #expect(result.stderrText.contains("stopped by SIGINT (Ctrl-C) while the script ran"), "\(result.stderrText)")
        let scriptPath = scenario.folder.appendingPathComponent("upgrade_package/upgrade_script.sh").path
        #expect(FateSandbox.processes(withArgument: scriptPath).isEmpty, "the script still runs")
        #expect(FateSandbox.processes(withArgument: "37").isEmpty, "the script's sleep still runs")
        let journal = try #require(try scenario.journals().first)
        #expect(journal["outcome"] as? String == "interrupted")

        let again = try scenario.apply(["--component", "all"])
        #expect(again.status == 1)
        #expect(again.stderr.contains("was interrupted; roll it back first"), "\(again.stderr)")

        let rolledBack = try scenario.rollback()
        #expect(rolledBack.status == 0, "\(rolledBack.output)")
        #expect(try scenario.sandbox.treeSnapshot("python") == treeBefore)
        #expect(try scenario.tables() == tablesBefore)
        #expect(scenario.sandbox.isFateFlowRunning())
    }

    /// After apply, the extracted script holds DB_PASS: another local user cannot read it, nor the logs.
    @Test func dbPassIsUnreadableToAnotherUser() throws {
        try #require(getuid() == 0, "this test switches to another user (nobody) and must run as root, as CI does")
        let scenario = try Scenario(.allinone)
        defer { scenario.remove() }
        let applied = try scenario.apply(["--component", "mysql"])
        #expect(applied.status == 0, "\(applied.output)")
        let work = scenario.folder.appendingPathComponent("upgrade_package")
        var info = stat()
        #expect(lstat(work.path, &info) == 0 && info.st_mode & 0o777 == 0o700)
        #expect(lstat(work.appendingPathComponent("upgrade_script.sh").path, &info) == 0 && info.st_mode & 0o077 == 0)
        let state = scenario.sandbox.fateRoot.appendingPathComponent(".fate-upgrade")
        for path in [work.appendingPathComponent("upgrade_script.sh").path, scenario.package.path] + (try Support.files(in: state.appendingPathComponent("logs"))).map({ state.appendingPathComponent("logs/\($0)").path }) {
            let read = try Support.run("runuser", ["-u", "nobody", "--", "cat", path])
            #expect(read.status != 0, "nobody could read \(path)")
            #expect(!read.output.contains(MariaDB.packagePassword))
        }
        let grep = try Support.run("runuser", ["-u", "nobody", "--", "grep", "-rl", "Fate_dev", work.path, state.path])
        #expect(grep.status != 0 && !grep.stdout.contains("/"), "\(grep.output)")
    }

    /// Root on a tree owned by FATE's deploy user is refused with the line to use; with --allow-root, fate_flow
    /// ends up running as that user and the new files belong to them.
    @Test func rootOnAnAppOwnedTreeIsRefusedOrHandedOver() throws {
        try #require(getuid() == 0, "this test needs root, as CI has, to own a tree as another user")
        let user = "fateapp"
        if try Support.run("id", ["-u", user]).status != 0 {
            let made = try Support.run("useradd", ["--system", "--no-create-home", "--shell", "/bin/sh", user])
            try #require(made.status == 0, "useradd: \(made.output)")
        }
        let uid = try #require(uid_t(try Support.run("id", ["-u", user]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)))
        let scenario = try Scenario(.allinone)
        defer { scenario.remove() }
        chmod(scenario.sandbox.folder.path, 0o755)
        #expect(try Support.run("chown", ["-R", user, scenario.sandbox.fateRoot.path]).status == 0)
        let treeBefore = try scenario.sandbox.treeSnapshot("python")

        let refused = try scenario.apply(["--component", "fatepython"])
        #expect(refused.status == 1)
        #expect(refused.stderr.contains("belongs to \(user) (uid \(uid)), and this is root"), "\(refused.stderr)")
        #expect(refused.stderr.contains("sudo -u \(user) "), "\(refused.stderr)")
        #expect(try Support.files(in: scenario.folder) == ["upgrade_package_new.tar.gz", "upgrade_package_new.tar.gz.sha256"])
        #expect(!FileManager.default.fileExists(atPath: scenario.sandbox.fateRoot.appendingPathComponent(".fate-upgrade").path))
        #expect(try scenario.sandbox.treeSnapshot("python") == treeBefore)

        let allowed = try scenario.apply(["--component", "fatepython", "--allow-root"])
        #expect(allowed.status == 0, "\(allowed.output)")
        #expect(allowed.stdout.contains("started fate_flow from the new tree"), "\(allowed.stdout)")
        let server = try #require(scenario.sandbox.runningPids().first)
        let status = try String(contentsOfFile: "/proc/\(server)/status", encoding: .utf8)
        #expect(status.split(separator: "\n").first { $0.hasPrefix("Uid:") }?.split(separator: "\t").dropFirst().first == Substring("\(uid)"),
                "fate_flow runs as: \(status.split(separator: "\n").first { $0.hasPrefix("Uid:") } ?? "?")")
        for (path, _) in try scenario.sandbox.treeSnapshot("python") {
            #expect(FileOwner.of(scenario.sandbox.fateRoot.appendingPathComponent("python/\(path)").path)?.uid == uid, "\(path)")
        }
        #expect(FileOwner.of(scenario.sandbox.fateRoot.appendingPathComponent(".fate-upgrade/journal").path)?.uid == uid)
    }

    /// A user who cannot write FATE_ROOT is stopped by preflight, in plain lines, before anything is unpacked.
    @Test func aUserWhoCannotWriteFateRootIsStoppedBeforeAnythingChanges() throws {
        try #require(getuid() == 0, "this test runs apply as nobody and must run as root, as CI does")
        let scenario = try Scenario(.allinone)
        defer { scenario.remove() }
        chmod(scenario.sandbox.folder.path, 0o755)
        chmod(scenario.folder.path, 0o777)
        chmod(scenario.package.path, 0o644)
        let treeBefore = try scenario.sandbox.treeSnapshot("python")
        let run = try Support.run("runuser", ["-u", "nobody", "--", Support.binary, "apply", scenario.package.path, "--component", "fatepython", "--model-store", "database"],
                                  environment: scenario.environment)
        #expect(run.status == 1)
        #expect(run.stderr.contains("fate-upgrade: preflight: nobody cannot write \(scenario.root)"), "\(run.stderr)")
        #expect(run.stderr.split(separator: "\n").allSatisfy { $0.hasPrefix("fate-upgrade: ") }, "\(run.stderr)")
        #expect(!run.output.contains("NSCocoaErrorDomain") && !run.output.contains("Error Domain"))
        #expect(try Support.files(in: scenario.folder) == ["upgrade_package_new.tar.gz", "upgrade_package_new.tar.gz.sha256"])
        #expect(try scenario.sandbox.treeSnapshot("python") == treeBefore)
    }

    /// Under a pipe (ansible, tee), the tool's own lines and the script's come in the order they happen.
    @Test func outputOrderUnderAPipeIsTheOrderOfEvents() throws {
        let scenario = try Scenario(.allinone)
        defer { scenario.remove() }
        let run = try Support.run("sh", ["-c", "exec \"$@\" 2>&1", "sh", Support.binary, "apply", scenario.package.path, "--component", "all", "--model-store", "database"],
                                  environment: scenario.environment, timeout: .seconds(120))
        #expect(run.status == 0, "\(run.output)")
        let markers = ["preflight passed", "extracted ", "INFO: Checking deploy method", "INFO: Applying upgrade_1_4_0-1_4_1.sql",
                       "INFO: Upgrading process finished.", "backup: ", "started fate_flow from the new tree", "upgrade of all finished"]
        let positions = markers.map { run.stdout.range(of: $0)?.lowerBound }
        #expect(!positions.contains(nil), "\(run.stdout)")
        let found = positions.compactMap { $0 }
        #expect(found == found.sorted(), "\(run.stdout)")
    }

    /// A full file system under the logs: the log stops, the operator is told once, the upgrade goes on and the
    /// journal records it. Never a trap.
    @Test func aFullFileSystemForTheLogIsReportedAndTheRunGoesOn() throws {
        try #require(getuid() == 0, "this test mounts a tmpfs in a mount namespace and must run as root, as CI does")
        let scenario = try Scenario(.allinone)
        defer { scenario.remove() }
        let logs = scenario.sandbox.fateRoot.appendingPathComponent(".fate-upgrade/logs")
        try FileSystem.makeDirectories(logs.path, mode: 0o700)
        let run = try Support.run("unshare", ["-m", "sh", "-c", """
            mount -t tmpfs -o size=16k,mode=0700 tmpfs "$1" || exit 99
            dd if=/dev/zero of="$1/fill" bs=4k >/dev/null 2>&1
            shift
            exec "$@"
            """, "sh", logs.path, Support.binary, "apply", scenario.package.path, "--component", "mysql"],
            environment: scenario.environment, timeout: .seconds(120))
        #expect(run.status == 0, "\(run.output)")
        #expect(run.stderr.contains("cannot be written: no space left on the file system (ENOSPC); the run goes on without it"), "\(run.stderr)")
        #expect(run.stdout.contains("INFO: Upgrading mysql process finished."))
        let journal = try #require(try scenario.journals().first)
        #expect(journal["outcome"] as? String == "succeeded")
        #expect((journal["logError"] as? String)?.contains("ENOSPC") == true)
    }
}
