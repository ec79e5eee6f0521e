import FateUpgradeCore
import FateUpgradeHost
import Foundation
import Testing

/// The database snapshot apply takes before the SQL, `rollback --from-snapshot`, and the commands
/// that say where a host stands (`status`, `verify`) and clear what upgrades leave (`cleanup`),
/// against a real MariaDB and sandbox hosts whose fate_flow stand-in serves HTTP.
@Suite(.serialized) struct HostStateTests {
    typealias Scenario = ApplyRollbackTests.Scenario

    /// The fixture SQL with the second step's second ALTER broken: t_job is altered, then the SQL
    /// stops at t_task, leaving t_queue and t_job upgraded and backups of both.
    static func halfFailingSQL() throws -> URL {
        let folder = try Support.temporaryFolder()
        let sql = Support.fixtures.appendingPathComponent("sql")
        try FileManager.default.copyItem(at: sql.appendingPathComponent("upgrade_1_4_0-1_4_1.sql"),
                                         to: folder.appendingPathComponent("upgrade_1_4_0-1_4_1.sql"))
        let second = try String(contentsOf: sql.appendingPathComponent("upgrade_1_4_1-1_4_2.sql"), encoding: .utf8)
            .replacingOccurrences(of: "alter table t_task modify f_role varchar(50);", with: "alter table t_task modify f_no_such_column varchar(50);")
        try Data(second.utf8).write(to: folder.appendingPathComponent("upgrade_1_4_1-1_4_2.sql"))
        return folder
    }

