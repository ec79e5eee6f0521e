import FateUpgradeCore
import FateUpgradeHost
import Foundation
import Testing

/// `fate-upgrade pack` and `inspect`, run as the operator runs them, on packages made by the fixture builder.
@Suite struct PackTests {
    static let script = "upgrade_package/upgrade_script.sh"
    static let password = "p@ss w'rd$(touch PWNED)\\"

    /// A folder holding a fresh fixture package named as FATE ships it.
    static func workspace(format: String = "tar.gz", extra: [String] = []) throws -> (folder: URL, input: URL) {
        let folder = try Support.temporaryFolder()
        let name = ["tar.gz": "upgrade_1_4_0-1_4_4.tar.gz", "tar": "upgrade_1_4_0-1_4_4.tar", "dir": "unpacked"][format]!
        let input = folder.appendingPathComponent(name)
        try Support.makePackage(at: input, format: format, extra: extra)
        return (folder, format == "dir" ? input.appendingPathComponent("upgrade_package") : input)
    }

    static func lines(_ bytes: [UInt8]) -> [String] {
        String(decoding: bytes, as: UTF8.self).components(separatedBy: "\n")
    }

    @Test(arguments: ["tar.gz", "tar"])
    func roundTripKeepsEveryOtherEntryAndChangesOnlyTheValues(format: String) throws {
        let (folder, input) = try Self.workspace(format: format)
        defer { try? FileManager.default.removeItem(at: folder) }
        let output = folder.appendingPathComponent("upgrade_package_new.tar.gz")
        let run = try Support.tool(["pack", input.lastPathComponent, "--set", "FATE_ROOT=/opt/fate", "--set", "DB_USER=fate admin"],
                                   in: folder, environment: ["FATE_DB_PASS": Self.password])
        #expect(run.status == 0, "\(run.stderr)")
        #expect(!run.output.contains("p@ss"))
        #expect(try Support.files(in: folder) == [input.lastPathComponent, "upgrade_package_new.tar.gz", "upgrade_package_new.tar.gz.sha256"].sorted())
        let attributes = try FileManager.default.attributesOfItem(atPath: output.path)
        #expect((attributes[.posixPermissions] as? NSNumber)?.intValue == 0o600)

        // Python's tarfile, a reader independent of libarchive, sees the same entries.
        let before = try Support.members(of: input)
        let after = try Support.members(of: output)
        #expect(before.map { $0["name"]! } == after.map { $0["name"]! })
        #expect(before.count == 14)
        for (old, new) in zip(before, after) {
            if old["name"] == Self.script {
                var oldMeta = old, newMeta = new
                for key in ["size", "sha256"] { oldMeta[key] = nil; newMeta[key] = nil }
                #expect(oldMeta == newMeta)
            } else {
                #expect(old == new)
            }
        }
        #expect(Set(after.map { $0["type"]! }) == ["dir", "file", "symlink", "hardlink"])

        // The script differs only in the three assigned values.
        let oldScript = Self.lines(try Support.memberBytes(Self.script, of: input))
        let newScript = Self.lines(try Support.memberBytes(Self.script, of: output))
        #expect(oldScript.count == newScript.count)
        let changed = zip(oldScript, newScript).enumerated().filter { $0.element.0 != $0.element.1 }
        #expect(changed.map { $0.offset + 1 } == [5, 8, 9])
        #expect(newScript[4] == "FATE_ROOT=/opt/fate")
        #expect(newScript[7] == "DB_USER='fate admin'")
        let block = try ShellParameterBlock(parsing: try Support.memberBytes(Self.script, of: output), file: "out")
        #expect(block.assignment(named: "DB_PASS")?.word.literalValue == Self.password)
        #expect(block.assignment(named: "DB_USER")?.word.literalValue == "fate admin")

        // GNU tar lists and extracts it, links intact.
        let extracted = folder.appendingPathComponent("x")
        try FileManager.default.createDirectory(at: extracted, withIntermediateDirectories: true)
        #expect(try Support.run("tar", ["-tvzf", output.path]).status == 0)
        #expect(try Support.run("tar", ["-xzf", output.path, "-C", extracted.path]).status == 0)
        let docs = extracted.appendingPathComponent("upgrade_package/docs")
        let inode = { (name: String) in try FileManager.default.attributesOfItem(atPath: docs.appendingPathComponent(name).path)[.systemFileNumber] as? NSNumber }
        #expect(try inode("README.md") == inode("升级说明.md"))
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: extracted.appendingPathComponent("upgrade_package/sql/latest.sql").path) == "upgrade_1_4_1-1_4_2.sql")
        let python = try Support.run("python3", ["-c", "import sys, tarfile; tarfile.open(sys.argv[1]).extractall(sys.argv[2], filter='tar')",
                                                 output.path, folder.appendingPathComponent("py").path])
        #expect(python.status == 0, "\(python.stderr)")
    }

    @Test func anUnpackedFolderIsPackedAsTarWouldPackIt() throws {
        let (folder, input) = try Self.workspace(format: "dir")
        defer { try? FileManager.default.removeItem(at: folder) }
        let reference = folder.appendingPathComponent("reference.tar")
        try Support.makePackage(at: reference, format: "tar")
        let output = folder.appendingPathComponent("out.tar.gz")
        let run = try Support.tool(["pack", input.path, "-o", output.path, "--set", "DEPLOY_METHOD=ansible", "--keep", "DB_PASS"])
        #expect(run.status == 0, "\(run.stderr)")
        let expected = Dictionary(uniqueKeysWithValues: try Support.members(of: reference).map { ($0["name"]!, $0) })
        let packed = try Support.members(of: output)
        #expect(Set(packed.map { $0["name"]! }) == Set(expected.keys))
        for member in packed {
            let name = member["name"]!
            let original = try #require(expected[name])
            if original["type"] == "hardlink" || member["type"] == "hardlink" { continue }  // which of the pair comes first is readdir's order
            for key in ["type", "mode", "mtime", "uid", "gid", "linkname"] {
                #expect(member[key] == original[key], "\(name) \(key)")
            }
            if name != Self.script { #expect(member["sha256"] == original["sha256"], "\(name)") }
        }
        let linked = packed.filter { $0["name"]!.hasPrefix("upgrade_package/docs/") && ($0["name"]!.hasSuffix("README.md") || $0["name"]!.hasSuffix("说明.md")) }
        #expect(linked.map { $0["type"]! }.sorted() == ["file", "hardlink"])
        let newScript = Self.lines(try Support.memberBytes(Self.script, of: output))
        #expect(newScript[12] == "DEPLOY_METHOD=ansible")
    }

    @Test func theFifteenStyleUpgradeShIsUnderstoodWithItsOwnParameters() throws {
        let (folder, input) = try Self.workspace(extra: ["--script", Support.fixtures.appendingPathComponent("upgrade-1.5.sh").path,
                                                         "--script-name", "upgrade.sh"])
        defer { try? FileManager.default.removeItem(at: folder) }
        let inspect = try Support.tool(["inspect", input.path, "--json"])
        #expect(inspect.status == 0, "\(inspect.stderr)")
        let report = try JSONSerialization.jsonObject(with: Data(inspect.stdout.utf8)) as? [String: Any]
        let names = (report?["parameters"] as? [[String: Any]])?.compactMap { $0["name"] as? String }
        #expect(names == ["FATE_ROOT", "DB_USER", "DB_PASS", "MYSQL_ROOT", "MYSQL_SOCKET_PATH", "DEPLOY_METHOD", "SUPERVISOR_ROOT"])
        #expect(report?["script"] as? String == "upgrade_package/upgrade.sh")

        let refused = try Support.tool(["pack", input.path, "--set", "FATE_FLOW_ROOT=/x", "--keep", "DB_PASS"], in: folder)
        #expect(refused.status == 1)
        #expect(refused.stderr == "fate-upgrade: FATE_FLOW_ROOT: unknown parameter; \(input.path):upgrade_package/upgrade.sh defines FATE_ROOT, DB_USER, DB_PASS, MYSQL_ROOT, MYSQL_SOCKET_PATH, DEPLOY_METHOD, SUPERVISOR_ROOT (from --set)\n")

        let packed = try Support.tool(["pack", input.path, "--set", "FATE_ROOT=/srv/fate", "--keep", "DB_PASS"], in: folder)
        #expect(packed.status == 0, "\(packed.stderr)")
        let script = Self.lines(try Support.memberBytes("upgrade_package/upgrade.sh", of: folder.appendingPathComponent("upgrade_package_new.tar.gz")))
        #expect(script[4] == "FATE_ROOT=/srv/fate")
        #expect(script[15] == "FATE_PYTHON_ROOT=$FATE_ROOT/python")
    }

    @Test func windowsLineEndingsAreWrittenAsLFWithAWarning() throws {
        let (folder, input) = try Self.workspace(extra: ["--crlf"])
        defer { try? FileManager.default.removeItem(at: folder) }
        let run = try Support.tool(["pack", input.path, "--set", "FATE_ROOT=/opt/fate", "--keep", "DB_PASS"], in: folder)
        #expect(run.status == 0)
        #expect(run.stderr.contains("warning: upgrade_package/upgrade_script.sh has Windows (CR LF) line endings"))
        let original = try Support.memberBytes(Self.script, of: input)
        let packed = try Support.memberBytes(Self.script, of: folder.appendingPathComponent("upgrade_package_new.tar.gz"))
        #expect(original.contains(13))
        #expect(!packed.contains(13))
        let expected = String(decoding: original, as: UTF8.self).replacingOccurrences(of: "\r\n", with: "\n")
            .replacingOccurrences(of: "FATE_ROOT=/data/projects/fate\n", with: "FATE_ROOT=/opt/fate\n")
        #expect(String(decoding: packed, as: UTF8.self) == expected)
    }

    @Test func dryRunShowsTheMaskedDiffAndWritesNothing() throws {
        let (folder, input) = try Self.workspace()
        defer { try? FileManager.default.removeItem(at: folder) }
        let run = try Support.tool(["pack", input.lastPathComponent, "--dry-run", "--set", "FATE_ROOT=/opt/fate", "--db-pass-stdin"],
                                   in: folder, stdin: Self.password + "\n")
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stdout == """
            --- a/upgrade_package/upgrade_script.sh
            +++ b/upgrade_package/upgrade_script.sh
            @@ -5,8 +5,8 @@
            -FATE_ROOT=/data/projects/fate
            +FATE_ROOT=/opt/fate
             FATE_FLOW_ROOT=/data/projects/fate/python/fate_flow
             PYTHON_PACKAGE_PATH=~/upgrade_package/upgrade_python_package.tar.gz
             DB_USER=root
            -DB_PASS=********
            +DB_PASS=********(changed)
             MYSQL_ROOT=$FATE_ROOT/common/mysql/mysql-8.0.13
             MYSQL_SOCKET_PATH=$MYSQL_ROOT/run/mysql.sock
             # allinone or ansible

            """)
        #expect(!run.output.contains("p@ss") && !run.output.contains("fate_dev"))
        #expect(try Support.files(in: folder) == [input.lastPathComponent])
    }

    @Test func jsonSummaryCountsWithoutSecrets() throws {
        let (folder, input) = try Self.workspace()
        defer { try? FileManager.default.removeItem(at: folder) }
        let secretFile = folder.appendingPathComponent("pass")
        try Data((Self.password + "\n").utf8).write(to: secretFile)
        let run = try Support.tool(["pack", input.path, "--json", "--params", Support.repository.appendingPathComponent("pack/ansible.yaml").path,
                                    "--db-pass-file", secretFile.path], in: folder)
        #expect(run.status == 0, "\(run.stderr)")
        let report = try #require(try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any])
        #expect(report["entries"] as? Int == 14)
        let size = try FileManager.default.attributesOfItem(atPath: folder.appendingPathComponent("upgrade_package_new.tar.gz").path)[.size] as? NSNumber
        #expect((report["bytesOut"] as? NSNumber)?.int64Value == size?.int64Value)
        #expect((report["bytesIn"] as? NSNumber)?.int64Value == (try FileManager.default.attributesOfItem(atPath: input.path)[.size] as? NSNumber)?.int64Value)
        #expect(report["changed"] as? Bool == (report["dryRun"] as? Bool == false) && report["outcome"] as? String != nil)
        let changed = try #require(report["changes"] as? [[String: Any]])
        #expect(changed.map { $0["name"] as? String } == ["DB_PASS", "DEPLOY_METHOD"])
        #expect(changed[0]["secret"] as? Bool == true && changed[0]["to"] == nil)
        #expect(changed[1]["to"] as? String == "ansible")
        #expect(!run.output.contains("p@ss") && !run.output.contains("fate_dev"))
        let script = Self.lines(try Support.memberBytes(Self.script, of: folder.appendingPathComponent("upgrade_package_new.tar.gz")))
        let block = try ShellParameterBlock(parsing: Array(script.joined(separator: "\n").utf8), file: "s")
        #expect(block.assignment(named: "DB_PASS")?.word.literalValue == Self.password)
    }

    @Test func inspectShowsParametersMasked() throws {
        let (folder, input) = try Self.workspace()
        defer { try? FileManager.default.removeItem(at: folder) }
        let run = try Support.tool(["inspect", input.path])
        #expect(run.status == 0)
        #expect(run.stdout.contains("upgrade_package/upgrade_script.sh, lines 5–15, between the banner lines 4 and 16:"))
        #expect(run.stdout.contains("  MYSQL_ROOT           $FATE_ROOT/common/mysql/mysql-8.0.13\n"))
        // The original package still has FATE's own default, which is public and shown as such.
        #expect(run.stdout.contains("  DB_PASS              fate_dev (the package default: give DB_PASS to pack)\n"))
        let packed = folder.appendingPathComponent("packed.tar.gz")
        #expect(try Support.tool(["pack", input.path, "-o", packed.path], environment: ["FATE_DB_PASS": "Not-the-default"]).status == 0)
        let after = try Support.tool(["inspect", packed.path])
        #expect(after.stdout.contains("  DB_PASS              ******** (changed from the package default)\n"), "\(after.stdout)")
        #expect(!after.output.contains("Not-the-default"))
    }

    @Test func anExistingOutputIsReplacedOnlyWithForce() throws {
        let (folder, input) = try Self.workspace()
        defer { try? FileManager.default.removeItem(at: folder) }
        let output = folder.appendingPathComponent("upgrade_package_new.tar.gz")
        try Data("old".utf8).write(to: output)
        let refused = try Support.tool(["pack", input.path, "--set", "FATE_ROOT=/opt/fate", "--keep", "DB_PASS"], in: folder)
        #expect(refused.status == 1)
        #expect(refused.stderr == "fate-upgrade: upgrade_package_new.tar.gz: cannot write: it already exists (use --force to replace it)\n")
        #expect(try Data(contentsOf: output) == Data("old".utf8))
        let forced = try Support.tool(["pack", input.path, "--set", "FATE_ROOT=/opt/fate", "--force", "--keep", "DB_PASS"], in: folder)
        #expect(forced.status == 0)
        #expect(try Support.members(of: output).count == 14)
        #expect(try Support.files(in: folder) == [input.lastPathComponent, "upgrade_package_new.tar.gz", "upgrade_package_new.tar.gz.sha256"].sorted())
    }

    @Test func thePasswordComesFromStdinFileOrEnvironmentAndConflictsAreRefused() throws {
        let (folder, input) = try Self.workspace()
        defer { try? FileManager.default.removeItem(at: folder) }
        let output = folder.appendingPathComponent("upgrade_package_new.tar.gz")
        func packedPassword(_ arguments: [String], environment: [String: String] = [:], stdin: String? = nil) throws -> String? {
            let run = try Support.tool(["pack", input.path, "--force"] + arguments, in: folder, environment: environment, stdin: stdin)
            #expect(run.status == 0, "\(run.stderr)")
            #expect(!run.output.contains("s3cr"))
            let block = try ShellParameterBlock(parsing: try Support.memberBytes(Self.script, of: output), file: "s")
            return block.assignment(named: "DB_PASS")?.word.literalValue
        }
        #expect(try packedPassword(["--db-pass-stdin"], stdin: "s3cret stdin\r\n") == "s3cret stdin")
        #expect(try packedPassword([], environment: ["FATE_DB_PASS": "s3cret env"]) == "s3cret env")
        // An explicit source wins over the environment.
        #expect(try packedPassword(["--db-pass-stdin"], environment: ["FATE_DB_PASS": "s3cret env"], stdin: "s3cret 2\n") == "s3cret 2")

        let both = try Support.tool(["pack", input.path, "--set", "DB_PASS=x", "--db-pass-stdin"], in: folder, stdin: "y\n")
        #expect(both.status == 64)
        #expect(both.stderr.contains("DB_PASS is given by both --set and --db-pass-stdin"))
        let twice = try Support.tool(["pack", input.path, "--set", "FATE_ROOT=/a", "--set", "FATE_ROOT=/b"], in: folder)
        #expect(twice.status == 64)
        #expect(twice.stderr.contains("--set FATE_ROOT is given twice"))
        let viaSet = try Support.tool(["pack", input.path, "--force", "--set", "DB_PASS=s3cret"], in: folder)
        #expect(viaSet.stderr.contains("warning: --set DB_PASS=… leaves the password in shell history and in ps"))
        #expect(!viaSet.output.contains("s3cret"))
    }

    @Test func aProgressBarShowsOnlyAtATerminal() throws {
        let (folder, input) = try Self.workspace(extra: ["--bulk-mb", "24"])
        defer { try? FileManager.default.removeItem(at: folder) }
        let piped = try Support.tool(["pack", input.path, "-o", folder.appendingPathComponent("a.tar.gz").path, "--keep", "DB_PASS"])
        #expect(piped.status == 0)
        #expect(piped.stderr.isEmpty)
        // script(1) runs the tool with a pseudo-terminal as its stdout and stderr.
        let command = [Support.binary, "pack", input.path, "-o", folder.appendingPathComponent("b.tar.gz").path, "--compression-level", "9", "--keep", "DB_PASS"]
            .map { "'\($0)'" }.joined(separator: " ")
        let terminal = try Support.run("script", ["-qec", command, "/dev/null"])
        #expect(terminal.status == 0)
        #expect(terminal.stdout.contains("\rpacking ["))
        #expect(terminal.stdout.contains(" MiB"))
        #expect(terminal.stdout.contains("\r\u{1B}[K"), "the bar is cleared when done")
    }

    @Test func theBundledSampleIsTheFixtureBuildersOutput() throws {
        let folder = try Support.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let built = folder.appendingPathComponent("sample.tar.gz")
        try Support.makePackage(at: built)
        let bundled = Support.repository.appendingPathComponent("pack/sample/upgrade_1_4_0-1_4_4.tar.gz")
        #expect(try Data(contentsOf: built) == Data(contentsOf: bundled), "regenerate pack/sample with Tests/Fixtures/make_upgrade_package.py")
        for parameters in ["pack/allinone.yaml", "pack/ansible.yaml"] {
            let run = try Support.tool(["pack", bundled.path, "-o", folder.appendingPathComponent("out.tar.gz").path, "--force",
                                        "--params", Support.repository.appendingPathComponent(parameters).path],
                                       environment: ["FATE_DB_PASS": "x"])
            #expect(run.status == 0, "\(parameters): \(run.stderr)")
        }
    }

    // MARK: - Refusals: one line each, exit 1, nothing written

    struct Refusal: CustomStringConvertible, Sendable {
        var description: String
        /// Prepares the workspace and returns the arguments after `pack`.
        var prepare: @Sendable (URL, URL) throws -> [String]
        /// Each of these is one stderr line (warnings aside).
        var messages: [String]
    }

    static let refusals: [Refusal] = [
        Refusal(description: "missing input", prepare: { _, _ in ["nope.tar.gz"] },
                messages: ["nope.tar.gz: no such file or folder"]),
        Refusal(description: "not an archive", prepare: { folder, _ in
            try Data("just text\n".utf8).write(to: folder.appendingPathComponent("notes.tar.gz")); return ["notes.tar.gz"]
        }, messages: ["notes.tar.gz: not a tar or tar.gz archive (libarchive: Unrecognized archive format)"]),
        Refusal(description: "empty file", prepare: { folder, _ in
            try Data().write(to: folder.appendingPathComponent("empty.tar.gz")); return ["empty.tar.gz"]
        }, messages: ["empty.tar.gz: not a tar or tar.gz archive (it holds no entries)"]),
        Refusal(description: "zip file", prepare: { folder, _ in
            let zip = folder.appendingPathComponent("package.zip").path
            _ = try Support.run("python3", ["-c", "import sys, zipfile; zipfile.ZipFile(sys.argv[1], 'w').writestr('upgrade_package/upgrade_script.sh', 'A=1')", zip])
            return ["package.zip"]
        }, messages: ["package.zip: not a tar or tar.gz archive (it is a ZIP"]),
        Refusal(description: "truncated gzip", prepare: { folder, input in
            let bytes = try Data(contentsOf: input)
            try bytes.prefix(bytes.count * 2 / 3).write(to: folder.appendingPathComponent("cut.tar.gz")); return ["cut.tar.gz"]
        }, messages: ["cut.tar.gz: truncated or corrupt archive: "]),
        Refusal(description: "corrupt gzip", prepare: { folder, input in
            var bytes = try Data(contentsOf: input)
            for index in stride(from: bytes.count / 2, to: bytes.count / 2 + 64, by: 1) { bytes[index] ^= 0x5A }
            try bytes.write(to: folder.appendingPathComponent("bad.tar.gz")); return ["bad.tar.gz"]
        }, messages: ["bad.tar.gz: truncated or corrupt archive: "]),
        Refusal(description: "no script", prepare: { folder, _ in
            try Support.makePackage(at: folder.appendingPathComponent("noscript.tar.gz"), extra: ["--script-name", ""])
            return ["noscript.tar.gz"]
        }, messages: ["noscript.tar.gz: no upgrade_script.sh or upgrade.sh in the package; top-level entries seen: upgrade_package"]),
        Refusal(description: "unparseable block", prepare: { folder, _ in
            let script = folder.appendingPathComponent("broken.sh")
            let text = try String(contentsOf: Support.fixtures.appendingPathComponent("upgrade_script.sh"), encoding: .utf8)
                .replacingOccurrences(of: "DB_PASS=fate_dev", with: "DB_PASS='fate_dev")
            try Data(text.utf8).write(to: script)
            try Support.makePackage(at: folder.appendingPathComponent("broken.tar.gz"), extra: ["--script", script.path])
            return ["broken.tar.gz"]
        }, messages: ["broken.tar.gz:upgrade_package/upgrade_script.sh:9: cannot parse parameter block: unterminated single quote"]),
        Refusal(description: "invalid parameters", prepare: { _, input in
            [input.lastPathComponent, "--set", "DEPLOY_METHOD=docker", "--set", "FATE_ROOT=relative/path", "--set", "DB_PASS=", "--set", "FATE_HOME=/x"]
        }, messages: ["FATE_ROOT: must be an absolute path", "DB_PASS: must not be empty", "FATE_HOME: unknown parameter;",
                      "DEPLOY_METHOD: must be allinone or ansible, not 'docker' (from --set)"]),
        Refusal(description: "missing params file", prepare: { _, input in [input.lastPathComponent, "--params", "p.yaml"] },
                messages: ["p.yaml: no such file"]),
        Refusal(description: "invalid params file", prepare: { folder, input in
            try Data("FATE_ROOT: /a\nDB_USER: [root\n".utf8).write(to: folder.appendingPathComponent("p.yaml"))
            return [input.lastPathComponent, "--params", "p.yaml"]
        }, messages: ["p.yaml:3:1: invalid YAML: "]),
    ]

    @Test(arguments: refusals)
    func refusedRunsSayWhyInOneLineAndWriteNothing(refusal: Refusal) throws {
        let (folder, input) = try Self.workspace()
        defer { try? FileManager.default.removeItem(at: folder) }
        let arguments = try refusal.prepare(folder, input)
        let before = try Support.files(in: folder)
        let run = try Support.tool(["pack"] + arguments, in: folder)
        #expect(run.status == 1)
        let lines = run.stderr.split(separator: "\n").map(String.init).filter { !$0.hasPrefix("fate-upgrade: warning: ") }
        #expect(lines.count == refusal.messages.count, "\(run.stderr)")
        for message in refusal.messages {
            #expect(lines.contains { $0.hasPrefix("fate-upgrade: ") && $0.contains(message) }, "\(message) not in \(run.stderr)")
        }
        #expect(try Support.files(in: folder) == before, "output or temporary file left behind")
        #expect(run.stdout.isEmpty)
    }

    @Test func anUnreadablePackageIsNamed() throws {
        let (folder, input) = try Self.workspace()
        defer { try? FileManager.default.removeItem(at: folder) }
        chmod(input.path, 0o600)
        chmod(folder.path, 0o777)
        // As root everything is readable, so read it as nobody.
        let run = try Support.run("setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", Support.binary,
                                              "pack", input.path, "-o", folder.appendingPathComponent("out.tar.gz").path])
        #expect(run.status == 1)
        #expect(run.stderr == "fate-upgrade: \(input.path): cannot read: Permission denied\n")
        #expect(try Support.files(in: folder) == [input.lastPathComponent])
    }

    @Test(arguments: [SIGINT, SIGTERM])
    func anInterruptedRunLeavesNoPartialFileAndKeepsTheOldOutput(signal: Int32) throws {
        let (folder, input) = try Self.workspace(extra: ["--bulk-mb", "48"])
        defer { try? FileManager.default.removeItem(at: folder) }
        let output = folder.appendingPathComponent("upgrade_package_new.tar.gz")
        try Data("old".utf8).write(to: output)
        let process = try Support.startTool(["pack", input.path, "-o", output.path, "--force", "--set", "FATE_ROOT=/opt/fate", "--compression-level", "9", "--keep", "DB_PASS"])
        // Wait until the temporary output exists and is growing, then interrupt.
        let deadline = Date().addingTimeInterval(30)
        var temporary: String? = nil
        while Date() < deadline {
            temporary = try Support.files(in: folder).first { $0.hasPrefix(".upgrade_package_new.tar.gz.fate-upgrade-tmp-") }
            if let temporary, let size = try? FileManager.default.attributesOfItem(atPath: folder.appendingPathComponent(temporary).path)[.size] as? NSNumber,
               size.intValue > 0 { break }
            usleep(10_000)
        }
        #expect(temporary != nil, "no temporary file seen while packing")
        kill(process.pid, signal)
        let result = process.wait(timeout: .seconds(60))
        // It dies of the signal itself, as a shell reports it to the operator (130 for Ctrl-C).
        #expect(result.termination == .signaled(signal))
        #expect(try Support.files(in: folder) == [input.lastPathComponent, "upgrade_package_new.tar.gz"].sorted())
        #expect(try Data(contentsOf: output) == Data("old".utf8))
    }
}
