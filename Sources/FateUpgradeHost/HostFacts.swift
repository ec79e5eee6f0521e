import FateUpgradeCore
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Glibc

/// What can be learnt about a FATE host by looking, without changing anything: the python trees,
/// the fate_flow process, its HTTP port, folder sizes.
public enum HostFacts {
    /// The layout of a python/ tree; nil when there is no such folder.
    public static func pythonLayout(of folder: String) -> PythonTreeLayout? {
        guard FileSystem.isDirectory(folder) else { return nil }
        let conf = try? FileSystem.read("\(folder)/arch/conf/base_conf.yaml", limit: BaseConf.sizeLimit)
        return PythonTreeLayout.judge(baseConf: conf, hasSettingUtils: FileSystem.exists("\(folder)/fate_flow/utils/setting_utils.py"))
    }

    /// Why a settings file of the tree that is there cannot be read (too large, unreadable), or nil.
    public static func pythonTreeProblem(of folder: String) -> String? {
        for file in SiteFile.allCases where FileSystem.exists("\(folder)/\(file.rawValue)") {
            do { _ = try FileSystem.read("\(folder)/\(file.rawValue)", limit: BaseConf.sizeLimit) } catch {
                return error.operatorLines.joined(separator: "; ")
            }
        }
        return nil
    }

    /// The FATE release a python/ tree's settings files come from: the release whose files they are
    /// closest to (a site's edits move them less than a release does). Nil when it has no base_conf.yaml.
    public static func pythonRelease(of folder: String) -> FateRelease? {
        var files: [SiteFile: [UInt8]] = [:]
        for file in SiteFile.allCases {
            if let bytes = try? FileSystem.read("\(folder)/\(file.rawValue)", limit: BaseConf.sizeLimit) { files[file] = bytes }
        }
        guard files[.baseConf] != nil else { return nil }
        return SiteBaseline.detect(site: files).release
    }

    /// The arguments of a process; nil when it is gone. A process in the middle of execve shows no
    /// arguments for a moment (its new image's are not set up yet), as fate_flow does right after
    /// service.sh's `nohup python …` is seen by `ps`: that is read again, briefly, rather than taken
    /// for a process without arguments. Kernel threads and zombies have none.
    public static func arguments(of pid: Int32) -> [String]? {
        for _ in 0..<40 {
            guard let line = try? FileSystem.read("/proc/\(pid)/cmdline", limit: 1 << 20) else { return nil }
            if !line.isEmpty { return line.split(separator: 0).map { String(decoding: $0, as: UTF8.self) } }
            guard let status = status(of: pid) else { return nil }
            if status.state == UInt8(ascii: "Z") || status.flags & 0x0020_0000 != 0 { return [] }  // PF_KTHREAD
            usleep(5_000)
        }
        return []
    }

    /// The live processes of a process group, with their names: `4242 sleep`.
    public static func processes(inGroup group: Int32) -> [String] {
        guard group > 1 else { return [] }
        return FileSystem.names(in: "/proc").compactMap { name -> String? in
            guard let pid = Int32(name), let stat = try? FileSystem.read("/proc/\(pid)/stat", limit: 4096),
                  let close = stat.lastIndex(of: UInt8(ascii: ")")) else { return nil }
            let fields = stat[(close + 1)...].split(separator: UInt8(ascii: " "))
            guard fields.count > 2, fields[0].first != UInt8(ascii: "Z"), Int32(String(decoding: fields[2], as: UTF8.self)) == group else { return nil }
            let comm = (try? FileSystem.read("/proc/\(pid)/comm", limit: 64)).map { String(decoding: $0.filter { $0 >= 0x20 && $0 != 0x7F }, as: UTF8.self) } ?? "?"
            return "\(pid) \(comm)"
        }.sorted()
    }

    /// What of each run's script still runs: `(run id, group, processes)`. fate_flow, which the
    /// script starts with `nohup … &` and which stays in its group, is the service, not the script.
    public static func survivingScripts(of journals: [UpgradeJournal]) -> [(id: String, group: Int32, processes: [String])] {
        journals.compactMap { run in
            guard let group = run.scriptGroup else { return nil }
            let alive = processes(inGroup: group).filter { entry in
                guard let pid = Int32(entry.prefix { $0 != " " }), let arguments = arguments(of: pid) else { return true }
                return !arguments.contains { Path.name($0) == "fate_flow_server.py" }
            }
            return alive.isEmpty ? nil : (run.id, group, alive)
        }
    }

