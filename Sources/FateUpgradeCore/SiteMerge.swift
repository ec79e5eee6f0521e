/// One setting of the site, and what the merge does with it.
public struct SiteChange: Codable, Sendable, Hashable {
    public enum Action: String, Codable, Sendable {
        /// The site changed it; the new release has the same key: written there.
        case carried
        /// Written where the new release keeps the same meaning (ZooKeeper from .py into base_conf.yaml).
        case mapped
        /// A key the site added; inserted.
        case added
        /// The release's value stays (the site removed the key, or the operator chose the release).
        case releaseKept
        /// Cannot be carried without a choice; the run stops until one is given.
        case decision
    }

    public var file: String
    public var key: String
    public var action: Action
    /// The site's value and the new release's, as shown (secrets masked).
    public var site: String?
    public var release: String?
    public var note: String

    public var line: String {
        var text = "\(action.rawValue.padded(to: 11)) \(file): \(key)"
        if let site { text += " = \(site)" }
        if let release, action != .releaseKept { text += " (release: \(release))" } else if let release { text += " = \(release)" }
        if !note.isEmpty { text += "  (\(note))" }
        return text
    }
}

/// A choice the operator must make before the site's files can be merged.
public struct SiteDecision: Codable, Sendable, Hashable {
    public var file: String
    public var question: String
    /// Each way to answer: the flag and what it does.
    public var choices: [String]
    /// The site's change that cannot be carried, as a masked diff against its release's default.
    public var diff: String?
}

/// How the operator resolves what cannot be carried.
public struct SiteChoices: Sendable, Codable, Hashable {
    public enum FileChoice: String, Sendable, Codable, CaseIterable {
        /// The new release's file, with every value that can be carried; what cannot is left out.
        case acceptRelease = "accept-release"
        /// The site's file as it is (the operator vouches that FATE 1.4.4 runs with it).
        case keepSite = "keep-site"
    }

    /// 1.4.0/1.4.1 stored models in redis (`default_model_store_address`); 1.4.2+ in MySQL (`model_store_address`).
    public enum ModelStore: String, Sendable, Codable, CaseIterable {
        /// FATE 1.4.4's `model_store_address` as it ships.
        case release
        /// FATE 1.4.4's MySQL store on the site's fate_flow database server (database host, port, user, passwd).
        case database
    }

    public var files: [SiteFile: FileChoice] = [:]
    public var modelStore: ModelStore?
    public var siteRelease: FateRelease?

    public init(files: [SiteFile: FileChoice] = [:], modelStore: ModelStore? = nil, siteRelease: FateRelease? = nil) {
        self.files = files
        self.modelStore = modelStore
        self.siteRelease = siteRelease
    }
}

/// A file as read: where from, and its bytes.
public struct SourceFile: Sendable, Hashable {
    public var path: String
    public var bytes: [UInt8]
    public init(path: String, bytes: [UInt8]) {
        self.path = path
        self.bytes = bytes
    }
}

/// The dpkg conffile idea for FATE's settings: for each file, the default of the release the
/// site ran, the site's file and the new release's file are compared; what the site changed is
/// written into the new release's file, surgically, and what cannot be carried stops the merge
/// with the decision spelled out. Pure: files in, files and a report out.
public struct SiteMerge: Sendable {
    public struct File: Sendable {
        public var file: SiteFile
        /// The new release's file as found; nil when the new release has none (setting_utils.py).
        public var release: [UInt8]?
        /// What to write; nil when nothing is to be there (the release has no such file and the site's is not kept).
        public var merged: [UInt8]?
        public var changes: [SiteChange]
        /// release → merged, secrets masked.
        public var diff: String
    }

    public let baseline: SiteBaseline
    public let files: [File]
    public let decisions: [SiteDecision]
    /// Where the site kept its ZooKeeper values.
    public let layout: BackupLayout?
    /// What the registry step decided (from RegistryMigration).
    public let registry: RegistryMigration?
    public let notes: [String]

    public var changes: [SiteChange] { files.flatMap(\.changes) }

