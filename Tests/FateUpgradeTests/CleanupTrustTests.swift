import FateUpgradeCore
import FateUpgradeHost
import Foundation
import Glibc
import Testing

/// What is under FATE_ROOT/.fate-upgrade is the FATE user's to edit; cleanup and the journal reader
/// must not be turned by it. Root against a tree owned by another user, real MariaDB, the real binary.
@Suite(.serialized) struct CleanupTrustTests {
    typealias Scenario = ApplyRollbackTests.Scenario
    static let user = "fateapp"

    /// The FATE deploy user, made when missing (CI is root; see RealHostTests).
    static func fateUser() throws -> uid_t {
        try #require(getuid() == 0, "these tests act as root on a tree another user owns, as CI can")
        if try Support.run("id", ["-u", user]).status != 0 {
            let made = try Support.run("useradd", ["--system", "--no-create-home", "--shell", "/bin/sh", user])
            try #require(made.status == 0, "useradd: \(made.output)")
        }
        return try #require(uid_t(try Support.run("id", ["-u", user]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)))
    }

    static func handOver(_ scenario: Scenario) throws {
        chmod(scenario.sandbox.folder.path, 0o755)
        let owned = try Support.run("chown", ["-R", user, scenario.root])
        try #require(owned.status == 0, "chown: \(owned.output)")
    }

    static func cleanup(_ scenario: Scenario, _ extra: [String], root: String? = nil) throws -> (Run, CleanupOperation.Report?) {
        let run = try Support.tool(["cleanup", "--fate-root", root ?? scenario.root, "--snapshots-older-than", "0", "--json"] + extra,
                                   environment: scenario.environment)
        return (run, try? JSONDecoder().decode(CleanupOperation.Report.self, from: Data(run.stdout.utf8)))
    }

