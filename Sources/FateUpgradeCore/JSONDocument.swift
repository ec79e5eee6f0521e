/// A JSON file parsed with the byte range of every value, so that one value can be rewritten while
/// every other byte (indentation, key order, spacing, line endings) stays as the site left it.
///
/// FATE reads `arch/conf/server_conf.json` with Python's `json.load`; what is accepted here is strict
/// RFC 8259, which is that minus NaN and Infinity. Duplicate keys are refused although Python keeps the
/// last one silently: with two `"host"` members, which one an edit should change is a guess.
public struct JSONDocument: Sendable {
    public indirect enum Node: Sendable, Hashable {
        /// `range`: the bytes from `{` to `}` inclusive.
        case object([Member], range: Range<Int>)
        case array([Node], range: Range<Int>)
        /// The decoded text; `range` includes the quotes.
        case string(String, range: Range<Int>)
        /// The text as written, so that `1.50` or `1e3` is never rewritten as another spelling.
        case number(String, range: Range<Int>)
        case bool(Bool, range: Range<Int>)
        case null(range: Range<Int>)

        /// Byte offsets in the document's `bytes` (a byte order mark counts).
        public var range: Range<Int> {
            switch self {
            case .object(_, let range), .array(_, let range), .string(_, let range), .number(_, let range), .bool(_, let range):
                range
            case .null(let range):
                range
            }
        }
    }

    public struct Member: Sendable, Hashable {
        public var key: String
        /// The key's bytes, quotes included.
        public var keyRange: Range<Int>
        public var value: Node

        public init(key: String, keyRange: Range<Int>, value: Node) {
            self.key = key
            self.keyRange = keyRange
            self.value = value
        }
    }

    /// Deeper nesting is refused: no configuration needs it, and a bound keeps hostile input from
    /// exhausting the stack of code that walks the tree.
    public static let maximumDepth = 512

    public let bytes: [UInt8]
    public let file: String
    public let root: Node

    public init(parsing bytes: [UInt8], file: String) throws(InputError) {
        var parser = JSONParser(bytes: bytes, file: file)
        root = try parser.document()
        self.bytes = bytes
        self.file = file
    }

    // MARK: - Reading

    /// The node at a path of object keys (array elements are not addressed: an array is one value).
    /// Keys compare by their Unicode scalars, as Python's do, not by Swift's canonical equivalence.
    public func node(at path: [String]) -> Node? {
        var node = root
        for key in path {
            guard case .object(let members, _) = node, let member = members.first(where: { Self.sameKey($0.key, key) }) else {
                return nil
            }
            node = member.value
        }
        return node
    }

    /// Every value that is not an object, with its path of keys: scalars and arrays (an array is one leaf).
    /// An empty object has no leaves.
    public func leaves() -> [(path: [String], node: Node)] {
        var found: [(path: [String], node: Node)] = []
        func walk(_ node: Node, _ path: [String]) {
            if case .object(let members, _) = node {
                for member in members { walk(member.value, path + [member.key]) }
            } else {
                found.append((path, node))
            }
        }
        walk(root, [])
        return found
    }

    /// The source text of a node, exactly as written.
    public func text(of node: Node) -> String {
        String(decoding: bytes[node.range], as: UTF8.self)
    }

    /// A canonical comparable form of a node: keys in order, no whitespace, numbers as written, strings
    /// decoded and re-encoded as Python's `json.dumps(ensure_ascii=True)` does (`\uXXXX` in lower case for
    /// everything outside printable ASCII but the short escapes), so that two spellings of one string
    /// compare equal and the form can be checked against Python's own reading of a file.
    public func canonical(_ node: Node) -> String {
        var out = ""
        Self.writeCanonical(node, to: &out)
        return out
    }

    // MARK: - Editing

