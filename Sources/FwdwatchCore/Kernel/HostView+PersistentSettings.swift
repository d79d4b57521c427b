extension HostView {
    /// The configuration line `setting` ("forwarding", "rp_filter") of `interface` (a link name, "all" or
    /// "default") comes back from, whatever value it writes: see `PersistentSettingMatch.winner`. Nil when
    /// no line decides it, or the files were not read.
    public func persistentSource(of setting: String, on interface: String) -> PersistentSetting? {
        guard let settings = snapshot.persistentSettings else { return nil }
        return PersistentSettingMatch.winner(of: setting, on: interface, in: settings)
    }

    /// The line that brings `value` (the bad one) back to `setting` of `interface`; nil when the winning
    /// line writes another value, or there is none.
    public func persistentSource(of setting: String, on interface: String, writing value: Int) -> PersistentSetting? {
        guard let source = persistentSource(of: setting, on: interface), source.value == value else { return nil }
        return source
    }
}

extension Array where Element == PersistentSetting {
    /// The `source` evidence of a finding: every line a bad value comes back from, "file:line", comma
    /// separated (the journal field `FWDWATCH_SOURCE`). Empty when there is none.
    var sourceEvidence: [Evidence] {
        isEmpty ? [] : [Evidence("source", map(\.location).joined(separator: ","))]
    }
}
