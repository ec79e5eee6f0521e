import FateUpgradeCore
import Foundation
import Testing

@Suite struct RollbackPlanTests {
    let allTables: Set<String> = Set(upgradedTables + upgradedTables.map { "\($0)_backup" } + ["t_other"])

    @Test func allRestoresCodeAndEveryBackedUpTableInOneStatement() {
        let plan = RollbackPlan(component: .all, codeFolder: "/f", codeName: "python", backup: "python_20261125070000",
                                entries: ["python", "python_20261125070000", "common"], database: "fate_flow",
                                tables: allTables, date: "20261125")
        #expect(plan.steps.map(\.description) == [
            "stop fate_flow",
            "in /f: mv python python_upgrade_backup; mv python_20261125070000 python",
            "in database fate_flow: RENAME TABLE `t_queue` TO `t_queue_backup_20261125`, `t_queue_backup` TO `t_queue`, `t_job` TO `t_job_backup_20261125`, `t_job_backup` TO `t_job`, `t_task` TO `t_task_backup_20261125`, `t_task_backup` TO `t_task`, `t_data_view` TO `t_data_view_backup_20261125`, `t_data_view_backup` TO `t_data_view`, `t_machine_learning_model_meta` TO `t_machine_learning_model_meta_backup_20261125`, `t_machine_learning_model_meta_backup` TO `t_machine_learning_model_meta`;",
            "start fate_flow",
        ])
        #expect(plan.notes.isEmpty)
    }

    @Test func onlyTablesWithABackupAndFreeNames() {
        let tables: Set<String> = ["t_queue", "t_job", "t_job_backup", "t_job_backup_20261125", "t_task"]
        let plan = RollbackPlan(component: .mysql, codeFolder: "/f", codeName: "python", backup: nil, entries: [],
                                database: "fate_flow", tables: tables, date: "20261125")
        #expect(plan.steps.map(\.description) == [
            "in database fate_flow: RENAME TABLE `t_job` TO `t_job_backup_20261125_1`, `t_job_backup` TO `t_job`;",
        ])
    }

    @Test func fatepythonTakesAFreeNameForTheUpgradedCode() {
        let plan = RollbackPlan(component: .fatepython, codeFolder: "/f", codeName: "python", backup: "python_20261125070000",
                                entries: ["python", "python_upgrade_backup", "python_20261125070000"], database: "fate_flow",
                                tables: allTables, date: "20261125")
        #expect(plan.steps.map(\.description) == [
            "stop fate_flow", "in /f: mv python python_upgrade_backup_1; mv python_20261125070000 python", "start fate_flow",
        ])
    }

    @Test func fateflowWorksInsidePython() {
        let plan = RollbackPlan(component: .fateflow, codeFolder: "/f/python", codeName: "fate_flow", backup: "fate_flow_20261125070000",
                                entries: ["fate_flow", "fate_flow_20261125070000", "arch"], database: "fate_flow", tables: [], date: "20261125")
        #expect(plan.steps.map(\.description) == [
            "stop fate_flow", "in /f/python: mv fate_flow fate_flow_upgrade_backup; mv fate_flow_20261125070000 fate_flow", "start fate_flow",
        ])
    }

    @Test func aHalfDoneUpgradeWithoutNewCodeOnlyRestoresTheBackup() {
        let plan = RollbackPlan(component: .fatepython, codeFolder: "/f", codeName: "python", backup: "python_20261125070000",
                                entries: ["python_20261125070000"], database: "fate_flow", tables: [], date: "20261125")
        #expect(plan.steps.map(\.description) == ["stop fate_flow", "in /f: mv python_20261125070000 python", "start fate_flow"])
    }

    @Test func nothingLeftMeansNothingToDo() {
        let plan = RollbackPlan(component: .all, codeFolder: "/f", codeName: "python", backup: "python_20261125070000",
                                entries: ["python"], database: "fate_flow", tables: Set(upgradedTables), date: "20261125")
        #expect(plan.isEmpty)
        #expect(plan.notes.count == 2)
        #expect(RollbackPlan.freeName("a", taken: ["a", "a_1"]) == "a_2")
    }
}

/// `apply` refuses packages that would write outside the work folder, before writing anything.
@Suite struct HostilePackageTests {
    struct Hostile: CustomStringConvertible, Sendable {
        var description: String
        /// Python statements adding members to the open tarfile `t`; `evil` is a path outside.
        var members: String
        var refused: String
    }

