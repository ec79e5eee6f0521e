import FateUpgradeCore
import FateUpgradeHost
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Glibc

/// A one-line progress bar on stderr, only when stderr is a terminal and the input is large.
final class ProgressMeter {
    private let total: Int64
    private let label: String
    private let enabled: Bool
    private var lastDraw = Date.distantPast
    private var drawn = false

    init(total: Int64?, label: String) {
        self.total = total ?? 0
        self.label = label
        enabled = isatty(STDERR_FILENO) == 1 && (total ?? 0) >= 8 << 20
    }

    func update(_ done: Int64) {
        guard enabled else { return }
        let now = Date()
        guard now.timeIntervalSince(lastDraw) >= 0.1 else { return }
        lastDraw = now
        let percent = Int(min(100, done * 100 / max(total, 1)))
        let width = 30
        let filled = percent * width / 100
        let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
        let shownPercent = String(repeating: " ", count: 3 - String(percent).count) + String(percent)
        let line = "\r\(label) [\(bar)] \(shownPercent)% " + mebibytes(done).dropLast(4) + "/" + mebibytes(total)
        Console.shared.decorate(line)
        drawn = true
    }

    func finish() {
        guard drawn else { return }
        Console.shared.decorate("\r\u{1B}[K")
        drawn = false
    }
}
