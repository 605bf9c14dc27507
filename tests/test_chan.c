/* test_chan.c — channel semantics (the behaviour of Go's test/chan programs
 * fifo.go, nonblock.go, sieve1.go, zerosize.go, closedchan.go, chancap.go,
 * ported to libgort), misuse aborts, and a stress run of many senders and
 * receivers across workers.
 *
 * Every semantic body runs under gt_run with 1 and 2 workers, and the whole
 * table once more 20 times in a row (repeated_20_times), as the issue asks.
 * Goroutines are joined through a "done" channel; every test ends with the
 * goroutine count back at its baseline (gt_run checks it).
 */
#include "harness.h"
#include "gort.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

/* ---- helpers ---------------------------------------------------------- */

static gort_chan *mk(size_t elem_size, size_t cap)
{
	gort_chan *c = gort_chan_make(elem_size, cap);
	EXPECT((c) != NULL);
	return c;
}

static void send_long(gort_chan *c, long v)
{
	gort_chan_send(c, &v);
}

static long recv_long(gort_chan *c, bool *ok)
{
	long v = -1;
	bool r = gort_chan_recv(c, &v);
	if (ok)
		*ok = r;
	else
		EXPECT(r);
	return v;
}

/* Signals the end of a goroutine on a zero-size channel. */
static void done(gort_chan *d)
{
	gort_chan_send(d, NULL);
}

static void join(gort_chan *d, int n)
{
	for (int i = 0; i < n; i++)
		EXPECT(gort_chan_recv(d, NULL));
}

static const size_t caps[] = {0, 1, 2, 5, 10, 100};
enum { NCAPS = sizeof(caps) / sizeof(caps[0]) };

/* ---- chancap.go: len and cap ------------------------------------------ */

static void body_len_and_cap(void *arg)
{
	(void)arg;
	for (size_t k = 0; k < NCAPS; k++) {
		gort_chan *c = mk(sizeof(long), caps[k]);
		EXPECT_INT(gort_chan_cap(c), ==, caps[k]);
		EXPECT_INT(gort_chan_len(c), ==, 0);
		for (size_t i = 0; i < caps[k]; i++) {
			EXPECT_INT(gort_chan_try_send(c, &(long){(long)i}), ==, 0);
			EXPECT_INT(gort_chan_len(c), ==, i + 1);
		}
		EXPECT_INT(gort_chan_try_send(c, &(long){0}), ==, -EAGAIN);
		gort_chan_close(c);
		EXPECT_INT(gort_chan_len(c), ==, caps[k]); /* closing keeps the values */
		EXPECT_INT(gort_chan_cap(c), ==, caps[k]);
		gort_chan_unref(c);
	}
	EXPECT_INT(gort_chan_len(NULL), ==, 0);
	EXPECT_INT(gort_chan_cap(NULL), ==, 0);
}

START_TEST(make_rejects_size_overflow)
{
	errno = 0;
	EXPECT((gort_chan_make(SIZE_MAX / 2, 4)) == NULL);
	EXPECT_INT(errno, ==, EINVAL);
	errno = 0;
	EXPECT(gort_chan_make(0, (size_t)UINT32_MAX + 1) == NULL);
	EXPECT_INT(errno, ==, EINVAL);
	gort_chan *c = gort_chan_make(0, UINT32_MAX); /* zero-size elements need no buffer */
	EXPECT((c) != NULL);
	EXPECT((gort_chan_ref(c)) == (c));
	gort_chan_unref(c);
	gort_chan_unref(c);
	gort_chan_unref(NULL);
	EXPECT((gort_chan_ref(NULL)) == NULL);
}
END_TEST

/* ---- fifo.go ------------------------------------------------------------ */

enum { FIFO_N = 10 };

static void body_buffered_fifo(void *arg)
{
	(void)arg;
	gort_chan *c = mk(sizeof(long), FIFO_N);
	for (long i = 0; i < FIFO_N; i++)
		send_long(c, i);
	for (long i = 0; i < FIFO_N; i++)
		EXPECT_INT(recv_long(c, NULL), ==, i);
	gort_chan_unref(c);
}