    /// The document with the value at `path` replaced by `jsonText`, every other byte kept.
    ///
    /// `jsonText` must be one JSON value; it may span lines, and its line breaks are written as the file
    /// writes its own (LF or CRLF). Whitespace around it is dropped. The result is parsed again and must
    /// hold the new value at that path.
    public func replacing(_ path: [String], with jsonText: String) throws(InputError) -> [UInt8] {
        guard let old = node(at: path) else {
            throw InputError(SourceLocation(file: file), "no value at \(Self.describe(path)) to replace")
        }
        let value = try newValue(jsonText, for: path)
        var result = Array(bytes[..<old.range.lowerBound])
        result += value.bytes
        result += bytes[old.range.upperBound...]
        try check(result, holds: value.canonical, at: path)
        return result
    }

    /// The document with a new member `"key": jsonText` added at the end of the object at `objectPath`.
    ///
    /// The member is written in the layout of the object's last member: the same whitespace before its
    /// key (a line break as the file writes them, then that member's indentation) and the same spacing
    /// around the colon, with a comma added after the previous value. In an empty object the member goes
    /// on a line of its own, one level deeper than the line holding `{` (a level being the file's unit of
    /// indentation: a tab, or its narrowest run of spaces), and `}` on the next line at the `{` line's
    /// indentation. Throws if the key exists. The result is parsed again and must hold the value.
    public func inserting(key: String, jsonText: String, intoObjectAt objectPath: [String]) throws(InputError) -> [UInt8] {
        guard let target = node(at: objectPath) else {
            throw InputError(SourceLocation(file: file), "no object at \(Self.describe(objectPath)) to add \(Self.quoted(key)) to")
        }
        guard case .object(let members, let range) = target else {
            throw InputError(location(target.range.lowerBound), "\(Self.describe(objectPath)) is not an object, so \(Self.quoted(key)) cannot be added to it")
        }
        if let existing = members.first(where: { Self.sameKey($0.key, key) }) {
            throw InputError(location(existing.keyRange.lowerBound), "the key \(Self.quoted(key)) is already in \(Self.describe(objectPath))")
        }
        let value = try newValue(jsonText, for: objectPath + [key])
        let quotedKey = Array(Self.quoted(key).utf8)
        var insertion: [UInt8] = []
        let cut: Range<Int>
        if let last = members.last {
            var gapStart = last.keyRange.lowerBound
            while gapStart > 0, JSONParser.isWhitespace(bytes[gapStart - 1]) { gapStart -= 1 }
            let gap = bytes[gapStart..<last.keyRange.lowerBound]
            insertion.append(UInt8(ascii: ","))
            // Blank lines before the last member are its own business; the new one follows it directly.
            if let newline = gap.lastIndex(of: UInt8(ascii: "\n")) {
                insertion += lineBreak
                insertion += bytes[(newline + 1)..<last.keyRange.lowerBound]
            } else {
                insertion += gap
            }
            insertion += quotedKey
            insertion += bytes[last.keyRange.upperBound..<last.value.range.lowerBound]
            insertion += value.bytes
            cut = last.value.range.upperBound..<last.value.range.upperBound
        } else {
            let indentation = indentation(ofLineAt: range.lowerBound)
            insertion += lineBreak
            insertion += indentation
            insertion += indentationUnit
            insertion += quotedKey
            insertion += colonLayout
            insertion += value.bytes
            insertion += lineBreak
            insertion += indentation
            cut = (range.lowerBound + 1)..<(range.upperBound - 1)
        }
        var result = Array(bytes[..<cut.lowerBound])
        result += insertion
        result += bytes[cut.upperBound...]
        try check(result, holds: value.canonical, at: objectPath + [key])
        return result
    }

