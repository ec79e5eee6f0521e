/// A FATE release the upgrade starts from or goes to.
public enum FateRelease: String, CaseIterable, Sendable, Codable, Comparable {
    case v1_4_0 = "1.4.0", v1_4_1 = "1.4.1", v1_4_2 = "1.4.2", v1_4_3 = "1.4.3", v1_4_4 = "1.4.4"

    /// What the upgrade package installs.
    public static let target = FateRelease.v1_4_4

    /// 1.4.0 and 1.4.1 keep ZooKeeper in Python source and the model store in redis.
    public var keepsRegistryInPython: Bool { self < .v1_4_2 }

    public static func < (lhs: FateRelease, rhs: FateRelease) -> Bool {
        allCases.firstIndex(of: lhs)! < allCases.firstIndex(of: rhs)!
    }

    /// Releases whose files are the same as this one's (1.4.2 and 1.4.3 ship identical ones).
    public var sameFiles: [FateRelease] {
        FateRelease.allCases.filter { other in SiteFile.allCases.allSatisfy { other.defaultFile($0) == defaultFile($0) } }
    }

    /// "1.4.2/1.4.3" where releases cannot be told apart by their files.
    public var shown: String { sameFiles.map(\.rawValue).joined(separator: "/") }
}

/// The files inside FATE_ROOT/python that FATE reads its settings from (in 1.4.x a site's whole
/// configuration lives there, so an upgrade that replaces the tree must carry them).
public enum SiteFile: String, CaseIterable, Sendable, Codable {
    case baseConf = "arch/conf/base_conf.yaml"
    case serverConf = "arch/conf/server_conf.json"
    case settings = "fate_flow/settings.py"
    /// 1.4.0 and 1.4.1 only.
    case settingUtils = "fate_flow/utils/setting_utils.py"

    /// The file's name, as the operator names it on the command line (`--accept-release settings.py`).
    public var name: String { String(rawValue.split(separator: "/").last!) }

    public init?(name: String) {
        guard let file = SiteFile.allCases.first(where: { $0.name == name || $0.rawValue == name }) else { return nil }
        self = file
    }

}

/// Which release a site's files started from: the one whose defaults differ from them in the
/// fewest lines, among the releases with the same layout.
public struct SiteBaseline: Sendable, Hashable {
    public var release: FateRelease
    /// Lines of the site's files that differ from that release's defaults.
    public var differingLines: Int
    /// Later releases whose defaults are just as close. The oldest is taken: a value the site left
    /// at an older default then reads as the site's, and a later release's default as a change that
    /// the new release shares, so a wrong guess can only leave a value as it is or ask, never drop one.
    public var alsoClose: [FateRelease]
    public var given: Bool

    public var reason: String {
        if given { return "given with --site-release" }
        let tie = alsoClose.isEmpty ? "" : " (as close to \(alsoClose.map(\.shown).joined(separator: ", ")); the oldest is taken, --site-release says otherwise)"
        if differingLines == 0 { return "its files are FATE \(release.shown)'s defaults, unchanged" + tie }
        return "its files differ from FATE \(release.shown)'s defaults in \(differingLines) lines, the fewest of any release with this layout" + tie
    }

    public static func detect(site: [SiteFile: [UInt8]], given: FateRelease? = nil) -> SiteBaseline {
        // Split once: a site's file may be far larger than the release's (50 MB of comments).
        let lines = site.mapValues(TextLines.split)
        if let given { return SiteBaseline(release: given, differingLines: distance(lines, given), alsoClose: [], given: true) }
        let candidates: [FateRelease] = site[.settingUtils] != nil ? [.v1_4_0, .v1_4_1] : [.v1_4_2, .v1_4_3, .v1_4_4]
        let scored = candidates.map { ($0, distance(lines, $0)) }
        let best = scored.map(\.1).min()!
        let closest = scored.filter { $0.1 == best }.map(\.0)
        let release = closest.first!
        return SiteBaseline(release: release, differingLines: best,
                            alsoClose: closest.filter { !release.sameFiles.contains($0) }, given: false)
    }

    static func distance(_ site: [SiteFile: [String]], _ release: FateRelease) -> Int {
        var total = 0
        for (file, ours) in site {
            let theirs = TextLines.split(release.defaultFile(file) ?? [])
            total += UnifiedDiff.editScript(theirs, ours).filter { $0.kind != .same }.count
        }
        return total
    }
}

/// Lines of a text file for comparing and showing: a BOM and CR before LF dropped.
public enum TextLines {
    public static func split(_ bytes: [UInt8]) -> [String] {
        var body = bytes[...]
        if body.starts(with: [0xEF, 0xBB, 0xBF]) { body = body.dropFirst(3) }
        var lines = body.split(separator: 0x0A, omittingEmptySubsequences: false)
            .map { String(decoding: $0.last == 0x0D ? $0.dropLast() : $0, as: UTF8.self) }
        if lines.last == "" { lines.removeLast() }
        return lines
    }

    /// The line with what follows a password-like key's `=` or `:` masked.
    public static func masked(_ line: String) -> String {
        let upper = line.uppercased()
        guard upper.contains("PASSWORD") || upper.contains("PASSWD") || upper.contains("DB_PASS") else { return line }
        guard let separator = line.firstIndex(where: { $0 == "=" || $0 == ":" }) else { return line }
        let rest = line[line.index(after: separator)...]
        if String(rest).trimmingWhitespace().isEmpty { return line }
        return String(line[...separator]) + " ********"
    }

    /// A masked unified diff of two files; a secret that changed shows as `********(changed)`.
    public static func diff(_ old: [UInt8], _ new: [UInt8], oldLabel: String, newLabel: String) -> String {
        let before = split(old), after = split(new)
        let raw = Set(before)
        let shown = after.map { line -> String in
            let hidden = masked(line)
            return hidden != line && !raw.contains(line) ? hidden + "(changed)" : hidden
        }
        return UnifiedDiff.make(old: before.map(masked), new: shown, oldLabel: oldLabel, newLabel: newLabel)
    }
}

/// Byte edits to one text, applied together.
struct TextEdit {
    var range: Range<Int>
    var bytes: [UInt8]

    init(_ range: Range<Int>, _ text: String) {
        self.range = range
        bytes = Array(text.utf8)
    }

    /// nil when two edits overlap. Insertions at one place go in the order given.
    static func apply(_ edits: [TextEdit], to text: [UInt8]) -> [UInt8]? {
        var out: [UInt8] = []
        var position = 0
        let ordered = edits.enumerated().sorted {
            ($0.element.range.lowerBound, $0.element.range.upperBound, $0.offset) < ($1.element.range.lowerBound, $1.element.range.upperBound, $1.offset)
        }.map(\.element)
        for edit in ordered {
            guard edit.range.lowerBound >= position, edit.range.upperBound <= text.count else { return nil }
            out += text[position..<edit.range.lowerBound]
            out += edit.bytes
            position = edit.range.upperBound
        }
        out += text[position...]
        return out
    }
}

extension String {
    /// Padded with spaces to `width` characters (never cut), for columns.
    public func padded(to width: Int) -> String {
        count >= width ? self : self + String(repeating: " ", count: width - count)
    }
}
