import FateUpgradeCore
import Foundation
import Testing

/// `confmigrate` and `pack` on the files operators really have (issue 9): Windows editors' BOMs and CR LF,
/// non-ASCII credentials, a symlinked base_conf.yaml, an upgrade run twice, conditional reassignments,
/// portless ZooKeeper hosts, FATE's unquoted `-p$DB_PASS`, 1.5.x's derived PYTHON_PACKAGE_PATH, pipes.
@Suite struct RealConfmigrateFilesTests {
    typealias Sandbox = ConfmigrateTests.Sandbox
    static let bom = "\u{FEFF}"

    /// PyYAML as FATE 1.4.4 runs it: a plain open() under a locale without LANG, i.e. ASCII.
    static func loadAsFATE(_ path: URL) throws -> Run {
        try Support.run("/usr/bin/python3", ["-c", """
            import sys, yaml
            with open(sys.argv[1], encoding='ascii') as f:
                conf = yaml.safe_load(f)
            zk = conf['zookeeper']
            print(repr((conf['use_registry'], zk['hosts'], zk['use_acl'], zk['user'], zk['password'])))
            """, path.path])
    }

    /// 1. A BOM in the target and in a 1.4.2 backup's base_conf.yaml is read as PyYAML reads it; the BOM,
    /// which FATE's Python 3.6 cannot read without a UTF-8 locale, is not written back.
    @Test func aByteOrderMarkIsReadAndNotWrittenBack() throws {
        let sandbox = try Sandbox(baseConf: Self.bom + ConfmigrateTests.fixture("conf/base_conf-1.4.4.yaml"))
        defer { try? FileManager.default.removeItem(at: sandbox.folder) }
        try sandbox.yamlBackup("python_20200901120000", conf: Self.bom + ConfmigrateTests.fixture("conf/base_conf-1.4.4.yaml")
            .replacingOccurrences(of: "use_registry: false", with: "use_registry: true")
            .replacingOccurrences(of: "127.0.0.1:2281", with: "10.9.8.7:2181"))
        let run = try sandbox.run()
        #expect(run.status == 0, "\(run.output)")
        #expect(run.stdout.contains("removed the UTF-8 byte order mark"))
        let bytes = try Data(contentsOf: sandbox.baseConf)
        #expect(!bytes.starts(with: [0xEF, 0xBB, 0xBF]))
        let loaded = try Self.loadAsFATE(sandbox.baseConf)
        #expect(loaded.status == 0, "\(loaded.output)")
        #expect(loaded.stdout == "(True, ['10.9.8.7:2181'], True, 'fate', 'fate')\n")
    }

    /// 2. A non-ASCII password is written as YAML escapes, so FATE reads it back exactly without a UTF-8 locale.
    @Test func nonASCIICredentialsAreWrittenAsEscapes() throws {
        let sandbox = try Sandbox()
        defer { try? FileManager.default.removeItem(at: sandbox.folder) }
        try sandbox.pythonBackup("python_20200901120000", useCenter: "True", hosts: "['zk1:2181']", useACL: "True",
                                 user: ConfmigrateTests.python("运维"), password: ConfmigrateTests.python("p@ss中𝄞"))
        let run = try sandbox.run()
        #expect(run.status == 0, "\(run.output)")
        #expect(run.stdout.contains("zookeeper.password has non-ASCII characters: written as \\u escapes in double quotes"))
        #expect(run.stdout.contains("zookeeper.user has non-ASCII characters"))
        let bytes = [UInt8](try Data(contentsOf: sandbox.baseConf))
        #expect(bytes.allSatisfy { $0 < 0x80 }, "the file must stay ASCII")
        let loaded = try Self.loadAsFATE(sandbox.baseConf)
        #expect(loaded.stdout == "(True, ['zk1:2181'], True, '运维', 'p@ss中𝄞')\n", "\(loaded.output)")
        #expect(!run.output.contains("p@ss"))
    }

