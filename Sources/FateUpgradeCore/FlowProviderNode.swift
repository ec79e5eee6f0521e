/// The znode fate_flow 1.4.4 registers in ZooKeeper for its model-transfer service, as
/// `ServiceUtils.register()` names it:
///
///     model_transfer_url = 'http://{}:{}{}'.format(IP, HTTP_PORT, FATE_FLOW_MODEL_TRANSFER_ENDPOINT)
///     '{}/{}'.format(FATE_SERVICES_REGISTERED_PATH.get("fateflow", ""), parse.quote(model_transfer_url, safe=' '))
///
/// (FederatedAI/FATE, fate_flow/utils/service_utils.py). `safe=' '` replaces quote's default
/// `safe='/'`, so the slashes of the URL are escaped too and the whole URL is one child name;
/// only a space would stay as it is, and an address or port never holds one.
public struct FlowProviderNode: Hashable, Sendable {
    /// `FATE_SERVICES_REGISTERED_PATH["fateflow"]`: the parent of every fate_flow's node.
    public static let providersPath = "/FATE-SERVICES/flow/online/transfer/providers"
    /// `FATE_SERVICES_REGISTERED_PATH["servings"]`: where FATE-Serving registers itself.
    public static let servingProvidersPath = "/FATE-SERVICES/serving/online/publishLoad/providers"
    /// `FATE_FLOW_MODEL_TRANSFER_ENDPOINT`.
    public static let transferEndpoint = "/v1/model/transfer"

    public var ip: String
    public var httpPort: Int

    public init(ip: String, httpPort: Int) {
        self.ip = ip
        self.httpPort = httpPort
    }

    /// The URL FATE-Serving fetches models from.
    public var url: String { "http://\(ip):\(httpPort)\(Self.transferEndpoint)" }

    /// The child name under `providersPath`.
    public var name: String { Self.quote(url, safe: " ") }

    /// The node's full path.
    public var path: String { "\(Self.providersPath)/\(name)" }

    /// Python's `urllib.parse.quote(text, safe=safe)`: letters, digits and `_.-~` always stay,
    /// as do the characters of `safe`; every other byte of the UTF-8 text becomes `%XX`
    /// (upper-case hex).
    public static func quote(_ text: String, safe: String) -> String {
        let kept = Set(Array(safe.utf8))
        var out = ""
        for byte in text.utf8 {
            let isUnreserved = (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A) || (byte >= 0x30 && byte <= 0x39)
                || byte == UInt8(ascii: "_") || byte == UInt8(ascii: ".") || byte == UInt8(ascii: "-") || byte == UInt8(ascii: "~")
            if isUnreserved || kept.contains(byte) {
                out.unicodeScalars.append(Unicode.Scalar(byte))
            } else {
                out += "%" + String(byte >> 4, radix: 16, uppercase: true) + String(byte & 0x0F, radix: 16, uppercase: true)
            }
        }
        return out
    }

    /// Python's `urllib.parse.unquote`: `%XX` back to bytes, read as UTF-8 (invalid sequences
    /// become U+FFFD, as there); a `%` not followed by two hex digits stays.
    public static func unquote(_ text: String) -> String {
        let bytes = Array(text.utf8)
        var out: [UInt8] = []
        var index = 0
        while index < bytes.count {
            if bytes[index] == UInt8(ascii: "%"), index + 2 < bytes.count,
               let high = hexValue(bytes[index + 1]), let low = hexValue(bytes[index + 2]) {
                out.append(high << 4 | low)
                index += 3
            } else {
                out.append(bytes[index])
                index += 1
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// The `host:port` a child name stands for, as fate_flow's `nodes_unquote` reads it
    /// (`unquote(name).split('/')[2]`), or nil for a name that is not such a URL.
    public static func address(ofChild name: String) -> String? {
        let parts = unquote(name).split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count > 2, !parts[2].isEmpty else { return nil }
        return String(parts[2])
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
