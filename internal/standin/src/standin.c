/* A stand-in scheduler for ktstar's tests where the kernel has no
 * sched_ext: it stays up and prints lines until SIGINT, or exits after
 * --exit-after=D (e.g. 700ms, 2s) with status 3, its last line saying so.
 * --ignore-sigint makes it need SIGKILL. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t stop;

static void on_int(int sig) { (void)sig; stop = 1; }

static long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int main(int argc, char **argv)
{
	long exit_ms = -1, start, tick = 0;
	int ignore = 0;
	for (int i = 1; i < argc; i++) {
		char *end;
		if (!strncmp(argv[i], "--exit-after=", 13)) {
			exit_ms = strtol(argv[i] + 13, &end, 10);
			if (!strcmp(end, "s"))
				exit_ms *= 1000;
			else if (strcmp(end, "ms")) {
				fprintf(stderr, "stand-in: %s: want a number of ms or s\n", argv[i]);
				return 2;
			}
		} else if (!strcmp(argv[i], "--ignore-sigint")) {
			ignore = 1;
		} else {
			fprintf(stderr, "stand-in: unknown argument %s\n", argv[i]);
			return 2;
		}
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGINT, ignore ? SIG_IGN : on_int);
	printf("stand-in: ready pid %d\n", (int)getpid());
	start = now_ms();
	while (!stop) {
		struct timespec d = {0, 20 * 1000000};
		long el;
		nanosleep(&d, NULL);
		el = now_ms() - start;
		if (exit_ms >= 0 && el >= exit_ms) {
			printf("stand-in: exiting after %ldms as asked\n", exit_ms);
			return 3;
		}
		if (el / 1000 > tick)
			printf("stand-in: tick %ld\n", ++tick);
	}
	printf("stand-in: SIGINT, stopping\n");
	return 0;
}
