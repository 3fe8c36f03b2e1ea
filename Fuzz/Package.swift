// swift-tools-version: 6.0
// Coverage-guided fuzz targets (libFuzzer) for every decoder of untrusted
// bytes in `Alerts`. A separate package so that the root build never sees
// the sanitizer flags; `Fuzz/run.sh` (or `make fuzz`) builds it with
// `swift build --sanitize=fuzzer --sanitize=address` (libFuzzer supplies
// `main`) and runs each target.
import PackageDescription

let targets = [
    "FuzzNativeCamera", "FuzzDevice", "FuzzFrigate", "FuzzGB28181",
    "FuzzONVIF", "FuzzGeoJSON", "FuzzScenario", "FuzzConfig",
]

let package = Package(
    name: "PatrolHubFuzz",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "PatrolHub", path: ".."),
    ],
    targets: [
        .target(name: "FuzzSupport", dependencies: [.product(name: "Alerts", package: "PatrolHub")]),
    ] + targets.map { name in
        .executableTarget(name: name, dependencies: ["FuzzSupport", .product(name: "Alerts", package: "PatrolHub")]
                              + (name == "FuzzScenario" ? [.product(name: "Simulation", package: "PatrolHub")] : []))
    },
    swiftLanguageModes: [.v6]
)
