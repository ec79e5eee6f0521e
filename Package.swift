// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "fate-upgrade",
    products: [
        .executable(name: "fate-upgrade", targets: ["fate-upgrade"]),
        .library(name: "FateUpgradeCore", targets: ["FateUpgradeCore"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
    ],
    targets: [
        // The system libraries, found through pkg-config; Debian packages in `providers`.
        .systemLibrary(name: "CArchive", pkgConfig: "libarchive", providers: [.apt(["libarchive-dev"])]),
        .systemLibrary(name: "CYAML", pkgConfig: "yaml-0.1", providers: [.apt(["libyaml-dev"])]),

        // The shared parsing core: pure, testable from strings.
        .target(name: "FateUpgradeCore", dependencies: ["CYAML"]),

        .executableTarget(
            name: "fate-upgrade",
            dependencies: [
                "FateUpgradeCore", "CArchive",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .testTarget(
            name: "FateUpgradeTests",
            dependencies: ["FateUpgradeCore", "fate-upgrade"],
            resources: []
        ),
    ],
    swiftLanguageModes: [.v6]
)
