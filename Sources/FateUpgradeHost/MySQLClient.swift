import FateUpgradeCore
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Glibc

/// The mysql client FATE ships (MYSQL_ROOT/bin/mysql), talking through the socket.
/// The password reaches it only through a 0600 option file in a private folder, removed right
/// after (also when a signal ends the run): never on a command line, where `ps` shows it, nor
/// in its environment.
public struct MySQLClient: Sendable {
    public var binary: String
    public var socket: String
    public var user: String
    public var password: Secret
    public var timeout: Duration
    /// TCP instead of the socket: the address fate_flow itself connects to (base_conf.yaml's database).
    public var server: (host: String, port: Int)?

    public init(binary: String, socket: String, user: String, password: Secret, timeout: Duration = .seconds(600)) {
        self.binary = binary
        self.socket = socket
        self.user = user
        self.password = password
        self.timeout = timeout
    }

    public init(_ parameters: ScriptParameters) {
        self.init(binary: parameters.mysqlClient, socket: parameters.mysqlSocketPath, user: parameters.dbUser,
                  password: parameters.dbPass)
    }

    /// Runs `body` with the path of a 0600 option file holding the account, in a private folder
    /// that is removed right after (also when a signal ends the run).
    func withOptionFile<T>(_ body: (String) throws(HostError) -> T) throws(HostError) -> T {
        let folder = try SecretTemporaries.make("mysql")
        let options = "\(folder)/client.cnf"
        let pending = Signals.PendingFile(path: options)
        defer {
            unlink(options)
            pending.forget()
            rmdir(folder)
        }
        let address = server.map { "host=\(Self.optionValue($0.host))\nport=\($0.port)\nprotocol=TCP\nconnect-timeout=5\n" } ?? "socket=\(Self.optionValue(socket))\n"
        let text = "[client]\nuser=\(Self.optionValue(user))\npassword=\(Self.optionValue(password.revealed))\n" + address
        let descriptor = open(options, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard descriptor >= 0 else { throw HostError("cannot write the mysql option file in \(folder): \(Errno.text())") }
        do {
            try FileDescriptorWriter.writeAll(Array(text.utf8), to: descriptor, path: options)
            close(descriptor)
        } catch {
            close(descriptor)
            throw HostError("cannot write the mysql option file: \(error.reason)")
        }
        return try body(options)
    }

    var shown: String { "mysql as \(user) " + (server.map { "at \($0.host):\($0.port)" } ?? "through \(socket)") }

    /// Runs SQL; returns the rows, tab-separated, without column names.
    @discardableResult
    public func run(_ sql: String, database: String? = nil) throws(HostError) -> String {
        try run(input: .bytes(Array(sql.utf8)), database: database, timeout: timeout)
    }

    /// A statement that changes the database as one step of a plan (RENAME, DROP): a signal we
    /// receive meanwhile waits for it to end, so that no step is cut; the run stops after it.
    @discardableResult
    public func runStep(_ sql: String, database: String? = nil) throws(HostError) -> String {
        try run(input: .bytes(Array(sql.utf8)), database: database, timeout: timeout, shielded: true)
    }

    /// Runs the SQL a file or descriptor holds (a dump being restored).
    @discardableResult
    /// - Parameter commandsOff: with the client's own commands (`\!`, `source`…) switched off where
    /// it has the switch (MariaDB's `--sandbox`, MySQL's `--commands=OFF`): for input from a file.
    func run(input: ChildInput, database: String?, timeout: Duration, commandsOff: Bool = false, shielded: Bool = false) throws(HostError) -> String {
        let switchOff = commandsOff ? MySQLClient.commandSwitch(binary) : nil
        let result = try withOptionFile { (options) throws(HostError) -> ChildResult in
            var arguments = ["--defaults-extra-file=\(options)", "--batch", "--skip-column-names"] + (switchOff.map { [$0] } ?? [])
            if let database { arguments.append(database) }
            var command = Command(binary, arguments)
            command.shielded = shielded && Signals.isDeferring
            return try ChildProcess.run(command, input: input, timeout: timeout, heartbeat: .init(what: "the database (\(shown))"))
        }
        if result.timedOut { throw HostError("\(shown): no answer within \(timeout); stopped it") }
        if let signal = result.interruptedBy { throw HostError("\(shown): stopped by \(Signals.name(signal))") }
        guard result.termination.succeeded else {
            // The client frames a failed statement with dashes before its ERROR line: the ERROR line says why.
            let lines = result.stderrText.split(separator: "\n").map(String.init)
            let message = lines.first { $0.hasPrefix("ERROR") } ?? lines.last { !$0.allSatisfy { $0 == "-" || $0 == " " } } ?? result.termination.description
            throw HostError("\(shown): \(mask(message))")
        }
        return result.stdoutText
    }

    /// Rows as fields (batch mode: tab-separated).
    public func rows(_ sql: String, database: String? = nil) throws(HostError) -> [[String]] {
        try run(sql, database: database).split(separator: "\n").map { $0.split(separator: "\t", omittingEmptySubsequences: false).map(String.init) }
    }

    /// `table -> column -> column type` for a database, from information_schema.
    public func columns(in database: String) throws(HostError) -> [String: [String: String]] {
        var columns: [String: [String: String]] = [:]
        for row in try rows("SELECT table_name, column_name, column_type FROM information_schema.columns WHERE table_schema = \(Self.sqlString(database));")
        where row.count == 3 {
            columns[row[0], default: [:]][row[1]] = row[2]
        }
        return columns
    }

    /// Bytes each table takes (data and indexes), from information_schema.
    public func tableSizes(in database: String) throws(HostError) -> [String: (data: Int64, index: Int64)] {
        var sizes: [String: (data: Int64, index: Int64)] = [:]
        for row in try rows("SELECT table_name, IFNULL(data_length, 0), IFNULL(index_length, 0) FROM information_schema.tables WHERE table_schema = \(Self.sqlString(database));")
        where row.count == 3 {
            sizes[row[0]] = (Int64(row[1]) ?? 0, Int64(row[2]) ?? 0)
        }
        return sizes
    }

    /// Exact row counts, one query for all the tables.
    public func rowCounts(_ tables: [String], in database: String) throws(HostError) -> [String: Int] {
        guard !tables.isEmpty else { return [:] }
        let query = tables.sorted().map { "SELECT \(Self.sqlString($0)), COUNT(*) FROM \(Self.identifier(database)).\(Self.identifier($0))" }
            .joined(separator: " UNION ALL ") + ";"
        var counts: [String: Int] = [:]
        for row in try rows(query) where row.count == 2 { counts[row[0]] = Int(row[1]) }
        return counts
    }

    private func mask(_ text: String) -> String {
        SecretMask(password.revealed).apply(text)
    }

    public func tables(in database: String) throws(HostError) -> Set<String> {
        let rows = try run("SELECT table_name FROM information_schema.tables WHERE table_schema = \(Self.sqlString(database));")
        return Set(rows.split(separator: "\n").map(String.init))
    }

    /// An option file value: double-quoted with the escapes the option file reader undoes.
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

    /// The switch that turns the client's commands off, as its --help names it; nil without one.
    static func commandSwitch(_ binary: String) -> String? {
        guard let help = try? ChildProcess.run(Command(binary, ["--help"]), timeout: .seconds(20)) else { return nil }
        let text = help.stdoutText
        if text.contains("--sandbox") { return "--sandbox" }
        if text.contains("--commands") { return "--commands=OFF" }
        return nil
    }

    static func identifier(_ name: String) -> String {
        "`" + name.replacing("`", with: "``") + "`"
    }

    static func sqlString(_ text: String) -> String {
        "'" + text.replacing( "\\", with: "\\\\").replacing( "'", with: "\\'") + "'"
    }
}

/// Splits a byte stream into whole lines, so that masking and judging see each line whole.
public struct LineSplitter: Sendable {
    private var pending: [UInt8] = []
    public init() {}

