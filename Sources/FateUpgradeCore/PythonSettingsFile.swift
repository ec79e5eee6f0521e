/// A literal value as Python builds it from source, for the kinds FATE's settings use.
public enum PythonValue: Hashable, Sendable {
    case string(String), bool(Bool), none, int(Int), list([PythonValue]), tuple([PythonValue])
}

/// `NAME = value` (or `NAME: type = value`) found in Python source.
public struct PythonAssignment: Hashable, Sendable {
    public var name: String
    /// 1-based line where the assignment starts.
    public var line: Int
    /// The right-hand side as written: logical line joined, comment removed, trimmed.
    public var source: String
    /// nil when the right-hand side is not a literal (a call, a name, an f-string, bytes, arithmetic…).
    public var value: PythonValue?
    /// Where the right-hand side is, in the file's text as `PythonSettingsFile.text` holds it.
    public var valueRange: Range<Int> = 0..<0
    /// How many names the statement binds (`A = B = 1` binds two).
    public var targets = 1

    public init(name: String, line: Int, source: String, value: PythonValue?) {
        self.name = name
        self.line = line
        self.source = source
        self.value = value
    }

    /// Two assignments are the same when they say the same thing on the same line; where the
    /// text sits is bookkeeping for edits.
    public static func == (lhs: PythonAssignment, rhs: PythonAssignment) -> Bool {
        lhs.name == rhs.name && lhs.line == rhs.line && lhs.source == rhs.source && lhs.value == rhs.value
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(name)
        hasher.combine(line)
        hasher.combine(source)
        hasher.combine(value)
    }
}

/// The literal settings of a Python file, read without running it.
///
/// FATE 1.4.0/1.4.1 keep their ZooKeeper settings as Python assignments, so an upgrade must read
/// them from source. Only what the interpreter would bind unconditionally on import counts:
/// module-level statements and statements directly in a class body. Anything under `def`, `if`,
/// `for`, `try`… depends on run-time state and is skipped rather than guessed at.
/// Nested classes are keyed by their qualified name (`Outer.Inner`), as Python's `__qualname__`.
public struct PythonSettingsFile: Sendable {
    public let file: String
    public let moduleAssignments: [PythonAssignment]
    public let classAssignments: [String: [PythonAssignment]]
    /// Assignments under `if`, `for`, `while`, `with` or `try` at module level (key "") or directly
    /// in a class body (key: the class): they may or may not run, so a name assigned there and
    /// elsewhere has no value that can be known without running the file.
    public let conditionalAssignments: [String: [PythonAssignment]]
    /// The file's text as it was read: UTF-8 checked, without a BOM, with LF line endings.
    public let text: [UInt8]

    enum Scope: Equatable { case module, classBody(String), conditional(owner: String), other }

    public init(parsing bytes: [UInt8], file: String) throws(InputError) {
        self.file = file
        let text = try PythonSettingsFile.sourceText(bytes, file: file)
        self.text = text
        var lexer = PythonLexer(text: text, file: file)
        let lines = try lexer.logicalLines()

        var module: [PythonAssignment] = []
        var classes: [String: [PythonAssignment]] = [:]
        var conditional: [String: [PythonAssignment]] = [:]
        var blocks: [(indent: Int, scope: Scope)] = [(0, .module)]
        var opened: Scope? = nil
        for line in lines {
            if let scope = opened, line.indent > blocks[blocks.count - 1].indent {
                blocks.append((line.indent, scope))
                // A second `class X` rebinds X: only the later body is what Python ends up with.
                if case .classBody(let name) = scope { classes[name] = [] }
            }
            opened = nil
            while blocks.count > 1, line.indent < blocks[blocks.count - 1].indent { blocks.removeLast() }
            let scope = blocks[blocks.count - 1].scope
            if let last = line.tokens.last, last.isOp(":") {
                opened = PythonSettingsFile.bodyScope(of: line.tokens, in: scope)
                continue
            }
            // A one-line body (`if x: Y = 1`) runs, or not, as a block does.
            if let header = PythonSettingsFile.oneLineBody(line.tokens),
               case .conditional(let owner) = PythonSettingsFile.bodyScope(of: Array(line.tokens[..<header]), in: scope) {
                conditional[owner, default: []] += PythonSettingsFile.assignments(in: Array(line.tokens[(header + 1)...]), text: text)
                continue
            }
            let found = PythonSettingsFile.assignments(in: line.tokens, text: text)
            switch scope {
            case .module: module += found
            case .classBody(let name): classes[name, default: []] += found
            case .conditional(let owner): conditional[owner, default: []] += found
            case .other: break
            }
        }
        self.moduleAssignments = module
        self.classAssignments = classes
        self.conditionalAssignments = conditional
    }

