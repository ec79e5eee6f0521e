import FateUpgradeCore
import FateUpgradeHost
import Foundation
import Testing

/// Hostile packages, hostile files and faults (issue 10): what is checked is what runs, nothing is lost
/// or leaked, nothing hangs or crashes.
@Suite struct DamagedPackageTests {
    /// A damaged copy (gzip CRC or length wrong, or cut short) is refused by pack, inspect and apply, and pack
    /// never wraps the damage into a valid stream.
    @Test(arguments: ["crc", "length", "truncated"])
    func aDamagedPackageIsRefusedEverywhere(damage: String) throws {
        let (folder, input) = try PackTests.workspace()
        defer { try? FileManager.default.removeItem(at: folder) }
        var bytes = [UInt8](try Data(contentsOf: input))
        switch damage {
        case "crc": bytes[bytes.count - 8] ^= 0xFF
        case "length": bytes[bytes.count - 2] ^= 0x01
        default: bytes = Array(bytes.prefix(bytes.count / 2))
        }
        let damaged = folder.appendingPathComponent("damaged.tar.gz")
        try Data(bytes).write(to: damaged)
        let expected = damage == "truncated" ? "truncated" : "gzip: incorrect \(damage == "crc" ? "data" : "length") check"
        let packed = try Support.tool(["pack", damaged.path, "-o", folder.appendingPathComponent("new.tar.gz").path, "--keep", "DB_PASS"])
        #expect(packed.status == 1 && packed.stderr.contains(expected), "\(packed.stderr)")
        #expect(!FileManager.default.fileExists(atPath: folder.appendingPathComponent("new.tar.gz").path))
        let inspected = try Support.tool(["inspect", damaged.path])
        #expect(inspected.status == 1 && inspected.stderr.contains(expected), "\(inspected.stderr)")
        let applied = try Support.tool(["apply", damaged.path, "--component", "fatepython", "--plan"])
        #expect(applied.status == 1 && applied.stderr.contains(expected), "\(applied.stderr)")
    }

    /// pack writes the output's SHA-256 beside it; apply checks it (or --sha256) before anything else.
    @Test func theChecksumBesideThePackageIsChecked() throws {
        let (folder, input) = try PackTests.workspace()
        defer { try? FileManager.default.removeItem(at: folder) }
        let output = folder.appendingPathComponent("upgrade_package_new.tar.gz")
        #expect(try Support.tool(["pack", input.path, "-o", output.path, "--keep", "DB_PASS"]).status == 0)
        let sum = try Support.run("sha256sum", [output.lastPathComponent], in: folder)
        #expect(try String(contentsOf: folder.appendingPathComponent("upgrade_package_new.tar.gz.sha256"), encoding: .utf8) == sum.stdout)
        let wrong = String(repeating: "0", count: 64)
        let given = try Support.tool(["apply", output.path, "--component", "fatepython", "--plan", "--sha256", wrong])
        #expect(given.status == 1 && given.stderr.contains("its SHA-256 is \(sum.stdout.prefix(64)), not \(wrong) as --sha256 says"), "\(given.stderr)")
        try Data("\(wrong)  upgrade_package_new.tar.gz\n".utf8).write(to: folder.appendingPathComponent("upgrade_package_new.tar.gz.sha256"))
        let beside = try Support.tool(["apply", output.path, "--component", "fatepython", "--plan"])
        #expect(beside.status == 1 && beside.stderr.contains("as \(output.path).sha256 says: a damaged or different copy"), "\(beside.stderr)")
        // The tool's own SHA-256 agrees with sha256sum, across block boundaries.
        for size in [0, 1, 55, 56, 63, 64, 65, 1000, 100_000] {
            let data = Data((0..<size).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) })
            let file = folder.appendingPathComponent("blob-\(size)")
            try data.write(to: file)
            let expected = try Support.run("sha256sum", [file.path]).stdout.prefix(64)
            #expect(try PackageChecksum.compute(file.path) == String(expected), "\(size) bytes")
        }
    }

    /// A failed extraction leaves the earlier upgrade_package as it was, and no half-extracted folder.
    @Test func aFailedExtractionChangesNothingInTheWorkFolder() throws {
        let folder = try Support.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let package = folder.appendingPathComponent("bad.tar.gz")
        let script = try String(contentsOf: Support.fixtures.appendingPathComponent("upgrade_script.sh"), encoding: .utf8)
            .replacingOccurrences(of: "FATE_ROOT=/data/projects/fate\n", with: "FATE_ROOT=\(folder.path)/fate\n")
        // A file, then an entry under it: extraction fails midway (ENOTDIR), after writing the first files.
        let build = try Support.run("python3", ["-c", """
            import io, sys, tarfile
            def add(t, name, data):
                info = tarfile.TarInfo(name); info.size = len(data); info.mode = 0o755; t.addfile(info, io.BytesIO(data))
            with tarfile.open(sys.argv[1], 'w:gz') as t:
                add(t, 'upgrade_package/upgrade_script.sh', sys.argv[2].encode())
                add(t, 'upgrade_package/upgrade_python_package.tar.gz', b'x' * 100)
                add(t, 'upgrade_package/sql', b'a file')
                add(t, 'upgrade_package/sql/upgrade.sql', b'select 1;')
            """, package.path, script])
        #expect(build.status == 0, "\(build.stderr)")
        try FileManager.default.createDirectory(at: folder.appendingPathComponent("fate/python"), withIntermediateDirectories: true)
        let previous = folder.appendingPathComponent("upgrade_package")
        try FileManager.default.createDirectory(at: previous, withIntermediateDirectories: true)
        try Data("earlier".utf8).write(to: previous.appendingPathComponent("keep.txt"))
        let run = try Support.tool(["apply", package.path, "--component", "fatepython", "--model-store", "database", "--sha256",
                                    String(try Support.run("sha256sum", [package.path]).stdout.prefix(64))],
                                   environment: ["HOME": folder.path])
        #expect(run.status == 1, "\(run.output)")
        #expect(run.stderr.contains("extracting \(package.path) failed, nothing was changed"), "\(run.stderr)")
        #expect(try Support.files(in: folder) == ["bad.tar.gz", "fate", "upgrade_package"])
        #expect(try Support.files(in: previous) == ["keep.txt"])
        #expect(!FileManager.default.fileExists(atPath: folder.appendingPathComponent("fate/.fate-upgrade/journal").path))
    }
}

