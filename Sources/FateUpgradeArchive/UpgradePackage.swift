internal import CArchive
import FateUpgradeCore
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Glibc

/// Why a package could not be read or written. Each description is one line naming the file.
public enum PackageError: Error, CustomStringConvertible {
    case missing(String)
    case unreadable(String, String)
    case notAnArchive(String, String)
    case corrupt(String, String)
    case noScript(String, seen: [String])
    case twoScripts(String, String, String)
    case scriptTooLarge(String, String)
    case write(String, String)

    public var description: String {
        switch self {
        case .missing(let path): "\(path): no such file or folder"
        case .unreadable(let path, let reason): "\(path): cannot read: \(reason)"
        case .notAnArchive(let path, let detail): "\(path): not a tar or tar.gz archive (\(detail))"
        case .corrupt(let path, let detail): "\(path): truncated or corrupt archive: \(detail)"
        case .noScript(let path, let seen):
            "\(path): no upgrade_script.sh or upgrade.sh in the package; top-level entries seen: "
                + (seen.isEmpty ? "none" : seen.joined(separator: ", "))
        case .twoScripts(let path, let first, let second): "\(path): two upgrade scripts in the package: \(first) and \(second)"
        case .scriptTooLarge(let path, let script): "\(path): \(script) is larger than 16 MiB; not an upgrade script"
        case .write(let path, let reason): "\(path): cannot write: \(reason)"
        }
    }
}

// archive_entry.h defines these as macros with casts, which Swift does not import.
let fileTypeRegular: mode_t = 0o100000
private let fileTypeDirectory: mode_t = 0o040000
private let fileTypeSymlink: mode_t = 0o120000

/// An entry's path; libarchive returns NULL when a name cannot be converted, which must not crash.
func entryPath(_ entry: OpaquePointer) -> String {
    archive_entry_pathname(entry).map { String(cString: $0) } ?? "(unnamed entry)"
}

/// A libarchive reader over a tar / tar.gz file, or over an unpacked folder (libarchive's disk reader).
/// This type and `ArchiveWriter` are the only holders of libarchive pointers.
final class ArchiveReader {
    private let handle: OpaquePointer
    private let path: String
    /// For folders: the prefix replaced so that entries are named `upgrade_package/…` as `tar` would.
    private let folderPrefix: (disk: String, archive: String)?
    private let diskEntry: OpaquePointer?
    private let linkResolver: OpaquePointer?
    private var pendingDescend = false
    private let source: InflatingSource?

    init(archiveAt path: String) throws(PackageError) {
        self.path = path
        handle = archive_read_new()
        folderPrefix = nil
        diskEntry = nil
        linkResolver = nil
        let source = try InflatingSource(path: path)
        self.source = source
        // Only what an upgrade package is: tar, read from the inflating source (which checks the
        // gzip trailer). Support for every format would pull libxml2 and ICU (xar), nettle (zip
        // encryption) and more into a static binary.
        archive_read_support_format_tar(handle)
        archive_read_support_format_empty(handle)
        // libarchive recognises the format while opening, so this is where a non-archive is found.
        // (No archive_read_free here: deinit runs for a class whose init throws once all is set.)
        let status = archive_read_open(handle, Unmanaged.passUnretained(source).toOpaque(), nil, { _, client, buffer in
            let source = Unmanaged<InflatingSource>.fromOpaque(client!).takeUnretainedValue()
            guard let chunk = source.next() else { return -1 }
            buffer?.pointee = chunk.baseAddress
            return chunk.count
        }, nil)
        if status != ARCHIVE_OK { throw classify() }
    }

    /// The uncompressed offset of the header just read (its first block, extended headers included).
    var headerPosition: Int64 { source == nil ? 0 : archive_read_header_position(handle) }

    /// The input file as it was opened (nil for folders).
    var inputIdentity: FileIdentity? { source?.identity }

    /// Reads the input to its end so that the gzip trailer is checked; returns what it says.
    func finishInput() throws(PackageError) -> GzipFacts? {
        guard let source else { return nil }
        try source.drain()
        return source.facts
    }

