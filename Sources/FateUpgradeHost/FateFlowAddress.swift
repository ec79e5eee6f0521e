import FateUpgradeCore
import Glibc

/// The address fate_flow 1.4.4 puts in its registry node: `IP = socket.gethostbyname(socket.getfqdn())`,
/// resolved here the way CPython's socket module resolves it, so that the node name we expect
/// is the one fate_flow created on this host.
///
/// In-process, a static fate-upgrade resolves names through glibc's NSS modules, which it loads
/// from the host at run time (the release otherwise never does: see StaticReleaseTests); a
/// host whose glibc differs from the one linked may then fail or misbehave. `localIP(python:)`
/// asks FATE's own interpreter instead, which is what fate_flow itself runs.
public enum FateFlowAddress {
    /// What fate_flow's settings evaluate, printed.
    public static let pythonExpression = "import socket; print(socket.gethostbyname(socket.getfqdn()))"

    /// `socket.gethostbyname(socket.getfqdn())` evaluated by `python` (FATE's interpreter), at most `timeout`.
    public static func localIP(python: String, timeout: Duration = .seconds(20)) throws(HostError) -> String {
        let result = try ChildProcess.run(Command(python, ["-c", pythonExpression]), timeout: timeout)
        let text = result.stdoutText.trimmingWhitespace()
        guard result.termination.succeeded, !result.timedOut, !text.isEmpty, !text.contains("\n") else {
            let why = result.timedOut ? "did not answer within \(timeout)" : "failed (\(result.termination)): \(result.stderrText.trimmingWhitespace())"
            throw HostError("\(python) -c '\(pythonExpression)' \(why)")
        }
        return text
    }

    /// `socket.gethostbyname(socket.getfqdn())`.
    public static func localIP() throws(HostError) -> String {
        let name = fqdn()
        guard let address = firstAddress(of: name, family: AF_INET) else {
            throw HostError("cannot resolve this host's name '\(name)' to an IPv4 address as fate_flow does (gethostbyname(getfqdn())): check /etc/hosts")
        }
        var ipv4 = address.withUnsafeBytes { $0.load(as: sockaddr_in.self) }
        var text = [CChar](repeating: 0, count: Int(INET_ADDRSTRLEN))
        inet_ntop(AF_INET, &ipv4.sin_addr, &text, socklen_t(text.count))
        return String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// `socket.getfqdn()`: gethostname, then the first of gethostbyaddr's name and aliases that
    /// holds a dot, else its name; the plain host name when gethostbyaddr fails.
    public static func fqdn() -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count - 1) == 0 else { return "" }
        let name = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        guard let names = hostNames(byAddressOf: name) else { return name }
        return names.first { $0.contains(".") } ?? names[0]
    }

    /// CPython's `gethostbyaddr(name)`: the name's first address (any family), then
    /// gethostbyaddr_r on it; the official name first, then the aliases.
    private static func hostNames(byAddressOf name: String) -> [String]? {
        guard let address = firstAddress(of: name, family: AF_UNSPEC) else { return nil }
        let family = address.withUnsafeBytes { Int32($0.load(as: sockaddr.self).sa_family) }
        var entry = hostent()
        var result: UnsafeMutablePointer<hostent>?
        var error: Int32 = 0
        var scratch = [CChar](repeating: 0, count: 16384)
        let status: Int32 = address.withUnsafeBytes { raw in
            if family == AF_INET6 {
                var ipv6 = raw.load(as: sockaddr_in6.self).sin6_addr
                return gethostbyaddr_r(&ipv6, socklen_t(MemoryLayout<in6_addr>.size), family, &entry, &scratch, scratch.count, &result, &error)
            }
            var ipv4 = raw.load(as: sockaddr_in.self).sin_addr
            return gethostbyaddr_r(&ipv4, socklen_t(MemoryLayout<in_addr>.size), family, &entry, &scratch, scratch.count, &result, &error)
        }
        guard status == 0, let found = result?.pointee, let official = found.h_name else { return nil }
        var names = [String(cString: official)]
        if var alias = found.h_aliases {
            while let text = alias.pointee {
                names.append(String(cString: text))
                alias += 1
            }
        }
        return names
    }

    /// The first address getaddrinfo gives, as bytes of a sockaddr.
    private static func firstAddress(of name: String, family: Int32) -> [UInt8]? {
        var hints = addrinfo()
        hints.ai_family = family
        // As CPython's setipaddr asks (its "dummy" socket type): one entry per address.
        hints.ai_socktype = Int32(SOCK_DGRAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(name, nil, &hints, &list) == 0, let first = list else { return nil }
        defer { freeaddrinfo(list) }
        guard let address = first.pointee.ai_addr else { return nil }
        return Array(UnsafeRawBufferPointer(start: address, count: Int(first.pointee.ai_addrlen)))
    }
}
