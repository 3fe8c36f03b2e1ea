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

    @Test("control characters (terminal escapes) are refused in names and notes; line breaks and tabs in notes are fine")
    func controlCharactersAreRefused() throws {
        let c = CaseLifecycleTests.aCase(.new)
        let now = CaseLifecycleTests.t0
        #expect { try c.applying(CaseAction(.assign, by: "desk-1", assignee: "\u{1B}[2J\u{1B}[1;31mFAKE\u{1B}[0m"), at: now) } throws: {
            ($0 as? HubError)?.message.contains("'assignee' must not hold control characters") == true
        }
        #expect { try c.applying(CaseAction(.falseAlarm, by: "desk-1", note: "real note\r\u{1B}[Kfake note\u{1B}]0;title\u{07}"), at: now) } throws: {
            ($0 as? HubError)?.message.contains("the note must not hold control characters") == true
        }
        #expect { try c.applying(CaseAction(.falseAlarm, by: "desk\u{0}1", note: "n"), at: now) } throws: {
            ($0 as? HubError)?.message.contains("'by' must not hold control characters") == true
        }
        #expect(try c.applying(CaseAction(.falseAlarm, by: "desk-1", note: "第一行\n第二行\t完"), at: now).1.note == "第一行\n第二行\t完")
    }
}
