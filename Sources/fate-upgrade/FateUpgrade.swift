import ArgumentParser
import FateUpgradeArchive
import FateUpgradeCore
import FateUpgradeHost
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Glibc

@main
struct FateUpgrade: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fate-upgrade",
        abstract: "Upgrade a FATE cluster from v1.4.0–v1.4.3 to v1.4.4, safely.",
        discussion: """
            On the jump host, `pack` writes upgrade_package_new.tar.gz with your parameters \
            (`inspect` shows what a package holds). On each target, `apply` runs the upgrade and \
            `rollback` undoes it; on the fateflow machine, `confmigrate` carries the ZooKeeper settings over. \
            `status` shows where a host stands, `verify` checks the upgrade, `cleanup` removes what it left.
            """,
        version: "\(versionNumber) (\(BuildInfo.commit.map { "commit \($0)" } ?? "development build"))",
        subcommands: [Pack.self, Inspect.self, Confmigrate.self, Apply.self, Status.self, Verify.self, Rollback.self, Cleanup.self,
                      Extract.self, Snapshot.self]
    )

    static let versionNumber = "0.3.0"

    /// The one error funnel: errors that speak for themselves get their lines, prefixed with the
    /// tool's name, and their exit status (with --json, their report on stdout too); usage
    /// errors keep argument-parser's message and status.
    static func main() {
        NameEncoding.useUTF8()
        Console.shared.useLanguage(MessageCatalog.language(environment: ProcessInfo.processInfo.environment))
        Signals.install()
        // Secret-holding temporaries of runs killed by SIGKILL go first.
        SecretTemporaries.sweep()
        // Commands that change things say otherwise, or defer signals to a point where they can say what was done.
        Signals.farewell("nothing was changed")
        let console = Console.shared
        var command: ParsableCommand
        do { command = try parseAsRoot() } catch {
            // A mistyped command: name the one meant (argument-parser says only "Unexpected argument").
            let names = configuration.subcommands.filter { $0.configuration.shouldDisplay }.map { $0._commandName }
            if let word = CommandLine.arguments.dropFirst().first, !word.hasPrefix("-"), !names.contains(word),
               let meant = Suggestion.closest(to: word, among: names) {
                let line = "unknown command '\(word)' (did you mean \(meant)?); see fate-upgrade --help"
                usageReport(line, status: ExitCode.validationFailure.rawValue)
                console.error(line)
                Glibc.exit(ExitCode.validationFailure.rawValue)
            }
            usageReport(message(for: error), status: exitCode(for: error).rawValue)
            exit(withError: error)
        }
        do {
            if wantsJSON(command) { console.useJSON(true) }
            try command.run()
        } catch let error as OperatorError {
            // With --json there is always an object on stdout: the command's own report, or the error's.
            // (Not for `pack -o -`, whose stdout is the package: it only routes our lines to stderr.)
            if wantsJSON(command) {
                let report: any Encodable & Sendable = (error as? ReportingError)?.report ?? FailureReport(code: error.reportCode, lines: error.lines, exitStatus: error.exitStatus)
                if let data = try? encoder.encode(AnyEncodable(report)) { console.json(data) }
            }
            error.lines.forEach(console.error)
            Glibc.exit(error.exitStatus)
        } catch let error where error is CleanExit || error is ExitCode || error is ValidationError
                    || String(reflecting: type(of: error)).hasPrefix("ArgumentParser.") {
            // Help and usage: `--help` comes back as argument-parser's own (internal) error type.
            // An ExitCode was thrown after the command printed its own report.
            if !(error is ExitCode) { usageReport(message(for: error), status: exitCode(for: error).rawValue) }
            exit(withError: error)
        } catch {
            if wantsJSON(command), let data = try? encoder.encode(FailureReport(code: "failed", lines: error.operatorLines, exitStatus: 1)) { console.json(data) }
            error.operatorLines.forEach(console.error)
            Glibc.exit(1)
        }
    }

    static func wantsJSON(_ command: ParsableCommand) -> Bool { (command as? JSONReporting)?.json == true }

    /// With --json anywhere on the command line, a usage mistake gets its object on stdout too
    /// (help and --version, which succeed, do not).
    static func usageReport(_ message: String, status: Int32) {
        guard status != 0, CommandLine.arguments.dropFirst().contains("--json"),
              let data = try? encoder.encode(FailureReport(code: "usage", lines: [message], exitStatus: status)) else { return }
        Console.shared.useJSON(true)
        Console.shared.json(data)
    }

    static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return encoder
    }()

    static func printJSON<T: Encodable>(_ value: T) throws {
        Console.shared.json(try encoder.encode(value))
    }
}

