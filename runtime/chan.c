/* chan.c — channels: gort_chan_make/ref/unref, send, recv, their
 * non-blocking forms, close, len and cap (Go's chan.go, in C).
 *
 * Representation and invariants: chan_impl.h.  Design (docs/runtime-channels.md):
 *  - one spinlock per channel guards the ring buffer and both wait queues;
 *    it is held for a few dozen instructions, never across a park: a
 *    blocking operation queues a gort__waiter that lives on its own stack
 *    and parks with gort__commit_unlock, so the lock is released only once
 *    the goroutine is fully parked (internal.h);
 *  - a send that finds a parked receiver copies the value straight into the
 *    receiver's destination (its stack; stacks never move) and readies it;
 *    a receive that finds a parked sender takes its value (cap 0) or the
 *    buffer head, refilling the tail from the sender (cap > 0), so FIFO order
 *    holds and the buffer stays full;
 *  - a waker readies a goroutine only after unlocking, and never touches the
 *    waiter afterwards (its goroutine may already be running);
 *  - non-blocking operations that would obviously fail answer without the
 *    lock (the linearisation argument of Go's chan.go: both loads observe a
 *    state the channel had during the call);
 *  - select waiters carry a shared select_done word: the waker that moves
 *    it 0 -> 1 owns that select (gort__chan_dequeue), others skip it.
 * Locking rule: chan.c never holds two locks; select.c holds several, taken
 * in address order, so the two cannot deadlock.
 */
#include "chan_impl.h"

#include <errno.h>
#include <stdlib.h>

_Static_assert(offsetof(gort_chan, sendq.q.head) + sizeof(void *) <= 64,
               "the hot fields of a channel must share its first cache line");

/* The channel is placed at a 64-byte boundary inside a calloc'ed block
 * (calloc rather than aligned_alloc, so that tests that wrap malloc and
 * calloc to inject allocation failures reach it). */
gort_chan *gort_chan_make(size_t elem_size, size_t cap)
{
	if (cap > UINT32_MAX || (cap && elem_size > (SIZE_MAX - sizeof(gort_chan) - 63) / cap)) {
		errno = EINVAL;
		return NULL;
	}
	void *mem = calloc(1, sizeof(gort_chan) + elem_size * cap + 63);
	if (!mem) {
		errno = ENOMEM;
		return NULL;
	}
	gort_chan *c = (gort_chan *)(((uintptr_t)mem + 63) & ~(uintptr_t)63);
	c->alloc = mem;
	c->elem_size = elem_size;
	c->cap = (uint32_t)cap;
	c->refs = 1;
	return c;
}

gort_chan *gort_chan_ref(gort_chan *c)
{
	if (c)
		__atomic_fetch_add(&c->refs, 1, __ATOMIC_RELAXED);
	return c;
}

void gort_chan_unref(gort_chan *c)
{
	if (!c || __atomic_sub_fetch(&c->refs, 1, __ATOMIC_ACQ_REL) != 0)
		return;
	if (c->recvq.q.head || c->sendq.q.head)
		gort__fatal("gort_chan_unref: last reference to a channel dropped while goroutines are blocked on it");
	free(c->alloc);
}

size_t gort_chan_len(gort_chan *c)
{
	return c ? __atomic_load_n(&c->count, __ATOMIC_RELAXED) : 0;
}

size_t gort_chan_cap(gort_chan *c)
{
	return c ? c->cap : 0;
}

static bool commit_forever(gort__g *g, void *arg)
{
	(void)g;
	(void)arg;
	return true;
}

void gort__block_forever(enum gort__wait_reason why)
{
	gort__park(commit_forever, NULL, why);
	gort__fatal("a goroutine blocked forever was woken up");
}

static _Noreturn void send_on_closed(void)
{
	gort__fatal("send on closed channel");
}

/* Lock held, the send cannot complete: parks until a receiver takes the
 * value or the channel is closed (then aborts). */
static void send_park(gort_chan *c, const void *elem, gort__g *g)
{
	gort__waiter w = {.g = g, .elem = (void *)elem, .chan = c};
	gort__chanq_push(&c->sendq, &w);
	gort__park(gort__commit_unlock, &c->lock, GORT__WAIT_CHAN_SEND);
	if (!w.ok)
		send_on_closed();
}

