/* Review 143: native code under an OS layer, run by r143_runs.ts on a run grant.
 *   calls <pid>    the kernel calls the seccomp filter and Landlock refuse, aimed at <pid> (a
 *                  process of the host's) where they take one; one "name=outcome" line each
 *   read <path>... opens and reads each path: "path=read <bytes>" or "path=errno <n>"
 *   lease <path> <s>  takes a read lease on path, opened read-only, says how that went, and holds
 *                  it for <s> seconds: an open of the file for writing waits until it ends
 *   version <path> [set]  opens path read-only and prints its inode generation ("generation=<n>");
 *                  with "set", first sets it one higher through ext4's own ioctl number
 * An outcome is "ok <value>", "errno <n>" or, for a call made in a child, "signal <n>". */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static void say(const char *name, long v) {
  if (v < 0) printf("%s=errno %d\n", name, errno);
  else printf("%s=ok %ld\n", name, v);
}

/* getpid through the i386 entry (int 0x80): another ABI, whose numbers mean other calls. */
static void i386_getpid(void) {
#if defined(__x86_64__)
  long ret;
  __asm__ volatile("int $0x80" : "=a"(ret) : "a"(20L) : "memory");
  _exit(ret > 0 ? 0 : 1);
#else
  _exit(2);
#endif
}

static void in_child(const char *name, void (*call)(void)) {
  pid_t pid = fork();
  if (pid == 0) call();
  int status;
  waitpid(pid, &status, 0);
  if (WIFSIGNALED(status)) printf("%s=signal %d\n", name, WTERMSIG(status));
  else printf("%s=exit %d\n", name, WEXITSTATUS(status));
}

static void calls(int target) {
#if defined(__x86_64__)
  in_child("i386", i386_getpid);
  say("x32", syscall(39 | 0x40000000L)); /* getpid, x32 */
  say("x32_unshare", syscall(272 | 0x40000000L, 0x10000000L));
#endif
  say("beyond_table", syscall(1000));
  long args[11] = {0x10000000L, 0, 0, 0, SIGCHLD}; /* struct clone_args: a new user namespace */
  long child = syscall(435, args, sizeof args);
  if (child == 0) _exit(0);
  say("clone3", child);
  say("personality", syscall(SYS_personality, 0x0400000L)); /* READ_IMPLIES_EXEC */
  say("keyctl", syscall(SYS_keyctl, 0L, -4L, 0L)); /* the user keyring's id */
  say("add_key", syscall(SYS_add_key, "user", "r143", "x", 1L, -4L));
  say("request_key", syscall(SYS_request_key, "user", "r143", 0L, 0L));
  say("userfaultfd", syscall(SYS_userfaultfd, 0L));
  say("dev_userfaultfd", open("/dev/userfaultfd", O_RDWR));
  say("perf_event_open", syscall(SYS_perf_event_open, 0L, 0L, -1L, -1L, 0L));
  say("bpf", syscall(SYS_bpf, 0L, 0L, 0L));
  say("io_uring", syscall(425, 1L, 0L));
  char buffer[8];
  struct { void *base; size_t len; } local = {buffer, sizeof buffer}, remote = {(void *)0x400000, 8};
  say("process_vm_readv", syscall(SYS_process_vm_readv, target, &local, 1L, &remote, 1L, 0L));
  say("process_vm_writev", syscall(SYS_process_vm_writev, target, &local, 1L, &remote, 1L, 0L));
  say("ptrace", syscall(SYS_ptrace, 0x4206L, target, 0L, 0L)); /* PTRACE_SEIZE */
  say("kcmp", syscall(SYS_kcmp, getpid(), target, 0L, 0L, 0L));
  char handle[136] = {0};
  int mount_id;
  ((unsigned *)handle)[0] = 128;
  say("name_to_handle_at", syscall(SYS_name_to_handle_at, AT_FDCWD, "/", handle, &mount_id, 0L));
  say("open_by_handle_at", syscall(SYS_open_by_handle_at, AT_FDCWD, handle, 0L));
  say("fsopen", syscall(430, "tmpfs", 0L));
  say("open_tree", syscall(428, AT_FDCWD, "/", 1L)); /* OPEN_TREE_CLONE */
  say("fspick", syscall(433, AT_FDCWD, "/", 0L));
  say("setns", syscall(SYS_setns, open("/proc/self/ns/uts", O_RDONLY), 0L));
  say("kill", syscall(SYS_kill, target, SIGKILL));
  say("tgkill", syscall(SYS_tgkill, target, target, SIGKILL));
  char info[128] = {0};
  ((int *)info)[0] = SIGKILL;
  ((int *)info)[2] = -1; /* SI_QUEUE */
  say("rt_sigqueueinfo", syscall(SYS_rt_sigqueueinfo, target, SIGKILL, info));
  long pidfd = syscall(434, target, 0L);
  if (pidfd < 0) printf("pidfd_send_signal=pidfd errno %d\n", errno);
  else say("pidfd_send_signal", syscall(424, pidfd, SIGKILL, 0L, 0L));
  say("pidfd_getfd", syscall(438, pidfd, 0L, 0L));
  say("af_vsock", socket(40, SOCK_STREAM, 0));
  say("af_alg", socket(38, SOCK_SEQPACKET, 0));
  say("af_packet", socket(17, SOCK_DGRAM, 0));
  say("udp", socket(AF_INET, SOCK_DGRAM, 0));
  say("mptcp", socket(AF_INET, SOCK_STREAM, 262));
  say("sctp", socket(AF_INET6, SOCK_STREAM, 132));
}

static void read_each(int count, char **paths) {
  for (int i = 0; i < count; i++) {
    int fd = open(paths[i], O_RDONLY | O_NONBLOCK);
    if (fd < 0) {
      printf("%s=errno %d\n", paths[i], errno);
      continue;
    }
    char buffer[4096];
    ssize_t n = read(fd, buffer, sizeof buffer);
    if (n < 0) printf("%s=read errno %d\n", paths[i], errno);
    else printf("%s=read %zd\n", paths[i], n);
    close(fd);
  }
}

/* The inode generation through a descriptor opened read-only, set one higher first when `set`. */
static void version(const char *path, int set) {
  int fd = open(path, O_RDONLY);
  long generation = 0;
  if (fd < 0 || ioctl(fd, 0x80087601UL, &generation) < 0) { /* FS_IOC_GETVERSION */
    printf("generation=errno %d\n", errno);
    return;
  }
  if (set) {
    long next = generation + 1;
    say("setversion", ioctl(fd, 0x40086604UL, &next)); /* EXT4_IOC_SETVERSION */
    ioctl(fd, 0x80087601UL, &generation);
  }
  printf("generation=%ld\n", generation);
  close(fd);
}

static void lease(const char *path, int seconds) {
  signal(SIGIO, SIG_IGN); /* the signal a lease's break sends, whose default ends the holder */
  int fd = open(path, O_RDONLY);
  say("lease", fd < 0 ? fd : fcntl(fd, 1024 /* F_SETLEASE */, F_RDLCK));
  sleep(seconds);
}

int main(int argc, char **argv) {
  setvbuf(stdout, NULL, _IONBF, 0);
  if (argc > 2 && strcmp(argv[1], "calls") == 0) calls(atoi(argv[2]));
  else if (argc > 1 && strcmp(argv[1], "read") == 0) read_each(argc - 2, argv + 2);
  else if (argc > 3 && strcmp(argv[1], "lease") == 0) lease(argv[2], atoi(argv[3]));
  else if (argc > 2 && strcmp(argv[1], "version") == 0) version(argv[2], argc > 3);
  else return 2;
  return 0;
}
