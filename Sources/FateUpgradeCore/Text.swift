/// Path arithmetic on strings, as the shell does it.
public enum Path {
    /// `dirname`: "a/b" → "a", "/a" → "/", "a" → "".
    public static func parent(_ path: String) -> String {
        var trimmed = Substring(path)
        while trimmed.count > 1 && trimmed.hasSuffix("/") { trimmed.removeLast() }
        guard let slash = trimmed.lastIndex(of: "/") else { return "" }
        if slash == trimmed.startIndex { return "/" }
        return String(trimmed[..<slash])
    }

    /// The path as one spelling: `//` and `.` gone, `..` taken back lexically, no trailing slash.
    /// What `realpath` would say for a path without symlinks; a relative path stays relative.
    public static func normalised(_ path: String) -> String {
        var parts: [Substring] = []
        for part in path.split(separator: "/", omittingEmptySubsequences: true) {
            if part == "." { continue }
            if part == "..", let last = parts.last, last != ".." { parts.removeLast(); continue }
            if part == "..", path.hasPrefix("/") { continue }
            parts.append(part)
        }
        let joined = parts.joined(separator: "/")
        return path.hasPrefix("/") ? "/" + joined : joined.isEmpty ? "." : joined
    }

    /// Whether `path` is `folder` or inside it, both normalised.
    public static func isInside(_ path: String, _ folder: String) -> Bool {
        let path = normalised(path), folder = normalised(folder)
        return path == folder || path.hasPrefix(folder == "/" ? "/" : folder + "/")
    }

    /// `basename`.
    public static func name(_ path: String) -> String {
        var trimmed = Substring(path)
        while trimmed.count > 1 && trimmed.hasSuffix("/") { trimmed.removeLast() }
        guard let slash = trimmed.lastIndex(of: "/") else { return String(trimmed) }
        return String(trimmed[trimmed.index(after: slash)...])
    }
}

/// Quotes a word for a POSIX shell when it needs it, for commands shown to the operator.
public func shellQuoted(_ word: String) -> String {
    let plain = word.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "-_./=:,+@%".contains($0)) }
    if plain && !word.isEmpty { return word }
    return "'" + word.replacing( "'", with: "'\\''") + "'"
}

/// A size for people: bytes, KiB, MiB or GiB, one decimal below ten.
public func sizeText(_ bytes: Int64) -> String {
    let units = ["bytes", "KiB", "MiB", "GiB", "TiB"]
    var value = Double(bytes)
    var unit = 0
    while value >= 1024 && unit < units.count - 1 {
        value /= 1024
        unit += 1
    }
    if unit == 0 { return "\(bytes) bytes" }
    let tenths = Int((value * 10).rounded())
    return value < 10 ? "\(tenths / 10).\(tenths % 10) \(units[unit])" : "\(Int(value.rounded())) \(units[unit])"
}

/// Bytes as MiB with one decimal, e.g. "12.3 MiB".
public func mebibytes(_ bytes: Int64) -> String {
    let tenths = (bytes * 10 + 524_288) / 1_048_576
    return "\(tenths / 10).\(tenths % 10) MiB"
}

/// The known word a mistyped one most likely meant, for "did you mean …?".
public enum Suggestion {
    /// The closest of `candidates` by edit distance (case ignored, a swap of two neighbours is one
    /// edit), when it is close enough to be a typo: at most 2 edits, and fewer than half the word.
    public static func closest(to word: String, among candidates: [String]) -> String? {
        let target = Array(word.uppercased())
        var best: (name: String, distance: Int)? = nil
        for candidate in candidates {
            let distance = editDistance(target, Array(candidate.uppercased()))
            if distance <= 2, distance * 2 < max(target.count, 1), distance < (best?.distance ?? .max) { best = (candidate, distance) }
        }
        return best?.name
    }

    static func editDistance(_ a: [Character], _ b: [Character]) -> Int {
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var before = [Int](0...b.count), previous = before, current = before
        for i in 1...a.count {
            current[0] = i
            for j in 1...b.count {
                let cost = a[i - 1] == b[j - 1] ? 0 : 1
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
                if i > 1, j > 1, a[i - 1] == b[j - 2], a[i - 2] == b[j - 1] { current[j] = min(current[j], before[j - 2] + 1) }
            }
            before = previous
            previous = current
        }
        return previous[b.count]
    }
}
