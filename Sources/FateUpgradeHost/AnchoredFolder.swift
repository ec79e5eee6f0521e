import FateUpgradeCore
import Glibc

/// A folder opened once, and removals below it done relative to that descriptor: every folder on
/// the way is opened with `O_NOFOLLOW`, the item itself is looked at with `AT_SYMLINK_NOFOLLOW`,
/// and `unlinkat` removes it. No path is resolved again between the check and the removal, so a
/// symlink swapped in while cleanup runs (by the FATE user, whose tree it is) sends nothing
/// elsewhere: it is refused where it is met on the way, and removed as a link, never followed,
/// inside a tree being removed. Other file systems mounted inside are not entered.
public final class AnchoredFolder {
    public let path: String
    private let descriptor: Int32
    private let device: UInt

    /// `path` should be canonical (no symlink in it): its last part is opened without following.
    public init(_ path: String) throws(HostError) {
        let descriptor = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard descriptor >= 0 else { throw HostError("\(path): cannot open it as a folder (not following symlinks): \(Errno.text())") }
        var info = stat()
        fstat(descriptor, &info)
        self.path = path
        self.descriptor = descriptor
        device = UInt(info.st_dev)
    }

    deinit { close(descriptor) }

    public enum Kind: Sendable { case file, folder }

    /// Removes `relative` (a path below this folder, parts without `.` or `..`), which must be of
    /// `kind` and not a symlink.
    public func remove(_ relative: String, kind: Kind) throws(HostError) {
        let parts = relative.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        guard !parts.isEmpty, parts.allSatisfy({ !$0.isEmpty && $0 != "." && $0 != ".." }) else {
            throw HostError("\(relative): not a plain path below \(path); not removed")
        }
        var parent = dup(descriptor)
        guard parent >= 0 else { throw HostError("\(path): \(Errno.text())") }
        defer { close(parent) }
        var walked = path
        for part in parts.dropLast() {
            walked += "/" + part
            let next = openat(parent, part, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            guard next >= 0 else {
                throw HostError("\(walked): \(errno == ELOOP || errno == ENOTDIR ? "a symlink or not a folder" : Errno.text()); \(relative) not removed")
            }
            close(parent)
            parent = next
        }
        let name = parts.last!
        let full = "\(path)/\(relative)"
        var info = stat()
        guard fstatat(parent, name, &info, AT_SYMLINK_NOFOLLOW) == 0 else {
            if errno == ENOENT { return }
            throw HostError("\(full): \(Errno.text()); not removed")
        }
        switch (info.st_mode & S_IFMT, kind) {
        case (S_IFLNK, _): throw HostError("\(full) is a symlink now: cleanup removes no symlink in place of what it listed; not removed")
        case (S_IFREG, .file):
            guard unlinkat(parent, name, 0) == 0 else { throw HostError("rm \(full): \(Errno.text())") }
        case (S_IFDIR, .folder):
            guard UInt(info.st_dev) == device else { throw HostError("\(full) is on another file system (mounted there); not removed") }
            let folder = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            guard folder >= 0 else { throw HostError("\(full): \(Errno.text()); not removed") }
            try emptyFolder(folder, at: full)
            guard unlinkat(parent, name, AT_REMOVEDIR) == 0 else { throw HostError("rm -rf \(full): \(Errno.text())") }
        default:
            throw HostError("\(full) is not a \(kind == .file ? "regular file" : "folder") now; not removed")
        }
    }

    /// Removes what a folder holds; takes the descriptor and closes it.
    private func emptyFolder(_ folder: Int32, at shown: String) throws(HostError) {
        guard let stream = fdopendir(folder) else {
            close(folder)
            throw HostError("\(shown): \(Errno.text()); not removed")
        }
        defer { closedir(stream) }
        var names: [String] = []
        while let entry = readdir(stream) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if name != "." && name != ".." { names.append(name) }
        }
        for name in names {
            var info = stat()
            guard fstatat(folder, name, &info, AT_SYMLINK_NOFOLLOW) == 0 else {
                if errno == ENOENT { continue }
                throw HostError("\(shown)/\(name): \(Errno.text()); not removed")
            }
            if info.st_mode & S_IFMT == S_IFDIR {
                guard UInt(info.st_dev) == device else { throw HostError("\(shown)/\(name) is on another file system (mounted there); not removed") }
                let child = openat(folder, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
                if child < 0 {
                    // Swapped for a symlink since it was looked at: the link goes, not what it names.
                    guard errno == ELOOP || errno == ENOTDIR, unlinkat(folder, name, 0) == 0 else {
                        throw HostError("\(shown)/\(name): \(Errno.text()); not removed")
                    }
                    continue
                }
                try emptyFolder(child, at: "\(shown)/\(name)")
                guard unlinkat(folder, name, AT_REMOVEDIR) == 0 else { throw HostError("rm -rf \(shown)/\(name): \(Errno.text())") }
            } else if unlinkat(folder, name, 0) != 0 && errno != ENOENT {
                throw HostError("rm \(shown)/\(name): \(Errno.text())")
            }
        }
    }
}
