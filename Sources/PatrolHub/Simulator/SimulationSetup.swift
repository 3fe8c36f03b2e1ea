import Alerts
import ArgumentParser
import Foundation
import Logging
import PatrolHubMQTT
import PatrolHubRuntime
import Simulation

#if canImport(Glibc)
import Glibc
#endif

/// Options `simulate` and `drill` share: which scenario, how fast, from when.
struct ScenarioOptions: ParsableArguments {
    @Option(help: "The scenario file (YAML, see simulators/README.md).")
    var scenario: String

    // Negative numbers are values to check, not options (ArgumentParser reads "-3" as a missing value otherwise).
    @Option(parsing: .unconditional, help: "Seed of every random draw (default: the scenario's seed).")
    var seed: UInt64?

    @Option(parsing: .unconditional, help: "Scenario seconds per wall-clock second (default: the scenario's speed; 1 = real time).")
    var speed: Double?

    @Option(parsing: .unconditional, help: "Run only this much of the scenario (e.g. 10m); steps after it are skipped.")
    var duration: String?

    @Option(help: "Pin the run's start (RFC 3339, default now). Event times and ids derive from it: the same --seed and --start publish byte-identical messages.")
    var start: String?

    @Option(help: ArgumentHelp(
        "For soak runs and drills only: the hub's simulated clock (START@SPEED, as given to `serve --simulated-clock`). Scenario second 0 is stamped at --start (default: that clock's now) and each message is sent when the clock reads its event time; --speed is the clock's.",
        valueName: "START@SPEED"))
    var simulatedClock: String?

    /// The simulated clock of `--simulated-clock`: the hub's (its anchor read from
    /// `{data_dir}/simulated-clock.json`, `shared`) when it runs the same value,
    /// else one that starts now. Nil without the option.
    func simulation(config: HubConfig, now: Date = Date()) throws -> (simulation: HubClock.Simulation, shared: Bool)? {
        guard let simulatedClock else { return nil }
        let parsed: (start: Date, speed: Double)
        do {
            parsed = try HubClock.parse(simulatedClock)
        } catch {
            throw ValidationError("--simulated-clock: \(error)")
        }
        let (start, speed) = parsed
        if let s = self.speed, s != speed {
            throw ValidationError("--speed: on a simulated clock the speed is the clock's (\(speed)); leave --speed out, found '\(s)'")
        }
        if let s = SimulatedClockFile.matching(start: start, speed: speed, dataDir: config.dataDir) { return (s, true) }
        return (HubClock.Simulation(start: start, speed: speed, anchor: now), false)
    }

    /// Reads and checks the scenario, then plans the run against the hub's registry
    /// (on `simulation`'s clock when given).
    func plan(config: HubConfig, now: Date = Date(), simulation: HubClock.Simulation? = nil) throws -> (Scenario, SimulationWorld, SimulationPlan) {
        let scenario: Scenario
        do {
            scenario = try ScenarioParser.load(file: self.scenario)
        } catch {
            throw HubError.cli("invalid scenario: \(error)")
        }
        let world: SimulationWorld
        do {
            world = try SimulationWorld.load(config: config)
        } catch {
            throw HubError.cli("invalid config: \(error)")
        }
        let speed = simulation?.speed ?? self.speed ?? scenario.speed
        guard speed > 0, speed.isFinite else { throw HubError.cli("--speed must be a positive number, not \(self.speed.map { "\($0)" } ?? "\(speed)")") }
        var runDuration = scenario.duration
        if let d = duration {
            guard let v = SimDuration.parse(d), v > 0 else { throw ValidationError("--duration: expected a duration such as 90s, 10m or 2h, found '\(d)'") }
            runDuration = min(v, scenario.duration)
        }
        // On a simulated clock "now" is that clock's, in whole seconds.
        var runStart = simulation.map { Date(timeIntervalSince1970: $0.time(atWall: now).timeIntervalSince1970.rounded(.down)) } ?? now
        if let s = start, s != "now" {
            guard let t = TimeParser(defaultZone: config.timezone).parse(s) else { throw ValidationError("--start: expected an RFC 3339 time such as 2026-11-29T08:00:00+08:00, found '\(s)'") }
            runStart = t
        }
        let clock = simulation == nil ? SimulationClock(runStart: runStart, speed: speed, duration: runDuration)
            : SimulationClock(scenarioStart: runStart, speed: speed, duration: runDuration)
        let planner = SimulationPlanner(scenario: scenario, world: world, patrolPlan: try patrolSource(config: config, scenario: scenario))
        do {
            return (scenario, world, try planner.plan(seed: seed, clock: clock))
        } catch {
            throw HubError.cli("invalid scenario: \(error)")
        }
    }

    /// The hub's patrol plan (`registry.patrol`), when the scenario walks patrol rounds.
    func patrolSource(config: HubConfig, scenario: Scenario) throws -> (any PatrolRoundSource)? {
        guard scenario.patrol != nil, let file = config.patrolFile else { return nil }
        do {
            let registry = try Registry.load(camerasFile: config.camerasFile, devicesFile: config.devicesFile)
            let zones = try config.zonesFile.map { f throws(HubError) in try ZoneFile.load(contentsOf: URL(fileURLWithPath: f)) }
            return try PatrolPlan.load(file: file, registry: registry, zones: zones, timeZone: config.timezone)
        } catch {
            throw HubError.cli("invalid config: \(error)")
        }
    }
}

