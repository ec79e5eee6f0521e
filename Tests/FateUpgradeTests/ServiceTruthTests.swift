import FateUpgradeCore
import FateUpgradeHost
import Foundation
import Testing

/// fate_flow judged by the host, not by FATE's service scripts, which exit 0 whatever happened and
/// find fate_flow with lsof (issue 19): against FATE's own service.sh and a supervisorctl that exits 0.
@Suite(.serialized) struct ServiceTruthTests {
    typealias Scenario = ApplyRollbackTests.Scenario

    func verify(_ scenario: Scenario, _ extra: [String] = []) throws -> Run {
        try Support.tool(["verify", "--fate-root", scenario.root] + extra, environment: scenario.environment)
    }

    /// A PATH with everything the host has but lsof: FATE's service.sh then finds no fate_flow.
    static func pathWithoutLsof(in folder: URL) throws -> String {
        let bin = folder.appendingPathComponent("bin-without-lsof")
        try FileManager.default.createDirectory(at: bin, withIntermediateDirectories: true)
        for system in ["/usr/local/bin", "/usr/bin", "/bin", "/usr/sbin", "/sbin"] {
            for name in (try? FileManager.default.contentsOfDirectory(atPath: system)) ?? [] where name != "lsof" {
                let link = bin.appendingPathComponent(name).path
                if !FileManager.default.fileExists(atPath: link) {
                    try? FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: "\(system)/\(name)")
                }
            }
        }
        return bin.path
    }

    /// service.sh prints "service start failed" and exits 0: apply fails, with its output and fate_flow's error log.
    @Test(arguments: [FateSandbox.Deploy.allinone, .ansible])
    func aStartThatFailsFailsApplyThoughTheScriptExitsZero(deploy: FateSandbox.Deploy) throws {
        let scenario = try Scenario(deploy)
        defer { scenario.remove() }
        // The venv's python is broken: every start fails, every stop still works.
        let python = scenario.sandbox.fateRoot.appendingPathComponent("common/python/venv/bin/python")
        try FileManager.default.removeItem(at: python)
        try Data("#!/bin/sh\necho 'python: error while loading shared libraries: libpython3.6m.so.1.0' >&2\nexit 127\n".utf8).write(to: python)
        chmod(python.path, 0o755)
        let applied = try scenario.apply(["--component", "fatepython"])
        #expect(applied.status == 1, "\(applied.output)")
        #expect(applied.stderr.contains("the upgrade succeeded, but starting fate_flow did not"), "\(applied.stderr)")
        #expect(applied.stderr.contains("no fate_flow runs from"), "\(applied.stderr)")
        let said = deploy == .allinone ? "service start failed" : "ERROR (spawn error)"
        #expect(applied.stderr.contains(said), "the script's own words: \(applied.stderr)")
        #expect(!applied.stdout.contains("started fate_flow from the new tree"))
        #expect(!scenario.sandbox.isFateFlowRunning())
        let journal = try #require(try scenario.journals().last)
        #expect(journal["outcome"] as? String == "succeeded" && journal["confmigrate"] as? String == "done")
        let verified = try verify(scenario)
        #expect(verified.status == 1 && verified.stdout.contains("FAIL fate_flow"), "\(verified.output)")
    }

    /// Without lsof, service.sh stop stops nothing and the old fate_flow keeps serving from the tree moved
    /// aside: apply stops it by its pid and says so, then judges the new one by the host.
    @Test func withoutLsofTheOldServerIsStoppedByItsPidAndTheNewOneJudgedByTheHost() throws {
        let scenario = try Scenario(.allinone)
        defer { scenario.remove() }
        let old = try #require(scenario.sandbox.runningPids().first)
        let path = try Self.pathWithoutLsof(in: scenario.folder)
        let applied = try Support.tool(["apply", scenario.package.path, "--component", "fatepython", "--model-store", "database"],
                                       environment: scenario.environment.merging(["PATH": path]) { $1 })
        #expect(applied.status == 0, "\(applied.output)")
        #expect(applied.stderr.contains("stop left fate_flow running (pid \(old), from \(scenario.root)/python_2"), "\(applied.stderr)")
        #expect(applied.stdout.contains("stopped fate_flow pid \(old)"), "\(applied.stdout)")
        #expect(applied.stdout.contains("reported a failure, but fate_flow runs: judged by the host"), "\(applied.stdout)")
        #expect(!HostFacts.isAlive(old))
        let root = HostFacts.realPath(scenario.root)!
        let servers = HostFacts.fateFlowServers().filter { $0.belongs(to: root) }
        #expect(servers.count == 1 && servers.first?.tree(fateRoot: root) == "\(root)/python", "\(servers)")
        let verified = try verify(scenario)
        #expect(verified.status == 0, "\(verified.output)")
    }

    /// verify passes on a healthy fate_flow and fails, saying why, on one that runs the old tree, runs
    /// with settings changed since it started, listens elsewhere, or runs standalone on a cluster.
    @Test func verifyFailsOnAStaleMovedOrStandaloneFateFlowAndPassesOnAHealthyOne() throws {
        let scenario = try Scenario(.allinone, cluster: true)
        defer { scenario.remove() }
        let applied = try scenario.apply(["--component", "all"])
        #expect(applied.status == 0, "\(applied.output)")
        let healthy = try verify(scenario)
        #expect(healthy.status == 0 && healthy.stdout.contains("ok   fate_flow"), "\(healthy.output)")
        #expect(healthy.stdout.contains("work_mode 1"), "\(healthy.stdout)")
        #expect(healthy.stdout.contains("ok   database") && healthy.stdout.contains("answers with base_conf.yaml's credentials and holds the 1.4.4 schema"), "\(healthy.stdout)")

        // base_conf.yaml's http_port changed after fate_flow started: it still listens on the old one.
        let conf = scenario.sandbox.fateRoot.appendingPathComponent("python/arch/conf/base_conf.yaml")
        let text = try String(contentsOf: conf, encoding: .utf8)
        let port = try scenario.sandbox.ports().http
        let other = try Support.freePort()
        try Data(text.replacingOccurrences(of: "http_port: \(port)", with: "http_port: \(other)").utf8).write(to: conf)
        let moved = try verify(scenario)
        #expect(moved.status == 1, "\(moved.output)")
        #expect(moved.stdout.contains("FAIL fate_flow") && moved.stdout.contains("runs with the settings from before")
                && moved.stdout.contains("not on \(other)"), "\(moved.stdout)")
        // Put back, the file is still newer than the process: it may not have read it.
        try Data(text.utf8).write(to: conf)
        let touched = try verify(scenario)
        #expect(touched.status == 1 && touched.stdout.contains("runs with the settings from before"), "\(touched.stdout)")
        _ = try scenario.sandbox.service("restart")
        #expect(try verify(scenario).status == 0)

        // The tree from before the upgrade serving again (its own service.sh started it).
        let backup = try #require(try Support.files(in: scenario.sandbox.fateRoot).first { $0.hasPrefix("python_2") })
        _ = try scenario.sandbox.service("stop")
        let oldService = scenario.sandbox.fateRoot.appendingPathComponent("\(backup)/fate_flow/service.sh").path
        let started = try Support.runFromAShell("bash", [oldService, "start"])
        #expect(started.output.contains("service start sucessfully"), "\(started.output)")
        let stale = try verify(scenario)
        #expect(stale.status == 1 && stale.stdout.contains("runs from \(HostFacts.realPath(scenario.root)!)/\(backup), not"), "\(stale.stdout)")
        _ = try Support.runFromAShell("bash", [oldService, "stop"])
        // What that server logged went into the old tree, where the site check would rightly find it.
        try FileManager.default.removeItem(at: scenario.sandbox.fateRoot.appendingPathComponent("\(backup)/logs"))

        // fate_flow started by hand with --standalone_node on this cluster host: sqlite, local federation.
        let python = scenario.sandbox.fateRoot.appendingPathComponent("python").path
        let standalone = try Support.runFromAShell("bash", ["-c", """
            cd "$1" && nohup "$2/common/python/venv/bin/python" "$1/fate_flow/fate_flow_server.py" --standalone_node >> "$1/logs/console.log" 2>>"$1/logs/error.log" &
            for i in $(seq 1 100); do sleep 0.1; lsof -i:"$3" | grep -q LISTEN && exit 0; done; exit 1
            """, "standalone", python, scenario.root, "\(port)"])
        #expect(standalone.status == 0, "\(standalone.output)")
        let sqlite = try verify(scenario)
        #expect(sqlite.status == 1 && sqlite.stdout.contains("standalone database") && sqlite.stdout.contains("work_mode 1"), "\(sqlite.stdout)")
        _ = try scenario.sandbox.service("restart")
        let again = try verify(scenario)
        #expect(again.status == 0, "\(again.output)")

        // Credentials the database refuses: fate_flow dies at start (as FATE's does), and verify says both.
        let current = try String(contentsOf: conf, encoding: .utf8)
        try Data(current.replacingOccurrences(of: "passwd: '\(MariaDB.sitePassword)'", with: "passwd: 'not the password'").utf8).write(to: conf)
        _ = try scenario.sandbox.service("restart")
        let refused = try verify(scenario)
        #expect(refused.status == 1, "\(refused.output)")
        #expect(refused.stdout.contains("FAIL database") && refused.stdout.contains("cannot use its database") && refused.stdout.contains("Access denied"), "\(refused.stdout)")
        #expect(refused.stdout.contains("FAIL fate_flow") && refused.stdout.contains("no fate_flow runs"), "\(refused.stdout)")
        #expect(!refused.output.contains("not the password"))
    }
}

