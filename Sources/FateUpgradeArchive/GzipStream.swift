internal import CZlib
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Glibc

/// gzip compression of a stream that arrives in chunks (a database dump as mysqldump writes it),
/// with zlib; the compressed bytes go to `sink` as they are made.
public final class GzipCompressor {
    private var stream = z_stream()
    private let output: UnsafeMutablePointer<UInt8>
    private static let size = 256 * 1024
    private var finished = false

    /// Level 1 by default: a snapshot is taken while the upgrade waits, and dump text still
    /// compresses several times over at the fastest level.
    public init(level: Int32 = 1) throws(PackageError) {
        output = .allocate(capacity: Self.size)
        guard deflateInit2_(&stream, level, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY, ZLIB_VERSION,
                            Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            output.deallocate()
            throw .unreadable("gzip", "zlib could not start")
        }
    }

    deinit {
        deflateEnd(&stream)
        output.deallocate()
    }

    public func compress<E: Error>(_ bytes: UnsafeRawBufferPointer, sink: (UnsafeRawBufferPointer) throws(E) -> Void) throws(E) {
        try run(bytes, flush: Z_NO_FLUSH, sink: sink)
    }

    /// Writes what is buffered and the gzip trailer.
    public func finish<E: Error>(sink: (UnsafeRawBufferPointer) throws(E) -> Void) throws(E) {
        guard !finished else { return }
        finished = true
        try run(UnsafeRawBufferPointer(start: nil, count: 0), flush: Z_FINISH, sink: sink)
    }

    private func run<E: Error>(_ bytes: UnsafeRawBufferPointer, flush: Int32, sink: (UnsafeRawBufferPointer) throws(E) -> Void) throws(E) {
        stream.next_in = UnsafeMutablePointer(mutating: bytes.baseAddress?.assumingMemoryBound(to: UInt8.self))
        stream.avail_in = uInt(bytes.count)
        repeat {
            stream.next_out = output
            stream.avail_out = uInt(Self.size)
            let status = deflate(&stream, flush)
            let produced = Self.size - Int(stream.avail_out)
            if produced > 0 { try sink(UnsafeRawBufferPointer(start: output, count: produced)) }
            if status == Z_STREAM_END { break }
        } while stream.avail_out == 0 || (flush == Z_FINISH)
    }
}

/// Reading a whole gzip file back: each compressed chunk as read (for a checksum of exactly the
/// bytes that are inflated) and each inflated chunk; every member's CRC-32 and length are checked
/// against its trailer, and a file cut short or damaged is an error.
public enum GzipFile {
    public static func inflate(_ path: String, compressed: (UnsafeRawBufferPointer) -> Void,
                               body: (UnsafeRawBufferPointer) throws -> Void) throws {
        let source = try InflatingSource(path: path)
        try withoutActuallyEscaping(compressed) { hook in
            source.onRead = hook
            defer { source.onRead = nil }
            while true {
                guard let chunk = source.next() else {
                    throw source.failure ?? PackageError.corrupt(path, "unreadable")
                }
                if chunk.isEmpty { break }
                guard source.isGzip else { throw PackageError.corrupt(path, "not a gzip file") }
                try body(chunk)
            }
        }
        guard source.isGzip else { throw PackageError.corrupt(path, "not a gzip file") }
    }
}
