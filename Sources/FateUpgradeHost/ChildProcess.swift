import FateUpgradeCore
internal import CHost
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Glibc

extension Command {
    /// With the environment a child of ours gets (`baseEnvironment`).
    public init(_ executable: String, _ arguments: [String], directory: String? = nil, user: FileOwner? = nil) {
        self.init(executable, arguments, environment: Command.baseEnvironment(), directory: directory, user: user)
    }

    /// The variables a child needs to behave as at the operator's shell (search path, home,
    /// language, time zone), and nothing else: secrets such as FATE_DB_PASS stay with us.
    public static func baseEnvironment(_ from: [String: String] = ProcessInfo.processInfo.environment) -> [String: String] {
        let kept = ["PATH", "HOME", "USER", "LOGNAME", "SHELL", "LANG", "LANGUAGE", "TZ", "TERM", "TMPDIR"]
        var environment = from.filter { kept.contains($0.key) || $0.key.hasPrefix("LC_") }
        if environment["PATH"] == nil { environment["PATH"] = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" }
        return environment
    }

    /// The absolute path of a program: itself if it has a slash, else found on `path`.
    public static func locate(_ program: String, path: String? = ProcessInfo.processInfo.environment["PATH"]) -> String? {
        if program.contains("/") { return access(program, X_OK) == 0 ? program : nil }
        let folders = (path ?? "/usr/bin:/bin").split(separator: ":").map(String.init)
        for folder in folders + ["/usr/sbin", "/sbin"] where access("\(folder)/\(program)", X_OK) == 0 {
            return "\(folder)/\(program)"
        }
        return nil
    }
}

/// How a child ended.
public enum Termination: Sendable, Hashable, CustomStringConvertible {
    case exited(Int32)
    case signaled(Int32)

    public var status: Int32? { if case .exited(let status) = self { status } else { nil } }
    public var signal: Int32? { if case .signaled(let signal) = self { signal } else { nil } }
    public var succeeded: Bool { self == .exited(0) }

    public var description: String {
        switch self {
        case .exited(let status): "exit status \(status)"
        case .signaled(let signal): "ended by signal \(signal)"
        }
    }
}

/// What a child's standard input is.
public enum ChildInput: Sendable {
    case null
    case file(String)
    /// A descriptor of ours, read from where it stands; the child gets a copy.
    case descriptor(Int32)
    /// Handed over through an unlinked temporary file, never a pipe: a child that exits
    /// without reading cannot make us block or fail.
    case bytes([UInt8])
}

/// Which of a child's output streams a chunk came from.
public enum ChildStream: Sendable { case stdout, stderr }

/// The end of a run.
public struct ChildResult: Sendable {
    public var termination: Termination
    /// Collected output (empty when it went to a callback).
    public var stdout: [UInt8]
    public var stderr: [UInt8]
    /// The child exited but something it started still held its output open when we stopped reading.
    public var outputLeftOpen: Bool
    public var timedOut: Bool
    /// A signal we received while it ran, and passed on to its process group.
    public var interruptedBy: Int32?

    public var stdoutText: String { String(decoding: stdout, as: UTF8.self) }
    public var stderrText: String { String(decoding: stderr, as: UTF8.self) }
}

/// Runs child processes the way a tool on production hosts must:
/// - no descriptor of ours other than 0, 1 and 2 reaches the child, so a daemon it starts holds
///   nothing of ours;
/// - the end of the child is seen by waiting on the child (waitpid), never by the end of its
///   output, which a daemon started with `nohup … &` may keep open for ever; once the child
///   has exited its output is read for `drain` more at most;
/// - signal dispositions and mask are reset in the child, which leads its own process group;
///   a SIGINT, SIGTERM or SIGHUP we receive is passed on to that group, as a terminal would;
/// - every run is bounded by `timeout`: then SIGTERM to the group, SIGKILL 5 s later.
public enum ChildProcess {
    /// A line for the operator while a child runs without a word: what it is, how long it has
    /// been quiet and running, and what in its process group is running now.
    public struct Heartbeat: Sendable {
        public var every: Duration
        /// What is waited on, for the line ("the upgrade script", "the database").
        public var what: String

