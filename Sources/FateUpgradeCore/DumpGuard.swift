/// What a restore may feed the mysql client: only what mysqldump and mariadb-dump write for the
/// fate_flow tables. Everything else is refused with its line before anything changes. A dump is
/// input from a folder the FATE user owns, and the client runs what it reads (`\!` runs a shell).
/// Allowed:
/// - comments;
/// - `SET` of session variables;
/// - `DROP TABLE IF EXISTS`, `CREATE TABLE`, `LOCK TABLES … WRITE`, `UNLOCK TABLES`;
/// - `INSERT INTO … VALUES` of literals;
/// - `ALTER TABLE … DISABLE|ENABLE KEYS`.
///
/// Each of them may name only the known tables, unqualified. Streaming: fed the inflated dump in
/// chunks, in bounded memory.
public struct DumpGuard: Sendable {
    public struct Refusal: Error, Sendable, Hashable, CustomStringConvertible {
        public var line: Int
        public var reason: String
        public var description: String { "line \(line): \(reason)" }
    }

    /// The tables the dump may create and fill (the snapshot's, as recorded when it was taken);
    /// nil while it is being taken: any table, unqualified.
    public let tables: Set<String>?
    public private(set) var refusal: Refusal?
    public private(set) var statements = 0

    private enum State: Sendable { case code, string(UInt8), escapeInString(UInt8), lineComment, blockComment, blockCommentStar, identifier }
    private var state = State.code
    private var line = 1
    private var statementLine = 1
    /// The statement so far outside strings (strings as `''`), its first bytes only.
    private var head: [UInt8] = []
    private var headFull = false
    /// After `VALUES`: only literals may follow.
    private var inValues = false
    private var word: [UInt8] = []
    private var identifier: [UInt8] = []
    private var previous: UInt8 = 0
    /// Inside `/*!NNNNN … */`: code the server runs, so checked as code.
    private var versionedComment = false
    private var commentStart: [UInt8] = []
    private var decidingComment = false

    /// Beyond this, a statement outside an INSERT's values is refused: no CREATE TABLE of fate_flow's is near it.
    private static let headLimit = 64 << 10

    public init(tables: Set<String>?) { self.tables = tables }

    public mutating func feed(_ bytes: UnsafeRawBufferPointer) {
        for byte in bytes where refusal == nil { step(byte) }
    }

    public mutating func feed(_ bytes: [UInt8]) { bytes.withUnsafeBytes { feed($0) } }

    /// At the end of the dump: what is left must be nothing but blanks.
    public mutating func finish() -> Refusal? {
        if refusal == nil {
            switch state {
            case .code, .lineComment:
                if !String(decoding: head, as: UTF8.self).allSatisfy(\.isWhitespace) { refuse("the dump ends inside a statement (cut?)") }
            default: refuse("the dump ends inside a string or a comment (cut?)")
            }
        }
        return refusal
    }

    private mutating func refuse(_ reason: String, at: Int? = nil) {
        if refusal == nil { refusal = Refusal(line: at ?? statementLine, reason: reason) }
    }

    private mutating func keep(_ byte: UInt8) {
        if head.count < Self.headLimit { head.append(byte) } else { headFull = true }
    }

