/// What a YAML 1.1 loader such as PyYAML (which FATE uses) makes of a scalar.
public enum YAMLValue: Hashable, Sendable {
    case string(String)
    case bool(Bool)
    case int(String)
    case float(String)
    case null
    /// A timestamp, a merge key or a value key: nothing FATE's settings should hold.
    case other(String)
}

/// Reading and writing single scalars the way YAML 1.1 resolves them.
public enum YAMLScalar {
    // PyYAML's implicit resolvers (yaml/resolver.py), which decide what a plain scalar means.
    nonisolated(unsafe) private static let boolPattern = try! Regex("yes|Yes|YES|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF")
    nonisolated(unsafe) private static let intPattern = try! Regex(
        "[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+|[-+]?[1-9][0-9_]*(?::[0-5]?[0-9])+")
    nonisolated(unsafe) private static let floatPattern = try! Regex(
        "[-+]?(?:[0-9][0-9_]*)\\.[0-9_]*(?:[eE][-+][0-9]+)?|\\.[0-9][0-9_]*(?:[eE][-+][0-9]+)?|[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\\.[0-9_]*|[-+]?\\.(?:inf|Inf|INF)|\\.(?:nan|NaN|NAN)")
    nonisolated(unsafe) private static let nullPattern = try! Regex("~|null|Null|NULL|")
    nonisolated(unsafe) private static let otherPattern = try! Regex(
        "<<|=|[0-9][0-9][0-9][0-9]-[0-9][0-9]?-[0-9][0-9]?(?:(?:[Tt]|[ \\t]+)[0-9][0-9]?:[0-9][0-9]:[0-9][0-9](?:\\.[0-9]*)?(?:[ \\t]*(?:Z|[-+][0-9][0-9]?(?::[0-9][0-9])?))?)?")
    /// Characters a plain scalar written by this tool may contain; anything else is quoted.
    nonisolated(unsafe) private static let plainSafe = try! Regex("[A-Za-z0-9_/][A-Za-z0-9_./@:-]*")

    /// The value of a scalar node as a YAML 1.1 loader sees it; nil for collections.
    public static func resolve(_ node: YAMLNode) -> YAMLValue? {
        guard case .scalar(let text, let style, let tag, _, _) = node else { return nil }
        if let tag {
            switch tag {
            case "tag:yaml.org,2002:str": return .string(text)
            case "tag:yaml.org,2002:bool": return (try? boolPattern.wholeMatch(in: text)) != nil ? .bool(isTrue(text)) : .other(text)
            default: return .other(text)
            }
        }
        guard style == .plain else { return .string(text) }
        if (try? boolPattern.wholeMatch(in: text)) != nil { return .bool(isTrue(text)) }
        if (try? nullPattern.wholeMatch(in: text)) != nil { return .null }
        if (try? intPattern.wholeMatch(in: text)) != nil { return .int(text) }
        if (try? floatPattern.wholeMatch(in: text)) != nil { return .float(text) }
        if (try? otherPattern.wholeMatch(in: text)) != nil { return .other(text) }
        return .string(text)
    }

    private static func isTrue(_ text: String) -> Bool {
        ["yes", "true", "on"].contains(text.lowercased())
    }

    public static func bool(_ value: Bool) -> String { value ? "true" : "false" }

    /// A scalar that every YAML 1.1 loader reads back as exactly `value`, a string.
    /// Plain when that is unambiguous, else in the `preferred` quoting (single quotes unless
    /// the text needs escapes). Inside flow collections `:` and `,` always get quotes.
    public static func string(_ value: String, preferred: YAMLScalarStyle = .plain, flow: Bool = false) -> String {
        // Non-ASCII too: FATE's Python 3.6 reads base_conf.yaml in the locale's encoding, which is
        // ASCII under supervisord or systemd without LANG; escapes keep the file ASCII.
        let needsEscapes = value.unicodeScalars.contains {
            $0.value < 0x20 || $0.value >= 0x7F || $0 == "\u{2028}" || $0 == "\u{2029}" || $0 == "\u{FEFF}"
        }
        if needsEscapes || preferred == .doubleQuoted { return doubleQuoted(value) }
        let plain = preferred == .plain && (try? plainSafe.wholeMatch(in: value)) != nil
            && !(flow && value.contains(":")) && !value.hasSuffix(":")
            && resolve(.scalar(value, style: .plain, tag: nil, start: .zero, end: .zero)) == .string(value)
        if plain { return value }
        return "'" + value.replacingAll("'", with: "''") + "'"
    }

    static func doubleQuoted(_ value: String) -> String {
        var out = "\""
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            case "\r": out += "\\r"
            default:
                if scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value) {
                    out += "\\x" + hex(scalar.value, width: 2)
                } else if scalar.value > 0xFFFF {
                    out += "\\U" + hex(scalar.value, width: 8)
                } else if scalar.value > 0x7F {
                    out += "\\u" + hex(scalar.value, width: 4)
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }

    private static func hex(_ value: UInt32, width: Int) -> String {
        let digits = String(value, radix: 16, uppercase: true)
        return String(repeating: "0", count: max(0, width - digits.count)) + digits
    }
}

extension YAMLMark {
    static let zero = YAMLMark(line: 1, column: 1, index: 0)

    init(line: Int, column: Int, index: Int) {
        self.line = line
        self.column = column
        self.index = index
    }
}

extension YAMLNode {
    /// Same structure and scalars (text, style, tag), wherever they stand in the file.
    public func sameContent(as other: YAMLNode) -> Bool {
        switch (self, other) {
        case let (.scalar(a, styleA, tagA, _, _), .scalar(b, styleB, tagB, _, _)):
            return a == b && styleA == styleB && tagA == tagB
        case let (.sequence(a, flowA, _, _), .sequence(b, flowB, _, _)):
            return flowA == flowB && a.count == b.count && zip(a, b).allSatisfy { $0.sameContent(as: $1) }
        case let (.mapping(a, flowA, _, _), .mapping(b, flowB, _, _)):
            return flowA == flowB && a.count == b.count
                && zip(a, b).allSatisfy { $0.key.sameContent(as: $1.key) && $0.value.sameContent(as: $1.value) }
        default:
            return false
        }
    }
}
