import FateUpgradeCore
import FateUpgradeHost
import Foundation
import Synchronization
import Testing

/// The result of running a command: exit status and both output streams.
struct Run {
    var status: Int32
    var stdout: String
    var stderr: String
    var output: String { stdout + stderr }
}

enum Support {
    static let repository = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let fixtures = repository.appendingPathComponent("Tests/Fixtures")

    /// The `fate-upgrade` built beside this test bundle.
    static var binary: String {
        if let override = ProcessInfo.processInfo.environment["FATE_UPGRADE_BIN"] { return override }
        let folder = Bundle.main.executableURL!.deletingLastPathComponent()
        return folder.appendingPathComponent("fate-upgrade").path
    }

    /// Runs a program to completion, bounded in time: a hang is a failure (the child's process group is
    /// stopped and the run throws). Children get only descriptors 0–2 and reset signals (the runner the tool
    /// itself uses), so a daemon a child starts cannot hold this test, and the environment is ours without
    /// FATE_DB_PASS, plus `environment`.
    @discardableResult
    static func run(_ executable: String, _ arguments: [String], in directory: URL? = nil,
                    environment: [String: String] = [:], stdin: String? = nil, timeout: Duration = .seconds(300)) throws -> Run {
        let env = childEnvironment(environment)
        guard let program = Command.locate(executable, path: env["PATH"]) else { throw Failure("\(executable): not found") }
        let result = try ChildProcess.run(Command(program, arguments, environment: env, directory: directory?.path),
                                          input: stdin.map { .bytes(Array($0.utf8)) } ?? .null, timeout: timeout)
        let run = Run(status: result.termination.status ?? 128 + (result.termination.signal ?? 0),
                      stdout: result.stdoutText, stderr: result.stderrText)
        if result.timedOut {
            throw Failure("\(executable) \(arguments.joined(separator: " ")) did not finish within \(timeout):\n\(run.output)")
        }
        return run
    }

    /// Runs a program as an operator's shell runs FATE's service scripts: nothing is closed, so every
    /// descriptor of this test process without close-on-exec reaches the script and what it starts with
    /// `nohup … &` (fate_flow); no session, signals as a shell leaves them; a process group of its own, as
    /// a job-control shell gives, which a timeout stops. Output goes to a file, as to a terminal: what waits
    /// is `waitpid` on the script, never the end of its output. Both streams land in `stdout`.
    @discardableResult
    static func runFromAShell(_ executable: String, _ arguments: [String], environment: [String: String] = [:],
                              timeout: Duration = .seconds(120)) throws -> Run {
        let env = childEnvironment(environment)
        guard let program = Command.locate(executable, path: env["PATH"]) else { throw Failure("\(executable): not found") }
        var template = Array("/tmp/fate-shell-XXXXXX".utf8CString)
        let output = mkstemp(&template)
        guard output >= 0 else { throw Failure("mkstemp: \(String(cString: strerror(errno)))") }
        let outputPath = String(decoding: template.dropLast().map { UInt8(bitPattern: $0) }, as: UTF8.self)
        defer { close(output); unlink(outputPath) }

        let pid = try spawnAsAShell(program, arguments, environment: env, output: output, errors: output)
        let deadline = ContinuousClock.now + timeout
        var status: Int32 = 0
        while waitpid(pid, &status, WNOHANG) == 0 {
            if ContinuousClock.now > deadline {
                kill(-pid, SIGKILL)
                waitpid(pid, &status, 0)
                let text = (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? ""
                throw Failure("\(executable) \(arguments.joined(separator: " ")) did not finish within \(timeout):\n\(text)")
            }
            usleep(10_000)
        }
        let text = (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? ""
        let signal = status & 0x7f
        return Run(status: signal == 0 ? (status >> 8) & 0xff : 128 + signal, stdout: text, stderr: "")
    }

    /// Starts a program as a job-control shell does (`program &` from an operator's terminal): standard
    /// input from /dev/null (or `input`), `output` and `errors` as its 1 and 2, every other descriptor of
    /// this test process without close-on-exec inherited, no new session, signals unblocked and at their
    /// defaults, a process group of its own. Returns at once; the caller waits.
    static func spawnAsAShell(_ program: String, _ arguments: [String], environment: [String: String],
                              input: Int32? = nil, output: Int32, errors: Int32) throws -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        if let input {
            posix_spawn_file_actions_adddup2(&actions, input, 0)
        } else {
            posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        }
        posix_spawn_file_actions_adddup2(&actions, output, 1)
        posix_spawn_file_actions_adddup2(&actions, errors, 2)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        // The test runner's threads block some signals; a shell's children start with none blocked.
        var none = sigset_t(), all = sigset_t()
        sigemptyset(&none)
        sigfillset(&all)
        posix_spawnattr_setsigmask(&attributes, &none)
        posix_spawnattr_setsigdefault(&attributes, &all)
        posix_spawnattr_setpgroup(&attributes, 0)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

        let argv = ([program] + arguments).map { strdup($0) } + [nil]
        let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { (argv + envp).forEach { free($0) } }
        var pid = pid_t()
        let spawned = posix_spawn(&pid, program, &actions, &attributes, argv, envp)
        guard spawned == 0 else { throw Failure("\(program): \(String(cString: strerror(spawned)))") }
        return pid
    }

    /// Polls `condition` every 50 ms until it holds or `seconds` pass.
    static func waitUntil(seconds: Double, _ condition: () -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if condition() { return true }
            usleep(50_000)
        }
        return condition()
    }

