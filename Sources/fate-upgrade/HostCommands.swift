import ArgumentParser
import FateUpgradeCore
import FateUpgradeHost
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Glibc

/// Which host to look at, and DB_PASS for its database: shared by status, verify and cleanup.
struct HostOptions: ParsableArguments {
    @Option(help: ArgumentHelp("FATE's root folder (default: the FATE_ROOT of the upgrade_package/ unpacked here, else /data/projects/fate).",
                               valueName: "dir"), completion: .directory)
    var fateRoot: String?

    @OptionGroup var password: DatabasePasswordOptions

    /// --fate-root, or the one the upgrade package here names.
    func root() throws -> String { try FateRootDiscovery.find(given: fateRoot) }

    /// DB_PASS from a flag, FATE_DB_PASS, or else (nil) the upgrade's own work folder.
    func secret() throws -> Secret? {
        try (password.read() ?? ProcessInfo.processInfo.environment["FATE_DB_PASS"]).map(Secret.init)
    }
}

extension FateUpgrade {
    struct Status: ParsableCommand, JSONReporting {
        static let configuration = CommandConfiguration(
            abstract: "Show where this host stands: runs, python trees, registry settings, fate_flow, schema, leftovers.",
            discussion: """
                Reads the journals in FATE_ROOT/.fate-upgrade/, the python/ and python_<timestamp> trees, \
                base_conf.yaml (the ZooKeeper password masked), the fate_flow process and its HTTP port, \
                the fate_flow schema (1.4.0, 1.4.1 or 1.4.4, by its columns), leftover backup folders and \
                tables with their sizes, and snapshots. Changes nothing.
                """
        )

        @OptionGroup var host: HostOptions

        @Option(help: ArgumentHelp("This machine's role (default: the one the newest journal records, else fateflow).", valueName: MachineRole.valueNames))
        var role: MachineRole?

        @OptionGroup var outputOptions: OutputOptions
        var json: Bool { outputOptions.json }

        func run() throws {
            let view = try HostSurvey(fateRoot: try host.root(), role: role, password: try host.secret())
            let status = HostStatus.gather(view)
            if json { try FateUpgrade.printJSON(status) } else { status.lines.forEach(Console.shared.say) }
        }
    }

    struct Verify: ParsableCommand, JSONReporting {
        static let configuration = CommandConfiguration(
            abstract: "Check that this host is consistently on 1.4.4 for its role; exit 0 only then.",
            discussion: """
                Checks, one line each: the journal (an upgrade in place, none failed), the new python tree \
                with the old one kept, base_conf.yaml carrying the backup's registry settings (fateflow \
                machine), the fate_flow schema (where the database was upgraded), and fate_flow running and \
                answering on its HTTP port (fateflow machine) or stopped (nodemanager). When every check \
                passes, the runs are recorded as verified, which lets `cleanup` remove their backups.

                With --rolled-back: checks instead that no upgrade is left in place and that python/ and the \
                schema are as they were before the upgrade.

                \(ExitStatusText.verify)
                """
        )

        @OptionGroup var host: HostOptions

        @Option(help: ArgumentHelp("This machine's role (default: the one the newest journal records, else fateflow).", valueName: MachineRole.valueNames))
        var role: MachineRole?

        @Flag(help: "Check that the host was rolled back, rather than upgraded.")
        var rolledBack = false

        @OptionGroup var outputOptions: OutputOptions
        var json: Bool { outputOptions.json }

        func run() throws {
            let console = Console.shared
            let view = try HostSurvey(fateRoot: try host.root(), role: role, password: try host.secret())
            let operation = VerifyOperation(view: view, rolledBack: rolledBack)
            let report = try operation.record(operation.run())
            for check in report.checks {
                console.say("\(check.ok ? "ok  " : "FAIL") \(check.name.padded(to: 9)) \(check.detail)")
            }
            if !report.recorded.isEmpty { console.say("recorded as verified: \(report.recorded.joined(separator: ", "))") }
            console.say(report.ok ? "verified: this host is \(report.mode == "rolled_back" ? "rolled back" : report.mode) (\(report.role))" : "not verified: see the FAIL lines")
            if json { try FateUpgrade.printJSON(report) }
            if !report.ok { throw ExitCode(1) }
        }
    }

