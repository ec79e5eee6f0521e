import FateUpgradeCore
import FateUpgradeHost
import Foundation
import Testing

/// The whole site across `apply`, `rollback` and `cleanup` on a cluster-shaped 1.4.0 fateflow host
/// (issue 18): its settings in the new tree, fate_flow running with them, its models, jobs and logs
/// moved by rename, the old tree restored by rollback, and no data ever removed by cleanup.
@Suite(.serialized) struct SiteCarryTests {
    typealias Scenario = ApplyRollbackTests.Scenario
    static let databasePassword = "S1te db#pass"

    /// The settings the running stand-in fate_flow logged at its last start.
    static func lastStart(_ scenario: Scenario) throws -> String {
        let log = scenario.sandbox.fateRoot.appendingPathComponent("python/logs/fate_flow/fate_flow_stat.log")
        return try String(contentsOf: log, encoding: .utf8).split(separator: "\n").last.map(String.init) ?? ""
    }

    static func file(_ scenario: Scenario, _ relative: String) throws -> Data {
        try Data(contentsOf: scenario.sandbox.fateRoot.appendingPathComponent(relative))
    }

    static let model = "python/model_local_cache/guest#9999#arbiter-10000#guest-9999#host-10000#model/202012031015/pipeline.pb"
    static let job = "python/jobs/2020120310150012345/guest/9999/job_runtime_conf.json"

    @Test func aClusterSiteKeepsItsSettingsAndDataThroughApplyRollbackAndCleanup() throws {
        // The site moved fate_flow's ports: the new tree's service.sh looks on the release's, and finds nothing.
        let scenario = try Scenario(.allinone, cluster: true, sitePorts: false)
        defer { scenario.remove() }
        let root = scenario.sandbox.fateRoot
        let treeBefore = try scenario.sandbox.treeSnapshot("python")
        let logsBefore = try scenario.sandbox.logs()
        let model = try Self.file(scenario, Self.model), job = try Self.file(scenario, Self.job)
        let before = try Self.lastStart(scenario)
        #expect(before.contains("work_mode 1, database fate@localhost, proxy 192.168.0.10:9370, MAX_CONCURRENT_JOB_RUN 20"), "\(before)")
        let port = try #require(before.components(separatedBy: "http 127.0.0.1:").last.flatMap { Int($0.prefix { $0.isNumber }) }
                                ?? before.components(separatedBy: "http 0.0.0.0:").last.flatMap { Int($0.prefix { $0.isNumber }) })

        // Redis or MySQL for the models is the operator's call: refused before anything changes.
        let refused = try Support.tool(["apply", scenario.package.path, "--component", "all"], environment: scenario.environment)
        #expect(refused.status != 0)
        #expect(refused.stderr.contains("stored models in redis") && refused.stderr.contains("give --model-store database or --model-store release"), "\(refused.stderr)")
        #expect(try scenario.sandbox.treeSnapshot("python") == treeBefore)
        #expect(!FileManager.default.fileExists(atPath: root.appendingPathComponent(".fate-upgrade/journal").path))

        // The plan names every key carried or mapped and every move, before anything runs.
        let planned = try scenario.apply(["--component", "all", "--plan"])
        #expect(planned.status == 0, "\(planned.output)")
        for line in ["carried     base_conf.yaml: work_mode = 1 (release: 0)", "carried     base_conf.yaml: database.passwd = ********",
                     "carried     base_conf.yaml: database.host = localhost", "carried     base_conf.yaml: database.port = \(scenario.mysql.port)", "carried     base_conf.yaml: fate_flow.http_port = \(port)",
                     "carried     server_conf.json: servers.proxy.host = \"192.168.0.10\"", "carried     settings.py: MAX_CONCURRENT_JOB_RUN = 20 (release: 5)",
                     "carried     settings.py: USE_AUTHENTICATION = True", "mapped      base_conf.yaml: model_store_address.host = localhost",
                     "mapped      base_conf.yaml: zookeeper.hosts = 127.0.0.1:2181", "data: move model_local_cache (1 file", "data: move jobs (1 file"] {
            #expect(planned.stdout.contains(line), "\(line)\n\(planned.stdout)")
        }
        // Merged into the files the script will unpack: read out of the package's own python package.
        #expect(planned.stdout.contains("merged into the files of \(scenario.package.path):upgrade_package/upgrade_python_package.tar.gz"), "\(planned.stdout)")
        #expect(!planned.output.contains(Self.databasePassword))
        #expect(try scenario.sandbox.treeSnapshot("python") == treeBefore)