    /// - Parameters:
    ///   - site: the site's files (from the backup of the old tree).
    ///   - release: the new release's pristine files (from the new tree, or the `.release` copies beside them).
    ///   - registry: values given by hand for the ZooKeeper settings.
    public init(site: [SiteFile: SourceFile], release: [SiteFile: SourceFile], choices: SiteChoices = .init(),
                registry overrides: RegistryMigration.Overrides = .init()) throws(InputError) {
        let baseline = SiteBaseline.detect(site: site.mapValues(\.bytes), given: choices.siteRelease)
        self.baseline = baseline
        var decisions: [SiteDecision] = []
        var notes: [String] = []
        if baseline.release == .target && !baseline.given {
            notes.append("the site's files are closest to FATE \(FateRelease.target.rawValue)'s own: the backup may be of a tree that was upgraded already")
        }

        // The registry values, mapped from .py (1.4.0/1.4.1) or from base_conf.yaml (1.4.2/1.4.3).
        var registry: RegistryMigration? = nil
        let layout = try SiteMerge.layout(site)
        self.layout = layout
        if layout != nil || overrides.isComplete {
            registry = try RegistryMigration(layout: layout, overrides: overrides)
        }
        self.registry = registry

        var results: [File] = []
        for file in SiteFile.allCases {
            let theirs = release[file]
            guard let ours = site[file] else {
                // A 1.4.0/1.4.1 backup of the code alone, or every value given by hand: the registry still goes in.
                if file == .baseConf, let registry, let theirs {
                    var merge = YAMLMerge(release: theirs.bytes)
                    try merge.apply(registry)
                    results.append(File(file: file, release: theirs.bytes, merged: merge.merged, changes: merge.changes,
                                        diff: TextLines.diff(theirs.bytes, merge.merged, oldLabel: "release/\(file.rawValue)", newLabel: "merged/\(file.rawValue)")))
                }
                continue
            }
            let original = baseline.release.defaultFile(file)
            var result: File
            switch choices.files[file] {
            case .keepSite?:
                result = File(file: file, release: theirs?.bytes, merged: ours.bytes,
                              changes: [SiteChange(file: file.name, key: "(whole file)", action: .carried, note: "--keep-site \(file.name): the site's file as it is")],
                              diff: "")
            default:
                let accept = choices.files[file] == .acceptRelease
                switch file {
                case .baseConf:
                    guard let theirs else { continue }
                    var merge = try YAMLMerge(original: original, site: ours, release: theirs, baseline: baseline.release,
                                              modelStore: choices.modelStore, acceptRelease: accept)
                    if let registry { try merge.apply(registry) }
                    decisions += merge.decisions
                    result = File(file: file, release: theirs.bytes, merged: merge.merged, changes: merge.changes, diff: "")
                case .serverConf:
                    guard let theirs else { continue }
                    let merge = try JSONMerge(original: original, site: ours, release: theirs, acceptRelease: accept)
                    decisions += merge.decisions
                    result = File(file: file, release: theirs.bytes, merged: merge.merged, changes: merge.changes, diff: "")
                case .settings, .settingUtils:
                    let merge = try PythonMerge(file: file, original: original, site: ours, release: theirs, acceptRelease: accept)
                    decisions += merge.decisions
                    result = File(file: file, release: theirs?.bytes, merged: merge.merged, changes: merge.changes, diff: "")
                }
            }
            // FATE 1.4.4's Python 3.6 reads base_conf.yaml with a plain open(), in the locale's
            // encoding: ASCII under supervisord or systemd without LANG. A byte order mark stops it.
            if file == .baseConf, let merged = result.merged, merged.starts(with: [0xEF, 0xBB, 0xBF]) {
                result.merged = Array(merged.dropFirst(3))
                notes.append("removed the UTF-8 byte order mark at the start of base_conf.yaml: FATE's Python 3.6 cannot read it without a UTF-8 locale")
            }
            if let merged = result.merged {
                result.diff = TextLines.diff(result.release ?? [], merged, oldLabel: "release/\(file.rawValue)", newLabel: "merged/\(file.rawValue)")
            }
            results.append(result)
        }
        files = results
        self.decisions = decisions
        self.notes = notes
    }

    /// Where the site keeps its ZooKeeper values, read from its files (nil: none there).
    public static func layout(_ site: [SiteFile: SourceFile]) throws(InputError) -> BackupLayout? {
        if let utils = site[.settingUtils] {
            guard let settings = site[.settings] else {
                throw InputError(SourceLocation(file: utils.path), "the backup has setting_utils.py but no fate_flow/settings.py beside it (a 1.4.0/1.4.1 tree keeps ZOOKEEPER_HOSTS there)")
            }
            return .pythonSource(settings: try PythonSettingsFile(parsing: settings.bytes, file: settings.path),
                                 settingUtils: try PythonSettingsFile(parsing: utils.bytes, file: utils.path))
        }
        if let yaml = site[.baseConf] {
            let conf = try BaseConf(parsing: yaml.bytes, file: yaml.path)
            let current = try conf.current()
            if current.hasZooKeeper || current.useRegistry != nil { return .baseConf(conf) }
        }
        return nil
    }

    /// Masks values of password-like keys.
    static func shown(_ key: String, _ value: String) -> String {
        let last = key.split(separator: ".").last.map(String.init)?.lowercased() ?? key
        if last.contains("passw") || last == "db_pass" { return value.isEmpty ? "(empty)" : "********" }
        return value
    }
}

// MARK: - base_conf.yaml

/// The three-way merge of base_conf.yaml, edited through libyaml's marks.
struct YAMLMerge {
    var merged: [UInt8]
    var changes: [SiteChange] = []
    var decisions: [SiteDecision] = []
    let file = SiteFile.baseConf

    static let registryKeys: Set<String> = ["use_registry", "zookeeper"]
    /// 1.4.0/1.4.1's model store, which 1.4.2 replaced with `model_store_address` of another kind.
    static let redisKeys: Set<String> = ["redis", "default_model_store_address"]

    struct Leaf {
        var path: [String]
        var key: YAMLNode
        var value: YAMLNode
        var name: String { path.joined(separator: ".") }
    }

    /// The release's file as it is, for the registry step alone.
    init(release: [UInt8]) { merged = release }