    /// JSON text for a string value: `"`, `\` and control characters escaped, everything else as is.
    public static func quoted(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar.value {
            case 0x22: out += "\\\""
            case 0x5C: out += "\\\\"
            case 0x0A: out += "\\n"
            case 0x0D: out += "\\r"
            case 0x09: out += "\\t"
            case 0x08: out += "\\b"
            case 0x0C: out += "\\f"
            case ..<0x20: out += "\\u" + hex4(scalar.value)
            default: out.unicodeScalars.append(scalar)
            }
        }
        out += "\""
        return out
    }

    // MARK: - Internals

    /// A path as an operator reads it in a message.
    static func describe(_ path: [String]) -> String {
        path.isEmpty ? "the top-level value" : path.joined(separator: ".")
    }

    static func sameKey(_ a: String, _ b: String) -> Bool {
        a.utf8.elementsEqual(b.utf8)
    }

    func location(_ offset: Int) -> SourceLocation {
        JSONParser.location(of: offset, in: bytes, file: file)
    }

    /// The file's own line break, taken from its first line; LF for a file of one line.
    var lineBreak: [UInt8] {
        guard let newline = bytes.firstIndex(of: UInt8(ascii: "\n")) else { return [UInt8(ascii: "\n")] }
        return newline > 0 && bytes[newline - 1] == UInt8(ascii: "\r") ? [0x0D, 0x0A] : [0x0A]
    }

    /// One level of indentation: a tab if the first indented line starts with one (FATE's files do),
    /// else the narrowest run of leading spaces (what `json.dump(indent=…)` wrote); a tab when nothing is indented.
    var indentationUnit: [UInt8] {
        var narrowest: Int? = nil
        var lineStart = bytes.starts(with: JSONParser.byteOrderMark) ? 3 : 0
        while lineStart < bytes.count {
            var end = lineStart
            while end < bytes.count, bytes[end] == UInt8(ascii: " ") || bytes[end] == UInt8(ascii: "\t") { end += 1 }
            let blank = end == bytes.count || bytes[end] == UInt8(ascii: "\n") || bytes[end] == UInt8(ascii: "\r")
            if !blank, end > lineStart {
                if bytes[lineStart] == UInt8(ascii: "\t") {
                    if narrowest == nil { return [UInt8(ascii: "\t")] }
                } else {
                    let spaces = bytes[lineStart..<end].prefix { $0 == UInt8(ascii: " ") }.count
                    if spaces > 0 { narrowest = min(narrowest ?? spaces, spaces) }
                }
            }
            guard let newline = bytes[lineStart...].firstIndex(of: UInt8(ascii: "\n")) else { break }
            lineStart = newline + 1
        }
        return narrowest.map { Array(repeating: UInt8(ascii: " "), count: $0) } ?? [UInt8(ascii: "\t")]
    }

    /// The leading spaces and tabs of the line that holds `offset`.
    func indentation(ofLineAt offset: Int) -> [UInt8] {
        var start = offset
        while start > 0, bytes[start - 1] != UInt8(ascii: "\n") { start -= 1 }
        if start == 0, bytes.starts(with: JSONParser.byteOrderMark) { start = 3 }
        var end = start
        while end < offset, bytes[end] == UInt8(ascii: " ") || bytes[end] == UInt8(ascii: "\t") { end += 1 }
        return Array(bytes[start..<end])
    }

    /// What the file writes between a key and its value, from its first member on one line; `": "` otherwise.
    var colonLayout: [UInt8] {
        var pending = [root]
        while let node = pending.popLast() {
            switch node {
            case .object(let members, _):
                if let first = members.first {
                    let layout = bytes[first.keyRange.upperBound..<first.value.range.lowerBound]
                    if !layout.contains(UInt8(ascii: "\n")) && !layout.contains(UInt8(ascii: "\r")) { return Array(layout) }
                }
                pending += members.reversed().map(\.value)
            case .array(let elements, _):
                pending += elements.reversed()
            default:
                break
            }
        }
        return Array(": ".utf8)
    }

    /// `jsonText` checked to be one JSON value on its own, trimmed, with the file's line breaks.
    /// Checking it alone matters: text such as `1, "extra": 2` would parse once spliced into an object.
    private func newValue(_ jsonText: String, for path: [String]) throws(InputError) -> (bytes: [UInt8], canonical: String) {
        var text = Array(jsonText.utf8)
        while let first = text.first, JSONParser.isWhitespace(first) { text.removeFirst() }
        while let last = text.last, JSONParser.isWhitespace(last) { text.removeLast() }
        if text.starts(with: JSONParser.byteOrderMark) {
            throw InputError(SourceLocation(file: file), "the new value for \(Self.describe(path)) starts with a byte order mark")
        }
        if bytes.contains(UInt8(ascii: "\n")) { text = Self.withLineBreaks(text, lineBreak) }
        let value: JSONDocument
        do {
            value = try JSONDocument(parsing: text, file: file)
        } catch {
            let at = error.location.line.map { " (line \($0), column \(error.location.column ?? 1) of the value)" } ?? ""
            throw InputError(SourceLocation(file: file), "the new value for \(Self.describe(path)) is not JSON: \(error.message)\(at)")
        }
        return (text, value.canonical(value.root))
    }

    private func check(_ result: [UInt8], holds canonical: String, at path: [String]) throws(InputError) {
        let edited: JSONDocument
        do {
            edited = try JSONDocument(parsing: result, file: file)
        } catch {
            throw InputError(error.location, "writing \(Self.describe(path)) would leave a file that is not JSON: \(error.message)")
        }
        guard let node = edited.node(at: path), edited.canonical(node) == canonical else {
            throw InputError(SourceLocation(file: file), "writing \(Self.describe(path)) would not leave the new value there")
        }
    }

    /// Whitespace inside JSON text may be any line break, so a multi-line value can follow the file's.
    static func withLineBreaks(_ text: [UInt8], _ lineBreak: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(text.count)
        for (index, byte) in text.enumerated() {
            if byte == UInt8(ascii: "\r"), index + 1 < text.count, text[index + 1] == UInt8(ascii: "\n") { continue }
            if byte == UInt8(ascii: "\n") { out += lineBreak } else { out.append(byte) }
        }
        return out
    }

    static func hex4(_ value: UInt32) -> String {
        let digits = String(value, radix: 16)
        return String(repeating: "0", count: max(0, 4 - digits.count)) + digits
    }

    private static func writeCanonical(_ node: Node, to out: inout String) {
        switch node {
        case .object(let members, _):
            out += "{"
            for (index, member) in members.enumerated() {
                if index > 0 { out += "," }
                writeCanonicalString(member.key, to: &out)
                out += ":"
                writeCanonical(member.value, to: &out)
            }
            out += "}"
        case .array(let elements, _):
            out += "["
            for (index, element) in elements.enumerated() {
                if index > 0 { out += "," }
                writeCanonical(element, to: &out)
            }
            out += "]"
        case .string(let text, _):
            writeCanonicalString(text, to: &out)
        case .number(let text, _):
            out += text
        case .bool(let value, _):
            out += value ? "true" : "false"
        case .null:
            out += "null"
        }
    }

    private static func writeCanonicalString(_ text: String, to out: inout String) {
        out += "\""
        for scalar in text.unicodeScalars {
            switch scalar.value {
            case 0x22: out += "\\\""
            case 0x5C: out += "\\\\"
            case 0x0A: out += "\\n"
            case 0x0D: out += "\\r"
            case 0x09: out += "\\t"
            case 0x08: out += "\\b"
            case 0x0C: out += "\\f"
            case 0x20...0x7E: out.unicodeScalars.append(scalar)
            case 0x10000...:
                let value = scalar.value - 0x10000
                out += "\\u" + hex4(0xD800 + (value >> 10)) + "\\u" + hex4(0xDC00 + (value & 0x3FF))
            default: out += "\\u" + hex4(scalar.value)
            }
        }
        out += "\""
    }
}