    /// 3. A symlinked base_conf.yaml: the file it points to is updated, the link stays, the backup is a real copy.
    @Test func aSymlinkedBaseConfIsWrittenThrough() throws {
        let sandbox = try Sandbox()
        defer { try? FileManager.default.removeItem(at: sandbox.folder) }
        let managed = sandbox.folder.appendingPathComponent("managed/fate-conf/base_conf.yaml")
        try FileManager.default.createDirectory(at: managed.deletingLastPathComponent(), withIntermediateDirectories: true)
        try FileManager.default.moveItem(at: sandbox.baseConf, to: managed)
        try FileManager.default.createSymbolicLink(atPath: sandbox.baseConf.path, withDestinationPath: managed.path)
        let before = try Data(contentsOf: managed)
        try sandbox.pythonBackup("python_20200901120000", useCenter: "True", hosts: "['10.0.0.1:2181']")
        let run = try sandbox.run()
        #expect(run.status == 0, "\(run.output)")
        #expect(run.stdout.contains("\(sandbox.baseConf.path) is a symbolic link to \(managed.path): that file is updated, the link stays"))
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: sandbox.baseConf.path) == managed.path)
        #expect(try String(contentsOf: managed, encoding: .utf8).contains("- 10.0.0.1:2181"))
        let backups = try sandbox.confFolder().filter { $0 == "base_conf.yaml.release" }
        #expect(backups.count == 1)
        let backup = sandbox.baseConf.deletingLastPathComponent().appendingPathComponent(backups.first ?? "?")
        let attributes = try FileManager.default.attributesOfItem(atPath: backup.path)
        #expect(attributes[.type] as? FileAttributeType == .typeRegular, "the backup must be a real copy, not a link")
        #expect(try Data(contentsOf: backup) == before)
        #expect(try Support.files(in: managed.deletingLastPathComponent()) == ["base_conf.yaml"])
    }

    /// 4. The upgrade ran twice: the newest python_<ts> is a 1.4.4 tree; it is skipped with a line, and the
    /// older backup's real settings are carried over. With only that backup, the run stops and names --backup.
    @Test func aNewestBackupThatIsA144TreeIsSkipped() throws {
        let sandbox = try Sandbox()
        defer { try? FileManager.default.removeItem(at: sandbox.folder) }
        try sandbox.yamlBackup("python_20201001120000", conf: ConfmigrateTests.fixture("conf/base_conf-1.4.4.yaml"), settingsOf: "1.4.4")
        let onlyNew = try sandbox.run()
        #expect(onlyNew.status == 1)
        #expect(onlyNew.stderr.contains("skipped \(sandbox.fateRoot.path)/python_20201001120000: its files are FATE 1.4.4's own, not a site's (an upgrade run twice?)"), "\(onlyNew.stderr)")
        #expect(onlyNew.stderr.contains("give the one holding the real settings with --backup"))
        try sandbox.pythonBackup("python_20200901120000", useCenter: "True", hosts: "['10.2.2.2:2181']", useACL: "True", user: "'zkuser'")
        let run = try sandbox.run()
        #expect(run.status == 0, "\(run.output)")
        #expect(run.stdout.contains("skipped \(sandbox.fateRoot.path)/python_20201001120000: its files are FATE 1.4.4's own, not a site's (an upgrade run twice?)"))
        #expect(run.stdout.contains("backup: \(sandbox.fateRoot.path)/python_20200901120000"))
        let loaded = try Self.loadAsFATE(sandbox.baseConf)
        #expect(loaded.stdout == "(True, ['10.2.2.2:2181'], True, 'zkuser', 'fate')\n", "\(loaded.output)")
        // Named by hand, it is used as asked.
        let explicit = try sandbox.run(["--backup", sandbox.fateRoot.appendingPathComponent("python_20201001120000").path, "--dry-run"])
        #expect(explicit.status == 0 && !explicit.stdout.contains("skipped"), "\(explicit.output)")
    }

    struct Reassignment: CustomStringConvertible, Sendable {
        var description: String
        var settings: String
        var line: Int
    }

    static let reassignments: [Reassignment] = [
        Reassignment(description: "if", settings: "import os\nif os.environ.get('FATE_ZK'):\n    ZOOKEEPER_HOSTS = os.environ['FATE_ZK'].split(',')\n", line: 43),
        Reassignment(description: "one-line if", settings: "if True: ZOOKEEPER_HOSTS = ['10.5.5.5:2181']\n", line: 41),
        Reassignment(description: "try", settings: "try:\n    from local_settings import *\n    ZOOKEEPER_HOSTS = ['10.5.5.5:2181']\nexcept ImportError:\n    pass\n", line: 43),
        Reassignment(description: "for", settings: "for _ in range(1):\n    ZOOKEEPER_HOSTS = ['10.5.5.5:2181']\n", line: 42),
        Reassignment(description: "with", settings: "with open('/dev/null') as f:\n    ZOOKEEPER_HOSTS = ['10.5.5.5:2181']\n", line: 42),
        Reassignment(description: "module level", settings: "ZOOKEEPER_HOSTS = ['10.5.5.5:2181']\n", line: 41),
    ]

    /// 5. A watched name assigned twice (under if, try, for, with, or again at module level) stops the run
    /// with both places and the flag; the flag then settles it.
    @Test(arguments: reassignments)
    func aSecondAssignmentStopsWithBothPlacesAndTheFlag(reassignment: Reassignment) throws {
        let sandbox = try Sandbox()
        defer { try? FileManager.default.removeItem(at: sandbox.folder) }
        let backup = try sandbox.pythonBackup("python_20200901120000", useCenter: "True", hosts: "['10.0.0.1:2181']")
        let settings = backup.appendingPathComponent("fate_flow/settings.py")
        let original = try String(contentsOf: settings, encoding: .utf8)
        let lines = original.split(separator: "\n", omittingEmptySubsequences: false)
        let hostsLine = try #require(lines.firstIndex { $0.hasPrefix("ZOOKEEPER_HOSTS = ") }) + 1
        let text = lines[..<hostsLine].joined(separator: "\n") + "\n" + reassignment.settings + lines[hostsLine...].joined(separator: "\n")
        try Data(text.utf8).write(to: settings)
        let before = try Data(contentsOf: sandbox.baseConf)
        let run = try sandbox.run()
        #expect(run.status == 1)
        #expect(run.stderr.contains("ZOOKEEPER_HOSTS is assigned more than once (\(settings.path):\(hostsLine) and \(settings.path):\(hostsLine + reassignment.line - 40))"), "\(run.stderr)")
        #expect(run.stderr.contains("give the value with --zk-hosts"))
        #expect(try Data(contentsOf: sandbox.baseConf) == before)
        // With the value given, the reassignment is still a code edit of settings.py: shown, and it needs a choice.
        let code = try sandbox.run(["--zk-hosts", "10.7.7.7:2181"])
        #expect(code.status == 1)
        #expect(code.output.contains("decision needed: \(settings.path) has edits beyond setting values"), "\(code.output)")
        #expect(try Data(contentsOf: sandbox.baseConf) == before)
        let given = try sandbox.run(["--zk-hosts", "10.7.7.7:2181", "--accept-release", "settings.py"])
        #expect(given.status == 0, "\(given.output)")
    }

    /// 6. Hosts without a port, as kazoo accepts and FATE 1.4.0 ran with, get kazoo's 2181.
    @Test func hostsWithoutAPortGetKazoosDefault() throws {
        let sandbox = try Sandbox()
        defer { try? FileManager.default.removeItem(at: sandbox.folder) }
        try sandbox.pythonBackup("python_20200901120000", useCenter: "True", hosts: "['zk1', 'zk2:2182']")
        let run = try sandbox.run()
        #expect(run.status == 0, "\(run.output)")
        #expect(run.stdout.contains("zookeeper.hosts      zk1:2181, zk2:2182"))
        #expect(run.stdout.contains("port 2181 added where none was given, as kazoo does"))
        #expect(try Self.loadAsFATE(sandbox.baseConf).stdout == "(True, ['zk1:2181', 'zk2:2182'], False, 'fate', 'fate')\n")
        let byHand = try sandbox.run(["--zk-hosts", "zk9", "--dry-run"])
        #expect(byHand.status == 0 && byHand.stdout.contains("+    - zk9:2181"), "\(byHand.output)")
    }

    /// 7. A CR LF file's dry run shows the changed lines, not the whole file as one line.
    @Test func aCRLFDryRunDiffIsLineByLine() throws {
        let conf = ConfmigrateTests.fixture("conf/base_conf-1.4.4.yaml").replacingOccurrences(of: "\n", with: "\r\n")
        let sandbox = try Sandbox(baseConf: conf)
        defer { try? FileManager.default.removeItem(at: sandbox.folder) }
        try sandbox.pythonBackup("python_20200901120000", useCenter: "True", hosts: "['10.0.0.1:2181']")
        let run = try sandbox.run(["--dry-run"])
        #expect(run.status == 0, "\(run.output)")
        let changed = run.stdout.split(separator: "\n").filter { ($0.hasPrefix("-") || $0.hasPrefix("+")) && !$0.hasPrefix("---") && !$0.hasPrefix("+++") }
        #expect(changed.sorted() == ["+    - 10.0.0.1:2181", "+  use_acl: false", "+use_registry: true", "-    - 127.0.0.1:2281", "-  use_acl: true", "-use_registry: false"].sorted(), "\(run.stdout)")
    }
}

