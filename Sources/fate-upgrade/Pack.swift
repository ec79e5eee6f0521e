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

extension FateUpgrade {
    struct Pack: ParsableCommand, JSONReporting {
        static let configuration = CommandConfiguration(
            abstract: "Write upgrade_package_new.tar.gz with the script's parameters set.",
            discussion: """
                Reads the package (.tar.gz, .tar or an unpacked upgrade_package/ folder), sets the parameters in \
                upgrade_script.sh (or upgrade.sh) and writes a new gzip-compressed tar in one pass; every other \
                entry is copied unchanged. The output is written 0600, since it holds DB_PASS, and renamed into \
                place only when complete.

                Values: DB_USER and DB_PASS are taken literally. In path parameters, a leading ~/ is the home \
                folder of the user running the script, $NAME refers to a parameter assigned earlier in the script \
                (MYSQL_ROOT='$FATE_ROOT/common/mysql/mysql-8.0.13'), and $$ is a literal $.

                DB_PASS can come from --db-pass-stdin, --db-pass-file or the FATE_DB_PASS environment variable, \
                which keeps it out of shell history and ps. It must be given: without it the package would keep \
                the script's own value (fate_dev in FATE's); --keep DB_PASS says that is meant.

                `-` as the input reads the package from standard input, `-o -` writes it to standard output \
                (not to a terminal), and `--params -` reads the parameters from standard input.

                \(ExitStatusText.changing)
                """
        )

        @Argument(help: "The upgrade package: .tar.gz, .tar, or an unpacked upgrade_package/ folder.",
                  completion: .file())
        var input = "upgrade_1_4_0-1_4_4.tar.gz"

        @Option(name: [.short, .long], help: "Where to write the new package.", completion: .file())
        var output = "upgrade_package_new.tar.gz"

        @Option(name: .customLong("set"), help: ArgumentHelp("Set a parameter (repeatable).", valueName: "NAME=VALUE"))
        var assignments: [String] = []

        @Option(name: .customLong("params"), help: ArgumentHelp("A YAML file of NAME: value lines.", valueName: "file"),
                completion: .file(extensions: ["yaml", "yml"]))
        var parameterFile: String?

        @OptionGroup var password: DatabasePasswordOptions

        @Option(help: ArgumentHelp("Keep this parameter's value from the package on purpose (repeatable); DB_PASS must be given or kept.",
                                   valueName: "NAME"))
        var keep: [String] = []

        @Flag(help: "Replace the output file if it exists.")
        var force = false

        // One word for "show what would change, change nothing" on every command; --dry-run as well.
        @Flag(name: [.customLong("plan"), .customLong("dry-run")], help: "Print a diff of the parameter block (DB_PASS masked) and write nothing.")
        var dryRun = false

        @Option(help: ArgumentHelp("gzip compression level, 1 (fastest) to 9 (smallest).", valueName: "level"))
        var compressionLevel = 6

        @OptionGroup var outputOptions: OutputOptions
        var json: Bool { outputOptions.json }

        func validate() throws {
            guard (1...9).contains(compressionLevel) else {
                throw ValidationError("--compression-level must be 1 to 9")
            }
            var seen: Set<String> = []
            for assignment in assignments {
                // The text is not echoed: it is often a password.
                guard let equals = assignment.firstIndex(of: "="), equals != assignment.startIndex else {
                    throw ValidationError("--set expects NAME=VALUE; one value has no NAME= before it (it is not shown here)")
                }
                let name = String(assignment[..<equals])
                guard seen.insert(name).inserted else { throw ValidationError("--set \(name) is given twice") }
            }
            if seen.contains("DB_PASS"), let flag = password.flag {
                throw ValidationError("DB_PASS is given by both --set and \(flag); use one")
            }
            let readers = [input == "-" ? "the package (-)" : nil, parameterFile == "-" ? "--params -" : nil,
                           password.dbPassStdin ? "--db-pass-stdin" : nil].compactMap { $0 }
            if readers.count > 1 {
                throw ValidationError("\(readers.joined(separator: " and ")) both read standard input; give one of them as a file")
            }
            if output == "-" && outputOptions.json {
                throw ValidationError("-o - writes the package to standard output, where --json would go too; use one")
            }
        }

