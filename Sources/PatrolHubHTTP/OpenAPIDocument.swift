/// The API's OpenAPI 3.1 document (`openapi.yaml` next to this file, compiled
/// into the binary), served at `GET /api/v1/openapi.yaml`.
enum OpenAPIDocument {
    /// The document's text.
    static let text = String(decoding: PackageResources.openapi_yaml, as: UTF8.self)
}
