import FateUpgradeCore
import Foundation
import Testing

/// FATE's real files of each release (Tests/Fixtures/fate-release, verbatim from the tags) and a
/// site made from them as FATE's cluster install guide leaves one.
enum ReleaseFixture {
    static func bytes(_ release: FateRelease, _ file: SiteFile) -> [UInt8]? {
        let url = Support.fixtures.appendingPathComponent("fate-release/v\(release.rawValue)/\(file.rawValue)")
        return (try? Data(contentsOf: url)).map { [UInt8]($0) }
    }

    static func text(_ release: FateRelease, _ file: SiteFile) -> String? {
        bytes(release, file).map { String(decoding: $0, as: UTF8.self) }
    }

    static func files(_ release: FateRelease, folder: String = "release") -> [SiteFile: SourceFile] {
        var out: [SiteFile: SourceFile] = [:]
        for file in SiteFile.allCases {
            if let bytes = bytes(release, file) { out[file] = SourceFile(path: "\(folder)/\(file.rawValue)", bytes: bytes) }
        }
        return out
    }

    static let databasePassword = "S3cret pass#1"
    static let zooKeeperPassword = "zk secret"

    /// A cluster's fateflow host on `release`: work_mode 1, a remote database with its own user
    /// and password, its own HTTP port, the proxy and servings of the federation, a fateboard
    /// port, tunables in settings.py, and ZooKeeper with an ACL.
    static func clusterSite(_ release: FateRelease) -> [SiteFile: String] {
        func replace(_ text: String, _ pairs: [(String, String)]) -> String {
            var text = text
            for (old, new) in pairs {
                precondition(text.contains(old), "\(old) not in \(release.rawValue)")
                text = text.replacingOccurrences(of: old, with: new)
            }
            return text
        }
        var site: [SiteFile: String] = [:]
        var conf = replace(text(release, .baseConf)!, [
            ("work_mode: 0", "work_mode: 1"), ("http_port: 9380", "http_port: 9390"),
            ("database:\n  name: fate_flow\n  user: fate_dev\n  passwd: fate_dev\n  host: 127.0.0.1",
             "database:\n  name: fate_flow\n  user: fate\n  passwd: '\(databasePassword)'\n  host: 192.168.0.1"),
        ])
        if !release.keepsRegistryInPython {
            conf = replace(conf, [("use_registry: false", "use_registry: true"), ("    - 127.0.0.1:2281", "    - 192.168.0.5:2181\n    - 192.168.0.6:2181"),
                                  ("  password: fate\n", "  password: \(zooKeeperPassword)\n")])
        }
        site[.baseConf] = conf
        site[.serverConf] = replace(text(release, .serverConf)!, [
            ("\"proxy\": {\n\t\t\t\"host\": \"localhost\"", "\"proxy\": {\n\t\t\t\"host\": \"192.168.0.10\""),
            ("\"port\": 8080", "\"port\": 8090"),
            ("\t\t\t\"127.0.0.1:8000\"\n", "\t\t\t\"192.168.0.20:8000\",\n\t\t\t\"192.168.0.21:8000\"\n"),
        ])
        var settings = replace(text(release, .settings)!, [
            ("MAX_CONCURRENT_JOB_RUN = 5\n", "MAX_CONCURRENT_JOB_RUN = 20\n"), ("USE_AUTHENTICATION = False", "USE_AUTHENTICATION = True"),
        ])
        if release.keepsRegistryInPython {
            settings = replace(settings, [("USE_CONFIGURATION_CENTER = False", "USE_CONFIGURATION_CENTER = True"),
                                          ("ZOOKEEPER_HOSTS = ['127.0.0.1:2181']", "ZOOKEEPER_HOSTS = ['192.168.0.5:2181', '192.168.0.6:2181']")])
            site[.settingUtils] = replace(text(release, .settingUtils)!, [("    USE_ACL = False", "    USE_ACL = True"),
                                                                          ("    ZK_PASSWORD = 'fate'", "    ZK_PASSWORD = '\(zooKeeperPassword)'")])
        }
        site[.settings] = settings
        return site
    }

