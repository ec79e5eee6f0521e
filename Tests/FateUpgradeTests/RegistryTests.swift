import FateUpgradeCore
import FateUpgradeHost
import Foundation
import Testing

/// fate_flow 1.4.4's registry node and the judgement of a listing, from literal inputs.
@Suite struct RegistryJudgeTests {
    static let settings = RegistrySettings(useRegistry: true, hosts: ["127.0.0.1:2281"], useACL: true, user: "fate", password: "fate")
    static let own = FlowProviderNode(ip: "10.0.0.1", httpPort: 9380)

    /// As `parse.quote('http://10.0.0.1:9380/v1/model/transfer', safe=' ')` gives it: the slashes escaped too.
    @Test func theNodeIsTheURLQuotedWithOnlyTheSpaceSafe() {
        #expect(Self.own.url == "http://10.0.0.1:9380/v1/model/transfer")
        #expect(Self.own.name == "http%3A%2F%2F10.0.0.1%3A9380%2Fv1%2Fmodel%2Ftransfer")
        #expect(Self.own.path == "/FATE-SERVICES/flow/online/transfer/providers/http%3A%2F%2F10.0.0.1%3A9380%2Fv1%2Fmodel%2Ftransfer")
        #expect(FlowProviderNode.quote("a b/ü~_.-%", safe: " ") == "a b%2F%C3%BC~_.-%25")
        #expect(FlowProviderNode.quote("a b/c", safe: "/") == "a%20b/c")
    }

    /// The same as Python's own urllib on strings with every kind of byte.
    @Test func quoteIsPythonsQuote() throws {
        let samples = ["http://192.168.0.7:9380/v1/model/transfer", "http://[::1]:80/x?y=1&z=2#f", "a b\tc\u{7f}", "密码 é", "!*'();:@&=+$,/?#[]"]
        let run = try Support.run("python3", ["-c", """
            import json, sys
            from urllib import parse
            print(json.dumps([parse.quote(s, safe=' ') for s in json.loads(sys.argv[1])]))
            """, String(decoding: try JSONEncoder().encode(samples), as: UTF8.self)], timeout: .seconds(30))
        #expect(run.status == 0, "\(run.stderr)")
        let python = try JSONDecoder().decode([String].self, from: Data(run.stdout.utf8))
        #expect(samples.map { FlowProviderNode.quote($0, safe: " ") } == python)
        for sample in samples { #expect(FlowProviderNode.unquote(FlowProviderNode.quote(sample, safe: " ")) == sample) }
    }

    /// As fate_flow's `nodes_unquote` reads a child: `unquote(name).split('/')[2]`.
    @Test func aChildNameGivesItsAddress() {
        #expect(FlowProviderNode.address(ofChild: Self.own.name) == "10.0.0.1:9380")
        #expect(FlowProviderNode.address(ofChild: "not-a-url") == nil)
        #expect(FlowProviderNode.unquote("100%") == "100%")
        #expect(FlowProviderNode.unquote("%zz%41") == "%zzA")
    }

    @Test func anEphemeralNodeOfOursIsRegistered() {
        let findings = RegistryJudge.judge(settings: Self.settings, expected: Self.own,
                                           listed: [ProviderChild(name: Self.own.name, ephemeralOwner: 0x1234),
                                                    ProviderChild(name: FlowProviderNode(ip: "10.0.0.2", httpPort: 9380).name, ephemeralOwner: 99)])
        #expect(findings == [.registered(node: Self.own.name, session: 0x1234)])
        #expect(!findings[0].isProblem)
        #expect(findings[0].description.contains("session 0x1234"))
    }

    @Test func noNodeOfOursIsMissing() {
        #expect(RegistryJudge.judge(settings: Self.settings, expected: Self.own, listed: []) == [.missing(node: Self.own.name)])
        let other = FlowProviderNode(ip: "10.0.0.2", httpPort: 9380)
        #expect(RegistryJudge.judge(settings: Self.settings, expected: Self.own, listed: [ProviderChild(name: other.name, ephemeralOwner: 7)])
                == [.missing(node: Self.own.name)])
        // Another port on the same address is another node.
        #expect(RegistryJudge.judge(settings: Self.settings, expected: Self.own,
                                    listed: [ProviderChild(name: FlowProviderNode(ip: "10.0.0.1", httpPort: 9381).name, ephemeralOwner: 7)])
                == [.missing(node: Self.own.name)])
    }

    /// FATE 1.4.0/1.4.1 made persistent nodes: ours is flagged, and every other persistent one, sorted.
    @Test func persistentNodesAreStale() {
        let b = FlowProviderNode(ip: "10.0.0.3", httpPort: 9380), a = FlowProviderNode(ip: "10.0.0.2", httpPort: 9380)
        let findings = RegistryJudge.judge(settings: Self.settings, expected: Self.own, listed: [
            ProviderChild(name: b.name, ephemeralOwner: 0), ProviderChild(name: Self.own.name, ephemeralOwner: 0),
            ProviderChild(name: "junk", ephemeralOwner: 0), ProviderChild(name: a.name, ephemeralOwner: 0),
        ])
        #expect(findings == [.registeredPersistent(node: Self.own.name), .stalePersistent(node: a.name, address: "10.0.0.2:9380"),
                             .stalePersistent(node: b.name, address: "10.0.0.3:9380"), .stalePersistent(node: "junk", address: nil)])
        #expect(findings.allSatisfy { $0.isProblem })
    }

    @Test func withoutTheRegistryThereIsNothingToCheck() {
        var settings = Self.settings
        settings.useRegistry = false
        #expect(RegistryJudge.judge(settings: settings, expected: Self.own, listed: [ProviderChild(name: "x", ephemeralOwner: 0)]) == [.registryNotUsed])
    }

    /// What is missing from base_conf.yaml is what fate_flow's `.get(…, default)` gives.
    @Test func settingsAsFateFlowReadsThem() throws {
        let full = try BaseConf(parsing: Array(RegistryServerTests.baseConf(hosts: ["127.0.0.1:2281"], password: "p").utf8), file: "base_conf.yaml").current()
        #expect(RegistrySettings(asFateFlowReads: full) == RegistrySettings(useRegistry: true, hosts: ["127.0.0.1:2281"], useACL: true, user: "fate", password: "p"))
        let bare = try BaseConf(parsing: Array("work_mode: 1\nzookeeper:\n  hosts: [zk1]\n".utf8), file: "base_conf.yaml").current()
        #expect(RegistrySettings(asFateFlowReads: bare) == RegistrySettings(useRegistry: false, hosts: ["zk1"], useACL: false, user: "", password: ""))
    }
}

