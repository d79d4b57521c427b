import CLibbpf
import FwdwatchCore
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Why the drop probe cannot run, in words an operator can act on: no CAP_BPF/CAP_PERFMON, no kernel BTF,
/// a kernel without drop reasons.
public struct DropProbeUnavailable: Error, Sendable, CustomStringConvertible {
    public var reason: String
    public init(_ reason: String) { self.reason = reason }
    public var description: String { reason }
}

/// The BPF drop probe (BPF/drops.bpf.c) on `skb:kfree_skb`, loaded into the kernel with libbpf: it counts the
/// IPv4 TCP/UDP packets the kernel drops in this process's network namespace, for the drop reasons that
/// matter to forwarding, by ingress, reason and original destination, and samples the clients.
///
/// `read()` returns what was dropped since the previous `read()` (or since `load`). Needs CAP_BPF and
/// CAP_PERFMON (or root) and a kernel with BTF and `enum skb_drop_reason` (Linux 5.17+). Not thread-safe:
/// one owner calls it at a time. `close()` (or deinit) detaches the program and frees its maps.
public final class DropProbe: @unchecked Sendable {
    /// The reasons counted by default: those a forwarded or published-port packet meets. Names missing from the
    /// running kernel's BTF are skipped.
    public static let forwardingReasons = [
        "IP_INADDRERRORS", "IP_RPFILTER", "NETFILTER_DROP", "NEIGH_FAILED", "NO_SOCKET",
        "IP_INNOROUTES", "IP_OUTNOROUTES", "IP_INVALID_SOURCE", "IP_LOCAL_SOURCE", "IP_LOCALNET", "IP_INVALID_DEST",
        "NEIGH_CREATEFAIL", "NEIGH_QUEUEFULL", "NEIGH_DEAD", "BRIDGE_INGRESS_STP_STATE",
    ]

    /// The counted reasons by their value in this kernel, named as in its BTF (without `SKB_DROP_REASON_`).
    public let reasons: [UInt32: String]
    /// The inode of the network namespace counted (`/proc/self/ns/net`).
    public let networkNamespace: UInt64

    private var object: OpaquePointer?
    private var link: OpaquePointer?
    private let flowsFD: Int32
    private let samplesFD: Int32
    private let countersFD: Int32
    private let cpus: Int
    private var lastCounts: [DropFlow: UInt64] = [:]
    private var lastSequence: UInt64 = 0
    private var lastRead: Double

    /// The slots of the kernel's sample ring (SAMPLE_SLOTS in drops.bpf.c).
    static let sampleSlots: UInt64 = 1024
    static let reasonSlots: UInt32 = 512

    private init(
        object: OpaquePointer, link: OpaquePointer, reasons: [UInt32: String], networkNamespace: UInt64,
        flowsFD: Int32, samplesFD: Int32, countersFD: Int32, cpus: Int
    ) {
        self.object = object
        self.link = link
        self.reasons = reasons
        self.networkNamespace = networkNamespace
        self.flowsFD = flowsFD
        self.samplesFD = samplesFD
        self.countersFD = countersFD
        self.cpus = cpus
        self.lastRead = DropProbe.monotonicSeconds()
    }

    deinit { close() }

