import Foundation
import Testing
@testable import Alerts

/// An action's note is copied into the history, the audit log and the published case: it is bounded.
@Suite("Case action string limits")
struct CaseNoteLimitTests {
    @Test func notesAndNamesAreBounded() throws {
        let c = CaseLifecycleTests.aCase(.new)
        let now = CaseLifecycleTests.t0
        let longest = String(repeating: "纠", count: CaseAction.maxNoteLength)
        #expect(try c.applying(CaseAction(.falseAlarm, by: "desk-1", note: longest), at: now).1.note == longest, "the limit itself is fine")
        #expect { try c.applying(CaseAction(.falseAlarm, by: "desk-1", note: longest + "!"), at: now) } throws: {
            ($0 as? HubError)?.message.contains("the note holds 2001 characters, at most 2000") == true
        }
        // One grapheme cluster of many combining marks is as long as its scalars, not one character.
        let stacked = "e" + String(repeating: "\u{0301}", count: 5000)
        #expect { try c.applying(CaseAction(.falseAlarm, by: "desk-1", note: stacked), at: now) } throws: {
            ($0 as? HubError)?.message.contains("the note holds 5001 characters") == true
        }
        #expect { try c.applying(CaseAction(.falseAlarm, by: "x" + String(repeating: "\u{0301}", count: 300), note: "n"), at: now) } throws: {
            ($0 as? HubError)?.message.contains("'by' holds 301 characters") == true
        }
        #expect { try c.applying(CaseAction(.assign, by: "desk-1", assignee: String(repeating: "a", count: 201)), at: now) } throws: {
            ($0 as? HubError)?.message.contains("'assignee' holds 201 characters, at most 200") == true
        }
        #expect { try c.applying(CaseAction(.acknowledge, by: String(repeating: "b", count: 201)), at: now) } throws: {
            ($0 as? HubError)?.message.contains("'by' holds 201 characters") == true
        }
    }
}
