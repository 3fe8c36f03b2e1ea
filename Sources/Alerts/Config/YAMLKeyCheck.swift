import CYaml

/// Refuses, before the YAML is composed, a mapping key that is not a plain
/// value: a sequence, a mapping or an alias. No PatrolHub file has such keys,
/// and composing them is a denial of service: Yams checks every mapping for
/// duplicate keys by hashing each key whole, so a key that is an alias of
/// nested aliases (`a1: &a1 [*a0, *a0, …]` nine levels deep, 521 bytes) is
/// hashed as its 10⁹-element expansion. The check reads libyaml's events in
/// one pass, with no recursion.
enum YAMLKeyCheck {
    /// Where and what the first such key is; nil when there is none (or the text is not YAML:
    /// composing it then reports the syntax error).
    static func firstComplexKey(in yaml: String) -> (line: Int, kind: String)? {
        var parser = yaml_parser_t()
        guard yaml_parser_initialize(&parser) == 1 else { return nil }
        defer { yaml_parser_delete(&parser) }
        // Mappings and sequences open at this point, and whether each mapping expects a key next.
        var open: [(mapping: Bool, expectingKey: Bool)] = []
        return yaml.utf8CString.withUnsafeBufferPointer { buffer -> (line: Int, kind: String)? in
            buffer.withMemoryRebound(to: UInt8.self) { bytes in
                yaml_parser_set_input_string(&parser, bytes.baseAddress, bytes.count - 1)
                var event = yaml_event_t()
                while yaml_parser_parse(&parser, &event) == 1 {
                    defer { yaml_event_delete(&event) }
                    let type = event.type
                    if type == YAML_STREAM_END_EVENT { return nil }
                    let startsNode = type == YAML_SCALAR_EVENT || type == YAML_ALIAS_EVENT
                        || type == YAML_SEQUENCE_START_EVENT || type == YAML_MAPPING_START_EVENT
                    if startsNode, let top = open.last, top.mapping {
                        if top.expectingKey, type != YAML_SCALAR_EVENT {
                            let kind = type == YAML_ALIAS_EVENT ? "an alias (*name)" : type == YAML_SEQUENCE_START_EVENT ? "a list" : "a mapping"
                            return (Int(event.start_mark.line) + 1, kind)
                        }
                        open[open.count - 1].expectingKey.toggle()
                    }
                    switch type {
                    case YAML_SEQUENCE_START_EVENT: open.append((false, false))
                    case YAML_MAPPING_START_EVENT: open.append((true, true))
                    case YAML_SEQUENCE_END_EVENT, YAML_MAPPING_END_EVENT: _ = open.popLast()
                    default: break
                    }
                }
                return nil // a syntax error: left to the composer, which names it
            }
        }
    }
}