/// Strict RFC 8259, without recursion: containers being read are kept on an explicit stack, so depth is
/// bounded by `maximumDepth` and never by the thread's stack.
struct JSONParser {
    typealias Node = JSONDocument.Node
    typealias Member = JSONDocument.Member

    static let byteOrderMark: [UInt8] = [0xEF, 0xBB, 0xBF]

    let bytes: [UInt8]
    let file: String
    var index = 0

    init(bytes: [UInt8], file: String) {
        self.bytes = bytes
        self.file = file
    }

    /// A container whose closing bracket has not been read yet.
    private struct Open {
        var start: Int
        var isObject: Bool
        var members: [Member] = []
        var elements: [Node] = []
        var key = ""
        var keyRange = 0..<0
        /// By UTF-8 bytes, with the offset of the first: Swift's String equality would call `"é"` and
        /// `"e\u{301}"` one key, which Python keeps apart.
        var seen: [[UInt8]: Int] = [:]
    }

    mutating func document() throws(InputError) -> Node {
        try checkUTF8()
        if bytes.starts(with: Self.byteOrderMark) { index = 3 }
        skipWhitespace()
        guard index < bytes.count else { throw error(at: index, "no JSON value: the file is empty or only whitespace") }
        let root = try value()
        skipWhitespace()
        if index < bytes.count {
            if let problem = notJSON(at: index) { throw error(at: index, problem) }
            throw error(at: index, "unexpected \(describe(at: index)) after the top-level value, which ends on line \(line(of: root.range.upperBound - 1))")
        }
        return root
    }