        let applied = try scenario.apply(["--component", "all"])
        #expect(applied.status == 0, "\(applied.output)")
        #expect(!applied.output.contains(Self.databasePassword))
        // fate_flow runs from the new tree, with the site's mode, database, port, proxy and tunables.
        #expect(scenario.sandbox.isFateFlowRunning())
        #expect(Support.waitUntil(seconds: 20) { HostFacts.answers(host: "127.0.0.1", port: port) })
        let after = try Self.lastStart(scenario)
        #expect(after.contains("http 0.0.0.0:\(port), grpc ") && after.contains("work_mode 1, database fate@localhost, proxy 192.168.0.10:9370, MAX_CONCURRENT_JOB_RUN 20"), "\(after)")
        let settings = try String(decoding: Self.file(scenario, "python/fate_flow/settings.py"), as: UTF8.self)
        #expect(settings.contains("MODEL_STORE_ADDRESS = get_base_config(\"model_store_address\", {})"), "the new release's code")
        #expect(settings.contains("USE_AUTHENTICATION = True\n"))
        let conf = try pyyamlRegistry(String(decoding: Self.file(scenario, "python/arch/conf/base_conf.yaml"), as: UTF8.self))
        let others = try #require(conf["others"] as? [String: Any])
        #expect((others["database"] as? [String: Any])?["passwd"] as? String == Self.databasePassword)
        #expect((others["model_store_address"] as? [String: Any])?["host"] as? String == "localhost")
        #expect(FileManager.default.fileExists(atPath: root.appendingPathComponent("python/arch/conf/base_conf.yaml.release").path))
        // Models, jobs and logs moved in, byte for byte; the backup keeps the site's code and settings only.
        #expect(try Self.file(scenario, Self.model) == model && Self.file(scenario, Self.job) == job)
        let backup = try #require(try Support.files(in: root).first { $0.hasPrefix("python_2") })
        for item in ["model_local_cache", "jobs", "logs"] {
            #expect(!FileManager.default.fileExists(atPath: root.appendingPathComponent("\(backup)/\(item)").path), "\(item)")
        }
        #expect(try scenario.sandbox.logsNotGrownFrom(logsBefore).isEmpty)
        #expect(try Support.files(in: root.appendingPathComponent("python")).contains { $0.hasPrefix("logs.after-upgrade-") },
                "the log of fate_flow's first start from the new tree, with the release's defaults, is kept beside")

        // Again: nothing to do, and no "upgrade run twice" from the state its own success left.
        let again = try Support.tool(["confmigrate", "--fate-root", root.path], environment: scenario.environment)
        #expect(again.status == 0, "\(again.output)")
        #expect(again.stdout.contains("nothing changed") && !again.output.contains("skipped"), "\(again.output)")

        // Rollback: the data back where it was, the old tree exactly, fate_flow with the old settings.
        let rolledBack = try scenario.rollback()
        #expect(rolledBack.status == 0, "\(rolledBack.output)")
        #expect(rolledBack.stdout.contains("move the site's data back where it came from"))
        #expect(try scenario.sandbox.treeSnapshot("python") == treeBefore)
        #expect(try scenario.sandbox.logsNotGrownFrom(logsBefore).isEmpty)
        #expect(try Self.file(scenario, Self.model) == model)
        #expect(scenario.sandbox.isFateFlowRunning())

        // Cleanup, even forced, never removes models, jobs or logs.
        let cleaned = try Support.tool(["cleanup", "--fate-root", root.path, "--snapshots-older-than", "0", "--yes", "--force"],
                                       environment: scenario.environment)
        #expect(cleaned.status == 0, "\(cleaned.output)")
        #expect(try Self.file(scenario, Self.model) == model && Self.file(scenario, Self.job) == job)
        #expect(cleaned.stdout.contains("model_local_cache/ (1 file)") && cleaned.stdout.contains("which cleanup never touches"), "\(cleaned.stdout)")
    }

    /// Without confmigrate the data stays in the backup: cleanup keeps that backup, and says why.
    @Test func cleanupNeverRemovesTheOnlyCopyOfTheSitesData() throws {
        let scenario = try Scenario(.allinone)
        defer { scenario.remove() }
        let root = scenario.sandbox.fateRoot
        let model = try Self.file(scenario, Self.model)
        let applied = try scenario.apply(["--component", "fatepython", "--no-confmigrate"])
        #expect(applied.status == 0, "\(applied.output)")
        let backup = try #require(try Support.files(in: root).first { $0.hasPrefix("python_2") })
        // fate_flow runs from the new tree with the release's defaults: verify does not call that upgraded.
        let verified = try Support.tool(["verify", "--fate-root", root.path], environment: scenario.environment)
        #expect(verified.status == 1)
        #expect(verified.stdout.contains("FAIL site") && verified.stdout.contains("1 of its settings need a choice")
                && verified.stdout.contains("model_local_cache, jobs, logs, fate_flow/fate_flow_sqlite.db still in the backup"), "\(verified.output)")
        let cleaned = try Support.tool(["cleanup", "--fate-root", root.path, "--yes", "--force", "--json"], environment: scenario.environment)
        #expect(cleaned.status == 0, "\(cleaned.output)")
        let report = try JSONSerialization.jsonObject(with: Data(cleaned.stdout.utf8)) as? [String: Any]
        let kept = (report?["keep"] as? [[String: Any]]) ?? []
        let entry = try #require(kept.first { ($0["name"] as? String)?.hasSuffix(backup) == true }, "\(cleaned.stdout)")
        #expect((entry["why"] as? String)?.contains("holds the site's model_local_cache/ (1 file), jobs/ (1 file)") == true, "\(entry)")
        #expect(try Data(contentsOf: root.appendingPathComponent("\(backup)/\(Self.model.dropFirst("python/".count))")) == model)
    }
}
