#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Glibc

/// Where pack's output bytes go: the file descriptor, the SHA-256 (on another thread) and a count.
final class OutputSink {
    let descriptor: Int32
    let path: String
    private(set) var written: Int64 = 0
    private var hasher: BackgroundHasher? = BackgroundHasher()

    init(descriptor: Int32, path: String) {
        self.descriptor = descriptor
        self.path = path
    }

    deinit { _ = hasher?.finish() }

    func write(_ bytes: UnsafeRawBufferPointer) throws(PackageError) {
        guard !bytes.isEmpty else { return }
        hasher?.submit(bytes)
        var offset = 0
        while offset < bytes.count {
            let count = Glibc.write(descriptor, bytes.baseAddress! + offset, bytes.count - offset)
            if count < 0 {
                if errno == EINTR { continue }
                throw .write(path, errno == ENOSPC ? "no space left on the file system (ENOSPC)" : String(cString: strerror(errno)))
            }
            offset += count
        }
        written += Int64(bytes.count)
    }

    func write(_ bytes: [UInt8]) throws(PackageError) {
        try bytes.withBytes { (buffer) throws(PackageError) in try write(buffer) }
    }

    /// The SHA-256 of everything written, as 64 hex digits.
    func finish() -> String {
        let digest = hasher?.finish() ?? ""
        hasher = nil
        return digest
    }
}
