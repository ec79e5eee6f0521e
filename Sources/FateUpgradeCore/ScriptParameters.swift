/// A value that must never be shown: its description and its JSON form are a mask.
/// The value itself is reached only through `revealed`, so every use is visible in the code.
public struct Secret: Sendable, Hashable, CustomStringConvertible, CustomDebugStringConvertible, Encodable {
    private let value: String

    public init(_ value: String) { self.value = value }

    public var revealed: String { value }
    public var isEmpty: Bool { value.isEmpty }
    public var description: String { ShellParameterBlock.mask }
    public var debugDescription: String { ShellParameterBlock.mask }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(ShellParameterBlock.mask)
    }
}

/// The upgrade script's parameters as the shell evaluates them on this host, typed: the nine
/// of the guide's §2, DB_PASS a `Secret`. A parameter the script does not set, or sets with
/// an expansion the shell alone can evaluate, is empty.
public struct ScriptParameters: Sendable, Encodable {
    public var fateRoot: String
    public var fateFlowRoot: String
    public var pythonPackagePath: String
    public var dbUser: String
    public var dbPass: Secret
    public var mysqlRoot: String
    public var mysqlSocketPath: String
    public var deployMethod: String
    public var supervisorRoot: String

    public enum CodingKeys: String, CodingKey, CaseIterable {
        case fateRoot = "FATE_ROOT", fateFlowRoot = "FATE_FLOW_ROOT", pythonPackagePath = "PYTHON_PACKAGE_PATH"
        case dbUser = "DB_USER", dbPass = "DB_PASS", mysqlRoot = "MYSQL_ROOT", mysqlSocketPath = "MYSQL_SOCKET_PATH"
        case deployMethod = "DEPLOY_METHOD", supervisorRoot = "SUPERVISOR_ROOT"
    }

    public init(values: [String: String]) {
        let value = { (key: CodingKeys) in values[key.rawValue] ?? "" }
        fateRoot = value(.fateRoot)
        fateFlowRoot = value(.fateFlowRoot)
        pythonPackagePath = value(.pythonPackagePath)
        dbUser = value(.dbUser)
        dbPass = Secret(value(.dbPass))
        mysqlRoot = value(.mysqlRoot)
        mysqlSocketPath = value(.mysqlSocketPath)
        deployMethod = value(.deployMethod)
        supervisorRoot = value(.supervisorRoot)
    }

    /// The values by name with DB_PASS masked: what a journal may keep.
    public var masked: [String: String] {
        [CodingKeys.fateRoot.rawValue: fateRoot, CodingKeys.fateFlowRoot.rawValue: fateFlowRoot,
         CodingKeys.pythonPackagePath.rawValue: pythonPackagePath, CodingKeys.dbUser.rawValue: dbUser,
         CodingKeys.dbPass.rawValue: dbPass.description, CodingKeys.mysqlRoot.rawValue: mysqlRoot,
         CodingKeys.mysqlSocketPath.rawValue: mysqlSocketPath, CodingKeys.deployMethod.rawValue: deployMethod,
         CodingKeys.supervisorRoot.rawValue: supervisorRoot]
    }

    public var isAnsible: Bool { deployMethod == "ansible" }
    public var mysqlClient: String { "\(mysqlRoot)/bin/mysql" }
}

/// The interpreter a script's `#!` line names: `#!/bin/bash`, `#!/usr/bin/env bash`, with at
/// most one argument as the kernel allows.
public struct Shebang: Sendable, Hashable {
    /// An absolute path, or for `env` forms the program name to look up on PATH.
    public var interpreter: String
    public var argument: String?
    public var viaEnv: Bool

