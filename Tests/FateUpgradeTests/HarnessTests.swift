import FateUpgradeCore
import FateUpgradeHost
import FateUpgradeHost
import Foundation
import Testing

/// The harness the apply/rollback tests stand on: real MariaDB servers and sandbox FATE hosts behave as those
/// tests assume, so that a failure there points at the tool, not at the harness.
@Suite struct HarnessTests {
    static var client: String { MariaDB.client ?? "mariadb" }

    /// The rows of `MariaDB.rows(of:)` without its header line, to compare a table with its copy.
    static func body(_ rows: String) -> String {
        String(rows.drop { $0 != "\n" }.dropFirst())
    }

    @Test func aServerStartsOnItsOwnSocketAnswersAndIsGoneAfterStop() throws {
        let database = try MariaDB.start()
        defer { database.stop() }
        #expect(database.socket == database.folder.appendingPathComponent("mysql.sock").path)
        #expect(database.socket.utf8.count < 100)
        let answer = try database.sql("SELECT VERSION(), @@skip_networking, @@character_set_server, CURRENT_USER()")
        let fields = answer.trimmingCharacters(in: .newlines).split(separator: "\t").map(String.init)
        #expect(fields.count == 4 && fields[0].contains("MariaDB"), "\(answer)")
        // TCP too, on 127.0.0.1 only: fate_flow reaches its database so in cluster mode.
        #expect(Array(fields.dropFirst()) == ["0", "utf8mb4", "root@localhost"])
        #expect(HostFacts.answers(host: "127.0.0.1", port: database.port))
        #expect(try database.tables(database: "mysql").contains("global_priv"))

        database.stop()
        #expect(!FileManager.default.fileExists(atPath: database.folder.path))
        database.stop()
    }

