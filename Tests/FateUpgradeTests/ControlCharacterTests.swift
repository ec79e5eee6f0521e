import FateUpgradeCore
import FateUpgradeHost
import Foundation
import Testing

/// Control bytes from names, files and children never reach the terminal or the log raw (issue 23).
struct ControlCharacterTests {
    @Test func generatedBytesComeOutWithoutAControlATerminalWouldObey() {
        var state: UInt64 = 0x1234_5678_9ABC_DEF1
        for _ in 0..<2000 {
            var bytes: [UInt8] = []
            for _ in 0..<Int(state % 64) {
                state = state &* 6364136223846793005 &+ 1442695040888963407
                let pick = UInt8(truncatingIfNeeded: state >> 33)
                // Mostly the bytes that matter: controls, ESC sequences, C1 in UTF-8, CR/LF, text.
                bytes += [[pick], [0x1B, 0x5B, 0x32, 0x4A], [0xC2, 0x9B], [0x0D], [0x0D, 0x0A], [0x61], [0xE5, 0xAF, 0x86], [0x07]][Int(pick % 8)]
            }
            let shown = ControlCharacters.escaped(bytes)
            for (index, byte) in shown.enumerated() {
                let allowed = byte == 0x09 || byte == 0x0A || (byte == 0x0D && index + 1 < shown.count && shown[index + 1] == 0x0A)
                #expect(allowed || (byte >= 0x20 && byte != 0x7F), "\(bytes) → \(shown)")
                if byte == 0xC2, index + 1 < shown.count { #expect(!(0x80...0x9F).contains(shown[index + 1]), "\(bytes)") }
            }
            // Nothing else changes: without controls, the bytes are as they were.
            let clean = bytes.filter { $0 >= 0x20 && $0 != 0x7F && $0 != 0xC2 }
            #expect(ControlCharacters.escaped(clean) == clean)
        }
        #expect(ControlCharacters.escaped("a\u{1b}[2Jb\r\nc\td") == "a\\x1b[2Jb\r\nc\td")
    }

    /// A FATE_ROOT spelled with an escape sequence, and a host whose name holds one (a UTS
    /// namespace of its own): what the tool prints shows them as text.
    @Test func aNameWithAnEscapeSequenceIsShownAsText() throws {
        let evil = "/tmp/no-fate-\u{1b}]0;owned\u{7}\u{1b}[2J"
        let missing = try Support.tool(["status", "--fate-root", evil])
        #expect(missing.status != 0)
        #expect(!missing.stderr.contains("\u{1b}") && !missing.stderr.contains("\u{7}"), "\(missing.stderr.debugDescription)")
        #expect(missing.stderr.contains("/tmp/no-fate-\\x1b]0;owned\\x07\\x1b[2J"), "\(missing.stderr.debugDescription)")

        let scenario = try ApplyRollbackTests.Scenario(.allinone)
        defer { scenario.remove() }
        let named = try Support.run("unshare", ["--uts", "python3", "-c",
                                                "import os, socket, sys; socket.sethostname(sys.argv[1]); os.execv(sys.argv[2], sys.argv[2:])",
                                                "flow\u{1b}[31m1", Support.binary, "status", "--fate-root", scenario.root], environment: scenario.environment)
        #expect(named.status == 0, "\(named.output.debugDescription)")
        #expect(named.stdout.contains("host flow\\x1b[31m1,") && !named.output.contains("\u{1b}"), "\(named.output.debugDescription)")
        let json = try Support.run("unshare", ["--uts", "python3", "-c",
                                               "import os, socket, sys; socket.sethostname(sys.argv[1]); os.execv(sys.argv[2], sys.argv[2:])",
                                               "flow\u{1b}[31m1", Support.binary, "status", "--fate-root", scenario.root, "--json"], environment: scenario.environment)
        #expect(try JSONDecoder().decode(HostStatus.self, from: Data(json.stdout.utf8)).host == "flow\u{1b}[31m1", "JSON keeps the name, escaped by JSON itself")
        #expect(!json.stdout.contains("\u{1b}"))
    }
}
