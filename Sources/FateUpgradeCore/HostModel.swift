/// What a host is and holds, as values: the journals, the python trees, the fate_flow processes,
/// the database. Read once per command by the host layer; planned and judged from here.

/// A machine's role in an ansible cluster: nodemanager machines stop fate_flow afterwards.
public enum MachineRole: String, Sendable, Codable, CaseIterable {
    case fateflow, nodemanager
}
/// What a host's python tree and schema were, as far as they were looked at.
public struct HostState: Codable, Sendable, Hashable {
    public var python: PythonTreeLayout?
    public var schema: SchemaState?
    public init(python: PythonTreeLayout?, schema: SchemaState?) {
        self.python = python
        self.schema = schema
    }
}
/// The record of one upgrade run on this host, kept under FATE_ROOT/.fate-upgrade/journal/.
/// Written before the package's script runs and again after, so that even a run killed
/// midway leaves what rollback needs: what existed before, and where to look.
public struct UpgradeJournal: Codable, Sendable {
    public enum Outcome: String, Codable, Sendable {
        case running, succeeded, failed, interrupted
    }

    public struct Snapshot: Codable, Sendable, Equatable {
        /// `python_<ts>` folders in FATE_ROOT.
        public var pythonBackups: [String]
        /// `fate_flow_<ts>` folders beside FATE_FLOW_ROOT.
        public var fateFlowBackups: [String]
        /// `*_backup` tables in the fate_flow database (empty when not looked at).
        public var backupTables: [String]

        public init(pythonBackups: [String], fateFlowBackups: [String], backupTables: [String]) {
            self.pythonBackups = pythonBackups
            self.fateFlowBackups = fateFlowBackups
            self.backupTables = backupTables
        }
    }

    /// A rollback of this run as it goes: written before its first step and after each, so that a
    /// rollback that stopped says what it did and what is left.
    public struct RollbackAttempt: Codable, Sendable {
        public var startedAt: String
        public var planned: [String]
        public var done: [String]
        /// The step it stopped at and why; nil while it runs or once it finished.
        public var stoppedAt: String?
        public var error: String?

        public init(startedAt: String, planned: [String], done: [String] = [], stoppedAt: String? = nil, error: String? = nil) {
            self.startedAt = startedAt
            self.planned = planned
            self.done = done
            self.stoppedAt = stoppedAt
            self.error = error
        }

        /// Whether it ended before its last step (stopped, or killed while it ran).
        public var unfinished: Bool { done.count < planned.count }
    }

    public struct Rollback: Codable, Sendable {
        public var at: String
        public var steps: [String]

        public init(at: String, steps: [String]) {
            self.at = at
            self.steps = steps
        }
    }

    public var id: String
    /// The run's place among this FATE_ROOT's runs (the state folder's counter, taken under its
    /// lock): what orders them, whatever the clock said. Nil in journals from before it existed.
    public var sequence: Int?
    public var startedAt: String
    public var finishedAt: String?
    public var host: String
    public var component: UpgradeComponent
    public var role: String
    public var package: String
    public var script: String
    /// The folder the package was extracted into (it holds DB_PASS until deleted).
    public var workFolder: String?
    /// How the script was run, e.g. `/bin/bash`.
    public var interpreter: String?
    /// The script's parameters as the shell evaluates them; secrets masked.
    public var parameters: [String: String]
    public var before: Snapshot
    public var after: Snapshot?
    public var log: String
    public var logError: String?
    public var outcome: Outcome
    public var exitStatus: Int32?
    public var message: String?
    public var warnings: [String]?
    /// Given with --force over an earlier run that failed or was interrupted.
    public var forced: String?
    public var confmigrate: String?
    /// The python_<timestamp> backup the site's settings and data were carried from.
    public var siteBackup: String?
    public var rolledBack: Rollback?
    /// The steps of the run's plan finished so far, in order.
    public var stepsDone: [String]?
    /// The newest rollback of this run that began.
    public var rollbackAttempt: RollbackAttempt?
    /// The dump of the database taken before the script ran (components that touch MySQL).
    public var snapshot: DatabaseSnapshot?
    /// Why there is none: `--no-snapshot`.
    public var snapshotSkipped: String?
    /// Where the host stood before the run, for `verify --rolled-back`.
    public var stateBefore: HostState?
    /// When `verify` found the upgrade complete; `cleanup` may then remove its backups.
    public var verifiedAt: String?
    /// What `cleanup` removed of this run's backups, and when.
    public var cleanedUp: [String]?
    /// The home folder `~` in the script's parameters stood for: the user who ran the script. The
    /// later commands read the script with it, whoever runs them.
    public var home: String?
    /// The process group the package's script ran in (its leader's pid): while any process of it
    /// lives, the script of this run is still changing the host.
    public var scriptGroup: Int32?

