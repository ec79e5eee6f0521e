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
/// there on the input's compressed bytes are copied as they are, in the same bit phase (see
/// `SeamBlock`). Deflate's back-references reach at most 32 KiB back and are relative, and those
/// 32 KiB are the same tar bytes in both streams, so a decoder that reaches the boundary with the
/// same window and at the same bit phase decodes the copied bytes to exactly the input's tar bytes.
/// The trailer's CRC-32 is recombined from the input's (checked to its trailer by the scan) without
/// inflating what is copied.
///
/// Nothing is written before the result was checked: the new start and the seam are inflated
/// again from the bytes that will be written (with the first 64 KiB after the seam compared with
/// the input's), and when the copied part is small, the whole output is inflated, its trailer
/// included. A check that fails declines the fast path with the reason; the caller rewrites.
enum GzipSplice {
    struct Result {
        var bytesIn: Int64
        var bytesOut: Int64
        /// SHA-256 of the output, hashed on another thread as it was written.
        var sha256: String
        /// Tar bytes compressed anew.
        var recompressed: UInt64
        /// Compressed bytes of the input copied as they are.
        var copied: Int64
        /// Whether the whole output was inflated in the check (else its start, the seam and its end).
        var checkedWhole: Bool
    }

    enum Outcome {
        case written(Result)
        /// The fast path does not apply, or its check failed: why, in words.
        case declined(String, checkFailed: Bool)
    }

    /// Deflate's largest distance.
    static let window = 32 * 1024
    /// How much output after the seam the check compares with the input's.
    static let continuationLength = 64 * 1024
    /// Up to this many copied bytes, the check inflates the whole output.
    static let wholeCheckLimit: Int64 = 8 << 20
    /// A package with no usable boundary this far in is rewritten instead.
    static let headLimit = 64 << 20

    /// The output, decided: everything but the copied bytes, and what the check compares against.
    struct Plan {
        /// The gzip header, the new start compressed, the seam block (its last byte shared with
        /// the input's first copied byte).
        var head: [UInt8]
        /// Input bytes copied after the head: up to the input's trailer, never past it.
        var tail: Range<Int64>
        var trailer: [UInt8]
        var prefixLength: UInt64
        var prefixCRC: UInt32
        var length: UInt64
        /// Bits of the head's last byte that belong to the seam block (0: the copy starts on a byte).
        var bit: Int
        /// The input's last 32 KiB of tar before the splice point, and up to 64 KiB after it.
        var window: [UInt8]
        var continuation: [UInt8]
    }

    static func rewrite(input path: String, facts: GzipFacts, identity: FileIdentity, edit: ScriptMemberEdit, to sink: OutputSink, level: Int32,
                        progress: (Int64) -> Void, alteringPlan: ((inout Plan) -> Void)? = nil) throws(PackageError) -> Outcome {
        guard facts.members == 1 else { return .declined("the input has \(facts.members) gzip members", checkFailed: false) }
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw .unreadable(path, String(cString: strerror(errno))) }
        defer { close(descriptor) }
        try checkUnchanged(descriptor, identity: identity, path: path)

        var plan: Plan
        switch try Self.plan(descriptor: descriptor, path: path, facts: facts, edit: edit, level: level, progress: progress) {
        case .success(let planned): plan = planned
        case .failure(let declined): return .declined(declined.reason, checkFailed: false)
        }
        alteringPlan?(&plan)
        let checkedWhole: Bool
        switch check(plan, descriptor: descriptor, path: path, facts: facts) {
        case .success(let whole): checkedWhole = whole
        case .failure(let failure): return .declined("its check failed: \(failure.reason)", checkFailed: true)
        }