/// The client, the probe and fate_flow_register.py against Debian's real ZooKeeper server, with nodes
/// made by kazoo exactly as fate_flow makes them (digest ACLs, makepath, ephemeral).
@Suite(.serialized) struct RegistryServerTests {
    static let ip = "10.20.30.40"
    static let port = 9380
    static let expected = FlowProviderNode(ip: ip, httpPort: port)
    /// How long a session with the live test server may take to open: a loaded CI machine runs the JVM slowly.
    static let liveBound: Duration = .seconds(30)

    static func baseConf(hosts: [String], useRegistry: Bool = true, password: String = "fate") -> String {
        """
        work_mode: 1
        use_registry: \(useRegistry)
        zookeeper:
          hosts:
        \(hosts.map { "    - \($0)" }.joined(separator: "\n"))
          use_acl: true
          user: fate
          password: \(password)
        fate_flow:
          host: 0.0.0.0
          http_port: \(port)

        """
    }

    static func settings(_ server: ZooKeeperServer, password: String = "fate") throws -> RegistrySettings {
        RegistrySettings(asFateFlowReads: try BaseConf(parsing: Array(baseConf(hosts: server.hosts, password: password).utf8), file: "base_conf.yaml").current())
    }

    /// fate_flow 1.4.4 starting on host `ip`.
    static func fateFlow(_ server: ZooKeeperServer, ip: String = ip, password: String = "fate") throws -> KazooSession {
        try KazooSession(.init(hosts: server.hosts, digest: nil,
                               register: .init(base_conf: baseConf(hosts: server.hosts, password: password), ip: ip, http_port: port)))
    }

