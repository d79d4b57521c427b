#!/usr/bin/env bash
# Records this fixture: the incident's Docker host (uplink eth0 with forwarding=0 while all.forwarding=1,
# bridge docker0 with port veth0ee43ed), built in throw-away network namespaces. Only the files
# ProcReader reads are copied. Run as root: bash record.sh
set -euo pipefail
out="$(cd "$(dirname "$0")" && pwd)/proc"
suffix="$RANDOM$RANDOM"
host="fwt-rec-host-$suffix" client="fwt-rec-client-$suffix" container="fwt-rec-ctr-$suffix"
cleanup() { for ns in "$host" "$client" "$container"; do ip netns delete "$ns" 2>/dev/null || true; done; }
trap cleanup EXIT
for ns in "$host" "$client" "$container"; do
  ip netns add "$ns"; ip -n "$ns" link set lo up
  ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1
done
ip -n "$host" link add eth0 type veth peer name eth0 netns "$client"
ip -n "$host" address add 192.0.2.10/24 dev eth0; ip -n "$host" link set eth0 up
ip -n "$client" address add 192.0.2.1/24 dev eth0; ip -n "$client" link set eth0 up
ip -n "$host" route add default via 192.0.2.1
ip -n "$client" route add 172.17.0.0/16 via 192.0.2.10
ip -n "$host" link add docker0 type bridge
ip -n "$host" address add 172.17.0.1/16 dev docker0; ip -n "$host" link set docker0 up
ip -n "$host" link add veth0ee43ed type veth peer name eth0 netns "$container"
ip -n "$host" link set veth0ee43ed master docker0; ip -n "$host" link set veth0ee43ed up
ip -n "$container" address add 172.17.0.2/16 dev eth0; ip -n "$container" link set eth0 up
ip -n "$container" route add default via 172.17.0.1
ip netns exec "$host" sysctl -qw net.ipv4.conf.all.forwarding=1
ip netns exec "$host" sysctl -qw net.ipv4.conf.eth0.forwarding=0        # the incident
ip netns exec "$host" sysctl -qw net.ipv4.conf.all.rp_filter=2 net.ipv4.conf.docker0.route_localnet=1
# Three datagrams from the client to the container: dropped on eth0, counted in Ip: InAddrErrors.
for _ in 1 2 3; do ip netns exec "$client" bash -c 'echo probe > /dev/udp/172.17.0.2/9' || true; sleep 0.2; done

rm -rf "$out"
ip netns exec "$host" bash -c '
  set -euo pipefail
  out="$1"
  for dir in /proc/sys/net/ipv4/conf/*; do
    name="${dir##*/}"; mkdir -p "$out/sys/net/ipv4/conf/$name"
    for file in forwarding rp_filter route_localnet bc_forwarding proxy_arp accept_local; do
      cat "$dir/$file" > "$out/sys/net/ipv4/conf/$name/$file"
    done
  done
  for dir in /proc/sys/net/ipv6/conf/*; do
    name="${dir##*/}"; mkdir -p "$out/sys/net/ipv6/conf/$name"
    cat "$dir/forwarding" > "$out/sys/net/ipv6/conf/$name/forwarding"
  done
  mkdir -p "$out/sys/net/bridge" "$out/sys/net/netfilter" "$out/sys/kernel" "$out/net"
  for file in bridge-nf-call-iptables bridge-nf-call-ip6tables bridge-nf-call-arptables; do
    cat "/proc/sys/net/bridge/$file" > "$out/sys/net/bridge/$file"
  done
  cat /proc/sys/net/netfilter/nf_conntrack_count > "$out/sys/net/netfilter/nf_conntrack_count"
  cat /proc/sys/net/netfilter/nf_conntrack_max > "$out/sys/net/netfilter/nf_conntrack_max"
  cat /proc/net/snmp > "$out/net/snmp"
' record "$out"
# The namespace shares the machine's host name; record a fixed one instead.
echo docker-host > "$out/sys/kernel/hostname"
echo "recorded into $out"
