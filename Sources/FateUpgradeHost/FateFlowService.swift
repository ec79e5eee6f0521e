import FateUpgradeCore
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Glibc

/// Stops and starts fate_flow the way the deploy method requires (guide §4.1.1, §4.1.4):
/// with the interpreter the service script names (FATE's are bash), as `owner` when given.
/// FATE's service.sh and supervisorctl 3.x exit 0 whatever happened, and service.sh finds fate_flow
/// with `lsof` on hard-coded ports (without lsof it finds nothing): so `stop` and `start` judge the
/// result by the processes and ports on the host, never by the script.
public struct FateFlowService: Sendable {
    public var parameters: ScriptParameters
    public var owner: FileOwner?

    public init(_ parameters: ScriptParameters, owner: FileOwner? = nil) {
        self.parameters = parameters
        self.owner = owner
    }

    /// The service script and the arguments before the action's.
    public var script: String {
        parameters.isAnsible ? "\(parameters.supervisorRoot)/service.sh" : "\(parameters.fateRoot)/python/fate_flow/service.sh"
    }

    public func arguments(_ action: String) -> [String] {
        parameters.isAnsible ? [action, "fate-fateflow"] : [action]
    }

    public func describe(_ action: String) -> String {
        let interpreter = ScriptInterpreter.choose(forScriptAt: script).shown
        let user = action == "stop" ? "" : owner.map { " (as \($0.userName))" } ?? ""
        return ([interpreter, script] + arguments(action)).joined(separator: " ") + user
    }

    /// The exact command an action runs: what a plan carries and prints.
    public func command(_ action: String) -> Command {
        let interpreter = ScriptInterpreter.choose(forScriptAt: script)
        // Stopping needs our rights (whoever started what runs); starting is done as the owner.
        return Command(interpreter.path, interpreter.arguments + [script] + arguments(action), directory: Path.parent(script),
                       user: action == "stop" ? nil : owner)
    }

    /// Runs the command, its output passed on line by line and returned; a daemon that keeps the
    /// output open does not hold us. Its exit status is only reported: FATE's scripts exit 0 on failure.
    @discardableResult
    public func run(_ command: Command, console: Console = .shared) throws(HostError) -> [String] {
        let shown = command.shown + (command.user.map { " (as \($0.userName))" } ?? "")
        var lines = LineSplitter()
        var output: [String] = []
        func pass(_ line: [UInt8]) {
            console.relay(line)
            output.append(String(decoding: line.last == UInt8(ascii: "\n") ? line.dropLast() : line[...], as: UTF8.self))
        }
        let result = try ChildProcess.run(command, timeout: Self.timeout, mergeOutput: true, heartbeat: .init(what: "the service script")) { _, chunk in
            for line in lines.feed(chunk) { pass(line) }
        }
        if let rest = lines.finish() { pass(rest) }
        if result.timedOut { throw HostError("\(shown) did not finish within \(Self.timeout); stopped it") }
        if let signal = result.interruptedBy { throw HostError("\(shown) stopped by \(Signals.name(signal))") }
        if !result.termination.succeeded { output.append("(\(Path.name(command.executable)) ended: \(result.termination))") }
        return output
    }

    /// How long a service script may take (FATE's waits 10 s for a start, 10 s before SIGKILL).
    public static let timeout: Duration = .seconds(300)

    /// What fate_flow must be after a start now: from FATE_ROOT/python, on the ports its
    /// base_conf.yaml names, started after `since`, and after the settings last changed.
    public func expectation(since: Double?) -> FateFlowExpectation {
        let root = HostFacts.realPath(parameters.fateRoot) ?? parameters.fateRoot
        let conf = "\(parameters.fateRoot)/python/arch/conf/base_conf.yaml"
        let parsed = (try? FileSystem.read(conf, limit: BaseConf.sizeLimit)).flatMap { try? BaseConf(parsing: $0, file: conf) }
        var info = stat()
        let changed = stat(conf, &info) == 0 ? Double(info.st_ctim.tv_sec) + Double(info.st_ctim.tv_nsec) / 1e9 : nil
        return FateFlowExpectation(fateRoot: root, tree: "\(root)/python", httpPort: parsed?.fateFlowHTTP()?.port,
                                   grpcPort: parsed?.fateFlowGRPCPort(), startedAfter: since, settingsChangedAt: changed)
    }

