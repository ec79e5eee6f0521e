/// The online-cluster settings FATE 1.4.2+ keeps in base_conf.yaml: `use_registry` and the
/// `zookeeper` mapping.
public struct RegistrySettings: Hashable, Sendable {
    public var useRegistry: Bool
    public var hosts: [String]
    public var useACL: Bool
    public var user: String
    public var password: String

    public init(useRegistry: Bool, hosts: [String], useACL: Bool, user: String, password: String) {
        self.useRegistry = useRegistry
        self.hosts = hosts
        self.useACL = useACL
        self.user = user
        self.password = password
    }

    /// Checks that each host is `host:port` with a port from 1 to 65535.
    /// kazoo's default port, which it adds to a host given without one.
    public static let defaultPort = 2181

    /// `host` as kazoo reads it: with the default port when it has none (`zk1` → `zk1:2181`).
    public static func withPort(_ host: String) -> String {
        host.contains(":") ? host : "\(host):\(defaultPort)"
    }

    public static func validHosts(_ hosts: [String]) -> String? {
        if hosts.isEmpty { return "no ZooKeeper hosts" }
        for host in hosts.map(withPort) {
            guard let colon = host.lastIndex(of: ":"), colon != host.startIndex else {
                return "'\(host)' is not in host[:port] form"
            }
            let name = host[..<colon]
            guard !name.contains(where: { $0 == " " || $0 == "," || $0 == "/" }) else { return "'\(host)' is not in host[:port] form" }
            guard let port = Int(host[host.index(after: colon)...]), (1...65535).contains(port) else {
                return "'\(host)': the port must be a number from 1 to 65535"
            }
        }
        return nil
    }

    /// Hosts from kazoo's comma-separated form (`'h1:2181,h2:2181'`).
    public static func splitHosts(_ text: String) -> [String] {
        text.split(separator: ",").map { String($0).trimmingWhitespace() }.filter { !$0.isEmpty }
    }
}

/// FATE's `python/arch/conf/base_conf.yaml`. Reads the registry settings and rewrites them
/// through libyaml's event positions, so that every byte outside the changed values —
/// comments, key order, quoting, indentation, blank lines — stays as it was.
public struct BaseConf: Sendable {
    /// The largest base_conf.yaml read: far above any real one (a few KiB), so a file over it is
    /// named as too large rather than taken for missing.
    public static let sizeLimit = 64 << 20

    /// A value found in the file and the line it is on.
    public struct Found<Value: Hashable & Sendable>: Hashable, Sendable {
        public var value: Value
        public var line: Int

        public init(value: Value, line: Int) {
            self.value = value
            self.line = line
        }
    }

    /// What the file holds now; any of it may be missing.
    public struct Current: Hashable, Sendable {
        public var useRegistry: Found<Bool>?
        public var hosts: Found<[String]>?
        public var useACL: Found<Bool>?
        public var user: Found<String>?
        public var password: Found<String>?
        public var hasZooKeeper = false

        /// The values alone, without their lines, for comparing two files.
        public var registry: [String] {
            [useRegistry.map { "\($0.value)" } ?? "-", hosts.map { $0.value.joined(separator: ",") } ?? "-",
             useACL.map { "\($0.value)" } ?? "-", user?.value ?? "-", password?.value ?? "-"]
        }

        /// FATE 1.4.4's own base_conf.yaml: `use_registry: false`, zookeeper 127.0.0.1:2281, fate/fate.
        public static let release144Defaults = ["false", "127.0.0.1:2281", "true", "fate", "fate"]
    }

    public let document: YAMLDocument
    public var file: String { document.file }
    let root: [(key: YAMLNode, value: YAMLNode)]

    public init(parsing bytes: [UInt8], file: String) throws(InputError) {
        if let line = BaseConf.firstInvalidUTF8Line(bytes) {
            throw InputError(SourceLocation(file: file, line: line), "not UTF-8 text")
        }
        let document = try YAMLDocument(parsing: bytes, file: file)
        self.document = document
        let location = { (mark: YAMLMark) in SourceLocation(file: file, line: mark.line, column: mark.column) }
        switch document.root {
        case .mapping(let pairs, false, _, _)?:
            root = pairs
        case .mapping(_, true, let start, _)?:
            throw InputError(location(start), "a flow-style {…} top-level mapping is not supported; expected `key: value` lines")
        case let node?:
            throw InputError(location(node.start), "expected a mapping of settings at the top level")
        case nil:
            throw InputError(SourceLocation(file: file), "the file is empty; expected FATE's base_conf.yaml settings")
        }
        if let zookeeper = YAMLDocument.lookup("zookeeper", in: document.root)?.value {
            guard case .mapping = zookeeper else {
                throw InputError(location(zookeeper.start), "zookeeper is present but is not a mapping (expected hosts, use_acl, user, password under it)")
            }
        }
    }

