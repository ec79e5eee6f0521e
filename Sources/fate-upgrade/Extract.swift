import FateUpgradeCore
import ArgumentParser
import FateUpgradeArchive
import FateUpgradeHost
import Glibc

extension FateUpgrade {
    /// apply's extraction alone: every entry checked first, then extracted into a new folder.
    /// Hidden: for the benchmark (bench/pack.sh) and for looking into a package safely.
    struct Extract: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check a package and extract it into a new folder, as apply does (no script is run).",
            shouldDisplay: false)

        @Argument(help: "The package.", completion: .file())
        var package: String

        @Option(help: ArgumentHelp("A folder that does not exist yet.", valueName: "dir"), completion: .directory)
        var into: String

        func run() throws {
            Signals.farewell("what was extracted so far is left in the target folder")
            let upgradePackage = try UpgradePackage(path: package)
            let contents = try upgradePackage.contents()
            try FileSystem.makeDirectories(Path.parent(into).isEmpty ? "." : Path.parent(into))
            guard mkdir(into, 0o700) == 0 else { throw HostError("mkdir \(into): \(Errno.text())") }
            try upgradePackage.extract(into: into)
            Console.shared.say("extracted \(contents.entries) entries into \(into)")
        }
    }
}