    init(original: [UInt8]?, site: SourceFile, release: SourceFile, baseline: FateRelease,
         modelStore: SiteChoices.ModelStore?, acceptRelease: Bool) throws(InputError) {
        let siteDocument = try YAMLMerge.parse(site)
        let releaseDocument = try YAMLMerge.parse(release)
        let originalDocument = try original.map { bytes throws(InputError) in try YAMLDocument(parsing: bytes, file: "FATE \(baseline.rawValue) base_conf.yaml") }
        let originalLeaves = Dictionary(YAMLMerge.leaves(originalDocument?.root).map { ($0.name, $0) }, uniquingKeysWith: { $1 })
        let releaseLeaves = Dictionary(YAMLMerge.leaves(releaseDocument.root).map { ($0.name, $0) }, uniquingKeysWith: { $1 })
        let siteLeaves = YAMLMerge.leaves(siteDocument.root)
        let siteByName = Dictionary(siteLeaves.map { ($0.name, $0) }, uniquingKeysWith: { $1 })

        var edits: [TextEdit] = []
        var expected: [String: String] = [:]
        var insertedUnits: Set<String> = []
        var topLevelInserts: [TextEdit] = []
        var changes: [SiteChange] = []
        var decisions: [SiteDecision] = []
        let show = { (leaf: Leaf, document: YAMLDocument) in SiteMerge.shown(leaf.name, YAMLMerge.shownValue(leaf.value, in: document)) }

        for leaf in siteLeaves where !YAMLMerge.registryKeys.contains(leaf.path[0]) {
            let siteValue = YAMLMerge.canonical(leaf.value)
            let old = originalLeaves[leaf.name]
            if let old, YAMLMerge.canonical(old.value) == siteValue { continue }
            if let new = releaseLeaves[leaf.name] {
                if YAMLMerge.canonical(new.value) == siteValue { continue }
                if acceptRelease {
                    changes.append(SiteChange(file: file.name, key: leaf.name, action: .releaseKept, site: show(leaf, siteDocument),
                                              release: show(new, releaseDocument), note: "--accept-release base_conf.yaml"))
                    continue
                }
                guard let edit = YAMLMerge.replacement(of: new.value, in: releaseDocument, by: leaf.value, from: siteDocument) else {
                    decisions.append(SiteDecision(file: file.name, question: "\(leaf.name) (line \(leaf.value.start.line) of \(site.path)) is written in a form that cannot be moved into the new file (a multi-line value)",
                                                  choices: ["--accept-release base_conf.yaml", "--keep-site base_conf.yaml"], diff: nil))
                    continue
                }
                edits.append(edit)
                expected[leaf.name] = siteValue
                var note = old == nil ? "the site added it" : "changed by the site"
                if let old, YAMLMerge.canonical(old.value) != YAMLMerge.canonical(new.value) {
                    note += "; the release's default changed too, from \(show(old, originalDocument!))"
                }
                changes.append(SiteChange(file: file.name, key: leaf.name, action: .carried, site: show(leaf, siteDocument),
                                          release: show(new, releaseDocument), note: note))
                continue
            }
            if baseline.keepsRegistryInPython && YAMLMerge.redisKeys.contains(leaf.path[0]) { continue }
            // Not in the new release: a key the site added is inserted where its parent is; one
            // the release dropped cannot be carried.
            guard let depth = (1...leaf.path.count).first(where: { releaseLeaves[leaf.path.prefix($0).joined(separator: ".")] == nil && YAMLMerge.node(leaf.path.prefix($0), in: releaseDocument.root) == nil }) else {
                // The release has a section where the site has one value (`database:` left empty).
                if acceptRelease {
                    changes.append(SiteChange(file: file.name, key: leaf.name, action: .releaseKept, site: show(leaf, siteDocument), note: "FATE \(FateRelease.target.rawValue) has a section there; --accept-release base_conf.yaml keeps it"))
                    continue
                }
                changes.append(SiteChange(file: file.name, key: leaf.name, action: .decision, site: show(leaf, siteDocument), note: "a single value where FATE \(FateRelease.target.rawValue) has a section"))
                decisions.append(SiteDecision(file: file.name, question: "the site's \(leaf.name) (line \(leaf.value.start.line) of \(site.path)) is a single value where FATE \(FateRelease.target.rawValue)'s base_conf.yaml has a section of settings",
                                              choices: ["--accept-release base_conf.yaml: the release's section", "--keep-site base_conf.yaml: keep the site's file as it is"], diff: nil))
                continue
            }
            let unit = Array(leaf.path.prefix(depth))
            let unitName = unit.joined(separator: ".")
            if YAMLMerge.node(unit, in: originalDocument?.root) == nil,
               case .mapping(_, false, _, _)? = YAMLMerge.node(Array(unit.dropLast()), in: releaseDocument.root) ?? (unit.count == 1 ? releaseDocument.root : nil) {
                guard !acceptRelease else {
                    changes.append(SiteChange(file: file.name, key: leaf.name, action: .releaseKept, site: show(leaf, siteDocument), note: "the site added it; --accept-release base_conf.yaml leaves it out"))
                    continue
                }
                if insertedUnits.insert(unitName).inserted {
                    guard let edit = YAMLMerge.insertion(of: unit, from: siteDocument, into: releaseDocument) else {
                        decisions.append(SiteDecision(file: file.name, question: "\(unitName), which the site added (\(site.path)), cannot be placed in the new file", choices: ["--accept-release base_conf.yaml", "--keep-site base_conf.yaml"], diff: nil))
                        continue
                    }
                    // A new top-level section goes after everything, keys added to the last section included.
                    if unit.count == 1 { topLevelInserts.append(edit) } else { edits.append(edit) }
                }
                expected[leaf.name] = siteValue
                changes.append(SiteChange(file: file.name, key: leaf.name, action: .added, site: show(leaf, siteDocument), note: "the site added it"))
                continue
            }
            if acceptRelease {
                changes.append(SiteChange(file: file.name, key: leaf.name, action: .releaseKept, site: show(leaf, siteDocument),
                                          note: "FATE \(FateRelease.target.rawValue) has no \(leaf.name); --accept-release base_conf.yaml leaves it out"))
                continue
            }
            changes.append(SiteChange(file: file.name, key: leaf.name, action: .decision, site: show(leaf, siteDocument), note: "FATE \(FateRelease.target.rawValue) has no such key"))
            decisions.append(SiteDecision(file: file.name, question: "the site set \(leaf.name) (line \(leaf.value.start.line) of \(site.path)), which FATE \(FateRelease.target.rawValue)'s base_conf.yaml does not have",
                                          choices: ["--accept-release base_conf.yaml: leave it out", "--keep-site base_conf.yaml: keep the site's file as it is"], diff: nil))
        }
        for (name, old) in originalLeaves.sorted(by: { $0.key < $1.key }) where siteByName[name] == nil && !YAMLMerge.registryKeys.contains(old.path[0]) {
            guard let new = releaseLeaves[name] else { continue }
            if baseline.keepsRegistryInPython && YAMLMerge.redisKeys.contains(old.path[0]) { continue }
            changes.append(SiteChange(file: file.name, key: name, action: .releaseKept, release: show(new, releaseDocument),
                                      note: "the site removed it; FATE \(FateRelease.target.rawValue) reads it, so the release's value stays"))
        }

        // The model store: redis (1.4.0/1.4.1) or MySQL (1.4.2+) is not the same thing.
        if baseline.keepsRegistryInPython, YAMLMerge.node(["model_store_address"], in: releaseDocument.root) != nil {
            let redis = siteLeaves.filter { YAMLMerge.redisKeys.contains($0.path[0]) }
            let was = redis.filter { $0.path[0] == "default_model_store_address" }.map { "\($0.path.dropFirst().joined(separator: ".")): \(show($0, siteDocument))" }.joined(separator: ", ")
            switch modelStore {
            case nil:
                decisions.append(SiteDecision(
                    file: file.name,
                    question: "FATE \(baseline.shown) stored models in redis (default_model_store_address: \(was.isEmpty ? "none" : was)); FATE \(FateRelease.target.rawValue) stores them in MySQL (model_store_address), and models kept in redis are not read from there",
                    choices: ["--model-store database: model_store_address on the site's fate_flow database server (its host, port, user and passwd)",
                              "--model-store release: model_store_address as FATE \(FateRelease.target.rawValue) ships it (127.0.0.1:3306, fate_dev)"],
                    diff: nil))
            case .release?:
                changes.append(SiteChange(file: file.name, key: "model_store_address", action: .releaseKept, site: "redis (\(was))",
                                          note: "--model-store release: FATE \(FateRelease.target.rawValue)'s MySQL store as shipped"))
            case .database?:
                for key in ["host", "port", "user", "passwd"] {
                    guard let target = releaseLeaves["model_store_address.\(key)"] else { continue }
                    let source = siteByName["database.\(key)"] ?? releaseLeaves["database.\(key)"]!
                    let sourceDocument = siteByName["database.\(key)"] != nil ? siteDocument : releaseDocument
                    if YAMLMerge.canonical(source.value) == YAMLMerge.canonical(target.value) { continue }
                    guard let edit = YAMLMerge.replacement(of: target.value, in: releaseDocument, by: source.value, from: sourceDocument) else { continue }
                    edits.append(edit)
                    expected[target.name] = YAMLMerge.canonical(source.value)
                    changes.append(SiteChange(file: file.name, key: target.name, action: .mapped, site: show(source, sourceDocument),
                                              release: show(target, releaseDocument), note: "--model-store database: from database.\(key)"))
                }
            }
        }

        guard let bytes = TextEdit.apply(edits + topLevelInserts, to: releaseDocument.bytes) else {
            throw InputError(SourceLocation(file: release.path), "the site's changes would overlap in the new file; merge base_conf.yaml by hand, or choose with --accept-release/--keep-site base_conf.yaml")
        }
        // Read back: every carried value as the site has it, every other as the release has it.
        let check = try YAMLMerge.parse(SourceFile(path: release.path + " (merged)", bytes: bytes))
        let now = Dictionary(YAMLMerge.leaves(check.root).map { ($0.name, YAMLMerge.canonical($0.value)) }, uniquingKeysWith: { $1 })
        var wanted = releaseLeaves.mapValues { YAMLMerge.canonical($0.value) }
        for (name, value) in expected { wanted[name] = value }
        guard now == wanted else {
            let differing = Set(now.keys).union(wanted.keys).filter { now[$0] != wanted[$0] }.sorted()
            throw InputError(SourceLocation(file: release.path), "internal error: the merged base_conf.yaml would not read back as intended (\(differing.joined(separator: ", "))); nothing was written")
        }
        merged = bytes
        self.changes = changes
        self.decisions = decisions
    }

