internal import CZlib
@testable import FateUpgradeArchive
import FateUpgradeCore
import FateUpgradeHost
import Foundation
import Testing

/// pack's gzip splice on every shape: the seam block, the check that guards every output, the
/// package shapes that once came out damaged, and generated packages checked by an independent
/// oracle (Tests/Fixtures/check_packed.py: raw tar members compared byte for byte).
@Suite struct SpliceTests {
    static let oracle = Support.fixtures.appendingPathComponent("check_packed.py").path

    /// In-process, names go through the locale as in the tool, which sets it UTF-8 first.
    init() { NameEncoding.useUTF8() }

    /// A gzip stream that ends its compressed start on a byte, then the seam block of each phase,
    /// then a final empty block from that phase on: every decoder operators have reads it.
    @Test(arguments: 1...7)
    func theSeamBlockOfEveryPhaseIsReadByEveryDecoder(residue: Int) throws {
        let data = (0..<100_000).map { UInt8(truncatingIfNeeded: ($0 * 7919) % 251 + ($0 / 1000)) }
        let deflater = try RawDeflater(level: 6, path: "test")
        var stream: [UInt8] = [0x1F, 0x8B, 8, 0, 0, 0, 0, 0, 0, 3]
        data.withUnsafeBytes { deflater.compress($0, into: &stream) }
        deflater.compress(UnsafeRawBufferPointer(start: nil, count: 0), into: &stream, flush: Z_SYNC_FLUSH)
        var seam = SeamBlock.bytes(residue: residue)
        // A final block with fixed codes and no data: 1 (final), 01 (fixed), then end of block (7 zero bits).
        let finalBlock: UInt32 = 0b011 << UInt32(residue)
        seam[seam.count - 1] |= UInt8(truncatingIfNeeded: finalBlock)
        for index in 1..<((residue + 10 + 7) / 8) { seam.append(UInt8(truncatingIfNeeded: finalBlock >> UInt32(8 * index))) }
        stream += seam
        stream += GzipSplice.littleEndian(deflater.crc) + GzipSplice.littleEndian(UInt32(data.count))

        let check = try InflateCheck(path: "test")
        stream.withUnsafeBytes { check.feed($0) }
        #expect(check.finish(crc: deflater.crc, length: UInt64(data.count)) == nil, "zlib")
        let folder = try Support.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let file = folder.appendingPathComponent("seam.gz")
        try Data(stream).write(to: file)
        for reader in [["gzip", "-t"], ["busybox", "gzip", "-t"], ["pigz", "-t"]] {
            let run = try Support.run(reader[0], Array(reader.dropFirst()) + [file.path])
            #expect(run.status == 0, "\(reader.joined(separator: " ")): \(run.stderr)")
        }
        let python = try Support.run("python3", ["-c", "import gzip, sys; sys.stdout.write(gzip.open(sys.argv[1]).read().hex())", file.path])
        #expect(python.stdout == data.map { String(format: "%02x", $0) }.joined(), "python: \(python.stderr)")
    }

