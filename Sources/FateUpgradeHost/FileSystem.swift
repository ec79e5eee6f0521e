import FateUpgradeCore
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Glibc

/// A failed write(2), naming the file.
public struct WriteError: OperatorError {
    public var path: String
    public var code: Int32
    public var reason: String { Errno.text(code) }
    public var lines: [String] { ["\(path): cannot write: \(reason)"] }
    public var reportCode: String { "write_failed" }
}

extension Error {
    /// The reason alone, for messages that name the file themselves.
    var reason: String { (self as? WriteError)?.reason ?? operatorLines.joined(separator: "; ") }
}

public enum FileDescriptorWriter {
    /// Writes all of `bytes`, retrying short writes and EINTR.
    public static func writeAll(_ bytes: [UInt8], to descriptor: Int32, path: String) throws(WriteError) {
        // withUnsafeBytes rethrows untyped; the Result keeps the error's type.
        try bytes.withUnsafeBytes { buffer in Result { () throws(WriteError) in try writeAll(buffer, to: descriptor, path: path) } }.get()
    }

    public static func writeAll(_ bytes: UnsafeRawBufferPointer, to descriptor: Int32, path: String) throws(WriteError) {
        var offset = 0
        while offset < bytes.count {
            let written = Glibc.write(descriptor, bytes.baseAddress! + offset, bytes.count - offset)
            if written < 0 {
                if errno == EINTR { continue }
                throw WriteError(path: path, code: errno)
            }
            offset += written
        }
    }
}

extension FileOwner {
    /// Its name from /etc/passwd read directly: a static binary cannot use the C library's NSS lookups.
    public init(uid: uid_t, gid: gid_t) {
        self.init(uid: uid, gid: gid, name: UserDatabase.name(ofUser: uid))
    }

    public static var current: FileOwner { FileOwner(uid: geteuid(), gid: getegid()) }

    /// The owner of a path (not following a final symlink), or nil when it is not there.
    public static func of(_ path: String) -> FileOwner? {
        var info = stat()
        guard lstat(path, &info) == 0 else { return nil }
        return FileOwner(uid: info.st_uid, gid: info.st_gid)
    }
}

/// /etc/passwd, read directly (see `AccountFile`).
public enum UserDatabase {
    private static func passwd(_ path: String) -> String? {
        (try? FileSystem.read(path, limit: 16 << 20)).map { String(decoding: $0, as: UTF8.self) }
    }

    public static func name(ofUser uid: UInt32, passwd path: String = "/etc/passwd") -> String? {
        passwd(path).flatMap { AccountFile.names($0)[uid] }
    }

    public static func home(ofUser uid: UInt32, passwd path: String = "/etc/passwd") -> String? {
        passwd(path).flatMap { AccountFile.home(ofUser: uid, in: $0) }
    }
}

public enum FileSystem {
    public static func isDirectory(_ path: String) -> Bool {
        var info = stat()
        return !path.isEmpty && stat(path, &info) == 0 && info.st_mode & S_IFMT == S_IFDIR
    }

    /// A real folder, not a symlink to one.
    public static func isRealDirectory(_ path: String) -> Bool {
        var info = stat()
        return !path.isEmpty && lstat(path, &info) == 0 && info.st_mode & S_IFMT == S_IFDIR
    }

    public static func exists(_ path: String) -> Bool {
        var info = stat()
        return lstat(path, &info) == 0
    }

    public static func isWritable(_ path: String) -> Bool { access(path, W_OK) == 0 }

