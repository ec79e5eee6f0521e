import FateUpgradeCore
import FateUpgradeHost
import Foundation
import Testing

/// The host library in-process: the child process runner, the console's writer, and the pure judgements
/// (`ScriptVerdict`, `Shebang`, `ScriptInterpreter`, `ApplyHistory`) that decide what apply does.
@Suite struct ChildProcessTests {
    static let sh = "/bin/sh"

    /// A descriptor of ours without close-on-exec, as a parent's sockets are (Foundation's Process among them),
    /// never reaches a child: a daemon the child starts holds nothing of ours.
    @Test func onlyTheStandardDescriptorsReachAChild() throws {
        let leaked = open("/dev/null", O_RDONLY)
        #expect(leaked > 2)
        defer { close(leaked) }
        // Checked with stat(2) alone: listing /proc/self/fd would open a descriptor of its own.
        let result = try ChildProcess.run(Command(Self.sh, ["-c", "i=0; while [ $i -lt 1024 ]; do [ -e /proc/$$/fd/$i ] && echo $i; i=$((i+1)); done"]),
                                          timeout: .seconds(30))
        #expect(result.termination == .exited(0))
        #expect(result.stdoutText == "0\n1\n2\n", "\(result.stdoutText)")
    }

    /// Whatever mask and dispositions the caller has (a test runner's threads block signals, we ignore SIGPIPE),
    /// the child starts with none blocked and none ignored.
    @Test func signalsAreResetInTheChild() throws {
        var blocked = sigset_t()
        sigemptyset(&blocked)
        sigaddset(&blocked, SIGTERM)
        sigaddset(&blocked, SIGINT)
        var previous = sigset_t()
        pthread_sigmask(SIG_BLOCK, &blocked, &previous)
        let oldPipe = signal(SIGPIPE, SIG_IGN)
        defer {
            pthread_sigmask(SIG_SETMASK, &previous, nil)
            signal(SIGPIPE, oldPipe)
        }
        let result = try ChildProcess.run(Command("/bin/cat", ["/proc/self/status"]), timeout: .seconds(30))
        let lines = result.stdoutText.split(separator: "\n")
        #expect(lines.first { $0.hasPrefix("SigBlk:") }?.hasSuffix("0000000000000000") == true, "\(result.stdoutText)")
        #expect(lines.first { $0.hasPrefix("SigIgn:") }?.hasSuffix("0000000000000000") == true, "\(result.stdoutText)")
    }

    /// The end of a child is its exit, not the end of its output: a background process that keeps the output
    /// open (as `nohup daemon &` without redirection does) holds the run for the drain time only.
    @Test func theRunEndsWhenTheChildExitsEvenIfItsOutputStaysOpen() throws {
        let clock = ContinuousClock()
        let start = clock.now
        let result = try ChildProcess.run(Command(Self.sh, ["-c", "sleep 41 & echo started"]), timeout: .seconds(60), drain: .milliseconds(500))
        let elapsed = clock.now - start
        #expect(result.termination == .exited(0))
        #expect(result.stdoutText == "started\n")
        #expect(result.outputLeftOpen)
        #expect(elapsed < .seconds(5), "\(elapsed)")
        // The sleep is in the child's process group; stop it.
        for pid in FateSandbox.processes(withArgument: "41") { kill(pid, SIGKILL) }
    }

    /// A run past its time limit is stopped, with its whole process group.
    @Test func aTimeoutStopsTheWholeGroup() throws {
        let clock = ContinuousClock()
        let start = clock.now
        let result = try ChildProcess.run(Command(Self.sh, ["-c", "sleep 43; echo never"]), timeout: .seconds(1))
        #expect(result.timedOut)
        #expect(result.termination == .signaled(SIGTERM))
        #expect(clock.now - start < .seconds(8))
        usleep(200_000)
        #expect(FateSandbox.processes(withArgument: "43").isEmpty)
    }

