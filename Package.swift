// swift-tools-version: 6.0
import PackageDescription

let package = Package(
    name: "PatrolHub",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "patrolhub", targets: ["PatrolHub"]),
        .executable(name: "patrolhub-bench", targets: ["PatrolHubBench"]),
        .library(name: "Alerts", targets: ["Alerts"]),
        .library(name: "Simulation", targets: ["Simulation"]),
    ],
    dependencies: [
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.0.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.6.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.2"),
        .package(url: "https://github.com/apple/swift-nio-extras", from: "1.34.1"),
    ],
    targets: [
        // libmosquitto, the MQTT client library, wrapped once in Sources/PatrolHubMQTT.
        .systemLibrary(
            name: "CMosquitto",
            pkgConfig: "libmosquitto",
            providers: [.apt(["libmosquitto-dev"])]
        ),
        // The pure core: model, decoding and adapters, grid, registry, rules, silences, the engine,
        // patrol and case lifecycle. No GRDB, no SQL, no network (docs/ARCHITECTURE.md).
        .target(
            name: "Alerts",
            dependencies: [
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Yams", package: "Yams"),
            ]
        ),
        // The store: the only target with GRDB and SQL (schema, migrations, pipeline transaction, reads).
        .target(
            name: "AlertsStore",
            dependencies: [
                "Alerts",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "GRDBSQLite", package: "GRDB.swift"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // The second store: PostgreSQL behind the same pipeline interface (`PipelineStore`), the only
        // target besides AlertsStore with SQL, and the only one with PostgresNIO (no GRDB here).
        .target(
            name: "AlertsStorePostgres",
            dependencies: [
                "Alerts",
                "AlertsStore",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                // TLS to the server (`sslmode`, `sslrootcert`): the certificate checks postgres-nio takes as an NIOSSLContext.
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // Daily, weekly and monthly reports over the store's reads.
        .target(name: "Reports", dependencies: ["Alerts", "AlertsStore"]),
        // Drill scenarios: parser, planner, payload encoder, scoring. Pure.
        .target(name: "Simulation", dependencies: ["Alerts"]),
        // The MQTT client over libmosquitto (and the few process helpers of its C shim).
        .target(
            name: "PatrolHubMQTT",
            dependencies: ["Alerts", "CMosquitto", .product(name: "Logging", package: "swift-log"), .product(name: "CoreMetrics", package: "swift-metrics")]
        ),
        // The dispatch-room HTTP interface: API, event stream, live board, health. No MQTT, no CLI.
        .target(
            name: "PatrolHubHTTP",
            dependencies: [
                "Alerts",
                "AlertsStore",
                "Reports",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            resources: [.embedInCode("openapi.yaml")]
        ),
        // What the hub and its benchmarks share: the embedded broker (launcher, accounts, ACL),
        // the ingest service (MQTT batches → durable inbox), the simulator's MQTT runner.
        .target(
            name: "PatrolHubRuntime",
            dependencies: [
                "Alerts",
                "AlertsStore",
                "Simulation",
                "PatrolHubMQTT",
                "PatrolHubHTTP",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // The executable: CLI, services and their wiring, drills.
        .executableTarget(
            name: "PatrolHub",
            dependencies: [
                "Alerts",
                "AlertsStore",
                "AlertsStorePostgres",
                "Reports",
                "Simulation",
                "PatrolHubMQTT",
                "PatrolHubHTTP",
                "PatrolHubRuntime",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ]
        ),
        // The benchmarks (`patrolhub-bench`): ingest, events, grid, pipeline, simulator, memory.
        .executableTarget(
            name: "PatrolHubBench",
            dependencies: [
                "Alerts",
                "AlertsStore",
                "Simulation",
                "PatrolHubMQTT",
                "PatrolHubRuntime",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // Tests mirror the source targets: Tests/NAMETests holds the tests of NAME and depends on what they use.
        // Fixture files shared by several targets are in Tests/Fixtures (not a target).
        // Helpers more than one test target uses: the core's (paths, grid, cases, engine events) in
        // TestSupport, the store's (case stores, the patrol harness) in StoreTestSupport, so AlertsTests
        // stays without GRDB.
        .target(name: "TestSupport", dependencies: ["Alerts"], path: "Tests/TestSupport"),
        .target(
            name: "StoreTestSupport",
            dependencies: ["Alerts", "AlertsStore", "TestSupport", .product(name: "GRDB", package: "GRDB.swift")],
            path: "Tests/StoreTestSupport"
        ),
        // A real PostgreSQL 15 for tests: the server of PATROLHUB_TEST_POSTGRES_URL, or a throwaway
        // one (initdb + pg_ctl in a temporary folder), and a fresh database per test.
        .target(
            name: "PostgresTestSupport",
            dependencies: [
                "Alerts",
                // The store's URL parser and connection configuration, TLS included, for the test servers too.
                "AlertsStorePostgres",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Tests/PostgresTestSupport"
        ),
        // Simulation: the scenario reader is one of the untrusted-input readers whose limits and
        // fuzz corpus these tests replay beside the decoders'.
        .testTarget(name: "AlertsTests", dependencies: ["Alerts", "Simulation", "TestSupport"]),
        .testTarget(
            name: "AlertsStoreTests",
            dependencies: [
                "Alerts", "AlertsStore", "Simulation", "TestSupport", "StoreTestSupport",
                .product(name: "GRDB", package: "GRDB.swift"),
            ]
        ),
        .testTarget(
            name: "ReportsTests",
            dependencies: [
                "Reports", "Alerts", "AlertsStore", "Simulation", "TestSupport", "StoreTestSupport",
                .product(name: "GRDB", package: "GRDB.swift"),
            ]
        ),
        // The store behaviours written once against `PipelineStore`, run on SQLite and on PostgreSQL.
        .testTarget(
            name: "AlertsStorePostgresTests",
            dependencies: [
                "Alerts", "AlertsStore", "AlertsStorePostgres", "Reports", "TestSupport", "StoreTestSupport", "PostgresTestSupport",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
            ]
        ),
        .testTarget(name: "SimulationTests", dependencies: ["Simulation", "Alerts", "TestSupport"]),
        .testTarget(name: "PatrolHubTests", dependencies: ["PatrolHub", "PatrolHubBench", "PatrolHubRuntime", "Alerts", "AlertsStore", "Reports", "Simulation", "PatrolHubMQTT", "PatrolHubHTTP",
                                                          "AlertsStorePostgres", "PostgresTestSupport", .product(name: "Prometheus", package: "swift-prometheus")]),
        .testTarget(
            name: "PatrolHubHTTPTests",
            dependencies: [
                "PatrolHubHTTP", "Alerts", "AlertsStore",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "Yams", package: "Yams"),
                // The case-actions tests read the transitions and the audit log as written.
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)
