import Foundation
import FwdwatchTestSupport
import Testing

@testable import FwdwatchCore

/// The registry against the source tree: one rule a file under Sources/FwdwatchCore/Rules, each registered, each with
/// its test file; no list of rules is kept by hand here.
@Suite("RuleRegistry")
struct RuleRegistryTests {
    private static func isKebabCase(_ id: String) -> Bool {
        let words = id.split(separator: "-", omittingEmptySubsequences: false)
        return !words.isEmpty
            && words.allSatisfy { word in
                !word.isEmpty && word.allSatisfy { ("a"..."z").contains($0) || ("0"..."9").contains($0) }
            }
    }

    private static func isMessageID(_ id: String) -> Bool {
        id.count == 32 && id.allSatisfy { ("0"..."9").contains($0) || ("a"..."f").contains($0) }
    }

    @Test("the checks themselves tell good from bad")
    func checkers() {
        #expect(Self.isKebabCase("bridge-down"))
        #expect(!Self.isKebabCase("Bridge-down"))
        #expect(!Self.isKebabCase("bridge_down"))
        #expect(!Self.isKebabCase("bridge--down"))
        #expect(!Self.isKebabCase("-bridge"))
        #expect(Self.isMessageID("5b1f0d7c7e3a4c55a1a0e3f46a7a0c01"))
        #expect(!Self.isMessageID("5B1F0D7C7E3A4C55A1A0E3F46A7A0C01"))
        #expect(!Self.isMessageID("5b1f0d7c-7e3a-4c55-a1a0-e3f46a7a0c01"))
    }

    /// A rule's source file, Sources/FwdwatchCore/Rules/<Type>.swift, read as text: the types it declares as rules
    /// (`public struct X: Rule`) and the ids it gives (`let id: RuleID = "..."`).
    struct RuleFile {
        var type: String
        var declaredTypes: [String]
        var ids: [String]
    }

    static let sourceRoot = packageRoot()

    static func ruleFiles() throws -> [RuleFile] {
        let directory = sourceRoot + "/Sources/FwdwatchCore/Rules"
        return try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasSuffix(".swift") }.sorted()
            .map { name in
                let text = try String(contentsOfFile: directory + "/" + name, encoding: .utf8)
                return RuleFile(
                    type: String(name.dropLast(".swift".count)),
                    declaredTypes: text.matches(of: /(?m)^(?:public )?struct (\w+): Rule\b/).map { String($0.1) },
                    ids: text.matches(of: /let id: RuleID = "([^"]+)"/).map { String($0.1) })
            }
    }

    static func typeName(_ rule: any Rule) -> String { String(describing: type(of: rule)) }

    @Test("every file under Rules/ declares one rule, named like the file, and that rule is in the registry")
    func filesAreRegistered() throws {
        let files = try Self.ruleFiles()
        #expect(!files.isEmpty)
        let registered = Dictionary(uniqueKeysWithValues: RuleRegistry.all.map { (Self.typeName($0), $0.id.rawValue) })
        for file in files {
            #expect(file.declaredTypes == [file.type], "Rules/\(file.type).swift declares \(file.declaredTypes)")
            #expect(file.ids.count == 1, "Rules/\(file.type).swift gives the ids \(file.ids)")
            #expect(
                registered[file.type] != nil && registered[file.type] == file.ids.first,
                "\(file.type) (id \(file.ids)) from Rules/\(file.type).swift is not in RuleRegistry.all")
        }
    }

    @Test("every rule in the registry has its file under Rules/ and its test file under Tests/FwdwatchCoreTests/Rules/")
    func registeredRulesHaveFilesAndTests() throws {
        let files = Set(try Self.ruleFiles().map(\.type))
        for rule in RuleRegistry.all {
            let type = Self.typeName(rule)
            #expect(files.contains(type), "\(rule.id): no Sources/FwdwatchCore/Rules/\(type).swift")
            let tests = Self.sourceRoot + "/Tests/FwdwatchCoreTests/Rules/\(type)Tests.swift"
            #expect(FileManager.default.fileExists(atPath: tests), "\(rule.id): no \(tests)")
        }
    }

    @Test("the registry holds each rule once, each with a unique kebab-case id")
    func ids() {
        let ids = RuleRegistry.all.map(\.id.rawValue)
        #expect(Set(ids).count == ids.count)
        #expect(Set(RuleRegistry.all.map(Self.typeName)).count == ids.count)
        for id in ids { #expect(Self.isKebabCase(id), "\(id)") }
    }

    @Test("each rule has a unique 32-lower-hex MESSAGE_ID, distinct from the resolved one")
    func messageIDs() {
        let messageIDs = RuleRegistry.all.map(\.messageID)
        #expect(Set(messageIDs).count == messageIDs.count)
        #expect(Self.isMessageID(RuleRegistry.resolvedMessageID))
        #expect(!messageIDs.contains(RuleRegistry.resolvedMessageID))
        for rule in RuleRegistry.all { #expect(Self.isMessageID(rule.messageID), "\(rule.id): \(rule.messageID)") }
    }

    @Test("each rule has a title, and is found by its id")
    func titlesAndLookup() {
        for rule in RuleRegistry.all {
            #expect(rule.title.contains { !$0.isWhitespace }, "\(rule.id)")
            #expect(RuleRegistry.rule(rule.id)?.id == rule.id)
        }
        #expect(RuleRegistry.rule("no-such-rule") == nil)
    }
}
