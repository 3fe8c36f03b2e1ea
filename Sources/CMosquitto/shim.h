#ifndef PATROLHUB_CMOSQUITTO_SHIM_H
#define PATROLHUB_CMOSQUITTO_SHIM_H
#include <mosquitto.h>

#ifdef __linux__
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

/// Lowers the calling thread's scheduling priority (Linux nice values are
/// per thread). Swift cannot call the variadic syscall() itself.
static inline int patrolhub_nice_current_thread(int increment) {
    pid_t tid = (pid_t)syscall(SYS_gettid);
    return setpriority(PRIO_PROCESS, (id_t)tid, increment);
}
#else
static inline int patrolhub_nice_current_thread(int increment) { (void)increment; return 0; }
#endif

#endif