        mutating func run() throws {
            let console = Console.shared
            Signals.farewell("pack wrote nothing (the partial package was removed; the input is as it was)")
            // The package goes to stdout with -o -: every line of ours goes to stderr then.
            if output == "-" {
                guard isatty(STDOUT_FILENO) == 0 else {
                    throw PackageWriteError("-", "standard output is a terminal; redirect it (> upgrade_package_new.tar.gz) or give -o FILE")
                }
                console.useJSON(true)
            }
            let settings = try requestedSettings()
            let spooled = try input == "-" ? StandardInputSpool() : nil
            let inputPath = spooled?.path ?? input
            let package = try UpgradePackage(path: inputPath)
            if output != "-" { try checkOutputPath(package) }

            // Read and check everything before the output is opened: a refused run writes nothing.
            let contents = try package.contents()
            let script = contents.script
            let block = try ShellParameterBlock(parsing: script.bytes, file: "\(input):\(script.path)")
            let plan = try ParameterPlan(block: block, settings: settings, keep: Set(keep), secretsMustBeGiven: true)
            plan.warnings.forEach(console.warn)
            splittingWarnings(block: block, settings: settings, script: script.path).forEach(console.warn)
            if block.hasCRLF {
                console.warn("\(script.path) has Windows (CR LF) line endings, which break it on the target ($'\\r': command not found); it is written with LF endings")
            }

            if dryRun {
                if !force, output != "-", FileSystem.exists(output) {
                    console.warn("\(output) exists; a real run needs --force to replace it")
                }
                let lines = plan.maskedBlockLines()
                let diff = UnifiedDiff.make(old: lines.old, new: lines.new, oldLabel: "a/\(script.path)",
                                            newLabel: "b/\(script.path)", firstLine: block.lines.lowerBound)
                if outputOptions.json {
                    try FateUpgrade.printJSON(PackReport(plan: plan, script: script.path, input: input, output: nil, summary: nil, diff: diff))
                } else {
                    console.say(diff.isEmpty ? "no parameter changes in \(script.path)" : String(diff.dropLast(diff.hasSuffix("\n") ? 1 : 0)))
                }
                return
            }

            let rendered = plan.renderedScript()
            let file = output == "-" ? nil : try AtomicOutputFile(path: output, overwrite: force, mode: 0o600)
            defer { file?.discard() }
            let progress = ProgressMeter(total: package.inputSize, label: "packing")
            // A gzip package: only its start is compressed again when it can be (GzipSplice).
            let summary = try package.write(contents: contents, newScript: rendered, to: file?.fileDescriptor ?? STDOUT_FILENO,
                                            outputPath: output, gzip: !output.hasSuffix(".tar"), compressionLevel: compressionLevel,
                                            progress: progress.update)
            progress.finish()
            if summary.spliceCheckFailed, let reason = summary.notSpliced {
                console.warn("the fast path's output failed its check (\(reason)), so the whole package was written anew and checked instead; please report this with how the package was made")
            }
            try file?.commit(overwrite: force)
            // The checksum apply checks before it trusts the package.
            let checksum = output == "-" ? nil : try PackageChecksum.writeBeside(output, digest: summary.sha256)

            if outputOptions.json {
                try FateUpgrade.printJSON(PackReport(plan: plan, script: script.path, input: input, output: output, summary: summary, diff: nil))
                return
            }
            console.say("wrote \(output == "-" ? "the package to standard output" : output): \(summary.entries) entries, \(mebibytes(summary.bytesOut))"
                        + (checksum.map { " (SHA-256 in \($0))" } ?? ""))
            if plan.changes.isEmpty {
                console.say("no parameter changed in \(script.path)")
            }
            for change in plan.changes {
                let values = change.kind.isSecret ? "changed (hidden)" : "\(change.oldValue) -> \(change.newValue)"
                console.say("  \(change.name.padded(to: 20)) \(values)")
            }
        }

