import FateUpgradeCore

/// Asks ZooKeeper whether this host's fate_flow 1.4.4 is registered: connects to the hosts of
/// base_conf.yaml with its digest credentials (when `use_acl`), lists the providers path, reads
/// whether each child is ephemeral, and hands the listing to `RegistryJudge`.
public enum RegistryProbe {
    public typealias Step = RegistryProbeStep

    public enum Outcome: Hashable, Sendable, CustomStringConvertible {
        case findings([RegistryFinding])
        case failed(Step, ZooKeeperError)

        public var description: String {
            switch self {
            case .findings(let findings): findings.map(\.description).joined(separator: "\n")
            case .failed(_, let error): error.description
            }
        }
    }

    /// Never throws: each failure is an outcome naming its step. With `use_registry: false`
    /// nothing is contacted. A listing refused with ZNOAUTH (credentials that do not match the
    /// nodes' digest ACL) fails at `.list`; an absent providers path is an empty listing.
    public static func run(settings: RegistrySettings, expected: FlowProviderNode,
                           connectTimeout: Duration = .seconds(5), operationTimeout: Duration = .seconds(5)) -> Outcome {
        guard settings.useRegistry else { return .findings([.registryNotUsed]) }
        let digest = settings.useACL ? ZooKeeperClient.Digest(user: settings.user, password: Secret(settings.password)) : nil

        let client: ZooKeeperClient
        do {
            client = try ZooKeeperClient(hosts: settings.hosts, digest: digest, connectTimeout: connectTimeout, operationTimeout: operationTimeout)
        } catch {
            return .failed(error.operation == .authenticate ? .authenticate : .connect, error)
        }
        defer { client.close() }

        let names: [String]
        do {
            names = try client.children(of: FlowProviderNode.providersPath)
        } catch where error.code == .noNode {
            names = []
        } catch {
            return .failed(.list, error)
        }

        var listed: [ProviderChild] = []
        for name in names {
            let stat: NodeStat?
            do {
                stat = try client.stat(of: "\(FlowProviderNode.providersPath)/\(name)")
            } catch {
                return .failed(.stat, error)
            }
            // Gone between the listing and now: an ephemeral node whose session just ended.
            guard let stat else { continue }
            listed.append(ProviderChild(name: name, ephemeralOwner: stat.ephemeralOwner))
        }
        return .findings(RegistryJudge.judge(settings: settings, expected: expected, listed: listed))
    }
}