@Suite struct HostileFileTests {
    /// Deep nesting is refused with file:line, never a stack overflow.
    @Test func deepNestingIsRefusedNotACrash() throws {
        let sandbox = try ConfmigrateTests.Sandbox(baseConf: "work_mode: 0\nzookeeper: " + String(repeating: "[", count: 14_000) + String(repeating: "]", count: 14_000) + "\n")
        defer { try? FileManager.default.removeItem(at: sandbox.folder) }
        try sandbox.pythonBackup("python_20200901120000", hosts: String(repeating: "[", count: 30_000) + String(repeating: "]", count: 30_000))
        let yaml = try sandbox.run()
        #expect(yaml.status == 1, "\(yaml.output)")
        #expect(yaml.stderr.contains("base_conf.yaml:2:"), "\(yaml.stderr)")
        try Data(ConfmigrateTests.fixture("conf/base_conf-1.4.4.yaml").utf8).write(to: sandbox.baseConf)
        let python = try sandbox.run()
        #expect(python.status == 1, "\(python.output)")
        #expect(python.stderr.contains("ZOOKEEPER_HOSTS") && python.stderr.contains("--zk-hosts"), "\(python.stderr)")
    }

    /// The dry-run diff of a large file takes bounded memory (a 2 GB address-space limit) and time.
    @Test func aLargeDiffStaysBounded() throws {
        var conf = ConfmigrateTests.fixture("conf/base_conf-1.4.4.yaml")
        conf += (0..<60_000).map { "key_\($0): value \($0)\n" }.joined()
        let sandbox = try ConfmigrateTests.Sandbox(baseConf: conf)
        defer { try? FileManager.default.removeItem(at: sandbox.folder) }
        try sandbox.pythonBackup("python_20200901120000", useCenter: "True", hosts: "['10.0.0.1:2181']")
        let run = try Support.run("sh", ["-c", "ulimit -v 2000000; exec \"$@\"", "sh", Support.binary, "confmigrate", "--fate-root",
                                         sandbox.fateRoot.path, "--dry-run"], environment: sandbox.environment, timeout: .seconds(120))
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stdout.contains("+    - 10.0.0.1:2181"))
    }

    /// pack handles a block of 100,000 parameters in linear time (it was quadratic).
    @Test func manyParametersAreHandledInLinearTime() throws {
        let folder = try Support.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let script = folder.appendingPathComponent("upgrade_script.sh")
        let parameters = (0..<100_000).map { "P\($0)=/data/p\($0)\n" }.joined()
        try Data("#!/bin/bash\n#### params ####\nFATE_ROOT=/data\nDB_PASS=x\n\(parameters)#### end ####\necho done\n".utf8).write(to: script)
        let input = folder.appendingPathComponent("in.tar.gz")
        try Support.makePackage(at: input, extra: ["--script", script.path])
        let started = Date()
        let run = try Support.tool(["pack", input.path, "-o", folder.appendingPathComponent("out.tar.gz").path, "--set", "P99999=/srv/x",
                                    "--set", "FATE_ROOT=/srv"], environment: ["FATE_DB_PASS": "y"], timeout: .seconds(120))
        #expect(run.status == 0, "\(run.stderr)")
        #expect(Date().timeIntervalSince(started) < 60)
    }

    /// Inputs that are not regular files are refused at once: a FIFO nobody writes, a device, a folder.
    @Test func inputsThatAreNotFilesAreRefused() throws {
        let sandbox = try ConfmigrateTests.Sandbox()
        defer { try? FileManager.default.removeItem(at: sandbox.folder) }
        let backup = try sandbox.pythonBackup("python_20200901120000")
        let settings = backup.appendingPathComponent("fate_flow/settings.py")
        try FileManager.default.removeItem(at: settings)
        #expect(mkfifo(settings.path, 0o644) == 0)
        let fifo = try Support.tool(["confmigrate", "--fate-root", sandbox.fateRoot.path], environment: sandbox.environment, timeout: .seconds(30))
        #expect(fifo.status == 1 && fifo.stderr.contains("settings.py: is a pipe (FIFO), not a file"), "\(fifo.stderr)")
        let device = try Support.tool(["confmigrate", "--fate-root", sandbox.fateRoot.path, "--base-conf", "/dev/zero"], environment: sandbox.environment,
                                      timeout: .seconds(30))
        #expect(device.status == 1 && device.stderr.contains("/dev/zero: is not a regular file"), "\(device.stderr)")
        let folder = try Support.tool(["confmigrate", "--fate-root", sandbox.fateRoot.path, "--base-conf", sandbox.folder.path],
                                      environment: sandbox.environment, timeout: .seconds(30))
        #expect(folder.status == 1 && folder.stderr.contains("is a folder, not a file") && !folder.stderr.contains("NSCocoa"), "\(folder.stderr)")
        let (work, input) = try PackTests.workspace()
        defer { try? FileManager.default.removeItem(at: work) }
        let params = try Support.tool(["pack", input.path, "--params", "/dev/zero", "--keep", "DB_PASS"], in: work, timeout: .seconds(30))
        #expect(params.status == 1 && params.stderr.contains("/dev/zero: is not a regular file"), "\(params.stderr)")
        let password = try Support.tool(["pack", input.path, "--db-pass-file", "/dev/zero"], in: work, timeout: .seconds(30))
        #expect(password.status == 1 && password.stderr.contains("/dev/zero: is not a regular file"), "\(password.stderr)")
    }
}

