import FateUpgradeCore

/// The package entry model: entries from the input (one a line, `kind path [target]`, kinds f d l h x),
/// checked as extraction would meet them. An accepted symlink must resolve inside the package.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    var model = PackageEntryModel()
    var script: String? = nil
    for line in bytes.split(separator: 0x0A).prefix(2000) {
        guard let kindByte = line.first else { continue }
        let fields = line.dropFirst().split(separator: 0x20, maxSplits: 1, omittingEmptySubsequences: false)
        let raw = Array(fields.first ?? [])
        let target = fields.count > 1 ? String(decoding: fields[1], as: UTF8.self) : ""
        let name = String(validating: raw, as: UTF8.self)
        let kind: PackageEntryModel.Kind
        switch kindByte {
        case UInt8(ascii: "d"): kind = .folder
        case UInt8(ascii: "l"): kind = .symlink(target: target)
        case UInt8(ascii: "h"): kind = .hardlink(target: target)
        case UInt8(ascii: "x"): kind = .other("device")
        default: kind = .file
        }
        if let path = model.add(name: name, rawName: raw, kind: kind, sparse: kindByte == UInt8(ascii: "s")) {
            if path.hasSuffix("upgrade_script.sh") { script = path }
            if path.hasPrefix("/") || path.split(separator: "/").contains("..") { fatalError("an unsafe path was accepted: \(path)") }
        }
    }
    model.finish(script: script)
    _ = PackageEntryModel.shown(bytes)
    return 0
}
