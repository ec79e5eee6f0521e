/// One fate_flow server process as the host shows it (`/proc`), read once. FATE's service scripts
/// exit 0 whatever happened, so what fate_flow is doing is judged from these facts alone.
public struct FateFlowProcess: Sendable, Hashable, Codable {
    public var pid: Int32
    /// The `fate_flow_server.py` its command line names, made absolute through its working folder
    /// (supervisord starts `python fate_flow_server.py` in `directory=`).
    public var script: String
    /// Seconds since the epoch, to the clock tick.
    public var startedAt: Double
    /// When the file at `script` last changed (ctime), nil when nothing is there now. A process that
    /// started before it cannot be running it: it runs what was at that path before (a tree that the
    /// upgrade moved aside).
    public var scriptChangedAt: Double?
    /// Its working folder, resolved now (it follows a rename of the tree).
    public var workingFolder: String?
    /// Where its standard output and error are now (service.sh sends them to python/logs; they follow
    /// a rename of the tree).
    public var outputFiles: [String]
    /// TCP ports it listens on.
    public var listening: [Int]
    /// Files it holds open that tell how it runs (its sqlite database in standalone mode).
    public var openDatabases: [String]

    public init(pid: Int32, script: String, startedAt: Double, scriptChangedAt: Double?, workingFolder: String? = nil,
                outputFiles: [String] = [], listening: [Int] = [], openDatabases: [String] = []) {
        self.pid = pid
        self.script = script
        self.startedAt = startedAt
        self.scriptChangedAt = scriptChangedAt
        self.workingFolder = workingFolder
        self.outputFiles = outputFiles
        self.listening = listening
        self.openDatabases = openDatabases
    }

    /// The python/ folder its script path names (`…/python/fate_flow/fate_flow_server.py` → `…/python`).
    public var namedTree: String {
        var parts = script.split(separator: "/", omittingEmptySubsequences: false)
        if parts.count >= 3 { parts.removeLast(2) }
        return parts.joined(separator: "/")
    }

    /// Clock ticks and the coarse times of file systems: a file written in the same instant as the
    /// process started is not taken for one written after it.
    static let slack = 0.05

    /// Whether the file its command line names was in place, unchanged, when it started.
    public var runsNamedFile: Bool {
        guard let changed = scriptChangedAt else { return false }
        return startedAt + FateFlowProcess.slack >= changed
    }

    /// The tree it runs from: the named one when that file predates it; otherwise where its working
    /// folder or its output went with the rename, when inside `fateRoot`; nil when not known.
    public func tree(fateRoot: String) -> String? {
        if runsNamedFile { return namedTree }
        for path in [workingFolder].compactMap({ $0 }) + outputFiles {
            guard path.hasPrefix(fateRoot + "/") else { continue }
            let first = path.dropFirst(fateRoot.count + 1).split(separator: "/").first.map(String.init) ?? ""
            if first.hasPrefix("python") { return "\(fateRoot)/\(first)" }
        }
        return nil
    }

    /// Whether it belongs to the FATE install at `fateRoot`: by what it names or where it works.
    public func belongs(to fateRoot: String) -> Bool {
        ([script, workingFolder].compactMap { $0 } + outputFiles).contains { $0.hasPrefix(fateRoot + "/") }
    }
}

/// What fate_flow must look like after a step, and how the processes found measure up. Pure: the
/// caller surveys the host; this says whether it is what was meant, and what is wrong if not.
public struct FateFlowExpectation: Sendable, Hashable {
    public var fateRoot: String
    /// FATE_ROOT/python.
    public var tree: String
    public var httpPort: Int?
    public var grpcPort: Int?
    /// Started at or after this (the run that started it began then), seconds since the epoch.
    public var startedAfter: Double?
    /// When the base_conf.yaml it must read last changed: a process started before it runs with
    /// the settings from before.
    public var settingsChangedAt: Double?

