import Foundation

/// What an operator does to a case (SPEC.md "Case lifecycle"): acknowledge,
/// assign, start, hold, resolve, close, false-alarm, reopen; and what the hub
/// itself records in a case's history: `reroute` (new evidence made it a
/// district matter), never an operator's action.
///
/// Names are the CLI's and the HTTP API's words; `false-alarm` is also
/// accepted as `false_alarm`.
public enum CaseActionKind: String, Sendable, CaseIterable, Hashable, CustomStringConvertible {
    case acknowledge
    case assign
    case start
    case hold
    case resolve
    case close
    case falseAlarm = "false-alarm"
    case reopen
    /// The hub moved the case to the district's unit (state unchanged).
    case reroute

    /// The actions an operator may ask for (the CLI's and the HTTP API's vocabulary).
    public static let operatorActions: [CaseActionKind] = allCases.filter { $0 != .reroute }

    /// Parses an operator action name (`false_alarm` as well as `false-alarm`); nil for the hub's own.
    public init?(name: String) {
        let n = name.trimmingCharacters(in: .whitespaces).lowercased().replacingOccurrences(of: "_", with: "-")
        guard let kind = CaseActionKind(rawValue: n), kind != .reroute else { return nil }
        self = kind
    }

    /// The action's wire name (`false-alarm`), as the CLI and the API spell it.
    public var description: String { rawValue }

    /// The verb used in Chinese documents (受理, 派遣 …).
    public var chineseName: String {
        switch self {
        case .acknowledge: return "受理"
        case .assign: return "派遣"
        case .start: return "开始处置"
        case .hold: return "挂起"
        case .resolve: return "办结"
        case .close: return "归档"
        case .falseAlarm: return "认定误报"
        case .reopen: return "重新打开"
        case .reroute: return "提级改派"
        }
    }

    /// Actions that need a note: closing (SPEC.md), declaring a false alarm
    /// (the reason it was not real) and reopening (why a finished case is back).
    public var requiresNote: Bool {
        switch self {
        case .close, .falseAlarm, .reopen: return true
        default: return false
        }
    }
}

/// How a resolved case ended (结案方式).
public enum CaseOutcome: String, Sendable, CaseIterable, Hashable {
    /// 调解成功: the parties signed or agreed to a mediated settlement.
    case mediatedAgreement = "mediated_agreement"
    /// 引导诉讼: referred to the courts.
    case referredToLitigation = "referred_to_litigation"
    /// 引导仲裁: referred to (labour) arbitration.
    case referredToArbitration = "referred_to_arbitration"
    /// 移交职能部门: handed to the competent department.
    case referredToDepartment = "referred_to_department"
    /// 当事人撤回: the party withdrew the matter.
    case withdrawn
    /// 已处置: an incident dealt with on the spot (a fight broken up, a fire put out).
    case handled
    /// 其他.
    case other

    /// The outcome as written in Chinese documents and reports.
    public var chineseName: String {
        switch self {
        case .mediatedAgreement: return "调解成功"
        case .referredToLitigation: return "引导诉讼"
        case .referredToArbitration: return "引导仲裁"
        case .referredToDepartment: return "移交职能部门"
        case .withdrawn: return "当事人撤回"
        case .handled: return "现场处置完毕"
        case .other: return "其他"
        }
    }
}

/// The parties' word on the resolution (当事人满意度).
public enum CaseSatisfaction: String, Sendable, CaseIterable, Hashable {
    case satisfied, neutral, dissatisfied

    /// The rating as written in Chinese documents and reports.
    public var chineseName: String {
        switch self {
        case .satisfied: return "满意"
        case .neutral: return "基本满意"
        case .dissatisfied: return "不满意"
        }
    }
}

/// One operator action with who did it and the fields it carries.
///
/// ```swift
/// let a = CaseAction(.assign, by: "dispatcher-1", assignee: "gw-005")
/// let (next, transition) = try someCase.applying(a, at: now)
/// ```
public struct CaseAction: Sendable, Hashable {
    /// The longest note an action may carry (characters): it is copied into the
    /// case's history, the audit log and the published case.
    public static let maxNoteLength = 2000
    /// The longest `by` and `assignee` (characters).
    public static let maxNameLength = 200
    /// The longest history a case may reach through actions other than `close` and
    /// `false-alarm` (which stay allowed, so a case can always be ended).
    public static let maxActionsPerCase = 1000

