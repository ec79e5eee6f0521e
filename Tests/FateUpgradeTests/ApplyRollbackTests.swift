import FateUpgradeCore
import Foundation
import Testing

/// `apply` and `rollback` end to end: a real MariaDB, a sandbox FATE host with a running
/// fate_flow, and an upgrade package packed with `pack` from the fixture builder's template.
@Suite(.serialized) struct ApplyRollbackTests {
    /// Everything one scenario needs; `folder` plays the operator's home, where the package lies.
    struct Scenario {
        let mysql: MariaDB
        let sandbox: FateSandbox
        let folder: URL
        let package: URL
        var environment: [String: String] { ["HOME": folder.path] }
        var root: String { sandbox.fateRoot.path }

        init(_ deploy: FateSandbox.Deploy, script: URL? = nil, service: URL? = nil, pythonPackage: String? = nil,
             packageOptions: [String] = [], dataFolderSize: String? = nil, cluster: Bool = false, sitePorts: Bool = true,
             fateRootSpelling: ((String) -> String)? = nil) throws {
            mysql = try MariaDB.start(dataFolderSize: dataFolderSize)
            try mysql.loadFateFlow140()
            sandbox = try FateSandbox.make(deploy: deploy, mysql: mysql, cluster: cluster)
            folder = try Support.temporaryFolder()
            let raw = folder.appendingPathComponent("upgrade_1_4_0-1_4_4.tar.gz")
            try Support.makePackage(at: raw, extra: (script.map { ["--script", $0.path] } ?? []) + (service.map { ["--service-script", $0.path] } ?? [])
                                    + (sitePorts ? Scenario.portOptions(sandbox) : ["--http-port", "\(try Support.freePort())", "--grpc-port", "\(try Support.freePort())"])
                                    + packageOptions)
            package = folder.appendingPathComponent("upgrade_package_new.tar.gz")
            let packed = try Support.tool([
                "pack", raw.path, "-o", package.path,
                "--set", "FATE_ROOT=\(fateRootSpelling?(sandbox.fateRoot.path) ?? sandbox.fateRoot.path)",
                "--set", "FATE_FLOW_ROOT=$FATE_ROOT/python/fate_flow",
                "--set", "PYTHON_PACKAGE_PATH=\(pythonPackage ?? "~/upgrade_package/upgrade_python_package.tar.gz")",
                "--set", "DB_USER=\(MariaDB.packageUser)",
                "--set", "DEPLOY_METHOD=\(deploy.rawValue)",
                "--set", "SUPERVISOR_ROOT=\(sandbox.supervisorRoot.path)",
            ], environment: ["FATE_DB_PASS": MariaDB.packagePassword])
            #expect(packed.status == 0, "pack: \(packed.stderr)")
            try FileManager.default.removeItem(at: raw)
        }

        /// The new tree's ports: the site's, as on a host where fate_flow keeps FATE's 9380 and 9360,
        /// so that the new tree's service.sh (which looks for them with lsof) finds the site's fate_flow.
        /// With `sitePorts: false` they are others, as for a site that moved its ports: the new tree's
        /// service.sh then looks on the release's ports, and finds nothing once the site's are carried.
        static func portOptions(_ sandbox: FateSandbox) throws -> [String] {
            let ports = try sandbox.ports()
            return ["--http-port", "\(ports.http)", "--grpc-port", "\(ports.grpc)"]
        }

        /// The fixture script with a pause right after it moves python/ aside, so that a kill or Ctrl-C lands
        /// mid-upgrade; written to `folder`.
        static func pausingScript(seconds: Int, in folder: URL) throws -> URL {
            let script = folder.appendingPathComponent("upgrade_script.sh")
            let text = try String(contentsOf: Support.fixtures.appendingPathComponent("upgrade_script.sh"), encoding: .utf8)
                .replacingOccurrences(of: "    echo \"INFO: Unpacking $PYTHON_PACKAGE_PATH into $FATE_ROOT\"",
                                      with: "    sleep \(seconds)\n    echo \"INFO: Unpacking $PYTHON_PACKAGE_PATH into $FATE_ROOT\"")
            try Data(text.utf8).write(to: script)
            return script
        }

