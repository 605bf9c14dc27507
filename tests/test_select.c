/* test_select.c — gort_select semantics (the behaviour of Go's select.go,
 * select2..7.go, select3.go, doubleselect.go and the select parts of
 * nonblock.go and closedchan.go, ported to libgort): fairness among ready
 * cases, which cases block, nil and closed channels, every value received
 * exactly once when selects race, and a time-bounded stress of 8
 * goroutines mixing send and receive cases over shared channels.
 *
 * Every semantic body runs under gt_run with 1 and 2 workers, and the whole
 * table again 20 times in a row (repeated_20_times).
 */
#include "harness.h"
#include "chan_impl.h" /* white-box: wait queues left empty */

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static gort_chan *mk(size_t elem_size, size_t cap)
{
	gort_chan *c = gort_chan_make(elem_size, cap);
	EXPECT((c) != NULL);
	return c;
}

static gort_select_case rcase(gort_chan *c, void *elem)
{
	return (gort_select_case){c, GORT_SELECT_RECV, elem, false};
}

static gort_select_case scase(gort_chan *c, void *elem)
{
	return (gort_select_case){c, GORT_SELECT_SEND, elem, false};
}

static void join(gort_chan *d, int n)
{
	for (int i = 0; i < n; i++)
		EXPECT(gort_chan_recv(d, NULL));
}

/* ---- fairness (select.go, select2.go) ------------------------------------ */

enum { FAIR_ROUNDS = 100000 };

/* Counts must lie within 5% of the mean: ~9 standard deviations of the
 * binomial for 100,000 selects, so the check cannot flake by chance. */
static void assert_fair(const long *count, int n)
{
	long mean = FAIR_ROUNDS / n;
	for (int i = 0; i < n; i++) {
		EXPECT_MSG(labs(count[i] - mean) <= mean / 20, "case %d chosen %ld times, mean %ld", i, count[i], mean);
	}
}

static void body_fair_among_ready_receives(void *arg)
{
	(void)arg;
	gort_chan *c[4];
	gort_select_case cs[4];
	for (int i = 0; i < 4; i++) {
		c[i] = mk(0, 0);
		gort_chan_close(c[i]); /* always ready */
		cs[i] = rcase(c[i], NULL);
	}
	long count[4] = {0};
	for (int r = 0; r < FAIR_ROUNDS; r++) {
		int k = gort_select(cs, 4, r % 2);
		EXPECT(k >= 0 && k < 4);
		EXPECT(!cs[k].ok);
		count[k]++;
	}
	assert_fair(count, 4);
	for (int i = 0; i < 4; i++)
		gort_chan_unref(c[i]);
}

static void body_fair_among_ready_sends_and_receives(void *arg)
{
	(void)arg;
	gort_chan *out[2] = {mk(sizeof(long), 1), mk(sizeof(long), 1)};
	gort_chan *in[2] = {mk(sizeof(long), 1), mk(sizeof(long), 1)};
	long one = 1, got;
	gort_select_case cs[5] = {scase(out[0], &one), rcase(in[0], &got), scase(out[1], &one),
	                          rcase(in[1], &got), rcase(NULL, &got)};
	long count[4] = {0};
	for (int r = 0; r < FAIR_ROUNDS; r++) {
		for (int i = 0; i < 2; i++) { /* make all four ready again */
			gort_chan_try_recv(out[i], NULL);
			gort_chan_try_send(in[i], &one);
		}
		int k = gort_select(cs, 5, true);
		EXPECT(k >= 0 && k < 4); /* never the nil case */
		count[k]++;
	}
	assert_fair(count, 4);
	for (int i = 0; i < 2; i++) {
		gort_chan_unref(out[i]);
		gort_chan_unref(in[i]);
	}
}

/* ---- select3.go: what blocks --------------------------------------------- */

