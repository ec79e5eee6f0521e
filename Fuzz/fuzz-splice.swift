import CZlib
import FateUpgradeArchive
import Glibc

/// pack's output for packages built from the input: tar members of chosen kinds and sizes around
/// the script, compressed by zlib at a chosen level, strategy, window and memory level, with
/// flushes of every kind between members (stored, empty and partial blocks at every bit phase);
/// then the script replaced, written by the library as pack writes it (splice or rewrite), and
/// inflated again. Any output that is not exactly the input's tar with the script's member
/// replaced, or a splice whose own check failed, is a crash.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    var recipe = Recipe(Array(UnsafeBufferPointer(start: data, count: size)))
    let level = Int32(recipe.next() % 9 + 1)
    let strategy = [Z_DEFAULT_STRATEGY, Z_FILTERED, Z_HUFFMAN_ONLY, Z_RLE, Z_FIXED][Int(recipe.next() % 5)]
    let windowBits = Int32(recipe.next() % 7 + 9)
    let memoryLevel = Int32(recipe.next() % 9 + 1)
    let before = Int(recipe.next() % 5), after = Int(recipe.next() % 7) + 1
    let script = Array("#!/bin/bash\nFATE_ROOT=/data/projects/fate\n".utf8) + recipe.data(kind: 3, size: Int(recipe.next()) * 8)

    var tar: [UInt8] = []
    var flushes: [(end: Int, flush: Int32)] = []
    var scriptMember = 0..<0
    let flushKinds = [Z_NO_FLUSH, Z_NO_FLUSH, Z_SYNC_FLUSH, Z_FULL_FLUSH, Z_PARTIAL_FLUSH, Z_BLOCK]
    tar += Tar.header(name: "upgrade_package/", size: 0, type: UInt8(ascii: "5"))
    for index in 0..<(before + 1 + after) {
        let start = tar.count
        if index == before {
            tar += Tar.member(name: "upgrade_package/upgrade_script.sh", data: script)
            scriptMember = start..<tar.count
        } else {
            let sizes = [0, 1, 511, 512, 513, 16384, 32767, 32768, 32769, 65536, 131072]
            let size = max(0, sizes[Int(recipe.next()) % sizes.count] + Int(recipe.next() % 5) - 2)
            tar += Tar.member(name: "upgrade_package/m\(index)", data: recipe.data(kind: Int(recipe.next() % 5), size: size))
        }
        flushes.append((tar.count - Int(recipe.next() % 2) * Int(recipe.next()) , flushKinds[Int(recipe.next()) % flushKinds.count]))
    }
    tar += [UInt8](repeating: 0, count: 1024)
    let newScript = recipe.next() % 2 == 0 ? script + recipe.data(kind: 3, size: Int(recipe.next()) * 9)
                                           : Array(script.prefix(max(1, script.count - Int(recipe.next()) * 3)))

    guard let compressed = Gzip.compress(tar, level: level, strategy: strategy, windowBits: windowBits, memoryLevel: memoryLevel,
                                         flushes: flushes) else { fatalError("zlib could not compress") }
    let folder = "/tmp/fuzz-splice-\(getpid())"
    mkdir(folder, 0o700)
    let inputPath = "\(folder)/in.tar.gz", outputPath = "\(folder)/out.tar.gz"
    write(compressed, to: inputPath)
    defer { unlink(inputPath); unlink(outputPath) }

    do {
        let package = try UpgradePackage(path: inputPath)
        let contents = try package.contents()
        let output = open(outputPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        defer { close(output) }
        let summary = try package.write(contents: contents, newScript: newScript, to: output, outputPath: outputPath, gzip: true,
                                        compressionLevel: Int(level), progress: { _ in })
        if summary.spliceCheckFailed { fatalError("the splice failed its own check: \(summary.notSpliced ?? "")") }
        Tally.count(summary.method == .splice)
    } catch {
        fatalError("pack refused a well-formed package: \(error)")
    }
    guard let written = read(outputPath), let edited = Gzip.inflate(written) else { fatalError("the output is not one whole gzip stream") }
    let prefix = Array(tar[..<scriptMember.lowerBound]), suffix = Array(tar[scriptMember.upperBound...])
    guard edited.count >= prefix.count + suffix.count + 512, Array(edited.prefix(prefix.count)) == prefix,
          Array(edited.suffix(suffix.count)) == suffix else { fatalError("the members around the script are not the input's") }
    let member = Array(edited[prefix.count..<(edited.count - suffix.count)])
    guard Array(member[0..<33]) == Array("upgrade_package/upgrade_script.sh".utf8), member[156] == UInt8(ascii: "0"),
          Tar.number(Array(member[124..<136])) == newScript.count, member.count == 512 + (newScript.count + 511) / 512 * 512,
          Array(member[512..<(512 + newScript.count)]) == newScript else { fatalError("the new script's member is not as meant") }
    return 0
}