    func location(_ mark: YAMLMark) -> SourceLocation {
        SourceLocation(file: document.file, line: mark.line, column: mark.column)
    }

    /// Where fate_flow serves HTTP: `fate_flow.host` (0.0.0.0 means every address, so the
    /// loopback one answers too) and `fate_flow.http_port`.
    /// fate_flow's `grpc_port`, when the file names one.
    public func fateFlowGRPCPort() -> Int? {
        guard let flow = YAMLDocument.lookup("fate_flow", in: document.root)?.value else { return nil }
        return YAMLDocument.lookup("grpc_port", in: flow)?.value.scalarText.flatMap { Int($0) }
    }

    /// The `database` block fate_flow connects to in cluster mode (work_mode 1).
    public struct Database: Sendable, Hashable {
        public var name: String
        public var user: String
        public var password: Secret
        public var host: String
        public var port: Int
    }

    public func database() -> Database? {
        guard let block = YAMLDocument.lookup("database", in: document.root)?.value else { return nil }
        func text(_ key: String) -> String? { YAMLDocument.lookup(key, in: block)?.value.scalarText }
        guard let name = text("name"), let user = text("user"), let host = text("host"), let port = text("port").flatMap({ Int($0) }) else { return nil }
        return Database(name: name, user: user, password: Secret(text("passwd") ?? ""), host: host, port: port)
    }

    /// `work_mode`: 0 standalone (sqlite, local federation), 1 cluster.
    public func workMode() -> Int? {
        YAMLDocument.lookup("work_mode", in: document.root)?.value.scalarText.flatMap { Int($0) }
    }

    public func fateFlowHTTP() -> (host: String, port: Int)? {
        guard let flow = YAMLDocument.lookup("fate_flow", in: document.root)?.value,
              let port = YAMLDocument.lookup("http_port", in: flow)?.value.scalarText.flatMap({ Int($0) }) else { return nil }
        var host = YAMLDocument.lookup("host", in: flow)?.value.scalarText ?? "127.0.0.1"
        if host.isEmpty || host == "0.0.0.0" { host = "127.0.0.1" }
        return (host, port)
    }

    /// The registry settings present in the file, with their lines; wrong types are errors.
    public func current() throws(InputError) -> Current {
        var current = Current()
        if let node = YAMLDocument.lookup("use_registry", in: document.root)?.value {
            current.useRegistry = Found(value: try bool(node, "use_registry"), line: node.start.line)
        }
        guard let zookeeper = YAMLDocument.lookup("zookeeper", in: document.root)?.value else { return current }
        current.hasZooKeeper = true
        if let node = YAMLDocument.lookup("hosts", in: zookeeper)?.value {
            current.hosts = Found(value: try hosts(node), line: node.start.line)
        }
        if let node = YAMLDocument.lookup("use_acl", in: zookeeper)?.value {
            current.useACL = Found(value: try bool(node, "zookeeper.use_acl"), line: node.start.line)
        }
        if let node = YAMLDocument.lookup("user", in: zookeeper)?.value {
            current.user = Found(value: try string(node, "zookeeper.user"), line: node.start.line)
        }
        if let node = YAMLDocument.lookup("password", in: zookeeper)?.value {
            current.password = Found(value: try string(node, "zookeeper.password"), line: node.start.line)
        }
        return current
    }

    private func bool(_ node: YAMLNode, _ name: String) throws(InputError) -> Bool {
        guard case .bool(let value)? = YAMLScalar.resolve(node) else {
            throw InputError(location(node.start), "\(name) must be true or false")
        }
        return value
    }

    private func string(_ node: YAMLNode, _ name: String) throws(InputError) -> String {
        switch YAMLScalar.resolve(node) {
        case .string(let text)?, .int(let text)?, .float(let text)?, .other(let text)?: return text
        case .bool?:
            // PyYAML would hand FATE a bool here, but the text is what the operator meant.
            return node.scalarText ?? ""
        case .null?: return ""
        case nil: throw InputError(location(node.start), "\(name) must be a single value")
        }
    }

