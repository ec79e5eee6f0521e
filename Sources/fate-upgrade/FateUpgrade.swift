import ArgumentParser
import FateUpgradeCore
import Foundation

@main
struct FateUpgrade: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fate-upgrade",
        abstract: "Upgrade a FATE cluster from v1.4.0–v1.4.3 to v1.4.4, safely.",
        discussion: """
            On the jump host, `pack` writes upgrade_package_new.tar.gz with your parameters \
            (`inspect` shows what a package holds). On each target, `apply` runs the upgrade and \
            `rollback` undoes it; on the fateflow machine, `confmigrate` carries the ZooKeeper settings over.
            """,
        version: "0.1.0",
        subcommands: [Pack.self, Inspect.self, Confmigrate.self, Apply.self, Rollback.self]
    )

    /// Errors that speak for themselves get one line each, prefixed with the tool's name,
    /// and exit status 1; usage errors keep argument-parser's message and status.
    static func main() {
        // libarchive converts path names through the C locale; make it UTF-8 so that
        // non-ASCII names pass through unchanged whatever the caller's environment.
        if setlocale(LC_CTYPE, "") == nil || !String(cString: nl_langinfo(nl_item(CODESET))).uppercased().contains("UTF") {
            setlocale(LC_CTYPE, "C.UTF-8")
        }
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch let error as ParameterProblems {
            for problem in error.problems { report(problem.description) }
            Foundation.exit(1)
        } catch let error as PackageError {
            report(error.description)
            Foundation.exit(1)
        } catch let error as InputError {
            report(error.description)
            Foundation.exit(1)
        } catch let error as PackageRefusal {
            error.problems.forEach(report)
            Foundation.exit(1)
        } catch let error as PreflightFailure {
            error.description.split(separator: "\n").forEach { report(String($0)) }
            Foundation.exit(1)
        } catch let error as HostError {
            report(error.description)
            Foundation.exit(1)
        } catch {
            exit(withError: error)
        }
    }

    static func report(_ line: String) {
        FileHandle.standardError.write(Data("fate-upgrade: \(line)\n".utf8))
    }
}

/// How results are shown: human text, or one JSON object on stdout.
struct OutputOptions: ParsableArguments {
    @Flag(help: "Print a machine-readable JSON summary on stdout (no secrets).")
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
            guard let line = Terminal.readSecretLine(prompt: "DB_PASS: ") else {
                throw InputError(SourceLocation(file: "standard input"), "no DB_PASS line to read (--db-pass-stdin)")
            }
            return line
        }
        guard let dbPassFile else { return nil }
        let text = String(decoding: try readFile(dbPassFile), as: UTF8.self)
        let line = text.split(separator: "\n", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? ""
        return line.hasSuffix("\r") ? String(line.dropLast()) : line
    }
}

extension FateUpgrade {
    static func printJSON<T: Encodable>(_ value: T) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        FileHandle.standardOutput.write(try encoder.encode(value))
        FileHandle.standardOutput.write(Data("\n".utf8))
    }
}
