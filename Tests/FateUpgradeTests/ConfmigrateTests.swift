import FateUpgradeCore
import Foundation
import Testing

/// `fate-upgrade confmigrate` on a sandbox FATE root, as on the fateflow machine after the upgrade.
@Suite struct ConfmigrateTests {
    struct Sandbox {
        let folder: URL
        var fateRoot: URL { folder.appendingPathComponent("fate") }
        var home: URL { folder.appendingPathComponent("home") }
        var baseConf: URL { fateRoot.appendingPathComponent("python/arch/conf/base_conf.yaml") }
        var environment: [String: String] { ["HOME": home.path] }

        init(baseConf text: String = fixture("conf/base_conf-1.4.4.yaml")) throws {
            folder = try Support.temporaryFolder()
            try FileManager.default.createDirectory(at: baseConf.deletingLastPathComponent(), withIntermediateDirectories: true)
            try FileManager.default.createDirectory(at: home.appendingPathComponent("upgrade_package"), withIntermediateDirectories: true)
            try Data(text.utf8).write(to: baseConf)
        }

        /// A 1.4.0-style backup: settings.py and setting_utils.py with these values (as Python source).
        @discardableResult
        func pythonBackup(_ name: String, in place: URL? = nil, useCenter: String = "False", hosts: String = "['127.0.0.1:2181']",
                          useACL: String = "False", user: String = "'fate'", password: String = "'fate'",
                          crlf: Bool = false) throws -> URL {
            let backup = (place ?? fateRoot).appendingPathComponent(name)
            let flow = backup.appendingPathComponent("fate_flow")
            try FileManager.default.createDirectory(at: flow.appendingPathComponent("utils"), withIntermediateDirectories: true)
            var settings = fixture("fate-release/v1.4.0/fate_flow/settings.py")
                .replacingOccurrences(of: "USE_CONFIGURATION_CENTER = False", with: "USE_CONFIGURATION_CENTER = \(useCenter)")
                .replacingOccurrences(of: "ZOOKEEPER_HOSTS = ['127.0.0.1:2181']", with: "ZOOKEEPER_HOSTS = \(hosts)")
            var utils = fixture("fate-release/v1.4.0/fate_flow/utils/setting_utils.py")
                .replacingOccurrences(of: "    USE_ACL = False", with: "    USE_ACL = \(useACL)")
                .replacingOccurrences(of: "    ZK_USERNAME = 'fate'", with: "    ZK_USERNAME = \(user)")
                .replacingOccurrences(of: "    ZK_PASSWORD = 'fate'", with: "    ZK_PASSWORD = \(password)")
            if crlf {
                settings = settings.replacingOccurrences(of: "\n", with: "\r\n")
                utils = utils.replacingOccurrences(of: "\n", with: "\r\n")
            }
            try Data(settings.utf8).write(to: flow.appendingPathComponent("settings.py"))
            try Data(utils.utf8).write(to: flow.appendingPathComponent("utils/setting_utils.py"))
            return backup
        }

        /// A 1.4.2-style backup: its own base_conf.yaml holds the values.
        func yamlBackup(_ name: String, conf: String, settingsOf release: String = "1.4.2") throws {
            let folder = fateRoot.appendingPathComponent("\(name)/arch/conf")
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            try Data(conf.utf8).write(to: folder.appendingPathComponent("base_conf.yaml"))
            try FileManager.default.createDirectory(at: fateRoot.appendingPathComponent("\(name)/fate_flow"), withIntermediateDirectories: true)
            try Data(fixture("fate-release/v\(release)/fate_flow/settings.py").utf8).write(to: fateRoot.appendingPathComponent("\(name)/fate_flow/settings.py"))
        }

        func run(_ arguments: [String] = [], stdin: String? = nil) throws -> Run {
            try Support.tool(["confmigrate", "--fate-root", fateRoot.path] + arguments, environment: environment, stdin: stdin)
        }

        func text() throws -> String { try String(contentsOf: baseConf, encoding: .utf8) }

        /// Files beside base_conf.yaml (backups, temporaries).
        func confFolder() throws -> [String] { try Support.files(in: baseConf.deletingLastPathComponent()) }
    }

    static func fixture(_ path: String) -> String {
        try! String(contentsOf: Support.fixtures.appendingPathComponent(path), encoding: .utf8)
    }

    /// A Python string literal for any text.
    static func python(_ text: String) -> String {
        var out = "'"
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\\": out += "\\\\"
            case "'": out += "\\'"
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "'"
    }

