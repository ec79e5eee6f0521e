/// A child of `FlowProviderNode.providersPath` as ZooKeeper listed it.
public struct ProviderChild: Hashable, Sendable {
    public var name: String
    /// The session owning the node; 0 for a persistent node.
    public var ephemeralOwner: Int64

    public init(name: String, ephemeralOwner: Int64) {
        self.name = name
        self.ephemeralOwner = ephemeralOwner
    }

    public var isEphemeral: Bool { ephemeralOwner != 0 }
}

/// What the registry says about this host's fate_flow.
public enum RegistryFinding: Hashable, Sendable, CustomStringConvertible {
    /// `use_registry` is false: fate_flow registers nothing, so there is nothing to check.
    case registryNotUsed
    /// This host's node is there and ephemeral: fate_flow 1.4.4 made it and its session is alive.
    case registered(node: String, session: Int64)
    /// No node of this host's: fate_flow 1.4.4 is not running, could not create it (its create
    /// failures are only logged), or registers another address.
    case missing(node: String)
    /// This host's node is there but persistent: FATE 1.4.0/1.4.1 made it. fate_flow 1.4.4's
    /// create then fails with NodeExists (only logged), and the node outlives fate_flow.
    case registeredPersistent(node: String)
    /// Another persistent node under the providers path, left by a 1.4.0/1.4.1 fate_flow:
    /// FATE-Serving may fetch models from an address nothing serves any more.
    case stalePersistent(node: String, address: String?)

    /// Whether verify should report it as something to fix.
    public var isProblem: Bool {
        switch self {
        case .registryNotUsed, .registered: false
        case .missing, .registeredPersistent, .stalePersistent: true
        }
    }

    public var description: String {
        switch self {
        case .registryNotUsed:
            "use_registry is false: fate_flow registers nothing in ZooKeeper"
        case .registered(let node, let session):
            "fate_flow is registered: \(FlowProviderNode.providersPath)/\(node) (ephemeral, session 0x\(String(UInt64(bitPattern: session), radix: 16)))"
        case .missing(let node):
            "fate_flow is not registered: no \(FlowProviderNode.providersPath)/\(node)"
        case .registeredPersistent(let node):
            "\(FlowProviderNode.providersPath)/\(node) is persistent, as FATE 1.4.0/1.4.1 created it: fate_flow 1.4.4 cannot create its ephemeral node over it, and it stays when fate_flow stops; delete it and restart fate_flow"
        case .stalePersistent(let node, let address):
            "stale persistent node \(FlowProviderNode.providersPath)/\(node)\(address.map { " (\($0))" } ?? "") left by FATE 1.4.0/1.4.1: FATE-Serving may fetch models from it; delete it unless that fate_flow still runs 1.4.0/1.4.1"
        }
    }
}

/// Judges the listing of the providers path against the node this host's fate_flow 1.4.4
/// should have registered. Pure: the listing is given.
public enum RegistryJudge {
    /// `listed`: every child of `FlowProviderNode.providersPath` (empty when the path is absent).
    /// The first finding is about this host's node, the rest are the other persistent nodes,
    /// sorted by name.
    public static func judge(settings: RegistrySettings, expected: FlowProviderNode, listed: [ProviderChild]) -> [RegistryFinding] {
        guard settings.useRegistry else { return [.registryNotUsed] }
        let own = listed.first { $0.name == expected.name }
        var findings: [RegistryFinding]
        switch own {
        case let child? where child.isEphemeral: findings = [.registered(node: child.name, session: child.ephemeralOwner)]
        case let child?: findings = [.registeredPersistent(node: child.name)]
        case nil: findings = [.missing(node: expected.name)]
        }
        for child in listed.sorted(by: { $0.name < $1.name }) where !child.isEphemeral && child.name != expected.name {
            findings.append(.stalePersistent(node: child.name, address: FlowProviderNode.address(ofChild: child.name)))
        }
        return findings
    }
}