static void body_nonblocking_select_reports_not_ready(void *arg)
{
	(void)arg;
	gort_chan *unbuf = mk(sizeof(long), 0), *full = mk(sizeof(long), 1), *empty = mk(sizeof(long), 1);
	long v = 3;
	gort_chan_send(full, &v);
	gort_select_case cs[] = {rcase(NULL, &v),  scase(NULL, &v),  rcase(unbuf, &v),
	                         scase(unbuf, &v), scase(full, &v), rcase(empty, &v)};
	EXPECT_INT(gort_select(cs, 6, false), ==, -EAGAIN);
	EXPECT_INT(gort_select(NULL, 0, false), ==, -EAGAIN);
	EXPECT_INT(gort_select(cs, 2, false), ==, -EAGAIN); /* nil only */
	for (size_t i = 0; i < 6; i++)
		EXPECT_INT(gort_select(&cs[i], 1, false), ==, -EAGAIN);
	EXPECT_INT(v, ==, 3);
	EXPECT_INT(gort_chan_len(full), ==, 1);
	/* a closed channel is ready to receive; the nil case never is */
	gort_chan_close(unbuf);
	for (int i = 0; i < 50; i++) {
		v = 9;
		cs[3] = rcase(NULL, NULL);
		EXPECT_INT(gort_select(cs, 6, false), ==, 2);
		EXPECT(!cs[2].ok);
		EXPECT_INT(v, ==, 0);
	}
	gort_chan_unref(unbuf);
	gort_chan_unref(full);
	gort_chan_unref(empty);
}

struct blocker {
	gort_chan *a, *b, *sync;
	int result;
	bool ok;
};

/* Selects on {recv nil, send nil, recv a}: only a can end it. */
static void select_with_nil_cases(void *arg)
{
	struct blocker *p = arg;
	long v = 0, w = 1;
	gort_select_case cs[3] = {rcase(NULL, &v), scase(NULL, &w), rcase(p->a, &v)};
	p->result = gort_select(cs, 3, true);
	p->ok = cs[2].ok;
	EXPECT_INT(v, ==, 42);
	gort_chan_send(p->sync, NULL);
}

static void body_blocked_select_ignores_nil_cases(void *arg)
{
	(void)arg;
	struct blocker p = {mk(sizeof(long), 0), NULL, mk(0, 0), -1, false};
	EXPECT_INT(gort_go(select_with_nil_cases, &p), >, 0);
	for (int i = 0; i < 100; i++)
		gort_yield();
	EXPECT_INT(p.result, ==, -1); /* still blocked */
	gort_chan_send(p.a, &(long){42});
	join(p.sync, 1);
	EXPECT_INT(p.result, ==, 2);
	EXPECT(p.ok);
	gort_chan_unref(p.a);
	gort_chan_unref(p.sync);
}

struct forever {
	int mode;
	bool passed;
};

static void block_forever(void *arg)
{
	struct forever *f = arg;
	long v = 0;
	gort_select_case cs[2] = {rcase(NULL, &v), scase(NULL, &v)};
	switch (f->mode) {
	case 0:
		gort_chan_send(NULL, &v);
		break;
	case 1:
		gort_chan_recv(NULL, &v);
		break;
	case 2:
		gort_select(NULL, 0, true);
		break;
	default:
		gort_select(cs, 2, true);
	}
	f->passed = true;
}

static struct forever forever_state;

static int forever_root(void *arg)
{
	(void)arg;
	EXPECT_INT(gort_go(block_forever, &forever_state), >, 0);
	for (int i = 0; i < 1000; i++)
		gort_yield();
	return forever_state.passed ? 1 : 0;
}

/* Nil-channel operations and empty selects block for good.  Run with one
 * worker: after 1,000 yields the goroutine has had every chance to run.
 * It is still parked when the root returns, so this test uses gort_main
 * directly (which discards it) instead of gt_run's leak check. */
START_TEST(nil_channel_and_empty_select_block_forever)
{
	forever_state = (struct forever){_i, false};
	EXPECT_INT(gort_main(&(gort_config){.procs = 1}, forever_root, NULL), ==, 0);
}
END_TEST

/* ---- closedchan.go: select on closed channels ----------------------------- */

struct closed_waiter {
	gort_chan *a, *b, *sync;
};