@Suite struct FaultTests {
    /// A pack killed with SIGKILL leaves its temporary file (no handler sees SIGKILL); the next run removes it.
    @Test func aKilledPacksTemporaryFileIsRemovedByTheNextRun() throws {
        let (folder, input) = try PackTests.workspace(extra: ["--bulk-mb", "48"])
        defer { try? FileManager.default.removeItem(at: folder) }
        let output = folder.appendingPathComponent("upgrade_package_new.tar.gz")
        let process = try Support.startTool(["pack", input.path, "-o", output.path, "--compression-level", "9", "--keep", "DB_PASS"])
        let deadline = Date().addingTimeInterval(30)
        var seen = false
        while Date() < deadline, !seen {
            seen = try Support.files(in: folder).contains { $0.hasPrefix(".upgrade_package_new.tar.gz.fate-upgrade-tmp-") }
            usleep(10_000)
        }
        #expect(seen)
        kill(process.pid, SIGKILL)
        _ = process.wait(timeout: .seconds(30))
        #expect(try Support.files(in: folder).contains { $0.hasPrefix(".upgrade_package_new.tar.gz.fate-upgrade-tmp-") })
        let again = try Support.tool(["pack", input.path, "-o", output.path, "--keep", "DB_PASS"])
        #expect(again.status == 0, "\(again.stderr)")
        #expect(try Support.files(in: folder) == [input.lastPathComponent, "upgrade_package_new.tar.gz", "upgrade_package_new.tar.gz.sha256"])
    }

