#define _GNU_SOURCE
#include "fu_host.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef SYS_close_range
#define SYS_close_range 436
#endif
#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

struct fu_dirent64 {
    uint64_t d_ino;
    int64_t d_off;
    unsigned short d_reclen;
    unsigned char d_type;
    char d_name[];
};

/// Marks every descriptor from 3 up close-on-exec. Runs between fork and execve, so only
/// system calls: close_range where the kernel has it (5.11+), else the entries of
/// /proc/self/fd read with getdents64 into a stack buffer, else every number up to the limit.
static void mark_cloexec_from_3(void) {
    if (syscall(SYS_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC) == 0) return;
    int folder = (int)syscall(SYS_openat, AT_FDCWD, "/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (folder >= 0) {
        char buffer[4096];
        for (;;) {
            long count = syscall(SYS_getdents64, folder, buffer, sizeof buffer);
            if (count < 0 && errno == EINTR) continue;
            if (count <= 0) break;
            for (long offset = 0; offset < count;) {
                struct fu_dirent64 *entry = (struct fu_dirent64 *)(buffer + offset);
                offset += entry->d_reclen;
                int fd = 0, valid = entry->d_name[0] != 0;
                for (const char *c = entry->d_name; *c; c++) {
                    if (*c < '0' || *c > '9') { valid = 0; break; }
                    fd = fd * 10 + (*c - '0');
                }
                if (valid && fd >= 3 && fd != folder) fcntl(fd, F_SETFD, FD_CLOEXEC);
            }
        }
        close(folder);
        return;
    }
    struct rlimit limit;
    long top = getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur != RLIM_INFINITY ? (long)limit.rlim_cur : 65536;
    if (top > 1 << 20) top = 1 << 20;
    for (long fd = 3; fd < top; fd++) fcntl((int)fd, F_SETFD, FD_CLOEXEC);
}

/// Closes every descriptor from 3 up (the guardian never execs, so close-on-exec does nothing for it,
/// and a pipe of ours it kept open would hold a reader of ours forever).
static void close_from_3(void) {
    if (syscall(SYS_close_range, 3U, ~0U, 0U) == 0) return;
    struct rlimit limit;
    long top = getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur != RLIM_INFINITY ? (long)limit.rlim_cur : 65536;
    if (top > 1 << 20) top = 1 << 20;
    for (long fd = 3; fd < top; fd++) close((int)fd);
}

static void kill_the_group(int signal) {
    (void)signal;
    kill(0, SIGKILL);
}

/// The guardian: leads the group, waits for the program, and takes the whole group down when
/// the process that started it dies (PR_SET_PDEATHSIG). Signals sent to the group by us (Ctrl-C
/// passed on) are for the program: the guardian ignores them. Never returns.
static void guard(pid_t program, pid_t parent) {
    int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (devnull >= 0) { dup2(devnull, 0); dup2(devnull, 1); dup2(devnull, 2); }
    close_from_3();
    struct sigaction ignore = {0}, killer = {0};
    ignore.sa_handler = SIG_IGN;
    int passed_on[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGPIPE, SIGTSTP, SIGTTIN, SIGTTOU};
    for (size_t i = 0; i < sizeof passed_on / sizeof passed_on[0]; i++) sigaction(passed_on[i], &ignore, NULL);
    killer.sa_handler = kill_the_group;
    sigaction(SIGUSR1, &killer, NULL);
    prctl(PR_SET_PDEATHSIG, SIGUSR1, 0, 0, 0);
    if (getppid() != parent) kill(0, SIGKILL);  // it died before the line above
    int status;
    while (waitpid(program, &status, 0) < 0) {
        if (errno != EINTR) _exit(127);
    }
    if (WIFEXITED(status)) _exit(WEXITSTATUS(status));
    int signal = WTERMSIG(status);
    struct sigaction deflt = {0};
    deflt.sa_handler = SIG_DFL;
    sigaction(signal, &deflt, NULL);
    sigset_t just;
    sigemptyset(&just);
    sigaddset(&just, signal);
    sigprocmask(SIG_UNBLOCK, &just, NULL);
    kill(getpid(), signal);
    _exit(128 + signal);
}

static void report_and_exit(int pipe_fd, int error) {
    ssize_t ignored = write(pipe_fd, &error, sizeof error);
    (void)ignored;
    _exit(127);
}

/// Moves a descriptor that must become 0, 1 or 2 out of that range first, so that setting
/// up one standard descriptor cannot close another's source.
static int lift(int fd) {
    if (fd > 2) return fd;
    return fcntl(fd, F_DUPFD_CLOEXEC, 3);
}

int fu_spawn(const fu_spawn_request *request, pid_t *pid) {
    int pipe_fds[2];
    if (pipe2(pipe_fds, O_CLOEXEC) != 0) return errno;

    // No handler of ours may run in the child between fork and the reset below.
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);

    pid_t child = fork();
    if (child < 0) {
        int error = errno;
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        close(pipe_fds[0]);
        close(pipe_fds[1]);
        return error;
    }
    if (child == 0) {
        int report = pipe_fds[1];
        // Through the system call: the C library refuses to touch the signals it keeps for
        // itself (32, 33), which a parent may still have ignored.
        struct { void *handler; unsigned long flags; void *restorer; uint64_t mask; } deflt = {0, 0, 0, 0};
        for (int signal = 1; signal <= 64; signal++) {
            if (signal != SIGKILL && signal != SIGSTOP) syscall(SYS_rt_sigaction, signal, &deflt, NULL, sizeof deflt.mask);
        }
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);

        if (request->new_process_group && setpgid(0, 0) != 0) report_and_exit(report, errno);
        if (request->new_process_group && request->guard_group) {
            pid_t parent = getppid();
            pid_t program = fork();
            if (program < 0) report_and_exit(report, errno);
            if (program > 0) guard(program, parent);
            // The program: in the guardian's group; set-up errors still go to `report`.
        }

        int in = lift(request->stdin_fd), out = lift(request->stdout_fd), err = lift(request->stderr_fd);
        if (in < 0 || out < 0 || err < 0) report_and_exit(report, errno);
        if (dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(err, 2) < 0) report_and_exit(report, errno);
        mark_cloexec_from_3();

        if (request->uid >= 0) {
            gid_t gid = (gid_t)request->gid;
            if (syscall(SYS_setgroups, 1, &gid) != 0) report_and_exit(report, errno);
            if (syscall(SYS_setgid, gid) != 0) report_and_exit(report, errno);
            if (syscall(SYS_setuid, (uid_t)request->uid) != 0) report_and_exit(report, errno);
        }
        if (request->directory && chdir(request->directory) != 0) report_and_exit(report, errno);
        execve(request->path, request->argv, request->envp);
        report_and_exit(report, errno);
    }

    pthread_sigmask(SIG_SETMASK, &old, NULL);
    close(pipe_fds[1]);
    int error = 0;
    ssize_t got;
    do {
        got = read(pipe_fds[0], &error, sizeof error);
    } while (got < 0 && errno == EINTR);
    close(pipe_fds[0]);
    if (got == (ssize_t)sizeof error) {
        // The child never ran the program; reap it so it leaves no zombie.
        int status;
        while (waitpid(child, &status, 0) < 0 && errno == EINTR) {}
        return error ? error : ECHILD;
    }
    *pid = child;
    return 0;
}

int fu_pipe_cloexec(int fds[2]) { return pipe2(fds, O_CLOEXEC); }
int fu_mkstemp_cloexec(char *path_template) { return mkostemp(path_template, O_CLOEXEC); }
