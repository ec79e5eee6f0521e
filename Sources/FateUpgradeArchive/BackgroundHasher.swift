internal import CHost
import Glibc

/// SHA-256 of a stream of chunks, computed on another thread: hashing (about 150 MB/s) would
/// otherwise double the time of a pack that copies most of its output at disk speed.
final class BackgroundHasher: @unchecked Sendable {
    private var state = fu_sha256()
    private var mutex = pthread_mutex_t()
    private var changed = pthread_cond_t()
    private var queue: [[UInt8]] = []
    private var closed = false
    private var thread = pthread_t()
    private static let depth = 16

    init() {
        fu_sha256_init(&state)
        pthread_mutex_init(&mutex, nil)
        pthread_cond_init(&changed, nil)
        let context = Unmanaged.passRetained(self).toOpaque()
        pthread_create(&thread, nil, { context in
            let hasher = Unmanaged<BackgroundHasher>.fromOpaque(context!).takeRetainedValue()
            hasher.work()
            return nil
        }, context)
    }

    deinit {
        pthread_cond_destroy(&changed)
        pthread_mutex_destroy(&mutex)
    }

    private func work() {
        while true {
            pthread_mutex_lock(&mutex)
            while queue.isEmpty && !closed { pthread_cond_wait(&changed, &mutex) }
            if queue.isEmpty && closed { pthread_mutex_unlock(&mutex); return }
            let chunk = queue.removeFirst()
            pthread_cond_broadcast(&changed)
            pthread_mutex_unlock(&mutex)
            chunk.withUnsafeBytes { fu_sha256_update(&state, $0.baseAddress, $0.count) }
        }
    }

    /// Queues a copy of `bytes` (waits while the queue is full).
    func submit(_ bytes: UnsafeRawBufferPointer) {
        guard !bytes.isEmpty else { return }
        let chunk = Array(bytes.bindMemory(to: UInt8.self))
        pthread_mutex_lock(&mutex)
        while queue.count >= Self.depth { pthread_cond_wait(&changed, &mutex) }
        queue.append(chunk)
        pthread_cond_broadcast(&changed)
        pthread_mutex_unlock(&mutex)
    }

    /// Waits for the thread and returns the digest as 64 lowercase hex digits.
    func finish() -> String {
        pthread_mutex_lock(&mutex)
        closed = true
        pthread_cond_broadcast(&changed)
        pthread_mutex_unlock(&mutex)
        pthread_join(thread, nil)
        var digest = [UInt8](repeating: 0, count: 32)
        digest.withUnsafeMutableBufferPointer { fu_sha256_final(&state, $0.baseAddress!) }
        let hex = Array("0123456789abcdef".utf8)
        return String(decoding: digest.flatMap { [hex[Int($0 >> 4)], hex[Int($0 & 15)]] }, as: UTF8.self)
    }
}
