/* chan_close_range.c — closing a channel is a broadcast: every receiver,
 * present and future, gets "closed" (false) once the values are drained.
 * Three workers "range" over one jobs channel (Go's for v := range ch);
 * the producer closes it when done, and each worker reports on a results
 * channel that the root closes-by-counting.
 *
 * Output: "sum of squares 1..100 = 338350 (3 workers)".
 */
#include <gort.h>

#include <stdio.h>

enum { WORKERS = 3, JOBS = 100 };

struct pool {
	gort_chan *jobs;    /* long, cap 8 */
	gort_chan *results; /* long partial sums, cap WORKERS */
};

static void worker(void *arg)
{
	struct pool *p = arg;
	long job, sum = 0;
	while (gort_chan_recv(p->jobs, &job)) /* the range loop */
		sum += job * job;
	gort_chan_send(p->results, &sum);
}

static int root(void *arg)
{
	(void)arg;
	struct pool p = {gort_chan_make(sizeof(long), 8), gort_chan_make(sizeof(long), WORKERS)};
	if (!p.jobs || !p.results)
		return 1;
	for (int i = 0; i < WORKERS; i++)
		if (gort_go(worker, &p) < 0)
			return 1;
	for (long j = 1; j <= JOBS; j++)
		gort_chan_send(p.jobs, &j);
	gort_chan_close(p.jobs); /* every worker's range loop ends */
	long total = 0, part;
	for (int i = 0; i < WORKERS; i++) {
		gort_chan_recv(p.results, &part);
		total += part;
	}
	printf("sum of squares 1..%d = %ld (%d workers)\n", JOBS, total, WORKERS);
	/* a closed, drained channel keeps answering false at once */
	long v = -1;
	bool ok = gort_chan_recv(p.jobs, &v);
	printf("receive after close: ok=%d value=%ld\n", ok, v);
	gort_chan_unref(p.jobs);
	gort_chan_unref(p.results);
	return total == 338350 && !ok && v == 0 ? 0 : 1;
}

int main(void)
{
	return gort_main(NULL, root, NULL);
}