        try sink.write(plan.head)
        let size = 1 << 20
        let buffer = UnsafeMutablePointer<UInt8>.allocate(capacity: size)
        defer { buffer.deallocate() }
        var cursor = plan.tail.lowerBound
        while cursor < plan.tail.upperBound {
            let count = pread(descriptor, buffer, min(size, Int(plan.tail.upperBound - cursor)), off_t(cursor))
            if count < 0 {
                if errno == EINTR { continue }
                throw .unreadable(path, String(cString: strerror(errno)))
            }
            if count == 0 { throw .corrupt(path, "the file shrank while it was being packed") }
            try sink.write(UnsafeRawBufferPointer(start: buffer, count: count))
            cursor += Int64(count)
            progress(cursor)
        }
        try sink.write(plan.trailer)
        // What was copied is what the scan checked only if the file did not change meanwhile.
        try checkUnchanged(descriptor, identity: identity, path: path)
        return .written(Result(bytesIn: identity.size, bytesOut: sink.written, sha256: sink.finish(),
                               recompressed: plan.prefixLength, copied: plan.tail.upperBound - plan.tail.lowerBound,
                               checkedWhole: checkedWhole))
    }

    static func checkUnchanged(_ descriptor: Int32, identity: FileIdentity, path: String) throws(PackageError) {
        guard FileIdentity(descriptor: descriptor) == identity else {
            throw .unreadable(path, "the file changed while it was being packed; pack it again once nothing writes to it")
        }
    }

    struct Declined: Error { var reason: String }

    /// Reads the input to the splice point, compressing the edited tar up to there.
    static func plan(descriptor: Int32, path: String, facts: GzipFacts, edit original: ScriptMemberEdit, level: Int32,
                     progress: (Int64) -> Void) throws(PackageError) -> Swift.Result<Plan, Declined> {
        var edit = original
        let reader = try BlockInflater(path: path) { (buffer, capacity) throws(PackageError) in
            while true {
                let count = read(descriptor, buffer, capacity)
                if count < 0 && errno == EINTR { continue }
                if count < 0 { throw .unreadable(path, String(cString: strerror(errno))) }
                return count
            }
        }
        let deflater = try RawDeflater(level: level, path: path)
        var head: [UInt8] = [0x1F, 0x8B, 8, 0, 0, 0, 0, 0, level == 9 ? 2 : level == 1 ? 4 : 0, 3]
        var window: [UInt8] = []
        var position: Int64 = 0
        while true {
            let (chunk, status) = try reader.step(flush: Z_BLOCK)
            progress(reader.consumed)
            Self.slide(&window, chunk)
            try edit.route(chunk, at: position) { deflater.compress($0, into: &head) }
            position += Int64(chunk.count)
            if status == Z_STREAM_END {
                return .failure(Declined(reason: "no deflate block starts 32 KiB or more after the script (a small package)"))
            }
            if reader.atBoundary, !reader.inLastBlock, edit.isComplete, position >= edit.member.upperBound + Int64(Self.window) {
                break
            }
            if head.count > headLimit { return .failure(Declined(reason: "no deflate block boundary in the first 64 MiB after the script")) }
        }
        // The splice point: the byte where the next block starts, and the bits of it already used.
        let unused = reader.unusedBits
        let spliceByte = unused > 0 ? reader.consumed - 1 : reader.consumed
        let bit = unused > 0 ? 8 - unused : 0
        let spliceCRC = reader.crc
        let splicePosition = UInt64(position)
        var continuation: [UInt8] = []
        while continuation.count < continuationLength {
            let (chunk, status) = try reader.step(flush: Z_NO_FLUSH)
            continuation += UnsafeRawBufferPointer(rebasing: chunk[..<min(chunk.count, continuationLength - continuation.count)])
            if status == Z_STREAM_END { break }
        }

        deflater.compress(UnsafeRawBufferPointer(start: nil, count: 0), into: &head, flush: Z_SYNC_FLUSH)
        var tailStart = spliceByte
        if bit > 0 {
            var seam = SeamBlock.bytes(residue: bit)
            var shared: UInt8 = 0
            guard pread(descriptor, &shared, 1, off_t(spliceByte)) == 1 else { throw .unreadable(path, String(cString: strerror(errno))) }
            let low = UInt8((1 << bit) - 1)
            seam[seam.count - 1] = (seam[seam.count - 1] & low) | (shared & ~low)
            head += seam
            tailStart += 1
        }

        // The trailer: CRC-32 and length of the new tar, from the parts', without inflating the copy.
        let restLength = facts.length - splicePosition
        let restCRC = facts.crc ^ UInt32(crc32_combine(uLong(spliceCRC), 0, off_t(restLength)))
        let crc = UInt32(crc32_combine(uLong(deflater.crc), uLong(restCRC), off_t(restLength)))
        let length = deflater.length + restLength
        var trailer: [UInt8] = []
        for shift in stride(from: 0, to: 32, by: 8) { trailer.append(UInt8(truncatingIfNeeded: crc >> UInt32(shift))) }
        for shift in stride(from: 0, to: 32, by: 8) { trailer.append(UInt8(truncatingIfNeeded: length >> UInt64(shift))) }
        return .success(Plan(head: head, tail: tailStart..<facts.firstTrailer, trailer: trailer, prefixLength: deflater.length,
                             prefixCRC: deflater.crc, length: length, bit: bit, window: window, continuation: continuation))
    }

    /// Keeps the last 32 KiB of what passed.
    static func slide(_ window: inout [UInt8], _ chunk: UnsafeRawBufferPointer) {
        if chunk.count >= Self.window {
            window = Array(chunk[(chunk.count - Self.window)...])
        } else {
            let keep = min(window.count, Self.window - chunk.count)
            window.removeFirst(window.count - keep)
            window += chunk
        }
    }

    /// Inflates the output as it will be written (the head from memory, then the input's bytes
    /// that will be copied, then the trailer): the new start must end exactly where the copy
    /// begins, with the input's window and the CRC-32 of what was compressed, and what follows the
    /// seam must be the input's tar. Returns whether the whole output was inflated.
    static func check(_ plan: Plan, descriptor: Int32, path: String, facts: GzipFacts) -> Swift.Result<Bool, Declined> {
        // The copy ends at the input's trailer: those 8 bytes must be the CRC and length the scan found.
        var inputTrailer = [UInt8](repeating: 0, count: 8)
        guard pread(descriptor, &inputTrailer, 8, off_t(facts.firstTrailer)) == 8,
              inputTrailer == littleEndian(facts.crc) + littleEndian(UInt32(truncatingIfNeeded: facts.length)) else {
            return .failure(Declined(reason: "the input's trailer is not at byte \(facts.firstTrailer)"))
        }
        let whole = plan.tail.upperBound - plan.tail.lowerBound <= wholeCheckLimit
        var segment = 0  // the head, the copied bytes, the trailer
        var offset: Int64 = 0
        let reader: BlockInflater
        do {
            reader = try BlockInflater(path: path) { (buffer, capacity) throws(PackageError) in
                while segment < 3 {
                    switch segment {
                    case 0, 2:
                        let bytes = segment == 0 ? plan.head : plan.trailer
                        let count = min(capacity, bytes.count - Int(offset))
                        if count > 0 {
                            bytes.withUnsafeBytes { buffer.update(from: $0.baseAddress!.assumingMemoryBound(to: UInt8.self) + Int(offset), count: count) }
                            offset += Int64(count)
                            return count
                        }
                    default:
                        let end = whole ? plan.tail.upperBound : min(plan.tail.upperBound, plan.tail.lowerBound + 4 << 20)
                        let want = min(Int64(capacity), end - (plan.tail.lowerBound + offset))
                        if want > 0 {
                            let count = pread(descriptor, buffer, Int(want), off_t(plan.tail.lowerBound + offset))
                            if count < 0 && errno == EINTR { continue }
                            guard count > 0 else { throw .unreadable(path, count < 0 ? String(cString: strerror(errno)) : "it shrank") }
                            offset += Int64(count)
                            return count
                        }
                        if !whole { return 0 }
                    }
                    segment += 1
                    offset = 0
                }
                return 0
            }
        } catch {
            return .failure(Declined(reason: "\(error)"))
        }
        let seamUnused = plan.bit == 0 ? 0 : 8 - plan.bit
        var window: [UInt8] = []
        var seamPassed = false
        var compared = 0
        while true {
            let step: (chunk: UnsafeRawBufferPointer, status: Int32)
            do { step = try reader.step(flush: Z_BLOCK) } catch {
                return .failure(Declined(reason: "the output does not inflate at its byte \(reader.consumed): \(error)"))
            }
            let (chunk, status) = step
            if !seamPassed {
                guard reader.produced <= plan.prefixLength else {
                    return .failure(Declined(reason: "the new start does not end where the copy begins (byte \(plan.head.count))"))
                }
                Self.slide(&window, chunk)
                if reader.atBoundary, reader.produced == plan.prefixLength, reader.consumed == Int64(plan.head.count),
                   reader.unusedBits == seamUnused {
                    guard reader.crc == plan.prefixCRC else { return .failure(Declined(reason: "the new start inflates to other bytes than were compressed")) }
                    guard window == plan.window else { return .failure(Declined(reason: "the window before the seam differs from the input's")) }
                    seamPassed = true
                }
            } else if compared < plan.continuation.count {
                let count = min(chunk.count, plan.continuation.count - compared)
                guard plan.continuation.withUnsafeBytes({ memcmp($0.baseAddress! + compared, chunk.baseAddress!, count) == 0 }) else {
                    return .failure(Declined(reason: "after the seam the output inflates to other bytes than the input (at tar byte \(plan.prefixLength + UInt64(compared)))"))
                }
                compared += count
            }
            if status == Z_STREAM_END {
                // zlib has checked the trailer's CRC-32 and length against everything inflated.
                guard whole, seamPassed, compared == plan.continuation.count, reader.produced == plan.length,
                      (try? reader.isDrained()) == true else {
                    return .failure(Declined(reason: "the output ends early, at its byte \(reader.consumed)"))
                }
                return .success(true)
            }
            if !whole, seamPassed, compared == plan.continuation.count { return .success(false) }
            if chunk.isEmpty, reader.exhausted, !reader.atBoundary {
                return .failure(Declined(reason: "the output ends before its last block does"))
            }
        }
    }

    static func littleEndian(_ value: UInt32) -> [UInt8] {
        (0..<4).map { UInt8(truncatingIfNeeded: value >> UInt32($0 * 8)) }
    }
}