@Suite struct RealPackFilesTests {
    static func workspace(script: String? = nil, scriptName: String = "upgrade_script.sh", format: String = "tar.gz") throws -> (folder: URL, input: URL) {
        var extra = ["--script-name", scriptName]
        if let script { extra += ["--script", Support.fixtures.appendingPathComponent(script).path] }
        return try PackTests.workspace(format: format, extra: extra)
    }

    /// A package in `folder` whose script is the fixture's with `old` replaced by `new`.
    static func package(in folder: URL, name: String, editing old: String, to new: String) throws -> URL {
        let script = folder.appendingPathComponent("edited-upgrade_script.sh")
        let text = try String(contentsOf: Support.fixtures.appendingPathComponent("upgrade_script.sh"), encoding: .utf8)
            .replacingOccurrences(of: old, with: new)
        try Data(text.utf8).write(to: script)
        let package = folder.appendingPathComponent(name)
        try Support.makePackage(at: package, extra: ["--script", script.path])
        return package
    }

    /// 8. Forgetting DB_PASS is refused, naming the ways to give it and --keep; --keep DB_PASS says it is meant.
    @Test func forgettingDBPassIsRefusedUnlessKept() throws {
        let (folder, input) = try Self.workspace()
        defer { try? FileManager.default.removeItem(at: folder) }
        let refused = try Support.tool(["pack", input.path, "--set", "FATE_ROOT=/opt/fate"], in: folder)
        #expect(refused.status == 1)
        #expect(refused.stderr == "fate-upgrade: DB_PASS: not given, so the package's own value would stay (FATE's scripts ship fate_dev); give it with --db-pass-stdin, --db-pass-file or FATE_DB_PASS, or keep the package's value with --keep DB_PASS\n")
        #expect(try Support.files(in: folder) == [input.lastPathComponent])
        let kept = try Support.tool(["pack", input.path, "--set", "FATE_ROOT=/opt/fate", "--keep", "DB_PASS"], in: folder)
        #expect(kept.status == 0, "\(kept.output)")
        let unknown = try Support.tool(["pack", input.path, "--keep", "DB_PASSWORD", "--force"], in: folder)
        #expect(unknown.status == 1 && unknown.stderr.contains("DB_PASSWORD: unknown parameter"), "\(unknown.stderr)")

        // A script someone already set the password in by hand: what is there is said (masked), and how to keep it.
        let handEdited = try Self.package(in: folder, name: "hand.tar.gz", editing: "DB_PASS=fate_dev", to: "DB_PASS=Hand-Set-1")
        let told = try Support.tool(["pack", handEdited.path, "-o", folder.appendingPathComponent("hand-new.tar.gz").path, "--set", "FATE_ROOT=/opt/fate"])
        #expect(told.status == 1)
        #expect(told.stderr == "fate-upgrade: DB_PASS: not given; the package's script already sets it to ******** (line 9, not FATE's default fate_dev): keep that value with --keep DB_PASS, or give another with --db-pass-stdin, --db-pass-file or FATE_DB_PASS\n")
        #expect(!told.output.contains("Hand-Set"))
        let keptHand = try Support.tool(["pack", handEdited.path, "-o", folder.appendingPathComponent("hand-new.tar.gz").path, "--set", "FATE_ROOT=/opt/fate", "--keep", "DB_PASS"])
        #expect(keptHand.status == 0, "\(keptHand.output)")
        #expect(!keptHand.output.contains("Hand-Set"))
    }

