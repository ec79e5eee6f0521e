/// The one edit pack makes to a package's tar stream: the script's member (its header blocks, data
/// and padding) is replaced by a new one, and every other byte passes as it is. The old member is
/// held until it has passed whole, so that pax global headers libarchive counted into its start
/// stay where they were: they apply to every entry after them, not to the script alone.
struct ScriptMemberEdit {
    /// Where the old member lies in the input's tar.
    let member: Range<Int64>
    let replacement: [UInt8]
    private var original: [UInt8] = []
    private(set) var isComplete = false
    /// Bytes of global headers kept from the old member's start.
    private(set) var keptGlobalHeaders = 0

    init(member: Range<Int64>, replacement: [UInt8]) {
        self.member = member
        self.replacement = replacement
    }

    /// How long the tar stream is after the edit, given the input's length.
    func editedLength(inputLength: UInt64) -> UInt64 {
        inputLength - UInt64(member.count) + UInt64(keptGlobalHeaders) + UInt64(replacement.count)
    }

    /// Passes `chunk`, which starts at `position` in the input's tar, to `emit`, the member replaced.
    mutating func route<E: Error>(_ chunk: UnsafeRawBufferPointer, at position: Int64,
                                  emit: (UnsafeRawBufferPointer) throws(E) -> Void) throws(E) {
        var offset = 0
        while offset < chunk.count {
            let here = position + Int64(offset)
            let take: Int
            if here < member.lowerBound {
                take = min(chunk.count - offset, Int(member.lowerBound - here))
                try emit(UnsafeRawBufferPointer(rebasing: chunk[offset..<(offset + take)]))
            } else if here < member.upperBound {
                take = min(chunk.count - offset, Int(member.upperBound - here))
                original += chunk[offset..<(offset + take)]
                if here + Int64(take) == member.upperBound {
                    keptGlobalHeaders = TarHeaderBlock.globalHeadersLength(atStartOf: original)
                    let kept = Array(original[..<keptGlobalHeaders])
                    original = []
                    isComplete = true
                    try kept.withBytes(emit)
                    try replacement.withBytes(emit)
                }
            } else {
                take = chunk.count - offset
                try emit(UnsafeRawBufferPointer(rebasing: chunk[offset...]))
            }
            offset += take
        }
    }
}

/// What pack reads of a raw 512-byte tar header itself: its type, its size field, its checksum.
enum TarHeaderBlock {
    static let size = 512

    /// A header block whose checksum field matches its bytes (ustar, GNU and v7 all sum the same way).
    static func isValid(_ block: ArraySlice<UInt8>) -> Bool {
        guard block.count == size, let recorded = number(block, field: 148..<156) else { return false }
        var sum: Int64 = 0
        for (index, byte) in block.enumerated() { sum += (148..<156).contains(index) ? 32 : Int64(byte) }
        return sum == recorded
    }

    /// An octal field (NUL- or space-terminated), or GNU's base-256 form (high bit of the first byte).
    static func number(_ block: ArraySlice<UInt8>, field: Range<Int>) -> Int64? {
        let bytes = block[(block.startIndex + field.lowerBound)..<(block.startIndex + field.upperBound)]
        if let first = bytes.first, first & 0x80 != 0 {
            var value: Int64 = Int64(first & 0x3F)
            for byte in bytes.dropFirst() {
                guard value < Int64.max >> 8 else { return nil }
                value = value << 8 | Int64(byte)
            }
            return value
        }
        var value: Int64 = 0
        var digits = 0
        for byte in bytes {
            if byte == 0x20 || byte == 0 { if digits > 0 { break } else { continue } }
            guard (0x30...0x37).contains(byte), value < Int64.max >> 3 else { return nil }
            value = value << 3 | Int64(byte - 0x30)
            digits += 1
        }
        return value
    }

    /// The length of the pax global headers (type `g`, each with its data) at the start of `bytes`.
    static func globalHeadersLength(atStartOf bytes: [UInt8]) -> Int {
        var offset = 0
        while offset + size <= bytes.count {
            let block = bytes[offset..<(offset + size)]
            guard block[block.startIndex + 156] == UInt8(ascii: "g"), isValid(block),
                  let length = number(block, field: 124..<136), length >= 0, length < Int64(bytes.count) else { break }
            let next = offset + size + Int((length + 511) / 512) * 512
            guard next <= bytes.count else { break }
            offset = next
        }
        return offset
    }
}

extension Array where Element == UInt8 {
    /// `withUnsafeBytes` for a body with a typed error (the standard one rethrows `any Error`).
    func withBytes<E: Error>(_ body: (UnsafeRawBufferPointer) throws(E) -> Void) throws(E) {
        let result: Result<Void, E> = withUnsafeBytes { buffer in
            do throws(E) { try body(buffer); return .success(()) } catch { return .failure(error) }
        }
        try result.get()
    }
}
