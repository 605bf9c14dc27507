/* w_chan.c — channel workloads: W3 pingpong (unbuffered round trips),
 * W4 spsc and W5 mpmc (a buffered channel between producers and consumers)
 * and W6 select (one consumer selecting over four producers).
 *
 * Every goroutine a workload starts is joined (a WaitGroup) before the
 * workload drops its channel references, so no goroutine is still inside a
 * channel call when the channel is freed.
 */
#include "config.h"
#include "bench.h"

#include <string.h>

/* ---- W3 pingpong ------------------------------------------------------- */

enum { PINGPONG_N = 1000000 };

typedef struct pingpong {
	gort_chan *ping, *pong; /* unbuffered, int64_t */
	int64_t served;         /* round trips the echo goroutine answered */
	gort_waitgroup done;
} pingpong;

/* Answers each value v on ping with v + 1 on pong until ping is closed. */
static void echo(void *arg)
{
	pingpong *pp = arg;
	int64_t v;
	while (gort_chan_recv(pp->ping, &v)) {
		pp->served++;
		v++;
		gort_chan_send(pp->pong, &v);
	}
	gort_waitgroup_done(&pp->done);
}

int bench_pingpong(double *ret_value)
{
	pingpong pp = {bench_chan(sizeof(int64_t), 0), bench_chan(sizeof(int64_t), 0), 0,
	               GORT_WAITGROUP_INIT};
	int64_t bad = -1, got = 0;
	gort_waitgroup_add(&pp.done, 1);
	bench_go(echo, &pp);
	int64_t t0 = gort_now();
	for (int64_t i = 0; i < PINGPONG_N && bad < 0; i++) {
		gort_chan_send(pp.ping, &i);
		gort_chan_recv(pp.pong, &got);
		if (got != i + 1)
			bad = i;
	}
	*ret_value = bench_since(t0) / PINGPONG_N;
	gort_chan_close(pp.ping);
	gort_waitgroup_wait(&pp.done);
	gort_chan_unref(pp.ping);
	gort_chan_unref(pp.pong);
	if (bad >= 0)
		return bench_fail("round trip %lld came back as %lld", (long long)bad, (long long)got);
	if (pp.served != PINGPONG_N)
		return bench_fail("the echo goroutine served %lld round trips, not %d",
		                  (long long)pp.served, PINGPONG_N);
	return 0;
}

/* ---- W4 spsc, W5 mpmc -------------------------------------------------- */

enum { QUEUE_N = 10000000, QUEUE_CAP = 1024, QUEUE_MAX = 4 };

typedef struct queue_end {
	gort_chan *ch;        /* the shared buffered channel */
	gort_waitgroup *wg;   /* producers' or consumers' */
	int64_t lo, hi;       /* producer: sends lo..hi-1 */
	int64_t sum, n;       /* consumer: what it received */
} queue_end;

static void producer(void *arg)
{
	queue_end *e = arg;
	for (int64_t v = e->lo; v < e->hi; v++)
		gort_chan_send(e->ch, &v);
	gort_waitgroup_done(e->wg);
}

static void consumer(void *arg)
{
	queue_end *e = arg;
	int64_t v, sum = 0, n = 0;
	while (gort_chan_recv(e->ch, &v)) {
		sum += v;
		n++;
	}
	e->sum = sum;
	e->n = n;
	gort_waitgroup_done(e->wg);
}

/* Moves 0..QUEUE_N-1 from nprod producers to ncons consumers through one
 * channel of capacity QUEUE_CAP, closed once every producer is done. */
