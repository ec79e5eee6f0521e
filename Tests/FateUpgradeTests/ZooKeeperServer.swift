internal import CHost
import FateUpgradeCore
import FateUpgradeHost
import Foundation
import Testing

/// Debian's real ZooKeeper 3.8 server, standalone, on a private port of 127.0.0.1 with its data in a
/// temporary folder, started for one test. Run as the package runs it (the `java` of default-jre and
/// /usr/share/java/zookeeper.jar, whose manifest names the rest of its classpath), but with
/// `ZooKeeperServerMain` (standalone, no quorum election) and slf4j-simple, which writes the server's
/// log to stderr, i.e. our log file; the admin server (Jetty on 8080) is off.
final class ZooKeeperServer: @unchecked Sendable {
    let folder: URL
    let port: Int
    var hosts: [String] { ["127.0.0.1:\(port)"] }
    /// How long the server took to answer `ruok`.
    private(set) var startup: Duration = .zero

    private let process: ShellJob
    private let watchdog: ShellJob
    private let logFile: URL
    private let lock = NSLock()
    private var stopped = false

    private init(folder: URL, port: Int, process: ShellJob, watchdog: ShellJob, logFile: URL) {
        self.folder = folder
        self.port = port
        self.process = process
        self.watchdog = watchdog
        self.logFile = logFile
    }

    deinit { stop() }

    static let java = "/usr/bin/java"
    static let classpath = "/usr/share/java/zookeeper.jar:/usr/share/java/slf4j-simple.jar"

    var log: String { (try? String(contentsOf: logFile, encoding: .utf8)) ?? "" }

    /// Starts the server and waits (at most `within`) until it answers `ruok` with `imok`.
    /// Throws, so the test FAILS (never skips), with the server's log when it cannot start.
    /// `properties`: more `-D` system properties for the server (e.g. a disabled digest provider).
    static func start(within limit: Duration = .seconds(60), properties: [String: String] = [:]) throws -> ZooKeeperServer {
        for jar in classpath.split(separator: ":") where !FileManager.default.fileExists(atPath: String(jar)) {
            throw Failure("\(jar) not found: install zookeeper (scripts/deps.sh)")
        }
        guard FileManager.default.isExecutableFile(atPath: java) else { throw Failure("\(java) not found: install zookeeper (scripts/deps.sh)") }
        let port = try Support.freePort()
        let folder = try Support.shortTemporaryFolder("fate-zk")
        let data = folder.appendingPathComponent("data")
        let logFile = folder.appendingPathComponent("server.log")
        let config = folder.appendingPathComponent("zoo.cfg")
        do {
            try FileManager.default.createDirectory(at: data, withIntermediateDirectories: false)
            try Data("""
                tickTime=2000
                dataDir=\(data.path)
                clientPort=\(port)
                clientPortAddress=127.0.0.1
                maxClientCnxns=60
                admin.enableServer=false
                4lw.commands.whitelist=ruok
                # A test's snapshots and logs are few; no purging thread.
                autopurge.purgeInterval=0

                """.utf8).write(to: config)
            let clock = ContinuousClock()
            let began = clock.now
            // A small heap and the serial collector: several servers side by side on two cores stay cheap.
            let process = try ShellJob(java, ["-Xmx96m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
                                              "-Dorg.slf4j.simpleLogger.defaultLogLevel=info", "-Dzookeeper.jmx.log4j.disable=true"]
                                       + properties.sorted { $0.key < $1.key }.map { "-D\($0.key)=\($0.value)" } + [
                                              "-cp", classpath, "org.apache.zookeeper.server.ZooKeeperServerMain", config.path],
                                       output: logFile.path, errors: logFile.path)
            let watchdog: ShellJob
            do {
                watchdog = try startWatchdog(server: process.pid, folder: folder)
            } catch {
                process.stop(within: 10)
                throw error
            }
            let server = ZooKeeperServer(folder: folder, port: port, process: process, watchdog: watchdog, logFile: logFile)
            let deadline = began + limit
            while true {
                guard process.isRunning else {
                    let message = "the ZooKeeper server exited with status \(process.exitStatus ?? -1) before answering:\n\(server.log)"
                    server.stop()
                    throw Failure(message)
                }
                if ruok(port: port) {
                    server.startup = clock.now - began
                    return server
                }
                if clock.now > deadline {
                    let message = "the ZooKeeper server did not answer ruok on 127.0.0.1:\(port) within \(limit):\n\(server.log)"
                    server.stop()
                    throw Failure(message)
                }
                usleep(50_000)
            }
        } catch {
            try? FileManager.default.removeItem(at: folder)
            throw error
        }
    }

