import FateUpgradeCore

/// The shell parameter block: parse, evaluate, plan an edit of every parameter, render, and
/// parse the result again, which must hold the values asked for.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    guard let block = try? ShellParameterBlock(parsing: bytes, file: "fuzz") else { return 0 }
    _ = block.evaluated(home: "/home/app")
    _ = block.derivedValues(home: "/home/app", scriptFolder: "/w/upgrade_package", values: [:])
    _ = block.unquotedUses(of: Set(block.names))
    _ = block.currentValues()
    let settings = block.names.map { ParameterSetting(name: $0, value: $0.hasSuffix("ROOT") ? "/srv/x y" : "v'\"$;#`\\", origin: "fuzz") }
    if let plan = try? ParameterPlan(block: block, settings: settings) {
        let rendered = plan.renderedScript()
        guard let again = try? ShellParameterBlock(parsing: rendered, file: "fuzz-again") else {
            fatalError("a rendered script no longer parses")
        }
        if again.names != block.names { fatalError("the rendered script has other parameters") }
        _ = plan.maskedBlockLines()
    }
    return 0
}
