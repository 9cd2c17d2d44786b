/*
 * Spawn reference: fork + exec a trivial binary n times in a row from one
 * parent, like ktstar's spawner creates its workers, and time from each
 * fork to that child reporting ready. Every child stays parked until all are
 * ready (so n processes exist at once, as with ktstar), then all are
 * released and reaped.
 *
 * Arguments: n=N child=PATH. Prints total_ns (first fork to last ready),
 * per_child_ns = total_ns / n, ready_p50_ns/ready_p99_ns of the per-child
 * fork-to-ready times, and child 0's memory from /proc/PID/smaps_rollup.
 */
#include "common.h"

/* smaps_kb returns the sum of the named smaps_rollup fields of pid, in kB. */
static long smaps_kb(pid_t pid, const char *const *fields)
{
	char path[64], line[256];
	snprintf(path, sizeof path, "/proc/%d/smaps_rollup", pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	long sum = 0;
	while (fgets(line, sizeof line, f))
		for (const char *const *fl = fields; *fl; fl++) {
			size_t n = strlen(*fl);
			if (strncmp(line, *fl, n) == 0 && line[n] == ':')
				sum += strtol(line + n + 1, NULL, 10);
		}
	fclose(f);
	return sum;
}

int main(int argc, char **argv)
{
	long n = 16;
	const char *child = NULL;
	for (int i = 1; i < argc; i++) {
		if (strncmp(argv[i], "n=", 2) == 0)
			n = strtol(argv[i] + 2, NULL, 10);
		else if (strncmp(argv[i], "child=", 6) == 0)
			child = argv[i] + 6;
	}
	if (n < 1 || n > 100000 || !child) {
		fprintf(stderr, "spawn: need n=1..100000 and child=PATH\n");
		return 2;
	}
	int ready[2], gate[2];
	if (pipe2(ready, O_CLOEXEC) || pipe2(gate, O_CLOEXEC)) {
		perror("pipe");
		return 2;
	}
	int64_t *forked = calloc((size_t)n, sizeof *forked);
	uint64_t *lat = calloc((size_t)n, sizeof *lat);
	pid_t *pids = calloc((size_t)n, sizeof *pids);
	extern char **environ;
	for (long i = 0; i < n; i++) {
		char idx[24];
		snprintf(idx, sizeof idx, "%ld", i);
		forked[i] = now_ns();
		pids[i] = fork();
		if (pids[i] < 0) {
			perror("fork");
			return 2;
		}
		if (pids[i] == 0) {
			/* dup2 clears O_CLOEXEC on the new descriptors */
			if (dup2(ready[1], 3) < 0 || dup2(gate[0], 4) < 0)
				_exit(126);
			char *cargv[] = {"spawn_child", idx, NULL};
			execve(child, cargv, environ);
			_exit(127);
		}
	}
	close(ready[1]);
	int64_t last = 0;
	for (long got = 0; got < n; got++) {
		int64_t rec[2];
		ssize_t r = read(ready[0], rec, sizeof rec);
		if (r != sizeof rec) {
			fprintf(stderr, "spawn: child %ld of %ld never became ready\n", got, n);
			return 1;
		}
		if (rec[0] < 0 || rec[0] >= n)
			return 1;
		lat[rec[0]] = (uint64_t)(rec[1] - forked[rec[0]]);
		if (rec[1] > last)
			last = rec[1];
	}
	int64_t total = last - forked[0];
	const char *anon[] = {"Anonymous", NULL};
	const char *priv[] = {"Private_Clean", "Private_Dirty", NULL};
	const char *rss[] = {"Rss", NULL};
	long anon_kb = smaps_kb(pids[0], anon), priv_kb = smaps_kb(pids[0], priv), rss_kb = smaps_kb(pids[0], rss);
	close(gate[1]);
	int failed = 0;
	for (long i = 0; i < n; i++) {
		int st;
		if (waitpid(pids[i], &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st))
			failed = 1;
	}
	qsort(lat, (size_t)n, sizeof *lat, cmp_u64);
	printf("{\"program\":\"spawn\",\"n\":%ld,\"child\":\"%s\",\"total_ns\":%lld,\"per_child_ns\":%.1f,"
	       "\"ready_p50_ns\":%lld,\"ready_p99_ns\":%lld,\"child_anon_kb\":%ld,\"child_private_kb\":%ld,"
	       "\"child_rss_kb\":%ld}\n",
	       n, child, (long long)total, (double)total / (double)n, (long long)pct(lat, (size_t)n, 50),
	       (long long)pct(lat, (size_t)n, 99), anon_kb, priv_kb, rss_kb);
	return failed;
}
