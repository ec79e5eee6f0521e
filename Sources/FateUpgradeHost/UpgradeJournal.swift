import FateUpgradeCore
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Glibc


extension UpgradeJournal {
    /// Writes atomically (temporary file, fsync, rename), 0600.
    public func save() throws {
        let folder = "\(UpgradeJournal.folder(fateRoot: fateRoot))/journal"
        try FileSystem.makeDirectories(folder, mode: 0o700)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        // Root writing into another user's tree (verify, cleanup, --allow-root) leaves the journal
        // that user's, so their next run can still read it.
        let owner = geteuid() == 0 ? FileOwner.of(fateRoot).flatMap { $0.uid == 0 ? nil : $0 } : nil
        let file = try AtomicOutputFile(path: path, overwrite: true, mode: 0o600, owner: owner)
        defer { file.discard() }
        try file.write(Array(try encoder.encode(self)) + [UInt8(ascii: "\n")])
        try file.commit(overwrite: true)
        // The counter follows the journals: a later run gets a higher number.
        if let sequence, sequence > UpgradeJournal.recordedSequence(fateRoot: fateRoot) {
            let written = try AtomicOutputFile(path: "\(UpgradeJournal.folder(fateRoot: fateRoot))/sequence", overwrite: true, mode: 0o600, owner: owner)
            defer { written.discard() }
            try written.write(Array("\(sequence)\n".utf8))
            try written.commit(overwrite: true)
        }
    }

    /// A new run's id and sequence number: `YYYYmmddHHMMSS-component`, or, when a run already has
    /// that name (two runs in one second, a clock that stands still or was set back),
    /// `YYYYmmddHHMMSS-N-component` with N the sequence number, which no other run has: its journal,
    /// snapshot and log are never replaced. Called under the state lock, so no other run takes
    /// either meanwhile; the counter is kept in the state folder (and never below the journals').
    public static func newID(component: UpgradeComponent, fateRoot: String) -> (id: String, sequence: Int) {
        let state = folder(fateRoot: fateRoot)
        let journals = (try? all(fateRoot: fateRoot)) ?? []
        let sequence = max(recordedSequence(fateRoot: fateRoot), journals.compactMap(\.sequence).max() ?? 0, journals.count) + 1
        let plain = "\(timestamp())-\(component.rawValue)"
        let taken = ["\(state)/journal/\(plain).json", "\(state)/logs/\(plain).log", DatabaseSnapshots.file(fateRoot: fateRoot, id: plain)]
            .contains(where: FileSystem.exists)
        return (taken ? "\(timestamp())-\(sequence)-\(component.rawValue)" : plain, sequence)
    }

    /// The state folder's run counter (0 when there is none yet).
    static func recordedSequence(fateRoot: String) -> Int {
        (try? FileSystem.read("\(folder(fateRoot: fateRoot))/sequence", limit: 64))
            .flatMap { Int(String(decoding: $0.filter { $0 >= 0x30 && $0 <= 0x39 }, as: UTF8.self)) } ?? 0
    }

    /// Every record under FATE_ROOT, oldest first: by sequence (journals from before it first,
    /// by name), never by a clock that may have been set back.
    public static func all(fateRoot: String) throws -> [UpgradeJournal] {
        let folder = "\(UpgradeJournal.folder(fateRoot: fateRoot))/journal"
        var info = stat()
        guard lstat(folder, &info) == 0 else { return [] }
        if let problem = untrusted(info, kind: S_IFDIR, fateRoot: fateRoot) { throw InputError(SourceLocation(file: folder), "not followed: \(problem)") }
        let names = FileSystem.names(in: folder).filter { $0.hasSuffix(".json") }.sorted()
        let journals = try names.map { name in
            let path = "\(folder)/\(name)"
            let journal: UpgradeJournal
            do {
                let bytes = try FileSystem.read(path, limit: 4 << 20) { untrusted($0, kind: S_IFREG, fateRoot: fateRoot).map { "not followed: \($0)" } }
                journal = try JSONDecoder().decode(UpgradeJournal.self, from: Data(bytes))
            } catch let error as InputError {
                throw error
            } catch {
                throw InputError(SourceLocation(file: path), "not a fate-upgrade journal (\(Self.decodingProblem(error)))")
            }
            if let problem = journal.problem(fateRoot: fateRoot, fileName: name) {
                throw InputError(SourceLocation(file: path), "not followed: \(problem)")
            }
            return journal
        }
        return journals.enumerated().sorted { ($0.element.sequence ?? 0, $0.offset) < ($1.element.sequence ?? 0, $1.offset) }.map(\.element)
    }