    init(folderAt path: String) throws(PackageError) {
        self.path = path
        handle = archive_read_disk_new()
        let absolute = URL(fileURLWithPath: path).standardizedFileURL.path
        folderPrefix = (absolute, URL(fileURLWithPath: absolute).lastPathComponent)
        source = nil
        diskEntry = archive_entry_new()
        linkResolver = archive_entry_linkresolver_new()
        archive_entry_linkresolver_set_strategy(linkResolver, ARCHIVE_FORMAT_TAR_PAX_RESTRICTED)
        // Names from /etc/passwd and /etc/group read here: the C library's lookups go through NSS,
        // which a static binary cannot load.
        archive_read_disk_set_uname_lookup(handle, nil, { _, uid in AccountNames.shared.user(UInt32(truncatingIfNeeded: uid)) }, nil)
        archive_read_disk_set_gname_lookup(handle, nil, { _, gid in AccountNames.shared.group(UInt32(truncatingIfNeeded: gid)) }, nil)
        archive_read_disk_set_symlink_physical(handle)
        // Only what `tar` itself would record by default: no xattrs, ACLs or file flags.
        archive_read_disk_set_behavior(handle, ARCHIVE_READDISK_NO_XATTR | ARCHIVE_READDISK_NO_ACL | ARCHIVE_READDISK_NO_FFLAGS)
        if archive_read_disk_open(handle, absolute) != ARCHIVE_OK {
            throw .unreadable(path, lastError)
        }
    }

    deinit {
        archive_read_free(handle)
        if let diskEntry { archive_entry_free(diskEntry) }
        if let linkResolver { archive_entry_linkresolver_free(linkResolver) }
    }

    var lastError: String {
        archive_error_string(handle).map { String(cString: $0) } ?? "unknown libarchive error"
    }

    /// Bytes consumed from the input file so far (compressed bytes for .tar.gz).
    var bytesRead: Int64 { source?.bytesRead ?? 0 }

    /// libarchive's format code of the last header read.
    var format: Int32 { archive_format(handle) }

    var formatName: String { archive_format_name(handle).map { String(cString: $0) } ?? "unknown" }

    /// The next entry, or nil at the end. The entry is valid until the next call.
    func next() throws(PackageError) -> OpaquePointer? {
        if let folderPrefix, let diskEntry {
            if pendingDescend { archive_read_disk_descend(handle) }
            let status = archive_read_next_header2(handle, diskEntry)
            if status == ARCHIVE_EOF { return nil }
            guard status >= ARCHIVE_WARN else { throw .unreadable(path, lastError) }
            pendingDescend = archive_entry_filetype(diskEntry) == fileTypeDirectory
            let name = entryPath(diskEntry)
            archive_entry_copy_pathname(diskEntry, folderPrefix.archive + name.dropFirst(folderPrefix.disk.count))
            var entry: OpaquePointer? = diskEntry
            var spare: OpaquePointer? = nil
            // With the tar strategy libarchive never defers an entry, so `entry` stays set.
            archive_entry_linkify(linkResolver, &entry, &spare)
            return entry ?? diskEntry
        }
        var entry: OpaquePointer? = nil
        let status = archive_read_next_header(handle, &entry)
        switch status {
        case ARCHIVE_EOF: return nil
        case ARCHIVE_OK: return entry
        // A warning means libarchive changed or guessed something (a name it could not convert,
        // a header it repaired): for a package that is about to be run, that is a refusal.
        case ARCHIVE_WARN: throw PackageError.corrupt(path, "libarchive: \(lastError)")
        default: throw classify()
        }
    }

    /// Reads the current entry's data in blocks; `body` gets each block and its offset.
    func readData(_ body: (UnsafeRawBufferPointer, Int64) throws(PackageError) -> Void) throws(PackageError) {
        var buffer: UnsafeRawPointer? = nil
        var size = 0
        var offset: Int64 = 0
        while true {
            let status = archive_read_data_block(handle, &buffer, &size, &offset)
            if status == ARCHIVE_EOF { return }
            guard status >= ARCHIVE_WARN else { throw folderPrefix == nil ? classify() : .unreadable(path, lastError) }
            try body(UnsafeRawBufferPointer(start: buffer, count: size), offset)
        }
    }

    /// Up to `count` bytes of the current entry's data into `buffer`: the count, 0 at its end, -1 on an error.
    func readData(into buffer: UnsafeMutableRawPointer, count: Int) -> Int {
        archive_read_data(handle, buffer, count)
    }

