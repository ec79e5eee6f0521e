import FateUpgradeCore
import Foundation
import Testing

/// FATE 1.4.2's arch/conf/server_conf.json, byte for byte: tab-indented, LF endings.
private let serverConf = """
    {
    \t"servers": {
    \t\t"roll": {
    \t\t\t"host": "localhost",
    \t\t\t"port": 8011
    \t\t},
    \t\t"proxy": {
    \t\t\t"host": "localhost",
    \t\t\t"port": 9370
    \t\t},
    \t\t"fatemanager": {
    \t\t\t"host": "localhost",
    \t\t\t"port": 8001,
    \t\t\t"federatedId": 0
    \t\t},
    \t\t"servings": [
    \t\t\t"127.0.0.1:8000"
    \t\t]
    \t}
    }

    """

/// The same file as FATE 1.4.0 and 1.4.1 ship it, before `federatedId`.
private let serverConfWithoutFederatedId = serverConf.replacingOccurrences(of: "\"port\": 8001,\n\t\t\t\"federatedId\": 0\n", with: "\"port\": 8001\n")

private func parse(_ text: String, file: String = "server_conf.json") throws -> JSONDocument {
    try JSONDocument(parsing: Array(text.utf8), file: file)
}

private func string(_ bytes: [UInt8]) -> String {
    String(decoding: bytes, as: UTF8.self)
}

/// The description of the error parsing `text` gives, or nil when it parses.
private func parseError(_ text: String) -> String? {
    parseError(Array(text.utf8))
}

private func parseError(_ bytes: [UInt8]) -> String? {
    do {
        _ = try JSONDocument(parsing: bytes, file: "server_conf.json")
        return nil
    } catch {
        return error.description
    }
}

/// Paths compared by their bytes: Swift's `==` on String would call an NFC and an NFD key the same.
private func pathBytes(_ path: [String]) -> [[UInt8]] {
    path.map { Array($0.utf8) }
}

@Suite struct JSONDocumentTests {
    /// For the generated tests: FATE_UPGRADE_JSON_SEED repeats a run whose failure message gave it.
    static let seed = ProcessInfo.processInfo.environment["FATE_UPGRADE_JSON_SEED"].flatMap { UInt64($0) }
        ?? UInt64(Date().timeIntervalSince1970 * 1000) % 1_000_000

    // MARK: - The real file