        /// Waits (at most 60 s) until the running upgrade has moved python/ aside; `watch` runs on each look.
        func waitUntilPythonIsMovedAside(watch: () -> Void = {}) -> Bool {
            let deadline = Date().addingTimeInterval(60)
            while Date() < deadline {
                watch()
                let names = (try? Support.files(in: sandbox.fateRoot)) ?? []
                if names.contains(where: { $0.hasPrefix("python_2") }) && !names.contains("python") { return true }
                usleep(20_000)
            }
            return false
        }

        /// `apply` as an operator runs it on this 1.4.0 site, which kept its models in redis:
        /// the model store is chosen (the site's database server) unless the arguments choose.
        func apply(_ arguments: [String]) throws -> Run {
            let store = arguments.contains("--model-store") ? [] : ["--model-store", "database"]
            return try Support.tool(["apply", package.path] + arguments + store, environment: environment)
        }

        func rollback(_ arguments: [String] = []) throws -> Run {
            try Support.tool(["rollback", "--fate-root", root] + arguments, environment: environment)
        }

        /// The five upgraded tables: schema and rows.
        func tables() throws -> String {
            try upgradedTables.map { table in
                try mysql.sql("SHOW CREATE TABLE \(table);", database: "fate_flow") + mysql.sql("SELECT * FROM \(table) ORDER BY 1;", database: "fate_flow")
            }.joined(separator: "\n")
        }

        func journals() throws -> [[String: Any]] {
            let folder = sandbox.fateRoot.appendingPathComponent(".fate-upgrade/journal")
            return try Support.files(in: folder).map {
                try JSONSerialization.jsonObject(with: Data(contentsOf: folder.appendingPathComponent($0))) as! [String: Any]
            }
        }

        /// Everything the tool wrote that could hold a secret.
        func records() throws -> String {
            let base = sandbox.fateRoot.appendingPathComponent(".fate-upgrade")
            var text = ""
            for sub in ["journal", "logs"] {
                for name in (try? Support.files(in: base.appendingPathComponent(sub))) ?? [] {
                    text += (try? String(contentsOf: base.appendingPathComponent("\(sub)/\(name)"), encoding: .utf8)) ?? ""
                }
            }
            return text
        }

        func remove() {
            sandbox.remove()
            mysql.stop()
            try? FileManager.default.removeItem(at: folder)
        }
    }

    @Test(arguments: [FateSandbox.Deploy.allinone, .ansible])
    func applyThenRollbackRestoresEverything(deploy: FateSandbox.Deploy) throws {
        let scenario = try Scenario(deploy)
        defer { scenario.remove() }
        let treeBefore = try scenario.sandbox.treeSnapshot("python")
        let tablesBefore = try scenario.tables()
        #expect(scenario.sandbox.isFateFlowRunning())

        let planned = try scenario.apply(["--component", "all", "--plan"])
        #expect(planned.status == 0, "\(planned.stderr)")
        #expect(planned.stdout.contains("plan for --component all"))
        #expect(planned.stdout.contains("snapshot database fate_flow with "), "\(planned.stdout)")
        #expect(planned.stdout.contains("preflight passed:") && planned.stdout.contains("room for the snapshot"), "\(planned.stdout)")
        #expect(try scenario.sandbox.treeSnapshot("python") == treeBefore)
        #expect(!FileManager.default.fileExists(atPath: scenario.folder.appendingPathComponent("upgrade_package").path))

        let applied = try scenario.apply(["--component", "all"])
        #expect(applied.status == 0, "\(applied.output)")
        #expect(applied.stdout.contains("INFO: Upgrading process finished."))
        #expect(applied.stdout.contains("upgrade of all finished"))
        // Schema upgraded, rows intact, service running, ZooKeeper settings migrated.
        #expect(try !scenario.mysql.sql("SHOW COLUMNS FROM t_queue LIKE 'f_frequency';", database: "fate_flow").isEmpty)
        #expect(try scenario.mysql.sql("SELECT data_type, character_maximum_length FROM information_schema.columns WHERE table_schema='fate_flow' AND table_name='t_job' AND column_name='f_role';") == "varchar\t50\n")
        for table in upgradedTables.dropFirst() {
            #expect(try scenario.mysql.sql("SELECT * FROM \(table) ORDER BY 1;", database: "fate_flow")
                    == scenario.mysql.sql("SELECT * FROM \(table)_backup ORDER BY 1;", database: "fate_flow"))
        }
        #expect(scenario.sandbox.isFateFlowRunning())
        let conf = try String(contentsOf: scenario.sandbox.fateRoot.appendingPathComponent("python/arch/conf/base_conf.yaml"), encoding: .utf8)
        let zookeeper = try #require(try pyyamlRegistry(conf)["zookeeper"] as? [String: Any])
        #expect(zookeeper["hosts"] as? [String] == ["127.0.0.1:2181"])
        #expect(zookeeper["use_acl"] as? Bool == false)
        let journal = try #require(try scenario.journals().first)
        #expect(journal["outcome"] as? String == "succeeded")
        #expect(journal["confmigrate"] as? String == "done")
        #expect(((journal["after"] as? [String: Any])?["backupTables"] as? [String])?.count == 5)
        #expect(((journal["after"] as? [String: Any])?["pythonBackups"] as? [String])?.count == 1)
        #expect(!(try scenario.records()).contains(MariaDB.packagePassword))
        #expect(!applied.output.contains(MariaDB.packagePassword))