    static func json(_ run: Run) throws -> [String: Any] {
        guard let object = try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any] else {
            throw Failure("not a JSON object: \(run.stdout)")
        }
        return object
    }

    func status(_ scenario: Scenario, _ extra: [String] = []) throws -> [String: Any] {
        let run = try Support.tool(["status", "--fate-root", scenario.root, "--json"] + extra, environment: scenario.environment)
        #expect(run.status == 0, "status: \(run.stderr)")
        return try Self.json(run)
    }

    func verify(_ scenario: Scenario, _ extra: [String] = []) throws -> Run {
        try Support.tool(["verify", "--fate-root", scenario.root] + extra, environment: scenario.environment)
    }

    /// The python tree and the database before a run that preflight must refuse, and the check after it:
    /// both as they were, and no journal, snapshot or work folder written.
    struct Untouched {
        let tree: [String: String]
        let database: String

        init(_ scenario: Scenario) throws {
            tree = try scenario.sandbox.treeSnapshot()
            database = try scenario.mysql.snapshot()
        }

        func expect(in scenario: Scenario, sourceLocation: Testing.SourceLocation = #_sourceLocation) throws {
            #expect(try scenario.sandbox.treeSnapshot() == tree, sourceLocation: sourceLocation)
            #expect(try scenario.mysql.snapshot() == database, sourceLocation: sourceLocation)
            let state = scenario.sandbox.fateRoot.appendingPathComponent(".fate-upgrade")
            #expect((try? Support.files(in: state.appendingPathComponent("snapshots")))?.isEmpty ?? true, sourceLocation: sourceLocation)
            #expect(!FileManager.default.fileExists(atPath: state.appendingPathComponent("journal").path), sourceLocation: sourceLocation)
            #expect(!FileManager.default.fileExists(atPath: scenario.folder.appendingPathComponent("upgrade_package").path),
                    sourceLocation: sourceLocation)
        }
    }

    @Test func halfAppliedSQLIsRestoredFromTheSnapshot() throws {
        let sql = try Self.halfFailingSQL()
        defer { try? FileManager.default.removeItem(at: sql) }
        let scenario = try Scenario(.allinone, packageOptions: ["--sql-dir", sql.path])
        defer { scenario.remove() }
        let before = try scenario.mysql.snapshot()
        let tablesBefore = try scenario.tables()

        let applied = try scenario.apply(["--component", "mysql"])
        #expect(applied.status != 0, "\(applied.output)")
        #expect(applied.stdout.contains("snapshot of fate_flow:"), "\(applied.output)")
        #expect(applied.output.contains("Upgrade process aborting"))
        // Half-way indeed: t_queue and t_job changed, t_task not.
        #expect(try !scenario.mysql.sql("SHOW COLUMNS FROM t_queue LIKE 'f_frequency';", database: "fate_flow").isEmpty)
        #expect(try scenario.mysql.tables().contains("t_job_backup"))

        let journal = try #require(try scenario.journals().first)
        #expect(journal["outcome"] as? String == "failed")
        let snapshot = try #require(journal["snapshot"] as? [String: Any])
        let file = try #require(snapshot["file"] as? String)
        var info = stat()
        #expect(stat(file, &info) == 0 && info.st_mode & 0o777 == 0o600)
        #expect(snapshot["sha256"] as? String == SHA256.hex(try Data(contentsOf: URL(fileURLWithPath: file))))
        let rows = try #require(snapshot["rows"] as? [String: Int])
        #expect(rows == ["t_queue": 2, "t_job": 3, "t_task": 4, "t_data_view": 2, "t_machine_learning_model_meta": 2])
        // The dump is whole and holds no secret.
        let text = try Support.run("sh", ["-c", "gzip -dc \"$1\"", "sh", file])
        #expect(text.stdout.contains("-- Dump completed"))
        #expect(!text.stdout.contains(MariaDB.packagePassword))

        let state = try status(scenario)
        #expect(state["schema"] as? String == SchemaState.partial.code)
        #expect((state["runs"] as? [[String: Any]])?.first?["outcome"] as? String == "failed")
        let failedVerify = try verify(scenario)
        #expect(failedVerify.status == 1)
        #expect(failedVerify.stdout.contains("FAIL journal"), "\(failedVerify.output)")

        let halfWay = try scenario.mysql.snapshot()
        // A snapshot that changed since it was taken is refused before anything changes.
        let original = try Data(contentsOf: URL(fileURLWithPath: file))
        var damaged = original
        damaged[damaged.count / 2] ^= 0x01
        try damaged.write(to: URL(fileURLWithPath: file))
        let refused = try scenario.rollback(["--from-snapshot"])
        #expect(refused.status != 0)
        #expect(refused.stderr.contains("not the \(snapshot["sha256"] as? String ?? "?") recorded"), "\(refused.output)")
        #expect(try scenario.mysql.snapshot() == halfWay)
        try original.write(to: URL(fileURLWithPath: file))
        chmod(file, 0o600)

        let planned = try scenario.rollback(["--from-snapshot", "--plan"])
        #expect(planned.status == 0, "\(planned.output)")
        #expect(planned.stdout.contains("load \(file) into database fate_flow"))
        #expect(try scenario.mysql.snapshot() == halfWay)

        let restored = try scenario.rollback(["--from-snapshot", "--json"])
        #expect(restored.status == 0, "\(restored.output)")
        #expect(try scenario.tables() == tablesBefore)
        // The tables as they were after the failure are kept aside, under free names, for cleanup.
        let names = try scenario.mysql.tables()
        #expect(names.filter { $0.contains("_pre_restore_") }.count == halfWay.components(separatedBy: "CREATE TABLE `").count - 1)
        #expect(Set(names.filter { !$0.contains("_pre_restore_") }) == Set(upgradedTables))
        #expect(before.contains("t_queue"))
        let rolledBack = try verify(scenario, ["--rolled-back"])
        #expect(rolledBack.status == 0, "\(rolledBack.output)")
        #expect(!restored.output.contains(MariaDB.packagePassword) && !applied.output.contains(MariaDB.packagePassword))
        #expect(!(try scenario.records()).contains(MariaDB.packagePassword))
    }

    @Test func aSnapshotWithoutRoomIsRefusedAndChangesNothing() throws {
        let scenario = try Scenario(.allinone)
        defer { scenario.remove() }
        let state = scenario.sandbox.fateRoot.appendingPathComponent(".fate-upgrade")
        let snapshots = state.appendingPathComponent("snapshots")
        try FileManager.default.createDirectory(at: snapshots, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        chmod(state.path, 0o700)
        let mounted = try Support.run("mount", ["-t", "tmpfs", "-o", "size=256k,mode=0700", "tmpfs", snapshots.path])
        try #require(mounted.status == 0, "mount: \(mounted.stderr)")
        defer { _ = try? Support.run("umount", ["-l", snapshots.path]) }
        let before = try Untouched(scenario)

        let refused = try scenario.apply(["--component", "all"])
        #expect(refused.status != 0)
        #expect(refused.stderr.contains("the snapshot of fate_flow"), "\(refused.output)")
        #expect(refused.stderr.contains("--no-snapshot"))
        try before.expect(in: scenario)
        #expect(scenario.sandbox.isFateFlowRunning())

        let without = try scenario.apply(["--component", "all", "--no-snapshot"])
        #expect(without.status == 0, "\(without.output)")
        #expect(without.stderr.contains("--no-snapshot: the database is not dumped first"))
        let journal = try #require(try scenario.journals().first)
        #expect(journal["snapshot"] == nil)
        #expect(journal["snapshotSkipped"] as? String == "--no-snapshot was given")
        let noSnapshot = try scenario.rollback(["--from-snapshot"])
        #expect(noSnapshot.status != 0)
        #expect(noSnapshot.stderr.contains("has no snapshot"))
    }

    @Test func noRoomForTheBackupTablesInMySQLsDataFolderIsRefusedAndChangesNothing() throws {
        try #require(getuid() == 0, "puts MariaDB's data directory on a tmpfs: needs root, as CI has")
        let scenario = try Scenario(.allinone, dataFolderSize: "512m")
        defer { scenario.remove() }
        // The SQL copies five tables with `create table … like` and `insert … select`; preflight wants their
        // size and 16 MiB more free (InnoDB grows files in steps while it writes). 8 MiB left is too little.
        try scenario.mysql.limitDataFolder(freeBytes: 8 << 20)
        let before = try Untouched(scenario)

        let refused = try scenario.apply(["--component", "mysql"])
        #expect(refused.status != 0)
        #expect(refused.stderr.contains("MySQL's data folder"), "\(refused.output)")
        #expect(refused.stderr.contains("_backup copies"))
        try before.expect(in: scenario)

        // With the room back, the same command goes through: the refusal was the space check and nothing else.
        try scenario.mysql.limitDataFolder(freeBytes: 64 << 20)
        let applied = try scenario.apply(["--component", "mysql"])
        #expect(applied.status == 0, "\(applied.output)")
        #expect(applied.output.contains("room for the _backup tables in"), "\(applied.output)")
    }

    @Test func statusAndVerifyOnAnUpgradedThenRolledBackHost() throws {
        let scenario = try Scenario(.allinone)
        defer { scenario.remove() }
        let applied = try scenario.apply(["--component", "all"])
        #expect(applied.status == 0, "\(applied.output)")
        // fate_flow was restarted after confmigrate; give it the moment it takes to listen.
        let port = try #require(Int(try String(contentsOf: scenario.sandbox.fateRoot.appendingPathComponent("python/arch/conf/base_conf.yaml"), encoding: .utf8)
            .components(separatedBy: "http_port: ")[1].prefix { $0.isNumber }))
        #expect(Support.waitUntil(seconds: 20) { HostFacts.answers(host: "127.0.0.1", port: port) })

        let state = try status(scenario)
        #expect(state["schema"] as? String == SchemaState.v144.code)
        #expect((state["runs"] as? [[String: Any]])?.map { $0["outcome"] as? String } == ["succeeded"])
        let trees = try #require(state["trees"] as? [[String: Any]])
        #expect(trees.first { ($0["path"] as? String)?.hasSuffix("/python") == true }?["layout"] as? String == PythonTreeLayout.v142.rawValue)
        #expect(trees.contains { ($0["path"] as? String)?.contains("/python_2") == true && $0["layout"] as? String == PythonTreeLayout.v140.rawValue })
        let service = try #require(state["service"] as? [String: Any])
        #expect(service["running"] as? Bool == true)
        #expect(service["httpAnswers"] as? Bool == true)
        // Lists as lists, booleans as booleans; the password only said to be set.
        let registry = try #require(state["registry"] as? [String: Any])
        #expect(registry["hosts"] as? [String] == ["127.0.0.1:2181"], "\(registry)")
        #expect(registry["passwordSet"] is Bool && registry["useRegistry"] is Bool, "\(registry)")
        #expect((state["backupTables"] as? [[String: Any]])?.count == 5)
        #expect((state["snapshots"] as? [[String: Any]])?.count == 1)
        let text = try Support.tool(["status", "--fate-root", scenario.root], environment: scenario.environment)
        #expect(text.stdout.contains("fate_flow: running"))
        #expect(!text.output.contains(MariaDB.packagePassword))

        let verified = try verify(scenario, ["--json"])
        #expect(verified.status == 0, "\(verified.output)")
        for name in ["journal", "python", "site", "schema", "fate_flow"] {
            #expect(verified.stderr.contains("ok   \(name)"), "\(name): \(verified.stderr)")
        }
        #expect(try Self.json(verified)["ok"] as? Bool == true)
        #expect(try scenario.journals().first?["verifiedAt"] as? String != nil)

        // fate_flow down: verify says so and how to start it.
        _ = try scenario.sandbox.service("stop")
        let down = try verify(scenario)
        #expect(down.status == 1)
        #expect(down.stdout.contains("FAIL fate_flow") && down.stdout.contains("start it"), "\(down.output)")
        _ = try scenario.sandbox.service("start")

        let back = try scenario.rollback()
        #expect(back.status == 0, "\(back.output)")
        let after = try verify(scenario)
        #expect(after.status == 1)
        #expect(after.stdout.contains("no upgrade is in place"))
        let rolledBack = try verify(scenario, ["--rolled-back"])
        #expect(rolledBack.status == 0, "\(rolledBack.output)")
        #expect(rolledBack.stdout.contains("ok   schema"))
        #expect(try status(scenario)["schema"] as? String == SchemaState.v140.code)
    }

    @Test func verifyOnANodemanager() throws {
        let scenario = try Scenario(.ansible)
        defer { scenario.remove() }
        let applied = try scenario.apply(["--component", "fatepython", "--role", "nodemanager"])
        #expect(applied.status == 0, "\(applied.output)")
        #expect(!scenario.sandbox.isFateFlowRunning())
        let verified = try verify(scenario)
        #expect(verified.status == 0, "\(verified.output)")
        #expect(verified.stdout.contains("ok   fate_flow") && verified.stdout.contains("nodemanager"))
        // Its tree was replaced too: the site's settings and data are checked as on the fateflow machine.
        #expect(verified.stdout.contains("ok   site") && verified.stdout.contains("python/ carries the site's settings"), "\(verified.stdout)")
        let state = try status(scenario)
        #expect(state["role"] as? String == "nodemanager")
        #expect((state["service"] as? [String: Any])?["expected"] as? Bool == false)

        _ = try scenario.sandbox.service("start")
        let running = try verify(scenario)
        #expect(running.status == 1)
        #expect(running.stdout.contains("FAIL fate_flow") && running.stdout.contains("stop it"), "\(running.output)")
    }

    @Test func cleanupRemovesExactlyWhatItListedAndKeepsWhatRollbackNeeds() throws {
        let scenario = try Scenario(.allinone)
        defer { scenario.remove() }
        let tablesBefore = try scenario.tables()
        let tree = try scenario.sandbox.treeSnapshot()
        // An upgrade rolled back, then a second one in place and not verified.
        #expect(try scenario.apply(["--component", "all"]).status == 0)
        #expect(try scenario.rollback().status == 0)
        let second = try scenario.apply(["--component", "all"])
        #expect(second.status == 0, "\(second.output)")

        let cleanup = { (extra: [String]) throws -> Run in
            try Support.tool(["cleanup", "--fate-root", scenario.root, "--snapshots-older-than", "0", "--json"] + extra,
                             environment: scenario.environment)
        }
        func names(_ items: Any?) -> [String] { ((items as? [[String: Any]]) ?? []).compactMap { $0["name"] as? String }.sorted() }
        let databaseBefore = try scenario.mysql.snapshot()
        let planned = try cleanup(["--plan"])
        #expect(planned.status == 0, "\(planned.output)")
        let plan = try Self.json(planned)
        let listed = names(plan["remove"]), kept = names(plan["keep"])
        #expect(try scenario.mysql.snapshot() == databaseBefore)
        // What the rolled-back run left: the upgraded tree moved aside, five tables, its snapshot, the earlier work folder.
        #expect(listed.filter { $0.hasSuffix("/python_upgrade_backup") }.count == 1, "\(listed)")
        #expect(listed.filter { $0.range(of: #"_backup_\d{8}$"#, options: .regularExpression) != nil }.count == 5, "\(listed)")
        #expect(listed.filter { $0.hasSuffix(".sql.gz") }.count == 1)
        // Nothing outside FATE_ROOT is listed: the package and its work folder are named in a note.
        #expect(listed.allSatisfy { $0.hasPrefix(scenario.root + "/") || !$0.contains("/") }, "\(listed)")
        let notes = (plan["notes"] as? [String]) ?? []
        #expect(notes.contains { $0.contains(scenario.package.path) && $0.contains("rollback may need them") && $0.contains("removes nothing outside FATE_ROOT") },
                "\(notes)")
        // What rolling back the second run needs stays.
        #expect(kept.filter { upgradedTables.map { "\($0)_backup" }.contains($0) }.count == 5, "\(kept)")
        #expect(kept.contains { $0.contains("/python_2") })
        #expect(kept.filter { $0.hasSuffix(".sql.gz") }.count == 1)

        let done = try cleanup(["--yes"])
        #expect(done.status == 0, "\(done.output)")
        #expect(names((try Self.json(done))["remove"]) == listed)
        #expect(((try Self.json(done))["removed"] as? [String])?.sorted() == listed)
        let tablesNow = try scenario.mysql.tables()
        for name in listed { #expect(!FileManager.default.fileExists(atPath: name) && !tablesNow.contains(name), "\(name) is still there") }
        for name in kept { #expect(FileManager.default.fileExists(atPath: name) || tablesNow.contains(name), "\(name) is gone") }
        #expect(try cleanup([]).stdout.contains("\"outcome\" : \"unchanged\""))

        // And the second run still rolls back exactly.
        let back = try scenario.rollback()
        #expect(back.status == 0, "\(back.output)")
        #expect(try scenario.tables() == tablesBefore)
        #expect(try scenario.sandbox.treeSnapshot().filter { !$0.key.hasPrefix("fate_flow/__pycache__") } == tree.filter { !$0.key.hasPrefix("fate_flow/__pycache__") })
    }
}