    /// Loads the program, fills its filters (this namespace, `reasons` resolved through the kernel's BTF) and
    /// attaches it.
    public static func load(reasons wanted: [String] = forwardingReasons) throws(DropProbeUnavailable) -> DropProbe {
        guard access("/sys/kernel/btf/vmlinux", R_OK) == 0 else {
            throw DropProbeUnavailable(
                "the kernel has no BTF (/sys/kernel/btf/vmlinux is missing: a kernel built without CONFIG_DEBUG_INFO_BTF)")
        }
        let known = try DropReasonNames.fromKernel()
        var reasons: [UInt32: String] = [:]
        for (value, name) in known where wanted.contains(name) && value < reasonSlots { reasons[value] = name }
        guard !reasons.isEmpty else {
            throw DropProbeUnavailable("none of the drop reasons \(wanted.joined(separator: ", ")) exists in this kernel")
        }
        let namespace = try ownNetworkNamespace()

        LibbpfMessages.capture()
        let bytes = DropsProgram.object
        var options = bpf_object_open_opts()
        options.sz = MemoryLayout<bpf_object_open_opts>.size
        let opened: OpaquePointer? = bytes.withUnsafeBytes { buffer in
            "fwdwatch_drops".withCString { name in
                options.object_name = name
                return bpf_object__open_mem(buffer.baseAddress, buffer.count, &options)
            }
        }
        guard let object = opened, libbpf_get_error(UnsafeRawPointer(object)) == 0 else {
            throw DropProbeUnavailable("cannot open the BPF object: \(lastMessage(errno))")
        }
        let loaded = bpf_object__load(object)
        guard loaded == 0 else {
            let error = -loaded
            bpf_object__close(object)
            if error == EPERM || error == EACCES {
                throw DropProbeUnavailable(
                    "not permitted to load BPF programs (\(String(cString: strerror(error)))): it needs CAP_BPF and "
                        + "CAP_PERFMON (or root); under systemd install the drop-in "
                        + "/usr/share/doc/fwdwatch/examples/drops.conf")
            }
            throw DropProbeUnavailable("cannot load the BPF program: \(lastMessage(error))")
        }
        let flows = bpf_object__find_map_fd_by_name(object, "drop_flows")
        let samples = bpf_object__find_map_fd_by_name(object, "drop_samples")
        let counters = bpf_object__find_map_fd_by_name(object, "drop_counters")
        let config = bpf_object__find_map_fd_by_name(object, "drop_config")
        let reasonMap = bpf_object__find_map_fd_by_name(object, "drop_reasons")
        guard flows >= 0, samples >= 0, counters >= 0, config >= 0, reasonMap >= 0 else {
            bpf_object__close(object)
            throw DropProbeUnavailable("the BPF object lacks its maps (a build problem)")
        }
        // The filters, before the program is attached.
        var zero: UInt32 = 0
        var namespaceValue = namespace
        var written = bpf_map_update_elem(config, &zero, &namespaceValue, 0)
        for (value, _) in reasons where written == 0 {
            var key = value
            var on: UInt8 = 1
            written = bpf_map_update_elem(reasonMap, &key, &on, 0)
        }
        guard written == 0 else {
            let error = errno
            bpf_object__close(object)
            throw DropProbeUnavailable("cannot set the BPF program's filters: \(String(cString: strerror(error)))")
        }
        guard let program = bpf_object__find_program_by_name(object, "fwdwatch_drop") else {
            bpf_object__close(object)
            throw DropProbeUnavailable("the BPF object lacks its program (a build problem)")
        }
        let attached = bpf_program__attach(program)
        guard let link = attached, libbpf_get_error(UnsafeRawPointer(link)) == 0 else {
            let error = errno
            bpf_object__close(object)
            throw DropProbeUnavailable(
                "cannot attach to the skb:kfree_skb tracepoint (Linux 5.17 or later): \(lastMessage(error))")
        }
        let cpus = Int(libbpf_num_possible_cpus())
        return DropProbe(
            object: object, link: link, reasons: reasons, networkNamespace: namespace, flowsFD: flows,
            samplesFD: samples, countersFD: counters, cpus: max(cpus, 1))
    }

    /// What was dropped since the previous `read()` (or since `load`): packets per flow, the clients sampled,
    /// the seconds covered.
    public func read() -> DropReading {
        let now = DropProbe.monotonicSeconds()
        let counts = currentCounts()
        let samples = newSamples()
        let reading = DropReading.growth(
            from: lastCounts, to: counts, samples: samples, seconds: max(now - lastRead, 0),
            uncounted: counter(1))
        lastCounts = counts
        lastRead = now
        return reading
    }

    /// Detaches the program and frees its maps; reads afterwards return nothing.
    public func close() {
        if let link { bpf_link__destroy(link) }
        link = nil
        if let object { bpf_object__close(object) }
        object = nil
    }

    // MARK: Reading the maps

