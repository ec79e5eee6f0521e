/// One piece of a shell word, as the shell would see it in an assignment.
public enum ShellWordPart: Hashable, Sendable {
    /// Text the shell keeps as it is (quotes and escapes already removed).
    case literal(String)
    /// `$NAME` or `${NAME}`.
    case reference(String)
    /// A leading `~`, which the shell replaces with the home folder.
    case home
    /// Any other expansion (`$(…)`, `` `…` ``, `${x:-y}`, `$1`), kept verbatim.
    case expansion(String)
}

/// The value of a shell assignment, parsed into what the shell would make of it.
public struct ShellWord: Hashable, Sendable {
    public var parts: [ShellWordPart]

    public init(_ parts: [ShellWordPart]) {
        var merged: [ShellWordPart] = []
        for part in parts {
            if case .literal(let text) = part {
                if text.isEmpty { continue }
                if case .literal(let previous)? = merged.last {
                    merged[merged.count - 1] = .literal(previous + text)
                    continue
                }
            }
            merged.append(part)
        }
        self.parts = merged
    }

    /// The text the shell would assign, when it needs no expansion at all.
    public var literalValue: String? {
        var text = ""
        for part in parts {
            guard case .literal(let piece) = part else { return nil }
            text += piece
        }
        return text
    }

    /// Whether the value runs a command when assigned (`$(…)` or backquotes).
    public var runsCommand: Bool {
        parts.contains {
            if case .expansion(let raw) = $0 { return raw.hasPrefix("$(") || raw.hasPrefix("`") }
            return false
        }
    }

    /// The names this word refers to with `$NAME` / `${NAME}`.
    public var references: [String] {
        parts.compactMap { if case .reference(let name) = $0 { return name } else { return nil } }
    }

    /// Shell text that assigns exactly this word, under dash and bash alike.
    ///
    /// Literal text is left bare when it is made only of characters no shell treats specially
    /// (so `/data/projects/fate` stays as operators wrote it), and single-quoted otherwise;
    /// single quotes are the one quoting in which nothing, not even `\`, is special.
    public var shellText: String {
        var out = ""
        for (index, part) in parts.enumerated() {
            switch part {
            case .home:
                out += "~"
            case .literal(var text):
                // A tilde prefix ends at the first unquoted `/`: quoting that slash would
                // leave a literal `~`.
                if index > 0, parts[index - 1] == .home, text.hasPrefix("/") {
                    out += "/"
                    text.removeFirst()
                }
                if text.unicodeScalars.allSatisfy(ShellWord.isBare) {
                    out += text
                } else {
                    out += "'" + text.replacingAll("'", with: "'\\''") + "'"
                }
            case .reference(let name):
                // `$NAME` followed by a bare name character would read as a longer name.
                var needsBraces = false
                if index + 1 < parts.count, case .literal(let next) = parts[index + 1],
                   let first = next.unicodeScalars.first,
                   next.unicodeScalars.allSatisfy(ShellWord.isBare), ShellWord.isNameCharacter(first) {
                    needsBraces = true
                }
                out += needsBraces ? "${\(name)}" : "$\(name)"
            case .expansion(let raw):
                out += raw
            }
        }
        return out
    }

    static func isBare(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar {
        case "a"..."z", "A"..."Z", "0"..."9", "_", ".", "/", "-", "+", ",", ":", "@", "%", "=": return true
        default: return false
        }
    }

    static func isNameCharacter(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar {
        case "a"..."z", "A"..."Z", "0"..."9", "_": return true
        default: return false
        }
    }
}

/// The block of parameter assignments at the top of a FATE upgrade script, found by parsing.
///
/// FATE frames the block with two banner comment lines (`#####  请根据实际情况修改以下参数  #####`
/// and the closing `以上…` one). Without banners, the block is the first run of simple
/// assignments after the shebang, comments and `set` lines; it ends at the first line that is
/// anything else, or at an assignment that runs a command, such as `SCRIPT_PATH=$(…)`.
/// Every byte outside the assigned values is kept, so the script can be rewritten exactly.
public struct ShellParameterBlock: Sendable {
    public struct Assignment: Sendable {
        public var name: String
        /// 1-based line number in the script.
        public var line: Int
        /// Byte offsets of the value text in the script.
        public var valueRange: Range<Int>
        /// The value as written in the script.
        public var rawValue: String
        public var word: ShellWord
    }

