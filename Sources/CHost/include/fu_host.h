#ifndef FU_HOST_H
#define FU_HOST_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/// What a child is started with. Every descriptor other than 0, 1 and 2 is closed in the
/// child, whatever its close-on-exec flag; signal dispositions and the signal mask are reset.
typedef struct {
    const char *path;            ///< the program, an absolute path
    char *const *argv;           ///< NULL-terminated
    char *const *envp;           ///< NULL-terminated; the whole environment of the child
    const char *directory;       ///< working folder, or NULL to keep ours
    int stdin_fd;                ///< descriptor to become 0
    int stdout_fd;               ///< descriptor to become 1
    int stderr_fd;               ///< descriptor to become 2
    int new_process_group;       ///< nonzero: the child leads a new process group
    int guard_group;             ///< nonzero (with new_process_group): a guardian leads the group and
                                 ///< SIGKILLs all of it when we die, even by SIGKILL; the program runs
                                 ///< in it, and the guardian exits as the program did
    long long uid;               ///< -1: keep; else setgroups(gid), setgid, setuid to these
    long long gid;
} fu_spawn_request;

/// Starts the child (fork and execve; no clone3, pidfd or close_range needed, so it runs on
/// Linux 3.10). Returns 0 and the pid, or an errno value: of fork, or of the child's set-up or
/// execve, reported back through a close-on-exec pipe.
int fu_spawn(const fu_spawn_request *request, pid_t *pid);

/// pipe2(O_CLOEXEC) and mkostemp(O_CLOEXEC), which Swift does not see in Glibc.
int fu_pipe_cloexec(int fds[2]);
int fu_mkstemp_cloexec(char *path_template);


// Signals. One handler for SIGINT, SIGTERM and SIGHUP, written in C because a handler may
// only make async-signal-safe calls. It restores the terminal if a prompt turned echo off,
// passes the signal on to the process group of a running child (as a terminal would), and
// records it. Unless the program defers signals, or a child is running, it then removes the
// registered temporary files and dies of the same signal.

/// Installs the handler, unblocks the three signals (a parent may hand them down blocked) and
/// ignores SIGPIPE, so a closed output becomes EPIPE on write instead of killing a run midway.
void fu_signals_install(void);
/// The process group a signal is passed on to; 0 for none.
void fu_signals_set_child_group(pid_t group);
/// The line written to stderr when a signal ends the run (what was and was not changed); NULL for none.
void fu_signals_set_farewell(const char *line);
/// Nonzero: record signals and let the program stop at its next safe point.
void fu_signals_set_deferring(int deferring);
/// The last signal received since the last clear, or 0.
int fu_signals_received(void);
void fu_signals_clear(void);
/// Registers a file to remove if a signal ends the program; returns a slot, or -1 when full.
int fu_signals_add_pending(const char *path);
void fu_signals_remove_pending(int slot);
/// Turns echo off on a terminal, remembering how to turn it back on, also from the handler.
int fu_terminal_silence(int fd);
void fu_terminal_restore(void);
/// The commit the binary was built from (scripts/release passes -DFATE_UPGRADE_COMMIT), or NULL.
const char *fu_build_commit(void);

/// SHA-256, streaming.
typedef struct {
    uint32_t h[8];
    uint64_t length;
    uint8_t buffer[64];
    size_t pending;
} fu_sha256;
void fu_sha256_init(fu_sha256 *state);
void fu_sha256_update(fu_sha256 *state, const void *data, size_t count);
void fu_sha256_final(fu_sha256 *state, uint8_t digest[32]);
/* The portable rounds even where the processor has SHA instructions (for the tests), or back to the choice by processor. */
void fu_sha256_use_portable(int portable);

/// Core dumps would hold DB_PASS and the ZooKeeper password: none for this process.
void fu_disable_core_dumps(void);

#endif
