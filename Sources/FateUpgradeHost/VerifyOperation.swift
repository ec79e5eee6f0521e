import FateUpgradeArchive
import FateUpgradeCore
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Glibc

/// `verify`: whether this host is consistently on 1.4.4 for its role (or, with `rolledBack`,
/// consistently back where it was). Each check is one line; a failure says what to do.
public struct VerifyOperation {
    public struct Check: Encodable, Sendable {
        public var name: String
        public var ok: Bool
        public var detail: String
    }

    public struct Report: Encodable, Sendable {
        public var ok: Bool
        public var host: String
        public var role: String
        public var mode: String
        public var checks: [Check]
        public var recorded: [String]
    }

    public let view: HostSurvey
    public let rolledBack: Bool

    public init(view: HostSurvey, rolledBack: Bool = false) {
        self.view = view
        self.rolledBack = rolledBack
    }

    public func run() -> Report {
        var checks: [Check] = []
        func check(_ name: String, _ ok: Bool, _ detail: String) { checks.append(Check(name: name, ok: ok, detail: detail)) }
        let rollback = "fate-upgrade rollback --fate-root \(shellQuoted(view.fateRoot))"
        let live = view.live
        let fateFlowShouldRun: Bool?

        if rolledBack {
            if let run = live.last {
                check("journal", false, "the run \(run.id) (\(run.component.rawValue), \(run.outcome.rawValue)) is still in place: \(rollback)")
            } else if let last = view.journals.last {
                check("journal", true, "every run is rolled back (the last, \(last.id), at \(last.rolledBack?.at ?? "?"))")
            } else {
                check("journal", true, "no upgrade was ever recorded on this host: nothing to roll back")
            }
            let before = view.journals.last?.stateBefore
            if let layout = before?.python {
                let now = view.trees["python"]?.layout
                // The layout cannot tell 1.4.2/1.4.3 from 1.4.4: the files can.
                let release = view.trees["python"]?.release
                let ok = now == layout && release != .target
                check("python", ok, "python/ is \(now?.rawValue ?? "missing")\(release.map { ", FATE \($0.shown)'s files" } ?? ""); before the upgrade it was \(layout.rawValue)"
                      + (ok ? "" : ": roll back again, or restore python/ from the python_<timestamp> backup that holds the old release by hand"))
            }
            if let schema = before?.schema {
                checkSchema(expected: schema, into: &checks, fix: "restore it: \(rollback) --from-snapshot (if a snapshot was taken)")
            }
            if let last = view.journals.last, last.component.touchesService { fateFlowShouldRun = view.role == .fateflow } else { fateFlowShouldRun = nil }
        } else {
            let unfinished = live.filter { $0.outcome != .succeeded }
            if let run = unfinished.last {
                check("journal", false, "the run \(run.id) of \(run.component.rawValue) \(run.outcome.rawValue): \(rollback), then apply again")
            } else if live.isEmpty {
                let rolled = view.journals.last.map { " (the last run, \($0.id), was rolled back)" } ?? ""
                check("journal", false, "no upgrade is in place on this host\(rolled): run fate-upgrade apply")
            } else {
                check("journal", true, "upgraded: " + live.map { "\($0.component.rawValue) (\($0.id))" }.joined(separator: ", "))
            }
            if view.pythonUpgraded, let run = live.last(where: { $0.component.touchesPython && $0.outcome == .succeeded }) {
                let layout = view.trees["python"]?.layout
                let backup = view.pythonBackup(of: run)
                // After sign-off, cleanup may have removed the old tree on purpose.
                let cleaned = (run.cleanedUp ?? []).contains { Path.name($0).hasPrefix("python_") }
                let release = view.trees["python"]?.release
                check("python", layout == .v142 && release == .target && (backup != nil || cleaned),
                      layout != .v142 || release != .target ? "python/ is \(layout?.rawValue ?? "missing")\(release.map { " with FATE \($0.shown)'s files" } ?? ""), not the 1.4.4 tree the journal \(run.id) records: \(rollback), then apply again"
                      : backup == nil && cleaned ? "python/ is the new tree (\(layout!.rawValue) layout); cleanup removed the old one after sign-off"
                      : backup == nil ? "the backup of the old python/ that \(run.id) made is gone: a rollback would have nothing to restore"
                      : "python/ is the new tree (\(layout!.rawValue) layout); the old one is kept as \(backup!)")
                if let backup {
                    // The site's settings and data must be in the new tree: the merge, planned again
                    // from the backup, has nothing left to write or move.
                    do {
                        let migration = ConfmigrateOperation(.init(fateRoot: view.fateRoot, backup: backup,
                                                                   upgradePackage: run.workFolder ?? "\(view.fateRoot)/upgrade_package", dryRun: true))
                        let planned = try migration.plan()
                        let report = planned.report
                        let pendingFiles = report.files.filter { $0.outcome == "would be written" }.map { Path.name($0.path) }
                        let pendingData = report.data.filter { $0.action == .move || $0.action == .collision }.map(\.item)
                        let fix = "run fate-upgrade confmigrate --fate-root \(shellQuoted(view.fateRoot))"
                        if !report.decisions.isEmpty || !pendingFiles.isEmpty || !pendingData.isEmpty {
                            let parts = [report.decisions.isEmpty ? nil : "\(report.decisions.count) of its settings need a choice",
                                         pendingFiles.isEmpty ? nil : "settings not carried into \(pendingFiles.joined(separator: ", "))",
                                         pendingData.isEmpty ? nil : "\(pendingData.joined(separator: ", ")) still in the backup"].compactMap { $0 }
                            check("site", false, "python/ does not hold the site of \(Path.name(backup)): \(parts.joined(separator: "; ")): \(fix)")
                        } else {
                            let carried = report.changes.filter { [.carried, .mapped, .added].contains($0.action) }.count
                            let moved = report.data.filter { $0.action == .alreadyMoved }.map(\.item)
                            check("site", true, "python/ carries the site's settings of \(Path.name(backup)) (\(carried) values)"
                                  + (moved.isEmpty ? "" : " and its \(moved.joined(separator: ", "))"))
                        }
                    } catch {
                        check("site", false, "the site's settings could not be compared with \(Path.name(backup)): \(error.operatorLines.joined(separator: "; "))")
                    }
                }
            }
            if view.databaseUpgraded {
                checkSchema(expected: .v144, into: &checks, fix: "\(rollback), then apply --component mysql again")
            }
            // With use_registry, fate_flow 1.4.4 must be in ZooKeeper under this host's address, asked
            // with base_conf.yaml's hosts and digest credentials, as fate_flow and FATE-Serving ask.
            if view.pythonUpgraded, view.role == .fateflow, let conf = view.baseConf(), let current = try? conf.current(),
               current.useRegistry?.value == true {
                checkRegistry(RegistrySettings(asFateFlowReads: current), conf, into: &checks)
            }
            // In cluster mode fate_flow logs in to the database base_conf.yaml names, or dies: so does this.
            if view.pythonUpgraded, view.role == .fateflow, let conf = view.baseConf(), conf.workMode() == 1 {
                checkDatabase(conf, into: &checks)
            }
            fateFlowShouldRun = view.pythonUpgraded ? view.role == .fateflow : nil
        }

        if let shouldRun = fateFlowShouldRun {
            // Judged by the processes and ports, as the service scripts cannot be believed: from this
            // FATE_ROOT's python/, started after its fate_flow_server.py and base_conf.yaml were put
            // in place (else it runs a tree or settings from before), on the configured ports.
            let service = FateFlowService(view.parameters)
            let expected = service.expectation(since: nil)
            let servers = view.servers
            if shouldRun {
                switch expected.judgeRunning(servers) {
                case .failure(let problems):
                    let start = "restart it (\(service.describe("stop")); \(service.describe("start")))"
                    check("fate_flow", false, problems.lines.joined(separator: "; ") + ": " + (problems.lines.first?.hasPrefix("no fate_flow") == true ? "start it (\(service.describe("start")))" : start))
                case .success(let process):
                    let conf = view.baseConf()
                    let http = conf?.fateFlowHTTP()
                    // A server that has just started may need a moment to answer.
                    var answers = false
                    for attempt in 0..<10 where !answers && http != nil {
                        if attempt > 0 { usleep(500_000) }
                        answers = HostFacts.answersHTTP(host: http!.host, port: http!.port)
                    }
                    let mode = conf?.workMode()
                    let sqlite = process.openDatabases.filter { $0.hasSuffix(SiteData.standaloneDatabase) }
                    let facts = "fate_flow pid \(process.pid) runs from \(expected.tree) since \(FateFlowExpectation.shown(process.startedAt)), listening on \(process.listening.map(String.init).joined(separator: ", "))"
                    if !answers {
                        check("fate_flow", false, "\(facts), but no HTTP answer on \(http.map { "\($0.host):\($0.port)" } ?? "a port (base_conf.yaml names none)"): see \(view.fateRoot)/python/logs and restart it")
                    } else if mode == 1 && !sqlite.isEmpty {
                        check("fate_flow", false, "\(facts), but it has the standalone database \(sqlite[0]) open although base_conf.yaml says work_mode 1: restart it")
                    } else {
                        check("fate_flow", true, "\(facts), answers HTTP on \(http!.host):\(http!.port); work_mode \(mode.map(String.init) ?? "?")\(mode == 0 ? " (standalone, sqlite)" : "")")
                    }
                }
            } else {
                let left = expected.leftAfterStop(servers)
                check("fate_flow", left.isEmpty, left.isEmpty ? "fate_flow is stopped, as on a nodemanager machine"
                      : "fate_flow runs here (pid \(left.map { String($0.pid) }.joined(separator: ", "))), but a cluster runs one fate_flow, on the fateflow machine: stop it (\(service.describe("stop")))")
            }
        }
        let ok = checks.allSatisfy(\.ok)
        return Report(ok: ok, host: hostName(), role: view.role.rawValue, mode: rolledBack ? "rolled back" : "upgraded", checks: checks, recorded: [])
    }