    public enum Framing: Hashable, Sendable {
        /// Between banner comment lines (1-based line numbers).
        case banners(opening: Int, closing: Int)
        /// The first run of assignments after the preamble.
        case leadingAssignments
    }

    struct Line {
        var content: Range<Int>
        var terminator: Range<Int>
    }

    public let file: String
    public let bytes: [UInt8]
    public let assignments: [Assignment]
    public let framing: Framing
    /// First and last line (1-based) of the block.
    public let lines: ClosedRange<Int>
    /// Whether any line ends with CR LF.
    public let hasCRLF: Bool
    let scriptLines: [Line]

    public var names: [String] { assignments.map(\.name) }

    public func assignment(named name: String) -> Assignment? {
        assignments.first { $0.name == name }
    }

    public init(parsing bytes: [UInt8], file: String) throws(InputError) {
        self.file = file
        self.bytes = bytes
        let scriptLines = ShellParameterBlock.splitLines(bytes)
        self.scriptLines = scriptLines
        self.hasCRLF = scriptLines.contains { $0.terminator.count == 2 }
        if bytes.isEmpty {
            throw InputError(SourceLocation(file: file), "the script is empty")
        }
        // A carriage return is a line ending only right before LF (Windows); anywhere else it is part
        // of a line for the shell but would be taken for a line ending by an editor or a converter,
        // so the script would not be what it seems: refused, with the line.
        for index in bytes.indices where bytes[index] == UInt8(ascii: "\r") && index + 1 < bytes.count && bytes[index + 1] != UInt8(ascii: "\n") {
            let line = bytes[..<index].reduce(1) { $0 + ($1 == UInt8(ascii: "\n") ? 1 : 0) }
            throw InputError(SourceLocation(file: file, line: line), "cannot parse parameter block: a carriage return inside the line (not before its line feed): fix the line endings (dos2unix) first")
        }

        let classified = scriptLines.map { ShellParameterBlock.classify(bytes[$0.content]) }
        if let (opening, closing) = ShellParameterBlock.bannerPair(classified) {
            var found: [Assignment] = []
            for index in (opening + 1)..<closing {
                let location = SourceLocation(file: file, line: index + 1)
                switch classified[index] {
                case .blank, .comment, .banner: continue
                case .other:
                    throw InputError(location, "cannot parse parameter block: expected NAME=value between the banner lines \(opening + 1) and \(closing + 1)")
                case .assignment:
                    found.append(try ShellParameterBlock.parseAssignment(bytes, scriptLines[index], location))
                }
            }
            self.framing = .banners(opening: opening + 1, closing: closing + 1)
            self.assignments = found
            self.lines = (opening + 2)...(closing)
        } else {
            var index = 0
            // The preamble: shebang, comments, blank lines and `set -e`-style options.
            while index < classified.count {
                switch classified[index] {
                case .blank, .comment, .banner: index += 1; continue
                case .other where ShellParameterBlock.isSetCommand(bytes[scriptLines[index].content]):
                    index += 1; continue
                default: break
                }
                break
            }
            guard index < classified.count, classified[index] == .assignment,
                  !(try ShellParameterBlock.parseAssignment(bytes, scriptLines[index], SourceLocation(file: file, line: index + 1))).word.runsCommand
            else {
                let location = SourceLocation(file: file, line: min(index, classified.count - 1) + 1)
                throw InputError(location, "cannot parse parameter block: no NAME=value assignments after the shebang and comments, and no banner comment lines around them")
            }
            var found: [Assignment] = []
            var last = index
            scan: while index < classified.count {
                switch classified[index] {
                case .blank, .comment: break
                case .banner, .other: break scan
                case .assignment:
                    let location = SourceLocation(file: file, line: index + 1)
                    let assignment = try ShellParameterBlock.parseAssignment(bytes, scriptLines[index], location)
                    if assignment.word.runsCommand { break scan }
                    found.append(assignment)
                    last = index
                }
                index += 1
            }
            self.framing = .leadingAssignments
            self.assignments = found
            self.lines = (found[0].line)...(last + 1)
        }

        var seen: [String: Int] = [:]
        for assignment in assignments {
            if let first = seen[assignment.name] {
                throw InputError(SourceLocation(file: file, line: assignment.line),
                                 "cannot parse parameter block: \(assignment.name) is assigned twice (lines \(first) and \(assignment.line))")
            }
            seen[assignment.name] = assignment.line
        }
    }