    @Test func inputBytesOutputAndStatusComeThrough() throws {
        let bytes = Array("line one\nzwei 二\n".utf8) + [0, 255]
        let result = try ChildProcess.run(Command(Self.sh, ["-c", "cat; echo oops >&2; exit 3"]), input: .bytes(bytes), timeout: .seconds(30))
        #expect(result.stdout == bytes)
        #expect(result.stderrText == "oops\n")
        #expect(result.termination == .exited(3))
    }

    @Test func aProgramThatCannotRunIsOneLine() throws {
        #expect {
            try ChildProcess.run(Command("/nonexistent/program", []), timeout: .seconds(5))
        } throws: { error in
            (error as? HostError)?.description == "/nonexistent/program: cannot run: No such file or directory"
        }
    }

    /// Children get a short list of variables: FATE_DB_PASS (or anything else of ours) stays with us.
    @Test func childrenGetNoSecretsFromOurEnvironment() {
        let environment = Command.baseEnvironment(["PATH": "/bin", "HOME": "/root", "FATE_DB_PASS": "secret", "LC_ALL": "C.UTF-8", "MYSQL_PWD": "x"])
        #expect(environment == ["PATH": "/bin", "HOME": "/root", "LC_ALL": "C.UTF-8"])
    }

    @Test func aChildCanRunAsAnotherUser() throws {
        try #require(getuid() == 0, "runs a child as nobody: needs root, as CI has")
        let result = try ChildProcess.run(Command("/usr/bin/id", ["-u"], user: FileOwner(uid: 65534, gid: 65534)), timeout: .seconds(10))
        #expect(result.stdoutText == "65534\n")
    }

    /// A full disk is named as such, not as "Write error".
    @Test func aFullDeviceIsReportedAsNoSpace() throws {
        let descriptor = open("/dev/full", O_WRONLY)
        try #require(descriptor >= 0)
        defer { close(descriptor) }
        #expect {
            try FileDescriptorWriter.writeAll(Array("x".utf8), to: descriptor, path: "/dev/full")
        } throws: { error in
            (error as? WriteError)?.lines == ["/dev/full: cannot write: no space left on the file system (ENOSPC)"]
        }
    }
}

@Suite struct ScriptJudgementTests {
    @Test(arguments: [
        ("INFO: Upgrading process finished.", true),
        ("INFO: Upgrading mysql process finished.", true),
        ("INFO: Upgrading fate python process finished.", true),
        ("Upgrading process finished", true),
        ("INFO: Upgrading mysql ... still going, process finished?", false),
        ("INFO: MySQL upgrade finished.", false),
    ])
    func finishedLines(line: String, finished: Bool) {
        #expect(ScriptVerdict.isFinishedLine(line) == finished)
    }

    @Test func successIsExitZeroWithoutAnAbortLine() {
        var verdict = ScriptVerdict(exitStatus: 0)
        verdict.note(line: "INFO: Upgrading fate python process finished.\n")
        #expect(verdict.succeeded && verdict.warning == nil)

        var silent = ScriptVerdict(exitStatus: 0)
        silent.note(line: "INFO: done\n")
        #expect(silent.succeeded)
        #expect(silent.warning != nil)

        var aborted = ScriptVerdict(exitStatus: 0)
        aborted.note(line: "ERROR: Cannot connect to MySQL as root via /tmp/s. Upgrade process aborting.\n")
        #expect(!aborted.succeeded)
        #expect(aborted.failure == "ERROR: Cannot connect to MySQL as root via /tmp/s. Upgrade process aborting.")

        #expect(ScriptVerdict(exitStatus: 1).failure == "exit status 1")
        #expect(ScriptVerdict(exitStatus: nil, signal: SIGKILL).failure == "the script was ended by signal 9")
    }