/// How many runs were spliced, printed now and then (a campaign that never splices tests little).
enum Tally {
    nonisolated(unsafe) static var runs = 0
    nonisolated(unsafe) static var spliced = 0
    static func count(_ splice: Bool) {
        runs += 1
        if splice { spliced += 1 }
        if runs % 2000 == 0 { fputs("fuzz-splice: \(spliced) of \(runs) runs spliced\n", stderr) }
    }
}

/// Values drawn from the fuzzer's bytes; zeros once they run out.
struct Recipe {
    var bytes: [UInt8]
    var offset = 0
    init(_ bytes: [UInt8]) { self.bytes = bytes }

    mutating func next() -> UInt8 {
        defer { offset += 1 }
        return offset < bytes.count ? bytes[offset] : 0
    }

    /// Member data: random, zeros, a short pattern repeated, text-like, or the fuzzer's own bytes.
    mutating func data(kind: Int, size: Int) -> [UInt8] {
        var state = UInt64(next()) << 8 | UInt64(next()) | 1
        func random() -> UInt8 {
            state ^= state << 13; state ^= state >> 7; state ^= state << 17
            return UInt8(truncatingIfNeeded: state)
        }
        switch kind {
        case 0: return (0..<size).map { _ in random() }
        case 1: return [UInt8](repeating: 0, count: size)
        case 2:
            let pattern = (0..<(Int(next() % 7) + 1)).map { _ in random() }
            return (0..<size).map { pattern[$0 % pattern.count] }
        case 3:
            let words = ["import ", "def ", "self", ".", "fate_flow", "(", ")", ":\n", "    ", "return ", "0", "\n"].map { Array($0.utf8) }
            var text: [UInt8] = []
            while text.count < size { text += words[Int(random()) % words.count] }
            return Array(text.prefix(size))
        default:
            let own = bytes.isEmpty ? [0] : bytes
            return (0..<size).map { own[($0 + offset) % own.count] ^ UInt8(truncatingIfNeeded: $0 >> 9) }
        }
    }
}

/// ustar members written by hand, so that the fuzzer knows every byte of the input's tar.
enum Tar {
    static func header(name: String, size: Int, type: UInt8) -> [UInt8] {
        var block = [UInt8](repeating: 0, count: 512)
        func put(_ text: String, at offset: Int) { for (index, byte) in text.utf8.enumerated() { block[offset + index] = byte } }
        put(name, at: 0)
        put(type == UInt8(ascii: "5") ? "0000755" : "0000644", at: 100)
        put("0001750", at: 108); put("0001750", at: 116)
        put(String(size, radix: 8).leftPadded(to: 11), at: 124)
        put("13736543400", at: 136)
        block[156] = type
        put("ustar", at: 257); put("00", at: 263); put("app", at: 265); put("apps", at: 297)
        for index in 148..<156 { block[index] = 0x20 }
        let sum = block.reduce(0) { $0 + Int($1) }
        put(String(sum, radix: 8).leftPadded(to: 6), at: 148)
        block[154] = 0
        return block
    }

