import Alerts
import ArgumentParser
import Foundation
import Logging

/// Options every command that reads the hub's config shares.
struct ConfigOptions: ParsableArguments {
    @Option(name: .long, help: "The hub's config file.")
    var config: String = "config/patrolhub.yaml"

    /// Loads and validates the config, or exits non-zero naming the file, line and key.
    func load() throws -> HubConfig {
        do {
            return try HubConfig.load(file: config)
        } catch {
            throw CLIError("invalid config: \(error)")
        }
    }
}

struct LogOptions: ParsableArguments {
    @Option(name: .long, help: "trace, debug, info, notice, warning, error or critical.")
    var logLevel: String = "info"

    func bootstrap() {
        let level = Logger.Level(rawValue: logLevel) ?? .info
        LoggingSystem.bootstrap { label in
            var h = StreamLogHandler.standardError(label: label)
            h.logLevel = level
            return h
        }
    }
}

/// Prints to standard error (messages for the operator, not for pipes).
func printErr(_ text: String) {
    FileHandle.standardError.write(Data((text + "\n").utf8))
}

/// A failure the command reports as one line (no usage text) and exit status 1.
struct CLIError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

extension String {
    /// The text with control characters (C0, DEL, C1: ESC sequences, carriage returns,
    /// newlines) shown as `\u{…}`, for printing text that came from the network (a
    /// Frigate label, an ONVIF topic) on a terminal: it cannot move the cursor, recolour
    /// the screen or forge a line of the listing.
    var terminalSafe: String {
        guard unicodeScalars.contains(where: Self.isControl) else { return self }
        var out = ""
        for u in unicodeScalars {
            if Self.isControl(u) { out += "\\u{" + String(u.value, radix: 16) + "}" } else { out.unicodeScalars.append(u) }
        }
        return out
    }

    private static func isControl(_ u: Unicode.Scalar) -> Bool { u.value < 0x20 || (0x7F...0x9F).contains(u.value) }
}