    static let cases: [Hostile] = [
        Hostile(description: "absolute path", members: "add(t, EVIL + '/owned', b'x')", refused: ": absolute path"),
        Hostile(description: "dot-dot path", members: "add(t, 'upgrade_package/../../owned', b'x')", refused: "upgrade_package/../../owned: path with .."),
        Hostile(description: "symlink escape", members: """
            link(t, 'upgrade_package/out', tarfile.SYMTYPE, '../../..' + EVIL)
            add(t, 'upgrade_package/out/owned', b'x')
            """, refused: "upgrade_package/out: symbolic link to ../../.."),
        Hostile(description: "absolute symlink", members: "link(t, 'upgrade_package/etc', tarfile.SYMTYPE, EVIL)",
                refused: "upgrade_package/etc: symbolic link to the absolute path"),
        Hostile(description: "hard link escape", members: "link(t, 'upgrade_package/passwd', tarfile.LNKTYPE, '../' + EVIL.lstrip('/') + '/target')",
                refused: "upgrade_package/passwd: hard link to ../"),
        Hostile(description: "the script twice", members: "add(t, 'upgrade_package/upgrade_script.sh', b'#!/bin/bash\\nDB_PASS=other\\n')",
                refused: "upgrade_package/upgrade_script.sh appears more than once"),
        Hostile(description: "a later symlink at the script's path", members: "link(t, 'upgrade_package/upgrade_script.sh', tarfile.SYMTYPE, 'other.sh')",
                refused: "upgrade_package/upgrade_script.sh appears more than once"),
        Hostile(description: "a later hard link at the script's path", members: "add(t, 'upgrade_package/other.sh', b'x')\nlink(t, 'upgrade_package/upgrade_script.sh', tarfile.LNKTYPE, 'upgrade_package/other.sh')",
                refused: "upgrade_package/upgrade_script.sh appears more than once"),
        Hostile(description: "a symlink chain that climbs out", members: """
            d = tarfile.TarInfo('upgrade_package/s'); d.type = tarfile.DIRTYPE; t.addfile(d)
            link(t, 'upgrade_package/s/s', tarfile.SYMTYPE, '..')
            link(t, 'upgrade_package/t', tarfile.SYMTYPE, 's/s/s/s/../../..')
            """, refused: "upgrade_package/t: symbolic link to s/s/s/s/../../.., which leads outside the package"),
        Hostile(description: "an entry under a symlink", members: "link(t, 'upgrade_package/lib', tarfile.SYMTYPE, 'real')\nadd(t, 'upgrade_package/lib/x', b'x')",
                refused: "upgrade_package/lib/x: it is under the symbolic link upgrade_package/lib"),
        Hostile(description: "a hard link chain", members: "link(t, 'upgrade_package/a', tarfile.SYMTYPE, '.')\nlink(t, 'upgrade_package/b', tarfile.LNKTYPE, 'upgrade_package/a/../../x')",
                refused: "upgrade_package/b: hard link to upgrade_package/a/../../x, which is not a file earlier in the package"),
        Hostile(description: "another top-level folder", members: "add(t, 'fate/python/owned.py', b'x')",
                refused: "top-level entries other than upgrade_package/: fate"),
        Hostile(description: "a name that is not UTF-8", members: "add(t, b'upgrade_package/caf\\xe9'.decode('utf-8', 'surrogateescape'), b'x')",
                refused: "refused entry upgrade_package/caf\\xE9: its name is not UTF-8 text"),
        Hostile(description: "device node", members: "dev = tarfile.TarInfo('upgrade_package/null'); dev.type = tarfile.CHRTYPE; dev.devmajor = 1; dev.devminor = 3; t.addfile(dev)",
                refused: "upgrade_package/null: a device, fifo or socket, not a file, folder or link"),
    ]

    @Test(arguments: cases)
    func isRefusedWithNothingWrittenAnywhere(hostile: Hostile) throws {
        let folder = try Support.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let outside = folder.appendingPathComponent("outside")
        try FileManager.default.createDirectory(at: outside, withIntermediateDirectories: true)
        try Data("keep".utf8).write(to: outside.appendingPathComponent("target"))
        let work = folder.appendingPathComponent("work")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        let package = folder.appendingPathComponent("hostile.tar.gz")
        let script = try String(contentsOf: Support.fixtures.appendingPathComponent("upgrade_script.sh"), encoding: .utf8)
        let build = try Support.run("python3", ["-c", """
            import io, sys, tarfile
            EVIL = sys.argv[2]
            def add(t, name, data):
                info = tarfile.TarInfo(name); info.size = len(data); info.mode = 0o755; t.addfile(info, io.BytesIO(data))
            def link(t, name, kind, target):
                info = tarfile.TarInfo(name); info.type = kind; info.linkname = target; t.addfile(info)
            with tarfile.open(sys.argv[1], 'w:gz', format=tarfile.GNU_FORMAT, encoding='utf-8', errors='surrogateescape') as t:
                d = tarfile.TarInfo('upgrade_package'); d.type = tarfile.DIRTYPE; d.mode = 0o755; t.addfile(d)
                add(t, 'upgrade_package/upgrade_script.sh', sys.argv[3].encode())
            \(hostile.members.split(separator: "\n").map { "    " + $0 }.joined(separator: "\n"))
            """, package.path, outside.path, script])
        #expect(build.status == 0, "\(build.stderr)")

        let run = try Support.tool(["apply", package.path, "--component", "all", "--model-store", "database", "--workdir", work.path])
        #expect(run.status == 1)
        #expect(run.stderr.contains(hostile.refused), "\(run.stderr)")
        // What apply refuses, pack and inspect refuse too: a packed package is one apply accepts.
        let packed = try Support.tool(["pack", package.path, "-o", work.appendingPathComponent("new.tar.gz").path, "--keep", "DB_PASS"])
        #expect(packed.status == 1 && packed.stderr.contains(hostile.refused), "\(packed.stderr)")
        let inspected = try Support.tool(["inspect", package.path])
        #expect(inspected.status == 1 && inspected.stderr.contains(hostile.refused), "\(inspected.stderr)")
        #expect(try Support.files(in: work).isEmpty, "something was extracted")
        #expect(try Support.files(in: outside) == ["target"])
        #expect(try Data(contentsOf: outside.appendingPathComponent("target")) == Data("keep".utf8))
        #expect(try Support.files(in: folder).sorted() == ["hostile.tar.gz", "outside", "work"])
    }
}
