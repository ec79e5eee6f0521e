import FateUpgradeCore

/// The mysqldump row counter: any bytes, fed whole or in two pieces split anywhere, give the same
/// counts (a dump arrives in chunks cut wherever the pipe cuts it).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    var whole = DumpRowCounter()
    whole.feed(bytes)
    let cut = bytes.isEmpty ? 0 : Int(bytes[0]) * bytes.count / 256
    var pieces = DumpRowCounter()
    pieces.feed(Array(bytes[..<cut]))
    pieces.feed(Array(bytes[cut...]))
    if whole.rows != pieces.rows || whole.completed != pieces.completed || whole.tables != pieces.tables {
        fatalError("chunking changed the count: \(whole.rows) vs \(pieces.rows)")
    }
    if whole.byteCount != Int64(size) { fatalError("byte count \(whole.byteCount) for \(size) bytes") }
    return 0
}