    static func sources(_ texts: [SiteFile: String], folder: String = "python_20261203101500") -> [SiteFile: SourceFile] {
        texts.reduce(into: [:]) { $0[$1.key] = SourceFile(path: "\(folder)/\($1.key.rawValue)", bytes: Array($1.value.utf8)) }
    }

    /// The settings each merged file holds, as FATE's own Python reads them: PyYAML, json, and
    /// the module-level assignments of settings.py (as source text, from `ast`), flattened to
    /// `path → JSON text`; nil where the file is missing.
    static func loaded(_ files: [SiteFile: [UInt8]]) throws -> [String: String] {
        try loaded(batch: [files])[0]
    }

    /// The same for many sets of files, with one python3 for all of them.
    static func loaded(batch: [[SiteFile: [UInt8]]]) throws -> [[String: String]] {
        let folder = try Support.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        for (index, files) in batch.enumerated() {
            let sub = folder.appendingPathComponent("\(index)")
            try FileManager.default.createDirectory(at: sub, withIntermediateDirectories: true)
            for (file, bytes) in files { try Data(bytes).write(to: sub.appendingPathComponent(file.name)) }
        }
        let run = try Support.run("python3", ["-c", """
            import ast, json, os, signal, sys, yaml
            signal.alarm(240)
            def load(folder):
                out = {}
                def flat(prefix, value):
                    if isinstance(value, dict) and value:
                        for k, v in value.items(): flat(prefix + [str(k)], v)
                    else:
                        out['.'.join(prefix)] = json.dumps(value, sort_keys=True)
                def path(name): return os.path.join(folder, name)
                if os.path.exists(path('base_conf.yaml')):
                    # FATE 1.4.4 reads it with a plain open() in the locale's encoding: ASCII without LANG.
                    with open(path('base_conf.yaml'), encoding='ascii') as f: flat(['base_conf.yaml'], yaml.safe_load(f))
                if os.path.exists(path('server_conf.json')):
                    with open(path('server_conf.json'), encoding='utf-8') as f: flat(['server_conf.json'], json.load(f))
                for name in ('settings.py', 'setting_utils.py'):
                    if os.path.exists(path(name)):
                        with open(path(name), encoding='utf-8') as f: tree = ast.parse(f.read())
                        for node in tree.body:
                            if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
                                out[name + '.' + node.targets[0].id] = json.dumps(ast.unparse(node.value))
                return out
            count = int(sys.argv[2])
            print(json.dumps([load(os.path.join(sys.argv[1], str(i))) for i in range(count)]))
            """, folder.path, "\(batch.count)"], timeout: .seconds(300))
        guard run.status == 0 else { throw Failure("python3: \(run.stderr)") }
        return try JSONDecoder().decode([[String: String]].self, from: Data(run.stdout.utf8))
    }
}

@Suite struct SiteMergeTests {
    @Test func theToolCarriesEveryReleaseFileVerbatim() {
        for release in FateRelease.allCases {
            for file in SiteFile.allCases {
                #expect(release.defaultFile(file) == ReleaseFixture.bytes(release, file), "\(release.rawValue) \(file.rawValue)")
            }
        }
    }

    @Test func eachReleaseIsRecognisedByItsOwnFiles() {
        for release in FateRelease.allCases {
            let baseline = SiteBaseline.detect(site: ReleaseFixture.files(release).mapValues(\.bytes))
            #expect(release.sameFiles.contains(baseline.release), "\(release.rawValue): \(baseline.release.rawValue)")
            #expect(baseline.differingLines == 0 && baseline.alsoClose.isEmpty)
        }
        #expect(FateRelease.v1_4_2.shown == "1.4.2/1.4.3")
    }

    static let siteReleases: [FateRelease] = [.v1_4_0, .v1_4_1, .v1_4_2, .v1_4_3]