/// zlib's inflate over a source of compressed bytes, stepping block by block when asked (Z_BLOCK),
/// with the position of each stop in bytes and bits.
final class BlockInflater {
    private var stream = z_stream()
    private static let size = 256 * 1024
    private let input = UnsafeMutablePointer<UInt8>.allocate(capacity: BlockInflater.size)
    private let output = UnsafeMutablePointer<UInt8>.allocate(capacity: BlockInflater.size)
    private let path: String
    private let fill: (UnsafeMutablePointer<UInt8>, Int) throws(PackageError) -> Int
    /// The source has nothing more and every byte of it was taken.
    private(set) var exhausted = false
    private var sourceEnded = false

    init(path: String, fill: @escaping (UnsafeMutablePointer<UInt8>, Int) throws(PackageError) -> Int) throws(PackageError) {
        self.path = path
        self.fill = fill
        guard inflateInit2_(&stream, 16 + MAX_WBITS, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            input.deallocate(); output.deallocate()
            throw .unreadable(path, "zlib could not start")
        }
    }

    deinit {
        inflateEnd(&stream)
        input.deallocate()
        output.deallocate()
    }

    /// One call of inflate; the output is valid until the next step.
    func step(flush: Int32) throws(PackageError) -> (UnsafeRawBufferPointer, Int32) {
        if stream.avail_in == 0 && !sourceEnded {
            let count = try fill(input, Self.size)
            if count == 0 { sourceEnded = true }
            stream.next_in = input
            stream.avail_in = uInt(count)
        }
        stream.next_out = output
        stream.avail_out = uInt(Self.size)
        let status = inflate(&stream, flush)
        exhausted = sourceEnded && stream.avail_in == 0
        switch status {
        case Z_OK, Z_STREAM_END: break
        case Z_BUF_ERROR:
            if sourceEnded { throw .corrupt(path, "gzip: the data ends before the compressed stream does") }
        default:
            throw .corrupt(path, "gzip: \(stream.msg.map { String(cString: $0) } ?? "error \(status)")")
        }
        return (UnsafeRawBufferPointer(start: output, count: Self.size - Int(stream.avail_out)), status)
    }

