/// Where the old ZooKeeper settings are kept in a backup of the python folder.
public enum BackupLayout: Sendable {
    /// FATE 1.4.0 / 1.4.1: `fate_flow/settings.py` and `fate_flow/utils/setting_utils.py`.
    case pythonSource(settings: PythonSettingsFile, settingUtils: PythonSettingsFile)
    /// FATE 1.4.2 / 1.4.3: the backup's own `arch/conf/base_conf.yaml`.
    case baseConf(BaseConf)

    public var description: String {
        switch self {
        case .pythonSource: "FATE 1.4.0/1.4.1 (values in fate_flow/settings.py and fate_flow/utils/setting_utils.py)"
        case .baseConf: "FATE 1.4.2/1.4.3 (values in arch/conf/base_conf.yaml)"
        }
    }
}

/// The registry settings to write, each with the reason it has its value.
public struct RegistryMigration: Sendable {
    /// Values the operator gives by hand; they win over the backup.
    public struct Overrides: Sendable {
        public var useRegistry: Bool?
        public var hosts: [String]?
        public var useACL: Bool?
        public var user: String?
        public var password: String?

        public init(useRegistry: Bool? = nil, hosts: [String]? = nil, useACL: Bool? = nil, user: String? = nil, password: String? = nil) {
            self.useRegistry = useRegistry
            self.hosts = hosts
            self.useACL = useACL
            self.user = user
            self.password = password
        }

        /// Whether every ZooKeeper value is given, so that no backup is needed.
        public var isComplete: Bool { hosts != nil && useACL != nil && user != nil && password != nil }
    }

    public struct Decision: Hashable, Sendable {
        /// `use_registry`, `zookeeper.hosts`, …
        public var key: String
        /// The value as shown to the operator (the password masked).
        public var shown: String
        public var reason: String
    }

    public let settings: RegistrySettings
    public let decisions: [Decision]

    /// The flag that gives each value by hand, named in errors.
    static let flags = ["hosts": "--zk-hosts", "use_acl": "--zk-use-acl", "user": "--zk-user", "password": "--zk-password-stdin"]

    public init(layout: BackupLayout?, overrides: Overrides) throws(InputError) {
        var decisions: [Decision] = []
        func decide(_ key: String, _ shown: String, _ reason: String) { decisions.append(Decision(key: key, shown: shown, reason: reason)) }

        let source = try RegistryMigration.read(layout)
        let useRegistry: Bool
        if let given = overrides.useRegistry {
            useRegistry = given
            decide("use_registry", YAMLScalar.bool(given), "given with --use-registry")
        } else if let found = try source.useRegistry.get() {
            useRegistry = found.value
            decide("use_registry", YAMLScalar.bool(found.value), "from \(found.origin)")
        } else {
            useRegistry = true
            decide("use_registry", "true", "the backup has neither USE_CONFIGURATION_CENTER nor use_registry; true, as the upgrade guide shows")
        }

        // A value given by hand means the backup's is never read, so a backup value that cannot
        // be read (os.getenv(...)) stops the run only when nothing replaces it.
        func value<T>(_ key: String, _ given: T?, _ lookup: Result<Sourced<T>?, InputError>, show: (T) -> String) throws(InputError) -> T {
            if let given {
                decide("zookeeper.\(key)", show(given), "given with \(RegistryMigration.flags[key]!)")
                return given
            }
            guard let found = try lookup.get() else {
                throw InputError(SourceLocation(file: source.place), "no zookeeper \(key) value found; give it with \(RegistryMigration.flags[key]!)")
            }
            decide("zookeeper.\(key)", show(found.value), "from \(found.origin)")
            return found.value
        }
        let given = try value("hosts", overrides.hosts, source.hosts) { $0.joined(separator: ", ") }
        if let problem = RegistrySettings.validHosts(given) {
            if overrides.hosts != nil { throw InputError(SourceLocation(file: "--zk-hosts"), problem) }
            throw InputError((try? source.hosts.get())??.location ?? SourceLocation(file: source.place),
                             "zookeeper hosts: \(problem); give them with --zk-hosts")
        }
        // As kazoo reads them: a host without a port is on 2181 (FATE 1.4.0 ran with such lists).
        let hosts = given.map(RegistrySettings.withPort)
        if hosts != given, let index = decisions.lastIndex(where: { $0.key == "zookeeper.hosts" }) {
            decisions[index].shown = hosts.joined(separator: ", ")
            decisions[index].reason += "; port \(RegistrySettings.defaultPort) added where none was given, as kazoo does"
        }
        let useACL = try value("use_acl", overrides.useACL, source.useACL) { YAMLScalar.bool($0) }
        let user = try value("user", overrides.user, source.user) { $0 }
        let password = try value("password", overrides.password, source.password) { $0.isEmpty ? "(empty)" : "********" }
        settings = RegistrySettings(useRegistry: useRegistry, hosts: hosts, useACL: useACL, user: user, password: password)
        self.decisions = decisions
    }

    struct Sourced<T> {
        var value: T
        var location: SourceLocation
        var name: String
        var origin: String { "\(name) in \(location)" }
    }

