import Alerts
import Foundation

/// The hub's simulated clock, written to `{data_dir}/simulated-clock.json` at
/// start: `patrolhub simulate --simulated-clock` with the same START@SPEED reads
/// the anchor from it, so the simulator stamps and sends on the hub's own time
/// axis; a hub restarted with the same value continues the clock where it
/// would be had it kept running, rather than going back to START.
enum SimulatedClockFile {
    static func path(dataDir: String) -> String { (dataDir as NSString).appendingPathComponent("simulated-clock.json") }

    /// The simulation recorded in `dataDir`, nil when none (or unreadable).
    static func read(dataDir: String) -> HubClock.Simulation? {
        guard let data = FileManager.default.contents(atPath: path(dataDir: dataDir)),
              let o = try? JSONParser.parse([UInt8](data)),
              let start = o["start_unix"]?.doubleValue, let speed = o["speed"]?.doubleValue, let anchor = o["anchor_unix"]?.doubleValue
        else { return nil }
        return HubClock.Simulation(start: Date(timeIntervalSince1970: start), speed: speed, anchor: Date(timeIntervalSince1970: anchor))
    }

    /// The simulation recorded in `dataDir` when it has this start and speed.
    static func matching(start: Date, speed: Double, dataDir: String) -> HubClock.Simulation? {
        guard let s = read(dataDir: dataDir), s.start == start, s.speed == speed else { return nil }
        return s
    }

    /// The hub's simulation: the recorded one when it has the same start and
    /// speed (`continued`), else a new one anchored now and recorded.
    static func forHub(start: Date, speed: Double, dataDir: String, now: Date = Date()) throws -> (simulation: HubClock.Simulation, continued: Bool) {
        if let s = matching(start: start, speed: speed, dataDir: dataDir) { return (s, true) }
        let s = HubClock.Simulation(start: start, speed: speed, anchor: now)
        // Sorted keys; each number written in its shortest form that reads back exactly.
        let object: JSONValue = .object(["start": .string(start.rfc3339), "start_unix": .number(start.timeIntervalSince1970), "speed": .number(speed),
                                         "anchor_unix": .number(now.timeIntervalSince1970), "anchor": .string(now.rfc3339)])
        let data = Data(object.serialized.utf8)
        let file = path(dataDir: dataDir)
        do {
            try data.write(to: URL(fileURLWithPath: file), options: .atomic)
        } catch {
            throw HubError.cli("cannot write \(file): \(error.localizedDescription)")
        }
        return (s, false)
    }
}
