import Alerts
import AlertsStore
import ArgumentParser
import Foundation

extension PatrolHubCommand {
    struct Adapters: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "What the adapters saw of foreign inputs.",
            subcommands: [Unmapped.self])

        struct Unmapped: ParsableCommand {
            static let configuration = CommandConfiguration(
                abstract: "ONVIF topics, Frigate labels and onvif2mqtt events seen but mapped by no rule, with counts and the config line that maps each.")

            @OptionGroup var store: Cases.StoreOptions

            @Flag(help: "Print one JSON object {\"unmapped\": [{format, name, count, first_seen, last_seen, example_device, overflow, config}]}.")
            var json = false

            func run() throws {
                let (opened, cfg) = try store.open()
                let rows = try opened.unmappedInputs()
                let local = LocalTime(cfg.timezone)
                if json {
                    print(JSONValue.object(["unmapped": .array(rows.map(\.json))]).serialized)
                    return
                }
                guard !rows.isEmpty else {
                    print("no unmapped inputs: every ONVIF topic, Frigate label and onvif2mqtt event seen is mapped by a rule")
                    return
                }
                print("format      count  last seen                   example device        name")
                for r in rows {
                    // Names and devices come from the network: printed with their control characters escaped.
                    let device = r.device.count > 20 ? String(r.device.prefix(19)) + "…" : r.device
                    print("\(pad(r.format, 10))  \(pad(String(r.count), 5, left: true))  \(pad(local(r.lastSeen), 26))  \(pad(device.terminalSafe, 20))  \(r.displayName.terminalSafe)")
                    if let hint = r.configHint {
                        print("    map it in rules.yaml: \(hint.terminalSafe)")
                    } else if r.isOverflow {
                        print("    names seen after the first \(UnmappedInputs.maxNames) of this format, counted together")
                    } else if r.format == "onvif2mqtt" {
                        print("    onvif2mqtt events other than motion are not read")
                    }
                }
                let categories = Alerts.Category.allCases.filter { $0.family == .cameraAnalytics || $0.family == .cameraHealth }
                print("CATEGORY: a camera category (\(categories.map(\.rawValue).joined(separator: ", "))); for ONVIF also a camera status (\(CameraStatus.allCases.filter { $0 != .online }.map(\.rawValue).joined(separator: ", ")))")
            }

            private func pad(_ s: String, _ width: Int, left: Bool = false) -> String {
                HubFormat.spacePadded(s, width: width, alignment: left ? .right : .left)
            }
        }
    }
}
