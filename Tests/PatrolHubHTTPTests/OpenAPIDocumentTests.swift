import Alerts
import AlertsStore
import Foundation
import Hummingbird
import HummingbirdTesting
import Testing
import Yams
@testable import PatrolHubHTTP

/// `openapi.yaml` against the router: every route the server registers is in
/// the document, and the document names no route the server does not have.
@Suite("The OpenAPI document")
struct OpenAPIDocumentTests {
    /// The document's operations as `GET /api/v1/cases/{id}`.
    static func documented(_ text: String) throws -> Set<String> {
        let doc = try #require(try Yams.load(yaml: text) as? [String: Any])
        #expect(doc["openapi"] as? String == "3.1.0")
        let paths = try #require(doc["paths"] as? [String: Any])
        var operations: Set<String> = []
        for (path, item) in paths {
            let methods = try #require(item as? [String: Any], "\(path)")
            for method in methods.keys where ["get", "put", "post", "delete", "patch", "head", "options"].contains(method) {
                operations.insert("\(method.uppercased()) \(path)")
                let op = try #require(methods[method] as? [String: Any])
                #expect(op["x-patrolhub-role"] != nil, "\(method) \(path) names its role")
                #expect(op["responses"] != nil, "\(method) \(path) describes its responses")
            }
        }
        return operations
    }

    /// The router's routes as `GET /api/v1/cases/{id}`.
    static func registered() throws -> Set<String> {
        let (router, threads) = try InProcessHub().router()
        defer { Task { await threads.shutdown() } }
        return Set(router.routes.map { "\($0.method) \($0.path)" })
    }

    @Test("every registered route is documented, and every documented route exists")
    func routesMatch() throws {
        let routes = try Self.registered()
        let documented = try Self.documented(OpenAPIDocument.text)
        #expect(routes.count >= 16, "\(routes.sorted())")
        #expect(routes.subtracting(documented).isEmpty, "routes missing from openapi.yaml: \(routes.subtracting(documented).sorted())")
        #expect(documented.subtracting(routes).isEmpty, "openapi.yaml names routes the server lacks: \(documented.subtracting(routes).sorted())")
    }

    @Test("the check sees a path removed from the document, and one the server lacks")
    func checkCatchesDrift() throws {
        let routes = try Self.registered()
        let text = OpenAPIDocument.text
        let range = try #require(text.range(of: "  /api/v1/zones/{code}:\n"))
        let removed = text.replacingCharacters(in: range, with: "  /api/v1/zones/{code}-gone:\n")
        let documented = try Self.documented(removed)
        #expect(routes.subtracting(documented) == ["GET /api/v1/zones/{code}"])
        #expect(documented.subtracting(routes) == ["GET /api/v1/zones/{code}-gone"])
    }

    @Test("served at /api/v1/openapi.yaml as YAML")
    func served() async throws {
        try await InProcessHub().test { c in
            let r = try await c.call(.get, "/api/v1/openapi.yaml")
            #expect(r.status == .ok)
            #expect(r.headers[.contentType] == "application/yaml; charset=utf-8")
            #expect(r.text == OpenAPIDocument.text)
        }
    }
}