    /// The script with new value text for some parameters; everything else byte for byte.
    /// With `normalizingLineEndings`, CR LF line endings become LF.
    public func rewritten(values: [String: String], normalizingLineEndings: Bool) -> [UInt8] {
        var edits: [(range: Range<Int>, bytes: [UInt8])] = assignments.compactMap { assignment in
            values[assignment.name].map { (assignment.valueRange, Array($0.utf8)) }
        }
        if normalizingLineEndings {
            edits += scriptLines.filter { $0.terminator.count == 2 || ($0.terminator.count == 1 && bytes[$0.terminator.lowerBound] == UInt8(ascii: "\r")) }
                .map { ($0.terminator, $0.terminator.count == 2 ? [UInt8(ascii: "\n")] : []) }
        }
        edits.sort { $0.range.lowerBound < $1.range.lowerBound }
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count + 64)
        var position = 0
        for edit in edits {
            out += bytes[position..<edit.range.lowerBound]
            out += edit.bytes
            position = edit.range.upperBound
        }
        out += bytes[position...]
        return out
    }

    /// The block's lines as text, without line endings.
    public func blockLines(of script: [UInt8]? = nil) -> [String] {
        let source = script ?? bytes
        let split = script == nil ? scriptLines : ShellParameterBlock.splitLines(source)
        return split[(lines.lowerBound - 1)..<min(lines.upperBound, split.count)].map {
            String(decoding: source[$0.content], as: UTF8.self)
        }
    }

    // MARK: - Lines

    static func splitLines(_ bytes: [UInt8]) -> [Line] {
        var result: [Line] = []
        var start = 0
        var index = 0
        while index < bytes.count {
            if bytes[index] == UInt8(ascii: "\n") {
                let crlf = index > start && bytes[index - 1] == UInt8(ascii: "\r")
                let contentEnd = crlf ? index - 1 : index
                result.append(Line(content: start..<contentEnd, terminator: contentEnd..<(index + 1)))
                start = index + 1
            }
            index += 1
        }
        if start < bytes.count {
            let crAtEnd = bytes[bytes.count - 1] == UInt8(ascii: "\r")
            let contentEnd = crAtEnd ? bytes.count - 1 : bytes.count
            result.append(Line(content: start..<contentEnd, terminator: contentEnd..<bytes.count))
        }
        return result
    }

    enum LineKind: Equatable { case blank, comment, banner, assignment, other }

    static func classify(_ line: ArraySlice<UInt8>) -> LineKind {
        let trimmed = line.drop { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\t") }
        guard let first = trimmed.first else { return .blank }
        if first == UInt8(ascii: "#") {
            // A banner is a comment line that starts with a row of #, like FATE's.
            return trimmed.prefix(4).allSatisfy { $0 == UInt8(ascii: "#") } && trimmed.count >= 4 ? .banner : .comment
        }
        // Assignments that the operator edits start at column 0: NAME=…
        guard trimmed.startIndex == line.startIndex else { return .other }
        var index = line.startIndex
        guard isNameStart(line[index]) else { return .other }
        while index < line.endIndex, isNameByte(line[index]) { index += 1 }
        return index < line.endIndex && line[index] == UInt8(ascii: "=") ? .assignment : .other
    }

    static func isSetCommand(_ line: ArraySlice<UInt8>) -> Bool {
        let text = String(decoding: line, as: UTF8.self)
        return text == "set" || text.hasPrefix("set ")
    }

    /// The first pair of consecutive banner lines with at least one assignment between them.
    static func bannerPair(_ kinds: [LineKind]) -> (Int, Int)? {
        let banners = kinds.indices.filter { kinds[$0] == .banner }
        for (opening, closing) in zip(banners, banners.dropFirst()) {
            if kinds[(opening + 1)..<closing].contains(.assignment) { return (opening, closing) }
        }
        return nil
    }

    static func isNameStart(_ byte: UInt8) -> Bool {
        (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A) || byte == 0x5F
    }

    static func isNameByte(_ byte: UInt8) -> Bool {
        isNameStart(byte) || (byte >= 0x30 && byte <= 0x39)
    }

    // MARK: - Assignments

    static func parseAssignment(_ bytes: [UInt8], _ line: Line, _ location: SourceLocation) throws(InputError) -> Assignment {
        var index = line.content.lowerBound
        while bytes[index] != UInt8(ascii: "=") { index += 1 }
        let name = String(decoding: bytes[line.content.lowerBound..<index], as: UTF8.self)
        let valueStart = index + 1
        var lexer = ShellWordLexer(bytes: bytes, position: valueStart, end: line.content.upperBound, location: location)
        let word = try lexer.word()
        let valueEnd = lexer.position
        // After the value: nothing, or blanks and a comment.
        var rest = valueEnd
        while rest < line.content.upperBound, bytes[rest] == UInt8(ascii: " ") || bytes[rest] == UInt8(ascii: "\t") { rest += 1 }
        if rest < line.content.upperBound && bytes[rest] != UInt8(ascii: "#") {
            let trailing = String(decoding: bytes[rest..<line.content.upperBound], as: UTF8.self)
            // A password's text is never shown, not even in a parse error.
            let shown = ParameterKind.of(name: name, current: nil).isSecret ? "more text (not shown: it may be the password)" : "`\(trailing)`"
            throw InputError(location, "cannot parse parameter block: \(name)= is followed by \(shown), not a single value")
        }
        return Assignment(name: name, line: location.line ?? 0, valueRange: valueStart..<valueEnd,
                          rawValue: String(decoding: bytes[valueStart..<valueEnd], as: UTF8.self), word: word)
    }
}