    /// What a file that is not a (gzip'ed) tar is, from its first bytes, for the message.
    static func sniff(_ path: String) -> String? {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        guard descriptor >= 0 else { return nil }
        defer { close(descriptor) }
        var head = [UInt8](repeating: 0, count: 8)
        let count = head.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
        guard count >= 4 else { return nil }
        let known: [([UInt8], String)] = [
            ([0x50, 0x4B, 0x03, 0x04], "it is a ZIP archive"), ([0x50, 0x4B, 0x05, 0x06], "it is an empty ZIP archive"),
            ([0x37, 0x7A, 0xBC, 0xAF], "it is a 7-Zip archive"), ([0x42, 0x5A, 0x68], "it is bzip2-compressed; only gzip is read"),
            ([0xFD, 0x37, 0x7A, 0x58], "it is xz-compressed; only gzip is read"), ([0x28, 0xB5, 0x2F, 0xFD], "it is zstd-compressed; only gzip is read"),
            ([0x52, 0x61, 0x72, 0x21], "it is a RAR archive"),
        ]
        return known.first { head.starts(with: $0.0) }?.1
    }

    private func classify() -> PackageError {
        if let failure = source?.failure { return failure }
        let message = lastError
        if message.contains("Unrecognized archive format") {
            return .notAnArchive(path, Self.sniff(path) ?? "libarchive: \(message)")
        }
        return .corrupt(path, message)
    }
}

/// A libarchive writer producing a tar (gzip-compressed unless asked otherwise) on a file descriptor.
final class ArchiveWriter {
    private let handle: OpaquePointer
    private let path: String

    init(fileDescriptor: Int32, path: String, format: Int32, gzip: Bool, compressionLevel: Int) throws(PackageError) {
        self.path = path
        handle = archive_write_new()
        let formatStatus: Int32
        switch format & ARCHIVE_FORMAT_BASE_MASK {
        case ARCHIVE_FORMAT_TAR where format == ARCHIVE_FORMAT_TAR_GNUTAR:
            formatStatus = archive_write_set_format_gnutar(handle)
        default:
            formatStatus = archive_write_set_format_pax_restricted(handle)
        }
        var status = formatStatus
        if gzip {
            if status == ARCHIVE_OK { status = archive_write_add_filter_gzip(handle) }
            // No timestamp in the gzip header: the same input and parameters give the same bytes.
            if status == ARCHIVE_OK { status = archive_write_set_filter_option(handle, "gzip", "timestamp", nil) }
            if status == ARCHIVE_OK {
                status = archive_write_set_filter_option(handle, "gzip", "compression-level", String(compressionLevel))
            }
        }
        if status == ARCHIVE_OK { status = archive_write_open_fd(handle, fileDescriptor) }
        guard status == ARCHIVE_OK else { throw failure() }
    }

    deinit { archive_write_free(handle) }

    private func failure() -> PackageError {
        // libarchive says "Write error" for a full disk; the errno says which.
        let code = archive_errno(handle)
        if code == ENOSPC || code == EDQUOT || code == EIO {
            return .write(path, code == ENOSPC ? "no space left on the file system (ENOSPC)" : String(cString: strerror(code)))
        }
        return .write(path, archive_error_string(handle).map { String(cString: $0) } ?? "libarchive error")
    }

    func writeHeader(_ entry: OpaquePointer) throws(PackageError) {
        guard archive_write_header(handle, entry) >= ARCHIVE_WARN else { throw failure() }
    }

    func writeData(_ bytes: UnsafeRawBufferPointer) throws(PackageError) {
        var remaining = bytes
        while !remaining.isEmpty {
            let written = archive_write_data(handle, remaining.baseAddress, remaining.count)
            guard written > 0 else { throw failure() }
            remaining = UnsafeRawBufferPointer(rebasing: remaining[Int(written)...])
        }
    }

    func write(_ bytes: [UInt8]) throws(PackageError) {
        let result: Result<Void, PackageError> = bytes.withUnsafeBytes { buffer in Result { () throws(PackageError) in try writeData(buffer) } }
        try result.get()
    }

    func writeZeros(_ count: Int64) throws(PackageError) {
        let chunk = [UInt8](repeating: 0, count: 64 * 1024)
        var remaining = count
        while remaining > 0 {
            let size = Int(min(remaining, Int64(chunk.count)))
            try write(Array(chunk[..<size]))
            remaining -= Int64(size)
        }
    }

    /// Bytes written to the file so far (after compression).
    var bytesWritten: Int64 { archive_filter_bytes(handle, -1) }

    func finish() throws(PackageError) {
        guard archive_write_close(handle) == ARCHIVE_OK else { throw failure() }
    }
}

