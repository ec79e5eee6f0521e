import FateUpgradeCore
import FateUpgradeHost
import Foundation
import Testing

/// The release that operators copy to FATE hosts (issue 8): `scripts/release` (run by the README's test
/// command before the tests) builds one fully static binary; it must run where nothing else is — an empty
/// chroot with no C library, no /etc/passwd, no nsswitch.conf — and on CentOS 7's kernel, simulated by a
/// seccomp filter that makes every system call newer than Linux 3.10 fail with ENOSYS.
@Suite(.serialized) struct StaticReleaseTests {
    /// dist/fate-upgrade-VERSION-linux-x86_64/, as scripts/release leaves it.
    static func releaseFolder() throws -> URL {
        if let given = ProcessInfo.processInfo.environment["FATE_UPGRADE_RELEASE"] { return URL(fileURLWithPath: given) }
        let dist = Support.repository.appendingPathComponent("dist")
        guard let name = try? String(contentsOf: dist.appendingPathComponent("LATEST"), encoding: .utf8)
            .trimmingCharacters(in: .whitespacesAndNewlines), !name.isEmpty else {
            throw Failure("no release in \(dist.path): run scripts/release first (scripts/test does)")
        }
        return dist.appendingPathComponent(name)
    }

    static var binary: String { get throws { try releaseFolder().appendingPathComponent("bin/fate-upgrade").path } }

