import FateUpgradeArchive
import FateUpgradeCore

/// The version of the `--json` reports (docs/json.md, docs/json-schema.json): every report says it
/// in `schemaVersion`; a field removed or changed in meaning raises it, a field added does not.
public enum ReportSchema {
    public static let version = 1
}

/// One error in a failure's report: a stable code for automation, the line for people.
public struct ReportedError: Codable, Sendable, Hashable {
    public var code: String
    public var message: String

    public init(code: String, message: String) {
        self.code = code
        self.message = message
    }
}

/// What --json prints for a run that failed without a report of its own. Whether it changed
/// something is not known here, so it is not said: the errors say what was done.
public struct FailureReport: Codable, Sendable {
    public var schemaVersion = ReportSchema.version
    public var outcome: RunOutcome
    public var errors: [ReportedError]
    public var exitStatus: Int32

    public init(code: String, lines: [String], exitStatus: Int32) {
        outcome = exitStatus > 128 ? .interrupted : .failed
        errors = lines.map { ReportedError(code: code, message: $0) }
        self.exitStatus = exitStatus
    }
}

/// `pack`'s report: what was done, without secret values.
public struct PackReport: Codable, Sendable {
    public struct Change: Codable, Sendable {
        public var name: String
        public var line: Int
        public var secret: Bool
        public var from: String?
        public var to: String?
    }

    /// How the output was written and what was checked of it (nil for --plan).
    public struct Written: Codable, Sendable {
        /// splice, rewrite or archive (docs/pack.md).
        public var method: UpgradePackage.WriteMethod
        /// Why the input's compressed stream was not spliced, when it was not.
        public var notSpliced: String?
        /// The splice was tried and failed its own check: a fault to report; the output was rewritten instead.
        public var spliceCheckFailed: Bool
        public var recompressedBytes: UInt64
        public var copiedBytes: Int64
        public var check: String
        public var sha256: String?
    }

    public var schemaVersion = ReportSchema.version
    public var outcome: RunOutcome
    /// Whether a package was written.
    public var changed: Bool
    public var input: String
    public var output: String?
    public var script: String
    public var dryRun: Bool
    public var entries: Int?
    public var bytesIn: Int64?
    public var bytesOut: Int64?
    public var lineEndingsConverted: Bool
    /// The parameters the new script sets differently.
    public var changes: [Change]
    public var diff: String?
    public var written: Written?

    public init(plan: ParameterPlan, script: String, input: String, output: String?, summary: UpgradePackage.Summary?, diff: String?) {
        self.input = input
        self.output = output
        self.script = script
        dryRun = summary == nil
        outcome = summary == nil ? .planned : .succeeded
        changed = summary != nil
        entries = summary?.entries
        bytesIn = summary.map { $0.bytesIn }
        bytesOut = summary?.bytesOut
        lineEndingsConverted = plan.block.hasCRLF
        changes = plan.changes.map {
            Change(name: $0.name, line: $0.line, secret: $0.kind.isSecret,
                   from: $0.kind.isSecret ? nil : $0.oldValue, to: $0.kind.isSecret ? nil : $0.newValue)
        }
        self.diff = diff
        written = summary.map {
            Written(method: $0.method, notSpliced: $0.notSpliced, spliceCheckFailed: $0.spliceCheckFailed,
                    recompressedBytes: $0.recompressed, copiedBytes: $0.copied, check: $0.check, sha256: $0.sha256)
        }
    }
}

/// `inspect`'s report: the parameters a package's script sets, secrets masked.
public struct InspectReport: Codable, Sendable {
    public struct Parameter: Codable, Sendable {
        public var name: String
        public var line: Int
        /// `path`, `text`, `secret` or `choice`.
        public var kind: String
        /// The words a `choice` allows.
        public var choices: [String]?
        /// The value; for a secret, the mask (or `fate_dev`, which is public).
        public var value: String
        /// For secrets: whether it is still the package's default (FATE's fate_dev).
        public var packageDefault: Bool?
    }

    public enum Framing: String, Codable, Sendable { case banners, leadingAssignments = "leading_assignments" }

    public var schemaVersion = ReportSchema.version
    public var input: String
    public var script: String
    public var firstLine: Int
    public var lastLine: Int
    public var framing: Framing
    /// The banner lines around the block, when it has them.
    public var banners: [Int]?
    public var lineEndings: String
    public var parameters: [Parameter]

    public init(input: String, script: String, block: ShellParameterBlock) {
        self.input = input
        self.script = script
        firstLine = block.lines.lowerBound
        lastLine = block.lines.upperBound
        switch block.framing {
        case .banners(let opening, let closing): (framing, banners) = (.banners, [opening, closing])
        case .leadingAssignments: (framing, banners) = (.leadingAssignments, nil)
        }
        lineEndings = block.hasCRLF ? "CRLF" : "LF"
        // FATE's scripts ship DB_PASS=fate_dev: shown as such (it is public), so that a package
        // nobody set the password in is recognised; any other secret stays masked.
        parameters = block.currentValues().map { value in
            let isDefault = value.kind.isSecret ? block.assignment(named: value.name)?.word.literalValue == "fate_dev" : nil
            return Parameter(name: value.name, line: value.line, kind: value.kind.name, choices: value.kind.choices,
                             value: isDefault == true ? "fate_dev" : value.value, packageDefault: isDefault)
        }
    }

    /// The report as lines for a terminal.
    public var lines: [String] {
        let where_ = framing == .banners && banners?.count == 2 ? "between the banner lines \(banners![0]) and \(banners![1])"
            : "the first assignments after the preamble (no banner lines)"
        var lines = ["\(script), lines \(firstLine)–\(lastLine), \(where_):"]
        for parameter in parameters {
            let shown = switch parameter.packageDefault {
            case true?: "fate_dev (the package default: give \(parameter.name) to pack)"
            case false?: "\(parameter.value) (changed from the package default)"
            case nil: parameter.value
            }
            lines.append("  \(parameter.name)\(String(repeating: " ", count: max(0, 20 - parameter.name.count))) \(shown)")
        }
        if lineEndings == "CRLF" { lines.append("line endings: CR LF (Windows); `fate-upgrade pack` writes them as LF") }
        return lines
    }
}
