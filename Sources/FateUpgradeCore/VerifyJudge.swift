/// The ZooKeeper step a registry check failed at.
public enum RegistryProbeStep: String, Hashable, Sendable {
    case connect, authenticate, list, stat
}

/// `verify` as a program: `probes` says what must be asked of the host beyond the survey (each
/// asked once by the host layer), `judge` turns the survey and the answers into one check per
/// concern. Pure: tested from literal surveys and answers.
public struct VerifyJudge: Sendable {
    /// What the survey cannot say by itself.
    public enum Probe: Hashable, Sendable {
        /// The site merge planned again from this backup: nothing may be left to write or move.
        case site(backup: String, workFolder: String)
        /// An HTTP request to fate_flow (a server just started may need a moment).
        case http(host: String, port: Int)
        /// This host's provider node in ZooKeeper, asked with base_conf.yaml's hosts and credentials.
        case registry(RegistrySettings, httpPort: Int)
        /// fate_flow's database as base_conf.yaml names it, reached as fate_flow reaches it.
        case database(BaseConf.Database)
    }

    /// The site merge planned again from the backup.
    public enum SiteAnswer: Sendable {
        case pending(decisions: Int, files: [String], data: [String])
        case carried(values: Int, moved: [String])
        case unreadable(String)
    }

    public enum RegistryAnswer: Sendable {
        /// This host's address as fate_flow registers it could not be found.
        case addressUnknown(String)
        case failed(RegistryProbeStep, String)
        case findings(FlowProviderNode, [RegistryFinding])
    }

    public enum DatabaseAnswer: Sendable {
        case schema(SchemaState)
        case refused(String)
    }

    /// What the host answered, one value per probe asked.
    public struct Answers: Sendable {
        public var site: SiteAnswer?
        public var httpAnswers: Bool?
        public var registry: RegistryAnswer?
        public var database: DatabaseAnswer?

        public init(site: SiteAnswer? = nil, httpAnswers: Bool? = nil, registry: RegistryAnswer? = nil, database: DatabaseAnswer? = nil) {
            self.site = site
            self.httpAnswers = httpAnswers
            self.registry = registry
            self.database = database
        }
    }

    public struct Check: Codable, Sendable, Hashable {
        public var name: String
        public var ok: Bool
        public var detail: String

        public init(name: String, ok: Bool, detail: String) {
            self.name = name
            self.ok = ok
            self.detail = detail
        }
    }

    public let survey: HostSurvey
    public let rolledBack: Bool
    /// How the operator stops and starts fate_flow here, for the fixes the checks name.
    public let stopCommand: String
    public let startCommand: String

    public init(survey: HostSurvey, rolledBack: Bool, stopCommand: String, startCommand: String) {
        self.survey = survey
        self.rolledBack = rolledBack
        self.stopCommand = stopCommand
        self.startCommand = startCommand
    }

    private var rollback: String { "fate-upgrade rollback --fate-root \(shellQuoted(survey.fateRoot))" }

    /// The newest run in place that upgraded python.
    private var pythonRun: UpgradeJournal? {
        survey.pythonUpgraded ? survey.live.last { $0.component.touchesPython && $0.outcome == .succeeded } : nil
    }

    /// Whether fate_flow must run here (true), must not (false), or is not judged (nil).
    public var fateFlowShouldRun: Bool? {
        if rolledBack {
            guard let last = survey.journals.last, last.component.touchesService else { return nil }
            return survey.role == .fateflow
        }
        return survey.pythonUpgraded ? survey.role == .fateflow : nil
    }

    /// The fate_flow that runs as expected, if one does.
    private var healthyServer: FateFlowProcess? {
        if case .success(let process) = survey.expectation().judgeRunning(survey.servers) { process } else { nil }
    }

    private var registrySettings: RegistrySettings? {
        guard !rolledBack, survey.pythonUpgraded, survey.role == .fateflow, let current = try? survey.baseConf?.current(),
              current.useRegistry?.value == true else { return nil }
        return RegistrySettings(asFateFlowReads: current)
    }

