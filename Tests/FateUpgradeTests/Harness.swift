import FateUpgradeCore
import FateUpgradeHost
import FateUpgradeHost
import Foundation
import Testing

/// A real MariaDB server on a private socket in a temporary folder, started for one test.
final class MariaDB: @unchecked Sendable {
    let folder: URL          // holds datadir, the socket, the error log
    let socket: String       // path of the unix socket
    let port: Int            // TCP on 127.0.0.1, where fate_flow connects in cluster mode
    let user = "root"
    let password: String     // root's password, required: a wrong or missing one is refused

    /// Characters that break naive quoting in the shell, in SQL and in option files (space, both quotes, `$`, `;`,
    /// `#`, backquote, backslash, `!`) and a non-ASCII one, since DB_PASS is documented to carry all of them.
    static let rootPassword = "r00t p@ss'\"$;#`\\!密"

    /// The account upgrade packages use. FATE's scripts pass the password unquoted (`-p$DB_PASS`), so it
    /// cannot hold a space or a glob character (the script itself would split it); every other hostile
    /// character is here: both quotes, `$`, `;`, `#`, backquote, backslash, `!` and a non-ASCII one.
    static let packageUser = "fate_dev"
    static let packagePassword = "Fate_dev'\"$;#`\\!密"

    /// The account a cluster site's fate_flow logs in with over TCP (base_conf.yaml's `database`).
    static let siteUser = "fate"
    static let sitePassword = "S1te db#pass"

    private var process: ShellJob
    private var watchdog: ShellJob
    private let optionFile: URL
    /// How the server was started, for `restart`.
    private let serverArguments: [String]
    private let lock = NSLock()
    private var stopped = false

    private init(folder: URL, port: Int, process: ShellJob, watchdog: ShellJob, optionFile: URL, serverArguments: [String]) {
        self.folder = folder
        self.port = port
        self.socket = folder.appendingPathComponent("mysql.sock").path
        self.password = Self.rootPassword
        self.process = process
        self.watchdog = watchdog
        self.optionFile = optionFile
        self.serverArguments = serverArguments
    }

    /// The server killed as a crash or the OOM killer would (SIGKILL): no clean shutdown.
    func kill() {
        lock.lock()
        defer { lock.unlock() }
        Glibc.kill(process.pid, SIGKILL)
        while process.isRunning { usleep(10_000) }
        watchdog.stop(within: 5)
    }

    /// Started again on the same data folder, socket and port, as an operator restarts MySQL.
    func restart() throws {
        lock.lock()
        let (process, watchdog) = try Self.launch(serverArguments, folder: folder)
        self.process = process
        self.watchdog = watchdog
        lock.unlock()
        try waitUntilAnswering()
    }

    deinit { stop() }

    // MARK: programs

    static let client = Support.which("mariadb", "mysql")
    static let dumpClient = Support.which("mariadb-dump", "mysqldump")
    private static let server = Support.which("mariadbd", "mysqld")
    private static let installDB = Support.which("mariadb-install-db", "mysql_install_db")

    private static func program(_ path: String?, _ what: String) throws -> String {
        guard let path else { throw Failure("\(what) not found: install mariadb-server and mariadb-client (scripts/deps.sh)") }
        return path
    }

    /// Options given both to the bootstrap that makes the template and to every server started from it, so the
    /// InnoDB files fit. Small buffers keep several servers side by side cheap. Native AIO is off because
    /// io_uring/libaio contexts are a machine-wide limit that parallel servers can exhaust.
    private static let tuning = [
        "--skip-name-resolve", "--skip-log-bin",
        "--character-set-server=utf8mb4", "--collation-server=utf8mb4_general_ci",
        "--innodb-buffer-pool-size=16M", "--innodb-log-file-size=8M", "--innodb-use-native-aio=0",
        "--innodb-flush-log-at-trx-commit=2", "--key-buffer-size=1M", "--aria-pagecache-buffer-size=8M",
        "--max-connections=50",
    ]

    /// mariadbd refuses to run as root unless told to; as another user `--user` would be ignored with a warning.
    private static var userOption: [String] { getuid() == 0 ? ["--user=root"] : [] }

    // MARK: the template data directory

    private static let templateLock = NSLock()
    nonisolated(unsafe) private static var template: URL?

    /// A data directory with root's password set, made once per test process: bootstrapping takes most of a
    /// second, copying it a tenth of that.
    private static func templateDataDirectory() throws -> URL {
        templateLock.lock()
        defer { templateLock.unlock() }
        if let template { return template.appendingPathComponent("data") }
        removeAbandonedTemplates()
        let folder = try Support.shortTemporaryFolder("fate-db-tpl-\(getpid())")
        let data = folder.appendingPathComponent("data")
        // The bootstrap runs without grant tables; FLUSH PRIVILEGES loads them so ALTER USER works. Only
        // root@localhost stays, with a password and no unix_socket alternative (`normal` below), so the
        // password is really checked even for the operating system's root.
        let setup = folder.appendingPathComponent("setup.sql")
        try Data("""
            FLUSH PRIVILEGES;
            DELETE FROM mysql.global_priv WHERE host <> 'localhost';
            FLUSH PRIVILEGES;
            ALTER USER root@localhost IDENTIFIED BY \(sqlString(rootPassword));
            CREATE USER \(packageUser)@localhost IDENTIFIED BY \(sqlString(packagePassword));
            GRANT ALL ON fate_flow.* TO \(packageUser)@localhost;
            CREATE USER \(siteUser)@'%' IDENTIFIED BY \(sqlString(sitePassword));
            GRANT ALL ON fate_flow.* TO \(siteUser)@'%';

            """.utf8).write(to: setup)
        let run = try Support.run(try program(installDB, "mariadb-install-db"),
                                  ["--no-defaults", "--datadir=\(data.path)"] + userOption
                                  + ["--auth-root-authentication-method=normal", "--skip-test-db", "--extra-file=\(setup.path)"]
                                  + tuning + ["--skip-networking"])
        try? FileManager.default.removeItem(at: setup)
        guard run.status == 0 else {
            try? FileManager.default.removeItem(at: folder)
            throw Failure("mariadb-install-db failed (\(run.status)):\n\(run.output)")
        }
        template = folder
        atexit { if let template = MariaDB.template { try? FileManager.default.removeItem(at: template) } }
        return data
    }

