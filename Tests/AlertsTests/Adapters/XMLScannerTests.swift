import Testing
@testable import Alerts

/// The GB/T 28181 adapter's XML scanner: what it keeps and what it refuses.
@Suite("XML scanner")
struct XMLScannerTests {
    @Test func readsElementsTextEntitiesCDATAAndSkipsTheRest() throws {
        let xml = """
            \u{FEFF}<?xml version="1.0" encoding="GB2312"?>
            <!DOCTYPE Notify>
            <!-- a gateway's comment -->
            <ns:Notify xmlns:ns="urn:x" a='1>2'>
              <CmdType>Alarm</CmdType>
              <AlarmDescription>A &lt;B&gt; &amp; &#x4E2D;&#25991; <![CDATA[<raw & text>]]></AlarmDescription>
              <Info><AlarmType>5</AlarmType><Empty/></Info>
            </ns:Notify>
            """
        let root = try XMLElementTree.parse(xml)
        #expect(root.name == "notify")
        #expect(root.text("cmdtype") == "Alarm")
        #expect(root.text("AlarmDescription") == "A <B> & 中文 <raw & text>")
        #expect(root.child("info")?.text("alarmtype") == "5")
        #expect(root.child("info")?.child("empty")?.content == "")
    }

    @Test func oddNamesAndPaddingReadAsBefore() throws {
        // A name ending in ':' keeps its last non-empty part; text padded with a vertical
        // tab, a form feed or an ideographic space is trimmed as other whitespace is.
        let root = try XMLElementTree.parse("<Notify:><a:CmdType:>Alarm</a:CmdType:><T>\u{0B}5\u{0C}</T><U>\u{3000}6</U><V>\u{0B}</V><W>::</W></Notify:>")
        #expect(root.name == "notify")
        #expect(root.text("cmdtype") == "Alarm")
        #expect(root.text("t") == "5")
        #expect(root.text("u") == "6")
        #expect(root.text("v") == nil)
        #expect(root.text("w") == "::")
    }

    @Test(arguments: [
        ("<a><b></a></b>", "</a> closes <b>"),
        ("<a>", "<a> is not closed"),
        ("<a></a><b></b>", "content after the root element"),
        ("text<a/>", "text before the root element"),
        ("", "no root element"),
        ("<a>x & y</a>", "'&' that starts no reference"),
        ("<a>&bogus;</a>", "unknown entity &bogus;"),
        ("<a b=\"1></a>", "unterminated attribute value"),
        ("<a><!-- open</a>", "unterminated comment"),
        ("<a>\n<b>\n</c></a>", "line 3"),
    ])
    func refusesWhatIsNotWellFormed(xml: String, why: String) {
        #expect {
            _ = try XMLElementTree.parse(xml)
        } throws: { error in
            "\(error)".contains(why) && "\(error)".contains("not well-formed XML")
        }
    }
}