    public static func names(in folder: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []).sorted()
    }

    /// mkdir -p with `mode` for the folders it makes.
    public static func makeDirectories(_ path: String, mode: mode_t = 0o700) throws(HostError) {
        if isDirectory(path) { return }
        let parent = Path.parent(path)
        if !parent.isEmpty, parent != path { try makeDirectories(parent, mode: mode) }
        if mkdir(path, mode) != 0 && errno != EEXIST { throw HostError("mkdir \(path): \(Errno.text())") }
    }

    /// A new folder only we can enter, inside `parent`.
    public static func makePrivateDirectory(in parent: String, prefix: String) throws(HostError) -> String {
        var template = Array("\(parent)/\(prefix)XXXXXX".utf8CString)
        guard let made = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
            throw HostError("cannot create a folder in \(parent): \(Errno.text())")
        }
        return String(cString: made)
    }

    public static func rename(_ from: String, _ to: String) throws(HostError) {
        guard Glibc.rename(from, to) == 0 else { throw HostError("mv \(from) \(to): \(Errno.text())") }
    }

    public static func chmod(_ path: String, _ mode: mode_t) throws(HostError) {
        guard Glibc.chmod(path, mode) == 0 else { throw HostError("chmod \(String(mode, radix: 8)) \(path): \(Errno.text())") }
    }

    /// rm -rf, not following symlinks.
    public static func removeTree(_ path: String) throws(HostError) {
        do { try FileManager.default.removeItem(atPath: path) } catch {
            throw HostError("rm -rf \(path): \(error.operatorLines.joined(separator: "; "))")
        }
    }

    /// chown -R, not following symlinks: used when root ran the upgrade on a tree another user owns.
    public static func changeOwnerOfTree(_ path: String, to owner: FileOwner) throws(HostError) {
        guard lchown(path, owner.uid, owner.gid) == 0 else { throw HostError("chown \(owner.uid):\(owner.gid) \(path): \(Errno.text())") }
        guard isRealDirectory(path) else { return }
        for name in names(in: path) { try changeOwnerOfTree("\(path)/\(name)", to: owner) }
    }

    /// Free bytes on the file system holding `path`.
    public static func freeBytes(at path: String) -> Int64? {
        var info = statvfs()
        guard statvfs(path, &info) == 0 else { return nil }
        return Int64(info.f_bavail) * Int64(info.f_frsize)
    }

    /// Reads a whole regular file (or a pipe such as `<(pass show db)`), at most `limit` bytes.
    /// Opened non-blocking so a FIFO nobody writes cannot hang us, and refused when it is a
    /// folder or a device.
    /// - Parameter trusted: when given, the file is opened without following a symlink and what it
    ///   says of the opened file's status (owner, mode) refuses it: the file checked is the one read.
    public static func read(_ path: String, limit: Int = BaseConf.sizeLimit, allowPipe: Bool = false,
                            trusted: ((stat) -> String?)? = nil) throws(InputError) -> [UInt8] {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | (trusted == nil ? 0 : O_NOFOLLOW))
        guard descriptor >= 0 else {
            throw InputError(SourceLocation(file: path), errno == ENOENT ? "no such file"
                             : errno == ELOOP && trusted != nil ? "is a symlink; not followed" : "cannot read it: \(Errno.text())")
        }
        defer { close(descriptor) }
        var info = stat()
        guard fstat(descriptor, &info) == 0 else { throw InputError(SourceLocation(file: path), "cannot read it: \(Errno.text())") }
        if let problem = trusted?(info) { throw InputError(SourceLocation(file: path), problem) }
        let type = info.st_mode & S_IFMT
        if type == S_IFDIR { throw InputError(SourceLocation(file: path), "is a folder, not a file") }
        guard type == S_IFREG || (type == S_IFIFO && allowPipe) else {
            throw InputError(SourceLocation(file: path), type == S_IFIFO ? "is a pipe (FIFO), not a file" : "is not a regular file (a device?)")
        }
        if type == S_IFIFO {
            // A pipe with a writer blocks as a file read would; one without one is empty.
            let flags = fcntl(descriptor, F_GETFL)
            _ = fcntl(descriptor, F_SETFL, flags & ~O_NONBLOCK)
        }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let count = buffer.withUnsafeMutableBytes { Glibc.read(descriptor, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                throw InputError(SourceLocation(file: path), "cannot read it: \(Errno.text())")
            }
            if count == 0 { break }
            bytes += buffer[0..<count]
            if bytes.count > limit { throw InputError(SourceLocation(file: path), "larger than \(limit >> 20) MiB; not the file expected") }
        }
        return bytes
    }
}

/// A file written under a temporary name in its final folder and renamed into place only
/// when complete: readers see the old file or the whole new one, never a part.
///
/// The temporary name is recognisable (`.NAME.fate-upgrade-tmp-XXXXXX`) and locked (flock) while
/// it is written, so a run killed with SIGKILL — which no handler sees — leaves a file the next
/// run finds unlocked and removes: a partial package (holding DB_PASS) never piles up.
public final class AtomicOutputFile {
    public let path: String
    public let temporaryPath: String
    public let fileDescriptor: Int32
    private var finished = false
    private let pending: Signals.PendingFile

    static let marker = ".fate-upgrade-tmp-"

