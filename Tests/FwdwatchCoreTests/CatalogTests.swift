import Foundation
import FwdwatchTestSupport
import Testing

@testable import FwdwatchCore

/// One entry of a journald message catalog file.
private struct CatalogEntry {
    var id: String
    var headers: [(name: String, value: String)]
    var body: [String]

    func header(_ name: String) -> [String] { headers.filter { $0.name == name }.map(\.value) }
}

/// Parses the catalog format journalctl --update-catalog reads: `-- <id>` starts an entry, `Name: value` header
/// lines follow up to the first blank line, then the body. Lines starting with `#` are comments.
private func parseCatalog(_ text: String) -> (entries: [CatalogEntry], problems: [String]) {
    var entries: [CatalogEntry] = []
    var problems: [String] = []
    var inHeaders = false
    for (number, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
        let line = String(line)
        if line.hasPrefix("#") { continue }
        if line.hasPrefix("-- ") {
            entries.append(CatalogEntry(id: String(line.dropFirst(3)), headers: [], body: []))
            inHeaders = true
            continue
        }
        guard !entries.isEmpty else {
            if !line.trimmingCharacters(in: .whitespaces).isEmpty { problems.append("line \(number + 1) outside an entry") }
            continue
        }
        if inHeaders {
            if line.isEmpty {
                inHeaders = false
            } else if let colon = line.firstIndex(of: ":") {
                entries[entries.count - 1].headers.append(
                    (String(line[..<colon]), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)))
            } else {
                problems.append("line \(number + 1): header without a colon: \(line)")
            }
        } else {
            entries[entries.count - 1].body.append(line)
        }
    }
    return (entries, problems)
}

private let catalogURL = URL(fileURLWithPath: packageRoot() + "/packaging/catalog/fwdwatch.catalog")

private func isMessageID(_ id: String) -> Bool {
    id.count == 32 && id.allSatisfy { ("0"..."9").contains($0) || ("a"..."f").contains($0) }
}

@Suite("Journal message catalog")
struct CatalogTests {
    private let entries: [CatalogEntry]
    private let problems: [String]

    init() throws {
        let text = try String(contentsOf: catalogURL, encoding: .utf8)
        (entries, problems) = parseCatalog(text)
    }

    @Test("the file parses into entries")
    func parses() {
        #expect(problems.isEmpty, "\(problems)")
        #expect(entries.count >= RuleRegistry.all.count + 1)
    }

    @Test("ids are 32 lower-case hex digits and unique")
    func idsWellFormedAndUnique() {
        for entry in entries {
            #expect(isMessageID(entry.id), "bad catalog id \(entry.id)")
        }
        let ids = entries.map(\.id)
        #expect(Set(ids).count == ids.count, "duplicate ids: \(ids.filter { id in ids.count { $0 == id } > 1 })")
    }

    @Test("every rule's MESSAGE_ID is well-formed, unique among rules, and has exactly one entry")
    func everyRuleHasOneEntry() {
        let ruleIDs = RuleRegistry.all.map(\.messageID)
        #expect(Set(ruleIDs).count == ruleIDs.count)
        #expect(!ruleIDs.contains(RuleRegistry.resolvedMessageID))
        for rule in RuleRegistry.all {
            #expect(isMessageID(rule.messageID), "rule \(rule.id) has a bad messageID \(rule.messageID)")
            let matching = entries.filter { $0.id == rule.messageID }
            #expect(matching.count == 1, "rule \(rule.id) (\(rule.messageID)) has \(matching.count) catalog entries")
            // The entry names the rule, so `journalctl -x` points at the right rule.
            #expect(matching.first?.body.joined(separator: " ").contains(rule.id.rawValue) == true, "\(rule.id)")
        }
    }

    @Test("resolutions have exactly one entry")
    func resolvedHasOneEntry() {
        #expect(entries.count { $0.id == RuleRegistry.resolvedMessageID } == 1)
    }

    @Test("entries beyond rules and resolutions exist for the daemon's notices")
    func noticeEntriesExist() {
        // The exact set of notice ids is checked against FwdwatchJournal.JournalMessageID in the
        // integration tests, which can import that module.
        let known = Set(RuleRegistry.all.map(\.messageID) + [RuleRegistry.resolvedMessageID])
        #expect(entries.count { !known.contains($0.id) } >= 5)
    }

    @Test("every entry has Subject, Defined-By: fwdwatch, Documentation, Support and a body")
    func everyEntryIsComplete() {
        for entry in entries {
            #expect(entry.header("Subject").count == 1 && entry.header("Subject").first?.isEmpty == false, "\(entry.id)")
            #expect(entry.header("Defined-By") == ["fwdwatch"], "\(entry.id)")
            #expect(entry.header("Documentation").contains("man:fwdwatch(8)"), "\(entry.id)")
            #expect(entry.header("Support") == ["man:fwdwatch(8)"], "\(entry.id)")
            let body = entry.body.filter { !$0.trimmingCharacters(in: .whitespaces).isEmpty }
            #expect(body.count >= 3, "entry \(entry.id) has a body of \(body.count) lines")
        }
    }

    @Test("field substitutions name valid journal fields")
    func substitutionsAreValidFields() throws {
        let pattern = try Regex("@([^@\\s]*)@")
        for entry in entries {
            let text = (entry.header("Subject") + entry.body).joined(separator: "\n")
            for match in text.matches(of: pattern) {
                let name = String(text[match.range].dropFirst().dropLast())
                #expect(
                    name.range(of: "^[A-Z][A-Z0-9_]{0,63}$", options: .regularExpression) != nil,
                    "entry \(entry.id) substitutes @\(name)@")
            }
        }
    }

    @Test("the forwarding entries explain why ip_forward=1 does not repair a per-interface 0, and the fix")
    func forwardingEntriesExplainTheTrap() throws {
        let rule = try #require(RuleRegistry.rule("interface-forwarding-disabled"))
        let body = try #require(entries.first { $0.id == rule.messageID }).body.joined(separator: "\n")
        for phrase in [
            "same switch", "only when the value", "restarting Docker", "systemd-networkd", "NetworkManager", "ifupdown",
            "systemd-sysctl", "default.forwarding", "sysctl -w net.ipv4.conf.@IFACE@.forwarding=1", "/etc/sysctl.d/",
        ] {
            #expect(body.contains(phrase), "missing: \(phrase)")
        }
    }
}
