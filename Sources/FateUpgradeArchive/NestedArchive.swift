internal import CArchive
import FateUpgradeCore
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Glibc

extension UpgradePackage {
    /// Small files out of a tar.gz that is itself a member of this package (the python package the
    /// script unpacks), read as the member streams through: nothing is written, nothing extracted.
    /// - Parameters:
    ///   - member: the nested archive's path in this package, normalised (`upgrade_package/upgrade_python_package.tar.gz`).
    ///   - wanted: paths inside it, normalised (`python/arch/conf/base_conf.yaml`).
    /// - Returns: the wanted files it holds as regular files; nil when this package has no such member.
    public func files(inMember member: String, named wanted: Set<String>, limit: Int = 16 << 20) throws -> [String: [UInt8]]? {
        let outer = try reader()
        while let entry = try outer.next() {
            guard let name = archive_entry_pathname(entry).map({ String(cString: $0) }), UpgradePackage.normalised(name) == member else { continue }
            let stream = NestedStream(outer)
            return try NestedStream.files(named: wanted, limit: limit, in: "\(path):\(member)") { handle in
                archive_read_open(handle, Unmanaged.passUnretained(stream).toOpaque(), nil, { _, client, buffer in
                    let stream = Unmanaged<NestedStream>.fromOpaque(client!).takeUnretainedValue()
                    buffer?.pointee = UnsafeRawPointer(stream.buffer)
                    return stream.outer.readData(into: stream.buffer, count: NestedStream.chunk)
                }, nil)
            }
        }
        return nil
    }

    /// The same from this package itself, as a tar.gz on disk (a python package already unpacked).
    public func files(named wanted: Set<String>, limit: Int = 16 << 20) throws -> [String: [UInt8]] {
        try NestedStream.files(named: wanted, limit: limit, in: path) { handle in archive_read_open_filename(handle, path, 1 << 16) }
    }
}

/// The bytes of an entry of the outer archive, handed to an inner libarchive reader.
final class NestedStream {
    static let chunk = 1 << 16
    let outer: ArchiveReader
    let buffer = UnsafeMutableRawPointer.allocate(byteCount: NestedStream.chunk, alignment: 16)

    init(_ outer: ArchiveReader) { self.outer = outer }
    deinit { buffer.deallocate() }

    /// Opens an inner reader with `open`, then reads the wanted regular files from it.
    static func files(named wanted: Set<String>, limit: Int, in place: String,
                      open: (OpaquePointer) -> Int32) throws(PackageError) -> [String: [UInt8]] {
        let handle = archive_read_new()!
        defer { archive_read_free(handle) }
        archive_read_support_format_tar(handle)
        archive_read_support_filter_gzip(handle)
        let error = { () -> PackageError in .corrupt(place, archive_error_string(handle).map { String(cString: $0) } ?? "unknown libarchive error") }
        guard open(handle) == ARCHIVE_OK else { throw error() }
        var found: [String: [UInt8]] = [:]
        var entry: OpaquePointer? = nil
        while found.count < wanted.count {
            let status = archive_read_next_header(handle, &entry)
            if status == ARCHIVE_EOF { break }
            guard status >= ARCHIVE_WARN, let entry else { throw error() }
            guard let name = archive_entry_pathname(entry).map({ String(cString: $0) }) else { continue }
            let normal = UpgradePackage.normalised(name)
            guard wanted.contains(normal), archive_entry_filetype(entry) == fileTypeRegular else { continue }
            let size = archive_entry_size(entry)
            guard size <= limit else { throw .corrupt(place, "\(normal) is \(size) bytes, more than a settings file") }
            var bytes = [UInt8](repeating: 0, count: Int(size))
            var done = 0
            while done < bytes.count {
                let count = bytes.withUnsafeMutableBytes { archive_read_data(handle, $0.baseAddress! + done, $0.count - done) }
                guard count > 0 else { throw error() }
                done += count
            }
            found[normal] = bytes
        }
        return found
    }
}
