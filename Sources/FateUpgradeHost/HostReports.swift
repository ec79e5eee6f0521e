import FateUpgradeArchive
import FateUpgradeCore
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Glibc

extension PythonTree {
    /// Every python tree directly in `folder`, by name; each read once.
    public static func survey(_ folder: String) -> [String: PythonTree] {
        var trees: [String: PythonTree] = [:]
        for name in FileSystem.names(in: folder) where name == "python" || name.hasPrefix("python_") {
            let path = "\(folder)/\(name)"
            guard FileSystem.isRealDirectory(path) else { continue }
            // A file there that cannot be read leaves the tree unknown, never judged as if it were missing.
            if let problem = HostFacts.pythonTreeProblem(of: path) {
                trees[name] = PythonTree(name: name, path: path, layout: .unknown, release: nil, problem: problem)
            } else {
                trees[name] = PythonTree(name: name, path: path, layout: HostFacts.pythonLayout(of: path), release: HostFacts.pythonRelease(of: path))
            }
        }
        return trees
    }
}

extension HostSurvey {
    /// Reads the host: the journals, the trees, the fate_flow processes, base_conf.yaml, and the
    /// database when its socket is here and DB_PASS is known.
    /// - Parameter package: without a journal, the package or its unpacked folder, for its parameters.
    public init(fateRoot: String, role: MachineRole? = nil, package: String? = nil, password: Secret? = nil) throws {
        guard FileSystem.isDirectory(fateRoot) else { throw HostError("FATE_ROOT \(fateRoot) is not a folder (give --fate-root)") }
        if let problem = StateFolder.problems(fateRoot: fateRoot).first { throw HostError(problem) }
        let journals = try UpgradeJournal.all(fateRoot: fateRoot)
        let newest = journals.last { $0.rolledBack == nil } ?? journals.last
        let parameters = try HostParameters.resolve(fateRoot: fateRoot, journal: newest, package: package, password: password)
        let confPath = "\(fateRoot)/python/arch/conf/base_conf.yaml"
        var conf: BaseConf? = nil
        var confProblem: String? = nil
        var changed: Double? = nil
        do {
            conf = try BaseConf(parsing: try FileSystem.read(confPath, limit: BaseConf.sizeLimit), file: confPath)
            var info = stat()
            if stat(confPath, &info) == 0 { changed = Double(info.st_ctim.tv_sec) + Double(info.st_ctim.tv_nsec) / 1e9 }
        } catch {
            confProblem = error.operatorLines.joined(separator: "; ")
        }
        var database: DatabaseView
        var status = stat()
        if stat(parameters.mysqlSocketPath, &status) != 0 || status.st_mode & S_IFMT != S_IFSOCK {
            database = .notAsked("no MySQL socket at \(parameters.mysqlSocketPath): the database is not on this host")
        } else if parameters.dbPass.isEmpty {
            database = .notAsked("DB_PASS is not known here (the upgrade's work folder is gone): give --db-pass-file, --db-pass-stdin or FATE_DB_PASS")
        } else {
            let client = MySQLClient(parameters)
            do {
                let columns = try client.columns(in: Preflight.database)
                let sizes = try client.tableSizes(in: Preflight.database).mapValues { $0.data + $0.index }
                database = .read(columns: columns, sizes: sizes)
            } catch {
                database = .failed(error.description)
            }
        }
        self.init(fateRoot: fateRoot, realRoot: HostFacts.realPath(fateRoot) ?? fateRoot, journals: journals, parameters: parameters,
                  role: role ?? newest.flatMap { MachineRole(rawValue: $0.role) } ?? .fateflow, trees: PythonTree.survey(fateRoot),
                  servers: HostFacts.fateFlowServers(), baseConf: conf, baseConfProblem: confProblem, baseConfChangedAt: changed,
                  database: database)
    }

    /// The client of the database the survey asked.
    public var client: MySQLClient? { database.asked ? MySQLClient(parameters) : nil }
    public var databaseNote: String? { database.problem }
}

/// `status`: where this host stands.
public struct HostStatus: Codable, Sendable {
    public struct Run: Codable, Sendable {
        public var id: String
        public var startedAt: String
        public var finishedAt: String?
        public var component: String
        public var role: String
        public var outcome: String
        public var rolledBackAt: String?
        public var verifiedAt: String?
        public var snapshot: String?
        /// Where a rollback of it that did not finish stopped.
        public var rollbackStopped: String?
    }
    public struct Tree: Codable, Sendable {
        public var path: String
        public var layout: String
        /// The release its settings files come from ("1.4.2/1.4.3" where they cannot be told apart).
        public var release: String?
        /// Why its settings files could not be read (then layout is `unknown`).
        public var problem: String?
    }
    public struct Item: Codable, Sendable {
        public var name: String
        public var bytes: Int64
    }
    public struct Service: Codable, Sendable {
        public var running: Bool
        public var pids: [Int32]
        /// Whether it should run here: true on the fateflow machine, false on a nodemanager; nil
        /// where no run touched it (a machine that only holds MySQL).
        public var expected: Bool?
        public var http: String?
        public var httpAnswers: Bool?
    }