    /// Rewrites the one journal there as `edit` says, keeping its owner and mode (the FATE user's edit).
    static func editJournal(_ scenario: Scenario, _ edit: (inout [String: Any]) -> Void) throws {
        let folder = scenario.sandbox.fateRoot.appendingPathComponent(".fate-upgrade/journal")
        let name = try #require(try Support.files(in: folder).last)
        let file = folder.appendingPathComponent(name)
        var journal = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: file)) as? [String: Any])
        edit(&journal)
        let owner = FileOwner.of(file.path)
        try JSONSerialization.data(withJSONObject: journal, options: [.prettyPrinted, .sortedKeys]).write(to: file)
        if let owner { chown(file.path, owner.uid, owner.gid) }
        chmod(file.path, 0o600)
    }

    /// Bytes and links of every file below `folder`, to show it untouched.
    static func contents(_ folder: URL) throws -> [String: String] {
        var found: [String: String] = [:]
        for name in try Support.files(in: folder) {
            let url = folder.appendingPathComponent(name)
            var info = stat()
            guard lstat(url.path, &info) == 0 else { continue }
            switch info.st_mode & S_IFMT {
            case S_IFDIR: try contents(url).forEach { found["\(name)/\($0.key)"] = $0.value }
            case S_IFLNK: found[name] = "-> " + ((try? FileManager.default.destinationOfSymbolicLink(atPath: url.path)) ?? "?")
            default: found[name] = (try? String(contentsOf: url, encoding: .utf8)) ?? "?"
            }
        }
        return found
    }

    /// An outside folder and file a hostile journal or symlink points at.
    static func victims() throws -> (folder: URL, file: URL) {
        let outside = try Support.temporaryFolder()
        let folder = outside.appendingPathComponent("precious")
        try FileManager.default.createDirectory(at: folder.appendingPathComponent("deep"), withIntermediateDirectories: true)
        try Data("keep me\n".utf8).write(to: folder.appendingPathComponent("deep/data"))
        let file = outside.appendingPathComponent("precious.tar.gz")
        try Data("also keep me\n".utf8).write(to: file)
        return (folder, file)
    }

    /// A journal edited to name an outside folder and file as its work folder and package, and
    /// symlinks planted where cleanup removes: as root, --yes needs --allow-root; with it, only
    /// what the naming scheme names below FATE_ROOT goes, symlinks are removed as links, and
    /// nothing outside changes.
    @Test func rootCleansAnotherUsersTreeOnlyWhenToldAndNeverOutsideIt() throws {
        let uid = try Self.fateUser()
        let scenario = try Scenario(.allinone)
        defer { scenario.remove() }
        #expect(try scenario.apply(["--component", "all"]).status == 0)
        let back = try scenario.rollback()
        #expect(back.status == 0, "\(back.output)")
        let (outside, file) = try Self.victims()
        defer { try? FileManager.default.removeItem(at: outside.deletingLastPathComponent()) }
        let before = try Self.contents(outside.deletingLastPathComponent())
        try Self.editJournal(scenario) { journal in
            journal["workFolder"] = outside.path
            journal["package"] = file.path
        }
        // Inside what cleanup removes: links to the outside folder and file, which must go as links.
        let root = try #require(HostFacts.realPath(scenario.root))
        let upgraded = URL(fileURLWithPath: root).appendingPathComponent("python_upgrade_backup")
        #expect(FileManager.default.fileExists(atPath: upgraded.path))
        symlink(outside.path, upgraded.appendingPathComponent("link-to-folder").path)
        try FileManager.default.createDirectory(at: upgraded.appendingPathComponent("nested"), withIntermediateDirectories: true)
        symlink(file.path, upgraded.appendingPathComponent("nested/link-to-file").path)
        try Self.handOver(scenario)

        // Listing says what --yes needs; --yes without --allow-root is refused, nothing removed.
        let (planned, plan) = try Self.cleanup(scenario, ["--plan"])
        #expect(planned.status == 0, "\(planned.output)")
        let listed = try #require(plan, "\(planned.stdout)")
        #expect(listed.notes.contains { $0.contains("owned by \(Self.user)") && $0.contains("--yes needs --allow-root") }, "\(listed.notes)")
        #expect(listed.notes.contains { $0.contains(file.path) && $0.contains("removes nothing outside FATE_ROOT") }, "\(listed.notes)")
        #expect(listed.remove.allSatisfy { $0.kind == .table || $0.name.hasPrefix(root + "/") }, "\(listed.remove)")
        #expect(listed.remove.contains { $0.name == upgraded.path })
        let tables = try scenario.mysql.tables()
        let refused = try Self.cleanup(scenario, ["--yes"]).0
        #expect(refused.status == 1)
        #expect(refused.stderr.contains("belongs to \(Self.user) (uid \(uid)), and this is root") && refused.stderr.contains("--allow-root"),
                "\(refused.stderr)")
        #expect(refused.stderr.contains("nothing was removed"))
        #expect(FileManager.default.fileExists(atPath: upgraded.path))
        #expect(try scenario.mysql.tables() == tables)

        let (done, report) = try Self.cleanup(scenario, ["--yes", "--allow-root"])
        #expect(done.status == 0, "\(done.output)")
        let removed = try #require(report, "\(done.stdout)").removed
        #expect(Set(removed) == Set(listed.remove.map(\.name)), "\(removed)")
        #expect(!FileManager.default.fileExists(atPath: upgraded.path))
        #expect(try Self.contents(outside.deletingLastPathComponent()) == before)
        // What root rewrote (the journal learns what went) is still the owner's.
        for name in try Support.files(in: scenario.sandbox.fateRoot.appendingPathComponent(".fate-upgrade/journal")) {
            #expect(FileOwner.of(root + "/.fate-upgrade/journal/" + name)?.uid == uid, "\(name)")
        }
    }

    /// The symlink swapped in between the check and the removal (the race an attacker runs against
    /// a root cleanup): each way of meeting it refuses or unlinks the link, never what it names.
    @Test func removalBelowAnOpenedFolderNeverFollowsASymlink() throws {
        let uid = try Self.fateUser()
        let root = try Support.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: root) }
        let (outside, file) = try Self.victims()
        defer { try? FileManager.default.removeItem(at: outside.deletingLastPathComponent()) }
        let before = try Self.contents(outside.deletingLastPathComponent())
        let fate = root.appendingPathComponent("fate")
        for folder in ["python_20261201000000/a/b", "state/snapshots", "real/inner"] {
            try FileManager.default.createDirectory(at: fate.appendingPathComponent(folder), withIntermediateDirectories: true)
        }
        try Data("x".utf8).write(to: fate.appendingPathComponent("real/inner/file"))
        #expect(try Support.run("chown", ["-R", Self.user, fate.path]).status == 0)
        let anchor = try AnchoredFolder(fate.path)

        // The listed folder itself is now a link.
        try FileManager.default.removeItem(at: fate.appendingPathComponent("python_20261201000000"))
        symlink(outside.path, fate.appendingPathComponent("python_20261201000000").path)
        #expect(throws: HostError.self) { try anchor.remove("python_20261201000000", kind: .folder) }
        #expect(FileManager.default.fileExists(atPath: fate.appendingPathComponent("python_20261201000000").path))
        // A folder on the way is a link: state → outside, so state/snapshots/x would be outside/x.
        try FileManager.default.removeItem(at: fate.appendingPathComponent("state"))
        symlink(outside.path, fate.appendingPathComponent("state").path)
        #expect(throws: HostError.self) { try anchor.remove("state/deep", kind: .folder) }
        #expect(throws: HostError.self) { try anchor.remove("state/deep/data", kind: .file) }
        // A file swapped for a link to a file.
        symlink(file.path, fate.appendingPathComponent("snapshot.sql.gz").path)
        #expect(throws: HostError.self) { try anchor.remove("snapshot.sql.gz", kind: .file) }
        // Inside a folder being removed, links go as links.
        symlink(outside.path, fate.appendingPathComponent("real/inner/link").path)
        symlink(file.path, fate.appendingPathComponent("real/file-link").path)
        try anchor.remove("real", kind: .folder)
        #expect(!FileManager.default.fileExists(atPath: fate.appendingPathComponent("real").path))
        // The opened folder stays the one opened, even when its path is moved and replaced.
        try FileManager.default.createDirectory(at: fate.appendingPathComponent("gone/x"), withIntermediateDirectories: true)
        rename(fate.path, root.appendingPathComponent("moved").path)
        symlink(outside.path, fate.path)
        try anchor.remove("gone", kind: .folder)
        #expect(!FileManager.default.fileExists(atPath: root.appendingPathComponent("moved/gone").path))
        #expect(try Self.contents(outside.deletingLastPathComponent()) == before)
        #expect(FileOwner.of(root.appendingPathComponent("moved").path)?.uid == uid)
        // A file system mounted inside is not entered.
        let mounted = root.appendingPathComponent("moved/python_20261202000000")
        try FileManager.default.createDirectory(at: mounted, withIntermediateDirectories: true)
        try #require(try Support.run("mount", ["-t", "tmpfs", "-o", "size=1m", "tmpfs", mounted.path]).status == 0)
        defer { _ = try? Support.run("umount", ["-l", mounted.path]) }
        try Data("on its own file system".utf8).write(to: mounted.appendingPathComponent("kept"))
        #expect(throws: HostError.self) { try anchor.remove("python_20261202000000", kind: .folder) }
        #expect(FileManager.default.fileExists(atPath: mounted.appendingPathComponent("kept").path))
        // Not a plain path below: refused.
        for bad in ["../moved", "a/../b", "/etc", ""] {
            #expect(throws: HostError.self, "\(bad)") { try anchor.remove(bad, kind: .folder) }
        }
    }

    /// A run applied and not verified: what its rollback needs is kept whichever way FATE_ROOT is
    /// spelled, and when the journal no longer records the tables or names its snapshot elsewhere.
    @Test func whatAPendingRunNeedsIsKeptHoweverFateRootIsSpelledOrTheJournalEdited() throws {
        let scenario = try Scenario(.allinone)
        defer { scenario.remove() }
        let applied = try scenario.apply(["--component", "all"])
        #expect(applied.status == 0, "\(applied.output)")
        let id = try #require(try scenario.journals().first?["id"] as? String)
        let root = try #require(HostFacts.realPath(scenario.root))
        let backup = try #require(try Support.files(in: scenario.sandbox.fateRoot).first { $0.hasPrefix("python_2") })
        let link = scenario.folder.appendingPathComponent("fate-link")
        try FileManager.default.createSymbolicLink(atPath: link.path, withDestinationPath: scenario.root)
        try Self.editJournal(scenario) { journal in
            var after = journal["after"] as? [String: Any] ?? [:]
            after["backupTables"] = [String]()
            journal["after"] = after
            var snapshot = journal["snapshot"] as? [String: Any] ?? [:]
            snapshot["file"] = scenario.root + "/.fate-upgrade/snapshots/other.sql.gz"
            journal["snapshot"] = snapshot
        }
        let needed = ["\(root)/.fate-upgrade/snapshots/\(id).sql.gz", "\(root)/\(backup)"]
            + upgradedTables.map { "\($0)_backup" }
        let tables = try scenario.mysql.tables()
        for spelling in [scenario.root + "/", scenario.root + "//", link.path, link.path + "/."] {
            let (done, report) = try Self.cleanup(scenario, ["--yes"], root: spelling)
            #expect(done.status == 0, "\(spelling): \(done.output)")
            let kept = try #require(report, "\(done.stdout)").keep.map(\.name)
            for name in needed { #expect(kept.contains(name), "\(spelling): \(name) not kept: \(kept)") }
            #expect(report?.removed.isEmpty == true, "\(spelling): \(report?.removed ?? [])")
        }
        #expect(FileManager.default.fileExists(atPath: needed[0]) && FileManager.default.fileExists(atPath: needed[1]))
        #expect(try scenario.mysql.tables() == tables)
    }

    /// apply killed after it moved python/ aside, before it could record anything: cleanup keeps the
    /// python_<ts> it made (the only copy of the old code), and rollback then restores it.
    @Test func aKilledApplysBackupIsKept() throws {
        let scriptFolder = try Support.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: scriptFolder) }
        let scenario = try Scenario(.allinone, script: try Scenario.pausingScript(seconds: 3, in: scriptFolder))
        defer { scenario.remove() }
        let treeBefore = try scenario.sandbox.treeSnapshot("python")
        let process = try Support.startTool(["apply", scenario.package.path, "--component", "all", "--model-store", "database"],
                                            environment: scenario.environment)
        #expect(scenario.waitUntilPythonIsMovedAside())
        kill(process.pid, SIGKILL)
        _ = process.wait(timeout: .seconds(30))
        sleep(4)
        let backup = try #require(try Support.files(in: scenario.sandbox.fateRoot).first { $0.hasPrefix("python_2") })
        let (done, report) = try Self.cleanup(scenario, ["--yes"])
        #expect(done.status == 0, "\(done.output)")
        let root = try #require(HostFacts.realPath(scenario.root))
        #expect(try #require(report, "\(done.stdout)").keep.map(\.name).contains("\(root)/\(backup)"), "\(report?.keep ?? [])")
        #expect(FileManager.default.fileExists(atPath: "\(scenario.root)/\(backup)"))
        let rolledBack = try scenario.rollback()
        #expect(rolledBack.status == 0, "\(rolledBack.output)")
        #expect(try scenario.sandbox.treeSnapshot("python") == treeBefore)
    }

    /// Journals nobody of ours wrote are not followed: a symlink, another user's, or one others can write.
    @Test func aJournalThatIsALinkAStrangersOrWritableByOthersIsRefused() throws {
        _ = try Self.fateUser()
        let scenario = try Scenario(.allinone)
        defer { scenario.remove() }
        #expect(try scenario.apply(["--component", "mysql"]).status == 0)
        let folder = scenario.sandbox.fateRoot.appendingPathComponent(".fate-upgrade/journal")
        let name = try #require(try Support.files(in: folder).first)
        let file = folder.appendingPathComponent(name)
        let saved = try Data(contentsOf: file)
        let status = { try Support.tool(["status", "--fate-root", scenario.root], environment: scenario.environment) }
        #expect(try status().status == 0)

        chmod(file.path, 0o622)
        var run = try status()
        #expect(run.status != 0 && run.stderr.contains("\(file.path): not followed: other users can write it (mode 622)"), "\(run.stderr)")
        chmod(file.path, 0o600)

        chown(file.path, 65534, 65534)  // nobody: neither root, this user, nor FATE_ROOT's owner
        run = try status()
        #expect(run.stderr.contains("\(file.path): not followed: it belongs to uid 65534"), "\(run.stderr)")
        chown(file.path, 0, 0)

        let elsewhere = scenario.folder.appendingPathComponent("journal.json")
        try saved.write(to: elsewhere)
        try FileManager.default.removeItem(at: file)
        try FileManager.default.createSymbolicLink(atPath: file.path, withDestinationPath: elsewhere.path)
        run = try status()
        #expect(run.stderr.contains("\(file.path): is a symlink; not followed"), "\(run.stderr)")
        // Refused by rollback and cleanup too, before anything changes.
        let tables = try scenario.mysql.tables()
        let rollback = try scenario.rollback()
        #expect(rollback.status != 0 && rollback.stderr.contains("not followed"), "\(rollback.stderr)")
        #expect(try Self.cleanup(scenario, ["--yes"]).0.status != 0)
        #expect(try scenario.mysql.tables() == tables)

        try FileManager.default.removeItem(at: file)
        try saved.write(to: file)
        chmod(folder.path, 0o777)
        run = try status()
        #expect(run.stderr.contains("\(folder.path): not followed: other users can write it (mode 777)"), "\(run.stderr)")
        chmod(folder.path, 0o700)
        #expect(try status().status == 0)
    }

    /// Root restoring the snapshot of a tree another user owns: refused without --allow-root; with it,
    /// a snapshot that user edited (hash rewritten) to run a command, grant, drop another database or
    /// read a file is refused at its line before anything changes; the untouched one is restored,
    /// saying so, and fate_flow runs as the owner.
    @Test func rootRestoresAnotherUsersSnapshotOnlyWhenToldAndOnlyWhatADumpHolds() throws {
        let uid = try Self.fateUser()
        let scenario = try Scenario(.allinone)
        defer { scenario.remove() }
        #expect(try scenario.apply(["--component", "all"]).status == 0)
        _ = try scenario.mysql.sql("CREATE DATABASE victim_db; CREATE TABLE victim_db.t (a int); INSERT INTO victim_db.t VALUES (1);")
        try Self.handOver(scenario)
        let journal = try #require(try scenario.journals().last)
        let snapshotFile = try #require((journal["snapshot"] as? [String: Any])?["file"] as? String)
        let journalFile = scenario.root + "/.fate-upgrade/journal/\(try #require(journal["id"] as? String)).json"
        let saved = try [snapshotFile, journalFile].map { ($0, try Data(contentsOf: URL(fileURLWithPath: $0))) }
        func putBack() throws {
            for (path, bytes) in saved {
                try bytes.write(to: URL(fileURLWithPath: path))
                chown(path, uid, uid_t(0))
                chmod(path, 0o600)
            }
        }
        let marker = "/tmp/fate-upgrade-owned-\(UUID().uuidString)"
        let accounts = { try scenario.mysql.sql("SELECT user, host FROM mysql.user ORDER BY 1, 2; SHOW DATABASES; SELECT * FROM victim_db.t;") }
        let (accountsBefore, tablesBefore, treeBefore) = (try accounts(), try scenario.tables(), try scenario.sandbox.treeSnapshot("python"))

        for evil in ["\\! touch \(marker)", "system touch \(marker)", "GRANT ALL ON *.* TO 'evil'@'%' IDENTIFIED BY 'x';",
                     "DROP DATABASE victim_db;", "source /etc/passwd", "INSERT INTO victim_db.t VALUES (2);"] {
            try putBack()
            try DumpGuardTests.tamperSnapshot(scenario, insert: evil)
            let refused = try scenario.rollback(["--from-snapshot", "--allow-root"])
            #expect(refused.status == 1, "\(evil): \(refused.output)")
            #expect(refused.stderr.contains("line ") && refused.stderr.contains("nothing was changed"), "\(evil): \(refused.stderr)")
            #expect(!FileManager.default.fileExists(atPath: marker), "\(evil)")
            #expect(try accounts() == accountsBefore, "\(evil)")
            #expect(try scenario.tables() == tablesBefore, "\(evil)")
            #expect(try scenario.sandbox.treeSnapshot("python") == treeBefore, "\(evil)")
            #expect(scenario.sandbox.isFateFlowRunning(), "\(evil)")
        }
        try putBack()

        let unasked = try scenario.rollback(["--from-snapshot"])
        #expect(unasked.status == 1)
        #expect(unasked.stderr.contains("belongs to \(Self.user) (uid \(uid)), and this is root") && unasked.stderr.contains("can write"), "\(unasked.stderr)")
        #expect(try scenario.tables() == tablesBefore)

        let restored = try scenario.rollback(["--from-snapshot", "--allow-root"])
        #expect(restored.status == 0, "\(restored.output)")
        #expect(restored.stdout.contains("running as root on FATE_ROOT owned by \(Self.user)"), "\(restored.stdout)")
        #expect(try accounts() == accountsBefore)
        let server = try #require(scenario.sandbox.runningPids().first)
        let status = try String(contentsOfFile: "/proc/\(server)/status", encoding: .utf8)
        #expect(status.split(separator: "\n").first { $0.hasPrefix("Uid:") }?.split(separator: "\t").dropFirst().first == Substring("\(uid)"))
    }

    /// Root with --allow-root on the owner's tree, and the script fails midway: nothing this run
    /// made is left to root — the work folder holding DB_PASS, the state folder, the journal, the log
    /// and the snapshot are the owner's, who can read DB_PASS where rollback looks for it (issue 23).
    @Test func whatRootMakesOnAnotherUsersTreeIsTheirsEvenWhenTheRunStopsMidway() throws {
        let uid = try Self.fateUser()
        let folder = try Support.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let script = folder.appendingPathComponent("upgrade_script.sh")
        let text = try String(contentsOf: Support.fixtures.appendingPathComponent("upgrade_script.sh"), encoding: .utf8)
            .replacingOccurrences(of: "    echo \"INFO: Unpacking $PYTHON_PACKAGE_PATH into $FATE_ROOT\"",
                                  with: "    echo \"ERROR: unpacking failed\"; exit 3")
        try Data(text.utf8).write(to: script)
        let scenario = try Scenario(.allinone, script: script)
        defer { scenario.remove() }
        chmod(scenario.folder.path, 0o755)
        try Self.handOver(scenario)
        let failed = try scenario.apply(["--component", "all", "--allow-root"])
        #expect(failed.status != 0, "\(failed.output)")
        let journal = try #require(try scenario.journals().last)
        let work = try #require(journal["workFolder"] as? String)
        let log = try #require(journal["log"] as? String)
        let snapshot = try #require((journal["snapshot"] as? [String: Any])?["file"] as? String)
        let state = scenario.root + "/.fate-upgrade"
        for path in [work, work + "/upgrade_script.sh", state, state + "/journal", state + "/logs", log, snapshot,
                     state + "/journal/\(journal["id"] as? String ?? "").json"] {
            #expect(FileOwner.of(path)?.uid == uid, "\(path) belongs to uid \(FileOwner.of(path)?.uid ?? 0)")
        }
        let read = try Support.run("runuser", ["-u", Self.user, "--", "grep", "-c", "^DB_PASS=", work + "/upgrade_script.sh"])
        #expect(read.status == 0 && read.stdout.hasPrefix("1"), "the owner cannot read DB_PASS where rollback looks: \(read.output)")
        // Still private: nobody else reads it.
        let other = try Support.run("runuser", ["-u", "nobody", "--", "cat", work + "/upgrade_script.sh"])
        #expect(other.status != 0)
    }
}