    /// A TCP port for a stand-in fate_flow: free now, handed out once per test run, and below the kernel's
    /// ephemeral range — a port the kernel chose (bind to port 0) is free only until the next outgoing
    /// connection or the next caller is given it again, and the stand-in dies when its port is taken.
    static func freePort() throws -> Int {
        try portReservations.withLock { next in
            let span = portRange.count
            for _ in 0..<span {
                let port = portRange.lowerBound + next % span
                next += 1
                if try canBind(port) { return port }
            }
            throw Failure("no free TCP port in \(portRange.lowerBound)-\(portRange.upperBound - 1)")
        }
    }

    /// From 20000 to the start of the ephemeral range (`net.ipv4.ip_local_port_range`, 32768 by default).
    private static let portRange: Range<Int> = {
        let ephemeral = (try? String(contentsOfFile: "/proc/sys/net/ipv4/ip_local_port_range", encoding: .utf8))?
            .split(whereSeparator: \.isWhitespace).first.flatMap { Int($0) } ?? 32768
        return 20000..<max(ephemeral, 20100)
    }()
    /// Where the next search starts; spread by pid so two test runs on one machine rarely meet.
    private static let portReservations = Mutex(Int(getpid()) * 101)

    private static func canBind(_ port: Int) throws -> Bool {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { throw Failure("socket: \(String(cString: strerror(errno)))") }
        defer { close(descriptor) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = UInt16(port).bigEndian
        address.sin_addr.s_addr = UInt32(0x7f000001).bigEndian
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
            }
        }
    }

    /// Starts `fate-upgrade` without waiting; `wait` on the result (bounded) collects its output.
    static func startTool(_ arguments: [String], environment: [String: String] = [:]) throws -> ChildProcess.Running {
        try ChildProcess.start(Command(binary, arguments, environment: childEnvironment(environment)))
    }

    /// Ours without FATE_DB_PASS (a test gives it only where it means to), plus `extra`.
    private static func childEnvironment(_ extra: [String: String] = [:]) -> [String: String] {
        var env = ProcessInfo.processInfo.environment
        env.removeValue(forKey: "FATE_DB_PASS")
        env.merge(extra) { $1 }
        return env
    }

    /// Runs `fate-upgrade`.
    @discardableResult
    static func tool(_ arguments: [String], in directory: URL? = nil, environment: [String: String] = [:],
                     stdin: String? = nil, timeout: Duration = .seconds(300)) throws -> Run {
        try run(binary, arguments, in: directory, environment: environment, stdin: stdin, timeout: timeout)
    }

    static func temporaryFolder() throws -> URL {
        let url = FileManager.default.temporaryDirectory
            .appendingPathComponent("fate-upgrade-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    /// Builds a fixture upgrade package with the project's fixture builder.
    /// Deterministic: the same options give the same bytes. A package whose new fate_flow is started
    /// side by side with others needs `--http-port` (see `ApplyRollbackTests.Scenario`).
    static func makePackage(at url: URL, format: String = "tar.gz", extra: [String] = []) throws {
        let result = try run("python3", [fixtures.appendingPathComponent("make_upgrade_package.py").path,
                                         url.path, "--format", format] + extra)
        #expect(result.status == 0, "fixture builder failed: \(result.stderr)")
    }

    /// The members of a tar(.gz) as Python's tarfile sees them, one dictionary each.
    static func members(of archive: URL) throws -> [[String: String]] {
        let result = try run("python3", [fixtures.appendingPathComponent("tar_members.py").path, archive.path])
        guard result.status == 0 else { throw Failure("tarfile could not read \(archive.lastPathComponent): \(result.stderr)") }
        let objects = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [[String: Any]] ?? []
        return objects.map { $0.mapValues { "\($0)" } }
    }

    /// The bytes of one member, read with Python's tarfile.
    static func memberBytes(_ name: String, of archive: URL) throws -> [UInt8] {
        let result = try run("python3", ["-c", """
            import sys, tarfile
            with tarfile.open(sys.argv[1]) as t:
                sys.stdout.buffer.write(t.extractfile(sys.argv[2]).read().hex().encode())
            """, archive.path, name])
        guard result.status == 0 else { throw Failure("cannot read \(name): \(result.stderr)") }
        var bytes: [UInt8] = []
        var index = result.stdout.startIndex
        while index < result.stdout.endIndex {
            let next = result.stdout.index(index, offsetBy: 2)
            bytes.append(UInt8(result.stdout[index..<next], radix: 16)!)
            index = next
        }
        return bytes
    }

    static func files(in folder: URL) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: folder.path).sorted()
    }

    /// The absolute path of the first of these programs found on PATH or in the sbin folders, which are
    /// often not on a user's PATH but hold the MariaDB server.
    static func which(_ names: String...) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        let folders = path.split(separator: ":").map(String.init) + ["/usr/local/sbin", "/usr/sbin", "/sbin"]
        for name in names {
            for folder in folders where FileManager.default.isExecutableFile(atPath: "\(folder)/\(name)") {
                return "\(folder)/\(name)"
            }
        }
        return nil
    }

    /// A new folder directly under /tmp with a short name: unix socket paths (and links to them) must stay
    /// under about 107 bytes, which a folder under a long TMPDIR or a UUID-named one can exceed.
    static func shortTemporaryFolder(_ prefix: String) throws -> URL {
        var template = Array("/tmp/\(prefix)-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw Failure("mkdtemp: \(String(cString: strerror(errno)))") }
        return URL(fileURLWithPath: String(cString: made), isDirectory: true)
    }
}

