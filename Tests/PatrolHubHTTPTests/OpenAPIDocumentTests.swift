import Testing
@testable import PatrolHubHTTP

@Suite("The OpenAPI document")
struct OpenAPIDocumentTests {
    @Test("the document is embedded")
    func embedded() {
        #expect(OpenAPIDocument.text.hasPrefix("openapi: 3.1"))
    }
}
