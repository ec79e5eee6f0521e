import FateUpgradeCore
import FateUpgradeHost
import Foundation
import Glibc
import Testing

/// The operator's lines in Chinese under a Chinese locale (issue 21): every catalog entry in both
/// scripts, and the mistakes operators make answered in Chinese by the real binary.
struct MessageCatalogTests {
    static func placeholders(_ text: String) -> Int { text.split(separator: "{}", omittingEmptySubsequences: false).count - 1 }
    static func hasChinese(_ text: String) -> Bool { text.unicodeScalars.contains { (0x4E00...0x9FFF).contains($0.value) } }

    /// No entry lacks a translation, and each one's example comes out translated, values intact.
    @Test func everyEntryHasBothTranslationsAndItsExampleIsTranslatedByIt() {
        let english = MessageCatalog.entries.map(\.english)
        #expect(Set(english).count == english.count, "an English template is there twice")
        for entry in MessageCatalog.entries {
            for language in [MessageCatalog.Language.simplifiedChinese, .traditionalChinese] {
                let text = entry.text(language)
                // (A template that is only structure around its values, `  {}. {}`, has no words to translate.)
                #expect(Self.hasChinese(text) || entry.english.replacing("{}", with: "").allSatisfy { !$0.isLetter }, "\(language) lacks Chinese: \(entry.english)")
                #expect(Self.placeholders(text) == Self.placeholders(entry.english), "\(language): the values of \(entry.english)")
                let shown = MessageCatalog.translate(entry.example, to: language)
                #expect(shown != entry.example && Self.hasChinese(shown), "\(language): \(entry.example)")
            }
            // The example is read by its own entry, not by an earlier, looser one.
            let reader = MessageCatalog.entries.first { MessageCatalog.match(entry.example, $0.english) != nil }
            #expect(reader?.english == entry.english, "\(entry.example) is read by \(reader?.english ?? "nothing")")
        }
        // Values survive: the mistyped name, the suggestion, the file.
        let line = MessageCatalog.translate("FATE_RO0T: unknown parameter (did you mean FATE_ROOT?); pack/site.yaml defines FATE_ROOT, DB_PASS (from --set)", to: .traditionalChinese)
        #expect(line == "FATE_RO0T：未知參數（您是否想輸入 FATE_ROOT？）；pack/site.yaml 定義的參數為 FATE_ROOT, DB_PASS（來自 --set）", "\(line)")
        // A message inside a message is translated too; a line not in the catalog stays as it is.
        #expect(MessageCatalog.translate("preflight: FATE_ROOT /x is not a folder", to: .simplifiedChinese) == "预检：FATE_ROOT /x 不是目录")
        #expect(MessageCatalog.translate("some line of the script's", to: .simplifiedChinese) == "some line of the script's")
        #expect(MessageCatalog.translate("nothing to remove", to: .english) == "nothing to remove")
    }

    @Test(arguments: [
        (["LANG": "zh_CN.UTF-8"], MessageCatalog.Language.simplifiedChinese), (["LANG": "zh_TW.UTF-8"], .traditionalChinese),
        (["LC_ALL": "zh_HK.UTF-8", "LANG": "en_US.UTF-8"], .traditionalChinese), (["LC_ALL": "C", "LANG": "zh_CN.UTF-8"], .english),
        (["LC_MESSAGES": "zh_SG.UTF-8", "LANG": "en_US.UTF-8"], .simplifiedChinese), (["LC_ALL": "", "LC_MESSAGES": "zh_TW", "LANG": "C"], .traditionalChinese),
        (["LANG": "en_US.UTF-8"], .english), ([:], .english), (["LANG": "zh"], .simplifiedChinese),
    ])
    func theLanguageIsChosenAsPOSIXDoes(environment: [String: String], language: MessageCatalog.Language) {
        #expect(MessageCatalog.language(environment: environment) == language)
    }

    static func tool(_ arguments: [String], locale: String, in folder: URL) throws -> Run {
        try Support.tool(arguments, in: folder, environment: ["LANG": locale, "LC_ALL": "", "LC_MESSAGES": ""])
    }

