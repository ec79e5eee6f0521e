import FateUpgradeCore
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Glibc
import Synchronization

/// The one writer of everything the tool shows: its own lines, the script's output and
/// warnings go through here, unbuffered and in order, so a pipe (ansible, tee, a log) sees
/// them in the order a terminal does. A log file attached as the transcript gets a copy of
/// each line; when it cannot be written (a full disk), that is said once and the run goes on.
public final class Console: @unchecked Sendable {
    public static let shared = Console()

    private struct State {
        var jsonMode = false
        var language = MessageCatalog.Language.english
        var closed: Set<Int32> = []
        var transcript: LogFile?
    }
    private let state = Mutex(State())

    /// With --json, standard output carries only the JSON document; every line goes to stderr.
    public func useJSON(_ on: Bool) {
        state.withLock { $0.jsonMode = on }
    }

    public var isJSON: Bool { state.withLock { $0.jsonMode } }

    /// The language of the tool's own lines (MessageCatalog); --json and children's output stay as they are.
    public func useLanguage(_ language: MessageCatalog.Language) {
        state.withLock { $0.language = language }
    }

    /// A line of ours as the operator reads it.
    public func translated(_ line: String) -> String {
        MessageCatalog.translate(line, to: state.withLock { $0.language })
    }

    /// A line of the tool's own output.
    public func say(_ line: String) {
        let line = translated(line)
        state.withLock { Self.emit(Array((line + "\n").utf8), to: $0.jsonMode ? STDERR_FILENO : STDOUT_FILENO, &$0) }
    }

    /// Output of a child, passed on as it came (whole lines, secrets already masked).
    public func relay(_ bytes: [UInt8]) {
        state.withLock { Self.emit(bytes, to: $0.jsonMode ? STDERR_FILENO : STDOUT_FILENO, &$0) }
    }

    public func warn(_ message: String) {
        let line = translated("warning: \(message)")
        state.withLock { Self.emit(Array("fate-upgrade: \(line)\n".utf8), to: STDERR_FILENO, &$0) }
    }

    /// What a run is waiting on while nothing else is said (stderr, and the transcript).
    public func waiting(_ line: String) {
        let line = translated(line)
        state.withLock { Self.emit(Array("fate-upgrade: \(line)\n".utf8), to: STDERR_FILENO, &$0) }
    }

    public func error(_ line: String) {
        let line = translated(line)
        state.withLock { Self.emit(Array("fate-upgrade: \(line)\n".utf8), to: STDERR_FILENO, &$0) }
    }

    /// The JSON document of --json, always on standard output.
    public func json(_ data: Data) {
        state.withLock { Self.write(Array(data) + [UInt8(ascii: "\n")], to: STDOUT_FILENO, &$0) }
    }

    /// Terminal decorations (a progress bar, a prompt): stderr only, never in a transcript.
    public func decorate(_ text: String) {
        state.withLock { Self.write(Array(text.utf8), to: STDERR_FILENO, &$0) }
    }

    /// Copies every line from now on into `log` as well.
    public func attach(_ log: LogFile?) {
        state.withLock { $0.transcript = log }
    }

    /// Every line shown or logged, ours and children's, with control bytes made visible.
    private static func emit(_ bytes: [UInt8], to descriptor: Int32, _ state: inout State) {
        let bytes = ControlCharacters.escaped(bytes)
        write(bytes, to: descriptor, &state)
        if let transcript = state.transcript, let failure = transcript.append(bytes) {
            write(Array("fate-upgrade: warning: \(failure); the run goes on without it\n".utf8), to: STDERR_FILENO, &state)
        }
    }

    /// A reader that went away (EPIPE) or a terminal that is gone must not stop an upgrade
    /// midway: that stream is dropped and the run goes on.
    private static func write(_ bytes: [UInt8], to descriptor: Int32, _ state: inout State) {
        guard !state.closed.contains(descriptor) else { return }
        do {
            try FileDescriptorWriter.writeAll(bytes, to: descriptor, path: descriptor == STDOUT_FILENO ? "stdout" : "stderr")
        } catch {
            state.closed.insert(descriptor)
        }
    }

    /// One line from standard input without its line ending; at a terminal, asked for with a
    /// prompt and without echo (restored on any signal, too).
    public func readSecretLine(prompt: String) throws(InputError) -> String? {
        let interactive = isatty(STDIN_FILENO) == 1
        if interactive {
            decorate(prompt)
            _ = Signals.silenceTerminal(STDIN_FILENO)
        }
        defer {
            if interactive {
                Signals.restoreTerminal()
                decorate("\n")
            }
        }
        var line: [UInt8] = []
        var byte: UInt8 = 0
        while true {
            let count = read(STDIN_FILENO, &byte, 1)
            if count < 0 && errno == EINTR { continue }
            if count <= 0 { if line.isEmpty { return nil } else { break } }
            if byte == UInt8(ascii: "\n") { break }
            line.append(byte)
            if line.count > 64 * 1024 { break }
        }
        if line.last == UInt8(ascii: "\r") { line.removeLast() }
        // Kept byte for byte or refused: text that is not UTF-8 would be changed on the way.
        guard let text = String(validating: line, as: UTF8.self) else {
            throw InputError(SourceLocation(file: "standard input"), "the secret given is not UTF-8 text; give it as UTF-8")
        }
        return text
    }
}

/// A log the tool writes: created new, 0600, never through a symlink. A failed write is
/// remembered and reported once; later writes are skipped.
public final class LogFile: @unchecked Sendable {
    public let path: String
    private let descriptor: Int32
    private let failed = Mutex<String?>(nil)
    public var failure: String? { failed.withLock { $0 } }

    public init(path: String) throws(HostError) {
        self.path = path
        descriptor = open(path, O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard descriptor >= 0 else { throw HostError("\(path): cannot create the log: \(Errno.text())") }
    }

    deinit { close(descriptor) }

    /// Appends; returns a message the first time writing fails, nil otherwise.
    public func append(_ bytes: [UInt8]) -> String? {
        failed.withLock { failure in
            guard failure == nil else { return nil }
            do {
                try FileDescriptorWriter.writeAll(bytes, to: descriptor, path: path)
                return nil
            } catch {
                failure = "the log \(path) cannot be written: \(error.reason)"
                return failure
            }
        }
    }
}
