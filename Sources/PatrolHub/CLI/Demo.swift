import Alerts
import ArgumentParser
import Foundation
import Logging
import PatrolHubHTTP
import PatrolHubMQTT
import PatrolHubRuntime
import Reports
import Simulation

extension PatrolHubCommand {
    /// `patrolhub demo`: the whole loop on one machine — an embedded broker and
    /// hub, a scenario published by the simulator, the hub's outcomes as they
    /// appear, and the drill report that scores them.
    struct Demo: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run the hub with its embedded broker, drive it with a simulator scenario, and score what it makes of it (a drill).")

        @OptionGroup var config: ConfigOptions
        @OptionGroup var log: LogOptions

        @Option(help: "Where the demo keeps its store and broker files (wiped at start).")
        var dataDir: String = "data/demo"

        @Option(help: "The scenario the demo runs as a drill.")
        var scenario: String = "simulators/demo.yaml"

        @Option(parsing: .unconditional, help: "Scenario seconds per wall-clock second (default: the scenario's speed).") // "-3" is a value to refuse
        var speed: Double?

        @Option(help: "Drill report format: text, md or html.")
        var format: Drill.ReportFormat = .text

        @Flag(help: "Keep the hub, the board and a looping background scenario running after the drill, until Ctrl-C (`make demo` does).")
        var serve = false

        @Option(help: "With --serve: the scenario replayed in real time in a loop after the drill, so the board stays alive (default: the drill's scenario).")
        var background: String?

        @OptionGroup var listen: HTTPListenOptions

        func run() async throws {
            var cfg = try config.load()
            ProcessSupport.lineBufferStandardOutput()
            log.bootstrap(timeZone: cfg.timezone)
            var logger = Logger(label: "patrolhub")
            logger.logLevel = Logger.Level(rawValue: log.logLevel) ?? .warning
            try? FileManager.default.removeItem(atPath: dataDir)
            cfg.dataDir = dataDir
            cfg.store.path = (dataDir as NSString).appendingPathComponent("patrolhub.sqlite")
            cfg.broker.mode = .embedded
            cfg.broker.port = 0
            try listen.apply(to: &cfg)
            var scenarioOptions = try ScenarioOptions.parse(["--scenario", scenario])
            scenarioOptions.speed = speed
            let (scn, _, plan) = try scenarioOptions.plan(config: cfg)

            // The demo's output watcher gets its own read-only account; the hub adds the rest
            // (itself, the simulator, every camera and device) and generates the passwords.
            try BrokerCredentials.writePrivate(BrokerCredentials.header + "\nreader \(Self.watcherUsername) -\n", to: cfg.brokerCredentialsFile)
            let hub = try Hub(config: cfg, logger: logger)
            let credentials = hub.brokerCredentials
            let group = try hub.start()
            print("PatrolHub demo: embedded mosquitto on 127.0.0.1:\(hub.brokerPort), store \(cfg.store.path)")
            print(plan.describe(file: scn.file, timeZone: cfg.timezone))
            print("")

            var failed = false
            // Rung when the hub's services end (Ctrl-C, SIGTERM, a failure): the drill stops with them.
            let hubEnded = Doorbell()
            let hubRunning = hubEnded.rings
            try await withThrowingTaskGroup(of: Void.self) { tasks in
                tasks.addTask {
                    defer { hubEnded.ring() }
                    try await group.run()
                }
                // The drill reads the hub's outcomes through its HTTP API, as against any hub.
                var source: any OutcomeSource = StoreOutcomeSource(store: hub.store)
                var boardURL: String?
                if let http = hub.http {
                    let port = try await http.waitForPort()
                    let host = cfg.http.host.contains(":") ? "[\(cfg.http.host)]" : cfg.http.host
                    let shown = ["0.0.0.0", "::"].contains(cfg.http.host) ? "127.0.0.1" : host
                    boardURL = "http://\(shown):\(port)/"
                    print("live board (指挥调度大屏): \(boardURL!)")
                    source = HTTPOutcomeSource(base: URL(string: "http://\(shown):\(port)")!, token: nil)
                }

                // Watch the output topics like an integrator would.
                var watch = MQTTClient.Options()
                watch.host = hub.brokerHost
                watch.port = hub.brokerPort
                watch.clientID = Self.watcherUsername
                watch.username = Self.watcherUsername
                watch.password = credentials?.account(Self.watcherUsername)?.password
                watch.cleanSession = true
                watch.subscriptions = ["\(cfg.topicPrefix)/out/#"]
                let watcher = MQTTClient(options: watch, logger: logger) { batch in
                    for m in batch { print(Self.describe(topic: m.topic, payload: m.payload)) }
                    return true
                }
                try watcher.start()
                try await Self.waitUntil(timeout: 15) { hub.ingest.client.isConnected && watcher.isConnected }

                var runner = SimulatorRunner.Options()
                runner.mqtt = watch
                runner.mqtt.clientID = "patrolhub-demo-sim"
                if let sim = credentials?.account(role: .simulator) {
                    (runner.mqtt.username, runner.mqtt.password, runner.mqtt.clientID) = (sim.username, sim.password, sim.username)
                }
                runner.accounts = Dictionary(credentials?.accounts.map { ($0.username, $0.password) } ?? [], uniquingKeysWith: { a, _ in a })
                runner.mqtt.subscriptions = []
                runner.progress = false
                let drill = DrillRunner(scenario: scn, plan: plan, runner: runner, source: source, settle: 15, logger: logger)
                // The drill races the hub: a Ctrl-C during it stops the hub, and then the drill
                // (its simulator would otherwise keep reconnecting to the stopped broker).
                let outcome = try await withThrowingTaskGroup(of: DrillResult?.self) { race in
                    race.addTask { try await drill.run() }
                    race.addTask {
                        await hubEnded.next(after: hubRunning, timeout: .seconds(365 * 86_400))
                        return nil
                    }
                    defer { race.cancelAll() }
                    return try await race.next() ?? nil
                }
                watcher.stop()
                guard let result = outcome else {
                    print("\nThe hub stopped before the drill ended: no score.")
                    failed = true
                    try await tasks.next()
                    return
                }

                print("")
                switch format {
                case .text: print(result.text)
                case .md: print(result.markdown)
                case .html: print(result.html)
                }
                failed = !result.passed
                let status = try hub.store.status()
                print("\nstore (\(cfg.store.path)):\n\(status.text(time: LocalTime(cfg.timezone).callAsFunction))")
                print("\ndead letters:")
                for d in try hub.store.deadLetters() { print("  \(d.reason.padding(toLength: 15, withPad: " ", startingAt: 0)) \(d.topic): \(d.detail)") }
                print("\nlook again later: .build/debug/patrolhub status --store \(cfg.store.path) [--json]")
                if serve {
                    let loop = background ?? scenario
                    print("\nThe hub keeps running\(boardURL.map { ": live board \($0)" } ?? ""), with \(loop) replayed in real time in a loop. Ctrl-C stops it.")
                    // In real time: each round's events are stamped now, so none is late against the
                    // round before and the board shows the incidents as they would happen.
                    var again = try ScenarioOptions.parse(["--scenario", loop])
                    again.speed = 1
                    let (loopOptions, cfgForLoop, runnerForLoop, loopLogger) = (again, cfg, runner, logger)
                    tasks.addTask { await Self.replay(loopOptions, config: cfgForLoop, runner: runnerForLoop, logger: loopLogger) }
                    try await tasks.next() // the hub's services end on Ctrl-C (or SIGTERM)
                    tasks.cancelAll()
                    return
                }
                await group.triggerGracefulShutdown()
                try await tasks.next()
            }
            if failed { throw ExitCode(1) }
        }