static void select_until_closed(void *arg)
{
	struct closed_waiter *p = arg;
	long v = 7, w = 8;
	gort_select_case cs[3] = {rcase(p->a, &v), rcase(p->b, &w), rcase(NULL, NULL)};
	int k = gort_select(cs, 3, true);
	EXPECT_INT(k, ==, 1);
	EXPECT(!cs[1].ok);
	EXPECT_INT(w, ==, 0);
	EXPECT_INT(v, ==, 7);
	gort_chan_send(p->sync, NULL);
}

static void body_close_wakes_blocked_selects(void *arg)
{
	(void)arg;
	enum { N = 10 };
	struct closed_waiter p = {mk(sizeof(long), 0), mk(sizeof(long), 3), mk(0, N)};
	for (int i = 0; i < N; i++)
		EXPECT_INT(gort_go(select_until_closed, &p), >, 0);
	for (int i = 0; i < 100; i++)
		gort_yield();
	gort_chan_close(p.b);
	join(p.sync, N);
	/* the woken selects left no waiter behind on a */
	EXPECT((p.a->recvq.q.head) == NULL);
	EXPECT((p.b->recvq.q.head) == NULL);
	EXPECT_INT(gort_chan_try_send(p.a, &(long){1}), ==, -EAGAIN);
	gort_chan_unref(p.a);
	gort_chan_unref(p.b);
	gort_chan_unref(p.sync);
}

/* A select sending and receiving on the same channel, against a partner. */
static void body_send_and_receive_cases_on_one_channel(void *arg)
{
	(void)arg;
	for (size_t cap = 0; cap < 3; cap++) {
		gort_chan *c = mk(sizeof(long), cap);
		long out = 5, in = -1;
		gort_select_case cs[2] = {scase(c, &out), rcase(c, &in)};
		/* cap > 0: the send fits first, then the receive may take it */
		for (int i = 0; i < 20 && cap; i++) {
			int k = gort_select(cs, 2, false);
			EXPECT(k == 0 || k == 1);
			if (k == 1)
				EXPECT_INT(in, ==, 5);
		}
		if (!cap)
			EXPECT_INT(gort_select(cs, 2, false), ==, -EAGAIN);
		gort_chan_unref(c);
	}
}

/* select3.go: a select that sees itself (send and receive cases on one
 * rendezvous channel) must block, not match its own cases. */
struct self_sel {
	gort_chan *c, *sync;
	int result;
	long got;
};

static void select_on_itself(void *arg)
{
	struct self_sel *p = arg;
	long out = 1, in = -1;
	gort_select_case cs[2] = {scase(p->c, &out), rcase(p->c, &in)};
	p->result = gort_select(cs, 2, true);
	p->got = in;
	gort_chan_send(p->sync, NULL);
}

static void body_select_does_not_match_itself(void *arg)
{
	(void)arg;
	for (int mode = 0; mode < 2; mode++) {
		struct self_sel p = {mk(sizeof(long), 0), mk(0, 0), -1, -1};
		EXPECT_INT(gort_go(select_on_itself, &p), >, 0);
		for (int i = 0; i < 100; i++)
			gort_yield();
		EXPECT_INT(p.result, ==, -1); /* blocked */
		long v = 5;
		if (mode == 0) { /* take its send */
			gort_chan_recv(p.c, &v);
			EXPECT_INT(v, ==, 1);
		} else { /* feed its receive */
			gort_chan_send(p.c, &v);
		}
		join(p.sync, 1);
		EXPECT_INT(p.result, ==, mode);
		if (mode == 1)
			EXPECT_INT(p.got, ==, 5);
		EXPECT((p.c->sendq.q.head) == NULL);
		EXPECT((p.c->recvq.q.head) == NULL);
		gort_chan_unref(p.c);
		gort_chan_unref(p.sync);
	}
}

/* select6.go (Go issue 2075): a select that lost on c1 must leave c1's
 * queue intact for the other waiters and for its own later wait. */
struct s6 {
	gort_chan *c1, *c2, *c3, *sync;
};

