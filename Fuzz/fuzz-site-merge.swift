import FateUpgradeCore

/// The three-way site merge: the first byte picks the release the site ran and which of its files
/// the rest of the input replaces (base_conf.yaml, server_conf.json or settings.py); the other files
/// are that release's own. Whatever the merge accepts it has read back itself; an "internal error"
/// (a merged file that would not read back as meant) is a bug, and so is a crash.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size > 0 else { return 0 }
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    let releases: [FateRelease] = [.v1_4_0, .v1_4_1, .v1_4_2, .v1_4_3]
    let release = releases[Int(bytes[0] & 3)]
    let replaced: SiteFile = [.baseConf, .serverConf, .settings][Int(bytes[0] >> 2) % 3]
    var site: [SiteFile: SourceFile] = [:]
    var target: [SiteFile: SourceFile] = [:]
    for file in SiteFile.allCases {
        if let own = release.defaultFile(file) { site[file] = SourceFile(path: "site/\(file.rawValue)", bytes: own) }
        if let new = FateRelease.v1_4_4.defaultFile(file) { target[file] = SourceFile(path: "new/\(file.rawValue)", bytes: new) }
    }
    site[replaced] = SourceFile(path: "site/\(replaced.rawValue)", bytes: Array(bytes.dropFirst()))
    for choices in [SiteChoices(modelStore: .database), SiteChoices(files: [replaced: .acceptRelease], modelStore: .release)] {
        do {
            let merge = try SiteMerge(site: site, release: target, choices: choices)
            for file in merge.files { _ = file.diff.count }
        } catch {
            if error.message.contains("internal error") { fatalError("\(error)") }
        }
    }
    return 0
}
