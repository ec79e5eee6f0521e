import FateUpgradeCore
import Foundation

/// The temporary file being written, if any, so that a signal handler can remove it.
/// Set and cleared only on the main thread, read by the handler; a C string because
/// handlers may call only async-signal-safe functions such as unlink(2).
nonisolated(unsafe) private var pendingTemporaryPath: UnsafeMutablePointer<CChar>? = nil

/// A file written under a temporary name in its final folder and renamed into place only
/// when complete: readers see the old file or the whole new one, never a part.
final class AtomicOutputFile {
    let path: String
    let temporaryPath: String
    let fileDescriptor: Int32
    private var finished = false

    /// Fails when `path` exists and `overwrite` is false, or its folder cannot be written.
    init(path: String, overwrite: Bool, mode: mode_t, owner: (uid_t, gid_t)? = nil) throws(PackageError) {
        self.path = path
        let url = URL(fileURLWithPath: path)
        let folder = url.deletingLastPathComponent().path
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: folder, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw .write(path, "the folder \(folder) does not exist")
        }
        if !overwrite, FileManager.default.fileExists(atPath: path) {
            throw .write(path, "it already exists (use --force to replace it)")
        }
        var template = Array("\(folder)/.\(url.lastPathComponent).tmp-XXXXXX".utf8CString)
        let descriptor = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        guard descriptor >= 0 else { throw .write(path, String(cString: strerror(errno))) }
        if let owner, fchown(descriptor, owner.0, owner.1) != 0 {
            let reason = String(cString: strerror(errno))
            close(descriptor)
            unlink(template.withUnsafeBufferPointer { String(cString: $0.baseAddress!) })
            throw .write(path, "cannot keep its owner: \(reason)")
        }
        fchmod(descriptor, mode)
        fileDescriptor = descriptor
        temporaryPath = template.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
        AtomicOutputFile.installSignalHandlers()
        pendingTemporaryPath = strdup(temporaryPath)
    }

    deinit { if !finished { discard() } }

    /// Flushes to disk and renames into place. Without `overwrite`, an output that appeared
    /// in the meantime is still not replaced (link(2) fails rather than replace).
    func commit(overwrite: Bool) throws(PackageError) {
        guard fsync(fileDescriptor) == 0 else { let reason = String(cString: strerror(errno)); discard(); throw .write(path, reason) }
        close(fileDescriptor)
        let status: Int32
        if overwrite {
            status = rename(temporaryPath, path)
        } else {
            status = link(temporaryPath, path)
            if status == 0 { unlink(temporaryPath) }
        }
        guard status == 0 else {
            let reason = errno == EEXIST ? "it already exists (use --force to replace it)" : String(cString: strerror(errno))
            unlink(temporaryPath)
            clearPending()
            finished = true
            throw .write(path, reason)
        }
        // The rename itself must reach the disk too.
        let folder = open(URL(fileURLWithPath: path).deletingLastPathComponent().path, O_RDONLY | O_DIRECTORY)
        if folder >= 0 { fsync(folder); close(folder) }
        clearPending()
        finished = true
    }

    /// Removes the temporary file; the final path is untouched.
    func discard() {
        guard !finished else { return }
        close(fileDescriptor)
        unlink(temporaryPath)
        clearPending()
        finished = true
    }

    private func clearPending() {
        let pending = pendingTemporaryPath
        pendingTemporaryPath = nil
        free(pending)
    }

    nonisolated(unsafe) private static var handlersInstalled = false

    private static func installSignalHandlers() {
        guard !handlersInstalled else { return }
        handlersInstalled = true
        // A parent may hand us these signals blocked; blocked, they would let the run finish
        // and replace the output after the operator asked it to stop.
        var handled = sigset_t()
        sigemptyset(&handled)
        for signal in [SIGINT, SIGTERM, SIGHUP] { sigaddset(&handled, signal) }
        sigprocmask(SIG_UNBLOCK, &handled, nil)
        for signal in [SIGINT, SIGTERM, SIGHUP] {
            var action = sigaction()
            action.__sigaction_handler.sa_handler = { signal in
                if let path = pendingTemporaryPath { unlink(path) }
                _exit(128 + signal)
            }
            sigemptyset(&action.sa_mask)
            sigaction(signal, &action, nil)
        }
    }
}

/// A one-line progress bar on stderr, only when stderr is a terminal and the input is large.
final class ProgressMeter {
    private let total: Int64
    private let label: String
    private let enabled: Bool
    private var lastDraw = Date.distantPast
    private var drawn = false

    init(total: Int64?, label: String) {
        self.total = total ?? 0
        self.label = label
        enabled = isatty(STDERR_FILENO) == 1 && (total ?? 0) >= 8 << 20
    }

    func update(_ done: Int64) {
        guard enabled else { return }
        let now = Date()
        guard now.timeIntervalSince(lastDraw) >= 0.1 else { return }
        lastDraw = now
        let fraction = min(1, Double(done) / Double(max(total, 1)))
        let width = 30
        let filled = Int(fraction * Double(width))
        let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
        let line = String(format: "\r%@ [%@] %3d%% %.1f/%.1f MiB", label, bar, Int(fraction * 100),
                          Double(done) / 1_048_576, Double(total) / 1_048_576)
        FileHandle.standardError.write(Data(line.utf8))
        drawn = true
    }

    func finish() {
        guard drawn else { return }
        FileHandle.standardError.write(Data("\r\u{1B}[K".utf8))
        drawn = false
    }
}

/// Writes all of `bytes` to a file descriptor.
func writeAll(_ bytes: [UInt8], to descriptor: Int32, path: String) throws(PackageError) {
    var offset = 0
    while offset < bytes.count {
        let written = bytes[offset...].withUnsafeBytes { Glibc.write(descriptor, $0.baseAddress, $0.count) }
        if written < 0 {
            if errno == EINTR { continue }
            throw .write(path, String(cString: strerror(errno)))
        }
        offset += written
    }
}

/// Reads a whole file; also pipes such as `<(pass show db)`, which keep secrets off disk.
func readFile(_ path: String) throws(InputError) -> [UInt8] {
    guard let handle = FileHandle(forReadingAtPath: path) else {
        let reason = FileManager.default.fileExists(atPath: path) ? "cannot read it" : "no such file"
        throw InputError(SourceLocation(file: path), reason)
    }
    defer { try? handle.close() }
    do {
        return [UInt8](try handle.readToEnd() ?? Data())
    } catch {
        throw InputError(SourceLocation(file: path), "cannot read it: \(error.localizedDescription)")
    }
}

enum Terminal {
    static func warn(_ message: String) {
        FileHandle.standardError.write(Data("fate-upgrade: warning: \(message)\n".utf8))
    }

    /// One line from standard input without its line ending; at a terminal, asked for
    /// with a prompt and without echo.
    static func readSecretLine(prompt: String) -> String? {
        let interactive = isatty(STDIN_FILENO) == 1
        var saved = termios()
        if interactive {
            FileHandle.standardError.write(Data(prompt.utf8))
            tcgetattr(STDIN_FILENO, &saved)
            var silent = saved
            silent.c_lflag &= ~tcflag_t(ECHO)
            tcsetattr(STDIN_FILENO, TCSAFLUSH, &silent)
        }
        defer {
            if interactive {
                tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved)
                FileHandle.standardError.write(Data("\n".utf8))
            }
        }
        guard var line = Swift.readLine(strippingNewline: true) else { return nil }
        if line.hasSuffix("\r") { line.removeLast() }
        return line
    }
}