static void s6_plain_receiver(void *arg)
{
	struct s6 *p = arg;
	EXPECT(gort_chan_recv(p->c1, NULL));
	gort_chan_send(p->sync, NULL);
}

static void s6_selecter(void *arg)
{
	struct s6 *p = arg;
	gort_select_case cs[2] = {rcase(p->c1, NULL), rcase(p->c2, NULL)};
	EXPECT_INT(gort_select(cs, 2, true), ==, 1);
	gort_chan_send(p->c3, NULL);
	EXPECT(gort_chan_recv(p->c1, NULL));
	gort_chan_send(p->sync, NULL);
}

static void s6_sender(void *arg)
{
	struct s6 *p = arg;
	gort_chan_send(p->c2, NULL);
	gort_chan_send(p->sync, NULL);
}

static void body_lost_case_leaves_queue_intact(void *arg)
{
	(void)arg;
	struct s6 p = {mk(0, 0), mk(0, 0), mk(0, 0), mk(0, 3)};
	EXPECT_INT(gort_go(s6_plain_receiver, &p), >, 0);
	EXPECT_INT(gort_go(s6_selecter, &p), >, 0);
	EXPECT_INT(gort_go(s6_sender, &p), >, 0);
	EXPECT(gort_chan_recv(p.c3, NULL));
	gort_chan_send(p.c1, NULL);
	gort_chan_send(p.c1, NULL);
	join(p.sync, 3);
	gort_chan_unref(p.c1);
	gort_chan_unref(p.c2);
	gort_chan_unref(p.c3);
	gort_chan_unref(p.sync);
}

/* select7.go: sends and receives that discard the value, through a plain
 * operation, a one-case and a two-case select, on both sides. */
struct s7 {
	gort_chan *c, *sync;
	int how;
};

static void s7_recv(void *arg)
{
	struct s7 *p = arg;
	gort_chan *other = mk(sizeof(int), 0);
	gort_select_case cs[2] = {rcase(p->c, NULL), rcase(other, NULL)};
	if (p->how == 0)
		EXPECT(gort_chan_recv(p->c, NULL));
	else
		EXPECT_INT(gort_select(cs, (size_t)p->how, true), ==, 0);
	gort_chan_unref(other);
	gort_chan_send(p->sync, NULL);
}

static void body_discarding_receives_and_sends(void *arg)
{
	(void)arg;
	for (int recv_how = 0; recv_how < 3; recv_how++)
		for (int send_how = 0; send_how < 3; send_how++) {
			struct s7 p = {mk(sizeof(int), 0), mk(0, 1), recv_how};
			gort_chan *other = mk(sizeof(int), 0);
			int one = 1;
			gort_select_case cs[2] = {scase(p.c, &one), scase(other, &one)};
			EXPECT_INT(gort_go(s7_recv, &p), >, 0);
			gort_yield();
			if (send_how == 0)
				gort_chan_send(p.c, &one);
			else
				EXPECT_INT(gort_select(cs, (size_t)send_how, true), ==, 0);
			join(p.sync, 1);
			gort_chan_unref(other);
			gort_chan_unref(p.c);
			gort_chan_unref(p.sync);
		}
}

/* ---- doubleselect.go ---------------------------------------------------- */

enum { DS_CHANS = 4, DS_SENDERS = 2 };

struct ds {
	gort_chan *c[DS_CHANS], *mux, *done;
	long n;          /* values per sender */
	int id;
	unsigned char *seen;
};

/* Each value goes to whichever channel is ready first. */
static void ds_sender(void *arg)
{
	struct ds *p = arg;
	for (long i = 0; i < p->n; i++) {
		long v = p->id * p->n + i;
		gort_select_case cs[DS_CHANS];
		for (int k = 0; k < DS_CHANS; k++)
			cs[k] = scase(p->c[k], &v);
		EXPECT_INT(gort_select(cs, DS_CHANS, true), >=, 0);
	}
	gort_chan_send(p->done, NULL);
}

/* Copies one channel into the shared mux channel until it is closed. */
static void ds_mux(void *arg)
{
	struct ds *p = arg;
	long v;
	while (gort_chan_recv(p->c[p->id], &v))
		gort_chan_send(p->mux, &v);
	gort_chan_send(p->done, NULL);
}