    @Test func migratesA140BackupTouchingOnlyTheseLines() throws {
        let sandbox = try Sandbox()
        defer { try? FileManager.default.removeItem(at: sandbox.folder) }
        try sandbox.pythonBackup("python_20200901120000", useCenter: "True", hosts: "['10.0.0.1:2181', \"10.0.0.2:2181\"]",
                                 useACL: "True", user: "'fate_zk'", password: Self.python("p@ss: #1 'x' $HOME"))
        chmod(sandbox.baseConf.path, 0o640)
        chown(sandbox.baseConf.path, 1234, 5678)
        let original = try Data(contentsOf: sandbox.baseConf)

        let run = try sandbox.run()
        #expect(run.status == 0, "\(run.stderr)")
        #expect(!run.output.contains("p@ss"))
        #expect(run.stdout.contains("backup: \(sandbox.fateRoot.path)/python_20200901120000 (the newest of 1 found)"))
        #expect(run.stdout.contains("layout: FATE 1.4.0/1.4.1"))
        #expect(run.stdout.contains("use_registry         true  (from USE_CONFIGURATION_CENTER in \(sandbox.fateRoot.path)/python_20200901120000/fate_flow/settings.py:"))
        #expect(run.stdout.contains("zookeeper.password   ********  (from ZK_PASSWORD in "))

        let expected = Self.fixture("conf/base_conf-1.4.4.yaml")
            .replacingOccurrences(of: "use_registry: false\n", with: "use_registry: true\n")
            .replacingOccurrences(of: "    - 127.0.0.1:2281\n", with: "    - 10.0.0.1:2181\n    - 10.0.0.2:2181\n")
            .replacingOccurrences(of: "  user: fate\n", with: "  user: fate_zk\n")
            .replacingOccurrences(of: "  password: fate\n", with: "  password: 'p@ss: #1 ''x'' $HOME'\n")
        #expect(try sandbox.text() == expected)
        let loaded = try pyyamlRegistry(try sandbox.text())
        let zookeeper = try #require(loaded["zookeeper"] as? [String: Any])
        #expect(zookeeper["password"] as? String == "p@ss: #1 'x' $HOME")
        #expect(zookeeper["use_acl"] as? Bool == true)

        // Mode and owner kept; the previous file kept beside it.
        let attributes = try FileManager.default.attributesOfItem(atPath: sandbox.baseConf.path)
        #expect((attributes[.posixPermissions] as? NSNumber)?.intValue == 0o640)
        #expect((attributes[.ownerAccountID] as? NSNumber)?.intValue == 1234)
        #expect((attributes[.groupOwnerAccountID] as? NSNumber)?.intValue == 5678)
        let files = try sandbox.confFolder()
        #expect(files.count == 2)
        // The new release's own file, beside the merged one for comparing.
        let backup = try #require(files.first { $0 == "base_conf.yaml.release" })
        #expect(try Data(contentsOf: sandbox.baseConf.deletingLastPathComponent().appendingPathComponent(backup)) == original)

        // Again: nothing to do.
        let again = try sandbox.run()
        #expect(again.status == 0)
        #expect(again.stdout.contains("already holds these settings; nothing changed"))
        #expect(try sandbox.confFolder().count == 2)
        #expect(try sandbox.text() == expected)
    }

    @Test func dryRunShowsAMaskedDiffAndWritesNothing() throws {
        let sandbox = try Sandbox()
        defer { try? FileManager.default.removeItem(at: sandbox.folder) }
        try sandbox.pythonBackup("python_20200901120000", hosts: "'zk1:2181,zk2:2182'", password: "'n3w-secret'")
        let before = try sandbox.text()
        let run = try sandbox.run(["--dry-run"])
        #expect(run.status == 0, "\(run.stderr)")
        for line in ["-    - 127.0.0.1:2281\n", "+    - zk1:2181\n", "+    - zk2:2182\n", "-  use_acl: true\n", "+  use_acl: false\n"] {
            #expect(run.stdout.contains(line), "\(line) missing from \(run.stdout)")
        }
        #expect(!run.stdout.contains("use_registry: false\n+use_registry"))
        #expect(run.stdout.contains("-  password: ********\n+  password: ********(changed)\n"))
        #expect(run.stdout.contains("dry run: "))
        #expect(!run.output.contains("n3w-secret") && !run.output.contains("password: fate"))
        #expect(try sandbox.text() == before)
        #expect(try sandbox.confFolder() == ["base_conf.yaml"])
    }

