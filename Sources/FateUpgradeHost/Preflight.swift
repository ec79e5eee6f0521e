import FateUpgradeArchive
import FateUpgradeCore
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Glibc

/// The checks `apply` makes before changing anything: those of the package's script, and
/// more. Each failure is one line; all are reported at once.
public struct Preflight {
    public var component: UpgradeComponent
    public var parameters: ScriptParameters
    public var workdir: String
    public var contents: UpgradePackage.Contents
    public var interpreter: ScriptInterpreter
    public var allowRoot: Bool
    /// The names the script's parameter block sets; others (1.5.x's PYTHON_PACKAGE_PATH) are derived by the script.
    public var blockNames: [String] = ScriptParameters.CodingKeys.allCases.map(\.rawValue)
    public var derived: [String: ShellParameterBlock.DerivedValue] = [:]
    /// The `_backup` tables the package's SQL makes, with the file that makes each.
    public var sqlCreates: [String: String] = [:]
    /// The `_backup` tables runs of this tool made that are not rolled back.
    public var ownTables: Set<String> = []
    /// Whether a snapshot of the database is taken before the SQL (`--no-snapshot` says not).
    public var takesSnapshot = true
    /// The program that takes it, once found.
    public private(set) var dumpTool: String?
    /// The estimate the free-space check used, for the plan.
    public private(set) var snapshotEstimate: Int64 = 0
    public private(set) var passed: [String] = []
    public private(set) var problems: [String] = []
    public private(set) var warnings: [String] = []

    public static let database = fateFlowDatabase

    public init(component: UpgradeComponent, parameters: ScriptParameters, workdir: String,
                contents: UpgradePackage.Contents, interpreter: ScriptInterpreter, allowRoot: Bool) {
        self.component = component
        self.parameters = parameters
        self.workdir = workdir
        self.contents = contents
        self.interpreter = interpreter
        self.allowRoot = allowRoot
    }

    public var client: MySQLClient { MySQLClient(parameters) }

    /// The user services are started as: FATE_ROOT's owner when root runs the upgrade on
    /// another user's tree with --allow-root; nil means as we are.
    public var serviceOwner: FileOwner? {
        guard geteuid() == 0, allowRoot, let owner = FileOwner.of(parameters.fateRoot), owner.uid != 0 else { return nil }
        return owner
    }

    public mutating func run() {
        let p = parameters
        let method = p.deployMethod
        if ParameterKind.deployMethods.contains(method) { passed.append("DEPLOY_METHOD \(method)") } else {
            problems.append("DEPLOY_METHOD is '\(method)'; it must be allinone or ansible")
        }
        checkUser()
        if !p.fateRoot.hasPrefix("/") {
            problems.append("FATE_ROOT is '\(p.fateRoot)', not an absolute path; set it with fate-upgrade pack --set FATE_ROOT=/…")
        } else if FileSystem.isDirectory(p.fateRoot) { passed.append("FATE_ROOT \(p.fateRoot)") } else {
            problems.append("FATE_ROOT \(p.fateRoot) is not a folder")
        }
        // Only the fateflow component replaces FATE_FLOW_ROOT; for the others it is not used.
        if component.touchesFateFlow, let problem = ParameterPlan.fateFlowRootProblem(fateRoot: p.fateRoot, fateFlowRoot: p.fateFlowRoot) {
            problems.append("FATE_FLOW_ROOT \(problem) with fate-upgrade pack")
        }
        let tops = Set(contents.paths.compactMap { $0.split(separator: "/").first.map(String.init) })
        let scriptTop = contents.script.path.split(separator: "/").first.map(String.init) ?? ""
        if contents.script.path.contains("/") && tops != [scriptTop] {
            problems.append("the package holds top-level entries other than \(scriptTop)/ (\(tops.subtracting([scriptTop]).sorted().joined(separator: ", "))); extracting them into \(workdir) could replace what is there")
        }
        if let fallback = interpreter.fallback { warnings.append(fallback) }
        if p.isAnsible && component.touchesService {
            let supervisor = "\(p.supervisorRoot)/service.sh"
            if FileSystem.exists(supervisor) { passed.append("supervisor \(supervisor)") } else {
                problems.append("SUPERVISOR_ROOT: \(supervisor) does not exist (needed to stop and start fate_flow with ansible)")
            }
        }
        if component.touchesPython || component.touchesFateFlow {
            checkPythonPackage()
        }
        if component.touchesFateFlow {
            if FileSystem.isDirectory(p.fateFlowRoot) { passed.append("FATE_FLOW_ROOT") } else {
                problems.append("FATE_FLOW_ROOT \(p.fateFlowRoot) is not a folder")
            }
        }
        if let free = FileSystem.freeBytes(at: workdir), free < contents.totalSize {
            problems.append("the work folder \(workdir) has \(free >> 20) MiB free; the package needs \(contents.totalSize >> 20) MiB")
        }
        if component.touchesDatabase { checkDatabase() }
        if let text = String(bytes: contents.script.bytes, encoding: .utf8), text.contains("-p$DB_PASS") || text.contains("-p${DB_PASS}") {
            warnings.append("the package's script passes DB_PASS on the mysql command line, where ps shows it while it runs")
        }
    }

