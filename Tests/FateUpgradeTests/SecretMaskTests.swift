import FateUpgradeCore
import FateUpgradeHost
import Foundation
import Testing

/// DB_PASS hidden in bytes, whatever the line's encoding and however a shell or a URL wrote it
/// (issue 23). The forms come from the real bash (`set -x`, `printf %q`) and Python's urllib.
struct SecretMaskTests {
    /// Deterministic generated passwords: quotes, blanks, shell metacharacters, control bytes, non-ASCII.
    static func passwords(count: Int) -> [String] {
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        let pieces: [String] = ["a", "Z", "7", " ", "'", "\"", "$", "\\", "`", "!", "*", ";", "&", "|", "<", ">", "(", ")", "{", "}", "[", "]",
                                "~", "#", "%", "^", "=", "+", "\t", "\u{1}", "é", "密", "-", "_", ".", "@", ":", "/", "?"]
        return (0..<count).map { index in
            let length = 1 + Int(next() % 14)
            return (0..<length).map { _ in pieces[Int(next() % UInt64(pieces.count))] }.joined() + (index % 3 == 0 ? "Pa55" : "")
        }
    }

    static func contains(_ bytes: [UInt8], _ part: [UInt8]) -> Bool {
        guard !part.isEmpty, part.count <= bytes.count else { return false }
        return (0...(bytes.count - part.count)).contains { bytes[$0..<($0 + part.count)].elementsEqual(part) }
    }

    @Test func everyFormAShellOrAURLGivesThePasswordIsHiddenInBytesThatAreNotUTF8() throws {
        let passwords = Self.passwords(count: 150)
        let folder = try Support.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        // bash's own renderings: a set -x trace of `-p$password` next to two bytes that are not
        // UTF-8, then printf %q; Python's percent-encodings. Each password in a file of its own.
        var urls: [[String]] = []
        let encoded = try Support.run("python3", ["-c", """
            import json, re, sys, urllib.parse
            lower = lambda q: re.sub(r'%[0-9A-F]{2}', lambda m: m.group(0).lower(), q)
            out = [[urllib.parse.quote(p, safe=''), urllib.parse.quote_plus(p, safe=''), lower(urllib.parse.quote(p, safe=''))]
                   for p in json.load(sys.stdin)]
            print(json.dumps(out))
            """], stdin: String(decoding: try JSONSerialization.data(withJSONObject: passwords), as: UTF8.self))
        urls = try #require(try JSONSerialization.jsonObject(with: Data(encoded.stdout.utf8)) as? [[String]], "\(encoded.stderr)")
        for (index, password) in passwords.enumerated() {
            let file = folder.appendingPathComponent("\(index)")
            try Data(password.utf8).write(to: file)
            let traced = try Support.run("/bin/bash", ["-c", #"p=$(cat "$1"); set -x; : "-p$p" $'\xff\xfe'; { set +x; } 2>/dev/null; printf '%q\n' "$p""#, "x", file.path])
            #expect(traced.status == 0, "\(traced.stderr)")
            let mask = SecretMask(password)
            // stderr as bytes: the trace line holds 0xFF 0xFE (or their $'…' form).
            let raw = try Support.run("/bin/bash", ["-c", #"p=$(cat "$1"); set -x; : "-p$p" $'\xff\xfe' 2>&1"#, "x", file.path])
            for line in [Array(raw.stderr.utf8) + [0xFF, 0xFE], Array(traced.stdout.utf8)] + urls[index].map({ Array("url=\($0)&x".utf8) + [0xC3] }) {
                let shown = mask.apply(line)
                #expect(!Self.contains(shown, Array(password.utf8)), "\(index) \(password.debugDescription): raw in \(String(decoding: shown, as: UTF8.self).debugDescription)")
                #expect(Self.contains(shown, mask.mask), "\(index) \(password.debugDescription): nothing hidden in \(String(decoding: line, as: UTF8.self).debugDescription)")
                for url in urls[index] { #expect(!Self.contains(shown, Array(url.utf8)) || url == password, "\(password.debugDescription): \(url)") }
                let quoted = traced.stdout.trimmingCharacters(in: .newlines)
                #expect(!Self.contains(shown, Array(quoted.utf8)), "\(password.debugDescription): %q form \(quoted.debugDescription)")
            }
        }
        // A line without the password is left byte for byte, invalid bytes and all.
        let other: [UInt8] = Array("INFO: nothing secret here ".utf8) + [0xFF, 0x80, 0x00, 0x1B]
        #expect(SecretMask("s3cret").apply(other) == other)
        #expect(SecretMask("").apply(other) == other)
    }

    /// The package's script traces its mysql call with `set -x` on a line that is not UTF-8 (a
    /// Latin-1 byte in a comment of FATE's, say): neither the terminal nor the log shows DB_PASS.
    @Test func aTraceLineThatIsNotUTF8NeverShowsThePassword() throws {
        let folder = try Support.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let script = folder.appendingPathComponent("upgrade_script.sh")
        let text = try String(contentsOf: Support.fixtures.appendingPathComponent("upgrade_script.sh"), encoding: .utf8)
            .replacingOccurrences(of: "    echo \"INFO: Unpacking $PYTHON_PACKAGE_PATH into $FATE_ROOT\"",
                                  with: "    set -x\n    : -p\"$DB_PASS\" \"$DB_PASS\" $'caf\\xe9'\n    echo \"password: $DB_PASS $(printf '\\xff')\"\n    { set +x; } 2>/dev/null\n"
                                      + "    echo \"INFO: Unpacking $PYTHON_PACKAGE_PATH into $FATE_ROOT\"")
        try Data(text.utf8).write(to: script)
        let scenario = try ApplyRollbackTests.Scenario(.allinone, script: script)
        defer { scenario.remove() }
        // The bytes as they come, not decoded: a decoding could hide what is there.
        var environment = ProcessInfo.processInfo.environment.filter { $0.key != "FATE_DB_PASS" }
        environment.merge(scenario.environment) { $1 }
        let applied = try ChildProcess.run(Command(Support.binary, ["apply", scenario.package.path, "--component", "fatepython", "--model-store", "database"],
                                                   environment: environment), timeout: .seconds(300))
        #expect(applied.termination.status == 0, "\(applied.stderrText)")
        let password = Array(MariaDB.packagePassword.utf8)
        let log = try #require(try scenario.journals().last?["log"] as? String)
        let logged = Array(try Data(contentsOf: URL(fileURLWithPath: log)))
        #expect(Self.contains(logged, Array("password: ********".utf8)), "the line is in the log, masked")
        #expect(logged.contains(0xFF), "the line's own byte is kept")
        for (name, bytes) in [("stdout", applied.stdout), ("stderr", applied.stderr), ("log", logged)] {
            #expect(!Self.contains(bytes, password), "DB_PASS in \(name)")
            #expect(SecretMask(MariaDB.packagePassword).apply(bytes) == bytes, "a form of DB_PASS in \(name)")
        }
    }
}
