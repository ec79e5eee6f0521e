import FateUpgradeCore
import Testing

/// How fate_flow is judged from what /proc shows, from literal processes: the judge is pure.
@Suite struct FateFlowJudgeTests {
    let root = "/data/projects/fate"
    let extracted = 1_764_000_000.0          // when the new tree's fate_flow_server.py was written
    let runBegan = 1_764_000_100.0

    func expectation(since: Double? = nil, settings: Double? = nil) -> FateFlowExpectation {
        FateFlowExpectation(fateRoot: root, tree: "\(root)/python", httpPort: 9380, grpcPort: 9360,
                            startedAfter: since, settingsChangedAt: settings)
    }

    func process(pid: Int32 = 100, script: String? = nil, started: Double, changed: Double?, cwd: String? = nil,
                 outputs: [String] = [], ports: [Int] = [9360, 9380]) -> FateFlowProcess {
        FateFlowProcess(pid: pid, script: script ?? "\(root)/python/fate_flow/fate_flow_server.py", startedAt: started,
                        scriptChangedAt: changed, workingFolder: cwd, outputFiles: outputs, listening: ports)
    }

    @Test func aServerStartedFromTheNewTreeOnItsPortsIsFateFlowAsMeant() throws {
        let good = process(started: runBegan + 2, changed: extracted)
        let verdict = expectation(since: runBegan, settings: extracted + 50).judgeRunning([good])
        #expect(try verdict.get() == good)
    }

    @Test func theServerFromBeforeTheUpgradeIsStaleThoughItsCommandLineNamesPython() {
        // service.sh found nothing without lsof: the old server kept serving; its command line names
        // python/…, where a file written after it started now is; its output went with the rename.
        let stale = process(started: extracted - 3600, changed: extracted,
                            outputs: ["\(root)/python_20261203101500/logs/console.log"])
        #expect(stale.tree(fateRoot: root) == "\(root)/python_20261203101500")
        guard case .failure(let problems) = expectation().judgeRunning([stale]) else { Issue.record("taken for fate_flow"); return }
        #expect(problems.lines == ["fate_flow pid 100: runs from \(root)/python_20261203101500, not \(root)/python"])
        // It belongs to this FATE_ROOT, so a stop must leave none of it.
        #expect(expectation().leftAfterStop([stale]) == [stale])
        // Nothing else tells where it runs from: it is said that it predates the file.
        let unknown = process(started: extracted - 3600, changed: extracted)
        guard case .failure(let more) = expectation().judgeRunning([unknown]) else { Issue.record("taken for fate_flow"); return }
        #expect(more.lines.count == 1 && more.lines[0].contains("before \(root)/python/fate_flow/fate_flow_server.py was put in place"))
    }

    @Test func supervisordsRelativeServerIsJudgedByItsWorkingFolder() {
        let moved = process(script: "\(root)/python_20261203101500/fate_flow/fate_flow_server.py", started: extracted - 60,
                            changed: extracted - 86400, cwd: "\(root)/python_20261203101500/fate_flow")
        #expect(moved.tree(fateRoot: root) == "\(root)/python_20261203101500")
        #expect(expectation().leftAfterStop([moved]).count == 1)
    }

    @Test func aServerThatPredatesTheRunOrTheSettingsOrListensElsewhereIsRefusedWithTheReason() {
        let early = process(started: runBegan - 10, changed: extracted)
        guard case .failure(let a) = expectation(since: runBegan).judgeRunning([early]) else { Issue.record("early taken"); return }
        #expect(a.lines.count == 1 && a.lines[0].contains("before this run began"))

        let oldSettings = process(started: extracted + 10, changed: extracted)
        guard case .failure(let b) = expectation(settings: extracted + 20).judgeRunning([oldSettings]) else { Issue.record("old settings taken"); return }
        #expect(b.lines.count == 1 && b.lines[0].contains("runs with the settings from before"))

        let otherPort = process(started: extracted + 10, changed: extracted, ports: [9360, 9381])
        guard case .failure(let c) = expectation().judgeRunning([otherPort]) else { Issue.record("other port taken"); return }
        #expect(c.lines == ["fate_flow pid 100: listens on 9360, 9381, not on 9380 as base_conf.yaml says"])
    }

    @Test func anotherInstallsServerIsNotOursAndNoneMeansNotRunning() {
        let elsewhere = process(script: "/opt/other/python/fate_flow/fate_flow_server.py", started: runBegan + 1, changed: extracted)
        #expect(expectation().leftAfterStop([elsewhere]).isEmpty)
        guard case .failure(let problems) = expectation().judgeRunning([elsewhere]) else { Issue.record("taken"); return }
        #expect(problems.lines == ["no fate_flow runs from \(root)/python"])
        // A prefix is not a parent: /data/projects/fate2 is not inside /data/projects/fate.
        let sibling = process(script: "/data/projects/fate2/python/fate_flow/fate_flow_server.py", started: runBegan, changed: extracted)
        #expect(expectation().leftAfterStop([sibling]).isEmpty)
    }

    @Test func oneGoodServerAmongStaleOnesIsFound() throws {
        let stale = process(pid: 1, started: extracted - 100, changed: extracted, outputs: ["\(root)/python_1/logs/console.log"])
        let good = process(pid: 2, started: extracted + 100, changed: extracted)
        #expect(try expectation().judgeRunning([stale, good]).get() == good)
    }

    @Test func timesAreShownInUTC() {
        #expect(FateFlowExpectation.shown(0) == "1970-01-01 00:00:00 UTC")
        #expect(FateFlowExpectation.shown(1_764_757_200.9) == "2025-12-03 10:20:00 UTC")
        #expect(FateFlowExpectation.shown(951_782_400) == "2000-02-29 00:00:00 UTC")
    }
}