static void body_racing_selects_deliver_each_value_once(void *arg)
{
	(void)arg;
	struct ds base = {.n = gt_scaled(5000)};
	for (int k = 0; k < DS_CHANS; k++)
		base.c[k] = mk(sizeof(long), k % 2 ? 0 : 2);
	base.mux = mk(sizeof(long), 0);
	base.done = mk(0, DS_SENDERS + DS_CHANS);
	base.seen = calloc((size_t)(base.n * DS_SENDERS), 1);
	EXPECT((base.seen) != NULL);
	struct ds senders[DS_SENDERS], muxes[DS_CHANS];
	for (int i = 0; i < DS_SENDERS; i++) {
		senders[i] = base;
		senders[i].id = i;
		EXPECT_INT(gort_go(ds_sender, &senders[i]), >, 0);
	}
	for (int i = 0; i < DS_CHANS; i++) {
		muxes[i] = base;
		muxes[i].id = i;
		EXPECT_INT(gort_go(ds_mux, &muxes[i]), >, 0);
	}
	for (long i = 0; i < base.n * DS_SENDERS; i++) {
		long v;
		EXPECT(gort_chan_recv(base.mux, &v));
		EXPECT(v >= 0 && v < base.n * DS_SENDERS);
		EXPECT_MSG(!base.seen[v], "value %ld received twice", v);
		base.seen[v] = 1;
	}
	join(base.done, DS_SENDERS);
	for (int k = 0; k < DS_CHANS; k++)
		gort_chan_close(base.c[k]);
	join(base.done, DS_CHANS);
	for (int k = 0; k < DS_CHANS; k++)
		gort_chan_unref(base.c[k]);
	gort_chan_unref(base.mux);
	gort_chan_unref(base.done);
	free(base.seen);
}

/* ---- close racing with senders for the same parked selects ----------------- */

enum { CR_RECEIVERS = 6, CR_SENDERS = 2 };

struct close_race {
	gort_chan *data, *stop, *sync;
	long sent[CR_SENDERS], got[CR_RECEIVERS], sum_sent[CR_SENDERS], sum_got[CR_RECEIVERS];
};

struct cr_g {
	struct close_race *r;
	int id;
};

/* Sends until stop is closed (a select of the send and the stop). */
static void cr_sender(void *arg)
{
	struct cr_g *g = arg;
	struct close_race *r = g->r;
	for (long v = 1;; v++) {
		gort_select_case cs[2] = {scase(r->data, &v), rcase(r->stop, NULL)};
		if (gort_select(cs, 2, true) == 1)
			break;
		r->sent[g->id]++;
		r->sum_sent[g->id] += v;
	}
	gort_chan_send(r->sync, NULL);
}

/* Receives until stop is closed; then drains what is still buffered. */
static void cr_receiver(void *arg)
{
	struct cr_g *g = arg;
	struct close_race *r = g->r;
	long v;
	for (;;) {
		gort_select_case cs[2] = {rcase(r->data, &v), rcase(r->stop, NULL)};
		if (gort_select(cs, 2, true) == 1)
			break;
		r->got[g->id]++;
		r->sum_got[g->id] += v;
	}
	gort_chan_send(r->sync, NULL);
}

