import Alerts
import ArgumentParser
import Foundation
import Logging
import PatrolHubRuntime
import Reports
import Simulation

extension PatrolHubCommand {
    /// `patrolhub drill`: a scenario against a running hub, scored.
    struct Drill: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run a scenario against a running hub and score it against the scenario's expectations.",
            discussion: """
                Publishes the scenario to the hub's broker (as `simulate` does) while polling the hub's HTTP API \
                (cases, slips, risk items), then checks every expectation: matched, missed or not run, with the \
                latency from the trigger's publication to the outcome. Exits 1 when any expectation fails, naming it.
                """)

        @OptionGroup var config: ConfigOptions
        @OptionGroup var scenario: ScenarioOptions
        @OptionGroup var broker: BrokerOptions
        @OptionGroup var log: LogOptions

        @Option(help: "The hub's HTTP API, e.g. http://127.0.0.1:8080.")
        var hub: String

        @Option(help: "A bearer token for the API (default: $PATROLHUB_TOKEN); an operator's, when the scenario sets silences.")
        var token: String?

        @Option(help: "Report format: text, md or html.")
        var format: ReportFormat = .text

        @Option(help: "Write the report to this file instead of standard output.")
        var output: String?

        @Option(parsing: .unconditional, help: "Longest wait (seconds) after the run for outcomes still on their way.") // "-3" is a value to refuse
        var settle: Double = 15

        @Flag(inversion: .prefixedNo, help: "Show a progress line (default: when standard error is a terminal).")
        var progress: Bool?

        enum ReportFormat: String, ExpressibleByArgument, CaseIterable { case text, md, html }

        func run() async throws {
            guard settle >= 0, settle.isFinite else { throw HubError.cli("--settle must be a number of seconds ≥ 0, not \(settle)") }
            let cfg = try config.load()
            log.bootstrap(timeZone: cfg.timezone)
            var logger = Logger(label: "patrolhub.drill")
            logger.logLevel = Logger.Level(rawValue: log.logLevel) ?? .info
            guard let url = URL(string: hub), url.scheme == "http" || url.scheme == "https", url.host != nil else {
                throw ValidationError("--hub: expected the API's URL, e.g. http://127.0.0.1:8080, found '\(hub)'")
            }
            if scenario.simulatedClock != nil {
                throw ValidationError("--simulated-clock: not for drill (its latencies are wall seconds): run `simulate --simulated-clock` and check the hub's store or API")
            }
            let (scn, _, plan) = try scenario.plan(config: cfg)
            printErr(plan.describe(file: scn.file, timeZone: cfg.timezone))
            if let warning = plan.lateWarning(config: cfg, store: nil) { printErr("  warning: \(warning)") }
            let source = HTTPOutcomeSource(base: url, token: token ?? ProcessInfo.processInfo.environment["PATROLHUB_TOKEN"])
            do {
                try await source.checkHealth()
            } catch {
                throw HubError.cli("\(error)")
            }
            var options = SimulatorRunner.Options()
            options.mqtt = try broker.mqttOptions(config: cfg)
            options.accounts = try Dictionary(broker.credentials(config: cfg)?.accounts.map { ($0.username, $0.password) } ?? [], uniquingKeysWith: { a, _ in a })
            options.progress = progress ?? standardErrorIsTerminal
            let drill = DrillRunner(scenario: scn, plan: plan, runner: options, source: source, settle: settle, logger: logger)
            let result: DrillResult
            do {
                result = try await drill.run()
            } catch let e as HubError where e.code == .hubAPI {
                throw HubError.cli(e.description)
            }
            let text: String
            switch format {
            case .text: text = result.text
            case .md: text = result.markdown
            case .html: text = result.html
            }
            if let output {
                try writeTextFile(text, to: output)
                print("drill report written to \(output)")
            } else {
                print(text)
            }
            if !result.passed {
                // The failing expectations once more on standard error, for CI logs.
                for line in result.failureLines { printErr(line) }
                if result.results.isEmpty { printErr("FAILED: the scenario lists no expectation (expect:)") }
                throw ExitCode(1)
            }
        }
    }
}