    /// The running user must be able to change what the upgrade changes, and root must not
    /// take over a tree another user runs FATE from.
    private mutating func checkUser() {
        let p = parameters
        let me = FileOwner.current
        if me.uid == 0, let owner = FileOwner.of(p.fateRoot), owner.uid != 0 {
            if allowRoot {
                warnings.append("running as root on FATE_ROOT owned by \(owner): --allow-root given, so fate_flow is started as \(owner.userName) and the new python/ is handed to \(owner.userName)")
            } else {
                let command = (["sudo", "-u", owner.userName] + CommandLine.arguments).map(shellQuoted).joined(separator: " ")
                problems.append("FATE_ROOT \(p.fateRoot) belongs to \(owner), and this is root: files root leaves there break the next run as \(owner.userName), and fate_flow would run as root. Run it as the owner: \(command)   (or add --allow-root)")
            }
        }
        var unwritable: [String] = []
        var places = [p.fateRoot, workdir]
        if component.touchesPython { places.append("\(p.fateRoot)/python") }
        if component.touchesFateFlow { places.append(Path.parent(p.fateFlowRoot)) }
        let state = UpgradeJournal.folder(fateRoot: p.fateRoot)
        if FileSystem.exists(state) { places.append(state) }
        for place in places where FileSystem.exists(place) && !FileSystem.isWritable(place) {
            unwritable.append(place)
        }
        if !unwritable.isEmpty {
            let owners = Set(unwritable.compactMap { FileOwner.of($0)?.userName }).sorted().joined(separator: ", ")
            problems.append("\(me.userName) cannot write \(unwritable.joined(separator: ", ")) (owned by \(owners)); run fate-upgrade as the user who owns FATE_ROOT")
        } else {
            passed.append("\(me.userName) can write FATE_ROOT and the work folder")
        }
    }

    private mutating func checkPythonPackage() {
        let p = parameters
        let python = p.pythonPackagePath
        let inside = python.hasPrefix(workdir + "/") ? String(python.dropFirst(workdir.count + 1)) : nil
        var size: Int64? = inside.flatMap { contents.sizes[$0] }
        var info = stat()
        if size == nil, !python.isEmpty, stat(python, &info) == 0, info.st_mode & S_IFMT == S_IFREG {
            size = Int64(info.st_size)
        }
        if let size {
            passed.append("python package \(python)")
            // The new python tree is unpacked beside the old one; code compresses about 4:1.
            if let free = FileSystem.freeBytes(at: p.fateRoot), free < size * 4 {
                problems.append("FATE_ROOT \(p.fateRoot) has \(free >> 20) MiB free; unpacking the python package needs about \((size * 4) >> 20) MiB")
            }
        } else if !blockNames.contains("PYTHON_PACKAGE_PATH"), let derivation = derived["PYTHON_PACKAGE_PATH"] {
            // Derived by the script (FATE 1.5.x): not a parameter, so no flag of pack can set it.
            if derivation.value == nil {
                warnings.append("PYTHON_PACKAGE_PATH is set by the script itself (line \(derivation.line): \(derivation.source)) and cannot be known until it runs; not checked")
            } else {
                problems.append("PYTHON_PACKAGE_PATH is set by the script itself (line \(derivation.line): \(derivation.source)) to \(python), which is neither on disk nor in this package: the package is incomplete")
            }
        } else if !blockNames.contains("PYTHON_PACKAGE_PATH") {
            problems.append("the script neither sets PYTHON_PACKAGE_PATH nor derives it; this is not a FATE 1.4.x/1.5.x upgrade script")
        } else {
            problems.append("PYTHON_PACKAGE_PATH \(python) does not exist and is not where this package unpacks (\(workdir)/…); set it with `fate-upgrade pack --set PYTHON_PACKAGE_PATH=…` or use --workdir")
        }
    }

    private mutating func checkDatabase() {
        let p = parameters
        let binary = p.mysqlClient
        var ready = true
        if access(binary, X_OK) != 0 {
            problems.append("MYSQL_ROOT: \(binary) does not exist or is not executable"); ready = false
        }
        var status = stat()
        if stat(p.mysqlSocketPath, &status) != 0 || status.st_mode & S_IFMT != S_IFSOCK {
            problems.append("MYSQL_SOCKET_PATH \(p.mysqlSocketPath) is not a socket (is MySQL running?)"); ready = false
        }
        guard ready else { return }
        do {
            try client.run("select 1;")
            passed.append("select 1 as \(p.dbUser)")
            // One look at information_schema: the names, and the sizes the space checks need.
            let sizes = try client.tableSizes(in: Self.database)
            let tables = Set(sizes.keys)
            if tables.isEmpty { problems.append("the database \(Self.database) has no tables (or does not exist)") }
            let schema = SchemaState.judge(try client.columns(in: Self.database))
            checkLeftBackups(tables: tables, schema: schema)
            try checkSpace(sizes)
        } catch {
            problems.append(error.description)
        }
    }