    /// Ctrl-C at the password prompt gives the terminal its echo back.
    @Test func ctrlCAtThePasswordPromptRestoresEcho() throws {
        let (folder, input) = try PackTests.workspace()
        defer { try? FileManager.default.removeItem(at: folder) }
        // An asynchronous command of a non-interactive sh reads /dev/null unless told otherwise (<&3).
        let inner = "exec 3<&0; '\(Support.binary)' pack '\(input.path)' --db-pass-stdin <&3 & p=$!; sleep 1; stty -a | grep -o -- '-echo ' ; kill -INT $p; wait $p; echo status=$?; stty -a"
        let steps = folder.appendingPathComponent("steps.sh")
        try Data(inner.utf8).write(to: steps)
        // script(1) gives the prompt a terminal; its own input is a pipe that stays open (EOF would end the prompt).
        let run = try Support.run("sh", ["-c", "sleep 6 | script -qec \"sh $1\" /dev/null", "sh", steps.path], in: folder, timeout: .seconds(60))
        let text = run.stdout.replacingOccurrences(of: "\r", with: "")
        #expect(text.contains("DB_PASS: "), "\(text)")
        #expect(text.contains("-echo "), "echo was not off at the prompt: \(text)")
        #expect(text.contains("status=130"), "\(text)")
        let after = try #require(text.components(separatedBy: "status=130").last)
        #expect(after.contains(" echo ") && !after.contains("-echo "), "\(after)")
    }

    /// Devices and symlinks are never replaced, not even with --force.
    @Test(arguments: ["/dev/null", "/dev/stdout"])
    func anOutputThatIsNotAFileIsNeverReplaced(output: String) throws {
        let (folder, input) = try PackTests.workspace()
        defer { try? FileManager.default.removeItem(at: folder) }
        var before = stat()
        lstat(output, &before)
        let run = try Support.tool(["pack", input.path, "-o", output, "--force", "--keep", "DB_PASS"], in: folder)
        #expect(run.status == 1, "\(run.output)")
        #expect(run.stderr.contains(output == "/dev/null" ? "it is not a regular file" : "it is a symbolic link"), "\(run.stderr)")
        var after = stat()
        lstat(output, &after)
        #expect(after.st_ino == before.st_ino && after.st_mode == before.st_mode)
    }

    /// A full disk is named as such.
    @Test func aFullDiskSaysNoSpace() throws {
        try #require(getuid() == 0, "mounts a small tmpfs in a namespace: needs root, as CI has")
        let (folder, input) = try PackTests.workspace(extra: ["--bulk-mb", "8"])
        defer { try? FileManager.default.removeItem(at: folder) }
        let small = folder.appendingPathComponent("small")
        try FileManager.default.createDirectory(at: small, withIntermediateDirectories: true)
        let run = try Support.run("unshare", ["-m", "sh", "-c", "mount -t tmpfs -o size=1m tmpfs \"$1\" || exit 99; shift; \"$@\"; s=$?; ls -A \"$0\"; exit $s",
                                              small.path, small.path, Support.binary, "pack", input.path, "-o", small.appendingPathComponent("out.tar.gz").path,
                                              "--keep", "DB_PASS"])
        #expect(run.status == 1, "\(run.output)")
        #expect(run.stderr.contains("no space left on the file system (ENOSPC)"), "\(run.stderr)")
        #expect(run.stdout.isEmpty, "left behind: \(run.stdout)")
    }
}

/// State that could be turned against the host, and secrets that must not leak (issue 10).
@Suite(.serialized) struct StateAndSecretsTests {
    typealias Scenario = ApplyRollbackTests.Scenario

