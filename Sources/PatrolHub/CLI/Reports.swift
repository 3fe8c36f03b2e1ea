import Alerts
import ArgumentParser
import Foundation
import Reports

extension ReportFormat: ExpressibleByArgument {}

extension PatrolHubCommand {
    /// `patrolhub report daily|weekly|monthly --date YYYY-MM-DD [--format md|csv|html]`.
    struct ReportCommand: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "report",
            abstract: "The supervision reports: daily patrol (日巡查), weekly analysis (周分析), monthly evaluation (月评比).",
            discussion: ReportCatalog.builders.map { "\($0.kind): \($0.abstract)" }.joined(separator: "\n"))

        @Argument(help: "daily, weekly or monthly.")
        var kind: String

        @Option(help: "A day of the period, YYYY-MM-DD, in the configured timezone (default: today).")
        var date: String?

        @Option(help: "md (Markdown), csv (one block per table) or html (a page with SVG charts).")
        var format: ReportFormat = .md

        @OptionGroup var config: ConfigOptions

        @Option(help: "A store file to read instead of the config's store.path.")
        var store: String?

        @Option(name: [.short, .long], help: "Write to this file instead of standard output.")
        var output: String?

        func run() throws {
            guard ReportCatalog.kinds.contains(kind) else { throw HubError.cli("unknown report '\(kind)' (one of: \(ReportCatalog.kinds.joined(separator: ", ")))") }
            guard ReportCatalog.builder(kind) != nil else { throw HubError.cli(HubError.reportUnavailable(kind).description) }
            // With --store the config is optional (its timezone is used when the file is there).
            let cfg = store != nil && !FileManager.default.fileExists(atPath: config.config) ? HubConfig() : try config.load()
            let context = ReportContext(timeZone: cfg.timezone, now: Date())
            // The SQLite file (--store or store.path), or with store.kind: postgres the PostgreSQL store, as the API reads it.
            let (report, day) = try withDispatchStore(cfg, override: store, whereFrom: "store.path in \(cfg.file)") { opened in
                let day: LocalDay
                if let date {
                    guard let d = LocalDay(date) else { throw HubError.cli("--date must be a day YYYY-MM-DD, not '\(date)'") }
                    day = d
                } else {
                    var cal = Calendar(identifier: .gregorian)
                    cal.timeZone = cfg.timezone
                    let c = cal.dateComponents([.year, .month, .day], from: context.now)
                    day = LocalDay(year: c.year!, month: c.month!, day: c.day!)
                }
                return (try ReportCatalog.build(kind, date: day, context: context, store: opened), day)
            }
            let text = ReportRenderer.render(report, as: format)
            if let output {
                try writeTextFile(text, to: output)
                printErr("\(kind) report for \(day) written to \(output)")
            } else {
                print(text, terminator: "")
            }
        }
    }
}