    /// If this test process dies without stopping the server (a crash, a kill), this kills it and
    /// removes its folder; it ends by itself once the server has.
    private static func startWatchdog(server: pid_t, folder: URL) throws -> ShellJob {
        try ShellJob("/usr/bin/env", ["python3", "-c", """
            import os, shutil, signal, sys, time
            signal.pthread_sigmask(signal.SIG_SETMASK, [])
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            test, server = int(sys.argv[1]), int(sys.argv[2])
            def alive(pid):
                try:
                    with open("/proc/%d/stat" % pid) as f:
                        return f.read().rsplit(")", 1)[1].split()[0] != "Z"
                except OSError:
                    return False
            while alive(test):
                if not alive(server):
                    sys.exit(0)
                time.sleep(0.5)
            os.kill(server, signal.SIGKILL)
            shutil.rmtree(sys.argv[3], ignore_errors=True)
            """, "\(getpid())", "\(server)", folder.path], output: "/dev/null", errors: "/dev/null")
    }

    /// ZooKeeper's four-letter `ruok`: `imok` once it serves clients. Bounded by a 1 s receive timeout.
    static func ruok(port: Int) -> Bool {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard descriptor >= 0 else { return false }
        defer { close(descriptor) }
        var limit = timeval(tv_sec: 1, tv_usec: 0)
        setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(descriptor, SOL_SOCKET, SO_SNDTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = UInt16(port).bigEndian
        address.sin_addr.s_addr = UInt32(0x7f000001).bigEndian
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0, send(descriptor, "ruok", 4, Int32(MSG_NOSIGNAL)) == 4 else { return false }
        var reply = [UInt8](repeating: 0, count: 4)
        return recv(descriptor, &reply, 4, Int32(MSG_WAITALL)) == 4 && reply == Array("imok".utf8)
    }

    /// Stops the server (SIGTERM, SIGKILL after 10 s, reaped), its watchdog, and removes the folder.
    func stop() {
        lock.lock()
        defer { lock.unlock() }
        guard !stopped else { return }
        stopped = true
        process.stop(within: 10)
        watchdog.stop(within: 5)
        try? FileManager.default.removeItem(at: folder)
    }

    var isRunning: Bool { process.isRunning }
    var pid: pid_t { process.pid }
}

/// A kazoo session held open in a background python3 (Tests/Fixtures/zookeeper_session.py) while a
/// test probes: the nodes it makes as fate_flow makes them, ephemeral ones included, live until
/// `end()` closes its standard input (or this test process dies, which closes it too).
final class KazooSession: @unchecked Sendable {
    struct Spec: Encodable {
        var hosts: [String]
        var digest: [String]?
        var persistent: [String] = []
        var register: Register?
        var timeout = 120

        struct Register: Encodable {
            var base_conf: String
            var ip: String
            var http_port: Int
        }
    }

    private let process: ShellJob
    private let input: Int32
    private let outputFile: URL
    private let folder: URL
    private let lock = NSLock()
    private var ended = false

    /// What the script printed up to "ready": "created …", "log …", "node …".
    private(set) var lines: [String] = []

    var output: String { (try? String(contentsOf: outputFile, encoding: .utf8)) ?? "" }
    var logged: [String] { lines.filter { $0.hasPrefix("log ") }.map { String($0.dropFirst(4)) } }
    var registeredNode: String? { lines.first { $0.hasPrefix("node ") }.map { String($0.dropFirst(5)) } }

    /// Starts the session and waits (at most 40 s) for its "ready".
    init(_ spec: Spec) throws {
        folder = try Support.shortTemporaryFolder("fate-kazoo")
        outputFile = folder.appendingPathComponent("output.log")
        var fds: [Int32] = [-1, -1]
        // Close-on-exec both ends: only this child gets the read end (as its 0), so closing our write end
        // is an end of file it sees; no other child of this test process holds the pipe open.
        guard fu_pipe_cloexec(&fds) == 0 else { throw Failure("pipe: \(String(cString: strerror(errno)))") }
        input = fds[1]
        let json = String(decoding: try JSONEncoder().encode(spec), as: UTF8.self)
        do {
            process = try ShellJob("/usr/bin/env", ["python3", Support.fixtures.appendingPathComponent("zookeeper_session.py").path, json],
                                   input: fds[0], output: outputFile.path, errors: outputFile.path)
        } catch {
            close(fds[0])
            close(fds[1])
            try? FileManager.default.removeItem(at: folder)
            throw error
        }
        close(fds[0])
        let ready = Support.waitUntil(seconds: 40) { [outputFile, process] in
            let text = (try? String(contentsOf: outputFile, encoding: .utf8)) ?? ""
            return text.contains("ready\n") || !process.isRunning
        }
        let text = output
        guard ready, text.contains("ready\n") else {
            end()
            throw Failure("the kazoo session did not get ready\(ready ? " (it exited)" : " within 40 s"):\n\(text)")
        }
        lines = text.split(separator: "\n").map(String.init).prefix { $0 != "ready" }.map { $0 }
    }

    deinit { end() }

    /// Ends the session: its ephemeral nodes go with it.
    func end() {
        lock.lock()
        defer { lock.unlock() }
        guard !ended else { return }
        ended = true
        close(input)
        if !Support.waitUntil(seconds: 15, { !process.isRunning }) { process.stop(within: 5) }
        try? FileManager.default.removeItem(at: folder)
    }
}