    /// One run per FATE_ROOT: a second apply (or rollback) while one runs is refused at once, naming the holder;
    /// core dumps are off for the running tool (they would hold DB_PASS).
    @Test func aSecondRunWaitsForNoOneAndIsRefused() throws {
        let folder = try Support.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let scenario = try Scenario(.allinone, script: try Scenario.pausingScript(seconds: 6, in: folder))
        defer { scenario.remove() }
        let first = try Support.startTool(["apply", scenario.package.path, "--component", "fatepython", "--model-store", "database"], environment: scenario.environment)
        #expect(scenario.waitUntilPythonIsMovedAside())
        let limits = try String(contentsOfFile: "/proc/\(first.pid)/limits", encoding: .utf8)
        #expect(limits.split(separator: "\n").first { $0.hasPrefix("Max core file size") }?.split(separator: " ", omittingEmptySubsequences: true).dropFirst(4).first == "0",
                "\(limits)")
        let second = try scenario.apply(["--component", "mysql"])
        #expect(second.status == 1)
        #expect(second.stderr.contains("another fate-upgrade run holds \(scenario.root) (pid \(first.pid): \(Support.binary) apply"), "\(second.stderr)")
        let rollback = try scenario.rollback()
        #expect(rollback.status == 1 && rollback.stderr.contains("another fate-upgrade run holds"), "\(rollback.stderr)")
        let done = first.wait(timeout: .seconds(120))
        #expect(done.termination == .exited(0), "\(done.stdoutText)\(done.stderrText)")
    }

    /// The state folder must be a real folder, ours, readable by us only.
    @Test func aStateFolderThatIsALinkOrOpenToOthersIsRefused() throws {
        let scenario = try Scenario(.allinone)
        defer { scenario.remove() }
        let state = scenario.sandbox.fateRoot.appendingPathComponent(".fate-upgrade")
        let elsewhere = scenario.folder.appendingPathComponent("elsewhere")
        try FileManager.default.createDirectory(at: elsewhere, withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(at: state, withDestinationURL: elsewhere)
        let linked = try scenario.apply(["--component", "fatepython"])
        #expect(linked.status == 1 && linked.stderr.contains("\(state.path) is a symbolic link"), "\(linked.stderr)")
        #expect(try Support.files(in: elsewhere).isEmpty)
        try FileManager.default.removeItem(at: state)
        try FileManager.default.createDirectory(at: state, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o755])
        let open = try scenario.apply(["--component", "fatepython"])
        #expect(open.status == 1 && open.stderr.contains("can be read by other users (mode 755)"), "\(open.stderr)")
    }

    /// rollback does not follow an edited journal: an id with ../, another FATE_ROOT, parameters that the
    /// package's script contradicts; and it restores only a real backup folder, never a link.
    @Test func anEditedJournalIsNotFollowed() throws {
        let scenario = try Scenario(.allinone)
        defer { scenario.remove() }
        let applied = try scenario.apply(["--component", "fatepython", "--no-confmigrate"])
        #expect(applied.status == 0, "\(applied.output)")
        let folder = scenario.sandbox.fateRoot.appendingPathComponent(".fate-upgrade/journal")
        let name = try #require(try Support.files(in: folder).first)
        let original = try String(contentsOf: folder.appendingPathComponent(name), encoding: .utf8)
        let tampered: [(String, String, String)] = [
            ("\"id\" : \"\(name.dropLast(5))\"", "\"id\" : \"../../../tmp/x\"", "its id '../../../tmp/x' is not"),
            ("\"FATE_ROOT\" : \"\(scenario.root)\"", "\"FATE_ROOT\" : \"/\"", "it records FATE_ROOT /, not"),
            ("\"SUPERVISOR_ROOT\" : \"\(scenario.sandbox.supervisorRoot.path)\"", "\"SUPERVISOR_ROOT\" : \"/tmp/evil\"", "SUPERVISOR_ROOT is /tmp/evil here but"),
        ]
        for (from, to, message) in tampered {
            #expect(original.contains(from), "\(from)")
            try Data(original.replacingOccurrences(of: from, with: to).utf8).write(to: folder.appendingPathComponent(name))
            let run = try scenario.rollback(["--plan"])
            #expect(run.status == 1 && run.stderr.contains(message), "\(run.stderr)")
        }
        try Data(original.utf8).write(to: folder.appendingPathComponent(name))
        // A link named like a newer backup is not restored: only the real folder the journal recorded.
        let backups = try Support.files(in: scenario.sandbox.fateRoot).filter { $0.hasPrefix("python_2") }
        #expect(backups.count == 1)
        try FileManager.default.createSymbolicLink(atPath: scenario.sandbox.fateRoot.appendingPathComponent("python_29991231235959").path,
                                                   withDestinationPath: "/etc")
        let plan = try scenario.rollback(["--plan"])
        #expect(plan.status == 0 && plan.stdout.contains("mv \(backups[0]) python") && !plan.stdout.contains("python_29991231235959"), "\(plan.stdout)")
    }

    /// No secret in usage errors; children started by rollback get no FATE_DB_PASS, so fate_flow does not
    /// carry it for its whole life.
    @Test func secretsStayOutOfErrorsAndChildren() throws {
        let (work, input) = try PackTests.workspace()
        defer { try? FileManager.default.removeItem(at: work) }
        let usage = try Support.tool(["pack", input.path, "--set", "S3cret-Value-Without-Name"], in: work)
        #expect(usage.status == 64 && !usage.output.contains("S3cret"), "\(usage.output)")

        let scenario = try Scenario(.allinone)
        defer { scenario.remove() }
        #expect(try scenario.apply(["--component", "all"]).status == 0)
        let rolledBack = try Support.tool(["rollback", "--fate-root", scenario.root], environment: scenario.environment.merging(["FATE_DB_PASS": MariaDB.packagePassword]) { $1 })
        #expect(rolledBack.status == 0, "\(rolledBack.output)")
        let server = try #require(scenario.sandbox.runningPids().first)
        let environment = try Data(contentsOf: URL(fileURLWithPath: "/proc/\(server)/environ"))
        #expect(!String(decoding: environment, as: UTF8.self).contains("FATE_DB_PASS"))
        #expect(!String(decoding: environment, as: UTF8.self).contains(MariaDB.packagePassword))
    }

    /// SIGTERM while mysql runs in preflight: the option file holding the password is removed all the same.
    @Test func aSignalDuringPreflightLeavesNoOptionFile() throws {
        let scenario = try Scenario(.allinone)
        defer { scenario.remove() }
        let client = scenario.sandbox.mysqlRoot.appendingPathComponent("bin/mysql")
        let real = try FileManager.default.destinationOfSymbolicLink(atPath: client.path)
        try FileManager.default.removeItem(at: client)
        try Data("#!/bin/sh\nsleep 30\nexec \(real) \"$@\"\n".utf8).write(to: client)
        chmod(client.path, 0o755)
        let temporary = scenario.folder.appendingPathComponent("tmp")
        try FileManager.default.createDirectory(at: temporary, withIntermediateDirectories: true)
        let apply = try Support.startTool(["apply", scenario.package.path, "--component", "mysql"],
                                          environment: scenario.environment.merging(["TMPDIR": temporary.path]) { $1 })
        let secrets = temporary.appendingPathComponent("fate-upgrade-\(geteuid())")
        #expect(Self.waitForOptionFile(in: secrets) != nil, "the option file never appeared")
        kill(apply.pid, SIGTERM)
        let result = apply.wait(timeout: .seconds(30))
        #expect(result.termination != .exited(0))
        let left = try Support.files(in: secrets).flatMap { try Support.files(in: secrets.appendingPathComponent($0)) }
        #expect(!left.contains("client.cnf"), "the option file is still there")
    }

    /// The mysql option file's folder, once it holds client.cnf (at most 30 s).
    static func waitForOptionFile(in secrets: URL) -> String? {
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline {
            let found = ((try? Support.files(in: secrets)) ?? []).first { $0.hasPrefix("mysql-") }
                .flatMap { folder in ((try? Support.files(in: secrets.appendingPathComponent(folder))) ?? []).contains("client.cnf") ? folder : nil }
            if let found { return found }
            usleep(20_000)
        }
        return nil
    }

    /// SIGKILL while the option file exists: no handler runs, so it stays — in the one folder the
    /// next run looks in, which removes it (the process that made it is gone) and says so.
    @Test func anOptionFileLeftBySIGKILLIsRemovedByTheNextRunWhichSaysSo() throws {
        let scenario = try Scenario(.allinone)
        defer { scenario.remove() }
        let client = scenario.sandbox.mysqlRoot.appendingPathComponent("bin/mysql")
        let real = try FileManager.default.destinationOfSymbolicLink(atPath: client.path)
        try FileManager.default.removeItem(at: client)
        try Data("#!/bin/sh\nsleep 30\nexec \(real) \"$@\"\n".utf8).write(to: client)
        chmod(client.path, 0o755)
        let temporary = scenario.folder.appendingPathComponent("tmp")
        try FileManager.default.createDirectory(at: temporary, withIntermediateDirectories: true)
        let environment = scenario.environment.merging(["TMPDIR": temporary.path]) { $1 }
        let apply = try Support.startTool(["apply", scenario.package.path, "--component", "mysql"], environment: environment)
        let secrets = temporary.appendingPathComponent("fate-upgrade-\(geteuid())")
        let folder = try #require(Self.waitForOptionFile(in: secrets), "the option file never appeared")
        var info = stat()
        #expect(lstat(secrets.path, &info) == 0 && info.st_mode & 0o777 == 0o700)
        kill(apply.pid, SIGKILL)
        _ = apply.wait(timeout: .seconds(30))
        #expect(try Support.files(in: secrets.appendingPathComponent(folder)).contains("client.cnf"), "SIGKILL leaves it")
        try FileManager.default.removeItem(at: client)
        try FileManager.default.createSymbolicLink(atPath: client.path, withDestinationPath: real)
        let status = try Support.tool(["status", "--fate-root", scenario.root], environment: environment)
        #expect(status.status == 0, "\(status.output)")
        #expect(status.stdout.contains("removed \(secrets.path)/\(folder)"), "\(status.output)")
        #expect(!(try Support.files(in: secrets)).contains(folder))
        // A folder of that name that is not ours is never written through.
        try FileManager.default.removeItem(at: secrets)
        try FileManager.default.createSymbolicLink(atPath: secrets.path, withDestinationPath: scenario.folder.path)
        let refused = try Support.tool(["apply", scenario.package.path, "--component", "mysql", "--plan"], environment: environment)
        #expect(refused.status != 0 && refused.stderr.contains("\(secrets.path) is not a folder of ours"), "\(refused.output)")
    }
}

