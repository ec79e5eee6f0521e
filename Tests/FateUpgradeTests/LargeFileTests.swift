import FateUpgradeCore
import FateUpgradeHost
import Foundation
import Testing

/// A settings file far larger than FATE's (a site that pasted logs into comments) is still read,
/// and one over the limit is named as too large: never taken for missing, never a reason given
/// to roll back a good upgrade (issue 23).
@Suite(.serialized) struct LargeFileTests {
    typealias Scenario = ApplyRollbackTests.Scenario

    static func grow(_ file: URL, to bytes: Int) throws {
        let handle = try FileHandle(forWritingTo: file)
        defer { try? handle.close() }
        try handle.seekToEnd()
        let line = Data(("# " + String(repeating: "x", count: 1021) + "\n").utf8)
        var chunk = Data()
        for _ in 0..<1024 { chunk.append(line) }
        var written = 0
        while written < bytes {
            try handle.write(contentsOf: chunk)
            written += chunk.count
        }
    }

    @Test func aFiftyMegabyteBaseConfIsReadAndOneOverTheLimitIsNamedTooLarge() throws {
        let scenario = try Scenario(.allinone)
        defer { scenario.remove() }
        let applied = try scenario.apply(["--component", "all"])
        #expect(applied.status == 0, "\(applied.output)")
        let conf = scenario.sandbox.fateRoot.appendingPathComponent("python/arch/conf/base_conf.yaml")
        try Self.grow(conf, to: 50 << 20)
        let status = try Support.tool(["status", "--fate-root", scenario.root, "--json"], environment: scenario.environment)
        #expect(status.status == 0, "\(status.output)")
        let report = try JSONDecoder().decode(HostStatus.self, from: Data(status.stdout.utf8))
        let python = try #require(report.trees.first { $0.path.hasSuffix("/python") })
        #expect(python.problem == nil && python.layout == PythonTreeLayout.v142.rawValue && python.release == FateRelease.target.shown, "\(python)")
        #expect(report.registry.useRegistry != nil)
        let verified = try Support.tool(["verify", "--fate-root", scenario.root], environment: scenario.environment)
        #expect(!verified.output.contains("rollback --fate-root"), "\(verified.output)")
        #expect(verified.stdout.contains("ok   python"), "\(verified.output)")

        try Self.grow(conf, to: 20 << 20)
        let over = try Support.tool(["status", "--fate-root", scenario.root, "--json"], environment: scenario.environment)
        let overReport = try JSONDecoder().decode(HostStatus.self, from: Data(over.stdout.utf8))
        let tree = try #require(overReport.trees.first { $0.path.hasSuffix("/python") })
        #expect(tree.problem?.contains("larger than 64 MiB") == true && tree.layout == "unknown", "\(tree)")
        #expect(!over.output.contains("missing"), "\(over.output)")
        let refused = try Support.tool(["verify", "--fate-root", scenario.root], environment: scenario.environment)
        #expect(refused.status == 1)
        #expect(refused.stdout.contains("FAIL python") && refused.stdout.contains("larger than 64 MiB") && refused.stdout.contains("nothing here calls for a rollback"), "\(refused.output)")
        #expect(!refused.output.contains("rollback --fate-root"), "\(refused.output)")
    }
}
