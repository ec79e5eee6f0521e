/// The operator's lines in Chinese, under a Chinese locale: one catalog of English templates
/// (`{}` where a value goes) with their Simplified and Traditional Chinese. A line is translated
/// as it is shown, so the code keeps one English text per message (what `--json`, the logs'
/// readers and the tests see); a value inside a line that is itself a message (a preflight
/// problem, what a heartbeat waits on) is translated too. Lines not in the catalog stay English.
public enum MessageCatalog {
    public enum Language: String, Sendable, CaseIterable {
        case english = "en"
        case simplifiedChinese = "zh_CN"
        case traditionalChinese = "zh_TW"
    }

    public struct Entry: Sendable {
        public var english: String
        public var simplified: String
        public var traditional: String
        /// A real line of the message, for the tests.
        public var example: String

        public func text(_ language: Language) -> String {
            switch language {
            case .english: english
            case .simplifiedChinese: simplified
            case .traditionalChinese: traditional
            }
        }
    }

    /// The language of messages as POSIX chooses it: LC_ALL, else LC_MESSAGES, else LANG (the
    /// first one set and not empty decides). Chinese for `zh…`: Traditional for Taiwan, Hong Kong
    /// and Macau, Simplified otherwise; English for everything else.
    public static func language(environment: [String: String]) -> Language {
        let value = ["LC_ALL", "LC_MESSAGES", "LANG"].lazy.compactMap { environment[$0] }.first { !$0.isEmpty } ?? ""
        let locale = value.lowercased()
        guard locale.hasPrefix("zh") else { return .english }
        for region in ["zh_tw", "zh_hk", "zh_mo", "zh-tw", "zh-hk", "zh-mo", "zh_hant"] where locale.hasPrefix(region) { return .traditionalChinese }
        return .simplifiedChinese
    }

    /// `line` in `language`; unchanged when no entry matches.
    public static func translate(_ line: String, to language: Language) -> String {
        guard language != .english else { return line }
        return translate(line, to: language, depth: 0) ?? line
    }

    private static func translate(_ line: String, to language: Language, depth: Int) -> String? {
        for entry in entries {
            guard let values = match(line, entry.english) else { continue }
            let inner = values.map { value in depth < 3 ? (translate(value, to: language, depth: depth + 1) ?? value) : value }
            return fill(entry.text(language), with: inner)
        }
        return nil
    }

    /// The values in `line` where `template` has `{}`, or nil when it does not fit. Each literal
    /// part is found at its first place after the one before; the last must end the line.
    public static func match(_ line: String, _ template: String) -> [String]? {
        let parts = template.split(separator: "{}", omittingEmptySubsequences: false)
        guard parts.count > 1 else { return line == template ? [] : nil }
        guard line.hasPrefix(parts[0]), line.hasSuffix(parts[parts.count - 1]),
              line.count >= parts[0].count + parts[parts.count - 1].count else { return nil }
        var rest = line.dropFirst(parts[0].count).dropLast(parts[parts.count - 1].count)
        var values: [String] = []
        for part in parts.dropFirst().dropLast() {
            guard !part.isEmpty, let found = rest.firstRange(of: part) else { return nil }
            values.append(String(rest[..<found.lowerBound]))
            rest = rest[found.upperBound...]
        }
        values.append(String(rest))
        return values
    }

    static func fill(_ template: String, with values: [String]) -> String {
        let parts = template.split(separator: "{}", omittingEmptySubsequences: false)
        var text = String(parts[0])
        for (index, part) in parts.dropFirst().enumerated() { text += (index < values.count ? values[index] : "") + part }
        return text
    }