/// An upgrade package: `upgrade_1_4_0-1_4_4.tar.gz`, a plain `.tar`, or an unpacked `upgrade_package/` folder.
public struct UpgradePackage {
    public static let scriptNames = ["upgrade_script.sh", "upgrade.sh"]
    public static let maximumScriptSize = 16 << 20

    public let path: String
    public let isFolder: Bool

    public init(path: String) throws(PackageError) {
        var info = stat()
        guard stat(path, &info) == 0 else { throw .missing(path) }
        self.path = path
        self.isFolder = info.st_mode & S_IFMT == S_IFDIR
        if !isFolder, access(path, R_OK) != 0 {
            throw .unreadable(path, String(cString: strerror(errno)))
        }
    }

    /// Size on disk, for progress (nil for folders).
    public var inputSize: Int64? {
        var info = stat()
        guard !isFolder, stat(path, &info) == 0 else { return nil }
        return Int64(info.st_size)
    }

    func reader() throws(PackageError) -> ArchiveReader {
        isFolder ? try ArchiveReader(folderAt: path) : try ArchiveReader(archiveAt: path)
    }

    /// Whether an entry path names the upgrade script: at the top or one folder down.
    public static func isScript(_ entryPath: String) -> Bool {
        let components = entryPath.split(separator: "/").filter { $0 != "." }
        return components.count <= 2 && components.last.map { scriptNames.contains(String($0)) } == true
    }

    public struct Script: Sendable {
        public var path: String
        public var bytes: [UInt8]
        public init(path: String, bytes: [UInt8]) { self.path = path; self.bytes = bytes }
    }

    /// Reads entries until the upgrade script and returns it, writing nothing.
    /// The upgrade script, after every entry was checked (see `contents`).
    public func readScript() throws -> Script {
        try contents().script
    }

    func checkFormat(_ reader: ArchiveReader) throws(PackageError) {
        if !isFolder, reader.format & ARCHIVE_FORMAT_BASE_MASK != ARCHIVE_FORMAT_TAR {
            throw .notAnArchive(path, "it is a \(reader.formatName) archive")
        }
    }

    /// How pack wrote its output.
    public enum WriteMethod: String, Sendable, Codable {
        /// The start compressed anew, the rest of the input's compressed stream copied (`GzipSplice`).
        case splice
        /// The input's whole tar stream written anew, the script's member replaced (`TarRewrite`).
        case rewrite
        /// An unpacked folder archived by libarchive.
        case archive
    }

    public struct Summary: Sendable {
        public var entries = 0
        public var bytesIn: Int64 = 0
        public var bytesOut: Int64 = 0
        public var scriptPath = ""
        /// The output's SHA-256, computed as it was written.
        public var sha256: String? = nil
        public var method: WriteMethod = .archive
        /// Why the fast path was not taken (nil when it was, or does not apply to the output).
        public var notSpliced: String? = nil
        /// The fast path was tried and its check failed: a fault of the tool, to be reported.
        public var spliceCheckFailed = false
        /// Tar bytes compressed anew, and compressed bytes of the input copied as they are.
        public var recompressed: UInt64 = 0
        public var copied: Int64 = 0
        /// What was checked of the output before it was reported written.
        public var check = ""
    }

    /// The script's member as edited, read back with libarchive beside the original: one regular
    /// file, the same name, mode, owner, group and times, holding exactly `data`.
    static func checkMember(original: [UInt8], edited: [UInt8], data: [UInt8], path: String) throws(PackageError) {
        struct Read { var fields: [String]; var data: [UInt8] }
        func read(_ member: [UInt8]) -> Read? {
            let reader = archive_read_new()
            defer { archive_read_free(reader) }
            archive_read_support_format_tar(reader)
            let stream = member + [UInt8](repeating: 0, count: 1024)
            return stream.withUnsafeBytes { buffer -> Read? in
                var next: OpaquePointer? = nil
                guard archive_read_open_memory(reader, buffer.baseAddress, buffer.count) == ARCHIVE_OK,
                      archive_read_next_header(reader, &next) == ARCHIVE_OK, let entry = next,
                      archive_entry_filetype(entry) == fileTypeRegular else { return nil }
                let text = { (value: UnsafePointer<CChar>?) in value.map { String(cString: $0) } ?? "" }
                let fields = [entryPath(entry), String(archive_entry_perm(entry)), String(archive_entry_uid(entry)),
                              String(archive_entry_gid(entry)), text(archive_entry_uname(entry)), text(archive_entry_gname(entry)),
                              "\(archive_entry_mtime(entry)).\(archive_entry_mtime_nsec(entry))", String(archive_entry_size(entry))]
                var bytes: [UInt8] = []
                var block: UnsafeRawPointer? = nil
                var size = 0
                var offset: Int64 = 0
                while archive_read_data_block(reader, &block, &size, &offset) == ARCHIVE_OK {
                    guard offset == Int64(bytes.count) else { return nil }
                    bytes += UnsafeRawBufferPointer(start: block, count: size)
                }
                guard archive_read_next_header(reader, &next) == ARCHIVE_EOF else { return nil }
                return Read(fields: fields, data: bytes)
            }
        }
        guard let before = read(original), let after = read(edited) else {
            throw .write(path, "the script's edited tar member does not read back as one file; please report this")
        }
        guard after.data == data, Array(after.fields.dropLast()) == Array(before.fields.dropLast()), after.fields.last == String(data.count) else {
            throw .write(path, "the script's edited tar member reads back with other metadata or data than meant; please report this")
        }
    }