/// The journals against the disk (issue 19): a rollback done by hand, or the upgrade script run again by
/// hand, is seen and explained, never covered by what the journal says.
@Suite(.serialized) struct JournalDriftTests {
    typealias Scenario = ApplyRollbackTests.Scenario

    func tool(_ scenario: Scenario, _ arguments: [String]) throws -> Run {
        try Support.tool(arguments, environment: scenario.environment)
    }

    /// §4 of the guide by hand: stop fate_flow, put the old tree back. apply must not answer "already upgraded".
    @Test func afterARollbackByHandApplyRefusesToSayItIsDoneAndRollbackRecordsIt() throws {
        let scenario = try Scenario(.allinone)
        defer { scenario.remove() }
        let root = scenario.sandbox.fateRoot
        let applied = try scenario.apply(["--component", "fatepython"])
        #expect(applied.status == 0, "\(applied.output)")
        let backup = try #require(try Support.files(in: root).first { $0.hasPrefix("python_2") })
        _ = try scenario.sandbox.service("stop")
        try FileManager.default.moveItem(at: root.appendingPathComponent("python"), to: root.appendingPathComponent("python_upgrade_backup"))
        try FileManager.default.moveItem(at: root.appendingPathComponent(backup), to: root.appendingPathComponent("python"))
        _ = try scenario.sandbox.service("start")

        let again = try scenario.apply(["--component", "fatepython"])
        #expect(again.status == 1, "\(again.output)")
        #expect(!again.output.contains("nothing to do"), "\(again.output)")
        #expect(again.stderr.contains("records fatepython as upgraded and in place, but \(scenario.root)/python holds FATE 1.4.0's files"), "\(again.stderr)")
        let status = try tool(scenario, ["status", "--fate-root", scenario.root])
        #expect(status.stdout.contains("says python/ was upgraded, but it holds FATE 1.4.0's files"), "\(status.stdout)")
        let verified = try tool(scenario, ["verify", "--fate-root", scenario.root])
        #expect(verified.status == 1 && verified.stdout.contains("FAIL python"), "\(verified.output)")

        // Nothing of the code is left to undo: rollback says so and records the run as rolled back.
        let back = try scenario.rollback(["--yes"])
        #expect(back.status == 0, "\(back.output)")
        #expect(try scenario.journals().last?["rolledBack"] != nil)
        let applyAgain = try scenario.apply(["--component", "fatepython", "--plan"])
        #expect(applyAgain.status == 0 && applyAgain.stdout.contains("run "), "\(applyAgain.output)")
    }

