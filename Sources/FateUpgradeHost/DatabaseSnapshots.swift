import FateUpgradeArchive
import FateUpgradeCore
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Glibc

/// Dumps of the fate_flow database under FATE_ROOT/.fate-upgrade/snapshots/: taken by `apply`
/// before the package's SQL, restored by `rollback --from-snapshot`.
public enum DatabaseSnapshots {
    public static func folder(fateRoot: String) -> String { "\(UpgradeJournal.folder(fateRoot: fateRoot))/snapshots" }

    /// The snapshot of the run `id`.
    public static func file(fateRoot: String, id: String) -> String { "\(folder(fateRoot: fateRoot))/\(id).sql.gz" }

    /// MYSQL_ROOT/bin/mysqldump (the one matching FATE's server), else the system's.
    public static func dumpTool(_ parameters: ScriptParameters) -> String? {
        let own = "\(parameters.mysqlRoot)/bin/mysqldump"
        if access(own, X_OK) == 0 { return own }
        return Command.locate("mysqldump") ?? Command.locate("mariadb-dump")
    }

    /// What a snapshot needs on disk, estimated before taking it: the dump's text is about the
    /// size of the tables' data, and compresses at least 2:1 (FATE's rows are JSON).
    public static func estimatedBytes(dataBytes: Int64) -> Int64 { dataBytes / 2 + (1 << 20) }

    /// mysqldump with one consistent read (`--single-transaction`: InnoDB tables are not locked,
    /// so fate_flow may keep running), compressed as it streams, 0600, committed only when the dump
    /// is whole (`-- Dump completed` seen and exit status 0). Rows are counted in the dump itself.
    public static func take(client: MySQLClient, tool: String, database: String, into folder: String, name: String,
                            timeout: Duration) throws -> DatabaseSnapshot {
        try FileSystem.makeDirectories(folder, mode: 0o700)
        let path = "\(folder)/\(name)"
        let clock = ContinuousClock()
        let started = clock.now
        let file = try AtomicOutputFile(path: path, overwrite: false, mode: 0o600)
        defer { file.discard() }
        let compressor = try GzipCompressor()
        var counter = DumpRowCounter()
        // The snapshot must pass the check a restore makes of it, or it is not a snapshot.
        var guardian = DumpGuard(tables: nil)
        var hasher = SHA256()
        var written: Int64 = 0
        var writeFailure: Error? = nil
        var errors: [UInt8] = []
        let sink = { (bytes: UnsafeRawBufferPointer) throws(WriteError) in
            hasher.update(bytes)
            written += Int64(bytes.count)
            try FileDescriptorWriter.writeAll(bytes, to: file.fileDescriptor, path: path)
        }
        let result = try client.withOptionFile { (options) throws(HostError) -> ChildResult in
            // Tables and their rows only (fate_flow has no routines or triggers): what a restore loads.
            let arguments = ["--defaults-extra-file=\(options)", "--single-transaction", "--skip-triggers",
                             "--no-tablespaces", "--hex-blob", "--default-character-set=utf8mb4", database]
            let child = try ChildProcess.start(Command(tool, arguments))
            return child.wait(timeout: timeout, heartbeat: .init(what: "the database snapshot (\(Path.name(tool)))")) { stream, chunk in
                guard stream == .stdout else {
                    if errors.count < 4096 { errors += chunk }
                    return
                }
                guard writeFailure == nil else { return }
                chunk.withUnsafeBytes { bytes in
                    counter.feed(bytes)
                    guardian.feed(bytes)
                    do { try compressor.compress(bytes, sink: sink) } catch {
                        writeFailure = error
                        child.signalGroup(SIGTERM)
                    }
                }
            }
        }
        if let writeFailure {
            throw HostError("the snapshot \(path) could not be written (\(writeFailure.operatorLines.joined(separator: "; "))); nothing was changed")
        }
        if result.timedOut { throw HostError("\(tool) did not finish within \(timeout); stopped it, and the partial snapshot is removed") }
        if let signal = result.interruptedBy { throw HostError("\(tool) stopped by \(Signals.name(signal)); the partial snapshot is removed") }
        guard result.termination.succeeded else {
            let message = String(decoding: errors, as: UTF8.self).split(separator: "\n").first.map(String.init) ?? result.termination.description
            throw HostError("\(tool) failed: \(SecretMask(client.password.revealed).apply(message))")
        }
        guard counter.completed else {
            throw HostError("\(tool) exited without finishing the dump (no `-- Dump completed` line); the partial snapshot is removed")
        }
        if let refusal = guardian.finish() {
            throw HostError("the snapshot \(tool) wrote holds what a restore refuses (\(refusal)); nothing was changed")
        }
        try compressor.finish(sink: sink)
        try file.commit(overwrite: false)
        let seconds = (clock.now - started).seconds
        return DatabaseSnapshot(file: path, database: database, bytes: written, sha256: hasher.hexDigest(),
                                uncompressedBytes: counter.byteCount, rows: counter.rows, takenAt: isoNow(),
                                seconds: seconds, tool: tool)
    }