    /// Writes the package with the script's bytes replaced by `newScript`, to `fileDescriptor`
    /// (gzip-compressed at `compressionLevel` unless `gzip` is false). A gzip input is spliced
    /// when it can be (`GzipSplice`), else its tar stream is rewritten whole (`TarRewrite`); an
    /// unpacked folder is archived with libarchive. Either way the output is checked before this
    /// returns, and nothing is written by a splice whose check fails.
    public func write(contents: Contents, newScript: [UInt8], to fileDescriptor: Int32, outputPath: String, gzip: Bool,
                      compressionLevel: Int, progress: (Int64) -> Void) throws -> Summary {
        try write(contents: contents, newScript: newScript, to: fileDescriptor, outputPath: outputPath, gzip: gzip,
                  compressionLevel: compressionLevel, progress: progress, alteringPlan: nil)
    }

    /// `alteringPlan` changes the splice's plan before its check: the tests break it there to see
    /// that a failed check gives a whole, rewritten package and says so.
    func write(contents: Contents, newScript: [UInt8], to fileDescriptor: Int32, outputPath: String, gzip: Bool,
               compressionLevel: Int, progress: (Int64) -> Void, alteringPlan: ((inout GzipSplice.Plan) -> Void)?) throws -> Summary {
        guard !isFolder, let range = contents.scriptMember, let identity = contents.identity else {
            return try archiveFolder(contents: contents, newScript: newScript, to: fileDescriptor, outputPath: outputPath, gzip: gzip,
                                     compressionLevel: compressionLevel, progress: progress)
        }
        let edit = ScriptMemberEdit(member: range, newData: newScript, path: path)
        let sink = OutputSink(descriptor: fileDescriptor, path: outputPath)
        var summary = Summary(entries: contents.entries, scriptPath: contents.script.path)
        if gzip {
            guard let facts = contents.gzip else {
                summary.notSpliced = "the input is a plain tar"
                return try rewrite(edit: edit, contents: contents, sink: sink, level: Int32(compressionLevel), summary: summary, progress: progress)
            }
            switch try GzipSplice.rewrite(input: path, facts: facts, identity: identity, edit: edit, to: sink, level: Int32(compressionLevel),
                                          progress: progress, alteringPlan: alteringPlan) {
            case .written(let result):
                summary.bytesIn = result.bytesIn
                summary.bytesOut = result.bytesOut
                summary.sha256 = result.sha256
                summary.method = .splice
                summary.recompressed = result.recompressed
                summary.copied = result.copied
                summary.check = result.checkedWhole
                    ? "the whole output inflated again, its CRC-32 and length as meant"
                    : "the compressed-anew start inflated again to exactly the edited tar, the seam and 64 KiB after it equal to the input's, the copy ending at the input's checked trailer"
                return summary
            case .declined(let reason, let checkFailed):
                summary.notSpliced = reason
                summary.spliceCheckFailed = checkFailed
            }
        } else {
            summary.notSpliced = "the output is a plain tar"
        }
        return try rewrite(edit: edit, contents: contents, sink: sink, level: gzip ? Int32(compressionLevel) : nil, summary: summary,
                           progress: progress)
    }