    /// Every assignment of a module-level name, conditional ones included, in line order.
    public func everyModuleAssignment(_ name: String) -> [PythonAssignment] {
        (moduleAssignments + (conditionalAssignments[""] ?? [])).filter { $0.name == name }.sorted { $0.line < $1.line }
    }

    /// Every assignment of a name in a class body, conditional ones included, in line order.
    public func everyClassAssignment(_ className: String, _ name: String) -> [PythonAssignment] {
        ((classAssignments[className] ?? []) + (conditionalAssignments[className] ?? []))
            .filter { $0.name == name }.sorted { $0.line < $1.line }
    }

    /// The index of the `:` ending a compound statement's header when a body follows on the same line.
    static func oneLineBody(_ tokens: [PythonToken]) -> Int? {
        guard let first = tokens.first, first.kind == .name, compoundKeywords.contains(first.text),
              first.text != "def", first.text != "class" else { return nil }
        guard let colon = depthZero(tokens[...], ":").first, colon + 1 < tokens.count else { return nil }
        return colon
    }

    /// The value the module ends up with: the last module-level assignment of the name.
    public func moduleValue(_ name: String) -> PythonAssignment? {
        moduleAssignments.last { $0.name == name }
    }

    /// The last assignment of the name directly in the class body.
    public func classValue(_ className: String, _ name: String) -> PythonAssignment? {
        classAssignments[className]?.last { $0.name == name }
    }

    // MARK: - Text

    /// Checks the bytes are UTF-8 and returns them without a BOM and with LF line endings, so
    /// that neither a BOM nor a `\r` from a file edited on Windows can end up in a name or value.
    static func sourceText(_ bytes: [UInt8], file: String) throws(InputError) -> [UInt8] {
        var parser = Unicode.UTF8.ForwardParser()
        var iterator = bytes.makeIterator()
        var offset = 0
        decoding: while true {
            switch parser.parseScalar(from: &iterator) {
            case .valid(let scalar): offset += scalar.count
            case .emptyInput: break decoding
            case .error:
                let line = bytes[..<offset].reduce(1) { $0 + ($1 == 0x0A ? 1 : 0) }
                throw InputError(SourceLocation(file: file, line: line), "not UTF-8 text")
            }
        }
        let start = bytes.starts(with: [0xEF, 0xBB, 0xBF]) ? 3 : 0
        var text: [UInt8] = []
        text.reserveCapacity(bytes.count)
        for index in start..<bytes.count
        where !(bytes[index] == 0x0D && index + 1 < bytes.count && bytes[index + 1] == 0x0A) {
            text.append(bytes[index])
        }
        return text
    }

    // MARK: - Statements

    static let keywords: Set<String> = [
        "False", "None", "True", "and", "as", "assert", "async", "await", "break", "class", "continue",
        "def", "del", "elif", "else", "except", "finally", "for", "from", "global", "if", "import", "in",
        "is", "lambda", "nonlocal", "not", "or", "pass", "raise", "return", "try", "while", "with", "yield",
    ]
    /// Statements whose one-line bodies (`if x: Y = 1`) run conditionally or later.
    static let compoundKeywords: Set<String> = [
        "if", "elif", "else", "for", "while", "with", "try", "except", "finally", "def", "class", "async",
    ]

    /// The scope of the block a header line opens: a class body keeps counting only when the
    /// class itself is defined unconditionally.
    static func bodyScope(of tokens: [PythonToken], in scope: Scope) -> Scope {
        guard scope != .other, let first = tokens.first else { return .other }
        if tokens.count > 2, first.isName("class"), tokens[1].kind == .name {
            switch scope {
            case .module: return .classBody(tokens[1].text)
            case .classBody(let outer): return .classBody(outer + "." + tokens[1].text)
            default: return .other
            }
        }
        // `if`, `for`, `while`, `with`, `try` and their clauses: what they hold may run.
        let conditional: Set<String> = ["if", "elif", "else", "for", "while", "with", "try", "except", "finally", "async"]
        guard first.kind == .name, conditional.contains(first.text),
              !(first.text == "async" && tokens.count > 1 && tokens[1].isName("def")) else { return .other }
        switch scope {
        case .module: return .conditional(owner: "")
        case .classBody(let name): return .conditional(owner: name)
        case .conditional(let owner): return .conditional(owner: owner)
        case .other: return .other
        }
    }

