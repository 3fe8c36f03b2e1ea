import Foundation

/// NUL characters (U+0000) in the texts a payload gives the hub.
///
/// PostgreSQL's `text` refuses them (SQLSTATE 22021) where SQLite stores them,
/// so the decode stage settles them before anything reaches a store, alike for
/// both stores:
/// - trailing NULs, the padding of a C string's fixed-size buffer
///   (`"cam01\u0000\u0000"`), are dropped;
/// - a NUL anywhere else in a text the hub keeps or reads makes the message a dead
///   letter: `invalid_value`, "field 'X' holds a NUL character".
///
/// The readers apply it (`PayloadFields` for JSON, `XMLElementTree.value` for
/// GB/T 28181, the ONVIF `SimpleItem`s, Frigate's `sub_label`), so a padded id
/// is resolved without its padding; `DecodeStage` then refuses any event or
/// unmapped input that still carries one, whatever adapter made it.
///
/// The MQTT topic never holds one: MQTT forbids U+0000 in topic names
/// (3.1.1 §1.5.3, 5.0 §1.5.4), mosquitto and libmosquitto refuse such a
/// packet as malformed UTF-8 (`mosquitto_validate_utf8`), and the client reads
/// the topic as a C string (`MQTTClient.received`), so ids taken from a topic
/// need no check.
public enum DecodeText {
    /// Whether `text` holds a NUL character anywhere.
    /// One `memchr` over the UTF-8 buffer: `utf8.contains(0)` walks it byte by byte through indices,
    /// and every string of every event is checked.
    @inline(__always)
    public static func containsNUL(_ text: String) -> Bool {
        if let found = text.utf8.withContiguousStorageIfAvailable({ $0.isEmpty ? false : memchr($0.baseAddress!, 0, $0.count) != nil }) {
            return found
        }
        return text.utf8.contains(0)
    }

    /// `text` without its trailing NUL characters (unchanged when it has none).
    public static func withoutNULPadding(_ text: String) -> String {
        guard text.utf8.last == 0 else { return text }
        let u = text.utf8
        var end = u.endIndex
        while end > u.startIndex, u[u.index(before: end)] == 0 { end = u.index(before: end) }
        return String(u[u.startIndex..<end]) ?? text
    }

    /// `text` without its trailing NULs; throws `invalid_value` naming `field`
    /// when a NUL is left (one inside the text, or before other text).
    public static func checked(_ text: String, field: String) throws(HubError) -> String {
        guard containsNUL(text) else { return text }
        let stripped = withoutNULPadding(text)
        guard !containsNUL(stripped) else { throw nulError(field: field) }
        return stripped
    }

    /// The dead letter of a text that holds a NUL character: `invalid_value`, naming the field.
    public static func nulError(field: String) -> HubError {
        HubError.decode(.invalidValue, "field '\(field)' holds a NUL character")
    }

    /// `text` with each NUL written as the six characters `\u0000`: for what quotes
    /// a payload's value into a stored text (a dead letter's detail, its source).
    public static func printable(_ text: String) -> String {
        guard containsNUL(text) else { return text }
        var out = ""
        out.reserveCapacity(text.utf8.count + 8)
        for scalar in text.unicodeScalars {
            if scalar == "\u{0}" { out += "\\u0000" } else { out.unicodeScalars.append(scalar) }
        }
        return out
    }
}