        public init(every: Duration = .seconds(10), what: String) {
            self.every = every
            self.what = what
        }

        func line(pid: Int32, quiet: Duration, running: Duration) -> String {
            let now = ChildProcess.newestInGroup(pid).map { "; running now: \($0)" } ?? ""
            return "still waiting for \(what) (pid \(pid)): nothing from it for \(Int(quiet.components.seconds)) s, \(Int(running.components.seconds)) s since it started\(now)"
        }
    }

    public static func run(_ command: Command, input: ChildInput = .null, timeout: Duration,
                           drain: Duration = .seconds(2), mergeOutput: Bool = false, heartbeat: Heartbeat? = nil,
                           onOutput: ((ChildStream, ArraySlice<UInt8>) -> Void)? = nil) throws(HostError) -> ChildResult {
        let child = try start(command, input: input, mergeOutput: mergeOutput)
        return child.wait(timeout: timeout, drain: drain, heartbeat: heartbeat, onOutput: onOutput)
    }

    /// The program name (`comm`, never the arguments, which may hold a password) of the newest
    /// process in the group `leader` leads, other than the leader.
    static func newestInGroup(_ leader: Int32) -> String? {
        var newest: (start: UInt64, name: String)? = nil
        for name in FileSystem.names(in: "/proc") {
            guard let pid = Int32(name), pid != leader,
                  let stat = try? FileSystem.read("/proc/\(pid)/stat", limit: 4096) else { continue }
            let text = String(decoding: stat, as: UTF8.self)
            guard let close = text.lastIndex(of: ")") else { continue }
            let fields = text[text.index(after: close)...].split(separator: " ")
            // After the name: state, ppid, pgrp, … starttime is field 22 of the line, 20th here.
            guard fields.count > 19, Int32(fields[2]) == leader, let start = UInt64(fields[19]) else { continue }
            let comm = (try? FileSystem.read("/proc/\(pid)/comm", limit: 64)).map { String(decoding: $0.filter { $0 != UInt8(ascii: "\n") }.map { $0 < 0x20 || $0 == 0x7F ? UInt8(ascii: "?") : $0 }, as: UTF8.self) } ?? "?"
            if newest == nil || start >= newest!.start { newest = (start, comm) }
        }
        return newest?.name
    }

    /// Starts a child whose output is read by `Running.wait`.
    public static func start(_ command: Command, input: ChildInput = .null, mergeOutput: Bool = false) throws(HostError) -> Running {
        let inputDescriptor = try openInput(input, for: command)
        defer { close(inputDescriptor) }
        var outPipe: [Int32] = [-1, -1], errPipe: [Int32] = [-1, -1]
        guard fu_pipe_cloexec(&outPipe) == 0 else { throw HostError("cannot make a pipe for \(command.executable): \(Errno.text())") }
        if !mergeOutput {
            guard fu_pipe_cloexec(&errPipe) == 0 else {
                close(outPipe[0]); close(outPipe[1])
                throw HostError("cannot make a pipe for \(command.executable): \(Errno.text())")
            }
        }
        let argv = ([command.executable] + command.arguments).map { strdup($0) } + [nil]
        let envp = command.environment.sorted { $0.key < $1.key }.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            argv.forEach { free($0) }
            envp.forEach { free($0) }
        }
        var pid: pid_t = 0
        let error: Int32 = argv.withUnsafeBufferPointer { argvBuffer in
            envp.withUnsafeBufferPointer { envpBuffer in
                command.executable.withCString { path in withOptionalCString(command.directory) { directory in
                    var request = fu_spawn_request(
                        path: path, argv: argvBuffer.baseAddress, envp: envpBuffer.baseAddress,
                        directory: directory, stdin_fd: inputDescriptor, stdout_fd: outPipe[1],
                        stderr_fd: mergeOutput ? outPipe[1] : errPipe[1], new_process_group: 1, guard_group: command.diesWithUs ? 1 : 0,
                        uid: command.user.map { Int64($0.uid) } ?? -1, gid: command.user.map { Int64($0.gid) } ?? -1)
                    return fu_spawn(&request, &pid)
                } }
            }
        }
        close(outPipe[1])
        if !mergeOutput { close(errPipe[1]) }
        guard error == 0 else {
            close(outPipe[0])
            if !mergeOutput { close(errPipe[0]) }
            throw HostError("\(command.executable): cannot run: \(Errno.text(error))")
        }
        if !command.shielded { fu_signals_set_child_group(pid) }
        return Running(pid: pid, stdout: outPipe[0], stderr: mergeOutput ? nil : errPipe[0], shielded: command.shielded)
    }