    private mutating func value() throws(InputError) -> Node {
        var open: [Open] = []
        while true {
            var value: Node
            guard index < bytes.count else { throw endOfInput(open, "where a value is expected") }
            let byte = bytes[index]
            if byte == UInt8(ascii: "{") || byte == UInt8(ascii: "[") {
                guard open.count < JSONDocument.maximumDepth else {
                    throw error(at: index, "nesting deeper than \(JSONDocument.maximumDepth) levels")
                }
                let isObject = byte == UInt8(ascii: "{")
                let start = index
                index += 1
                skipWhitespace()
                if index < bytes.count, bytes[index] == UInt8(ascii: isObject ? "}" : "]") {
                    index += 1
                    value = isObject ? .object([], range: start..<index) : .array([], range: start..<index)
                } else {
                    open.append(Open(start: start, isObject: isObject))
                    if isObject { try key(into: &open[open.count - 1], afterComma: false, open) }
                    continue
                }
            } else {
                value = try scalar()
            }
            // The value may complete containers; stop where the next value starts.
            completing: while let top = open.indices.last {
                if open[top].isObject {
                    open[top].members.append(Member(key: open[top].key, keyRange: open[top].keyRange, value: value))
                } else {
                    open[top].elements.append(value)
                }
                skipWhitespace()
                let closer = UInt8(ascii: open[top].isObject ? "}" : "]")
                guard index < bytes.count else { throw endOfInput(open, "") }
                if bytes[index] == UInt8(ascii: ",") {
                    let comma = index
                    index += 1
                    skipWhitespace()
                    if index < bytes.count, bytes[index] == closer {
                        throw error(at: comma, "a trailing comma before '\(Character(Unicode.Scalar(closer)))'")
                    }
                    if open[top].isObject { try key(into: &open[top], afterComma: true, open) }
                    break completing
                }
                guard bytes[index] == closer else {
                    if let problem = notJSON(at: index) { throw error(at: index, problem) }
                    throw error(at: index, open[top].isObject ? "expected ',' or '}' after an object member, found \(describe(at: index))"
                                                             : "expected ',' or ']' after an array element, found \(describe(at: index))")
                }
                index += 1
                let done = open.removeLast()
                value = done.isObject ? .object(done.members, range: done.start..<index) : .array(done.elements, range: done.start..<index)
            }
            if open.isEmpty { return value }
        }
    }