    public mutating func feed(_ chunk: ArraySlice<UInt8>) -> [[UInt8]] {
        pending += chunk
        var lines: [[UInt8]] = []
        while let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
            lines.append(Array(pending[...newline]))
            pending.removeSubrange(...newline)
        }
        // A line longer than 1 MiB is passed on in parts rather than kept.
        if pending.count > 1 << 20 {
            lines.append(pending)
            pending = []
        }
        return lines
    }

    /// The last line when it had no newline, with one added.
    public mutating func finish() -> [UInt8]? {
        guard !pending.isEmpty else { return nil }
        defer { pending = [] }
        return pending + [UInt8(ascii: "\n")]
    }
}

/// The program that runs a script: the one its `#!` line names (bash for FATE's), or `sh`
/// as the guide does when there is none or it is missing on this host.
public struct ScriptInterpreter: Sendable {
    public var path: String
    public var arguments: [String]
    /// Why sh is used instead of what the script asks for, if it is.
    public var fallback: String?

    public var shown: String { ([path] + arguments).joined(separator: " ") }

    public static func choose(forScript bytes: [UInt8], searchPath: String? = ProcessInfo.processInfo.environment["PATH"]) -> ScriptInterpreter {
        let sh = "/bin/sh"
        guard let shebang = Shebang(script: bytes) else {
            return ScriptInterpreter(path: sh, arguments: [], fallback: nil)
        }
        if let found = Command.locate(shebang.interpreter, path: searchPath) {
            return ScriptInterpreter(path: found, arguments: shebang.argument.map { [$0] } ?? [], fallback: nil)
        }
        return ScriptInterpreter(path: sh, arguments: [],
                                 fallback: "the script asks for \(shebang.description), which this host lacks; running it with sh as the guide does")
    }

    public static func choose(forScriptAt path: String) -> ScriptInterpreter {
        let head = (try? FileSystem.read(path, limit: 1 << 24)).map { Array($0.prefix(256)) } ?? []
        return choose(forScript: head)
    }
}
