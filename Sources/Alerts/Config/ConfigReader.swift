import Foundation
import Yams

/// A configuration error that names the file, the line and the key, so an
/// operator can fix a file without reading code.
public struct ConfigError: Error, Sendable, CustomStringConvertible {
    /// The file the error is in.
    public var file: String
    /// The line in the file, when known.
    public var line: Int?
    /// The key path (`http.listen`, `routes[2].device`) or CSV column; empty for the whole file.
    public var key: String
    /// What is wrong and what is expected.
    public var message: String

    /// An error at `file:line`, on `key`.
    public init(file: String, line: Int?, key: String, message: String) {
        self.file = file
        self.line = line
        self.key = key
        self.message = message
    }

    /// `FILE:LINE: key 'KEY': MESSAGE`, the one line the CLI prints.
    public var description: String {
        let place = line.map { "\(file):\($0)" } ?? file
        return key.isEmpty ? "\(place): \(message)" : "\(place): key '\(key)': \(message)"
    }
}

/// A read-only view of one YAML mapping that records which keys were read,
/// so that `finish()` can refuse unknown keys (a typo must not be ignored
/// silently), and whose errors carry the key path and the line.
public final class ConfigMap {
    /// The file the mapping was read from.
    public let file: String
    /// The mapping's key path in the file (empty for the root), prefixed to error keys.
    public let path: String
    /// The YAML mapping; nil when the key was absent (every read then gives the default).
    package let mapping: Node.Mapping?
    /// Where the mapping starts in the file, for errors on it as a whole.
    package let mark: Mark?
    private var used: Set<String> = []

    /// A view of `mapping` at `path`; `parse(yaml:file:)` and `map(_:)` make them.
    package init(file: String, path: String, mapping: Node.Mapping?, mark: Mark?) {
        self.file = file
        self.path = path
        self.mapping = mapping
        self.mark = mark
    }

    /// Parses YAML text; an empty document is an empty mapping.
    public static func parse(yaml: String, file: String) throws(ConfigError) -> ConfigMap {
        let node: Node?
        do {
            node = try Yams.compose(yaml: yaml)
        } catch let error as YamlError {
            throw ConfigError(file: file, line: Self.line(of: error), key: "", message: "not valid YAML: \(Self.problem(of: error))")
        } catch {
            throw ConfigError(file: file, line: nil, key: "", message: "not valid YAML: \(error)")
        }
        guard let node else { return ConfigMap(file: file, path: "", mapping: nil, mark: nil) }
        guard case .mapping(let m) = node else {
            throw ConfigError(file: file, line: node.mark?.line, key: "", message: "the top level must be a mapping of keys")
        }
        return ConfigMap(file: file, path: "", mapping: m, mark: node.mark)
    }

    /// Reads a file and parses it; a missing file is an error naming it.
    public static func load(file: String) throws(ConfigError) -> ConfigMap {
        guard let data = FileManager.default.contents(atPath: file) else {
            throw ConfigError(file: file, line: nil, key: "", message: "cannot read the file (missing or unreadable)")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw ConfigError(file: file, line: nil, key: "", message: "the file is not UTF-8 text")
        }
        return try parse(yaml: text, file: file)
    }

    private static func line(of error: YamlError) -> Int? {
        switch error {
        case .scanner(_, _, let mark, _), .parser(_, _, let mark, _), .composer(_, _, let mark, _): return mark.line
        default: return nil
        }
    }

    private static func problem(of error: YamlError) -> String {
        switch error {
        case .scanner(_, let problem, _, _), .parser(_, let problem, _, _), .composer(_, let problem, _, _): return problem
        default: return "\(error)"
        }
    }

