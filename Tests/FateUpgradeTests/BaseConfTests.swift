import FateUpgradeCore
import Foundation
import Testing

private func fixture(_ name: String) -> String {
    try! String(contentsOf: Support.fixtures.appendingPathComponent("conf/\(name)"), encoding: .utf8)
}

private func edit(_ text: String, _ settings: RegistrySettings) throws -> String {
    let conf = try BaseConf(parsing: Array(text.utf8), file: "base_conf.yaml")
    return String(decoding: try conf.applying(settings), as: UTF8.self)
}

/// Loads YAML with PyYAML, as FATE does, and returns the registry settings it sees as JSON.
func pyyamlRegistry(_ text: String) throws -> [String: Any] {
    let folder = try Support.temporaryFolder()
    defer { try? FileManager.default.removeItem(at: folder) }
    let file = folder.appendingPathComponent("base_conf.yaml")
    try Data(text.utf8).write(to: file)
    let run = try Support.run("python3", ["-c", """
        import json, sys, yaml
        with open(sys.argv[1], encoding='utf-8') as f:
            conf = yaml.safe_load(f)
        print(json.dumps({'use_registry': conf.get('use_registry'), 'zookeeper': conf.get('zookeeper'),
                          'others': {k: v for k, v in conf.items() if k not in ('use_registry', 'zookeeper')}}))
        """, file.path])
    guard run.status == 0 else { throw Failure("PyYAML: \(run.stderr)") }
    return try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as! [String: Any]
}

@Suite struct BaseConfTests {
    let settings = RegistrySettings(useRegistry: true, hosts: ["10.0.0.1:2181", "10.0.0.2:2181"], useACL: true, user: "fate", password: "s3cret")

    @Test func editsThe144FileInPlace() throws {
        let result = try edit(fixture("base_conf-1.4.4.yaml"), settings)
        let expected = fixture("base_conf-1.4.4.yaml")
            .replacingOccurrences(of: "use_registry: false\n", with: "use_registry: true\n")
            .replacingOccurrences(of: "    - 127.0.0.1:2281\n", with: "    - 10.0.0.1:2181\n    - 10.0.0.2:2181\n")
            .replacingOccurrences(of: "  password: fate\n", with: "  password: s3cret\n")
        #expect(result == expected)
        // A second run finds nothing to do.
        #expect(try edit(result, settings) == result)
    }

    @Test func insertsTheKeysWhere144HasThemInA140File() throws {
        let result = try edit(fixture("base_conf-1.4.0.yaml"), settings)
        let expected = fixture("base_conf-1.4.0.yaml")
            .replacingOccurrences(of: "work_mode: 0\n", with: "work_mode: 0\nuse_registry: true\n")
            .replacingOccurrences(of: "  stale_timeout: 30\n", with: """
                  stale_timeout: 30
                zookeeper:
                  hosts:
                    - 10.0.0.1:2181
                    - 10.0.0.2:2181
                  use_acl: true
                  user: fate
                  password: s3cret

                """)
        #expect(result == expected)
        #expect(try edit(result, settings) == result)
        let loaded = try pyyamlRegistry(result)
        #expect(loaded["use_registry"] as? Bool == true)
        let zookeeper = try #require(loaded["zookeeper"] as? [String: Any])
        #expect(zookeeper["hosts"] as? [String] == settings.hosts)
        #expect(zookeeper["password"] as? String == "s3cret")
    }

    static let hostilePasswords = [
        "yes", "no", "on", "true", "False", "null", "~", "", "123", "0x1F", "1.5", "1e3", ".inf", "12:30", "2020-01-01",
        "a: b", "a:", ":", "#x", "a #b", " lead", "trail ", "'q'", "\"dq\"", "密码Пароль", "a,b", "[x]", "{y}", "- z", "-",
        "? q", "@a", "`b", "%c", "!d", "&e", "*f", "|", ">", "<<", "=", "back\\slash", "tab\tin", "new\nline", "fate",
    ]

    @Test(arguments: hostilePasswords)
    func everyPasswordLoadsBackAsTheSameString(password: String) throws {
        var wanted = settings
        wanted.password = password
        wanted.user = password + "u"
        for base in ["base_conf-1.4.4.yaml", "base_conf-1.4.0.yaml"] {
            let result = try edit(fixture(base), wanted)
            let current = try BaseConf(parsing: Array(result.utf8), file: "x").current()
            #expect(current.password?.value == password)
            let zookeeper = try #require(try pyyamlRegistry(result)["zookeeper"] as? [String: Any])
            #expect(zookeeper["password"] as? String == password, "\(base): \(result)")
            #expect(zookeeper["user"] as? String == password + "u")
        }
    }

