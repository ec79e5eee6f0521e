import CYAML

/// A position in a YAML text, as libyaml reports it (converted to 1-based line and column;
/// `index` counts characters from the start, as libyaml does).
public struct YAMLMark: Hashable, Sendable {
    public var line: Int
    public var column: Int
    public var index: Int

    init(_ mark: yaml_mark_t) {
        line = Int(mark.line) + 1
        column = Int(mark.column) + 1
        index = Int(mark.index)
    }
}

public enum YAMLScalarStyle: Hashable, Sendable {
    case plain, singleQuoted, doubleQuoted, literal, folded
}

/// One libyaml parser event, with the span of text it came from.
public struct YAMLEvent: Hashable, Sendable {
    public enum Kind: Hashable, Sendable {
        case streamStart, streamEnd
        case documentStart(implicit: Bool), documentEnd(implicit: Bool)
        case mappingStart(flow: Bool, tag: String?, anchor: String?), mappingEnd
        case sequenceStart(flow: Bool, tag: String?, anchor: String?), sequenceEnd
        case scalar(value: String, style: YAMLScalarStyle, tag: String?, anchor: String?)
        case alias(String)
    }

    public var kind: Kind
    public var start: YAMLMark
    public var end: YAMLMark
}

/// A YAML node tree with the position of every node, built from libyaml's events.
public indirect enum YAMLNode: Sendable {
    case scalar(String, style: YAMLScalarStyle, tag: String?, start: YAMLMark, end: YAMLMark)
    case mapping([(key: YAMLNode, value: YAMLNode)], flow: Bool, start: YAMLMark, end: YAMLMark)
    case sequence([YAMLNode], flow: Bool, start: YAMLMark, end: YAMLMark)

    public var start: YAMLMark {
        switch self {
        case .scalar(_, _, _, let start, _), .mapping(_, _, let start, _), .sequence(_, _, let start, _): start
        }
    }

    public var end: YAMLMark {
        switch self {
        case .scalar(_, _, _, _, let end), .mapping(_, _, _, let end), .sequence(_, _, _, let end): end
        }
    }

    /// The text of a scalar node, nil for collections.
    public var scalarText: String? {
        if case .scalar(let text, _, _, _, _) = self { text } else { nil }
    }
}

/// A YAML text read through libyaml: its events and its (single) document's node tree.
public struct YAMLDocument: Sendable {
    public let file: String
    public let bytes: [UInt8]
    public let events: [YAMLEvent]
    /// The document's root node; nil for an empty file.
    public let root: YAMLNode?
    /// Byte offset of each character, as libyaml counts them (a BOM excluded), and of the end.
    private let characterOffsets: [Int]

    public init(parsing bytes: [UInt8], file: String) throws(InputError) {
        self.file = file
        self.bytes = bytes
        let events = try YAMLEventReader.read(bytes, file: file)
        self.events = events
        var builder = TreeBuilder(events: events, file: file)
        self.root = try builder.document()
        let start = bytes.starts(with: [0xEF, 0xBB, 0xBF]) ? 3 : 0
        var offsets: [Int] = []
        offsets.reserveCapacity(bytes.count + 1)
        for index in start..<bytes.count where bytes[index] & 0xC0 != 0x80 { offsets.append(index) }
        offsets.append(bytes.count)
        characterOffsets = offsets
    }

    /// The byte offset in `bytes` of a libyaml mark, for edits that keep every other byte.
    public func byteOffset(_ mark: YAMLMark) -> Int {
        characterOffsets[min(mark.index, characterOffsets.count - 1)]
    }

    /// The value of a key in a mapping node, with its key node.
    public static func lookup(_ key: String, in node: YAMLNode?) -> (key: YAMLNode, value: YAMLNode)? {
        guard case .mapping(let pairs, _, _, _)? = node else { return nil }
        return pairs.last { $0.key.scalarText == key }
    }