    private static func openInput(_ input: ChildInput, for command: Command) throws(HostError) -> Int32 {
        switch input {
        case .null:
            let descriptor = open("/dev/null", O_RDONLY | O_CLOEXEC)
            guard descriptor >= 0 else { throw HostError("/dev/null: \(Errno.text())") }
            return descriptor
        case .file(let path):
            let descriptor = open(path, O_RDONLY | O_CLOEXEC)
            guard descriptor >= 0 else { throw HostError("\(path): cannot open for \(command.executable): \(Errno.text())") }
            return descriptor
        case .descriptor(let given):
            let descriptor = fcntl(given, F_DUPFD_CLOEXEC, 0)
            guard descriptor >= 0 else { throw HostError("cannot hand input to \(command.executable): \(Errno.text())") }
            return descriptor
        case .bytes(let bytes):
            let folder = ProcessInfo.processInfo.environment["TMPDIR"].flatMap { $0.isEmpty ? nil : $0 } ?? "/tmp"
            var template = Array("\(folder)/.fate-upgrade-input-XXXXXX".utf8CString)
            let descriptor = makeTemporaryFile(&template)
            guard descriptor >= 0 else { throw HostError("cannot make a temporary file in \(folder): \(Errno.text())") }
            template.withUnsafeBufferPointer { _ = unlink($0.baseAddress!) }
            do {
                try FileDescriptorWriter.writeAll(bytes, to: descriptor, path: folder)
            } catch {
                close(descriptor)
                throw HostError("cannot hand input to \(command.executable): \(error.reason)")
            }
            lseek(descriptor, 0, SEEK_SET)
            return descriptor
        }
    }

    /// A started child; `wait` must be called once.
    public final class Running: @unchecked Sendable {
        public let pid: Int32
        private let stdout: Int32
        private let stderr: Int32?
        /// Signals we receive are not passed on (`Command.shielded`).
        let shielded: Bool

        init(pid: Int32, stdout: Int32, stderr: Int32?, shielded: Bool = false) {
            self.pid = pid
            self.stdout = stdout
            self.stderr = stderr
            self.shielded = shielded
        }

        /// Sends a signal to the child's whole process group.
        public func signalGroup(_ signal: Int32) { kill(-pid, signal) }

