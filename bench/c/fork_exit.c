/*
 * ForkExit reference: fork a child that calls _exit(0) at once, then reap it
 * with a blocking waitpid (a wake sample); one work unit per pass.
 */
#include "common.h"

static int step(struct worker *w)
{
	pid_t pid = fork();
	if (pid < 0) {
		w->units++;
		return 1;
	}
	if (pid == 0)
		_exit(0);
	int64_t t0 = now_ns();
	waitpid(pid, NULL, 0);
	sample(w, 0, now_ns() - t0);
	w->units++;
	return 1;
}

PROG_MAIN(.name = "fork_exit", .group = 1, .streams = {"wake"}, .step = step)