    public init?(script bytes: [UInt8]) {
        guard bytes.starts(with: Array("#!".utf8)) else { return nil }
        let line = bytes.dropFirst(2).prefix { $0 != UInt8(ascii: "\n") }
        var text = String(decoding: line, as: UTF8.self)
        if text.hasSuffix("\r") { text.removeLast() }
        let words = text.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
        guard let first = words.first else { return nil }
        if first.hasSuffix("/env"), words.count >= 2 {
            interpreter = words[1]
            argument = words.count > 2 ? words[2] : nil
            viaEnv = true
        } else {
            interpreter = first
            argument = words.count > 1 ? words[1...].joined(separator: " ") : nil
            viaEnv = false
        }
    }

    public var description: String { "#!" + (viaEnv ? "/usr/bin/env " : "") + interpreter + (argument.map { " \($0)" } ?? "") }
}

/// How FATE's upgrade scripts say how a run went, judged from the exit status and the lines
/// they print: `ERROR: <what>. Upgrade process aborting.` on failure, and on success
/// `Upgrading process finished` (for `all`) or `INFO: Upgrading <component> process finished.`
public struct ScriptVerdict: Sendable, Hashable {
    public var exitStatus: Int32?
    public var signal: Int32?
    /// The first `ERROR … aborting` line.
    public var aborted: String?
    /// The first `Upgrading … process finished` line.
    public var finished: String?

    public init(exitStatus: Int32?, signal: Int32? = nil, aborted: String? = nil, finished: String? = nil) {
        self.exitStatus = exitStatus
        self.signal = signal
        self.aborted = aborted
        self.finished = finished
    }

    /// Looks at one line of the script's output.
    public mutating func note(line: String) {
        let trimmed = String(line.drop(while: \.isWhitespace).reversed().drop(while: \.isWhitespace).reversed())
        if aborted == nil, Self.isAbortLine(trimmed) { aborted = trimmed }
        if finished == nil, Self.isFinishedLine(trimmed) { finished = trimmed }
    }

    public static func isAbortLine(_ line: String) -> Bool {
        line.contains("ERROR") && line.lowercased().contains("aborting")
    }

    public static func isFinishedLine(_ line: String) -> Bool {
        guard let start = line.firstRange(of: "Upgrading "),
              let end = line[start.upperBound...].firstRange(of: "process finished") else { return false }
        // "Upgrading process finished", or a component's name between the two words.
        let between = line[start.upperBound..<end.lowerBound]
        return between.count <= 40 && !between.contains(".")
    }

    /// Exit status 0 and no abort line. The finished line only confirms.
    public var succeeded: Bool { exitStatus == 0 && signal == nil && aborted == nil }

    /// Why the run counts as failed, in one phrase; nil when it succeeded.
    public var failure: String? {
        if let signal { return "the script was ended by signal \(signal)" }
        if let aborted { return aborted }
        if let exitStatus, exitStatus != 0 { return "exit status \(exitStatus)" }
        return nil
    }

    /// A warning for a run that succeeded without saying so.
    public var warning: String? {
        succeeded && finished == nil ? "the script exited 0 but printed no \"Upgrading … process finished\" line; check its output above" : nil
    }
}

/// /etc/passwd and /etc/group as text: `name:x:number:…` lines. Read directly, since the C
/// library's lookups go through NSS, which a static binary cannot load.
public enum AccountFile {
    /// Name by number (the first line wins, as getpwuid's "files" source does).
    public static func names(_ text: String) -> [UInt32: String] {
        var names: [UInt32: String] = [:]
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            let fields = line.split(separator: ":", maxSplits: 3, omittingEmptySubsequences: false)
            if fields.count >= 3, let number = UInt32(fields[2]), names[number] == nil { names[number] = String(fields[0]) }
        }
        return names
    }

    /// The home folder field of a passwd line for `uid`.
    public static func home(ofUser uid: UInt32, in passwd: String) -> String? {
        for line in passwd.split(separator: "\n") where !line.hasPrefix("#") {
            let fields = line.split(separator: ":", omittingEmptySubsequences: false)
            if fields.count >= 6, UInt32(fields[2]) == uid { return String(fields[5]) }
        }
        return nil
    }
}
