import Alerts
import ArgumentParser
import Foundation
import Logging
import PatrolHubRuntime
import Simulation

/// Issue 6's benchmark: how many QoS 1 messages per second the simulator
/// publishes to a local `mosquitto`, counted to the broker's last PUBACK.
///
/// Each run plans a load scenario (40 cameras, a quarter each in native,
/// Frigate, GB/T 28181 and ONVIF, realistic payloads of 150–900 bytes) and
/// publishes it as fast as it can (`speed` so high that every message is due
/// at once), through the same `SimulatorRunner` and libmosquitto wrapper as
/// `patrolhub simulate`. Planning (generation and encoding) is timed apart.
/// The broker has no subscriber for these topics: this measures the
/// simulator and the broker's QoS 1 handshake, not a hub.
struct SimBenchmark {
    var messages: Int
    var runs: Int
    var logger: Logger

    struct Run {
        var messages: Int
        var bytes: Int
        var planSeconds: Double
        var publishSeconds: Double
        var rate: Double { Double(messages) / publishSeconds }
    }

    static func median(_ xs: [Double]) -> Double {
        let s = xs.sorted()
        guard !s.isEmpty else { return 0 }
        return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
    }

    func world() -> SimulationWorld {
        let cams = (1...40).map { i in
            SimulationWorld.Camera(id: "cam-\(HubFormat.zeroPadded(i, width: 3))", zone: "Z-\(i % 8)", location: GeoPoint(lat: 29.65, lon: 91.13))
        }
        return SimulationWorld(cameras: cams, devices: [], zoneCodes: Set((0..<8).map { "Z-\($0)" }))
    }

    func scenario(world: SimulationWorld) -> Scenario {
        var formats = Scenario.Formats()
        for (i, c) in world.cameras.enumerated() { formats.cameras[c.id] = InputFormat.allCases[i % 4] }
        // Lifecycle formats send two messages per detection: about 1.5 on average.
        let perHour = Double(messages) / Double(world.cameras.count) / 1.5
        let background = Scenario.Background(ratePerHour: perHour, categories: [(.intrusion, 1), (.loitering, 1), (.illegalParking, 1)])
        return Scenario(file: "bench", name: "simulator load", duration: 3600, seed: 1, speed: 1e9, dayStartsAt: 0, formats: formats,
                        background: background)
    }

    func run() async throws -> [Run] {
        let dir = NSTemporaryDirectory() + "patrolhub-bench-sim-\(getpid())"
        try? FileManager.default.removeItem(atPath: dir)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let broker = EmbeddedBroker(options: .init(dataDir: dir), logger: logger)
        try broker.start()
        defer { broker.stop() }
        let world = world()
        let scenario = scenario(world: world)
        var out: [Run] = []
        for r in 1...runs {
            let t0 = ContinuousClock.now
            let clock = SimulationClock(runStart: Date(), speed: 1e9, duration: scenario.duration)
            let plan = try SimulationPlanner(scenario: scenario, world: world).plan(seed: UInt64(r), clock: clock)
            let planned = ContinuousClock.now - t0
            var options = SimulatorRunner.Options()
            options.mqtt.port = broker.port
            options.mqtt.clientID = "bench-sim-\(r)"
            options.mqtt.cleanSession = true
            let report = try await SimulatorRunner(options: options, logger: logger).run(plan)
            guard report.acknowledged == plan.messages.count else {
                throw HubError(.bench, "run \(r): the broker acknowledged \(report.acknowledged) of \(plan.messages.count)")
            }
            func secs(_ d: Duration) -> Double { Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18 }
            let run = Run(messages: plan.messages.count, bytes: plan.messages.reduce(0) { $0 + $1.payload.count },
                          planSeconds: secs(planned), publishSeconds: report.elapsed)
            logger.notice("bench.run", metadata: ["run": "\(r)", "msg_s": "\(Int(run.rate))"])
            out.append(run)
        }
        return out
    }

    static func markdown(_ runs: [Run]) -> String {
        var lines = ["| run | messages | avg bytes | plan (s) | publish (s) | published msg/s (QoS 1, to the last PUBACK) |", "|---|---|---|---|---|---|"]
        for (i, r) in runs.enumerated() {
            lines.append(("| " + String(i + 1) + " | " + String(r.messages) + " | " + String(r.bytes / max(r.messages, 1)) + " | " + HubFormat.fixed(r.planSeconds, digits: 2) + " | " + HubFormat.fixed(r.publishSeconds, digits: 2) + " | " + HubFormat.fixed(r.rate, digits: 0) + " |"))
        }
        lines.append(("| **median** | | | **" + HubFormat.fixed(median(runs.map(\.planSeconds)), digits: 2) + "** | | **" + HubFormat.fixed(median(runs.map(\.rate)), digits: 0) + "** |"))
        return lines.joined(separator: "\n")
    }
}

extension PatrolHubBenchCommand {
    struct Sim: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Simulator throughput: QoS 1 messages per second published to a local mosquitto (goal ≥ 20 000).")

        @Option(help: "About this many messages per run.") var messages = 200_000
        @Option(help: "Runs; the median is reported.") var runs = 5

        func run() async throws {
            LoggingSystem.bootstrap { StreamLogHandler.standardError(label: $0) }
            var logger = Logger(label: "bench")
            logger.logLevel = .notice
            let runs = try await SimBenchmark(messages: messages, runs: runs, logger: logger).run()
            print("simulator benchmark: \(runs.count) runs, 40 cameras (native, Frigate, GB/T 28181, ONVIF), QoS 1 to a local mosquitto\n")
            print(SimBenchmark.markdown(runs))
            print("\n(the goal is ≥ 20 000 msg/s)")
        }
    }
}