    static func assignments(in tokens: [PythonToken], text: [UInt8]) -> [PythonAssignment] {
        guard let first = tokens.first, !first.isOp("@"),
              !(first.kind == .name && compoundKeywords.contains(first.text)) else { return [] }
        var found: [PythonAssignment] = []
        var start = 0
        for end in depthZero(tokens[...], ";") + [tokens.count] {
            found += assignments(inStatement: tokens[start..<end], text: text)
            start = end + 1
        }
        return found
    }

    /// `A = B = value`: every `=` at bracket depth 0 ends a target, the rest is the value.
    static func assignments(inStatement statement: ArraySlice<PythonToken>, text: [UInt8]) -> [PythonAssignment] {
        var names: [String] = []
        var start = statement.startIndex
        for equals in depthZero(statement, "=") {
            let target = statement[start..<equals]
            // `f = lambda x=1: x`: the `=` of a default argument belongs to the value.
            if target.contains(where: { $0.isName("lambda") }) { break }
            if let name = targetName(target, annotated: start == statement.startIndex) { names.append(name) }
            start = equals + 1
        }
        let value = statement[start...]
        guard start > statement.startIndex, let first = statement.first, !value.isEmpty else { return [] }
        var parser = LiteralParser(tokens: value)
        let literal = parser.parseAll()
        let source = joinedSource(value, text: text)
        return names.map {
            var assignment = PythonAssignment(name: $0, line: first.line, source: source, value: literal)
            assignment.valueRange = value.first!.range.lowerBound..<value.last!.range.upperBound
            assignment.targets = names.count
            return assignment
        }
    }

    /// A bare name, or `NAME: annotation` as the first target; attributes, subscripts and
    /// tuples are not names the module or class binds.
    static func targetName(_ target: ArraySlice<PythonToken>, annotated: Bool) -> String? {
        guard let first = target.first, first.kind == .name, !keywords.contains(first.text) else { return nil }
        if target.count == 1 { return first.text }
        if annotated, target.count > 2, target[target.startIndex + 1].isOp(":") { return first.text }
        return nil
    }

    static func depthZero(_ tokens: ArraySlice<PythonToken>, _ op: String) -> [Int] {
        var depth = 0
        var found: [Int] = []
        for index in tokens.indices where tokens[index].kind == .op {
            switch tokens[index].text {
            case "(", "[", "{": depth += 1
            case ")", "]", "}": depth -= 1
            case op where depth == 0: found.append(index)
            default: break
            }
        }
        return found
    }

    /// The tokens as written, with each line break between them (and its comment or `\`)
    /// turned into one space, or nothing next to a bracket or comma.
    static func joinedSource(_ tokens: ArraySlice<PythonToken>, text: [UInt8]) -> String {
        var out: [UInt8] = []
        var previous: PythonToken? = nil
        for token in tokens {
            if let previous {
                let gap = text[previous.range.upperBound..<token.range.lowerBound]
                if !gap.contains(0x0A) {
                    out += gap
                } else if !(previous.isOp("(") || previous.isOp("[") || previous.isOp("{")
                            || token.isOp(")") || token.isOp("]") || token.isOp("}") || token.isOp(",")) {
                    out.append(0x20)
                }
            }
            out += text[token.range]
            previous = token
        }
        return String(decoding: out, as: UTF8.self)
    }
}

/// One token of Python source. Strings carry their decoded value, or nil for bytes, f-strings
/// and text Swift cannot hold (lone surrogates, `\N{…}`).
struct PythonToken: Sendable {
    enum Kind: Sendable { case name, number, string, op }
    var kind: Kind
    var text: String
    var range: Range<Int>
    var line: Int
    var stringValue: String? = nil

    func isOp(_ op: String) -> Bool { kind == .op && text == op }
    func isName(_ name: String) -> Bool { kind == .name && text == name }
}

/// Splits Python source into logical lines of tokens, as the interpreter's tokenizer does:
/// brackets and a trailing `\` join physical lines, blank and comment-only lines carry no
/// indentation, and a tab advances to the next multiple of 8.
struct PythonLexer {
    struct LogicalLine { var indent: Int; var tokens: [PythonToken] }

    let text: [UInt8]
    let file: String
    var position = 0
    var line = 1

    init(text: [UInt8], file: String) {
        self.text = text
        self.file = file
    }

