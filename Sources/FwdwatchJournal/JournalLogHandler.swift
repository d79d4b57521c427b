import Logging

/// A swift-log handler that writes the daemon's ordinary log lines to journald.
///
/// The level becomes PRIORITY, the source location CODE_FILE/CODE_LINE/CODE_FUNC, the logger label
/// `FWDWATCH_LOGGER`. Metadata keys become fields: a key that already is a valid journal field name (for
/// example `MESSAGE_ID` or `IFACE`) is used as is, unless fwdwatch sets it itself (MESSAGE, PRIORITY, ...);
/// any other key is upper-cased with `.`/`-` turned into `_` and prefixed `FWDWATCH_`
/// (`netlink.group` becomes `FWDWATCH_NETLINK_GROUP`). When journald is unreachable the line goes to
/// the fallback output instead.
public struct JournalLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?
    public var logLevel: Logger.Level = .info
    public let label: String
    private let journal: any JournalSending
    private let fallback: LineOutput

    public init(
        label: String, journal: any JournalSending = JournalWriter(), fallback: LineOutput = .standardError,
        metadataProvider: Logger.MetadataProvider? = nil
    ) {
        self.label = label
        self.journal = journal
        self.fallback = fallback
        self.metadataProvider = metadataProvider
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        let fields = Self.fields(
            for: event, label: label, metadata: mergedMetadata(event.metadata))
        do {
            try journal.send(
                fields, at: SourceLocation(fileID: event.file, line: Int(event.line), function: event.function))
        } catch {
            fallback.write("\(label): \(event.level): \(event.message) (journal: \(error))")
        }
    }

    private func mergedMetadata(_ explicit: Logger.Metadata?) -> Logger.Metadata {
        var merged = metadata
        if let provided = metadataProvider?.get() { merged.merge(provided) { _, new in new } }
        if let explicit { merged.merge(explicit) { _, new in new } }
        return merged
    }

    /// The fields of one log event (sorted metadata, so entries are reproducible).
    static func fields(for event: LogEvent, label: String, metadata: Logger.Metadata) -> [(String, String)] {
        var fields: [(String, String)] = [
            ("MESSAGE", event.message.description),
            ("PRIORITY", String(priority(event.level).rawValue)),
            ("FWDWATCH_LOGGER", label),
        ]
        if let error = event.error { fields.append(("FWDWATCH_ERROR", String(describing: error))) }
        for (key, value) in metadata.sorted(by: { $0.key < $1.key }) {
            fields.append((fieldName(forMetadataKey: key), value.description))
        }
        return fields
    }

    static func priority(_ level: Logger.Level) -> JournalPriority {
        switch level {
        case .trace, .debug: .debug
        case .info: .info
        case .notice: .notice
        case .warning: .warning
        case .error: .error
        case .critical: .critical
        }
    }

    /// The journal field a metadata key is stored under (see the type's documentation).
    public static func fieldName(forMetadataKey key: String) -> String {
        if JournalField.isValidName(key), !AlertFields.reservedNames.contains(key) || key == "MESSAGE_ID"
            || key == "IFACE"
        {
            return key
        }
        return JournalField.evidenceName(key)
    }
}
