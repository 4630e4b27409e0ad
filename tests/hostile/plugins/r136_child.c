/*
 * Review 136: a program a plugin's run grant names, made to outlive its host. argv[1] is the move,
 * argv[2] a marker (kept on every descendant's command line, for /proc). Every process it leaves
 * ignores SIGTERM, SIGINT and SIGHUP, and closes the streams it was given.
 *   stay    stays the plugin's own child: in its process group and tree
 *   escape  double-forks into a session of its own (out of the group and tree), and returns
 */
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

static void hold(void) {
  signal(SIGTERM, SIG_IGN);
  signal(SIGINT, SIG_IGN);
  signal(SIGHUP, SIG_IGN);
  int null = open("/dev/null", O_RDWR);
  if (null >= 0) { dup2(null, 0); dup2(null, 1); dup2(null, 2); }
  for (;;) pause();
}

int main(int argc, char **argv) {
  if (argc < 3) return 2;
  if (strcmp(argv[1], "stay") == 0) hold();
  if (fork() != 0) return 0; /* the plugin's child exits: its child is orphaned */
  setsid();
  if (fork() != 0) _exit(0);
  hold();
  return 0;
}