static void body_close_races_with_senders_for_parked_selects(void *arg)
{
	(void)arg;
	for (size_t cap = 0; cap < 3; cap += 2) {
		struct close_race r = {.data = mk(sizeof(long), cap), .stop = mk(0, 0),
		                       .sync = mk(0, CR_RECEIVERS + CR_SENDERS)};
		struct cr_g gs[CR_RECEIVERS + CR_SENDERS];
		for (int i = 0; i < CR_RECEIVERS + CR_SENDERS; i++) {
			gs[i] = (struct cr_g){&r, i < CR_SENDERS ? i : i - CR_SENDERS};
			EXPECT_INT(gort_go(i < CR_SENDERS ? cr_sender : cr_receiver, &gs[i]), >, 0);
		}
		for (int i = 0; i < 200; i++)
			gort_yield();
		gort_chan_close(r.stop); /* races with the senders' hand-offs */
		join(r.sync, CR_RECEIVERS + CR_SENDERS);
		long sent = 0, got = 0, sum_sent = 0, sum_got = 0, v;
		for (int i = 0; i < CR_SENDERS; i++) {
			sent += r.sent[i];
			sum_sent += r.sum_sent[i];
		}
		for (int i = 0; i < CR_RECEIVERS; i++) {
			got += r.got[i];
			sum_got += r.sum_got[i];
		}
		while (gort_chan_try_recv(r.data, &v) == 0) { /* left in the buffer */
			got++;
			sum_got += v;
		}
		EXPECT_INT(got, ==, sent);
		EXPECT_INT(sum_got, ==, sum_sent);
		EXPECT(r.data->recvq.q.head == NULL && r.data->sendq.q.head == NULL);
		gort_chan_unref(r.data);
		gort_chan_unref(r.stop);
		gort_chan_unref(r.sync);
	}
}

/* ---- many cases (the malloc'ed path) -------------------------------------- */

static void big_select_sender(void *arg)
{
	gort_chan **c = arg;
	long v = 77;
	gort_chan_send(c[99], &v);
}

static void body_select_over_many_cases(void *arg)
{
	(void)arg;
	enum { N = 100 };
	gort_chan *c[N];
	gort_select_case cs[N + 1];
	long v = -1;
	for (int i = 0; i < N; i++) {
		c[i] = mk(sizeof(long), 0);
		cs[i] = rcase(c[i], &v);
	}
	cs[N] = rcase(c[7], &v); /* a channel appearing twice is locked once */
	EXPECT_INT(gort_select(cs, N + 1, false), ==, -EAGAIN);
	EXPECT_INT(gort_go(big_select_sender, c), >, 0);
	EXPECT_INT(gort_select(cs, N + 1, true), ==, 99);
	EXPECT(cs[99].ok);
	EXPECT_INT(v, ==, 77);
	for (int i = 0; i < N; i++)
		gort_chan_unref(c[i]);
}

static void body_bad_arguments_are_rejected(void *arg)
{
	(void)arg;
	gort_select_case cs[2] = {rcase(NULL, NULL), {NULL, (gort_select_dir)3, NULL, false}};
	EXPECT_INT(gort_select(cs, 2, false), ==, -EINVAL);
	EXPECT_INT(gort_select(NULL, 2, false), ==, -EINVAL);
	EXPECT_INT(gort_select(cs, 65537, false), ==, -EINVAL);
	gort_chan *c = mk(sizeof(long), 1);
	gort_select_case nothing_to_send[2] = {scase(c, NULL), rcase(c, NULL)};
	EXPECT_INT(gort_select(nothing_to_send, 2, false), ==, -EINVAL);
	EXPECT_INT(gort_select(nothing_to_send, 1, false), ==, -EINVAL);
	EXPECT_INT(gort_chan_len(c), ==, 0);
	gort_chan_unref(c);
}

/* ---- the table ------------------------------------------------------------ */

static const struct body {
	const char *name;
	void (*fn)(void *);
} bodies[] = {
	{"fair_among_ready_receives", body_fair_among_ready_receives},
	{"fair_among_ready_sends_and_receives", body_fair_among_ready_sends_and_receives},
	{"nonblocking_select_reports_not_ready", body_nonblocking_select_reports_not_ready},
	{"blocked_select_ignores_nil_cases", body_blocked_select_ignores_nil_cases},
	{"close_wakes_blocked_selects", body_close_wakes_blocked_selects},
	{"send_and_receive_cases_on_one_channel", body_send_and_receive_cases_on_one_channel},
	{"select_does_not_match_itself", body_select_does_not_match_itself},
	{"lost_case_leaves_queue_intact", body_lost_case_leaves_queue_intact},
	{"discarding_receives_and_sends", body_discarding_receives_and_sends},
	{"racing_selects_deliver_each_value_once", body_racing_selects_deliver_each_value_once},
	{"close_races_with_senders_for_parked_selects", body_close_races_with_senders_for_parked_selects},
	{"select_over_many_cases", body_select_over_many_cases},
	{"bad_arguments_are_rejected", body_bad_arguments_are_rejected},
};
enum { NBODIES = sizeof(bodies) / sizeof(bodies[0]) };

