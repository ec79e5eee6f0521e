import FateUpgradeCore
import Testing

/// The allow-list on literal dumps: where the client and the server read code, the guard reads code.
@Suite struct DumpGuardCoreTests {
    static let dump = """
    -- MariaDB dump 10.19  Distrib 10.11.19-MariaDB
    /*M!999999\\- enable the sandbox mode */ 
    /*!40101 SET @OLD_CHARACTER_SET_CLIENT=@@CHARACTER_SET_CLIENT */;
    /*M!100616 SET @OLD_NOTE_VERBOSITY=@@NOTE_VERBOSITY, NOTE_VERBOSITY=0 */;
    DROP TABLE IF EXISTS `t_job`;
    /*!40101 SET @saved_cs_client     = @@character_set_client */;
    CREATE TABLE `t_job` (
      `f_job_id` varchar(25) NOT NULL,
      `f_select_x` int DEFAULT NULL COMMENT 'SELECT -- not a comment; \\\\! nor a command',
      PRIMARY KEY (`f_job_id`)
    ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
    LOCK TABLES `t_job` WRITE;
    /*!40000 ALTER TABLE `t_job` DISABLE KEYS */;
    INSERT INTO `t_job` VALUES ('a;b\\'c',-1),('x--y',1e5),(NULL,0x1F),('\\\\! id',-- a comment
    2);
    /*!40000 ALTER TABLE `t_job` ENABLE KEYS */;
    UNLOCK TABLES;
    -- Dump completed on 2026-12-04  3:00:00

    """

    static func judged(_ text: String, tables: Set<String>? = ["t_job"]) -> DumpGuard.Refusal? {
        var guardian = DumpGuard(tables: tables)
        guardian.feed(Array(text.utf8))
        return guardian.finish()
    }

    @Test func whatDumpsWriteIsAllowed() {
        #expect(Self.judged(Self.dump) == nil, "\(String(describing: Self.judged(Self.dump)))")
        #expect(Self.judged(Self.dump, tables: nil) == nil)
        #expect(Self.judged(Self.dump, tables: ["t_task"])?.reason.contains("not one of the tables") == true)
    }

    /// Each line goes in before `LOCK TABLES` and is refused there.
    @Test(arguments: [
        "SET @a=1--1; \\! id",                       // `--` without a blank is code, so `\!` follows it
        "SET @a = (SELECT LOAD_FILE('/etc/shadow'));",
        "SET @a = sys_exec('id');",
        "CREATE TABLE `t_job` AS SELECT * FROM mysql.user;",
        "CREATE TABLE `t_job` (`x` int) SELECT 1;",
        "/*M!100616 GRANT ALL ON *.* TO x */;",
        "/*M!100616 \\! id */",
        "DROP TABLE IF EXISTS `t_job`, `mysql`.`user`;",
        "INSERT INTO `t_job` VALUES (@a);",
        "INSERT INTO `t_job` VALUES (1) ON DUPLICATE KEY UPDATE `f_job_id` = LOAD_FILE('/etc/shadow');",
        "#\n\\! id",
    ])
    func tamperingIsRefusedAtItsLine(_ evil: String) {
        var lines = Self.dump.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let at = lines.firstIndex { $0.hasPrefix("LOCK TABLES") }!
        lines.insert(evil, at: at)
        let refusal = Self.judged(lines.joined(separator: "\n"))
        #expect(refusal != nil, "\(evil)")
        #expect(refusal.map { $0.line == at + 1 || $0.line == at + 2 } == true, "\(evil): \(String(describing: refusal))")
    }

    @Test func aStatementTooLongToJudgeIsRefused() {
        let long = "CREATE TABLE `t_job` (" + String(repeating: "`c` int, ", count: 10_000) + "`d` int);\n"
        #expect(Self.judged(long)?.reason.contains("over 64 KiB") == true)
    }

    /// Fed in pieces cut anywhere, the verdict and its line are the same.
    @Test func chunkingChangesNothing() {
        var lines = Self.dump.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        lines.insert("SET @a=1--1; \\! id", at: 5)
        for text in [Self.dump, lines.joined(separator: "\n")] {
            let bytes = Array(text.utf8)
            let whole = Self.judged(text)
            for cut in stride(from: 0, through: bytes.count, by: 7) {
                var guardian = DumpGuard(tables: ["t_job"])
                guardian.feed(Array(bytes[..<cut]))
                guardian.feed(Array(bytes[cut...]))
                #expect(guardian.finish() == whole, "cut at \(cut)")
            }
        }
    }
}