    @Test func picksTheNewestBackupOfBothPlacesAndSaysWhichItSaw() throws {
        let sandbox = try Sandbox()
        defer { try? FileManager.default.removeItem(at: sandbox.folder) }
        try sandbox.pythonBackup("python_20200901120000", hosts: "['old:2181']")
        try sandbox.pythonBackup("python_20201001120000", in: sandbox.home.appendingPathComponent("upgrade_package"), hosts: "['new:2181']")
        try sandbox.pythonBackup("python_upgrade_backup", hosts: "['wrong:2181']")
        try sandbox.pythonBackup("python_20201399999999", hosts: "['wrong:2181']")
        let run = try sandbox.run()
        #expect(run.status == 0, "\(run.stderr)")
        let package = sandbox.home.appendingPathComponent("upgrade_package").path
        #expect(run.stdout.contains("backup: \(package)/python_20201001120000 (the newest of 2 found)"))
        #expect(run.stdout.contains("  also found: \(sandbox.fateRoot.path)/python_20200901120000"))
        #expect(run.stdout.contains("  ignored: \(sandbox.fateRoot.path)/python_upgrade_backup (the name is not python_YYYYmmddHHMMSS)"))
        #expect(run.stdout.contains("  ignored: \(sandbox.fateRoot.path)/python_20201399999999"))
        #expect(try sandbox.text().contains("    - new:2181\n"))

        // An explicit --backup is used as given, and a newer one is pointed out.
        let old = try sandbox.run(["--backup", "\(sandbox.fateRoot.path)/python_20200901120000"])
        #expect(old.status == 0)
        #expect(old.stdout.contains("(given with --backup)"))
        #expect(old.stdout.contains("python_20201001120000 (newer than the one given)"))
        #expect(try sandbox.text().contains("    - old:2181\n"))
    }

