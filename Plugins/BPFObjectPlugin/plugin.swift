import Foundation
import PackagePlugin

/// Compiles the target's BPF program (`BPF/drops.bpf.c`) with clang at build time and embeds the object as
/// bytes in a generated Swift file (`DropsProgramObject.hex`), so a clean clone builds with `swift build`
/// and no compiled object is committed. The work is done by `BPF/build-bpf.sh` (bpftool, clang, od).
@main
struct BPFObjectPlugin: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: Target) throws -> [Command] {
        guard target is SourceModuleTarget else { return [] }
        // Target.directoryURL needs tools version 6.1; the package is 6.0.
        let directory = context.package.directoryURL.appending(path: "Sources/\(target.name)/BPF")
        let source = directory.appending(path: "drops.bpf.c")
        let script = directory.appending(path: "build-bpf.sh")
        let work = context.pluginWorkDirectoryURL.appending(path: "bpf")
        let output = context.pluginWorkDirectoryURL.appending(path: "DropsProgramObject.swift")
        return [
            .buildCommand(
                displayName: "Compiling the BPF program \(source.lastPathComponent)",
                executable: URL(fileURLWithPath: "/bin/sh"),
                arguments: [script.path, source.path, work.path, output.path],
                inputFiles: [source, script],
                outputFiles: [output])
        ]
    }
}
