import FateUpgradeCore
import FateUpgradeHost
import Foundation
import Glibc
import Testing

/// Nothing outlives a run (issue 23): apply killed with SIGKILL, which no handler of ours sees,
/// takes the package's script and everything it started with it.
@Suite(.serialized) struct LifetimeTests {
    typealias Scenario = ApplyRollbackTests.Scenario

    /// The fixture script, pausing after it moved python/ aside, then making a new python/
    /// without a word (as `tar xzf` would): an orphan would do that after the kill.
    static func quietAfterPauseScript(in folder: URL) throws -> URL {
        let script = folder.appendingPathComponent("upgrade_script.sh")
        let text = try String(contentsOf: Support.fixtures.appendingPathComponent("upgrade_script.sh"), encoding: .utf8)
            .replacingOccurrences(of: "    echo \"INFO: Unpacking $PYTHON_PACKAGE_PATH into $FATE_ROOT\"",
                                  with: "    sleep 3.1416\n    mkdir -p \"$FATE_ROOT/python\" && : > \"$FATE_ROOT/python/an-orphan-wrote-this\"\n"
                                      + "    echo \"INFO: Unpacking $PYTHON_PACKAGE_PATH into $FATE_ROOT\"")
        try Data(text.utf8).write(to: script)
        return script
    }

    /// The script and its pause, by their arguments.
    static func survivors() -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).compactMap { name in
            guard let pid = pid_t(name), let arguments = HostFacts.arguments(of: pid), HostFacts.isAlive(pid),
                  arguments.contains("3.1416") || arguments.contains(where: { $0.hasSuffix("/upgrade_script.sh") }) else { return nil }
            return "\(pid) \(arguments.joined(separator: " "))"
        }
    }

    @Test func applyKilledWithSIGKILLTakesTheScriptAndItsChildrenWithIt() throws {
        let folder = try Support.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let scenario = try Scenario(.allinone, script: try Self.quietAfterPauseScript(in: folder))
        defer { scenario.remove() }
        let treeBefore = try scenario.sandbox.treeSnapshot("python")
        let apply = try Support.startTool(["apply", scenario.package.path, "--component", "fatepython", "--model-store", "database"],
                                          environment: scenario.environment)
        #expect(scenario.waitUntilPythonIsMovedAside())
        #expect(!Self.survivors().isEmpty, "the script runs")
        kill(apply.pid, SIGKILL)
        _ = apply.wait(timeout: .seconds(30))
        #expect(Support.waitUntil(seconds: 5) { Self.survivors().isEmpty }, "left running: \(Self.survivors())")
        sleep(5)  // past the pause: an orphan would now make python/
        #expect(!FileManager.default.fileExists(atPath: scenario.sandbox.fateRoot.appendingPathComponent("python/an-orphan-wrote-this").path))
        let back = try scenario.rollback()
        #expect(back.status == 0, "\(back.output)")
        #expect(try scenario.sandbox.treeSnapshot("python") == treeBefore)
    }
}
