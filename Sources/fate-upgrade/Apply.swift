import ArgumentParser
import FateUpgradeCore
import Foundation

extension UpgradeComponent: ExpressibleByArgument {}

extension FateUpgrade {
    struct Apply: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run the upgrade on this machine: extract, check, run the package's script, record a journal.",
            discussion: """
                Extracts the package safely into a work folder, checks everything the script would need before \
                anything changes, runs the package's own upgrade_script.sh with the component (streaming its \
                output to the terminal and to FATE_ROOT/.fate-upgrade/logs/), and records what it did in \
                FATE_ROOT/.fate-upgrade/journal/ for `rollback`. On the fateflow machine a successful `all` or \
                `fatepython` is followed by confmigrate.
                """
        )

        enum Role: String, ExpressibleByArgument, CaseIterable {
            case fateflow, nodemanager
        }

        @Argument(help: "The upgrade package (upgrade_package_new.tar.gz).", completion: .file())
        var package: String

        @Option(help: "What to upgrade on this machine.")
        var component: UpgradeComponent

        @Option(help: ArgumentHelp("Where to extract the package (default: the package's folder).", valueName: "dir"),
                completion: .directory)
        var workdir: String?

        @Option(help: "This machine's role in an ansible cluster: nodemanager machines stop fate_flow afterwards.")
        var role: Role = .fateflow

        @Flag(help: "Do not run confmigrate after a successful all or fatepython upgrade.")
        var noConfmigrate = false

        @Flag(help: "Check and print the steps, then stop without changing anything.")
        var plan = false

        mutating func run() throws {
            let upgradePackage = try UpgradePackage(path: package)
            guard !upgradePackage.isFolder else {
                throw PackageError.notAnArchive(package, "apply takes the packed .tar.gz; it extracts it itself")
            }
            let contents = try upgradePackage.contents()
            let workdir = URL(fileURLWithPath: self.workdir ?? URL(fileURLWithPath: package).deletingLastPathComponent().path).standardizedFileURL.path
            let script = "\(workdir)/\(contents.script.path)"
            let block = try ShellParameterBlock(parsing: contents.script.bytes, file: "\(package):\(contents.script.path)")
            let home = ProcessInfo.processInfo.environment["HOME"] ?? NSHomeDirectory()
            let values = block.evaluated(home: home, environment: ProcessInfo.processInfo.environment)
            let value = { (name: String) in values[name] ?? "" }

            // Preflight: everything checked before anything changes, every failure reported.
            var check = Preflight(component: component, values: values, workdir: workdir, contents: contents)
            var (problems, warnings) = check.run()
            // The same component twice, or over a run that never finished, would back up the
            // already-upgraded state and leave the first backup unreachable for rollback.
            let journals = (try? UpgradeJournal.all(fateRoot: value("FATE_ROOT"))) ?? []
            for earlier in journals where earlier.rolledBack == nil {
                if earlier.outcome == .running {
                    problems.append("an earlier apply (\(earlier.id)) never finished; check the host and run `fate-upgrade rollback --fate-root \(value("FATE_ROOT"))` first")
                } else if earlier.outcome == .succeeded && earlier.component.overlaps(component) {
                    problems.append("\(component.rawValue) was already upgraded on this host (\(earlier.id)); roll it back first to run it again")
                }
            }
            warnings.forEach(Terminal.warn)
            if !problems.isEmpty { throw PreflightFailure(problems: problems) }

            let id = "\(timestamp())-\(component.rawValue)"
            let service = FateFlowService(deployMethod: value("DEPLOY_METHOD"), fateRoot: value("FATE_ROOT"), supervisorRoot: value("SUPERVISOR_ROOT"))
            let logPath = "\(UpgradeJournal.folder(fateRoot: value("FATE_ROOT")))/logs/\(id).log"
            let migrates = !noConfmigrate && role == .fateflow && (component == .all || component == .fatepython)
            let stopsAfter = role == .nodemanager && component.touchesService
            let tops = Set(contents.paths.compactMap { $0.split(separator: "/").first.map(String.init) }).sorted()

            print("preflight passed: \(check.passed.joined(separator: "; "))")
            if plan {
                print("plan for --component \(component.rawValue) on \(hostName()) (\(value("DEPLOY_METHOD"))):")
                var steps = ["extract \(package) into \(workdir) (\(contents.paths.count) entries: \(tops.joined(separator: ", ")))",
                             "record the journal \(UpgradeJournal.folder(fateRoot: value("FATE_ROOT")))/journal/\(id).json",
                             "run sh \(script) \(component.rawValue), logging to \(logPath)"]
                if migrates { steps.append("confmigrate: ZooKeeper settings from the new python_<timestamp> backup into \(value("FATE_ROOT"))/python/arch/conf/base_conf.yaml") }
                if stopsAfter { steps.append("stop fate_flow (a cluster runs one fate_flow): \(service.describe("stop"))") }
                for (index, step) in steps.enumerated() { print("  \(index + 1). \(step)") }
                return
            }

            // Extract; a folder of the same name already there is kept aside, not overwritten.
            for top in tops where FileManager.default.fileExists(atPath: "\(workdir)/\(top)") {
                let aside = "\(workdir)/\(top).previous-\(timestamp())"
                try FileManager.default.moveItem(atPath: "\(workdir)/\(top)", toPath: aside)
                print("kept the existing \(workdir)/\(top) as \(aside)")
            }
            try upgradePackage.extract(into: workdir)
            print("extracted \(package) into \(workdir)")

            var journal = UpgradeJournal(
                id: id, startedAt: ISO8601DateFormatter().string(from: Date()), host: hostName(), component: component,
                role: role.rawValue, package: URL(fileURLWithPath: package).standardizedFileURL.path, script: script,
                parameters: values.reduce(into: [:]) { result, item in
                    result[item.key] = ParameterKind.of(name: item.key, current: nil).isSecret ? ShellParameterBlock.mask : item.value
                },
                before: try check.snapshot(), log: logPath, outcome: .running)
            try FileManager.default.createDirectory(atPath: URL(fileURLWithPath: logPath).deletingLastPathComponent().path,
                                                    withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            try journal.save()

            let outcome = try ScriptRunner(script: script, component: component.rawValue, logPath: logPath,
                                           secrets: [value("DB_PASS")]).run()
            journal.after = try? check.snapshot()
            journal.finishedAt = ISO8601DateFormatter().string(from: Date())
            journal.exitStatus = outcome.status
            journal.outcome = outcome.succeeded ? .succeeded : .failed
            journal.message = outcome.aborted ?? (outcome.succeeded ? nil : "exit status \(outcome.status)\(outcome.finished ? "" : ", no \"Upgrading process finished\"")")
            try journal.save()
            let journalPath = "\(UpgradeJournal.folder(fateRoot: value("FATE_ROOT")))/journal/\(id).json"
            guard outcome.succeeded else {
                throw HostError("the upgrade script failed (\(journal.message ?? "")); the journal \(journalPath) records what changed, the log is \(logPath); to undo: fate-upgrade rollback --fate-root \(value("FATE_ROOT"))")
            }

            if migrates {
                do {
                    let conf = "\(value("FATE_ROOT"))/python/arch/conf/base_conf.yaml"
                    let before = FileManager.default.contents(atPath: conf)
                    var migrate = try Confmigrate.parse(["--fate-root", value("FATE_ROOT"), "--upgrade-package", "\(workdir)/upgrade_package"])
                    try migrate.run()
                    journal.confmigrate = "done"
                    // The script started fate_flow before the settings moved; it reads them only at start.
                    if FileManager.default.contents(atPath: conf) != before {
                        try service.run("stop")
                        try service.run("start")
                        print("restarted fate_flow so that it reads the migrated settings")
                    }
                } catch {
                    journal.confmigrate = "failed: \(error)"
                    try journal.save()
                    throw HostError("the upgrade succeeded, but confmigrate did not: \(error); run `fate-upgrade confmigrate` with the values by hand")
                }
            } else {
                journal.confmigrate = "skipped"
            }
            if stopsAfter {
                try service.run("stop")
                print("stopped fate_flow: a cluster runs one fate_flow, and this is a nodemanager machine")
            }
            try journal.save()
            print("upgrade of \(component.rawValue) finished; journal \(journalPath), log \(logPath)")
        }
    }
}