    private func rewrite(edit: ScriptMemberEdit, contents: Contents, sink: OutputSink, level: Int32?, summary: Summary,
                         progress: (Int64) -> Void) throws(PackageError) -> Summary {
        let result = try TarRewrite.rewrite(input: path, expected: contents, edit: edit, to: sink, gzipLevel: level, progress: progress)
        var summary = summary
        summary.bytesIn = result.bytesIn
        summary.bytesOut = result.bytesOut
        summary.sha256 = result.sha256
        summary.method = .rewrite
        summary.recompressed = result.length
        summary.check = level == nil ? "every byte written as the edited tar" : "the whole output inflated again as it was written, its CRC-32 and length as meant"
        return summary
    }

    /// An unpacked folder, archived by libarchive; read back when the output is a file.
    private func archiveFolder(contents: Contents, newScript: [UInt8], to fileDescriptor: Int32, outputPath: String, gzip: Bool,
                               compressionLevel: Int, progress: (Int64) -> Void) throws -> Summary {
        var summary = try archive(to: fileDescriptor, outputPath: outputPath, gzip: gzip, compressionLevel: compressionLevel,
                                  progress: progress) { found in
            guard UpgradePackage.normalised(found.path) == contents.script.path, found.bytes == contents.script.bytes else {
                throw PackageError.unreadable(path, "\(found.path) changed while it was being packed")
            }
            return newScript
        }
        summary.method = .archive
        var info = stat()
        if fstat(fileDescriptor, &info) == 0, info.st_mode & S_IFMT == S_IFREG {
            let written = try UpgradePackage(path: "/proc/self/fd/\(fileDescriptor)").contents()
            guard written.entries == contents.entries, written.script.bytes == newScript else {
                throw PackageError.write(outputPath, "the archived folder does not read back as meant; nothing was kept. Please report this")
            }
            summary.check = "the whole output read back: every entry, the new script's bytes"
        } else {
            summary.check = "not read back (not a file)"
        }
        return summary
    }

    /// Copies every entry to `fileDescriptor` as a new tar(.gz); the script's bytes go through `transform`.
    /// Entries other than the script are passed through unchanged, data streamed block by block.
    func archive(to fileDescriptor: Int32, outputPath: String, gzip: Bool, compressionLevel: Int,
                 progress: (Int64) -> Void,
                 transform: (Script) throws -> [UInt8]) throws -> Summary {
        let reader = try reader()
        var writer: ArchiveWriter? = nil
        var summary = Summary()
        var topLevel: [String] = []
        var script: String? = nil
        while let entry = try reader.next() {
            let name = entryPath(entry)
            UpgradePackage.noteTopLevel(name, in: &topLevel)
            if writer == nil {
                try checkFormat(reader)
                // Keep the input's tar dialect (GNU tar stays GNU tar); created lazily because
                // libarchive knows the format only after the first header.
                writer = try ArchiveWriter(fileDescriptor: fileDescriptor, path: outputPath,
                                           format: ARCHIVE_FORMAT_TAR_PAX_RESTRICTED,
                                           gzip: gzip, compressionLevel: compressionLevel)
            }
            guard let writer else { break }
            if archive_entry_filetype(entry) == fileTypeRegular, UpgradePackage.isScript(name) {
                if let script { throw PackageError.twoScripts(path, script, name) }
                script = name
                let original = try read(entry: entry, named: name, from: reader)
                let edited = try transform(Script(path: name, bytes: original))
                archive_entry_set_size(entry, Int64(edited.count))
                try writer.writeHeader(entry)
                try writer.write(edited)
            } else {
                try writer.writeHeader(entry)
                if archive_entry_size_is_set(entry) != 0, archive_entry_size(entry) > 0, archive_entry_hardlink(entry) == nil {
                    var written: Int64 = 0
                    try reader.readData { block, offset throws(PackageError) in
                        // Sparse entries skip ranges; the copy fills them with zeros.
                        if offset > written { try writer.writeZeros(offset - written) }
                        try writer.writeData(block)
                        written = offset + Int64(block.count)
                        progress(reader.bytesRead)
                    }
                }
            }
            summary.entries += 1
        }
        guard let writer else { throw PackageError.notAnArchive(path, "it holds no entries") }
        guard let script else { throw PackageError.noScript(path, seen: topLevel) }
        try writer.finish()
        summary.scriptPath = script
        summary.bytesIn = isFolder ? 0 : reader.bytesRead
        summary.bytesOut = writer.bytesWritten
        return summary
    }

    func read(entry: OpaquePointer, named name: String, from reader: ArchiveReader) throws(PackageError) -> [UInt8] {
        let size = archive_entry_size(entry)
        guard size <= UpgradePackage.maximumScriptSize else { throw .scriptTooLarge(path, name) }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(Int(size))
        try reader.readData { block, _ in bytes += block }
        return bytes
    }

