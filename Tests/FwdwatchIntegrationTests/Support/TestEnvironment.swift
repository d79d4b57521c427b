// The harness itself (namespaces, the daemon, Shell, journald) is the library FwdwatchTestSupport, shared with
// the benchmark (fwdwatch-bench); re-exported here so every file of this target sees it. What needs the Testing
// module stays in this target.
@_exported import FwdwatchTestSupport
import Testing

/// The message for `.enabled(if: isRoot, rootRequired)` traits.
let rootRequired: Comment = "needs root: creates network namespaces"
