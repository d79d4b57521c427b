#ifndef FWDWATCH_CLIBBPF_SHIM_H
#define FWDWATCH_CLIBBPF_SHIM_H
#include <bpf/libbpf.h>
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <linux/btf.h>

/* libbpf's print callback takes a va_list; Swift cannot format one. This one keeps libbpf's last
   warning in a buffer for the "cannot load" notice and prints nothing. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
static char fwdwatch_libbpf_last_message[512];
static inline int fwdwatch_libbpf_print(enum libbpf_print_level level, const char *format, va_list args) {
    if (level == LIBBPF_DEBUG) return 0;
    vsnprintf(fwdwatch_libbpf_last_message, sizeof fwdwatch_libbpf_last_message, format, args);
    return 0;
}
/** Routes libbpf's messages into the buffer `fwdwatch_libbpf_last()` reads. */
static inline void fwdwatch_libbpf_quiet(void) {
    libbpf_set_print(fwdwatch_libbpf_print);
}
/** libbpf's last warning or error, without its trailing newline; empty when there was none. */
static inline const char *fwdwatch_libbpf_last(void) {
    size_t n = strlen(fwdwatch_libbpf_last_message);
    while (n > 0 && fwdwatch_libbpf_last_message[n - 1] == '\n') fwdwatch_libbpf_last_message[--n] = 0;
    return fwdwatch_libbpf_last_message;
}
static inline void fwdwatch_libbpf_clear(void) { fwdwatch_libbpf_last_message[0] = 0; }
#endif