/// Where the simulator publishes: `--broker host:port`, else the hub's config;
/// as whom: `--username`/`--password`, else the simulator account of the
/// embedded broker's credentials file (`broker.credentials`), else
/// `broker.username`/`broker.password`.
struct BrokerOptions: ParsableArguments {
    @Option(help: "The broker as host:port (default: the hub config's broker; required when the hub runs an embedded broker on a port chosen at start).")
    var broker: String?

    @Option(help: "The simulator's MQTT client id (an embedded broker with accounts uses the username instead).")
    var clientID: String = "patrolhub-sim"

    @Option(help: "MQTT username (default: the 'simulator' account of the embedded broker's credentials file, else broker.username).")
    var username: String?

    @Option(help: "MQTT password for --username (default: the environment variable PATROLHUB_MQTT_PASSWORD).")
    var password: String?

    /// The embedded broker's accounts, when the config runs one and the hub has written them.
    func credentials(config: HubConfig) throws -> BrokerCredentials? {
        guard config.broker.mode == .embedded, FileManager.default.fileExists(atPath: config.brokerCredentialsFile) else { return nil }
        do {
            return try BrokerCredentials.load(file: config.brokerCredentialsFile)
        } catch {
            throw HubError.cli("\(error)")
        }
    }

    func mqttOptions(config: HubConfig) throws -> MQTTClient.Options {
        var o = MQTTClient.Options()
        o.clientID = clientID
        o.cleanSession = true
        o.keepalive = config.broker.keepalive
        o.reconnectDelayMin = 0.1
        o.reconnectDelayMax = 2
        o.maxInflight = 1000
        if let username {
            o.username = username
            o.password = password ?? ProcessInfo.processInfo.environment["PATROLHUB_MQTT_PASSWORD"]
        } else if let account = try credentials(config: config)?.account(role: .simulator) {
            o.username = account.username
            o.password = account.password
            o.clientID = account.username
        } else if config.broker.mode == .external {
            o.username = config.broker.username
            o.password = config.broker.password
        }
        if config.broker.mode == .external { o.caFile = config.broker.caFile }
        if let broker {
            let parts = broker.split(separator: ":")
            guard parts.count == 2, let port = Int(parts[1]), (1...65535).contains(port), !parts[0].isEmpty else {
                throw ValidationError("--broker: expected host:port, found '\(broker)'")
            }
            o.host = String(parts[0])
            o.port = port
        } else if config.broker.mode == .external {
            o.host = config.broker.host
            o.port = config.broker.port
        } else if config.broker.port != 0 {
            o.host = EmbeddedBroker.connectHost(for: config.broker.host)
            o.port = config.broker.port
        } else {
            throw HubError.cli("the hub's config (\(config.file)) runs an embedded broker on a port chosen at start: pass --broker 127.0.0.1:PORT (the hub logs it as broker.started broker.port=…)")
        }
        return o
    }
}

extension SimulationPlan {
    /// `background 1 200, incident 9, fleet 40, …` by origin, largest first.
    var countsText: String {
        counts.sorted { ($1.value, $0.key.rawValue) < ($0.value, $1.key.rawValue) }.map { "\($0.key.rawValue) \($0.value)" }.joined(separator: ", ")
    }

    /// What the run will do, before it starts; times in `timeZone` with their offset.
    func describe(file: String, timeZone: TimeZone) -> String {
        let local = LocalTime(timeZone)
        var lines = ["simulate: \(scenario) (\(file)), seed \(seed), speed \(clock.speed == clock.speed.rounded() ? "\(Int(clock.speed))" : "\(clock.speed)")×"]
        if clock.runStart == clock.scenarioStart, clock.speed != 1 {
            lines.append("  scenario time \(local(clock.scenarioStart)) + \(SimDuration.format(clock.duration)) (on the simulated clock: each message is sent when it reads its event time)")
        } else {
            lines.append("  scenario time \(local(clock.scenarioStart)) + \(SimDuration.format(clock.duration)) (ends at the run's end: event times never run ahead of the clock)")
        }
        var plan = "  plan: \(messages.count) messages (\(countsText))"
        let wills = controls.filter { if case .lastWill = $0 { return true }; return false }.count
        let drops = controls.count - wills
        if wills > 0 { plan += ", \(wills) last will\(wills == 1 ? "" : "s")" }
        if drops > 0 { plan += ", \(drops) disconnect\(drops == 1 ? "" : "s")" }
        lines.append(plan)
        if !skippedSteps.isEmpty { lines.append("  skipped (beyond --duration): \(skippedSteps.joined(separator: ", "))") }
        for w in warnings { lines.append("  warning: \(w)") }
        return lines.joined(separator: "\n")
    }
}

/// Whether standard error is a terminal (for the progress line).
var standardErrorIsTerminal: Bool { isatty(STDERR_FILENO) == 1 }
