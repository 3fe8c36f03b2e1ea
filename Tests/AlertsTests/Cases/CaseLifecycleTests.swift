import Foundation
import Testing
@testable import Alerts

/// The case lifecycle as a plain value: every (state, action) pair.
@Suite("Case lifecycle")
struct CaseLifecycleTests {
    static let t0 = Date(timeIntervalSince1970: 1_746_064_800) // 2025-05-01T02:00:00Z

    static func aCase(_ state: Case.State = .new, assignee: String? = nil) -> Case {
        Case(id: "AJ-00000007", rule: .patrolReport, zone: "540102-001-002-02", category: .dispute, severity: .major, state: state,
             unit: "八廓街道综治中心", assignee: assignee, openedAt: t0, dueAt: t0.addingTimeInterval(30 * 86_400),
             explanation: "网格员上报矛盾纠纷", riskItemIDs: [], sources: ["dev-005"], categories: [.dispute])
    }

    /// The legal table, written out independently of `CaseLifecycle` (README "Case lifecycle").
    static let legal: [Case.State: [CaseActionKind: Case.State]] = [
        .new: [.acknowledge: .acknowledged, .assign: .assigned, .falseAlarm: .falseAlarm],
        .acknowledged: [.assign: .assigned, .hold: .onHold, .falseAlarm: .falseAlarm],
        .assigned: [.assign: .assigned, .start: .inProgress, .hold: .onHold, .falseAlarm: .falseAlarm],
        .inProgress: [.assign: .assigned, .hold: .onHold, .resolve: .resolved, .falseAlarm: .falseAlarm],
        .onHold: [.assign: .assigned, .start: .inProgress, .falseAlarm: .falseAlarm],
        .reopened: [.acknowledge: .acknowledged, .assign: .assigned, .start: .inProgress, .hold: .onHold, .falseAlarm: .falseAlarm],
        .resolved: [.close: .closed, .reopen: .reopened],
        .closed: [.reopen: .reopened],
        .falseAlarm: [.reopen: .reopened],
    ]

    /// An action with every field its kind needs.
    static func complete(_ kind: CaseActionKind) -> CaseAction {
        switch kind {
        case .assign: return CaseAction(.assign, by: "值班员甲", assignee: "gw-005")
        case .resolve: return CaseAction(.resolve, by: "gw-005", note: "双方签订调解协议", outcome: .mediatedAgreement, amountCNY: 12_000, satisfaction: .satisfied)
        case .close, .falseAlarm, .reopen: return CaseAction(kind, by: "值班员甲", note: "理由")
        default: return CaseAction(kind, by: "值班员甲")
        }
    }

    static let allPairs: [(Case.State, CaseActionKind)] = Case.State.allCases.flatMap { s in CaseActionKind.allCases.map { (s, $0) } }

