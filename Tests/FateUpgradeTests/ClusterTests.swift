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

    /// Every scenario with the current ansible-core; the full upgrade also with the oldest the
    /// playbooks support (2.16: the last whose modules run on CentOS 7's Python 3.6).
    @Test(arguments: [("full", "2.19"), ("preflight-stop", "2.19"), ("fateflow-fails-then-rollback", "2.19"), ("rollback-full", "2.19"),
                      ("full", "2.16")])
    func scenario(_ name: String, ansible series: String) throws {
        let binary = try #require(Self.release, "no release in dist/: run scripts/release (scripts/test does)")
        try #require(FileManager.default.isExecutableFile(atPath: binary), "\(binary) is missing: run scripts/release")
        let run = try Support.run("python3", [Support.fixtures.appendingPathComponent("cluster/cluster_test.py").path, name],
                                  environment: ["FATE_UPGRADE_BIN": binary, "FATE_UPGRADE_VERIFY": "1", "FATE_UPGRADE_ANSIBLE_SERIES": series],
                                  timeout: .seconds(900))
        #expect(run.status == 0, "\(name) with ansible-core \(series):\n\(run.output)")
        #expect(run.output.contains("PASS"), "\(run.output)")
    }
}