        let planOnly = try scenario.rollback(["--plan"])
        #expect(planOnly.status == 0)
        #expect(planOnly.stdout.contains("RENAME TABLE"))
        let rolledBack = try scenario.rollback()
        #expect(rolledBack.status == 0, "\(rolledBack.output)")
        #expect(try scenario.sandbox.treeSnapshot("python") == treeBefore)
        #expect(try scenario.tables() == tablesBefore)
        #expect(scenario.sandbox.isFateFlowRunning())
        #expect(FileManager.default.fileExists(atPath: scenario.sandbox.fateRoot.appendingPathComponent("python_upgrade_backup").path))

        let again = try scenario.rollback()
        #expect(again.status == 0)
        #expect(again.stdout.contains("nothing to roll back"))
        #expect(try scenario.sandbox.treeSnapshot("python") == treeBefore)
    }

    @Test func ansibleRolesSplitTheWorkAndNodemanagersStopFateFlow() throws {
        let scenario = try Scenario(.ansible)
        defer { scenario.remove() }
        let mysqlOnly = try scenario.apply(["--component", "mysql"])
        #expect(mysqlOnly.status == 0, "\(mysqlOnly.output)")
        #expect(try scenario.mysql.tables().filter { $0.hasSuffix("_backup") }.count == 5)
        #expect(try scenario.sandbox.treeSnapshot("python").keys.contains("fate_flow/utils/setting_utils.py"), "python untouched by mysql")

        let node = try scenario.apply(["--component", "fatepython", "--role", "nodemanager"])
        #expect(node.status == 0, "\(node.output)")
        #expect(!scenario.sandbox.isFateFlowRunning())
        #expect(node.stdout.contains("stopped fate_flow"))
        // Its tree was replaced too, so its site is carried (and fate_flow stays stopped).
        #expect(node.stdout.contains("backup: ") && node.stdout.contains("data: move"), "\(node.stdout)")
    }

    /// Each failed check is reported, and nothing on the host changes.
    @Test func failedPreflightChangesNothing() throws {
        let scenario = try Scenario(.allinone, pythonPackage: "/nonexistent/upgrade_python_package.tar.gz")
        defer { scenario.remove() }
        let treeBefore = try scenario.sandbox.treeSnapshot("python")
        let tablesBefore = try scenario.tables()
        // Break the socket and the FATE_FLOW_ROOT too: every problem at once.
        let socket = scenario.sandbox.mysqlRoot.appendingPathComponent("run/mysql.sock")
        try FileManager.default.removeItem(at: socket)
        let run = try scenario.apply(["--component", "all"])
        #expect(run.status == 1)
        #expect(run.stderr.contains("fate-upgrade: preflight: PYTHON_PACKAGE_PATH /nonexistent/upgrade_python_package.tar.gz does not exist"))
        #expect(run.stderr.contains("fate-upgrade: preflight: MYSQL_SOCKET_PATH \(socket.path) is not a socket"))
        #expect(!FileManager.default.fileExists(atPath: scenario.folder.appendingPathComponent("upgrade_package").path))
        #expect(!FileManager.default.fileExists(atPath: scenario.sandbox.fateRoot.appendingPathComponent(".fate-upgrade").path))
        #expect(try scenario.sandbox.treeSnapshot("python") == treeBefore)
        try FileManager.default.createSymbolicLink(atPath: socket.path, withDestinationPath: scenario.mysql.socket)
        #expect(try scenario.tables() == tablesBefore)
        #expect(scenario.sandbox.isFateFlowRunning())

        // A wrong password fails `select 1`, reported without the password.
        let wrongPackage = scenario.folder.appendingPathComponent("wrong.tar.gz")
        let repacked = try Support.tool(["pack", scenario.package.path, "-o", wrongPackage.path], environment: ["FATE_DB_PASS": "wrong-Pa55"])
        #expect(repacked.status == 0)
        let wrong = try Support.tool(["apply", wrongPackage.path, "--component", "mysql"], environment: scenario.environment)
        #expect(wrong.status == 1)
        #expect(wrong.stderr.contains("fate-upgrade: preflight: mysql as \(MariaDB.packageUser) through "), "\(wrong.stderr)")
        #expect(!wrong.output.contains("wrong-Pa55"))
        #expect(try scenario.tables() == tablesBefore)
    }

    struct Breakage: CustomStringConvertible, Sendable {
        var description: String
        var deploy: FateSandbox.Deploy = .allinone
        var component = "all"
        /// Breaks one thing on the host; returns what undoes it, so the host can be compared after.
        var breakHost: @Sendable (Scenario) throws -> () throws -> Void
        var message: String
    }

    static let breakages: [Breakage] = [
        Breakage(description: "FATE_ROOT missing", breakHost: { scenario in
            let moved = scenario.sandbox.folder.appendingPathComponent("fate.moved")
            try FileManager.default.moveItem(at: scenario.sandbox.fateRoot, to: moved)
            return { try FileManager.default.moveItem(at: moved, to: scenario.sandbox.fateRoot) }
        }, message: "is not a folder"),
        Breakage(description: "mysql client missing", component: "mysql", breakHost: { scenario in
            let client = scenario.sandbox.mysqlRoot.appendingPathComponent("bin/mysql")
            let target = try FileManager.default.destinationOfSymbolicLink(atPath: client.path)
            try FileManager.default.removeItem(at: client)
            return { try FileManager.default.createSymbolicLink(atPath: client.path, withDestinationPath: target) }
        }, message: "bin/mysql does not exist or is not executable"),
        Breakage(description: "supervisor missing", deploy: .ansible, component: "fatepython", breakHost: { scenario in
            let service = scenario.sandbox.supervisorRoot.appendingPathComponent("service.sh")
            let moved = scenario.sandbox.supervisorRoot.appendingPathComponent("service.sh.moved")
            try FileManager.default.moveItem(at: service, to: moved)
            return { try FileManager.default.moveItem(at: moved, to: service) }
        }, message: "SUPERVISOR_ROOT: "),
        Breakage(description: "FATE_FLOW_ROOT missing", component: "fateflow", breakHost: { scenario in
            let flow = scenario.sandbox.fateRoot.appendingPathComponent("python/fate_flow")
            let moved = scenario.sandbox.fateRoot.appendingPathComponent("fate_flow.moved")
            try FileManager.default.moveItem(at: flow, to: moved)
            return { try FileManager.default.moveItem(at: moved, to: flow) }
        }, message: "FATE_FLOW_ROOT "),
        Breakage(description: "leftover backup table", component: "mysql", breakHost: { scenario in
            try scenario.mysql.sql("CREATE TABLE t_queue_backup LIKE t_queue;", database: "fate_flow")
            return { try scenario.mysql.sql("DROP TABLE t_queue_backup;", database: "fate_flow") }
        }, message: "already has t_queue_backup"),
    ]

    @Test(arguments: breakages)
    func eachPreflightFailureChangesNothing(breakage: Breakage) throws {
        let scenario = try Scenario(breakage.deploy)
        defer { scenario.remove() }
        let treeBefore = try scenario.sandbox.treeSnapshot("python")
        let tablesBefore = try scenario.tables()
        let repair = try breakage.breakHost(scenario)
        let run = try scenario.apply(["--component", breakage.component])
        try repair()
        #expect(run.status == 1)
        #expect(run.stderr.contains("fate-upgrade: preflight: ") && run.stderr.contains(breakage.message), "\(run.stderr)")
        #expect(!run.output.contains(MariaDB.packagePassword))
        #expect(try Support.files(in: scenario.folder) == ["upgrade_package_new.tar.gz", "upgrade_package_new.tar.gz.sha256"], "the work folder changed")
        #expect(!FileManager.default.fileExists(atPath: scenario.sandbox.fateRoot.appendingPathComponent(".fate-upgrade").path))
        #expect(try scenario.sandbox.treeSnapshot("python") == treeBefore)
        #expect(try scenario.tables() == tablesBefore)
        #expect(scenario.sandbox.isFateFlowRunning())
    }

    @Test func aComponentIsNotAppliedTwice() throws {
        let scenario = try Scenario(.allinone)
        defer { scenario.remove() }
        let first = try scenario.apply(["--component", "fatepython", "--no-confmigrate"])
        #expect(first.status == 0, "\(first.output)")
        let treeAfter = try scenario.sandbox.treeSnapshot("python")
        // Part of `all` was done: refused, naming what is left.
        let again = try scenario.apply(["--component", "all"])
        #expect(again.status == 1)
        #expect(again.stderr.contains("preflight: fatepython was already upgraded on this host ("), "\(again.stderr)")
        #expect(again.stderr.contains("run --component mysql for the rest"), "\(again.stderr)")
        // All of it was done: nothing to do, said so, exit 0 and `changed: false` for automation.
        let same = try scenario.apply(["--component", "fatepython", "--json"])
        #expect(same.status == 0, "\(same.output)")
        let report = try #require(try JSONSerialization.jsonObject(with: Data(same.stdout.utf8)) as? [String: Any])
        #expect(report["outcome"] as? String == "unchanged")
        #expect(report["changed"] as? Bool == false)
        #expect(same.stderr.contains("fatepython was already upgraded on this host"))
        let treeNow = try scenario.sandbox.treeSnapshot("python")
        #expect(treeNow == treeAfter, "\(Set(treeNow.keys).union(treeAfter.keys).filter { treeNow[$0] != treeAfter[$0] }.sorted().map { "\($0): \(treeNow[$0] ?? "-") vs \(treeAfter[$0] ?? "-")" })")
        #expect(try scenario.journals().count == 1)
        // The database alone was not upgraded yet, so that is still allowed.
        let mysql = try scenario.apply(["--component", "mysql"])
        #expect(mysql.status == 0, "\(mysql.output)")
    }

    @Test func aScriptFailingMidwayLeavesAnAccurateJournalAndRollbackRestores() throws {
        let folder = try Support.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        // A python package that exists (preflight passes) but cannot be unpacked: the script
        // fails after the database upgrade and after moving python/ aside.
        let broken = folder.appendingPathComponent("broken_python_package.tar.gz")
        try Data("not a tarball".utf8).write(to: broken)
        let scenario = try Scenario(.allinone, pythonPackage: broken.path)
        defer { scenario.remove() }
        let treeBefore = try scenario.sandbox.treeSnapshot("python")
        let tablesBefore = try scenario.tables()
        let run = try scenario.apply(["--component", "all"])
        #expect(run.status == 1)
        #expect(run.stderr.contains("the upgrade script failed"))
        #expect(run.stderr.contains("fate-upgrade rollback --fate-root \(scenario.root)"))
        let journal = try #require(try scenario.journals().first)
        #expect(journal["outcome"] as? String == "failed")
        let after = try #require(journal["after"] as? [String: Any])
        #expect((after["pythonBackups"] as? [String])?.count == 1)
        #expect((after["backupTables"] as? [String])?.count == 5)
        #expect(!FileManager.default.fileExists(atPath: scenario.sandbox.fateRoot.appendingPathComponent("python").path))

        // A failed run blocks the same component until it is rolled back; --force says what it does.
        let again = try scenario.apply(["--component", "fatepython"])
        #expect(again.status == 1)
        #expect(again.stderr.contains("preflight: the earlier apply \(journal["id"] as? String ?? "?") of all failed ("), "\(again.stderr)")
        #expect(again.stderr.contains("roll it back first (fate-upgrade rollback --fate-root \(scenario.root)), or give --force"))
        #expect(try scenario.journals().count == 1)

        let rolledBack = try scenario.rollback()
        #expect(rolledBack.status == 0, "\(rolledBack.output)")
        #expect(try scenario.sandbox.treeSnapshot("python") == treeBefore)
        #expect(try scenario.tables() == tablesBefore)
        #expect(scenario.sandbox.isFateFlowRunning())
    }

    @Test func applyKilledMidwayThenRollbackRestoresAndThePasswordNeverShows() throws {
        let scriptFolder = try Support.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: scriptFolder) }
        let script = try Scenario.pausingScript(seconds: 3, in: scriptFolder)
        let scenario = try Scenario(.allinone, script: script)
        defer { scenario.remove() }
        let treeBefore = try scenario.sandbox.treeSnapshot("python")
        let tablesBefore = try scenario.tables()

        let process = try Support.startTool(["apply", scenario.package.path, "--component", "all", "--model-store", "database"], environment: scenario.environment)
        // Watch `ps` the whole time: no process of ours may show the password in its arguments. (The package's
        // script itself passes `-p$DB_PASS` to mysql, as FATE's do; the mysql client hides it at once.)
        var seen = ""
        let moved = scenario.waitUntilPythonIsMovedAside { seen += (try? Support.run("ps", ["-eo", "args"]).stdout) ?? "" }
        #expect(moved, "the upgrade never reached the point of moving python/ aside")
        kill(process.pid, SIGKILL)
        _ = process.wait(timeout: .seconds(30))
        sleep(4)  // the orphaned script runs into its closed output and stops
        #expect(seen.split(separator: "\n").filter { $0.contains(MariaDB.packagePassword) && !$0.contains("/bin/mysql ") }.isEmpty)
        let journal = try #require(try scenario.journals().first)
        #expect(journal["outcome"] as? String == "running")

        let rolledBack = try scenario.rollback()
        #expect(rolledBack.status == 0, "\(rolledBack.output)")
        #expect(try scenario.sandbox.treeSnapshot("python") == treeBefore)
        #expect(try scenario.tables() == tablesBefore)
        #expect(scenario.sandbox.isFateFlowRunning())
        #expect(!(try scenario.records()).contains(MariaDB.packagePassword))
    }

    @Test func withoutAJournalRollbackAsksFirst() throws {
        let scenario = try Scenario(.allinone)
        defer { scenario.remove() }
        let treeBefore = try scenario.sandbox.treeSnapshot("python")
        let applied = try scenario.apply(["--component", "fatepython", "--no-confmigrate"])
        #expect(applied.status == 0, "\(applied.output)")
        try FileManager.default.removeItem(at: scenario.sandbox.fateRoot.appendingPathComponent(".fate-upgrade"))

        let refused = try scenario.rollback(["--component", "fatepython"])
        #expect(refused.status == 1)
        #expect(refused.stderr.contains("without a journal, rollback asks before it changes anything"))
        #expect(refused.stdout.contains("from discovery (no journal)"))
        let confirmed = try scenario.rollback(["--component", "fatepython", "--yes"])
        #expect(confirmed.status == 0, "\(confirmed.output)")
        #expect(try scenario.sandbox.treeSnapshot("python") == treeBefore)
        #expect(scenario.sandbox.isFateFlowRunning())
    }
}