    /// This host's provider node (fate_flow 1.4.4's name for it: its IP as FATE's interpreter resolves
    /// it, and http_port), and the persistent nodes 1.4.0/1.4.1 left.
    private func checkRegistry(_ settings: RegistrySettings, _ conf: BaseConf, into checks: inout [Check]) {
        guard let port = conf.fateFlowHTTP()?.port else {
            checks.append(Check(name: "registry", ok: false, detail: "base_conf.yaml says use_registry but names no fate_flow.http_port, so fate_flow's node cannot be named"))
            return
        }
        // FATE's own interpreter resolves the name, as fate_flow does; in-process only without one.
        let python = "\(view.fateRoot)/common/python/venv/bin/python"
        let ip: String
        do {
            ip = access(python, X_OK) == 0 ? try FateFlowAddress.localIP(python: python) : try FateFlowAddress.localIP()
        } catch {
            checks.append(Check(name: "registry", ok: false, detail: "this host's address as fate_flow registers it is not known: \(error.operatorLines.joined(separator: "; "))"))
            return
        }
        let node = FlowProviderNode(ip: ip, httpPort: port)
        let at = settings.hosts.joined(separator: ",")
        switch RegistryProbe.run(settings: settings, expected: node) {
        case .failed(let step, let error):
            let why = switch step {
            case .connect: "fate_flow exits at start when it cannot reach ZooKeeper"
            case .authenticate: "the server refuses the digest credentials"
            case .list, .stat: "zookeeper.user/password are not the ones the nodes were made with: fate_flow's create fails (only logged) and it runs unregistered"
            }
            checks.append(Check(name: "registry", ok: false, detail: "ZooKeeper check failed at \(step.rawValue): \(error.operatorLines.joined(separator: "; ")) (\(why))"))
        case .findings(let findings):
            let problems = findings.filter(\.isProblem)
            checks.append(Check(name: "registry", ok: problems.isEmpty,
                                detail: problems.isEmpty ? "fate_flow is registered in ZooKeeper at \(at) as \(node.url) (an ephemeral node of a live session)"
                                : "ZooKeeper at \(at): " + problems.map(\.description).joined(separator: "; ")))
        }
    }

