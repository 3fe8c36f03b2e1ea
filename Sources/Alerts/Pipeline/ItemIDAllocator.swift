/// Hands out risk item ids (`RI-00000001`, …) from a counter the caller owns:
/// a value, so a stage that raises items takes it `inout` and the caller keeps
/// what was handed out only when the batch or tick commits.
public struct ItemIDAllocator: Sendable, Hashable {
    /// The seq of the next id.
    public var next: Int

    /// An allocator whose first id has seq `next` (the store's highest item seq + 1).
    public init(next: Int = 1) {
        self.next = next
    }

    /// The next id.
    public mutating func allocate() -> String {
        defer { next += 1 }
        return RiskEngine.itemID(next)
    }
}
