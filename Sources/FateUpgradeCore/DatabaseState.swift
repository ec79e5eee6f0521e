/// A dump of the fate_flow database taken by `apply` before the package's SQL runs: what the
/// journal records of it, and what `rollback --from-snapshot` checks the restore against.
public struct DatabaseSnapshot: Codable, Sendable, Hashable {
    /// The gzip file, under FATE_ROOT/.fate-upgrade/snapshots/.
    public var file: String
    public var database: String
    /// Compressed size, and SHA-256 of the compressed bytes.
    public var bytes: Int64
    public var sha256: String
    /// Size of the SQL text, for the free space a restore needs.
    public var uncompressedBytes: Int64
    /// Rows per table as the dump holds them (counted in the dump itself, so they agree with it
    /// even when fate_flow wrote while it was taken); every table, empty ones as 0.
    public var rows: [String: Int]
    public var takenAt: String
    public var seconds: Double
    /// The program that made it, e.g. `/data/projects/fate/common/mysql/mysql-8.0.13/bin/mysqldump`.
    public var tool: String

    public init(file: String, database: String, bytes: Int64, sha256: String, uncompressedBytes: Int64,
                rows: [String: Int], takenAt: String, seconds: Double, tool: String) {
        self.file = file
        self.database = database
        self.bytes = bytes
        self.sha256 = sha256
        self.uncompressedBytes = uncompressedBytes
        self.rows = rows
        self.takenAt = takenAt
        self.seconds = seconds
        self.tool = tool
    }
}

/// Counts the rows of each table in mysqldump output as it streams past, and notes whether the
/// dump finished: mysqldump writes `-- Dump completed` last, so a dump cut short lacks it.
///
/// Rows are the top-level parenthesised tuples after ``INSERT INTO `t` VALUES `` up to the `;`;
/// mysqldump escapes quotes, backslashes and newlines inside strings with a backslash, so a
/// parenthesis or a newline inside a string is never taken for structure.
public struct DumpRowCounter: Sendable {
    public private(set) var rows: [String: Int] = [:]
    public private(set) var tables: [String] = []
    public private(set) var completed = false
    public private(set) var byteCount: Int64 = 0

    private enum Mode: Sendable { case head, skipLine, values }
    private var mode = Mode.head
    private var head: [UInt8] = []
    private var table = ""
    private var depth = 0
    private var inString = false
    private var escaped = false

    private static let insert = Array("INSERT INTO `".utf8)
    private static let create = Array("CREATE TABLE `".utf8)
    private static let completedMark = Array("-- Dump completed".utf8)
    private static let values = Array(" VALUES ".utf8)
    /// Longer than any line head we look at: a table name is at most 64 characters of 4 bytes.
    private static let headLimit = 512

    public init() {}

    public mutating func feed(_ bytes: UnsafeRawBufferPointer) {
        byteCount += Int64(bytes.count)
        for byte in bytes { step(byte) }
    }

    public mutating func feed(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { feed($0) }
    }

    private mutating func step(_ byte: UInt8) {
        switch mode {
        case .skipLine:
            if byte == 0x0A { startLine() }
        case .head:
            if byte == 0x0A {
                judgeHead(atEnd: true)
                if mode != .values { startLine() }
                return
            }
            head.append(byte)
            judgeHead(atEnd: false)
        case .values:
            if inString {
                if escaped { escaped = false } else if byte == 0x5C { escaped = true } else if byte == 0x27 { inString = false }
                return
            }
            switch byte {
            case 0x27: inString = true
            case 0x28:
                if depth == 0 { rows[table, default: 0] += 1 }
                depth += 1
            case 0x29: depth = max(0, depth - 1)
            case 0x3B where depth == 0: mode = .skipLine
            default: break
            }
        }
    }

    private mutating func startLine() {
        mode = .head
        head.removeAll(keepingCapacity: true)
        depth = 0
        inString = false
        escaped = false
    }

    /// Decides what a line is as soon as its head says so.
    private mutating func judgeHead(atEnd: Bool) {
        if head.starts(with: Self.insert) || Self.insert.starts(with: head) && !atEnd {
            guard head.count > Self.insert.count else { return }
            guard let name = Self.quotedName(head[Self.insert.count...]) else {
                if head.count > Self.headLimit { mode = .skipLine }
                return
            }
            // MySQL's mysqldump writes `VALUES (…),(…);` on one line, MariaDB's `VALUES` then a row per line.
            let rest = head[(Self.insert.count + name.length)...]
            let whole = atEnd ? rest.elementsEqual(Self.values.dropLast()) : rest.elementsEqual(Self.values)
            guard whole else {
                if atEnd || !Self.values.starts(with: rest) { mode = .skipLine }
                return
            }
            table = name.text
            if rows[table] == nil { tables.append(table); rows[table] = 0 }
            mode = .values
            depth = 0
            inString = false
            escaped = false
            head.removeAll(keepingCapacity: true)
            return
        }
        if head.starts(with: Self.create) || Self.create.starts(with: head) && !atEnd {
            guard head.count > Self.create.count else { return }
            guard let name = Self.quotedName(head[Self.create.count...]) else {
                if head.count > Self.headLimit { mode = .skipLine }
                return
            }
            if rows[name.text] == nil { tables.append(name.text); rows[name.text] = 0 }
            mode = .skipLine
            return
        }
        if head.starts(with: Self.completedMark) { completed = true; mode = .skipLine; return }
        if Self.completedMark.starts(with: head) && !atEnd { return }
        mode = .skipLine
    }

