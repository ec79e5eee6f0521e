#!/usr/bin/python3
"""Run a program as if on CentOS 7's kernel (Linux 3.10): every system call added after 3.10
fails with ENOSYS, as it would there. Optionally inside a chroot.

    /usr/bin/python3 old_kernel.py [--chroot DIR] [--denied FILE] PROGRAM ARGS...

--denied FILE writes the names of the calls the filter denies, one a line. Needs Debian's
python3-seccomp (libseccomp), and root for --chroot.
"""
import errno
import os
import sys

import seccomp

# x86_64 system calls added after Linux 3.10, in the order the kernel added them.
NEWER_THAN_3_10 = """
sched_setattr sched_getattr renameat2 seccomp getrandom memfd_create kexec_file_load bpf execveat
userfaultfd membarrier mlock2 copy_file_range preadv2 pwritev2 pkey_mprotect pkey_alloc pkey_free
statx io_pgetevents rseq pidfd_send_signal io_uring_setup io_uring_enter io_uring_register open_tree
move_mount fsopen fsconfig fsmount fspick pidfd_open clone3 close_range openat2 pidfd_getfd
faccessat2 process_madvise epoll_pwait2 mount_setattr quotactl_fd landlock_create_ruleset
landlock_add_rule landlock_restrict_self memfd_secret process_mrelease futex_waitv
set_mempolicy_home_node cachestat fchmodat2 map_shadow_stack futex_wake futex_wait futex_requeue
statmount listmount lsm_get_self_attr lsm_set_self_attr lsm_list_modules mseal
""".split()


def main(argv):
    root = denied_file = None
    while argv and argv[0].startswith("--"):
        if argv[0] == "--chroot":
            root, argv = argv[1], argv[2:]
        elif argv[0] == "--denied":
            denied_file, argv = argv[1], argv[2:]
        else:
            sys.exit("unknown option " + argv[0])
    if not argv:
        sys.exit(__doc__)
    program = seccomp.SyscallFilter(defaction=seccomp.ALLOW)
    denied = []
    for name in NEWER_THAN_3_10:
        try:
            program.add_rule(seccomp.ERRNO(errno.ENOSYS), name)
            denied.append(name)
        except (RuntimeError, ValueError, OSError):
            pass  # a call this libseccomp does not know yet
    if denied_file:
        with open(denied_file, "w") as f:
            f.write("\n".join(denied) + "\n")
    if root:
        os.chroot(root)
        os.chdir("/")
    program.load()
    os.execv(argv[0], argv)


if __name__ == "__main__":
    main(sys.argv[1:])