    /// Every flow's counter, summed over the CPUs.
    func currentCounts() -> [DropFlow: UInt64] {
        guard object != nil else { return [:] }
        var result: [DropFlow: UInt64] = [:]
        var key = [UInt8](repeating: 0, count: RawFlow.size)
        var next = [UInt8](repeating: 0, count: RawFlow.size)
        var values = [UInt64](repeating: 0, count: cpus)
        var first = true
        // A flow is never deleted, so walking the hash while the kernel adds to it visits each one at most once.
        while true {
            let step = first
                ? bpf_map_get_next_key(flowsFD, nil, &next)
                : bpf_map_get_next_key(flowsFD, &key, &next)
            guard step == 0 else { break }
            first = false
            key = next
            guard bpf_map_lookup_elem(flowsFD, &key, &values) == 0 else { continue }
            let raw = RawFlow(key[...])
            guard raw.networkNamespace == networkNamespace, let flow = raw.flow(reasons: reasons) else { continue }
            result[flow, default: 0] += values.reduce(0, &+)
        }
        return result
    }

    /// The samples written since the last call (at most the ring's size: older ones were overwritten).
    func newSamples() -> [DropFlowSample] {
        guard object != nil else { return [] }
        let written = counter(0)
        guard written > lastSequence else { return [] }
        let oldest = max(lastSequence + 1, written > DropProbe.sampleSlots ? written - DropProbe.sampleSlots + 1 : 1)
        let offset = DropProbe.realtimeSeconds() - DropProbe.monotonicSeconds()
        var result: [DropFlowSample] = []
        var bytes = [UInt8](repeating: 0, count: RawSample.size)
        for sequence in oldest...written {
            var slot = UInt32(sequence % DropProbe.sampleSlots)
            guard bpf_map_lookup_elem(samplesFD, &slot, &bytes) == 0 else { continue }
            let sample = RawSample(bytes)
            // A slot already overwritten by a newer sample is read when its own turn comes.
            guard sample.sequence == sequence, sample.flow.networkNamespace == networkNamespace,
                let flow = sample.flow.flow(reasons: reasons)
            else { continue }
            result.append(
                DropFlowSample(flow: flow, client: sample.client, time: Double(sample.timeNanoseconds) / 1e9 + offset))
        }
        lastSequence = written
        return result
    }

    private func counter(_ index: UInt32) -> UInt64 {
        guard object != nil else { return 0 }
        var key = index
        var value: UInt64 = 0
        return bpf_map_lookup_elem(countersFD, &key, &value) == 0 ? value : 0
    }

    // MARK: Helpers

    static func ownNetworkNamespace() throws(DropProbeUnavailable) -> UInt64 {
        var info = stat()
        guard stat("/proc/self/ns/net", &info) == 0 else {
            throw DropProbeUnavailable("cannot read /proc/self/ns/net: \(String(cString: strerror(errno)))")
        }
        return UInt64(info.st_ino)
    }

    /// libbpf's last message when it said something, else the error's text.
    static func lastMessage(_ error: Int32) -> String {
        let message = LibbpfMessages.last
        let text = error > 0 ? String(cString: strerror(error)) : "error \(error)"
        return message.isEmpty ? text : "\(text) (libbpf: \(message))"
    }

    static func monotonicSeconds() -> Double {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
    }

    static func realtimeSeconds() -> Double {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
    }
}

/// libbpf's warnings, kept (the last one) for the "cannot load" notice instead of printed on stderr.
enum LibbpfMessages {
    private static let lastMessage = Mutex<String>("")

    /// The last warning or error libbpf printed since `capture()`, without its newline.
    static var last: String { lastMessage.withLock { $0 } }

    /// Routes libbpf's messages here (debug ones are dropped) and forgets the previous one.
    static func capture() {
        lastMessage.withLock { $0 = "" }
        _ = libbpf_set_print { level, format, arguments in
            guard level != LIBBPF_DEBUG, let format, let arguments else { return 0 }
            var buffer = [CChar](repeating: 0, count: 512)
            _ = vsnprintf(&buffer, buffer.count, format, arguments)
            var text = String(cString: buffer)
            while text.last == "\n" { text.removeLast() }
            LibbpfMessages.lastMessage.withLock { $0 = text }
            return 0
        }
    }
}

/// `struct drop_flow` of drops.bpf.c, 24 bytes: netns u64, ifindex u32, reason u32, daddr (network order),
/// dport (network order), protocol u8, from_conntrack u8.
struct RawFlow: Equatable {
    static let size = 24
    var networkNamespace: UInt64
    var ingressIndex: UInt32
    var reason: UInt32
    var destination: (UInt8, UInt8, UInt8, UInt8)
    var port: UInt16
    var protocolNumber: UInt8
    var fromConntrack: Bool