    /// The mistakes issue 21 lists, made under a Chinese locale: each answered in Chinese with the
    /// fix; the same under English; --json stays English.
    @Test(arguments: ["zh_CN.UTF-8", "zh_TW.UTF-8"])
    func theMistakesAreAnsweredInChineseUnderAChineseLocale(locale: String) throws {
        let traditional = locale.hasPrefix("zh_TW")
        let folder = try Support.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let raw = folder.appendingPathComponent("upgrade_1_4_0-1_4_4.tar.gz")
        try Support.makePackage(at: raw)

        let typo = try Self.tool(["pack", raw.path, "--set", "FATE_RO0T=/srv/fate", "--keep", "DB_PASS"], locale: locale, in: folder)
        #expect(typo.status != 0)
        #expect(typo.stderr.contains(traditional ? "FATE_RO0T：未知參數（您是否想輸入 FATE_ROOT？）" : "FATE_RO0T：未知参数（您是否想输入 FATE_ROOT？）"), "\(typo.stderr)")

        let command = try Self.tool(["aply"], locale: locale, in: folder)
        #expect(command.status == 64 && command.stderr.contains(traditional ? "未知命令 'aply'（您是否想輸入 apply？）" : "未知命令 'aply'（您是否想输入 apply？）"), "\(command.stderr)")
        let json = try Self.tool(["aply", "--json"], locale: locale, in: folder)
        #expect(json.stdout.contains("\"message\" : \"unknown command 'aply' (did you mean apply?); see fate-upgrade --help\""), "\(json.stdout)")

        let shipped = try Self.tool(["apply", raw.path, "--component", "all"], locale: locale, in: folder)
        let first = shipped.stderr.split(separator: "\n").first.map(String.init) ?? ""
        #expect(shipped.status != 0 && first.contains(traditional ? "預檢：" : "预检：") && first.contains("fate-upgrade pack") && first.contains(traditional ? "請先在跳板機上打包" : "请先在跳板机上打包"), "\(shipped.stderr)")

        let english = try Self.tool(["apply", raw.path, "--component", "all"], locale: "en_US.UTF-8", in: folder)
        #expect(english.stderr.split(separator: "\n").first?.contains("pack it first on the jump host") == true, "\(english.stderr)")
        #expect(!Self.hasChinese(english.stderr))

        // Ctrl-C while pack waits for the password: the farewell says so in Chinese.
        var ends: [Int32] = [-1, -1]
        #expect(pipe(&ends) == 0)
        defer { close(ends[1]) }
        var environment = ProcessInfo.processInfo.environment.filter { $0.key != "FATE_DB_PASS" && !$0.key.hasPrefix("LC_") }
        environment["LANG"] = locale
        let pack = try ChildProcess.start(Command(Support.binary, ["pack", raw.path, "-o", folder.appendingPathComponent("out.tar.gz").path,
                                                                   "--set", "FATE_ROOT=/srv/fate", "--db-pass-stdin"], environment: environment),
                                          input: .descriptor(ends[0]))
        close(ends[0])
        sleep(2)
        kill(pack.pid, SIGINT)
        let stopped = pack.wait(timeout: .seconds(30))
        #expect(stopped.stderrText.contains(traditional ? "fate-upgrade: 已被信號中止：pack 沒有寫出任何內容" : "fate-upgrade: 已被信号中止：pack 没有写出任何内容"), "\(stopped.stderrText)")
    }

    /// A package without its .sha256 beside it: the warning, with its choices, in Chinese.
    @Test func theMissingChecksumWarningIsInChinese() throws {
        let scenario = try ApplyRollbackTests.Scenario(.allinone)
        defer { scenario.remove() }
        try FileManager.default.removeItem(atPath: scenario.package.path + ".sha256")
        let planned = try Support.tool(["apply", scenario.package.path, "--component", "all", "--model-store", "database", "--plan"],
                                       environment: scenario.environment.merging(["LANG": "zh_CN.UTF-8", "LC_ALL": "", "LC_MESSAGES": ""]) { $1 })
        #expect(planned.status == 0, "\(planned.output)")
        #expect(planned.stderr.contains("警告：升级包旁没有 upgrade_package_new.tar.gz.sha256") && planned.stderr.contains("--no-checksum"), "\(planned.stderr)")
    }

    /// An ordinary upgrade, sign-off, rollback and cleanup under zh_CN: every line of the tool's
    /// own is Chinese (the script's and service.sh's output stays as they print it; rows of
    /// values — plan details, tables, verify's check rows — are data).
    @Test func anOrdinaryRunSpeaksChineseThroughout() throws {
        let scenario = try ApplyRollbackTests.Scenario(.allinone)
        defer { scenario.remove() }
        let chinese = scenario.environment.merging(["LANG": "zh_CN.UTF-8", "LC_ALL": "", "LC_MESSAGES": ""]) { $1 }
        let apply = ["apply", scenario.package.path, "--component", "all", "--model-store", "database"]
        let host = ["--fate-root", scenario.root]
        var output = ""
        for arguments in [apply + ["--plan"], apply, ["status"] + host, ["verify"] + host, ["cleanup"] + host, ["rollback", "--plan"] + host,
                          ["rollback"] + host, ["verify", "--rolled-back"] + host, ["cleanup", "--snapshots-older-than", "0"] + host] {
            let run = try Support.tool(arguments, environment: chinese)
            #expect(run.status == 0, "\(arguments): \(run.output)")
            output += run.stdout + run.stderr
        }
        let children = ["INFO:", "WARN", "ERROR:", "PYTHONPATH:", "EGGROLL_HOME:", "killing:", "killed by", "service start", "status:"]
        let english = output.split(separator: "\n").map(String.init).filter { line in
            !Self.hasChinese(line) && !children.contains { line.hasPrefix($0) } && !line.hasPrefix(" ") && !line.hasPrefix("ok   ") && !line.hasPrefix("FAIL ")
        }
        #expect(english.isEmpty, "lines of ours left in English:\n\(english.joined(separator: "\n"))")
        for expected in ["预检通过：", "的升级已完成；journal", "已用站点的设置从新目录启动 fate_flow", "已验证：本机已升级（fateflow）", "all 的回滚已完成", "已验证：本机已回滚（fateflow）",
                         "加上 --yes 再运行一次即可删除", "fate_flow 的快照："] {
            #expect(output.contains(expected), "\(expected)")
        }
    }
}