    func keyPath(_ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

    /// The node for `key`, marking it as known.
    public func node(_ key: String) -> Node? {
        used.insert(key)
        guard let mapping else { return nil }
        for (k, v) in mapping where k.string == key {
            if case .scalar(let s) = v, s.tag.description == Tag.Name.null.rawValue || (s.string.isEmpty && s.style == .plain) || s.string == "~" || s.string == "null" {
                return nil
            }
            return v
        }
        return nil
    }

    /// A config error on `key` of this mapping, at the line of `node` or else of the key.
    public func error(_ key: String, _ message: String, at node: Node? = nil) -> ConfigError {
        ConfigError(file: file, line: (node ?? lineNode(key))?.mark?.line ?? mark?.line, key: keyPath(key), message: message)
    }

    private func lineNode(_ key: String) -> Node? {
        guard let mapping else { return nil }
        for (k, v) in mapping where k.string == key { _ = v; return k }
        return nil
    }

    /// Whether the mapping has `key` (marking it as known).
    public func contains(_ key: String) -> Bool { node(key) != nil }

    /// The text of `key`; nil when absent, an error when not a scalar.
    public func string(_ key: String) throws(ConfigError) -> String? {
        guard let n = node(key) else { return nil }
        guard case .scalar(let s) = n else { throw error(key, "expected a text value", at: n) }
        return s.string
    }

    /// The text of `key`, or `value` when absent.
    public func string(_ key: String, default value: String) throws(ConfigError) -> String {
        try string(key) ?? value
    }

    /// The text of `key`; an error when absent or empty.
    public func requiredString(_ key: String) throws(ConfigError) -> String {
        guard let s = try string(key), !s.isEmpty else { throw error(key, "is required") }
        return s
    }

    /// The whole number of `key`, or `value` when absent; an error when not a number or outside `range`.
    public func int(_ key: String, default value: Int, range: ClosedRange<Int>? = nil) throws(ConfigError) -> Int {
        guard let n = node(key) else { return value }
        guard case .scalar(let s) = n, let v = Int(s.string) else {
            throw error(key, "expected a whole number, found '\(n.string ?? "a \(n.kindName)")'", at: n)
        }
        if let range, !range.contains(v) {
            throw error(key, "must be between \(range.lowerBound) and \(range.upperBound), found \(v)", at: n)
        }
        return v
    }

    /// The finite number of `key`, or `value` when absent; an error when not a number or outside `range`.
    public func double(_ key: String, default value: Double, range: ClosedRange<Double>? = nil) throws(ConfigError) -> Double {
        guard let n = node(key) else { return value }
        guard case .scalar(let s) = n, let v = Double(s.string), v.isFinite else {
            throw error(key, "expected a number, found '\(n.string ?? "a \(n.kindName)")'", at: n)
        }
        if let range, !range.contains(v) {
            throw error(key, "must be between \(range.lowerBound) and \(range.upperBound), found \(v)", at: n)
        }
        return v
    }

    /// `true`/`yes`/`on` or `false`/`no`/`off` of `key`, or `value` when absent.
    public func bool(_ key: String, default value: Bool) throws(ConfigError) -> Bool {
        guard let n = node(key) else { return value }
        guard case .scalar(let s) = n else { throw error(key, "expected true or false", at: n) }
        switch s.string.lowercased() {
        case "true", "yes", "on": return true
        case "false", "no", "off": return false
        default: throw error(key, "expected true or false, found '\(s.string)'", at: n)
        }
    }

    /// A value from a fixed set of words (an enum's raw values).
    public func choice<E: RawRepresentable & CaseIterable>(_ key: String, default value: E) throws(ConfigError) -> E where E.RawValue == String {
        guard let raw = try string(key) else { return value }
        guard let v = E(rawValue: raw) else {
            throw error(key, "must be one of \(E.allCases.map(\.rawValue).joined(separator: ", ")), found '\(raw)'")
        }
        return v
    }

    /// A nested mapping; an absent key gives an empty mapping so defaults apply.
    public func map(_ key: String) throws(ConfigError) -> ConfigMap {
        guard let n = node(key) else { return ConfigMap(file: file, path: keyPath(key), mapping: nil, mark: mark) }
        guard case .mapping(let m) = n else { throw error(key, "expected a mapping of keys", at: n) }
        return ConfigMap(file: file, path: keyPath(key), mapping: m, mark: n.mark)
    }

    /// A list of mappings (e.g. `routes:`), each checked for unknown keys by the caller.
    public func mapList(_ key: String) throws(ConfigError) -> [ConfigMap] {
        guard let n = node(key) else { return [] }
        guard case .sequence(let seq) = n else { throw error(key, "expected a list", at: n) }
        var out: [ConfigMap] = []
        for (i, item) in seq.enumerated() {
            guard case .mapping(let m) = item else { throw error("\(key)[\(i)]", "expected a mapping of keys", at: item) }
            out.append(ConfigMap(file: file, path: keyPath("\(key)[\(i)]"), mapping: m, mark: item.mark))
        }
        return out
    }

    /// A list of text values.
    public func stringList(_ key: String) throws(ConfigError) -> [String]? {
        guard let n = node(key) else { return nil }
        guard case .sequence(let seq) = n else { throw error(key, "expected a list", at: n) }
        var out: [String] = []
        for item in seq {
            guard case .scalar(let s) = item else { throw error(key, "expected a list of text values", at: item) }
            out.append(s.string)
        }
        return out
    }

    /// The keys present in this mapping, in file order.
    public var keys: [String] { mapping?.compactMap { $0.key.string } ?? [] }

    /// Refuses keys that no reader asked for.
    public func finish() throws(ConfigError) {
        guard let mapping else { return }
        for (k, _) in mapping {
            let name = k.string ?? "?"
            if !used.contains(name) {
                throw ConfigError(file: file, line: k.mark?.line, key: keyPath(name), message: "unknown key (check its spelling and place)")
            }
        }
    }
}

extension Node {
    var kindName: String {
        switch self {
        case .scalar: return "text value"
        case .mapping: return "mapping"
        case .sequence: return "list"
        case .alias: return "alias"
        }
    }
}