        public func wait(timeout: Duration, drain: Duration = .seconds(2), heartbeat: Heartbeat? = nil,
                         onOutput: ((ChildStream, ArraySlice<UInt8>) -> Void)? = nil) -> ChildResult {
            let clock = ContinuousClock()
            let started = clock.now
            let deadline = clock.now.advanced(by: timeout)
            var heard = clock.now, beat = clock.now
            var open: [(descriptor: Int32, stream: ChildStream)] = [(stdout, .stdout)]
            if let stderr { open.append((stderr, .stderr)) }
            var collected: [ChildStream: [UInt8]] = [.stdout: [], .stderr: []]
            var termination: Termination? = nil
            var exitedAt: ContinuousClock.Instant? = nil
            var timedOut = false
            var killAt: ContinuousClock.Instant? = nil
            var giveUpAt: ContinuousClock.Instant? = nil
            var forwarded: Int32 = 0
            var buffer = [UInt8](repeating: 0, count: 64 * 1024)
            var leftOpen = false

            while true {
                if termination == nil {
                    var status: Int32 = 0
                    let reaped = waitpid(pid, &status, WNOHANG)
                    if reaped == pid {
                        termination = Self.termination(status)
                        exitedAt = clock.now
                        fu_signals_set_child_group(0)
                    } else if reaped < 0 && errno == ECHILD {
                        // Reaped by someone else in this process (a waitpid(-1) elsewhere): gone, status unknown.
                        termination = .exited(255)
                        exitedAt = clock.now
                        fu_signals_set_child_group(0)
                    }
                }
                if termination != nil && open.isEmpty { break }
                if let exitedAt, clock.now - exitedAt > drain {
                    leftOpen = !open.isEmpty
                    break
                }
                // A signal that came before the child's group was registered is passed on here.
                let received = fu_signals_received()
                if received != 0, termination == nil, forwarded == 0, !shielded {
                    forwarded = received
                    kill(-pid, received)
                }
                if termination == nil {
                    if !timedOut, clock.now > deadline {
                        timedOut = true
                        kill(-pid, SIGTERM)
                        killAt = clock.now.advanced(by: .seconds(5))
                    } else if let at = killAt, clock.now > at {
                        kill(-pid, SIGKILL)
                        killAt = nil
                        giveUpAt = clock.now.advanced(by: .seconds(5))
                    } else if let at = giveUpAt, clock.now > at {
                        break  // not even SIGKILL ended it (a process stuck in the kernel)
                    }
                }
                if let heartbeat, termination == nil, clock.now - beat >= heartbeat.every {
                    beat = clock.now
                    Console.shared.waiting(heartbeat.line(pid: pid, quiet: clock.now - heard, running: clock.now - started))
                }
                var polled = open.map { pollfd(fd: $0.descriptor, events: Int16(POLLIN), revents: 0) }
                let ready = polled.isEmpty ? 0 : poll(&polled, nfds_t(polled.count), 50)
                if polled.isEmpty { usleep(20_000) }
                guard ready > 0 else { continue }
                var closed: Set<Int32> = []
                for (index, entry) in polled.enumerated() where entry.revents != 0 {
                    let count = buffer.withUnsafeMutableBytes { read(entry.fd, $0.baseAddress, $0.count) }
                    if count > 0 {
                        heard = clock.now
                        beat = clock.now
                        let chunk = buffer[0..<count]
                        if let onOutput { onOutput(open[index].stream, chunk) } else { collected[open[index].stream]! += chunk }
                    } else if count == 0 || (errno != EINTR && errno != EAGAIN) {
                        closed.insert(entry.fd)
                    }
                }
                for descriptor in closed { close(descriptor) }
                open.removeAll { closed.contains($0.descriptor) }
            }
            for entry in open { close(entry.descriptor) }
            fu_signals_set_child_group(0)
            let received = fu_signals_received()
            return ChildResult(termination: termination ?? .signaled(SIGKILL), stdout: collected[.stdout]!, stderr: collected[.stderr]!,
                               outputLeftOpen: leftOpen, timedOut: timedOut,
                               interruptedBy: forwarded != 0 ? forwarded : (received != 0 && !shielded ? received : nil))
        }

        private static func termination(_ status: Int32) -> Termination {
            let signal = status & 0x7f
            return signal == 0 ? .exited((status >> 8) & 0xff) : .signaled(signal)
        }
    }
}

private func withOptionalCString<R>(_ string: String?, _ body: (UnsafePointer<CChar>?) -> R) -> R {
    guard let string else { return body(nil) }
    return string.withCString { body($0) }
}

/// mkostemp(O_CLOEXEC): a descriptor no child inherits.
func makeTemporaryFile(_ template: inout [CChar]) -> Int32 {
    template.withUnsafeMutableBufferPointer { fu_mkstemp_cloexec($0.baseAddress!) }
}
