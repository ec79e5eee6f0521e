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

    /// The most table cells the exact middle part may take (4 bytes each): memory stays bounded
    /// whatever the files; a larger middle is shown as removed then added, which is still correct.
    static let maximumCells = 1 << 20

    /// Edit script: common head and tail kept as they are, the middle by longest common
    /// subsequence when small enough (it is for configs and a parameter block), else replaced whole.
    static func editScript(_ old: [String], _ new: [String]) -> [Edit] {
        var head = 0
        while head < old.count, head < new.count, old[head].utf8.elementsEqual(new[head].utf8) { head += 1 }
        var tail = 0
        while tail < old.count - head, tail < new.count - head,
              old[old.count - 1 - tail].utf8.elementsEqual(new[new.count - 1 - tail].utf8) { tail += 1 }
        var edits: [Edit] = (0..<head).map { Edit(kind: .same, oldLine: $0, newLine: $0) }
        let oldMiddle = head..<(old.count - tail), newMiddle = head..<(new.count - tail)
        let n = oldMiddle.count, m = newMiddle.count
        if n * m <= maximumCells {
            var lengths = [Int32](repeating: 0, count: (n + 1) * (m + 1))
            let width = m + 1
            for i in stride(from: n - 1, through: 0, by: -1) {
                for j in stride(from: m - 1, through: 0, by: -1) {
                    lengths[i * width + j] = old[head + i].utf8.elementsEqual(new[head + j].utf8)
                        ? lengths[(i + 1) * width + j + 1] + 1 : max(lengths[(i + 1) * width + j], lengths[i * width + j + 1])
                }
            }
            var i = 0, j = 0
            while i < n || j < m {
                if i < n, j < m, old[head + i].utf8.elementsEqual(new[head + j].utf8) {
                    edits.append(Edit(kind: .same, oldLine: head + i, newLine: head + j)); i += 1; j += 1
                } else if j < m, i == n || lengths[i * width + j + 1] > lengths[(i + 1) * width + j] {
                    edits.append(Edit(kind: .inserted, oldLine: head + i, newLine: head + j)); j += 1
                } else {
                    edits.append(Edit(kind: .deleted, oldLine: head + i, newLine: head + j)); i += 1
                }
            }
        } else {
            for i in oldMiddle { edits.append(Edit(kind: .deleted, oldLine: i, newLine: head)) }
            for j in newMiddle { edits.append(Edit(kind: .inserted, oldLine: old.count - tail, newLine: j)) }
        }
        for k in 0..<tail { edits.append(Edit(kind: .same, oldLine: old.count - tail + k, newLine: new.count - tail + k)) }
        return edits
    }
}