    /// Reads `"key"` and its colon, leaving `index` where the value starts.
    private mutating func key(into container: inout Open, afterComma: Bool, _ open: [Open]) throws(InputError) {
        guard index < bytes.count else { throw endOfInput(open, "where a key is expected") }
        guard bytes[index] == UInt8(ascii: "\"") else {
            if let problem = notJSON(at: index) { throw error(at: index, problem) }
            let byte = bytes[index]
            if Self.isWordByte(byte) {
                throw error(at: index, "an unquoted key \(word(at: index)) (keys are written in double quotes)")
            }
            throw error(at: index, afterComma ? "expected a key in double quotes after ',', found \(describe(at: index))"
                                              : "expected a key in double quotes or '}', found \(describe(at: index))")
        }
        let start = index
        let text = try string()
        let keyBytes = Array(text.utf8)
        if let first = container.seen[keyBytes] {
            throw error(at: start, "a duplicate key \(JSONDocument.quoted(text)) (also on line \(line(of: first)))")
        }
        container.seen[keyBytes] = start
        container.key = text
        container.keyRange = start..<index
        skipWhitespace()
        guard index < bytes.count, bytes[index] == UInt8(ascii: ":") else {
            if index >= bytes.count { throw endOfInput(open, "after the key \(JSONDocument.quoted(text))") }
            throw error(at: index, "expected ':' after the key \(JSONDocument.quoted(text)), found \(describe(at: index))")
        }
        index += 1
        skipWhitespace()
    }

    private mutating func scalar() throws(InputError) -> Node {
        let start = index
        let byte = bytes[index]
        switch byte {
        case UInt8(ascii: "\""):
            let text = try string()
            return .string(text, range: start..<index)
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            return try number()
        default:
            if let problem = notJSON(at: index) { throw error(at: index, problem) }
            if Self.isWordByte(byte) {
                let word = word(at: index)
                switch word {
                case "true", "false", "null":
                    index += word.utf8.count
                    return word == "null" ? .null(range: start..<index) : .bool(word == "true", range: start..<index)
                case "True", "False", "None":
                    throw error(at: index, "\(word) is Python, not JSON (JSON writes \(word == "None" ? "null" : word.lowercased()))")
                case "NaN", "Infinity":
                    throw error(at: index, "\(word) is not a JSON number")
                default:
                    throw error(at: index, "unexpected word \(word), expected a value")
                }
            }
            throw error(at: index, "expected a value, found \(describe(at: index))")
        }
    }