    @Test func theArchiveHoldsAStaticBinaryCompletionsManPagesAndAChecksum() throws {
        let folder = try Self.releaseFolder()
        let archive = folder.deletingLastPathComponent().appendingPathComponent(folder.lastPathComponent + ".tar.gz")
        let check = try Support.run("sha256sum", ["-c", archive.lastPathComponent + ".sha256"], in: archive.deletingLastPathComponent())
        #expect(check.status == 0, "\(check.output)")
        let listing = try Support.run("tar", ["tzf", archive.path])
        for member in ["bin/fate-upgrade", "completions/fate-upgrade.bash", "completions/_fate-upgrade", "completions/fate-upgrade.fish",
                       "man/man1/fate-upgrade.1", "man/man1/fate-upgrade-pack.1", "man/man1/fate-upgrade-inspect.1",
                       "man/man1/fate-upgrade-confmigrate.1", "man/man1/fate-upgrade-apply.1", "man/man1/fate-upgrade-rollback.1",
                       "man/man1/fate-upgrade-status.1", "man/man1/fate-upgrade-verify.1", "man/man1/fate-upgrade-cleanup.1", "install.sh",
                       "ansible/upgrade.yml", "ansible/rollback.yml", "ansible/roles/fate_upgrade/tasks/apply.yml", "ansible/inventory.example.ini"] {
            #expect(listing.stdout.contains("\(folder.lastPathComponent)/\(member)\n"), "\(member) missing")
        }
        let binary = try Self.binary
        #expect(try Support.run("file", ["-b", binary]).stdout.contains("statically linked"))
        #expect(try Support.run("ldd", [binary]).output.contains("not a dynamic executable"))
        var info = stat()
        #expect(stat(binary, &info) == 0 && info.st_size <= 40 << 20, "\(info.st_size) bytes")
        let version = try Support.run(binary, ["--version"])
        let commit = try Support.run("git", ["-C", Support.repository.path, "rev-parse", "--short=12", "HEAD"]).stdout
            .trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(version.stdout.hasPrefix("0.") && version.stdout.contains("(commit \(commit)"), "\(version.stdout)")
        let bash = try String(contentsOf: folder.appendingPathComponent("completions/fate-upgrade.bash"), encoding: .utf8)
        #expect(bash.contains("confmigrate") && bash.contains("--db-pass-stdin"))
        // Named as git's are, with each option's values and the exit statuses; none for hidden commands.
        let manual = try Support.run("man", ["-l", "-P", "cat", folder.appendingPathComponent("man/man1/fate-upgrade-apply.1").path],
                                     environment: ["MANWIDTH": "100"])
        #expect(manual.stdout.contains("--allow-root") && manual.stdout.contains("--component all|mysql|fatepython|fateflow")
                && manual.stdout.contains("--role fateflow|nodemanager") && manual.stdout.contains("Exit status: 0 when done"), "\(manual.output)")
        let pages = try Support.files(in: folder.appendingPathComponent("man/man1"))
        #expect(!pages.contains { $0.contains("extract") || $0.contains("snapshot") || $0.contains("help") || $0.contains(".apply") }, "\(pages)")
        let root = try String(contentsOf: folder.appendingPathComponent("man/man1/fate-upgrade.1"), encoding: .utf8)
        #expect(root.contains(".Xr fate-upgrade-apply 1") && !root.contains("snapshot") && !root.contains("fate-upgrade.apply"), "\(root)")
    }

    /// A FATE host as the binary sees it from an empty root: the binary, /proc, /dev/null, /dev/urandom, the
    /// fixture files and a static busybox as /bin/sh; no libc, no /etc at all.
    struct EmptyRoot {
        let root: URL
        init() throws {
            root = try Support.shortTemporaryFolder("fate-chroot")
            let manager = FileManager.default
            for folder in ["proc", "dev", "bin", "work", "fate/python/arch/conf", "fate/python_20200901120000"] {
                try manager.createDirectory(at: root.appendingPathComponent(folder), withIntermediateDirectories: true)
            }
            #expect(try Support.run("mknod", ["-m", "666", root.appendingPathComponent("dev/null").path, "c", "1", "3"]).status == 0)
            #expect(try Support.run("mknod", ["-m", "444", root.appendingPathComponent("dev/urandom").path, "c", "1", "9"]).status == 0)
            try manager.copyItem(atPath: try StaticReleaseTests.binary, toPath: root.appendingPathComponent("fate-upgrade").path)
            try manager.copyItem(atPath: "/bin/busybox", toPath: root.appendingPathComponent("bin/sh").path)
            try manager.copyItem(at: Support.repository.appendingPathComponent("pack/sample/upgrade_1_4_0-1_4_4.tar.gz"),
                                 to: root.appendingPathComponent("work/upgrade_1_4_0-1_4_4.tar.gz"))
            try manager.copyItem(at: Support.fixtures.appendingPathComponent("conf/base_conf-1.4.4.yaml"),
                                 to: root.appendingPathComponent("fate/python/arch/conf/base_conf.yaml"))
            try manager.copyItem(at: Support.fixtures.appendingPathComponent("fate-release/v1.4.0/fate_flow"),
                                 to: root.appendingPathComponent("fate/python_20200901120000/fate_flow"))
        }

        func remove() { try? FileManager.default.removeItem(at: root) }

        /// The commands of the issue, each with what its output must show.
        static let commands: [(arguments: [String], expect: String)] = [
            (["--version"], "0."),
            (["inspect", "/work/upgrade_1_4_0-1_4_4.tar.gz"], "DB_PASS              fate_dev (the package default"),
            (["pack", "/work/upgrade_1_4_0-1_4_4.tar.gz", "-o", "/work/upgrade_package_new.tar.gz", "--force",
              "--set", "FATE_ROOT=/fate", "--set", "FATE_FLOW_ROOT=$FATE_ROOT/python/fate_flow", "--set", "PYTHON_PACKAGE_PATH=~/upgrade_package/upgrade_python_package.tar.gz",
              "--set", "DEPLOY_METHOD=allinone"], "wrote /work/upgrade_package_new.tar.gz: 14 entries"),
            (["confmigrate", "--fate-root", "/fate", "--upgrade-package", "/work/upgrade_package", "--dry-run"], "dry run: nothing changed"),
            (["apply", "/work/upgrade_package_new.tar.gz", "--component", "fatepython", "--plan"], "plan for --component fatepython"),
        ]

        /// Runs each command in the root, through `wrapper` (the seccomp filter, or nothing), with /proc mounted
        /// in a mount namespace of its own.
        func runAll(underOldKernel: Bool, denied: URL? = nil) throws -> [Run] {
            try Self.commands.map { command in
                let inner = underOldKernel
                    ? ["/usr/bin/python3", Support.fixtures.appendingPathComponent("old_kernel.py").path]
                        + (denied.map { ["--denied", $0.path] } ?? []) + ["--chroot", root.path, "/fate-upgrade"]
                    : ["chroot", root.path, "/fate-upgrade"]
                return try Support.run("unshare", ["-m", "--", "sh", "-c", "mount -t proc proc \"$1/proc\" || exit 99; shift; exec \"$@\"",
                                                   "sh", root.path] + inner + command.arguments,
                                       environment: ["HOME": "/work", "FATE_DB_PASS": "Chroot-Pa55", "LANG": "C.UTF-8"], timeout: .seconds(60))
            }
        }
    }

    @Test func theReleaseRunsInAnEmptyRoot() throws {
        try #require(getuid() == 0, "chroot and mount need root, as CI has")
        let empty = try EmptyRoot()
        defer { empty.remove() }
        let runs = try empty.runAll(underOldKernel: false)
        for (run, command) in zip(runs, EmptyRoot.commands) {
            #expect(run.status == 0, "\(command.arguments.joined(separator: " ")): \(run.output)")
            #expect(run.output.contains(command.expect), "\(command.arguments.first ?? ""): \(run.output)")
        }
        // The package written in the empty root is a real one: Python's tarfile reads it, names intact.
        let members = try Support.members(of: empty.root.appendingPathComponent("work/upgrade_package_new.tar.gz")).map { $0["name"] ?? "" }
        let original = try Support.members(of: Support.repository.appendingPathComponent("pack/sample/upgrade_1_4_0-1_4_4.tar.gz")).map { $0["name"] ?? "" }
        #expect(members == original)
    }

    /// As on CentOS 7's kernel: every system call added after Linux 3.10 fails with ENOSYS, and the binary must
    /// fall back wherever it (or the Swift runtime, or the C library) would use one.
    @Test func theReleaseRunsOnALinux310Kernel() throws {
        try #require(getuid() == 0, "chroot and mount need root, as CI has")
        let empty = try EmptyRoot()
        defer { empty.remove() }
        let denied = empty.root.deletingLastPathComponent().appendingPathComponent(empty.root.lastPathComponent + ".denied")
        defer { try? FileManager.default.removeItem(at: denied) }
        let runs = try empty.runAll(underOldKernel: true, denied: denied)
        for (run, command) in zip(runs, EmptyRoot.commands) {
            #expect(run.status == 0, "\(command.arguments.joined(separator: " ")): \(run.output)")
            #expect(run.output.contains(command.expect), "\(command.arguments.first ?? ""): \(run.output)")
        }
        let calls = Set(try String(contentsOf: denied, encoding: .utf8).split(separator: "\n").map(String.init))
        for call in ["getrandom", "statx", "renameat2", "clone3", "close_range", "pidfd_open", "pidfd_send_signal", "faccessat2",
                     "openat2", "copy_file_range", "memfd_create", "execveat", "rseq", "membarrier"] {
            #expect(calls.contains(call), "\(call) was not denied")
        }
    }

    /// No name service, no shared library: strace of every command sees no libnss_*, no nsswitch.conf, no .so.
    @Test func theReleaseNeverReachesForNSSOrASharedLibrary() throws {
        try #require(getuid() == 0, "chroot and mount need root, as CI has")
        let empty = try EmptyRoot()
        defer { empty.remove() }
        for command in EmptyRoot.commands {
            let log = empty.root.appendingPathComponent("strace.log")
            let run = try Support.run("unshare", ["-m", "--", "sh", "-c", "mount -t proc proc \"$1/proc\" || exit 99; shift; exec \"$@\"", "sh",
                                                  empty.root.path, "strace", "-f", "-qq", "-e", "trace=%file", "-o", log.path,
                                                  "chroot", empty.root.path, "/fate-upgrade"] + command.arguments,
                                      environment: ["HOME": "/work", "FATE_DB_PASS": "Chroot-Pa55"], timeout: .seconds(60))
            #expect(run.status == 0, "\(command.arguments.first ?? ""): \(run.output)")
            let trace = try String(contentsOf: log, encoding: .utf8)
            // Everything after chroot(2) execs /fate-upgrade is the binary's own.
            guard let start = trace.range(of: "execve(\"/fate-upgrade\"") else {
                Issue.record("no execve of /fate-upgrade in the trace:\n\(trace)")
                continue
            }
            let own = trace[start.lowerBound...].split(separator: "\n")
            let offending = own.filter { $0.contains("libnss_") || $0.contains("nsswitch.conf") || $0.contains(".so\"") || $0.contains(".so.") }
            #expect(offending.isEmpty, "\(command.arguments.first ?? ""): \(offending.joined(separator: "\n"))")
        }
    }
}

