import Alerts
import AlertsStore
import Foundation
import Hummingbird

extension DispatchAPI {
    /// `POST /api/v1/cases/{id}/actions`: applies an operator action through
    /// the same store API as `patrolhub cases act` (`DisputeStore.act`) and
    /// returns the case as `GET /api/v1/cases/{id}` lists it.
    ///
    /// Body: `{"action", "by", "note", "assignee", "outcome", "amount_cny",
    /// "satisfaction"}`; `by` is the caller (the token's name when
    /// authenticated). A missing or wrong field is a 400; the store's
    /// `HubError.caseAction` (unknown case, illegal transition) goes to `APIError.init(mapping:)`.
    func act(caseID: String, body: JSONValue, by author: String) throws -> CaseBody {
        let fields = try BodyFields(body, known: ["action", "by", "note", "assignee", "outcome", "amount_cny", "satisfaction"])
        let string = fields.string
        let names = CaseActionKind.operatorActions.map(\.rawValue).joined(separator: ", ")
        guard let name = try string("action") else { throw APIError.badRequest("field 'action' is required (one of: \(names))") }
        guard let kind = CaseActionKind(name: name) else {
            throw APIError.field("action", "unknown action '\(name)' (one of: \(names))")
        }
        var action = CaseAction(kind, by: author, note: try string("note") ?? "", assignee: try string("assignee"))
        if let s = try string("outcome") {
            guard let outcome = CaseOutcome(rawValue: s) else {
                throw APIError.field("outcome", "unknown outcome '\(s)' (one of: \(CaseOutcome.allCases.map(\.rawValue).joined(separator: ", ")))")
            }
            action.outcome = outcome
        }
        if let v = fields.value("amount_cny") {
            guard let amount = v.doubleValue else { throw APIError.field("amount_cny", "expected a number of yuan, found \(v.typeName)") }
            action.amountCNY = amount
        }
        if let s = try string("satisfaction") {
            guard let satisfaction = CaseSatisfaction(rawValue: s) else {
                throw APIError.field("satisfaction", "unknown value '\(s)' (one of: \(CaseSatisfaction.allCases.map(\.rawValue).joined(separator: ", ")))")
            }
            action.satisfaction = satisfaction
        }
        return CaseBody(try store.act(on: caseID, action, now: clock(), outputPrefix: outputPrefix))
    }
}