    @Test(arguments: allPairs)
    func everyStateAndAction(state: Case.State, action: CaseActionKind) throws {
        // `start` needs an assignee: give every case one, so only the table decides.
        let c = Self.aCase(state, assignee: "gw-005")
        let now = Self.t0.addingTimeInterval(3600)
        if let expected = Self.legal[state]?[action] {
            #expect(CaseLifecycle.next(from: state, action) == expected)
            let (next, t) = try c.applying(Self.complete(action), at: now)
            #expect(next.state == expected)
            #expect(next.lastActionAt == now)
            #expect(next.updatedAt == now)
            #expect(t == CaseTransition(caseID: c.id, at: now, actor: Self.complete(action).by, action: action, from: state, to: expected,
                                        note: Self.complete(action).note, detail: Self.complete(action).detail))
        } else {
            #expect(CaseLifecycle.next(from: state, action) == nil)
            let allowed = CaseActionKind.allCases.filter { Self.legal[state]?[$0] != nil }.map(\.rawValue).joined(separator: ", ")
            #expect(throws: HubError.caseAction(.illegalTransition,
                "case AJ-00000007 is \(state.rawValue): '\(action.rawValue)' is not allowed from \(state.rawValue) (allowed: \(allowed))")) {
                try c.applying(Self.complete(action), at: now)
            }
        }
    }

    @Test func theTableHasNoDeadEndsAndEveryStateIsReachable() {
        #expect(Self.legal.values.map(\.count).reduce(0, +) == 26)
        var reached: Set<Case.State> = [.new]
        var frontier: [Case.State] = [.new]
        while let s = frontier.popLast() {
            for a in CaseLifecycle.allowed(from: s) {
                let n = CaseLifecycle.next(from: s, a)!
                if reached.insert(n).inserted { frontier.append(n) }
            }
        }
        #expect(reached == Set(Case.State.allCases))
        for s in Case.State.allCases { #expect(!CaseLifecycle.allowed(from: s).isEmpty, "\(s) is a dead end") }
    }

    /// A case walked through every legal transition (every edge of the table once).
    @Test func aCaseWalksEveryLegalTransition() throws {
        let walk: [(CaseActionKind, Case.State)] = [
            (.acknowledge, .acknowledged), (.hold, .onHold), (.assign, .assigned), (.assign, .assigned), (.hold, .onHold),
            (.start, .inProgress), (.hold, .onHold), (.start, .inProgress), (.assign, .assigned), (.start, .inProgress),
            (.resolve, .resolved), (.reopen, .reopened), (.acknowledge, .acknowledged), (.assign, .assigned), (.falseAlarm, .falseAlarm),
            (.reopen, .reopened), (.hold, .onHold), (.falseAlarm, .falseAlarm), (.reopen, .reopened), (.assign, .assigned),
            (.start, .inProgress), (.falseAlarm, .falseAlarm), (.reopen, .reopened), (.start, .inProgress), (.resolve, .resolved),
            (.close, .closed), (.reopen, .reopened), (.falseAlarm, .falseAlarm),
        ]
        var c = Self.aCase()
        var seen: Set<String> = []
        var now = Self.t0
        for (action, expected) in walk {
            now = now.addingTimeInterval(600)
            let from = c.state
            (c, _) = try c.applying(Self.complete(action), at: now)
            #expect(c.state == expected, "\(action) from \(from)")
            seen.insert("\(from.rawValue)-\(action.rawValue)")
        }
        // What one walk from `new` cannot also take (new→assign, new→false-alarm, acknowledged→false-alarm), plus a few again.
        for (from, action) in [(Case.State.new, CaseActionKind.assign), (.new, .falseAlarm), (.acknowledged, .falseAlarm), (.assigned, .falseAlarm),
                               (.acknowledged, .hold), (.assigned, .hold), (.inProgress, .falseAlarm), (.reopened, .falseAlarm)] {
            let (n, _) = try Self.aCase(from, assignee: "gw-005").applying(Self.complete(action), at: now)
            #expect(n.state == Self.legal[from]![action]!)
            seen.insert("\(from.rawValue)-\(action.rawValue)")
        }
        let all = Set(Self.legal.flatMap { s, m in m.keys.map { "\(s.rawValue)-\($0.rawValue)" } })
        #expect(seen == all, "not walked: \(all.subtracting(seen).sorted())")
    }

    @Test(arguments: [CaseActionKind.close, .falseAlarm, .reopen])
    func aNoteIsRequired(action: CaseActionKind) {
        let state: Case.State = action == .close ? .resolved : (action == .reopen ? .closed : .inProgress)
        for note in ["", "   "] {
            #expect(throws: HubError.caseAction(.invalidAction, "'\(action.rawValue)' on case AJ-00000007 needs a note saying why")) {
                try Self.aCase(state).applying(CaseAction(action, by: "值班员甲", note: note), at: Self.t0)
            }
        }
    }

    @Test func fieldsEachActionNeeds() throws {
        #expect(throws: HubError.caseAction(.invalidAction, "'assign' on case AJ-00000007 needs an assignee")) {
            try Self.aCase(.acknowledged).applying(CaseAction(.assign, by: "值班员甲"), at: Self.t0)
        }
        #expect(throws: HubError.caseAction(.invalidAction, "'acknowledge' on case AJ-00000007 needs who acts (by)")) {
            try Self.aCase().applying(CaseAction(.acknowledge, by: " "), at: Self.t0)
        }
        #expect(throws: HubError.caseAction(.invalidAction, "case AJ-00000007 has no assignee: 'assign' it before 'start'")) {
            try Self.aCase(.onHold).applying(CaseAction(.start, by: "值班员甲"), at: Self.t0)
        }
        #expect(throws: HubError.self) { try Self.aCase(.inProgress, assignee: "x").applying(CaseAction(.resolve, by: "x"), at: Self.t0) }
        #expect(throws: HubError.caseAction(.invalidAction, "the amount settled must be a number of yuan ≥ 0, not -5.0")) {
            try Self.aCase(.inProgress, assignee: "x").applying(CaseAction(.resolve, by: "x", outcome: .withdrawn, amountCNY: -5), at: Self.t0)
        }
        #expect(throws: HubError.caseAction(.invalidAction, "an assignee goes with 'assign', not 'acknowledge'")) {
            try Self.aCase().applying(CaseAction(.acknowledge, by: "a", assignee: "b"), at: Self.t0)
        }
        #expect(throws: HubError.caseAction(.invalidAction, "outcome, amount and satisfaction go with 'resolve', not 'close'")) {
            try Self.aCase(.resolved).applying(CaseAction(.close, by: "a", note: "n", satisfaction: .satisfied), at: Self.t0)
        }
    }

    @Test func resolutionIsRecordedAndAReopenClearsIt() throws {
        let now = Self.t0.addingTimeInterval(12 * 86_400)
        let (resolved, t) = try Self.aCase(.inProgress, assignee: "gw-005").applying(Self.complete(.resolve), at: now)
        #expect(resolved.outcome == "mediated_agreement")
        #expect(resolved.amountCNY == 12_000)
        #expect(resolved.satisfaction == "satisfied")
        #expect(resolved.resolvedAt == now)
        #expect(t.detail == .object(["outcome": .string("mediated_agreement"), "amount_cny": .number(12_000), "satisfaction": .string("satisfied")]))
        let (closed, _) = try resolved.applying(CaseAction(.close, by: "值班员甲", note: "回访满意"), at: now.addingTimeInterval(86_400))
        #expect(closed.closedAt == now.addingTimeInterval(86_400))
        #expect(closed.resolvedAt == now)
        let (reopened, _) = try closed.applying(CaseAction(.reopen, by: "值班员乙", note: "一方反悔"), at: now.addingTimeInterval(2 * 86_400))
        #expect(reopened.outcome == nil && reopened.amountCNY == nil && reopened.satisfaction == nil)
        #expect(reopened.resolvedAt == nil && reopened.closedAt == nil)
        #expect(reopened.assignee == "gw-005")
    }

    @Test func actionNames() {
        #expect(CaseActionKind(name: "false_alarm") == .falseAlarm)
        #expect(CaseActionKind(name: "False-Alarm") == .falseAlarm)
        #expect(CaseActionKind(name: "ack") == nil)
    }
}