    /// Every byte of the source was taken, and it has no more.
    func isDrained() throws(PackageError) -> Bool {
        guard stream.avail_in == 0 else { return false }
        if !sourceEnded, try fill(input, Self.size) == 0 { sourceEnded = true }
        return sourceEnded
    }

    /// Stopped right after a block (or the gzip header), before the next one.
    var atBoundary: Bool { stream.data_type & 128 != 0 }
    /// The block just decoded, or being decoded, is the stream's last.
    var inLastBlock: Bool { stream.data_type & 64 != 0 }
    /// Bits of the last byte taken that were not used.
    var unusedBits: Int { Int(stream.data_type & 7) }
    var consumed: Int64 { Int64(stream.total_in) }
    var produced: UInt64 { UInt64(stream.total_out) }
    /// The CRC-32 of everything inflated so far.
    var crc: UInt32 { UInt32(truncatingIfNeeded: stream.adler) }
}

/// Raw deflate (no header) into a byte array, with the CRC-32 and length of what went in.
final class RawDeflater {
    private var stream = z_stream()
    private static let size = 256 * 1024
    private let buffer = UnsafeMutablePointer<UInt8>.allocate(capacity: RawDeflater.size)
    private(set) var crc: UInt32 = 0
    private(set) var length: UInt64 = 0

    init(level: Int32, path: String) throws(PackageError) {
        guard deflateInit2_(&stream, level, Z_DEFLATED, -MAX_WBITS, 8, Z_DEFAULT_STRATEGY, ZLIB_VERSION,
                            Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            buffer.deallocate()
            throw .write(path, "zlib could not start")
        }
    }

    deinit {
        deflateEnd(&stream)
        buffer.deallocate()
    }

    func compress(_ bytes: UnsafeRawBufferPointer, into output: inout [UInt8], flush: Int32 = Z_NO_FLUSH) {
        if let base = bytes.baseAddress, !bytes.isEmpty {
            crc = UInt32(crc32(uLong(crc), base.assumingMemoryBound(to: UInt8.self), uInt(bytes.count)))
            length += UInt64(bytes.count)
        }
        stream.next_in = UnsafeMutablePointer(mutating: bytes.baseAddress?.assumingMemoryBound(to: UInt8.self))
        stream.avail_in = uInt(bytes.count)
        repeat {
            stream.next_out = buffer
            stream.avail_out = uInt(Self.size)
            deflate(&stream, flush)
            output += UnsafeBufferPointer(start: buffer, count: Self.size - Int(stream.avail_out))
        } while stream.avail_out == 0
    }
}
