import FateUpgradeCore
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Glibc
import Synchronization

/// Where files that hold a secret for a moment live (the mysql client's option file with DB_PASS):
/// one folder per user, `$TMPDIR/fate-upgrade-<uid>` (0700, ours, never a symlink), and in it one
/// folder per use named for the process that made it (`mysql-<pid>-<start ticks>-XXXXXX`). A run
/// killed by SIGKILL, which no handler sees, leaves its folder; every later run finds it by that
/// name, sees its process is gone, and removes it — and `status` says so.
public enum SecretTemporaries {
    public static var root: String {
        let temporary = ProcessInfo.processInfo.environment["TMPDIR"].flatMap { $0.isEmpty ? nil : $0 } ?? "/tmp"
        return "\(temporary)/fate-upgrade-\(geteuid())"
    }

    /// The per-user folder, made if missing; refused when it is not one we can trust.
    public static func folder() throws(HostError) -> String {
        let path = root
        if mkdir(path, 0o700) != 0 && errno != EEXIST { throw HostError("\(path): cannot create it: \(Errno.text())") }
        var info = stat()
        guard lstat(path, &info) == 0 else { throw HostError("\(path): \(Errno.text())") }
        guard info.st_mode & S_IFMT == S_IFDIR else {
            throw HostError("\(path) is not a folder of ours (a symlink or a file put there): move it away; DB_PASS is never written through it")
        }
        guard info.st_uid == geteuid(), info.st_mode & 0o077 == 0 else {
            throw HostError("\(path) belongs to uid \(info.st_uid) with mode \(String(info.st_mode & 0o777, radix: 8)), not to this user with 700: move it away; DB_PASS is never written there")
        }
        return path
    }

    /// A new private folder for one use, named for this process: its PID namespace, pid and start.
    public static func make(_ use: String) throws(HostError) -> String {
        let me = getpid()
        return try FileSystem.makePrivateDirectory(in: try folder(), prefix: "\(use)-\(pidNamespace)-\(me)-\(HostFacts.startTicks(of: me) ?? 0)-")
    }

    /// The inode of this process's PID namespace: a pid means something only within it, and /tmp
    /// may be shared with containers that have their own (0 when it cannot be read).
    static let pidNamespace: UInt64 = {
        var buffer = [CChar](repeating: 0, count: 64)
        let count = readlink("/proc/self/ns/pid", &buffer, buffer.count - 1)
        guard count > 0 else { return 0 }
        let text = String(decoding: buffer[0..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return UInt64(text.filter(\.isNumber)) ?? 0
    }()

    /// What runs that are gone left; removed. Each as `path (pid N)`.
    @discardableResult
    public static func sweep() -> [String] {
        // Nothing to look at is not a reason to make the folder.
        var info = stat()
        guard lstat(root, &info) == 0, let path = try? folder() else { return [] }
        var removed: [String] = []
        for name in FileSystem.names(in: path) {
            let parts = name.split(separator: "-")
            // Only what a process of this PID namespace made can be judged from here.
            guard parts.count >= 5, UInt64(parts[1]) == pidNamespace, pidNamespace != 0,
                  let pid = Int32(parts[2]), let ticks = UInt64(parts[3]) else { continue }
            if HostFacts.isAlive(pid) && (ticks == 0 || HostFacts.startTicks(of: pid) == ticks) { continue }
            let leftover = "\(path)/\(name)"
            guard (try? AnchoredFolder(path).remove(name, kind: .folder)) != nil else { continue }
            removed.append("\(leftover) (pid \(pid))")
        }
        swept.withLock { $0 += removed }
        return removed
    }

    /// What `sweep` removed in this process, for `status`.
    public static var removedThisRun: [String] { swept.withLock { $0 } }
    private static let swept = Mutex<[String]>([])
}
