import FateUpgradeCore
internal import CHost
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Glibc
import Synchronization

/// The process's signal handling: one handler, in C (see fu_host.h), for SIGINT, SIGTERM and
/// SIGHUP. By default a signal removes the registered temporary files and ends the run;
/// operations that must record where they stopped (apply, rollback) defer signals instead
/// and check `received` at their safe points. A running child's process group always gets
/// the signal passed on.
public enum Signals {
    nonisolated(unsafe) private static var installed = false

    public static func install() {
        guard !installed else { return }
        installed = true
        fu_signals_install()
        fu_disable_core_dumps()
    }

    /// Runs `body` with signals recorded rather than fatal.
    public static func deferring<T>(_ body: () throws -> T) rethrows -> T {
        install()
        fu_signals_set_deferring(1)
        depth.withLock { $0 += 1 }
        // Nested: only the outermost ends the deferring.
        defer { if depth.withLock({ value in value -= 1; return value == 0 }) { fu_signals_set_deferring(0) } }
        return try body()
    }

    /// Whether signals are deferred now (inside `deferring`).
    public static var isDeferring: Bool { depth.withLock { $0 > 0 } }
    private static let depth = Mutex(0)

    /// The signal received since the last `clear`, if any.
    public static var received: Int32? {
        let signal = fu_signals_received()
        return signal == 0 ? nil : signal
    }

    public static func clear() { fu_signals_clear() }

    /// The line said when a signal ends a run that does not defer signals: what was and was not changed.
    public static func farewell(_ line: String) {
        install()
        fu_signals_set_farewell("\nfate-upgrade: \(Console.shared.translated("stopped by a signal: \(line)"))\n")
    }

    /// Throws `Interrupted` when a signal came in; call at each safe point of a deferred run.
    public static func checkpoint(_ detail: @autoclosure () -> String) throws(Interrupted) {
        if let signal = received { throw Interrupted(signal: signal, detail: detail()) }
    }

    /// A file the handler removes if a signal ends the run; `forget` when it is renamed or gone.
    public struct PendingFile: Sendable {
        let slot: Int32
        public init(path: String) {
            Signals.install()
            slot = fu_signals_add_pending(path)
        }
        public func forget() { fu_signals_remove_pending(slot) }
    }

    public static func silenceTerminal(_ descriptor: Int32) -> Bool { fu_terminal_silence(descriptor) == 0 }
    public static func restoreTerminal() { fu_terminal_restore() }

    public static func name(_ signal: Int32) -> String {
        switch signal {
        case SIGINT: "SIGINT (Ctrl-C)"
        case SIGTERM: "SIGTERM"
        case SIGHUP: "SIGHUP"
        case SIGKILL: "SIGKILL"
        default: "signal \(signal)"
        }
    }
}

/// What the binary was built from.
public enum BuildInfo {
    /// The commit scripts/release built it from; nil for a development build.
    public static var commit: String? { fu_build_commit().map { String(cString: $0) } }
}