struct chain_link {
	gort_chan *ch, *in, *out;
	long val;
};

/* Waits for its turn on in, takes exactly its value from ch, passes the
 * turn on (fifo.go Chain). */
static void chain_link(void *arg)
{
	struct chain_link *l = arg;
	recv_long(l->in, NULL);
	EXPECT_INT(recv_long(l->ch, NULL), ==, l->val);
	send_long(l->out, 1);
}

static void body_unbuffered_fifo_through_chain(void *arg)
{
	(void)arg;
	enum { N = 100 };
	struct chain_link links[N];
	gort_chan *ch = mk(sizeof(long), 0), *tokens[N + 1];
	for (int i = 0; i <= N; i++)
		tokens[i] = mk(sizeof(long), 0);
	for (int i = 0; i < N; i++) {
		links[i] = (struct chain_link){ch, tokens[i], tokens[i + 1], i};
		EXPECT_INT(gort_go(chain_link, &links[i]), >, 0);
	}
	send_long(tokens[0], 0);
	for (long i = 0; i < N; i++)
		send_long(ch, i);
	recv_long(tokens[N], NULL);
	for (int i = 0; i <= N; i++)
		gort_chan_unref(tokens[i]);
	gort_chan_unref(ch);
}

/* FIFO per sender with many senders and receivers at once: each receiver
 * sees every sender's values in increasing order. */
struct mpmc {
	gort_chan *c, *done;
	long per_sender;
	int id, senders;
};

static void mpmc_sender(void *arg)
{
	struct mpmc *m = arg;
	for (long i = 0; i < m->per_sender; i++)
		send_long(m->c, (long)m->id << 32 | i);
	done(m->done);
}

static void mpmc_receiver(void *arg)
{
	struct mpmc *m = arg;
	long last[8];
	for (int i = 0; i < 8; i++)
		last[i] = -1;
	bool ok;
	for (;;) {
		long v = recv_long(m->c, &ok);
		if (!ok)
			break;
		int s = (int)(v >> 32);
		long seq = v & 0xffffffffL;
		EXPECT_INT(s, <, m->senders);
		EXPECT_INT(seq, >, last[s]);
		last[s] = seq;
	}
	done(m->done);
}

static void body_many_senders_receivers_keep_per_sender_order(void *arg)
{
	(void)arg;
	for (size_t k = 0; k < NCAPS; k++) {
		enum { S = 4, R = 4 };
		gort_chan *c = mk(sizeof(long), caps[k]), *d = mk(0, 0);
		struct mpmc ms[S + R];
		for (int i = 0; i < S + R; i++) {
			ms[i] = (struct mpmc){c, d, gt_scaled(2000), i, S};
			EXPECT_INT(gort_go(i < S ? mpmc_sender : mpmc_receiver, &ms[i]), >, 0);
		}
		join(d, S);
		gort_chan_close(c);
		join(d, R);
		gort_chan_unref(c);
		gort_chan_unref(d);
	}
}

/* ---- nonblock.go -------------------------------------------------------- */

struct nb {
	gort_chan *c, *sync;
	long n;
};

static void nb_blocking_sender(void *arg)
{
	struct nb *p = arg;
	for (long i = 0; i < p->n; i++)
		send_long(p->c, i);
	done(p->sync);
}

static void nb_blocking_receiver(void *arg)
{
	struct nb *p = arg;
	for (long i = 0; i < p->n; i++)
		EXPECT_INT(recv_long(p->c, NULL), ==, i);
	done(p->sync);
}

/* A non-blocking receive or send, the three ways (nonblock.go uses the
 * select-with-default forms): try_*, a one-case select, and a two-case
 * select whose other case is a nil channel.  0 done, -EAGAIN not ready. */