/// Reads one shell word the way sh does in an assignment: quotes, escapes and expansions.
struct ShellWordLexer {
    let bytes: [UInt8]
    var position: Int
    let end: Int
    let location: SourceLocation
    private var parts: [ShellWordPart] = []
    private var literal: [UInt8] = []

    init(bytes: [UInt8], position: Int, end: Int, location: SourceLocation) {
        self.bytes = bytes
        self.position = position
        self.end = end
        self.location = location
    }

    private func fail(_ message: String) -> InputError {
        InputError(location, "cannot parse parameter block: \(message)")
    }

    private mutating func flush() {
        if !literal.isEmpty { parts.append(.literal(String(decoding: literal, as: UTF8.self))) }
        literal.removeAll()
    }

    private func byte(_ offset: Int = 0) -> UInt8? {
        position + offset < end ? bytes[position + offset] : nil
    }

    mutating func word() throws(InputError) -> ShellWord {
        // A tilde prefix: `~` then `/` or the end of the word.
        if byte() == UInt8(ascii: "~") {
            let next = byte(1)
            if next == nil || next == UInt8(ascii: "/") || next == UInt8(ascii: " ") || next == UInt8(ascii: "\t") {
                parts.append(.home)
                position += 1
            }
        }
        loop: while let c = byte() {
            switch c {
            case UInt8(ascii: " "), UInt8(ascii: "\t"),
                 UInt8(ascii: ";"), UInt8(ascii: "&"), UInt8(ascii: "|"),
                 UInt8(ascii: "<"), UInt8(ascii: ">"), UInt8(ascii: "("), UInt8(ascii: ")"):
                break loop
            case UInt8(ascii: "\\"):
                guard let escaped = byte(1) else { throw fail("a line ending in \\ continues onto the next line; keep each parameter on one line") }
                literal.append(escaped)
                position += 2
            case UInt8(ascii: "'"):
                guard let close = bytes[(position + 1)..<end].firstIndex(of: UInt8(ascii: "'")) else {
                    throw fail("unterminated single quote")
                }
                literal += bytes[(position + 1)..<close]
                position = close + 1
            case UInt8(ascii: "\""):
                try doubleQuoted()
            case UInt8(ascii: "$"):
                try dollar()
            case UInt8(ascii: "`"):
                try backquoted()
            default:
                literal.append(c)
                position += 1
            }
        }
        flush()
        return ShellWord(parts)
    }