    /// Every key of the release's files, the site's values where the site changed them.
    static func expected(from release: FateRelease, modelStore: SiteChoices.ModelStore) -> [String: String] {
        var values: [String: String] = [
            "base_conf.yaml.work_mode": "1", "base_conf.yaml.fate_flow.http_port": "9390",
            "base_conf.yaml.database.user": "\"fate\"", "base_conf.yaml.database.passwd": "\"\(ReleaseFixture.databasePassword)\"",
            "base_conf.yaml.database.host": "\"192.168.0.1\"",
            "base_conf.yaml.use_registry": "true", "base_conf.yaml.zookeeper.hosts": "[\"192.168.0.5:2181\", \"192.168.0.6:2181\"]",
            "base_conf.yaml.zookeeper.password": "\"\(ReleaseFixture.zooKeeperPassword)\"",
            "server_conf.json.servers.proxy.host": "\"192.168.0.10\"", "server_conf.json.servers.fateboard.port": "8090",
            "server_conf.json.servers.servings": "[\"192.168.0.20:8000\", \"192.168.0.21:8000\"]",
            "settings.py.MAX_CONCURRENT_JOB_RUN": "\"20\"", "settings.py.USE_AUTHENTICATION": "\"True\"",
        ]
        if release.keepsRegistryInPython && modelStore == .database {
            values["base_conf.yaml.model_store_address.user"] = "\"fate\""
            values["base_conf.yaml.model_store_address.passwd"] = "\"\(ReleaseFixture.databasePassword)\""
            values["base_conf.yaml.model_store_address.host"] = "\"192.168.0.1\""
        }
        // 1.4.0/1.4.1 had no ACL by default; the site turned it on (setting_utils.py).
        values["base_conf.yaml.zookeeper.use_acl"] = "true"
        return values
    }

    @Test(arguments: siteReleases)
    func aClusterSiteIsCarriedIntoTheNewRelease(from release: FateRelease) throws {
        let site = ReleaseFixture.sources(ReleaseFixture.clusterSite(release))
        let target = ReleaseFixture.files(.v1_4_4)
        if release.keepsRegistryInPython {
            // Redis or MySQL for the models is not the tool's to guess.
            let blocked = try SiteMerge(site: site, release: target)
            #expect(blocked.decisions.count == 1)
            #expect(blocked.decisions.first?.question.contains("stored models in redis") == true)
            #expect(blocked.decisions.first?.choices.first?.hasPrefix("--model-store database") == true)
        }
        for store in [SiteChoices.ModelStore.database, .release] {
            let merge = try SiteMerge(site: site, release: target, choices: SiteChoices(modelStore: store))
            #expect(merge.decisions.isEmpty, "\(merge.decisions)")
            #expect(release.sameFiles.contains(merge.baseline.release))
            var merged: [SiteFile: [UInt8]] = [:]
            for file in merge.files { merged[file.file] = file.merged }
            #expect(merged[.settingUtils] == nil, "FATE 1.4.4 has no setting_utils.py")
            let now = try ReleaseFixture.loaded(merged)
            var wanted = try ReleaseFixture.loaded(target.mapValues(\.bytes))
            for (key, value) in Self.expected(from: release, modelStore: store) { wanted[key] = value }
            #expect(now == wanted, "differ: \(Set(now.keys).union(wanted.keys).filter { now[$0] != wanted[$0] }.sorted().map { "\($0): \(now[$0] ?? "-") vs \(wanted[$0] ?? "-")" })")

            // Every other byte of the release's files stays: the diff touches only those lines.
            let conf = try #require(merge.files.first { $0.file == .serverConf })
            #expect(conf.diff.split(separator: "\n").filter { $0.hasPrefix("+") && !$0.hasPrefix("+++") }.count == 4, "\(conf.diff)")
            let settings = try #require(merge.files.first { $0.file == .settings })
            #expect(settings.diff.split(separator: "\n").filter { $0.hasPrefix("-") && !$0.hasPrefix("---") }.count == 2, "\(settings.diff)")

            // Secrets appear in no change, decision or diff.
            let shown = merge.changes.map(\.line).joined(separator: "\n") + merge.files.map(\.diff).joined()
            #expect(!shown.contains(ReleaseFixture.databasePassword) && !shown.contains(ReleaseFixture.zooKeeperPassword))
            #expect(!shown.contains("S3cret") && !shown.contains("zk secret"))
            let carried = Set(merge.changes.filter { $0.action == .carried }.map(\.key))
            #expect(carried.isSuperset(of: ["work_mode", "fate_flow.http_port", "database.passwd", "servers.proxy.host", "MAX_CONCURRENT_JOB_RUN"]))
        }
    }