    /// The ZooKeeper settings written in, through BaseConf's own edit (which re-reads itself).
    mutating func apply(_ registry: RegistryMigration) throws(InputError) {
        let conf = try BaseConf(parsing: merged, file: "base_conf.yaml (merged)")
        merged = try conf.applying(registry.settings)
        let origin = { (reason: String) in reason.hasPrefix("from ") ? String(reason.dropFirst(5)) : reason }
        for decision in registry.decisions {
            changes.append(SiteChange(file: file.name, key: decision.key, action: .mapped, site: decision.shown, note: origin(decision.reason)))
        }
    }

    static func parse(_ source: SourceFile) throws(InputError) -> YAMLDocument {
        if let line = BaseConf.firstInvalidUTF8Line(source.bytes) {
            throw InputError(SourceLocation(file: source.path, line: line), "not UTF-8 text")
        }
        let document = try YAMLDocument(parsing: source.bytes, file: source.path)
        guard case .mapping(_, false, _, _)? = document.root else {
            throw InputError(SourceLocation(file: source.path, line: document.root?.start.line), "expected `key: value` settings at the top level, as FATE's base_conf.yaml has")
        }
        // PyYAML keeps the last of two equal keys without a word; which one the site meant is not known.
        if let (key, line, first) = duplicateKey(in: document.root) {
            throw InputError(SourceLocation(file: source.path, line: line), "\(key) is given twice (first on line \(first)); PyYAML would silently use this one: remove one of them")
        }
        return document
    }