    /// The more specific of two templates that fit one line comes first.
    public static let entries: [Entry] = [
        Entry(english: "unknown command '{}' (did you mean {}?); see fate-upgrade --help",
              simplified: "未知命令 '{}'（您是否想输入 {}？）；请参阅 fate-upgrade --help",
              traditional: "未知命令 '{}'（您是否想輸入 {}？）；請參閱 fate-upgrade --help",
              example: "unknown command 'aply' (did you mean apply?); see fate-upgrade --help"),
        Entry(english: "{}: unknown parameter (did you mean {}?); {} defines {} (from {})",
              simplified: "{}：未知参数（您是否想输入 {}？）；{} 定义的参数为 {}（来自 {}）",
              traditional: "{}：未知參數（您是否想輸入 {}？）；{} 定義的參數為 {}（來自 {}）",
              example: "FATE_RO0T: unknown parameter (did you mean FATE_ROOT?); raw.tar.gz:upgrade_package/upgrade_script.sh defines FATE_ROOT, DB_PASS (from --set)"),
        Entry(english: "{}: unknown parameter (did you mean {}?); {} defines {}",
              simplified: "{}：未知参数（您是否想输入 {}？）；{} 定义的参数为 {}",
              traditional: "{}：未知參數（您是否想輸入 {}？）；{} 定義的參數為 {}",
              example: "FATE_RO0T: unknown parameter (did you mean FATE_ROOT?); pack/allinone.yaml defines FATE_ROOT, DB_PASS"),
        Entry(english: "{}: unknown parameter; {} defines {} (from {})",
              simplified: "{}：未知参数；{} 定义的参数为 {}（来自 {}）",
              traditional: "{}：未知參數；{} 定義的參數為 {}（來自 {}）",
              example: "X: unknown parameter; raw.tar.gz:upgrade_package/upgrade_script.sh defines FATE_ROOT (from --set)"),
        Entry(english: "DB_PASS in {} is FATE's default fate_dev: this looks like FATE's package as shipped, not one made by fate-upgrade pack; "
                  + "pack it first on the jump host (fate-upgrade pack {} --set FATE_ROOT=… --db-pass-stdin …); if fate_dev really is this site's password, the problems below are the ones to fix",
              simplified: "{} 中的 DB_PASS 是 FATE 的默认值 fate_dev：这看起来是 FATE 原样发布的升级包，而不是用 fate-upgrade pack 打好的包；"
                  + "请先在跳板机上打包（fate-upgrade pack {} --set FATE_ROOT=… --db-pass-stdin …）；如果 fate_dev 确实是本站点的密码，请修复下面列出的问题",
              traditional: "{} 中的 DB_PASS 是 FATE 的預設值 fate_dev：這看起來是 FATE 原樣發佈的升級包，而不是用 fate-upgrade pack 打好的包；"
                  + "請先在跳板機上打包（fate-upgrade pack {} --set FATE_ROOT=… --db-pass-stdin …）；如果 fate_dev 確實是本站點的密碼，請修正下面列出的問題",
              example: "DB_PASS in raw.tar.gz is FATE's default fate_dev: this looks like FATE's package as shipped, not one made by fate-upgrade pack; "
                  + "pack it first on the jump host (fate-upgrade pack raw.tar.gz --set FATE_ROOT=… --db-pass-stdin …); if fate_dev really is this site's password, the problems below are the ones to fix"),
        Entry(english: "DB_PASS in {} is FATE's default fate_dev: this looks like FATE's package as shipped, not one made by fate-upgrade pack; "
                  + "pack it first on the jump host (fate-upgrade pack {} --set FATE_ROOT=… --db-pass-stdin …), unless fate_dev really is this site's password",
              simplified: "{} 中的 DB_PASS 是 FATE 的默认值 fate_dev：这看起来是 FATE 原样发布的升级包，而不是用 fate-upgrade pack 打好的包；"
                  + "请先在跳板机上打包（fate-upgrade pack {} --set FATE_ROOT=… --db-pass-stdin …），除非 fate_dev 确实是本站点的密码",
              traditional: "{} 中的 DB_PASS 是 FATE 的預設值 fate_dev：這看起來是 FATE 原樣發佈的升級包，而不是用 fate-upgrade pack 打好的包；"
                  + "請先在跳板機上打包（fate-upgrade pack {} --set FATE_ROOT=… --db-pass-stdin …），除非 fate_dev 確實是本站點的密碼",
              example: "DB_PASS in p.tar.gz is FATE's default fate_dev: this looks like FATE's package as shipped, not one made by fate-upgrade pack; "
                  + "pack it first on the jump host (fate-upgrade pack p.tar.gz --set FATE_ROOT=… --db-pass-stdin …), unless fate_dev really is this site's password"),
        Entry(english: "no {}.sha256 beside the package and no --sha256, so a damaged copy is found only by its gzip CRC: copy the .sha256 pack wrote with it, "
                  + "or give --sha256 HEX (or --no-checksum to go without)",
              simplified: "升级包旁没有 {}.sha256，也没有给出 --sha256，损坏的副本只能靠 gzip CRC 发现：请把 pack 同时写出的 .sha256 一起复制过来，"
                  + "或给出 --sha256 HEX（或用 --no-checksum 明确不做校验）",
              traditional: "升級包旁沒有 {}.sha256，也沒有給出 --sha256，損壞的副本只能靠 gzip CRC 發現：請把 pack 同時寫出的 .sha256 一起複製過來，"
                  + "或給出 --sha256 HEX（或用 --no-checksum 明確不做校驗）",
              example: "no upgrade_package_new.tar.gz.sha256 beside the package and no --sha256, so a damaged copy is found only by its gzip CRC: "
                  + "copy the .sha256 pack wrote with it, or give --sha256 HEX (or --no-checksum to go without)"),
        Entry(english: "still waiting for {} (pid {}): nothing from it for {} s, {} s since it started{}",
              simplified: "仍在等待{}（pid {}）：已有 {} 秒没有任何输出，自启动起已过 {} 秒{}",
              traditional: "仍在等待{}（pid {}）：已有 {} 秒沒有任何輸出，自啟動起已過 {} 秒{}",
              example: "still waiting for the upgrade script (pid 4242): nothing from it for 10 s, 12 s since it started; running now: mysql"),
        Entry(english: "the upgrade script", simplified: "升级脚本", traditional: "升級腳本", example: "the upgrade script"),
        Entry(english: "the service script", simplified: "服务脚本", traditional: "服務腳本", example: "the service script"),
        Entry(english: "the database snapshot ({})", simplified: "数据库快照（{}）", traditional: "資料庫快照（{}）", example: "the database snapshot (mysqldump)"),
        Entry(english: "the database ({})", simplified: "数据库（{}）", traditional: "資料庫（{}）", example: "the database (mysql as root through /run/mysql.sock)"),
        Entry(english: "; running now: {}", simplified: "；当前正在运行：{}", traditional: "；目前正在執行：{}", example: "; running now: sleep"),
        Entry(english: "stopped by a signal: {}", simplified: "已被信号中止：{}", traditional: "已被信號中止：{}", example: "stopped by a signal: nothing was changed"),
        Entry(english: "stopped by {}: {}", simplified: "已被 {} 中止：{}", traditional: "已被 {} 中止：{}", example: "stopped by SIGINT: the snapshot was not taken"),
        Entry(english: "nothing was changed", simplified: "没有做任何改动", traditional: "沒有做任何變更", example: "nothing was changed"),
        Entry(english: "pack wrote nothing (the partial package was removed; the input is as it was)",
              simplified: "pack 没有写出任何内容（未写完的升级包已删除；输入文件保持原样）",
              traditional: "pack 沒有寫出任何內容（未寫完的升級包已刪除；輸入檔案保持原樣）",
              example: "pack wrote nothing (the partial package was removed; the input is as it was)"),
        Entry(english: "preflight: {}", simplified: "预检：{}", traditional: "預檢：{}", example: "preflight: FATE_ROOT /data/projects/fate is not a folder"),
        Entry(english: "warning: {}", simplified: "警告：{}", traditional: "警告：{}", example: "warning: the site's logs/ are large"),
        Entry(english: "FATE_ROOT {} is not a folder", simplified: "FATE_ROOT {} 不是目录", traditional: "FATE_ROOT {} 不是目錄", example: "FATE_ROOT /data/projects/fate is not a folder"),
        Entry(english: "MYSQL_ROOT: {} does not exist or is not executable", simplified: "MYSQL_ROOT：{} 不存在或不可执行",
              traditional: "MYSQL_ROOT：{} 不存在或不可執行", example: "MYSQL_ROOT: /data/projects/fate/common/mysql/mysql-8.0.13/bin/mysql does not exist or is not executable"),
        Entry(english: "MYSQL_SOCKET_PATH {} is not a socket (is MySQL running?)", simplified: "MYSQL_SOCKET_PATH {} 不是套接字（MySQL 是否在运行？）",
              traditional: "MYSQL_SOCKET_PATH {} 不是 socket（MySQL 是否在執行？）", example: "MYSQL_SOCKET_PATH /data/projects/fate/common/mysql/mysql-8.0.13/run/mysql.sock is not a socket (is MySQL running?)"),
        Entry(english: "PYTHON_PACKAGE_PATH {} does not exist and is not where this package unpacks ({}); set it with `fate-upgrade pack --set PYTHON_PACKAGE_PATH=…` or use --workdir",
              simplified: "PYTHON_PACKAGE_PATH {} 不存在，也不在本升级包解压的位置（{}）；请用 `fate-upgrade pack --set PYTHON_PACKAGE_PATH=…` 设置，或使用 --workdir",
              traditional: "PYTHON_PACKAGE_PATH {} 不存在，也不在本升級包解壓的位置（{}）；請用 `fate-upgrade pack --set PYTHON_PACKAGE_PATH=…` 設定，或使用 --workdir",
              example: "PYTHON_PACKAGE_PATH /root/upgrade_package/upgrade_python_package.tar.gz does not exist and is not where this package unpacks (/tmp/msg/…); "
                  + "set it with `fate-upgrade pack --set PYTHON_PACKAGE_PATH=…` or use --workdir"),
        Entry(english: "nothing to remove", simplified: "没有需要删除的内容", traditional: "沒有需要刪除的內容", example: "nothing to remove"),
        Entry(english: "{} items, {}: run again with --yes to remove them", simplified: "共 {} 项，{}：加上 --yes 再运行一次即可删除",
              traditional: "共 {} 項，{}：加上 --yes 再執行一次即可刪除", example: "7 items, 12.0 MiB: run again with --yes to remove them"),
        Entry(english: "removed {} items, {}", simplified: "已删除 {} 项，{}", traditional: "已刪除 {} 項，{}", example: "removed 7 items, 12.0 MiB"),
        Entry(english: "nothing to roll back: the last upgrade, {}, was rolled back at {}", simplified: "无需回滚：最近一次升级 {} 已于 {} 回滚",
              traditional: "無需回滾：最近一次升級 {} 已於 {} 回滾", example: "nothing to roll back: the last upgrade, 20261206120000-all, was rolled back at 2026-12-06T12:30:00Z"),
        Entry(english: "rollback of {} finished", simplified: "{} 的回滚已完成", traditional: "{} 的回滾已完成", example: "rollback of all finished"),
    ]
}