START_TEST(semantics_with_1_and_2_workers)
{
	gt_run(_i % 2 + 1, bodies[_i / 2].fn, NULL);
}
END_TEST

START_TEST(repeated_20_times)
{
	for (int round = 0; round < 20; round++)
		for (int b = 0; b < NBODIES; b++)
			gt_run(round % 2 + 1, bodies[b].fn, NULL);
}
END_TEST

/* ---- stress: 8 goroutines, mixed send/recv selects over shared channels --- */

enum { ST_G = 8, ST_CHANS = 4 };
#define ST_MAX_PER_G (1L << 24) /* values per goroutine: the bitmaps' size (2 MiB) */

struct stress {
	gort_chan *c[ST_CHANS], *stopped;
	int64_t deadline;
	uint64_t *seen[ST_G];  /* bitmap per sender */
	long sent[ST_G];
	long received;
};

struct stress_g {
	struct stress *s;
	int id;
};

static void stress_record(struct stress *s, long v)
{
	int g = (int)(v / ST_MAX_PER_G);
	long seq = v % ST_MAX_PER_G;
	EXPECT(g >= 0 && g < ST_G);
	uint64_t bit = (uint64_t)1 << (seq % 64);
	uint64_t old = __atomic_fetch_or(&s->seen[g][seq / 64], bit, __ATOMIC_RELAXED);
	EXPECT_MSG(!(old & bit), "value %ld received twice", v);
	__atomic_fetch_add(&s->received, 1, __ATOMIC_RELAXED);
}

/* Phase 1 until the deadline: select over sending our next value to each
 * channel and receiving from each.  Phase 2: receive only, a closed channel
 * becoming a nil case, until all are closed (the root closes them once
 * every goroutine has stopped sending). */
static void stress_worker(void *arg)
{
	struct stress_g *me = arg;
	struct stress *s = me->s;
	long next = (long)me->id * ST_MAX_PER_G, in = -1;
	long limit = next + ST_MAX_PER_G;
	gort_select_case cs[2 * ST_CHANS];
	for (int k = 0; k < ST_CHANS; k++) {
		cs[k] = rcase(s->c[k], &in);
		cs[ST_CHANS + k] = scase(s->c[k], &next);
	}
	for (long round = 0; next < limit; round++) {
		if (round % 64 == 0 && gort_now() > s->deadline)
			break;
		int k = gort_select(cs, 2 * ST_CHANS, true);
		if (k < ST_CHANS)
			stress_record(s, in);
		else
			next++;
	}
	s->sent[me->id] = next - (long)me->id * ST_MAX_PER_G;
	gort_chan_send(s->stopped, NULL);
	for (int open = ST_CHANS; open > 0;) {
		int k = gort_select(cs, ST_CHANS, true);
		if (cs[k].ok) {
			stress_record(s, in);
		} else {
			cs[k].chan = NULL;
			open--;
		}
	}
	gort_chan_send(s->stopped, NULL);
}