    /// Fails when `path` exists and `overwrite` is false, when it is not a regular file (a device,
    /// a folder, a symlink: never replaced, even with `overwrite`), or its folder cannot be written.
    public init(path: String, overwrite: Bool, mode: mode_t, owner: FileOwner? = nil) throws(PackageWriteError) {
        self.path = path
        let folder = Path.parent(path).isEmpty ? "." : Path.parent(path)
        guard FileSystem.isDirectory(folder) else { throw PackageWriteError(path, "the folder \(folder) does not exist") }
        var info = stat()
        if lstat(path, &info) == 0 {
            let type = info.st_mode & S_IFMT
            if type == S_IFLNK { throw PackageWriteError(path, "it is a symbolic link; give the real path (a link is never replaced)") }
            if type != S_IFREG { throw PackageWriteError(path, "it is not a regular file (a device or a folder), so it is never replaced, not even with --force") }
            if !overwrite { throw PackageWriteError(path, "it already exists (use --force to replace it)") }
        }
        Self.removeAbandoned(in: folder, name: Path.name(path))
        var template = Array("\(folder)/.\(Path.name(path))\(Self.marker)XXXXXX".utf8CString)
        let descriptor = makeTemporaryFile(&template)
        guard descriptor >= 0 else { throw PackageWriteError(path, Errno.text()) }
        let temporary = template.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
        pending = Signals.PendingFile(path: temporary)
        _ = flock(descriptor, LOCK_EX | LOCK_NB)
        if let owner, fchown(descriptor, owner.uid, owner.gid) != 0 {
            let reason = Errno.text()
            close(descriptor)
            unlink(temporary)
            pending.forget()
            throw PackageWriteError(path, "cannot keep its owner: \(reason)")
        }
        fchmod(descriptor, mode)
        fileDescriptor = descriptor
        temporaryPath = temporary
    }

    /// Temporary files of earlier runs for the same output that nobody holds any more.
    static func removeAbandoned(in folder: String, name: String) {
        for entry in FileSystem.names(in: folder) where entry.hasPrefix(".\(name)\(marker)") {
            let candidate = "\(folder)/\(entry)"
            let descriptor = open(candidate, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK)
            guard descriptor >= 0 else { continue }
            var info = stat()
            if fstat(descriptor, &info) == 0, info.st_mode & S_IFMT == S_IFREG, info.st_uid == geteuid(),
               flock(descriptor, LOCK_EX | LOCK_NB) == 0 {
                unlink(candidate)
            }
            close(descriptor)
        }
    }

    deinit { if !finished { discard() } }

    public func write(_ bytes: [UInt8]) throws(PackageWriteError) {
        do { try FileDescriptorWriter.writeAll(bytes, to: fileDescriptor, path: path) } catch {
            throw PackageWriteError(path, error.reason)
        }
    }

    /// Flushes to disk and renames into place. Without `overwrite`, an output that appeared
    /// in the meantime is still not replaced (link(2) fails rather than replace).
    public func commit(overwrite: Bool) throws(PackageWriteError) {
        guard fsync(fileDescriptor) == 0 else { let reason = Errno.text(); discard(); throw PackageWriteError(path, reason) }
        let status: Int32
        if overwrite {
            status = rename(temporaryPath, path)
        } else {
            status = link(temporaryPath, path)
            if status == 0 { unlink(temporaryPath) }
        }
        close(fileDescriptor)
        guard status == 0 else {
            let reason = errno == EEXIST ? "it already exists (use --force to replace it)" : Errno.text()
            unlink(temporaryPath)
            pending.forget()
            finished = true
            throw PackageWriteError(path, reason)
        }
        // The rename itself must reach the disk too.
        let folder = open(Path.parent(path).isEmpty ? "." : Path.parent(path), O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if folder >= 0 { fsync(folder); close(folder) }
        pending.forget()
        finished = true
    }

    /// Removes the temporary file; the final path is untouched.
    public func discard() {
        guard !finished else { return }
        unlink(temporaryPath)
        close(fileDescriptor)
        pending.forget()
        finished = true
    }
}

/// A file that could not be written, one line naming it.
public struct PackageWriteError: OperatorError, CustomStringConvertible {
    public var path: String
    public var reason: String
    public init(_ path: String, _ reason: String) {
        self.path = path
        self.reason = reason
    }
    public var description: String { "\(path): cannot write: \(reason)" }
    public var lines: [String] { [description] }
    public var reportCode: String { "write_failed" }
}

/// The host's name, for the journal.
public func hostName() -> String {
    var buffer = [CChar](repeating: 0, count: 256)
    gethostname(&buffer, buffer.count)
    return buffer.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
}


/// A package read from standard input (`pack -`), kept in a private temporary file while it is used,
/// since a package is read more than once; removed when done, or when a signal ends the run.
public final class StandardInputSpool {
    public let path: String
    private let pending: Signals.PendingFile

