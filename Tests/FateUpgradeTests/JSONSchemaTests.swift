import FateUpgradeArchive
import FateUpgradeCore
import FateUpgradeHost
import Foundation
import Testing

/// Every command's `--json`, on success and on failure, against the documented schema
/// (docs/json-schema.json, validated by Debian's python3-jsonschema) and decoded into the
/// library's report type: what automation reads is what the documentation says.
@Suite(.serialized) struct JSONSchemaTests {
    typealias Scenario = ApplyRollbackTests.Scenario
    static let schema = Support.repository.appendingPathComponent("docs/json-schema.json")

    /// One command's output, the schema definition it must match, and its exit status.
    struct Case {
        var name: String
        var definition: String
        var run: Run
    }

    /// Validates all cases in one python3 run; returns the problems, one line each.
    static func validate(_ cases: [Case]) throws -> [String] {
        let input = try JSONSerialization.data(withJSONObject: cases.map { ["name": $0.name, "definition": $0.definition, "stdout": $0.run.stdout] })
        let folder = try Support.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let file = folder.appendingPathComponent("cases.json")
        try input.write(to: file)
        let check = """
            import json, sys, jsonschema
            schema = json.load(open(sys.argv[1]))
            jsonschema.Draft202012Validator.check_schema(schema)
            for case in json.load(open(sys.argv[2])):
                try:
                    value = json.loads(case["stdout"])
                except ValueError as error:
                    print(f"{case['name']}: stdout is not one JSON object ({error}): {case['stdout'][:200]!r}"); continue
                validator = jsonschema.Draft202012Validator({"$ref": "#/$defs/" + case["definition"], "$defs": schema["$defs"]})
                for error in validator.iter_errors(value):
                    print(f"{case['name']}: {'/'.join(map(str, error.absolute_path))}: {error.message}")
                if not jsonschema.Draft202012Validator(schema).is_valid(value):
                    print(f"{case['name']}: not exactly one of the schema's reports")
            """
        let run = try Support.run("python3", ["-c", check, schema.path, file.path])
        guard run.status == 0 else { throw Failure("the schema check did not run: \(run.stderr)") }
        return run.stdout.split(separator: "\n").map(String.init)
    }

    static func decode<T: Decodable>(_ type: T.Type, _ run: Run) throws -> T {
        do { return try JSONDecoder().decode(T.self, from: Data(run.stdout.utf8)) } catch {
            throw Failure("\(T.self): \(error): \(run.stdout.prefix(400))")
        }
    }