    @Test func theInterpreterIsTheOneTheScriptNames() {
        let bash = ScriptInterpreter.choose(forScript: Array("#!/bin/bash\nset -euo pipefail\n".utf8))
        #expect(bash.path == "/bin/bash" && bash.fallback == nil)
        let env = ScriptInterpreter.choose(forScript: Array("#!/usr/bin/env bash\n".utf8), searchPath: "/usr/bin:/bin")
        #expect(env.path.hasSuffix("/bash") && env.fallback == nil)
        let none = ScriptInterpreter.choose(forScript: Array("FATE_ROOT=/data\n".utf8))
        #expect(none.path == "/bin/sh" && none.fallback == nil)
        let missing = ScriptInterpreter.choose(forScript: Array("#!/opt/nowhere/ksh93 -e\n".utf8))
        #expect(missing.path == "/bin/sh")
        #expect(missing.fallback == "the script asks for #!/opt/nowhere/ksh93 -e, which this host lacks; running it with sh as the guide does")
    }

    @Test func aSecretNeverShowsItself() throws {
        let secret = Secret("Pa55 word")
        #expect("\(secret)" == "********")
        #expect(String(reflecting: secret) == "********")
        let parameters = ScriptParameters(values: ["DB_PASS": "Pa55 word", "FATE_ROOT": "/data/projects/fate"])
        let json = String(decoding: try JSONEncoder().encode(parameters), as: UTF8.self)
        #expect(!json.contains("Pa55") && json.contains("\"DB_PASS\":\"********\""))
        #expect(parameters.masked["DB_PASS"] == "********")
        #expect(parameters.dbPass.revealed == "Pa55 word")
    }
}

@Suite struct ApplyHistoryTests {
    static func journal(_ component: UpgradeComponent, _ outcome: UpgradeJournal.Outcome, rolledBack: Bool = false, id: String = "20261101000000") -> UpgradeJournal {
        UpgradeJournal(id: "\(id)-\(component.rawValue)", startedAt: "", host: "h", component: component, role: "fateflow", package: "p",
                       script: "s", parameters: ["FATE_ROOT": "/f"], before: .init(pythonBackups: ["python_20200101000000"], fateFlowBackups: [], backupTables: []),
                       after: .init(pythonBackups: ["python_20200101000000", "python_20261101000000"], fateFlowBackups: [], backupTables: []),
                       log: "/f/.fate-upgrade/logs/x.log", outcome: outcome, message: outcome == .failed ? "exit status 1" : nil,
                       rolledBack: rolledBack ? .init(at: "t", steps: []) : nil)
    }

    @Test func nothingEarlierMeansGo() {
        guard case .proceed = ApplyHistory.judge(component: .all, journals: [], force: false, fateRoot: "/f") else { Issue.record("not proceed"); return }
    }

    @Test func aComponentDoneIsNothingToDo() {
        guard case .alreadyDone(let done) = ApplyHistory.judge(component: .fatepython, journals: [Self.journal(.all, .succeeded)], force: false, fateRoot: "/f") else {
            Issue.record("not done"); return
        }
        #expect(done.count == 1)
        guard case .proceed = ApplyHistory.judge(component: .mysql, journals: [Self.journal(.all, .succeeded, rolledBack: true)], force: false, fateRoot: "/f") else {
            Issue.record("a rolled-back run must not count"); return
        }
    }

    @Test func partlyDoneNamesTheRest() {
        guard case .refused(let lines) = ApplyHistory.judge(component: .all, journals: [Self.journal(.mysql, .succeeded)], force: false, fateRoot: "/f") else {
            Issue.record("not refused"); return
        }
        #expect(lines == ["mysql was already upgraded on this host (20261101000000-mysql); run --component fatepython for the rest, or roll back first"])
    }

