"""The seccomp filter every sample loads last, just before its program runs: the system calls a sample has no use
for are refused (EPERM), so neither a namespace of bubblewrap's nor a missing one decides what it can reach.

Why seccomp, and why these: bubblewrap's namespaces do not cover everything. A network namespace leaves the host's
Unix-domain socket files reachable through the read-only root (connect() needs no write on the mount), AF_VSOCK
reaches the hypervisor, and a sample could build user and mount namespaces of its own to get capabilities there.
So socket() is allowed for AF_INET and AF_INET6 only (the sample's network namespace holds just `lo`); namespaces,
mounts, io_uring (whose operations bypass seccomp, IORING_OP_SOCKET included), bpf, perf events, userfaultfd,
keyrings, ptrace, cross-process memory access, System V IPC and POSIX message queues (objects that outlive the
sample in the IPC namespace its worker's samples share) and memfd files (memory outside the address space) are
refused. Where no cgroup bounds a sample's memory as a
whole, process creation is refused too (fork, vfork, clone without CLONE_THREAD): the sample is then one process whose
address-space limit is the limit of the sample. Threads always work.

The rules are built with libseccomp (through pyseccomp's ctypes binding) once, in the checker, and handed to the
worker as BPF bytes, so the worker never maps libseccomp (every library it maps makes each fork dearer). They come
in two stacked filters, because each load costs the kernel time that grows with the filter's length (median per
load here: 183 us for the 94 instructions of the whole set, 123 us for 19): the worker loads the long one once at
start-up, after its own set-up, and every sample inherits it; each sample then loads a short one with what the
worker itself still needs (mount and umount2 for the scratch space, fork for the samples). Other architectures'
system call entries (the 32-bit ABI on x86-64) kill the process.
"""
from __future__ import annotations

import errno
import os

# Refused outright. Names the local libseccomp does not know are skipped (they do not exist there either).
REFUSED = ("unshare", "setns", "mount", "umount2", "pivot_root", "chroot", "move_mount", "open_tree", "fsopen",
           "fsmount", "fsconfig", "fspick", "mount_setattr", "bpf", "perf_event_open", "userfaultfd", "keyctl",
           "add_key", "request_key", "ptrace", "process_vm_readv", "process_vm_writev", "io_uring_setup",
           "io_uring_enter", "io_uring_register", "kexec_load", "kexec_file_load", "init_module", "finit_module",
           "delete_module", "name_to_handle_at", "open_by_handle_at", "lookup_dcookie", "acct", "swapon", "swapoff",
           "reboot", "syslog", "quotactl", "vhangup", "personality",
           # System V IPC objects and POSIX message queues outlive the process that made them (in the worker's
           # IPC namespace, which all its samples share): a sample could leave memory or messages to the next.
           "shmget", "shmat", "shmctl", "shmdt", "semget", "semop", "semtimedop", "semctl", "msgget", "msgsnd",
           "msgrcv", "msgctl", "mq_open", "mq_unlink", "mq_timedsend", "mq_timedreceive", "mq_notify",
           "mq_getsetattr",
           # memfd files hold memory outside the address space (up to RLIMIT_FSIZE each, one per open fd).
           "memfd_create", "memfd_secret")
CLONE_THREAD = 0x00010000
CLONE_NEW_FLAGS = (0x00000080, 0x00020000, 0x02000000, 0x04000000, 0x08000000, 0x10000000, 0x20000000,
                   0x40000000)  # NEWTIME, NEWNS, NEWCGROUP, NEWUTS, NEWIPC, NEWUSER, NEWPID, NEWNET
AF_INET, AF_INET6 = 2, 10


SAMPLE_ONLY = ("mount", "umount2")  # the worker mounts each sample's scratch space


def build_filters(allow_processes: bool) -> tuple[tuple[bytes, bytes] | None, str | None]:
    """The worker's and the sample's filters as BPF bytes, or None and why they cannot be built here (pyseccomp or
    libseccomp missing)."""
    try:
        import pyseccomp as seccomp
    except (ImportError, OSError) as error:  # OSError: pyseccomp found no libseccomp.so.2
        return None, f"no seccomp filter ({type(error).__name__}: {error}; pip install pyseccomp and install " \
                     "libseccomp2)"
    try:
        worker = _export(seccomp, _worker_rules(seccomp))
        sample = _export(seccomp, _sample_rules(seccomp, allow_processes))
    except (RuntimeError, OSError, ValueError) as error:
        return None, f"no seccomp filter (libseccomp failed: {error})"
    return (worker, sample), None


def _new_filter(seccomp):
    rules = seccomp.SyscallFilter(seccomp.ALLOW)
    rules.set_attr(seccomp.Attr.ACT_BADARCH, seccomp.KILL_PROCESS)
    return rules


def _sample_rules(seccomp, allow_processes: bool):
    refuse = seccomp.ERRNO(errno.EPERM)
    rules = _new_filter(seccomp)
    for name in SAMPLE_ONLY:
        rules.add_rule(refuse, name)
    if not allow_processes:
        rules.add_rule(refuse, "fork")
        rules.add_rule(refuse, "vfork")
        rules.add_rule(refuse, "clone", seccomp.Arg(0, seccomp.MASKED_EQ, CLONE_THREAD, 0))
    return rules


def _worker_rules(seccomp):
    refuse = seccomp.ERRNO(errno.EPERM)
    rules = _new_filter(seccomp)
    for name in REFUSED:
        if name in SAMPLE_ONLY:
            continue
        try:
            rules.add_rule(refuse, name)
        except (ValueError, RuntimeError, OSError):
            pass  # unknown to this libseccomp and kernel
    # clone3 passes its flags in memory, which a filter cannot read: ENOSYS makes libc fall back to clone.
    rules.add_rule(seccomp.ERRNO(errno.ENOSYS), "clone3")
    for flag in CLONE_NEW_FLAGS:
        rules.add_rule(refuse, "clone", seccomp.Arg(0, seccomp.MASKED_EQ, flag, flag))
    # socket(): every family but AF_INET and AF_INET6 (an int: anything above 10, high bits included, is out).
    rules.add_rule(refuse, "socket", seccomp.Arg(0, seccomp.LT, AF_INET))
    for family in range(AF_INET + 1, AF_INET6):
        rules.add_rule(refuse, "socket", seccomp.Arg(0, seccomp.EQ, family))
    rules.add_rule(refuse, "socket", seccomp.Arg(0, seccomp.GT, AF_INET6))
    return rules


def _export(seccomp, rules) -> bytes:
    read_end, write_end = os.pipe()
    try:
        with os.fdopen(write_end, "wb") as sink:
            rules.export_bpf(sink)
        program = b""
        while chunk := os.read(read_end, 1 << 16):
            program += chunk
    finally:
        os.close(read_end)
    assert program and len(program) % 8 == 0, "a BPF program is a whole number of 8-byte instructions"
    return program