    private func hosts(_ node: YAMLNode) throws(InputError) -> [String] {
        switch node {
        case .sequence(let items, _, _, _):
            var hosts: [String] = []
            for item in items {
                guard let text = item.scalarText else {
                    throw InputError(location(item.start), "zookeeper.hosts must be a list of host:port strings")
                }
                hosts.append(text)
            }
            return hosts
        case .scalar(let text, _, _, _, _):
            return RegistrySettings.splitHosts(text)
        case .mapping(_, _, let start, _):
            throw InputError(location(start), "zookeeper.hosts must be a list of host:port strings")
        }
    }

    // MARK: - Rewriting

    private struct Edit {
        var range: Range<Int>
        var text: String
    }

    /// The file with `settings` written in; the result is parsed again and checked before it is returned.
    /// Returns the original bytes when the file already holds these settings.
    public func applying(_ settings: RegistrySettings) throws(InputError) -> [UInt8] {
        var edits: [Edit] = []
        let eol = lineEnding
        let unit = indentUnit

        // use_registry: changed in place, or inserted where FATE 1.4.4 has it, after work_mode.
        if let (_, value) = YAMLDocument.lookup("use_registry", in: document.root) {
            if case .bool(settings.useRegistry)? = YAMLScalar.resolve(value) {} else {
                edits.append(replacing(value, with: YAMLScalar.bool(settings.useRegistry)))
            }
        } else {
            let text = "use_registry: \(YAMLScalar.bool(settings.useRegistry))\(eol)"
            if let workMode = YAMLDocument.lookup("work_mode", in: document.root) {
                edits.append(inserting(text, at: lineEnd(after: workMode.value)))
            } else {
                edits.append(inserting(text, at: lineStart(document.byteOffset(root[0].key.start))))
            }
        }

        let wanted: [(key: String, value: Wanted)] = [
            ("hosts", .hosts(settings.hosts)), ("use_acl", .bool(settings.useACL)),
            ("user", .string(settings.user)), ("password", .string(settings.password)),
        ]
        if let (key, zookeeper) = YAMLDocument.lookup("zookeeper", in: document.root),
           case .mapping(let pairs, let flow, _, let end) = zookeeper {
            var missing: [(key: String, value: Wanted)] = []
            for item in wanted {
                guard let (_, value) = YAMLDocument.lookup(item.key, in: zookeeper) else { missing.append(item); continue }
                if let edit = try update(value, to: item.value, flow: flow) { edits.append(edit) }
            }
            if !missing.isEmpty {
                if flow {
                    // Before the closing brace.
                    let brace = document.byteOffset(end) - 1
                    let text = missing.map { "\($0.key): \($0.value.flowText)" }.joined(separator: ", ")
                    edits.append(inserting((pairs.isEmpty ? "" : ", ") + text, at: brace))
                } else {
                    let indent = String(repeating: " ", count: (pairs.first?.key.start.column ?? key.start.column + unit) - 1)
                    let text = missing.map { $0.value.blockLines(key: $0.key, indent: indent, unit: unit, eol: eol) }.joined()
                    edits.append(inserting(text, at: lineEnd(after: pairs.last?.value ?? key)))
                }
            }
        } else {
            // Where FATE 1.4.4 has it: after the database section.
            var text = "zookeeper:\(eol)"
            let indent = String(repeating: " ", count: unit)
            for item in wanted { text += item.value.blockLines(key: item.key, indent: indent, unit: unit, eol: eol) }
            let after = YAMLDocument.lookup("database", in: document.root)?.value ?? root[root.count - 1].value
            edits.append(inserting(text, at: lineEnd(after: after)))
        }

        if edits.isEmpty { return document.bytes }
        guard let result = apply(edits) else {
            throw InputError(SourceLocation(file: file), "the registry settings are laid out so that changing them would overlap (a value running into another); edit base_conf.yaml by hand, or write it as FATE ships it")
        }
        try verify(result, holds: settings)
        return result
    }

