import CSystemd
import Foundation

/// Our own rtnetlink socket subscribed to IPv4 netconf changes (RTNLGRP_IPV4_NETCONF): the moment the kernel
/// announces a sysctl flip, the floor under any alert. Create it on a thread inside the namespace to watch.
final class NetconfListener {
    /// `struct sockaddr_nl` (<linux/netlink.h>), which Swift's Glibc module does not export.
    private struct NetlinkAddress {
        var family: sa_family_t
        var pad: UInt16
        var pid: UInt32
        var groups: UInt32
    }

    private static let netlinkAddMembership: Int32 = 1
    private static let solNetlink: Int32 = 270
    private static let ipv4NetconfGroup: Int32 = 24
    private static let newNetconf: UInt16 = 80
    private static let attributeIfindex: UInt16 = 1
    private static let attributeForwarding: UInt16 = 2

    let fd: Int32

    init() throws {
        fd = socket(AF_NETLINK, Int32(SOCK_RAW.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
        guard fd >= 0 else { throw UsageError("netlink socket: \(String(cString: strerror(errno)))") }
        var size: Int32 = 1 << 20
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
        var address = NetlinkAddress(family: sa_family_t(AF_NETLINK), pad: 0, pid: 0, groups: 0)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<NetlinkAddress>.size)) }
        }
        var group = Self.ipv4NetconfGroup
        guard bound == 0,
            setsockopt(fd, Self.solNetlink, Self.netlinkAddMembership, &group, socklen_t(MemoryLayout<Int32>.size)) == 0
        else {
            let reason = String(cString: strerror(errno))
            close(fd)
            throw UsageError("netlink bind/membership: \(reason)")
        }
    }

    deinit { close(fd) }

    /// Waits up to `milliseconds` for a message.
    func wait(milliseconds: Int32) {
        var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        _ = poll(&poller, 1, milliseconds)
    }

    /// Every RTM_NEWNETCONF queued: (when read, ifindex, forwarding).
    func readAvailable() -> [(at: ContinuousClock.Instant, ifindex: Int32?, forwarding: Int32?)] {
        var events: [(at: ContinuousClock.Instant, ifindex: Int32?, forwarding: Int32?)] = []
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
            guard count > 0 else { return events }
            let seen = ContinuousClock.now
            buffer.withUnsafeBytes { raw in
                var offset = 0
                while offset + 16 <= count {
                    let length = Int(raw.loadUnaligned(fromByteOffset: offset, as: UInt32.self))
                    let kind = raw.loadUnaligned(fromByteOffset: offset + 4, as: UInt16.self)
                    guard length >= 16, offset + length <= count else { break }
                    if kind == Self.newNetconf {
                        var ifindex: Int32?
                        var forwarding: Int32?
                        var attribute = offset + 16 + 4  // nlmsghdr, netconfmsg (family and padding)
                        while attribute + 4 <= offset + length {
                            let attributeLength = Int(raw.loadUnaligned(fromByteOffset: attribute, as: UInt16.self))
                            let type = raw.loadUnaligned(fromByteOffset: attribute + 2, as: UInt16.self)
                            guard attributeLength >= 4 else { break }
                            if attributeLength >= 8 {
                                let value = raw.loadUnaligned(fromByteOffset: attribute + 4, as: Int32.self)
                                if type == Self.attributeIfindex { ifindex = value }
                                if type == Self.attributeForwarding { forwarding = value }
                            }
                            attribute += (attributeLength + 3) & ~3
                        }
                        events.append((seen, ifindex, forwarding))
                    }
                    offset += (length + 3) & ~3
                }
            }
        }
    }
}

/// The entries one process sends to the journal, read by repeated queries through libsystemd, not a follower:
/// `sd_journal_wait` is woken by a timer, late. Each query re-seeks to the cursor of the last entry seen
/// (like `journalctl --after-cursor` polling): a reader kept at the tail was seen missing a freshly stored
/// entry until the next one arrived.
final class JournalQuery: @unchecked Sendable {
    private var journal: OpaquePointer?
    private var cursor: String?

    init(pid: Int32) throws {
        let opened = sd_journal_open(&journal, Int32(SD_JOURNAL_LOCAL_ONLY))
        guard opened >= 0, journal != nil else { throw UsageError("sd_journal_open: \(String(cString: strerror(-opened)))") }
        let match = "_PID=\(pid)"
        _ = match.withCString { sd_journal_add_match(journal, $0, 0) }
        sd_journal_seek_tail(journal)
        sd_journal_previous(journal)  // the last entry there is: next() yields only newer ones
        cursor = currentCursor()
    }

    deinit { sd_journal_close(journal) }

    private func currentCursor() -> String? {
        var pointer: UnsafeMutablePointer<CChar>?
        guard sd_journal_get_cursor(journal, &pointer) >= 0, let pointer else { return nil }
        defer { free(pointer) }
        return String(cString: pointer)
    }

    private func reposition() {
        guard let cursor else {
            sd_journal_seek_head(journal)
            return
        }
        sd_journal_seek_cursor(journal, cursor)
        if sd_journal_next(journal) > 0 && sd_journal_test_cursor(journal, cursor) <= 0 {
            sd_journal_previous(journal)  // that entry is gone (rotation): step back so next() yields this one
        }
    }

    private func field(_ name: String) -> String? {
        var data: UnsafeRawPointer?
        var length = 0
        guard sd_journal_get_data(journal, name, &data, &length) >= 0, let data else { return nil }
        let text = String(decoding: UnsafeRawBufferPointer(start: data, count: length), as: UTF8.self)
        return text.firstIndex(of: "=").map { String(text[text.index(after: $0)...]) }
    }

    /// New entries (when read, the fields asked for). When nothing is new, `sd_journal_process` picks up files
    /// journald opened meanwhile, and the query is tried once more.
    func readAvailable(fields: [String] = ["FWDWATCH_RULE", "FWDWATCH_STATE", "FWDWATCH_SUBJECT", "MESSAGE_ID"])
        -> [(at: ContinuousClock.Instant, fields: [String: String])]
    {
        var entries: [(at: ContinuousClock.Instant, fields: [String: String])] = []
        for attempt in 0..<2 {
            reposition()
            while sd_journal_next(journal) > 0 {
                let seen = ContinuousClock.now
                var values: [String: String] = [:]
                for name in fields { values[name] = field(name) }
                entries.append((seen, values))
                cursor = currentCursor()
            }
            if !entries.isEmpty || attempt == 1 { break }
            sd_journal_process(journal)
        }
        return entries
    }
}
