/// The join between pack's compressed-anew start and the input's copied deflate blocks.
///
/// The copied blocks must keep the bit phase they had in the input (the block boundary at bit
/// `residue` of a byte): a stored block pads to the next byte boundary, so copying the input's bits
/// shifted to another phase would misplace every stored block's length and data after it. The new
/// start ends on a byte (a sync flush), and this block fills from there to the input's phase: an
/// empty, non-final deflate block with dynamic Huffman codes whose length in bits leaves exactly
/// `residue` bits in its last byte. Its codes are complete (literal/length lengths 8 and 9, two
/// one-bit distance codes, as zlib itself always sends), so strict decoders take it too.
enum SeamBlock {
    /// The block's bytes, least significant bit first; the last byte holds the block's final
    /// `residue` bits in its low bits and zeros above them. `residue` is 1...7.
    static func bytes(residue: Int) -> [UInt8] {
        precondition((1...7).contains(residue))
        // 263 bits with every run of repeated lengths six long; each run of five instead (and one
        // more literal length) adds a bit.
        let fives = (residue + 1) % 8
        var writer = BitWriter()
        writer.put(0, 1)  // not the final block
        writer.put(2, 2)  // dynamic Huffman codes
        writer.put(257 - 257, 5)  // HLIT: 257 literal/length codes
        writer.put(2 - 1, 5)  // HDIST: 2 distance codes
        writer.put(18 - 4, 4)  // HCLEN: 18 code length code lengths
        // The code length code: 8 → 0, 16 → 10, 1 → 110, 9 → 111 (canonical for lengths 1, 2, 3, 3).
        let lengthOf: [Int: UInt32] = [8: 1, 16: 2, 1: 3, 9: 3]
        for symbol in [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1] {
            writer.put(lengthOf[symbol] ?? 0, 3)
        }
        let eight = (code: UInt32(0b0), length: 1), repeatPrevious = (code: UInt32(0b10), length: 2)
        let one = (code: UInt32(0b110), length: 3), nine = (code: UInt32(0b111), length: 3)
        // Literals 0...254 have length 8: one 8, runs of the same, literal 8s; then 9, 9 for 255
        // and 256 (end of block); then 1, 1 for the two distance codes.
        writer.code(eight.code, eight.length)
        for run in 0..<42 {
            writer.code(repeatPrevious.code, repeatPrevious.length)
            writer.put(run < fives ? 5 - 3 : 6 - 3, 2)
        }
        for _ in 0..<(2 + fives) { writer.code(eight.code, eight.length) }
        writer.code(nine.code, nine.length)
        writer.code(nine.code, nine.length)
        writer.code(one.code, one.length)
        writer.code(one.code, one.length)
        // The data: only the end of block, symbol 256, the last 9-bit code (all ones).
        writer.code(0b1_1111_1111, 9)
        let (bytes, bitsInLast) = writer.finish()
        assert(bitsInLast == residue)
        return bytes
    }
}

/// Bits packed least significant first, as deflate stores them.
struct BitWriter {
    private(set) var bytes: [UInt8] = []
    private var buffer: UInt32 = 0
    private var count = 0

    /// `width` bits of `value`, low bit first (deflate's header fields and extra bits).
    mutating func put(_ value: UInt32, _ width: Int) {
        buffer |= value << UInt32(count)
        count += width
        while count >= 8 {
            bytes.append(UInt8(truncatingIfNeeded: buffer))
            buffer >>= 8
            count -= 8
        }
    }

    /// A Huffman code, which deflate stores from its most significant bit.
    mutating func code(_ code: UInt32, _ length: Int) {
        var reversed: UInt32 = 0
        for bit in 0..<length { reversed |= ((code >> UInt32(bit)) & 1) << UInt32(length - 1 - bit) }
        put(reversed, length)
    }

    /// The bytes, the last one partial, and how many of its bits are used (8 when it is full).
    mutating func finish() -> (bytes: [UInt8], bitsInLast: Int) {
        if count > 0 {
            bytes.append(UInt8(truncatingIfNeeded: buffer))
            let used = count
            buffer = 0
            count = 0
            return (bytes, used)
        }
        return (bytes, 8)
    }
}
