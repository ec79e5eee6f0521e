import FateUpgradeCore
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Glibc

/// One run at a time per FATE_ROOT: `apply`, `rollback` and `confmigrate` take an exclusive flock
/// on the FATE_ROOT folder itself (no file is created, so a refused run still changes nothing).
/// A second run is refused at once, naming the holder's pid and command (found in /proc/locks).
public final class StateLock {
    private let descriptor: Int32

    public init(fateRoot: String, for what: String) throws(HostError) {
        let descriptor = open(fateRoot, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard descriptor >= 0 else { throw HostError("FATE_ROOT \(fateRoot): \(Errno.text()); give --fate-root DIR, FATE's root folder on this host") }
        if flock(descriptor, LOCK_EX | LOCK_NB) != 0 {
            let holder = Self.holder(of: descriptor)
            close(descriptor)
            throw HostError("another fate-upgrade run holds \(fateRoot)\(holder.map { " (pid \($0.pid): \($0.command))" } ?? ""); \(what) waits for no one: run it again when that one has finished")
        }
        self.descriptor = descriptor
    }

    deinit { close(descriptor) }

    /// The process holding a flock on the same inode, from /proc/locks.
    static func holder(of descriptor: Int32) -> (pid: Int32, command: String)? {
        var info = stat()
        guard fstat(descriptor, &info) == 0, let locks = try? FileSystem.read("/proc/locks", limit: 4 << 20) else { return nil }
        for line in String(decoding: locks, as: UTF8.self).split(separator: "\n") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            guard fields.count >= 6, fields[1] == "FLOCK", let pid = Int32(fields[4]) else { continue }
            // MAJOR:MINOR:INODE; the inode is enough to find our folder among a handful of locks.
            guard fields[5].hasSuffix(":\(info.st_ino)") else { continue }
            let command = (try? FileSystem.read("/proc/\(pid)/cmdline", limit: 64 << 10))
                .map { $0.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }.joined(separator: " ") } ?? "?"
            return (pid, command.isEmpty ? "?" : command)
        }
        return nil
    }
}

/// FATE_ROOT/.fate-upgrade, where journals and logs go: a real folder (never a symlink that would
/// send them elsewhere), owned by the running user (or by FATE_ROOT's owner, for root), and
/// readable by its owner only.
public enum StateFolder {
    public static func problems(fateRoot: String) -> [String] {
        let state = UpgradeJournal.folder(fateRoot: fateRoot)
        var info = stat()
        guard lstat(state, &info) == 0 else { return [] }
        if info.st_mode & S_IFMT == S_IFLNK {
            return ["\(state) is a symbolic link; journals and logs must not go where it points: move it away"]
        }
        if info.st_mode & S_IFMT != S_IFDIR { return ["\(state) is not a folder: move it away"] }
        var problems: [String] = []
        let me = geteuid()
        if info.st_uid != me && !(me == 0 && info.st_uid == FileOwner.of(fateRoot)?.uid) {
            problems.append("\(state) belongs to uid \(info.st_uid), not to \(FileOwner.current.userName): run fate-upgrade as the user who owns it")
        }
        if info.st_mode & 0o077 != 0 {
            problems.append("\(state) can be read by other users (mode \(String(info.st_mode & 0o777, radix: 8))); its logs and journals are private: chmod 700 \(state)")
        }
        return problems
    }
}
