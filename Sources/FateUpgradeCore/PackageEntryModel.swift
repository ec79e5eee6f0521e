/// The entries of an upgrade package as extraction will see them, checked one by one in archive
/// order, before anything is written: what is checked is what would be extracted and run.
///
/// - A path appears once (a later entry at the same path would replace the one checked).
/// - Nothing is under an earlier symbolic link (extraction would write through it).
/// - A symbolic link, resolved against the links before it (as the file system will), stays
///   inside the package; a hard link names an earlier regular file.
/// - Only files, folders and links; no sparse files; names that are UTF-8 (else two names could
///   become one file).
/// - Everything under one top-level folder, the script's (`finish`).
public struct PackageEntryModel: Sendable {
    public enum Kind: Sendable, Equatable {
        case file, folder, symlink(target: String), hardlink(target: String), other(String)
    }

    public private(set) var problems: [String] = []
    /// Normalised path → kind, for every accepted entry.
    public private(set) var kinds: [String: Kind] = [:]
    public private(set) var order: [String] = []
    private var links: [String: [String]] = [:]

    public init() {}

    /// `./a//b/` → `a/b`; nil for an absolute path or one with `..`.
    public static func normalised(_ path: String) -> String? {
        if path.hasPrefix("/") { return nil }
        let parts = path.split(separator: "/").filter { $0 != "." }
        if parts.contains("..") { return nil }
        return parts.joined(separator: "/")
    }

    /// Checks one entry; returns its normalised path when accepted.
    @discardableResult
    public mutating func add(name: String?, rawName: [UInt8], kind: Kind, sparse: Bool = false) -> String? {
        guard let name else {
            problems.append("refused entry \(Self.shown(rawName)): its name is not UTF-8 text, so it could not be kept as it is")
            return nil
        }
        guard let path = Self.normalised(name), !path.isEmpty else {
            problems.append("refused entry \(name): \(name.hasPrefix("/") ? "absolute path" : name.split(separator: "/").contains("..") ? "path with .." : "empty name")")
            return nil
        }
        if let earlier = kinds[path] {
            // tar may list a folder again (adding to it); anything else appearing twice replaces the first.
            if !(earlier == .folder && kind == .folder) {
                problems.append("refused entry \(name): \(path) appears more than once in the package; extraction would keep the last, not the one checked")
            }
            return nil
        }
        let components = path.split(separator: "/").map(String.init)
        for length in 1..<max(components.count, 1) {
            let prefix = components[..<length].joined(separator: "/")
            if case .symlink? = kinds[prefix] {
                problems.append("refused entry \(name): it is under the symbolic link \(prefix), so extraction would write through the link")
                return nil
            }
        }
        switch kind {
        case .file, .folder: break
        case .other(let what):
            problems.append("refused entry \(name): \(what), not a file, folder or link")
            return nil
        case .symlink(let target):
            if target.hasPrefix("/") {
                problems.append("refused entry \(name): symbolic link to the absolute path \(target)")
                return nil
            }
            guard let resolved = resolve(Array(components.dropLast()) + target.split(separator: "/").map(String.init)) else {
                problems.append("refused entry \(name): symbolic link to \(target), which leads outside the package")
                return nil
            }
            links[path] = resolved
        case .hardlink(let target):
            guard let normal = Self.normalised(target), kinds[normal] == .file else {
                problems.append("refused entry \(name): hard link to \(target), which is not a file earlier in the package")
                return nil
            }
        }
        if sparse {
            problems.append("refused entry \(name): a sparse file; upgrade packages have none")
            return nil
        }
        kinds[path] = kind
        order.append(path)
        return path
    }

    /// Components resolved through the links seen so far; nil when they climb out of the root.
    private func resolve(_ components: [String], depth: Int = 0) -> [String]? {
        guard depth < 40 else { return nil }
        var result: [String] = []
        for component in components {
            switch component {
            case "", ".": continue
            case "..":
                guard !result.isEmpty else { return nil }
                result.removeLast()
            default:
                result.append(component)
                if let target = links[result.joined(separator: "/")] {
                    // A link met on the way: continue from where it leads.
                    guard let resolved = resolve(target, depth: depth + 1) else { return nil }
                    result = resolved
                }
            }
        }
        return result
    }

    /// The checks over the whole package: one top-level folder, the script's; the script one regular file.
    public mutating func finish(script: String?) {
        guard let script else { return }
        if kinds[script] != .file {
            problems.append("the script \(script) must be one regular file")
        }
        let top = script.split(separator: "/").first.map(String.init) ?? ""
        guard script.contains("/") else { return }
        let others = Set(order.compactMap { $0.split(separator: "/").first.map(String.init) }).subtracting([top]).sorted()
        if !others.isEmpty {
            problems.append("top-level entries other than \(top)/: \(others.joined(separator: ", ")); extracting them could replace what is beside the work folder")
        }
    }

    /// A name that is not UTF-8, shown with the bytes that are not escaped as \xHH.
    public static func shown(_ bytes: [UInt8]) -> String {
        var out = ""
        var index = 0
        while index < bytes.count {
            let lead = bytes[index]
            let length = lead < 0x80 ? 1 : lead >> 5 == 0b110 ? 2 : lead >> 4 == 0b1110 ? 3 : lead >> 3 == 0b11110 ? 4 : 0
            if length > 0, index + length <= bytes.count,
               let text = String(validating: bytes[index..<(index + length)], as: UTF8.self) {
                out += text
                index += length
            } else {
                let digits = String(lead, radix: 16, uppercase: true)
                out += "\\x" + (digits.count == 1 ? "0" : "") + digits
                index += 1
            }
        }
        return out
    }
}