    /// A backquoted identifier (``` `` ``` inside is one backquote), with the bytes it spans
    /// after the opening quote, closing quote included; nil until it is complete.
    private static func quotedName(_ bytes: ArraySlice<UInt8>) -> (text: String, length: Int)? {
        var name: [UInt8] = []
        var index = bytes.startIndex
        while index < bytes.endIndex {
            if bytes[index] == 0x60 {
                let next = bytes.index(after: index)
                if next < bytes.endIndex && bytes[next] == 0x60 {
                    name.append(0x60)
                    index = bytes.index(after: next)
                    continue
                }
                if next == bytes.endIndex { return nil }  // `` or the end: not known yet
                return (String(decoding: name, as: UTF8.self), next - bytes.startIndex)
            }
            name.append(bytes[index])
            index = bytes.index(after: index)
        }
        return nil
    }
}

/// Where the fate_flow schema stands, read from its columns (fate-facts: 1.4.0→1.4.1 adds
/// t_queue.f_frequency; 1.4.1→1.4.2 widens f_role to varchar(50) in four tables; 1.4.2–1.4.4
/// share the schema).
public enum SchemaState: String, Sendable, Codable, Hashable {
    case v140 = "1.4.0"
    case v141 = "1.4.1"
    case v144 = "1.4.4"
    /// Some of the 1.4.1→1.4.2 changes made and some not: SQL that stopped half-way.
    case partial = "partly upgraded"
    case missing = "no fate_flow tables"

    public static let widenedTables = ["t_job", "t_task", "t_data_view", "t_machine_learning_model_meta"]

    /// - Parameter columns: `table -> column -> column type` (e.g. `varchar(50)`), as
    ///   information_schema.columns gives them.
    public static func judge(_ columns: [String: [String: String]]) -> SchemaState {
        guard let queue = columns["t_queue"] else { return .missing }
        let hasFrequency = queue["f_frequency"] != nil
        let widened = widenedTables.map { columns[$0]?["f_role"]?.lowercased() == "varchar(50)" }
        if widened.allSatisfy({ $0 }) { return hasFrequency ? .v144 : .partial }
        if widened.contains(true) { return .partial }
        return hasFrequency ? .v141 : .v140
    }

    public init?(code: String) {
        guard let state = [SchemaState.v140, .v141, .v144, .partial, .missing].first(where: { $0.code == code }) else { return nil }
        self = state
    }

    /// One word for reports: `1.4.0`, `1.4.1`, `1.4.4`, `partial`, `missing`.
    public var code: String {
        switch self {
        case .partial: "partial"
        case .missing: "missing"
        default: rawValue
        }
    }

    public var description: String {
        switch self {
        case .v144: "1.4.4 (the 1.4.2–1.4.4 schema)"
        case .partial: "partly upgraded (the upgrade SQL stopped half-way)"
        default: rawValue
        }
    }
}

/// Which FATE release a python/ tree is, as far as its files tell: 1.4.0 and 1.4.1 keep the
/// ZooKeeper settings in the python source; 1.4.2 and later in base_conf.yaml (`use_registry`).
public enum PythonTreeLayout: String, Sendable, Codable, Hashable {
    case v140 = "1.4.0/1.4.1"
    case v142 = "1.4.2–1.4.4"
    case unknown = "unknown"

    /// - Parameters:
    ///   - baseConf: `arch/conf/base_conf.yaml`, when there.
    ///   - hasSettingUtils: whether `fate_flow/utils/setting_utils.py` exists (1.4.0/1.4.1 only).
    public static func judge(baseConf: [UInt8]?, hasSettingUtils: Bool) -> PythonTreeLayout {
        if hasSettingUtils { return .v140 }
        guard let baseConf, let conf = try? BaseConf(parsing: baseConf, file: "base_conf.yaml"),
              let current = try? conf.current() else { return .unknown }
        return current.useRegistry != nil ? .v142 : .v140
    }
}

/// What a package's upgrade SQL does, as far as preflight needs to know.
public enum UpgradeSQL {
    /// The `_backup` tables a SQL file makes (`create table t_queue_backup like t_queue;`), in order.
    public static func backupTablesCreated(by text: String) -> [String] {
        var created: [String] = []
        for statement in text.lowercased().split(separator: ";") {
            var words = statement.split(whereSeparator: { $0 == " " || $0 == "\n" || $0 == "\t" || $0 == "\r" }).map { $0.replacing("`", with: "") }
            guard words.count >= 4, words[0] == "create", words[1] == "table" else { continue }
            words.removeFirst(2)
            if words.starts(with: ["if", "not", "exists"]) { words.removeFirst(3) }
            guard let name = words.first, name.hasSuffix("_backup"), words.dropFirst().first == "like" else { continue }
            created.append(String(name.split(separator: ".").last ?? Substring(name)))
        }
        return created
    }

    /// Whether the schema already holds the change the SQL makes after copying `table` to
    /// `<table>_backup`: a `_backup` table then is the copy an earlier upgrade left (FATE's own
    /// 1.4.0→1.4.1 leaves `t_queue_backup`), not one this upgrade made.
    public static func stepDone(backupOf table: String, schema: SchemaState) -> Bool {
        switch schema {
        case .v144: true
        case .v141: table == "t_queue"
        case .v140, .partial, .missing: false
        }
    }
}