/// Every preflight failure, one line each.
struct PreflightFailure: Error, CustomStringConvertible {
    var problems: [String]
    var description: String { problems.map { "preflight: \($0)" }.joined(separator: "\n") }
}

/// The checks `apply` makes before changing anything: those of the package's script, and more.
struct Preflight {
    var component: UpgradeComponent
    var values: [String: String]
    var workdir: String
    var contents: UpgradePackage.Contents
    private(set) var passed: [String] = []

    init(component: UpgradeComponent, values: [String: String], workdir: String, contents: UpgradePackage.Contents) {
        self.component = component
        self.values = values
        self.workdir = workdir
        self.contents = contents
    }

    private func value(_ name: String) -> String { values[name] ?? "" }

    var database: String { "fate_flow" }

    var client: MySQLClient {
        MySQLClient(binary: "\(value("MYSQL_ROOT"))/bin/mysql", socket: value("MYSQL_SOCKET_PATH"),
                    user: value("DB_USER"), password: value("DB_PASS"))
    }

    private func isDirectory(_ path: String) -> Bool {
        var directory: ObjCBool = false
        return !path.isEmpty && FileManager.default.fileExists(atPath: path, isDirectory: &directory) && directory.boolValue
    }

    mutating func run() -> (problems: [String], warnings: [String]) {
        var problems: [String] = []
        var warnings: [String] = []
        let method = value("DEPLOY_METHOD")
        if ParameterKind.deployMethods.contains(method) { passed.append("DEPLOY_METHOD \(method)") } else {
            problems.append("DEPLOY_METHOD is '\(method)'; it must be allinone or ansible")
        }
        if isDirectory(value("FATE_ROOT")) { passed.append("FATE_ROOT \(value("FATE_ROOT"))") } else {
            problems.append("FATE_ROOT \(value("FATE_ROOT")) is not a folder")
        }
        if method == "ansible" && component.touchesService {
            let supervisor = "\(value("SUPERVISOR_ROOT"))/service.sh"
            if FileManager.default.fileExists(atPath: supervisor) { passed.append("supervisor \(supervisor)") } else {
                problems.append("SUPERVISOR_ROOT: \(supervisor) does not exist (needed to stop and start fate_flow with ansible)")
            }
        }
        if component.touchesPython || component.touchesFateFlow {
            let python = value("PYTHON_PACKAGE_PATH")
            let inside = python.hasPrefix(workdir + "/") ? String(python.dropFirst(workdir.count + 1)) : nil
            var size: Int64? = inside.flatMap { contents.sizes[$0] }
            if size == nil, let attributes = try? FileManager.default.attributesOfItem(atPath: python), attributes[.type] as? FileAttributeType == .typeRegular {
                size = (attributes[.size] as? NSNumber)?.int64Value
            }
            if let size {
                passed.append("python package \(python)")
                // The new python tree is unpacked beside the old one; code compresses about 4:1.
                if let free = freeBytes(at: value("FATE_ROOT")), free < size * 4 {
                    problems.append("FATE_ROOT \(value("FATE_ROOT")) has \(free >> 20) MiB free; unpacking the python package needs about \((size * 4) >> 20) MiB")
                }
            } else {
                problems.append("PYTHON_PACKAGE_PATH \(python) does not exist and is not where this package unpacks (\(workdir)/…); set it with `fate-upgrade pack --set PYTHON_PACKAGE_PATH=…` or use --workdir")
            }
        }
        if component.touchesFateFlow {
            if isDirectory(value("FATE_FLOW_ROOT")) { passed.append("FATE_FLOW_ROOT") } else {
                problems.append("FATE_FLOW_ROOT \(value("FATE_FLOW_ROOT")) is not a folder")
            }
        }
        if let free = freeBytes(at: workdir), free < contents.totalSize {
            problems.append("the work folder \(workdir) has \(free >> 20) MiB free; the package needs \(contents.totalSize >> 20) MiB")
        }
        if component.touchesDatabase {
            let binary = "\(value("MYSQL_ROOT"))/bin/mysql"
            var ready = true
            if !FileManager.default.isExecutableFile(atPath: binary) {
                problems.append("MYSQL_ROOT: \(binary) does not exist or is not executable"); ready = false
            }
            var status = stat()
            if stat(value("MYSQL_SOCKET_PATH"), &status) != 0 || status.st_mode & S_IFMT != S_IFSOCK {
                problems.append("MYSQL_SOCKET_PATH \(value("MYSQL_SOCKET_PATH")) is not a socket (is MySQL running?)"); ready = false
            }
            if ready {
                do {
                    _ = try client.run("select 1;")
                    passed.append("select 1 as \(value("DB_USER"))")
                    let tables = try client.tables(in: database)
                    if tables.isEmpty { problems.append("the database \(database) has no tables (or does not exist)") }
                    let stale = upgradedTables.map { "\($0)_backup" }.filter(tables.contains)
                    if !stale.isEmpty {
                        problems.append("\(database) already has \(stale.joined(separator: ", ")): the upgrade SQL's `create table … like` would fail; roll back the earlier upgrade or rename them first")
                    }
                } catch {
                    problems.append("\(error)")
                }
            }
        }
        if let text = String(bytes: contents.script.bytes, encoding: .utf8), text.contains("-p$DB_PASS") || text.contains("-p${DB_PASS}") {
            warnings.append("the package's script passes DB_PASS on the mysql command line, where ps shows it while it runs")
        }
        return (problems, warnings)
    }

    /// The backups and backup tables present now, for the journal.
    func snapshot() throws -> UpgradeJournal.Snapshot {
        let flowRoot = value("FATE_FLOW_ROOT")
        var tables: [String] = []
        if component.touchesDatabase, let all = try? client.tables(in: database) {
            tables = all.filter { $0.hasSuffix("_backup") }.sorted()
        }
        return UpgradeJournal.Snapshot(
            pythonBackups: UpgradeJournal.backups(in: value("FATE_ROOT"), prefix: "python"),
            fateFlowBackups: flowRoot.isEmpty ? [] : UpgradeJournal.backups(in: URL(fileURLWithPath: flowRoot).deletingLastPathComponent().path,
                                                                             prefix: URL(fileURLWithPath: flowRoot).lastPathComponent),
            backupTables: tables)
    }
}