    private mutating func doubleQuoted() throws(InputError) {
        position += 1
        while let c = byte() {
            switch c {
            case UInt8(ascii: "\""):
                position += 1
                return
            case UInt8(ascii: "\\"):
                guard let escaped = byte(1) else { throw fail("unterminated double quote") }
                if [UInt8(ascii: "$"), UInt8(ascii: "`"), UInt8(ascii: "\""), UInt8(ascii: "\\")].contains(escaped) {
                    literal.append(escaped)
                } else {
                    literal += [c, escaped]
                }
                position += 2
            case UInt8(ascii: "$"):
                try dollar()
            case UInt8(ascii: "`"):
                try backquoted()
            default:
                literal.append(c)
                position += 1
            }
        }
        throw fail("unterminated double quote")
    }

    private mutating func dollar() throws(InputError) {
        let start = position
        guard let next = byte(1) else {
            literal.append(UInt8(ascii: "$"))
            position += 1
            return
        }
        if next == UInt8(ascii: "{") {
            guard let close = bytes[(position + 2)..<end].firstIndex(of: UInt8(ascii: "}")) else {
                throw fail("unterminated ${")
            }
            let inner = bytes[(position + 2)..<close]
            flush()
            if let first = inner.first, ShellParameterBlock.isNameStart(first), inner.allSatisfy(ShellParameterBlock.isNameByte) {
                parts.append(.reference(String(decoding: inner, as: UTF8.self)))
            } else {
                parts.append(.expansion(String(decoding: bytes[start...close], as: UTF8.self)))
            }
            position = close + 1
        } else if next == UInt8(ascii: "(") {
            var depth = 0
            var index = position + 1
            var quote: UInt8? = nil
            while index < end {
                let c = bytes[index]
                if let q = quote {
                    if c == q { quote = nil }
                } else if c == UInt8(ascii: "'") || c == UInt8(ascii: "\"") {
                    quote = c
                } else if c == UInt8(ascii: "(") {
                    depth += 1
                } else if c == UInt8(ascii: ")") {
                    depth -= 1
                    if depth == 0 { break }
                }
                index += 1
            }
            guard index < end else { throw fail("unterminated $(") }
            flush()
            parts.append(.expansion(String(decoding: bytes[start...index], as: UTF8.self)))
            position = index + 1
        } else if ShellParameterBlock.isNameStart(next) {
            var index = position + 1
            while index < end, ShellParameterBlock.isNameByte(bytes[index]) { index += 1 }
            flush()
            parts.append(.reference(String(decoding: bytes[(position + 1)..<index], as: UTF8.self)))
            position = index
        } else if (next >= 0x30 && next <= 0x39) || "@*#?$!-".utf8.contains(next) {
            flush()
            parts.append(.expansion(String(decoding: bytes[position...(position + 1)], as: UTF8.self)))
            position += 2
        } else {
            literal.append(UInt8(ascii: "$"))
            position += 1
        }
    }

    private mutating func backquoted() throws(InputError) {
        var index = position + 1
        while index < end, bytes[index] != UInt8(ascii: "`") {
            index += bytes[index] == UInt8(ascii: "\\") ? 2 : 1
        }
        guard index < end else { throw fail("unterminated backquote") }
        flush()
        parts.append(.expansion(String(decoding: bytes[position...index], as: UTF8.self)))
        position = index + 1
    }
}

extension String {
    func replacingAll(_ target: Character, with replacement: String) -> String {
        var out = ""
        for character in self { if character == target { out += replacement } else { out.append(character) } }
        return out
    }
}