    @Test func migratesA142BackupFromItsYAML() throws {
        let sandbox = try Sandbox(baseConf: Self.fixture("conf/base_conf-1.4.0.yaml"))
        defer { try? FileManager.default.removeItem(at: sandbox.folder) }
        let old = Self.fixture("conf/base_conf-1.4.4.yaml")
            .replacingOccurrences(of: "use_registry: false", with: "use_registry: true")
            .replacingOccurrences(of: "    - 127.0.0.1:2281", with: "    - 192.168.1.5:2181")
            .replacingOccurrences(of: "  password: fate", with: "  password: \"yes\"")
        try sandbox.yamlBackup("python_20200901120000", conf: old)
        let run = try sandbox.run()
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stdout.contains("layout: FATE 1.4.2/1.4.3"))
        #expect(run.stdout.contains("(from use_registry in \(sandbox.fateRoot.path)/python_20200901120000/arch/conf/base_conf.yaml:2)"))
        let loaded = try pyyamlRegistry(try sandbox.text())
        #expect(loaded["use_registry"] as? Bool == true)
        let zookeeper = try #require(loaded["zookeeper"] as? [String: Any])
        #expect(zookeeper["hosts"] as? [String] == ["192.168.1.5:2181"])
        #expect(zookeeper["password"] as? String == "yes")
        let others = try #require(loaded["others"] as? [String: Any])
        #expect(Set(others.keys) == ["work_mode", "fate_flow", "database", "redis", "default_model_store_address"])
    }

    @Test func windowsLineEndingsAndChineseCommentsSurvive() throws {
        let conf = "# FATE 基础配置\r\nwork_mode: 0\r\nuse_registry: false\r\ndatabase:\r\n  name: fate_flow  # 数据库\r\n# 在线集群\r\nzookeeper:\r\n  # 地址\r\n  hosts:\r\n    - 127.0.0.1:2181\r\n  use_acl: false\r\n  user: fate\r\n  password: fate\r\nredis:\r\n  db: 0\r\n"
        let sandbox = try Sandbox(baseConf: conf)
        defer { try? FileManager.default.removeItem(at: sandbox.folder) }
        try sandbox.pythonBackup("python_20200901120000", hosts: "['10.1.1.1:2181']", password: Self.python("口令 secret"), crlf: true)
        let run = try sandbox.run()
        #expect(run.status == 0, "\(run.stderr)")
        #expect(try sandbox.text() == conf
            .replacingOccurrences(of: "    - 127.0.0.1:2181\r\n", with: "    - 10.1.1.1:2181\r\n")
            .replacingOccurrences(of: "  password: fate\r\n", with: "  password: \"\\u53E3\\u4EE4 secret\"\r\n"))
        #expect(run.stdout.contains("zookeeper.password has non-ASCII characters: written as \\u escapes in double quotes"))
    }

    @Test func everyValueCanBeGivenByHandWithoutABackup() throws {
        let sandbox = try Sandbox(baseConf: Self.fixture("conf/base_conf-1.4.0.yaml"))
        defer { try? FileManager.default.removeItem(at: sandbox.folder) }
        let run = try sandbox.run(["--zk-hosts", "zk1:2181, zk2:2181", "--zk-use-acl", "true", "--zk-user", "fate",
                                   "--zk-password-stdin", "--json"], stdin: "zk-Pa55word\n")
        #expect(run.status == 0, "\(run.stderr)")
        let report = try #require(try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any])
        #expect(report["backup"] == nil)
        #expect(report["changed"] as? Bool == true)
        let settings = try #require(report["settings"] as? [[String: Any]])
        #expect(settings.first?["reason"] as? String == "the backup has neither USE_CONFIGURATION_CENTER nor use_registry; true, as the upgrade guide shows")
        let zookeeper = try #require(try pyyamlRegistry(try sandbox.text())["zookeeper"] as? [String: Any])
        #expect(zookeeper["password"] as? String == "zk-Pa55word")
        #expect(zookeeper["hosts"] as? [String] == ["zk1:2181", "zk2:2181"])
        // A password that no timestamp or path in the report can contain by chance ("123" was in 20261201230316).
        #expect(!run.stdout.contains("zk-Pa55word"))
    }

    @Test func handGivenValuesWinOverTheBackup() throws {
        let sandbox = try Sandbox()
        defer { try? FileManager.default.removeItem(at: sandbox.folder) }
        try sandbox.pythonBackup("python_20200901120000", useCenter: "True", hosts: "os.getenv('ZK_HOSTS')")
        let refused = try sandbox.run()
        #expect(refused.status == 1)
        #expect(refused.stderr.contains("python_20200901120000/fate_flow/settings.py:"))
        #expect(refused.stderr.contains(": ZOOKEEPER_HOSTS = os.getenv('ZK_HOSTS') is not a literal value, so it cannot be read without running FATE; give the value with --zk-hosts"))
        let run = try sandbox.run(["--zk-hosts", "zk:2181", "--use-registry", "false"])
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stdout.contains("use_registry         false  (given with --use-registry)"))
        #expect(try sandbox.text().contains("use_registry: false\n"))
        #expect(try sandbox.text().contains("    - zk:2181\n"))
    }

    struct Refusal: CustomStringConvertible, Sendable {
        var description: String
        var prepare: @Sendable (Sandbox) throws -> [String]
        var message: String
    }

    static let refusals: [Refusal] = [
        Refusal(description: "no backup", prepare: { _ in [] },
                message: "no python_YYYYmmddHHMMSS backup found there; give one with --backup"),
        Refusal(description: "settings.py missing", prepare: { sandbox in
            let backup = try sandbox.pythonBackup("python_20200901120000")
            try FileManager.default.removeItem(at: backup.appendingPathComponent("fate_flow/settings.py"))
            return []
        }, message: "python_20200901120000/fate_flow/settings.py: missing"),
        Refusal(description: "setting_utils.py missing", prepare: { sandbox in
            let backup = try sandbox.pythonBackup("python_20200901120000")
            try FileManager.default.removeItem(at: backup.appendingPathComponent("fate_flow/utils/setting_utils.py"))
            return []
        }, message: "python_20200901120000/fate_flow/utils/setting_utils.py: missing"),
        Refusal(description: "invalid YAML", prepare: { sandbox in
            try sandbox.pythonBackup("python_20200901120000")
            try Data("work_mode: 0\ndatabase: [x\n".utf8).write(to: sandbox.baseConf)
            return []
        }, message: "base_conf.yaml:3:1: invalid YAML: "),
        Refusal(description: "zookeeper not a mapping", prepare: { sandbox in
            try sandbox.pythonBackup("python_20200901120000")
            try Data("work_mode: 0\nzookeeper: 127.0.0.1:2181\n".utf8).write(to: sandbox.baseConf)
            return []
        }, message: "base_conf.yaml:2:12: zookeeper is present but is not a mapping"),
        Refusal(description: "port out of range", prepare: { sandbox in
            try sandbox.pythonBackup("python_20200901120000", hosts: "['10.0.0.1:70000']"); return []
        }, message: "zookeeper hosts: '10.0.0.1:70000': the port must be a number from 1 to 65535"),
        Refusal(description: "settings not UTF-8", prepare: { sandbox in
            let backup = try sandbox.pythonBackup("python_20200901120000")
            let file = backup.appendingPathComponent("fate_flow/settings.py")
            var bytes = try Data(contentsOf: file)
            bytes.append(contentsOf: [0x23, 0x20, 0xC4, 0xE3, 0x0A])  // "# 你" in GBK
            try bytes.write(to: file)
            return []
        }, message: ": not UTF-8 text"),
        Refusal(description: "base_conf not UTF-8", prepare: { sandbox in
            try sandbox.pythonBackup("python_20200901120000")
            try Data([0x77, 0x3A, 0x20, 0x30, 0x0A, 0x23, 0xC4, 0xE3, 0x0A]).write(to: sandbox.baseConf)
            return []
        }, message: "base_conf.yaml:2: not UTF-8 text"),
        Refusal(description: "password not a literal", prepare: { sandbox in
            try sandbox.pythonBackup("python_20200901120000", password: "'sec' + 'ret'"); return []
        }, message: "ZK_PASSWORD (hidden) is not a literal value"),
        Refusal(description: "missing base_conf", prepare: { sandbox in
            try sandbox.pythonBackup("python_20200901120000")
            try FileManager.default.removeItem(at: sandbox.baseConf)
            return []
        }, message: "base_conf.yaml: no such file"),
    ]

    @Test(arguments: refusals)
    func refusedRunsChangeNothing(refusal: Refusal) throws {
        let sandbox = try Sandbox()
        defer { try? FileManager.default.removeItem(at: sandbox.folder) }
        let arguments = try refusal.prepare(sandbox)
        let before = FileManager.default.contents(atPath: sandbox.baseConf.path)
        let folderBefore = (try? sandbox.confFolder()) ?? []
        let run = try sandbox.run(arguments)
        #expect(run.status == 1)
        let lines = run.stderr.split(separator: "\n")
        #expect(lines.count == 1, "\(run.stderr)")
        #expect(run.stderr.hasPrefix("fate-upgrade: ") && run.stderr.contains(refusal.message), "\(run.stderr)")
        #expect(!run.stderr.contains("secret") && !run.stderr.contains("'sec'"))
        #expect(FileManager.default.contents(atPath: sandbox.baseConf.path) == before)
        #expect(((try? sandbox.confFolder()) ?? []) == folderBefore)
    }

    @Test func badHandGivenHostsAreUsageErrors() throws {
        let sandbox = try Sandbox()
        defer { try? FileManager.default.removeItem(at: sandbox.folder) }
        let run = try sandbox.run(["--zk-hosts", "zk1:2181,zk2:99999"])
        #expect(run.status == 64)
        #expect(run.stderr.contains("--zk-hosts: 'zk2:99999': the port must be a number from 1 to 65535"))
    }
}