/// The release binary doing a whole upgrade and rollback on a sandbox host under the Linux 3.10 filter: its
/// children are started with fork/exec, descriptors closed without close_range, ended with waitpid.
@Suite(.serialized) struct StaticReleaseOnOldKernelTests {
    @Test func aWholeUpgradeAndRollbackRunUnderTheLinux310Filter() throws {
        let binary = try StaticReleaseTests.binary
        let scenario = try ApplyRollbackTests.Scenario(.allinone)
        defer { scenario.remove() }
        let treeBefore = try scenario.sandbox.treeSnapshot("python")
        let tablesBefore = try scenario.tables()
        let oldKernel = ["/usr/bin/python3", Support.fixtures.appendingPathComponent("old_kernel.py").path, binary]
        let applied = try Support.run(oldKernel[0], Array(oldKernel.dropFirst()) + ["apply", scenario.package.path, "--component", "all", "--model-store", "database"],
                                      environment: scenario.environment, timeout: .seconds(120))
        #expect(applied.status == 0, "\(applied.output)")
        #expect(applied.stdout.contains("INFO: Upgrading process finished."))
        #expect(applied.stdout.contains("started fate_flow from the new tree with the site's settings"))
        #expect(scenario.sandbox.isFateFlowRunning())
        #expect(applied.stdout.contains("snapshot of fate_flow:"))
        // The commands that look at the host: /proc, a TCP probe, mysql; the same filter.
        let state = try Support.run(oldKernel[0], Array(oldKernel.dropFirst()) + ["status", "--fate-root", scenario.root],
                                    environment: scenario.environment, timeout: .seconds(120))
        #expect(state.status == 0 && state.stdout.contains("fate_flow schema: 1.4.4"), "\(state.output)")
        let verified = try Support.run(oldKernel[0], Array(oldKernel.dropFirst()) + ["verify", "--fate-root", scenario.root],
                                       environment: scenario.environment, timeout: .seconds(120))
        #expect(verified.status == 0, "\(verified.output)")
        let rolledBack = try Support.run(oldKernel[0], Array(oldKernel.dropFirst()) + ["rollback", "--fate-root", scenario.root, "--from-snapshot"],
                                         environment: scenario.environment, timeout: .seconds(120))
        #expect(rolledBack.status == 0, "\(rolledBack.output)")
        #expect(try scenario.sandbox.treeSnapshot("python") == treeBefore)
        #expect(try scenario.tables() == tablesBefore)
        #expect(scenario.sandbox.isFateFlowRunning())
    }
}