        static let watcherUsername = "patrolhub-demo-watch"

        /// Publishes `scenario` again and again, each round planned from now (new event ids and
        /// times), until the task is cancelled; a failed round is logged and retried.
        static func replay(_ scenario: ScenarioOptions, config: HubConfig, runner: SimulatorRunner.Options, logger: Logger) async {
            var round = 0
            while !Task.isCancelled {
                round += 1
                do {
                    let (_, _, plan) = try scenario.plan(config: config)
                    let report = try await SimulatorRunner(options: runner, logger: logger).run(plan)
                    print("background round \(round): \(report.acknowledged) messages")
                } catch {
                    if Task.isCancelled { return }
                    logger.warning("demo.background_failed", metadata: ["round": "\(round)", "error": "\(error)"])
                    try? await Task.sleep(for: .seconds(2))
                }
            }
        }

        static func describe(topic: String, payload: [UInt8]) -> String {
            guard let v = try? JSONParser.parse(payload) else { return "\(topic): \(String(decoding: payload, as: UTF8.self))" }
            let id = v["id"]?.stringValue ?? "?"
            let kind = v["kind"]?.stringValue ?? v["rule"]?.stringValue.map { "case: \($0)" } ?? "?"
            let items = v["risk_item_ids"].map { if case .array(let a) = $0 { return a.count }; return 0 } ?? 0
            let text = v["text"]?.stringValue ?? v["explanation"]?.stringValue?.split(separator: "\n").first.map(String.init) ?? ""
            return "\(topic)  \(id) [\(kind)] zone \(v["zone"]?.stringValue ?? "?") \(v["category"]?.stringValue ?? "?") sev \(Int(v["severity"]?.doubleValue ?? 0)) items \(items): \(text)"
        }

        static func waitUntil(timeout: Double, _ condition: () throws -> Bool) async throws {
            let deadline = Date().addingTimeInterval(timeout)
            while Date() < deadline {
                if try condition() { return }
                try await Task.sleep(for: .milliseconds(50))
            }
            throw ValidationError("timed out after \(Int(timeout)) s waiting for the hub")
        }
    }
}