    /// The upgrade script run again by hand moves the 1.4.4 tree aside as the newest python_<ts>: rollback
    /// restores the backup that holds the old release, by its files, and says which it left.
    @Test func afterTheScriptRanAgainByHandRollbackRestoresTheOldReleaseNotTheNewestName() throws {
        let scenario = try Scenario(.allinone)
        defer { scenario.remove() }
        let root = scenario.sandbox.fateRoot
        let applied = try scenario.apply(["--component", "fatepython"])
        #expect(applied.status == 0, "\(applied.output)")
        let first = try #require(try Support.files(in: root).first { $0.hasPrefix("python_2") })
        sleep(1)
        let work = scenario.folder.appendingPathComponent("upgrade_package").path
        // From an operator's shell: nothing closed, so the fate_flow the script starts keeps what it had.
        let byHand = try Support.runFromAShell("bash", ["-c", "cd \"$1\" && bash upgrade_script.sh fatepython", "by-hand", work],
                                               environment: scenario.environment, timeout: .seconds(120))
        #expect(byHand.stdout.contains("Upgrading fate python process finished"), "\(byHand.output)")
        let second = try #require(try Support.files(in: root).filter { $0.hasPrefix("python_2") && $0 != first }.first)
        #expect(HostFacts.pythonRelease(of: root.appendingPathComponent(second).path) == .v1_4_4)

        let status = try tool(scenario, ["status", "--fate-root", scenario.root])
        #expect(status.stdout.contains("\(scenario.root)/\(second) holds FATE 1.4.4's files"), "\(status.stdout)")
        let plan = try scenario.rollback(["--plan"])
        #expect(plan.status == 0, "\(plan.output)")
        #expect(plan.stdout.contains("mv \(first) python"), "\(plan.stdout)")
        #expect(!plan.stdout.contains("mv \(second) python"), "\(plan.stdout)")
        #expect(plan.output.contains("\(second) holds FATE 1.4.4's files"), "\(plan.output)")

        let back = try scenario.rollback(["--yes"])
        #expect(back.status == 0, "\(back.output)")
        #expect(HostFacts.pythonRelease(of: root.appendingPathComponent("python").path) == .v1_4_0)
        let verified = try tool(scenario, ["verify", "--fate-root", scenario.root, "--rolled-back"])
        #expect(verified.status == 0, "\(verified.output)")
    }
}