static int queue(int nprod, int ncons, double *ret_value)
{
	gort_chan *ch = bench_chan(sizeof(int64_t), QUEUE_CAP);
	gort_waitgroup prod = GORT_WAITGROUP_INIT, cons = GORT_WAITGROUP_INIT;
	queue_end p[QUEUE_MAX], c[QUEUE_MAX];
	int64_t t0 = gort_now();
	gort_waitgroup_add(&prod, nprod);
	for (int i = 0; i < nprod; i++) {
		p[i] = (queue_end){ch, &prod, (int64_t)i * QUEUE_N / nprod,
		                   (int64_t)(i + 1) * QUEUE_N / nprod, 0, 0};
		bench_go(producer, &p[i]);
	}
	gort_waitgroup_add(&cons, ncons);
	for (int i = 0; i < ncons; i++) {
		c[i] = (queue_end){ch, &cons, 0, 0, 0, 0};
		bench_go(consumer, &c[i]);
	}
	gort_waitgroup_wait(&prod);
	gort_chan_close(ch);
	gort_waitgroup_wait(&cons);
	*ret_value = bench_since(t0) / QUEUE_N;
	gort_chan_unref(ch);
	int64_t sum = 0, n = 0, want = (int64_t)QUEUE_N * (QUEUE_N - 1) / 2;
	for (int i = 0; i < ncons; i++) {
		sum += c[i].sum;
		n += c[i].n;
	}
	if (n != QUEUE_N || sum != want)
		return bench_fail("received %lld items summing to %lld, want %d summing to %lld",
		                  (long long)n, (long long)sum, QUEUE_N, (long long)want);
	return 0;
}

int bench_spsc(double *ret_value)
{
	return queue(1, 1, ret_value);
}

int bench_mpmc(double *ret_value)
{
	return queue(4, 4, ret_value);
}

/* ---- W6 select --------------------------------------------------------- */

enum { SELECT_EACH = 1000000, SELECT_PRODUCERS = 4 };

typedef struct select_producer {
	gort_chan *ch;  /* unbuffered, its own */
	int64_t base;   /* sends base..base+SELECT_EACH-1, then closes ch */
	gort_waitgroup *wg;
} select_producer;

static void select_send(void *arg)
{
	select_producer *sp = arg;
	for (int64_t i = 0; i < SELECT_EACH; i++) {
		int64_t v = sp->base + i;
		gort_chan_send(sp->ch, &v);
	}
	gort_chan_close(sp->ch);
	gort_waitgroup_done(sp->wg);
}

int bench_select(double *ret_value)
{
	enum { TOTAL = SELECT_PRODUCERS * SELECT_EACH };
	select_producer sp[SELECT_PRODUCERS];
	gort_select_case cases[SELECT_PRODUCERS];
	gort_waitgroup wg = GORT_WAITGROUP_INIT;
	int64_t v, sum = 0, n = 0;
	int64_t t0 = gort_now();
	gort_waitgroup_add(&wg, SELECT_PRODUCERS);
	for (int i = 0; i < SELECT_PRODUCERS; i++) {
		sp[i] = (select_producer){bench_chan(sizeof(int64_t), 0), (int64_t)i * SELECT_EACH, &wg};
		cases[i] = (gort_select_case){.chan = sp[i].ch, .dir = GORT_SELECT_RECV, .elem = &v};
		bench_go(select_send, &sp[i]);
	}
	for (int open = SELECT_PRODUCERS; open > 0;) {
		int i = gort_select(cases, SELECT_PRODUCERS, true);
		if (i < 0)
			bench_die("gort_select: %s", strerror(-i));
		if (!cases[i].ok) { /* closed: a nil channel is never ready */
			cases[i].chan = NULL;
			open--;
			continue;
		}
		sum += v;
		n++;
	}
	gort_waitgroup_wait(&wg);
	*ret_value = bench_since(t0) / TOTAL;
	for (int i = 0; i < SELECT_PRODUCERS; i++)
		gort_chan_unref(sp[i].ch);
	int64_t want = (int64_t)TOTAL * (TOTAL - 1) / 2;
	if (n != TOTAL || sum != want)
		return bench_fail("received %lld items summing to %lld, want %d summing to %lld",
		                  (long long)n, (long long)sum, TOTAL, (long long)want);
	return 0;
}
