/// The steps of one `apply`, in order: `--plan` prints them, execution runs them, each with its
/// whole payload (the exact commands, paths and time bounds), so what is printed is what runs.
public struct ApplyPlan: Sendable {
    public enum Step: Sendable, Hashable, CustomStringConvertible {
        /// Into a private folder first, renamed into place when complete.
        case extract(package: String, into: String, entries: Int)
        /// mysqldump of the database before the SQL runs, compressed, into FATE_ROOT/.fate-upgrade/snapshots/.
        case snapshot(database: String, file: String, tool: String, estimate: Int64)
        case recordJournal(path: String)
        /// The package's script, exactly as it runs: interpreter, arguments, folder, time bound.
        case runScript(Command, log: String, timeout: Duration)
        /// chown -R of what the script made, to FATE_ROOT's owner (root with --allow-root).
        case handOver(paths: [String], owner: FileOwner)
        /// Stop the fate_flow the script started from the new tree with the release's defaults
        /// (writing into its logs, perhaps a fresh sqlite database), before the site's data moves in.
        case pauseService(Command)
        /// The site's settings merged into the new tree and its data moved there (confmigrate);
        /// `planned`: what the merge will carry, read before anything runs.
        case carrySite(planned: [String])
        /// Start, then within `within` a fate_flow from python/, started by this, must listen on
        /// base_conf.yaml's ports and answer HTTP.
        case startService(Command, within: Duration)
        /// Restart only when confmigrate changed base_conf.yaml, unless `always`.
        case restartService(stop: Command, start: Command, within: Duration, always: Bool)
        case stopService(Command)

        public var description: String {
            switch self {
            case .extract(let package, let folder, let entries):
                "extract \(package) into \(folder)/ (\(entries) entries; a private folder until complete, then readable by you only: the script holds DB_PASS)"
            case .snapshot(let database, let file, let tool, let estimate):
                "snapshot database \(database) with \(tool) --single-transaction --skip-triggers into \(file) (0600, gzip; about \(sizeText(estimate)) at most)"
            case .recordJournal(let path): "record the journal \(path)"
            case .runScript(let command, let log, let timeout):
                "run \(command.shownWithUser) in \(command.directory ?? "."), logging to \(log), stopped after \(timeout)"
            case .handOver(let paths, let owner): "hand \(paths.joined(separator: ", ")) to \(owner.userName) (chown -R)"
            case .pauseService(let command): "stop fate_flow, which the script started with the new release's default settings: \(command.shownWithUser); then no fate_flow of FATE_ROOT may be left (stopped by pid if so)"
            case .carrySite(let planned):
                (["carry the site from the new python_<timestamp> backup into the new python/ (confmigrate):"] + planned.map { "    " + $0 }).joined(separator: "\n")
            case .startService(let command, let bound):
                "start fate_flow from the new tree, with the site's settings: \(command.shownWithUser); then within \(bound) a fate_flow from python/, started by this, must listen on base_conf.yaml's ports and answer HTTP"
            case .restartService(let stop, let start, _, let always):
                (always ? "restart fate_flow as FATE_ROOT's owner: " : "restart fate_flow if confmigrate changed the settings: ") + "\(stop.shownWithUser); \(start.shownWithUser)"
            case .stopService(let command): "stop fate_flow (a cluster runs one fate_flow, on the fateflow machine): \(command.shownWithUser)"
            }
        }
    }

    public var steps: [Step]

    public init(steps: [Step]) { self.steps = steps }
}

/// Plans one `apply` from what was read and checked before anything changes. Pure.
public struct ApplyPlanner: Sendable {
    public var component: UpgradeComponent
    public var role: MachineRole
    public var fateRoot: String
    public var fateFlowRoot: String
    /// FATE_ROOT/.fate-upgrade.
    public var stateFolder: String
    public var id: String
    public var package: String
    public var packageEntries: Int
    /// Where the package is extracted.
    public var workFolder: String
    /// The package's script with its interpreter, as it will run.
    public var script: Command
    public var scriptTimeout: Duration
    /// The dump tool found (mysqldump, mariadb-dump), or nil for no snapshot.
    public var snapshotTool: String?
    public var snapshotEstimate: Int64
    /// FATE_ROOT's owner when it is not the user running (root with --allow-root).
    public var owner: FileOwner?
    /// Carry the site's settings and data (confmigrate), with what the merge was planned to do.
    public var carrySite: [String]?
    public var stop: Command
    public var start: Command
    public var startBound: Duration

    public init(component: UpgradeComponent, role: MachineRole, fateRoot: String, fateFlowRoot: String, stateFolder: String, id: String,
                package: String, packageEntries: Int, workFolder: String, script: Command, scriptTimeout: Duration,
                snapshotTool: String?, snapshotEstimate: Int64, owner: FileOwner?, carrySite: [String]?,
                stop: Command, start: Command, startBound: Duration) {
        self.component = component
        self.role = role
        self.fateRoot = fateRoot
        self.fateFlowRoot = fateFlowRoot
        self.stateFolder = stateFolder
        self.id = id
        self.package = package
        self.packageEntries = packageEntries
        self.workFolder = workFolder
        self.script = script
        self.scriptTimeout = scriptTimeout
        self.snapshotTool = snapshotTool
        self.snapshotEstimate = snapshotEstimate
        self.owner = owner
        self.carrySite = carrySite
        self.stop = stop
        self.start = start
        self.startBound = startBound
    }

    public var snapshotFile: String { "\(stateFolder)/snapshots/\(id).sql.gz" }

    public var plan: ApplyPlan {
        var steps: [ApplyPlan.Step] = [.extract(package: package, into: workFolder, entries: packageEntries)]
        if component.touchesDatabase, let tool = snapshotTool {
            steps.append(.snapshot(database: fateFlowDatabase, file: snapshotFile, tool: tool, estimate: snapshotEstimate))
        }
        steps.append(.recordJournal(path: "\(stateFolder)/journal/\(id).json"))
        steps.append(.runScript(script, log: "\(stateFolder)/logs/\(id).log", timeout: scriptTimeout))
        // Handed over once fate_flow is stopped and the site carried: what a root-run fate_flow or
        // the carry wrote is the owner's too.
        let handOver = owner.map { owner in
            ApplyPlan.Step.handOver(paths: !component.touchesService ? [stateFolder]
                                    : component.touchesFateFlow ? [fateFlowRoot, stateFolder] : ["\(fateRoot)/python", stateFolder], owner: owner)
        }
        if let planned = carrySite, component.touchesPython {
            steps.append(.pauseService(stop))
            steps.append(.carrySite(planned: planned))
            if let handOver { steps.append(handOver) }
            if role == .fateflow { steps.append(.startService(start, within: startBound)) }
        } else {
            if let handOver { steps.append(handOver) }
            // The script started fate_flow as whoever ran it: as root, it must run as the owner.
            if role == .fateflow && component.touchesService && owner != nil {
                steps.append(.restartService(stop: stop, start: start, within: startBound, always: true))
            }
            if role == .nodemanager && component.touchesService { steps.append(.stopService(stop)) }
        }
        return ApplyPlan(steps: steps)
    }
}

/// The database FATE's upgrade SQL changes.
public let fateFlowDatabase = "fate_flow"