/// verify against a real ZooKeeper (issue 19): a 1.4.0 site that used the configuration center, upgraded,
/// its registry settings mapped into base_conf.yaml, and the new fate_flow registering as 1.4.4 does.
@Suite(.serialized) struct RegistryVerifyTests {
    typealias Scenario = ApplyRollbackTests.Scenario
    static let zkPassword = "zk s3cret#1"

    func verify(_ scenario: Scenario) throws -> Run {
        try Support.tool(["verify", "--fate-root", scenario.root], environment: scenario.environment)
    }

    @Test func verifyPassesOnARegisteredFateFlowAndFailsOnAStaleUnregisteredOrUnreachableOne() throws {
        let zookeeper = try ZooKeeperServer.start()
        defer { zookeeper.stop() }
        let scenario = try Scenario(.allinone)
        defer { scenario.remove() }
        // The 1.4.0 site's configuration center: in settings.py and setting_utils.py, as 1.4.0 keeps it.
        let python = scenario.sandbox.fateRoot.appendingPathComponent("python")
        for (file, edits) in [("fate_flow/settings.py", [("USE_CONFIGURATION_CENTER = False", "USE_CONFIGURATION_CENTER = True"),
                                                         ("ZOOKEEPER_HOSTS = ['127.0.0.1:2181']", "ZOOKEEPER_HOSTS = ['\(zookeeper.hosts[0])']")]),
                              ("fate_flow/utils/setting_utils.py", [("USE_ACL = False", "USE_ACL = True"), ("ZK_PASSWORD = 'fate'", "ZK_PASSWORD = '\(Self.zkPassword)'")])] {
            let url = python.appendingPathComponent(file)
            var text = try String(contentsOf: url, encoding: .utf8)
            for (old, new) in edits {
                #expect(text.contains(old), "\(file): \(old)")
                text = text.replacingOccurrences(of: old, with: new)
            }
            try Data(text.utf8).write(to: url)
        }
        let applied = try scenario.apply(["--component", "fatepython"])
        #expect(applied.status == 0, "\(applied.output)")
        #expect(applied.stdout.contains("use_registry         true  (from USE_CONFIGURATION_CENTER"), "\(applied.stdout)")
        #expect(!applied.output.contains(Self.zkPassword))
        let healthy = try verify(scenario)
        #expect(healthy.status == 0, "\(healthy.output)")
        #expect(healthy.stdout.contains("ok   registry") && healthy.stdout.contains("registered in ZooKeeper at \(zookeeper.hosts[0])"), "\(healthy.stdout)")

        // A persistent node a 1.4.0/1.4.1 fate_flow left for another address: listed, and a failure.
        let stale = FlowProviderNode(ip: "10.20.30.50", httpPort: 9380)
        let fate140 = try KazooSession(.init(hosts: zookeeper.hosts, digest: ["fate", Self.zkPassword], persistent: [stale.path]))
        fate140.end()
        let listed = try verify(scenario)
        #expect(listed.status == 1 && listed.stdout.contains("FAIL registry") && listed.stdout.contains("10.20.30.50:9380"), "\(listed.stdout)")

        // Credentials ZooKeeper's nodes were not made with: fate_flow runs unregistered; verify says so.
        let conf = python.appendingPathComponent("arch/conf/base_conf.yaml")
        let text = try String(contentsOf: conf, encoding: .utf8)
        #expect(text.contains(Self.zkPassword))
        try Data(text.replacingOccurrences(of: Self.zkPassword, with: "wrong pass").utf8).write(to: conf)
        _ = try scenario.sandbox.service("restart")
        #expect(scenario.sandbox.isFateFlowRunning())
        let unregistered = try verify(scenario)
        #expect(unregistered.status == 1 && unregistered.stdout.contains("FAIL registry") && unregistered.stdout.contains("ZNOAUTH"), "\(unregistered.stdout)")
        #expect(!unregistered.output.contains("wrong pass") && !unregistered.output.contains(Self.zkPassword))

        // ZooKeeper gone: fate_flow cannot start, and verify names the connection.
        try Data(text.utf8).write(to: conf)
        zookeeper.stop()
        _ = try scenario.sandbox.service("restart")
        let unreachable = try verify(scenario)
        #expect(unreachable.status == 1 && unreachable.stdout.contains("FAIL registry") && unreachable.stdout.contains("failed at connect"), "\(unreachable.stdout)")
        #expect(unreachable.stdout.contains("FAIL fate_flow"), "\(unreachable.stdout)")
    }
}