    /// What the operator does.
    public var kind: CaseActionKind
    /// Who acts (operator id or name). Required.
    public var by: String
    /// Free text kept in the case's history (at most `maxNoteLength`).
    public var note: String
    /// `assign` only: who the case goes to.
    public var assignee: String?
    /// `resolve` only.
    public var outcome: CaseOutcome?
    /// `resolve` only: the amount settled, in yuan (CNY), ≥ 0.
    public var amountCNY: Double?
    /// `resolve` only.
    public var satisfaction: CaseSatisfaction?

    /// An action; `applying(_:at:)` checks that its fields fit its kind.
    public init(_ kind: CaseActionKind, by: String, note: String = "", assignee: String? = nil,
                outcome: CaseOutcome? = nil, amountCNY: Double? = nil, satisfaction: CaseSatisfaction? = nil) {
        self.kind = kind
        self.by = by
        self.note = note
        self.assignee = assignee
        self.outcome = outcome
        self.amountCNY = amountCNY
        self.satisfaction = satisfaction
    }

    /// The action's extra fields as JSON (recorded with the transition and in the audit log).
    public var detail: JSONValue {
        var o: JSONObject = [:]
        if let assignee { o["assignee"] = .string(assignee) }
        if let outcome { o["outcome"] = .string(outcome.rawValue) }
        if let amountCNY { o["amount_cny"] = .number(amountCNY) }
        if let satisfaction { o["satisfaction"] = .string(satisfaction.rawValue) }
        return .object(o)
    }
}

/// One entry of a case's append-only history (`case_transitions`).
public struct CaseTransition: Sendable, Hashable {
    /// The case it belongs to.
    public var caseID: String
    /// When it happened (processing time).
    public var at: Date
    /// Who acted: an operator, or the hub for its own moves.
    public var actor: String
    /// The action taken.
    public var action: CaseActionKind
    /// The state before.
    public var from: Case.State
    /// The state after (equal to `from` for actions that do not move it).
    public var to: Case.State
    /// The action's note.
    public var note: String
    /// The action's fields (assignee, outcome, amount_cny, satisfaction), `{}` when none.
    public var detail: JSONValue

    /// A transition with every field given; `Case.applying` makes them, the store rebuilds them.
    public init(caseID: String, at: Date, actor: String, action: CaseActionKind, from: Case.State, to: Case.State,
                note: String, detail: JSONValue = .object([:])) {
        self.caseID = caseID
        self.at = at
        self.actor = actor
        self.action = action
        self.from = from
        self.to = to
        self.note = note
        self.detail = detail
    }

    /// The JSON object of the API's case history and the audit log.
    public var json: JSONValue {
        .object([
            "case_id": .string(caseID), "at": .string(at.rfc3339), "by": .string(actor), "action": .string(action.rawValue),
            "from": .string(from.rawValue), "to": .string(to.rawValue), "note": .string(note), "detail": detail,
        ])
    }
}

extension HubError.Code {
    /// A case action is not legal in the case's state (HTTP 409).
    public static let illegalTransition = Self("illegal_transition")
    /// A case action misses a required field, or has a field that does not belong to it (HTTP 400).
    public static let invalidAction = Self("invalid_action")
    /// No case with that id (HTTP 404).
    public static let unknownCase = Self("unknown_case")
    /// The codes of a refused case action.
    public static let caseAction: Set<HubError.Code> = [.illegalTransition, .invalidAction, .unknownCase]
}

extension HubError {
    /// Why an action on a case was refused. Renders as one line that names the
    /// case, its state, the action and what to do instead; `code`
    /// (`.illegalTransition`, `.invalidAction`, `.unknownCase`) lets the HTTP
    /// API pick the status.
    public static func caseAction(_ code: Code, _ message: String, fileID: StaticString = #fileID, line: UInt = #line) -> HubError {
        HubError(code, message, fileID: fileID, line: line)
    }
}