    static func noteTopLevel(_ name: String, in seen: inout [String]) {
        let top = name.split(separator: "/").first { $0 != "." }.map(String.init) ?? name
        if !seen.contains(top), seen.count < 20 { seen.append(top) }
    }
}

// MARK: - Safe extraction

extension UpgradePackage {
    /// What a package holds, checked entry by entry before anything is written.
    public struct Contents: Sendable {
        public var script: Script
        /// Every entry path, normalised (no leading `./`).
        public var paths: Set<String>
        /// Sum of the entries' sizes: the room extraction needs.
        public var totalSize: Int64
        /// Size of each regular file, for the checks that need one (the python package).
        public var sizes: [String: Int64]
        public var entries: Int = 0
        /// The gzip layer, checked to its trailer (nil for a plain tar or a folder).
        public var gzip: GzipFacts?
        /// Where the script's member lies in the uncompressed tar: its first header block to the next entry's.
        public var scriptMember: Range<Int64>?
        /// The input file as the scan opened it (nil for a folder).
        var identity: FileIdentity?
    }

    /// Reads every header (extracting nothing) through the entry model, refusing the package if
    /// any entry is hazardous, all at once; reads the script's bytes on the way. `inspect`, `pack`
    /// and `apply` all go through here, so a package one accepts is one the others accept.
    public func contents() throws -> Contents {
        let reader = try reader()
        var scriptStart: Int64? = nil
        var scriptEnd: Int64? = nil
        var model = PackageEntryModel()
        var script: Script? = nil
        var scripts: [String] = []
        var paths: Set<String> = []
        var sizes: [String: Int64] = [:]
        var total: Int64 = 0
        var topLevel: [String] = []
        var entries = 0
        while let entry = try reader.next() {
            if entries == 0 { try checkFormat(reader) }
            entries += 1
            if scriptStart != nil, scriptEnd == nil { scriptEnd = reader.headerPosition }
            let raw = archive_entry_pathname(entry).map { Array(UnsafeBufferPointer(start: $0, count: strlen($0))).map { UInt8(bitPattern: $0) } } ?? []
            let name = String(validating: raw, as: UTF8.self)
            if let name { UpgradePackage.noteTopLevel(name, in: &topLevel) }
            let type = archive_entry_filetype(entry)
            let kind: PackageEntryModel.Kind
            if let hardlink = archive_entry_hardlink(entry).map({ String(cString: $0) }) {
                kind = .hardlink(target: hardlink)
            } else {
                switch type {
                case fileTypeRegular: kind = .file
                case fileTypeDirectory: kind = .folder
                case fileTypeSymlink: kind = .symlink(target: archive_entry_symlink(entry).map { String(cString: $0) } ?? "")
                default: kind = .other("a device, fifo or socket")
                }
            }
            guard let normal = model.add(name: name, rawName: raw, kind: kind, sparse: archive_entry_sparse_count(entry) > 0) else { continue }
            paths.insert(normal)
            total += max(0, archive_entry_size(entry))
            if kind == .file { sizes[normal] = archive_entry_size(entry) }
            if UpgradePackage.isScript(normal) {
                scripts.append(normal)
                if kind == .file, script == nil {
                    scriptStart = reader.headerPosition
                    script = Script(path: normal, bytes: try read(entry: entry, named: normal, from: reader))
                }
            }
        }
        // The rest of the input, so that the gzip trailer (CRC-32 and length) is checked too.
        let gzip = try reader.finishInput()
        if scriptStart != nil, scriptEnd == nil { scriptEnd = reader.headerPosition }
        if scripts.count > 1 { throw PackageError.twoScripts(path, scripts[0], scripts[1]) }
        model.finish(script: scripts.first)
        if !model.problems.isEmpty { throw PackageRefusal(problems: model.problems.map { "\(path): \($0)" }) }
        if entries == 0 { throw PackageError.notAnArchive(path, "it holds no entries") }
        guard let script else { throw PackageError.noScript(path, seen: topLevel) }
        return Contents(script: script, paths: paths, totalSize: total, sizes: sizes, entries: entries, gzip: gzip,
                        scriptMember: scriptStart.flatMap { start in scriptEnd.map { start..<$0 } },
                        identity: reader.inputIdentity)
    }

    public static func normalised(_ name: String) -> String {
        name.split(separator: "/").filter { $0 != "." }.joined(separator: "/")
    }