/// The site's data on the fateflow machine: moved by rename, a collision refused, a standalone
/// site's sqlite database moved and a cluster's left, a broken site file refused; nothing changed
/// by a refusal.
@Suite struct SiteDataTests {
    typealias Sandbox = ConfmigrateTests.Sandbox

    /// A 1.4.2 site's backup with base_conf.yaml in `mode` (0 standalone, 1 cluster), server_conf.json,
    /// settings.py, and a job, a model and a sqlite database; the new tree as FATE 1.4.4 ships it.
    static func site(workMode: Int) throws -> (Sandbox, URL) {
        let sandbox = try Sandbox()
        try sandbox.yamlBackup("python_20200901120000", conf: ConfmigrateTests.fixture("fate-release/v1.4.2/arch/conf/base_conf.yaml")
            .replacingOccurrences(of: "work_mode: 0", with: "work_mode: \(workMode)"))
        let backup = sandbox.fateRoot.appendingPathComponent("python_20200901120000")
        let python = sandbox.fateRoot.appendingPathComponent("python")
        for (folder, file) in [(backup, "v1.4.2"), (python, "v1.4.4")] {
            try Data(ConfmigrateTests.fixture("fate-release/\(file)/arch/conf/server_conf.json").utf8)
                .write(to: folder.appendingPathComponent("arch/conf/server_conf.json"))
        }
        try FileManager.default.createDirectory(at: python.appendingPathComponent("fate_flow"), withIntermediateDirectories: true)
        try Data(ConfmigrateTests.fixture("fate-release/v1.4.4/fate_flow/settings.py").utf8).write(to: python.appendingPathComponent("fate_flow/settings.py"))
        for (path, text) in [("jobs/202009011200/job_runtime_conf.json", "{}\n"), ("model_local_cache/m/pipeline.pb", "model\n"),
                             ("fate_flow/fate_flow_sqlite.db", "SQLite format 3\u{0}")] {
            let url = backup.appendingPathComponent(path)
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try Data(text.utf8).write(to: url)
        }
        return (sandbox, backup)
    }

