/*
 * Thread spawn reference: pthread_create n threads in a row from one
 * thread, like ktstar's thread host starts its worker threads, and time
 * from each create to that thread reporting ready. Every thread stays
 * parked at a futex gate until all are ready (so n threads exist at once,
 * as in a host), then all are released and joined.
 *
 * Arguments: n=N. Prints total_ns (first create to last ready),
 * per_child_ns = total_ns / n, ready_p50_ns/ready_p99_ns of the per-thread
 * create-to-ready times, and thread_private_kb: the process's private
 * memory (smaps_rollup) with every thread parked, less before the first
 * create, ÷ n.
 */
#include "common.h"
#include <pthread.h>

static uint32_t gate, ready_count;
static long n;
static int64_t *readied;

static long private_kb(void)
{
	char line[256];
	FILE *f = fopen("/proc/self/smaps_rollup", "r");
	if (!f)
		return -1;
	long sum = 0;
	while (fgets(line, sizeof line, f))
		if (strncmp(line, "Private_Clean:", 14) == 0 || strncmp(line, "Private_Dirty:", 14) == 0)
			sum += strtol(strchr(line, ':') + 1, NULL, 10);
	fclose(f);
	return sum;
}

static void *thread_main(void *arg)
{
	long i = (long)arg;
	readied[i] = now_ns();
	if (__atomic_add_fetch(&ready_count, 1, __ATOMIC_SEQ_CST) == (uint32_t)n)
		syscall(SYS_futex, &ready_count, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
	while (!__atomic_load_n(&gate, __ATOMIC_SEQ_CST))
		syscall(SYS_futex, &gate, FUTEX_WAIT_PRIVATE, 0, NULL, NULL, 0);
	return NULL;
}

int main(int argc, char **argv)
{
	n = 16;
	for (int i = 1; i < argc; i++)
		if (strncmp(argv[i], "n=", 2) == 0)
			n = strtol(argv[i] + 2, NULL, 10);
	if (n < 1 || n > 100000) {
		fprintf(stderr, "thread_spawn: need n=1..100000\n");
		return 2;
	}
	int64_t *created = calloc((size_t)n, sizeof *created);
	uint64_t *lat = calloc((size_t)n, sizeof *lat);
	readied = calloc((size_t)n, sizeof *readied);
	pthread_t *tids = calloc((size_t)n, sizeof *tids);
	long before = private_kb();
	for (long i = 0; i < n; i++) {
		created[i] = now_ns();
		if (pthread_create(&tids[i], NULL, thread_main, (void *)i)) {
			perror("pthread_create");
			return 2;
		}
	}
	for (uint32_t got; (got = __atomic_load_n(&ready_count, __ATOMIC_SEQ_CST)) < (uint32_t)n;)
		syscall(SYS_futex, &ready_count, FUTEX_WAIT_PRIVATE, got, NULL, NULL, 0);
	long after = private_kb();
	int64_t last = 0;
	for (long i = 0; i < n; i++) {
		lat[i] = (uint64_t)(readied[i] - created[i]);
		if (readied[i] > last)
			last = readied[i];
	}
	int64_t total = last - created[0];
	__atomic_store_n(&gate, 1, __ATOMIC_SEQ_CST);
	syscall(SYS_futex, &gate, FUTEX_WAKE_PRIVATE, INT32_MAX, NULL, NULL, 0);
	for (long i = 0; i < n; i++)
		pthread_join(tids[i], NULL);
	qsort(lat, (size_t)n, sizeof *lat, cmp_u64);
	printf("{\"program\":\"thread_spawn\",\"n\":%ld,\"total_ns\":%lld,\"per_child_ns\":%.1f,"
	       "\"ready_p50_ns\":%lld,\"ready_p99_ns\":%lld,\"thread_private_kb\":%.1f}\n",
	       n, (long long)total, (double)total / (double)n, (long long)pct(lat, (size_t)n, 50),
	       (long long)pct(lat, (size_t)n, 99), (double)(after - before) / (double)n);
	return 0;
}