    /// base_conf.yaml's registry settings as FATE reads them; the ZooKeeper password only said to be set.
    public struct Registry: Codable, Sendable, Equatable {
        public var useRegistry: Bool?
        public var hosts: [String]?
        public var useACL: Bool?
        public var user: String?
        public var passwordSet: Bool?
        public var isEmpty: Bool { self == Registry() }
    }

    public var schemaVersion = ReportSchema.version
    public var host: String
    public var fateRoot: String
    public var role: String
    public var runs: [Run]
    public var trees: [Tree]
    public var registry: Registry
    public var service: Service
    /// The fate_flow schema as one word: `1.4.0`, `1.4.1`, `1.4.4`, `partial`, `missing`.
    public var schema: String?
    public var backupFolders: [Item]
    public var backupTables: [Item]
    public var snapshots: [Item]
    public var notes: [String]

    public static func gather(_ view: HostSurvey) -> HostStatus {
        let root = view.fateRoot
        var notes: [String] = []
        let runs = view.journals.map {
            Run(id: $0.id, startedAt: $0.startedAt, finishedAt: $0.finishedAt, component: $0.component.rawValue, role: $0.role,
                outcome: $0.outcome.rawValue, rolledBackAt: $0.rolledBack?.at, verifiedAt: $0.verifiedAt, snapshot: $0.snapshot?.file,
                rollbackStopped: $0.rolledBack == nil && $0.rollbackAttempt?.unfinished == true ? ($0.rollbackAttempt?.stoppedAt ?? "while it ran (killed?)") : nil)
        }
        for run in view.journals where run.rolledBack == nil {
            guard let attempt = run.rollbackAttempt, attempt.unfinished else { continue }
            let left = attempt.planned.dropFirst(attempt.done.count)
            notes.append("the rollback of \(run.id) begun at \(attempt.startedAt) stopped \(attempt.stoppedAt.map { "at: \($0)" } ?? "while it ran (killed?)")\(attempt.error.map { " (\($0))" } ?? ""); done: \(attempt.done.isEmpty ? "nothing" : attempt.done.joined(separator: "; ")); not done: \(left.joined(separator: "; ")). fate-upgrade rollback --fate-root \(shellQuoted(root)) finishes it")
        }
        let names = FileSystem.names(in: root).sorted()
        var trees: [Tree] = []
        for name in names where name == "python" || PythonBackupName.timestamp(of: name) != nil || name.hasPrefix("python_upgrade_backup") {
            guard let tree = view.trees[name] else { continue }
            let path = tree.path, release = tree.release
            trees.append(Tree(path: path, layout: (tree.layout ?? .unknown).rawValue, release: release?.shown, problem: tree.problem))
            // The journals against the disk: what they say is in place must be there.
            if name == "python", let release, release != .target,
               let run = view.live.last(where: { $0.outcome == .succeeded && $0.component.touchesPython }) {
                notes.append("the journal \(run.id) says python/ was upgraded, but it holds FATE \(release.shown)'s files: rolled back or replaced by hand; fate-upgrade rollback --plan shows what is left")
            }
            if name != "python", release == .target {
                notes.append("\(path) holds FATE \(FateRelease.target.rawValue)'s files, not a release from before (the upgrade script run again by hand?): rollback does not restore it")
            }
        }
        var registry = Registry()
        var http: (host: String, port: Int)? = nil
        if let conf = view.baseConf {
            if let current = try? conf.current() {
                registry = Registry(useRegistry: current.useRegistry?.value, hosts: current.hosts?.value, useACL: current.useACL?.value,
                                    user: current.user?.value, passwordSet: current.password.map { !$0.value.isEmpty })
            }
            http = conf.fateFlowHTTP()
        } else {
            notes.append("\(view.baseConfPath): \(view.baseConfProblem ?? "not read")")
        }
        let pids = view.fateFlowPids
        let touched = view.journals.contains { $0.component.touchesService }
        let expected: Bool? = view.role == .nodemanager ? false : touched ? true : nil
        let service = Service(running: !pids.isEmpty, pids: pids, expected: expected, http: http.map { "\($0.host):\($0.port)" },
                              httpAnswers: pids.isEmpty ? nil : http.map { HostFacts.answersHTTP(host: $0.host, port: $0.port) })
        var schema: String? = nil
        var tables: [Item] = []
        if case .read(_, let sizes) = view.database {
            schema = view.database.schema?.code
            tables = sizes.keys.filter(HostSurvey.isLeftoverTable).sorted().map { Item(name: $0, bytes: sizes[$0]!) }
        } else if let note = view.databaseNote {
            notes.append(note)
        }
        var folders: [Item] = []
        for name in names where name != "python" && trees.contains(where: { $0.path == "\(root)/\(name)" }) {
            folders.append(Item(name: "\(root)/\(name)", bytes: HostFacts.size(of: "\(root)/\(name)")))
        }
        let snapshotFolder = DatabaseSnapshots.folder(fateRoot: root)
        let snapshots = FileSystem.names(in: snapshotFolder).filter { $0.hasSuffix(".sql.gz") }.sorted().map {
            Item(name: "\(snapshotFolder)/\($0)", bytes: HostFacts.size(of: "\(snapshotFolder)/\($0)"))
        }
        for survivor in HostFacts.survivingScripts(of: view.journals) {
            notes.append("the script of \(survivor.id) is still running (process group \(survivor.group): \(survivor.processes.joined(separator: ", "))): apply and rollback wait for it; stop it with kill -TERM -\(survivor.group)")
        }
        for leftover in SecretTemporaries.removedThisRun {
            notes.append("removed \(leftover): a secret-holding temporary (the mysql option file with DB_PASS) that a run killed before it could clean up left")
        }
        if expected == true && pids.isEmpty { notes.append("fate_flow is not running on this fateflow machine") }
        if expected == false && !pids.isEmpty { notes.append("fate_flow runs on this nodemanager machine; a cluster runs one fate_flow: stop it") }
        return HostStatus(host: hostName(), fateRoot: root, role: view.role.rawValue, runs: runs, trees: trees, registry: registry,
                          service: service, schema: schema, backupFolders: folders, backupTables: tables, snapshots: snapshots, notes: notes)
    }