    /// What must be asked of the host, in order.
    public var probes: [Probe] {
        var probes: [Probe] = []
        if !rolledBack, let run = pythonRun, let backup = survey.pythonBackup(of: run) {
            probes.append(.site(backup: backup, workFolder: run.workFolder ?? "\(survey.fateRoot)/upgrade_package"))
        }
        if let settings = registrySettings, let port = survey.baseConf?.fateFlowHTTP()?.port {
            probes.append(.registry(settings, httpPort: port))
        }
        if !rolledBack, survey.pythonUpgraded, survey.role == .fateflow, let conf = survey.baseConf, conf.workMode() == 1, let database = conf.database() {
            probes.append(.database(database))
        }
        if fateFlowShouldRun == true, healthyServer != nil, let http = survey.baseConf?.fateFlowHTTP() {
            probes.append(.http(host: http.host, port: http.port))
        }
        return probes
    }

    public func judge(_ answers: Answers) -> [Check] {
        var checks: [Check] = []
        func check(_ name: String, _ ok: Bool, _ detail: String) { checks.append(Check(name: name, ok: ok, detail: detail)) }
        let live = survey.live
        if rolledBack {
            if let run = live.last {
                check("journal", false, "the run \(run.id) (\(run.component.rawValue), \(run.outcome.rawValue)) is still in place: \(rollback)")
            } else if let last = survey.journals.last {
                check("journal", true, "every run is rolled back (the last, \(last.id), at \(last.rolledBack?.at ?? "?"))")
            } else {
                check("journal", true, "no upgrade was ever recorded on this host: nothing to roll back")
            }
            let before = survey.journals.last?.stateBefore
            if let layout = before?.python {
                let now = survey.trees["python"]?.layout
                // The layout cannot tell 1.4.2/1.4.3 from 1.4.4: the files can.
                let release = survey.trees["python"]?.release
                let ok = now == layout && release != .target
                check("python", ok, "python/ is \(now?.rawValue ?? "missing")\(release.map { ", FATE \($0.shown)'s files" } ?? ""); before the upgrade it was \(layout.rawValue)"
                      + (ok ? "" : ": roll back again, or restore python/ from the python_<timestamp> backup that holds the old release by hand"))
            }
            if let schema = before?.schema {
                checks.append(schemaCheck(expected: schema, fix: "restore it: \(rollback) --from-snapshot (if a snapshot was taken)"))
            }
        } else {
            let unfinished = live.filter { $0.outcome != .succeeded }
            if let run = unfinished.last {
                check("journal", false, "the run \(run.id) of \(run.component.rawValue) \(run.outcome.rawValue): \(rollback), then apply again")
            } else if live.isEmpty {
                let rolled = survey.journals.last.map { " (the last run, \($0.id), was rolled back)" } ?? ""
                check("journal", false, "no upgrade is in place on this host\(rolled): run fate-upgrade apply")
            } else {
                check("journal", true, "upgraded: " + live.map { "\($0.component.rawValue) (\($0.id))" }.joined(separator: ", "))
            }
            if let run = pythonRun {
                checks.append(pythonCheck(run))
                if let backup = survey.pythonBackup(of: run) { checks.append(siteCheck(backup: backup, answers.site)) }
            }
            if survey.databaseUpgraded {
                checks.append(schemaCheck(expected: .v144, fix: "\(rollback), then apply --component mysql again"))
            }
            if registrySettings != nil { checks.append(registryCheck(answers.registry)) }
            if survey.pythonUpgraded, survey.role == .fateflow, let conf = survey.baseConf, conf.workMode() == 1 {
                checks.append(databaseCheck(conf.database(), answers.database))
            }
        }
        if let shouldRun = fateFlowShouldRun { checks.append(fateFlowCheck(shouldRun: shouldRun, httpAnswers: answers.httpAnswers)) }
        return checks
    }