    struct Cleanup: ParsableCommand, JSONReporting {
        static let configuration = CommandConfiguration(
            abstract: "Remove what upgrades and rollbacks left behind, once the upgrade is signed off.",
            discussion: """
                Lists old python_<timestamp> backups, python_upgrade_backup* folders, the _backup, \
                _backup_<date> and _pre_restore_ tables and snapshots older than --snapshots-older-than \
                days; without --yes it only lists them. Only what the tool's own naming scheme names below \
                FATE_ROOT (as it really is, symlinks resolved) is removed, never through a symlink; the \
                package and work folders, which hold DB_PASS, are named with the command to remove them. \
                What a rollback of a run that is not verified still needs is kept (run `fate-upgrade verify` \
                first), unless --force. Root on a tree another user owns needs --allow-root.

                \(ExitStatusText.changing)
                """
        )

        @OptionGroup var host: HostOptions

        @Option(help: ArgumentHelp("Remove snapshots at least this many days old.", valueName: "days"))
        var snapshotsOlderThan = 7

        // One word for "show what would change, change nothing" on every command; --dry-run as well.
        @Flag(name: [.customLong("plan"), .customLong("dry-run")], help: "Print what would be removed and stop (the default without --yes).")
        var plan = false

        @Flag(help: "Remove what the plan lists.")
        var yes = false

        @Flag(help: "Remove also what a rollback of a run that is not verified needs.")
        var force = false

        @Flag(help: "As root, remove from a FATE_ROOT another user owns.")
        var allowRoot = false

        @OptionGroup var outputOptions: OutputOptions
        var json: Bool { outputOptions.json }

        func validate() throws {
            guard snapshotsOlderThan >= 0 else { throw ValidationError("--snapshots-older-than cannot be negative") }
            if plan && yes { throw ValidationError("--plan and --yes: give one") }
        }

        func run() throws {
            let console = Console.shared
            let operation = try CleanupOperation(fateRoot: try host.root(), password: try host.secret(),
                                                 snapshotAge: snapshotsOlderThan * 86400, force: force, allowRoot: allowRoot)
            for item in operation.keep { console.say("keep   \(item.name) (\(item.why))") }
            for item in operation.remove { console.say("remove \(item.kind == .table ? "table " : "")\(item.name)  \(sizeText(item.bytes))  (\(item.why))") }
            operation.notes.forEach { console.say("note: \($0)") }
            if operation.remove.isEmpty {
                console.say("nothing to remove")
                if json { try FateUpgrade.printJSON(operation.report(outcome: .unchanged)) }
                return
            }
            guard yes else {
                console.say("\(operation.remove.count) items, \(sizeText(operation.bytes)): run again with --yes to remove them")
                if json { try FateUpgrade.printJSON(operation.report(outcome: .planned)) }
                return
            }
            let report = try operation.execute(console: console)
            console.say("removed \(report.removed.count) items, \(sizeText(report.bytes))")
            if json { try FateUpgrade.printJSON(report) }
        }
    }

    /// apply's snapshot alone, for the benchmark (bench/snapshot.sh). Hidden.
    struct Snapshot: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Dump the fate_flow database as apply does before the SQL.", shouldDisplay: false)

        @Option(help: ArgumentHelp("mysqldump to use.", valueName: "path"), completion: .file())
        var tool: String

        @Option(help: ArgumentHelp("The server's socket.", valueName: "path"))
        var socket: String

        @Option(help: "The account.")
        var user = "root"

        @Option(help: ArgumentHelp("Where the snapshot goes (a new file).", valueName: "file"))
        var output: String

        @OptionGroup var password: DatabasePasswordOptions

        func run() throws {
            let secret = try password.read() ?? ProcessInfo.processInfo.environment["FATE_DB_PASS"] ?? ""
            let client = MySQLClient(binary: "mysql", socket: socket, user: user, password: Secret(secret))
            let snapshot = try DatabaseSnapshots.take(client: client, tool: tool, database: Preflight.database,
                                                      into: Path.parent(output), name: Path.name(output), timeout: .seconds(7200))
            try FateUpgrade.printJSON(snapshot)
        }
    }
}
