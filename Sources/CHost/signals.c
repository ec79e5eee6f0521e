#define _GNU_SOURCE
#include "fu_host.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <termios.h>
#include <unistd.h>

#define FU_PENDING_SLOTS 16

static volatile sig_atomic_t child_group = 0;
static volatile sig_atomic_t received = 0;
static volatile sig_atomic_t deferring = 0;
static char *volatile pending[FU_PENDING_SLOTS];

static char *volatile farewell = NULL;
static volatile size_t farewell_length = 0;

static struct termios saved_terminal;
static volatile sig_atomic_t terminal_fd = -1;

static const int handled[] = {SIGINT, SIGTERM, SIGHUP};

static void handler(int signal_number) {
    int saved_errno = errno;
    if (terminal_fd >= 0) {
        tcsetattr(terminal_fd, TCSANOW, &saved_terminal);
        ssize_t ignored = write(STDERR_FILENO, "\n", 1);
        (void)ignored;
        terminal_fd = -1;
    }
    received = signal_number;
    pid_t group = child_group;
    if (group > 0) kill(-group, signal_number);
    if (!deferring && group == 0) {
        for (int i = 0; i < FU_PENDING_SLOTS; i++) {
            char *path = pending[i];
            if (path) unlink(path);
        }
        if (farewell) {
            ssize_t ignored = write(STDERR_FILENO, farewell, farewell_length);
            (void)ignored;
        }
        // Die of the signal itself, so that our parent sees what happened.
        signal(signal_number, SIG_DFL);
        sigset_t only;
        sigemptyset(&only);
        sigaddset(&only, signal_number);
        sigprocmask(SIG_UNBLOCK, &only, NULL);
        raise(signal_number);
        _exit(128 + signal_number);
    }
    errno = saved_errno;
}

void fu_signals_install(void) {
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = handler;
    sigemptyset(&action.sa_mask);
    for (size_t i = 0; i < sizeof handled / sizeof handled[0]; i++) sigaddset(&action.sa_mask, handled[i]);
    sigset_t unblock;
    sigemptyset(&unblock);
    for (size_t i = 0; i < sizeof handled / sizeof handled[0]; i++) {
        sigaction(handled[i], &action, NULL);
        sigaddset(&unblock, handled[i]);
    }
    pthread_sigmask(SIG_UNBLOCK, &unblock, NULL);
    signal(SIGPIPE, SIG_IGN);
}

void fu_signals_set_farewell(const char *line) {
    char *copy = line ? strdup(line) : NULL;
    farewell = NULL;
    farewell_length = copy ? strlen(copy) : 0;
    farewell = copy;
}

void fu_signals_set_child_group(pid_t group) { child_group = group; }
void fu_signals_set_deferring(int value) { deferring = value; }
int fu_signals_received(void) { return received; }
void fu_signals_clear(void) { received = 0; }

int fu_signals_add_pending(const char *path) {
    for (int i = 0; i < FU_PENDING_SLOTS; i++) {
        if (!pending[i]) {
            pending[i] = strdup(path);
            return pending[i] ? i : -1;
        }
    }
    return -1;
}

void fu_signals_remove_pending(int slot) {
    if (slot < 0 || slot >= FU_PENDING_SLOTS) return;
    char *path = pending[slot];
    pending[slot] = NULL;
    free(path);
}

int fu_terminal_silence(int fd) {
    struct termios current;
    if (tcgetattr(fd, &current) != 0) return -1;
    saved_terminal = current;
    terminal_fd = fd;
    current.c_lflag &= ~(tcflag_t)ECHO;
    return tcsetattr(fd, TCSAFLUSH, &current);
}

void fu_terminal_restore(void) {
    int fd = terminal_fd;
    if (fd < 0) return;
    terminal_fd = -1;
    tcsetattr(fd, TCSAFLUSH, &saved_terminal);
}

void fu_disable_core_dumps(void) {
    struct rlimit none = {0, 0};
    setrlimit(RLIMIT_CORE, &none);
    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
}

const char *fu_build_commit(void) {
#ifdef FATE_UPGRADE_COMMIT
    return FATE_UPGRADE_COMMIT;
#else
    return NULL;
#endif
}