    @Test func aFailingStatementThrowsTheClientsMessageEvenWithMuchInputLeftUnread() throws {
        let database = try MariaDB.start()
        defer { database.stop() }
        let rest = String(repeating: "SELECT '\(String(repeating: "x", count: 1000))';\n", count: 500)
        #expect {
            try database.sql("SELEC 1;\n" + rest)
        } throws: { error in
            "\(error)".contains("ERROR 1064")
        }
        #expect(try database.sql("SELECT 2") == "2\n")
    }

    @Test func thePasswordIsRequiredAndWorksEveryWayItIsPassed() throws {
        let database = try MariaDB.start()
        defer { database.stop() }
        let base = ["--no-defaults", "-uroot", "-S", database.socket, "--batch", "--skip-column-names", "-e", "SELECT CURRENT_USER()"]

        // root of the operating system gets no unix_socket shortcut: without the right password, no entry.
        let wrong = try Support.run(Self.client, ["--no-defaults", "-uroot", "-pwrong", "-S", database.socket, "-e", "SELECT 1"])
        #expect(wrong.status != 0)
        #expect(wrong.stderr.contains("Access denied"), "\(wrong.stderr)")
        let none = try Support.run(Self.client, base)
        #expect(none.status != 0)
        #expect(none.stderr.contains("Access denied"), "\(none.stderr)")
        let almost = try Support.run(Self.client, base, environment: ["MYSQL_PWD": String(database.password.dropLast())])
        #expect(almost.status != 0)

        // The fixture script's way (MYSQL_PWD), FATE's own way (-p on the command line), and the harness's option file.
        let environment = try Support.run(Self.client, base, environment: ["MYSQL_PWD": database.password])
        #expect(environment.status == 0, "\(environment.stderr)")
        #expect(environment.stdout == "root@localhost\n")
        let commandLine = try Support.run(Self.client, ["--no-defaults", "-p\(database.password)"] + base.dropFirst())
        #expect(commandLine.status == 0, "\(commandLine.stderr)")
        #expect(try database.sql("SELECT CURRENT_USER()") == "root@localhost\n")

        #expect(database.password == "r00t p@ss'\"$;#`\\!密")
        let accounts = try database.sql("SELECT user, host, JSON_VALUE(priv, '$.plugin'), JSON_EXISTS(priv, '$.auth_or') FROM mysql.global_priv WHERE user = 'root'")
        #expect(accounts == "root\tlocalhost\tmysql_native_password\t0\n")
    }

    @Test func severalServersRunSideBySide() throws {
        let started = try (0..<3).map { _ in try MariaDB.start() }
        defer { started.forEach { $0.stop() } }
        #expect(Set(started.map(\.socket)).count == 3)
        for (index, database) in started.enumerated() {
            try database.sql("CREATE DATABASE only_\(index)")
        }
        for (index, database) in started.enumerated() {
            let names = try database.sql("SHOW DATABASES LIKE 'only\\_%'")
            #expect(names == "only_\(index)\n")
        }
    }

    @Test func fateFlow140HasTheFiveTablesTheUpgradeChanges() throws {
        let database = try MariaDB.start()
        defer { database.stop() }
        try database.loadFateFlow140()
        #expect(try database.tables() == ["t_data_view", "t_job", "t_machine_learning_model_meta", "t_queue", "t_task"])

        let roles = try database.sql("""
            SELECT TABLE_NAME, COLUMN_TYPE FROM information_schema.COLUMNS
            WHERE TABLE_SCHEMA = 'fate_flow' AND COLUMN_NAME = 'f_role' ORDER BY TABLE_NAME
            """)
        #expect(roles == "t_data_view\tvarchar(10)\nt_job\tvarchar(10)\nt_machine_learning_model_meta\tvarchar(10)\nt_task\tvarchar(10)\n")
        #expect(try database.sql("SHOW COLUMNS FROM t_queue LIKE 'f_frequency'", database: "fate_flow") == "")
        #expect(try database.sql("SELECT COUNT(*) FROM t_queue", database: "fate_flow") == "2\n")

        // Four-byte characters and a newline survive exactly; long text is really long.
        let description = "纵向逻辑回归 — 第一次训练 ✓ 🚀\nsecond line"
        let hex = try database.sql("SELECT HEX(f_description) FROM t_job WHERE f_role = 'guest'", database: "fate_flow")
        #expect(hex == Data(description.utf8).map { String(format: "%02X", $0) }.joined() + "\n")
        #expect(try database.sql("SELECT MIN(LENGTH(f_dsl)) > 40000 FROM t_job WHERE f_dsl <> '{}'", database: "fate_flow") == "1\n")

        let snapshot = try database.snapshot()
        #expect(snapshot.hasPrefix("fate_flow\tCREATE DATABASE `fate_flow`"))
        #expect(snapshot.contains("CREATE TABLE `t_job` (\n  `f_job_id` varchar(25) NOT NULL,\n"))
        for count in ["-- t_job: 3 rows", "-- t_queue: 2 rows", "-- t_task: 4 rows", "-- t_data_view: 2 rows",
                      "-- t_machine_learning_model_meta: 2 rows"] {
            #expect(snapshot.contains(count + "\n"), "\(count)")
        }
        #expect(snapshot.contains("'纵向逻辑回归 — 第一次训练 ✓ 🚀\\nsecond line'"))
        #expect(snapshot.contains("\tNULL\t") && snapshot.contains("\t'NULL'\t"))
        #expect(try database.snapshot() == snapshot)
    }

    @Test func aSnapshotChangesWithAnyRowOrSchemaChangeAndComesBackWhenUndone() throws {
        let database = try MariaDB.start()
        defer { database.stop() }
        try database.loadFateFlow140()
        let before = try database.snapshot()

        let deep = try database.sql("SELECT SUBSTRING(f_dsl, 45000, 1) FROM t_job WHERE f_role = 'host'", database: "fate_flow")
            .trimmingCharacters(in: .newlines)
        #expect(deep.count == 1 && deep != "X")
        let changes: [(change: String, undo: String)] = [
            // NULL and the string 'NULL' are different values.
            ("UPDATE t_task SET f_operator = NULL WHERE f_role = 'host'", "UPDATE t_task SET f_operator = 'NULL' WHERE f_role = 'host'"),
            // One character deep inside a long value, beyond any default sort length.
            ("UPDATE t_job SET f_dsl = INSERT(f_dsl, 45000, 1, 'X') WHERE f_role = 'host'",
             "UPDATE t_job SET f_dsl = INSERT(f_dsl, 45000, 1, \(MariaDB.sqlString(deep))) WHERE f_role = 'host'"),
            ("DELETE FROM t_queue WHERE f_is_waiting = 1",
             "INSERT INTO t_queue SELECT '2020090213300098765432', REPLACE(f_event, '2020090112000012345678', '2020090213300098765432'), 1 FROM t_queue"),
            ("ALTER TABLE t_queue MODIFY f_event varchar(600) NOT NULL", "ALTER TABLE t_queue MODIFY f_event varchar(500) NOT NULL"),
            ("RENAME TABLE t_task TO t_task_backup_20200901", "RENAME TABLE t_task_backup_20200901 TO t_task"),
        ]
        for (change, undo) in changes {
            try database.sql(change, database: "fate_flow")
            #expect(try database.snapshot() != before, "\(change)")
            try database.sql(undo, database: "fate_flow")
            #expect(try database.snapshot() == before, "\(undo)")
        }
    }

    @Test(arguments: [FateSandbox.Deploy.allinone, .ansible])
    func theSandboxServiceReallyStartsAndStops(deploy: FateSandbox.Deploy) throws {
        let database = try MariaDB.start()
        defer { database.stop() }
        let sandbox = try FateSandbox.make(deploy: deploy, mysql: database)
        defer { sandbox.remove() }
        func pid() throws -> pid_t {
            try #require(sandbox.runningPids().first, "fate_flow is not running: \(sandbox.fateFlowErrors())")
        }
        let (script, name) = sandbox.serviceCommand

        #expect(sandbox.isFateFlowRunning())
        let first = try pid()
        #expect(HostFacts.isAlive(first))
        // As FATE's scripts and supervisorctl 3.x: every action exits 0, whatever happened; the words tell.
        let running = deploy == .allinone ? "status:" : "RUNNING"
        let status = try sandbox.service("status")
        #expect(status.status == 0 && status.output.contains(running), "\(status.output)")
        // FATE's service scripts are bash: under dash (`sh` on Debian) they do not work, as the real ones do not.
        #expect(try !sandbox.service("status", shell: "dash").output.contains(running))

        // Stopping, and again when there is nothing to stop.
        let stop = try sandbox.service("stop")
        #expect(stop.status == 0, "\(stop.output)")
        #expect(!sandbox.isFateFlowRunning())
        #expect(!HostFacts.isAlive(first))
        #expect(try sandbox.service("stop").status == 0)
        let stopped = try sandbox.service("status")
        #expect(stopped.status == 0 && !stopped.output.contains(running), "\(stopped.output)")

        // Starting from a pipe that the caller reads to its end: the process must not hold the pipe open.
        // It holds whatever else its starter had open, as on a real host: here a file of ours.
        let held = sandbox.folder.appendingPathComponent("held-by-fate_flow")
        let descriptor = open(held.path, O_CREAT | O_WRONLY, 0o600)
        defer { close(descriptor) }
        let start = try Support.runFromAShell("timeout", ["20", "bash", "-c", "bash \"$0\" start $1 | cat", script] + name)
        #expect(start.status == 0, "\(start.output)")
        #expect(sandbox.isFateFlowRunning())
        let second = try pid()
        var ours = stat(), theirs = stat()
        #expect(fstat(descriptor, &ours) == 0 && stat("/proc/\(second)/fd/\(descriptor)", &theirs) == 0
                && ours.st_ino == theirs.st_ino && ours.st_dev == theirs.st_dev, "fate_flow did not inherit descriptor \(descriptor)")
        #expect(second != first)
        let again = try sandbox.service("start")
        #expect(again.status == 0, "\(again.output)")
        #expect(try pid() == second)

        let restart = try sandbox.service("restart")
        #expect(restart.status == 0, "\(restart.output)")
        let third = try pid()
        #expect(third != second && HostFacts.isAlive(third) && !HostFacts.isAlive(second))
        #expect(try sandbox.service("bogus").output.contains("usage:"))

        #expect(try sandbox.treeSnapshot().keys.allSatisfy { !$0.hasSuffix(".pid") })
        sandbox.remove()
        #expect(!HostFacts.isAlive(third))
        #expect(!FileManager.default.fileExists(atPath: sandbox.folder.path))
    }

    @Test func theSandboxLooksLikeA140HostWithMySQLWhereFATEKeepsIt() throws {
        let database = try MariaDB.start()
        defer { database.stop() }
        let sandbox = try FateSandbox.make(deploy: .allinone, mysql: database)
        defer { sandbox.remove() }
        let tree = try sandbox.treeSnapshot()
        for path in ["fate_flow/settings.py", "fate_flow/utils/setting_utils.py", "fate_flow/service.sh", "fate_flow/fate_flow_server.py",
                     "arch/conf/base_conf.yaml", "arch/conf/server_conf.json", "federatedml/__init__.py"] {
            #expect(tree[path]?.hasPrefix("file ") == true, "\(path)")
        }
        #expect(tree["fate_flow/service.sh"]?.hasPrefix("file 755 ") == true)
        // FATE's file, but for the ports: each sandbox's fate_flow listens on its own.
        let conf = try String(contentsOf: sandbox.fateRoot.appendingPathComponent("python/arch/conf/base_conf.yaml"), encoding: .utf8)
        let fixture = try String(contentsOf: Support.fixtures.appendingPathComponent("conf/base_conf-1.4.0.yaml"), encoding: .utf8)
        let port = try #require(conf.components(separatedBy: "http_port: ").dropFirst().first?.prefix { $0.isNumber })
        #expect(port != "9380")
        let grpc = try #require(conf.components(separatedBy: "grpc_port: ").dropFirst().first?.prefix { $0.isNumber })
        #expect(conf == fixture.replacingOccurrences(of: "http_port: 9380", with: "http_port: \(port)")
            .replacingOccurrences(of: "grpc_port: 9360", with: "grpc_port: \(grpc)"))
        #expect(Support.waitUntil(seconds: 10) { HostFacts.answers(host: "127.0.0.1", port: Int(port)!) }, "fate_flow serves HTTP on its port")
        #expect(try Support.files(in: sandbox.home).isEmpty)
        #expect(!FileManager.default.fileExists(atPath: sandbox.supervisorRoot.path))

        let mysql = sandbox.mysqlRoot.appendingPathComponent("bin/mysql").path
        let socket = sandbox.mysqlRoot.appendingPathComponent("run/mysql.sock").path
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: socket) == database.socket)
        let select = try Support.run(mysql, ["-u\(database.user)", "-S", socket, "-e", "select 'x';"],
                                     environment: ["MYSQL_PWD": database.password])
        #expect(select.status == 0, "\(select.stderr)")
    }

    @Test func theUpgradeSQLRunsThroughTheSandboxClientAndSocket() throws {
        let database = try MariaDB.start()
        defer { database.stop() }
        try database.loadFateFlow140()
        let sandbox = try FateSandbox.make(deploy: .allinone, mysql: database)
        defer { sandbox.remove() }
        let upgraded = ["t_job", "t_task", "t_data_view", "t_machine_learning_model_meta"]
        var before: [String: String] = [:]
        for table in try database.tables() { before[table] = try database.rows(of: table) }
        let tree = try sandbox.treeSnapshot()

        // As the fixture script runs it (MYSQL_PWD), then as FATE's own scripts do (-p on the command line).
        let mysql = sandbox.mysqlRoot.appendingPathComponent("bin/mysql").path
        let socket = sandbox.mysqlRoot.appendingPathComponent("run/mysql.sock").path
        func apply(_ name: String, _ options: [String], environment: [String: String] = [:]) throws -> Run {
            let file = Support.fixtures.appendingPathComponent("sql/\(name)").path
            return try Support.run("sh", ["-c", "sql=$1; shift; exec \"$@\" < \"$sql\"", "apply", file, mysql] + options,
                                   environment: environment)
        }
        let first = try apply("upgrade_1_4_0-1_4_1.sql", ["-u\(database.user)", "-S", socket], environment: ["MYSQL_PWD": database.password])
        #expect(first.status == 0, "\(first.stderr)")
        let second = try apply("upgrade_1_4_1-1_4_2.sql", ["-u\(database.user)", "-p\(database.password)", "-S", socket])
        #expect(second.status == 0, "\(second.stderr)")

        let tables = ["t_data_view", "t_job", "t_machine_learning_model_meta", "t_queue", "t_task"]
        #expect(try database.tables() == (tables + tables.map { $0 + "_backup" }).sorted())
        let column = try database.sql("SHOW COLUMNS FROM t_queue LIKE 'f_frequency'", database: "fate_flow")
        #expect(column == "f_frequency\tint(11)\tYES\t\t0\t\n")
        let roles = try database.sql("""
            SELECT TABLE_NAME, COLUMN_TYPE FROM information_schema.COLUMNS
            WHERE TABLE_SCHEMA = 'fate_flow' AND COLUMN_NAME = 'f_role' ORDER BY TABLE_NAME
            """)
        for table in upgraded {
            #expect(roles.contains("\n\(table)\tvarchar(50)\n") || roles.hasPrefix("\(table)\tvarchar(50)\n"), "\(table)")
            #expect(roles.contains("\n\(table)_backup\tvarchar(10)\n"), "\(table)_backup")
        }

        // Every row is where it was, and copied into the backup.
        for table in upgraded {
            #expect(try database.rows(of: table) == before[table], "\(table)")
        }
        for table in tables {
            #expect(Self.body(try database.rows(of: "\(table)_backup")) == Self.body(before[table] ?? "x"), "\(table)_backup")
        }
        let queue = Self.body(before["t_queue"] ?? "").split(separator: "\n").map { $0 + "\t'0'\n" }.joined()
        #expect(Self.body(try database.rows(of: "t_queue")) == queue)

        // The step is not repeatable as written: its backup table already exists.
        let repeated = try apply("upgrade_1_4_0-1_4_1.sql", ["-u\(database.user)", "-S", socket], environment: ["MYSQL_PWD": database.password])
        #expect(repeated.status != 0 && repeated.stderr.contains("already exists"), "\(repeated.output)")

        #expect(try sandbox.treeSnapshot() == tree)
        #expect(sandbox.isFateFlowRunning())
    }

    /// What apply and rollback do to the code, by hand: the service.sh inside the package's python tree takes over
    /// the running fate_flow, and the restored tree snapshots equal to the original.
    @Test func thePackagesServiceScriptTakesOverAndARollbackByHandRestoresTheTree() throws {
        let database = try MariaDB.start()
        defer { database.stop() }
        let sandbox = try FateSandbox.make(deploy: .allinone, mysql: database)
        defer { sandbox.remove() }
        let original = try sandbox.treeSnapshot()
        let root = sandbox.fateRoot.path
        let package = Support.repository.appendingPathComponent("pack/sample/upgrade_1_4_0-1_4_4.tar.gz").path

        // By hand, from an operator's shell: the fate_flow service.sh starts keeps what the shell had open.
        let upgrade = try Support.runFromAShell("sh", ["-euc", """
            cd "$1"
            tar xzf "$2" -C "$3"
            bash python/fate_flow/service.sh stop
            mv python python_20200901120000
            tar zxf "$3/upgrade_package/upgrade_python_package.tar.gz" -C "$1"
            bash python/fate_flow/service.sh start
            """, "upgrade", root, package, sandbox.home.path])
        #expect(upgrade.status == 0, "\(upgrade.output)")
        #expect(sandbox.isFateFlowRunning())
        let installed = try Data(contentsOf: sandbox.fateRoot.appendingPathComponent("python/fate_flow/service.sh"))
        #expect(installed == (try Data(contentsOf: Support.fixtures.appendingPathComponent("fate_flow_service.sh"))))
        #expect(try sandbox.treeSnapshot() != original)
        let moved = try sandbox.treeSnapshot("python_20200901120000")
        #expect(moved == original, "\(Set(moved.keys).union(original.keys).filter { moved[$0] != original[$0] }.sorted().map { "\($0): \(moved[$0] ?? "-") vs \(original[$0] ?? "-")" })")

        let rollback = try Support.runFromAShell("sh", ["-euc", """
            cd "$1"
            bash python/fate_flow/service.sh stop
            mv python python_upgrade_backup
            mv python_20200901120000 python
            bash python/fate_flow/service.sh start
            """, "rollback", root])
        #expect(rollback.status == 0, "\(rollback.output)")
        #expect(sandbox.isFateFlowRunning())
        #expect(try sandbox.treeSnapshot() == original)
    }

    @Test func aTreeSnapshotSeesContentModeOwnerAndLinkChanges() throws {
        let database = try MariaDB.start()
        defer { database.stop() }
        let sandbox = try FateSandbox.make(deploy: .allinone, mysql: database)
        defer { sandbox.remove() }
        let python = sandbox.fateRoot.appendingPathComponent("python")
        let settings = python.appendingPathComponent("fate_flow/settings.py").path
        let link = python.appendingPathComponent("conf_link").path
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: "../logs")
        let before = try sandbox.treeSnapshot()
        #expect(before["conf_link"] == "link \(getuid()):\(getgid()) -> ../logs")
        #expect(before["."]?.hasPrefix("dir ") == true)
        #expect(try sandbox.treeSnapshot("python/fate_flow")["settings.py"] == before["fate_flow/settings.py"])

        let text = try Data(contentsOf: URL(fileURLWithPath: settings))
        var changed = text
        changed[changed.count - 2] ^= 0x01
        let changes: [(String, () throws -> Void, () throws -> Void)] = [
            ("content of the same size", { try changed.write(to: URL(fileURLWithPath: settings)) },
             { try text.write(to: URL(fileURLWithPath: settings)) }),
            ("mode", { chmod(settings, 0o600) }, { chmod(settings, 0o644) }),
            ("owner", { chown(settings, 1234, 5678) }, { chown(settings, getuid(), getgid()) }),
            ("link target", { try FileManager.default.removeItem(atPath: link)
                              try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: "../log") },
             { try FileManager.default.removeItem(atPath: link)
               try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: "../logs") }),
            ("an empty folder", { try FileManager.default.createDirectory(atPath: python.appendingPathComponent("new").path,
                                                                          withIntermediateDirectories: false) },
             { try FileManager.default.removeItem(at: python.appendingPathComponent("new")) }),
        ]
        for (what, change, undo) in changes {
            try change()
            #expect(try sandbox.treeSnapshot() != before, "\(what)")
            try undo()
            #expect(try sandbox.treeSnapshot() == before, "\(what)")
        }
        #expect(throws: (any Error).self) { try sandbox.treeSnapshot("python_20200901120000") }
        // The known answer for "abc" (FIPS 180-2), and one spanning two blocks.
        #expect(SHA256.hex(Data("abc".utf8)) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(SHA256.hex(Data("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8))
                == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
    }
}