    /// A `_backup` table the package's SQL would make again stops that SQL (`create table … like`
    /// fails when it exists): said with where it came from and what to do, never advice to undo
    /// what this tool did not do.
    private mutating func checkLeftBackups(tables: Set<String>, schema: SchemaState) {
        let date = Clock.local("%Y%m%d")
        for table in upgradedTables where tables.contains("\(table)_backup") {
            let backup = "\(table)_backup"
            guard let file = sqlCreates[backup] else { continue }
            let fails = "\(file) in this package makes \(backup) again (`create table \(backup) like \(table)`), which fails while it is there"
            let aside = RollbackPlan.asideName(for: table, marker: "backup", date: date, taken: tables)
            let rename = "RENAME TABLE `\(backup)` TO `\(aside)`"
            if ownTables.contains(backup) {
                problems.append("\(Self.database) already has \(backup), made by an earlier fate-upgrade run that is not rolled back: \(fails); roll that run back first (fate-upgrade rollback --fate-root \(shellQuoted(parameters.fateRoot)))")
            } else if UpgradeSQL.stepDone(backupOf: table, schema: schema) {
                problems.append("\(Self.database) already has \(backup), the copy an earlier upgrade outside fate-upgrade left (the schema is \(schema.description) already, so \(table) was upgraded then: FATE's own 1.4.0→1.4.1 upgrade leaves t_queue_backup): \(fails); keep it under another name first (\(rename);), then apply again")
            } else {
                problems.append("\(Self.database) already has \(backup), not made by fate-upgrade (an earlier attempt by hand?), while \(table) is not upgraded yet (schema \(schema.description)): \(fails); compare it with \(table), then keep it under another name (\(rename);) or drop it, and apply again")
            }
        }
    }

    /// Room for the snapshot under FATE_ROOT, and for the `_backup` copies the SQL makes in
    /// MySQL's data folder (from information_schema's sizes).
    private mutating func checkSpace(_ sizes: [String: (data: Int64, index: Int64)]) throws(HostError) {
        let p = parameters
        if takesSnapshot {
            if let tool = DatabaseSnapshots.dumpTool(p) {
                dumpTool = tool
                passed.append("mysqldump \(tool)")
            } else {
                problems.append("no mysqldump at \(p.mysqlRoot)/bin/mysqldump nor on PATH, so the database cannot be snapshotted first; install it, or give --no-snapshot to go without")
            }
            let data = sizes.values.reduce(Int64(0)) { $0 + $1.data }
            snapshotEstimate = DatabaseSnapshots.estimatedBytes(dataBytes: data)
            let folder = DatabaseSnapshots.folder(fateRoot: p.fateRoot)
            let place = [folder, UpgradeJournal.folder(fateRoot: p.fateRoot), p.fateRoot].first(where: FileSystem.isDirectory) ?? p.fateRoot
            if let free = FileSystem.freeBytes(at: place) {
                if free < snapshotEstimate {
                    problems.append("\(place) has \(sizeText(free)) free; the snapshot of \(Self.database) (\(sizeText(data)) of table data) needs about \(sizeText(snapshotEstimate)): free some space, or give --no-snapshot to go without")
                } else {
                    passed.append("room for the snapshot (\(sizeText(free)) free, about \(sizeText(snapshotEstimate)) needed)")
                }
            }
        }
        let copied = upgradedTables.compactMap { sizes[$0] }.reduce(Int64(0)) { $0 + $1.data + $1.index }
        guard let row = try client.rows("SELECT @@datadir;").first, let dataFolder = row.first, !dataFolder.isEmpty else { return }
        if let free = FileSystem.freeBytes(at: dataFolder) {
            if free < copied + (16 << 20) {
                problems.append("MySQL's data folder \(dataFolder) has \(sizeText(free)) free; the SQL's _backup copies of the upgraded tables need \(sizeText(copied)) and more while they are written")
            } else {
                passed.append("room for the _backup tables in \(dataFolder)")
            }
        } else {
            warnings.append("MySQL's data folder \(dataFolder) cannot be looked at from here (\(Errno.text())); the SQL's _backup copies need \(sizeText(copied)) there: check its free space by hand")
        }
    }

    /// The python tree's and the schema's state now, for the journal.
    public func hostState() -> HostState {
        HostState(python: component.touchesPython ? HostFacts.pythonLayout(of: "\(parameters.fateRoot)/python") : nil,
                  schema: component.touchesDatabase ? (try? SchemaState.judge(client.columns(in: Self.database))) : nil)
    }

    /// The backups and backup tables present now, for the journal.
    public func snapshot() -> UpgradeJournal.Snapshot {
        let p = parameters
        var tables: [String] = []
        if component.touchesDatabase, let all = try? client.tables(in: Self.database) {
            tables = all.filter { $0.hasSuffix("_backup") }.sorted()
        }
        let flowParent = Path.parent(p.fateFlowRoot)
        return UpgradeJournal.Snapshot(
            pythonBackups: UpgradeJournal.backups(in: p.fateRoot, prefix: "python"),
            fateFlowBackups: p.fateFlowRoot.isEmpty ? [] : UpgradeJournal.backups(in: flowParent, prefix: Path.name(p.fateFlowRoot)),
            backupTables: tables)
    }
}