    public init(fateRoot: String, tree: String, httpPort: Int?, grpcPort: Int?, startedAfter: Double? = nil, settingsChangedAt: Double? = nil) {
        self.fateRoot = fateRoot
        self.tree = tree
        self.httpPort = httpPort
        self.grpcPort = grpcPort
        self.startedAfter = startedAfter
        self.settingsChangedAt = settingsChangedAt
    }

    /// The processes of this install that are still there when none should be (after a stop).
    public func leftAfterStop(_ processes: [FateFlowProcess]) -> [FateFlowProcess] {
        processes.filter { $0.belongs(to: fateRoot) }
    }

    /// The one process that is fate_flow as meant (from `tree`, started when it should, listening on
    /// the configured ports), or every reason none is, one line each.
    public func judgeRunning(_ processes: [FateFlowProcess]) -> Result<FateFlowProcess, FateFlowProblems> {
        let ours = processes.filter { $0.belongs(to: fateRoot) }
        guard !ours.isEmpty else { return .failure(FateFlowProblems(lines: ["no fate_flow runs from \(tree)"])) }
        var lines: [String] = []
        for process in ours {
            let problems = self.problems(of: process)
            if problems.isEmpty { return .success(process) }
            lines += problems.map { "fate_flow pid \(process.pid): \($0)" }
        }
        return .failure(FateFlowProblems(lines: lines))
    }

    func problems(of process: FateFlowProcess) -> [String] {
        var problems: [String] = []
        let tree = process.tree(fateRoot: fateRoot)
        if tree != self.tree {
            if let tree {
                problems.append("runs from \(tree), not \(self.tree)")
            } else {
                problems.append("started \(FateFlowExpectation.shown(process.startedAt)), before \(process.script) was put in place (\(process.scriptChangedAt.map(FateFlowExpectation.shown) ?? "it is gone")): it runs the tree that was there before")
            }
            return problems
        }
        if let after = startedAfter, process.startedAt + FateFlowProcess.slack < after {
            problems.append("started \(FateFlowExpectation.shown(process.startedAt)), before this run began (\(FateFlowExpectation.shown(after))): it is not the one this run started")
        }
        if let changed = settingsChangedAt, process.startedAt + FateFlowProcess.slack < changed {
            problems.append("started \(FateFlowExpectation.shown(process.startedAt)), before base_conf.yaml last changed (\(FateFlowExpectation.shown(changed))): it runs with the settings from before; restart it")
        }
        let wanted = [httpPort, grpcPort].compactMap { $0 }
        let missing = wanted.filter { !process.listening.contains($0) }
        if !missing.isEmpty {
            let shown = process.listening.isEmpty ? "on no TCP port" : "on \(process.listening.map(String.init).joined(separator: ", "))"
            problems.append("listens \(shown), not on \(missing.map(String.init).joined(separator: ", ")) as base_conf.yaml says")
        }
        return problems
    }

    /// UTC, to the second: what an operator compares with logs.
    public static func shown(_ seconds: Double) -> String {
        let whole = Int(seconds.rounded(.down))
        let days = whole / 86400, rest = whole % 86400
        // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
        let z = days + 719468, era = (z >= 0 ? z : z - 146096) / 146097
        let doe = z - era * 146097, yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100), mp = (5 * doy + 2) / 153
        let day = doy - (153 * mp + 2) / 5 + 1, month = mp < 10 ? mp + 3 : mp - 9
        let year = yoe + era * 400 + (month <= 2 ? 1 : 0)
        func two(_ n: Int) -> String { n < 10 ? "0\(n)" : "\(n)" }
        return "\(year)-\(two(month))-\(two(day)) \(two(rest / 3600)):\(two(rest % 3600 / 60)):\(two(rest % 60)) UTC"
    }
}

/// Why no process is fate_flow as meant, one line each.
public struct FateFlowProblems: Error, Sendable, Hashable {
    public var lines: [String]
}
