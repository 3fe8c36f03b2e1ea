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

    @Test("ordinals are 0 ..< allCases.count in order and fit a 64-bit mask, one bit each")
    func ordinalsAndBits() {
        let all = Category.allCases
        #expect(all.count < 64)
        #expect(all.map(\.ordinal) == Array(0..<all.count))
        #expect(all.reduce(UInt64(0)) { $0 | $1.bit } == (UInt64(1) << UInt64(all.count)) - 1)
    }

    @Test("CaseRules' masks answer as its sets do, for every pair, after each set is changed")
    func caseRuleMasksFollowTheSets() {
        func check(_ r: CaseRules) {
            for a in Category.allCases {
                #expect(r.involves(a) == (r.disputeCategories.contains(a) || a == .sos || r.groups.values.contains { $0.contains(a) }), "involves \(a)")
                for s in Severity.allCases {
                    #expect(r.opensBySeverity(a, s) == (s.rawValue <= r.openAtSeverity && !r.neverOpenBySeverity.contains(a)))
                }
                for b in Category.allCases {
                    #expect(r.related(a, b) == (a == b || r.groups.values.contains { $0.contains(a) && $0.contains(b) }), "related \(a) \(b)")
                }
            }
        }
        var r = CaseRules()
        check(r)
        r.groups = ["g": [.garbage, .motion], "h": [.motion, .banner]]
        check(r)
        #expect(r.related(.garbage, .motion) && !r.related(.garbage, .banner) && r.related(.banner, .motion))
        r.disputeCategories = [.other]
        r.neverOpenBySeverity = [.fight]
        check(r)
        #expect(r.involves(.other) && !r.involves(.dispute) && !r.opensBySeverity(.fight, .critical))
        r.groups["x", default: []].insert(.tripwire) // changed in place, not assigned
        r.disputeCategories.insert(.dispute)
        check(r)
        #expect(r.involves(.tripwire) && r.involves(.dispute))
        r.groups = [:]
        check(r)
        #expect(!r.involves(.garbage) && r.involves(.sos) && !r.related(.garbage, .motion))
    }
}
