// fwdwatch's drop attribution: counts the IPv4 TCP/UDP packets the kernel frees with a drop reason that
// matters for forwarding (skb:kfree_skb), by network namespace, ingress interface, reason, protocol and
// original destination, and keeps a ring of recent samples with the client's address.
//
// CO-RE against the running kernel's BTF (vmlinux.h is generated at build time by bpftool, never
// committed); loaded and attached by Sources/FwdwatchDrops/DropProbe.swift, which fills the two filters:
// `drop_config` (the daemon's own network namespace) and `drop_reasons` (which drop reasons count, resolved by name
// from the kernel's BTF `enum skb_drop_reason`, so no numbers are hard-coded here).
//
// SPDX-License-Identifier: (MIT OR GPL-2.0-only)
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>

#define ETH_P_IP 0x0800
#define PROTO_TCP 6
#define PROTO_UDP 17
#define NFCT_PTRMASK (~7UL)
// IP_CT_IS_REPLY: a conntrack info at or above it marks a packet of the reply direction.
#define CT_IS_REPLY 3
#define REASON_SLOTS 512
#define SAMPLE_SLOTS 1024
#define MAX_FLOWS 8192

// Not named `key`: the kernel's headers define a `struct key`.
struct drop_flow {
    __u64 netns;        // the namespace's inode number (what /proc/self/ns/net names)
    __u32 ifindex;      // ingress interface (skb_iif), an ifindex of that namespace
    __u32 reason;       // enum skb_drop_reason
    __u32 daddr;        // original destination (conntrack's original tuple, else the IP header), network order
    __u16 dport;        // network order
    __u8 protocol;      // 6 TCP, 17 UDP
    __u8 from_conntrack;// 1: destination read from the conntrack tuple (before DNAT), 0: from the IP header
};

struct drop_sample {
    __u64 sequence;     // 1, 2, 3 ... in the order samples were written; 0 = empty slot
    __u64 time_ns;      // bpf_ktime_get_ns(): CLOCK_MONOTONIC
    __u32 saddr;        // the client (original source), network order
    __u16 sport;        // network order
    __u16 pad;
    struct drop_flow flow;
};

struct probe_config {
    __u64 netns;        // count only this namespace (0: every namespace)
};

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, struct probe_config);
} drop_config SEC(".maps");

// drop_reasons[r] != 0: drop reason r counts.
struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, REASON_SLOTS);
    __type(key, __u32);
    __type(value, __u8);
} drop_reasons SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_HASH);
    __uint(max_entries, MAX_FLOWS);
    __type(key, struct drop_flow);
    __type(value, __u64);
} drop_flows SEC(".maps");

// The newest SAMPLE_SLOTS samples, overwritten in a circle: [head % SAMPLE_SLOTS].
struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, SAMPLE_SLOTS);
    __type(key, __u32);
    __type(value, struct drop_sample);
} drop_samples SEC(".maps");

// [0]: samples written (the next sequence number - 1); [1]: drops not counted because `drop_flows` was full.
struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 2);
    __type(key, __u32);
    __type(value, __u64);
} drop_counters SEC(".maps");

static __always_inline __u64 netns_of(struct sk_buff *skb)
{
    struct net_device *dev = BPF_CORE_READ(skb, dev);
    if (dev)
        return BPF_CORE_READ(dev, nd_net.net, ns.inum);
    struct sock *sk = BPF_CORE_READ(skb, sk);
    if (sk)
        return BPF_CORE_READ(sk, __sk_common.skc_net.net, ns.inum);
    return 0;
}

