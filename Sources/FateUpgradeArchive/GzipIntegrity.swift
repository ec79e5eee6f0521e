internal import CZlib
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Glibc

/// Checks a gzip file end to end: every member's CRC-32 and length against its trailer. libarchive
/// stops reading at tar's end-of-archive blocks and never looks at the trailer, so a damaged copy
/// would otherwise be re-packed into a valid stream around the damaged bytes, and the damage could
/// no longer be detected anywhere.
public enum GzipIntegrity {
    /// nil for a file that is not gzip (a plain tar); throws `.corrupt` naming what is wrong.
    public static func verify(_ path: String) throws(PackageError) {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw .unreadable(path, String(cString: strerror(errno))) }
        defer { close(descriptor) }
        var input = [UInt8](repeating: 0, count: 256 * 1024)
        var output = [UInt8](repeating: 0, count: 256 * 1024)
        var first = true
        var stream = z_stream()
        guard inflateInit2_(&stream, 16 + MAX_WBITS, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw .unreadable(path, "zlib could not start")
        }
        defer { inflateEnd(&stream) }
        var ended = false
        while true {
            let count = input.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                throw .unreadable(path, String(cString: strerror(errno)))
            }
            if count == 0 { break }
            if first {
                first = false
                guard count >= 2, input[0] == 0x1F, input[1] == 0x8B else { return }
            }
            var offset = 0
            while offset < count {
                if ended {
                    // Another member, or padding of zeros some tools add; anything else is damage.
                    if input[offset..<count].allSatisfy({ $0 == 0 }) { offset = count; break }
                    guard inflateReset(&stream) == Z_OK else { throw .corrupt(path, "gzip: cannot continue after a member") }
                    ended = false
                }
                let status: Int32 = input.withUnsafeMutableBufferPointer { inBuffer in
                    output.withUnsafeMutableBufferPointer { outBuffer in
                        stream.next_in = inBuffer.baseAddress! + offset
                        stream.avail_in = UInt32(count - offset)
                        stream.next_out = outBuffer.baseAddress!
                        stream.avail_out = UInt32(outBuffer.count)
                        return inflate(&stream, Z_NO_FLUSH)
                    }
                }
                offset = count - Int(stream.avail_in)
                switch status {
                case Z_OK, Z_BUF_ERROR: continue
                case Z_STREAM_END: ended = true
                default:
                    let message = stream.msg.map { String(cString: $0) } ?? "error \(status)"
                    throw .corrupt(path, "gzip: \(message) (a damaged copy: download or copy it again)")
                }
            }
        }
        if !first && !ended { throw .corrupt(path, "gzip: the file ends before the compressed data does (truncated)") }
    }
}
