import FateUpgradeCore
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Glibc

/// The few facts about the user and the clock the tool needs, without the C library's NSS lookups
/// or ICU, which a static binary on any FATE host cannot count on.
extension Path {
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

