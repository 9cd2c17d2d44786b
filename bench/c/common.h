/*
 * Shared harness of the ktstar C reference programs (bench/c).
 *
 * Each program is one translation unit that includes this header, fills a
 * `struct prog` (group size, setup, per-worker init and one loop step) through
 * PROG_MAIN. The harness forks the workers, pins worker i to
 * cpus[i % ncpus], parks them at a futex start gate, releases them together,
 * stops them after the duration through a shared stop word (exactly like
 * ktstar's stop word), and prints one JSON line with the totals, per-worker
 * rates and wake-latency percentiles.
 *
 * Arguments are key=value words:
 *   duration_ms=N   how long the loop runs (default 1000)
 *   workers=N       worker processes (default: the program's group size)
 *   cpus=0,1        pin worker i to cpus[i % n]; empty = inherit
 * plus each program's own integer parameters (its struct prog's params).
 */
#define _GNU_SOURCE
/* Each program uses only some of the helpers below. */
#pragma GCC diagnostic ignored "-Wunused-function"
#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <poll.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_WORKERS 256
#define MAX_CPUS 256
#define RESERVOIR 100000 /* ktstar's MaxWakeSamples */
#define NSTREAMS 2       /* wake samples, and one program-defined stream */
#define STOP_POLL_NS 100000000LL /* every wait is bounded, like ktstar */

static int g_argc;
static char **g_argv;

/* param returns the integer value of key=value on the command line, or def. */
static long param(const char *key, long def)
{
	size_t n = strlen(key);
	for (int i = 1; i < g_argc; i++)
		if (strncmp(g_argv[i], key, n) == 0 && g_argv[i][n] == '=')
			return strtol(g_argv[i] + n + 1, NULL, 0);
	return def;
}

/* sparam returns the string value of key=value, or def. */
static const char *sparam(const char *key, const char *def)
{
	size_t n = strlen(key);
	for (int i = 1; i < g_argc; i++)
		if (strncmp(g_argv[i], key, n) == 0 && g_argv[i][n] == '=')
			return g_argv[i] + n + 1;
	return def;
}

static void die(const char *what)
{
	fprintf(stderr, "%s: %s\n", what, strerror(errno));
	exit(2);
}

static inline int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/*
 * spin_burst does n spin steps: one increment of *units through memory plus
 * the CPU's spin-wait hint, the same two instructions per step as ktstar's
 * assembly spin (INCQ (AX); PAUSE).
 */
static inline void spin_burst(uint64_t *units, uint64_t n)
{
	for (; n; n--) {
#if defined(__x86_64__)
		__asm__ volatile("incq %0\n\tpause" : "+m"(*units));
#elif defined(__aarch64__)
		__asm__ volatile("" : "+m"(*units));
		(*(volatile uint64_t *)units)++;
		__asm__ volatile("yield");
#else
		(*(volatile uint64_t *)units)++;
#endif
	}
}

static long futex(uint32_t *addr, int op, uint32_t val, const struct timespec *ts)
{
	return syscall(SYS_futex, addr, op, val, ts, NULL, 0);
}

/* futex_wait_bounded blocks while *addr == val, at most STOP_POLL_NS; it
 * returns 1 when a FUTEX_WAKE ended the wait (not a changed word, a timeout
 * or a signal), as ktstar's futexWaitTimeout. */
static int futex_wait_bounded(uint32_t *addr, uint32_t val)
{
	struct timespec ts = {0, STOP_POLL_NS};
	return futex(addr, FUTEX_WAIT, val, &ts) == 0;
}

static void futex_wake_n(uint32_t *addr, int n)
{
	futex(addr, FUTEX_WAKE, (uint32_t)n, NULL);
}

/* Per-worker results, written by the worker into the shared block. */
struct result {
	uint64_t units, iterations, wall_ns;
	uint64_t max_gap_ns, migrations; /* the tail's books (not reported) */
	uint64_t total[NSTREAMS]; /* observations, including dropped ones */
	uint64_t kept[NSTREAMS];  /* samples held in the reservoir */
};