    func fail(_ message: String, line: Int) -> InputError {
        InputError(SourceLocation(file: file, line: line), message)
    }

    static let operators3: Set<String> = ["**=", "//=", ">>=", "<<=", "..."]
    static let operators2: Set<String> = ["==", "!=", "<=", ">=", "+=", "-=", "*=", "/=", "%=", "&=", "|=",
                                          "^=", "@=", ":=", "->", "**", "//", "<<", ">>"]
    static let stringPrefixes: Set<String> = ["r", "u", "b", "f", "br", "rb", "fr", "rf", "t", "tr", "rt"]

    static func isNameByte(_ byte: UInt8) -> Bool {
        ShellParameterBlock.isNameByte(byte) || byte >= 0x80
    }

    mutating func logicalLines() throws(InputError) -> [LogicalLine] {
        var lines: [LogicalLine] = []
        var tokens: [PythonToken] = []
        var indent = 0
        var atLineStart = true
        var brackets: [(byte: UInt8, line: Int)] = []
        let end = text.count
        while position < end {
            if atLineStart {
                var column = 0
                measuring: while position < end {
                    switch text[position] {
                    case 0x20: column += 1
                    case 0x09: column = (column / 8 + 1) * 8
                    case 0x0C: column = 0
                    default: break measuring
                    }
                    position += 1
                }
                if position < end, text[position] == UInt8(ascii: "#") {
                    while position < end, text[position] != 0x0A { position += 1 }
                }
                if position == end { break }
                if text[position] == 0x0A {
                    position += 1
                    line += 1
                    continue
                }
                indent = column
                atLineStart = false
            }
            let c = text[position]
            let start = position
            switch c {
            case 0x20, 0x09, 0x0C, 0x0D:
                position += 1
            case UInt8(ascii: "#"):
                while position < end, text[position] != 0x0A { position += 1 }
            case 0x0A:
                position += 1
                line += 1
                if brackets.isEmpty {
                    if !tokens.isEmpty { lines.append(LogicalLine(indent: indent, tokens: tokens)) }
                    tokens = []
                    atLineStart = true
                }
            case UInt8(ascii: "\\"):
                guard position + 1 < end, text[position + 1] == 0x0A else {
                    throw fail("a \\ outside a string must end the line", line: line)
                }
                position += 2
                line += 1
            case UInt8(ascii: "'"), UInt8(ascii: "\""):
                tokens.append(try string(prefix: ""))
            case UInt8(ascii: "("), UInt8(ascii: "["), UInt8(ascii: "{"):
                brackets.append((c, line))
                position += 1
                tokens.append(token(.op, start))
            case UInt8(ascii: ")"), UInt8(ascii: "]"), UInt8(ascii: "}"):
                let closing = String(UnicodeScalar(c))
                guard let open = brackets.popLast() else { throw fail("unmatched '\(closing)'", line: line) }
                guard c == (open.byte == UInt8(ascii: "(") ? UInt8(ascii: ")") : open.byte + 2) else {
                    throw fail("'\(closing)' does not match '\(UnicodeScalar(open.byte))' opened on line \(open.line)", line: line)
                }
                position += 1
                tokens.append(token(.op, start))
            case _ where ShellParameterBlock.isNameStart(c) || c >= 0x80:
                while position < end, PythonLexer.isNameByte(text[position]) { position += 1 }
                let name = String(decoding: text[start..<position], as: UTF8.self)
                if position < end, text[position] == UInt8(ascii: "'") || text[position] == UInt8(ascii: "\""),
                   PythonLexer.stringPrefixes.contains(name.lowercased()) {
                    tokens.append(try string(prefix: name.lowercased()))
                } else {
                    tokens.append(token(.name, start))
                }
            case _ where (c >= 0x30 && c <= 0x39)
                || (c == UInt8(ascii: ".") && position + 1 < end && text[position + 1] >= 0x30 && text[position + 1] <= 0x39):
                let hex = c == UInt8(ascii: "0") && position + 1 < end && (text[position + 1] | 0x20) == UInt8(ascii: "x")
                while position < end, PythonLexer.isNameByte(text[position]) || text[position] == UInt8(ascii: ".") {
                    position += 1
                    // The exponent sign of `1e-3`, which is not `0x1e - 3`.
                    if !hex, (text[position - 1] | 0x20) == UInt8(ascii: "e"), position < end,
                       text[position] == UInt8(ascii: "+") || text[position] == UInt8(ascii: "-") {
                        position += 1
                    }
                }
                tokens.append(token(.number, start))
            default:
                let rest = text[position..<min(position + 3, end)]
                let three = String(decoding: rest, as: UTF8.self), two = String(decoding: rest.prefix(2), as: UTF8.self)
                position += PythonLexer.operators3.contains(three) ? 3 : PythonLexer.operators2.contains(two) ? 2 : 1
                tokens.append(token(.op, start))
            }
        }
        if let open = brackets.last {
            throw fail("'\(UnicodeScalar(open.byte))' is never closed", line: open.line)
        }
        if !tokens.isEmpty { lines.append(LogicalLine(indent: indent, tokens: tokens)) }
        return lines
    }

