/*
 * WakeChain reference (wake = Pipe): rings of `depth` stages; stage s reads
 * pipe (s - 1) mod depth and writes pipe s. Stage 0 bootstraps the single
 * token on its first pass. Per iteration a stage waits (poll, bounded, then
 * read) for its predecessor's byte (a one-way wake sample, now minus the
 * predecessor's stamp, unless the byte was there before the wait began),
 * spins work_per_hop_us of wall time in spin_burst(256) chunks, then stamps
 * and writes to its successor.
 */
#include "common.h"

static long g_depth, g_hop_us;
struct stage {
	int rfd, wfd, first;
	struct inbox in;
};

static void init(struct worker *w)
{
	struct stage *s = calloc(1, sizeof *s);
	ring_fds(w, g_depth, &s->rfd, &s->wfd);
	s->first = 1;
	s->in = inbox_of(w, g_depth, (w->pos + g_depth - 1) % g_depth);
	w->priv = s;
}

static int step(struct worker *w)
{
	struct stage *s = w->priv;
	char b = 'x';
	if (s->first && w->pos == 0) {
		s->first = 0;
		if (stopped())
			return 1;
		stamp(w);
		if (write(s->wfd, &b, 1) < 0) {
			/* result ignored, as in ktstar */
		}
	}
	int real = inbox_waiting(&s->in);
	int got = 0;
	while (!stopped()) {
		struct pollfd pfd = {.fd = s->rfd, .events = POLLIN};
		int n = poll(&pfd, 1, (int)(STOP_POLL_NS / 1000000));
		if (n > 0) {
			got = read(s->rfd, &b, 1) == 1;
			if (got)
				inbox_receive(w, &s->in, real);
			break;
		}
		if (n < 0)
			break;
	}
	if (!got)
		return stopped();
	if (stopped())
		return 1;
	for (int64_t deadline = now_ns() + g_hop_us * 1000; now_ns() < deadline && !stopped();)
		spin_burst(&w->units, 256);
	if (stopped())
		return 1;
	stamp(w);
	if (write(s->wfd, &b, 1) < 0) {
		/* result ignored */
	}
	return 1;
}

static int group_of(void) { return (int)g_depth; }

PROG_MAIN(.name = "wake_chain", .group_of = group_of, .streams = {"wake"},
	  .params = {{"depth", 4, 2, &g_depth}, {"work_per_hop_us", 100, 0, &g_hop_us}},
	  .setup = make_pipes, .init = init, .step = step)