    /// Whether the process exists and is not a zombie.
    public static func isAlive(_ pid: Int32) -> Bool {
        guard let status = status(of: pid) else { return false }
        return status.state != UInt8(ascii: "Z")
    }

    /// State and flags from /proc/PID/stat (fields 3 and 9; the name before them may hold spaces and parentheses).
    private static func status(of pid: Int32) -> (state: UInt8, flags: UInt64)? {
        guard let stat = try? FileSystem.read("/proc/\(pid)/stat", limit: 1 << 16),
              let close = stat.lastIndex(of: UInt8(ascii: ")")) else { return nil }
        let fields = stat[(close + 1)...].split(separator: UInt8(ascii: " "))
        guard fields.count > 6, let state = fields[0].first,
              let flags = UInt64(String(decoding: fields[6], as: UTF8.self)) else { return nil }
        return (state, flags)
    }

    public static func realPath(_ path: String) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    /// Whether something accepts a TCP connection at host:port (IPv4 literal or localhost) within `timeout`.
    public static func answers(host: String, port: Int, timeout: Duration = .seconds(3)) -> Bool {
        guard let descriptor = connected(host: host, port: port, deadline: ContinuousClock.now + timeout) else { return false }
        close(descriptor)
        return true
    }

    /// A non-blocking TCP socket connected to host:port (IPv4 literal or localhost) by `deadline`, or nil.
    static func connected(host: String, port: Int, deadline: ContinuousClock.Instant) -> Int32? {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(truncatingIfNeeded: port).bigEndian)
        let name = host == "localhost" ? "127.0.0.1" : host
        guard inet_pton(AF_INET, name, &address.sin_addr) == 1 else { return nil }
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
        guard descriptor >= 0 else { return nil }
        let started = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        if started == 0 { return descriptor }
        var error: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        guard errno == EINPROGRESS, wait(descriptor, for: POLLOUT, until: deadline),
              getsockopt(descriptor, SOL_SOCKET, SO_ERROR, &error, &length) == 0, error == 0 else {
            close(descriptor)
            return nil
        }
        return descriptor
    }

    /// Whether `events` come on the descriptor before `deadline`.
    static func wait(_ descriptor: Int32, for events: Int32, until deadline: ContinuousClock.Instant) -> Bool {
        let left = deadline - ContinuousClock.now
        let milliseconds = max(0, Int32(left.components.seconds * 1000 + left.components.attoseconds / 1_000_000_000_000_000))
        var poller = pollfd(fd: descriptor, events: Int16(events), revents: 0)
        return poll(&poller, 1, milliseconds) == 1
    }

    /// Bytes a tree takes (regular files' sizes; links not followed).
    public static func size(of path: String) -> Int64 {
        var info = stat()
        guard lstat(path, &info) == 0 else { return 0 }
        guard info.st_mode & S_IFMT == S_IFDIR else { return Int64(info.st_size) }
        return FileSystem.names(in: path).reduce(Int64(0)) { $0 + size(of: "\(path)/\($1)") }
    }

    /// Modification time, seconds since the epoch.
    public static func modified(_ path: String) -> Int? {
        var info = stat()
        guard lstat(path, &info) == 0 else { return nil }
        return Int(info.st_mtim.tv_sec)
    }
}