static void body_stress(void *arg)
{
	int64_t seconds = *(int64_t *)arg;
	struct stress s = {.deadline = gort_now() + (int64_t)gt_scaled(seconds * 1000) * GORT_MILLISECOND};
	static const size_t caps_[ST_CHANS] = {0, 0, 1, 16};
	for (int k = 0; k < ST_CHANS; k++)
		s.c[k] = mk(sizeof(long), caps_[k]);
	s.stopped = mk(0, ST_G);
	for (int g = 0; g < ST_G; g++) {
		s.seen[g] = calloc(ST_MAX_PER_G / 64, sizeof(uint64_t));
		EXPECT((s.seen[g]) != NULL);
	}
	struct stress_g gs[ST_G];
	for (int g = 0; g < ST_G; g++) {
		gs[g] = (struct stress_g){&s, g};
		EXPECT_INT(gort_go(stress_worker, &gs[g]), >, 0);
	}
	join(s.stopped, ST_G); /* nobody sends any more */
	for (int k = 0; k < ST_CHANS; k++)
		gort_chan_close(s.c[k]);
	join(s.stopped, ST_G);
	long total = 0;
	for (int g = 0; g < ST_G; g++) {
		total += s.sent[g];
		for (long w = 0; w < ST_MAX_PER_G / 64; w++) { /* bits [0, sent) set, no others */
			long lo = w * 64, n = s.sent[g] - lo;
			uint64_t want = n >= 64 ? UINT64_MAX : n <= 0 ? 0 : ((uint64_t)1 << n) - 1;
			EXPECT_MSG(s.seen[g][w] == want, "goroutine %d values %ld..%ld: received %#llx, sent %#llx",
			           g, lo, lo + 63, (unsigned long long)s.seen[g][w], (unsigned long long)want);
		}
		free(s.seen[g]);
	}
	EXPECT_INT(s.received, ==, total);
	EXPECT_INT(total, >, 0);
	fprintf(stderr, "stress: %ld values through mixed selects, %d workers\n", total, gort_nprocs());
	for (int k = 0; k < ST_CHANS; k++)
		gort_chan_unref(s.c[k]);
	gort_chan_unref(s.stopped);
}

/* 10 s with 2 workers at GT_SCALE=1 (the figure), 2 s with one. */
START_TEST(stress_mixed_selects_lose_and_duplicate_nothing)
{
	int64_t seconds = _i == 2 ? 10 : 2;
	gt_run(_i, body_stress, &seconds);
}
END_TEST

/* ---- misuse --------------------------------------------------------------- */

static void misuse_select_send_on_closed(void *arg)
{
	(void)arg;
	gort_chan *c = mk(sizeof(long), 0), *d = mk(sizeof(long), 0);
	long v = 1;
	gort_chan_close(c);
	gort_select_case cs[2] = {scase(c, &v), rcase(d, &v)};
	gort_select(cs, 2, false);
}

static void parked_select_sender(void *arg)
{
	gort_chan **c = arg;
	long v = 1;
	gort_select_case cs[2] = {scase(c[0], &v), rcase(c[1], &v)};
	gort_select(cs, 2, true);
}

static void misuse_close_under_parked_select_sender(void *arg)
{
	(void)arg;
	gort_chan *c[2] = {mk(sizeof(long), 0), mk(sizeof(long), 0)};
	EXPECT_INT(gort_go(parked_select_sender, c), >, 0);
	for (int i = 0; i < 100; i++)
		gort_yield(); /* one worker: the select parks meanwhile */
	gort_chan_close(c[0]);
	for (;;)
		gort_yield();
}

static void (*const misuses[])(void *) = {
	misuse_select_send_on_closed,
	misuse_close_under_parked_select_sender,
};

START_TEST(misuse_aborts)
{
	gt_run(1, misuses[_i], NULL);
}
END_TEST

Suite *gt_suite(void)
{
	Suite *s = suite_create("select");
	TCase *tc = gt_tcase("semantics", 30);
	tcase_add_loop_test(tc, semantics_with_1_and_2_workers, 0, 2 * NBODIES);
	tcase_add_loop_test(tc, nil_channel_and_empty_select_block_forever, 0, 4);
	suite_add_tcase(s, tc);

	tc = gt_tcase("repeat", 55);
	tcase_add_test(tc, repeated_20_times);
	suite_add_tcase(s, tc);

	tc = gt_tcase("stress", 40);
	tcase_add_loop_test(tc, stress_mixed_selects_lose_and_duplicate_nothing, 1, 3);
	suite_add_tcase(s, tc);

	tc = gt_tcase("misuse", 10);
	tcase_add_loop_test_raise_signal(tc, misuse_aborts, SIGABRT, 0, sizeof misuses / sizeof misuses[0]);
	suite_add_tcase(s, tc);
	return s;
}