/// Row counting in mysqldump output as it streams: both dump styles, hostile strings, any chunking.
struct DumpRowCounterTests {
    static let mysqlStyle = """
        -- MySQL dump 10.13  Distrib 8.0.13, for linux-glibc2.12 (x86_64)
        /*!40101 SET NAMES utf8mb4 */;
        DROP TABLE IF EXISTS `t_job`;
        CREATE TABLE `t_job` (
          `f_job_id` varchar(25) NOT NULL
        ) ENGINE=InnoDB;
        LOCK TABLES `t_job` WRITE;
        INSERT INTO `t_job` VALUES ('a(b','x\\'),(y'),('c\\\\','d;e'),('新\\n(行)',NULL),(0x28,'');
        UNLOCK TABLES;
        CREATE TABLE `t_empty` (
          `a` int
        );
        CREATE TABLE `odd``name` (`a` int);
        INSERT INTO `odd``name` VALUES (1);
        INSERT INTO `odd``name` VALUES (2),(3);
        -- INSERT INTO `t_job` VALUES ('not', 'a row');
        -- Dump completed on 2026-11-25 12:00:00

        """

    static let mariadbStyle = """
        /*M!999999\\- enable the sandbox mode */
        CREATE TABLE `t_queue` (
          `f_job_id` varchar(100) NOT NULL
        );
        INSERT INTO `t_queue` VALUES
        ('1','{"a": [1, (2)]}'),
        ('2',')'),
        ('3','\\'');
        -- Dump completed on 2026-11-25 12:00:00

        """