    public init() throws {
        guard isatty(STDIN_FILENO) == 0 else {
            throw InputError(SourceLocation(file: "standard input"), "is a terminal; pipe the package in (… | fate-upgrade pack - …) or give its file name")
        }
        let folder = ProcessInfo.processInfo.environment["TMPDIR"].flatMap { $0.isEmpty ? nil : $0 } ?? "/tmp"
        var template = Array("\(folder)/.fate-upgrade-stdin-XXXXXX".utf8CString)
        let descriptor = makeTemporaryFile(&template)
        guard descriptor >= 0 else { throw HostError("cannot make a temporary file in \(folder): \(Errno.text())") }
        path = template.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
        pending = Signals.PendingFile(path: path)
        defer { close(descriptor) }
        var buffer = [UInt8](repeating: 0, count: 256 * 1024)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(STDIN_FILENO, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            if count < 0 { throw InputError(SourceLocation(file: "standard input"), "cannot read it: \(Errno.text())") }
            if count == 0 { break }
            do { try FileDescriptorWriter.writeAll(Array(buffer[0..<count]), to: descriptor, path: path) } catch {
                throw HostError("cannot keep the package from standard input in \(folder): \(error.reason)")
            }
        }
    }

    deinit {
        unlink(path)
        pending.forget()
    }
}

/// The SHA-256 `pack` writes beside a package (`NAME.sha256`, as sha256sum writes it) and `apply`
/// checks before it trusts anything in the package.
public enum PackageChecksum {
    public static func compute(_ path: String) throws(InputError) -> String {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw InputError(SourceLocation(file: path), "cannot read it: \(Errno.text())") }
        defer { close(descriptor) }
        var hasher = SHA256()
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                throw InputError(SourceLocation(file: path), "cannot read it: \(Errno.text())")
            }
            if count == 0 { break }
            buffer.withUnsafeBytes { hasher.update(UnsafeRawBufferPointer(rebasing: $0[0..<count])) }
        }
        return hasher.hexDigest()
    }

    /// Writes `<path>.sha256` next to the package; returns its name.
    @discardableResult
    public static func writeBeside(_ path: String, digest known: String? = nil) throws -> String {
        let digest = try known ?? compute(path)
        let file = try AtomicOutputFile(path: path + ".sha256", overwrite: true, mode: 0o644)
        defer { file.discard() }
        try file.write(Array("\(digest)  \(Path.name(path))\n".utf8))
        try file.commit(overwrite: true)
        return path + ".sha256"
    }

    /// The digest expected for `path`: the one given, else the first word of `<path>.sha256` when it exists.
    public static func expected(for path: String, given: String?) throws(InputError) -> (digest: String, from: String)? {
        if let given { return (given.lowercased(), "--sha256") }
        let beside = path + ".sha256"
        guard FileSystem.exists(beside) else { return nil }
        let text = String(decoding: try FileSystem.read(beside, limit: 4096), as: UTF8.self)
        guard let word = text.split(whereSeparator: { $0 == " " || $0 == "\n" || $0 == "\t" }).first,
              word.count == 64, word.allSatisfy(\.isHexDigit) else {
            throw InputError(SourceLocation(file: beside, line: 1), "not a SHA-256 line (64 hex digits, as sha256sum writes)")
        }
        return (word.lowercased(), beside)
    }

    /// Refuses a package whose digest is not the expected one.
    public static func check(_ path: String, given: String?) throws(InputError) -> String? {
        guard let expected = try expected(for: path, given: given) else { return nil }
        let actual = try compute(path)
        guard actual == expected.digest else {
            throw InputError(SourceLocation(file: path), "its SHA-256 is \(actual), not \(expected.digest) as \(expected.from) says: a damaged or different copy; copy it again")
        }
        return expected.from
    }
}

extension FileSystem {
    /// The working folder, as getcwd says it ("." when it cannot).
    public static var currentDirectory: String {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        guard getcwd(&buffer, buffer.count) != nil else { return "." }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