    struct Source {
        var place = "the backup"
        var useRegistry: Result<Sourced<Bool>?, InputError> = .success(nil)
        var hosts: Result<Sourced<[String]>?, InputError> = .success(nil)
        var useACL: Result<Sourced<Bool>?, InputError> = .success(nil)
        var user: Result<Sourced<String>?, InputError> = .success(nil)
        var password: Result<Sourced<String>?, InputError> = .success(nil)
    }

    static func read(_ layout: BackupLayout?) throws(InputError) -> Source {
        var source = Source()
        switch layout {
        case nil:
            break
        case .baseConf(let conf):
            source.place = conf.file
            let current = try conf.current()
            func sourced<T>(_ found: BaseConf.Found<T>?, _ name: String) -> Result<Sourced<T>?, InputError> {
                .success(found.map { Sourced(value: $0.value, location: SourceLocation(file: conf.file, line: $0.line), name: name) })
            }
            source.useRegistry = sourced(current.useRegistry, "use_registry")
            source.hosts = sourced(current.hosts, "zookeeper.hosts")
            source.useACL = sourced(current.useACL, "zookeeper.use_acl")
            source.user = sourced(current.user, "zookeeper.user")
            source.password = sourced(current.password, "zookeeper.password")
        case .pythonSource(let settings, let utils):
            source.place = settings.file
            source.useRegistry = literal(settings.everyModuleAssignment("USE_CONFIGURATION_CENTER"), in: settings, flag: "--use-registry") {
                if case .bool(let value) = $0 { value } else { nil }
            }
            source.hosts = literal(settings.everyModuleAssignment("ZOOKEEPER_HOSTS"), in: settings, flag: "--zk-hosts") { value -> [String]? in
                switch value {
                case .string(let text): return RegistrySettings.splitHosts(text)
                case .list(let items), .tuple(let items):
                    var hosts: [String] = []
                    for item in items { guard case .string(let text) = item else { return nil }; hosts.append(text) }
                    return hosts
                default: return nil
                }
            }
            let center = { (name: String) in utils.everyClassAssignment("CenterConfig", name) }
            source.useACL = literal(center("USE_ACL"), in: utils, flag: "--zk-use-acl") {
                if case .bool(let value) = $0 { value } else { nil }
            }
            source.user = literal(center("ZK_USERNAME"), in: utils, flag: "--zk-user") {
                if case .string(let value) = $0 { value } else { nil }
            }
            source.password = literal(center("ZK_PASSWORD"), in: utils, flag: "--zk-password-stdin") {
                if case .string(let value) = $0 { value } else { nil }
            }
        }
        return source
    }

    /// A Python assignment's value, which must be a literal of the expected type; the error is
    /// kept, to be raised only if the value is needed.
    static func literal<T>(_ assignments: [PythonAssignment], in file: PythonSettingsFile, flag: String,
                           _ convert: (PythonValue) -> T?) -> Result<Sourced<T>?, InputError> {
        guard let assignment = assignments.last else { return .success(nil) }
        let location = SourceLocation(file: file.file, line: assignment.line)
        // Assigned twice (a reassignment under `if os.environ…`, in a `try`, or again at module
        // level): which value FATE ends up with depends on how it runs.
        if assignments.count > 1 {
            let places = assignments.map { "\(file.file):\($0.line)" }.joined(separator: " and ")
            return .failure(InputError(location, "\(assignment.name) is assigned more than once (\(places)); which value FATE uses depends on how it runs, so give the value with \(flag)"))
        }
        // The password's text is never shown, not even when it is an expression.
        let shown = flag == "--zk-password-stdin" ? "\(assignment.name) (hidden)" : "\(assignment.name) = \(assignment.source)"
        guard let value = assignment.value else {
            return .failure(InputError(location, "\(shown) is not a literal value, so it cannot be read without running FATE; give the value with \(flag)"))
        }
        guard let converted = convert(value) else {
            return .failure(InputError(location, "\(shown) is not of the expected type; give the value with \(flag)"))
        }
        return .success(Sourced(value: converted, location: location, name: assignment.name))
    }
}

/// The backup folders FATE's upgrade script leaves: `python_YYYYmmddHHMMSS`.
public enum PythonBackupName {
    /// The timestamp of a backup folder name, or nil when the name is not `python_` and a valid
    /// 14-digit date and time.
    public static func timestamp(of name: String) -> String? {
        guard name.hasPrefix("python_") else { return nil }
        let stamp = name.dropFirst("python_".count)
        guard stamp.count == 14, stamp.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
        let digits = stamp.map { Int(String($0))! }
        let number = { (from: Int, count: Int) in digits[from..<(from + count)].reduce(0) { $0 * 10 + $1 } }
        let (month, day, hour, minute, second) = (number(4, 2), number(6, 2), number(8, 2), number(10, 2), number(12, 2))
        guard (1...12).contains(month), (1...31).contains(day), hour < 24, minute < 60, second < 60 else { return nil }
        return String(stamp)
    }
}