    /// Stops fate_flow and makes sure no fate_flow of this FATE_ROOT is left, from any of its trees:
    /// one the script did not find (no lsof, a tree moved aside) is stopped by pid, and that is said.
    public func stop(_ command: Command? = nil, console: Console = .shared) throws(HostError) {
        if FileSystem.exists(script) {
            try run(command ?? self.command("stop"), console: console)
        } else {
            console.say("\(script) is not there; looking for fate_flow by its processes")
        }
        let expected = expectation(since: nil)
        var left = expected.leftAfterStop(HostFacts.fateFlowServers())
        let deadline = ContinuousClock.now + .seconds(5)
        while !left.isEmpty && ContinuousClock.now < deadline {
            usleep(100_000)
            left = expected.leftAfterStop(HostFacts.fateFlowServers())
        }
        for process in left {
            let from = process.tree(fateRoot: expected.fateRoot) ?? "a tree no longer there"
            console.warn("\(Path.name(script)) stop left fate_flow running (pid \(process.pid), from \(from), started \(FateFlowExpectation.shown(process.startedAt))); stopping it by its pid")
            try Self.terminate(process.pid)
            console.say("stopped fate_flow pid \(process.pid)")
        }
    }

    /// How long a started fate_flow has to listen and answer.
    public static let startBound: Duration = .seconds(30)

    /// SIGTERM, up to 10 s, then SIGKILL, up to 5 s more.
    static func terminate(_ pid: Int32) throws(HostError) {
        guard kill(pid, SIGTERM) == 0 || errno == ESRCH else {
            throw HostError("cannot stop fate_flow pid \(pid): \(Errno.text()); stop it as its owner, then run this again")
        }
        for (limit, signal) in [(100, SIGKILL), (50, 0)] {
            for _ in 0..<limit where HostFacts.isAlive(pid) { usleep(100_000) }
            guard HostFacts.isAlive(pid) else { return }
            if signal != 0 { kill(pid, signal) }
        }
        throw HostError("fate_flow pid \(pid) is still there after SIGKILL")
    }

    /// Starts fate_flow and waits, up to `bound`, for it to be what was meant: a process from
    /// FATE_ROOT/python started by this start, listening on the configured ports and answering HTTP.
    /// Otherwise fails with what is wrong and the script's output. Returns the process.
    @discardableResult
    public func start(_ command: Command? = nil, console: Console = .shared, bound: Duration = Self.startBound) throws(HostError) -> FateFlowProcess {
        let since = Date().timeIntervalSince1970
        let output = try run(command ?? self.command("start"), console: console)
        let expected = expectation(since: since)
        let conf = "\(parameters.fateRoot)/python/arch/conf/base_conf.yaml"
        let http = (try? FileSystem.read(conf, limit: BaseConf.sizeLimit)).flatMap { try? BaseConf(parsing: $0, file: conf) }?.fateFlowHTTP()
        let deadline = ContinuousClock.now + bound
        var lines: [String] = []
        while true {
            switch expected.judgeRunning(HostFacts.fateFlowServers()) {
            case .success(let process):
                if let http, HostFacts.answersHTTP(host: http.host, port: http.port) {
                    if output.contains(where: { $0.contains("failed") || $0.contains("ERROR") }) {
                        console.say("\(Path.name(script)) reported a failure, but fate_flow runs: judged by the host, not the script")
                    }
                    return process
                }
                lines = ["fate_flow pid \(process.pid) runs but does not answer HTTP on \(http.map { "\($0.host):\($0.port)" } ?? "the port base_conf.yaml names")"]
            case .failure(let problems):
                lines = problems.lines
            }
            if ContinuousClock.now > deadline { break }
            usleep(250_000)
        }
        var message: [String] = ["\(describe("start")) returned, but after \(bound): " + lines.joined(separator: "; "), "its output:"]
        message += output.suffix(20).map { "    " + $0 }
        if let log = errorLog() {
            message.append("the end of \(log.path):")
            message += log.lines.map { "    " + $0 }
        }
        throw HostError(message.joined(separator: "\n"))
    }

    /// The last lines of fate_flow's error log, where a server that died says why.
    func errorLog() -> (path: String, lines: [String])? {
        let path = parameters.isAnsible ? "\(parameters.supervisorRoot)/logs/fate-fateflow.err" : "\(parameters.fateRoot)/python/logs/error.log"
        guard let bytes = try? FileSystem.read(path, limit: 64 << 20), !bytes.isEmpty else { return nil }
        let lines = String(decoding: bytes.suffix(4096), as: UTF8.self).split(separator: "\n").suffix(10).map(String.init)
        return (path, lines)
    }
}
