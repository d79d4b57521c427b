#ifndef FWDWATCH_CLIBBPF_SHIM_H
#define FWDWATCH_CLIBBPF_SHIM_H
#include <bpf/libbpf.h>
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <linux/btf.h>
#endif
