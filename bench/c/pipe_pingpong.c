/*
 * PipeIo reference: pairs spin_burst(burst_iters), then both write one byte
 * to the partner (stamped right before) and wait (poll, bounded, then read)
 * for the partner's byte. A byte not already written when the wait began is
 * a one-way wake sample (now minus the partner's stamp). Pipes form a ring per pair: position p reads
 * pipe (p - 1) mod 2 and writes pipe p, as in ktstar.
 */
#include "common.h"

static long g_burst;
struct ends {
	int rfd, wfd, gone;
	struct inbox in;
};

static void init(struct worker *w)
{
	struct ends *e = calloc(1, sizeof *e);
	ring_fds(w, 2, &e->rfd, &e->wfd);
	e->in = inbox_of(w, 2, 1 - w->pos);
	w->priv = e;
}

static int step(struct worker *w)
{
	struct ends *e = w->priv;
	char b = 'x';
	if (e->gone) {
		struct timespec ts = {0, STOP_POLL_NS};
		nanosleep(&ts, NULL);
		return 1;
	}
	spin_burst(&w->units, g_burst);
	stamp(w);
	if (write(e->wfd, &b, 1) < 0) {
		/* result ignored, as in ktstar */
	}
	int real = inbox_waiting(&e->in);
	while (!stopped()) {
		struct pollfd pfd = {.fd = e->rfd, .events = POLLIN};
		int n = poll(&pfd, 1, (int)(STOP_POLL_NS / 1000000));
		if (n <= 0)
			continue;
		if ((pfd.revents & POLLIN) && read(e->rfd, &b, 1) == 1) {
			inbox_receive(w, &e->in, real);
			break;
		}
		e->gone = 1;
		break;
	}
	return 1;
}

PROG_MAIN(.name = "pipe_pingpong", .group = 2, .streams = {"wake"},
	  .params = {{"burst_iters", 1024, 0, &g_burst}},
	  .setup = make_pipes, .init = init, .step = step)
