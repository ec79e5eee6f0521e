internal import CZooKeeper
import FateUpgradeCore
import Glibc
import Synchronization

/// What ZooKeeper keeps about a node besides its data.
public struct NodeStat: Hashable, Sendable {
    /// The session that owns the node; 0 for a persistent node.
    public var ephemeralOwner: Int64
    public var version: Int32
    public var numChildren: Int32
    public var dataLength: Int32
    /// Creation and last change, in milliseconds since 1970.
    public var ctime: Int64
    public var mtime: Int64

    public init(ephemeralOwner: Int64, version: Int32, numChildren: Int32, dataLength: Int32, ctime: Int64, mtime: Int64) {
        self.ephemeralOwner = ephemeralOwner
        self.version = version
        self.numChildren = numChildren
        self.dataLength = dataLength
        self.ctime = ctime
        self.mtime = mtime
    }

    public var isEphemeral: Bool { ephemeralOwner != 0 }
}

/// A failed ZooKeeper step: what was attempted, on which node and servers, and ZooKeeper's
/// own words (`zerror`). It never holds the password: the client takes it as a `Secret`
/// and no message is built from it.
public struct ZooKeeperError: OperatorError, CustomStringConvertible, Hashable, Sendable {
    public enum Operation: String, Hashable, Sendable {
        case connect, authenticate, children, stat
    }

    /// The ZooKeeper result codes a caller may act on; the rest keep their number.
    public enum Code: Hashable, Sendable {
        case noNode, noAuth, authFailed, connectionLoss, sessionExpired, operationTimeout, closing, invalidState, badArguments
        case other(Int32)
    }

    public var operation: Operation
    public var path: String?
    /// The servers as given to the C client, `h:p,h:p`.
    public var hosts: String
    /// nil when ZooKeeper gave no code: our own time limit ran out, or the host list was refused.
    public var code: Code?
    public var detail: String
    public var reportCode: String { "registry" }

    public init(operation: Operation, path: String?, hosts: String, code: Code?, detail: String) {
        self.operation = operation
        self.path = path
        self.hosts = hosts
        self.code = code
        self.detail = detail
    }

    public var description: String {
        switch operation {
        case .connect: "cannot connect to ZooKeeper at \(hosts)\(detail.isEmpty ? "" : " \(detail)")"
        case .authenticate: "ZooKeeper at \(hosts) refused the digest credentials: \(detail)"
        case .children: "cannot list the children of \(path ?? "?") on ZooKeeper at \(hosts): \(detail)"
        case .stat: "cannot read \(path ?? "?") on ZooKeeper at \(hosts): \(detail)"
        }
    }

    public var lines: [String] { [description] }
}

/// A ZooKeeper session over the C client (libzookeeper_mt): connect, optional digest
/// authentication, and the two reads fate-upgrade needs. The C handle and every pointer of
/// the C API stay inside; every step waits a bounded time, so a silent server is an error,
/// never a hang.
///
/// Not for concurrent use: one thread at a time (the C client's own threads are hidden).
public final class ZooKeeperClient {
    /// The digest scheme's `user:password`, as kazoo's `auth_data=[("digest", "user:password")]`.
    public struct Digest: Sendable {
        public var user: String
        public var password: Secret

        public init(user: String, password: Secret) {
            self.user = user
            self.password = password
        }
    }

    /// `h:p,h:p`, each host with kazoo's default port when it had none.
    public let hosts: String
    public let operationTimeout: Duration
    private var handle: OpaquePointer?

