/// What kind of value a script parameter holds, which decides how a new value is read and checked.
public enum ParameterKind: Hashable, Sendable {
    /// A path: `~/…` and `$EARLIER_PARAMETER` keep their shell meaning; `$$` is a literal `$`.
    case path
    /// Literal text, taken exactly as given (DB_USER).
    case text
    /// Literal text never shown (DB_PASS).
    case secret
    /// One of a fixed set of words (DEPLOY_METHOD).
    case choice([String])

    public static let deployMethods = ["allinone", "ansible"]

    /// The kind of a parameter, from its name and, for names that do not say, its current value.
    public static func of(name: String, current: ShellWord?) -> ParameterKind {
        let upper = name.uppercased()
        if upper == "DEPLOY_METHOD" { return .choice(deployMethods) }
        if upper.contains("PASS") || upper.contains("SECRET") || upper.contains("TOKEN") { return .secret }
        if upper.hasSuffix("USER") { return .text }
        for suffix in ["_ROOT", "_PATH", "_DIR", "_HOME", "_FILE"] where upper.hasSuffix(suffix) { return .path }
        switch current?.parts.first {
        case .home?, .reference?: return .path
        case .literal(let text)? where text.hasPrefix("/"): return .path
        default: return .text
        }
    }

    public var isSecret: Bool { self == .secret }

    /// The kind as one word, for reports: `path`, `text`, `secret`, `choice`.
    public var name: String {
        switch self {
        case .path: "path"
        case .text: "text"
        case .secret: "secret"
        case .choice: "choice"
        }
    }

    /// The words a choice allows; nil for the other kinds.
    public var choices: [String]? { if case .choice(let words) = self { words } else { nil } }
}

/// One value the user asked for, and where it came from (for messages).
public struct ParameterSetting: Hashable, Sendable {
    public var name: String
    public var value: String
    /// `--set`, `pack/allinone.yaml:3`, `--db-pass-file`, `FATE_DB_PASS`, …
    public var origin: String

    public init(name: String, value: String, origin: String) {
        self.name = name
        self.value = value
        self.origin = origin
    }
}

/// One problem with the requested parameters, naming the parameter.
public struct ParameterProblem: Hashable, Sendable, CustomStringConvertible {
    public var name: String
    public var origin: String?
    public var message: String

    public var description: String {
        if let origin { return "\(name): \(message) (from \(origin))" }
        return "\(name): \(message)"
    }
}

/// Every problem found with the requested parameters; nothing is written when there are any.
public struct ParameterProblems: Error, Hashable, Sendable, CustomStringConvertible {
    public var problems: [ParameterProblem]
    public var description: String { problems.map(\.description).joined(separator: "\n") }
}

/// How a user writes a parameter value, and how that maps to a shell word.
///
/// Text and secret values are literal: every character, `$` and `\` included, is kept.
/// Path values follow the original script's conventions: a leading `~/` is the home folder of
/// the user who runs the script, `$NAME` or `${NAME}` refers to a parameter assigned earlier in
/// the block, and `$$` stands for one literal `$`.
public enum ParameterValueSyntax {
    public static func word(for value: String, kind: ParameterKind, earlier: [String]) throws(ParameterValueError) -> ShellWord {
        switch kind {
        case .text, .secret, .choice:
            return ShellWord([.literal(value)])
        case .path:
            return try pathWord(value, earlier: earlier)
        }
    }

    /// The user's form of a word, the inverse of `word(for:kind:earlier:)`.
    public static func userValue(of word: ShellWord, kind: ParameterKind, raw: String) -> String {
        switch kind {
        case .text, .secret, .choice:
            return word.literalValue ?? raw
        case .path:
            var out = ""
            for (index, part) in word.parts.enumerated() {
                switch part {
                case .home: out += "~"
                case .literal(let text): out += text.replacingAll("$", with: "$$")
                case .reference(let name):
                    var braces = false
                    if index + 1 < word.parts.count, case .literal(let next) = word.parts[index + 1],
                       let first = next.unicodeScalars.first, ShellWord.isNameCharacter(first) { braces = true }
                    out += braces ? "${\(name)}" : "$\(name)"
                case .expansion(let raw): out += raw
                }
            }
            return out
        }
    }

