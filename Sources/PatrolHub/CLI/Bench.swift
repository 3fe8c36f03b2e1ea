import Alerts
import ArgumentParser
import Foundation
import Logging

extension PatrolHubCommand {
    struct Bench: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Benchmarks (build with -c release).",
            subcommands: [Ingest.self, Grid.self, Sim.self])

        struct Grid: ParsableCommand {
            static let configuration = CommandConfiguration(
                abstract: "Zone lookups through the spatial index vs a brute-force scan, at 10 000 and 100 000 generated grid polygons.")

            @Option(parsing: .upToNextOption, help: "Polygon counts.") var polygons: [Int] = [10_000, 100_000]
            @Option(help: "Repetitions; medians are reported.") var repetitions = 5
            @Flag(help: "Also time GeoJSON import and validation of the generated file.") var importTime = false

            func run() throws {
                var results: [GridBenchmark.Result] = []
                for n in polygons {
                    results.append(GridBenchmark.run(.init(polygonCount: n, repetitions: repetitions, measureImport: importTime)))
                }
                print(GridBenchmark.Result.markdownTable(results))
            }
        }

        struct Ingest: AsyncParsableCommand {
            static let configuration = CommandConfiguration(
                abstract: "Hub ingestion vs a bare libmosquitto subscriber, through a local mosquitto, in one run.")

            @Option(help: "Messages per measurement.") var messages = 100_000
            @Option(help: "Alternating bare/hub runs; the medians are reported.") var runs = 3
            @Option(help: "SQLite synchronous mode for the hub's store: normal or full.") var synchronous = "normal"
            @Option(help: "The broker's max_inflight_messages.") var inflight = 100
            @Flag(help: "Measure ingestion alone: the pipeline starts only after the last message is committed.") var noPipeline = false

            func run() async throws {
                guard let sync = HubConfig.Store.Synchronous(rawValue: synchronous) else { throw ValidationError("--synchronous must be normal or full") }
                LoggingSystem.bootstrap { StreamLogHandler.standardError(label: $0) }
                var logger = Logger(label: "bench")
                var pipelineOn = !noPipeline
                logger.logLevel = .notice
                var bench = IngestBenchmark(messages: messages, runs: runs, synchronous: sync, inflight: inflight, logger: logger)
                bench.pipeline = pipelineOn
                pipelineOn = bench.pipeline
                let result = try await bench.run()
                print("ingest benchmark: \(messages) QoS 1 messages per run, \(runs) runs, synchronous=\(synchronous), broker max_inflight_messages=\(inflight)\n")
                print(result.markdown)
                print("\n(hub ratio = hub rate / bare rate; the goal is ≥ 0.90)")
            }
        }
    }
}
