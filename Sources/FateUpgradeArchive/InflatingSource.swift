internal import CArchive
internal import CZlib
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Glibc

/// What the gzip layer of a package was: single or several members, the CRC-32 and length of the
/// whole uncompressed tar. Known once the input has been read to its end, trailer checked.
public struct GzipFacts: Sendable, Equatable {
    public var members: Int
    public var crc: UInt32
    public var length: UInt64
    /// Where the first member's deflate data ends and its 8-byte trailer begins (a file may go on
    /// after it: more members, or zeros some tools pad with).
    public var firstTrailer: Int64
}

/// A file's identity and version as fstat gives it: a file replaced or written to in between
/// differs in one of these.
public struct FileIdentity: Sendable, Equatable {
    var device: UInt64
    var inode: UInt64
    var size: Int64
    var modified: Int64
    var changed: Int64

    init?(descriptor: Int32) {
        var info = stat()
        guard fstat(descriptor, &info) == 0 else { return nil }
        device = UInt64(info.st_dev)
        inode = UInt64(info.st_ino)
        size = Int64(info.st_size)
        modified = Int64(info.st_mtim.tv_sec) * 1_000_000_000 + Int64(info.st_mtim.tv_nsec)
        changed = Int64(info.st_ctim.tv_sec) * 1_000_000_000 + Int64(info.st_ctim.tv_nsec)
    }
}

/// The input of libarchive's tar reader: the file, inflated here with zlib when it is gzip.
/// zlib checks every member's CRC-32 and length against its trailer, which libarchive's own gzip
/// filter never reads (it stops at tar's end-of-archive blocks): a damaged copy is found in the
/// same pass that reads the entries, and could not be re-packed into a valid stream around the damage.
final class InflatingSource {
    let path: String
    private let descriptor: Int32
    private var stream = z_stream()
    private var inflating = false
    private(set) var isGzip = false
    private static let size = 256 * 1024
    // Allocated by hand: zlib keeps pointers into them between calls.
    private let input = UnsafeMutablePointer<UInt8>.allocate(capacity: InflatingSource.size)
    private let output = UnsafeMutablePointer<UInt8>.allocate(capacity: InflatingSource.size)
    private var inputCount = 0
    private var ended = false
    private var atEnd = false
    private var members = 0
    private var crc: UInt32 = 0
    private var length: UInt64 = 0
    private var firstTrailer: Int64 = 0
    /// The file as it was when it was opened, so that a later pass can tell it is still the same.
    private(set) var identity: FileIdentity?
    /// Compressed bytes read from the file.
    private(set) var bytesRead: Int64 = 0
    /// Why reading stopped, when it was not the end.
    private(set) var failure: PackageError?
    private var first = true
    /// Sees every compressed chunk as it is read.
    var onRead: ((UnsafeRawBufferPointer) -> Void)?

    init(path: String) throws(PackageError) {
        self.path = path
        descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else {
            input.deallocate(); output.deallocate()
            throw .unreadable(path, String(cString: strerror(errno)))
        }
        identity = FileIdentity(descriptor: descriptor)
    }

    deinit {
        if inflating { inflateEnd(&stream) }
        close(descriptor)
        input.deallocate()
        output.deallocate()
    }

    /// The gzip facts once the whole input was read (nil for a plain tar, or before the end).
    var facts: GzipFacts? {
        guard isGzip, atEnd else { return nil }
        return GzipFacts(members: members, crc: crc, length: length, firstTrailer: firstTrailer)
    }

    private func fill() -> Bool {
        while true {
            let count = read(descriptor, input, Self.size)
            if count < 0 && errno == EINTR { continue }
            if count < 0 { failure = .unreadable(path, String(cString: strerror(errno))); return false }
            inputCount = count
            bytesRead += Int64(count)
            onRead?(UnsafeRawBufferPointer(start: input, count: count))
            stream.next_in = input
            stream.avail_in = UInt32(count)
            return true
        }
    }

    /// The next uncompressed chunk; empty at the end; nil on failure.
    func next() -> UnsafeRawBufferPointer? {
        if atEnd { return UnsafeRawBufferPointer(start: nil, count: 0) }
        if first {
            first = false
            guard fill() else { return nil }
            isGzip = inputCount >= 2 && input[0] == 0x1F && input[1] == 0x8B
            if isGzip {
                guard inflateInit2_(&stream, 16 + MAX_WBITS, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
                    failure = .unreadable(path, "zlib could not start"); return nil
                }
                inflating = true
                members = 1
                stream.next_in = input
                stream.avail_in = UInt32(inputCount)
            } else {
                if inputCount == 0 { atEnd = true }
                return UnsafeRawBufferPointer(start: input, count: inputCount)
            }
        }
        guard isGzip else {
            guard fill() else { return nil }
            if inputCount == 0 { atEnd = true }
            return UnsafeRawBufferPointer(start: input, count: inputCount)
        }
        while true {
            if stream.avail_in == 0 {
                guard fill() else { return nil }
                if inputCount == 0 {
                    guard ended else {
                        failure = .corrupt(path, "gzip: the file ends before the compressed data does (truncated)")
                        return nil
                    }
                    atEnd = true
                    return UnsafeRawBufferPointer(start: nil, count: 0)
                }
            }
            if ended {
                // Another member, or zeros some tools pad with; anything else is damage.
                if UnsafeBufferPointer(start: stream.next_in, count: Int(stream.avail_in)).allSatisfy({ $0 == 0 }) {
                    stream.avail_in = 0
                    continue
                }
                guard inflateReset(&stream) == Z_OK else { failure = .corrupt(path, "gzip: cannot continue after a member"); return nil }
                ended = false
                members += 1
            }
            stream.next_out = output
            stream.avail_out = UInt32(Self.size)
            let status = inflate(&stream, Z_NO_FLUSH)
            let produced = Self.size - Int(stream.avail_out)
            switch status {
            case Z_OK, Z_BUF_ERROR: break
            case Z_STREAM_END:
                ended = true
                if members == 1 { firstTrailer = Int64(stream.total_in) - 8 }
                crc = members == 1 ? UInt32(stream.adler) : UInt32(crc32_combine(uLong(crc), stream.adler, off_t(stream.total_out)))
                length += UInt64(stream.total_out)
            default:
                let message = stream.msg.map { String(cString: $0) } ?? "error \(status)"
                failure = .corrupt(path, "gzip: \(message) (a damaged copy: download or copy it again)")
                return nil
            }
            if produced > 0 { return UnsafeRawBufferPointer(start: output, count: produced) }
        }
    }

    /// Reads the rest (after the tar's end-of-archive blocks), so that the trailer is checked too.
    func drain() throws(PackageError) {
        while let chunk = next() { if chunk.isEmpty { return } }
        throw failure ?? .corrupt(path, "unreadable")
    }
}