static int nb_op(int how, gort_select_dir dir, gort_chan *c, long *v)
{
	gort_select_case cs[2] = {{c, dir, v, false}, {NULL, dir, v, false}};
	if (how == 0)
		return dir == GORT_SELECT_RECV ? gort_chan_try_recv(c, v) : gort_chan_try_send(c, v);
	int r = gort_select(cs, (size_t)how, false);
	EXPECT(r == -EAGAIN || (r == 0 && (dir == GORT_SELECT_SEND || cs[0].ok)));
	return r;
}

static void body_nonblocking_ops_on_all_kinds(void *arg)
{
	(void)arg;
	for (size_t k = 0; k < NCAPS; k++)
		for (int how = 0; how < 3; how++) {
			gort_chan *c = mk(sizeof(long), caps[k]), *sync = mk(0, 0);
			long v = 7;
			EXPECT_INT(nb_op(how, GORT_SELECT_RECV, c, &v), ==, -EAGAIN);
			EXPECT_INT(v, ==, 7); /* untouched when it would block */
			struct nb p = {c, sync, gt_scaled(300)};

			/* non-blocking receives against a blocking sender */
			EXPECT_INT(gort_go(nb_blocking_sender, &p), >, 0);
			for (long i = 0; i < p.n;) {
				if (nb_op(how, GORT_SELECT_RECV, c, &v) == -EAGAIN) {
					gort_yield();
					continue;
				}
				EXPECT_INT(v, ==, i++);
			}
			join(sync, 1);

			/* non-blocking sends against a blocking receiver */
			EXPECT_INT(gort_go(nb_blocking_receiver, &p), >, 0);
			for (long i = 0; i < p.n;) {
				long out = i;
				if (nb_op(how, GORT_SELECT_SEND, c, &out) == -EAGAIN) {
					gort_yield();
					continue;
				}
				i++;
			}
			join(sync, 1);
			EXPECT_INT(nb_op(how, GORT_SELECT_RECV, c, &v), ==, -EAGAIN);
			gort_chan_unref(c);
			gort_chan_unref(sync);
		}
}

static void body_unbuffered_try_send_needs_a_parked_receiver(void *arg)
{
	(void)arg;
	gort_chan *c = mk(sizeof(long), 0), *sync = mk(0, 0);
	long one = 1;
	EXPECT_INT(gort_chan_try_send(c, &one), ==, -EAGAIN); /* nobody receives */
	struct nb p = {c, sync, 1};
	EXPECT_INT(gort_go(nb_blocking_receiver, &p), >, 0);
	long zero = 0;
	while (gort_chan_try_send(c, &zero) == -EAGAIN)
		gort_yield(); /* until the receiver has parked */
	join(sync, 1);
	gort_chan_unref(c);
	gort_chan_unref(sync);
}

/* ---- zerosize.go -------------------------------------------------------- */

static void zs_sender(void *arg)
{
	struct nb *p = arg;
	for (long i = 0; i < p->n; i++)
		gort_chan_send(p->c, NULL);
	gort_chan_close(p->c);
}

static void body_zero_size_elements(void *arg)
{
	(void)arg;
	for (size_t k = 0; k < NCAPS; k++) {
		gort_chan *c = mk(0, caps[k]);
		struct nb p = {c, NULL, gt_scaled(1000)};
		EXPECT_INT(gort_go(zs_sender, &p), >, 0);
		long got = 0;
		char dummy = 'x';
		while (gort_chan_recv(c, got % 2 ? NULL : &dummy))
			got++;
		EXPECT_INT(got, ==, p.n);
		EXPECT_INT(dummy, ==, 'x'); /* zero bytes copied */
		EXPECT_INT(gort_chan_len(c), <=, caps[k]);
		gort_chan_unref(c);
	}
}

/* Large elements are copied whole, by value. */
struct big {
	unsigned char b[1000];
};

static void big_sender(void *arg)
{
	struct nb *p = arg;
	for (long i = 0; i < p->n; i++) {
		struct big v;
		memset(v.b, (int)(i & 0xff), sizeof v.b);
		gort_chan_send(p->c, &v);
		memset(v.b, 0xee, sizeof v.b); /* the channel holds a copy */
	}
	gort_chan_close(p->c);
}