    @Test func listsEveryLeafOfTheRealFile() throws {
        #expect(!serverConf.contains("    "), "the fixture must be tab-indented")
        let document = try parse(serverConf)
        let leaves = document.leaves().map { ($0.path.joined(separator: "."), document.text(of: $0.node)) }
        #expect(leaves.map(\.0) == [
            "servers.roll.host", "servers.roll.port", "servers.proxy.host", "servers.proxy.port",
            "servers.fatemanager.host", "servers.fatemanager.port", "servers.fatemanager.federatedId", "servers.servings",
        ])
        #expect(leaves.map(\.1) == ["\"localhost\"", "8011", "\"localhost\"", "9370", "\"localhost\"", "8001", "0",
                                    "[\n\t\t\t\"127.0.0.1:8000\"\n\t\t]"])
        let servings = try #require(document.node(at: ["servers", "servings"]))
        guard case .array(let elements, _) = servings else { Issue.record("servings is \(servings)"); return }
        #expect(elements.count == 1)
        #expect(document.canonical(servings) == "[\"127.0.0.1:8000\"]")
        guard case .string(let host, let range)? = document.node(at: ["servers", "proxy", "host"]) else {
            Issue.record("no servers.proxy.host"); return
        }
        #expect(host == "localhost")
        #expect(string(Array(document.bytes[range])) == "\"localhost\"")
        #expect(document.node(at: ["servers", "proxy", "nothing"]) == nil)
        #expect(document.node(at: ["servers", "servings", "0"]) == nil)
        #expect(document.node(at: [])?.range == 0..<(serverConf.utf8.count - 1))
    }

    @Test func replacesTheProxyHostAndNothingElse() throws {
        let result = try parse(serverConf).replacing(["servers", "proxy", "host"], with: JSONDocument.quoted("10.0.0.2"))
        #expect(string(result) == """
            {
            \t"servers": {
            \t\t"roll": {
            \t\t\t"host": "localhost",
            \t\t\t"port": 8011
            \t\t},
            \t\t"proxy": {
            \t\t\t"host": "10.0.0.2",
            \t\t\t"port": 9370
            \t\t},
            \t\t"fatemanager": {
            \t\t\t"host": "localhost",
            \t\t\t"port": 8001,
            \t\t\t"federatedId": 0
            \t\t},
            \t\t"servings": [
            \t\t\t"127.0.0.1:8000"
            \t\t]
            \t}
            }

            """)
    }

    @Test func insertsFederatedIdAsFATE142WritesIt() throws {
        let document = try parse(serverConfWithoutFederatedId)
        #expect(document.node(at: ["servers", "fatemanager", "federatedId"]) == nil)
        let result = try document.inserting(key: "federatedId", jsonText: "0", intoObjectAt: ["servers", "fatemanager"])
        #expect(string(result) == serverConf)
        #expect(string(result).contains("\"port\": 8001,\n\t\t\t\"federatedId\": 0\n\t\t}"))
    }

    @Test func replacesServingsWithAMultiLineArray() throws {
        let servings = "[\n\t\t\t\"127.0.0.1:8000\",\n\t\t\t\"127.0.0.1:8001\"\n\t\t]"
        let result = try parse(serverConf).replacing(["servers", "servings"], with: servings)
        #expect(string(result) == serverConf.replacingOccurrences(of: "\t\t\t\"127.0.0.1:8000\"\n", with: "\t\t\t\"127.0.0.1:8000\",\n\t\t\t\"127.0.0.1:8001\"\n"))
        let edited = try JSONDocument(parsing: result, file: "server_conf.json")
        #expect(edited.canonical(try #require(edited.node(at: ["servers", "servings"]))) == "[\"127.0.0.1:8000\",\"127.0.0.1:8001\"]")
    }

    @Test func aCRLFFileStaysCRLF() throws {
        let crlf = { (text: String) in text.replacingOccurrences(of: "\n", with: "\r\n") }
        let document = try parse(crlf(serverConfWithoutFederatedId))
        var result = try document.inserting(key: "federatedId", jsonText: "0", intoObjectAt: ["servers", "fatemanager"])
        #expect(string(result) == crlf(serverConf))
        // A multi-line value written with LF takes the file's CRLF.
        result = try JSONDocument(parsing: result, file: "server_conf.json")
            .replacing(["servers", "servings"], with: "[\n\t\t\t\"127.0.0.1:8000\",\n\t\t\t\"127.0.0.1:8001\"\n\t\t]")
        result = try JSONDocument(parsing: result, file: "server_conf.json").replacing(["servers", "proxy", "host"], with: "\"10.0.0.2\"")
        let expected = serverConf
            .replacingOccurrences(of: "\t\t\t\"127.0.0.1:8000\"\n", with: "\t\t\t\"127.0.0.1:8000\",\n\t\t\t\"127.0.0.1:8001\"\n")
            .replacingOccurrences(of: "\"proxy\": {\n\t\t\t\"host\": \"localhost\"", with: "\"proxy\": {\n\t\t\t\"host\": \"10.0.0.2\"")
        #expect(string(result) == crlf(expected))
        #expect(!string(result).replacingOccurrences(of: "\r\n", with: "").contains("\n"))
    }

    // MARK: - Layouts of an insert

    @Test func insertsIntoAnEmptyObjectOneLevelDeeper() throws {
        let tabs = try parse("{\n\t\"servers\": {\n\t\t\"fatemanager\": {}\n\t}\n}\n")
        #expect(string(try tabs.inserting(key: "federatedId", jsonText: "0", intoObjectAt: ["servers", "fatemanager"]))
                    == "{\n\t\"servers\": {\n\t\t\"fatemanager\": {\n\t\t\t\"federatedId\": 0\n\t\t}\n\t}\n}\n")
        let spaces = try parse("{\r\n    \"a\": 1,\r\n    \"b\": {\r\n        \"c\": { }\r\n    }\r\n}")
        #expect(string(try spaces.inserting(key: "d", jsonText: "[1,\n2]", intoObjectAt: ["b", "c"]))
                    == "{\r\n    \"a\": 1,\r\n    \"b\": {\r\n        \"c\": {\r\n            \"d\": [1,\r\n2]\r\n        }\r\n    }\r\n}")
        #expect(string(try parse("{}").inserting(key: "k", jsonText: "true", intoObjectAt: [])) == "{\n\t\"k\": true\n}")
        #expect(string(try parse("{\"a\":{}}").inserting(key: "k", jsonText: "null", intoObjectAt: ["a"])) == "{\"a\":{\n\t\"k\":null\n}}")
    }

    @Test func insertsAfterTheLastMemberInItsLayout() throws {
        #expect(string(try parse("{\"a\": 1, \"b\": 2}").inserting(key: "c", jsonText: "3", intoObjectAt: [])) == "{\"a\": 1, \"b\": 2, \"c\": 3}")
        #expect(string(try parse("{\"a\":1,\"b\":2}").inserting(key: "c", jsonText: " 3 ", intoObjectAt: [])) == "{\"a\":1,\"b\":2,\"c\":3}")
        // Blank lines before the last member stay where they are; the new member follows it directly.
        #expect(string(try parse("{\n  \"a\" : 1,\n\n  \"b\" : 2\n}").inserting(key: "c", jsonText: "\"x\"", intoObjectAt: []))
                    == "{\n  \"a\" : 1,\n\n  \"b\" : 2,\n  \"c\" : \"x\"\n}")
        #expect(string(try parse("{\"k\": {\"x\": 1}}").inserting(key: "é\"\n", jsonText: "{}", intoObjectAt: ["k"]))
                    == "{\"k\": {\"x\": 1,\"é\\\"\\n\": {}}}")
    }

    @Test func refusesEditsThatCannotBeMade() throws {
        let document = try parse(serverConf)
        func refusal(_ edit: () throws(InputError) -> [UInt8]) -> String? {
            do { _ = try edit(); return nil } catch { return error.description }
        }
        #expect(refusal { () throws(InputError) in try document.inserting(key: "host", jsonText: "1", intoObjectAt: ["servers", "proxy"]) }
                    == "server_conf.json:8:4: the key \"host\" is already in servers.proxy")
        #expect(refusal { () throws(InputError) in try document.inserting(key: "x", jsonText: "1", intoObjectAt: ["servers", "servings"]) }
                    == "server_conf.json:16:15: servers.servings is not an object, so \"x\" cannot be added to it")
        #expect(refusal { () throws(InputError) in try document.inserting(key: "x", jsonText: "1", intoObjectAt: ["nothing"]) }
                    == "server_conf.json: no object at nothing to add \"x\" to")
        #expect(refusal { () throws(InputError) in try document.replacing(["servers", "proxy", "ip"], with: "1") }
                    == "server_conf.json: no value at servers.proxy.ip to replace")
        // Text that would parse only once spliced into the object must not add a member behind the caller's back.
        #expect(refusal { () throws(InputError) in try document.replacing(["servers", "proxy", "port"], with: "1, \"extra\": 2") }
                    == "server_conf.json: the new value for servers.proxy.port is not JSON: unexpected ',' after the top-level value, which ends on line 1 (line 1, column 2 of the value)")
        #expect(refusal { () throws(InputError) in try document.replacing(["servers", "proxy", "port"], with: "") }
                    == "server_conf.json: the new value for servers.proxy.port is not JSON: no JSON value: the file is empty or only whitespace (line 1, column 1 of the value)")
    }

    @Test func replacesTheTopLevelValueAndScalarDocuments() throws {
        #expect(string(try parse(" 1 ").replacing([], with: "[true]")) == " [true] ")
        let document = try parse("\"x\"")
        #expect(document.leaves().count == 1)
        #expect(document.leaves().first?.path == [])
        #expect(try parse("{\"a\": {}}").leaves().isEmpty)
    }

    @Test func keysCompareByTheirScalars() throws {
        // "é" precomposed and "e" + U+0301 are one String to Swift's `==`, two keys to Python.
        let document = try parse("{\"\u{E9}\": 1, \"e\u{301}\": 2}")
        #expect(document.node(at: ["\u{E9}"]).map(document.text(of:)) == "1")
        #expect(document.node(at: ["e\u{301}"]).map(document.text(of:)) == "2")
        let result = try document.replacing(["e\u{301}"], with: "3")
        #expect(string(result) == "{\"\u{E9}\": 1, \"e\u{301}\": 3}")
    }

    @Test func quotesAndCanonicalizesStrings() throws {
        #expect(JSONDocument.quoted("a\"b\\c\n\t\u{1}é😀/") == "\"a\\\"b\\\\c\\n\\t\\u0001é😀/\"")
        let document = try parse("[\"\\u00e9\\ud83d\\ude00\\/\\u007F\u{7F}\", 1.50, -0, 1E+3]")
        #expect(document.canonical(document.root) == "[\"\\u00e9\\ud83d\\ude00/\\u007f\\u007f\",1.50,-0,1E+3]")
        guard case .array(let elements, _) = document.root, case .string(let text, _) = elements[0] else {
            Issue.record("not an array of a string"); return
        }
        #expect(text == "é😀/\u{7F}\u{7F}")
    }

    @Test func acceptsAByteOrderMarkAtTheStart() throws {
        let bytes: [UInt8] = [0xEF, 0xBB, 0xBF] + Array("{\"a\": 1}".utf8)
        let document = try JSONDocument(parsing: bytes, file: "server_conf.json")
        #expect(document.root.range == 3..<bytes.count)
        #expect(string(try document.replacing(["a"], with: "2")) == "\u{FEFF}{\"a\": 2}")
        #expect(parseError(" \u{FEFF}{}") == "server_conf.json:1:2: expected a value, found U+FEFF (a byte order mark)")
    }

    // MARK: - Errors

    @Test func namesTheLineAndColumnOfEachError() throws {
        let cases: [(String, String)] = [
            ("{\n\t\"a\": 1,\n}", "2:8: a trailing comma before '}'"),
            ("[1, 2,]", "1:6: a trailing comma before ']'"),
            ("{\n\t// the proxy\n\t\"a\": 1\n}", "2:2: a comment (JSON has no comments)"),
            ("{\"a\": 1 /* x */}", "1:9: a comment (JSON has no comments)"),
            ("{}\n# end", "2:1: a comment (JSON has no comments)"),
            ("[1, /* x */ 2]", "1:5: a comment (JSON has no comments)"),
            ("{'host': 1}", "1:2: a single-quoted string (JSON strings are in double quotes)"),
            ("{\"host\": 'x'}", "1:10: a single-quoted string (JSON strings are in double quotes)"),
            ("{\n  host: 1\n}", "2:3: an unquoted key host (keys are written in double quotes)"),
            ("{\"port\": 08011}", "1:10: a number with a leading zero: 08011"),
            ("[-00]", "1:2: a number with a leading zero: -00"),
            ("{\"a\": 1}\n}", "2:1: unexpected '}' after the top-level value, which ends on line 1"),
            ("{\"a\": 1} x", "1:10: unexpected 'x' after the top-level value, which ends on line 1"),
            ("{\n\t\"host\": \"a\",\n\t\"port\": 1,\n\t\"host\": \"b\"\n}", "4:2: a duplicate key \"host\" (also on line 2)"),
            ("{\"a\": 1, \"\\u0061\": 2}", "1:10: a duplicate key \"a\" (also on line 1)"),
            ("[\"\\ud800\"]", "1:3: a lone surrogate \\ud800 in a string (a high surrogate must be followed by a low one)"),
            ("[\"\\ud800\\u0041\"]", "1:3: a lone surrogate \\ud800 in a string (a high surrogate must be followed by a low one)"),
            ("[\"x\\uDC00\"]", "1:4: a lone surrogate \\uDC00 in a string (a low surrogate must follow a high one)"),
            ("[\"\\u12\"]", "1:3: expected four hex digits after \\u"),
            ("[\"\\x\"]", "1:3: an invalid escape \\x in a string"),
            ("[\"a\tb\"]", "1:4: a control character U+0009 inside a string (write \\u0009)"),
            ("[\"a\nb\"]", "1:4: a line break inside a string (a string ends on the line it starts; write \\n)"),
            ("{\"a\": \"abc", "1:7: a string with no closing quote"),
            ("{\"a\": 1", "1:8: the file ends inside the object opened on line 1"),
            ("[\n[1,\n", "3:1: the file ends where a value is expected inside the array opened on line 2"),
            ("{\"a\" 1}", "1:6: expected ':' after the key \"a\", found '1'"),
            ("{\"a\": 1 \"b\": 2}", "1:9: expected ',' or '}' after an object member, found '\"'"),
            ("[1 2]", "1:4: expected ',' or ']' after an array element, found '2'"),
            ("{\"a\": }", "1:7: expected a value, found '}'"),
            ("{,}", "1:2: expected a key in double quotes or '}', found ','"),
            ("{\"a\": NaN}", "1:7: NaN is not a JSON number"),
            ("[-Infinity]", "1:2: -Infinity is not a JSON number"),
            ("{\"a\": True}", "1:7: True is Python, not JSON (JSON writes true)"),
            ("[None]", "1:2: None is Python, not JSON (JSON writes null)"),
            ("[nul]", "1:2: unexpected word nul, expected a value"),
            ("[1.]", "1:4: expected a digit after the decimal point, found ']'"),
            ("[1e+]", "1:5: expected a digit in the exponent, found ']'"),
            ("[-]", "1:3: expected a digit after '-', found ']'"),
            ("[.5]", "1:2: expected a value, found '.'"),
            ("[+1]", "1:2: expected a value, found '+'"),
            ("[\u{C}1]", "1:2: expected a value, found U+000C"),
            ("", "1:1: no JSON value: the file is empty or only whitespace"),
            (" \r\n\t", "2:2: no JSON value: the file is empty or only whitespace"),
            ("{\"é\": x}", "1:8: unexpected word x, expected a value"),
        ]
        for (input, expected) in cases {
            #expect(parseError(input) == "server_conf.json:\(expected)", "\(input.debugDescription)")
        }
    }

    @Test func refusesBytesThatAreNotUTF8() throws {
        #expect(parseError(Array("{\n\t\"a\": \"".utf8) + [0xFF] + Array("\"\n}".utf8)) == "server_conf.json:2:8: not UTF-8 text")
        // A surrogate encoded in UTF-8 (CESU-8) is not UTF-8 either.
        #expect(parseError(Array("[\n\n\"".utf8) + [0xED, 0xA0, 0x80] + Array("\"]".utf8)) == "server_conf.json:3:2: not UTF-8 text")
        #expect(parseError([0xEF, 0xBB]) == "server_conf.json:1:1: not UTF-8 text")
    }

    @Test func boundsTheNestingDepth() throws {
        let depth = JSONDocument.maximumDepth
        let deepest = String(repeating: "[", count: depth) + String(repeating: "]", count: depth)
        let document = try parse(deepest)
        #expect(document.canonical(document.root) == deepest)
        let objects = String(repeating: "{\"a\":", count: depth - 1) + "[]" + String(repeating: "}", count: depth - 1)
        #expect(try parse(objects).leaves().first?.path.count == depth - 1)
        #expect(parseError("[" + deepest + "]") == "server_conf.json:1:\(depth + 1): nesting deeper than \(depth) levels")
        // Far deeper than any stack could recurse, to show nothing does.
        #expect(parseError(String(repeating: "[", count: 1_000_000)) == "server_conf.json:1:\(depth + 1): nesting deeper than \(depth) levels")
        #expect(parseError(String(repeating: "{\"a\":", count: 100_000)) == "server_conf.json:1:\(5 * depth + 1): nesting deeper than \(depth) levels")
    }

    @Test func acceptsAnyTopLevelValue() throws {
        for text in ["\"x\"", "42", "-0.5e-7", "true", "false", "null", "[]", "{}", " \n 7 \r\n"] {
            #expect(parseError(text) == nil, "\(text.debugDescription)")
        }
    }

    // MARK: - Against Python's json

    @Test(.timeLimit(.minutes(5))) func agreesWithPythonOnGeneratedDocumentsAndTheirEdits() throws {
        let seed = Self.seed
        var generator = JSONGenerator(seed: seed)
        let folder = try Support.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let count = 400

        /// What Python must read from each file written, by file name.
        var expected: [String: String] = [:]
        var edits = (replaced: 0, inserted: 0)
        for number in 0..<count {
            let bytes = generator.document()
            let name = String(format: "%04d", number)
            let context = "seed \(seed), document \(number): \(string(bytes).debugDescription)"
            try Data(bytes).write(to: folder.appendingPathComponent("\(name)-doc.json"))
            let document: JSONDocument
            do {
                document = try JSONDocument(parsing: bytes, file: "\(name)-doc.json")
            } catch {
                Issue.record("\(context): \(error)")
                continue
            }
            expected["\(name)-doc.json"] = document.canonical(document.root)

            // A random leaf takes another generated value.
            let leaves = document.leaves()
            if let leaf = leaves.randomElement(using: &generator.random) {
                let depth = generator.int(0...3)
                let text = generator.value(depth: depth)
                let replacementContext = "\(context): replacing \(leaf.path) with \(text.debugDescription)"
                do {
                    let result = try document.replacing(leaf.path, with: text)
                    try Data(result).write(to: folder.appendingPathComponent("\(name)-rep.json"))
                    let value = try parse(text)
                    let newCanonical = value.canonical(value.root)
                    expected["\(name)-rep.json"] = expectedCanonical(document, document.root, at: [], target: leaf.path, replacement: newCanonical)
                    checkEdit(document, result, at: leaf.path, holds: newCanonical, unchanged: leaf.node.range, replaced: true, replacementContext)
                    edits.replaced += 1
                } catch {
                    Issue.record("\(replacementContext): \(error)")
                }
            }

            // A new member in a random object that a path of keys reaches.
            if let objectPath = objectPaths(document.root, []).randomElement(using: &generator.random),
               case .object(let members, let range)? = document.node(at: objectPath) {
                var key = generator.string(maxPieces: 4).decoded
                while members.contains(where: { $0.key.unicodeScalars.elementsEqual(key.unicodeScalars) }) { key += "x" }
                let depth = generator.int(0...3)
                let text = generator.value(depth: depth)
                let insertContext = "\(context): inserting \(key.debugDescription): \(text.debugDescription) into \(objectPath)"
                do {
                    let result = try document.inserting(key: key, jsonText: text, intoObjectAt: objectPath)
                    try Data(result).write(to: folder.appendingPathComponent("\(name)-ins.json"))
                    let value = try parse(text)
                    let newCanonical = value.canonical(value.root)
                    expected["\(name)-ins.json"] = expectedCanonical(document, document.root, at: [], target: objectPath, appending: (key, newCanonical))
                    // Kept: everything up to the last member's value, and from there on; in an empty object, `{` and `}`.
                    let kept = members.last.map { $0.value.range.upperBound..<$0.value.range.upperBound } ?? (range.lowerBound + 1)..<(range.upperBound - 1)
                    checkEdit(document, result, at: objectPath + [key], holds: newCanonical, unchanged: kept, replaced: false, insertContext)
                    edits.inserted += 1
                } catch {
                    Issue.record("\(insertContext): \(error)")
                }
            }
        }
        #expect(edits.replaced >= count * 3 / 4 && edits.inserted >= count / 2, "seed \(seed): \(edits)")

        let python = try pythonReadings(of: folder)
        for (name, canonical) in expected.sorted(by: { $0.key < $1.key }) {
            #expect(python[name] == "OK \(canonical)", "seed \(seed), \(name): Python read \(python[name] ?? "nothing")")
        }
        #expect(python.count == expected.count, "seed \(seed): Python read \(python.count) files, \(expected.count) written")
    }

    // MARK: - Mutations of the real file

    @Test(.timeLimit(.minutes(5))) func survivesRandomMutationsOfTheRealFile() throws {
        let seed = Self.seed
        var random = SeededGenerator(seed: seed)
        let original = Array(serverConf.utf8)
        let tokens: [[UInt8]] = ["{", "}", "[", "]", "\"", ",", ":", "\\", "\\u", "\\ud800", "\\udc00", "0", "-", ".", "e", "+",
                                 "true", "nul", "NaN", "//", "/*", "'", " ", "\t", "\n", "\r\n", "[[[[[[[[", "\u{FEFF}", "é"]
            .map { Array($0.utf8) } + [[0x00], [0x7F], [0x80], [0xC3], [0xED, 0xA0, 0x80], [0xEF, 0xBB, 0xBF], [0xFF], [0xF4, 0x90, 0x80, 0x80]]
        let folder = try Support.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        var outcomes: [String: (canonical: String?, error: InputError?)] = [:]
        var parsed = 0
        for number in 0..<2000 {
            var bytes = original
            for _ in 0..<Int.random(in: 1...4, using: &random) {
                let at = Int.random(in: 0...bytes.count, using: &random)
                switch Int.random(in: 0..<6, using: &random) {
                case 0 where at < bytes.count: bytes[at] ^= 1 << UInt8.random(in: 0..<8, using: &random)
                case 1 where at < bytes.count: bytes.remove(at: at)
                case 2: bytes.insert(contentsOf: tokens.randomElement(using: &random)!, at: at)
                case 3 where at < bytes.count: bytes[at] = tokens.randomElement(using: &random)![0]
                case 4:
                    let end = Int.random(in: at...min(bytes.count, at + 40), using: &random)
                    bytes.insert(contentsOf: bytes[at..<end], at: Int.random(in: 0...bytes.count, using: &random))
                default: bytes.removeSubrange(at..<Int.random(in: at...min(bytes.count, at + 20), using: &random))
                }
            }
            let name = String(format: "%04d-mut.json", number)
            try Data(bytes).write(to: folder.appendingPathComponent(name))
            let document: JSONDocument
            do {
                document = try JSONDocument(parsing: bytes, file: name)
            } catch {
                #expect(!error.description.contains("\n") && error.location.line != nil && error.location.column != nil,
                        "seed \(seed), \(name): \(error)")
                #expect((error.location.line ?? 0) <= bytes.count(where: { $0 == 0x0A }) + 1, "seed \(seed), \(name): \(error)")
                outcomes[name] = (nil, error)
                continue
            }
            parsed += 1
            outcomes[name] = (document.canonical(document.root), nil)
            // Whatever parses can be walked and edited.
            for leaf in document.leaves() {
                do {
                    _ = try document.replacing(leaf.path, with: "1")
                } catch {
                    Issue.record("seed \(seed), \(name): replacing \(leaf.path): \(error)")
                }
            }
            if case .object = document.root {
                do {
                    _ = try document.inserting(key: "\u{0}new", jsonText: "{\n}", intoObjectAt: [])
                } catch {
                    Issue.record("seed \(seed), \(name): inserting: \(error)")
                }
            }
        }
        // Whatever this accepts Python reads the same; whatever Python reads this refuses only for what it
        // refuses on purpose.
        let python = try pythonReadings(of: folder)
        let onPurpose = ["a duplicate key", "a lone surrogate", "is not a JSON number", "nesting deeper"]
        for (name, outcome) in outcomes.sorted(by: { $0.key < $1.key }) {
            let reading = python[name] ?? "nothing"
            if let canonical = outcome.canonical {
                #expect(reading == "OK \(canonical)", "seed \(seed), \(name): Python read \(reading)")
            } else if reading.hasPrefix("OK "), let error = outcome.error {
                #expect(onPurpose.contains { error.message.contains($0) }, "seed \(seed), \(name): Python reads it, but \(error)")
            }
        }
        #expect(parsed > 0, "seed \(seed): no mutation parsed")
    }
}

// MARK: - Checking an edit

/// Checks an edit of `document` from outside: the result parses, holds the new value at `path`, keeps every
/// other leaf, and keeps every byte before and after `unchanged` (the replaced value, or the insertion point).
private func checkEdit(_ document: JSONDocument, _ result: [UInt8], at path: [String], holds canonical: String,
                       unchanged: Range<Int>, replaced: Bool, _ context: String) {
    #expect(Array(result.prefix(unchanged.lowerBound)) == Array(document.bytes.prefix(unchanged.lowerBound)), "\(context): the bytes before changed")
    let after = document.bytes.count - unchanged.upperBound
    #expect(Array(result.suffix(after)) == Array(document.bytes.suffix(after)), "\(context): the bytes after changed")
    let edited: JSONDocument
    do {
        edited = try JSONDocument(parsing: result, file: "edited")
    } catch {
        Issue.record("\(context): the result does not parse: \(error)\n\(string(result))")
        return
    }
    #expect(edited.node(at: path).map(edited.canonical) == canonical, "\(context): the new value is not there")
    let isUnder = { (leaf: [String]) in leaf.count >= path.count && pathBytes(Array(leaf.prefix(path.count))) == pathBytes(path) }
    let before = document.leaves().filter { !(replaced && isUnder($0.path)) }.map { (pathBytes($0.path), document.canonical($0.node)) }
    let now = edited.leaves().filter { !isUnder($0.path) }.map { (pathBytes($0.path), edited.canonical($0.node)) }
    #expect(before.map(\.0) == now.map(\.0) && before.map(\.1) == now.map(\.1), "\(context): other leaves changed")
}

/// The canonical form `document` would have with the value at `target` replaced by `replacement`, or with a
/// member appended to the object at `target`: what Python must read from a correct edit.
private func expectedCanonical(_ document: JSONDocument, _ node: JSONDocument.Node, at path: [String], target: [String],
                               replacement: String? = nil, appending member: (key: String, value: String)? = nil) -> String {
    let here = pathBytes(path) == pathBytes(target)
    if here, let replacement { return replacement }
    guard case .object(let members, _) = node else { return document.canonical(node) }
    var parts = members.map {
        document.canonical(.string($0.key, range: 0..<0)) + ":"
            + expectedCanonical(document, $0.value, at: path + [$0.key], target: target, replacement: replacement, appending: member)
    }
    if here, let member { parts.append(document.canonical(.string(member.key, range: 0..<0)) + ":" + member.value) }
    return "{" + parts.joined(separator: ",") + "}"
}

/// Every object a path of keys reaches (objects inside arrays are not addressed).
private func objectPaths(_ node: JSONDocument.Node, _ path: [String]) -> [[String]] {
    guard case .object(let members, _) = node else { return [] }
    return [path] + members.flatMap { objectPaths($0.value, path + [$0.key]) }
}

/// Python's reading of every file in `folder`, in one bounded run: `OK <canonical>` or `ERR <why>`, by file
/// name. The bytes are decoded as UTF-8 (a BOM dropped) before json.loads, as FATE's `json.load(open(…))` does. The canonical form is `JSONDocument.canonical`'s: numbers as written (parse_int/parse_float keep
/// the text), members in order with duplicates kept (object_pairs_hook), strings as json.dumps writes them.
private func pythonReadings(of folder: URL) throws -> [String: String] {
    let run = try Support.run("python3", ["-c", """
        import json, os, signal, sys
        signal.alarm(240)
        class Number(str): pass
        class Members(list): pass
        def canonical(v):
            if isinstance(v, Members):
                return '{' + ','.join(json.dumps(k, ensure_ascii=True) + ':' + canonical(x) for k, x in v) + '}'
            if isinstance(v, list):
                return '[' + ','.join(canonical(x) for x in v) + ']'
            if isinstance(v, Number):
                return str(v)
            if isinstance(v, str):
                return json.dumps(v, ensure_ascii=True)
            if v is True or v is False or v is None:
                return json.dumps(v)
            raise TypeError(type(v).__name__)
        sys.setrecursionlimit(10000)
        for name in sorted(os.listdir(sys.argv[1])):
            with open(os.path.join(sys.argv[1], name), 'rb') as f:
                data = f.read()
            try:
                # Strictly, as FATE's open() decodes: json.loads(bytes) would let UTF-8-encoded surrogates through.
                value = json.loads(data.decode('utf-8-sig'), object_pairs_hook=Members, parse_int=Number, parse_float=Number)
                print(name, 'OK', canonical(value))
            except Exception as e:
                print(name, 'ERR', ascii(e))
        """, folder.path], environment: ["PYTHONIOENCODING": "utf-8"], timeout: .seconds(300))
    guard run.status == 0 else { throw Failure("python3: \(run.stderr)") }
    var readings: [String: String] = [:]
    for line in run.stdout.split(separator: "\n") {
        let parts = line.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: false)
        if parts.count == 2 { readings[String(parts[0])] = String(parts[1]) }
    }
    return readings
}

// MARK: - Generating documents

/// SplitMix64: small, seedable, and the same sequence on every platform.
private struct SeededGenerator: RandomNumberGenerator {
    private var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Random JSON text in random layouts: compact, indented (tabs or spaces, LF or CRLF), or whitespace of every
/// kind scattered between tokens. Keys are unique per object by their decoded scalars, as a file FATE can
/// be given without ambiguity must have them.
private struct JSONGenerator {
    enum Layout {
        case compact
        case indented(unit: String, lineBreak: String, colon: String)
        case scattered
    }

    var random: SeededGenerator
    var layout = Layout.compact

    init(seed: UInt64) { random = SeededGenerator(seed: seed) }

    mutating func int(_ range: ClosedRange<Int>) -> Int { Int.random(in: range, using: &random) }
    mutating func chance(_ probability: Double) -> Bool { Double.random(in: 0..<1, using: &random) < probability }
    mutating func pick<T>(_ items: [T]) -> T { items.randomElement(using: &random)! }

    mutating func document() -> [UInt8] {
        switch int(0...3) {
        case 0: layout = .compact
        case 1, 2: layout = .indented(unit: pick(["\t", "  ", "    "]), lineBreak: pick(["\n", "\r\n"]), colon: pick([": ", ":", " : "]))
        default: layout = .scattered
        }
        var text = chance(0.05) ? "\u{FEFF}" : ""
        text += chance(0.2) ? whitespace() : ""
        switch int(0...9) {
        case 0...6: text += object(depth: 0)
        case 7, 8: text += array(depth: 0)
        default: text += scalar()
        }
        if case .indented(_, let lineBreak, _) = layout { text += lineBreak } else if chance(0.3) { text += whitespace() }
        return Array(text.utf8)
    }

    /// One value; containers get rarer with depth.
    mutating func value(depth: Int) -> String {
        if depth < 5, chance(0.5 - 0.1 * Double(depth)) {
            return chance(0.6) ? object(depth: depth) : array(depth: depth)
        }
        return scalar()
    }

    mutating func object(depth: Int) -> String {
        var seen: Set<[UInt32]> = []
        var members: [String] = []
        let count = int(0...5)
        while members.count < count {
            let key = string(maxPieces: 5)
            guard seen.insert(key.decoded.unicodeScalars.map(\.value)).inserted else { continue }
            members.append(key.text + colon() + value(depth: depth + 1))
        }
        return container("{", members, "}", depth: depth)
    }

    mutating func array(depth: Int) -> String {
        var elements: [String] = []
        for _ in 0..<int(0...5) { elements.append(value(depth: depth + 1)) }
        return container("[", elements, "]", depth: depth)
    }

    mutating func container(_ open: String, _ items: [String], _ close: String, depth: Int) -> String {
        switch layout {
        case .compact:
            return open + items.joined(separator: ",") + close
        case .indented(let unit, let lineBreak, _):
            guard !items.isEmpty else { return open + close }
            let inner = String(repeating: unit, count: depth + 1)
            return open + lineBreak + items.map { inner + $0 }.joined(separator: "," + lineBreak)
                + lineBreak + String(repeating: unit, count: depth) + close
        case .scattered:
            var text = open + gap()
            for (index, item) in items.enumerated() {
                text += (index > 0 ? "," + gap() : "") + item + gap()
            }
            return text + close
        }
    }

    mutating func colon() -> String {
        switch layout {
        case .compact: ":"
        case .indented(_, _, let colon): colon
        case .scattered: gap() + ":" + gap()
        }
    }

    mutating func gap() -> String { chance(0.5) ? whitespace() : "" }

    mutating func whitespace() -> String {
        (0..<int(1...3)).map { _ in pick([" ", "\t", "\n", "\r\n", "\r", "  "]) }.joined()
    }

    mutating func scalar() -> String {
        switch int(0...9) {
        case 0...3: string(maxPieces: 8).text
        case 4...6: number()
        default: pick(["true", "false", "null"])
        }
    }

    mutating func number() -> String {
        var text = chance(0.3) ? "-" : ""
        if chance(0.2) {
            text += "0"
        } else {
            text += String(int(1...9)) + digits(int(0...(chance(0.1) ? 30 : 8)))
        }
        if chance(0.3) { text += "." + digits(int(1...6)) }
        if chance(0.25) { text += pick(["e", "E"]) + pick(["", "+", "-"]) + digits(int(1...3)) }
        return text
    }

    mutating func digits(_ count: Int) -> String {
        String((0..<count).map { _ in Character(String(int(0...9))) })
    }

    /// A string as decoded text and as JSON text, from pieces: printable ASCII, short escapes, `\u` escapes
    /// (hex in either case, surrogate pairs, controls), raw non-ASCII (combining marks, astral scalars).
    mutating func string(maxPieces: Int) -> (decoded: String, text: String) {
        var decoded = String.UnicodeScalarView()
        var text = "\""
        for _ in 0..<int(0...maxPieces) {
            switch int(0...9) {
            case 0...3:
                let scalar = Unicode.Scalar(pick(Array(0x20...0x7F).filter { $0 != 0x22 && $0 != 0x5C }))!
                decoded.append(scalar)
                text.unicodeScalars.append(scalar)
            case 4:
                let (escape, scalar) = pick([("\\\"", 0x22), ("\\\\", 0x5C), ("\\/", 0x2F), ("\\b", 0x08), ("\\f", 0x0C),
                                             ("\\n", 0x0A), ("\\r", 0x0D), ("\\t", 0x09)] as [(String, UInt32)])
                decoded.append(Unicode.Scalar(scalar)!)
                text += escape
            case 5:
                var value = UInt32(int(0...0xFFFF))
                if (0xD800...0xDFFF).contains(value) { value -= 0x800 }
                decoded.append(Unicode.Scalar(value)!)
                text += "\\u" + hex(value)
            case 6:
                let value = UInt32(int(0x10000...0x10FFFF))
                decoded.append(Unicode.Scalar(value)!)
                text += "\\u" + hex(0xD800 + ((value - 0x10000) >> 10)) + "\\u" + hex(0xDC00 + ((value - 0x10000) & 0x3FF))
            case 7:
                let value = UInt32(pick([0x00, 0x01, 0x1F, 0x61, 0x7F]))
                decoded.append(Unicode.Scalar(value)!)
                text += "\\u" + hex(value)
            case 8:
                let scalar = pick(["é", "e\u{301}", "中", "Ж", "😀", "\u{2028}", "\u{FEFF}", "\u{10FFFF}", "\u{FFFE}"] as [String])
                decoded.append(contentsOf: scalar.unicodeScalars)
                text += scalar
            default:
                var value = UInt32(int(0x80...0x10FFFF))
                if (0xD800...0xDFFF).contains(value) { value = 0xE000 }
                decoded.append(Unicode.Scalar(value)!)
                text.unicodeScalars.append(Unicode.Scalar(value)!)
            }
        }
        return (String(decoded), text + "\"")
    }

    /// Four hex digits, each in a random case.
    mutating func hex(_ value: UInt32) -> String {
        let digits = String(value, radix: 16)
        return String((String(repeating: "0", count: 4 - digits.count) + digits).map { chance(0.5) ? Character($0.uppercased()) : $0 })
    }
}