    public init(id: String, startedAt: String, host: String, component: UpgradeComponent, role: String, package: String,
                script: String, workFolder: String? = nil, interpreter: String? = nil, parameters: [String: String],
                before: Snapshot, after: Snapshot? = nil, log: String, outcome: Outcome, message: String? = nil,
                warnings: [String]? = nil, forced: String? = nil, rolledBack: Rollback? = nil) {
        self.id = id
        self.startedAt = startedAt
        self.host = host
        self.component = component
        self.role = role
        self.package = package
        self.script = script
        self.workFolder = workFolder
        self.interpreter = interpreter
        self.parameters = parameters
        self.before = before
        self.after = after
        self.log = log
        self.outcome = outcome
        self.message = message
        self.warnings = warnings
        self.forced = forced
        self.rolledBack = rolledBack
    }

    public var fateRoot: String { parameters["FATE_ROOT"] ?? "" }

    public static func folder(fateRoot: String) -> String { "\(fateRoot)/.fate-upgrade" }

    public var path: String { "\(UpgradeJournal.folder(fateRoot: fateRoot))/journal/\(id).json" }

}

/// A user and group by number, and the user's name where the host's account file has one.
/// Equal by number: the name is for messages.
public struct FileOwner: Sendable, Hashable, CustomStringConvertible {
    public var uid: UInt32
    public var gid: UInt32
    public var name: String?

    public init(uid: UInt32, gid: UInt32, name: String?) {
        self.uid = uid
        self.gid = gid
        self.name = name
    }

    /// The user's name, or `#uid` (which sudo -u also takes).
    public var userName: String { name ?? "#\(uid)" }

    public var description: String { "\(userName) (uid \(uid))" }

    public static func == (lhs: FileOwner, rhs: FileOwner) -> Bool { lhs.uid == rhs.uid && lhs.gid == rhs.gid }
    public func hash(into hasher: inout Hasher) {
        hasher.combine(uid)
        hasher.combine(gid)
    }
}

/// A program to run: what, with which arguments and environment, where and as whom.
/// The environment is the child's whole environment: nothing of ours is inherited unless
/// put here.
public struct Command: Sendable, Hashable {
    public var executable: String
    public var arguments: [String]
    public var environment: [String: String]
    public var directory: String?
    /// Run as this user (we must be root); nil runs as we are.
    public var user: FileOwner?
    /// The child and everything in its process group are killed when this process dies, even
    /// by SIGKILL (a guardian leads the group): for the upgrade script, whose orphan would go on
    /// changing the host under a following rollback.
    public var diesWithUs = false
    /// A signal we receive is not passed on: the child (one database statement that must not be
    /// cut) finishes, and the run stops at its next safe point. Only inside `Signals.deferring`.
    public var shielded = false

    public init(_ executable: String, _ arguments: [String], environment: [String: String], directory: String? = nil, user: FileOwner? = nil) {
        self.executable = executable
        self.arguments = arguments
        self.environment = environment
        self.directory = directory
        self.user = user
    }

    /// The command as an operator would type it, for messages.
    public var shown: String { ([executable] + arguments).map(shellQuoted).joined(separator: " ") }

    /// `shown`, and as whom.
    public var shownWithUser: String { shown + (user.map { " (as \($0.userName))" } ?? "") }
}

/// One python tree in FATE_ROOT (`python`, `python_<ts>`, `python_upgrade_backup…`), as its files say.
public struct PythonTree: Sendable, Hashable {
    public var name: String
    public var path: String
    public var layout: PythonTreeLayout?
    /// The release its settings files come from: what tells a 1.4.4 tree from the one before it.
    public var release: FateRelease?
    /// A settings file that is there and could not be read (too large, unreadable): then layout
    /// and release are not known, and nothing may be judged from them.
    public var problem: String?

    public init(name: String, path: String, layout: PythonTreeLayout?, release: FateRelease?, problem: String? = nil) {
        self.name = name
        self.path = path
        self.layout = layout
        self.release = release
        self.problem = problem
    }

    /// Whether its files are a release from before the one the upgrade installs.
    public var holdsOldRelease: Bool { release.map { $0 != .target } ?? false }
}

/// The fate_flow database as a survey found it.
public enum DatabaseView: Sendable {
    /// Not asked, and why: its socket is not on this host, or DB_PASS is not known.
    case notAsked(String)
    /// Asked, and it did not answer.
    case failed(String)
    /// Each table's columns (name → type) and size in bytes (data and index).
    case read(columns: [String: [String: String]], sizes: [String: Int64])