    @Test(arguments: siteReleases)
    func anUnchangedSiteGetsTheReleaseFiles(from release: FateRelease) throws {
        let site = ReleaseFixture.files(release, folder: "python_20261203101500")
        let target = ReleaseFixture.files(.v1_4_4)
        let merge = try SiteMerge(site: site, release: target, choices: SiteChoices(modelStore: .release))
        #expect(merge.decisions.isEmpty)
        #expect(merge.changes.filter { $0.action == .carried || $0.action == .added }.isEmpty, "\(merge.changes.map(\.line))")
        for file in merge.files where file.file != .baseConf {
            #expect(file.merged == target[file.file]?.bytes, "\(file.file)")
        }
        let conf = try #require(merge.files.first { $0.file == .baseConf }?.merged)
        if release.keepsRegistryInPython {
            // 1.4.0/1.4.1's own ZooKeeper values (2181, no ACL) are what the site ran with.
            let now = try ReleaseFixture.loaded([.baseConf: conf])
            #expect(now["base_conf.yaml.zookeeper.hosts"] == "[\"127.0.0.1:2181\"]")
            #expect(now["base_conf.yaml.zookeeper.use_acl"] == "false")
        } else {
            #expect(conf == target[.baseConf]?.bytes)
        }
    }

    @Test func aCodeEditInSettingsIsShownAndNeedsAChoice() throws {
        var texts = ReleaseFixture.clusterSite(.v1_4_2)
        texts[.settings] = texts[.settings]!.replacingOccurrences(of: "import __main__\n", with: "import __main__\nimport requests  # the site's own\n")
            + "\ndef site_hook():\n    return requests.get('http://192.168.0.9/ping')\n"
        let site = ReleaseFixture.sources(texts)
        let target = ReleaseFixture.files(.v1_4_4)
        let blocked = try SiteMerge(site: site, release: target)
        let decision = try #require(blocked.decisions.first)
        #expect(blocked.decisions.count == 1)
        #expect(decision.file == "settings.py")
        #expect(decision.diff?.contains("+import requests  # the site's own") == true)
        #expect(decision.diff?.contains("+def site_hook():") == true)
        // The values the site changed are not part of the code diff.
        #expect(decision.diff?.contains("MAX_CONCURRENT_JOB_RUN") == false)

        let accepted = try SiteMerge(site: site, release: target, choices: SiteChoices(files: [.settings: .acceptRelease]))
        #expect(accepted.decisions.isEmpty)
        let settings = String(decoding: try #require(accepted.files.first { $0.file == .settings }?.merged), as: UTF8.self)
        #expect(settings.contains("MAX_CONCURRENT_JOB_RUN = 20\n") && !settings.contains("requests"))

        let kept = try SiteMerge(site: site, release: target, choices: SiteChoices(files: [.settings: .keepSite]))
        #expect(kept.decisions.isEmpty)
        #expect(kept.files.first { $0.file == .settings }?.merged == site[.settings]?.bytes)
    }

    @Test func keysTheSiteAddedAreInsertedInTheReleaseLayout() throws {
        var texts = ReleaseFixture.clusterSite(.v1_4_3)
        // Also a key added to the last section next to a new section after it (found by fuzz-site-merge:
        // both go at the end of the file, the key first).
        texts[.baseConf] = texts[.baseConf]!.replacingOccurrences(of: "  stale_timeout: 30\n", with: "  stale_timeout: 30\n  charset: utf8mb4\n")
            .replacingOccurrences(of: "  stale_timeout: 10\n", with: "  stale_timeout: 10\n  charset: latin1\n")
            + "site_extra:\n  owner: ops-team\n  ports:\n    - 1\n    - 2\n"
        texts[.serverConf] = texts[.serverConf]!.replacingOccurrences(of: "\t\t\"servings\": [", with: "\t\t\"exchange\": {\n\t\t\t\"host\": \"192.168.0.30\",\n\t\t\t\"port\": 9371\n\t\t},\n\t\t\"servings\": [")
        let merge = try SiteMerge(site: ReleaseFixture.sources(texts), release: ReleaseFixture.files(.v1_4_4))
        #expect(merge.decisions.isEmpty)
        let added = Set(merge.changes.filter { $0.action == .added }.map(\.key))
        #expect(added == ["database.charset", "model_store_address.charset", "site_extra.owner", "site_extra.ports", "servers.exchange.host", "servers.exchange.port"])
        var merged: [SiteFile: [UInt8]] = [:]
        for file in merge.files { merged[file.file] = file.merged }
        let now = try ReleaseFixture.loaded(merged)
        #expect(now["base_conf.yaml.database.charset"] == "\"utf8mb4\"")
        #expect(now["base_conf.yaml.site_extra.ports"] == "[1, 2]")
        #expect(now["base_conf.yaml.model_store_address.charset"] == "\"latin1\"" && now["base_conf.yaml.site_extra.owner"] == "\"ops-team\"")
        #expect(now["server_conf.json.servers.exchange.port"] == "9371")
        let conf = String(decoding: merged[.baseConf]!, as: UTF8.self)
        #expect(conf.contains("  stale_timeout: 30\n  charset: utf8mb4\nzookeeper:\n"), "\(conf)")

        // The site's file ending without a line break, on the key it added (found by fuzz-site-merge).
        var unterminated = ReleaseFixture.clusterSite(.v1_4_3)
        unterminated[.baseConf] = unterminated[.baseConf]! + "site_extra:\n  owner: ops-team"
        let last = try SiteMerge(site: ReleaseFixture.sources(unterminated), release: ReleaseFixture.files(.v1_4_4))
        let lastConf = try ReleaseFixture.loaded([.baseConf: try #require(last.files.first { $0.file == .baseConf }?.merged)])
        #expect(lastConf["base_conf.yaml.site_extra.owner"] == "\"ops-team\"")
    }

    @Test func aValueWhoseDefaultChangedTooKeepsTheSitesAndSaysSo() throws {
        var texts = ReleaseFixture.clusterSite(.v1_4_2)
        texts[.settings] = texts[.settings]!.replacingOccurrences(of: "\"fate_flow_detect_table_name\", 16)", with: "\"fate_flow_detect_table_name\", 32)")
        let merge = try SiteMerge(site: ReleaseFixture.sources(texts), release: ReleaseFixture.files(.v1_4_4))
        let change = try #require(merge.changes.first { $0.key == "DETECT_TABLE" })
        #expect(change.action == .carried)
        #expect(change.note.contains("the release's default changed too"))
        let settings = String(decoding: merge.files.first { $0.file == .settings }!.merged!, as: UTF8.self)
        #expect(settings.contains("\"fate_flow_detect_table_name\", 32)"))
        // Untouched, the release's new default wins.
        let plain = try SiteMerge(site: ReleaseFixture.files(.v1_4_2, folder: "b"), release: ReleaseFixture.files(.v1_4_4))
        #expect(plain.files.first { $0.file == .settings }?.merged == FateRelease.v1_4_4.defaultFile(.settings))
    }

    @Test func aSettingTheNewReleaseDroppedNeedsAChoice() throws {
        var texts = ReleaseFixture.clusterSite(.v1_4_0)
        texts[.settings] = texts[.settings]!.replacingOccurrences(of: "SERVINGS_ZK_PATH = '/FATE-SERVICES/serving/online/publishLoad/providers'",
                                                                  with: "SERVINGS_ZK_PATH = '/SITE/servings'")
        let site = ReleaseFixture.sources(texts)
        let blocked = try SiteMerge(site: site, release: ReleaseFixture.files(.v1_4_4), choices: SiteChoices(modelStore: .database))
        #expect(blocked.decisions.map(\.question).contains { $0.contains("SERVINGS_ZK_PATH") })
        let accepted = try SiteMerge(site: site, release: ReleaseFixture.files(.v1_4_4),
                                     choices: SiteChoices(files: [.settings: .acceptRelease], modelStore: .database))
        #expect(accepted.decisions.isEmpty)
        #expect(accepted.changes.contains { $0.key == "SERVINGS_ZK_PATH" && $0.action == .releaseKept })
    }

    /// Found by fuzz-site-merge: a value where the release has a section (`database:` left empty,
    /// a proxy given as one string) is a decision, not a crash or a section replaced by a value.
    @Test func aValueWhereTheReleaseHasASectionNeedsAChoice() throws {
        var texts = ReleaseFixture.clusterSite(.v1_4_2)
        texts[.baseConf] = texts[.baseConf]!.replacingOccurrences(of: "database:\n  name: fate_flow\n", with: "database:\nunrelated:\n  name: fate_flow\n")
        texts[.serverConf] = texts[.serverConf]!.replacingOccurrences(of: "\"proxy\": {\n\t\t\t\"host\": \"192.168.0.10\",\n\t\t\t\"port\": 9370\n\t\t}", with: "\"proxy\": \"192.168.0.10:9370\"")
        let merge = try SiteMerge(site: ReleaseFixture.sources(texts), release: ReleaseFixture.files(.v1_4_4))
        let questions = merge.decisions.map(\.question)
        #expect(questions.contains { $0.contains("the site's database (line 7 of") && $0.contains("is a single value where FATE 1.4.4's base_conf.yaml has a section") }, "\(questions)")
        #expect(questions.contains { $0.contains("the site's servers.proxy in") && $0.contains("server_conf.json has a section") }, "\(questions)")
        let accepted = try SiteMerge(site: ReleaseFixture.sources(texts), release: ReleaseFixture.files(.v1_4_4),
                                     choices: SiteChoices(files: [.baseConf: .acceptRelease, .serverConf: .acceptRelease]))
        #expect(accepted.decisions.isEmpty, "\(accepted.decisions)")
        #expect(accepted.files.first { $0.file == .serverConf }?.merged == ReleaseFixture.bytes(.v1_4_4, .serverConf))
    }

    @Test func windowsLineEndingsAndAByteOrderMarkGiveTheSameResult() throws {
        let texts = ReleaseFixture.clusterSite(.v1_4_3)
        let plain = try SiteMerge(site: ReleaseFixture.sources(texts), release: ReleaseFixture.files(.v1_4_4))
        var windows: [SiteFile: SourceFile] = [:]
        for (file, text) in texts {
            windows[file] = SourceFile(path: "w/\(file.rawValue)", bytes: [0xEF, 0xBB, 0xBF] + Array(text.replacingOccurrences(of: "\n", with: "\r\n").utf8))
        }
        let merge = try SiteMerge(site: windows, release: ReleaseFixture.files(.v1_4_4))
        #expect(merge.decisions.isEmpty)
        for (a, b) in zip(plain.files, merge.files) { #expect(a.merged == b.merged, "\(a.file)") }
    }

    @Test func aSiteFileThatIsNotYAMLOrJSONIsAClearError() throws {
        var texts = ReleaseFixture.clusterSite(.v1_4_2)
        texts[.baseConf] = texts[.baseConf]!.replacingOccurrences(of: "  http_port: 9390\n", with: "  http_port: [9390\n")
        #expect(throws: InputError.self) { try SiteMerge(site: ReleaseFixture.sources(texts), release: ReleaseFixture.files(.v1_4_4)) }
        do { _ = try SiteMerge(site: ReleaseFixture.sources(texts), release: ReleaseFixture.files(.v1_4_4)) } catch {
            #expect(error.location.file == "python_20261203101500/arch/conf/base_conf.yaml")
            #expect(error.location.line != nil)
        }
        // Two equal keys (found by fuzz-site-merge): PyYAML would take the last in silence.
        var twice = ReleaseFixture.clusterSite(.v1_4_2)
        twice[.baseConf] = twice[.baseConf]! + "work_mode: 0\n"
        do {
            _ = try SiteMerge(site: ReleaseFixture.sources(twice), release: ReleaseFixture.files(.v1_4_4))
            Issue.record("a key given twice was accepted")
        } catch {
            #expect(error.description == "python_20261203101500/arch/conf/base_conf.yaml:31: work_mode is given twice (first on line 1); PyYAML would silently use this one: remove one of them", "\(error)")
        }
        var json = ReleaseFixture.clusterSite(.v1_4_2)
        json[.serverConf] = json[.serverConf]!.replacingOccurrences(of: "\"port\": 8090", with: "\"port\": 8090,")
        do {
            _ = try SiteMerge(site: ReleaseFixture.sources(json), release: ReleaseFixture.files(.v1_4_4))
            Issue.record("a trailing comma was accepted")
        } catch {
            #expect(error.location.file == "python_20261203101500/arch/conf/server_conf.json")
            #expect(error.location.line == 18, "\(error)")
        }
    }

    /// Generated sites: random values changed in every file, in the ways people write them
    /// (quoting, CR LF, a BOM), from each older release. Each must come out with exactly the site's
    /// values where it changed them and the release's everywhere else, as FATE's Python reads them.
    @Test func generatedSiteEditsAreCarriedExactly() throws {
        let seed = ProcessInfo.processInfo.environment["FATE_UPGRADE_MERGE_SEED"].flatMap { UInt64($0) } ?? UInt64(time(nil))
        let cases = ProcessInfo.processInfo.environment["FATE_UPGRADE_MERGE_CASES"].flatMap { Int($0) } ?? 200
        var random = SeededRandom(seed: seed)
        let target = ReleaseFixture.files(.v1_4_4)
        let tunables = ["MAX_CONCURRENT_JOB_RUN", "MAX_CONCURRENT_JOB_RUN_HOST", "USE_AUTHENTICATION", "CHECK_NODES_IDENTITY",
                        "USE_LOCAL_DATA", "JOB_DEFAULT_TIMEOUT", "DEFAULT_GRPC_OVERALL_TIMEOUT"]
        var merged: [[SiteFile: [UInt8]]] = []
        var expectations: [[String: String]] = []
        var shapes: [String] = []
        for _ in 0..<cases {
            let release = [FateRelease.v1_4_0, .v1_4_1, .v1_4_2, .v1_4_3][Int(random.next() % 4)]
            var expected: [String: String] = [:]
            // base_conf.yaml: scalar lines of the settings the new release shares.
            var conf = ReleaseFixture.text(release, .baseConf)!.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
            var section = ""
            for index in conf.indices {
                let line = conf[index]
                if !line.hasPrefix(" "), line.hasSuffix(":") { section = String(line.dropLast()); continue }
                guard let colon = line.firstIndex(of: ":"), !line.hasSuffix(":"), random.next() % 3 == 0 else { continue }
                let indent = line.prefix { $0 == " " }
                let key = line[line.index(line.startIndex, offsetBy: indent.count)..<colon]
                let path = indent.isEmpty ? String(key) : "\(section).\(key)"
                if ["use_registry", "zookeeper", "redis", "default_model_store_address"].contains(path.split(separator: ".")[0]) || line.hasPrefix("    ") { continue }
                let (text, json) = Self.yamlValue(&random)
                conf[index] = "\(indent)\(key): \(text)"
                expected["base_conf.yaml.\(path)"] = json
            }
            // server_conf.json: scalar members.
            var server = ReleaseFixture.text(release, .serverConf)!.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
            var object = ""
            for index in server.indices {
                let line = server[index]
                let trimmed = line.trimmingCharacters(in: .whitespaces)
                if trimmed.hasSuffix("{"), let key = trimmed.split(separator: "\"").first { object = String(key); continue }
                guard trimmed.hasPrefix("\""), trimmed.contains("\": "), !trimmed.hasSuffix("{"), !trimmed.hasSuffix("["), random.next() % 3 == 0 else { continue }
                let parts = trimmed.split(separator: "\"")
                let key = String(parts[0])
                let comma = trimmed.hasSuffix(",") ? "," : ""
                let value = random.next() % 2 == 0 ? "\(random.next() % 65536)" : "\"h\(random.next() % 1000).site-\(random.next() % 100)\""
                server[index] = line.prefix { $0 == "\t" } + "\"\(key)\": \(value)\(comma)"
                expected["server_conf.json.servers.\(object).\(key)"] = value
            }
            // settings.py: tunables.
            var settings = ReleaseFixture.text(release, .settings)!
            for name in tunables where random.next() % 2 == 0 {
                guard let range = settings.range(of: "\n\(name) = ") else { continue }
                let end = settings[range.upperBound...].firstIndex(of: "\n")!
                let value = name.hasPrefix("USE_") || name.hasPrefix("CHECK_") ? (random.next() % 2 == 0 ? "True" : "False") : "\(random.next() % 100_000)"
                settings.replaceSubrange(range.upperBound..<end, with: value)
                expected["settings.py.\(name)"] = "\"\(value)\""
            }
            let crlf = random.next() % 4 == 0, bom = random.next() % 6 == 0
            var site: [SiteFile: SourceFile] = [:]
            for (file, text) in [(SiteFile.baseConf, conf.joined(separator: "\n")), (.serverConf, server.joined(separator: "\n")), (.settings, settings)] {
                let written = crlf ? text.replacingOccurrences(of: "\n", with: "\r\n") : text
                site[file] = SourceFile(path: "site/\(file.rawValue)", bytes: (bom ? [0xEF, 0xBB, 0xBF] : []) + Array(written.utf8))
            }
            if let utils = ReleaseFixture.bytes(release, .settingUtils) { site[.settingUtils] = SourceFile(path: "site/\(SiteFile.settingUtils.rawValue)", bytes: utils) }
            let merge: SiteMerge
            do { merge = try SiteMerge(site: site, release: target, choices: SiteChoices(modelStore: .release)) } catch {
                Issue.record("seed \(seed): \(release.rawValue) \(expected): \(error)")
                return
            }
            if !merge.decisions.isEmpty {
                Issue.record("seed \(seed) (\(release.rawValue)): \(merge.decisions.map { $0.question + ($0.diff ?? "") })")
                return
            }
            var files: [SiteFile: [UInt8]] = [:]
            for file in merge.files { files[file.file] = file.merged }
            merged.append(files)
            expectations.append(expected)
            shapes.append("\(release.rawValue)\(crlf ? " crlf" : "")\(bom ? " bom" : "")")
        }
        let now = try ReleaseFixture.loaded(batch: merged)
        var wanted = try ReleaseFixture.loaded(target.mapValues(\.bytes))
        // The registry values each release ran with stay as the site had them; they are checked elsewhere.
        wanted = wanted.filter { !$0.key.hasPrefix("base_conf.yaml.zookeeper.") && $0.key != "base_conf.yaml.use_registry" }
        var failures = 0
        for (index, result) in now.enumerated() {
            var expected = wanted
            for (key, value) in expectations[index] { expected[key] = value }
            let got = result.filter { !$0.key.hasPrefix("base_conf.yaml.zookeeper.") && $0.key != "base_conf.yaml.use_registry" }
            if got != expected {
                failures += 1
                if failures <= 3 {
                    let differing = Set(got.keys).union(expected.keys).filter { got[$0] != expected[$0] }.sorted()
                    Issue.record("seed \(seed), case \(index) (\(shapes[index])): \(differing.map { "\($0): \(got[$0] ?? "-") vs \(expected[$0] ?? "-")" })")
                }
            }
        }
        #expect(failures == 0, "seed \(seed): \(failures) of \(cases) cases differ (FATE_UPGRADE_MERGE_SEED=\(seed) replays them)")
    }

    /// A YAML value and what PyYAML gives for it, as JSON.
    static func yamlValue(_ random: inout SeededRandom) -> (String, String) {
        let n = random.next() % 10_000
        switch random.next() % 5 {
        case 0: return ("\(n)", "\(n)")
        case 1: return ("h\(n).example-\(n % 7)", "\"h\(n).example-\(n % 7)\"")
        case 2: return ("'it''s #\(n): x'", "\"it's #\(n): x\"")
        case 3: return ("\"tab\\there \(n)\"", "\"tab\\there \(n)\"")
        default: return ("\"\(n)\"", "\"\(n)\"")
        }
    }
}

/// SplitMix64: the same cases for the same seed, on every machine.
struct SeededRandom {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE5_E9B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