extension HostFacts {
    /// Every fate_flow server process on this host, as `/proc` shows it now.
    public static func fateFlowServers() -> [FateFlowProcess] {
        let listening = listeningSockets()
        let clock = bootClock()
        var found: [FateFlowProcess] = []
        for name in FileSystem.names(in: "/proc") {
            guard let pid = Int32(name), pid != getpid(), let arguments = arguments(of: pid),
                  let named = arguments.first(where: { $0.hasSuffix("fate_flow_server.py") }) else { continue }
            let cwd = realPath("/proc/\(pid)/cwd")
            var script = named.hasPrefix("/") ? named : cwd.map { "\($0)/\(named)" } ?? named
            script = realPath(script) ?? URL(fileURLWithPath: script).standardizedFileURL.path
            guard let ticks = startTicks(of: pid), isAlive(pid) else { continue }
            var info = stat()
            let changed = stat(script, &info) == 0 ? Double(info.st_ctim.tv_sec) + Double(info.st_ctim.tv_nsec) / 1e9 : nil
            var outputs: [String] = [], ports: Set<Int> = [], databases: [String] = []
            for fd in FileSystem.names(in: "/proc/\(pid)/fd") {
                guard let target = linkTarget("/proc/\(pid)/fd/\(fd)") else { continue }
                if target.hasPrefix("socket:["), let inode = UInt64(target.dropFirst(8).dropLast()), let port = listening[inode] {
                    ports.insert(port)
                } else if fd == "1" || fd == "2", target.hasPrefix("/") {
                    outputs.append(target)
                } else if target.hasSuffix(".db") || target.hasSuffix(".sqlite") {
                    databases.append(target)
                }
            }
            found.append(FateFlowProcess(pid: pid, script: script, startedAt: clock.bootedAt + Double(ticks) / clock.ticksPerSecond,
                                         scriptChangedAt: changed, workingFolder: cwd, outputFiles: outputs,
                                         listening: ports.sorted(), openDatabases: databases.sorted()))
        }
        return found.sorted { $0.pid < $1.pid }
    }

    /// The wall-clock time of boot, to the microsecond (from CLOCK_BOOTTIME, which process start
    /// times count from: /proc/stat's `btime` is whole seconds), and the clock tick.
    static func bootClock() -> (bootedAt: Double, ticksPerSecond: Double) {
        var real = timespec(), boot = timespec()
        clock_gettime(CLOCK_REALTIME, &real)
        clock_gettime(CLOCK_BOOTTIME, &boot)
        let now = Double(real.tv_sec) + Double(real.tv_nsec) / 1e9
        let up = Double(boot.tv_sec) + Double(boot.tv_nsec) / 1e9
        return (now - up, Double(sysconf(Int32(_SC_CLK_TCK))))
    }

    /// Field 22 of /proc/PID/stat: clock ticks from boot to the process's start.
    static func startTicks(of pid: Int32) -> UInt64? {
        guard let stat = try? FileSystem.read("/proc/\(pid)/stat", limit: 1 << 16),
              let close = stat.lastIndex(of: UInt8(ascii: ")")) else { return nil }
        let fields = stat[(close + 1)...].split(separator: UInt8(ascii: " "))
        guard fields.count > 19 else { return nil }
        return UInt64(String(decoding: fields[19], as: UTF8.self))
    }

    static func linkTarget(_ path: String) -> String? {
        var buffer = [CChar](repeating: 0, count: 4097)
        let count = readlink(path, &buffer, 4096)
        guard count > 0 else { return nil }
        return String(decoding: buffer[..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Socket inode → port, for TCP sockets in LISTEN (/proc/net/tcp and tcp6: state 0A).
    static func listeningSockets() -> [UInt64: Int] {
        var sockets: [UInt64: Int] = [:]
        for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
            guard let bytes = try? FileSystem.read(table, limit: 64 << 20) else { continue }
            for line in String(decoding: bytes, as: UTF8.self).split(separator: "\n").dropFirst() {
                let fields = line.split(separator: " ")
                guard fields.count > 9, fields[3] == "0A", let colon = fields[1].lastIndex(of: ":"),
                      let port = Int(fields[1][fields[1].index(after: colon)...], radix: 16),
                      let inode = UInt64(fields[9]) else { continue }
                sockets[inode] = port
            }
        }
        return sockets
    }

    /// Whether an HTTP server answers at host:port: a request is sent and a status line must come
    /// back within `timeout` (a port that only accepts is not fate_flow answering).
    public static func answersHTTP(host: String, port: Int, timeout: Duration = .seconds(3)) -> Bool {
        let deadline = ContinuousClock.now + timeout
        guard let descriptor = connected(host: host, port: port, deadline: deadline) else { return false }
        defer { close(descriptor) }
        let name = host == "localhost" ? "127.0.0.1" : host
        let request = Array("GET / HTTP/1.0\r\nHost: \(name):\(port)\r\n\r\n".utf8)
        guard request.withUnsafeBytes({ send(descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }) == request.count else { return false }
        var reply: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 64)
        while reply.count < 5, wait(descriptor, for: POLLIN, until: deadline) {
            let count = recv(descriptor, &buffer, buffer.count, 0)
            guard count > 0 else { break }
            reply += buffer[..<count]
        }
        return reply.starts(with: Array("HTTP/".utf8))
    }
}
