import Alerts
import Foundation
import Hummingbird

extension DispatchAPI {
    /// `POST /api/v1/cases/{id}/actions`: applies an operator action through
    /// the same store API as `patrolhub cases act` (`DisputeStore.act`) and
    /// returns the case as `GET /api/v1/cases/{id}` lists it.
    ///
    /// Body: `{"action", "by", "note", "assignee", "outcome", "amount_cny",
    /// "satisfaction"}`; `by` is the caller (the token's name when
    /// authenticated). 404 for an unknown case, 409 for an action the case's
    /// state does not allow, 400 for a missing or wrong field.
    func act(caseID: String, body: JSONValue, by author: String) throws -> JSONValue {
        let fields = try BodyFields(body, known: ["action", "by", "note", "assignee", "outcome", "amount_cny", "satisfaction"])
        let string = fields.string
        let names = CaseActionKind.operatorActions.map(\.rawValue).joined(separator: ", ")
        guard let name = try string("action") else { throw HTTPError(.badRequest, message: "field 'action' is required (one of: \(names))") }
        guard let kind = CaseActionKind(name: name) else {
            throw HTTPError(.badRequest, message: "field 'action': unknown action '\(name)' (one of: \(names))")
        }
        var action = CaseAction(kind, by: author, note: try string("note") ?? "", assignee: try string("assignee"))
        if let s = try string("outcome") {
            guard let outcome = CaseOutcome(rawValue: s) else {
                throw HTTPError(.badRequest, message: "field 'outcome': unknown outcome '\(s)' (one of: \(CaseOutcome.allCases.map(\.rawValue).joined(separator: ", ")))")
            }
            action.outcome = outcome
        }
        if let v = fields.value("amount_cny") {
            guard let amount = v.doubleValue else { throw HTTPError(.badRequest, message: "field 'amount_cny': expected a number of yuan, found \(v.typeName)") }
            action.amountCNY = amount
        }
        if let s = try string("satisfaction") {
            guard let satisfaction = CaseSatisfaction(rawValue: s) else {
                throw HTTPError(.badRequest, message: "field 'satisfaction': unknown value '\(s)' (one of: \(CaseSatisfaction.allCases.map(\.rawValue).joined(separator: ", ")))")
            }
            action.satisfaction = satisfaction
        }
        do {
            return try store.act(on: caseID, action, now: clock(), outputPrefix: outputPrefix).json
        } catch let e as CaseActionError {
            switch e.code {
            case .unknownCase: throw HTTPError(.notFound, message: e.message)
            case .illegalTransition: throw HTTPError(.conflict, message: e.message)
            case .invalidAction: throw HTTPError(.badRequest, message: e.message)
            }
        }
    }
}