    /// 9. FATE's scripts pass `-u$DB_USER -p$DB_PASS` unquoted: a value the shell would split or expand is
    /// warned about, naming the script line (without showing a password).
    @Test func valuesTheScriptWouldSplitAreWarnedAbout() throws {
        let (folder, input) = try Self.workspace()
        defer { try? FileManager.default.removeItem(at: folder) }
        let script = try String(contentsOf: Support.fixtures.appendingPathComponent("upgrade_script.sh"), encoding: .utf8)
        let lines = script.split(separator: "\n", omittingEmptySubsequences: false)
        let uses = lines.indices.filter { lines[$0].contains("-p$DB_PASS") }.map { $0 + 1 }
        #expect(uses.count == 2)
        let run = try Support.tool(["pack", input.path, "--set", "DB_USER=fate admin", "--set", "FATE_ROOT=/opt/fate"], in: folder,
                                   environment: ["FATE_DB_PASS": "pa ss*word"])
        #expect(run.status == 0, "\(run.output)")
        for line in uses {
            #expect(run.stderr.contains("warning: DB_PASS has a space or tab, where the shell splits it, and upgrade_package/upgrade_script.sh uses $DB_PASS unquoted (line \(line))"), "\(run.stderr)")
            let user = run.stderr.split(separator: "\n").first { $0.contains("uses $DB_USER unquoted (line \(line): ") }
            #expect(user?.contains("warning: DB_USER has a space or tab, where the shell splits it") == true, "\(run.stderr)")
            #expect(user?.contains("$MYSQL_ROOT/bin/mysql -u$DB_USER -p$DB_PASS") == true, "\(run.stderr)")
        }
        #expect(!run.output.contains("pa ss*word"))
        let fine = try Support.tool(["pack", input.path, "--force", "--set", "FATE_ROOT=/opt/fate"], in: folder, environment: ["FATE_DB_PASS": "Pa55-w0rd'\"$;#"])
        #expect(fine.status == 0 && !fine.stderr.contains("unquoted"), "\(fine.stderr)")
    }

