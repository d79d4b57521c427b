import FwdwatchCore
import Testing

@testable import FwdwatchNetlink

@Suite("Netlink update publishing")
struct NetlinkUpdatePublishingTests {
    @Test("A newer state never hides an unread .resynced or .initial; event counts add up")
    func stickyUpdates() async {
        let (stream, continuation) = AsyncStream.makeStream(
            of: NetlinkUpdate.self, bufferingPolicy: .bufferingNewest(1))
        let publisher = UpdatePublisher(continuation)
        let first = NetlinkState(links: [Link(index: 1, name: "lo")])
        let second = NetlinkState(links: [Link(index: 2, name: "eth0")])
        let third = NetlinkState(links: [Link(index: 3, name: "br0")])

        publisher.publish(.resynced(first, reason: "overrun"))
        publisher.publish(.changed(second, events: 3))
        var iterator = stream.makeAsyncIterator()
        guard case .resynced(let state, let reason) = await iterator.next() else {
            Issue.record("the resync was lost")
            return
        }
        #expect(state == second && reason == "overrun")

        publisher.publish(.changed(second, events: 2))
        publisher.publish(.changed(third, events: 5))
        guard case .changed(let latest, let events) = await iterator.next() else {
            Issue.record("expected a .changed update")
            return
        }
        #expect(latest == third && events == 7)

        publisher.publish(.initial(first))
        publisher.publish(.changed(third, events: 1))
        guard case .initial(let initial) = await iterator.next() else {
            Issue.record("the initial update was lost")
            return
        }
        #expect(initial == third)
        publisher.finish()
        #expect(await iterator.next() == nil)
    }
}
