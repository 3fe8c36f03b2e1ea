#ifndef PATROLHUB_CMOSQUITTO_SHIM_H
#define PATROLHUB_CMOSQUITTO_SHIM_H
#include <mosquitto.h>
#include <stdio.h>

/// Line-buffers standard output, so printed lines and log lines (stderr)
/// keep their order when both are piped. (Swift 6 refuses to touch the C
/// global `stdout` directly.)
static inline void patrolhub_line_buffer_stdout(void) { setvbuf(stdout, NULL, _IOLBF, 0); }

#ifdef __linux__
#include <sys/prctl.h>
/// Names the calling thread for ps, top -H and perf (the kernel keeps the
/// first 15 bytes). Swift cannot call the variadic prctl() itself.
static inline void patrolhub_name_current_thread(const char *name) { (void)prctl(PR_SET_NAME, name, 0, 0, 0); }
#else
static inline void patrolhub_name_current_thread(const char *name) { (void)name; }
#endif

#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 33))
#include <malloc.h>
/// The C heap as glibc's malloc sees it (mallinfo2): bytes handed out and not
/// freed (small blocks and mmapped ones), and bytes it holds from the system.
static inline int patrolhub_heap(size_t *in_use, size_t *held) {
    struct mallinfo2 m = mallinfo2();
    *in_use = m.uordblks + m.hblkhd;
    *held = m.arena + m.hblkhd;
    return 1;
}
#else
static inline int patrolhub_heap(size_t *in_use, size_t *held) { *in_use = 0; *held = 0; return 0; }
#endif

#endif