    static func duplicateKey(in node: YAMLNode?) -> (key: String, line: Int, first: Int)? {
        switch node {
        case .mapping(let pairs, _, _, _)?:
            var seen: [String: Int] = [:]
            for pair in pairs {
                if let key = pair.key.scalarText {
                    if let first = seen[key] { return (key, pair.key.start.line, first) }
                    seen[key] = pair.key.start.line
                }
                if let found = duplicateKey(in: pair.value) { return found }
            }
            return nil
        case .sequence(let items, _, _, _)?:
            for item in items { if let found = duplicateKey(in: item) { return found } }
            return nil
        default:
            return nil
        }
    }

    /// Every value that is not a mapping, with its path of keys; a list is one value.
    static func leaves(_ node: YAMLNode?, prefix: [String] = []) -> [Leaf] {
        guard case .mapping(let pairs, _, _, _)? = node else { return [] }
        var out: [Leaf] = []
        for pair in pairs {
            guard let key = pair.key.scalarText else { continue }
            let path = prefix + [key]
            if case .mapping(let children, _, _, _) = pair.value, !children.isEmpty {
                out += leaves(pair.value, prefix: path)
            } else {
                out.append(Leaf(path: path, key: pair.key, value: pair.value))
            }
        }
        return out
    }

    static func node(_ path: some Collection<String>, in root: YAMLNode?) -> YAMLNode? {
        var node = root
        for key in path { node = YAMLDocument.lookup(key, in: node)?.value }
        return node
    }

    /// A value as PyYAML would compare it: its kind and text.
    static func canonical(_ node: YAMLNode) -> String {
        switch node {
        case .scalar:
            switch YAMLScalar.resolve(node) {
            case .string(let text)?: "s:" + text
            case .bool(let value)?: "b:\(value)"
            case .int(let text)?: "i:" + (Int(text).map(String.init) ?? text)
            case .float(let text)?: "f:" + text
            case .null?: "n"
            case .other(let text)?: "o:" + text
            case nil: "?"
            }
        case .sequence(let items, _, _, _): "[" + items.map(canonical).joined(separator: ",") + "]"
        case .mapping(let pairs, _, _, _): "{" + pairs.map { ($0.key.scalarText ?? "?") + ":" + canonical($0.value) }.joined(separator: ",") + "}"
        }
    }

    static func shownValue(_ node: YAMLNode, in document: YAMLDocument) -> String {
        switch node {
        case .scalar(let text, _, _, _, _): text
        case .sequence(let items, _, _, _): "[" + items.map { shownValue($0, in: document) }.joined(separator: ", ") + "]"
        case .mapping: "{…}"
        }
    }

    static func text(_ node: YAMLNode, in document: YAMLDocument) -> String {
        String(decoding: document.bytes[document.byteOffset(node.start)..<document.byteOffset(node.end)], as: UTF8.self)
    }

    /// The edit that puts the site's value where the release's is, in the release's layout.
    static func replacement(of target: YAMLNode, in release: YAMLDocument, by value: YAMLNode, from site: YAMLDocument) -> TextEdit? {
        let eol = lineEnding(release.bytes)
        switch (target, value) {
        case (.scalar, .scalar(_, let style, _, _, _)):
            let text = style == .plain && value.scalarText == "" ? "null" : self.text(value, in: site)
            guard !text.contains("\n"), style != .literal, style != .folded else { return nil }
            let start = release.byteOffset(target.start), end = release.byteOffset(target.end)
            if start == end, let colon = release.bytes[..<start].lastIndex(of: UInt8(ascii: ":")) {
                return TextEdit((colon + 1)..<(colon + 1), " " + text)
            }
            return TextEdit(start..<end, text)
        case (.sequence(let old, false, let start, _), .sequence(let items, _, _, _)) where !old.isEmpty && !items.isEmpty:
            var lines = ""
            let dash = String(repeating: " ", count: start.column - 1)
            for item in items {
                guard case .scalar = item else { return nil }
                let text = self.text(item, in: site)
                guard !text.contains("\n") else { return nil }
                lines += "\(dash)- \(text)\(eol)"
            }
            return TextEdit(lineStart(release.bytes, release.byteOffset(start))..<lineEnd(release, after: old[old.count - 1]), lines)
        case (_, .sequence(let items, _, _, _)):
            var texts: [String] = []
            for item in items {
                guard case .scalar = item else { return nil }
                let text = self.text(item, in: site)
                guard !text.contains("\n") else { return nil }
                texts.append(text)
            }
            if case .sequence(_, false, _, _) = target { return nil }
            return TextEdit(release.byteOffset(target.start)..<release.byteOffset(target.end), "[" + texts.joined(separator: ", ") + "]")
        default:
            return nil
        }
    }

