import ArgumentParser

/// `patrolhub`: one executable, one subcommand per job (SPEC.md "Command line").
@main
struct PatrolHubCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "patrolhub",
        abstract: "Patrol and video-inspection alert processor for a district governance centre.",
        subcommands: [Serve.self, Status.self, Zones.self, Rules.self, Silences.self, Cases.self, ReportCommand.self, Demo.self, Simulate.self, Drill.self, Bench.self, Tokens.self, Adapters.self, Items.self, DeadLetters.self, StoreCommand.self])
}