    static func exists(_ url: URL, _ path: String) -> Bool { FileManager.default.fileExists(atPath: url.appendingPathComponent(path).path) }

    @Test func aStandaloneSitesDatabaseMovesAndAClustersStays() throws {
        for mode in [0, 1] {
            let (sandbox, backup) = try Self.site(workMode: mode)
            defer { try? FileManager.default.removeItem(at: sandbox.folder) }
            let python = sandbox.fateRoot.appendingPathComponent("python")
            let run = try sandbox.run()
            #expect(run.status == 0, "\(run.output)")
            #expect(Self.exists(python, "jobs/202009011200/job_runtime_conf.json") && Self.exists(python, "model_local_cache/m/pipeline.pb"))
            #expect(!Self.exists(backup, "jobs") && !Self.exists(backup, "model_local_cache"))
            #expect(Self.exists(python, "fate_flow/fate_flow_sqlite.db") == (mode == 0), "work_mode \(mode)")
            #expect(Self.exists(backup, "fate_flow/fate_flow_sqlite.db") == (mode == 1))
            #expect(run.stdout.contains("data: fate_flow/fate_flow_sqlite.db stays in the backup: the site runs in cluster mode") == (mode == 1), "\(run.stdout)")
        }
    }

    @Test func aCollisionWithTheNewTreeIsRefusedAndChangesNothing() throws {
        let (sandbox, backup) = try Self.site(workMode: 1)
        defer { try? FileManager.default.removeItem(at: sandbox.folder) }
        // jobs/ in the new tree from before the upgrade (tar keeps a release file's old time).
        let theirs = sandbox.fateRoot.appendingPathComponent("python/jobs/README")
        try FileManager.default.createDirectory(at: theirs.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data("shipped\n".utf8).write(to: theirs)
        try FileManager.default.setAttributes([.modificationDate: Date(timeIntervalSince1970: 1_590_000_000)], ofItemAtPath: theirs.path)
        let before = try Data(contentsOf: sandbox.baseConf)
        let run = try sandbox.run()
        #expect(run.status == 1)
        #expect(run.output.contains("data: refused: \(sandbox.fateRoot.path)/python/jobs holds 1 file that came with the new release"), "\(run.output)")
        #expect(run.output.contains("nothing was changed"))
        #expect(try Data(contentsOf: sandbox.baseConf) == before)
        #expect(Self.exists(backup, "jobs/202009011200/job_runtime_conf.json") && Self.exists(backup, "model_local_cache"))
        #expect(!Self.exists(sandbox.fateRoot.appendingPathComponent("python"), "model_local_cache"))
    }

    @Test func aSiteFileThatIsNotJSONIsRefusedWithItsLineAndChangesNothing() throws {
        let (sandbox, backup) = try Self.site(workMode: 1)
        defer { try? FileManager.default.removeItem(at: sandbox.folder) }
        let conf = backup.appendingPathComponent("arch/conf/server_conf.json")
        try Data(ConfmigrateTests.fixture("fate-release/v1.4.2/arch/conf/server_conf.json")
            .replacingOccurrences(of: "\"port\": 8080", with: "\"port\": 8080,").utf8).write(to: conf)
        let before = try Data(contentsOf: sandbox.baseConf)
        let run = try sandbox.run()
        #expect(run.status == 1)
        #expect(run.stderr.split(separator: "\n").count == 1, "\(run.stderr)")
        #expect(run.stderr.contains("\(conf.path):18:"), "\(run.stderr)")
        #expect(try Data(contentsOf: sandbox.baseConf) == before)
        #expect(Self.exists(backup, "jobs") && !Self.exists(sandbox.fateRoot.appendingPathComponent("python"), "jobs"))
    }
}
