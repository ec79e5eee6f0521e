import FateUpgradeCore
import Foundation

/// Why something on the host could not be done; one line naming what.
struct HostError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// Runs a program to completion, collecting its output. Its stdin is a file, not a pipe: a
/// program that exits without reading (mysql refusing a password) cannot SIGPIPE us.
@discardableResult
func runProgram(_ executable: String, _ arguments: [String], inputFile: String? = nil, directory: String? = nil)
    throws -> (status: Int32, output: String, error: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
    let out = Pipe(), err = Pipe()
    process.standardOutput = out
    process.standardError = err
    process.standardInput = inputFile.flatMap { FileHandle(forReadingAtPath: $0) } ?? FileHandle.nullDevice
    do { try process.run() } catch { throw HostError("\(executable): cannot run: \(error.localizedDescription)") }
    // Both pipes are drained concurrently so neither can fill up and stall the child.
    let group = DispatchGroup()
    nonisolated(unsafe) var errorData = Data()
    DispatchQueue.global().async(group: group) { errorData = err.fileHandleForReading.readDataToEndOfFile() }
    let outputData = out.fileHandleForReading.readDataToEndOfFile()
    group.wait()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: outputData, as: UTF8.self), String(decoding: errorData, as: UTF8.self))
}

/// The mysql client FATE ships (MYSQL_ROOT/bin/mysql), talking through the socket.
/// The password reaches it only through a 0600 option file in a private folder, removed
/// right after: never on a command line, where `ps` would show it.
struct MySQLClient {
    var binary: String
    var socket: String
    var user: String
    var password: String

    /// Runs SQL given on stdin; returns the rows, tab-separated, without column names.
    func run(_ sql: String, database: String? = nil) throws -> String {
        var template = Array("\(NSTemporaryDirectory())/fate-upgrade-mysql-XXXXXX".utf8CString)
        guard let folder = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }).map({ String(cString: $0) }) else {
            throw HostError("cannot create a private folder for the mysql option file: \(String(cString: strerror(errno)))")
        }
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let options = "\(folder)/client.cnf"
        let quoted = password.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
        let text = "[client]\nuser=\"\(user.replacingOccurrences(of: "\"", with: "\\\""))\"\npassword=\"\(quoted)\"\nsocket=\"\(socket)\"\n"
        guard FileManager.default.createFile(atPath: options, contents: Data(text.utf8), attributes: [.posixPermissions: 0o600]) else {
            throw HostError("cannot write the mysql option file in \(folder)")
        }
        let input = "\(folder)/input.sql"
        guard FileManager.default.createFile(atPath: input, contents: Data(sql.utf8), attributes: [.posixPermissions: 0o600]) else {
            throw HostError("cannot write the SQL to run in \(folder)")
        }
        var arguments = ["--defaults-extra-file=\(options)", "--batch", "--skip-column-names"]
        if let database { arguments.append(database) }
        let result = try runProgram(binary, arguments, inputFile: input)
        guard result.status == 0 else {
            let message = result.error.split(separator: "\n").first.map(String.init) ?? "exit status \(result.status)"
            throw HostError("mysql as \(user) through \(socket): \(message.replacingOccurrences(of: password, with: "********"))")
        }
        return result.output
    }

    func tables(in database: String) throws -> Set<String> {
        let rows = try run("SELECT table_name FROM information_schema.tables WHERE table_schema = '\(database)';")
        return Set(rows.split(separator: "\n").map(String.init))
    }
}

/// Stops and starts fate_flow the way the deploy method requires (guide §4.1.1, §4.1.4).
struct FateFlowService {
    var deployMethod: String
    var fateRoot: String
    var supervisorRoot: String

    var command: [String] {
        deployMethod == "ansible"
            ? ["\(supervisorRoot)/service.sh", "ACTION", "fate-fateflow"]
            : ["\(fateRoot)/python/fate_flow/service.sh", "ACTION"]
    }

    func describe(_ action: String) -> String {
        "sh " + command.map { $0 == "ACTION" ? action : $0 }.joined(separator: " ")
    }

    func run(_ action: String) throws {
        let arguments = command.map { $0 == "ACTION" ? action : $0 }
        let directory = URL(fileURLWithPath: arguments[0]).deletingLastPathComponent().path
        let result = try runProgram("/bin/sh", arguments, directory: directory)
        print(result.output, terminator: "")
        guard result.status == 0 else {
            throw HostError("\(describe(action)) failed (exit status \(result.status)): \(result.error.split(separator: "\n").first ?? "")")
        }
    }
}

/// Runs the package's own script, streaming its output to the terminal and to a log file,
/// with the database password masked in both.
struct ScriptRunner {
    var script: String
    var component: String
    var logPath: String
    var secrets: [String]

    struct Outcome {
        var status: Int32
        var finished: Bool
        var aborted: String?
        var succeeded: Bool { status == 0 && finished && aborted == nil }
    }

    func run() throws -> Outcome {
        guard FileManager.default.createFile(atPath: logPath, contents: nil, attributes: [.posixPermissions: 0o600]),
              let log = FileHandle(forWritingAtPath: logPath) else {
            throw HostError("\(logPath): cannot create the log file")
        }
        defer { try? log.close() }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = [script, component]
        process.currentDirectoryURL = URL(fileURLWithPath: script).deletingLastPathComponent()
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        process.standardInput = FileHandle.nullDevice
        do { try process.run() } catch { throw HostError("sh \(script): cannot run: \(error.localizedDescription)") }

        var pending = Data()
        var outcome = Outcome(status: 0, finished: false, aborted: nil)
        func emit(_ line: String) {
            var text = line
            for secret in secrets where !secret.isEmpty { text = text.replacingOccurrences(of: secret, with: "********") }
            FileHandle.standardOutput.write(Data(text.utf8))
            log.write(Data(text.utf8))
            if text.contains("Upgrading process finished") { outcome.finished = true }
            if text.contains("ERROR"), text.lowercased().contains("aborting") {
                outcome.aborted = text.trimmingCharacters(in: .whitespacesAndNewlines)
            }
        }
        // Line by line, so a secret split across two reads is still masked.
        while true {
            let chunk = pipe.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            pending.append(chunk)
            while let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
                emit(String(decoding: pending[pending.startIndex...newline], as: UTF8.self))
                pending.removeSubrange(pending.startIndex...newline)
            }
        }
        if !pending.isEmpty { emit(String(decoding: pending, as: UTF8.self) + "\n") }
        process.waitUntilExit()
        outcome.status = process.terminationStatus
        return outcome
    }
}

/// Free bytes on the file system holding `path`.
func freeBytes(at path: String) -> Int64? {
    var info = statvfs()
    guard statvfs(path, &info) == 0 else { return nil }
    return Int64(info.f_bavail) * Int64(info.f_frsize)
}

/// The host's name, for the journal.
func hostName() -> String {
    var buffer = [CChar](repeating: 0, count: 256)
    gethostname(&buffer, buffer.count)
    return buffer.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
}

/// `YYYYmmddHHMMSS` (or another pattern) of now, in local time as FATE's scripts use.
func timestamp(_ format: String = "yyyyMMddHHmmss", _ date: Date = Date()) -> String {
    let formatter = DateFormatter()
    formatter.dateFormat = format
    formatter.locale = Locale(identifier: "en_US_POSIX")
    return formatter.string(from: date)
}