/// A command whose --json puts its report alone on stdout.
protocol JSONReporting {
    var json: Bool { get }
}

struct AnyEncodable: Encodable {
    let value: any Encodable
    init(_ value: any Encodable) { self.value = value }
    func encode(to encoder: any Encoder) throws { try value.encode(to: encoder) }
}

/// How results are shown: human text, or one JSON object on stdout.
struct OutputOptions: ParsableArguments {
    @Flag(help: "Print a machine-readable JSON summary on stdout (no secrets); everything else goes to stderr.")
    var json = false
}

/// Ways to give DB_PASS that keep it off the command line and out of `ps`.
struct DatabasePasswordOptions: ParsableArguments {
    @Flag(help: "Read DB_PASS from standard input (one line; not echoed at a terminal).")
    var dbPassStdin = false

    @Option(help: ArgumentHelp("Read DB_PASS from the first line of a file.", valueName: "file"), completion: .file())
    var dbPassFile: String?

    func validate() throws {
        if dbPassStdin && dbPassFile != nil {
            throw ValidationError("--db-pass-stdin and --db-pass-file both give DB_PASS; use one")
        }
    }

    /// The flag used, for messages.
    var flag: String? { dbPassStdin ? "--db-pass-stdin" : dbPassFile != nil ? "--db-pass-file" : nil }

    /// The password given with one of the flags, or nil when neither is used.
    func read() throws -> String? {
        if dbPassStdin {
            guard let line = try Console.shared.readSecretLine(prompt: "DB_PASS: ") else {
                throw InputError(SourceLocation(file: "standard input"), "no DB_PASS line to read (--db-pass-stdin)")
            }
            return line
        }
        guard let dbPassFile else { return nil }
        let bytes = try FileSystem.read(dbPassFile, limit: 64 << 10, allowPipe: true)
        var line = Array(bytes.split(separator: 0x0A, maxSplits: 1, omittingEmptySubsequences: false).first ?? [])
        if line.last == 0x0D { line.removeLast() }
        // Kept byte for byte: text that is not UTF-8 would be changed on the way, and MySQL would
        // then refuse the password the operator typed.
        guard let text = String(validating: line, as: UTF8.self) else {
            throw InputError(SourceLocation(file: dbPassFile, line: 1), "the password is not UTF-8 text (a Latin-1 file?); save it as UTF-8")
        }
        return text
    }
}

extension UpgradeComponent: ExpressibleByArgument {}
extension MachineRole: ExpressibleByArgument {}

extension CaseIterable where Self: RawRepresentable, RawValue == String {
    /// Every value, for help and man pages: `all|mysql|fatepython|fateflow`.
    static var valueNames: String { allCases.map(\.rawValue).joined(separator: "|") }
}

/// The exit statuses, as the manual pages and --help state them.
enum ExitStatusText {
    static let changing = "Exit status: 0 when done, or when nothing was left to do; 1 when refused (nothing was changed) or failed "
        + "(the lines say what was done and what to run next); 64 for a usage mistake; 128+N when signal N stopped it "
        + "(129 SIGHUP, 130 Ctrl-C, 143 SIGTERM), saying what was and was not changed."
    static let verify = "Exit status: 0 when every check passes; 1 when one fails or cannot be made (each line says which); "
        + "64 for a usage mistake."
}
