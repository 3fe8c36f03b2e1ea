import ArgumentParser
import Foundation

/// `patrolhub`: one executable, one subcommand per job (SPEC.md "Command line").
@main
struct PatrolHubCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "patrolhub",
        abstract: "Patrol and video-inspection alert processor for a district governance centre.",
        subcommands: [Serve.self, Status.self, Zones.self, Rules.self, Silences.self, Cases.self, ReportCommand.self, Demo.self, Simulate.self, Drill.self, Tokens.self, Adapters.self, Items.self, DeadLetters.self, StoreCommand.self])

    /// Runs the chosen subcommand. Every failure is one line on standard error,
    /// `Error: …` naming the flag, file or key and what is wrong; a usage error
    /// (a missing or malformed option) points to `--help` instead of printing the
    /// usage text after it. `--help` and `--version` print in full, as usual.
    static func main() async {
        do {
            var command = try await asyncParseAsRoot(nil)
            if var asyncCommand = command as? AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            let code = exitCode(for: error)
            if code == .success { exit(withError: error) }
            fflush(nil) // what the command printed (standard output) comes first, the error last
            if let line = errorLine(for: error) { printErr(line) }
            Foundation.exit(code.rawValue)
        }
    }

    /// The one line a failure prints (nil: nothing to print, as for `ExitCode`).
    static func errorLine(for error: any Error) -> String? {
        let text = message(for: error)
            .split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }.joined(separator: "; ")
        guard !text.isEmpty else { return nil }
        return "Error: " + text + (exitCode(for: error) == .validationFailure ? " (see --help)" : "")
    }
}