/*
 * One-way wake latency, as ktstar's workload/oneway.go: a worker stamps
 * CLOCK_MONOTONIC in its out-slot right before each hand-off (futex store
 * and wake, pipe write); the woken partner samples its clock on seeing the
 * hand-off minus that stamp. A hand-off that came before the partner
 * blocked for it is not sampled.
 */
struct wake_stamp {
	uint64_t seq;       /* hand-offs stamped */
	int64_t stamps[2];  /* of the last two (a symmetric exchange runs one ahead) */
	uint64_t pad;
};

struct shared {
	uint32_t stop;  /* non-zero: leave the loop */
	uint32_t gate;  /* start gate futex word: 1 = open */
	uint32_t ready; /* workers parked at the gate */
	uint32_t pad;
	struct result res[MAX_WORKERS];
	struct wake_stamp out[MAX_WORKERS]; /* each worker's out-slot */
};

/* A worker as its step function sees it. */
struct worker {
	int idx, pos, group;
	uint64_t units, iterations;
	uint64_t *samples[NSTREAMS]; /* RESERVOIR entries each, in shared memory */
	struct result *res;
	uint64_t rng;
	void *priv; /* program-owned */
};

static struct shared *g_sh;

static inline int stopped(void)
{
	return __atomic_load_n(&g_sh->stop, __ATOMIC_RELAXED) != 0;
}

/* sample records one observation into stream s (Vitter's Algorithm R with
 * ktstar's xorshift64, so both sides pay the same per-sample cost). */
static inline void sample(struct worker *w, int s, int64_t ns)
{
	struct result *r = w->res;
	if (ns < 0)
		ns = 0;
	r->total[s]++;
	if (r->kept[s] < RESERVOIR) {
		w->samples[s][r->kept[s]++] = (uint64_t)ns;
		return;
	}
	uint64_t x = w->rng;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	w->rng = x;
	uint64_t j = x % r->total[s];
	if (j < RESERVOIR)
		w->samples[s][j] = (uint64_t)ns;
}

/* stamp records now as the time of w's next hand-off. */
static inline void stamp(struct worker *w)
{
	struct wake_stamp *o = &g_sh->out[w->idx];
	uint64_t k = __atomic_load_n(&o->seq, __ATOMIC_SEQ_CST);
	__atomic_store_n(&o->stamps[k % 2], now_ns(), __ATOMIC_SEQ_CST);
	__atomic_store_n(&o->seq, k + 1, __ATOMIC_SEQ_CST);
}

/* The woken side of a partner's out-slot. */
struct inbox {
	struct wake_stamp *from;
	uint64_t got;
};

/* inbox_of returns the inbox of w's partner at position pos of its group. */
static struct inbox inbox_of(const struct worker *w, int g, int pos)
{
	return (struct inbox){.from = &g_sh->out[w->group * g + pos]};
}

/* inbox_waiting: before a wait for byte number got, whether it is still to
 * come (the partner has not stamped it). */
static inline int inbox_waiting(struct inbox *b)
{
	return __atomic_load_n(&b->from->seq, __ATOMIC_SEQ_CST) <= b->got;
}

/* inbox_receive takes byte number got of a pipe, sampled when real. */
static inline void inbox_receive(struct worker *w, struct inbox *b, int real)
{
	if (real)
		sample(w, 0, now_ns() - __atomic_load_n(&b->from->stamps[b->got % 2], __ATOMIC_SEQ_CST));
	b->got++;
}

/* inbox_take takes a futex hand-off: the partner's latest stamp, sampled
 * when a FUTEX_WAKE ended the last wait. */
static inline void inbox_take(struct worker *w, struct inbox *b, int woken)
{
	uint64_t seq = __atomic_load_n(&b->from->seq, __ATOMIC_SEQ_CST);
	if (woken && seq > b->got)
		sample(w, 0, now_ns() - __atomic_load_n(&b->from->stamps[(seq - 1) % 2], __ATOMIC_SEQ_CST));
	b->got = seq;
}