    /// Templates of test processes that died before their atexit cleanup (a crash, a kill), known by the pid
    /// in their name. A server's own folder is removed by its watchdog.
    private static func removeAbandonedTemplates() {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: "/tmp")) ?? []
        for name in names where name.hasPrefix("fate-db-tpl-") {
            let fields = name.split(separator: "-")
            guard fields.count == 5, let pid = pid_t(fields[3]), pid != getpid(), !HostFacts.isAlive(pid) else { continue }
            try? FileManager.default.removeItem(atPath: "/tmp/\(name)")
        }
    }

    // MARK: starting and stopping

    /// Initialises a data directory (once per test process, then copied per server for speed), starts
    /// `mariadbd` on a unix socket only (--skip-networking), waits until it answers, and returns.
    /// Throws (so the test FAILS, never skips) with the server's error log when it cannot start.
    /// With `dataFolderSize` (tmpfs's `size=`, e.g. "512m") the data directory is a tmpfs of that size, which
    /// `limitDataFolder(freeBytes:)` can shrink later; mounting needs root, as CI has.
    static func start(dataFolderSize: String? = nil) throws -> MariaDB {
        let template = try templateDataDirectory()
        let server = try program(server, "mariadbd")
        _ = try program(client, "the mariadb client")
        let folder = try Support.shortTemporaryFolder("fate-db")
        let socket = folder.appendingPathComponent("mysql.sock").path
        let errorLog = folder.appendingPathComponent("error.log")
        let stderrLog = folder.appendingPathComponent("stderr.log")
        func logs() -> String {
            [errorLog, stderrLog].compactMap { try? String(contentsOf: $0, encoding: .utf8) }.joined(separator: "\n")
        }
        do {
            let data = folder.appendingPathComponent("data")
            if let dataFolderSize {
                try FileManager.default.createDirectory(at: data, withIntermediateDirectories: false)
                let mounted = try Support.run("mount", ["-t", "tmpfs", "-o", "size=\(dataFolderSize),mode=0700", "tmpfs", data.path])
                guard mounted.status == 0 else { throw Failure("cannot mount a tmpfs for the data directory (root is needed): \(mounted.stderr)") }
            }
            let copy = try Support.run("cp", dataFolderSize == nil ? ["-a", template.path, data.path] : ["-a", template.path + "/.", data.path])
            guard copy.status == 0 else { throw Failure("cannot copy the template data directory: \(copy.stderr)") }

            let optionFile = folder.appendingPathComponent("client.cnf")
            guard FileManager.default.createFile(atPath: optionFile.path, contents: Data("""
                [client]
                user=root
                password=\(optionValue(rootPassword))
                socket=\(optionValue(socket))
                default-character-set=utf8mb4

                """.utf8), attributes: [.posixPermissions: 0o600]) else { throw Failure("cannot write \(optionFile.path)") }

            // Started as FATE's MySQL is, from a shell that closes nothing: it keeps what it inherits.
            // TCP on a private port of 127.0.0.1, as fate_flow reaches its database in cluster mode.
            let port = try Support.freePort()
            let arguments = [server, "--no-defaults"] + userOption + [
                "--port=\(port)", "--bind-address=127.0.0.1",
                "--datadir=\(folder.appendingPathComponent("data").path)", "--socket=\(socket)",
                "--pid-file=\(folder.appendingPathComponent("mariadbd.pid").path)", "--log-error=\(errorLog.path)",
            ] + tuning
            let (process, watchdog) = try launch(arguments, folder: folder)
            let database = MariaDB(folder: folder, port: port, process: process, watchdog: watchdog, optionFile: optionFile, serverArguments: arguments)
            do { try database.waitUntilAnswering() } catch {
                database.stop()
                throw error
            }
            return database
        } catch {
            unmountDataFolder(in: folder)
            try? FileManager.default.removeItem(at: folder)
            throw error
        }
    }

    /// The server and a watchdog that stops it and removes its folder if the test process dies.
    private static func launch(_ arguments: [String], folder: URL) throws -> (ShellJob, ShellJob) {
        let process = try ShellJob(arguments[0], Array(arguments.dropFirst()), output: "/dev/null", errors: folder.appendingPathComponent("stderr.log").path)
        // If this test process dies without stopping the server (a crash, a kill), nothing else would:
        // this stops it and removes its folder once the test process is gone, and ends by itself once the
        // server is. Children of the test runner's threads inherit a mask that blocks SIGTERM, hence the
        // unblocking first.
        let watchdogArguments = ["python3", "-c", """
            import os, shutil, signal, sys, time
            signal.pthread_sigmask(signal.SIG_SETMASK, [])
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            test, server = int(sys.argv[1]), int(sys.argv[2])
            def alive(pid):
                try:
                    with open("/proc/%d/stat" % pid) as f:
                        return f.read().rsplit(")", 1)[1].split()[0] != "Z"
                except OSError:
                    return False
            while alive(test):
                if not alive(server):
                    sys.exit(0)
                time.sleep(0.5)
            os.kill(server, signal.SIGTERM)
            deadline = time.time() + 60
            while alive(server) and time.time() < deadline:
                time.sleep(0.2)
            data = os.path.join(sys.argv[3], "data")
            if os.path.ismount(data):
                os.spawnvp(os.P_WAIT, "umount", ["umount", "-l", data])
            shutil.rmtree(sys.argv[3], ignore_errors=True)
            """, "\(getpid())", "\(process.pid)", folder.path]

        let watchdog: ShellJob
        do {
            watchdog = try ShellJob("/usr/bin/env", watchdogArguments, output: "/dev/null", errors: "/dev/null")
        } catch {
            process.stop()
            throw error
        }
        return (process, watchdog)
    }

    /// Until it answers `SELECT 1`; a server that exits is noticed at once.
    private func waitUntilAnswering() throws {
        let errorLog = folder.appendingPathComponent("error.log"), stderrLog = folder.appendingPathComponent("stderr.log")
        func logs() -> String {
            [errorLog, stderrLog].compactMap { try? String(contentsOf: $0, encoding: .utf8) }.joined(separator: "\n")
        }
        // A loaded machine running many tests at once can be slow; the long limit only matters for a
        // server that hangs.
        let deadline = Date().addingTimeInterval(90)
        var lastError = "no socket yet"
        while true {
            guard process.isRunning else {
                throw Failure("mariadbd exited with status \(process.exitStatus ?? -1) before answering:\n\(logs())")
            }
            if FileManager.default.fileExists(atPath: socket) {
                do {
                    try sql("SELECT 1")
                    return
                } catch {
                    lastError = "\(error)"
                }
            }
            if Date() > deadline { throw Failure("mariadbd did not answer within 90 s (\(lastError)):\n\(logs())") }
            usleep(20_000)
        }
    }

    private static func unmountDataFolder(in folder: URL) {
        let data = folder.appendingPathComponent("data")
        var inside = stat(), parent = stat()
        if stat(data.path, &inside) == 0, stat(folder.path, &parent) == 0, inside.st_dev != parent.st_dev {
            _ = try? Support.run("umount", ["-l", data.path])
        }
    }

    /// Shrinks the tmpfs data directory (see `start(dataFolderSize:)`) so that `freeBytes` are left free.
    func limitDataFolder(freeBytes: Int64) throws {
        let data = folder.appendingPathComponent("data").path
        var info = statvfs()
        guard statvfs(data, &info) == 0 else { throw Failure("statvfs \(data): \(String(cString: strerror(errno)))") }
        let used = Int64(info.f_blocks - info.f_bfree) * Int64(info.f_frsize)
        let size = (used + freeBytes + 4095) / 4096 * 4096
        let remounted = try Support.run("mount", ["-o", "remount,size=\(size)", data])
        guard remounted.status == 0 else { throw Failure("cannot resize the tmpfs at \(data): \(remounted.stderr)") }
    }

    /// Stops the server (SIGTERM, wait) and removes the folder. Also called from deinit.
    func stop() {
        lock.lock()
        defer { lock.unlock() }
        guard !stopped else { return }
        stopped = true
        process.stop(within: 30)
        watchdog.stop(within: 5)
        Self.unmountDataFolder(in: folder)
        try? FileManager.default.removeItem(at: folder)
    }

    // MARK: SQL

    /// Runs SQL through the mysql client with the password in a 0600 --defaults-extra-file (never on the command line);
    /// returns stdout (batch mode, tab-separated, no column names). Throws with stderr on failure.
    @discardableResult
    func sql(_ statements: String, database: String? = nil) throws -> String {
        var arguments = ["--defaults-extra-file=\(optionFile.path)", "--batch", "--skip-column-names"]
        if let database { arguments.append("--database=\(database)") }
        // The statements go in through a file, not a pipe: a client that stops at an error leaves the rest
        // unread, and writing it into a closed pipe would end this test process with SIGPIPE.
        let input = folder.appendingPathComponent("statements-\(UUID().uuidString).sql")
        guard FileManager.default.createFile(atPath: input.path, contents: Data(statements.utf8),
                                             attributes: [.posixPermissions: 0o600]) else {
            throw Failure("cannot write \(input.path)")
        }
        defer { try? FileManager.default.removeItem(at: input) }
        let client = try Self.program(Self.client, "the mariadb client")
        let run = try Support.run("/bin/sh", ["-c", "input=$1; shift; exec \"$@\" < \"$input\"", "sql", input.path, client] + arguments)
        guard run.status == 0 else { throw Failure("mysql failed (\(run.status)): \(run.stderr)") }
        return run.stdout
    }

    /// Creates database `fate_flow` with the five FATE 1.4.0 tables — t_queue, t_job, t_task, t_data_view,
    /// t_machine_learning_model_meta — and realistic rows (a few per table, including NULLs, non-ASCII text, long text).
    /// The four tables other than t_queue have an `f_role varchar(10)` column; t_queue has no `f_frequency` column
    /// (the upgrade SQL adds it and widens f_role to varchar(50)).
    func loadFateFlow140() throws {
        try sql(FateFlow140.schema + FateFlow140.rows)
    }

    /// Every table of fate_flow as text: SHOW CREATE TABLE of each table (sorted by name) and all its rows ordered by
    /// every column, so that two snapshots are equal exactly when schemas and rows are. It starts with SHOW CREATE
    /// DATABASE (so a missing database throws) and takes two client runs, however many tables there are.
    func snapshot(database: String = "fate_flow") throws -> String {
        let tables = try columns(database: database)
        var script = "SHOW CREATE DATABASE \(Self.identifier(database));\n"
        for (table, columns) in tables {
            script += "SELECT '\(Self.sectionMark)';\nSHOW CREATE TABLE \(Self.identifier(table));\n\(Self.rowQuery(table, columns));\n"
        }
        // Every output line but the marks is a SHOW CREATE line (name, tab, statement) or a row (a quoted value or
        // NULL first), so a line equal to the mark is one.
        var sections: [[Substring]] = [[]]
        for line in try sql(script, database: database).split(separator: "\n") {
            if line == Self.sectionMark { sections.append([]) } else { sections[sections.count - 1].append(line) }
        }
        guard sections.count == tables.count + 1 else { throw Failure("unexpected snapshot output for \(database)") }
        var text = sections[0].map { Self.unescape(String($0)) + "\n" }.joined()
        for ((table, _), section) in zip(tables, sections.dropFirst()) {
            text += "\n" + Self.unescape(String(section.first ?? "")) + "\n" + Self.rowText(table, section.dropFirst())
        }
        return text
    }

    /// The rows of one table, one line each, every value through QUOTE() (so NULL and the string 'NULL' differ)
    /// in column order, ordered by every column: the row part of `snapshot`.
    func rows(of table: String, database: String = "fate_flow") throws -> String {
        guard let columns = try columns(database: database).first(where: { $0.table == table })?.columns else {
            throw Failure("no table \(database).\(table)")
        }
        return Self.rowText(table, try sql(Self.rowQuery(table, columns), database: database).split(separator: "\n")[...])
    }

    private static let sectionMark = "#snapshot-section#"

    /// The tables of a database, sorted by name, each with its column names in order.
    private func columns(database: String) throws -> [(table: String, columns: [String])] {
        let rows = try sql("""
            SELECT HEX(TABLE_NAME), HEX(COLUMN_NAME) FROM information_schema.COLUMNS
            WHERE TABLE_SCHEMA = \(Self.sqlString(database)) ORDER BY TABLE_NAME, ORDINAL_POSITION
            """)
        var byTable: [String: [String]] = [:]
        for row in rows.split(separator: "\n") {
            let fields = row.split(separator: "\t")
            guard fields.count == 2 else { continue }
            byTable[Self.fromHex(fields[0]), default: []].append(Self.fromHex(fields[1]))
        }
        return byTable.keys.sorted().map { ($0, byTable[$0]!) }
    }

    private static func rowQuery(_ table: String, _ columns: [String]) -> String {
        "SELECT \(columns.map { "QUOTE(\(identifier($0)))" }.joined(separator: ", ")) FROM \(identifier(table))"
    }

    /// Sorted here, byte by byte, rather than by ORDER BY: the server sorts long text by a prefix only, and a sort
    /// key as long as the values runs out of sort memory.
    private static func rowText(_ table: String, _ lines: ArraySlice<Substring>) -> String {
        let sorted = lines.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
        return "-- \(table): \(sorted.count) row\(sorted.count == 1 ? "" : "s")\n" + sorted.map { $0 + "\n" }.joined()
    }

    /// Table names in a database, sorted.
    func tables(database: String = "fate_flow") throws -> [String] {
        try sql("SELECT HEX(TABLE_NAME) FROM information_schema.TABLES WHERE TABLE_SCHEMA = \(Self.sqlString(database))")
            .split(separator: "\n").map { Self.fromHex($0) }.sorted()
    }

    // MARK: quoting

    /// A SQL string literal (the default sql_mode, where backslash escapes).
    static func sqlString(_ text: String) -> String {
        var out = "'"
        for character in text.unicodeScalars {
            switch character {
            case "\\": out += "\\\\"
            case "'": out += "\\'"
            case "\0": out += "\\0"
            default: out.unicodeScalars.append(character)
            }
        }
        return out + "'"
    }

    /// A quoted SQL identifier.
    static func identifier(_ name: String) -> String {
        "`" + name.replacingOccurrences(of: "`", with: "``") + "`"
    }

    /// An option file value: double-quoted, with the escapes the option file reader undoes, so `#`, quotes and
    /// spaces survive.
    static func optionValue(_ text: String) -> String {
        var out = "\""
        for character in text.unicodeScalars {
            switch character {
            case "\\": out += "\\\\"
            case "\"": out += "\\\""
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            default: out.unicodeScalars.append(character)
            }
        }
        return out + "\""
    }

    /// Undoes batch mode's escaping (\n, \t, \\, \0) for text meant to be read, such as SHOW CREATE TABLE.
    private static func unescape(_ text: String) -> String {
        var out = ""
        var escaped = false
        for character in text {
            if escaped {
                switch character {
                case "n": out.append("\n")
                case "t": out.append("\t")
                case "0": out.append("\0")
                default: out.append(character)
                }
                escaped = false
            } else if character == "\\" {
                escaped = true
            } else {
                out.append(character)
            }
        }
        return out
    }

    private static func fromHex(_ hex: Substring) -> String {
        var bytes: [UInt8] = []
        var index = hex.startIndex
        while let next = hex.index(index, offsetBy: 2, limitedBy: hex.endIndex), next > index {
            bytes.append(UInt8(hex[index..<next], radix: 16) ?? 0)
            index = next
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}

/// The fate_flow database of a FATE 1.4.0 host, shaped after the peewee models of that release
/// (fate_flow/db/db_models.py): what the upgrade SQL of Tests/Fixtures/sql/ changes.
enum FateFlow140 {
    /// The five tables, as Tests/Fixtures/fate_flow-1.4.0.sql holds them (the cluster tests load it too).
    static let schema: String = {
        guard let text = try? String(contentsOf: Support.fixtures.appendingPathComponent("fate_flow-1.4.0.sql"), encoding: .utf8) else {
            fatalError("Tests/Fixtures/fate_flow-1.4.0.sql is missing")
        }
        return text
    }()

    /// A DSL of some hundred components (about 50 KB): longer than a TEXT column, a sort key's default
    /// length and a pipe buffer.
    static let longDSL: String = {
        let components = (0..<400).map { index in
            #""dataio_\#(index)": {"module": "DataIO", "input": {"data": {"data": ["args.train_data"]}}, "output": {"data": ["train"], "model": ["dataio"]}}"#
        }
        return #"{"components": {"# + components.joined(separator: ", ") + "}}"
    }()

    static let runtimeConf = """
        {"initiator": {"role": "guest", "party_id": 9999}, "job_parameters": {"work_mode": 1},
         "role": {"guest": [9999], "host": [10000], "arbiter": [10000]},
         "role_parameters": {"guest": {"args": {"data": {"train_data": [{"name": "breast_b", "namespace": "experiment"}]}}}},
         "note": "quotes ' \\" and a backslash \\\\ and a tab \t kept"}
        """

    static let rows: String = {
        let q = MariaDB.sqlString
        let roles = #"{"guest": [9999], "host": [10000], "arbiter": [10000]}"#
        let job = "2020090112000012345678", other = "2020090213300098765432"
        return """
            INSERT INTO t_queue VALUES
              (\(q(job)), \(q(#"{"job_id": "\#(job)", "initiator_role": "guest", "initiator_party_id": 9999}"#)), 0),
              (\(q(other)), \(q(#"{"job_id": "\#(other)", "initiator_role": "guest", "initiator_party_id": 9999}"#)), 1);
            INSERT INTO t_job VALUES
              (\(q(job)), 'hetero_lr_训练', \(q("纵向逻辑回归 — 第一次训练 ✓ 🚀\nsecond line")), 'exp-α', 'guest', '9999', \(q(roles)), 1,
               '9999', 1, \(q(longDSL)), \(q(runtimeConf)), NULL, '192.168.0.1:9380', 'success', '["dataio_0","hetero_lr_0"]',
               '["\(job)_dataio_0"]', 100, 1598961600000, 1598962200000, 1598961601000, 1598962200000, 599000),
              (\(q(job)), 'hetero_lr_训练', NULL, NULL, 'host', '10000', \(q(roles)), 1,
               '9999', 0, \(q(longDSL)), \(q(runtimeConf)), NULL, '192.168.0.2:9380', 'success', NULL,
               NULL, 100, 1598961600500, NULL, NULL, NULL, NULL),
              (\(q(other)), NULL, '', '', 'arbiter', '10000', \(q(roles)), 1,
               '9999', -1, '{}', '{}', \(q(runtimeConf)), '192.168.0.2:9380', 'running', NULL,
               NULL, 0, 1599053400000, NULL, 1599053401000, NULL, NULL);
            INSERT INTO t_task VALUES
              (\(q(job)), 'dataio_0', '\(job)_dataio_0', 'guest', '9999', NULL, '192.168.0.1', 4242, 'success',
               1598961601000, 1598961700000, 1598961602000, 1598961700000, 98000),
              (\(q(job)), 'hetero_lr_0', '\(job)_hetero_lr_0', 'guest', '9999', NULL, '192.168.0.1', 4243, 'success',
               1598961700000, 1598962200000, 1598961701000, 1598962199000, 498000),
              (\(q(job)), 'hetero_lr_0', '\(job)_hetero_lr_0', 'host', '10000', 'NULL', NULL, NULL, 'success',
               1598961700500, NULL, NULL, NULL, NULL),
              (\(q(other)), 'dataio_0', '\(other)_dataio_0', 'arbiter', '10000', NULL, NULL, NULL, 'waiting',
               1599053401000, NULL, NULL, NULL, NULL);
            INSERT INTO t_data_view VALUES
              (\(q(job)), 'guest', '9999', 'breast_b', 'experiment', 'dataio_0', 1598961602000, 1598961700000,
               569, 569, 16, '\(job)_dataio_0', 'data', 0, 'guest#9999#arbiter-10000#guest-9999#host-10000#model',
               '\(job)', 43210, \(q("训练数据 «breast» \\ 'b'")), 'exp-α'),
              (\(q(job)), 'host', '10000', NULL, NULL, 'hetero_lr_0', 1598961700500, NULL,
               NULL, NULL, NULL, '\(job)_hetero_lr_0', NULL, 0, NULL, NULL, 0, NULL, NULL);
            INSERT INTO t_machine_learning_model_meta VALUES
              (1, 'guest', '9999', \(q(roles)), \(q(job)), 'arbiter-10000#guest-9999#host-10000#model', '\(job)',
               1048576, 1598962200000, 1598962200000, \(q("模型 · model v1")), 'exp-α'),
              (2, 'host', '10000', \(q(roles)), \(q(job)), 'arbiter-10000#guest-9999#host-10000#model', '\(job)',
               0, 1598962200500, 0, NULL, NULL);

            """
    }()
}

/// A sandbox FATE host in a temporary folder: FATE_ROOT with python/ shaped as a FATE 1.4.0 host has it, a working
/// fate_flow service, and the MySQL paths FATE uses pointing at a real MariaDB.
struct FateSandbox {
    enum Deploy: String { case allinone, ansible }
    let folder: URL
    let deploy: Deploy
    var fateRoot: URL { folder.appendingPathComponent("fate") }                 // FATE_ROOT
    var supervisorRoot: URL { folder.appendingPathComponent("supervisord") }     // SUPERVISOR_ROOT (ansible)
    var mysqlRoot: URL { fateRoot.appendingPathComponent("common/mysql/mysql-8.0.13") }
    var home: URL { folder.appendingPathComponent("home") }                      // use as HOME for the tool

    /// The command-line word that names this sandbox's fate_flow server (both service scripts start it so).
    var serverModule: String { fateRoot.appendingPathComponent("python/fate_flow/fate_flow_server.py").path }

    /// Builds the sandbox: FATE_ROOT/python as a FATE 1.4.0 tree, FATE_ROOT/common/mysql/mysql-8.0.13 with bin/mysql
    /// linked to the real client and run/mysql.sock to `mysql`'s socket, SUPERVISOR_ROOT with its service.sh (ansible),
    /// and an empty home/. Starts fate_flow (the right way for the deploy method) before returning.
    static func make(deploy: Deploy, mysql: MariaDB, cluster: Bool = false) throws -> FateSandbox {
        // /tmp/fate-sb-XXXXXX keeps FATE_ROOT/common/mysql/mysql-8.0.13/run/mysql.sock far below the socket path limit.
        let sandbox = FateSandbox(folder: try Support.shortTemporaryFolder("fate-sb"), deploy: deploy)
        do {
            try sandbox.build(mysql: mysql, cluster: cluster)
            try sandbox.startFateFlow()
        } catch {
            sandbox.remove()
            throw error
        }
        return sandbox
    }

    /// What a cluster's fateflow host changed from FATE 1.4.0's files (FATE's cluster install guide:
    /// work_mode 1, the site's database, the federation's proxy; tunables raised).
    static let clusterEdits: [SiteFile: [(String, String)]] = [
        .baseConf: [("work_mode: 0", "work_mode: 1"),
                    ("  user: fate_dev\n  passwd: fate_dev\n  host: 127.0.0.1\n  port: 3306\n  max_connections: 100",
                     "  user: fate\n  passwd: 'S1te db#pass'\n  host: localhost\n  port: @MYSQL_PORT@\n  max_connections: 100")],
        .serverConf: [("\"proxy\": {\n\t\t\t\"host\": \"localhost\"", "\"proxy\": {\n\t\t\t\"host\": \"192.168.0.10\"")],
        .settings: [("MAX_CONCURRENT_JOB_RUN = 5\n", "MAX_CONCURRENT_JOB_RUN = 20\n"), ("USE_AUTHENTICATION = False", "USE_AUTHENTICATION = True")],
    ]

    private func build(mysql: MariaDB, cluster: Bool) throws {
        let manager = FileManager.default
        let python = fateRoot.appendingPathComponent("python")
        func write(_ relative: String, _ text: String, mode: Int = 0o644) throws {
            let url = python.appendingPathComponent(relative)
            try manager.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try Data(text.utf8).write(to: url)
            try manager.setAttributes([.posixPermissions: mode], ofItemAtPath: url.path)
        }
        func fixture(_ relative: String) throws -> String {
            try String(contentsOf: Support.fixtures.appendingPathComponent(relative), encoding: .utf8)
        }

        try write("fate_flow/__init__.py", Self.licenseHeader)
        // FATE 1.4.0's own settings files, as a site starts from them.
        func release(_ file: SiteFile) throws -> String {
            var text = try fixture("fate-release/v1.4.0/\(file.rawValue)")
            for (old, new) in cluster ? FateSandbox.clusterEdits[file] ?? [] : [] {
                guard text.contains(old) else { throw Failure("\(old) is not in FATE 1.4.0's \(file.rawValue)") }
                text = text.replacingOccurrences(of: old, with: new.replacingOccurrences(of: "@MYSQL_PORT@", with: "\(mysql.port)"))
            }
            return text
        }
        try write("fate_flow/settings.py", try release(.settings))
        try write("fate_flow/utils/__init__.py", "")
        try write("fate_flow/utils/setting_utils.py", try release(.settingUtils))
        // What the stand-in server registers in ZooKeeper with, where FATE keeps ServiceUtils.
        try write("fate_flow/utils/service_utils.py", try fixture("fate_flow_register.py"))
        // Its own ports: sandboxes run side by side, the stand-in binds them as fate_flow does, and
        // FATE's service.sh looks for them with lsof (as a site that moves them must edit it to).
        let http = try Support.freePort(), grpc = try Support.freePort()
        try write("fate_flow/service.sh", Self.serviceScript(try fixture("fate_flow_service.sh"), http: http, grpc: grpc), mode: 0o755)
        try write("fate_flow/fate_flow_server.py", try fixture("fate_flow_server.py"))
        try write("arch/__init__.py", "")
        try write("arch/conf/base_conf.yaml", try release(.baseConf)
            .replacingOccurrences(of: "http_port: 9380", with: "http_port: \(http)")
            .replacingOccurrences(of: "grpc_port: 9360", with: "grpc_port: \(grpc)"))
        try write("arch/conf/server_conf.json", try release(.serverConf))
        // The site's runtime data, inside python/ as FATE 1.4 keeps it: a trained model, a job's folder.
        try write("model_local_cache/guest#9999#arbiter-10000#guest-9999#host-10000#model/202012031015/pipeline.pb",
                  String(repeating: "模型 pipeline 参数\u{1}\u{7f}\n", count: 64))
        try write("jobs/2020120310150012345/guest/9999/job_runtime_conf.json", "{\"initiator\": {\"role\": \"guest\", \"party_id\": 9999}}\n")
        try write("federatedml/__init__.py", Self.licenseHeader)
        try write("federatedml/util/consts.py", Self.licenseHeader + "GUEST = 'guest'\nHOST = 'host'\nARBITER = 'arbiter'\n")
        try write("examples/说明 示例.md", "# 示例\n\n在 `python/examples` 下运行 toy example。\n")
        try manager.setAttributes([.posixPermissions: 0o600], ofItemAtPath: python.appendingPathComponent("arch/conf/server_conf.json").path)

        // FATE_ROOT/common/python/venv, whose bin/activate service.sh sources and whose python runs fate_flow.
        let venv = fateRoot.appendingPathComponent("common/python/venv")
        try manager.createDirectory(at: venv.appendingPathComponent("bin"), withIntermediateDirectories: true)
        // The system's python3, which FATE's deploy user can run too (not one under root's home).
        let system = "/usr/bin/python3"
        guard let python3 = FileManager.default.isExecutableFile(atPath: system) ? system : Support.which("python3") else {
            throw Failure("python3 is not installed")
        }
        try manager.createSymbolicLink(atPath: venv.appendingPathComponent("bin/python").path, withDestinationPath: python3)
        try Data("""
            # This file must be used with "source bin/activate" *from bash*
            VIRTUAL_ENV="\(venv.path)"
            export VIRTUAL_ENV
            PATH="$VIRTUAL_ENV/bin:$PATH"
            export PATH

            """.utf8).write(to: venv.appendingPathComponent("bin/activate"))

        let bin = mysqlRoot.appendingPathComponent("bin"), run = mysqlRoot.appendingPathComponent("run")
        try manager.createDirectory(at: bin, withIntermediateDirectories: true)
        try manager.createDirectory(at: run, withIntermediateDirectories: true)
        guard let client = MariaDB.client else { throw Failure("the mariadb client is not installed") }
        try manager.createSymbolicLink(atPath: bin.appendingPathComponent("mysql").path, withDestinationPath: client)
        // FATE's MySQL tarball ships mysqldump beside mysql.
        guard let dump = MariaDB.dumpClient else { throw Failure("mysqldump is not installed") }
        try manager.createSymbolicLink(atPath: bin.appendingPathComponent("mysqldump").path, withDestinationPath: dump)
        try manager.createSymbolicLink(atPath: run.appendingPathComponent("mysql.sock").path, withDestinationPath: mysql.socket)

        if deploy == .ansible {
            let programs = supervisorRoot.appendingPathComponent("supervisord.d")
            try manager.createDirectory(at: programs, withIntermediateDirectories: true)
            let script = supervisorRoot.appendingPathComponent("service.sh")
            try Data(try fixture("supervisor_service.sh").utf8).write(to: script)
            try manager.setAttributes([.posixPermissions: 0o755], ofItemAtPath: script.path)
            try Data("""
                [program:fate-fateflow]
                directory=\(python.path)/fate_flow
                command=\(venv.path)/bin/python fate_flow_server.py
                autostart=true
                autorestart=true

                """.utf8).write(to: programs.appendingPathComponent("fate-fateflow.conf"))
        }
        try manager.createDirectory(at: home, withIntermediateDirectories: true)
    }

    /// The HTTP and gRPC ports its fate_flow was given (read from base_conf.yaml, so before an upgrade).
    func ports() throws -> (http: Int, grpc: Int) {
        let conf = try String(contentsOf: fateRoot.appendingPathComponent("python/arch/conf/base_conf.yaml"), encoding: .utf8)
        func port(_ key: String) throws -> Int {
            guard let text = conf.components(separatedBy: "\(key): ").dropFirst().first?.prefix(while: \.isNumber), let port = Int(text) else {
                throw Failure("no \(key) in the sandbox's base_conf.yaml")
            }
            return port
        }
        return (try port("http_port"), try port("grpc_port"))
    }

    /// This host's service script and the arguments after the action (the program name, for supervisord's).
    var serviceCommand: (script: String, trailing: [String]) {
        switch deploy {
        case .allinone: (fateRoot.appendingPathComponent("python/fate_flow/service.sh").path, [])
        case .ansible: (supervisorRoot.appendingPathComponent("service.sh").path, ["fate-fateflow"])
        }
    }

    /// Starts, stops or asks after fate_flow on this host as an operator does, from a shell that closes
    /// nothing (`Support.runFromAShell`).
    func service(_ action: String, shell: String = "bash") throws -> Run {
        try Support.runFromAShell(shell, [serviceCommand.script, action] + serviceCommand.trailing)
    }

    private func startFateFlow() throws {
        let run = try service("start")
        // Up once it answers HTTP: it logs in to its database and writes its stat log before it
        // serves, which takes a while on a loaded machine.
        let http = try ports().http
        guard run.status == 0, isFateFlowRunning(), Support.waitUntil(seconds: 60, { HostFacts.answersHTTP(host: "127.0.0.1", port: http) }) else {
            throw Failure("fate_flow did not start (\(run.status)):\n\(run.output)\n\(fateFlowErrors())")
        }
    }

    /// What the stand-in fate_flow wrote to its error logs (a port it could not bind, a traceback), for failure messages.
    func fateFlowErrors() -> String {
        let logs = [fateRoot.appendingPathComponent("python/logs/error.log"),
                    supervisorRoot.appendingPathComponent("logs/fate-fateflow.err")]
        return logs.compactMap { try? String(contentsOf: $0, encoding: .utf8) }.joined(separator: "\n")
    }

    /// Whether this sandbox's fate_flow server runs: a live process (not a zombie) whose command line names it.
    func isFateFlowRunning() -> Bool {
        !runningPids().isEmpty
    }

    /// Live processes whose command line has `word` as one of its arguments (read as the tool reads them,
    /// across the moment of an exec).
    static func processes(withArgument word: String) -> [pid_t] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return names.compactMap { name -> pid_t? in
            guard let pid = pid_t(name), HostFacts.arguments(of: pid)?.contains(word) == true, HostFacts.isAlive(pid) else { return nil }
            return pid
        }
    }

    /// This sandbox's fate_flow servers, from any of its trees (as the tool surveys them).
    func runningPids() -> [pid_t] {
        let root = HostFacts.realPath(fateRoot.path) ?? fateRoot.path
        return HostFacts.fateFlowServers().filter { $0.belongs(to: root) }.map(\.pid)
    }


    /// Every file, folder and link under `relative` (e.g. "python"), keyed by path relative to it ("." for itself),
    /// with its type, mode, owner, size, sha256 of contents or link target — so two snapshots are equal exactly when
    /// the trees are (times are left out: they differ between a tree and its copy). What is under logs/ is left to
    /// `logs` and `logsNotGrownFrom`: fate_flow writes there whenever it runs.
    func treeSnapshot(_ relative: String = "python") throws -> [String: String] {
        var entries: [String: String] = [:]
        func visit(_ url: URL, _ key: String) throws {
            // fate_flow writes under logs/ whenever it runs (a start, a rollback's start, at any time
            // after): what is there is compared by `logsNotGrownFrom`, which checks nothing was lost.
            if key.hasPrefix("logs/") { return }
            var info = stat()
            guard lstat(url.path, &info) == 0 else {
                throw Failure("\(url.path): \(String(cString: strerror(errno)))")
            }
            let mode = String(info.st_mode & 0o7777, radix: 8), owner = "\(info.st_uid):\(info.st_gid)"
            switch info.st_mode & S_IFMT {
            case S_IFDIR:
                entries[key] = "dir \(mode) \(owner)"
                for name in try FileManager.default.contentsOfDirectory(atPath: url.path) {
                    try visit(url.appendingPathComponent(name), key == "." ? name : "\(key)/\(name)")
                }
            case S_IFREG:
                let data = try Data(contentsOf: url)
                entries[key] = "file \(mode) \(owner) \(data.count) \(SHA256.hex(data))"
            case S_IFLNK:
                entries[key] = "link \(owner) -> \(try FileManager.default.destinationOfSymbolicLink(atPath: url.path))"
            default:
                entries[key] = "other \(String(info.st_mode, radix: 8)) \(owner)"
            }
        }
        try visit(fateRoot.appendingPathComponent(relative), ".")
        return entries
    }

    /// The contents of every file under python/logs, to compare with `logsGrewFrom` later.
    func logs(_ relative: String = "python/logs") throws -> [String: Data] {
        let root = fateRoot.appendingPathComponent(relative)
        var out: [String: Data] = [:]
        for name in FileManager.default.subpaths(atPath: root.path) ?? [] {
            let url = root.appendingPathComponent(name)
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory), !isDirectory.boolValue {
                out[name] = try Data(contentsOf: url)
            }
        }
        return out
    }

    /// The log files that lost or changed what they held (each must still begin with its earlier bytes).
    func logsNotGrownFrom(_ earlier: [String: Data], _ relative: String = "python/logs") throws -> [String] {
        let now = try logs(relative)
        return earlier.keys.sorted().filter { name in !(now[name].map { $0.starts(with: earlier[name]!) } ?? false) }
    }

    /// Kills any fate_flow process it started and removes the folder.
    func remove() {
        let pids = runningPids()
        for pid in pids { kill(pid, SIGTERM) }
        let deadline = Date().addingTimeInterval(5)
        while pids.contains(where: HostFacts.isAlive) && Date() < deadline { usleep(10_000) }
        for pid in pids where HostFacts.isAlive(pid) { kill(pid, SIGKILL) }
        try? FileManager.default.removeItem(at: folder)
    }

    // MARK: contents of the 1.4.0 tree

    static let licenseHeader = """
        #
        #  Copyright 2019 The FATE Authors. All Rights Reserved.
        #
        #  Licensed under the Apache License, Version 2.0 (the "License");
        #  you may not use this file except in compliance with the License.
        #

        """

    /// FATE's service.sh with this sandbox's ports where FATE's are hard-coded (`lsof -i:9380`, `-i:9360`).
    static func serviceScript(_ text: String, http: Int, grpc: Int) -> String {
        text.replacingOccurrences(of: "-i:9380", with: "-i:\(http)").replacingOccurrences(of: "-i:9360", with: "-i:\(grpc)")
    }
}

extension SHA256 {
    /// For tree snapshots; the implementation is the tool's own, checked against sha256sum in SHA256Tests.
    static func hex(_ data: Data) -> String { hex([UInt8](data)) }
}