    /// Lines of the file with the ZooKeeper password replaced by `mask`, for showing diffs.
    public func maskedLines(mask: String = "********") -> [String] {
        var bytes = document.bytes
        if let zookeeper = YAMLDocument.lookup("zookeeper", in: document.root)?.value,
           let password = YAMLDocument.lookup("password", in: zookeeper)?.value,
           case .scalar(let text, _, _, let start, let end) = password, !text.isEmpty {
            bytes.replaceSubrange(document.byteOffset(start)..<document.byteOffset(end), with: Array(mask.utf8))
        }
        // Split on the byte: as Swift Characters, "\r\n" is one, which "\n" never matches.
        return bytes.split(separator: 0x0A, omittingEmptySubsequences: false)
            .map { String(decoding: $0.last == 0x0D ? $0.dropLast() : $0, as: UTF8.self) }
    }

    private enum Wanted {
        case hosts([String]), bool(Bool), string(String)

        var flowText: String {
            switch self {
            case .hosts(let hosts): "[" + hosts.map { YAMLScalar.string($0, flow: true) }.joined(separator: ", ") + "]"
            case .bool(let value): YAMLScalar.bool(value)
            case .string(let value): YAMLScalar.string(value, flow: true)
            }
        }

        func blockLines(key: String, indent: String, unit: Int, eol: String) -> String {
            switch self {
            case .hosts(let hosts):
                let dash = indent + String(repeating: " ", count: unit)
                return "\(indent)\(key):\(eol)" + hosts.map { "\(dash)- \(YAMLScalar.string($0))\(eol)" }.joined()
            case .bool(let value): return "\(indent)\(key): \(YAMLScalar.bool(value))\(eol)"
            case .string(let value): return "\(indent)\(key): \(YAMLScalar.string(value))\(eol)"
            }
        }
    }

    /// The edit that makes an existing value hold `wanted`, or nil when it already does.
    private func update(_ node: YAMLNode, to wanted: Wanted, flow: Bool) throws(InputError) -> Edit? {
        switch wanted {
        case .bool(let value):
            if case .bool(value)? = YAMLScalar.resolve(node) { return nil }
            guard case .scalar = node else { throw InputError(location(node.start), "expected true or false here") }
            return replacing(node, with: YAMLScalar.bool(value))
        case .string(let value):
            guard case .scalar(_, let style, _, _, _) = node else { throw InputError(location(node.start), "expected a single value here") }
            if case .string(value)? = YAMLScalar.resolve(node) { return nil }
            return replacing(node, with: YAMLScalar.string(value, preferred: style, flow: flow))
        case .hosts(let hosts):
            switch node {
            case .sequence(let items, false, let start, _):
                if items.map(\.scalarText) == hosts.map(Optional.some) { return nil }
                // Whole lines, from the first item's line to the last item's, at the same indentation.
                let dash = String(repeating: " ", count: start.column - 1)
                let text = hosts.map { "\(dash)- \(YAMLScalar.string($0))\(lineEnding)" }.joined()
                return Edit(range: lineStart(document.byteOffset(start))..<lineEnd(after: items[items.count - 1]), text: text)
            case .sequence(let items, true, _, _):
                if items.map(\.scalarText) == hosts.map(Optional.some) { return nil }
                return replacing(node, with: wanted.flowText)
            case .scalar(let text, _, _, _, _):
                if RegistrySettings.splitHosts(text) == hosts && hosts.count == 1 { return nil }
                return replacing(node, with: wanted.flowText)
            case .mapping:
                throw InputError(location(node.start), "zookeeper.hosts must be a list of host:port strings")
            }
        }
    }

    /// Replaces a value node's text. An empty value (`key:` and nothing) has no span, so the
    /// new text goes right after the key's colon.
    private func replacing(_ node: YAMLNode, with text: String) -> Edit {
        let start = document.byteOffset(node.start), end = document.byteOffset(node.end)
        if start == end, let colon = document.bytes[..<start].lastIndex(of: UInt8(ascii: ":")) {
            return Edit(range: (colon + 1)..<(colon + 1), text: " " + text)
        }
        return Edit(range: start..<end, text: text)
    }

    private func inserting(_ text: String, at offset: Int) -> Edit {
        // A last line without its line break gets one before the inserted text.
        let needsBreak = offset == document.bytes.count && offset > 0 && document.bytes[offset - 1] != UInt8(ascii: "\n")
        return Edit(range: offset..<offset, text: (needsBreak ? lineEnding : "") + text)
    }

