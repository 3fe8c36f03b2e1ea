// swift-tools-version: 6.0
import PackageDescription

let package = Package(
    name: "PatrolHub",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "patrolhub", targets: ["PatrolHub"]),
        .library(name: "Alerts", targets: ["Alerts"]),
    ],
    dependencies: [
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.0.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.6.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
    ],
    targets: [
        // libmosquitto, the MQTT client library, wrapped once in Sources/PatrolHub/MQTT.
        .systemLibrary(
            name: "CMosquitto",
            pkgConfig: "libmosquitto",
            providers: [.apt(["libmosquitto-dev"])]
        ),
        // The domain: events, adapters, zones, rules, correlation, supervision, store. No network.
        .target(
            name: "Alerts",
            dependencies: [
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "GRDBSQLite", package: "GRDB.swift"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Yams", package: "Yams"),
                // The moved case-actions test reads the transitions and the audit log as written.
                .product(name: "GRDB", package: "GRDB.swift"),
            ]
        ),
        // The dispatch-room HTTP interface: API, event stream, live board, health. No MQTT, no CLI.
        .target(
            name: "PatrolHubHTTP",
            dependencies: [
                "Alerts",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
            ],
            resources: [.embedInCode("openapi.yaml")]
        ),
        // The runtime: MQTT, embedded broker, services, CLI; serves PatrolHubHTTP.
        .executableTarget(
            name: "PatrolHub",
            dependencies: [
                "Alerts",
                "PatrolHubHTTP",
                "CMosquitto",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
            ]
        ),
        .testTarget(name: "AlertsTests", dependencies: ["Alerts"], exclude: ["Fixtures"]),
        .testTarget(name: "PatrolHubTests", dependencies: ["PatrolHub", "PatrolHubHTTP", "Alerts"]),
        .testTarget(
            name: "PatrolHubHTTPTests",
            dependencies: [
                "PatrolHubHTTP", "Alerts",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "Yams", package: "Yams"),
                // The moved case-actions test reads the transitions and the audit log as written.
                .product(name: "GRDB", package: "GRDB.swift"),
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)