    /// 10. Setting a value to what it already is keeps its line byte for byte and is no change.
    @Test func anUnchangedValueKeepsItsLine() throws {
        let folder = try Support.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let input = try Self.package(in: folder, name: "upgrade_1_4_0-1_4_4.tar.gz", editing: "FATE_ROOT=/data/projects/fate\n",
                                     to: "FATE_ROOT=\"/data/projects/fate\"  # quoted, as operators write it\n")
        let run = try Support.tool(["pack", input.path, "--set", "FATE_ROOT=/data/projects/fate", "--keep", "DB_PASS"], in: folder)
        #expect(run.status == 0, "\(run.output)")
        #expect(run.stdout.contains("no parameter changed in upgrade_package/upgrade_script.sh"), "\(run.stdout)")
        #expect(!run.stdout.contains("->"))
        let packed = try Support.memberBytes("upgrade_package/upgrade_script.sh", of: folder.appendingPathComponent("upgrade_package_new.tar.gz"))
        #expect(packed == (try Support.memberBytes("upgrade_package/upgrade_script.sh", of: input)))
    }

    /// 11. A 1.5.x package derives PYTHON_PACKAGE_PATH ($SCRIPT_PATH/python.tar.gz): apply evaluates it as the shell
    /// would and never advises a pack flag that pack refuses.
    @Test func a15PackagesDerivedPythonPackagePathIsEvaluated() throws {
        let (folder, unpacked) = try Self.workspace(script: "upgrade-1.5.sh", scriptName: "upgrade.sh", format: "dir")
        defer { try? FileManager.default.removeItem(at: folder) }
        let fate = folder.appendingPathComponent("fate")
        try FileManager.default.createDirectory(at: fate.appendingPathComponent("python"), withIntermediateDirectories: true)
        let settings = ["--set", "FATE_ROOT=\(fate.path)"]
        // Without python.tar.gz in the package: the derived path is named, with where it comes from.
        let incomplete = folder.appendingPathComponent("incomplete.tar.gz")
        #expect(try Support.tool(["pack", unpacked.path, "-o", incomplete.path, "--keep", "DB_PASS"] + settings).status == 0)
        let refused = try Support.tool(["apply", incomplete.path, "--component", "fatepython", "--plan"], environment: ["HOME": folder.path])
        #expect(refused.status == 1)
        #expect(refused.stderr.contains("PYTHON_PACKAGE_PATH is set by the script itself (line 18: PYTHON_PACKAGE_PATH=$SCRIPT_PATH/python.tar.gz) to \(folder.path)/upgrade_package/python.tar.gz, which is neither on disk nor in this package"), "\(refused.stderr)")
        #expect(!refused.stderr.contains("--set PYTHON_PACKAGE_PATH"))
        // With it: the check passes on the path the script will use.
        try Data("python package".utf8).write(to: unpacked.appendingPathComponent("python.tar.gz"))
        let complete = folder.appendingPathComponent("complete.tar.gz")
        #expect(try Support.tool(["pack", unpacked.path, "-o", complete.path, "--keep", "DB_PASS"] + settings).status == 0)
        let planned = try Support.tool(["apply", complete.path, "--component", "fatepython", "--plan"], environment: ["HOME": folder.path])
        #expect(planned.status == 0, "\(planned.output)")
        #expect(planned.stdout.contains("python package \(folder.path)/upgrade_package/python.tar.gz"), "\(planned.stdout)")
    }