static void body_large_elements_copied_by_value(void *arg)
{
	(void)arg;
	for (size_t k = 0; k < NCAPS; k++) {
		gort_chan *c = mk(sizeof(struct big), caps[k]);
		struct nb p = {c, NULL, 300};
		EXPECT_INT(gort_go(big_sender, &p), >, 0);
		struct big v;
		for (long i = 0; i < p.n; i++) {
			EXPECT(gort_chan_recv(c, &v));
			for (size_t j = 0; j < sizeof v.b; j++)
				EXPECT_INT(v.b[j], ==, i & 0xff);
		}
		EXPECT(!gort_chan_recv(c, &v));
		for (size_t j = 0; j < sizeof v.b; j++)
			EXPECT_INT(v.b[j], ==, 0); /* zeroed once closed */
		gort_chan_unref(c);
	}
}

/* ---- closedchan.go ------------------------------------------------------ */

/* Receiving through each of the four ways: recv, try_recv, a one-case and a
 * two-case select (the second case on a nil channel). */
static int recv_via(int how, gort_chan *c, long *v, bool *ok)
{
	gort_select_case cs[2] = {{c, GORT_SELECT_RECV, v, false}, {NULL, GORT_SELECT_RECV, NULL, false}};
	int r;
	switch (how) {
	case 0:
		*ok = gort_chan_recv(c, v);
		return 0;
	case 1:
		r = gort_chan_try_recv(c, v);
		*ok = r == 0;
		return r == -EPIPE ? 0 : r;
	default:
		r = gort_select(cs, (size_t)how - 1, false);
		if (r < 0)
			return r;
		EXPECT_INT(r, ==, 0);
		*ok = cs[0].ok;
		return 0;
	}
}

static void body_closed_channels(void *arg)
{
	(void)arg;
	for (size_t k = 0; k < NCAPS; k++)
		for (int how = 0; how < 4; how++) {
			gort_chan *c = mk(sizeof(long), caps[k]);
			size_t n = caps[k] < 3 ? caps[k] : 3;
			for (size_t i = 0; i < n; i++)
				send_long(c, (long)i + 10);
			gort_chan_close(c);
			long v;
			bool ok;
			for (size_t i = 0; i < n; i++) { /* buffered values come first */
				EXPECT_INT(recv_via(how, c, &v, &ok), ==, 0);
				EXPECT(ok);
				EXPECT_INT(v, ==, (long)i + 10);
			}
			for (int again = 0; again < 3; again++) {
				v = 99;
				EXPECT_INT(recv_via(how, c, &v, &ok), ==, 0);
				EXPECT(!ok);
				EXPECT_INT(v, ==, 0);
			}
			EXPECT_INT(gort_chan_len(c), ==, 0);
			EXPECT_INT(gort_chan_cap(c), ==, caps[k]);
			gort_chan_unref(c);
		}
}

struct closer {
	gort_chan *c, *sync;
	int waiters;
};

static void parked_receiver(void *arg)
{
	struct closer *p = arg;
	long v = 5;
	EXPECT(!gort_chan_recv(p->c, &v));
	EXPECT_INT(v, ==, 0);
	done(p->sync);
}

static void body_close_wakes_every_receiver(void *arg)
{
	(void)arg;
	for (size_t k = 0; k < 2; k++) {
		gort_chan *c = mk(sizeof(long), caps[k]), *sync = mk(0, 20);
		struct closer p = {c, sync, 10};
		for (int i = 0; i < p.waiters; i++)
			EXPECT_INT(gort_go(parked_receiver, &p), >, 0);
		for (int i = 0; i < 100; i++)
			gort_yield(); /* let them park (not needed for correctness) */
		gort_chan_close(c);
		join(sync, p.waiters);
		gort_chan_unref(c);
		gort_chan_unref(sync);
	}
}