    /// The root as a mapping of plain keys to scalar text, for flat settings files.
    /// A null or empty value reads as the empty string.
    public func flatMapping() throws(InputError) -> [(key: String, value: String, line: Int)] {
        guard let root else { return [] }
        guard case .mapping(let pairs, _, _, _) = root else {
            throw InputError(location(root.start), "expected a mapping of NAME: value")
        }
        var result: [(key: String, value: String, line: Int)] = []
        for pair in pairs {
            guard let key = pair.key.scalarText else {
                throw InputError(location(pair.key.start), "expected a parameter name as key")
            }
            if let earlier = result.first(where: { $0.key == key }) {
                throw InputError(location(pair.key.start), "\(key) is given twice (first on line \(earlier.line))")
            }
            guard case .scalar(let text, let style, _, _, _) = pair.value else {
                throw InputError(location(pair.value.start), "\(key): expected a single value, not a list or mapping")
            }
            let isNull = style == .plain && ["", "~", "null", "Null", "NULL"].contains(text)
            result.append((key, isNull ? "" : text, pair.key.start.line))
        }
        return result
    }

    func location(_ mark: YAMLMark) -> SourceLocation {
        SourceLocation(file: file, line: mark.line, column: mark.column)
    }

    private struct TreeBuilder {
        let events: [YAMLEvent]
        let file: String
        var position = 0

        mutating func next() -> YAMLEvent {
            defer { position += 1 }
            return events[position]
        }

        mutating func document() throws(InputError) -> YAMLNode? {
            _ = next()  // stream start
            guard case .documentStart = next().kind else { return nil }
            let root = try node(next(), depth: 0)
            _ = next()  // document end
            if case .documentStart = events[position].kind {
                throw InputError(SourceLocation(file: file, line: events[position].start.line, column: events[position].start.column),
                                 "expected a single YAML document, found another")
            }
            return root
        }

        /// Deeper than any settings file needs; past it, a hostile file would exhaust the stack.
        static let maximumDepth = 64

        mutating func node(_ event: YAMLEvent, depth: Int) throws(InputError) -> YAMLNode {
            if depth > Self.maximumDepth {
                throw InputError(SourceLocation(file: file, line: event.start.line, column: event.start.column),
                                 "nested more than \(Self.maximumDepth) levels deep; not a FATE settings file")
            }
            switch event.kind {
            case .scalar(let value, let style, let tag, _):
                return .scalar(value, style: style, tag: tag, start: event.start, end: event.end)
            case .sequenceStart(let flow, _, _):
                var items: [YAMLNode] = []
                while true {
                    let item = next()
                    if case .sequenceEnd = item.kind { return .sequence(items, flow: flow, start: event.start, end: item.end) }
                    items.append(try node(item, depth: depth + 1))
                }
            case .mappingStart(let flow, _, _):
                var pairs: [(key: YAMLNode, value: YAMLNode)] = []
                while true {
                    let key = next()
                    if case .mappingEnd = key.kind { return .mapping(pairs, flow: flow, start: event.start, end: key.end) }
                    let keyNode = try node(key, depth: depth + 1)
                    pairs.append((keyNode, try node(next(), depth: depth + 1)))
                }
            case .alias:
                throw InputError(SourceLocation(file: file, line: event.start.line, column: event.start.column),
                                 "YAML aliases (*name) are not supported here")
            default:
                throw InputError(SourceLocation(file: file, line: event.start.line, column: event.start.column),
                                 "unexpected YAML event")
            }
        }
    }
}

