/// The site's runtime data that FATE 1.4.x keeps inside python/ (`get_project_base_directory()`):
/// trained models, job folders, job logs, and in standalone mode the sqlite database. The
/// upgrade moves python/ aside, so without a move they stay only in the backup.
public enum SiteData {
    public static let folders = ["model_local_cache", "jobs", "logs"]
    /// fate_flow's database in standalone mode (work_mode 0); a cluster's is MySQL.
    public static let standaloneDatabase = "fate_flow/fate_flow_sqlite.db"

    /// What is there of one item, in one tree.
    public struct Facts: Sendable, Hashable {
        public var isDirectory: Bool
        public var files: Int
        public var bytes: Int64
        /// Every entry was made or changed after the upgrade began (by fate_flow's first start
        /// from the new tree, with the release's defaults), none came with the release.
        public var madeAfterUpgrade: Bool

        public init(isDirectory: Bool, files: Int, bytes: Int64, madeAfterUpgrade: Bool) {
            self.isDirectory = isDirectory
            self.files = files
            self.bytes = bytes
            self.madeAfterUpgrade = madeAfterUpgrade
        }
    }

    /// The name the new tree's own item is kept under when the site's takes its place.
    public static func asideName(_ item: String, stamp: String) -> String { "\(item).after-upgrade-\(stamp)" }

    /// The moves, from what each tree holds. Pure.
    /// - Parameters:
    ///   - items: each item's facts in the backup (`site`) and in the new tree (`new`).
    ///   - moved: items an earlier run recorded as moved already.
    ///   - standalone: the site runs in work_mode 0, so its sqlite database is its job history.
    public static func plan(items: [String: (site: Facts?, new: Facts?)], moved: Set<String>, standalone: Bool,
                            backup: String, tree: String, stamp: String) -> [SiteDataMove] {
        var moves: [SiteDataMove] = []
        for item in folders + [standaloneDatabase] {
            let facts = items[item] ?? (nil, nil)
            var move = SiteDataMove(item: item, from: "\(backup)/\(item)", to: "\(tree)/\(item)", action: .none,
                                    files: facts.site?.files ?? 0, bytes: facts.site?.bytes ?? 0, note: "")
            switch (facts.site, facts.new) {
            case (nil, _) where moved.contains(item) && facts.new != nil:
                move.action = .alreadyMoved
                move.files = facts.new!.files
                move.bytes = facts.new!.bytes
                move.note = "moved into \(tree) by an earlier run"
            case (nil, _):
                move.note = "the backup has none"
            case (_, _) where item == standaloneDatabase && !standalone:
                move.note = "the site runs in cluster mode (work_mode 1), where fate_flow's database is MySQL; the sqlite file stays in the backup"
            case (_, nil):
                move.action = .move
            case (_, let new?) where new.madeAfterUpgrade:
                move.action = .move
                move.aside = "\(tree)/\(asideName(item, stamp: stamp))"
                move.note = "the new tree's own \(item) (\(SiteDataMove.count(new.files)), made when fate_flow first started from it) is kept as \(asideName(item, stamp: stamp))"
            case (_, let new?):
                move.action = .collision
                move.note = "\(tree)/\(item) holds \(SiteDataMove.count(new.files)) that came with the new release or were there before the upgrade: not merged with the site's; move one of them by hand"
            }
            moves.append(move)
        }
        return moves
    }
}

/// One item of the site's data and what happens to it.
public struct SiteDataMove: Codable, Sendable, Hashable {
    public enum Action: String, Codable, Sendable {
        /// rename(2) from the backup into the new tree (one file system: nothing is copied).
        case move
        case alreadyMoved
        /// Both trees hold one that the upgrade did not make: refused.
        case collision
        /// Nothing to move.
        case none
    }

    public var item: String
    public var from: String
    public var to: String
    public var action: Action
    /// Where the new tree's own item goes first, if it has one.
    public var aside: String? = nil
    public var files: Int
    public var bytes: Int64
    public var note: String

    public static func count(_ files: Int) -> String { files == 1 ? "1 file" : "\(files) files" }

    public init(item: String, from: String, to: String, action: Action, aside: String? = nil, files: Int, bytes: Int64, note: String) {
        self.item = item
        self.from = from
        self.to = to
        self.action = action
        self.aside = aside
        self.files = files
        self.bytes = bytes
        self.note = note
    }
}