    private mutating func step(_ byte: UInt8) {
        defer { if byte == 0x0A { line += 1 } }
        switch state {
        case .string(let quote):
            if byte == 0x5C { state = .escapeInString(quote) } else if byte == quote { state = .code }
            return
        case .escapeInString(let quote):
            state = .string(quote)
            return
        case .identifier:
            if byte == 0x60 { state = .code; keep(0x60); identifier.removeAll() } else { keep(byte) }
            return
        case .lineComment:
            if byte == 0x0A { state = .code }
            return
        case .blockComment:
            // Decided by its first bytes: `/*!NNNNN` and `/*M!NNNNNN` are code the server runs
            // (checked as code); mariadb-dump's `/*M!999999\- enable the sandbox mode */` turns the
            // client's commands off (welcome); the rest are comments.
            if decidingComment {
                commentStart.append(byte)
                let sandbox = Array("M!999999\\-".utf8)
                if commentStart == [0x21] { decidingComment = false; versionedComment = true; state = .code; skipVersion = true; return }
                if commentStart.first == 0x4D {
                    if commentStart.count <= sandbox.count, sandbox.starts(with: commentStart) {
                        if commentStart.count == sandbox.count { decidingComment = false }
                    } else if commentStart.count >= 3, commentStart[1] == 0x21 {
                        // `/*M!NNNNNN … */`: code MariaDB runs, checked as code from here.
                        decidingComment = false
                        versionedComment = true
                        state = .code
                        skipVersion = true
                        if !(0x30...0x39).contains(byte), !isBlank(byte) { step(byte) }
                        return
                    } else {
                        decidingComment = false
                    }
                } else {
                    decidingComment = false
                }
            }
            if byte == 0x2A { state = .blockCommentStar }
            return
        case .blockCommentStar:
            if byte == 0x2F { state = .code } else if byte != 0x2A { state = .blockComment }
            return
        case .code:
            break
        }
        // In code: outside strings, identifiers and comments.
        if skipVersion {
            // `/*!40101` or `/*M!999999`: the version digits, then the code.
            if (0x30...0x39).contains(byte) { return }
            skipVersion = false
        }
        if versionedComment, previous == 0x2A, byte == 0x2F {
            versionedComment = false
            head.removeLast()
            previous = 0
            return
        }
        // A comment's opening bytes open nothing more: `/*/` is not `/*` then `*/`. A statement
        // begins after the comments before it (its line is the one named).
        if startsComment(byte) {
            previous = 0
            if !versionedComment, head.allSatisfy(isBlank) { begun = false }
            return
        }
        defer { previous = byte }
        // A statement is named by the line it begins on.
        if !begun && !isBlank(byte) && byte != 0x3B { begun = true; statementLine = line }
        switch byte {
        case 0x27, 0x22:
            closeWord()
            if !inValues { keep(0x27); keep(0x27) }
            state = .string(byte)
        case 0x60:
            closeWord()
            if inValues { refuse("a name among the values of an INSERT") }
            keep(0x60)
            state = .identifier
        case 0x5C:
            refuse("a backslash outside a string: a command of the mysql client (\\! runs a shell, \\. reads a file)", at: line)
        case 0x3B:
            closeWord()
            endStatement()
        default:
            if isWordByte(byte) {
                word.append(byte)
            } else {
                closeWord()
                if inValues, !(byte == 0x28 || byte == 0x29 || byte == 0x2C || byte == 0x2D || byte == 0x2B || byte == 0x2E || isBlank(byte)) {
                    refuse("'\(Character(Unicode.Scalar(byte)))' among the values of an INSERT: only literals may be there")
                }
            }
            if !inValues { keep(byte) }
        }
    }

    private var skipVersion = false
    private var dashes = false
    private var begun = false

    /// `-- ` to the end of the line, `/* … */`; `/*!NNNNN … */` is code.
    private mutating func startsComment(_ byte: UInt8) -> Bool {
        if dashes {
            // `--` starts a comment only when a blank or a control character follows, as in the
            // client and the server: in `1--1` it is code, and taking it for a comment would hide
            // the rest of the line from the check but not from the server.
            dashes = false
            if byte <= 0x20 {
                if !inValues, head.suffix(2) == [0x2D, 0x2D] { head.removeLast(2) }
                word.removeAll()
                state = byte == 0x0A ? .code : .lineComment
                previous = 0
                return true
            }
        }
        if previous == 0x2D, byte == 0x2D { dashes = true }
        if previous == 0x2F, byte == 0x2A {
            if head.last == 0x2F { head.removeLast() }
            commentStart.removeAll()
            decidingComment = true
            state = .blockComment
            previous = 0
            return true
        }
        if byte == 0x23 && !inValues {  // `#` to the end of the line
            state = .lineComment
            return true
        }
        return false
    }

    private func isWordByte(_ byte: UInt8) -> Bool {
        (0x30...0x39).contains(byte) || (0x41...0x5A).contains(byte) || (0x61...0x7A).contains(byte) || byte == 0x5F || byte == 0x40 || byte >= 0x80
    }

    private func isBlank(_ byte: UInt8) -> Bool { byte == 0x20 || byte == 0x0A || byte == 0x09 || byte == 0x0D }

    /// A word among the values must be a number (`12`, `1e5`, `0x1F`) or NULL. `VALUES` after
    /// `INSERT INTO` starts them.
    private mutating func closeWord() {
        defer { word.removeAll(keepingCapacity: true) }
        if !inValues {
            if String(decoding: word, as: UTF8.self).uppercased() == "VALUES",
               String(decoding: head, as: UTF8.self).trimmingSpaces.prefix(6).uppercased() == "INSERT" { inValues = true }
            return
        }
        guard let first = word.first else { return }
        if (0x30...0x39).contains(first) { return }
        if String(decoding: word, as: UTF8.self).uppercased() == "NULL" { return }
        refuse("'\(String(decoding: word.prefix(40), as: UTF8.self))' among the values of an INSERT: only literals may be there")
    }

