import FateUpgradeCore
internal import CHost

/// SHA-256, streaming: the checksum `pack` writes beside a package and `apply` checks, without a
/// crypto library in a static binary (the rounds are C, for speed).
public struct SHA256 {
    private var state = fu_sha256()

    public init() { fu_sha256_init(&state) }

    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        guard let base = bytes.baseAddress else { return }
        fu_sha256_update(&state, base, bytes.count)
    }

    public mutating func update(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { update($0) }
    }

    /// The digest as 64 lowercase hex digits.
    public mutating func hexDigest() -> String {
        var digest = [UInt8](repeating: 0, count: 32)
        digest.withUnsafeMutableBufferPointer { fu_sha256_final(&state, $0.baseAddress!) }
        let hex = Array("0123456789abcdef".utf8)
        return String(decoding: digest.flatMap { [hex[Int($0 >> 4)], hex[Int($0 & 15)]] }, as: UTF8.self)
    }

    /// The portable rounds even on a processor with SHA instructions (for the tests, which check
    /// both against sha256sum), or back to the processor's choice. Both give the same digests, so
    /// hashes running meanwhile are not disturbed.
    public static func usePortableRounds(_ portable: Bool) { fu_sha256_use_portable(portable ? 1 : 0) }

    public static func hex(_ bytes: [UInt8]) -> String {
        var hasher = SHA256()
        hasher.update(bytes)
        return hasher.hexDigest()
    }
}
