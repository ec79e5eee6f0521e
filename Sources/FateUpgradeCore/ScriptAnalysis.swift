/// What the rest of an upgrade script does with its parameters, read without running it.
extension ShellParameterBlock {
    /// A variable the script assigns after its parameter block (FATE 1.5.x derives
    /// `PYTHON_PACKAGE_PATH=$SCRIPT_PATH/python.tar.gz` there), with the value the shell would give it.
    public struct DerivedValue: Hashable, Sendable {
        public var name: String
        public var line: Int
        /// The assignment as written, e.g. `PYTHON_PACKAGE_PATH=$SCRIPT_PATH/python.tar.gz`.
        public var source: String
        /// nil: unknown until the script runs (a command other than the script's own folder, or a
        /// variable that is itself unknown).
        public var value: String?
    }

    /// The top-level `NAME=value` assignments after the block, evaluated as the shell would: plain
    /// words, earlier values, `~`, and the script-folder idioms (`$(dirname $(readlink -f "$0"))`,
    /// `$(cd $(dirname $0); pwd)`, `` `dirname $0` ``) as `scriptFolder`. Anything else is unknown.
    public func derivedValues(home: String, scriptFolder: String?, values: [String: String]) -> [DerivedValue] {
        var known = values
        var unknown: Set<String> = []
        var derived: [DerivedValue] = []
        for (index, line) in scriptLines.enumerated() where index + 1 > lines.upperBound {
            let content = bytes[line.content]
            var start = content.startIndex
            // `export NAME=value` assigns as well.
            if content.starts(with: Array("export ".utf8)) { start += 7 }
            let rest = content[start...]
            guard ShellParameterBlock.classify(rest) == .assignment else { continue }
            let equals = rest.firstIndex(of: UInt8(ascii: "="))!
            let name = String(decoding: rest[..<equals], as: UTF8.self)
            var lexer = ShellWordLexer(bytes: bytes, position: equals + 1, end: line.content.upperBound,
                                       location: SourceLocation(file: file, line: index + 1))
            guard let word = try? lexer.word() else { continue }
            var text = ""
            var complete = true
            for part in word.parts {
                switch part {
                case .literal(let literal): text += literal
                case .home: text += home
                case .reference(let reference):
                    if let value = known[reference], !unknown.contains(reference) { text += value } else { complete = false }
                case .expansion(let raw):
                    if let scriptFolder, Self.namesScriptFolder(raw) { text += scriptFolder } else { complete = false }
                }
            }
            let source = String(decoding: rest, as: UTF8.self)
            derived.append(DerivedValue(name: name, line: index + 1, source: source, value: complete ? text : nil))
            if complete { known[name] = text; unknown.remove(name) } else { unknown.insert(name) }
        }
        return derived
    }

    /// Whether a command substitution is one of the usual ways of naming the script's own folder.
    static func namesScriptFolder(_ raw: String) -> Bool {
        let compact = String(raw.unicodeScalars.filter { $0 != " " && $0 != "\t" && $0 != "\"" && $0 != "'" }.map(Character.init))
        let forms = ["$(dirname$(readlink-f$0))", "$(dirname$(realpath$0))", "$(cd$(dirname$0);pwd)", "$(cd$(dirname$0)&&pwd)",
                     "$(cd`dirname$0`;pwd)", "`dirname$0`", "$(dirname$0)", "$(dirname${BASH_SOURCE[0]})",
                     "$(cd$(dirname${BASH_SOURCE[0]});pwd)", "$(cd$(dirname${BASH_SOURCE[0]})&&pwd)"]
        return forms.contains(compact)
    }

    /// Where the script uses one of `names` outside double quotes, so that the shell splits the value
    /// at blanks and expands glob characters (`mysql -u$DB_USER -p$DB_PASS`, as FATE's scripts do).
    /// Assignments (`X=$DB_PASS`) do not split and are left out.
    public func unquotedUses(of names: Set<String>) -> [(name: String, line: Int, text: String)] {
        var uses: [(name: String, line: Int, text: String)] = []
        for (index, line) in scriptLines.enumerated() where !lines.contains(index + 1) {
            let content = Array(bytes[line.content])
            var position = 0
            var single = false, double = false
            var wordStart = true
            var assignmentWord = false
            while position < content.count {
                let c = content[position]
                if single {
                    if c == UInt8(ascii: "'") { single = false }
                    position += 1
                    continue
                }
                switch c {
                case UInt8(ascii: "\\"):
                    position += 2
                    wordStart = false
                    continue
                case UInt8(ascii: "'") where !double:
                    single = true
                case UInt8(ascii: "\""):
                    double.toggle()
                case UInt8(ascii: "#") where !double && wordStart:
                    position = content.count
                    continue
                case UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: ";"), UInt8(ascii: "|"), UInt8(ascii: "&"),
                     UInt8(ascii: "("), UInt8(ascii: ")"):
                    if !double {
                        wordStart = true
                        assignmentWord = false
                        position += 1
                        continue
                    }
                case UInt8(ascii: "$") where !double && !assignmentWord:
                    var name = ""
                    var cursor = position + 1
                    let braced = cursor < content.count && content[cursor] == UInt8(ascii: "{")
                    if braced { cursor += 1 }
                    while cursor < content.count, ShellParameterBlock.isNameByte(content[cursor]) {
                        name.unicodeScalars.append(Unicode.Scalar(content[cursor]))
                        cursor += 1
                    }
                    if names.contains(name) {
                        uses.append((name, index + 1, String(decoding: content, as: UTF8.self)))
                    }
                default:
                    if wordStart && ShellParameterBlock.isNameStart(c) {
                        // NAME=… at the start of a word: the value is not split.
                        var cursor = position
                        while cursor < content.count, ShellParameterBlock.isNameByte(content[cursor]) { cursor += 1 }
                        assignmentWord = cursor < content.count && content[cursor] == UInt8(ascii: "=")
                    }
                }
                wordStart = false
                position += 1
            }
        }
        return uses
    }
}

/// Whether the shell would split a value used unquoted (blanks) or expand it (glob characters).
public enum ShellSplitting {
    public static func problem(_ value: String) -> String? {
        if value.contains(where: { $0 == " " || $0 == "\t" || $0 == "\n" }) { return "has a space or tab, where the shell splits it" }
        if value.contains(where: { $0 == "*" || $0 == "?" || $0 == "[" }) { return "has *, ? or [, which the shell expands as a file pattern" }
        return nil
    }
}