    static func member(name: String, data: [UInt8]) -> [UInt8] {
        header(name: name, size: data.count, type: UInt8(ascii: "0")) + data + [UInt8](repeating: 0, count: (512 - data.count % 512) % 512)
    }

    static func number(_ field: [UInt8]) -> Int {
        field.prefix { $0 >= 0x30 && $0 <= 0x37 }.reduce(0) { $0 * 8 + Int($1 - 0x30) }
    }
}

extension String {
    func leftPadded(to width: Int) -> String { String(repeating: "0", count: max(0, width - count)) + self }
}

enum Gzip {
    static func compress(_ bytes: [UInt8], level: Int32, strategy: Int32, windowBits: Int32, memoryLevel: Int32,
                         flushes: [(end: Int, flush: Int32)]) -> [UInt8]? {
        var stream = z_stream()
        guard deflateInit2_(&stream, level, Z_DEFLATED, 16 + windowBits, memoryLevel, strategy, ZLIB_VERSION,
                            Int32(MemoryLayout<z_stream>.size)) == Z_OK else { return nil }
        defer { deflateEnd(&stream) }
        var output: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        var position = 0
        let points = flushes.map { (min(max($0.end, 0), bytes.count), $0.flush) }.sorted { $0.0 < $1.0 } + [(bytes.count, Z_FINISH)]
        for (end, flush) in points where end >= position {
            bytes.withUnsafeBufferPointer { input in
                stream.next_in = UnsafeMutablePointer(mutating: input.baseAddress! + position)
                stream.avail_in = uInt(end - position)
                repeat {
                    buffer.withUnsafeMutableBufferPointer { out in
                        stream.next_out = out.baseAddress
                        stream.avail_out = uInt(out.count)
                        deflate(&stream, flush)
                        output += out.prefix(out.count - Int(stream.avail_out))
                    }
                } while stream.avail_out == 0 || (flush == Z_FINISH && stream.avail_in > 0)
            }
            position = end
        }
        return output
    }

    /// One whole gzip member and nothing after it, CRC and length checked by zlib.
    static func inflate(_ bytes: [UInt8]) -> [UInt8]? {
        var stream = z_stream()
        guard inflateInit2_(&stream, 16 + MAX_WBITS, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else { return nil }
        defer { inflateEnd(&stream) }
        var output: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        var status = Z_OK
        bytes.withUnsafeBufferPointer { input in
            stream.next_in = UnsafeMutablePointer(mutating: input.baseAddress!)
            stream.avail_in = uInt(input.count)
            while status == Z_OK {
                buffer.withUnsafeMutableBufferPointer { out in
                    stream.next_out = out.baseAddress
                    stream.avail_out = uInt(out.count)
                    status = CZlib.inflate(&stream, Z_NO_FLUSH)
                    output += out.prefix(out.count - Int(stream.avail_out))
                }
            }
        }
        return status == Z_STREAM_END && stream.avail_in == 0 ? output : nil
    }
}

func write(_ bytes: [UInt8], to path: String) {
    let descriptor = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
    precondition(descriptor >= 0)
    bytes.withUnsafeBytes { precondition(Glibc.write(descriptor, $0.baseAddress, $0.count) == $0.count) }
    close(descriptor)
}

func read(_ path: String) -> [UInt8]? {
    let descriptor = open(path, O_RDONLY)
    guard descriptor >= 0 else { return nil }
    defer { close(descriptor) }
    var bytes: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 1 << 16)
    while true {
        let count = buffer.withUnsafeMutableBytes { Glibc.read(descriptor, $0.baseAddress, $0.count) }
        if count <= 0 { return count == 0 ? bytes : nil }
        bytes += buffer.prefix(count)
    }
}