/// The case lifecycle as a value-type state machine (SPEC.md "Case
/// lifecycle"): a table of legal (state, action) → state, and the checks
/// each action needs. Nothing here touches the store.
///
/// | from \ action | acknowledge | assign | start | hold | resolve | close | false-alarm | reopen |
/// |---|---|---|---|---|---|---|---|---|
/// | new | acknowledged | assigned | | | | | false_alarm | |
/// | acknowledged | | assigned | | on_hold | | | false_alarm | |
/// | assigned | | assigned (reassign) | in_progress | on_hold | | | false_alarm | |
/// | in_progress | | assigned (reassign) | | on_hold | resolved | | false_alarm | |
/// | on_hold | | assigned | in_progress (resume) | | | | false_alarm | |
/// | reopened | acknowledged | assigned | in_progress | on_hold | | | false_alarm | |
/// | resolved | | | | | | closed | | reopened |
/// | closed | | | | | | | | reopened |
/// | false_alarm | | | | | | | | reopened |
public enum CaseLifecycle {
    /// The state an action leads to from `state`, or nil when it is illegal there.
    public static func next(from state: Case.State, _ action: CaseActionKind) -> Case.State? {
        switch (state, action) {
        case (.new, .acknowledge), (.reopened, .acknowledge):
            return .acknowledged
        case (.new, .assign), (.acknowledged, .assign), (.assigned, .assign), (.inProgress, .assign),
             (.onHold, .assign), (.reopened, .assign):
            return .assigned
        case (.assigned, .start), (.onHold, .start), (.reopened, .start):
            return .inProgress
        case (.acknowledged, .hold), (.assigned, .hold), (.inProgress, .hold), (.reopened, .hold):
            return .onHold
        case (.inProgress, .resolve):
            return .resolved
        case (.resolved, .close):
            return .closed
        case (.new, .falseAlarm), (.acknowledged, .falseAlarm), (.assigned, .falseAlarm), (.inProgress, .falseAlarm),
             (.onHold, .falseAlarm), (.reopened, .falseAlarm):
            return .falseAlarm
        case (.resolved, .reopen), (.closed, .reopen), (.falseAlarm, .reopen):
            return .reopened
        default:
            return nil
        }
    }

    /// The actions legal in `state`, in the order of `CaseActionKind.allCases`.
    public static func allowed(from state: Case.State) -> [CaseActionKind] {
        CaseActionKind.operatorActions.filter { next(from: state, $0) != nil }
    }
}

extension Case.State {
    /// The name on Chinese documents.
    public var chineseName: String {
        switch self {
        case .new: return "新建"
        case .acknowledged: return "已受理"
        case .assigned: return "已派遣"
        case .inProgress: return "处置中"
        case .onHold: return "挂起"
        case .resolved: return "已办结"
        case .closed: return "已归档"
        case .falseAlarm: return "误报"
        case .reopened: return "重新打开"
        }
    }
}

