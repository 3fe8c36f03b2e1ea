import Alerts
import ArgumentParser
import Foundation
import Logging

extension PatrolHubCommand {
    struct Drill: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Run a scenario against a running hub and score its expectations.")
        func run() async throws {}
    }
}