/* ---- sieve1.go: daisy-chained prime sieve -------------------------------- */

struct stage {
	gort_chan *in, *out, *quit;
	long prime;
};

/* Sends v on out unless quit is closed first; false when quitting. */
static bool send_or_quit(gort_chan *out, gort_chan *quit, long v)
{
	gort_select_case cs[2] = {{out, GORT_SELECT_SEND, &v, false}, {quit, GORT_SELECT_RECV, NULL, false}};
	return gort_select(cs, 2, true) == 0;
}

static void generate(void *arg)
{
	struct stage *s = arg;
	for (long i = 2; send_or_quit(s->out, s->quit, i); i++)
		;
	gort_chan_close(s->out);
	gort_chan_unref(s->out);
	gort_chan_unref(s->quit);
	free(s);
}

static void filter(void *arg)
{
	struct stage *s = arg;
	long v;
	while (gort_chan_recv(s->in, &v))
		if (v % s->prime != 0 && !send_or_quit(s->out, s->quit, v))
			break;
	gort_chan_close(s->out);
	gort_chan_unref(s->in);
	gort_chan_unref(s->out);
	gort_chan_unref(s->quit);
	free(s);
}

static void spawn_stage(void (*fn)(void *), gort_chan *in, gort_chan *out, gort_chan *quit, long prime)
{
	struct stage *s = malloc(sizeof(*s));
	EXPECT((s) != NULL);
	*s = (struct stage){gort_chan_ref(in), gort_chan_ref(out), gort_chan_ref(quit), prime};
	EXPECT_INT(gort_go(fn, s), >, 0);
}

static void sieve(size_t cap)
{
	static const long first[] = {2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59,
	                             61, 67, 71, 73, 79, 83, 89, 97, 101, 103, 107, 109, 113, 127,
	                             131, 137, 139, 149, 151, 157, 163, 167, 173, 179, 181, 191, 193,
	                             197, 199, 211, 223, 227, 229, 233, 239, 241, 251, 257, 263, 269,
	                             271, 277, 281, 283, 293, 307, 311, 313, 317, 331, 337, 347, 349,
	                             353, 359, 367, 373, 379, 383, 389, 397, 401, 409, 419, 421, 431,
	                             433, 439, 443, 449, 457, 461, 463, 467, 479, 487, 491, 499, 503,
	                             509, 521, 523, 541};
	gort_chan *quit = mk(0, 0), *ch = mk(sizeof(long), cap);
	spawn_stage(generate, NULL, ch, quit, 0);
	for (size_t i = 0; i < sizeof first / sizeof first[0]; i++) {
		long prime = recv_long(ch, NULL);
		EXPECT_INT(prime, ==, first[i]);
		gort_chan *next = mk(sizeof(long), cap);
		spawn_stage(filter, ch, next, quit, prime);
		gort_chan_unref(ch);
		ch = next;
	}
	gort_chan_close(quit); /* the chain unwinds: each stage closes its out */
	while (gort_chan_recv(ch, NULL))
		;
	gort_chan_unref(ch);
	gort_chan_unref(quit);
}

static void body_prime_sieve_unbuffered(void *arg)
{
	(void)arg;
	sieve(0);
}

static void body_prime_sieve_buffered(void *arg)
{
	(void)arg;
	sieve(10);
}

/* ---- the table ---------------------------------------------------------- */

static const struct body {
	const char *name;
	void (*fn)(void *);
} bodies[] = {
	{"len_and_cap", body_len_and_cap},
	{"buffered_fifo", body_buffered_fifo},
	{"unbuffered_fifo_through_chain", body_unbuffered_fifo_through_chain},
	{"many_senders_receivers_keep_per_sender_order", body_many_senders_receivers_keep_per_sender_order},
	{"nonblocking_ops_on_all_kinds", body_nonblocking_ops_on_all_kinds},
	{"unbuffered_try_send_needs_a_parked_receiver", body_unbuffered_try_send_needs_a_parked_receiver},
	{"zero_size_elements", body_zero_size_elements},
	{"large_elements_copied_by_value", body_large_elements_copied_by_value},
	{"closed_channels", body_closed_channels},
	{"close_wakes_every_receiver", body_close_wakes_every_receiver},
	{"prime_sieve_unbuffered", body_prime_sieve_unbuffered},
	{"prime_sieve_buffered", body_prime_sieve_buffered},
};
enum { NBODIES = sizeof(bodies) / sizeof(bodies[0]) };