    func token(_ kind: PythonToken.Kind, _ start: Int) -> PythonToken {
        PythonToken(kind: kind, text: String(decoding: text[start..<position], as: UTF8.self), range: start..<position, line: line)
    }

    /// A string literal at `position` (just after any prefix), in single or triple quotes.
    mutating func string(prefix: String) throws(InputError) -> PythonToken {
        let start = position - prefix.utf8.count
        let startLine = line
        let quote = text[position]
        let end = text.count
        let triple = position + 2 < end && text[position + 1] == quote && text[position + 2] == quote
        var index = position + (triple ? 3 : 1)
        let bodyStart = index
        var bodyEnd = index
        while true {
            guard index < end else { throw fail("unterminated string", line: startLine) }
            let c = text[index]
            if c == UInt8(ascii: "\\") {
                // Even in a raw string a backslash keeps the next quote from closing it.
                if index + 1 < end, text[index + 1] == 0x0A { line += 1 }
                index += 2
                continue
            }
            if c == 0x0A {
                guard triple else { throw fail("unterminated string", line: startLine) }
                line += 1
            } else if c == quote, !triple || (index + 2 < end && text[index + 1] == quote && text[index + 2] == quote) {
                bodyEnd = index
                index += triple ? 3 : 1
                break
            }
            index += 1
        }
        position = index
        var token = PythonToken(kind: .string, text: String(decoding: text[start..<index], as: UTF8.self),
                                range: start..<index, line: startLine)
        // Bytes, f-strings and t-strings are not plain text known before running.
        if !prefix.contains("b"), !prefix.contains("f"), !prefix.contains("t") {
            let body = text[bodyStart..<bodyEnd]
            token.stringValue = prefix.contains("r") ? String(decoding: body, as: UTF8.self)
                                                     : try unescaped(body, line: startLine)
        }
        return token
    }

    /// The string a non-raw literal body stands for, or nil when Swift cannot represent it.
    func unescaped(_ body: ArraySlice<UInt8>, line: Int) throws(InputError) -> String? {
        var out: [UInt8] = []
        var index = body.startIndex
        func append(_ value: UInt32) -> Bool {
            guard let scalar = Unicode.Scalar(value) else { return false }
            Unicode.UTF8.encode(scalar) { out.append($0) }
            return true
        }
        func hex(_ count: Int) throws(InputError) -> UInt32 {
            let digits = body[(index + 2)..<min(index + 2 + count, body.endIndex)]
            guard digits.count == count, digits.allSatisfy({ Character(UnicodeScalar($0)).isHexDigit }),
                  let value = UInt32(String(decoding: digits, as: UTF8.self), radix: 16) else {
                throw fail("invalid \\\(UnicodeScalar(body[index + 1])) escape in a string", line: line)
            }
            return value
        }
        while index < body.endIndex {
            let c = body[index]
            guard c == UInt8(ascii: "\\") else {
                out.append(c)
                index += 1
                continue
            }
            let e = body[index + 1]
            switch e {
            case 0x0A: break
            case UInt8(ascii: "\\"), UInt8(ascii: "'"), UInt8(ascii: "\""): out.append(e)
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "a"): out.append(0x07)
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0C)
            case UInt8(ascii: "v"): out.append(0x0B)
            case UInt8(ascii: "0")...UInt8(ascii: "7"):
                var value: UInt32 = 0
                var digits = 0
                while digits < 3, index + 1 + digits < body.endIndex,
                      (UInt8(ascii: "0")...UInt8(ascii: "7")).contains(body[index + 1 + digits]) {
                    value = value * 8 + UInt32(body[index + 1 + digits] - UInt8(ascii: "0"))
                    digits += 1
                }
                _ = append(value)
                index += 1 + digits
                continue
            case UInt8(ascii: "x"), UInt8(ascii: "u"), UInt8(ascii: "U"):
                let count = e == UInt8(ascii: "x") ? 2 : e == UInt8(ascii: "u") ? 4 : 8
                let value = try hex(count)
                if value > 0x10FFFF { throw fail("invalid \\U escape in a string", line: line) }
                // A lone surrogate is valid Python but no Swift String can hold it.
                guard append(value) else { return nil }
                index += 2 + count
                continue
            case UInt8(ascii: "N"):
                return nil
            default:
                // Python keeps unknown escapes such as `\d` as they are.
                out += [c, e]
            }
            index += 2
        }
        return String(decoding: out, as: UTF8.self)
    }
}