    /// Extracts into `folder` with libarchive's disk writer, keeping modes and mtimes. Call
    /// `contents()` first; libarchive's own secure-extraction flags guard the same ground again.
    public func extract(into folder: String) throws {
        let reader = try reader()
        // Names are made absolute under the folder's real path, so the working directory of the
        // process never changes. The entry model already refused absolute names, `..` and links
        // that leave the package; libarchive's own checks (no `..`, nothing through a symlink on
        // disk) guard the same ground again.
        guard let resolved = realpath(folder, nil) else { throw PackageError.write(folder, String(cString: strerror(errno))) }
        let base = String(cString: resolved)
        free(resolved)
        let writer = archive_write_disk_new()
        defer { archive_write_free(writer) }
        let flags = ARCHIVE_EXTRACT_TIME | ARCHIVE_EXTRACT_PERM | ARCHIVE_EXTRACT_SECURE_NODOTDOT | ARCHIVE_EXTRACT_SECURE_SYMLINKS
        archive_write_disk_set_options(writer, flags)
        // No owner is restored (no ARCHIVE_EXTRACT_OWNER), so no name lookup is needed.
        let failure = { (name: String) -> PackageError in
            .write("\(folder)/\(name)", archive_error_string(writer).map { String(cString: $0) } ?? "libarchive error")
        }
        while let entry = try reader.next() {
            let name = UpgradePackage.normalised(entryPath(entry))
            guard !name.isEmpty else { continue }
            archive_entry_copy_pathname(entry, "\(base)/\(name)")
            if let hardlink = archive_entry_hardlink(entry).map({ String(cString: $0) }) {
                archive_entry_copy_hardlink(entry, "\(base)/\(UpgradePackage.normalised(hardlink))")
            }
            guard archive_write_header(writer, entry) == ARCHIVE_OK else { throw failure(name) }
            if archive_entry_size(entry) > 0 {
                var failed = false
                try reader.readData { block, offset in
                    if archive_write_data_block(writer, block.baseAddress, block.count, offset) != ARCHIVE_OK { failed = true }
                }
                if failed { throw failure(name) }
            }
            guard archive_write_finish_entry(writer) == ARCHIVE_OK else { throw failure(name) }
        }
        guard archive_write_close(writer) == ARCHIVE_OK else { throw failure(".") }
    }
}

/// Every hazardous entry of a package, one line each.
public struct PackageRefusal: Error, CustomStringConvertible {
    public var problems: [String]
    public init(problems: [String]) { self.problems = problems }
    public var description: String { problems.joined(separator: "\n") }
}

/// User and group names by number, read from /etc/passwd and /etc/group once, kept as C strings
/// for libarchive's lookup callbacks (which must return a pointer that stays valid).
final class AccountNames: @unchecked Sendable {
    static let shared = AccountNames()
    private let users: [UInt32: UnsafeMutablePointer<CChar>]
    private let groups: [UInt32: UnsafeMutablePointer<CChar>]

    private init() {
        func load(_ path: String) -> [UInt32: UnsafeMutablePointer<CChar>] {
            guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return [:] }
            return AccountFile.names(text).mapValues { strdup($0)! }
        }
        users = load("/etc/passwd")
        groups = load("/etc/group")
    }

    func user(_ uid: UInt32) -> UnsafePointer<CChar>? { users[uid].map { UnsafePointer($0) } }
    func group(_ gid: UInt32) -> UnsafePointer<CChar>? { groups[gid].map { UnsafePointer($0) } }
}

/// The character set libarchive converts entry names through: the C library's LC_CTYPE.
public enum NameEncoding {
    /// Makes it UTF-8 when the environment's is not, so that non-ASCII names (which pax headers
    /// store as UTF-8, and GNU headers as the bytes the creator's locale gave) pass through
    /// unchanged under cron, sudo, Ansible or a service without LANG. A static binary finds only
    /// the locales the host has: C.UTF-8 on Debian and Ubuntu, en_US.UTF-8 on CentOS 7.
    public static func useUTF8() {
        func isUTF8() -> Bool { String(cString: nl_langinfo(nl_item(CODESET))).uppercased().contains("UTF") }
        if setlocale(LC_CTYPE, "") != nil, isUTF8() { return }
        for candidate in ["C.UTF-8", "C.utf8", "en_US.UTF-8", "en_US.utf8"] where setlocale(LC_CTYPE, candidate) != nil {
            if isUTF8() { return }
        }
    }
}
