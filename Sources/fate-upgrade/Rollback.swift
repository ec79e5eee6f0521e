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
    struct Rollback: ParsableCommand, JSONReporting {
        static let configuration = CommandConfiguration(
            abstract: "Undo an upgrade on this machine, from its journal (guide §4).",
            discussion: """
                Stops fate_flow, renames python (or python/fate_flow) aside and the python_<timestamp> \
                (fate_flow_<timestamp>) backup back, renames the upgraded tables aside and their _backup \
                tables back in one RENAME TABLE statement, and starts fate_flow — only the steps the \
                component needs. Driven by the newest journal in FATE_ROOT/.fate-upgrade/; without one, \
                what to undo is discovered, shown, and confirmed at a prompt (--yes to skip it).

                DB_PASS comes from --db-pass-stdin, --db-pass-file, FATE_DB_PASS, or else the extracted \
                upgrade_package the journal names; once the rollback is done that folder is no longer needed.

                \(ExitStatusText.changing)
                """
        )

        @Option(help: ArgumentHelp("The component to roll back (default: the one the journal records, else all).", valueName: UpgradeComponent.valueNames))
        var component: UpgradeComponent?

        @Option(help: ArgumentHelp("FATE's root folder (default: the FATE_ROOT of --package or of the upgrade_package/ unpacked here, else /data/projects/fate).",
                                   valueName: "dir"), completion: .directory)
        var fateRoot: String?

        @Option(help: ArgumentHelp("Without a journal: the upgrade package or its unpacked folder, for its parameters.", valueName: "path"),
                completion: .file())
        var package: String?

        @Flag(help: "Restore the database from the snapshot apply took (after moving the current tables aside), and check its row counts.")
        var fromSnapshot = false

        // One word for "show what would change, change nothing" on every command; --dry-run as well.
        @Flag(name: [.customLong("plan"), .customLong("dry-run")], help: "Print the steps and stop.")
        var plan = false

        @Flag(help: "Do not ask for confirmation when there is no journal.")
        var yes = false

        @Flag(help: "As root on a FATE_ROOT another user owns: go ahead, and start fate_flow as that user.")
        var allowRoot = false

        @OptionGroup var password: DatabasePasswordOptions

        @OptionGroup var outputOptions: OutputOptions
        var json: Bool { outputOptions.json }

        mutating func run() throws {
            let console = Console.shared
            let given = try password.read() ?? ProcessInfo.processInfo.environment["FATE_DB_PASS"]
            let operation = try RollbackOperation(.init(fateRoot: try FateRootDiscovery.find(given: fateRoot, package: package), component: component, package: package,
                                                        password: given.map(Secret.init), allowRoot: allowRoot,
                                                        fromSnapshot: fromSnapshot))
            if let last = operation.alreadyRolledBack, let done = last.rolledBack {
                console.say("nothing to roll back: the last upgrade, \(last.id), was rolled back at \(done.at)")
                if json { try FateUpgrade.printJSON(operation.report(outcome: .unchanged, changed: false)) }
                return
            }
            operation.plan.notes.forEach { console.say("note: \($0)") }
            if operation.plan.isEmpty {
                console.say("nothing to roll back for --component \(operation.component.rawValue) (from \(operation.source))")
                if !plan { try operation.closeEmpty() }
                if json { try FateUpgrade.printJSON(operation.report(outcome: .unchanged, changed: false)) }
                return
            }
            console.say("rollback of \(operation.component.rawValue), from \(operation.source):")
            for (index, step) in operation.plan.steps.enumerated() { console.say("  \(index + 1). \(operation.shown(step))") }
            if plan {
                if json { try FateUpgrade.printJSON(operation.report(outcome: .planned, changed: false)) }
                return
            }
            if operation.needsConfirmation && !yes {
                guard isatty(STDIN_FILENO) == 1 else {
                    throw HostError("without a journal, rollback asks before it changes anything; run it at a terminal, or add --yes")
                }
                console.decorate("Proceed with this rollback? [y/N] ")
                guard let answer = readLine(), ["y", "yes"].contains(answer.lowercased()) else {
                    console.say("nothing changed")
                    return
                }
            }
            let report = try operation.execute(console: console)
            if json { try FateUpgrade.printJSON(report) }
        }
    }
}
