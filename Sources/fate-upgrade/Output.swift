import FateUpgradeHost
import Foundation

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
        let fraction = min(1, Double(done) / Double(max(total, 1)))
        let width = 30
        let filled = Int(fraction * Double(width))
        let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
        Console.shared.decorate(String(format: "\r%@ [%@] %3d%% %.1f/%.1f MiB", label, bar, Int(fraction * 100),
                                       Double(done) / 1_048_576, Double(total) / 1_048_576))
        drawn = true
    }

    func finish() {
        guard drawn else { return }
        Console.shared.decorate("\r\u{1B}[K")
        drawn = false
    }
}
