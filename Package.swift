// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "fate-upgrade",
    products: [
        .executable(name: "fate-upgrade", targets: ["fate-upgrade"]),
        .library(name: "FateUpgradeCore", targets: ["FateUpgradeCore"]),
        .library(name: "FateUpgradeHost", targets: ["FateUpgradeHost"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
    ],
    targets: [
        // The system libraries, found through pkg-config; Debian packages in `providers`.
        .systemLibrary(name: "CArchive", pkgConfig: "libarchive", providers: [.apt(["libarchive-dev"])]),
        .systemLibrary(name: "CYAML", pkgConfig: "yaml-0.1", providers: [.apt(["libyaml-dev"])]),
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        // Debian's libzookeeper-mt-dev ships no .pc file, so the module map names the library itself.
        .systemLibrary(name: "CZooKeeper", providers: [.apt(["libzookeeper-mt-dev"])]),
        // fork/exec and the signal handler: code that must stay async-signal-safe, so C.
        .target(name: "CHost"),

        // The shared parsing core: pure, testable from strings.
        .target(name: "FateUpgradeCore", dependencies: ["CYAML"]),
        // Reading, rewriting and extracting packages: the only module that sees libarchive and zlib.
        .target(name: "FateUpgradeArchive", dependencies: ["FateUpgradeCore", "CArchive", "CZlib", "CHost"]),
        // Everything that touches the host: processes, MySQL, ZooKeeper, services, journal, the operations.
        .target(name: "FateUpgradeHost", dependencies: ["FateUpgradeCore", "FateUpgradeArchive", "CHost", "CZooKeeper"]),

        .executableTarget(
            name: "fate-upgrade",
            dependencies: [
                "FateUpgradeCore", "FateUpgradeArchive", "FateUpgradeHost",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .testTarget(
            name: "FateUpgradeTests",
            dependencies: ["FateUpgradeCore", "FateUpgradeArchive", "FateUpgradeHost", "fate-upgrade"],
            resources: []
        ),
    ],
    swiftLanguageModes: [.v6]
)
