import Foundation
import Testing
@testable import PatrolHubBench

/// The grid benchmark (`patrolhub-bench grid`) on a small synthetic city.
@Suite struct GridBenchmarkTests {
    @Test func benchmarkSmallRunAgreesWithBruteForce() {
        let r = GridBenchmark.run(.init(polygonCount: 400, queryCount: 2000, bruteForceQueryCount: 500,
                                        repetitions: 1, measureImport: true))
        #expect(r.polygonCount == 400)
        #expect(r.vertexCount == 400 * 21)
        #expect(r.mismatches == 0)
        #expect(r.importProblems == 0)
        #expect(r.indexLookupsPerSecond > r.bruteForceLookupsPerSecond)
        #expect(r.markdown.contains("| 400 | 8400 |"))
    }
}
