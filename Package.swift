// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "fwdwatch",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "fwdwatch", targets: ["fwdwatch"])
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.6.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.81.0"),
    ],
    targets: [
        // C libraries, found through pkg-config.
        .systemLibrary(
            name: "CNetlink",
            pkgConfig: "libnl-route-3.0",
            providers: [.apt(["libnl-route-3-dev"])]
        ),
        .systemLibrary(
            name: "CSystemd",
            pkgConfig: "libsystemd",
            providers: [.apt(["libsystemd-dev"])]
        ),
        .systemLibrary(
            name: "CLibbpf",
            pkgConfig: "libbpf",
            providers: [.apt(["libbpf-dev"])]
        ),
        // Compiles Sources/FwdwatchDrops/BPF/drops.bpf.c with clang (-target bpf) at build time and embeds
        // the object in generated Swift: needs clang, bpftool and the kernel's BTF on the build machine.
        .plugin(name: "BPFObjectPlugin", capability: .buildTool()),

        // The pure heart: snapshot model, rules, findings, alert tracking. No I/O.
        .target(name: "FwdwatchCore"),
        .target(name: "FwdwatchFixtures"),

        // Edges, one module each.
        .target(name: "FwdwatchProc", dependencies: ["FwdwatchCore"]),
        .target(name: "FwdwatchFirewall", dependencies: ["FwdwatchCore"]),
        .target(name: "FwdwatchNetlink", dependencies: ["FwdwatchCore", "CNetlink"]),
        // Drop attribution: the BPF program on skb:kfree_skb, loaded with libbpf (needs CAP_BPF, CAP_PERFMON).
        .target(
            name: "FwdwatchDrops", dependencies: ["FwdwatchCore", "CLibbpf"], exclude: ["BPF"],
            plugins: ["BPFObjectPlugin"]),
        .target(
            name: "FwdwatchConfig",
            dependencies: ["FwdwatchCore"]
        ),
        .target(
            name: "FwdwatchJournal",
            dependencies: ["FwdwatchCore", "CSystemd", .product(name: "Logging", package: "swift-log")]
        ),
        // Prometheus metrics: the registry, the /metrics endpoint and the node_exporter textfile.
        .target(
            name: "FwdwatchMetrics",
            dependencies: [
                "FwdwatchCore", "FwdwatchConfig",
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .target(
            name: "FwdwatchDaemon",
            dependencies: [
                "FwdwatchCore", "FwdwatchProc", "FwdwatchNetlink", "FwdwatchConfig", "FwdwatchJournal",
                "FwdwatchFirewall", "FwdwatchMetrics", "FwdwatchDrops",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ]
        ),

        // The harness of the integration tests and the benchmark: network namespaces, the daemon as a child,
        // Shell, journald. No XCTest/Testing in it.
        .target(name: "FwdwatchTestSupport"),

        // Prints the generated hosts of the scale benchmark (fwdwatch-bench scale builds them in-process).
        .executableTarget(name: "fwdwatch-fixtures", dependencies: ["FwdwatchFixtures"]),

        // The benchmark of issue 12 (scripts/bench/run.sh): scale, latency, churn, idle, on the test harness.
        .executableTarget(
            name: "fwdwatch-bench",
            dependencies: [
                "FwdwatchCore", "FwdwatchDaemon", "FwdwatchFirewall", "FwdwatchFixtures", "FwdwatchTestSupport", "CSystemd",
            ]
        ),

        // Thin command line.
        .executableTarget(
            name: "fwdwatch",
            dependencies: [
                "FwdwatchCore", "FwdwatchDaemon", "FwdwatchConfig", "FwdwatchJournal", "FwdwatchMetrics",
                "FwdwatchDrops",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),

        // The recorded fixtures every test target reads through Bundle.module (rule sets, a /proc tree, stack
        // hosts), and stand-ins for journald and the console. Test code only: no product links it.
        .target(
            name: "FwdwatchTestFixtures",
            dependencies: ["FwdwatchJournal"],
            path: "Tests/Fixtures",
            resources: [.copy("firewall"), .copy("proc-docker-host"), .copy("stacks")]
        ),

        // One unit-test target per module: pure, no root, run in parallel (scripts/test.sh).
        .testTarget(
            name: "FwdwatchCoreTests",
            // Firewall parses the recorded rule sets, and Proc the sysctl.d text, that the rules' tests start from.
            dependencies: [
                "FwdwatchCore", "FwdwatchProc", "FwdwatchFirewall", "FwdwatchFixtures", "FwdwatchTestFixtures",
                "FwdwatchTestSupport",
            ]
        ),
        .testTarget(
            name: "FwdwatchConfigTests",
            dependencies: ["FwdwatchConfig", "FwdwatchCore", "FwdwatchTestSupport"]
        ),
        .testTarget(
            name: "FwdwatchProcTests",
            dependencies: ["FwdwatchProc", "FwdwatchCore", "FwdwatchTestFixtures"]
        ),
        .testTarget(
            name: "FwdwatchFirewallTests",
            dependencies: ["FwdwatchFirewall", "FwdwatchCore", "FwdwatchTestFixtures"]
        ),
        .testTarget(
            name: "FwdwatchJournalTests",
            dependencies: [
                "FwdwatchJournal", "FwdwatchCore", "FwdwatchTestFixtures", .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(
            name: "FwdwatchNetlinkTests",
            dependencies: ["FwdwatchNetlink", "FwdwatchCore", "CNetlink"]
        ),
        .testTarget(
            name: "FwdwatchMetricsTests",
            dependencies: ["FwdwatchMetrics", "FwdwatchCore", "FwdwatchConfig"]
        ),
        .testTarget(
            name: "FwdwatchDaemonTests",
            dependencies: [
                "FwdwatchDaemon", "FwdwatchCore", "FwdwatchConfig", "FwdwatchFirewall", "FwdwatchJournal",
                "FwdwatchMetrics", "FwdwatchNetlink", "FwdwatchProc", .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // The real kernel, journald, systemd and binary: root, network namespaces, one test at a time.
        .testTarget(
            name: "FwdwatchIntegrationTests",
            dependencies: [
                "FwdwatchCore", "FwdwatchProc", "FwdwatchJournal", "FwdwatchNetlink", "FwdwatchFirewall",
                "FwdwatchTestSupport", "FwdwatchTestFixtures",
            ],
            // Recorded snapshots and expected reports, read by path: the tests run the real binary on them.
            exclude: ["Golden"]
        ),
    ],
    swiftLanguageModes: [.v6]
)