    @Test func keepsCommentsCRLFAndQuotingStyle() throws {
        let original = """
            # FATE 配置文件\r
            work_mode: 1   # 集群模式\r
            use_registry: False\r
            database:\r
              name: fate_flow\r
            # 在线集群配置 (ZooKeeper)\r
            zookeeper:\r
              # 主机列表\r
              hosts:\r
                - "127.0.0.1:2181"   # 旧的\r
              use_acl: false\r
              user: 'fate'\r
              password: "old"  # 密码\r
            model_store_address:\r
              storage: mysql\r

            """
        let result = try edit(original, settings)
        #expect(result == """
            # FATE 配置文件\r
            work_mode: 1   # 集群模式\r
            use_registry: true\r
            database:\r
              name: fate_flow\r
            # 在线集群配置 (ZooKeeper)\r
            zookeeper:\r
              # 主机列表\r
              hosts:\r
                - 10.0.0.1:2181\r
                - 10.0.0.2:2181\r
              use_acl: true\r
              user: 'fate'\r
              password: "s3cret"  # 密码\r
            model_store_address:\r
              storage: mysql\r

            """)
    }

    @Test func editsAFlowStyleMappingAndAddsMissingKeys() throws {
        let original = "work_mode: 0\nuse_registry: true\nzookeeper: {hosts: ['1.2.3.4:2181'], use_acl: false}\nredis:\n  db: 0\n"
        let result = try edit(original, settings)
        #expect(result == "work_mode: 0\nuse_registry: true\nzookeeper: {hosts: ['10.0.0.1:2181', '10.0.0.2:2181'], use_acl: true, user: fate, password: s3cret}\nredis:\n  db: 0\n")
        #expect(try edit(result, settings) == result)
    }

    @Test func addsMissingKeysToABlockMappingAtItsIndentation() throws {
        let original = "work_mode: 0\nzookeeper:\n    hosts:\n        - 10.0.0.1:2181\n        - 10.0.0.2:2181\n\n# next\nredis:\n    db: 0"
        let result = try edit(original, settings)
        #expect(result == "work_mode: 0\nuse_registry: true\nzookeeper:\n    hosts:\n        - 10.0.0.1:2181\n        - 10.0.0.2:2181\n    use_acl: true\n    user: fate\n    password: s3cret\n\n# next\nredis:\n    db: 0")
    }

    @Test func appendsAtTheEndWithoutADatabaseSection() throws {
        let result = try edit("work_mode: 0\nredis:\n  db: 0", settings)
        #expect(result == "work_mode: 0\nuse_registry: true\nredis:\n  db: 0\nzookeeper:\n  hosts:\n    - 10.0.0.1:2181\n    - 10.0.0.2:2181\n  use_acl: true\n  user: fate\n  password: s3cret\n")
    }

    @Test func fillsEmptyValues() throws {
        let result = try edit("use_registry:\nzookeeper:\n  hosts:\n  use_acl:\n  user:\n  password:\n", settings)
        #expect(result == "use_registry: true\nzookeeper:\n  hosts: [\'10.0.0.1:2181\', \'10.0.0.2:2181\']\n  use_acl: true\n  user: fate\n  password: s3cret\n")
    }

    @Test func readsCurrentValuesWithLines() throws {
        let current = try BaseConf(parsing: Array(fixture("base_conf-1.4.4.yaml").utf8), file: "b").current()
        #expect(current.useRegistry == .init(value: false, line: 2))
        #expect(current.hosts == .init(value: ["127.0.0.1:2281"], line: 17))
        #expect(current.useACL?.value == true)
        #expect(current.user?.value == "fate")
        #expect(current.password?.value == "fate")
        let old = try BaseConf(parsing: Array(fixture("base_conf-1.4.0.yaml").utf8), file: "b").current()
        #expect(old.useRegistry == nil && !old.hasZooKeeper)
    }

    @Test func masksThePassword() throws {
        let lines = try BaseConf(parsing: Array(fixture("base_conf-1.4.4.yaml").utf8), file: "b").maskedLines()
        #expect(lines.contains("  password: ********"))
        #expect(lines.contains("  passwd: fate_dev"))  // the database's is not ZooKeeper's
    }

    @Test(arguments: [
        ("zookeeper: 5\n", "base_conf.yaml:1:12: zookeeper is present but is not a mapping"),
        ("a: 1\nzookeeper:\n  - x\n", "base_conf.yaml:3:3: zookeeper is present but is not a mapping"),
        ("a: 1\nb: [x\n", "base_conf.yaml:3:1: invalid YAML: "),
        ("- a\n", "base_conf.yaml:1:1: expected a mapping of settings at the top level"),
        ("", "base_conf.yaml: the file is empty"),
        ("zookeeper:\n  use_acl: maybe\n", "base_conf.yaml:2:12: zookeeper.use_acl must be true or false"),
        ("a: 1\n# 注释 \u{FF}\n", "base_conf.yaml:2: not UTF-8 text"),
    ])
    func refusesWithFileLineAndColumn(text: String, message: String) throws {
        let bytes: [UInt8] = text.contains("\u{FF}") ? Array("a: 1\n# x ".utf8) + [0xFF, 0x0A] : Array(text.utf8)
        var caught: InputError?
        do { _ = try BaseConf(parsing: bytes, file: "base_conf.yaml").current() } catch { caught = error }
        let found = try #require(caught)
        #expect(found.description.hasPrefix(message), "\(found)")
    }

    @Test func hostsAreCheckedAndSplit() {
        #expect(RegistrySettings.splitHosts(" a:1, b:2 ,") == ["a:1", "b:2"])
        #expect(RegistrySettings.validHosts(["a:1", "[::1]:2181", "10.0.0.1:65535"]) == nil)
        // kazoo reads a host without a port as port 2181, and FATE 1.4.0 ran with such lists.
        #expect(RegistrySettings.validHosts(["a", "zk2.example"]) == nil)
        #expect(RegistrySettings.withPort("a") == "a:2181" && RegistrySettings.withPort("a:1") == "a:1")
        #expect(RegistrySettings.validHosts(["a:0"]) == "'a:0': the port must be a number from 1 to 65535")
        #expect(RegistrySettings.validHosts(["a:70000"]) == "'a:70000': the port must be a number from 1 to 65535")
        #expect(RegistrySettings.validHosts([":2181"]) == "':2181' is not in host[:port] form")
        #expect(RegistrySettings.validHosts([]) == "no ZooKeeper hosts")
    }
}