    /// SHA-256 and size of the snapshot file as it is now, against the journal's record.
    public static func problem(with snapshot: DatabaseSnapshot) -> String? {
        var info = stat()
        guard stat(snapshot.file, &info) == 0 else { return "the snapshot \(snapshot.file) is not there (\(Errno.text()))" }
        guard Int64(info.st_size) == snapshot.bytes else {
            return "the snapshot \(snapshot.file) is \(info.st_size) bytes; it was \(snapshot.bytes) when taken"
        }
        guard let digest = try? PackageChecksum.compute(snapshot.file) else { return "the snapshot \(snapshot.file) cannot be read" }
        guard digest == snapshot.sha256 else { return "the snapshot \(snapshot.file) has SHA-256 \(digest), not the \(snapshot.sha256) recorded when it was taken: it changed" }
        return nil
    }

    /// What of the dump is not what a dump of the fate_flow tables holds (`DumpGuard`), read through
    /// zlib before anything changes; a dump that does not inflate whole is refused too.
    public static func refusal(of snapshot: DatabaseSnapshot) -> String? {
        var guardian = DumpGuard(tables: Set(snapshot.rows.keys))
        do {
            try GzipFile.inflate(snapshot.file, compressed: { _ in }) { chunk in guardian.feed(chunk) }
        } catch {
            return "the snapshot \(snapshot.file) does not inflate whole: \(error.operatorLines.joined(separator: "; "))"
        }
        return guardian.finish().map { "the snapshot \(snapshot.file), \($0): not what a dump of the fate_flow tables holds, so it is not fed to the mysql client" }
    }

    /// The dump inflated into an unlinked private file; its descriptor, positioned at the start.
    /// The SHA-256 is of exactly the bytes inflated, zlib checks the CRC of what they give, and
    /// `DumpGuard` every statement of them.
    public static func stage(_ snapshot: DatabaseSnapshot) throws -> StagedDump {
        let folder = Path.parent(snapshot.file)
        var template = Array("\(folder)/.restore-XXXXXX".utf8CString)
        let descriptor = makeTemporaryFile(&template)
        guard descriptor >= 0 else { throw HostError("cannot make a file in \(folder) to restore into: \(Errno.text())") }
        template.withUnsafeBufferPointer { _ = unlink($0.baseAddress!) }
        var hasher = SHA256()
        // The allow-list is checked again on exactly the bytes the client will read: the file may
        // have been swapped since the check before the first step.
        var guardian = DumpGuard(tables: Set(snapshot.rows.keys))
        do {
            try GzipFile.inflate(snapshot.file, compressed: { hasher.update($0) }) { chunk in
                guardian.feed(chunk)
                try FileDescriptorWriter.writeAll(chunk, to: descriptor, path: "\(folder) (the inflated snapshot)")
            }
        } catch {
            close(descriptor)
            throw HostError("the snapshot \(snapshot.file) cannot be inflated: \(error.operatorLines.joined(separator: "; ")); nothing was changed")
        }
        let digest = hasher.hexDigest()
        guard digest == snapshot.sha256 else {
            close(descriptor)
            throw HostError("the snapshot \(snapshot.file) has SHA-256 \(digest), not \(snapshot.sha256) as recorded; nothing was changed")
        }
        if let refusal = guardian.finish() {
            close(descriptor)
            throw HostError("the snapshot \(snapshot.file), \(refusal): not what a dump of the fate_flow tables holds, so it is not fed to the mysql client; nothing was changed")
        }
        lseek(descriptor, 0, SEEK_SET)
        return StagedDump(descriptor: descriptor)
    }

    /// Rows per table now against the snapshot's; one line per difference.
    public static func differences(expected: [String: Int], actual: [String: Int]) -> [String] {
        expected.keys.sorted().compactMap { table in
            let now = actual[table]
            return now == expected[table] ? nil : "\(table): \(now.map(String.init) ?? "missing") rows, the snapshot holds \(expected[table]!)"
        }
    }
}

/// An inflated dump in an unlinked file, open until restored.
public final class StagedDump: @unchecked Sendable {
    public let descriptor: Int32
    init(descriptor: Int32) { self.descriptor = descriptor }
    deinit { close(descriptor) }
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
