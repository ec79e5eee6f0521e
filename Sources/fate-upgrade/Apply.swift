import ArgumentParser
import FateUpgradeCore
import FateUpgradeHost
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Glibc

extension FateUpgrade {
    struct Apply: ParsableCommand, JSONReporting {
        static let configuration = CommandConfiguration(
            abstract: "Run the upgrade on this machine: extract, check, run the package's script, record a journal.",
            discussion: """
                Checks everything the script would need before anything changes, extracts the package into a \
                folder only you can read (its script holds DB_PASS), runs the package's own upgrade script with \
                the interpreter its #! line names (bash for FATE's), streaming its output to the terminal and to \
                FATE_ROOT/.fate-upgrade/logs/ with DB_PASS masked, and records what it did in \
                FATE_ROOT/.fate-upgrade/journal/ for `rollback`. A successful `all` or `fatepython` is followed \
                by confmigrate: fate_flow is stopped, the site's settings are merged into the new tree and its \
                models, jobs and logs moved there, and (on the fateflow machine) fate_flow is started again. \
                The merge is planned before anything runs (--plan lists every key carried, mapped or needing \
                a choice); a choice it needs refuses the run until it is given (--model-store, \
                --accept-release, --keep-site).

                A component already upgraded is not run again (exit 0, nothing changed). One whose last run \
                failed or was interrupted is refused until it is rolled back, or --force is given.

                \(ExitStatusText.changing)
                """
        )

        @Argument(help: "The upgrade package (upgrade_package_new.tar.gz).", completion: .file())
        var package: String

        @Option(help: ArgumentHelp("What to upgrade on this machine.", valueName: UpgradeComponent.valueNames))
        var component: UpgradeComponent

        @Option(help: ArgumentHelp("Where to extract the package (default: the package's folder).", valueName: "dir"),
                completion: .directory)
        var workdir: String?

        @Option(help: ArgumentHelp("This machine's role in an ansible cluster: nodemanager machines stop fate_flow afterwards.", valueName: MachineRole.valueNames))
        var role: MachineRole = .fateflow

        @Flag(help: "Do not carry the site's settings and data into the new tree after a successful all or fatepython upgrade (confmigrate).")
        var noConfmigrate = false

        @OptionGroup(title: "The site's settings (asked for only when they cannot be carried alone)")
        var siteOptions: SiteChoiceOptions

        @Flag(help: "Do not dump the database before the SQL runs (all, mysql); then only the _backup tables the SQL makes are there to go back to.")
        var noSnapshot = false

        // One word for "show what would change, change nothing" on every command; --dry-run as well.
        @Flag(name: [.customLong("plan"), .customLong("dry-run")], help: "Check and print the steps, then stop without changing anything.")
        var plan = false

        @Flag(help: "Run even over an earlier run of the same component that failed, was interrupted or succeeded.")
        var force = false

        @Flag(help: "As root on a FATE_ROOT another user owns: go ahead, start fate_flow as that user and hand the new files to them.")
        var allowRoot = false

        @Option(help: ArgumentHelp("Stop the script if it runs longer than this many seconds.", valueName: "seconds"))
        var scriptTimeout = 7200

        @Option(help: ArgumentHelp("The package's SHA-256 (default: the one in PACKAGE.sha256, which pack writes, when it is there).", valueName: "hex"))
        var sha256: String?

        @Flag(help: "Check no SHA-256 (only the gzip CRC and every entry), though PACKAGE.sha256 may be there.")
        var noChecksum = false

        @OptionGroup var outputOptions: OutputOptions
        var json: Bool { outputOptions.json }

        func validate() throws {
            guard scriptTimeout > 0 else { throw ValidationError("--script-timeout must be positive") }
            if let sha256, sha256.count != 64 || !sha256.allSatisfy(\.isHexDigit) {
                throw ValidationError("--sha256 takes 64 hex digits")
            }
            if noChecksum && sha256 != nil { throw ValidationError("--sha256 and --no-checksum say opposite things: give one") }
        }

        mutating func run() throws {
            let console = Console.shared
            var options = ApplyOperation.Options(
                package: package, component: component, workdir: workdir, role: role, confmigrate: !noConfmigrate,
                force: force, allowRoot: allowRoot, scriptTimeout: .seconds(scriptTimeout), sha256: sha256,
                snapshot: !noSnapshot)
            options.checksum = noChecksum ? .skip : sha256.map(ApplyOperation.Options.Checksum.given) ?? .beside
            options.siteChoices = try siteOptions.choices()
            let operation = try ApplyOperation.prepare(options)
            if let checksum = operation.checksum { console.say("checksum: SHA-256 as \(checksum) says") }
            operation.warnings.forEach(console.warn)
            console.say("preflight passed: \(operation.preflight.passed.joined(separator: "; "))")
            if !operation.alreadyDone.isEmpty || plan {
                let report = operation.plannedReport
                if let message = report.message { console.say(message) }
                if plan && operation.alreadyDone.isEmpty {
                    console.say("plan for --component \(component.rawValue) on \(hostName()) (\(operation.parameters.deployMethod)):")
                    for (index, step) in operation.plan.steps.enumerated() { console.say("  \(index + 1). \(step)") }
                }
                if json { try FateUpgrade.printJSON(report) }
                return
            }
            let report = try operation.execute(console: console)
            if json { try FateUpgrade.printJSON(report) }
        }
    }
}