    static func pathWord(_ value: String, earlier: [String]) throws(ParameterValueError) -> ShellWord {
        var parts: [ShellWordPart] = []
        var scalars = Substring(value).unicodeScalars[...]
        if scalars.first == "~" {
            let second = scalars.dropFirst().first
            if second == nil || second == "/" {
                parts.append(.home)
                scalars = scalars.dropFirst()
            } else {
                throw .message("only ~/ (the home folder of the user running the script) is understood, not ~user")
            }
        }
        var literal = ""
        while let scalar = scalars.first {
            scalars = scalars.dropFirst()
            guard scalar == "$" else { literal.unicodeScalars.append(scalar); continue }
            if scalars.first == "$" {
                literal += "$"
                scalars = scalars.dropFirst()
                continue
            }
            var name = ""
            if scalars.first == "{" {
                guard let close = scalars.firstIndex(of: "}") else { throw .message("unterminated ${ (write $$ for a literal $)") }
                name = String(String.UnicodeScalarView(scalars[scalars.index(after: scalars.startIndex)..<close]))
                scalars = scalars[scalars.index(after: close)...]
                guard let first = name.unicodeScalars.first, !ShellWord.isDigit(first),
                      name.unicodeScalars.allSatisfy(ShellWord.isNameCharacter) else {
                    throw .message("${\(name)} is not a parameter reference (write $$ for a literal $)")
                }
            } else {
                while let next = scalars.first, ShellWord.isNameCharacter(next), !(name.isEmpty && ShellWord.isDigit(next)) {
                    name.unicodeScalars.append(next)
                    scalars = scalars.dropFirst()
                }
                guard !name.isEmpty else { throw .message("a lone $ is not allowed: write $$ for a literal $, or $NAME for an earlier parameter") }
            }
            guard earlier.contains(name) else {
                throw .message("$\(name) is not a parameter assigned before this one (write $$ for a literal $)")
            }
            if !literal.isEmpty { parts.append(.literal(literal)); literal = "" }
            parts.append(.reference(name))
        }
        if !literal.isEmpty { parts.append(.literal(literal)) }
        return ShellWord(parts)
    }
}

public enum ParameterValueError: Error, Hashable, Sendable {
    case message(String)
}

extension ShellWord {
    static func isDigit(_ scalar: Unicode.Scalar) -> Bool { ("0"..."9").contains(scalar) }
}

/// The checked edits to one script's parameter block.
public struct ParameterPlan: Sendable {
    public struct Change: Hashable, Sendable {
        public var name: String
        public var kind: ParameterKind
        public var line: Int
        public var oldText: String
        public var newText: String
        public var oldValue: String
        public var newValue: String
    }

    public let block: ShellParameterBlock
    /// Only the parameters whose value text changes, in script order.
    public let changes: [Change]