    /// The site's lines of an added key, re-indented to where its siblings are in the release.
    static func insertion(of path: [String], from site: YAMLDocument, into release: YAMLDocument) -> TextEdit? {
        guard let (key, value) = YAMLDocument.lookup(path.last!, in: node(path.dropLast(), in: site.root)) else { return nil }
        let from = lineStart(site.bytes, site.byteOffset(key.start))
        let to = lineEnd(site, after: value)
        let siteIndent = key.start.column - 1
        let parent = path.count == 1 ? release.root : node(path.dropLast(), in: release.root)
        guard case .mapping(let siblings, false, _, _)? = parent, let last = siblings.last else { return nil }
        let indent = last.key.start.column - 1
        let eol = lineEnding(release.bytes)
        var text = ""
        var lines = site.bytes[from..<to].split(separator: 0x0A, omittingEmptySubsequences: false)
        // The site's last line may have no line break.
        if lines.last?.isEmpty == true { lines.removeLast() }
        for line in lines {
            var body = String(decoding: line.last == 0x0D ? line.dropLast() : line, as: UTF8.self)
            let leading = body.prefix { $0 == " " }.count
            guard leading >= siteIndent || body.trimmingWhitespace().isEmpty else { return nil }
            body = String(repeating: " ", count: indent) + body.dropFirst(min(siteIndent, leading))
            text += body + eol
        }
        var at = lineEnd(release, after: last.value)
        var prefix = ""
        if at == release.bytes.count, at > 0, release.bytes[at - 1] != 0x0A { prefix = eol }
        if path.count == 1 { at = release.bytes.count; prefix = release.bytes.last == 0x0A || release.bytes.isEmpty ? "" : eol }
        return TextEdit(at..<at, prefix + text)
    }

    static func lineEnding(_ bytes: [UInt8]) -> String {
        guard let newline = bytes.firstIndex(of: 0x0A) else { return "\n" }
        return newline > 0 && bytes[newline - 1] == 0x0D ? "\r\n" : "\n"
    }

    static func lineStart(_ bytes: [UInt8], _ offset: Int) -> Int {
        var index = offset
        while index > 0, bytes[index - 1] != 0x0A { index -= 1 }
        return index
    }

    static func lineEnd(_ document: YAMLDocument, after node: YAMLNode) -> Int {
        var offset = document.byteOffset(BaseConf.contentEnd(node))
        while offset < document.bytes.count, document.bytes[offset] != 0x0A { offset += 1 }
        return min(offset + 1, document.bytes.count)
    }
}

// MARK: - server_conf.json

/// The three-way merge of server_conf.json, edited in place so that its layout stays.
struct JSONMerge {
    var merged: [UInt8]
    var changes: [SiteChange] = []
    var decisions: [SiteDecision] = []

