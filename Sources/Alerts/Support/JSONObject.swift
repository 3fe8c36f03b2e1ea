/// A JSON object's members, kept as a flat list in payload order.
///
/// Payload objects are small (a device event has about eight keys, a Frigate
/// `after` about fifteen) and each is read a handful of times: comparing short
/// keys in a list costs less than hashing every key into a dictionary, which
/// was the largest single cost of decoding. Equality and hashing ignore the
/// order, as a dictionary's would; a repeated key keeps its last value (the
/// parser removes the earlier one).
public struct JSONObject: Sendable, Hashable, ExpressibleByDictionaryLiteral, Sequence {
    /// One member: its key and value.
    public typealias Element = (key: String, value: JSONValue)

    /// The members in payload (or insertion) order, keys distinct.
    public private(set) var members: [Element]

    /// An empty object.
    public init() { members = [] }

    /// An object from a literal; a repeated key keeps its last value.
    public init(dictionaryLiteral elements: (String, JSONValue)...) {
        self.init()
        for (k, v) in elements { self[k] = v }
    }

    /// An object from a dictionary (members in the dictionary's order).
    public init(_ dictionary: [String: JSONValue]) {
        members = dictionary.map { (key: $0.key, value: $0.value) }
    }

    /// Members known to have distinct keys (the parser checks).
    init(unique members: [Element]) { self.members = members }

    /// Number of members.
    public var count: Int { members.count }
    /// Whether the object has no member.
    public var isEmpty: Bool { members.isEmpty }
    /// The keys in member order.
    public var keys: [String] { members.map(\.key) }
    /// Iterates the members in order.
    public func makeIterator() -> IndexingIterator<[Element]> { members.makeIterator() }

    /// The value of `key`; setting nil removes the member, setting a new key appends it.
    public subscript(key: String) -> JSONValue? {
        get {
            for m in members where m.key == key { return m.value }
            return nil
        }
        set {
            if let i = members.firstIndex(where: { $0.key == key }) {
                if let newValue { members[i].value = newValue } else { members.remove(at: i) }
            } else if let newValue {
                members.append((key, newValue))
            }
        }
    }

    /// The same keys in the same order, each value transformed.
    public func mapValues(_ transform: (JSONValue) throws -> JSONValue) rethrows -> JSONObject {
        JSONObject(unique: try members.map { (key: $0.key, value: try transform($0.value)) })
    }

    /// Equal when both have the same keys with equal values, in any order.
    public static func == (a: JSONObject, b: JSONObject) -> Bool {
        guard a.count == b.count else { return false }
        return a.members.allSatisfy { m in b[m.key] == m.value }
    }

    /// An order-independent hash, consistent with `==`.
    public func hash(into hasher: inout Hasher) {
        // Order-independent, as `Dictionary`'s: the members' own hashes, combined commutatively.
        var combined = 0
        for m in members {
            var h = Hasher()
            h.combine(m.key)
            h.combine(m.value)
            combined ^= h.finalize()
        }
        hasher.combine(count)
        hasher.combine(combined)
    }

    /// Drops all but the last of each repeated key, keeping the order of the last ones.
    static func lastWins(_ members: [Element]) -> [Element] {
        if members.count <= 16 {
            var repeated = false
            for i in members.indices.dropFirst() where !repeated {
                let key = members[i].key
                for j in 0..<i where members[j].key == key { repeated = true; break }
            }
            if !repeated { return members }
            var out: [Element] = []
            out.reserveCapacity(members.count)
            for m in members {
                if let i = out.firstIndex(where: { $0.key == m.key }) { out.remove(at: i) }
                out.append(m)
            }
            return out
        }
        var last: [String: Int] = [:]
        for (i, m) in members.enumerated() { last[m.key] = i }
        return members.enumerated().filter { last[$0.element.key] == $0.offset }.map(\.element)
    }
}