/*
 * Pipe rings, as ktstar wires them: one pipe per worker; in a group of g
 * the worker at position p reads pipe (p - 1) mod g and writes pipe p.
 * Pairs (g = 2) thus exchange bytes both ways, a chain passes a token on.
 */
static int (*g_pipes)[2];

static void make_pipes(int workers)
{
	g_pipes = calloc((size_t)workers, sizeof *g_pipes);
	if (!g_pipes)
		die("calloc");
	for (int i = 0; i < workers; i++)
		if (pipe(g_pipes[i]))
			die("pipe");
}

static void ring_fds(const struct worker *w, int g, int *rfd, int *wfd)
{
	int base = w->group * g;
	*rfd = g_pipes[base + (w->pos + g - 1) % g][0];
	*wfd = g_pipes[base + w->pos][1];
}

#define MAX_PARAMS 4

/* An integer parameter of a program: read from key=value into *val before
 * anything runs, refused below min, and echoed in the JSON line. */
struct iparam {
	const char *key;
	long def, min;
	long *val;
};

/* A reference program: what the harness needs to run it. */
struct prog {
	const char *name;
	int group;                      /* workers per group; 1 = ungrouped */
	int (*group_of)(void);          /* when set: the group size, from the parameters */
	const char *streams[NSTREAMS];  /* JSON prefixes of sample streams; NULL = unused */
	struct iparam params[MAX_PARAMS]; /* its own parameters; key NULL ends the list */
	void (*setup)(int workers);     /* parent, before fork: pipes, regions */
	void (*init)(struct worker *w); /* child, after pinning, before the gate */
	int (*step)(struct worker *w);  /* one outer iteration; 0 leaves the loop */
};

/* read_params fills p's parameters from the command line; 0 when one is
 * out of range (said on stderr). */
static int read_params(const struct prog *p)
{
	for (const struct iparam *q = p->params; q < p->params + MAX_PARAMS && q->key; q++) {
		*q->val = param(q->key, q->def);
		if (*q->val < q->min) {
			fprintf(stderr, "%s: %s = %ld, need >= %ld\n", p->name, q->key, *q->val, q->min);
			return 0;
		}
	}
	return 1;
}