    @Test func aHealthyRegistrationIsRegisteredAndGoesWithItsSession() throws {
        let server = try ZooKeeperServer.start()
        defer { server.stop() }
        #expect(server.startup < .seconds(60))
        let fateFlow = try Self.fateFlow(server)
        // The node kazoo made is the one we expect, byte for byte.
        #expect(fateFlow.registeredNode == Self.expected.path, "\(fateFlow.lines)")
        #expect(fateFlow.logged.first?.hasPrefix("register path \(Self.expected.path)") == true, "\(fateFlow.lines)")

        let outcome = RegistryProbe.run(settings: try Self.settings(server), expected: Self.expected)
        guard case .findings(let findings) = outcome, case .registered(Self.expected.name, let session)? = findings.first else {
            Issue.record("expected registered, got \(outcome)")
            return
        }
        #expect(findings.count == 1 && session != 0, "\(findings)")

        fateFlow.end()
        #expect(RegistryProbe.run(settings: try Self.settings(server), expected: Self.expected, connectTimeout: Self.liveBound) == .findings([.missing(node: Self.expected.name)]))
    }

    @Test func noNodeIsMissing() throws {
        let server = try ZooKeeperServer.start()
        defer { server.stop() }
        let settings = try Self.settings(server)
        // No providers path at all.
        #expect(RegistryProbe.run(settings: settings, expected: Self.expected, connectTimeout: Self.liveBound) == .findings([.missing(node: Self.expected.name)]))
        // Another host's fate_flow registered: not a stale node, and not ours.
        let other = try Self.fateFlow(server, ip: "10.20.30.99")
        defer { other.end() }
        #expect(RegistryProbe.run(settings: settings, expected: Self.expected, connectTimeout: Self.liveBound) == .findings([.missing(node: Self.expected.name)]))
    }

    /// The digest scheme accepts any user:password (a wrong one is another identity), so the wrong password
    /// shows where the nodes' ACL refuses it: listing, with ZNOAUTH. The password is in no message.
    @Test func aWrongPasswordFailsAtListingWithNoAuthAndIsNeverShown() throws {
        let server = try ZooKeeperServer.start()
        defer { server.stop() }
        let fateFlow = try Self.fateFlow(server)
        defer { fateFlow.end() }
        let password = "Wr0ng-S3cret-pw"
        let outcome = RegistryProbe.run(settings: try Self.settings(server, password: password), expected: Self.expected, connectTimeout: Self.liveBound)
        guard case .failed(.list, let error) = outcome else {
            Issue.record("expected a failed listing, got \(outcome)")
            return
        }
        #expect(error.code == .noAuth)
        #expect(error.description == "cannot list the children of \(FlowProviderNode.providersPath) on ZooKeeper at \(server.hosts[0]): not authenticated (ZNOAUTH)")
        for text in ["\(outcome)", String(reflecting: outcome), error.lines.joined(), String(reflecting: error)] {
            #expect(!text.contains(password), "\(text)")
        }
    }

    /// A server that refuses the digest scheme itself (its provider disabled) fails the authentication
    /// step, told apart from connecting and listing; the password is in no message.
    @Test func aRefusedDigestFailsAtAuthentication() throws {
        let server = try ZooKeeperServer.start(properties: ["zookeeper.DigestAuthenticationProvider.enabled": "false"])
        defer { server.stop() }
        let password = "S3cret-Refused"
        let outcome = RegistryProbe.run(settings: try Self.settings(server, password: password), expected: Self.expected, connectTimeout: Self.liveBound)
        guard case .failed(.authenticate, let error) = outcome else {
            Issue.record("expected a failed authentication, got \(outcome)\n\(server.log)")
            return
        }
        #expect(error.code == .authFailed, "\(error)")
        #expect(error.description.hasPrefix("ZooKeeper at \(server.hosts[0]) refused the digest credentials: "), "\(error)")
        #expect(error.description.contains("user 'fate'"), "\(error)")
        #expect(!"\(outcome)".contains(password) && !String(reflecting: outcome).contains(password))
    }

