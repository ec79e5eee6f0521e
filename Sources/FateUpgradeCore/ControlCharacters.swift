/// Text shown on a terminal made inert: a file's content, a host name or a child's line may hold
/// an ESC or another control byte that a terminal would obey (clear the screen, retitle the
/// window, rewrite the line shown before). Each such byte is shown as `\xNN` instead; tabs, line
/// ends (and a CR before one) stay, and every other byte is left as it is.
public enum ControlCharacters {
    public static func escaped(_ bytes: [UInt8]) -> [UInt8] {
        guard bytes.contains(where: needsEscape) || containsC1(bytes) else { return bytes }
        var result: [UInt8] = []
        result.reserveCapacity(bytes.count + 16)
        var index = 0
        while index < bytes.count {
            let byte = bytes[index]
            let next = index + 1 < bytes.count ? bytes[index + 1] : nil
            if byte == 0x0D, next == 0x0A {
                result.append(byte)
            } else if needsEscape(byte) {
                result += visible(byte)
            } else if byte == 0xC2, let next, (0x80...0x9F).contains(next) {
                // A C1 control in UTF-8 (0x9B is a CSI to some terminals).
                result += visible(byte) + visible(next)
                index += 2
                continue
            } else {
                result.append(byte)
            }
            index += 1
        }
        return result
    }

    public static func escaped(_ text: String) -> String {
        String(decoding: escaped(Array(text.utf8)), as: UTF8.self)
    }

    private static func needsEscape(_ byte: UInt8) -> Bool {
        (byte < 0x20 && byte != 0x09 && byte != 0x0A) || byte == 0x7F
    }

    private static func containsC1(_ bytes: [UInt8]) -> Bool {
        zip(bytes, bytes.dropFirst()).contains { $0 == 0xC2 && (0x80...0x9F).contains($1) }
    }

    private static func visible(_ byte: UInt8) -> [UInt8] {
        let digits = Array("0123456789abcdef".utf8)
        return Array(#"\x"#.utf8) + [digits[Int(byte >> 4)], digits[Int(byte & 0x0F)]]
    }
}
