import Alerts
import ArgumentParser
import Foundation
import Logging
import PatrolHubRuntime

/// `patrolhub-bench`: the benchmarks of BENCHMARKS.md, one subcommand each,
/// apart from the `patrolhub` executable (build both with `-c release`).
@main
struct PatrolHubBenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "patrolhub-bench",
        abstract: "PatrolHub's benchmarks (build with -c release).",
        subcommands: [Ingest.self, Events.self, Grid.self, Pipeline.self, Sim.self, Memory.self])
}

extension PatrolHubBenchCommand {
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

    struct Pipeline: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "In-process pipeline throughput on one thread (decode → locate → dedup → mute → group/correlate → SQLite), next to decode only and decode + rules, over a generated mix of every input format.")

        @Option(help: "Messages per run.") var messages = 200_000
        @Option(help: "Runs; the medians are reported.") var runs = 5
        @Option(help: "Inbox rows per pipeline transaction (the hub's pipeline.batch_size).") var batch = HubConfig.Pipeline().batchSize
        @Option(help: "Folder with zones.geojson, cameras.csv, devices.csv and rules.yaml.") var configDir = "config"
        @Flag(help: "Run only the full pipeline, without the comparison passes and the per-stage clock reads (for a profiler such as perf).")
        var fullOnly = false

        func run() throws {
            let bench = PipelineBenchmark(messages: messages, runs: runs, batch: batch, configDir: configDir, fullOnly: fullOnly)
            let r = try bench.run()
            if fullOnly {
                let rates = r.full.map { HubFormat.fixed(Double(r.events) / $0, digits: 0) }
                print("full pipeline events/s (CPU of one thread), per run: \(rates.joined(separator: ", ")); median \(HubFormat.fixed(Double(r.events) / PipelineBenchmark.Result.median(r.full), digits: 0))")
                return
            }
            let mix = r.mix.sorted { $0.value > $1.value }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
            print("pipeline benchmark: \(messages) messages per run (\(r.events) events; mix: \(mix)), \(runs) runs, batch \(batch), one thread\n")
            print(r.markdown)
            print("\nlast run's store: \(r.outcome)")
            print("(the goal is ≥ 100 000 events/s for the full pipeline)")
        }
    }

    struct Memory: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "What grows with events processed: the in-process pipeline over many generated messages (every input format), sampling RSS, anonymous memory, the C heap, SQLite's heap and the rules engine's state counts.")

        @Option(help: "Messages in all.") var messages = 3_000_000
        @Option(help: "Sample every this many messages.") var sampleEvery = 100_000
        @Option(help: "Inbox rows per pipeline transaction.") var batch = 1000
        @Option(help: "Event time between two messages, in milliseconds (20: 50 messages per second of event time).") var intervalMs = 20.0
        @Option(help: "store.memory_mib for the store's SQLite connections.") var memoryMib = HubConfig.Store.defaultMemoryMiB
        @Option(help: "limits.max_open_items for the rules engine.") var maxOpenItems = RiskEngine.defaultMaxOpenItems
        @Option(help: "Folder with zones.geojson, cameras.csv, devices.csv and rules.yaml.") var configDir = "config"
        @Option(help: "Also write the samples to this CSV file.") var csv: String?

        func run() throws {
            guard sampleEvery > 0, messages > 0 else { throw ValidationError("--messages and --sample-every must be positive") }
            print("memory benchmark: \(messages) messages, batch \(batch), \(intervalMs) ms of event time each, store.memory_mib \(memoryMib)\n")
            print("| messages | RSS MiB | anonymous MiB | C heap in use MiB | SQLite heap MiB | SQLite page caches MiB | engine entries | published map | store file MiB |")
            print("|---|---|---|---|---|---|---|---|---|")
            let bench = MemoryBenchmark(messages: messages, sampleEvery: sampleEvery, batch: batch, configDir: configDir, memoryMiB: memoryMib,
                                        interval: intervalMs / 1000, csv: csv, maxOpenItems: maxOpenItems)
            let samples = try bench.run { print($0.row) }
            if let last = samples.last { print("\nengine state at the end: \(last.engine)") }
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

    struct Events: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Two builds of `serve` side by side: idle CPU, publish → processed latency, backlog drain vs a bare subscriber.")

        @Option(help: "The baseline build's patrolhub executable.") var baseline: String
        @Option(help: "The candidate build's patrolhub executable (default: the one beside this executable).") var candidate: String?
        @Option(help: "Alternating runs; the medians are reported.") var runs = 3
        @Option(help: "Seconds of idle CPU measured per run.") var idleSeconds: Double = 60
        @Option(help: "Events per second of the latency run.") var rate = 5000
        @Option(help: "Seconds of publishing in the latency run.") var latencySeconds: Double = 10
        @Option(help: "Events queued for the backlog run.") var backlog = 100_000
        @Option(help: "Comma-separated: idle, latency, backlog.") var only = "idle,latency,backlog"
        @Option(help: "A folder for each latency run's per-message CSV (sent_s,latency_ms).") var latencyTrace: String?
        @Option(help: "The benchmark broker's max_inflight_messages (QoS 1 messages in flight per client; default: the hub's own default).")
        var brokerInflight = HubConfig().broker.maxInflightMessages

        func run() async throws {
            LoggingSystem.bootstrap { StreamLogHandler.standardError(label: $0) }
            var logger = Logger(label: "bench")
            logger.logLevel = .notice
            // The candidate by default: the `patrolhub` built beside this executable.
            let me = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
            let sibling = ((me as NSString).deletingLastPathComponent as NSString).appendingPathComponent("patrolhub")
            var bench = EventsBenchmark(binaries: [.init(name: "baseline", path: baseline), .init(name: "candidate", path: candidate ?? sibling)], logger: logger)
            bench.runs = runs
            bench.idleSeconds = idleSeconds
            bench.rate = rate
            bench.latencySeconds = latencySeconds
            bench.backlog = backlog
            bench.traceDir = latencyTrace
            bench.brokerInflight = brokerInflight
            bench.measurements = Set(only.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) })
            let samples = try await bench.run { name, run, sample in
                // Each row as it is measured (standard output is buffered when piped).
                FileHandle.standardError.write(Data((EventsBenchmark.row(name, run, sample) + "\n").utf8))
            }
            print("\n" + bench.markdown(samples))
        }
    }
}