    /// Checks every setting against the block, reporting all problems at once.
    /// - Parameter keep: parameters whose value in the package stays as it is on purpose. A secret
    ///   (DB_PASS) must be given or kept: forgetting it would ship the script's own default
    ///   (`fate_dev` in FATE's), which fails on the target or, worse, works.
    public init(block: ShellParameterBlock, settings: [ParameterSetting], keep: Set<String> = [],
                secretsMustBeGiven: Bool = false) throws(ParameterProblems) {
        self.block = block
        var problems: [ParameterProblem] = []
        for name in keep where !block.names.contains(name) {
            problems.append(ParameterProblem(name: name, origin: "--keep", message: ParameterPlan.unknown(name, in: block)))
        }
        let given = Set(settings.map(\.name))
        if secretsMustBeGiven {
            for assignment in block.assignments where ParameterKind.of(name: assignment.name, current: assignment.word).isSecret
                && !keep.contains(assignment.name) && !given.contains(assignment.name) {
                let message = assignment.word.literalValue == "fate_dev"
                    ? "not given, so the package's own value would stay (FATE's scripts ship fate_dev); give it with --db-pass-stdin, --db-pass-file or FATE_DB_PASS, or keep the package's value with --keep \(assignment.name)"
                    // Someone set it by hand already: it is not FATE's public default, so it stays masked.
                    : "not given; the package's script already sets it to ******** (line \(assignment.line), not FATE's default fate_dev): keep that value with --keep \(assignment.name), or give another with --db-pass-stdin, --db-pass-file or FATE_DB_PASS"
                problems.append(ParameterProblem(name: assignment.name, origin: nil, message: message))
            }
        }
        var requested: [String: ParameterSetting] = [:]
        let known = block.names
        let knownSet = Set(known)
        for setting in settings {
            guard knownSet.contains(setting.name) else {
                problems.append(ParameterProblem(name: setting.name, origin: setting.origin,
                    message: ParameterPlan.unknown(setting.name, in: block)))
                continue
            }
            requested[setting.name] = setting
        }

        var finalValues: [String: String] = [:]
        var changes: [Change] = []
        // Built as the loop goes: taking a prefix of the assignments each time was quadratic.
        var earlier: [String] = []
        earlier.reserveCapacity(block.assignments.count)
        for assignment in block.assignments {
            defer { earlier.append(assignment.name) }
            let kind = ParameterKind.of(name: assignment.name, current: assignment.word)
            let oldValue = ParameterValueSyntax.userValue(of: assignment.word, kind: kind, raw: assignment.rawValue)
            guard let setting = requested[assignment.name] else {
                finalValues[assignment.name] = oldValue
                continue
            }
            func problem(_ message: String) {
                problems.append(ParameterProblem(name: setting.name, origin: setting.origin, message: message))
            }
            finalValues[assignment.name] = setting.value
            if setting.value.unicodeScalars.contains(where: { $0.value < 0x20 && $0 != "\t" || $0.value == 0x7F }) {
                problem("control characters (newline, carriage return, NUL …) cannot be written into the script")
                continue
            }
            let word: ShellWord
            do {
                word = try ParameterValueSyntax.word(for: setting.value, kind: kind, earlier: earlier)
            } catch {
                guard case .message(let message) = error else { continue }
                problem(message)
                continue
            }
            if kind == .path {
                switch word.parts.first {
                case nil:
                    if assignment.name != "SUPERVISOR_ROOT" { problem("a path cannot be empty") }
                case .literal(let text)? where !text.hasPrefix("/"):
                    problem(earlier.isEmpty ? "must be an absolute path (start with / or ~/)"
                            : "must be an absolute path (start with /, ~/ or an earlier parameter such as $\(earlier[0]))")
                default: break
                }
            }
            let newText = word.shellText
            // The value it already has: the line stays as it is, quoting and all, and is no change.
            if setting.value == oldValue && !(kind.isSecret && assignment.word.literalValue == nil) { continue }
            if newText != assignment.rawValue {
                changes.append(Change(name: assignment.name, kind: kind, line: assignment.line,
                                      oldText: assignment.rawValue, newText: newText,
                                      oldValue: oldValue, newValue: setting.value))
            }
        }

        // Rules across parameters apply to the values the script will end up with.
        func ruleProblem(_ name: String, _ message: String) {
            problems.append(ParameterProblem(name: name, origin: requested[name]?.origin, message: message))
        }
        let deployMethod = finalValues["DEPLOY_METHOD"]
        if let deployMethod, !ParameterKind.deployMethods.contains(deployMethod) {
            ruleProblem("DEPLOY_METHOD", "must be allinone or ansible, not '\(deployMethod)'")
        }
        if deployMethod == "ansible", knownSet.contains("SUPERVISOR_ROOT"), (finalValues["SUPERVISOR_ROOT"] ?? "").isEmpty {
            ruleProblem("SUPERVISOR_ROOT", "must be set when DEPLOY_METHOD is ansible")
        }
        for assignment in block.assignments where ParameterKind.of(name: assignment.name, current: assignment.word) == .secret {
            if finalValues[assignment.name]?.isEmpty ?? false { ruleProblem(assignment.name, "must not be empty") }
        }
        if !problems.isEmpty { throw ParameterProblems(problems: problems) }
        self.changes = changes

        // A path left pointing inside the old value of a path that moved is almost always
        // forgotten (FATE_FLOW_ROOT under the old FATE_ROOT).
        var warnings: [String] = []
        // Unset values sorted, so each moved root finds the values under it by binary search.
        let unset = block.assignments.enumerated().filter { requested[$0.element.name] == nil }
            .map { (value: Array((finalValues[$0.element.name] ?? "").utf8), name: $0.element.name, position: $0.offset) }
            .sorted { $0.value.lexicographicallyPrecedes($1.value) }
        for moved in changes where moved.kind == .path && moved.oldValue.hasPrefix("/") {
            let prefix = Array((moved.oldValue + "/").utf8)
            var low = 0, high = unset.count
            while low < high {
                let middle = (low + high) / 2
                if unset[middle].value.lexicographicallyPrecedes(prefix) { low = middle + 1 } else { high = middle }
            }
            var found: [(position: Int, text: String)] = []
            while low < unset.count, unset[low].value.starts(with: prefix) {
                let value = String(decoding: unset[low].value, as: UTF8.self)
                found.append((unset[low].position,
                              "\(unset[low].name) is still \(value), under the old \(moved.name); set it too, or write it as $\(moved.name)\(value.dropFirst(moved.oldValue.count))"))
                low += 1
            }
            warnings += found.sorted { $0.position < $1.position }.map(\.text)
        }
        self.warnings = warnings
    }

