/// What earlier runs recorded in the journal mean for a new run of `component`.
public struct ApplyHistory {
    /// Parts of FATE an upgrade replaces.
    enum Part: Hashable { case database, python, fateFlow }

    static func parts(_ component: UpgradeComponent) -> Set<Part> {
        switch component {
        case .all: [.database, .python]
        case .mysql: [.database]
        case .fatepython: [.python]
        case .fateflow: [.fateFlow]
        }
    }

    public enum Verdict {
        /// Nothing earlier stands in the way.
        case proceed
        /// Every part was upgraded by runs that succeeded and were not rolled back.
        case alreadyDone([UpgradeJournal])
        /// Refused, one line each (each names what to do).
        case refused([String])
        /// Allowed by --force; the lines say what happens to the earlier runs' backups.
        case forced([String])
    }

    /// Where the host disagrees with runs the journals record as upgraded and in place: python/ not
    /// holding FATE 1.4.4's files, or the schema not 1.4.4's (a rollback done by hand, a tree put back).
    /// - Parameters:
    ///   - release: the release python/'s files are now; `schema`: the database's now.
    public static func drift(of runs: [UpgradeJournal], fateRoot: String, release: FateRelease?, schema: SchemaState?) -> [String] {
        var lines: [String] = []
        let rollback = "fate-upgrade rollback --fate-root \(shellQuoted(fateRoot))"
        for run in runs {
            if run.component.touchesPython, let release, release != .target {
                lines.append("the journal \(run.id) records \(run.component.rawValue) as upgraded and in place, but \(fateRoot)/python holds FATE \(release.shown)'s files, not \(FateRelease.target.rawValue)'s: it was rolled back or replaced by hand. \(rollback) --plan shows what is left to undo (it records the run as rolled back when nothing is); then apply again")
            }
            if run.component.touchesDatabase, let schema, schema != .v144 {
                lines.append("the journal \(run.id) records \(run.component.rawValue) as upgraded and in place, but the fate_flow schema is \(schema.description), not 1.4.4's: it was rolled back by hand. \(rollback) --plan shows what is left to undo; then apply again")
            }
        }
        return lines
    }

    public static func judge(component: UpgradeComponent, journals: [UpgradeJournal], force: Bool, fateRoot: String) -> Verdict {
        let wanted = parts(component)
        // python/ holds python/fate_flow, so an upgrade of either touches the fateflow part.
        func expanded(_ parts: Set<Part>) -> Set<Part> { parts.contains(.python) ? parts.union([.fateFlow]) : parts }
        let live = journals.filter { $0.rolledBack == nil && !expanded(parts($0.component)).isDisjoint(with: expanded(wanted)) }
        let unfinished = live.filter { $0.outcome != .succeeded }
        let succeeded = live.filter { $0.outcome == .succeeded }
        let rollback = "fate-upgrade rollback --fate-root \(shellQuoted(fateRoot))"
        var lines: [String] = []
        for earlier in unfinished {
            let how: String
            switch earlier.outcome {
            case .failed: how = "failed (\(earlier.message ?? "see \(earlier.log)"))"
            case .interrupted: how = "was interrupted"
            default: how = "never finished"
            }
            lines.append("the earlier apply \(earlier.id) of \(earlier.component.rawValue) \(how); roll it back first (\(rollback)), or give --force to run over it")
        }
        var covered: Set<Part> = []
        for earlier in succeeded { covered.formUnion(parts(earlier.component)) }
        if covered.contains(.python) { covered.insert(.fateFlow) }
        let remaining = wanted.subtracting(covered)
        if unfinished.isEmpty, !succeeded.isEmpty, remaining.isEmpty, !force {
            return .alreadyDone(succeeded)
        }
        if !succeeded.isEmpty, !remaining.isEmpty, remaining != wanted {
            let rest = remaining == [.database] ? "mysql" : "fatepython"
            lines.append("\(succeeded.map { $0.component.rawValue }.joined(separator: ", ")) was already upgraded on this host (\(succeeded.map(\.id).joined(separator: ", "))); run --component \(rest) for the rest, or roll back first")
        }
        if lines.isEmpty { return .proceed }
        if !force { return .refused(lines) }
        var notes: [String] = []
        for earlier in live {
            let backups = (earlier.after ?? earlier.before).pythonBackups.filter { !earlier.before.pythonBackups.contains($0) }
            let kept = backups.isEmpty ? "" : " Its backup \(backups.joined(separator: ", ")) stays as it is;"
            notes.append("--force: running over \(earlier.id) (\(earlier.outcome.rawValue)).\(kept) this run backs up what is there now as a new python_<timestamp>, and rolling this run back restores that state, not the one before \(earlier.id) (roll back again for that)")
        }
        return .forced(notes)
    }
}