        /// FATE's scripts pass some parameters unquoted (`mysql -u$DB_USER -p$DB_PASS`): a value with a
        /// blank or a glob character is then split or expanded by the script itself.
        func splittingWarnings(block: ShellParameterBlock, settings: [ParameterSetting], script: String) -> [String] {
            var problems: [String: String] = [:]
            for setting in settings { problems[setting.name] = ShellSplitting.problem(setting.value) }
            guard !problems.isEmpty else { return [] }
            return block.unquotedUses(of: Set(problems.keys)).map { use in
                let shown = ParameterKind.of(name: use.name, current: nil).isSecret
                    ? "line \(use.line)" : "line \(use.line): \(use.text.trimmingWhitespace())"
                return "\(use.name) \(problems[use.name]!), and \(script) uses $\(use.name) unquoted (\(shown)): the script will not pass the value as given; choose one without blanks and *?[, or quote it in the script"
            }
        }

        /// Values in order of precedence: the --params file, then FATE_DB_PASS, then --set,
        /// then --db-pass-stdin / --db-pass-file. Later ones win.
        func requestedSettings() throws -> [ParameterSetting] {
            var settings: [ParameterSetting] = []
            if let parameterFile {
                let bytes = try FileSystem.read(parameterFile == "-" ? "/dev/stdin" : parameterFile, limit: 4 << 20, allowPipe: true)
                let document = try YAMLDocument(parsing: bytes, file: parameterFile == "-" ? "standard input" : parameterFile)
                for item in try document.flatMapping() {
                    settings.append(ParameterSetting(name: item.key, value: item.value, origin: "\(parameterFile):\(item.line)"))
                }
            }
            for assignment in assignments {
                let equals = assignment.firstIndex(of: "=")!
                let name = String(assignment[..<equals])
                if name == "DB_PASS" {
                    Console.shared.warn("--set DB_PASS=… leaves the password in shell history and in ps; prefer --db-pass-stdin, --db-pass-file or FATE_DB_PASS")
                }
                settings.append(ParameterSetting(name: name, value: String(assignment[assignment.index(after: equals)...]), origin: "--set"))
            }
            if let value = try password.read(), let flag = password.flag {
                settings.append(ParameterSetting(name: "DB_PASS", value: value, origin: flag))
            }
            if !settings.contains(where: { $0.name == "DB_PASS" }), let fromEnvironment = ProcessInfo.processInfo.environment["FATE_DB_PASS"] {
                settings.insert(ParameterSetting(name: "DB_PASS", value: fromEnvironment, origin: "FATE_DB_PASS"), at: 0)
            }
            return settings
        }

        /// The output must not be the input, nor lie inside an input folder being read.
        private func checkOutputPath(_ package: UpgradePackage) throws {
            let inputPath = URL(fileURLWithPath: input).resolvingSymlinksInPath().path
            let outputPath = URL(fileURLWithPath: output).resolvingSymlinksInPath().path
            if inputPath == outputPath {
                throw PackageWriteError(output, "it is the input package; choose another output name")
            }
            if package.isFolder, outputPath.hasPrefix(inputPath + "/") {
                throw PackageWriteError(output, "it is inside the package folder \(input) being packed")
            }
            if !dryRun, !force, FileManager.default.fileExists(atPath: output) {
                throw PackageWriteError(output, "it already exists (use --force to replace it)")
            }
        }
    }
}

extension FateUpgrade {
    struct Inspect: ParsableCommand, JSONReporting {
        static let configuration = CommandConfiguration(
            abstract: "Show the parameters an upgrade package's script sets (DB_PASS masked), changing nothing."
        )

        @Argument(help: "The upgrade package: .tar.gz, .tar, or an unpacked upgrade_package/ folder.",
                  completion: .file())
        var input: String

        @OptionGroup var outputOptions: OutputOptions
        var json: Bool { outputOptions.json }

        func run() throws {
            let spooled = try input == "-" ? StandardInputSpool() : nil
            let package = try UpgradePackage(path: spooled?.path ?? input)
            let script = try package.readScript()
            let block = try ShellParameterBlock(parsing: script.bytes, file: "\(input):\(script.path)")
            let report = InspectReport(input: input, script: script.path, block: block)
            if outputOptions.json { try FateUpgrade.printJSON(report) } else { report.lines.forEach(Console.shared.say) }
        }
    }
}