    /// The SHA-256 written beside every package: the processor's SHA instructions and the portable
    /// rounds agree with sha256sum, over chunks that split blocks anywhere.
    @Test(arguments: [false, true])
    func bothSHA256RoundsAgreeWithSha256sum(portable: Bool) throws {
        let folder = try Support.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder); SHA256.usePortableRounds(false) }
        SHA256.usePortableRounds(portable)
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        for size in [0, 3, 55, 56, 64, 119, 128, 4097, 1 << 20] {
            let data = (0..<size).map { _ in state = state &* 6364136223846793005 &+ 1442695040888963407; return UInt8(truncatingIfNeeded: state >> 33) }
            var hasher = SHA256()
            var offset = 0
            while offset < data.count {
                let count = min(data.count - offset, Int(state % 1000) + 1)
                hasher.update(Array(data[offset..<(offset + count)]))
                offset += count
            }
            let file = folder.appendingPathComponent("blob")
            try Data(data).write(to: file)
            #expect(hasher.hexDigest() == String(try Support.run("sha256sum", [file.path]).stdout.prefix(64)), "\(size) bytes")
        }
    }

    /// The check that runs before anything is written finds a fault in any part of the output.
    @Test(arguments: [6, 12])
    func theCheckFindsAFaultInEveryPartOfTheOutput(bulk: Int) throws {
        let (folder, input) = try ArchiveTests.package(bulk: bulk, seed: 3)
        defer { try? FileManager.default.removeItem(at: folder) }
        let package = try UpgradePackage(path: input.path)
        let contents = try package.contents()
        let facts = try #require(contents.gzip)
        let script = contents.script.bytes + Array(String(repeating: "# grown\n", count: 100).utf8)
        let edit = ScriptMemberEdit(member: try #require(contents.scriptMember), newData: script, path: input.path)
        let descriptor = open(input.path, O_RDONLY)
        defer { close(descriptor) }
        guard case .success(let plan) = try GzipSplice.plan(descriptor: descriptor, path: input.path, facts: facts, edit: edit,
                                                          level: 6, progress: { _ in }) else {
            Issue.record("no splice point")
            return
        }
        let whole = plan.tail.upperBound - plan.tail.lowerBound <= GzipSplice.wholeCheckLimit
        #expect(whole == (bulk == 6))
        func verdict(_ plan: GzipSplice.Plan) -> String? {
            switch GzipSplice.check(plan, descriptor: descriptor, path: input.path, facts: facts) {
            case .success(let checkedWhole): #expect(checkedWhole == whole); return nil
            case .failure(let failure): return failure.reason
            }
        }
        #expect(verdict(plan) == nil)

        var faulty = plan
        faulty.head[faulty.head.count / 2] ^= 0x10
        #expect(verdict(faulty) != nil, "a flipped bit in the compressed-anew start")
        faulty = plan
        faulty.head[faulty.head.count - 1] ^= UInt8(1 << max(0, plan.bit - 1))
        #expect(verdict(faulty) != nil, "the seam's last bit")
        faulty = plan
        faulty.window[100] ^= 1
        #expect(verdict(faulty)?.contains("window") == true)
        faulty = plan
        faulty.prefixCRC ^= 1
        #expect(verdict(faulty) != nil, "the CRC of the start")
        faulty = plan
        faulty.continuation[faulty.continuation.count - 1] ^= 1
        #expect(verdict(faulty)?.contains("after the seam") == true)
        faulty = plan
        faulty.tail = (plan.tail.lowerBound + 1)..<plan.tail.upperBound
        #expect(verdict(faulty) != nil, "the copy one byte off")
        if whole {
            faulty = plan
            faulty.trailer[0] ^= 1
            #expect(verdict(faulty) != nil, "the trailer's CRC")
            faulty = plan
            faulty.tail = plan.tail.lowerBound..<(plan.tail.upperBound - 1)
            #expect(verdict(faulty) != nil, "the copy one byte short")
        }
    }

    /// A splice whose check fails writes nothing of itself: the package is rewritten whole
    /// instead, checked, and the summary says why.
    @Test func aFailedCheckGivesAWholeRewrittenPackage() throws {
        let (folder, input) = try ArchiveTests.package(bulk: 6, seed: 5)
        defer { try? FileManager.default.removeItem(at: folder) }
        let package = try UpgradePackage(path: input.path)
        let contents = try package.contents()
        let script = contents.script.bytes + Array("# changed\n".utf8)
        let output = folder.appendingPathComponent("out.tar.gz")
        let descriptor = open(output.path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        defer { close(descriptor) }
        let summary = try package.write(contents: contents, newScript: script, to: descriptor, outputPath: output.path, gzip: true,
                                        compressionLevel: 6, progress: { _ in }, alteringPlan: { $0.head[$0.head.count - 2] ^= 0x04 })
        #expect(summary.method == .rewrite)
        #expect(summary.spliceCheckFailed)
        #expect(summary.notSpliced?.hasPrefix("its check failed: ") == true, "\(summary.notSpliced ?? "")")
        #expect(summary.check == "the whole output inflated again as it was written, its CRC-32 and length as meant")
        try ArchiveTests.checkReaders(input: input, output: output, script: contents.script.path)
        #expect(try Support.memberBytes(contents.script.path, of: output) == script)
    }

    // MARK: - The shapes that broke, made as people make them

    struct Shape: CustomStringConvertible, Sendable {
        var description: String
        /// A shell command run in the folder holding `upgrade_package/` and `files` (the entries in
        /// order, the script before the bulk); it writes `in.tar.gz`.
        var command: String
        var scriptPath = "upgrade_package/upgrade_script.sh"
        var spliced = true
    }

    static let shapes: [Shape] = [
        // pigz ends each 128 KiB chunk with an empty stored block: copied in another bit phase,
        // its padding swallowed the next block's bits ("invalid stored block lengths").
        Shape(description: "pigz -6 over GNU tar", command: "tar -cf - --no-recursion -T files | pigz -6 > in.tar.gz"),
        Shape(description: "gzip -9 with the file name in the header, stored blocks of random wheels after the seam",
              command: "tar -cf in.tar --no-recursion -T files && gzip -9 in.tar"),
        Shape(description: "gzip -1 over pax, zeros padded after the gzip member",
              command: "tar --format=pax -cf - --no-recursion -T files | gzip -1 > in.tar.gz && head -c 7000 /dev/zero >> in.tar.gz"),
        Shape(description: "Python tarfile and gzip level 9",
              command: "python3 -c \"import tarfile, sys; t = tarfile.open('in.tar.gz', 'w:gz', compresslevel=9); [t.add(n, recursive=False) for n in open('files').read().splitlines()]\""),
        Shape(description: "bsdtar -z", command: "bsdtar -czf in.tar.gz -n -T files"),
        // busybox tar has no -T: the names as arguments.
        Shape(description: "busybox tar and gzip",
              command: "tr '\\n' '\\0' < files | xargs -0 busybox tar -cf - --no-recursion | busybox gzip -9 > in.tar.gz"),
        Shape(description: "tar czf ./upgrade_package (entries ./upgrade_package/…)",
              command: "sed 's|^|./|' files > dotfiles && tar -czf in.tar.gz --no-recursion -T dotfiles",
              scriptPath: "./upgrade_package/upgrade_script.sh"),
        Shape(description: "the script last: rewritten whole", command: "grep -v upgrade_script.sh files > rest && echo upgrade_package/upgrade_script.sh >> rest && tar -czf in.tar.gz --no-recursion -T rest",
              spliced: false),
    ]

    @Test(arguments: shapes)
    func theShapesThatBrokeAreWrittenWhole(shape: Shape) throws {
        let folder = try Support.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        try Support.makePackage(at: folder, format: "dir", extra: ["--bulk-mb", "6"])
        // The script first, then the rest in name order, as an operator's tar over the tree would put them.
        let list = try Support.run("sh", ["-c", "cd \"$1\" && { echo upgrade_package; echo upgrade_package/upgrade_script.sh; find upgrade_package -mindepth 1 ! -name upgrade_script.sh | LC_ALL=C sort; } > files", "sh", folder.path])
        #expect(list.status == 0)
        let made = try Support.run("sh", ["-c", "cd \"$1\" && \(shape.command)", "sh", folder.path])
        try #require(made.status == 0, "\(shape.command): \(made.stderr)")
        let input = folder.appendingPathComponent("in.tar.gz")
        let original = try Support.memberBytes(shape.scriptPath, of: input)
        let newScript = original + Array(String(repeating: "# a longer script\n", count: 40).utf8)
        try Data(newScript).write(to: folder.appendingPathComponent("in.script"))
        let manifest: [[String: String]] = [["id": "in", "input": "in.tar.gz", "newScript": "in.script", "scriptPath": shape.scriptPath,
                                             "producer": shape.description, "level": "", "format": "", "describe": shape.description]]
        try JSONSerialization.data(withJSONObject: manifest).write(to: folder.appendingPathComponent("manifest.json"))

        let package = try UpgradePackage(path: input.path)
        let contents = try package.contents()
        #expect(contents.script.bytes == original)
        let output = folder.appendingPathComponent("in.out.tar.gz")
        let descriptor = open(output.path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        defer { close(descriptor) }
        let summary = try package.write(contents: contents, newScript: newScript, to: descriptor, outputPath: output.path, gzip: true,
                                        compressionLevel: 6, progress: { _ in })
        #expect((summary.method == .splice) == shape.spliced, "\(summary.method): \(summary.notSpliced ?? "")")
        #expect(!summary.spliceCheckFailed)
        let oracle = try Support.run("python3", [Self.oracle, folder.path, "--readers"])
        #expect(oracle.status == 0, "\(oracle.stdout)\(oracle.stderr)")
    }

    // MARK: - Generated packages

    /// A few hundred generated packages (producers, levels, strategies, tar dialects, member
    /// sizes and kinds, script positions, scripts growing and shrinking) packed in-process and
    /// checked by the oracle: valid gzip, every member but the script byte for byte.
    @Test func generatedPackagesAllComeOutWhole() throws {
        let folder = try Support.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let cases = Int(ProcessInfo.processInfo.environment["FATE_UPGRADE_SPLICE_CASES"] ?? "") ?? 300
        let seed = ProcessInfo.processInfo.environment["FATE_UPGRADE_SPLICE_SEED"] ?? "\(Int(Date().timeIntervalSince1970) % 100_000)"
        let generated = try Support.run("python3", [Support.fixtures.appendingPathComponent("package_shapes.py").path, folder.path,
                                                   "--cases", "\(cases)", "--seed", seed], timeout: .seconds(600))
        try #require(generated.status == 0, "generator (seed \(seed)): \(generated.stderr)")
        let manifest = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: folder.appendingPathComponent("manifest.json"))) as? [[String: Any]])
        #expect(manifest.count == cases)
        var methods: [UpgradePackage.WriteMethod: Int] = [:]
        for entry in manifest {
            let id = try #require(entry["id"] as? String)
            let input = folder.appendingPathComponent(try #require(entry["input"] as? String))
            let newScript = [UInt8](try Data(contentsOf: folder.appendingPathComponent(try #require(entry["newScript"] as? String))))
            let package = try UpgradePackage(path: input.path)
            let contents = try package.contents()
            let output = folder.appendingPathComponent("\(id).out.tar.gz")
            let descriptor = open(output.path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
            defer { close(descriptor) }
            let summary = try package.write(contents: contents, newScript: newScript, to: descriptor, outputPath: output.path, gzip: true,
                                            compressionLevel: [1, 6, 9][methods.values.reduce(0, +) % 3], progress: { _ in })
            #expect(!summary.spliceCheckFailed, "\(id) (seed \(seed)): \(summary.notSpliced ?? "")")
            methods[summary.method, default: 0] += 1
        }
        #expect((methods[.splice] ?? 0) >= cases / 4, "spliced \(methods[.splice] ?? 0) of \(cases)")
        let oracle = try Support.run("python3", [Self.oracle, folder.path, "--readers", "--jobs", "2"], timeout: .seconds(600))
        #expect(oracle.status == 0, "seed \(seed): \(oracle.stdout)\(oracle.stderr)")
    }
}