    static func unknown(_ name: String, in block: ShellParameterBlock) -> String {
        "unknown parameter" + (Suggestion.closest(to: name, among: block.names).map { " (did you mean \($0)?)" } ?? "")
            + "; \(block.file) defines \(block.names.joined(separator: ", "))"
    }

    /// Why FATE_FLOW_ROOT cannot be upgraded with FATE_ROOT, or nil: it must be inside it, as FATE
    /// installs it (`$FATE_ROOT/python/fate_flow`), for the later commands to find its backups.
    public static func fateFlowRootProblem(fateRoot: String, fateFlowRoot: String) -> String? {
        let inside = Path.isInside(fateFlowRoot, fateRoot) && Path.normalised(fateFlowRoot) != Path.normalised(fateRoot)
        guard !fateFlowRoot.isEmpty, !inside else { return nil }
        return "is \(fateFlowRoot), not inside FATE_ROOT \(fateRoot): set it too (--set FATE_FLOW_ROOT='$FATE_ROOT/python/fate_flow', as FATE installs it)"
    }

    /// Things that are allowed but probably not meant, one line each.
    public let warnings: [String]

    /// The rewritten script; CR LF endings become LF.
    public func renderedScript() -> [UInt8] {
        var values: [String: String] = [:]
        for change in changes { values[change.name] = change.newText }
        return block.rewritten(values: values, normalizingLineEndings: true)
    }

    /// The block's lines before and after, with secret values replaced by `********`.
    public func maskedBlockLines() -> (old: [String], new: [String]) {
        let masked = block.maskedScript()
        var values: [String: String] = [:]
        // A changed secret must still show up as a change, without showing either value.
        for change in changes { values[change.name] = change.kind.isSecret ? ShellParameterBlock.mask + "(changed)" : change.newText }
        for assignment in block.assignments where values[assignment.name] == nil
            && ParameterKind.of(name: assignment.name, current: assignment.word).isSecret {
            values[assignment.name] = ShellParameterBlock.mask
        }
        let new = block.rewritten(values: values, normalizingLineEndings: false)
        return (block.blockLines(of: masked), block.blockLines(of: new))
    }
}

extension ShellParameterBlock {
    public static let mask = "********"

    /// The script bytes with the value of each secret parameter replaced by a mask.
    public func maskedScript() -> [UInt8] {
        var values: [String: String] = [:]
        for assignment in assignments where ParameterKind.of(name: assignment.name, current: assignment.word).isSecret {
            values[assignment.name] = Self.mask
        }
        return rewritten(values: values, normalizingLineEndings: false)
    }

    /// Each parameter with its current value in the user's form; secrets masked.
    public func currentValues() -> [(name: String, kind: ParameterKind, value: String, line: Int)] {
        assignments.map { assignment in
            let kind = ParameterKind.of(name: assignment.name, current: assignment.word)
            let value = kind.isSecret
                ? (assignment.rawValue.isEmpty ? "" : Self.mask)
                : ParameterValueSyntax.userValue(of: assignment.word, kind: kind, raw: assignment.rawValue)
            return (assignment.name, kind, value, assignment.line)
        }
    }
}

extension ShellParameterBlock {
    /// The values the shell gives the parameters when it runs the block: `~` is `home`, and
    /// `$NAME` is an earlier parameter's value (or `environment`'s). A value needing any other
    /// expansion (`$(…)`) is left out.
    public func evaluated(home: String, environment: [String: String] = [:]) -> [String: String] {
        ShellParameterBlock.evaluate(assignments.map { ($0.name, $0.word) }, home: home, environment: environment)
    }

    /// The shell's values of the words in order.
    static func evaluate(_ words: [(name: String, word: ShellWord)], home: String, environment: [String: String] = [:]) -> [String: String] {
        var values: [String: String] = [:]
        for (name, word) in words {
            var text = ""
            var complete = true
            for part in word.parts {
                switch part {
                case .literal(let literal): text += literal
                case .home: text += home
                case .reference(let other): text += values[other] ?? environment[other] ?? ""
                case .expansion: complete = false
                }
            }
            if complete { values[name] = text }
        }
        return values
    }
}
