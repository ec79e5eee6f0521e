/// A unified diff (`diff -u` format) of two texts given as lines.
public enum UnifiedDiff {
    /// Empty when the two are equal. Line numbers in hunk headers start at `firstLine`.
    public static func make(old: [String], new: [String], oldLabel: String, newLabel: String,
                            firstLine: Int = 1, context: Int = 3) -> String {
        let script = editScript(old, new)
        guard script.contains(where: { $0.kind != .same }) else { return "" }
        var out = "--- \(oldLabel)\n+++ \(newLabel)\n"
        // Group edits that lie within 2×context lines of each other into hunks.
        var index = 0
        while index < script.count {
            guard let firstChange = script[index...].firstIndex(where: { $0.kind != .same }) else { break }
            let start = max(firstChange - context, index)
            var end = firstChange
            var lastChange = firstChange
            while end < script.count {
                if script[end].kind != .same { lastChange = end }
                if end - lastChange > 2 * context { break }
                end += 1
            }
            end = min(lastChange + context + 1, script.count)
            let hunk = script[start..<end]
            let oldStart = hunk.first!.oldLine
            let newStart = hunk.first!.newLine
            let oldCount = hunk.filter { $0.kind != .inserted }.count
            let newCount = hunk.filter { $0.kind != .deleted }.count
            out += "@@ -\(range(oldStart + firstLine, oldCount)) +\(range(newStart + firstLine, newCount)) @@\n"
            for edit in hunk {
                switch edit.kind {
                case .same: out += " \(old[edit.oldLine])\n"
                case .deleted: out += "-\(old[edit.oldLine])\n"
                case .inserted: out += "+\(new[edit.newLine])\n"
                }
            }
            index = end
        }
        return out
    }

    private static func range(_ start: Int, _ count: Int) -> String {
        count == 1 ? "\(start)" : "\(count == 0 ? start - 1 : start),\(count)"
    }

    struct Edit {
        enum Kind { case same, deleted, inserted }
        var kind: Kind
        /// 0-based positions in old and new where this edit stands.
        var oldLine: Int
        var newLine: Int
    }

    /// Longest-common-subsequence edit script; the files diffed here are small (configs, a block).
    static func editScript(_ old: [String], _ new: [String]) -> [Edit] {
        let n = old.count, m = new.count
        var lengths = Array(repeating: Array(repeating: 0, count: m + 1), count: n + 1)
        for i in stride(from: n - 1, through: 0, by: -1) {
            for j in stride(from: m - 1, through: 0, by: -1) {
                lengths[i][j] = old[i] == new[j] ? lengths[i + 1][j + 1] + 1 : max(lengths[i + 1][j], lengths[i][j + 1])
            }
        }
        var edits: [Edit] = []
        var i = 0, j = 0
        while i < n || j < m {
            if i < n, j < m, old[i] == new[j] {
                edits.append(Edit(kind: .same, oldLine: i, newLine: j)); i += 1; j += 1
            } else if j < m, i == n || lengths[i][j + 1] > lengths[i + 1][j] {
                edits.append(Edit(kind: .inserted, oldLine: i, newLine: j)); j += 1
            } else {
                edits.append(Edit(kind: .deleted, oldLine: i, newLine: j)); i += 1
            }
        }
        return edits
    }
}
