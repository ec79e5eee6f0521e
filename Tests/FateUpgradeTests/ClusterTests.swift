import Foundation
import Testing

/// A whole cluster upgraded and rolled back through the playbooks in ansible/, with ansible-core
/// from PyPI (scripts/ansible-env) over real SSH: four sandbox hosts on this machine, each a
/// network, mount and PID namespace of its own with sshd, its own /data/projects, fate_flow started
/// the way FATE's service scripts start it, and MariaDB on the database host. The driver,
/// Tests/Fixtures/cluster/cluster_test.py, builds the hosts, runs the playbooks, checks journals,
/// trees, schemas and Ansible's recap, and always tears everything down.
///
/// The hosts get the static release binary (scripts/release), as an operator copies it.
@Suite(.serialized) struct ClusterTests {
    static var release: String? {
        let dist = Support.repository.appendingPathComponent("dist")
        guard let name = try? String(contentsOf: dist.appendingPathComponent("LATEST"), encoding: .utf8) else { return nil }
        return dist.appendingPathComponent("\(name.trimmingCharacters(in: .whitespacesAndNewlines))/bin/fate-upgrade").path
    }

    @Test(arguments: ["full", "preflight-stop", "fateflow-fails-then-rollback", "rollback-full"])
    func scenario(_ name: String) throws {
        let binary = try #require(Self.release, "no release in dist/: run scripts/release (scripts/test does)")
        try #require(FileManager.default.isExecutableFile(atPath: binary), "\(binary) is missing: run scripts/release")
        let run = try Support.run("python3", [Support.fixtures.appendingPathComponent("cluster/cluster_test.py").path, name],
                                  environment: ["FATE_UPGRADE_BIN": binary, "FATE_UPGRADE_VERIFY": "1"], timeout: .seconds(420))
        #expect(run.status == 0, "\(name):\n\(run.output)")
        #expect(run.output.contains("PASS"), "\(run.output)")
    }
}
