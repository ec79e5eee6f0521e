import FateUpgradeCore
import Foundation
import Testing

private let fixtures = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("Fixtures/python-1.4.0/fate_flow")

private func fixture(_ path: String) throws -> PythonSettingsFile {
    try PythonSettingsFile(parsing: [UInt8](Data(contentsOf: fixtures.appendingPathComponent(path))), file: path)
}

private func parse(_ text: String) throws -> PythonSettingsFile {
    try PythonSettingsFile(parsing: Array(text.utf8), file: "settings.py")
}

/// The value of module-level X in a one-assignment source.
private func value(_ text: String, _ name: String = "X") throws -> PythonValue? {
    try parse(text).moduleValue(name)?.value
}

private func parseError(_ bytes: [UInt8]) -> InputError? {
    do { _ = try PythonSettingsFile(parsing: bytes, file: "settings.py"); return nil } catch { return error }
}

@Suite struct PythonSettingsFileTests {
    // MARK: - FATE 1.4.0 fixtures

    @Test func readsTheZooKeeperSettingsOfFate140SettingsPy() throws {
        let settings = try fixture("settings.py")
        #expect(settings.moduleValue("USE_CONFIGURATION_CENTER")
                == PythonAssignment(name: "USE_CONFIGURATION_CENTER", line: 39, source: "False", value: .bool(false)))
        #expect(settings.moduleValue("ZOOKEEPER_HOSTS")
                == PythonAssignment(name: "ZOOKEEPER_HOSTS", line: 40, source: "['127.0.0.1:2181']",
                                    value: .list([.string("127.0.0.1:2181")])))
        #expect(settings.classAssignments.isEmpty)
    }

    @Test func readsEveryModuleLevelAssignmentOfSettingsPyAsPythonWould() throws {
        let settings = try fixture("settings.py")
        // The list Python's own `ast` gives for the fixture's module body.
        #expect(settings.moduleAssignments.map(\.name) == [
            "WORK_MODE", "USE_LOCAL_DATABASE", "USE_LOCAL_DATA", "USE_AUTHENTICATION", "PRIVILEGE_COMMAND_WHITELIST",
            "CHECK_NODES_IDENTITY", "USE_CONFIGURATION_CENTER", "ZOOKEEPER_HOSTS", "MAX_CONCURRENT_JOB_RUN",
            "MAX_CONCURRENT_JOB_RUN_HOST", "_ONE_DAY_IN_SECONDS", "DEFAULT_GRPC_OVERALL_TIMEOUT", "JOB_DEFAULT_TIMEOUT",
            "DATABASE", "MODEL_STORE_ADDRESS", "API_VERSION", "ROLE", "SERVERS", "MAX_TIMESTAMP_INTERVAL", "HEADERS",
            "IP", "HTTP_PORT", "GRPC_PORT", "SERVINGS_ZK_PATH", "FATE_FLOW_ZK_PATH", "FATE_FLOW_MODEL_TRANSFER_PATH",
            "FATE_MANAGER_GET_NODE_INFO_ENDPOINT", "FATE_MANAGER_NODE_CHECK_ENDPOINT", "server_conf", "PROXY_HOST",
            "PROXY_PORT", "BOARD_HOST", "BOARD_PORT", "MANAGER_HOST", "MANAGER_PORT", "SERVINGS", "BOARD_DASHBOARD_URL",
            "DEFAULT_PROCESSORS_PER_NODE", "SAVE_AS_TASK_INPUT_DATA_SWITCH", "SAVE_AS_TASK_INPUT_DATA_IN_MEMORY",
            "stat_logger", "detect_logger", "access_logger", "audit_logger",
        ])
        #expect(settings.moduleValue("API_VERSION")?.value == .string("v1"))
        #expect(settings.moduleValue("ROLE") == PythonAssignment(name: "ROLE", line: 54, source: "'fateflow'", value: .string("fateflow")))
        #expect(settings.moduleValue("SERVERS")?.value == .string("servers"))
        #expect(settings.moduleValue("MAX_CONCURRENT_JOB_RUN")?.value == .int(5))
        #expect(settings.moduleValue("MAX_CONCURRENT_JOB_RUN")?.line == 42)
        #expect(settings.moduleValue("PRIVILEGE_COMMAND_WHITELIST")?.value == .list([]))
        #expect(settings.moduleValue("SERVINGS_ZK_PATH")
                == PythonAssignment(name: "SERVINGS_ZK_PATH", line: 67, source: "'/FATE-SERVICES/serving/online/publishLoad/providers'",
                                    value: .string("/FATE-SERVICES/serving/online/publishLoad/providers")))
        #expect(settings.moduleValue("FATE_FLOW_ZK_PATH")?.value == .string("/FATE-SERVICES/flow/online/transfer/providers"))
        #expect(settings.moduleValue("FATE_FLOW_MODEL_TRANSFER_PATH")?.value == .string("/v1/model/transfer"))
    }

    @Test func keepsTheSourceOfNonLiteralSettingsInTheFixture() throws {
        let settings = try fixture("settings.py")
        #expect(settings.moduleValue("WORK_MODE")
                == PythonAssignment(name: "WORK_MODE", line: 25, source: "get_base_config('work_mode', 0)", value: nil))
        #expect(settings.moduleValue("_ONE_DAY_IN_SECONDS")?.source == "60 * 60 * 24")
        #expect(settings.moduleValue("_ONE_DAY_IN_SECONDS")?.value == nil)
        #expect(settings.moduleValue("DEFAULT_GRPC_OVERALL_TIMEOUT")?.source == "60 * 1000 * 60")
        #expect(settings.moduleValue("HEADERS")
                == PythonAssignment(name: "HEADERS", line: 58, source: "{'Content-Type': 'application/json', 'Connection': 'close'}", value: nil))
        #expect(settings.moduleValue("server_conf")
                == PythonAssignment(name: "server_conf", line: 73,
                                    source: "file_utils.load_json_conf(os.path.join(file_utils.get_project_base_directory(), 'arch', 'conf', 'server_conf.json'))",
                                    value: nil))
        #expect(settings.moduleValue("BOARD_DASHBOARD_URL")
                == PythonAssignment(name: "BOARD_DASHBOARD_URL", line: 84,
                                    source: "'http://%s:%d/index.html#/dashboard?job_id={}&role={}&party_id={}' % (BOARD_HOST, BOARD_PORT)",
                                    value: nil))
        #expect(settings.moduleValue("DEFAULT_PROCESSORS_PER_NODE")
                == PythonAssignment(name: "DEFAULT_PROCESSORS_PER_NODE", line: 85,
                                    source: "get_base_config('default_processors_per_node', 0) or os.cpu_count()", value: nil))
        #expect(settings.moduleValue("stat_logger")
                == PythonAssignment(name: "stat_logger", line: 99, source: "log_utils.getLogger(\"fate_flow_stat\")", value: nil))
        // `BOARD_HOST = get_lan_ip()` under `if BOARD_HOST == 'localhost':` is conditional.
        #expect(settings.moduleAssignments.filter { $0.name == "BOARD_HOST" }.map(\.line) == [77])
    }

    @Test func readsCenterConfigOfFate140SettingUtilsPy() throws {
        let utils = try fixture("utils/setting_utils.py")
        #expect(Array(utils.classAssignments.keys) == ["CenterConfig"])
        #expect(utils.classAssignments["CenterConfig"] == [
            PythonAssignment(name: "SERVERS", line: 30, source: "None", value: PythonValue.none),
            PythonAssignment(name: "USE_ACL", line: 31, source: "False", value: .bool(false)),
            PythonAssignment(name: "ZK_USERNAME", line: 32, source: "'fate'", value: .string("fate")),
            PythonAssignment(name: "ZK_PASSWORD", line: 33, source: "'fate'", value: .string("fate")),
        ])
        // `USE_ACL = True` in enable_acl and the conditional one in init are method locals;
        // `CenterConfig.USE_ACL = …` is an attribute, set only when the method runs.
        #expect(utils.classValue("CenterConfig", "USE_ACL")?.value == .bool(false))
        #expect(utils.classValue("CenterConfig", "USE_ACL")?.line == 31)
        #expect(utils.classValue("CenterConfig", "zk") == nil)
        #expect(utils.classValue("CenterConfig", "default_acl") == nil)
        #expect(utils.moduleAssignments == [PythonAssignment(name: "SERVERS_KEY", line: 102, source: "'servings'", value: .string("servings"))])
        #expect(utils.moduleValue("USE_CONFIGURATION_CENTER") == nil)
        #expect(utils.classValue("Missing", "USE_ACL") == nil)
    }

    // MARK: - Strings

    @Test func readsEveryQuoteForm() throws {
        let file = try parse(#"""
            A = 'single'
            B = "double"
            C = '''triple 'single' "quotes"'''
            D = """triple "double" 'quotes'"""
            E = ''
            F = ""
            G = ''''''
            H = 'it"s'
            I = "it's"
            J = u'unicode'
            K = U"UNICODE"
            L = '日本語 ünïcode'
            """#)
        #expect(file.moduleAssignments.map(\.value) == [
            .string("single"), .string("double"), .string(#"triple 'single' "quotes""#), .string(#"triple "double" 'quotes'"#),
            .string(""), .string(""), .string(""), .string(#"it"s"#), .string("it's"), .string("unicode"), .string("UNICODE"),
            .string("日本語 ünïcode"),
        ])
        #expect(file.moduleValue("C")?.source == #"'''triple 'single' "quotes"'''"#)
        #expect(file.moduleValue("L")?.line == 12)
    }

    @Test func decodesEveryEscape() throws {
        #expect(try value(#"X = 'a\nb\tc\rd'"#) == .string("a\nb\tc\rd"))
        #expect(try value(#"X = "\\ \' \"""#) == .string(#"\ ' ""#))
        #expect(try value(#"X = '\0\a\b\f\v'"#) == .string("\u{0}\u{7}\u{8}\u{C}\u{B}"))
        #expect(try value(#"X = '\101\60\1010'"#) == .string("A0A0"))
        #expect(try value(#"X = '\x41\xe9\xff'"#) == .string("Aéÿ"))
        #expect(try value(#"X = '\u00e9\u65e5'"#) == .string("é日"))
        #expect(try value(#"X = '\U0001F600\U00000041'"#) == .string("😀A"))
        // Python keeps an unknown escape as written.
        #expect(try value(#"X = '\d+\.'"#) == .string(#"\d+\."#))
        // Named escapes need Unicode's name table, and lone surrogates cannot be a Swift String.
        #expect(try value(#"X = '\N{BULLET}'"#) == nil)
        #expect(try value(#"X = '\ud800'"#) == nil)
    }

    @Test func aBackslashNewlineInsideAStringJoinsTheLines() throws {
        let file = try parse("X = 'abc\\\ndef'\nY = \"\"\"one\\\ntwo\nthree\"\"\"\nZ = 1\n")
        #expect(file.moduleValue("X")?.value == .string("abcdef"))
        #expect(file.moduleValue("Y")?.value == .string("onetwo\nthree"))
        #expect(file.moduleValue("Z")?.line == 6)
    }

    @Test func rawStringsKeepBackslashes() throws {
        let file = try parse(#"""
            A = r'\n\d+'
            B = R"C:\path\to"
            C = r'\''
            D = r'''raw \t
            two'''
            E = r'a' '\t'
            """#)
        #expect(file.moduleValue("A")?.value == .string(#"\n\d+"#))
        #expect(file.moduleValue("B")?.value == .string(#"C:\path\to"#))
        #expect(file.moduleValue("C")?.value == .string(#"\'"#))
        #expect(file.moduleValue("D")?.value == .string("raw \\t\ntwo"))
        #expect(file.moduleValue("E")?.value == .string("a\t"))
        #expect(file.moduleValue("E")?.line == 6)
    }

    @Test func bytesAndFormattedStringsAreNotLiterals() throws {
        let file = try parse(#"""
            A = b'x'
            B = f'x{y}'
            C = F"{a}b"
            D = rb'\d'
            E = Br'x'
            F = fr'{x}\d'
            G = 'a' f'{b}'
            """#)
        #expect(file.moduleAssignments.map(\.value) == Array(repeating: nil, count: 7))
        #expect(file.moduleAssignments.map(\.source) == ["b'x'", "f'x{y}'", #"F"{a}b""#, #"rb'\d'"#, "Br'x'", #"fr'{x}\d'"#, "'a' f'{b}'"])
        #expect(file.moduleAssignments.map(\.line) == [1, 2, 3, 4, 5, 6, 7])
    }

    @Test func concatenatesAdjacentStringLiterals() throws {
        let file = try parse(#"""
            A = 'a' "b"
            B = ('/data/projects'
                 '/fate'   # the root
                 "/python")
            C = 'x' \
                'y'
            D = ['one' 'two', 'three']
            """#)
        #expect(file.moduleValue("A")?.value == .string("ab"))
        #expect(file.moduleValue("B")?.value == .string("/data/projects/fate/python"))
        #expect(file.moduleValue("B")?.source == #"('/data/projects' '/fate' "/python")"#)
        #expect(file.moduleValue("C")?.value == .string("xy"))
        #expect(file.moduleValue("D")?.value == .list([.string("onetwo"), .string("three")]))
        #expect(file.moduleValue("D")?.line == 7)
    }

    @Test func assignmentsInsideDocstringsDoNotCount() throws {
        let file = try parse(#"""
            """
            Settings module.
            X = 1
            """
            A = 1


            class C:
                '''
                Y = 2
                '''
                B = 2

                def f(self):
                    """Z = 3"""
                    return 3
            '''
            W = 4
            '''
            D = 5
            """#)
        #expect(file.moduleAssignments.map(\.name) == ["A", "D"])
        #expect(file.moduleValue("A")?.line == 5)
        #expect(file.moduleValue("D")?.line == 20)
        #expect(file.classAssignments == ["C": [PythonAssignment(name: "B", line: 12, source: "2", value: .int(2))]])
    }

    @Test func aTripleQuotedValueSpansLines() throws {
        let file = try parse(#"""
            BANNER = '''
            line one
              line "two"
            '''
            AFTER = 'after'
            """#)
        #expect(file.moduleValue("BANNER")
                == PythonAssignment(name: "BANNER", line: 1, source: "'''\nline one\n  line \"two\"\n'''",
                                    value: .string("\nline one\n  line \"two\"\n")))
        #expect(file.moduleValue("AFTER")?.line == 5)
    }

    @Test func commentsMayContainQuotes() throws {
        let file = try parse(#"""
            # don't let this "quote" open a string
            A = 'a'  # it's "quoted"
            B = "# not a comment"  # but this one's a comment
            # '''
            C = 3
            """#)
        #expect(file.moduleValue("A") == PythonAssignment(name: "A", line: 2, source: "'a'", value: .string("a")))
        #expect(file.moduleValue("B") == PythonAssignment(name: "B", line: 3, source: ##""# not a comment""##, value: .string("# not a comment")))
        #expect(file.moduleValue("C")?.line == 5)
    }

    // MARK: - Lines

    @Test func continuationLinesGiveTheValueOnALaterLine() throws {
        let file = try parse(#"""
            X = \
                'later'
            HOSTS = [
                '10.0.0.1:2181',  # first
                '10.0.0.2:2181',
            ]
            CALL = get_base_config(
                'work_mode',
                0)
            PAIR = (1,
                    2)
            SUM = 1 + \
                  2
            Y = 'y'
            """#)
        #expect(file.moduleValue("X") == PythonAssignment(name: "X", line: 1, source: "'later'", value: .string("later")))
        #expect(file.moduleValue("HOSTS")
                == PythonAssignment(name: "HOSTS", line: 3, source: "['10.0.0.1:2181', '10.0.0.2:2181',]",
                                    value: .list([.string("10.0.0.1:2181"), .string("10.0.0.2:2181")])))
        #expect(file.moduleValue("CALL") == PythonAssignment(name: "CALL", line: 7, source: "get_base_config('work_mode', 0)", value: nil))
        #expect(file.moduleValue("PAIR")?.value == .tuple([.int(1), .int(2)]))
        #expect(file.moduleValue("SUM") == PythonAssignment(name: "SUM", line: 12, source: "1 + 2", value: nil))
        #expect(file.moduleValue("Y")?.line == 14)
    }

    @Test func readsCRLFFilesWithoutCarriageReturnsInValues() throws {
        let text = "# edited on Windows\r\nA = 'a'\r\nB = '''x\r\ny'''\r\nclass C:\r\n    D = [1,\r\n         2]\r\nE = \\\r\n    True\r\n"
        let file = try PythonSettingsFile(parsing: Array(text.utf8), file: "settings.py")
        #expect(file.moduleValue("A") == PythonAssignment(name: "A", line: 2, source: "'a'", value: .string("a")))
        #expect(file.moduleValue("B")?.value == .string("x\ny"))
        #expect(file.classValue("C", "D") == PythonAssignment(name: "D", line: 6, source: "[1, 2]", value: .list([.int(1), .int(2)])))
        #expect(file.moduleValue("E") == PythonAssignment(name: "E", line: 8, source: "True", value: .bool(true)))
    }

    @Test func skipsAUTF8ByteOrderMark() throws {
        let file = try PythonSettingsFile(parsing: [0xEF, 0xBB, 0xBF] + Array("A = 1\nB = 'b'\n".utf8), file: "settings.py")
        #expect(file.moduleAssignments.map(\.name) == ["A", "B"])
        #expect(file.moduleValue("A") == PythonAssignment(name: "A", line: 1, source: "1", value: .int(1)))
    }

    @Test func tabsAdvanceToTheNextMultipleOfEight() throws {
        let file = try parse("class C:\n\tA = 1\n        B = 2\n  \tC = 3\n\tdef f(self):\n\t\tD = 4\n                E = 5\n\tF = 6\nG = 7\n")
        #expect(file.classAssignments["C"]?.map(\.name) == ["A", "B", "C", "F"])
        #expect(file.classValue("C", "F")?.line == 8)
        #expect(file.moduleAssignments.map(\.name) == ["G"])
    }

    @Test func blankAndCommentLinesDoNotEndABlock() throws {
        let file = try parse("class C:\n    A = 1\n# a comment at column 0\n\n  \n        # deeper comment\n    B = 2\nD = 3\n")
        #expect(file.classAssignments["C"]?.map(\.name) == ["A", "B"])
        #expect(file.moduleAssignments.map(\.name) == ["D"])
    }

    @Test func anEmptyFileHasNoAssignments() throws {
        let file = try parse("")
        #expect(file.moduleAssignments.isEmpty)
        #expect(file.classAssignments.isEmpty)
        #expect(try parse("# only a comment\n\n").moduleAssignments.isEmpty)
    }

    // MARK: - Values

    @Test func readsIntegers() throws {
        let file = try parse("""
            A = 0
            B = 42
            C = 1_000_000
            D = -5
            E = - 7
            F = +3
            G = 0x1F
            H = 0o17
            I = 0b101
            J = 0XFF
            K = 0x_ff
            L = -0b11
            M = 000
            N = -(4)
            """)
        #expect(file.moduleAssignments.map(\.value) == [
            .int(0), .int(42), .int(1_000_000), .int(-5), .int(-7), .int(3), .int(31), .int(15), .int(5), .int(255),
            .int(255), .int(-3), .int(0), .int(-4),
        ])
        #expect(file.moduleValue("E")?.source == "- 7")
    }

    @Test func numbersThatAreNotIntsAreNotValues() throws {
        for source in ["1.5", "1e3", "1e-3", ".5", "2j", "10 ** 3", "99999999999999999999", "-True", "1_", "1__0", "2 - 1"] {
            #expect(try value("X = \(source)") == nil, "X = \(source)")
            #expect(try parse("X = \(source)").moduleValue("X")?.source == source)
        }
    }

    @Test func readsBoolsNoneListsAndTuples() throws {
        let file = try parse("""
            A = True
            B = False
            C = None
            D = []
            E = ()
            F = [1, [2, (3,)], ('a', None)]
            G = (1)
            H = (1,)
            I = 1, 2
            J = [1, 2,]
            K = ((('deep',),),)
            L = ([])
            M = 'x',
            """)
        #expect(file.moduleAssignments.map(\.value) == [
            .bool(true), .bool(false), PythonValue.none, .list([]), .tuple([]),
            .list([.int(1), .list([.int(2), .tuple([.int(3)])]), .tuple([.string("a"), PythonValue.none])]),
            .int(1), .tuple([.int(1)]), .tuple([.int(1), .int(2)]), .list([.int(1), .int(2)]),
            .tuple([.tuple([.tuple([.string("deep")])])]), .list([]), .tuple([.string("x")]),
        ])
    }

    @Test func expressionsAreNotLiteralsButKeepTheirSource() throws {
        let file = try parse("""
            A = os.getenv('A', 'b')
            B = OTHER_NAME
            C = 'a' + 'b'
            D = '%s/%s' % (a, b)
            E = {}
            F = {'a': 1}
            G = {1, 2}
            H = [x for x in y]
            I = True if a else False
            J = [1] * 3
            K = (1, 2)[0]
            L = not True
            M = 'abc'.upper()
            N = [1, OTHER]
            O = lambda x=1: x
            P = [1, 2
                 ] + [3]
            """)
        #expect(file.moduleAssignments.allSatisfy { $0.value == nil })
        #expect(file.moduleAssignments.map(\.source) == [
            "os.getenv('A', 'b')", "OTHER_NAME", "'a' + 'b'", "'%s/%s' % (a, b)", "{}", "{'a': 1}", "{1, 2}",
            "[x for x in y]", "True if a else False", "[1] * 3", "(1, 2)[0]", "not True", "'abc'.upper()", "[1, OTHER]",
            "lambda x=1: x", "[1, 2] + [3]",
        ])
        #expect(file.moduleAssignments.map(\.line) == Array(1...16))
    }

    // MARK: - What counts as an assignment

    @Test func onlyPlainNameTargetsAreAssignments() throws {
        let file = try parse("""
            A == 1
            B += 1
            C -= 1
            D //= 2
            obj.E = 1
            F[0] = 1
            G, H = 1, 2
            [I, J] = 3, 4
            print(K=1)
            if L == 1:
                pass
            (M := 5)
            CenterConfig.USE_ACL = True
            N: int = 6
            O: int
            P: Dict[str, int] = {}
            Q <= 1
            R != 2
            S >= 3
            """)
        #expect(file.moduleAssignments == [
            PythonAssignment(name: "N", line: 14, source: "6", value: .int(6)),
            PythonAssignment(name: "P", line: 16, source: "{}", value: nil),
        ])
    }

    @Test func chainedAndSemicolonSeparatedAssignmentsEachCount() throws {
        let file = try parse("""
            A = B = 1
            C = obj.d = D = 'x'
            E = 1; F = 'f'; G += 1
            f = lambda x=1, y=2: x
            """)
        #expect(file.moduleAssignments == [
            PythonAssignment(name: "A", line: 1, source: "1", value: .int(1)),
            PythonAssignment(name: "B", line: 1, source: "1", value: .int(1)),
            PythonAssignment(name: "C", line: 2, source: "'x'", value: .string("x")),
            PythonAssignment(name: "D", line: 2, source: "'x'", value: .string("x")),
            PythonAssignment(name: "E", line: 3, source: "1", value: .int(1)),
            PythonAssignment(name: "F", line: 3, source: "'f'", value: .string("f")),
            PythonAssignment(name: "f", line: 4, source: "lambda x=1, y=2: x", value: nil),
        ])
    }

    @Test func theLastModuleLevelAssignmentWins() throws {
        let file = try parse("X = 1\nX = 'two'\nif a:\n    X = 3\n")
        #expect(file.moduleAssignments.map(\.line) == [1, 2])
        #expect(file.moduleValue("X") == PythonAssignment(name: "X", line: 2, source: "'two'", value: .string("two")))
        #expect(file.moduleValue("Y") == nil)
    }

    @Test func ignoresEverythingUnderCompoundStatements() throws {
        let file = try parse("""
            if WORK_MODE == 0:
                A = 1
            elif WORK_MODE == 1:
                A = 2
            else:
                A = 3
            for i in range(3):
                B = i
            while False:
                C = 1
            with open('f') as f:
                D = f.read()
            try:
                import yaml
                E = True
            except ImportError:
                E = False
            finally:
                F = 1
            def g():
                G = 1
                return G
            async def h():
                H = 1
            if True: I = 1
            for j in []: J = 1; K = 2
            @decorator(L=1)
            def k():
                pass
            M = 'module'
            """)
        #expect(file.moduleAssignments == [PythonAssignment(name: "M", line: 30, source: "'module'", value: .string("module"))])
        #expect(file.classAssignments.isEmpty)
    }

    // MARK: - Class bodies

    @Test func readsDirectClassBodiesOnly() throws {
        let file = try parse("""
            class First(object):
                A = 1
                B = 'b'

                @staticmethod
                def method():
                    A = 'local'
                    First.B = 'attribute'
                    return First.A

                if First:
                    C = 'conditional'
                D = [True]


            class Second:
                A = None
                class Inner(Base, metaclass=Meta):
                    X = 'inner'
                    def m(self):
                        Y = 1
                B = 2
            AFTER = 'module again'
            class OneLine: X = 1
            """)
        #expect(file.classAssignments["First"] == [
            PythonAssignment(name: "A", line: 2, source: "1", value: .int(1)),
            PythonAssignment(name: "B", line: 3, source: "'b'", value: .string("b")),
            PythonAssignment(name: "D", line: 13, source: "[True]", value: .list([.bool(true)])),
        ])
        #expect(file.classAssignments["Second"]?.map(\.name) == ["A", "B"])
        #expect(file.classValue("Second", "B")?.line == 22)
        #expect(file.classAssignments["Second.Inner"] == [PythonAssignment(name: "X", line: 19, source: "'inner'", value: .string("inner"))])
        #expect(file.classValue("Second", "X") == nil)
        #expect(file.moduleAssignments == [PythonAssignment(name: "AFTER", line: 23, source: "'module again'", value: .string("module again"))])
        // A one-line class body is not read.
        #expect(file.classAssignments["OneLine"] == nil)
        #expect(Set(file.classAssignments.keys) == ["First", "Second", "Second.Inner"])
    }

    @Test func classesDefinedConditionallyOrInFunctionsAreIgnored() throws {
        let file = try parse("""
            if PY2:
                class Config:
                    A = 1
            def factory():
                class Made:
                    B = 2
                return Made
            @dataclass
            class Decorated:
                C: int = 3
            """)
        #expect(Array(file.classAssignments.keys) == ["Decorated"])
        #expect(file.classValue("Decorated", "C") == PythonAssignment(name: "C", line: 10, source: "3", value: .int(3)))
    }

    @Test func aRedefinedClassKeepsOnlyItsLastBody() throws {
        let file = try parse("class C:\n    A = 1\n    B = 1\nclass C:\n    A = 2\n")
        #expect(file.classAssignments["C"] == [PythonAssignment(name: "A", line: 5, source: "2", value: .int(2))])
        #expect(file.classValue("C", "B") == nil)
    }

    @Test func theLastAssignmentInAClassBodyWins() throws {
        let file = try parse("class C:\n    A = 1\n    A = 2\nA = 3\n")
        #expect(file.classValue("C", "A")?.value == .int(2))
        #expect(file.classValue("C", "A")?.line == 3)
        #expect(file.moduleValue("A")?.value == .int(3))
    }

    // MARK: - Errors

    @Test func refusesTextThatIsNotUTF8NamingTheLine() throws {
        let bytes = Array("A = 1\nB = 2\n".utf8) + [0x43, 0x20, 0x3D, 0x20, 0x27, 0xE9, 0x27, 0x0A] + Array("D = 4\n".utf8)
        let error = try #require(parseError(bytes))
        #expect(error.location == SourceLocation(file: "settings.py", line: 3))
        #expect(error.message == "not UTF-8 text")
        #expect(error.description == "settings.py:3: not UTF-8 text")
        // A lone continuation byte and a truncated sequence at the end.
        #expect(parseError([0x80])?.location.line == 1)
        #expect(parseError(Array("A = 1\r\n\r\n".utf8) + [0xE6, 0x97])?.message == "not UTF-8 text")
    }

    @Test func refusesAnUnterminatedStringNamingTheLineItStarts() throws {
        let single = try #require(parseError(Array("A = 1\nB = 'open\nC = 3\n".utf8)))
        #expect(single.location == SourceLocation(file: "settings.py", line: 2))
        #expect(single.message == "unterminated string")
        let triple = try #require(parseError(Array("A = 1\n\nB = '''open\nC = 3\nD = 4\n".utf8)))
        #expect(triple.location.line == 3)
        #expect(triple.message == "unterminated string")
        #expect(parseError(Array("A = 'escaped quote\\'".utf8))?.location.line == 1)
        #expect(parseError(Array(#"A = "a" "b"#.utf8))?.message == "unterminated string")
    }

    @Test func refusesUnbalancedBracketsNamingTheLine() throws {
        let unclosed = try #require(parseError(Array("A = 1\nB = get(\n  'x',\nC = 3\n".utf8)))
        #expect(unclosed.location.line == 2)
        #expect(unclosed.message == "'(' is never closed")
        #expect(parseError(Array("A = 1\nB = 2]\n".utf8))?.message == "unmatched ']'")
        #expect(parseError(Array("A = [\n  1)\n".utf8))?.message == "')' does not match '[' opened on line 1")
    }

    @Test func refusesMalformedEscapesAndStrayBackslashes() throws {
        #expect(parseError(Array(#"A = 1\#nB = '\x4'"#.utf8))?.description == #"settings.py:2: invalid \x escape in a string"#)
        #expect(parseError(Array(#"A = '\U00110000'"#.utf8))?.location.line == 1)
        #expect(parseError(Array("A = 1 \\ 2\n".utf8))?.location.line == 1)
    }
}