    @Test(arguments: [1, 2, 3, 7, 64, 1 << 20])
    func countsRowsWhateverTheChunks(chunk: Int) {
        for (text, expected) in [(Self.mysqlStyle, ["t_job": 4, "t_empty": 0, "odd`name": 3]), (Self.mariadbStyle, ["t_queue": 3])] {
            var counter = DumpRowCounter()
            let bytes = Array(text.utf8)
            var index = 0
            while index < bytes.count {
                counter.feed(Array(bytes[index..<min(bytes.count, index + chunk)]))
                index += chunk
            }
            #expect(counter.rows == expected, "chunk \(chunk)")
            #expect(counter.completed)
            #expect(counter.byteCount == Int64(bytes.count))
        }
    }

    @Test func aDumpCutShortIsNotCompleted() {
        var counter = DumpRowCounter()
        counter.feed(Array(Self.mysqlStyle.replacingOccurrences(of: "-- Dump completed on 2026-11-25 12:00:00\n", with: "").utf8))
        #expect(!counter.completed)
        #expect(counter.rows["t_job"] == 4)
    }

    @Test func leftoverTablesAreKnownByTheNamesUpgradesAndRollbacksGive() {
        for name in ["t_job_backup", "t_queue_backup_20261125", "t_task_backup_20261125_2", "t_data_view_pre_restore_20261125",
                     "t_machine_learning_model_meta_pre_restore_20261125_1"] {
            #expect(HostSurvey.isLeftoverTable(name), "\(name)")
        }
        for name in ["t_job", "t_jobs_backup", "t_job_backup_x", "t_job_backup_2026112", "my_backup", "t_job_backupx", "t_job_pre_restore_"] {
            #expect(!HostSurvey.isLeftoverTable(name), "\(name)")
        }
    }

