extension Double {
    /// A decimal number as a person or a device writes one (`91.1320`, `-2.5e1`); nil for
    /// what `Double(_:)` also reads but is no decimal number: hexadecimal (`0x1.6ep+6`),
    /// `inf`, `nan`, and for an empty text.
    init?(decimal text: some StringProtocol) {
        guard !text.isEmpty, text.utf8.allSatisfy({ (0x30...0x39).contains($0) || $0 == 0x2B || $0 == 0x2D || $0 == 0x2E || $0 == 0x45 || $0 == 0x65 }),
              let value = Double(String(text)) else { return nil }
        self = value
    }
}
