import FateUpgradeArchive
import FateUpgradeCore
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Glibc

/// `verify`: whether this host is consistently on 1.4.4 for its role (or, with `rolledBack`,
/// consistently back where it was). `VerifyJudge` says what to ask and judges the answers; this
/// asks the host. Each check is one line; a failure says what to do.
public struct VerifyOperation {
    public typealias Check = VerifyJudge.Check

    public struct Report: Codable, Sendable {
        public var schemaVersion = ReportSchema.version
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

    public var judge: VerifyJudge {
        let service = FateFlowService(view.parameters)
        return VerifyJudge(survey: view, rolledBack: rolledBack, stopCommand: service.describe("stop"), startCommand: service.describe("start"))
    }

    public func run() -> Report {
        let judge = self.judge
        var answers = VerifyJudge.Answers()
        for probe in judge.probes {
            switch probe {
            case .site(let backup, let workFolder): answers.site = VerifyOperation.site(fateRoot: view.fateRoot, backup: backup, workFolder: workFolder)
            case .http(let host, let port):
                // A server that has just started may need a moment to answer.
                var answered = false
                for attempt in 0..<10 where !answered {
                    if attempt > 0 { usleep(500_000) }
                    answered = HostFacts.answersHTTP(host: host, port: port)
                }
                answers.httpAnswers = answered
            case .registry(let settings, let port): answers.registry = registry(settings, httpPort: port)
            case .database(let database): answers.database = VerifyOperation.database(database, client: view.parameters.mysqlClient)
            }
        }
        let checks = judge.judge(answers)
        return Report(ok: checks.allSatisfy(\.ok), host: hostName(), role: view.role.rawValue, mode: rolledBack ? "rolled_back" : "upgraded", checks: checks, recorded: [])
    }

    static func site(fateRoot: String, backup: String, workFolder: String) -> VerifyJudge.SiteAnswer {
        do {
            let migration = ConfmigrateOperation(.init(fateRoot: fateRoot, backup: backup, upgradePackage: workFolder, dryRun: true))
            let report = try migration.plan().report
            let pendingFiles = report.files.filter { $0.outcome == "would be written" }.map { Path.name($0.path) }
            let pendingData = report.data.filter { $0.action == .move || $0.action == .collision }.map(\.item)
            if !report.decisions.isEmpty || !pendingFiles.isEmpty || !pendingData.isEmpty {
                return .pending(decisions: report.decisions.count, files: pendingFiles, data: pendingData)
            }
            return .carried(values: report.changes.filter { [.carried, .mapped, .added].contains($0.action) }.count,
                            moved: report.data.filter { $0.action == .alreadyMoved }.map(\.item))
        } catch {
            return .unreadable(error.operatorLines.joined(separator: "; "))
        }
    }

    /// Named as fate_flow names its node: its IP as FATE's own interpreter resolves it (in-process
    /// only without one), and http_port.
    private func registry(_ settings: RegistrySettings, httpPort: Int) -> VerifyJudge.RegistryAnswer {
        let python = "\(view.fateRoot)/common/python/venv/bin/python"
        let ip: String
        do {
            ip = access(python, X_OK) == 0 ? try FateFlowAddress.localIP(python: python) : try FateFlowAddress.localIP()
        } catch {
            return .addressUnknown(error.operatorLines.joined(separator: "; "))
        }
        let node = FlowProviderNode(ip: ip, httpPort: httpPort)
        switch RegistryProbe.run(settings: settings, expected: node) {
        case .failed(let step, let error): return .failed(step, error.operatorLines.joined(separator: "; "))
        case .findings(let findings): return .findings(node, findings)
        }
    }

    /// Over TCP, with base_conf.yaml's user and password.
    static func database(_ database: BaseConf.Database, client binary: String) -> VerifyJudge.DatabaseAnswer {
        var client = MySQLClient(binary: binary, socket: "", user: database.user, password: database.password, timeout: .seconds(30))
        client.server = (database.host, database.port)
        do { return .schema(SchemaState.judge(try client.columns(in: database.name))) } catch {
            return .refused(error.operatorLines.joined(separator: "; "))
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
