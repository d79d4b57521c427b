#ifndef FWDWATCH_CNETLINK_SHIM_H
#define FWDWATCH_CNETLINK_SHIM_H
#include <netlink/netlink.h>
#include <netlink/socket.h>
#include <netlink/cache.h>
#include <netlink/errno.h>
#include <netlink/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/link/bridge.h>
#include <netlink/route/link/veth.h>
#include <netlink/route/addr.h>
#include <netlink/route/route.h>
#include <netlink/route/nexthop.h>
#include <netlink/route/netconf.h>
#include <netlink/route/neighbour.h>
#include <netlink/route/rtnl.h>
#include <linux/rtnetlink.h>
#include <linux/if.h>
#include <linux/netconf.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nf_tables.h>

/* Thread helpers for FwdwatchNetlink. glibc declares setns() only under _GNU_SOURCE, which the Swift
   Glibc module is built without, and prctl() is variadic: Swift can call neither directly. */
#include <sched.h>
#include <sys/prctl.h>
#include <sys/eventfd.h>
extern int setns(int fd, int nstype);
/* glibc 2.32+, declared only under _GNU_SOURCE: "EHOSTUNREACH" for 113, NULL for an unknown value. */
extern const char *strerrorname_np(int errnum);
/** Moves the calling thread into the network namespace open at fd (CLONE_NEWNET). */
static inline int fwdwatch_enter_network_namespace(int fd) { return setns(fd, 0x40000000); }
/** Names the calling thread (the kernel keeps at most 15 characters). */
static inline void fwdwatch_set_thread_name(const char *name) { prctl(PR_SET_NAME, name, 0, 0, 0); }
#endif