    /// The database of base_conf.yaml, reached as fate_flow reaches it (TCP, its user and password),
    /// holding the 1.4.4 schema.
    private func checkDatabase(_ conf: BaseConf, into checks: inout [Check]) {
        guard let database = conf.database() else {
            checks.append(Check(name: "database", ok: false, detail: "base_conf.yaml says work_mode 1 but names no complete database (name, user, host, port)"))
            return
        }
        var client = MySQLClient(binary: view.parameters.mysqlClient, socket: "", user: database.user, password: database.password, timeout: .seconds(30))
        client.server = (database.host, database.port)
        let at = "\(database.name) at \(database.host):\(database.port) as \(database.user)"
        do {
            let state = SchemaState.judge(try client.columns(in: database.name))
            checks.append(Check(name: "database", ok: state == .v144,
                                detail: state == .v144 ? "fate_flow's database \(at) answers with base_conf.yaml's credentials and holds the 1.4.4 schema"
                                : "fate_flow's database \(at) answers, but its schema is \(state.description), not 1.4.4's: base_conf.yaml names another database than the one upgraded, or run apply --component mysql"))
        } catch {
            checks.append(Check(name: "database", ok: false,
                                detail: "fate_flow cannot use its database \(at) with base_conf.yaml's credentials: \(error.operatorLines.joined(separator: "; ")); carry the site's database settings (fate-upgrade confmigrate) or fix them"))
        }
    }

    private func checkSchema(expected: SchemaState, into checks: inout [Check], fix: String) {
        guard view.client != nil else {
            checks.append(Check(name: "schema", ok: false, detail: "the fate_flow schema could not be checked: \(view.databaseNote ?? "no database")"))
            return
        }
        do {
            let state = try view.schema()
            checks.append(Check(name: "schema", ok: state == expected,
                                detail: state == expected ? "the fate_flow schema is \(expected.description)"
                                : "the fate_flow schema is \(state?.description ?? "unknown"), not \(expected.description): \(fix)"))
        } catch {
            checks.append(Check(name: "schema", ok: false, detail: "the fate_flow schema could not be checked: \(error.description)"))
        }
    }

    /// Records in each run in place that it was verified, so that `cleanup` may remove its backups.
    public func record(_ report: Report) throws -> Report {
        guard report.ok, !rolledBack else { return report }
        let lock = try StateLock(fateRoot: view.fateRoot, for: "verify")
        defer { withExtendedLifetime(lock) {} }
        var recorded: [String] = []
        let now = isoNow()
        for var run in try UpgradeJournal.all(fateRoot: view.fateRoot) where run.rolledBack == nil && run.outcome == .succeeded && run.verifiedAt == nil {
            run.verifiedAt = now
            try run.save()
            recorded.append(run.id)
        }
        var result = report
        result.recorded = recorded
        return result
    }
}
