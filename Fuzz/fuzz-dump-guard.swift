import FateUpgradeCore

/// The snapshot allow-list: any bytes, fed whole or in two pieces cut anywhere, give the same
/// verdict at the same line; and whatever it accepts, a client command appended after it on a
/// line of its own is refused.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    var whole = DumpGuard(tables: ["t_job", "t_task"])
    whole.feed(bytes)
    let verdict = whole.finish()
    let cut = bytes.isEmpty ? 0 : Int(bytes[0]) * bytes.count / 256
    var pieces = DumpGuard(tables: ["t_job", "t_task"])
    pieces.feed(Array(bytes[..<cut]))
    pieces.feed(Array(bytes[cut...]))
    if pieces.finish() != verdict { fatalError("chunking changed the verdict: \(String(describing: verdict))") }
    if verdict == nil {
        var extended = DumpGuard(tables: ["t_job", "t_task"])
        extended.feed(bytes + Array("\n\\! id\n".utf8))
        if extended.finish() == nil { fatalError("a shell command after an accepted dump was accepted") }
    }
    return 0
}