    /// nil when two edits overlap (a file shaped so that one value's text runs into another's):
    /// such a file is refused rather than guessed at.
    private func apply(_ edits: [Edit]) -> [UInt8]? {
        var out: [UInt8] = []
        var position = 0
        for edit in edits.sorted(by: { $0.range.lowerBound < $1.range.lowerBound }) {
            guard edit.range.lowerBound >= position, edit.range.upperBound <= document.bytes.count else { return nil }
            out += document.bytes[position..<edit.range.lowerBound]
            out += Array(edit.text.utf8)
            position = edit.range.upperBound
        }
        out += document.bytes[position...]
        return out
    }

    /// Reads the result back with libyaml: the settings must be what was meant, and every
    /// other top-level entry exactly as before.
    private func verify(_ bytes: [UInt8], holds settings: RegistrySettings) throws(InputError) {
        let failure = { (what: String) in
            InputError(SourceLocation(file: self.file), "internal error: the edited file would not read back as intended (\(what)); nothing was written")
        }
        let edited: BaseConf
        do { edited = try BaseConf(parsing: bytes, file: file) } catch { throw failure(error.message) }
        guard let now = try? edited.current() else { throw failure("settings unreadable") }
        guard now.useRegistry?.value == settings.useRegistry, now.hosts?.value == settings.hosts,
              now.useACL?.value == settings.useACL, now.user?.value == settings.user,
              now.password?.value == settings.password else { throw failure("values differ") }
        guard let zookeeper = YAMLDocument.lookup("zookeeper", in: edited.document.root)?.value,
              case .string? = YAMLDocument.lookup("user", in: zookeeper).flatMap({ YAMLScalar.resolve($0.value) }),
              case .string? = YAMLDocument.lookup("password", in: zookeeper).flatMap({ YAMLScalar.resolve($0.value) }) else {
            throw failure("user or password would not load as a string")
        }
        let others = { (pairs: [(key: YAMLNode, value: YAMLNode)]) in
            pairs.filter { !["use_registry", "zookeeper"].contains($0.key.scalarText) }
        }
        let before = others(root), after = others(edited.root)
        guard before.count == after.count,
              zip(before, after).allSatisfy({ $0.key.sameContent(as: $1.key) && $0.value.sameContent(as: $1.value) }) else {
            throw failure("another setting changed")
        }
    }

    // MARK: - Layout of the text

    /// CR LF if the file uses it, so inserted lines match.
    var lineEnding: String {
        guard let newline = document.bytes.firstIndex(of: UInt8(ascii: "\n")) else { return "\n" }
        return newline > 0 && document.bytes[newline - 1] == UInt8(ascii: "\r") ? "\r\n" : "\n"
    }

    /// Spaces per nesting level, from the first nested block mapping (2 in FATE's files).
    var indentUnit: Int {
        for pair in root {
            if case .mapping(let children, false, _, _) = pair.value, let first = children.first {
                let unit = first.key.start.column - pair.key.start.column
                if unit > 0 { return unit }
            }
        }
        return 2
    }

    private func lineStart(_ offset: Int) -> Int {
        var index = offset
        while index > 0, document.bytes[index - 1] != UInt8(ascii: "\n") { index -= 1 }
        return index
    }

    /// The offset just after the line break of the line where `node`'s content ends.
    /// Block collections end at the next token, so their last scalar is used instead.
    private func lineEnd(after node: YAMLNode) -> Int {
        var offset = document.byteOffset(BaseConf.contentEnd(node))
        while offset < document.bytes.count, document.bytes[offset] != UInt8(ascii: "\n") { offset += 1 }
        return min(offset + 1, document.bytes.count)
    }

    static func contentEnd(_ node: YAMLNode) -> YAMLMark {
        switch node {
        case .mapping(let pairs, false, _, _) where !pairs.isEmpty: contentEnd(pairs[pairs.count - 1].value)
        case .sequence(let items, false, _, _) where !items.isEmpty: contentEnd(items[items.count - 1])
        default: node.end
        }
    }

    static func firstInvalidUTF8Line(_ bytes: [UInt8]) -> Int? {
        var decoder = UTF8()
        var iterator = bytes.makeIterator()
        var line = 1
        while true {
            switch decoder.decode(&iterator) {
            case .scalarValue(let scalar): if scalar == "\n" { line += 1 }
            case .emptyInput: return nil
            case .error: return line
            }
        }
    }
}

extension String {
    public func trimmingWhitespace() -> String {
        let scalars = unicodeScalars
        guard let first = scalars.firstIndex(where: { !$0.properties.isWhitespace }),
              let last = scalars.lastIndex(where: { !$0.properties.isWhitespace }) else { return "" }
        return String(scalars[first...last])
    }
}
