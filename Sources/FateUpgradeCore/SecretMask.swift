/// Hides a secret in bytes whatever they are: a child's line need not be UTF-8 (a `set -x` trace
/// with a Latin-1 byte on it), so the match is on bytes, never on decoded text. Each byte of the
/// secret is found as itself or in any form a shell or a URL writes it: backslash-escaped (`printf
/// %q`), inside `$'…'` as an octal, hex or C escape, a `'` closed and reopened (`'\''`, `'"'"'`,
/// as `set -x` writes it), percent-encoded in either case, `+` for a blank.
public struct SecretMask: Sendable {
    public let mask: [UInt8]
    /// For each byte of the secret, the byte strings that stand for it, longest first.
    let alternatives: [[[UInt8]]]

    public init(_ secret: String, mask: String = ShellParameterBlock.mask) {
        self.mask = Array(mask.utf8)
        alternatives = Array(secret.utf8).map(Self.forms)
    }

    public var isEmpty: Bool { alternatives.isEmpty }

    /// `bytes` with every occurrence of the secret, in any of its forms, replaced by the mask.
    public func apply(_ bytes: [UInt8]) -> [UInt8] {
        guard !alternatives.isEmpty, !bytes.isEmpty else { return bytes }
        var result: [UInt8] = []
        result.reserveCapacity(bytes.count)
        var index = 0
        while index < bytes.count {
            if let end = match(bytes, from: index, byte: 0) {
                result += mask
                index = end
            } else {
                result.append(bytes[index])
                index += 1
            }
        }
        return result
    }

    /// `text` with every form hidden.
    public func apply(_ text: String) -> String {
        guard !alternatives.isEmpty else { return text }
        return String(decoding: apply(Array(text.utf8)), as: UTF8.self)
    }

    /// Where the secret's bytes from `byte` on, in any of their forms, end when they start at
    /// `position`; nil when they do not. Backtracks: one byte's longer form may hide the next.
    private func match(_ bytes: [UInt8], from position: Int, byte: Int) -> Int? {
        if byte == alternatives.count { return position }
        for form in alternatives[byte] where form.count <= bytes.count - position {
            guard bytes[position] == form[0], bytes[position..<(position + form.count)].elementsEqual(form) else { continue }
            if let end = match(bytes, from: position + form.count, byte: byte + 1) { return end }
        }
        return nil
    }

    private static func forms(of byte: UInt8) -> [[UInt8]] {
        let backslash = UInt8(ascii: "\\")
        var forms: Set<[UInt8]> = [[byte], [backslash, byte], octal(byte), Array(#"\x"#.utf8) + hexDigits(byte, upper: false),
                                   Array(#"\x"#.utf8) + hexDigits(byte, upper: true), Array("%".utf8) + hexDigits(byte, upper: true),
                                   Array("%".utf8) + hexDigits(byte, upper: false)]
        let names: [UInt8: String] = [0x07: "a", 0x08: "b", 0x09: "t", 0x0A: "n", 0x0B: "v", 0x0C: "f", 0x0D: "r", 0x1B: "E"]
        if let name = names[byte] { forms.insert([backslash] + Array(name.utf8)) }
        if byte == 0x1B { forms.insert(Array(#"\e"#.utf8)) }
        if byte == 0x20 { forms.insert(Array("+".utf8)) }
        if byte == UInt8(ascii: "'") {
            forms.insert(Array(#"'\''"#.utf8))
            forms.insert(Array(#"'"'"'"#.utf8))
        }
        return forms.sorted { $0.count > $1.count || ($0.count == $1.count && $0.lexicographicallyPrecedes($1)) }
    }

    private static func hexDigits(_ byte: UInt8, upper: Bool) -> [UInt8] {
        let digits = Array((upper ? "0123456789ABCDEF" : "0123456789abcdef").utf8)
        return [digits[Int(byte >> 4)], digits[Int(byte & 0x0F)]]
    }

    private static func octal(_ byte: UInt8) -> [UInt8] {
        [UInt8(ascii: "\\"), 0x30 + (byte >> 6), 0x30 + ((byte >> 3) & 7), 0x30 + (byte & 7)]
    }
}