    public var tables: Set<String>? { if case .read(let columns, let sizes) = self { Set(columns.keys).union(sizes.keys) } else { nil } }
    public var schema: SchemaState? { if case .read(let columns, _) = self { SchemaState.judge(columns) } else { nil } }
    /// Why the database cannot be judged, when it cannot.
    public var problem: String? {
        switch self {
        case .notAsked(let why): why
        case .failed(let why): "the database could not be asked: \(why)"
        case .read: nil
        }
    }
    public var asked: Bool { if case .notAsked = self { false } else { true } }
}

/// One FATE host as its journals and its disk describe it, read once per command: the journals,
/// the python trees and their releases, the fate_flow processes, the settings fate_flow reads,
/// the database. The planners and judges take it as it is; the host layer reads it.
public struct HostSurvey: Sendable {
    public var fateRoot: String
    /// FATE_ROOT with its symlinks resolved, as the paths of processes name it.
    public var realRoot: String
    public var journals: [UpgradeJournal]
    public var parameters: ScriptParameters
    public var role: MachineRole
    public var trees: [String: PythonTree]
    public var servers: [FateFlowProcess]
    /// python/arch/conf/base_conf.yaml, as fate_flow will read it at its next start.
    public var baseConf: BaseConf?
    /// Why it is not there, when it is not: missing, too large, not YAML.
    public var baseConfProblem: String?
    /// Its ctime: a fate_flow started before it runs with settings from before.
    public var baseConfChangedAt: Double?
    public var database: DatabaseView

    public init(fateRoot: String, realRoot: String, journals: [UpgradeJournal], parameters: ScriptParameters, role: MachineRole,
                trees: [String: PythonTree], servers: [FateFlowProcess], baseConf: BaseConf?, baseConfProblem: String? = nil,
                baseConfChangedAt: Double? = nil, database: DatabaseView) {
        self.fateRoot = fateRoot
        self.realRoot = realRoot
        self.journals = journals
        self.parameters = parameters
        self.role = role
        self.trees = trees
        self.servers = servers
        self.baseConf = baseConf
        self.baseConfProblem = baseConfProblem
        self.baseConfChangedAt = baseConfChangedAt
        self.database = database
    }

    /// The runs not rolled back.
    public var live: [UpgradeJournal] { journals.filter { $0.rolledBack == nil } }

    /// The components upgraded by runs that are in place.
    public var upgraded: Set<UpgradeComponent> { Set(live.filter { $0.outcome == .succeeded }.map(\.component)) }
    public var pythonUpgraded: Bool { upgraded.contains { $0.touchesPython } }
    public var databaseUpgraded: Bool { upgraded.contains { $0.touchesDatabase } }

    /// The fate_flow processes of this FATE_ROOT, from any of its trees.
    public var fateFlowServers: [FateFlowProcess] { servers.filter { $0.belongs(to: realRoot) } }
    public var fateFlowPids: [Int32] { fateFlowServers.map(\.pid) }

    public var baseConfPath: String { "\(fateRoot)/python/arch/conf/base_conf.yaml" }

    /// What fate_flow must be now: from FATE_ROOT/python, on the ports base_conf.yaml names,
    /// started after `since` and after the settings last changed.
    public func expectation(since: Double? = nil) -> FateFlowExpectation {
        FateFlowExpectation(fateRoot: realRoot, tree: "\(realRoot)/python", httpPort: baseConf?.fateFlowHTTP()?.port,
                            grpcPort: baseConf?.fateFlowGRPCPort(), startedAfter: since, settingsChangedAt: baseConfChangedAt)
    }

    /// The python_<ts> backup a run made, when it is still there: of several, the one holding the
    /// release from before, by its files.
    public func pythonBackup(of run: UpgradeJournal) -> String? {
        let made = (run.after?.pythonBackups ?? []).filter { !run.before.pythonBackups.contains($0) && trees[$0] != nil }
        let old = made.filter { trees[$0]?.release != .target }
        return (old.isEmpty ? made : old).sorted().last.map { "\(fateRoot)/\($0)" }
    }

    /// Tables named as the upgrade and its rollbacks leave them: `<t>_backup`, `<t>_backup_<date>[_n]`, `<t>_pre_restore_<date>[_n]`.
    public static func isLeftoverTable(_ name: String) -> Bool { RollbackPlan.upgradedTable(of: name) != nil }
}

/// How a run ended, one vocabulary for every command's `--json` report.
public enum RunOutcome: String, Codable, Sendable, CaseIterable {
    /// `--plan`: what would run, nothing changed.
    case planned
    /// Nothing was left to do.
    case unchanged
    case succeeded
    /// The main change succeeded and a step after it did not (apply: the carry or the restart).
    case incomplete
    /// Refused before anything changed.
    case refused
    case failed
    /// A signal stopped it.
    case interrupted
}
