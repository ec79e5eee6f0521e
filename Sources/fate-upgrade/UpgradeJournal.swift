import FateUpgradeCore
import Foundation

/// The record of one upgrade run on this host, kept under FATE_ROOT/.fate-upgrade/journal/.
/// Written before the package's script runs and again after, so that even a run killed
/// midway leaves what rollback needs: what existed before, and where to look.
struct UpgradeJournal: Codable {
    enum Outcome: String, Codable { case running, succeeded, failed }

    struct Snapshot: Codable {
        /// `python_<ts>` folders in FATE_ROOT.
        var pythonBackups: [String]
        /// `fate_flow_<ts>` folders beside FATE_FLOW_ROOT.
        var fateFlowBackups: [String]
        /// `*_backup` tables in the fate_flow database (empty when not looked at).
        var backupTables: [String]
    }

    struct Rollback: Codable {
        var at: String
        var steps: [String]
    }

    var id: String
    var startedAt: String
    var finishedAt: String?
    var host: String
    var component: UpgradeComponent
    var role: String
    var package: String
    var script: String
    /// The script's parameters as the shell evaluates them; secrets masked.
    var parameters: [String: String]
    var before: Snapshot
    var after: Snapshot?
    var log: String
    var outcome: Outcome
    var exitStatus: Int32?
    var message: String?
    var confmigrate: String?
    var rolledBack: Rollback?

    var fateRoot: String { parameters["FATE_ROOT"] ?? "" }

    static func folder(fateRoot: String) -> String { "\(fateRoot)/.fate-upgrade" }

    /// Writes atomically (temporary file, fsync, rename), 0600.
    func save() throws {
        let folder = "\(UpgradeJournal.folder(fateRoot: fateRoot))/journal"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        let path = "\(folder)/\(id).json"
        let file = try AtomicOutputFile(path: path, overwrite: true, mode: 0o600)
        defer { file.discard() }
        try writeAll(Array(try encoder.encode(self)) + [UInt8(ascii: "\n")], to: file.fileDescriptor, path: path)
        try file.commit(overwrite: true)
    }

    /// Every record under FATE_ROOT, oldest first.
    static func all(fateRoot: String) throws -> [UpgradeJournal] {
        let folder = "\(UpgradeJournal.folder(fateRoot: fateRoot))/journal"
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []).filter { $0.hasSuffix(".json") }.sorted()
        return try names.map { name in
            let path = "\(folder)/\(name)"
            do {
                return try JSONDecoder().decode(UpgradeJournal.self, from: Data(readFile(path)))
            } catch let error as InputError {
                throw error
            } catch {
                throw InputError(SourceLocation(file: path), "not a fate-upgrade journal: \(error.localizedDescription)")
            }
        }
    }

    /// Backup folders matching `prefix_YYYYmmddHHMMSS` in a folder.
    static func backups(in folder: String, prefix: String) -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
        return names.filter { name in
            name.hasPrefix(prefix + "_") && PythonBackupName.timestamp(of: "python_" + name.dropFirst(prefix.count + 1)) != nil
        }.sorted()
    }
}