    /// 12. `-` means standard input and output, as tar users expect; never a file named `-`, never binary to a terminal.
    @Test func aDashMeansStandardInputAndOutput() throws {
        let (folder, input) = try Self.workspace()
        defer { try? FileManager.default.removeItem(at: folder) }
        let out = folder.appendingPathComponent("piped.tar.gz")
        let run = try Support.run("sh", ["-c", "cat \"$1\" | \"$2\" pack - -o - --set FATE_ROOT=/opt/piped --keep DB_PASS > \"$3\"",
                                         "sh", input.path, Support.binary, out.path], in: folder)
        #expect(run.status == 0, "\(run.output)")
        #expect(run.stderr.contains("wrote the package to standard output"))
        #expect(!FileManager.default.fileExists(atPath: folder.appendingPathComponent("-").path))
        let script = String(decoding: try Support.memberBytes("upgrade_package/upgrade_script.sh", of: out), as: UTF8.self)
        #expect(script.contains("FATE_ROOT=/opt/piped\n"))
        #expect(try Support.members(of: out).count == (try Support.members(of: input)).count)

        let params = try Support.tool(["pack", input.path, "-o", folder.appendingPathComponent("params.tar.gz").path, "--params", "-", "--keep", "DB_PASS"],
                                      in: folder, stdin: "FATE_ROOT: /opt/from-stdin\n")
        #expect(params.status == 0, "\(params.output)")
        #expect(params.stdout.contains("FATE_ROOT            /data/projects/fate -> /opt/from-stdin"))

        let twice = try Support.tool(["pack", "-", "--params", "-", "--keep", "DB_PASS"], in: folder, stdin: "")
        #expect(twice.status == 64 && twice.stderr.contains("both read standard input"), "\(twice.stderr)")
        let terminal = try Support.run("script", ["-qec", "'\(Support.binary)' pack '\(input.path)' -o - --keep DB_PASS", "/dev/null"], in: folder)
        #expect(terminal.stdout.contains("standard output is a terminal; redirect it"), "\(terminal.stdout)")
        #expect(!FileManager.default.fileExists(atPath: folder.appendingPathComponent("-").path))
    }
}