    @Test func anUnreachablePortFailsToConnectWithinTheBound() throws {
        let port = try Support.freePort()
        let settings = RegistrySettings(useRegistry: true, hosts: ["127.0.0.1:\(port)"], useACL: true, user: "fate", password: "fate")
        let clock = ContinuousClock()
        let began = clock.now
        let outcome = RegistryProbe.run(settings: settings, expected: Self.expected)
        let elapsed = clock.now - began
        guard case .failed(.connect, let error) = outcome else {
            Issue.record("expected a failed connect, got \(outcome)")
            return
        }
        #expect(error.description == "cannot connect to ZooKeeper at 127.0.0.1:\(port) within 5 s")
        #expect(elapsed >= .seconds(4.9) && elapsed < .seconds(8), "\(elapsed)")
        // A host list the C client cannot use is refused before any wait.
        let bad = RegistryProbe.run(settings: RegistrySettings(useRegistry: true, hosts: ["127.0.0.1:99999"], useACL: false, user: "", password: ""),
                                    expected: Self.expected)
        guard case .failed(.connect, let refused) = bad else { Issue.record("\(bad)"); return }
        #expect(refused.code == .badArguments && refused.description.contains("1 to 65535"), "\(refused)")
    }

    /// FATE 1.4.0/1.4.1 created persistent nodes; 1.4.4's create over ours then fails (only logged).
    @Test func persistentNodesAsFate140MadeThemAreStale() throws {
        let server = try ZooKeeperServer.start()
        defer { server.stop() }
        let other = FlowProviderNode(ip: "10.20.30.50", httpPort: Self.port)
        let fate140 = try KazooSession(.init(hosts: server.hosts, digest: ["fate", "fate"], persistent: [Self.expected.path, other.path]))
        fate140.end()
        let settings = try Self.settings(server)
        #expect(RegistryProbe.run(settings: settings, expected: Self.expected, connectTimeout: Self.liveBound)
                == .findings([.registeredPersistent(node: Self.expected.name), .stalePersistent(node: other.name, address: "10.20.30.50:9380")]))