/// Values are carried byte for byte: never normalized, never replaced (issue 10).
@Suite struct ByteExactValueTests {
    @Test func passwordsArriveByteForByteOrAreRefused() throws {
        let (folder, input) = try PackTests.workspace()
        defer { try? FileManager.default.removeItem(at: folder) }
        // NFC é (C3 A9) and the Ångström sign U+212B (E2 84 AB), which normalization would turn into U+00C5.
        let password = "caf\u{00E9}-\u{212B}"
        let packed = try Support.tool(["pack", input.path, "-o", folder.appendingPathComponent("a.tar.gz").path], environment: ["FATE_DB_PASS": password])
        #expect(packed.status == 0, "\(packed.stderr)")
        let script = try Support.memberBytes("upgrade_package/upgrade_script.sh", of: folder.appendingPathComponent("a.tar.gz"))
        let line = try #require(script.split(separator: 0x0A).first { $0.starts(with: Array("DB_PASS=".utf8)) })
        #expect(Array(line) == Array("DB_PASS='caf".utf8) + [0xC3, 0xA9, 0x2D, 0xE2, 0x84, 0xAB, 0x27])
        // A Latin-1 byte cannot be carried as text: refused, naming the file, never turned into U+FFFD.
        let latin1 = folder.appendingPathComponent("password")
        try Data([0x78, 0xE9, 0x79, 0x0A]).write(to: latin1)
        let refused = try Support.tool(["pack", input.path, "-o", folder.appendingPathComponent("b.tar.gz").path, "--db-pass-file", latin1.path])
        #expect(refused.status == 1 && refused.stderr.contains("\(latin1.path):1: the password is not UTF-8 text"), "\(refused.stderr)")
        #expect(!FileManager.default.fileExists(atPath: folder.appendingPathComponent("b.tar.gz").path))
    }
}
