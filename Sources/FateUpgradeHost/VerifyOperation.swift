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

    public let view: HostView
    public let rolledBack: Bool

    public init(view: HostView, rolledBack: Bool = false) {
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
                let now = HostFacts.pythonLayout(of: "\(view.fateRoot)/python")
                check("python", now == layout, "python/ is \(now?.rawValue ?? "missing"); before the upgrade it was \(layout.rawValue)"
                      + (now == layout ? "" : ": roll back again, or restore python/ from its python_<timestamp> backup by hand"))
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
                let layout = HostFacts.pythonLayout(of: "\(view.fateRoot)/python")
                let backup = view.pythonBackup(of: run)
                // After sign-off, cleanup may have removed the old tree on purpose.
                let cleaned = (run.cleanedUp ?? []).contains { Path.name($0).hasPrefix("python_") }
                check("python", layout == .v142 && (backup != nil || cleaned),
                      layout != .v142 ? "python/ is \(layout?.rawValue ?? "missing"), not the 1.4.4 tree: \(rollback), then apply again"
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
            fateFlowShouldRun = view.pythonUpgraded ? view.role == .fateflow : nil
        }

        if let shouldRun = fateFlowShouldRun {
            let pids = view.fateFlowPids
            if shouldRun {
                let http = view.baseConf()?.fateFlowHTTP()
                if pids.isEmpty {
                    check("fate_flow", false, "fate_flow is not running: start it (\(FateFlowService(view.parameters).describe("start")))")
                } else if let http {
                    // A server that has just started may need a moment to listen.
                    var answers = false
                    for attempt in 0..<10 where !answers {
                        if attempt > 0 { usleep(500_000) }
                        answers = HostFacts.answers(host: http.host, port: http.port)
                    }
                    check("fate_flow", answers, answers ? "fate_flow runs (pid \(pids.map(String.init).joined(separator: ", "))) and answers on \(http.host):\(http.port)"
                          : "fate_flow runs (pid \(pids.map(String.init).joined(separator: ", "))) but nothing answers on \(http.host):\(http.port): see \(view.fateRoot)/logs and restart it")
                } else {
                    check("fate_flow", false, "fate_flow runs, but base_conf.yaml names no fate_flow.http_port to check")
                }
            } else {
                check("fate_flow", pids.isEmpty, pids.isEmpty ? "fate_flow is stopped, as on a nodemanager machine"
                      : "fate_flow runs here (pid \(pids.map(String.init).joined(separator: ", "))), but a cluster runs one fate_flow, on the fateflow machine: stop it (\(FateFlowService(view.parameters).describe("stop")))")
            }
        }
        let ok = checks.allSatisfy(\.ok)
        return Report(ok: ok, host: hostName(), role: view.role.rawValue, mode: rolledBack ? "rolled back" : "upgraded", checks: checks, recorded: [])
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