    /// The report as lines for a terminal.
    public var lines: [String] {
        let shownRole = service.expected == nil && role == MachineRole.fateflow.rawValue ? "database only (no run touched fate_flow)" : role
        var lines = ["host \(host), FATE_ROOT \(fateRoot), role \(shownRole)"]
        lines.append(runs.isEmpty ? "runs: none recorded" : "runs:")
        for run in runs {
            var line = "  \(run.id)  \(run.component) (\(run.role))  \(run.outcome)"
            if let at = run.rolledBackAt { line += ", rolled back \(at)" }
            if let at = run.verifiedAt { line += ", verified \(at)" }
            if run.snapshot != nil { line += ", snapshot" }
            if run.rollbackStopped != nil { line += ", ROLLBACK NOT FINISHED" }
            lines.append(line)
        }
        lines.append("python trees:")
        for tree in trees { lines.append("  \(tree.path): \(tree.problem.map { "cannot be read: \($0)" } ?? tree.release.map { "FATE \($0)" } ?? tree.layout)") }
        if !registry.isEmpty {
            let shown: [(String, String?)] = [("use_registry", registry.useRegistry.map { "\($0)" }), ("zookeeper.hosts", registry.hosts?.joined(separator: ",")),
                                              ("zookeeper.password", registry.passwordSet.map { $0 ? ShellParameterBlock.mask : "" }),
                                              ("zookeeper.use_acl", registry.useACL.map { "\($0)" }), ("zookeeper.user", registry.user)]
            lines.append("base_conf.yaml registry: " + shown.compactMap { name, value in value.map { "\(name)=\($0)" } }.joined(separator: " "))
        }
        var serviceLine = "fate_flow: " + (service.running ? "running (pid \(service.pids.map(String.init).joined(separator: ", ")))" : "not running")
        switch service.expected {
        case true?: serviceLine += "; it should run here"
        case false?: serviceLine += "; it must not run here (nodemanager)"
        case nil: break
        }
        if let http = service.http, let answers = service.httpAnswers { serviceLine += "; HTTP \(http) \(answers ? "answers" : "does not answer")" }
        lines.append(serviceLine)
        if let schema { lines.append("fate_flow schema: \(SchemaState(code: schema)?.description ?? schema)") }
        for (title, items) in [("backup folders", backupFolders), ("backup tables", backupTables), ("snapshots", snapshots)] {
            lines.append(items.isEmpty ? "\(title): none" : "\(title):")
            let width = items.map(\.name.count).max() ?? 0
            for item in items { lines.append("  \(item.name.padded(to: width))  \(sizeText(item.bytes))") }
        }
        for note in notes { lines.append("note: \(note)") }
        return lines
    }
}