/// Evaluates a right-hand side made only of literals; anything else gives nil.
struct LiteralParser {
    let tokens: ArraySlice<PythonToken>
    var index: Int
    /// Brackets and signs open now; past the limit a value is "not a literal" rather than a stack overflow.
    var depth = 0
    static let maximumDepth = 64

    init(tokens: ArraySlice<PythonToken>) {
        self.tokens = tokens
        self.index = tokens.startIndex
    }

    /// One value, or a bare tuple such as `1, 2`.
    mutating func parseAll() -> PythonValue? {
        guard let found = sequence(closing: nil), !found.items.isEmpty else { return nil }
        return found.items.count == 1 && !found.comma ? found.items[0] : .tuple(found.items)
    }

    /// Values separated by commas, a trailing comma allowed, up to `closing` (or the end).
    mutating func sequence(closing: String?) -> (items: [PythonValue], comma: Bool)? {
        var items: [PythonValue] = []
        var comma = false
        while true {
            if let closing, index < tokens.endIndex, tokens[index].isOp(closing) {
                index += 1
                return (items, comma)
            }
            if closing == nil, index == tokens.endIndex { return (items, comma) }
            guard let value = element() else { return nil }
            items.append(value)
            comma = false
            if index < tokens.endIndex, tokens[index].isOp(",") {
                index += 1
                comma = true
            } else if index == tokens.endIndex ? closing != nil : !tokens[index].isOp(closing ?? "") {
                return nil
            }
        }
    }

    mutating func element() -> PythonValue? {
        guard index < tokens.endIndex, depth < Self.maximumDepth else { return nil }
        depth += 1
        defer { depth -= 1 }
        let token = tokens[index]
        index += 1
        switch token.kind {
        case .string:
            // Adjacent literals are one string: `'a' "b"` is "ab".
            var text = token.stringValue
            while index < tokens.endIndex, tokens[index].kind == .string {
                if let head = text, let tail = tokens[index].stringValue { text = head + tail } else { text = nil }
                index += 1
            }
            return text.map(PythonValue.string)
        case .number:
            return LiteralParser.integer(token.text).map(PythonValue.int)
        case .name:
            switch token.text {
            case "True": return .bool(true)
            case "False": return .bool(false)
            case "None": return PythonValue.none
            default: return nil
            }
        case .op:
            switch token.text {
            case "[":
                return sequence(closing: "]").map { .list($0.items) }
            case "(":
                guard let found = sequence(closing: ")") else { return nil }
                return found.items.count == 1 && !found.comma ? found.items[0] : .tuple(found.items)
            case "-", "+":
                guard case .int(let value)? = element() else { return nil }
                if token.text == "+" { return .int(value) }
                let (negated, overflow) = value.multipliedReportingOverflow(by: -1)
                return overflow ? nil : .int(negated)
            default:
                return nil
            }
        }
    }

    /// Python's integer literal forms: `1_000`, `0x1F`, `0o17`, `0b101`; floats are not ints.
    static func integer(_ text: String) -> Int? {
        var digits = Substring(text)
        var radix = 10
        if digits.count > 2, digits.first == "0" {
            switch digits.dropFirst().first {
            case "x", "X": radix = 16
            case "o", "O": radix = 8
            case "b", "B": radix = 2
            default: break
            }
            if radix != 10 { digits = digits.dropFirst(2) }
        }
        guard !digits.isEmpty, digits.last != "_", !digits.contains("__"),
              radix != 10 || digits.first != "_" else { return nil }
        let plain = digits.filter { $0 != "_" }
        // `0123` is a syntax error in Python 3, so it is not a value either.
        if radix == 10, plain.count > 1, plain.first == "0", plain.contains(where: { $0 != "0" }) { return nil }
        guard plain.allSatisfy({ $0.isHexDigit }) else { return nil }
        return Int(plain, radix: radix)
    }
}