    private func pythonCheck(_ run: UpgradeJournal) -> Check {
        // What cannot be read says nothing about the upgrade: never a reason to roll back.
        if let problem = survey.trees["python"]?.problem {
            return Check(name: "python", ok: false, detail: "cannot tell what python/ is: \(problem); fix that and run fate-upgrade verify again (nothing here calls for a rollback)")
        }
        let layout = survey.trees["python"]?.layout
        let backup = survey.pythonBackup(of: run)
        // After sign-off, cleanup may have removed the old tree on purpose.
        let cleaned = (run.cleanedUp ?? []).contains { Path.name($0).hasPrefix("python_") }
        let release = survey.trees["python"]?.release
        let ok = layout == .v142 && release == .target && (backup != nil || cleaned)
        let detail = layout != .v142 || release != .target
            ? "python/ is \(layout?.rawValue ?? "missing")\(release.map { " with FATE \($0.shown)'s files" } ?? ""), not the 1.4.4 tree the journal \(run.id) records: \(rollback), then apply again"
            : backup == nil && cleaned ? "python/ is the new tree (\(layout!.rawValue) layout); cleanup removed the old one after sign-off"
            : backup == nil ? "the backup of the old python/ that \(run.id) made is gone: a rollback would have nothing to restore"
            : "python/ is the new tree (\(layout!.rawValue) layout); the old one is kept as \(backup!)"
        return Check(name: "python", ok: ok, detail: detail)
    }

    /// The site's settings and data must be in the new tree: the merge, planned again from the
    /// backup, has nothing left to write or move.
    private func siteCheck(backup: String, _ answer: SiteAnswer?) -> Check {
        let fix = "run fate-upgrade confmigrate --fate-root \(shellQuoted(survey.fateRoot))"
        switch answer {
        case .pending(let decisions, let files, let data)?:
            let parts = [decisions == 0 ? nil : "\(decisions) of its settings need a choice",
                         files.isEmpty ? nil : "settings not carried into \(files.joined(separator: ", "))",
                         data.isEmpty ? nil : "\(data.joined(separator: ", ")) still in the backup"].compactMap { $0 }
            return Check(name: "site", ok: false, detail: "python/ does not hold the site of \(Path.name(backup)): \(parts.joined(separator: "; ")): \(fix)")
        case .carried(let values, let moved)?:
            return Check(name: "site", ok: true, detail: "python/ carries the site's settings of \(Path.name(backup)) (\(values) values)"
                         + (moved.isEmpty ? "" : " and its \(moved.joined(separator: ", "))"))
        case .unreadable(let why)?:
            return Check(name: "site", ok: false, detail: "the site's settings could not be compared with \(Path.name(backup)): \(why)")
        case nil:
            return Check(name: "site", ok: false, detail: "the site's settings were not compared with \(Path.name(backup))")
        }
    }

    private func schemaCheck(expected: SchemaState, fix: String) -> Check {
        guard let state = survey.database.schema else {
            return Check(name: "schema", ok: false, detail: "the fate_flow schema could not be checked: \(survey.database.problem ?? "no database")")
        }
        return Check(name: "schema", ok: state == expected,
                     detail: state == expected ? "the fate_flow schema is \(expected.description)"
                     : "the fate_flow schema is \(state.description), not \(expected.description): \(fix)")
    }

    /// This host's provider node (fate_flow 1.4.4's name for it), and the persistent nodes 1.4.0/1.4.1 left.
    private func registryCheck(_ answer: RegistryAnswer?) -> Check {
        guard survey.baseConf?.fateFlowHTTP()?.port != nil else {
            return Check(name: "registry", ok: false, detail: "base_conf.yaml says use_registry but names no fate_flow.http_port, so fate_flow's node cannot be named")
        }
        let at = registrySettings?.hosts.joined(separator: ",") ?? "?"
        switch answer {
        case .addressUnknown(let why)?:
            return Check(name: "registry", ok: false, detail: "this host's address as fate_flow registers it is not known: \(why)")
        case .failed(let step, let error)?:
            let why = switch step {
            case .connect: "fate_flow exits at start when it cannot reach ZooKeeper"
            case .authenticate: "the server refuses the digest credentials"
            case .list, .stat: "zookeeper.user/password are not the ones the nodes were made with: fate_flow's create fails (only logged) and it runs unregistered"
            }
            return Check(name: "registry", ok: false, detail: "ZooKeeper check failed at \(step.rawValue): \(error) (\(why))")
        case .findings(let node, let findings)?:
            let problems = findings.filter(\.isProblem)
            return Check(name: "registry", ok: problems.isEmpty,
                         detail: problems.isEmpty ? "fate_flow is registered in ZooKeeper at \(at) as \(node.url) (an ephemeral node of a live session)"
                         : "ZooKeeper at \(at): " + problems.map(\.description).joined(separator: "; "))
        case nil:
            return Check(name: "registry", ok: false, detail: "ZooKeeper at \(at) was not asked")
        }
    }

