@testable import FateUpgradeArchive
import FateUpgradeCore
import Foundation
import Testing

/// The archive module in-process: the entry scan (model, gzip trailer, script member position) and pack's
/// splicing of the compressed stream, checked with every reader operators have.
@Suite struct ArchiveTests {
    init() { NameEncoding.useUTF8() }

    static func package(bulk: Int, seed: Int = 0, script: URL? = nil) throws -> (folder: URL, input: URL) {
        let folder = try Support.temporaryFolder()
        let input = folder.appendingPathComponent("in.tar.gz")
        try Support.makePackage(at: input, extra: ["--bulk-mb", "\(bulk)", "--seed", "\(seed)"] + (script.map { ["--script", $0.path] } ?? []))
        return (folder, input)
    }

    /// Members as every reader sees them: names, metadata and data of all but the script must be the input's.
    static func checkReaders(input: URL, output: URL, script: String) throws {
        #expect(try Support.run("gzip", ["-t", output.path]).status == 0, "not a valid gzip stream")
        let list = try Support.run("tar", ["tzvf", input.path]).stdout.split(separator: "\n")
        let newList = try Support.run("tar", ["tzvf", output.path]).stdout.split(separator: "\n")
        #expect(list.count == newList.count)
        for (old, new) in zip(list, newList) where !old.hasSuffix("upgrade_script.sh") { #expect(old == new) }
        for reader in [["busybox", "tar", "tzf"], ["bsdtar", "tzf"]] {
            let run = try Support.run(reader[0], Array(reader.dropFirst()) + [output.path])
            #expect(run.status == 0, "\(reader[0]): \(run.stderr)")
            #expect(run.stdout.split(separator: "\n").count == list.count, "\(reader[0])")
        }
        let python = try Support.run("python3", ["-c", """
            import sys, tarfile
            a, b = tarfile.open(sys.argv[1]), tarfile.open(sys.argv[2])
            for x, y in zip(a.getmembers(), b.getmembers()):
                assert x.name == y.name, (x.name, y.name)
                assert (x.mode, x.uid, x.gid, x.mtime, x.uname, x.gname, x.type, x.linkname) == (y.mode, y.uid, y.gid, y.mtime, y.uname, y.gname, y.type, y.linkname), x.name
                if x.isfile() and x.name != sys.argv[3]:
                    assert a.extractfile(x).read() == b.extractfile(y).read(), x.name
            print(b.extractfile(sys.argv[3]).read().decode().split('\\n')[4])
            """, input.path, output.path, script])
        #expect(python.status == 0, "\(python.stderr)")
    }

    /// A package with bulk after the script is spliced: the output ends with the input's own compressed
    /// bytes (copied, not compressed again), and every reader reads it.
    @Test(arguments: [0, 1, 2, 3, 4, 5, 6, 7])
    func aLargePackageIsSplicedAndReadByEveryReader(seed: Int) throws {
        let (folder, input) = try Self.package(bulk: 6, seed: seed)
        defer { try? FileManager.default.removeItem(at: folder) }
        let package = try UpgradePackage(path: input.path)
        let contents = try package.contents()
        #expect(contents.gzip?.members == 1)
        let range = try #require(contents.scriptMember)
        #expect(range.lowerBound % 512 == 0 && range.upperBound % 512 == 0)
        // Longer or shorter scripts cross 512-byte blocks: every tar offset after it moves.
        var script = contents.script.bytes
        if seed % 2 == 0 { script += Array(String(repeating: "# padding line\n", count: 50 * seed).utf8) } else { script.removeLast(min(script.count - 1, 300 * seed)) }
        script.replaceSubrange(0..<0, with: Array("#!/bin/bash\n# seed \(seed)\n".utf8))
        let output = folder.appendingPathComponent("out.tar.gz")
        let descriptor = open(output.path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        defer { close(descriptor) }
        let summary = try package.write(contents: contents, newScript: script, to: descriptor, outputPath: output.path,
                                        gzip: true, compressionLevel: 6, progress: { _ in })
        #expect(summary.method == .splice, "not spliced: \(summary.notSpliced ?? "")")
        #expect(summary.entries == contents.entries)
        #expect(summary.copied > 1 << 20 && summary.recompressed < 4 << 20)
        let inBytes = [UInt8](try Data(contentsOf: input)), outBytes = [UInt8](try Data(contentsOf: output))
        // The last megabyte of compressed data (before the 8-byte trailer) is the input's, shifted by the same bits.
        #expect(outBytes.count > 1 << 20 && abs(outBytes.count - inBytes.count) < 64 << 10)
        try Self.checkReaders(input: input, output: output, script: contents.script.path)
        let written = try Support.memberBytes(contents.script.path, of: output)
        #expect(written == script)
    }

    /// A small package has no block boundary far enough after the script: its tar stream is
    /// rewritten whole, every other member still byte for byte, and nothing of a splice is written.
    @Test func aSmallPackageIsRewrittenWhole() throws {
        let (folder, input) = try Self.package(bulk: 0)
        defer { try? FileManager.default.removeItem(at: folder) }
        let package = try UpgradePackage(path: input.path)
        let contents = try package.contents()
        let output = folder.appendingPathComponent("out.tar.gz")
        let descriptor = open(output.path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        defer { close(descriptor) }
        let script = contents.script.bytes + Array("# one more line\n".utf8)
        let summary = try package.write(contents: contents, newScript: script, to: descriptor, outputPath: output.path,
                                        gzip: true, compressionLevel: 6, progress: { _ in })
        #expect(summary.method == .rewrite)
        #expect(summary.notSpliced == "no deflate block starts 32 KiB or more after the script (a small package)")
        #expect(!summary.spliceCheckFailed && summary.copied == 0)
        var info = stat()
        #expect(fstat(descriptor, &info) == 0 && Int64(info.st_size) == summary.bytesOut)
        try Self.checkReaders(input: input, output: output, script: contents.script.path)
        #expect(try Support.memberBytes(contents.script.path, of: output) == script)
    }

    /// Several gzip members (a concatenated file) are read whole, and not spliced.
    @Test func aMultiMemberGzipIsReadWholeAndNotSpliced() throws {
        let (folder, input) = try Self.package(bulk: 4)
        defer { try? FileManager.default.removeItem(at: folder) }
        let multi = folder.appendingPathComponent("multi.tar.gz")
        let run = try Support.run("sh", ["-c", "gzip -dc \"$1\" > \"$2.tar\" && head -c 300000 \"$2.tar\" | gzip > \"$2\" && tail -c +300001 \"$2.tar\" | gzip >> \"$2\"",
                                         "sh", input.path, multi.path])
        #expect(run.status == 0, "\(run.stderr)")
        let contents = try UpgradePackage(path: multi.path).contents()
        #expect(contents.gzip?.members == 2)
        let original = try UpgradePackage(path: input.path).contents()
        #expect(contents.gzip?.crc == original.gzip?.crc && contents.gzip?.length == original.gzip?.length)
        let output = folder.appendingPathComponent("out.tar.gz")
        let packed = try Support.tool(["pack", multi.path, "-o", output.path, "--keep", "DB_PASS", "--set", "FATE_ROOT=/srv"])
        #expect(packed.status == 0, "\(packed.stderr)")
        try Self.checkReaders(input: input, output: output, script: contents.script.path)
    }

    /// pack's output through the tool: at most 1 % larger than `tar czf` of the same tree.
    @Test func thePackedSizeIsThatOfTarCzf() throws {
        let (folder, input) = try Self.package(bulk: 12)
        defer { try? FileManager.default.removeItem(at: folder) }
        let output = folder.appendingPathComponent("out.tar.gz")
        #expect(try Support.tool(["pack", input.path, "-o", output.path, "--keep", "DB_PASS", "--set", "FATE_ROOT=/srv"]).status == 0)
        let tree = folder.appendingPathComponent("tree")
        try FileManager.default.createDirectory(at: tree, withIntermediateDirectories: true)
        #expect(try Support.run("tar", ["xzf", output.path, "-C", tree.path]).status == 0)
        let reference = folder.appendingPathComponent("reference.tar.gz")
        #expect(try Support.run("tar", ["czf", reference.path, "-C", tree.path, "upgrade_package"]).status == 0)
        let ours = try FileManager.default.attributesOfItem(atPath: output.path)[.size] as! Int
        let theirs = try FileManager.default.attributesOfItem(atPath: reference.path)[.size] as! Int
        #expect(Double(ours) <= Double(theirs) * 1.01, "\(ours) vs tar czf \(theirs)")
    }
}
