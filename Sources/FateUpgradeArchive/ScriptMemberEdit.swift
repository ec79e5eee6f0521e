/// The one edit pack makes to a package's tar stream: the script's member (its header blocks, data
/// and padding) is replaced, and every other byte passes as it is. The old member is held until it
/// has passed whole; the new one is that member with only its data and size changed (the header
/// blocks as the package's creator wrote them: GNU or pax, long names, base-256 numbers, pax
/// times), read back with libarchive before it is used. Pax global headers that libarchive counts
/// into the member's start stay where they were: they apply to every entry after them.
struct ScriptMemberEdit {
    /// Where the old member lies in the input's tar.
    let member: Range<Int64>
    let newData: [UInt8]
    private let path: String
    private var original: [UInt8] = []
    private(set) var isComplete = false
    /// The new member, once the old one has passed, with the global headers kept before it.
    private(set) var replacement: [UInt8] = []

    init(member: Range<Int64>, newData: [UInt8], path: String) {
        self.member = member
        self.newData = newData
        self.path = path
    }

    /// Passes `chunk`, which starts at `position` in the input's tar, to `emit`, the member replaced.
    mutating func route(_ chunk: UnsafeRawBufferPointer, at position: Int64,
                        emit: (UnsafeRawBufferPointer) throws(PackageError) -> Void) throws(PackageError) {
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
                    replacement = try TarMember.replacingData(of: original, with: newData, path: path)
                    try UpgradePackage.checkMember(original: original, edited: replacement, data: newData, path: path)
                    original = []
                    isComplete = true
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

/// A regular file's tar member as raw bytes: optional pax global headers, its extended headers
/// (pax `x`, GNU `L`/`K`), its header, data and padding.
enum TarMember {
    /// The same member with `data` instead: the header's size field and a pax `size=` record set
    /// to the new size and their checksums and lengths made right; every other byte kept.
    static func replacingData(of member: [UInt8], with data: [UInt8], path: String) throws(PackageError) -> [UInt8] {
        let failure = { (why: String) in PackageError.write(path, "the script's tar member cannot be rewritten (\(why)); please report this") }
        let globals = TarHeaderBlock.globalHeadersLength(atStartOf: member)
        var result = Array(member[..<globals])
        var offset = globals
        while true {
            guard offset + TarHeaderBlock.size <= member.count else { throw failure("it ends inside a header") }
            var block = Array(member[offset..<(offset + TarHeaderBlock.size)])
            guard TarHeaderBlock.isValid(block[...]), let size = TarHeaderBlock.number(block[...], field: 124..<136), size >= 0 else {
                throw failure("a header block at byte \(offset) does not check out")
            }
            let type = block[156]
            let dataStart = offset + TarHeaderBlock.size
            let dataEnd = dataStart + Int(size)
            guard dataEnd <= member.count else { throw failure("a header's data runs past the member") }
            let padded = dataStart + (Int(size) + 511) / 512 * 512
            switch type {
            case UInt8(ascii: "x"):
                // A pax extended header: its size= record, if any, gets the new size.
                let records = try PaxRecords.replacingSize(in: Array(member[dataStart..<dataEnd]), with: data.count, failure: failure)
                TarHeaderBlock.setSize(&block, records.count)
                result += block + records + [UInt8](repeating: 0, count: (512 - records.count % 512) % 512)
                offset = padded
            case UInt8(ascii: "L"), UInt8(ascii: "K"):
                result += member[offset..<padded]
                offset = padded
            case UInt8(ascii: "0"), 0, UInt8(ascii: "7"):
                guard padded == member.count else { throw failure("bytes follow the script's data") }
                TarHeaderBlock.setSize(&block, data.count)
                return result + block + data + [UInt8](repeating: 0, count: (512 - data.count % 512) % 512)
            default:
                throw failure("a header of type \(type) before the script's own")
            }
        }
    }
}

/// The records of a pax extended header: `LENGTH key=value\n`, LENGTH counting itself.
enum PaxRecords {
    static func replacingSize(in records: [UInt8], with size: Int, failure: (String) -> PackageError) throws(PackageError) -> [UInt8] {
        var result: [UInt8] = []
        var offset = 0
        while offset < records.count {
            guard let space = records[offset...].firstIndex(of: 0x20),
                  let length = Int(String(decoding: records[offset..<space], as: UTF8.self)), length > space - offset,
                  offset + length <= records.count, records[offset + length - 1] == 0x0A else {
                throw failure("a pax record at byte \(offset) is malformed")
            }
            let record = records[offset..<(offset + length)]
            if record[(space + 1)...].starts(with: Array("size=".utf8)) {
                result += Self.record(key: "size", value: String(size))
            } else {
                result += record
            }
            offset += length
        }
        return result
    }

    static func record(key: String, value: String) -> [UInt8] {
        let body = " \(key)=\(value)\n"
        var length = body.utf8.count + 1
        while String(length).count + body.utf8.count != length { length = String(length).count + body.utf8.count }
        return Array((String(length) + body).utf8)
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

    /// Writes `size` into the size field (11 octal digits, the field's own terminator kept) and
    /// the checksum that goes with it.
    static func setSize(_ block: inout [UInt8], _ size: Int) {
        let terminator = block[135] == 0x20 ? UInt8(0x20) : 0
        let digits = Array(String(size, radix: 8).utf8)
        let field = [UInt8](repeating: 0x30, count: 11 - digits.count) + digits + [terminator]
        block.replaceSubrange(124..<136, with: field)
        block.replaceSubrange(148..<156, with: [UInt8](repeating: 0x20, count: 8))
        let sum = block.reduce(0) { $0 + Int($1) }
        let checksum = Array(String(sum, radix: 8).utf8)
        block.replaceSubrange(148..<156, with: [UInt8](repeating: 0x30, count: 6 - checksum.count) + checksum + [0, 0x20])
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
