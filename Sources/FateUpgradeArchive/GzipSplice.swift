internal import CArchive
internal import CZlib
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Glibc

/// pack's fast path for a gzip package: only the start of the stream is compressed again.
///
/// The tar bytes before the script and the script's new member are deflated anew, up to the first
/// deflate block boundary of the input that lies 32 KiB or more after the old script member; from
/// there on, the input's compressed bits are copied as they are (shifted to the byte the new part
/// ends on). Deflate's back-references reach at most 32 KiB back and are relative, and those 32 KiB
/// are the same tar bytes in both streams, so the copied blocks decode to exactly the input's tar
/// bytes. The trailer's CRC-32 is recombined from the input's (checked to its trailer beforehand)
/// without inflating what is copied. Every member but the script stays byte for byte, headers included.
enum GzipSplice {
    struct Result {
        var bytesIn: Int64
        var bytesOut: Int64
        /// SHA-256 of the output, hashed on another thread as it was written.
        var sha256: String
    }

    /// nil when the fast path does not apply (several gzip members, a small package with no block
    /// boundary far enough after the script): the caller then rewrites the whole stream.
    static func rewrite(input path: String, facts: GzipFacts, scriptMember: Range<Int64>, newMember: [UInt8],
                        to output: Int32, outputPath: String, level: Int32,
                        progress: (Int64) -> Void) throws(PackageError) -> Result? {
        guard facts.members == 1 else { return nil }
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw .unreadable(path, String(cString: strerror(errno))) }
        defer { close(descriptor) }
        var info = stat()
        guard fstat(descriptor, &info) == 0 else { throw .unreadable(path, String(cString: strerror(errno))) }
        let fileSize = Int64(info.st_size)

        var inflater = z_stream()
        guard inflateInit2_(&inflater, 16 + MAX_WBITS, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw .unreadable(path, "zlib could not start")
        }
        defer { inflateEnd(&inflater) }
        var deflater = z_stream()
        guard deflateInit2_(&deflater, level, Z_DEFLATED, -MAX_WBITS, 8, Z_DEFAULT_STRATEGY, ZLIB_VERSION,
                            Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw .write(outputPath, "zlib could not start")
        }
        defer { deflateEnd(&deflater) }

        let size = 256 * 1024
        let inBuffer = UnsafeMutablePointer<UInt8>.allocate(capacity: size)
        let outBuffer = UnsafeMutablePointer<UInt8>.allocate(capacity: size)
        let deflated = UnsafeMutablePointer<UInt8>.allocate(capacity: size)
        defer { inBuffer.deallocate(); outBuffer.deallocate(); deflated.deallocate() }

        // The new start, compressed: kept in memory until the splice point is found, so that a
        // package where there is none leaves nothing written.
        var head: [UInt8] = [0x1F, 0x8B, 8, 0, 0, 0, 0, 0, 0, 3]
        var prefixCRC = crc32(0, nil, 0)
        var prefixLength: UInt64 = 0
        var memberWritten = false
        func feed(_ bytes: UnsafeRawBufferPointer, flush: Int32 = Z_NO_FLUSH) {
            if !bytes.isEmpty {
                prefixCRC = crc32(prefixCRC, bytes.baseAddress!.assumingMemoryBound(to: UInt8.self), uInt(bytes.count))
                prefixLength += UInt64(bytes.count)
            }
            deflater.next_in = UnsafeMutablePointer(mutating: bytes.baseAddress?.assumingMemoryBound(to: UInt8.self))
            deflater.avail_in = uInt(bytes.count)
            repeat {
                deflater.next_out = deflated
                deflater.avail_out = uInt(size)
                deflate(&deflater, flush)
                head += UnsafeBufferPointer(start: deflated, count: size - Int(deflater.avail_out))
            } while deflater.avail_out == 0
        }