int gort__chan_send(gort_chan *c, const void *elem, bool block)
{
	gort__g *self = block ? gort__self_or_die("gort_chan_send") : NULL;
	if (GORT__UNLIKELY(!c)) {
		if (!block)
			return -EAGAIN;
		gort__block_forever(GORT__WAIT_CHAN_NIL);
	}
	if (GORT__UNLIKELY(!elem && c->elem_size))
		gort__fatal("gort_chan_send: NULL value for a channel of %zu-byte elements", c->elem_size);
	if (!block && !__atomic_load_n(&c->closed, __ATOMIC_RELAXED) && gort__chan_full(c))
		return -EAGAIN;

	gort__spin_lock(&c->lock);
	if (GORT__UNLIKELY(c->closed)) {
		gort__spin_unlock(&c->lock);
		send_on_closed();
	}
	gort__waiter *w = gort__chan_dequeue(&c->recvq);
	if (w) {
		gort__chan_send_direct(c, w, elem);
		gort__spin_unlock(&c->lock);
		gort__ready(w->g);
		return 0;
	}
	if (c->count < c->cap) {
		gort__chan_buf_put(c, elem);
		gort__spin_unlock(&c->lock);
		return 0;
	}
	if (!block) {
		gort__spin_unlock(&c->lock);
		return -EAGAIN;
	}
	send_park(c, elem, self);
	return 0;
}

/* Lock held, nothing to receive: parks until a sender or close wakes us. */
static int recv_park(gort_chan *c, void *elem, gort__g *g)
{
	gort__waiter w = {.g = g, .elem = elem, .chan = c};
	gort__chanq_push(&c->recvq, &w);
	gort__park(gort__commit_unlock, &c->lock, GORT__WAIT_CHAN_RECV);
	return w.ok ? 1 : 0;
}

/* Non-blocking receive that can answer without the lock: -EAGAIN if empty
 * and open, 0 if empty and closed, 1 if the locked path must decide.  The
 * order matters: emptiness first, then closed (Go's chanrecv). */
static int recv_fast_fail(gort_chan *c, void *elem)
{
	if (!gort__chan_empty(c))
		return 1;
	if (!__atomic_load_n(&c->closed, __ATOMIC_ACQUIRE))
		return -EAGAIN;
	if (!gort__chan_empty(c))
		return 1;
	if (elem)
		memset(elem, 0, c->elem_size);
	return 0;
}

int gort__chan_recv(gort_chan *c, void *elem, bool block)
{
	gort__g *self = block ? gort__self_or_die("gort_chan_recv") : NULL;
	if (GORT__UNLIKELY(!c)) {
		if (!block)
			return -EAGAIN;
		gort__block_forever(GORT__WAIT_CHAN_NIL);
	}
	if (!block) {
		int r = recv_fast_fail(c, elem);
		if (r <= 0)
			return r;
	}

	gort__spin_lock(&c->lock);
	gort__waiter *w = gort__chan_dequeue(&c->sendq);
	if (w) {
		gort__chan_recv_direct(c, w, elem);
		gort__spin_unlock(&c->lock);
		gort__ready(w->g);
		return 1;
	}
	if (c->count > 0) {
		gort__chan_buf_get(c, elem);
		gort__spin_unlock(&c->lock);
		return 1;
	}
	if (c->closed) {
		gort__spin_unlock(&c->lock);
		if (elem)
			memset(elem, 0, c->elem_size);
		return 0;
	}
	if (!block) {
		gort__spin_unlock(&c->lock);
		return -EAGAIN;
	}
	return recv_park(c, elem, self);
}

void gort_chan_send(gort_chan *c, const void *elem)
{
	gort__chan_send(c, elem, true);
}

bool gort_chan_recv(gort_chan *c, void *elem)
{
	return gort__chan_recv(c, elem, true) == 1;
}

int gort_chan_try_send(gort_chan *c, const void *elem)
{
	return gort__chan_send(c, elem, false);
}

int gort_chan_try_recv(gort_chan *c, void *elem)
{
	int r = gort__chan_recv(c, elem, false);
	return r == 1 ? 0 : r == 0 ? -EPIPE : r;
}

/* Lock held.  Moves every waiter of q that may proceed to the end of the
 * list *tail points into, each with ok false (receivers' values zeroed). */
static void close_collect(gort_chan *c, gort__chanq *q, gort__waiter ***tail)
{
	gort__waiter *w;
	while ((w = gort__chan_dequeue(q))) {
		if (w->elem && q == &c->recvq)
			memset(w->elem, 0, c->elem_size);
		w->ok = false;
		**tail = w;
		*tail = &w->next;
	}
}

void gort_chan_close(gort_chan *c)
{
	if (!c)
		gort__fatal("close of nil channel");
	gort__spin_lock(&c->lock);
	if (c->closed) {
		gort__spin_unlock(&c->lock);
		gort__fatal("close of closed channel");
	}
	__atomic_store_n(&c->closed, 1, __ATOMIC_RELEASE);
	gort__waiter *list = NULL, **tail = &list;
	close_collect(c, &c->recvq, &tail);
	close_collect(c, &c->sendq, &tail);
	*tail = NULL;
	gort__spin_unlock(&c->lock);
	while (list) {
		gort__waiter *next = list->next; /* read before the goroutine runs */
		gort__ready(list->g);
		list = next;
	}
}
