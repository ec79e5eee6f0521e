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
        let conf = try? FileSystem.read("\(folder)/arch/conf/base_conf.yaml", limit: 1 << 20)
        return PythonTreeLayout.judge(baseConf: conf, hasSettingUtils: FileSystem.exists("\(folder)/fate_flow/utils/setting_utils.py"))
    }

    /// Processes running `FATE_FLOW_ROOT/fate_flow_server.py`, however they name it: by full path
    /// (service.sh: `python ${FATE_PYTHON_ROOT}/fate_flow/fate_flow_server.py`) or relative to their
    /// working folder (supervisord: `directory=…/fate_flow`, `command=python fate_flow_server.py`).
    public static func fateFlowProcesses(flowRoot: String) -> [Int32] {
        guard let server = realPath("\(flowRoot)/fate_flow_server.py") ?? realPath(flowRoot).map({ "\($0)/fate_flow_server.py" }) else { return [] }
        var found: [Int32] = []
        for name in FileSystem.names(in: "/proc") {
            guard let pid = Int32(name), pid != getpid(), let arguments = arguments(of: pid) else { continue }
            for argument in arguments where argument.hasSuffix("fate_flow_server.py") {
                let full = argument.hasPrefix("/") ? argument : (realPath("/proc/\(pid)/cwd").map { "\($0)/\(argument)" } ?? argument)
                if full == server || realPath(full) == server {
                    if isAlive(pid) { found.append(pid) }
                    break
                }
            }
        }
        return found.sorted()
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
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(truncatingIfNeeded: port).bigEndian)
        let name = host == "localhost" ? "127.0.0.1" : host
        guard inet_pton(AF_INET, name, &address.sin_addr) == 1 else { return false }
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
        guard descriptor >= 0 else { return false }
        defer { close(descriptor) }
        let started = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        if started == 0 { return true }
        guard errno == EINPROGRESS else { return false }
        var poller = pollfd(fd: descriptor, events: Int16(POLLOUT), revents: 0)
        let milliseconds = Int32(timeout.components.seconds * 1000 + timeout.components.attoseconds / 1_000_000_000_000_000)
        guard poll(&poller, 1, milliseconds) == 1 else { return false }
        var error: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        getsockopt(descriptor, SOL_SOCKET, SO_ERROR, &error, &length)
        return error == 0
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
