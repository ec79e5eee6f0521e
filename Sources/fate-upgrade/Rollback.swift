import ArgumentParser
import FateUpgradeCore
import Foundation

extension FateUpgrade {
    struct Rollback: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Undo an upgrade on this machine, from its journal (guide §4).",
            discussion: """
                Stops fate_flow, renames python (or python/fate_flow) aside and the python_<timestamp> \
                (fate_flow_<timestamp>) backup back, renames the upgraded tables aside and their _backup \
                tables back in one RENAME TABLE statement, and starts fate_flow — only the steps the \
                component needs. Driven by the newest journal in FATE_ROOT/.fate-upgrade/; without one, \
                what to undo is discovered, shown, and confirmed at a prompt (--yes to skip it).
                """
        )

        @Option(help: "The component to roll back (default: the one the journal records, else all).")
        var component: UpgradeComponent?

        @Option(help: ArgumentHelp("FATE's root folder.", valueName: "dir"), completion: .directory)
        var fateRoot = "/data/projects/fate"

        @Option(help: ArgumentHelp("Without a journal: the upgrade package or its unpacked folder, for its parameters.", valueName: "path"),
                completion: .file())
        var package: String?

        @Flag(help: "Print the steps and stop.")
        var plan = false

        @Flag(help: "Do not ask for confirmation when there is no journal.")
        var yes = false

        /// Default: FATE_DB_PASS, else the DB_PASS of the package the journal names.
        @OptionGroup var password: DatabasePasswordOptions

        mutating func run() throws {
            let journals = try UpgradeJournal.all(fateRoot: fateRoot)
            var journal = journals.last { $0.rolledBack == nil }
            if journal == nil, let last = journals.last, let done = last.rolledBack {
                print("nothing to roll back: the last upgrade, \(last.id), was rolled back at \(done.at)")
                return
            }
            let component = self.component ?? journal?.component ?? .all

            // The parameters: the journal's (secrets masked), completed from the package's script.
            var values = journal?.parameters ?? [:]
            let scriptPath = journal?.script ?? package
            var scriptValues: [String: String] = [:]
            if let scriptPath, FileManager.default.fileExists(atPath: scriptPath) {
                let home = ProcessInfo.processInfo.environment["HOME"] ?? NSHomeDirectory()
                // The journal names the extracted script; --package may be an archive or its folder.
                var isFolder: ObjCBool = false
                _ = FileManager.default.fileExists(atPath: scriptPath, isDirectory: &isFolder)
                let isPackage = isFolder.boolValue || [".gz", ".tgz", ".tar"].contains(where: scriptPath.hasSuffix)
                let bytes = isPackage ? try UpgradePackage(path: scriptPath).readScript().bytes : try readFile(scriptPath)
                scriptValues = try ShellParameterBlock(parsing: bytes, file: scriptPath).evaluated(home: home)
            }
            for (name, value) in scriptValues where values[name] == nil || values[name] == ShellParameterBlock.mask {
                values[name] = value
            }
            values["FATE_ROOT"] = values["FATE_ROOT"] ?? fateRoot
            let defaults = ["DEPLOY_METHOD": "allinone", "DB_USER": "root", "FATE_FLOW_ROOT": "\(fateRoot)/python/fate_flow",
                            "MYSQL_ROOT": "\(fateRoot)/common/mysql/mysql-8.0.13", "SUPERVISOR_ROOT": "/data/projects/common/supervisord"]
            for (name, value) in defaults where values[name] == nil { values[name] = value }
            if values["MYSQL_SOCKET_PATH"] == nil { values["MYSQL_SOCKET_PATH"] = "\(values["MYSQL_ROOT"]!)/run/mysql.sock" }
            if let password = try givenPassword() { values["DB_PASS"] = password }
            let value = { (name: String) in values[name] ?? "" }

            // What the upgrade left: its backup folders and tables.
            let flowRoot = URL(fileURLWithPath: value("FATE_FLOW_ROOT"))
            let codeFolder = component.touchesFateFlow ? flowRoot.deletingLastPathComponent().path : value("FATE_ROOT")
            let codeName = component.touchesFateFlow ? flowRoot.lastPathComponent : "python"
            let now = UpgradeJournal.backups(in: codeFolder, prefix: codeName)
            let before = component.touchesFateFlow ? journal?.before.fateFlowBackups : journal?.before.pythonBackups
            let candidates = before.map { old in now.filter { !old.contains($0) } } ?? now
            let backup = candidates.sorted().last
            let entries = Set((try? FileManager.default.contentsOfDirectory(atPath: codeFolder)) ?? [])
            var tables: Set<String> = []
            let database = "fate_flow"
            let client = MySQLClient(binary: "\(value("MYSQL_ROOT"))/bin/mysql", socket: value("MYSQL_SOCKET_PATH"),
                                     user: value("DB_USER"), password: value("DB_PASS"))
            if component.touchesDatabase {
                guard !value("DB_PASS").isEmpty, value("DB_PASS") != ShellParameterBlock.mask else {
                    throw HostError("DB_PASS is needed for the database step: give it with --db-pass-stdin, --db-pass-file or FATE_DB_PASS")
                }
                tables = try client.tables(in: database)
            }
            var rollback = RollbackPlan(component: component, codeFolder: codeFolder, codeName: codeName, backup: backup,
                                        entries: entries, database: database, tables: tables, date: timestamp("yyyyMMdd"))
            // A nodemanager machine must not run fate_flow (one per cluster): it stays stopped.
            if journal?.role == "nodemanager", rollback.steps.contains(.startService) {
                rollback.steps.removeAll { $0 == .startService }
                rollback.notes.append("fate_flow is not started again: this is a nodemanager machine (the journal says so)")
            }
            let service = FateFlowService(deployMethod: value("DEPLOY_METHOD"), fateRoot: value("FATE_ROOT"),
                                          supervisorRoot: value("SUPERVISOR_ROOT"))

            let source = journal.map { "the journal \($0.id) (\($0.outcome.rawValue))" } ?? "discovery (no journal)"
            rollback.notes.forEach { print("note: \($0)") }
            if rollback.isEmpty {
                print("nothing to roll back for --component \(component.rawValue) (from \(source))")
                if var finished = journal, !plan {
                    finished.rolledBack = .init(at: ISO8601DateFormatter().string(from: Date()), steps: [])
                    try finished.save()
                }
                return
            }
            print("rollback of \(component.rawValue), from \(source):")
            for (index, step) in rollback.steps.enumerated() {
                let shown: String
                switch step {
                case .stopService: shown = "stop fate_flow: \(service.describe("stop"))"
                case .startService: shown = "start fate_flow: \(service.describe("start"))"
                default: shown = step.description
                }
                print("  \(index + 1). \(shown)")
            }
            if plan { return }
            if journal == nil && !yes {
                guard isatty(STDIN_FILENO) == 1 else {
                    throw HostError("without a journal, rollback asks before it changes anything; run it at a terminal, or add --yes")
                }
                FileHandle.standardError.write(Data("Proceed with this rollback? [y/N] ".utf8))
                guard let answer = readLine(), ["y", "yes"].contains(answer.lowercased()) else {
                    print("nothing changed")
                    return
                }
            }

            var done: [String] = []
            for step in rollback.steps {
                switch step {
                case .stopService, .startService:
                    let action = step == .stopService ? "stop" : "start"
                    let script = service.command[0]
                    if action == "stop" && !FileManager.default.fileExists(atPath: script) {
                        print("\(script) is not there, so nothing of it is running; going on")
                    } else {
                        try service.run(action)
                    }
                case .renameFolders(let folder, let renames):
                    for rename in renames {
                        guard Foundation.rename("\(folder)/\(rename.from)", "\(folder)/\(rename.to)") == 0 else {
                            throw HostError("mv \(folder)/\(rename.from) \(folder)/\(rename.to): \(String(cString: strerror(errno))); done so far: \(done.joined(separator: "; "))")
                        }
                    }
                case .renameTables(let database, let statement, _):
                    _ = try client.run(statement, database: database)
                }
                done.append(step.description)
                print("done: \(step.description)")
            }
            if var finished = journal {
                finished.rolledBack = .init(at: ISO8601DateFormatter().string(from: Date()), steps: done)
                try finished.save()
                journal = finished
            }
            print("rollback of \(component.rawValue) finished")
        }

        func givenPassword() throws -> String? {
            try password.read() ?? ProcessInfo.processInfo.environment["FATE_DB_PASS"]
        }
    }
}