    @Test func everyCommandsJSONMatchesTheSchemaOnSuccessAndFailure() throws {
        var cases: [Case] = []
        func add(_ name: String, _ definition: String, _ run: Run) { cases.append(Case(name: name, definition: definition, run: run)) }

        // pack and inspect, on the fixture builder's package.
        let folder = try Support.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let raw = folder.appendingPathComponent("upgrade_1_4_0-1_4_4.tar.gz")
        try Support.makePackage(at: raw)
        let packed = folder.appendingPathComponent("packed.tar.gz")
        let pack = ["pack", raw.path, "--set", "FATE_ROOT=/srv/fate", "--set", "DEPLOY_METHOD=ansible", "--json"]
        add("pack --plan", "pack", try Support.tool(pack + ["--plan", "--keep", "DB_PASS"]))
        add("pack", "pack", try Support.tool(pack + ["-o", packed.path], environment: ["FATE_DB_PASS": "Secret-Pa55"]))
        add("pack, a bad value", "failure", try Support.tool(["pack", raw.path, "--set", "DEPLOY_METHOD=docker", "--keep", "DB_PASS", "--json"]))
        add("pack, an unknown option", "failure", try Support.tool(["pack", raw.path, "--bogus", "--json"]))
        add("inspect", "inspect", try Support.tool(["inspect", packed.path, "--json"]))
        add("inspect, no such file", "failure", try Support.tool(["inspect", folder.appendingPathComponent("none.tar.gz").path, "--json"]))
        add("an unknown command", "failure", try Support.tool(["statsu", "--json"]))

        // The host commands on a real sandbox host.
        let scenario = try Scenario(.allinone)
        defer { scenario.remove() }
        let host = ["--fate-root", scenario.root, "--json"]
        add("apply --plan", "apply", try scenario.apply(["--component", "all", "--plan", "--json"]))
        add("apply, no such package", "failure", try Support.tool(["apply", folder.appendingPathComponent("none.tar.gz").path, "--json"], environment: scenario.environment))
        add("apply", "apply", try scenario.apply(["--component", "all", "--json"]))
        add("apply again", "apply", try scenario.apply(["--component", "all", "--json"]))
        add("status", "status", try Support.tool(["status"] + host, environment: scenario.environment))
        add("verify", "verify", try Support.tool(["verify"] + host, environment: scenario.environment))
        add("confmigrate --plan", "confmigrate", try Support.tool(["confmigrate", "--plan"] + host, environment: scenario.environment))
        add("cleanup --plan", "cleanup", try Support.tool(["cleanup", "--plan"] + host, environment: scenario.environment))
        add("rollback --plan", "rollback", try Support.tool(["rollback", "--plan"] + host, environment: scenario.environment))
        add("rollback", "rollback", try Support.tool(["rollback"] + host, environment: scenario.environment))
        add("rollback again", "rollback", try Support.tool(["rollback"] + host, environment: scenario.environment))
        add("rollback --from-snapshot after a rollback", "failure", try Support.tool(["rollback", "--from-snapshot"] + host, environment: scenario.environment))
        add("verify --rolled-back", "verify", try Support.tool(["verify", "--rolled-back"] + host, environment: scenario.environment))
        add("cleanup --yes", "cleanup", try Support.tool(["cleanup", "--yes", "--snapshots-older-than", "0"] + host, environment: scenario.environment))
        add("status, no such FATE_ROOT", "failure", try Support.tool(["status", "--fate-root", folder.appendingPathComponent("none").path, "--json"]))
        add("status, an option misspelt", "failure", try Support.tool(["status", "--fate-rot", scenario.root, "--json"]))

        // Each case once against the schema (the file itself is checked too), then decoded.
        let problems = try Self.validate(cases)
        #expect(problems.isEmpty, "\(problems.joined(separator: "\n"))")
        for item in cases {
            switch item.definition {
            case "pack": _ = try Self.decode(PackReport.self, item.run)
            case "inspect": _ = try Self.decode(InspectReport.self, item.run)
            case "apply": _ = try Self.decode(ApplyReport.self, item.run)
            case "rollback": _ = try Self.decode(RollbackOperation.Report.self, item.run)
            case "cleanup": _ = try Self.decode(CleanupOperation.Report.self, item.run)
            case "status": _ = try Self.decode(HostStatus.self, item.run)
            case "verify": _ = try Self.decode(VerifyOperation.Report.self, item.run)
            case "confmigrate": _ = try Self.decode(ConfmigrateOperation.Report.self, item.run)
            default:
                let failure = try Self.decode(FailureReport.self, item.run)
                #expect(failure.exitStatus == item.run.status && item.run.status != 0, "\(item.name): \(item.run.status)")
                #expect(!failure.errors.isEmpty && failure.errors.allSatisfy { !$0.message.isEmpty }, "\(item.name)")
            }
        }
        // Every definition has a case; the outcomes seen are what the runs did.
        let document = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: Self.schema)) as? [String: Any])
        let definitions = Set(try #require(document["$defs"] as? [String: Any]).keys).subtracting(["outcome"])
        #expect(definitions == Set(cases.map(\.definition)))
        func report(_ name: String) throws -> Run { try #require(cases.first { $0.name == name }).run }
        #expect(try Self.decode(ApplyReport.self, report("apply --plan")).outcome == .planned)
        #expect(try Self.decode(ApplyReport.self, report("apply")).outcome == .succeeded)
        #expect(try Self.decode(ApplyReport.self, report("apply again")).outcome == .unchanged)
        #expect(try Self.decode(RollbackOperation.Report.self, report("rollback")).outcome == .succeeded)
        #expect(try Self.decode(RollbackOperation.Report.self, report("rollback again")).outcome == .unchanged)
        #expect(try Self.decode(FailureReport.self, report("an unknown command")).errors.first?.code == "usage")
        #expect(try Self.decode(FailureReport.self, report("status, an option misspelt")).exitStatus == 64)
        #expect(try Self.decode(FailureReport.self, report("inspect, no such file")).errors.first?.code == "bad_package")
        #expect(try Self.decode(PackReport.self, report("pack")).changed && !(try Self.decode(PackReport.self, report("pack --plan")).changed))
        let status = try Self.decode(HostStatus.self, report("status"))
        #expect(status.schema == "1.4.4" && status.registry.useRegistry != nil, "\(status)")
        let inspected = try Self.decode(InspectReport.self, report("inspect"))
        #expect(inspected.parameters.first { $0.name == "DEPLOY_METHOD" }.map { $0.kind == "choice" && $0.choices == ["allinone", "ansible"] && $0.value == "ansible" } == true)
        #expect(inspected.parameters.first { $0.name == "DB_PASS" }.map { $0.kind == "secret" && $0.packageDefault == false && !$0.value.contains("Secret-Pa55") } == true)
    }
}