    private mutating func number() throws(InputError) -> Node {
        let start = index
        if bytes[index] == UInt8(ascii: "-") {
            index += 1
            if bytes[index...].starts(with: "Infinity".utf8) { throw error(at: start, "-Infinity is not a JSON number") }
        }
        guard index < bytes.count, Self.isDigit(bytes[index]) else {
            throw error(at: index, "expected a digit after '-', found \(describe(at: index))")
        }
        if bytes[index] == UInt8(ascii: "0") {
            index += 1
            if index < bytes.count, Self.isDigit(bytes[index]) {
                var end = index
                while end < bytes.count, Self.isDigit(bytes[end]) { end += 1 }
                throw error(at: start, "a number with a leading zero: \(String(decoding: bytes[start..<end], as: UTF8.self))")
            }
        } else {
            while index < bytes.count, Self.isDigit(bytes[index]) { index += 1 }
        }
        if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
            index += 1
            guard index < bytes.count, Self.isDigit(bytes[index]) else {
                throw error(at: index, "expected a digit after the decimal point, found \(describe(at: index))")
            }
            while index < bytes.count, Self.isDigit(bytes[index]) { index += 1 }
        }
        if index < bytes.count, bytes[index] == UInt8(ascii: "e") || bytes[index] == UInt8(ascii: "E") {
            index += 1
            if index < bytes.count, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") { index += 1 }
            guard index < bytes.count, Self.isDigit(bytes[index]) else {
                throw error(at: index, "expected a digit in the exponent, found \(describe(at: index))")
            }
            while index < bytes.count, Self.isDigit(bytes[index]) { index += 1 }
        }
        return .number(String(decoding: bytes[start..<index], as: UTF8.self), range: start..<index)
    }

    /// Reads a string from its opening quote to past its closing one. The input is known to be UTF-8
    /// by now, and escapes add only scalars, so the decoded bytes are UTF-8 too.
    private mutating func string() throws(InputError) -> String {
        let opening = index
        index += 1
        var decoded: [UInt8] = []
        var run = index
        while true {
            guard index < bytes.count else { throw error(at: opening, "a string with no closing quote") }
            let byte = bytes[index]
            if byte == UInt8(ascii: "\"") {
                decoded += bytes[run..<index]
                index += 1
                return String(decoding: decoded, as: UTF8.self)
            }
            if byte < 0x20 {
                throw error(at: index, byte == UInt8(ascii: "\n") || byte == UInt8(ascii: "\r")
                                ? "a line break inside a string (a string ends on the line it starts; write \\n)"
                                : "a control character U+\(JSONDocument.hex4(UInt32(byte)).uppercased()) inside a string (write \\u\(JSONDocument.hex4(UInt32(byte))))")
            }
            guard byte == UInt8(ascii: "\\") else {
                index += 1
                continue
            }
            decoded += bytes[run..<index]
            let escape = index
            index += 1
            guard index < bytes.count else { throw error(at: opening, "a string with no closing quote") }
            switch bytes[index] {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): decoded.append(bytes[index])
            case UInt8(ascii: "b"): decoded.append(0x08)
            case UInt8(ascii: "f"): decoded.append(0x0C)
            case UInt8(ascii: "n"): decoded.append(0x0A)
            case UInt8(ascii: "r"): decoded.append(0x0D)
            case UInt8(ascii: "t"): decoded.append(0x09)
            case UInt8(ascii: "u"):
                guard let unit = hex4(at: index + 1) else {
                    throw error(at: escape, "expected four hex digits after \\u")
                }
                index += 4
                var value = unit
                if (0xD800..<0xDC00).contains(unit) {
                    guard index + 2 < bytes.count, bytes[index + 1] == UInt8(ascii: "\\"), bytes[index + 2] == UInt8(ascii: "u"),
                          let low = hex4(at: index + 3), (0xDC00..<0xE000).contains(low) else {
                        throw error(at: escape, "a lone surrogate \(String(decoding: bytes[escape..<escape + 6], as: UTF8.self)) in a string (a high surrogate must be followed by a low one)")
                    }
                    index += 6
                    value = 0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00)
                } else if (0xDC00..<0xE000).contains(unit) {
                    throw error(at: escape, "a lone surrogate \(String(decoding: bytes[escape..<escape + 6], as: UTF8.self)) in a string (a low surrogate must follow a high one)")
                }
                decoded += UTF8.encode(Unicode.Scalar(value)!)!
            default:
                let after = bytes[index]
                if (0x21...0x7E).contains(after) {
                    throw error(at: escape, "an invalid escape \\\(Character(Unicode.Scalar(after))) in a string")
                }
                throw error(at: escape, "a backslash before \(describe(at: index)) in a string, which is no escape")
            }
            index += 1
            run = index
        }
    }

    private func hex4(at offset: Int) -> UInt32? {
        guard offset + 4 <= bytes.count else { return nil }
        var value: UInt32 = 0
        for byte in bytes[offset..<offset + 4] {
            let digit: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
            default: return nil
            }
            value = value << 4 | UInt32(digit)
        }
        return value
    }

    /// What people write in JSON-like files that JSON does not have, named so the operator knows.
    private func notJSON(at offset: Int) -> String? {
        switch bytes[offset] {
        case UInt8(ascii: "'"):
            return "a single-quoted string (JSON strings are in double quotes)"
        case UInt8(ascii: "/") where offset + 1 < bytes.count && (bytes[offset + 1] == UInt8(ascii: "/") || bytes[offset + 1] == UInt8(ascii: "*")):
            return "a comment (JSON has no comments)"
        case UInt8(ascii: "#"):
            return "a comment (JSON has no comments)"
        default:
            return nil
        }
    }

    /// The error for input that ends inside a container, naming where the innermost one opened.
    private func endOfInput(_ open: [Open], _ context: String) -> InputError {
        let suffix = context.isEmpty ? "" : " \(context)"
        guard let innermost = open.last else { return error(at: index, "the file ends\(suffix)") }
        return error(at: index, "the file ends\(suffix) inside the \(innermost.isObject ? "object" : "array") opened on line \(line(of: innermost.start))")
    }

    /// Checked first, so that every later error is about JSON and not about bytes.
    private func checkUTF8() throws(InputError) {
        var parser = Unicode.UTF8.ForwardParser()
        var iterator = bytes.makeIterator()
        var offset = 0
        while true {
            switch parser.parseScalar(from: &iterator) {
            case .valid(let scalar): offset += scalar.count
            case .emptyInput: return
            case .error: throw error(at: offset, "not UTF-8 text")
            }
        }
    }

    private mutating func skipWhitespace() {
        while index < bytes.count, Self.isWhitespace(bytes[index]) { index += 1 }
    }

    static func isWhitespace(_ byte: UInt8) -> Bool {
        byte == 0x20 || byte == 0x0A || byte == 0x0D || byte == 0x09
    }

    static func isDigit(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
    }

    static func isWordByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
             UInt8(ascii: "_"), UInt8(ascii: "$"):
            true
        default:
            false
        }
    }

    /// The run of word characters at `offset`, cut short so a message stays one readable line.
    private func word(at offset: Int) -> String {
        var end = offset
        while end < bytes.count, end - offset < 40, Self.isWordByte(bytes[end]) { end += 1 }
        return String(decoding: bytes[offset..<end], as: UTF8.self) + (end < bytes.count && Self.isWordByte(bytes[end]) ? "…" : "")
    }

    /// The character at `offset` for a message: quoted if printable ASCII, else its code point.
    private func describe(at offset: Int) -> String {
        guard offset < bytes.count else { return "the end of the file" }
        let byte = bytes[offset]
        if (0x21...0x7E).contains(byte) { return "'\(Character(Unicode.Scalar(byte)))'" }
        var parser = Unicode.UTF8.ForwardParser()
        var iterator = bytes[offset...].makeIterator()
        guard case .valid(let encoded) = parser.parseScalar(from: &iterator) else { return "byte 0x\(String(byte, radix: 16))" }
        let scalar = UTF8.decode(encoded)
        let code = String(scalar.value, radix: 16).uppercased()
        let name = "U+" + String(repeating: "0", count: max(0, 4 - code.count)) + code
        return scalar.value == 0xFEFF ? "\(name) (a byte order mark)" : name
    }

    private func line(of offset: Int) -> Int {
        Self.location(of: offset, in: bytes, file: file).line ?? 1
    }

    private func error(at offset: Int, _ message: String) -> InputError {
        InputError(Self.location(of: offset, in: bytes, file: file), message)
    }

    /// 1-based line and column; the column counts bytes, a byte order mark included.
    static func location(of offset: Int, in bytes: [UInt8], file: String) -> SourceLocation {
        var line = 1
        var lineStart = 0
        for position in 0..<min(offset, bytes.count) where bytes[position] == UInt8(ascii: "\n") {
            line += 1
            lineStart = position + 1
        }
        return SourceLocation(file: file, line: line, column: offset - lineStart + 1)
    }
}