struct Failure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// A long-running program a test starts in the background as an operator's shell would (see
/// `Support.spawnAsAShell`: nothing closed, no new session), and stops when done with it.
final class ShellJob: @unchecked Sendable {
    let pid: pid_t
    private let lock = NSLock()
    private var status: Int32? = nil

    /// Output and errors are appended to the files named; standard input is /dev/null, or `input`.
    init(_ program: String, _ arguments: [String], input: Int32? = nil, output: String, errors: String) throws {
        let out = open(output, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o600)
        guard out >= 0 else { throw Failure("\(output): \(String(cString: strerror(errno)))") }
        defer { close(out) }
        let err = open(errors, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o600)
        guard err >= 0 else { throw Failure("\(errors): \(String(cString: strerror(errno)))") }
        defer { close(err) }
        var environment = ProcessInfo.processInfo.environment
        environment.removeValue(forKey: "FATE_DB_PASS")
        pid = try Support.spawnAsAShell(program, arguments, environment: environment, input: input, output: out, errors: err)
    }

    /// The exit status once it has ended (128 + the signal for a killed one), else nil.
    var exitStatus: Int32? {
        lock.lock()
        defer { lock.unlock() }
        if status == nil {
            var raw: Int32 = 0
            if waitpid(pid, &raw, WNOHANG) == pid {
                let signal = raw & 0x7f
                status = signal == 0 ? (raw >> 8) & 0xff : 128 + signal
            }
        }
        return status
    }

    var isRunning: Bool { exitStatus == nil }

    /// SIGTERM, then SIGKILL after `seconds`; returns once it has ended and is reaped.
    func stop(within seconds: Double = 30) {
        guard isRunning else { return }
        kill(pid, SIGTERM)
        let deadline = Date().addingTimeInterval(seconds)
        while isRunning && Date() < deadline { usleep(10_000) }
        if isRunning { kill(pid, SIGKILL) }
        while isRunning { usleep(10_000) }
    }
}
