/*
 * Review 102: a program a plugin's run grant names, escaping its kill. argv[1] is the move,
 * argv[2] a marker (kept on every descendant's command line, for /proc). Each move leaves a
 * process outside the plugin's process group and tree (double fork, a session of its own) and
 * returns at once:
 *   orphan  one process that ignores SIGTERM and waits forever
 *   hop     a chain that forks and exits as fast as it can, so no pid lives long
 *   swarm   argv[3] (64) such chains
 *   holds   an orphan that keeps the standard streams it was given (the plugin's pipes)
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>

static void orphan(void) {
  signal(SIGTERM, SIG_IGN);
  signal(SIGHUP, SIG_IGN);
  for (;;) pause();
}

static void hop(void) {
  for (;;) {
    pid_t child = fork();
    if (child > 0) _exit(0); /* the child goes on under a new pid */
    /* fork refused (a pids limit): try again under the same pid */
  }
}

int main(int argc, char **argv) {
  if (argc < 3) return 2;
  if (fork() != 0) return 0; /* the plugin's child exits: its child is orphaned */
  setsid();
  if (fork() != 0) _exit(0);
  int null = open("/dev/null", 2);
  if (null >= 0 && strcmp(argv[1], "holds") != 0) { dup2(null, 0); dup2(null, 1); dup2(null, 2); }
  if (strcmp(argv[1], "hop") == 0) hop();
  if (strcmp(argv[1], "swarm") == 0) {
    int n = argc > 3 ? atoi(argv[3]) : 64;
    for (int i = 1; i < n; i++) if (fork() == 0) break;
    hop();
  }
  orphan();
  return 0;
}
