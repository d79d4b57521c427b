import FwdwatchCore
import FwdwatchProc

/// Persistent settings for rule tests, parsed from sysctl.d text by the reader's own parser, so a test
/// reads like the file it stands for.
enum PersistentSettingsFixture {
    static func sysctl(_ text: String, file: String) -> [PersistentSetting] {
        PersistentSettingsText.sysctlSettings(text, file: file)
    }
}