    private mutating func endStatement() {
        defer {
            head.removeAll(keepingCapacity: true)
            headFull = false
            inValues = false
            begun = false
        }
        let text = String(decoding: head, as: UTF8.self).trimmingSpaces
        guard !text.isEmpty else { return }
        statements += 1
        if headFull { return refuse("a statement of over \(Self.headLimit >> 10) KiB outside the values of an INSERT: \(text.prefix(80))") }
        if let reason = judge(text) { refuse(reason) }
    }

    /// Whether a statement (strings blanked, comments out) is one a dump of the fate_flow tables holds.
    func judge(_ text: String) -> String? {
        let words = text.split(whereSeparator: { $0 == " " || $0 == "\n" || $0 == "\t" || $0 == "\r" }).map(String.init)
        let upper = words.map { $0.uppercased() }
        func table(_ index: Int) -> String? {
            guard index < words.count else { return nil }
            let word = words[index]
            guard word.hasPrefix("`"), word.hasSuffix("`"), word.count >= 2, !word.dropFirst().dropLast().contains("`") else { return nil }
            return String(word.dropFirst().dropLast())
        }
        func known(_ index: Int) -> String? {
            guard let name = table(index) else {
                return "\(upper.prefix(3).joined(separator: " ")) of \(index < words.count ? words[index] : "nothing"): only `t` of the fate_flow tables (no other database, no unquoted name)"
            }
            return tables?.contains(name) ?? true ? nil : "\(upper.prefix(2).joined(separator: " ")) `\(name)`: not one of the tables the snapshot was taken of"
        }
        switch upper.first {
        case "SET":
            if upper.contains(where: { $0.hasPrefix("GLOBAL") || $0.hasPrefix("@@GLOBAL") || $0 == "PASSWORD" || $0.hasPrefix("PERSIST") }) {
                return "SET of something other than this session: \(text.prefix(80))"
            }
            // mysqldump sets variables to literals and other variables: a call or a subquery is not its.
            if text.contains("(") { return "SET with a call or a subquery: \(text.prefix(80))" }
            return nil
        case "DROP":
            guard upper.count == 5, upper[1] == "TABLE", upper[2] == "IF", upper[3] == "EXISTS" else { return "DROP other than DROP TABLE IF EXISTS of one table: \(text.prefix(80))" }
            return known(4)
        case "CREATE":
            guard upper.count >= 3, upper[1] == "TABLE" else { return "CREATE other than CREATE TABLE: \(text.prefix(80))" }
            if upper.contains(where: { $0.hasPrefix("DIRECTORY") || $0.contains("DIRECTORY=") || $0 == "CONNECTION" || $0.hasPrefix("CONNECTION=") }) {
                return "CREATE TABLE with a directory or connection of its own: \(text.prefix(80))"
            }
            if unquotedWords(text).contains("SELECT") { return "CREATE TABLE … SELECT: \(text.prefix(80))" }
            return known(2)
        case "LOCK":
            guard upper.count == 4, upper[1] == "TABLES", upper[3] == "WRITE" else { return "LOCK other than LOCK TABLES `t` WRITE: \(text.prefix(80))" }
            return known(2)
        case "UNLOCK":
            return upper == ["UNLOCK", "TABLES"] ? nil : "UNLOCK other than UNLOCK TABLES: \(text.prefix(80))"
        case "ALTER":
            guard upper.count == 5, upper[1] == "TABLE", ["DISABLE", "ENABLE"].contains(upper[3]), upper[4] == "KEYS" else {
                return "ALTER other than ALTER TABLE `t` DISABLE/ENABLE KEYS: \(text.prefix(80))"
            }
            return known(2)
        case "INSERT":
            guard upper.count >= 4, upper[1] == "INTO", upper[3] == "VALUES" || upper[3].hasPrefix("VALUES") else {
                return "INSERT other than INSERT INTO `t` VALUES: \(text.prefix(80))"
            }
            return known(2)
        default:
            return "not a statement a dump of the fate_flow tables holds: \(text.prefix(80))"
        }
    }
}

/// The words of a statement outside its `names`, upper-cased.
private func unquotedWords(_ text: String) -> Set<String> {
    var words: Set<String> = [], word = "", quoted = false
    for character in text {
        if character == "`" { quoted.toggle(); continue }
        if !quoted, character.isLetter || character.isNumber || character == "_" { word.append(character) } else {
            if !word.isEmpty { words.insert(word.uppercased()) }
            word = ""
        }
    }
    if !word.isEmpty { words.insert(word.uppercased()) }
    return words
}

private extension String {
    var trimmingSpaces: String {
        var scalars = Substring(self)
        while let first = scalars.first, first.isWhitespace { scalars.removeFirst() }
        while let last = scalars.last, last.isWhitespace { scalars.removeLast() }
        return String(scalars)
    }
}