SEC("tp_btf/kfree_skb")
int BPF_PROG(fwdwatch_drop, struct sk_buff *skb, void *location, enum skb_drop_reason reason)
{
    __u32 zero = 0;
    __u32 r = (__u32)reason;
    if (r >= REASON_SLOTS)
        return 0;
    __u8 *wanted = bpf_map_lookup_elem(&drop_reasons, &r);
    if (!wanted || !*wanted)
        return 0;
    if (BPF_CORE_READ(skb, protocol) != bpf_htons(ETH_P_IP))
        return 0;

    struct probe_config *cfg = bpf_map_lookup_elem(&drop_config, &zero);
    __u64 netns = netns_of(skb);
    if (cfg && cfg->netns && cfg->netns != netns)
        return 0;

    // The IP header, where the network header points.
    unsigned char *head = BPF_CORE_READ(skb, head);
    __u16 network = BPF_CORE_READ(skb, network_header);
    struct iphdr ip;
    if (bpf_probe_read_kernel(&ip, sizeof(ip), head + network) < 0)
        return 0;
    if (ip.version != 4 || (ip.protocol != PROTO_TCP && ip.protocol != PROTO_UDP))
        return 0;

    struct drop_flow flow = {};
    flow.netns = netns;
    flow.reason = r;
    flow.protocol = ip.protocol;
    flow.ifindex = BPF_CORE_READ(skb, skb_iif);
    if (!flow.ifindex) {
        struct net_device *dev = BPF_CORE_READ(skb, dev);
        if (dev)
            flow.ifindex = BPF_CORE_READ(dev, ifindex);
    }
    __u32 saddr = ip.saddr;
    __u16 sport = 0;
    flow.daddr = ip.daddr;
    // Ports only from the first fragment.
    if (!(ip.frag_off & bpf_htons(0x1fff))) {
        __u16 ports[2];
        if (bpf_probe_read_kernel(ports, sizeof(ports), head + network + ip.ihl * 4) == 0) {
            sport = ports[0];
            flow.dport = ports[1];
        }
    }

    // Conntrack's original tuple: the destination the client asked for, before DNAT (the published port).
    if (bpf_core_type_exists(struct nf_conn) && bpf_core_field_exists(skb->_nfct)) {
        unsigned long nfct = BPF_CORE_READ(skb, _nfct);
        struct nf_conn *ct = (struct nf_conn *)(nfct & NFCT_PTRMASK);
        if (ct) {
            struct nf_conntrack_tuple tuple;
            if (bpf_core_read(&tuple, sizeof(tuple), &ct->tuplehash[0].tuple) == 0 &&
                tuple.dst.protonum == ip.protocol) {
                flow.daddr = tuple.dst.u3.ip;
                flow.dport = tuple.dst.u.all;
                saddr = tuple.src.u3.ip;
                sport = tuple.src.u.all;
                flow.from_conntrack = 1;
            }
        }
    }

    __u64 *count = bpf_map_lookup_elem(&drop_flows, &flow);
    if (count) {
        *count += 1;   // per CPU: no atomics needed
    } else {
        __u64 one = 1;
        if (bpf_map_update_elem(&drop_flows, &flow, &one, BPF_NOEXIST) != 0) {
            // Another CPU may have made it meanwhile; else the map is full.
            count = bpf_map_lookup_elem(&drop_flows, &flow);
            if (count) {
                *count += 1;
            } else {
                __u32 full = 1;
                __u64 *lost = bpf_map_lookup_elem(&drop_counters, &full);
                if (lost)
                    __sync_fetch_and_add(lost, 1);
            }
        }
    }

    __u64 *head_count = bpf_map_lookup_elem(&drop_counters, &zero);
    if (!head_count)
        return 0;
    __u64 sequence = __sync_fetch_and_add(head_count, 1) + 1;
    __u32 slot = (__u32)(sequence % SAMPLE_SLOTS);
    struct drop_sample *sample = bpf_map_lookup_elem(&drop_samples, &slot);
    if (!sample)
        return 0;
    sample->time_ns = bpf_ktime_get_ns();
    sample->saddr = saddr;
    sample->sport = sport;
    sample->flow = flow;
    sample->sequence = sequence;   // last: a reader that sees it sees the rest (or a newer sample)
    return 0;
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