/// The one place that holds a libyaml parser: reads all events of a text.
enum YAMLEventReader {
    static func read(_ bytes: [UInt8], file: String) throws(InputError) -> [YAMLEvent] {
        let parser = UnsafeMutablePointer<yaml_parser_t>.allocate(capacity: 1)
        defer { parser.deallocate() }
        guard yaml_parser_initialize(parser) != 0 else {
            throw InputError(SourceLocation(file: file), "libyaml could not start (out of memory)")
        }
        defer { yaml_parser_delete(parser) }
        // libyaml reads the input in place, so it must stay put until the last event.
        let input = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: max(bytes.count, 1))
        defer { input.deallocate() }
        _ = input.initialize(from: bytes)
        yaml_parser_set_input_string(parser, input.baseAddress, bytes.count)
        // libyaml detects the encoding itself, skipping a UTF-8 byte order mark (Windows editors add
        // one; PyYAML reads such files). Setting UTF-8 by hand would turn that detection off. The
        // marks are mapped to UTF-8 byte offsets, so UTF-16 is refused rather than misread.
        if bytes.starts(with: [0xFF, 0xFE]) || bytes.starts(with: [0xFE, 0xFF]) {
            throw InputError(SourceLocation(file: file, line: 1), "UTF-16 text; save it as UTF-8")
        }

        var events: [YAMLEvent] = []
        var event = yaml_event_t()
        while true {
            guard yaml_parser_parse(parser, &event) != 0 else {
                let problem = parser.pointee.problem.map { String(cString: $0) } ?? "parse error"
                let mark = YAMLMark(parser.pointee.problem_mark)
                var message = "invalid YAML: \(problem)"
                if let context = parser.pointee.context.map({ String(cString: $0) }) { message += " \(context)" }
                throw InputError(SourceLocation(file: file, line: mark.line, column: mark.column), message)
            }
            defer { yaml_event_delete(&event) }
            let kind = convert(event)
            events.append(YAMLEvent(kind: kind, start: YAMLMark(event.start_mark), end: YAMLMark(event.end_mark)))
            if case .streamEnd = kind { return events }
        }
    }

    private static func string(_ pointer: UnsafeMutablePointer<yaml_char_t>?) -> String? {
        pointer.map { String(cString: UnsafeRawPointer($0).assumingMemoryBound(to: CChar.self)) }
    }

    private static func convert(_ event: yaml_event_t) -> YAMLEvent.Kind {
        switch event.type {
        case YAML_STREAM_START_EVENT: return .streamStart
        case YAML_DOCUMENT_START_EVENT: return .documentStart(implicit: event.data.document_start.implicit != 0)
        case YAML_DOCUMENT_END_EVENT: return .documentEnd(implicit: event.data.document_end.implicit != 0)
        case YAML_MAPPING_START_EVENT:
            let data = event.data.mapping_start
            return .mappingStart(flow: data.style == YAML_FLOW_MAPPING_STYLE, tag: string(data.tag), anchor: string(data.anchor))
        case YAML_MAPPING_END_EVENT: return .mappingEnd
        case YAML_SEQUENCE_START_EVENT:
            let data = event.data.sequence_start
            return .sequenceStart(flow: data.style == YAML_FLOW_SEQUENCE_STYLE, tag: string(data.tag), anchor: string(data.anchor))
        case YAML_SEQUENCE_END_EVENT: return .sequenceEnd
        case YAML_SCALAR_EVENT:
            let data = event.data.scalar
            // Scalars may hold NUL bytes, so read by length rather than as a C string.
            let value = String(decoding: UnsafeBufferPointer(start: data.value, count: Int(data.length)), as: UTF8.self)
            let style: YAMLScalarStyle
            switch data.style {
            case YAML_SINGLE_QUOTED_SCALAR_STYLE: style = .singleQuoted
            case YAML_DOUBLE_QUOTED_SCALAR_STYLE: style = .doubleQuoted
            case YAML_LITERAL_SCALAR_STYLE: style = .literal
            case YAML_FOLDED_SCALAR_STYLE: style = .folded
            default: style = .plain
            }
            return .scalar(value: value, style: style, tag: string(data.tag), anchor: string(data.anchor))
        case YAML_ALIAS_EVENT: return .alias(string(event.data.alias.anchor) ?? "")
        default: return .streamEnd
        }
    }
}