extension Case {
    /// The case after `action` at `now`, and the transition to record; or a
    /// `HubError.caseAction` naming the state, the action and what is allowed.
    ///
    /// Every action stamps `updatedAt` and `lastActionAt` (supervision
    /// measures idleness from it). `assign` sets the assignee; `start` needs
    /// one; `resolve` records outcome, amount and satisfaction and
    /// `resolvedAt`; `close` and `false-alarm` set `closedAt`; `reopen`
    /// clears the resolution (the old one stays in the transitions).
    public func applying(_ action: CaseAction, at now: Date) throws(HubError) -> (Case, CaseTransition) {
        let kind = action.kind
        let by = action.by.trimmingCharacters(in: .whitespacesAndNewlines)
        let note = action.note.trimmingCharacters(in: .whitespacesAndNewlines)
        guard let to = CaseLifecycle.next(from: state, kind) else {
            let allowed = CaseLifecycle.allowed(from: state).map(\.rawValue)
            throw HubError.caseAction(.illegalTransition,
                "case \(id) is \(state.rawValue): '\(kind.rawValue)' is not allowed from \(state.rawValue)"
                + " (allowed: \(allowed.isEmpty ? "none" : allowed.joined(separator: ", ")))")
        }
        if by.isEmpty { throw HubError.caseAction(.invalidAction, "'\(kind.rawValue)' on case \(id) needs who acts (by)") }
        // Counted in Unicode scalars, not grapheme clusters: one "character" of combining marks can be megabytes.
        if note.unicodeScalars.count > CaseAction.maxNoteLength {
            throw HubError.caseAction(.invalidAction, "the note holds \(note.unicodeScalars.count) characters, at most \(CaseAction.maxNoteLength) are kept in a case's history")
        }
        for (field, value) in [("by", by), ("assignee", action.assignee ?? "")] where value.unicodeScalars.count > CaseAction.maxNameLength {
            throw HubError.caseAction(.invalidAction, "'\(field)' holds \(value.unicodeScalars.count) characters, at most \(CaseAction.maxNameLength)")
        }
        // Control characters would reach the terminal of whoever lists the case (`cases show`): an
        // escape sequence can clear the screen or rewrite the note shown. Names have none at all.
        func control(_ c: Unicode.Scalar) -> Bool { c.properties.generalCategory == .control }
        for (field, value) in [("by", by), ("assignee", action.assignee ?? "")] where value.unicodeScalars.contains(where: control) {
            throw HubError.caseAction(.invalidAction, "'\(field)' must not hold control characters")
        }
        if note.unicodeScalars.contains(where: { control($0) && $0 != "\n" && $0 != "\t" }) {
            throw HubError.caseAction(.invalidAction, "the note must not hold control characters (line breaks and tabs are fine)")
        }
        if kind.requiresNote && note.isEmpty {
            throw HubError.caseAction(.invalidAction, "'\(kind.rawValue)' on case \(id) needs a note saying why")
        }
        if kind != .assign, action.assignee != nil {
            throw HubError.caseAction(.invalidAction, "an assignee goes with 'assign', not '\(kind.rawValue)'")
        }
        if kind != .resolve, action.outcome != nil || action.amountCNY != nil || action.satisfaction != nil {
            throw HubError.caseAction(.invalidAction, "outcome, amount and satisfaction go with 'resolve', not '\(kind.rawValue)'")
        }
        var c = self
        switch kind {
        case .assign:
            guard let who = action.assignee?.trimmingCharacters(in: .whitespacesAndNewlines), !who.isEmpty else {
                throw HubError.caseAction(.invalidAction, "'assign' on case \(id) needs an assignee")
            }
            c.assignee = who
        case .start:
            guard assignee != nil else {
                throw HubError.caseAction(.invalidAction, "case \(id) has no assignee: 'assign' it before 'start'")
            }
        case .resolve:
            guard let outcome = action.outcome else {
                throw HubError.caseAction(.invalidAction,
                    "'resolve' on case \(id) needs an outcome (one of: \(CaseOutcome.allCases.map(\.rawValue).joined(separator: ", ")))")
            }
            if let amount = action.amountCNY, !(amount.isFinite && amount >= 0) {
                throw HubError.caseAction(.invalidAction, "the amount settled must be a number of yuan ≥ 0, not \(amount)")
            }
            c.outcome = outcome.rawValue
            c.amountCNY = action.amountCNY
            c.satisfaction = action.satisfaction?.rawValue
            c.resolvedAt = now
        case .close, .falseAlarm:
            c.closedAt = now
        case .reopen:
            c.outcome = nil
            c.amountCNY = nil
            c.satisfaction = nil
            c.resolvedAt = nil
            c.closedAt = nil
        case .acknowledge, .hold, .reroute:
            break
        }
        c.state = to
        c.updatedAt = now
        c.lastActionAt = now
        let t = CaseTransition(caseID: id, at: now, actor: by, action: kind, from: state, to: to, note: note, detail: action.detail)
        return (c, t)
    }
}