    @Test func schemaStatesFromColumns() {
        let base = ["t_queue": ["f_job_id": "varchar(100)"]]
        var columns = base
        for table in SchemaState.widenedTables { columns[table] = ["f_role": "varchar(10)"] }
        #expect(SchemaState.judge(columns) == .v140)
        columns["t_queue"]!["f_frequency"] = "int(11)"
        #expect(SchemaState.judge(columns) == .v141)
        columns["t_job"]!["f_role"] = "varchar(50)"
        #expect(SchemaState.judge(columns) == .partial)
        for table in SchemaState.widenedTables { columns[table] = ["f_role": "varchar(50)"] }
        #expect(SchemaState.judge(columns) == .v144)
        #expect(SchemaState.judge([:]) == .missing)
    }
}

/// Help reaches the operator as argument-parser writes it, with exit status 0.
struct HelpTests {
    @Test(arguments: [["--help"], ["apply", "--help"], ["help", "verify"], ["cleanup", "-h"], ["status", "--help"]])
    func helpIsShown(arguments: [String]) throws {
        let run = try Support.tool(arguments)
        #expect(run.status == 0, "\(run.output)")
        #expect(run.stdout.contains("USAGE: fate-upgrade"), "\(run.output)")
        #expect(!run.output.contains("CommandError"))
    }
}

