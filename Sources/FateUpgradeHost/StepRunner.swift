import FateUpgradeCore
/// The one loop every operation runs its plan with: the steps in order, a signal acted on between
/// steps and never inside one, each finished step recorded (`record`: the journal) before the next
/// begins, and what was done so far at hand for any failure.
public struct StepRunner<Step: CustomStringConvertible> {
    public private(set) var done: [Step] = []

    public init() {}

    /// "nothing", or the finished steps, for messages.
    public var doneSoFar: String { done.isEmpty ? "nothing" : done.map(\.description).joined(separator: "; ") }

    /// - Parameters:
    ///   - interrupted: what a signal received before `step` becomes; when it does not throw, the run
    ///     ends with `Interrupted` naming the step and what was done.
    ///   - record: called after each step with every step done.
    ///   - body: runs one step, given what was done before it; throws to end the run there.
    public mutating func run(_ steps: [Step], interrupted: (_ signal: Int32, _ before: Step, _ doneSoFar: String) throws -> Void = { _, _, _ in },
                             record: ([Step]) throws -> Void = { _ in }, _ body: (Step, String) throws -> Void) throws {
        for step in steps {
            if let signal = Signals.received {
                try interrupted(signal, step, doneSoFar)
                throw Interrupted(signal: signal, detail: "stopped before: \(step); done so far: \(doneSoFar)")
            }
            try body(step, doneSoFar)
            done.append(step)
            try record(done)
        }
    }
}
