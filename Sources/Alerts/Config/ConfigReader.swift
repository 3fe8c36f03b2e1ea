import Foundation
import Yams

extension HubError.Code {
    /// A configuration file (config, registry, zones' settings, scenario) is wrong; the context names file, line and key.
    public static let config = Self("config")
}

extension HubError {
    /// A configuration error that names the file, the line and the key, so an
    /// operator can fix a file without reading code:
    /// `"hub.yaml:12: key 'mqtt.port': must be 1…65535"` (`file: message`
    /// without a line, no key part for an empty key).
    public static func config(file: String, line: Int?, key: String, message: String,
                              fileID: StaticString = #fileID, sourceLine: UInt = #line) -> HubError {
        let place = line.map { "\(file):\($0)" } ?? file
        return HubError(.config, message, context: Context(file: file, line: line, key: key),
                        description: key.isEmpty ? "\(place): \(message)" : "\(place): key '\(key)': \(message)",
                        fileID: fileID, line: sourceLine)
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
    public static func parse(yaml: String, file: String) throws(HubError) -> ConfigMap {
        if let key = YAMLKeyCheck.firstComplexKey(in: yaml) {
            throw HubError.config(file: file, line: key.line, key: "",
                                  message: "not valid here: a key is \(key.kind); keys are plain names")
        }
        let node: Node?
        do {
            node = try Yams.compose(yaml: yaml)
        } catch let YamlError.duplicatedKeysInMapping(duplicates, context) {
            // Yams's own description of this error quotes the whole file, `broker.password` included:
            // the error names the keys and the line of the first one instead.
            let keys = duplicates.map { String($0.prefix(100)) }
            if keys.count == 1 {
                throw HubError.config(file: file, line: context.mark.line, key: keys[0], message: "not valid YAML: the key appears more than once in the same mapping (keep one)")
            }
            throw HubError.config(file: file, line: context.mark.line, key: "",
                                  message: "not valid YAML: the keys \(keys.map { "'\($0)'" }.joined(separator: ", ")) appear more than once in the same mapping (keep one of each)")
        } catch let error as YamlError {
            throw HubError.config(file: file, line: Self.line(of: error), key: "", message: "not valid YAML: \(Self.problem(of: error))")
        } catch {
            throw HubError.config(file: file, line: nil, key: "", message: "not valid YAML: \(error)")
        }
        guard let node else { return ConfigMap(file: file, path: "", mapping: nil, mark: nil) }
        guard case .mapping(let m) = node else {
            throw HubError.config(file: file, line: node.mark?.line, key: "", message: "the top level must be a mapping of keys")
        }
        return ConfigMap(file: file, path: "", mapping: m, mark: node.mark)
    }

    /// Reads a file and parses it; a missing file is an error naming it.
    public static func load(file: String) throws(HubError) -> ConfigMap {
        guard let data = FileManager.default.contents(atPath: file) else {
            throw HubError.config(file: file, line: nil, key: "", message: "cannot read the file (missing or unreadable)")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw HubError.config(file: file, line: nil, key: "", message: "the file is not UTF-8 text")
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
        // Not the error's description: it quotes the offending line, which may be a password's.
        case .reader(let problem, _, _, _): return problem
        default: return "\(error)"
        }
    }

    func keyPath(_ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

    /// The node for `key`, marking it as known.
    public func node(_ key: String) -> Node? {
        used.insert(key)
        guard let mapping else { return nil }
        for (k, v) in mapping where k.string == key {
            // A null as YAML writes one: plain `null`, `Null`, `NULL`, `~` or nothing. A quoted "null" is text.
            if case .scalar(let s) = v, s.tag.description == Tag.Name.null.rawValue
                || (s.style == .plain && ["", "~", "null", "Null", "NULL"].contains(s.string)) {
                return nil
            }
            return v
        }
        return nil
    }

    /// The config error for `key`, at the line of `node` (or of the key itself) when known.
    public func error(_ key: String, _ message: String, at node: Node? = nil) -> HubError {
        HubError.config(file: file, line: (node ?? lineNode(key))?.mark?.line ?? mark?.line, key: keyPath(key), message: message)
    }

    /// The line of `key` in the file, nil when absent.
    public func line(_ key: String) -> Int? { lineNode(key)?.mark?.line }

    private func lineNode(_ key: String) -> Node? {
        guard let mapping else { return nil }
        for (k, v) in mapping where k.string == key { _ = v; return k }
        return nil
    }

    /// Whether the mapping has `key` (marking it as known).
    public func contains(_ key: String) -> Bool { node(key) != nil }

    /// The text value of `key`; nil when absent, an error when not a scalar.
    public func string(_ key: String) throws(HubError) -> String? {
        guard let n = node(key) else { return nil }
        guard case .scalar(let s) = n else { throw error(key, "expected a text value", at: n) }
        return s.string
    }

    /// The text value of `key`, or `value` when absent.
    public func string(_ key: String, default value: String) throws(HubError) -> String {
        try string(key) ?? value
    }

    /// The text value of `key`, which must be present and non-empty.
    public func requiredString(_ key: String) throws(HubError) -> String {
        guard let s = try string(key), !s.isEmpty else { throw error(key, "is required") }
        return s
    }

    /// The whole number at `key`, or `value` when absent; checked against `range` when given.
    public func int(_ key: String, default value: Int, range: ClosedRange<Int>? = nil) throws(HubError) -> Int {
        guard let n = node(key) else { return value }
        guard case .scalar(let s) = n, let v = Int(s.string) else {
            throw error(key, "expected a whole number, found '\(n.string ?? "a \(n.kindName)")'", at: n)
        }
        if let range, !range.contains(v) {
            throw error(key, "must be between \(range.lowerBound) and \(range.upperBound), found \(v)", at: n)
        }
        return v
    }

    /// The finite number at `key`, or `value` when absent; checked against `range` when given.
    public func double(_ key: String, default value: Double, range: ClosedRange<Double>? = nil) throws(HubError) -> Double {
        guard let n = node(key) else { return value }
        guard case .scalar(let s) = n, let v = Double(s.string), v.isFinite else {
            throw error(key, "expected a number, found '\(n.string ?? "a \(n.kindName)")'", at: n)
        }
        if let range, !range.contains(v) {
            throw error(key, "must be between \(range.lowerBound) and \(range.upperBound), found \(v)", at: n)
        }
        return v
    }

    /// The flag at `key` (true/yes/on or false/no/off), or `value` when absent.
    public func bool(_ key: String, default value: Bool) throws(HubError) -> Bool {
        guard let n = node(key) else { return value }
        guard case .scalar(let s) = n else { throw error(key, "expected true or false", at: n) }
        switch s.string.lowercased() {
        case "true", "yes", "on": return true
        case "false", "no", "off": return false
        default: throw error(key, "expected true or false, found '\(s.string)'", at: n)
        }
    }

    /// A value from a fixed set of words (an enum's raw values).
    public func choice<E: RawRepresentable & CaseIterable>(_ key: String, default value: E) throws(HubError) -> E where E.RawValue == String {
        guard let raw = try string(key) else { return value }
        guard let v = E(rawValue: raw) else {
            throw error(key, "must be one of \(E.allCases.map(\.rawValue).joined(separator: ", ")), found '\(raw)'")
        }
        return v
    }

    /// A nested mapping; an absent key gives an empty mapping so defaults apply.
    public func map(_ key: String) throws(HubError) -> ConfigMap {
        guard let n = node(key) else { return ConfigMap(file: file, path: keyPath(key), mapping: nil, mark: mark) }
        guard case .mapping(let m) = n else { throw error(key, "expected a mapping of keys", at: n) }
        return ConfigMap(file: file, path: keyPath(key), mapping: m, mark: n.mark)
    }

    /// A list of mappings (e.g. `routes:`), each checked for unknown keys by the caller.
    public func mapList(_ key: String) throws(HubError) -> [ConfigMap] {
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
    public func stringList(_ key: String) throws(HubError) -> [String]? {
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
    public func finish() throws(HubError) {
        guard let mapping else { return }
        for (k, _) in mapping {
            let name = k.string ?? "?"
            if !used.contains(name) {
                throw HubError.config(file: file, line: k.mark?.line, key: keyPath(name), message: "unknown key (check its spelling and place)")
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