extension HostStateTests {
    /// Once verified, a run's backups go too; verify still passes, and rollback says why it cannot.
    @Test func afterSignOffCleanupRemovesTheRunsBackups() throws {
        let scenario = try Scenario(.allinone)
        defer { scenario.remove() }
        #expect(try scenario.apply(["--component", "all"]).status == 0)
        let port = try #require(Int(try String(contentsOf: scenario.sandbox.fateRoot.appendingPathComponent("python/arch/conf/base_conf.yaml"), encoding: .utf8)
            .components(separatedBy: "http_port: ")[1].prefix { $0.isNumber }))
        #expect(Support.waitUntil(seconds: 20) { HostFacts.answers(host: "127.0.0.1", port: port) })
        let verified = try verify(scenario)
        #expect(verified.status == 0, "\(verified.output)")
        let cleaned = try Support.tool(["cleanup", "--fate-root", scenario.root, "--snapshots-older-than", "0", "--yes", "--json"],
                                       environment: scenario.environment)
        #expect(cleaned.status == 0, "\(cleaned.output)")
        let report = try Self.json(cleaned)
        #expect((report["keep"] as? [Any])?.isEmpty == true, "\(report)")
        let removed = (report["removed"] as? [String]) ?? []
        #expect(removed.contains { $0.contains("/python_2") })
        #expect(removed.filter { $0.hasSuffix("_backup") }.count == 5)
        // The package and its work folder (outside FATE_ROOT) are left, with the command to remove them.
        #expect(removed.allSatisfy { !$0.hasPrefix(scenario.package.path) }, "\(removed)")
        #expect(FileManager.default.fileExists(atPath: scenario.package.path))
        let note = try #require(((report["notes"] as? [String]) ?? []).first { $0.contains(scenario.package.path) }, "\(report)")
        let command = try #require(note.components(separatedBy: ": rm -rf ").last)
        #expect(try Support.run("/bin/sh", ["-c", "rm -rf " + command]).status == 0)
        #expect(!FileManager.default.fileExists(atPath: scenario.package.path))
        #expect(try scenario.mysql.tables().filter { $0.hasSuffix("_backup") }.isEmpty)
        // Still upgraded, as verify sees it; DB_PASS now has to be given (its work folder is gone).
        let again = try Support.tool(["verify", "--fate-root", scenario.root, "--db-pass-stdin"], environment: scenario.environment,
                                     stdin: MariaDB.packagePassword + "\n")
        #expect(again.status == 0, "\(again.output)")
        #expect(again.stdout.contains("cleanup removed the old one"))
        let back = try scenario.rollback()
        #expect(back.status != 0)
        #expect(back.stderr.contains("cleanup removed what rolling it back needs"), "\(back.output)")
    }

    /// A second apply of the database finds its own `_backup` tables: that is the upgraded state,
    /// reported as nothing to do (as Ansible's second run needs), not a refusal.
    @Test func reapplyingTheDatabaseChangesNothingAndSaysSo() throws {
        let scenario = try Scenario(.allinone)
        defer { scenario.remove() }
        #expect(try scenario.apply(["--component", "mysql"]).status == 0)
        let database = try scenario.mysql.snapshot()
        for extra in [["--plan"], []] {
            let again = try scenario.apply(["--component", "mysql", "--json"] + extra)
            #expect(again.status == 0, "\(again.output)")
            let report = try Self.json(again)
            #expect(report["outcome"] as? String == "unchanged")
            #expect(report["changed"] as? Bool == false)
        }
        #expect(try scenario.mysql.snapshot() == database)
        #expect(try scenario.journals().count == 1)
        // A refusal's report names what was asked for.
        let refused = try scenario.apply(["--component", "all", "--json"])
        #expect(refused.status != 0)
        let report = try Self.json(refused)
        #expect(report["outcome"] as? String == "refused")
        #expect(report["component"] as? String == "all")
    }
}
