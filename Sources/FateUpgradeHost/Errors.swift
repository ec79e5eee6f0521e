import FateUpgradeArchive
import FateUpgradeCore
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Glibc

/// An error an operator reads: one line or more, each printed as `fate-upgrade: <line>`.
/// Everything the tool throws conforms, so no raw Foundation error text reaches a terminal.
public protocol OperatorError: Error {
    var lines: [String] { get }
    /// The exit status it ends the run with.
    var exitStatus: Int32 { get }
    /// What kind of failure, as `--json` names it (docs/json.md): one word in snake_case.
    var reportCode: String { get }
}

extension OperatorError {
    public var exitStatus: Int32 { 1 }
    public var reportCode: String { "failed" }
}

/// Why something on the host could not be done; one line naming what.
public struct HostError: OperatorError, CustomStringConvertible {
    public var reportCode: String { "host" }
    public var description: String
    public init(_ description: String) { self.description = description }
    public var lines: [String] { [description] }
}

/// The run stopped because we received a signal; the journal says where.
public struct Interrupted: OperatorError {
    public var signal: Int32
    public var detail: String
    public init(signal: Int32, detail: String) {
        self.signal = signal
        self.detail = detail
    }
    public var lines: [String] { ["stopped by \(Signals.name(signal)): \(detail)"] }
    public var exitStatus: Int32 { 128 + signal }
    public var reportCode: String { "interrupted" }
}

/// Every preflight failure, one line each.
public struct PreflightFailure: OperatorError, CustomStringConvertible {
    public var problems: [String]
    /// What was asked for, for the --json report.
    public var component: String
    public var role: String
    public init(problems: [String], component: String = "", role: String = "") {
        self.problems = problems
        self.component = component
        self.role = role
    }
    public var lines: [String] { problems.map { "preflight: \($0)" } }
    public var description: String { lines.joined(separator: "\n") }
    public var reportCode: String { "refused" }
}

extension PackageError: OperatorError {
    public var lines: [String] { [description] }
    public var reportCode: String { "bad_package" }
}
extension PackageRefusal: OperatorError {
    public var lines: [String] { problems }
    public var reportCode: String { "refused" }
}
extension InputError: OperatorError {
    public var lines: [String] { [description] }
    public var reportCode: String { "bad_input" }
}
extension ParameterProblems: OperatorError {
    public var lines: [String] { problems.map(\.description) }
    public var reportCode: String { "bad_parameter" }
}

/// errno as text.
public enum Errno {
    public static func text(_ code: Int32 = errno) -> String {
        switch code {
        case ENOSPC: "no space left on the file system (ENOSPC)"
        case EDQUOT: "disk quota exceeded (EDQUOT)"
        default: String(cString: strerror(code))
        }
    }
}

extension Error {
    /// The lines an operator sees for any error: its own for ours, one plain line otherwise
    /// (a file error as "path: reason", never a Foundation error dump).
    public var operatorLines: [String] {
        if let error = self as? OperatorError { return error.lines }
        if let error = self as? CocoaError {
            var reason = "\(error.code)"
            if let posix = error.underlying as? POSIXError { reason = Errno.text(posix.code.rawValue) }
            return [(error.filePath.map { "\($0): " } ?? "") + reason]
        }
        if let error = self as? POSIXError { return [Errno.text(error.code.rawValue)] }
        return ["\(self)"]
    }
}
