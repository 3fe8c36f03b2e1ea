import Testing
@testable import Alerts

/// `Category` hashes its one-byte case tag instead of its raw text.
@Suite("Category")
struct CategoryTests {
    @Test("a category is stored in one byte, so its hash reads its case; every case hashes and compares as itself")
    func hashIsTheCase() {
        #expect(MemoryLayout<Category>.size == 1)
        let all = Category.allCases
        #expect(Set(all).count == all.count, "distinct cases stay distinct in a set")
        var byCategory: [Category: String] = [:]
        for c in all { byCategory[c] = c.rawValue }
        for c in all {
            #expect(byCategory[c] == c.rawValue)
            #expect(Category(rawValue: c.rawValue).map { $0.hashValue == c.hashValue } == true)
        }
        // The tags are the cases' order of declaration, one per case.
        #expect(Set(all.map { unsafeBitCast($0, to: UInt8.self) }) == Set((0..<UInt8(all.count)).map { $0 }))
    }
}