    init(_ bytes: ArraySlice<UInt8>) {
        let base = bytes.startIndex
        func le<T: FixedWidthInteger>(_ offset: Int, _: T.Type) -> T {
            var value: T = 0
            for index in 0..<MemoryLayout<T>.size { value |= T(bytes[base + offset + index]) << (8 * index) }
            return value
        }
        networkNamespace = le(0, UInt64.self)
        ingressIndex = le(8, UInt32.self)
        reason = le(12, UInt32.self)
        destination = (bytes[base + 16], bytes[base + 17], bytes[base + 18], bytes[base + 19])
        port = UInt16(bytes[base + 20]) << 8 | UInt16(bytes[base + 21])
        protocolNumber = bytes[base + 22]
        fromConntrack = bytes[base + 23] != 0
    }

    static func == (a: RawFlow, b: RawFlow) -> Bool {
        a.networkNamespace == b.networkNamespace && a.ingressIndex == b.ingressIndex && a.reason == b.reason
            && a.destination == b.destination && a.port == b.port && a.protocolNumber == b.protocolNumber
            && a.fromConntrack == b.fromConntrack
    }

    /// The flow in fwdwatch's terms; nil for a reason or protocol the probe should not have counted.
    func flow(reasons: [UInt32: String]) -> DropFlow? {
        guard let name = reasons[reason] else { return nil }
        let transport: String
        switch protocolNumber {
        case 6: transport = "tcp"
        case 17: transport = "udp"
        default: return nil
        }
        return DropFlow(
            ingressIndex: Int32(bitPattern: ingressIndex), reason: name, transport: transport,
            destination: "\(destination.0).\(destination.1).\(destination.2).\(destination.3)", destinationPort: port,
            beforeDNAT: fromConntrack)
    }
}

/// `struct drop_sample` of drops.bpf.c, 48 bytes: sequence u64, time_ns u64, saddr (network order), sport,
/// pad, then the flow.
struct RawSample {
    static let size = 48
    var sequence: UInt64
    var timeNanoseconds: UInt64
    var client: String
    var flow: RawFlow

    init(_ bytes: [UInt8]) {
        func le64(_ offset: Int) -> UInt64 {
            var value: UInt64 = 0
            for index in 0..<8 { value |= UInt64(bytes[offset + index]) << (8 * index) }
            return value
        }
        sequence = le64(0)
        timeNanoseconds = le64(8)
        client = "\(bytes[16]).\(bytes[17]).\(bytes[18]).\(bytes[19])"
        flow = RawFlow(bytes[24..<48])
    }
}

/// The kernel's drop reasons, read from its BTF (`enum skb_drop_reason`): names differ between kernels and
/// values move when reasons are added, so nothing is hard-coded.
public enum DropReasonNames {
    /// Value -> name without the `SKB_DROP_REASON_` prefix.
    public static func fromKernel() throws(DropProbeUnavailable) -> [UInt32: String] {
        guard let btf = btf__load_vmlinux_btf(), libbpf_get_error(UnsafeRawPointer(btf)) == 0 else {
            throw DropProbeUnavailable("cannot read the kernel's BTF: \(String(cString: strerror(errno)))")
        }
        defer { btf__free(btf) }
        let id = btf__find_by_name_kind(btf, "skb_drop_reason", UInt32(BTF_KIND_ENUM))
        guard id > 0, let type = btf__type_by_id(btf, UInt32(id)) else {
            throw DropProbeUnavailable("this kernel has no drop reasons (enum skb_drop_reason: Linux 5.17 or later)")
        }
        var names: [UInt32: String] = [:]
        let prefix = "SKB_DROP_REASON_"
        let entries = btf_enum(type)
        for index in 0..<Int(btf_vlen(type)) {
            let entry = entries![index]
            guard let cName = btf__name_by_offset(btf, entry.name_off) else { continue }
            var name = String(cString: cName)
            if name.hasPrefix(prefix) { name.removeFirst(prefix.count) }
            names[UInt32(bitPattern: entry.val)] = name
        }
        return names
    }
}