    /// What makes a journal file or its folder one that no run of ours wrote, whoever reads it: a
    /// symlink or another kind, an owner that is neither this user, root nor FATE_ROOT's owner, or
    /// a mode that lets others write it. (FATE_ROOT's owner can still edit it: see the guide on what
    /// the checks can promise.)
    static func untrusted(_ info: stat, kind: mode_t, fateRoot: String) -> String? {
        let type = info.st_mode & S_IFMT
        if type == S_IFLNK { return "a symlink" }
        if type != kind { return kind == S_IFDIR ? "not a folder" : "not a regular file" }
        let owners = Set([geteuid(), 0] + (FileOwner.of(fateRoot).map { [$0.uid] } ?? []))
        if !owners.contains(info.st_uid) { return "it belongs to uid \(info.st_uid), who neither owns FATE_ROOT nor runs this" }
        if info.st_mode & 0o022 != 0 { return "other users can write it (mode \(String(info.st_mode & 0o777, radix: 8)))" }
        return nil
    }

    /// What makes a journal untrustworthy: an id that is not a plain name, or paths outside the
    /// FATE_ROOT it was found in (an edited journal must not send rollback elsewhere).
    func problem(fateRoot: String, fileName: String) -> String? {
        let digits = id.prefix(14)
        var rest = id.dropFirst(15)
        // `-N-` between the time and the component: a second run with the same time (see newID).
        if let dash = rest.firstIndex(of: "-"), !rest[..<dash].isEmpty, rest[..<dash].allSatisfy({ $0.isASCII && $0.isNumber }) {
            rest = rest[rest.index(after: dash)...]
        }
        guard digits.count == 14, digits.allSatisfy({ $0.isASCII && $0.isNumber }), id.dropFirst(14).first == "-",
              UpgradeComponent(rawValue: String(rest)) != nil, fileName == "\(id).json" else {
            return "its id '\(id)' is not the timestamp-component name of its file"
        }
        guard let root = HostFacts.realPath(fateRoot), HostFacts.realPath(self.fateRoot) == root else {
            return "it records FATE_ROOT \(self.fateRoot), not \(fateRoot)"
        }
        func inside(_ path: String, _ folder: String) -> Bool { Path.isInside(path, folder) }
        // apply refuses the fateflow component with FATE_FLOW_ROOT outside FATE_ROOT; the others do not use it.
        if component.touchesFateFlow, let flow = parameters["FATE_FLOW_ROOT"], !flow.isEmpty, !inside(flow, self.fateRoot) {
            return "its FATE_FLOW_ROOT \(flow) is not under FATE_ROOT"
        }
        if let snapshot, !inside(snapshot.file, DatabaseSnapshots.folder(fateRoot: self.fateRoot)) {
            return "its snapshot \(snapshot.file) is not under \(DatabaseSnapshots.folder(fateRoot: self.fateRoot))"
        }
        if !inside(log, UpgradeJournal.folder(fateRoot: self.fateRoot)) { return "its log \(log) is not under \(UpgradeJournal.folder(fateRoot: self.fateRoot))" }
        for name in before.pythonBackups + (after?.pythonBackups ?? []) + before.fateFlowBackups + (after?.fateFlowBackups ?? [])
        where name.contains("/") || name.hasPrefix(".") {
            return "a backup name '\(name)' is not a plain folder name"
        }
        return nil
    }

    private static func decodingProblem(_ error: Error) -> String {
        switch error as? DecodingError {
        case .keyNotFound(let key, _)?: "no \(key.stringValue)"
        case .typeMismatch(_, let context)?, .valueNotFound(_, let context)?, .dataCorrupted(let context)?:
            context.codingPath.map(\.stringValue).joined(separator: ".") + ": " + context.debugDescription
        default: "unreadable JSON"
        }
    }

    /// Backup folders matching `prefix_YYYYmmddHHMMSS` in a folder.
    public static func backups(in folder: String, prefix: String) -> [String] {
        FileSystem.names(in: folder).filter { name in
            name.hasPrefix(prefix + "_") && PythonBackupName.timestamp(of: "python_" + name.dropFirst(prefix.count + 1)) != nil
        }
    }
}