    /// Connects and waits for the session (at most `connectTimeout`), then, with `digest`,
    /// authenticates and waits for the server's answer (at most `operationTimeout`).
    /// `sessionTimeout` is what the server keeps the session for when we vanish; kazoo's 10 s.
    public init(hosts: [String], digest: Digest? = nil, connectTimeout: Duration = .seconds(5),
                operationTimeout: Duration = .seconds(5), sessionTimeout: Duration = .seconds(10)) throws(ZooKeeperError) {
        ZooKeeperClient.silenceLibrary
        self.hosts = hosts.map(RegistrySettings.withPort).joined(separator: ",")
        self.operationTimeout = operationTimeout
        if let problem = RegistrySettings.validHosts(hosts) {
            throw ZooKeeperError(operation: .connect, path: nil, hosts: self.hosts, code: .badArguments, detail: "(\(problem))")
        }

        let milliseconds = Int32(clamping: sessionTimeout.components.seconds * 1000 + sessionTimeout.components.attoseconds / 1_000_000_000_000_000)
        errno = 0
        // ZOO_NO_LOG_CLIENTENV and the discarding callback: with the global level at 0 nothing is
        // logged anyway, but a handle of ours never writes to our stderr even if that level changes.
        guard let handle = zookeeper_init2(self.hosts, ZooKeeperClient.ignoreEvent, milliseconds, nil, nil,
                                           ZOO_NO_LOG_CLIENTENV, ZooKeeperClient.discardLog) else {
            let reason = errno == 0 ? "the host list was refused" : String(cString: strerror(errno))
            throw ZooKeeperError(operation: .connect, path: nil, hosts: self.hosts, code: nil, detail: "(\(reason))")
        }
        self.handle = handle

        let deadline = ContinuousClock.now + connectTimeout
        while true {
            let state = zoo_state(handle)
            if state == ZOO_CONNECTED_STATE { break }
            if state == ZOO_EXPIRED_SESSION_STATE || state == ZOO_AUTH_FAILED_STATE {
                close()
                throw ZooKeeperError(operation: .connect, path: nil, hosts: self.hosts,
                                     code: state == ZOO_AUTH_FAILED_STATE ? .authFailed : .sessionExpired,
                                     detail: "(the server ended the session while connecting)")
            }
            if ContinuousClock.now >= deadline {
                close()
                throw ZooKeeperError(operation: .connect, path: nil, hosts: self.hosts, code: nil,
                                     detail: "within \(Self.shown(connectTimeout))")
            }
            usleep(5_000)
        }

        if let digest {
            do throws(ZooKeeperError) {
                try authenticate(digest)
            } catch {
                close()
                throw error
            }
        }
    }

    deinit { close() }

    /// Ends the session (ephemeral nodes of ours would go with it) and frees the handle.
    /// Waits for the C client's threads; calling it again does nothing.
    public func close() {
        guard let handle else { return }
        self.handle = nil
        zookeeper_close(handle)
    }

    /// The names of the children of `path`, in the server's order.
    public func children(of path: String) throws(ZooKeeperError) -> [String] {
        let handle = try open(.children, path)
        let call = Call<[String]>()
        let context = Unmanaged.passRetained(call).toOpaque()
        let rc = zoo_aget_children(handle, path, 0, { rc, strings, context in
            let call = Unmanaged<Call<[String]>>.fromOpaque(context!).takeRetainedValue()
            var names: [String] = []
            if rc == ZOK.rawValue, let strings = strings?.pointee, let data = strings.data {
                for index in 0..<Int(strings.count) {
                    if let name = data[index] { names.append(String(cString: name)) }
                }
            }
            call.finish(rc, names)
        }, context)
        return try wait(call, context: context, submitted: rc, operation: .children, path: path) ?? []
    }

    /// The node's stat, or nil when there is no such node. ZooKeeper checks no ACL for this.
    public func stat(of path: String) throws(ZooKeeperError) -> NodeStat? {
        let handle = try open(.stat, path)
        let call = Call<NodeStat>()
        let context = Unmanaged.passRetained(call).toOpaque()
        let rc = zoo_aexists(handle, path, 0, { rc, stat, context in
            let call = Unmanaged<Call<NodeStat>>.fromOpaque(context!).takeRetainedValue()
            let value = stat.map {
                NodeStat(ephemeralOwner: $0.pointee.ephemeralOwner, version: $0.pointee.version, numChildren: $0.pointee.numChildren,
                         dataLength: $0.pointee.dataLength, ctime: $0.pointee.ctime, mtime: $0.pointee.mtime)
            }
            call.finish(rc, value)
        }, context)
        do {
            return try wait(call, context: context, submitted: rc, operation: .stat, path: path)
        } catch where error.code == .noNode {
            return nil
        }
    }

    // MARK: - Inside

    private func authenticate(_ digest: Digest) throws(ZooKeeperError) {
        guard let handle else { throw closedError(.authenticate, nil) }
        let call = Call<Bool>()
        let context = Unmanaged.passRetained(call).toOpaque()
        // The C client copies the credentials; our copy is wiped once it has.
        var cert = Array("\(digest.user):\(digest.password.revealed)".utf8).map { CChar(bitPattern: $0) }
        let rc = cert.withUnsafeBufferPointer { buffer in
            zoo_add_auth(handle, "digest", buffer.baseAddress, Int32(buffer.count), { rc, context in
                Unmanaged<Call<Bool>>.fromOpaque(context!).takeRetainedValue().finish(rc, true)
            }, context)
        }
        for index in cert.indices { cert[index] = 0 }
        do {
            _ = try wait(call, context: context, submitted: rc, operation: .authenticate, path: nil)
        } catch {
            // The digest scheme takes any user:password (a wrong one is merely another identity), so
            // a refusal means a malformed credential or a server configured to reject digests.
            throw ZooKeeperError(operation: .authenticate, path: nil, hosts: hosts, code: error.code,
                                 detail: error.detail + " (user '\(digest.user)')")
        }
    }

