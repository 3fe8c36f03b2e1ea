import Foundation
import Testing

/// `make mutants` plants each bug at an exact anchor in a named file; a refactor that moves or
/// rewrites that code must move the mutant with it, or the mutation run breaks weeks later.
@Suite("Mutant anchors")
struct MutantAnchorsTests {
    @Test("every mutant of scripts/mutants/mutants.py still applies to today's sources")
    func everyMutantApplies() throws {
        let script = packageRoot.appendingPathComponent("scripts/mutants/mutants.py").path
        let run = try runProcess("/usr/bin/env", ["python3", script, "--check"], timeout: 60)
        #expect(run.status == 0, "\(run.output)")
        #expect(run.output.contains("mutants apply to"), "\(run.output)")
    }
}