    @Test(arguments: [UpgradeJournal.Outcome.failed, .interrupted, .running])
    func anUnfinishedRunBlocksUntilRollbackOrForce(outcome: UpgradeJournal.Outcome) {
        let earlier = Self.journal(.fatepython, outcome)
        guard case .refused(let lines) = ApplyHistory.judge(component: .all, journals: [earlier], force: false, fateRoot: "/f") else {
            Issue.record("not refused"); return
        }
        #expect(lines.first?.contains("roll it back first (fate-upgrade rollback --fate-root /f), or give --force to run over it") == true)
        guard case .forced(let notes) = ApplyHistory.judge(component: .all, journals: [earlier], force: true, fateRoot: "/f") else {
            Issue.record("not forced"); return
        }
        #expect(notes.first?.contains("Its backup python_20261101000000 stays as it is") == true, "\(notes)")
        // The database was not part of it: mysql alone goes ahead.
        guard case .proceed = ApplyHistory.judge(component: .mysql, journals: [earlier], force: false, fateRoot: "/f") else {
            Issue.record("mysql should proceed"); return
        }
    }
}

@Suite struct ClockTests {
    /// Journal times are UTC with milliseconds, zero-padded, and sort as strings in time order.
    @Test func journalTimesCarryMillisecondsAndSortAsText() throws {
        #expect(Clock.iso(Date(timeIntervalSince1970: 1_606_858_458.1239)) == "2020-12-01T21:34:18.123Z")
        #expect(Clock.iso(Date(timeIntervalSince1970: 1_606_858_458.007)) == "2020-12-01T21:34:18.007Z")
        #expect(Clock.iso(Date(timeIntervalSince1970: 1_606_858_459)) == "2020-12-01T21:34:19.000Z")
        let times = [1_606_858_458.999, 1_606_858_459.0, 1_606_858_459.01, 1_606_858_459.2].map { Clock.iso(Date(timeIntervalSince1970: $0)) }
        #expect(times == times.sorted())
        #expect(Set(times).count == times.count)
    }
}

@Suite struct RunIDTests {
    /// A run in the same second as an earlier one never takes its id: the earlier journal, snapshot or log would
    /// be replaced (an apply right after a rollback, as automation does it).
    @Test(arguments: ["journal/%@.json", "snapshots/%@.sql.gz", "logs/%@.log"])
    func aNewRunNeverTakesAnEarlierRunsID(taken pattern: String) throws {
        let root = try Support.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: root) }
        let state = root.appendingPathComponent(".fate-upgrade")
        // The ids of this second and the next are both taken: the new id is later still.
        var taken: [String] = []
        for offset in 0..<2 {
            let id = "\(Clock.local("%Y%m%d%H%M%S", Date().addingTimeInterval(Double(offset))))-all"
            let file = state.appendingPathComponent(pattern.replacingOccurrences(of: "%@", with: id))
            try FileManager.default.createDirectory(at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
            try Data().write(to: file)
            taken.append(id)
        }
        let id = UpgradeJournal.newID(component: .all, fateRoot: root.path).id
        #expect(!taken.contains(id), "\(id)")
        #expect(id.hasSuffix("-all"))
        #expect(UpgradeJournal.newID(component: .mysql, fateRoot: root.path).id.hasSuffix("-mysql"))
    }
}

@Suite struct ProcessArgumentsTests {
    /// A process in the middle of execve shows no arguments for a moment (about 2 % of `nohup python …`
    /// starts were caught so here); `HostFacts.arguments(of:)` reads through that moment, so a fate_flow that
    /// is just starting is never taken for another process.
    @Test func aProcessIsSeenWithItsArgumentsThroughAnExec() throws {
        var missed: [Int] = []
        for trial in 0..<150 {
            let marker = "fu-exec-\(getpid())-\(trial)"
            let child = try ChildProcess.start(Command("/bin/sh", ["-c", "exec /bin/sh -c 'sleep 0.05' \(marker)"]))
            while HostFacts.isAlive(child.pid) {
                guard let arguments = HostFacts.arguments(of: child.pid) else { break }
                if arguments.isEmpty { missed.append(trial); break }
                if arguments.contains(marker) { break }
            }
            _ = child.wait(timeout: .seconds(10))
        }
        #expect(missed.isEmpty, "no arguments seen for a live process in trials \(missed)")
    }
}