    init(original: [UInt8]?, site: SourceFile, release: SourceFile, acceptRelease: Bool) throws(InputError) {
        let file = SiteFile.serverConf.name
        let ours = try JSONDocument(parsing: site.bytes, file: site.path)
        let theirs = try JSONDocument(parsing: release.bytes, file: release.path)
        let base = try original.map { bytes throws(InputError) in try JSONDocument(parsing: bytes, file: "the release's server_conf.json") }
        let baseLeaves = Dictionary((base?.leaves() ?? []).map { ($0.path.joined(separator: "."), $0.node) }, uniquingKeysWith: { $1 })
        let show = { (path: [String], document: JSONDocument, node: JSONDocument.Node) in
            SiteMerge.shown(path.joined(separator: "."), document.text(of: node).replacingAll("\n", with: " ").replacingAll("\t", with: ""))
        }
        var document = theirs
        var expected: [String: String] = [:]
        for (path, node) in ours.leaves() {
            let name = path.joined(separator: ".")
            let value = ours.canonical(node)
            if let old = baseLeaves[name], base!.canonical(old) == value { continue }
            if let new = document.node(at: path) {
                if document.canonical(new) == value { continue }
                if case .object = new {
                    // A section in the release where the site has one value: not the same setting.
                    if acceptRelease { continue }
                    changes.append(SiteChange(file: file, key: name, action: .decision, site: show(path, ours, node), note: "a single value where FATE \(FateRelease.target.rawValue) has a section"))
                    decisions.append(SiteDecision(file: file, question: "the site's \(name) in \(site.path) is a single value where FATE \(FateRelease.target.rawValue)'s server_conf.json has a section",
                                                  choices: ["--accept-release server_conf.json: the release's section", "--keep-site server_conf.json: keep the site's file as it is"], diff: nil))
                    continue
                }
                if acceptRelease {
                    changes.append(SiteChange(file: file, key: name, action: .releaseKept, site: show(path, ours, node), release: show(path, document, new), note: "--accept-release server_conf.json"))
                    continue
                }
                changes.append(SiteChange(file: file, key: name, action: .carried, site: show(path, ours, node), release: show(path, document, new),
                                          note: baseLeaves[name] == nil ? "the site added it" : "changed by the site"))
                document = try JSONDocument(parsing: try document.replacing(path, with: ours.text(of: node)), file: release.path)
                expected[name] = value
                continue
            }
            // The shortest part of the path the release lacks is added whole, under a parent it has.
            let depth = (1...path.count).first { document.node(at: Array(path.prefix($0))) == nil }!
            let unit = Array(path.prefix(depth))
            if base?.node(at: unit) == nil, case .object? = document.node(at: Array(unit.dropLast())) {
                if acceptRelease {
                    changes.append(SiteChange(file: file, key: name, action: .releaseKept, site: show(path, ours, node), note: "the site added it; --accept-release server_conf.json leaves it out"))
                    continue
                }
                let added = ours.node(at: unit)!
                document = try JSONDocument(parsing: try document.inserting(key: unit.last!, jsonText: ours.text(of: added), intoObjectAt: Array(unit.dropLast())), file: release.path)
                for (inner, innerNode) in ours.leaves() where inner.starts(with: unit) {
                    expected[inner.joined(separator: ".")] = ours.canonical(innerNode)
                    changes.append(SiteChange(file: file, key: inner.joined(separator: "."), action: .added, site: show(inner, ours, innerNode), note: "the site added it"))
                }
                continue
            }
            if acceptRelease || expected[name] != nil { continue }
            changes.append(SiteChange(file: file, key: name, action: .decision, site: show(path, ours, node), note: "FATE \(FateRelease.target.rawValue) has no such key"))
            decisions.append(SiteDecision(file: file, question: "the site set \(name) in \(site.path), which FATE \(FateRelease.target.rawValue)'s server_conf.json does not have",
                                          choices: ["--accept-release server_conf.json: leave it out", "--keep-site server_conf.json: keep the site's file as it is"], diff: nil))
        }
        // Read back: carried values as the site has them, the rest as the release has it.
        var wanted = Dictionary(theirs.leaves().map { ($0.path.joined(separator: "."), theirs.canonical($0.node)) }, uniquingKeysWith: { $1 })
        for (name, value) in expected { wanted[name] = value }
        let now = Dictionary(document.leaves().map { ($0.path.joined(separator: "."), document.canonical($0.node)) }, uniquingKeysWith: { $1 })
        guard now == wanted else {
            throw InputError(SourceLocation(file: release.path), "internal error: the merged server_conf.json would not read back as intended; nothing was written")
        }
        merged = document.bytes
    }
}

// MARK: - settings.py, setting_utils.py

/// What the site changed in FATE's Python settings: values of module-level names are carried
/// (their text as the site wrote it); any other edit is code, which cannot be carried into a new
/// release's code without reading it, so it is shown and needs a decision.
struct PythonMerge {
    var merged: [UInt8]?
    var changes: [SiteChange] = []
    var decisions: [SiteDecision] = []

    /// Values that move to base_conf.yaml (the registry step carries them).
    static let mapped: [SiteFile: Set<String>] = [
        .settings: ["USE_CONFIGURATION_CENTER", "ZOOKEEPER_HOSTS"],
        .settingUtils: ["CenterConfig.USE_ACL", "CenterConfig.ZK_USERNAME", "CenterConfig.ZK_PASSWORD", "CenterConfig.SERVERS"],
    ]