static void params_json(const struct prog *p)
{
	for (const struct iparam *q = p->params; q < p->params + MAX_PARAMS && q->key; q++)
		printf(",\"%s\":%ld", q->key, *q->val);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* pct is the nearest-rank percentile of sorted v (same rule as the driver). */
static uint64_t pct(const uint64_t *v, size_t n, double p)
{
	if (n == 0)
		return 0;
	size_t k = (size_t)((p / 100.0) * (double)n + 0.999999999);
	if (k < 1)
		k = 1;
	if (k > n)
		k = n;
	return v[k - 1];
}

static int parse_cpus(const char *s, int *out)
{
	int n = 0;
	while (s && *s && n < MAX_CPUS) {
		char *end;
		long a = strtol(s, &end, 10), b = a;
		if (end == s)
			break;
		if (*end == '-')
			b = strtol(end + 1, &end, 10);
		for (long c = a; c <= b && n < MAX_CPUS; c++)
			out[n++] = (int)c;
		s = *end == ',' ? end + 1 : end;
		if (*end != ',' )
			break;
	}
	return n;
}

/* cpu_now reads the CPU the way ktstar's checkpoint does: RDTSCP's
 * TSC_AUX, which Linux sets to the CPU number (as the vDSO's getcpu). */
static inline int cpu_now(void)
{
#if defined(__x86_64__)
	uint32_t lo, hi, aux;
	__asm__ volatile("rdtscp" : "=a"(lo), "=d"(hi), "=c"(aux));
	return (int)(aux & 0xfff);
#else
	return sched_getcpu();
#endif
}

/*
 * The loop's bookkeeping after each step, as ktstar's (the tail in
 * workload/loop.go): a clock read every iteration to publish progress each
 * millisecond and, when the work units reach a multiple of 1024, a
 * checkpoint that keeps the longest gap and reads the CPU to count
 * migrations. The figures go to the worker's result, so the compiler keeps
 * their computation, but are not reported: the reference does the same
 * operations per iteration, so a row whose iteration is short
 * (CachePressure: about 0.5 us, of which this is about 45 ns on each side)
 * compares the work and not whether one side keeps the books.
 */
struct tail {
	int64_t last_pub, last_check, max_gap;
	int last_cpu;
	uint64_t migrations;
};

static inline void tail(struct worker *w, struct tail *t)
{
	int64_t now = now_ns();
	if (now - t->last_pub >= 1000000) {
		__atomic_store_n(&w->res->iterations, w->iterations, __ATOMIC_RELAXED);
		t->last_pub = now;
	}
	if (w->units & 1023)
		return;
	if (now - t->last_check > t->max_gap)
		t->max_gap = now - t->last_check;
	t->last_check = now;
	int cpu = cpu_now();
	if (cpu != t->last_cpu) {
		t->migrations++;
		t->last_cpu = cpu;
	}
}

static void worker_main(const struct prog *p, int idx, int cpu, uint64_t *sbuf)
{
	struct worker w = {.idx = idx, .pos = idx % p->group, .group = idx / p->group};
	w.res = &g_sh->res[idx];
	for (int s = 0; s < NSTREAMS; s++)
		w.samples[s] = sbuf + ((size_t)idx * NSTREAMS + s) * RESERVOIR;
	w.rng = (uint64_t)gettid() * 0x9E3779B97F4A7C15ULL;
	if (w.rng == 0)
		w.rng = 0x9E3779B97F4A7C15ULL;
	if (cpu >= 0) {
		cpu_set_t set;
		CPU_ZERO(&set);
		CPU_SET(cpu, &set);
		if (sched_setaffinity(0, sizeof set, &set))
			die("sched_setaffinity");
	}
	if (p->init)
		p->init(&w);
	__atomic_add_fetch(&g_sh->ready, 1, __ATOMIC_SEQ_CST);
	while (__atomic_load_n(&g_sh->gate, __ATOMIC_ACQUIRE) == 0)
		futex_wait_bounded(&g_sh->gate, 0);

	int64_t t0 = now_ns();
	struct tail t = {.last_pub = t0, .last_check = t0, .last_cpu = cpu_now()};
	while (!stopped()) {
		if (!p->step(&w))
			break;
		w.iterations++;
		tail(&w, &t);
	}
	w.res->wall_ns = (uint64_t)(now_ns() - t0);
	w.res->units = w.units;
	w.res->iterations = w.iterations;
	w.res->max_gap_ns = (uint64_t)t.max_gap;
	w.res->migrations = t.migrations;
	_exit(0);
}

/* run_prog runs p with the command line's arguments; see PROG_MAIN. */
static int run_prog(struct prog *p, int argc, char **argv)
{
	g_argc = argc;
	g_argv = argv;
	if (!read_params(p))
		return 2;
	if (p->group_of)
		p->group = p->group_of();
	long dur_ms = param("duration_ms", 1000);
	int workers = (int)param("workers", p->group);
	int cpus[MAX_CPUS];
	int ncpus = parse_cpus(sparam("cpus", ""), cpus);
	if (workers < 1 || workers > MAX_WORKERS || workers % p->group) {
		fprintf(stderr, "%s: workers = %d must be a multiple of %d in 1..%d\n",
			p->name, workers, p->group, MAX_WORKERS);
		return 2;
	}
	g_sh = mmap(NULL, sizeof *g_sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	size_t sbytes = (size_t)workers * NSTREAMS * RESERVOIR * sizeof(uint64_t);
	uint64_t *sbuf = mmap(NULL, sbytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (g_sh == MAP_FAILED || sbuf == MAP_FAILED)
		die("mmap");
	if (p->setup)
		p->setup(workers);

	pid_t pids[MAX_WORKERS];
	for (int i = 0; i < workers; i++) {
		pids[i] = fork();
		if (pids[i] < 0)
			die("fork");
		if (pids[i] == 0)
			worker_main(p, i, ncpus ? cpus[i % ncpus] : -1, sbuf);
	}
	while (__atomic_load_n(&g_sh->ready, __ATOMIC_SEQ_CST) < (uint32_t)workers)
		usleep(1000);
	int64_t start = now_ns();
	__atomic_store_n(&g_sh->gate, 1, __ATOMIC_RELEASE);
	futex_wake_n(&g_sh->gate, workers);
	struct timespec d = {dur_ms / 1000, (dur_ms % 1000) * 1000000L};
	while (nanosleep(&d, &d) && errno == EINTR)
		;
	int64_t elapsed = now_ns() - start;
	__atomic_store_n(&g_sh->stop, 1, __ATOMIC_SEQ_CST);
	int failed = 0;
	for (int i = 0; i < workers; i++) {
		int st;
		if (waitpid(pids[i], &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st))
			failed = 1;
	}

	/*
	 * Rates are totals over the parent's open-gate-to-stop interval, not per
	 * worker wall time: a paired worker whose partner has already stopped
	 * waits out one bounded wait (up to 100 ms) before it sees the stop, and
	 * that tail must not dilute the rate. The driver measures ktstar the
	 * same way.
	 */
	uint64_t units = 0, iters = 0;
	for (int i = 0; i < workers; i++) {
		units += g_sh->res[i].units;
		iters += g_sh->res[i].iterations;
	}
	printf("{\"program\":\"%s\",\"workers\":%d,\"duration_ms\":%ld,\"elapsed_ns\":%lld", p->name,
	       workers, dur_ms, (long long)elapsed);
	params_json(p);
	printf(",\"work_units\":%llu,\"iterations\":%llu,\"work_units_per_s\":%.1f,\"iterations_per_s\":%.1f",
	       (unsigned long long)units, (unsigned long long)iters, (double)units * 1e9 / (double)elapsed,
	       (double)iters * 1e9 / (double)elapsed);
	for (int s = 0; s < NSTREAMS; s++) {
		if (!p->streams[s])
			continue;
		size_t n = 0;
		uint64_t total = 0;
		for (int i = 0; i < workers; i++)
			n += g_sh->res[i].kept[s], total += g_sh->res[i].total[s];
		uint64_t *all = malloc((n ? n : 1) * sizeof *all);
		size_t k = 0;
		for (int i = 0; i < workers; i++) {
			uint64_t *src = sbuf + ((size_t)i * NSTREAMS + s) * RESERVOIR;
			memcpy(all + k, src, g_sh->res[i].kept[s] * sizeof *all);
			k += g_sh->res[i].kept[s];
		}
		qsort(all, n, sizeof *all, cmp_u64);
		printf(",\"%s_samples\":%llu,\"%s_p50_ns\":%llu,\"%s_p99_ns\":%llu", p->streams[s],
		       (unsigned long long)total, p->streams[s], (unsigned long long)pct(all, n, 50),
		       p->streams[s], (unsigned long long)pct(all, n, 99));
		free(all);
	}
	printf(",\"per_worker\":[");
	for (int i = 0; i < workers; i++) {
		struct result *r = &g_sh->res[i];
		printf("%s{\"work_units\":%llu,\"iterations\":%llu,\"wall_ns\":%llu}", i ? "," : "",
		       (unsigned long long)r->units, (unsigned long long)r->iterations,
		       (unsigned long long)r->wall_ns);
	}
	printf("]}\n");
	if (failed) {
		fprintf(stderr, "%s: a worker failed\n", p->name);
		return 1;
	}
	return 0;
}

/* PROG_MAIN defines a harness program's main(): its arguments are the
 * designated initialisers of its struct prog. */
#define PROG_MAIN(...)                                \
	int main(int argc, char **argv)               \
	{                                             \
		static struct prog p = {__VA_ARGS__}; \
		return run_prog(&p, argc, argv);      \
	}