/* _i = body index * 2 + (workers - 1). */
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

/* ---- misuse: Go panics, we abort ----------------------------------------- */

static void misuse_send_on_closed(void *arg)
{
	(void)arg;
	gort_chan *c = mk(sizeof(long), 1);
	gort_chan_close(c);
	send_long(c, 1);
}

static void misuse_try_send_on_closed(void *arg)
{
	(void)arg;
	gort_chan *c = mk(sizeof(long), 1);
	gort_chan_close(c);
	gort_chan_try_send(c, &(long){1});
}

static void misuse_close_twice(void *arg)
{
	(void)arg;
	gort_chan *c = mk(0, 0);
	gort_chan_close(c);
	gort_chan_close(c);
}

static void misuse_close_nil(void *arg)
{
	(void)arg;
	gort_chan_close(NULL);
}

static void parked_sender(void *arg)
{
	send_long(arg, 1);
}

static void misuse_close_with_parked_sender(void *arg)
{
	(void)arg;
	gort_chan *c = mk(sizeof(long), 0);
	EXPECT_INT(gort_go(parked_sender, c), >, 0);
	for (int i = 0; i < 100; i++)
		gort_yield(); /* one worker: the sender parks meanwhile */
	gort_chan_close(c); /* the parked sender aborts */
	for (;;)
		gort_yield();
}

static void blocked_receiver(void *arg)
{
	gort_chan_recv(arg, NULL);
}

static void misuse_unref_with_parked_receiver(void *arg)
{
	(void)arg;
	gort_chan *c = mk(0, 0);
	EXPECT_INT(gort_go(blocked_receiver, c), >, 0);
	for (int i = 0; i < 100; i++)
		gort_yield(); /* one worker: the receiver parks meanwhile */
	gort_chan_unref(c); /* the last reference, a goroutine still waits */
	for (;;)
		gort_yield();
}

static void misuse_send_null_value(void *arg)
{
	(void)arg;
	gort_chan *c = mk(sizeof(long), 1);
	gort_chan_try_send(c, NULL);
}

static void (*const misuses[])(void *) = {
	misuse_send_on_closed, misuse_try_send_on_closed, misuse_close_twice,
	misuse_close_nil, misuse_close_with_parked_sender, misuse_unref_with_parked_receiver,
	misuse_send_null_value,
};

START_TEST(misuse_aborts)
{
	gt_run(1, misuses[_i], NULL);
}
END_TEST

START_TEST(blocking_send_outside_a_goroutine_aborts)
{
	gort_chan *c = mk(sizeof(long), 1);
	send_long(c, 1);
}
END_TEST

Suite *gt_suite(void)
{
	Suite *s = suite_create("chan");
	TCase *tc = gt_tcase("semantics", 30);
	tcase_add_test(tc, make_rejects_size_overflow);
	tcase_add_loop_test(tc, semantics_with_1_and_2_workers, 0, 2 * NBODIES);
	suite_add_tcase(s, tc);

	tc = gt_tcase("repeat", 50);
	tcase_add_test(tc, repeated_20_times);
	suite_add_tcase(s, tc);

	tc = gt_tcase("misuse", 10);
	tcase_add_loop_test_raise_signal(tc, misuse_aborts, SIGABRT, 0, sizeof misuses / sizeof misuses[0]);
	tcase_add_test_raise_signal(tc, blocking_send_outside_a_goroutine_aborts, SIGABRT);
	suite_add_tcase(s, tc);
	return s;
}