    init(file: SiteFile, original: [UInt8]?, site: SourceFile, release: SourceFile?, acceptRelease: Bool) throws(InputError) {
        let ours = try PythonSettingsFile(parsing: site.bytes, file: site.path)
        let theirs = try release.map { source throws(InputError) in try PythonSettingsFile(parsing: source.bytes, file: source.path) }
        guard let original else {
            // No default to compare with: the site's release had no such file.
            merged = release?.bytes
            return
        }
        let base = try PythonSettingsFile(parsing: original, file: "the release's \(file.name)")
        let mapped = PythonMerge.mapped[file] ?? []

        // The site's text with every value it changed put back to the default: what is left is code.
        var resets: [TextEdit] = []
        var carried: [(name: String, assignment: PythonAssignment)] = []
        for (name, mine) in PythonMerge.values(ours) {
            guard let old = PythonMerge.values(base)[name] else { continue }
            let mineText = PythonMerge.text(mine, in: ours), oldText = PythonMerge.text(old, in: base)
            guard mineText != oldText else { continue }
            resets.append(TextEdit(mine.valueRange, oldText))
            if mapped.contains(name) { continue }
            carried.append((name, mine))
        }
        let normalised = TextEdit.apply(resets, to: ours.text) ?? ours.text
        // Compared as Python reads it, token by token: a comment or blank line the site changed is
        // not code; the diff shown is of the text.
        let sameCode = try PythonMerge.statements(normalised, file: site.path) == PythonMerge.statements(base.text, file: "the release's \(file.name)")
        let code = sameCode ? "" : TextLines.diff(base.text, normalised, oldLabel: "release/\(file.rawValue)", newLabel: "site/\(file.rawValue)")

        var edits: [TextEdit] = []
        let releaseValues = theirs.map(PythonMerge.values) ?? [:]
        for (name, mine) in carried.sorted(by: { $0.assignment.line < $1.assignment.line }) {
            let shown = SiteMerge.shown(name, PythonMerge.text(mine, in: ours))
            guard let theirs, let target = releaseValues[name] else {
                if acceptRelease {
                    changes.append(SiteChange(file: file.name, key: name, action: .releaseKept, site: shown, note: "FATE \(FateRelease.target.rawValue) has no \(name); --accept-release \(file.name) leaves it out"))
                } else {
                    changes.append(SiteChange(file: file.name, key: name, action: .decision, site: shown, note: "FATE \(FateRelease.target.rawValue) has no such setting"))
                    decisions.append(SiteDecision(file: file.name, question: "the site set \(name) (line \(mine.line) of \(site.path)), which FATE \(FateRelease.target.rawValue)'s \(file.name) does not have",
                                                  choices: ["--accept-release \(file.name): leave it out", "--keep-site \(file.name): keep the site's file as it is"], diff: nil))
                }
                continue
            }
            let releaseText = PythonMerge.text(target, in: theirs)
            if releaseText == PythonMerge.text(mine, in: ours) { continue }
            edits.append(TextEdit(target.valueRange, PythonMerge.text(mine, in: ours)))
            let old = PythonMerge.values(base)[name].map { PythonMerge.text($0, in: base) }
            var note = "changed by the site"
            if let old, old != releaseText { note += "; the release's default changed too, from \(SiteMerge.shown(name, old))" }
            changes.append(SiteChange(file: file.name, key: name, action: .carried, site: shown, release: SiteMerge.shown(name, releaseText), note: note))
        }
        if !code.isEmpty {
            if acceptRelease {
                changes.append(SiteChange(file: file.name, key: "(code)", action: .releaseKept, note: "the site's code edits are left out (--accept-release \(file.name))"))
            } else {
                changes.append(SiteChange(file: file.name, key: "(code)", action: .decision, note: "the site edited code here"))
                decisions.append(SiteDecision(file: file.name, question: "\(site.path) has edits beyond setting values (code, or names the release does not have); they cannot be carried into FATE \(FateRelease.target.rawValue)'s \(file.name) without reading them",
                                              choices: ["--accept-release \(file.name): the release's file, with the values above carried; the edits shown are left out",
                                                        "--keep-site \(file.name): the site's file as it is (only if FATE \(FateRelease.target.rawValue) runs with it)"],
                                              diff: code))
            }
        }
        guard let theirs, let release else {
            merged = nil
            return
        }
        guard var bytes = TextEdit.apply(edits, to: theirs.text) else {
            throw InputError(SourceLocation(file: release.path), "the site's values would overlap in the new file; choose with --accept-release/--keep-site \(file.name)")
        }
        // The release's own line endings and BOM, which PythonSettingsFile's text drops.
        if PythonMerge.usesCRLF(release.bytes) { bytes = PythonMerge.crlf(bytes) }
        if release.bytes.starts(with: [0xEF, 0xBB, 0xBF]) { bytes = [0xEF, 0xBB, 0xBF] + bytes }
        if edits.isEmpty { bytes = release.bytes }
        // Read back: each carried name has the site's value text, and nothing else moved.
        let check = try PythonSettingsFile(parsing: bytes, file: release.path + " (merged)")
        let checkValues = PythonMerge.values(check)
        for (name, mine) in carried where releaseValues[name] != nil {
            guard let now = checkValues[name], PythonMerge.text(now, in: check) == PythonMerge.text(mine, in: ours) else {
                throw InputError(SourceLocation(file: release.path), "internal error: \(name) would not read back as the site has it; nothing was written")
            }
        }
        guard Set(checkValues.keys) == Set(releaseValues.keys) else {
            throw InputError(SourceLocation(file: release.path), "internal error: the merged \(file.name) would bind other names than the release's; nothing was written")
        }
        merged = bytes
    }

    /// Names bound exactly once, unconditionally, by a statement binding only them: module
    /// level, and `Class.NAME` in class bodies.
    static func values(_ file: PythonSettingsFile) -> [String: PythonAssignment] {
        var all: [String: [PythonAssignment]] = [:]
        for assignment in file.moduleAssignments + (file.conditionalAssignments[""] ?? []) { all[assignment.name, default: []].append(assignment) }
        for (owner, assignments) in file.classAssignments {
            for assignment in assignments + (file.conditionalAssignments[owner] ?? []) { all["\(owner).\(assignment.name)", default: []].append(assignment) }
        }
        var out: [String: PythonAssignment] = [:]
        for (name, assignments) in all where assignments.count == 1 && assignments[0].targets == 1 {
            if (file.conditionalAssignments[""] ?? []).contains(assignments[0]) { continue }
            out[name] = assignments[0]
        }
        return out
    }

    /// The file's logical lines as indentation and tokens: what Python runs, without comments and layout.
    static func statements(_ text: [UInt8], file: String) throws(InputError) -> [[String]] {
        var lexer = PythonLexer(text: text, file: file)
        return try lexer.logicalLines().map { ["\($0.indent)"] + $0.tokens.map(\.text) }
    }

    static func text(_ assignment: PythonAssignment, in file: PythonSettingsFile) -> String {
        String(decoding: file.text[assignment.valueRange], as: UTF8.self)
    }

    static func usesCRLF(_ bytes: [UInt8]) -> Bool {
        guard let newline = bytes.firstIndex(of: 0x0A) else { return false }
        return newline > 0 && bytes[newline - 1] == 0x0D
    }

    static func crlf(_ bytes: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count + bytes.count / 32)
        for byte in bytes {
            if byte == 0x0A { out.append(0x0D) }
            out.append(byte)
        }
        return out
    }
}