        // fate_flow 1.4.4 on the same address: NodeExists, logged, not raised; the node stays persistent.
        let upgraded = try Self.fateFlow(server)
        defer { upgraded.end() }
        #expect(upgraded.logged.contains { $0.contains("NodeExistsError") }, "\(upgraded.lines)")
        #expect(RegistryProbe.run(settings: settings, expected: Self.expected, connectTimeout: Self.liveBound)
                == .findings([.registeredPersistent(node: Self.expected.name), .stalePersistent(node: other.name, address: "10.20.30.50:9380")]))

        // A 1.4.4 fate_flow on a new address registers; both old nodes are stale.
        let moved = FlowProviderNode(ip: "10.20.30.41", httpPort: Self.port)
        let fresh = try Self.fateFlow(server, ip: moved.ip)
        defer { fresh.end() }
        guard case .findings(let findings) = RegistryProbe.run(settings: settings, expected: moved), case .registered(moved.name, _)? = findings.first else {
            Issue.record("expected the moved fate_flow registered")
            return
        }
        #expect(Array(findings.dropFirst()) == [.stalePersistent(node: Self.expected.name, address: "10.20.30.40:9380"),
                                               .stalePersistent(node: other.name, address: "10.20.30.50:9380")])
    }

    @Test func theClientReadsStatsAndChildren() throws {
        let server = try ZooKeeperServer.start()
        defer { server.stop() }
        let fateFlow = try Self.fateFlow(server)
        defer { fateFlow.end() }
        let client = try ZooKeeperClient(hosts: server.hosts, digest: .init(user: "fate", password: Secret("fate")))
        #expect(try client.children(of: FlowProviderNode.providersPath) == [Self.expected.name])
        #expect(try client.children(of: "/FATE-SERVICES/flow") == ["online"])
        #expect(try client.stat(of: Self.expected.path)?.isEphemeral == true)
        #expect(try client.stat(of: FlowProviderNode.providersPath)?.isEphemeral == false)
        #expect(try client.stat(of: FlowProviderNode.providersPath)?.numChildren == 1)
        #expect(try client.stat(of: "/nothing/here") == nil)
        #expect(throws: ZooKeeperError.self) { try client.children(of: "/nothing") }
        do {
            _ = try client.children(of: "/nothing")
        } catch {
            #expect(error.code == .noNode && error.description.contains("/nothing"), "\(error)")
        }
        #expect(throws: ZooKeeperError.self) { try client.stat(of: "relative") }
        client.close()
        client.close()
        do {
            _ = try client.stat(of: "/")
            Issue.record("a closed client answered")
        } catch {
            #expect(error.code == .closing)
        }
        // Without credentials, reading is refused by the nodes' ACL; a stat is not (ZooKeeper checks none).
        let anonymous = try ZooKeeperClient(hosts: server.hosts)
        #expect(try anonymous.stat(of: Self.expected.path)?.isEphemeral == true)
        #expect(throws: ZooKeeperError.self) { try anonymous.children(of: FlowProviderNode.providersPath) }
    }

    /// A server that stops answering (SIGSTOP) makes a read fail within the bound, not hang.
    @Test func aFrozenServerIsAnErrorNotAHang() throws {
        let server = try ZooKeeperServer.start()
        defer { server.stop() }
        let client = try ZooKeeperClient(hosts: server.hosts, operationTimeout: .seconds(2))
        defer { client.close() }
        #expect(try client.children(of: "/").contains("zookeeper"))
        kill(server.pid, SIGSTOP)
        defer { kill(server.pid, SIGCONT) }
        let clock = ContinuousClock()
        let began = clock.now
        #expect(throws: ZooKeeperError.self) { try client.children(of: "/") }
        #expect(clock.now - began < .seconds(4))
    }

    /// register() with a wrong password where fate_flow's tree exists (made with the right one): the
    /// create is refused (NoAuth), logged, and fate_flow goes on with a live client, unregistered.
    @Test func fateFlowRegisterWithWrongCredentialsLogsAndGoesOn() throws {
        let server = try ZooKeeperServer.start()
        defer { server.stop() }
        let first = try Self.fateFlow(server)
        defer { first.end() }
        let wrong = try Self.runRegister(baseConf: Self.baseConf(hosts: server.hosts, password: "not-fate"), ip: "10.20.30.77")
        #expect(wrong.status == 0, "\(wrong.output)")
        #expect(wrong.stdout.contains("NoAuthError") && wrong.stdout.contains("returned connected=True"), "\(wrong.output)")
        #expect(!wrong.stdout.contains("register path"), "\(wrong.output)")
        let off = try Self.runRegister(baseConf: Self.baseConf(hosts: server.hosts, useRegistry: false), ip: "10.20.30.77")
        #expect(off.status == 0 && off.stdout.contains("returned None"), "\(off.output)")
    }

    /// With ZooKeeper down, kazoo's start() times out and fate_flow ends: SystemExit.
    @Test func fateFlowRegisterWithTheServerDownRaises() throws {
        let server = try ZooKeeperServer.start()
        let hosts = server.hosts
        server.stop()
        let run = try Self.runRegister(baseConf: Self.baseConf(hosts: hosts), ip: Self.ip, startTimeout: 2)
        #expect(run.status == 1, "\(run.output)")
        #expect(run.stderr.contains("fate_flow cannot start: ZooKeeper at \(hosts[0]) did not answer"), "\(run.output)")
        #expect(!run.stdout.contains("returned"), "\(run.output)")
    }

    /// This host's IP as fate_flow computes it: gethostbyname(getfqdn()), compared with CPython's.
    @Test func theIPIsTheOneFateFlowComputes() throws {
        let run = try Support.run("python3", ["-c", "import socket; f = socket.getfqdn(); print(f); print(socket.gethostbyname(f))"], timeout: .seconds(30))
        #expect(run.status == 0, "\(run.stderr)")
        let lines = run.stdout.split(separator: "\n").map(String.init)
        #expect(FateFlowAddress.fqdn() == lines.first)
        #expect(try FateFlowAddress.localIP() == lines.last)
        #expect(try FateFlowAddress.localIP(python: Command.locate("python3")!) == lines.last)
        #expect(throws: HostError.self) { try FateFlowAddress.localIP(python: "/bin/false") }
    }

    /// Runs fate_flow_register.register() to completion in python3, its log lines on stdout.
    static func runRegister(baseConf: String, ip: String, startTimeout: Int = 15) throws -> Run {
        try Support.run("python3", ["-c", """
            import sys
            sys.path.insert(0, sys.argv[1])
            import fate_flow_register
            zk = fate_flow_register.register(sys.argv[2], sys.argv[3], 9380, lambda m: print("log", m), start_timeout=int(sys.argv[4]))
            if zk is None:
                print("returned None")
            else:
                print("returned connected=%r" % zk.connected)
                zk.stop()
                zk.close()
            """, Support.fixtures.path, baseConf, ip, "\(startTimeout)"], timeout: .seconds(60))
    }
}
