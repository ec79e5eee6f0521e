internal import CZlib
import Glibc

/// pack's general path: the input's whole tar stream is read, the script's member replaced, and
/// the result written anew, gzip-compressed at the level asked or as a plain tar. Every member
/// but the script stays byte for byte, headers included, whoever wrote the input. What is written
/// is checked on the way: the compressed output is inflated again as it is made and must give
/// exactly the edited tar, its trailer included; the input must be the one the scan read.
enum TarRewrite {
    struct Result {
        var bytesIn: Int64
        var bytesOut: Int64
        var sha256: String
        /// Bytes of the edited tar.
        var length: UInt64
    }

    static func rewrite(input path: String, expected: UpgradePackage.Contents, edit original: ScriptMemberEdit, to sink: OutputSink,
                        gzipLevel: Int32?, progress: (Int64) -> Void) throws(PackageError) -> Result {
        var edit = original
        let source = try InflatingSource(path: path)
        let compressor = try gzipLevel.map { (level) throws(PackageError) in try GzipCompressor(level: level) }
        let check = try gzipLevel.map { _ throws(PackageError) in try InflateCheck(path: sink.path) }
        var crc: UInt32 = 0
        var length: UInt64 = 0
        var position: Int64 = 0
        let emit = { (compressed: UnsafeRawBufferPointer) throws(PackageError) in
            check?.feed(compressed)
            try sink.write(compressed)
        }
        while true {
            guard let chunk = source.next() else { throw source.failure ?? .corrupt(path, "unreadable") }
            if chunk.isEmpty { break }
            progress(source.bytesRead)
            try edit.route(chunk, at: position) { (bytes) throws(PackageError) in
                guard let base = bytes.baseAddress, !bytes.isEmpty else { return }
                crc = UInt32(crc32(uLong(crc), base.assumingMemoryBound(to: UInt8.self), uInt(bytes.count)))
                length += UInt64(bytes.count)
                if let compressor { try compressor.compress(bytes, sink: emit) } else { try sink.write(bytes) }
            }
            position += Int64(chunk.count)
        }
        try compressor?.finish(sink: emit)
        // The input must still be what the scan read (content for gzip, identity for both).
        guard edit.isComplete, source.identity == expected.identity, source.facts == expected.gzip else {
            throw .unreadable(path, "the file changed while it was being packed; pack it again once nothing writes to it")
        }
        if let check, let problem = check.finish(crc: crc, length: length) {
            throw .write(sink.path, "the rewritten package did not check out (\(problem)); nothing was kept. Please report this")
        }
        return Result(bytesIn: source.bytesRead, bytesOut: sink.written, sha256: sink.finish(), length: length)
    }
}

/// Inflates a gzip stream as it is written and compares it with the CRC-32 and length of what
/// was meant to go in.
final class InflateCheck {
    private var stream = z_stream()
    private static let size = 256 * 1024
    private let output = UnsafeMutablePointer<UInt8>.allocate(capacity: InflateCheck.size)
    private var ended = false
    private var failure: String?
    private var crc: UInt32 = 0
    private var length: UInt64 = 0

    init(path: String) throws(PackageError) {
        guard inflateInit2_(&stream, 16 + MAX_WBITS, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            output.deallocate()
            throw .write(path, "zlib could not start")
        }
    }

    deinit {
        inflateEnd(&stream)
        output.deallocate()
    }

    func feed(_ compressed: UnsafeRawBufferPointer) {
        guard failure == nil, !compressed.isEmpty else { return }
        if ended { failure = "bytes after the end of the gzip stream"; return }
        stream.next_in = UnsafeMutablePointer(mutating: compressed.baseAddress!.assumingMemoryBound(to: UInt8.self))
        stream.avail_in = uInt(compressed.count)
        while stream.avail_in > 0 && !ended {
            stream.next_out = output
            stream.avail_out = uInt(Self.size)
            let status = inflate(&stream, Z_NO_FLUSH)
            let produced = Self.size - Int(stream.avail_out)
            if produced > 0 {
                crc = UInt32(crc32(uLong(crc), output, uInt(produced)))
                length += UInt64(produced)
            }
            switch status {
            case Z_OK, Z_BUF_ERROR: continue
            case Z_STREAM_END: ended = true
            default:
                failure = "it does not inflate: \(stream.msg.map { String(cString: $0) } ?? "zlib error \(status)")"
                return
            }
        }
        if ended && stream.avail_in > 0 { failure = "bytes after the end of the gzip stream" }
    }

    /// nil when the stream ended, with its trailer checked by zlib, on exactly the bytes meant.
    func finish(crc expectedCRC: UInt32, length expectedLength: UInt64) -> String? {
        if let failure { return failure }
        guard ended else { return "the gzip stream does not end" }
        guard crc == expectedCRC, length == expectedLength else { return "it inflates to other bytes than were compressed" }
        return nil
    }
}