        var position: Int64 = 0  // uncompressed, in the input's tar
        var splice: (byte: Int64, bit: Int, uncompressed: Int64, crc: UInt32)? = nil
        var ended = false
        reading: while splice == nil && !ended {
            let count = read(descriptor, inBuffer, size)
            if count < 0 {
                if errno == EINTR { continue }
                throw .unreadable(path, String(cString: strerror(errno)))
            }
            if count == 0 { break }
            progress(Int64(inflater.total_in) + Int64(count))
            inflater.next_in = inBuffer
            inflater.avail_in = uInt(count)
            while inflater.avail_in > 0 {
                inflater.next_out = outBuffer
                inflater.avail_out = uInt(size)
                let status = inflate(&inflater, Z_BLOCK)
                guard status == Z_OK || status == Z_STREAM_END || status == Z_BUF_ERROR else {
                    throw .corrupt(path, "gzip: \(inflater.msg.map { String(cString: $0) } ?? "error \(status)")")
                }
                let produced = size - Int(inflater.avail_out)
                // Route the bytes: before the script as they are, the script's member replaced.
                var offset = 0
                while offset < produced {
                    let here = position + Int64(offset)
                    let take: Int
                    if here < scriptMember.lowerBound {
                        take = min(produced - offset, Int(scriptMember.lowerBound - here))
                        feed(UnsafeRawBufferPointer(start: outBuffer + offset, count: take))
                    } else if here < scriptMember.upperBound {
                        if !memberWritten {
                            memberWritten = true
                            newMember.withUnsafeBytes { feed($0) }
                        }
                        take = min(produced - offset, Int(scriptMember.upperBound - here))
                    } else {
                        take = produced - offset
                        feed(UnsafeRawBufferPointer(start: outBuffer + offset, count: take))
                    }
                    offset += take
                }
                position += Int64(produced)
                if status == Z_STREAM_END { ended = true; break }
                // A boundary between two blocks (not the last), far enough past the script.
                let atBoundary = inflater.data_type & 128 != 0 && inflater.data_type & 64 == 0
                if atBoundary && memberWritten && position >= scriptMember.upperBound + 32768 {
                    let unused = Int(inflater.data_type & 7)
                    let consumed = Int64(inflater.total_in)
                    splice = (unused > 0 ? consumed - 1 : consumed, unused > 0 ? 8 - unused : 0, position, UInt32(inflater.adler))
                    break reading
                }
                if head.count > 64 << 20 { return nil }  // no boundary in sight: not worth holding more
            }
        }
        guard let splice else { return nil }

        // The new part ends on a byte: an empty stored block, not final, as a sync flush writes it.
        feed(UnsafeRawBufferPointer(start: nil, count: 0), flush: Z_SYNC_FLUSH)
        var written: Int64 = 0
        let hasher = BackgroundHasher()
        var hashed = false
        defer { if !hashed { _ = hasher.finish() } }
        func emit(_ bytes: UnsafeRawBufferPointer) throws(PackageError) {
            hasher.submit(bytes)
            var offset = 0
            while offset < bytes.count {
                let count = Glibc.write(output, bytes.baseAddress! + offset, bytes.count - offset)
                if count < 0 {
                    if errno == EINTR { continue }
                    throw .write(outputPath, errno == ENOSPC ? "no space left on the file system (ENOSPC)" : String(cString: strerror(errno)))
                }
                offset += count
            }
            written += Int64(bytes.count)
        }
        func emitArray(_ bytes: [UInt8]) throws(PackageError) {
            let copy = UnsafeMutablePointer<UInt8>.allocate(capacity: max(bytes.count, 1))
            defer { copy.deallocate() }
            copy.initialize(from: bytes, count: bytes.count)
            try emit(UnsafeRawBufferPointer(start: copy, count: bytes.count))
        }
        try emitArray(head)

        // The input's blocks from the splice point to its trailer, shifted to start on a byte.
        let end = fileSize - 8
        var cursor = splice.byte
        let shift = UInt8(splice.bit)
        var carry: UInt8? = nil
        while cursor < end {
            let count = pread(descriptor, inBuffer, min(size, Int(end - cursor)), off_t(cursor))
            if count < 0 {
                if errno == EINTR { continue }
                throw .unreadable(path, String(cString: strerror(errno)))
            }
            if count == 0 { throw .corrupt(path, "the file shrank while it was being packed") }
            progress(cursor + Int64(count))
            if shift == 0 {
                try emit(UnsafeRawBufferPointer(start: inBuffer, count: count))
            } else {
                var produced = 0
                for index in 0..<count {
                    let byte = inBuffer[index]
                    if let previous = carry { outBuffer[produced] = (previous >> shift) | (byte << (8 - shift)); produced += 1 }
                    carry = byte
                }
                try emit(UnsafeRawBufferPointer(start: outBuffer, count: produced))
            }
            cursor += Int64(count)
        }
        if shift != 0, let last = carry {
            try emitArray([last >> shift])
        }

        // The trailer: CRC-32 and length of the new tar, from the parts' without inflating the copy.
        let restLength = facts.length - UInt64(splice.uncompressed)
        let restCRC = facts.crc ^ UInt32(crc32_combine(uLong(splice.crc), 0, off_t(restLength)))
        let crc = UInt32(crc32_combine(prefixCRC, uLong(restCRC), off_t(restLength)))
        let length = UInt32(truncatingIfNeeded: prefixLength + restLength)
        var trailer: [UInt8] = []
        for shift in stride(from: 0, to: 32, by: 8) { trailer.append(UInt8(truncatingIfNeeded: crc >> UInt32(shift))) }
        for shift in stride(from: 0, to: 32, by: 8) { trailer.append(UInt8(truncatingIfNeeded: length >> UInt32(shift))) }
        try emitArray(trailer)
        hashed = true
        return Result(bytesIn: fileSize, bytesOut: written, sha256: hasher.finish())
    }
}