    private func open(_ operation: ZooKeeperError.Operation, _ path: String) throws(ZooKeeperError) -> OpaquePointer {
        guard let handle else { throw closedError(operation, path) }
        // The C client would refuse it too, but only after a call whose completion never comes.
        guard path.hasPrefix("/") else {
            throw ZooKeeperError(operation: operation, path: path, hosts: hosts, code: .badArguments, detail: "a ZooKeeper path starts with /")
        }
        return handle
    }

    private func closedError(_ operation: ZooKeeperError.Operation, _ path: String?) -> ZooKeeperError {
        ZooKeeperError(operation: operation, path: path, hosts: hosts, code: .closing, detail: "the session is closed")
    }

    /// Waits for a completion, at most `operationTimeout`. A completion that comes later (at
    /// the latest when `close` flushes them all with ZCLOSING) releases its own context.
    private func wait<Value: Sendable>(_ call: Call<Value>, context: UnsafeMutableRawPointer, submitted rc: Int32,
                             operation: ZooKeeperError.Operation, path: String?) throws(ZooKeeperError) -> Value? {
        guard rc == ZOK.rawValue else {
            // Refused before it was queued, so no completion will release the context; the few bytes
            // are left rather than risk a release racing a completion queued after all.
            throw error(rc, operation, path)
        }
        let deadline = ContinuousClock.now + operationTimeout
        while true {
            if let (rc, value) = call.result {
                guard rc == ZOK.rawValue else { throw error(rc, operation, path) }
                return value
            }
            if ContinuousClock.now >= deadline {
                throw ZooKeeperError(operation: operation, path: path, hosts: hosts, code: nil,
                                     detail: "no answer within \(Self.shown(operationTimeout))")
            }
            usleep(1_000)
        }
    }

    private func error(_ rc: Int32, _ operation: ZooKeeperError.Operation, _ path: String?) -> ZooKeeperError {
        ZooKeeperError(operation: operation, path: path, hosts: hosts, code: Self.code(rc),
                       detail: "\(String(cString: zerror(rc))) (\(Self.codeName(rc)))")
    }

    static func code(_ rc: Int32) -> ZooKeeperError.Code {
        switch rc {
        case ZNONODE.rawValue: .noNode
        case ZNOAUTH.rawValue: .noAuth
        case ZAUTHFAILED.rawValue: .authFailed
        case ZCONNECTIONLOSS.rawValue: .connectionLoss
        case ZSESSIONEXPIRED.rawValue: .sessionExpired
        case ZOPERATIONTIMEOUT.rawValue: .operationTimeout
        case ZCLOSING.rawValue: .closing
        case ZINVALIDSTATE.rawValue: .invalidState
        case ZBADARGUMENTS.rawValue: .badArguments
        default: .other(rc)
        }
    }

    /// The C name, which is what ZooKeeper's documentation and server logs use.
    static func codeName(_ rc: Int32) -> String {
        switch rc {
        case ZNONODE.rawValue: "ZNONODE"
        case ZNOAUTH.rawValue: "ZNOAUTH"
        case ZAUTHFAILED.rawValue: "ZAUTHFAILED"
        case ZCONNECTIONLOSS.rawValue: "ZCONNECTIONLOSS"
        case ZSESSIONEXPIRED.rawValue: "ZSESSIONEXPIRED"
        case ZOPERATIONTIMEOUT.rawValue: "ZOPERATIONTIMEOUT"
        case ZCLOSING.rawValue: "ZCLOSING"
        case ZINVALIDSTATE.rawValue: "ZINVALIDSTATE"
        case ZBADARGUMENTS.rawValue: "ZBADARGUMENTS"
        default: "code \(rc)"
        }
    }

    static func shown(_ duration: Duration) -> String {
        let (seconds, attoseconds) = duration.components
        if attoseconds == 0 { return "\(seconds) s" }
        return "\(Double(seconds) + Double(attoseconds) / 1e18) s"
    }

    /// The library's log goes to stderr at level INFO unless told otherwise; level 0 turns every
    /// one of its LOG_* calls off, process-wide, before the first handle exists.
    private static let silenceLibrary: Void = { zoo_set_debug_level(ZooLogLevel(rawValue: 0)) }()

    private static let discardLog: log_callback_fn = { _ in }
    private static let ignoreEvent: watcher_fn = { _, _, _, _, _ in }
}

/// One asynchronous call's result, filled in by the C client's completion thread.
private final class Call<Value: Sendable>: Sendable {
    private let state = Mutex<(rc: Int32, value: Value?)?>(nil)

    func finish(_ rc: Int32, _ value: Value?) {
        state.withLock { $0 = (rc, value) }
    }

    var result: (Int32, Value?)? {
        state.withLock { current in current.map { ($0.rc, $0.value) } }
    }
}
