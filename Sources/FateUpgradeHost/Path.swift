#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Glibc

/// Path arithmetic on strings, as the shell does it, and the few facts about the user and the
/// clock the tool needs — without the C library's NSS lookups or ICU, which a static binary on
/// any FATE host cannot count on.
public enum Path {
    /// `dirname`: "a/b" → "a", "/a" → "/", "a" → "".
    public static func parent(_ path: String) -> String {
        var trimmed = Substring(path)
        while trimmed.count > 1 && trimmed.hasSuffix("/") { trimmed.removeLast() }
        guard let slash = trimmed.lastIndex(of: "/") else { return "" }
        if slash == trimmed.startIndex { return "/" }
        return String(trimmed[..<slash])
    }

    /// `basename`.
    public static func name(_ path: String) -> String {
        var trimmed = Substring(path)
        while trimmed.count > 1 && trimmed.hasSuffix("/") { trimmed.removeLast() }
        guard let slash = trimmed.lastIndex(of: "/") else { return String(trimmed) }
        return String(trimmed[trimmed.index(after: slash)...])
    }

    /// HOME, else the home folder /etc/passwd gives the running user, else "/".
    public static var home: String {
        if let home = ProcessInfo.processInfo.environment["HOME"], !home.isEmpty { return home }
        return UserDatabase.home(ofUser: geteuid()) ?? "/"
    }
}

public enum Clock {
    /// `YYYYmmddHHMMSS` (strftime pattern `format`) of now in local time, as FATE's scripts name backups.
    public static func local(_ format: String = "%Y%m%d%H%M%S", _ date: Date = Date()) -> String {
        var seconds = time_t(date.timeIntervalSince1970)
        var parts = tm()
        localtime_r(&seconds, &parts)
        return strftime(format, &parts)
    }

    /// ISO 8601 in UTC with milliseconds, for journals: steps on different hosts of one cluster run
    /// often fall in the same second, and their order is what an operator reads the journals for.
    public static func iso(_ date: Date = Date()) -> String {
        let milliseconds = Int64((date.timeIntervalSince1970 * 1000).rounded(.down))
        var seconds = time_t(milliseconds / 1000)
        var parts = tm()
        gmtime_r(&seconds, &parts)
        let fraction = String(milliseconds % 1000)
        return strftime("%Y-%m-%dT%H:%M:%S.", &parts) + String(repeating: "0", count: 3 - fraction.count) + fraction + "Z"
    }

    private static func strftime(_ format: String, _ parts: inout tm) -> String {
        var buffer = [CChar](repeating: 0, count: 64)
        let count = Glibc.strftime(&buffer, buffer.count, format, &parts)
        return String(decoding: buffer[0..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

/// `timestamp()` of the journal ids and backup names: `YYYYmmddHHMMSS`, local time.
public func timestamp() -> String { Clock.local() }
public func isoNow() -> String { Clock.iso() }

/// A size for people: bytes, KiB, MiB or GiB, one decimal below ten.
public func sizeText(_ bytes: Int64) -> String {
    let units = ["bytes", "KiB", "MiB", "GiB", "TiB"]
    var value = Double(bytes)
    var unit = 0
    while value >= 1024 && unit < units.count - 1 {
        value /= 1024
        unit += 1
    }
    if unit == 0 { return "\(bytes) bytes" }
    let tenths = Int((value * 10).rounded())
    return value < 10 ? "\(tenths / 10).\(tenths % 10) \(units[unit])" : "\(Int(value.rounded())) \(units[unit])"
}

/// Bytes as MiB with one decimal, e.g. "12.3 MiB".
public func mebibytes(_ bytes: Int64) -> String {
    let tenths = (bytes * 10 + 524_288) / 1_048_576
    return "\(tenths / 10).\(tenths % 10) MiB"
}