    /// In cluster mode fate_flow logs in to the database base_conf.yaml names, or dies: so does this.
    private func databaseCheck(_ database: BaseConf.Database?, _ answer: DatabaseAnswer?) -> Check {
        guard let database else {
            return Check(name: "database", ok: false, detail: "base_conf.yaml says work_mode 1 but names no complete database (name, user, host, port)")
        }
        let at = "\(database.name) at \(database.host):\(database.port) as \(database.user)"
        switch answer {
        case .schema(let state)?:
            return Check(name: "database", ok: state == .v144,
                         detail: state == .v144 ? "fate_flow's database \(at) answers with base_conf.yaml's credentials and holds the 1.4.4 schema"
                         : "fate_flow's database \(at) answers, but its schema is \(state.description), not 1.4.4's: base_conf.yaml names another database than the one upgraded, or run apply --component mysql")
        case .refused(let why)?:
            return Check(name: "database", ok: false,
                         detail: "fate_flow cannot use its database \(at) with base_conf.yaml's credentials: \(why); carry the site's database settings (fate-upgrade confmigrate) or fix them")
        case nil:
            return Check(name: "database", ok: false, detail: "fate_flow's database \(at) was not asked")
        }
    }

    /// Judged by the processes and ports, as the service scripts cannot be believed: from this
    /// FATE_ROOT's python/, started after its fate_flow_server.py and base_conf.yaml were put in
    /// place (else it runs a tree or settings from before), on the configured ports.
    private func fateFlowCheck(shouldRun: Bool, httpAnswers: Bool?) -> Check {
        let expected = survey.expectation()
        guard shouldRun else {
            let left = expected.leftAfterStop(survey.servers)
            return Check(name: "fate_flow", ok: left.isEmpty, detail: left.isEmpty ? "fate_flow is stopped, as on a nodemanager machine"
                         : "fate_flow runs here (pid \(left.map { String($0.pid) }.joined(separator: ", "))), but a cluster runs one fate_flow, on the fateflow machine: stop it (\(stopCommand))")
        }
        switch expected.judgeRunning(survey.servers) {
        case .failure(let problems):
            let fix = problems.lines.first?.hasPrefix("no fate_flow") == true ? "start it (\(startCommand))" : "restart it (\(stopCommand); \(startCommand))"
            return Check(name: "fate_flow", ok: false, detail: problems.lines.joined(separator: "; ") + ": " + fix)
        case .success(let process):
            let http = survey.baseConf?.fateFlowHTTP()
            let mode = survey.baseConf?.workMode()
            let sqlite = process.openDatabases.filter { $0.hasSuffix(SiteData.standaloneDatabase) }
            let facts = "fate_flow pid \(process.pid) runs from \(expected.tree) since \(FateFlowExpectation.shown(process.startedAt)), listening on \(process.listening.map(String.init).joined(separator: ", "))"
            if httpAnswers != true || http == nil {
                return Check(name: "fate_flow", ok: false, detail: "\(facts), but no HTTP answer on \(http.map { "\($0.host):\($0.port)" } ?? "a port (base_conf.yaml names none)"): see \(survey.fateRoot)/python/logs and restart it")
            }
            if mode == 1 && !sqlite.isEmpty {
                return Check(name: "fate_flow", ok: false, detail: "\(facts), but it has the standalone database \(sqlite[0]) open although base_conf.yaml says work_mode 1: restart it")
            }
            return Check(name: "fate_flow", ok: true, detail: "\(facts), answers HTTP on \(http!.host):\(http!.port); work_mode \(mode.map(String.init) ?? "?")\(mode == 0 ? " (standalone, sqlite)" : "")")
        }
    }
}
