import FateUpgradeCore
import Foundation
import Testing

/// Values are written into the script so that, once `sh` (dash) or `bash` runs the block,
/// each variable holds exactly what the user meant, and no value runs a command.
@Suite struct QuotingTests {
    static let shells = ["dash", "bash"]
    static let home = "/home/operator"

    static let hostile: [String] = [
        "fate_dev", "with space", "  lead and trail  ", "it's", "''", "say \"hi\"", "$HOME", "${HOME}", "$1", "$",
        "$(touch PWNED)", "`touch PWNED`", "$((6*7))", "back\\slash", "trailing\\", "\\", "\\'", "\\n",
        "semi;colon", ";touch PWNED", "#hash", "#", "a #b", "bang!", "!!", "a&b", "&", "a|b", "<in", "out>",
        "star*", "*", "q?", "[ab]", "~", "~/x", "~root", "a:~/b", "=", "x=y", "-n", "-e", "%s%n",
        "tab\there", "密码 Пароль ✓", "{a,b}", "'\"'\"'", "a'b\"c$d`e\\f g;h#i!j&k|l<m>n*o?p~q",
    ]

    /// Runs the block of `script` under `shell` and returns the values of `names`.
    static func evaluate(_ script: [UInt8], block: ShellParameterBlock, names: [String], shell: String,
                         in folder: URL) throws -> [String] {
        var text = block.blockLines(of: script).joined(separator: "\n") + "\n"
        text += "printf '%s\\0' " + names.map { "\"$\($0)\"" }.joined(separator: " ") + "\n"
        let file = folder.appendingPathComponent("block.sh")
        try Data(text.utf8).write(to: file)
        let result = try Support.run(shell, [file.path], in: folder, environment: ["HOME": home])
        #expect(result.status == 0, "\(shell) failed: \(result.stderr)")
        #expect(result.stderr.isEmpty, "\(shell): \(result.stderr)")
        return result.stdout.split(separator: "\0", omittingEmptySubsequences: false).dropLast().map(String.init)
    }

    static func plan(_ settings: [String: String]) throws -> ParameterPlan {
        let script = try [UInt8](Data(contentsOf: Support.fixtures.appendingPathComponent("upgrade_script.sh")))
        let block = try ShellParameterBlock(parsing: script, file: "upgrade_script.sh")
        return try ParameterPlan(block: block, settings: settings.map { ParameterSetting(name: $0.key, value: $0.value, origin: "test") })
    }

    @Test(arguments: shells, hostile)
    func literalValuesSurviveExactly(shell: String, value: String) throws {
        let folder = try Support.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let plan = try Self.plan(["DB_PASS": value, "DB_USER": value + "u"])
        let script = plan.renderedScript()
        let reparsed = try ShellParameterBlock(parsing: script, file: "rendered")
        let values = try Self.evaluate(script, block: reparsed, names: ["DB_PASS", "DB_USER"], shell: shell, in: folder)
        #expect(values == [value, value + "u"])
        #expect(try Support.files(in: folder) == ["block.sh"], "a value ran a command")
        // The parser reads back exactly what was written.
        #expect(reparsed.assignment(named: "DB_PASS")?.word.literalValue == value)
        #expect(reparsed.names == plan.block.names)
    }

    static let paths: [(given: String, expected: String)] = [
        ("/opt/fate", "/opt/fate"),
        ("/data/my fate", "/data/my fate"),
        ("/data/it's", "/data/it's"),
        ("/data/a$$b", "/data/a$b"),
        ("/data/$$HOME", "/data/$HOME"),
        ("/data/*", "/data/*"),
        ("/数据/fate", "/数据/fate"),
        ("/data/a~b/~c", "/data/a~b/~c"),
        ("/data/x:~/y", "/data/x:~/y"),
        ("/data/`x`/$$(y)", "/data/`x`/$(y)"),
        ("/data/trailing\\", "/data/trailing\\"),
    ]

    @Test(arguments: shells, paths.indices)
    func pathValuesKeepTheirMeaning(shell: String, index: Int) throws {
        let (given, expected) = Self.paths[index]
        let folder = try Support.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let plan = try Self.plan(["FATE_ROOT": given, "SUPERVISOR_ROOT": given])
        let script = plan.renderedScript()
        let reparsed = try ShellParameterBlock(parsing: script, file: "rendered")
        let values = try Self.evaluate(script, block: reparsed, names: ["FATE_ROOT", "MYSQL_ROOT", "SUPERVISOR_ROOT"], shell: shell, in: folder)
        #expect(values == [expected, expected + "/common/mysql/mysql-8.0.13", expected])
        #expect(try Support.files(in: folder) == ["block.sh"])
        // What the user wrote is what reading the package shows.
        #expect(reparsed.currentValues().first { $0.name == "FATE_ROOT" }?.value == given)
    }

    @Test(arguments: shells)
    func homeAndReferencesExpandAsInTheOriginalScript(shell: String) throws {
        let folder = try Support.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let plan = try Self.plan([
            "FATE_ROOT": "/srv/fate data",
            "PYTHON_PACKAGE_PATH": "~/pkg dir/upgrade_python_package.tar.gz",
            "MYSQL_ROOT": "${FATE_ROOT}x/mysql",
            "MYSQL_SOCKET_PATH": "$MYSQL_ROOT/run/my'sql.sock",
        ])
        let script = plan.renderedScript()
        let reparsed = try ShellParameterBlock(parsing: script, file: "rendered")
        let values = try Self.evaluate(script, block: reparsed,
                                       names: ["FATE_ROOT", "PYTHON_PACKAGE_PATH", "MYSQL_ROOT", "MYSQL_SOCKET_PATH"],
                                       shell: shell, in: folder)
        #expect(values == ["/srv/fate data", "\(Self.home)/pkg dir/upgrade_python_package.tar.gz",
                           "/srv/fate datax/mysql", "/srv/fate datax/mysql/run/my'sql.sock"])
        #expect(reparsed.assignment(named: "MYSQL_ROOT")?.word.references == ["FATE_ROOT"])
    }

    @Test func unchangedOriginalBlockEvaluatesAsTheGuideSays() throws {
        let folder = try Support.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let plan = try Self.plan([:])
        let values = try Self.evaluate(plan.renderedScript(), block: plan.block,
                                       names: ["PYTHON_PACKAGE_PATH", "MYSQL_SOCKET_PATH"], shell: "dash", in: folder)
        #expect(values == ["\(Self.home)/upgrade_package/upgrade_python_package.tar.gz",
                           "/data/projects/fate/common/mysql/mysql-8.0.13/run/mysql.sock"])
    }
}
