/* chan_impl.h — the channel representation shared by chan.c and select.c
 * (private to those two files; see docs/runtime-channels.md).
 *
 * Invariants (as in Go's hchan):
 *  - c->lock guards every field below it except elem_size, cap and refs;
 *  - cap < 2^32 (gort_chan_make refuses more), so ring state fits 32 bits;
 *  - at most one of sendq/recvq holds waiters that can still proceed
 *    (a parked select may leave stale waiters in both until it dequeues
 *    them; wakers skip those, see gort__chan_dequeue);
 *  - a buffered channel with waiting senders is full; one with waiting
 *    receivers is empty; once closed, sendq and recvq stay empty;
 *  - closed, count and each queue's nonempty flag are written under the
 *    lock with atomic stores and may be read without it (the non-blocking
 *    fast paths, gort_chan_len): a fast path either answers with a state
 *    the channel had during the call or takes the locked path, which
 *    decides.  Queue links themselves are only touched under the lock.
 */
#ifndef GORT_CHAN_IMPL_H
#define GORT_CHAN_IMPL_H

#include "internal.h"

#include <stddef.h>
#include <string.h>

/* A wait queue of a channel, with a flag the lock-free fast paths read
 * instead of the links (which the internal.h helpers write plainly). */
typedef struct gort__chanq {
	gort__waitq q;
	uint32_t nonempty; /* q.head != NULL, stored (atomic) after each change */
} gort__chanq;

/* Laid out so that everything a buffered send or receive touches without
 * parking (lock, state, ring indexes, both queue heads) shares the first
 * 64-byte line: under contention each operation moves one line between
 * CPUs, plus the element's slot. */
struct gort_chan {
	uint32_t lock;      /* spinlock guarding the fields after it */
	uint32_t closed;    /* 1 once closed */
	uint32_t count;     /* elements in the ring buffer */
	uint32_t sendx;     /* ring index the next buffered send fills */
	uint32_t recvx;     /* ring index the next buffered receive takes */
	uint32_t cap;       /* ring size, 0 for rendezvous (immutable) */
	size_t elem_size;   /* bytes per element, may be 0 (immutable) */
	gort__chanq recvq;  /* parked receivers (FIFO) */
	gort__chanq sendq;  /* parked senders (FIFO), their values in w->elem */
	uint64_t refs;      /* references (atomic) */
	void *alloc;        /* the calloc'ed block this channel was aligned in */
	_Alignas(16) unsigned char buf[]; /* cap * elem_size bytes */
} __attribute__((aligned(64)));

static inline void gort__chanq_publish(gort__chanq *cq)
{
	__atomic_store_n(&cq->nonempty, cq->q.head != NULL, __ATOMIC_RELAXED);
}

/* Lock held. */
static inline void gort__chanq_push(gort__chanq *cq, gort__waiter *w)
{
	gort__waitq_push(&cq->q, w);
	gort__chanq_publish(cq);
}

/* Lock held.  Unlinks w if it is still linked in cq (a waker may have
 * popped it already; gort__waitq_remove cleared its links then). */
static inline void gort__chanq_unlink(gort__chanq *cq, gort__waiter *w)
{
	if (w->prev != NULL || cq->q.head == w) {
		gort__waitq_remove(&cq->q, w);
		gort__chanq_publish(cq);
	}
}

/* Lock-free: are there (possibly stale) waiters? */
static inline bool gort__chanq_nonempty(const gort__chanq *cq)
{
	return __atomic_load_n(&cq->nonempty, __ATOMIC_ACQUIRE);
}

/* Copies one element; the common sizes become single moves. */
static inline void gort__elem_copy(void *dst, const void *src, size_t n)
{
	switch (n) {
	case 0:
		return;
	case 4:
		memcpy(dst, src, 4);
		return;
	case 8:
		memcpy(dst, src, 8);
		return;
	case 16:
		memcpy(dst, src, 16);
		return;
	default:
		memcpy(dst, src, n);
	}
}

static inline unsigned char *gort__chan_slot(gort_chan *c, uint32_t i)
{
	return c->buf + (size_t)i * c->elem_size;
}

/* Lock-free "a send would block" test, valid while not closed. */
static inline bool gort__chan_full(gort_chan *c)
{
	if (c->cap == 0)
		return !gort__chanq_nonempty(&c->recvq);
	return __atomic_load_n(&c->count, __ATOMIC_ACQUIRE) == c->cap;
}

/* Lock-free "a receive would block" test (ignoring closed). */
static inline bool gort__chan_empty(gort_chan *c)
{
	if (c->cap == 0)
		return !gort__chanq_nonempty(&c->sendq);
	return __atomic_load_n(&c->count, __ATOMIC_ACQUIRE) == 0;
}

/* Lock held.  Appends one element to the ring (count < cap). */
static inline void gort__chan_buf_put(gort_chan *c, const void *elem)
{
	gort__elem_copy(gort__chan_slot(c, c->sendx), elem, c->elem_size);
	if (++c->sendx == c->cap)
		c->sendx = 0;
	__atomic_store_n(&c->count, c->count + 1, __ATOMIC_RELAXED);
}

/* Lock held.  Takes the oldest element (count > 0) into elem (may be NULL). */
static inline void gort__chan_buf_get(gort_chan *c, void *elem)
{
	unsigned char *slot = gort__chan_slot(c, c->recvx);
	if (elem)
		gort__elem_copy(elem, slot, c->elem_size);
	if (++c->recvx == c->cap)
		c->recvx = 0;
	__atomic_store_n(&c->count, c->count - 1, __ATOMIC_RELAXED);
}

/* Lock held.  Pops the first waiter of q that may proceed: a select waiter
 * whose select already completed elsewhere is dropped from q and skipped.
 * A select waiter that wins gets select_done set to NULL, which tells its
 * goroutine which case fired.  NULL if none. */
static inline gort__waiter *gort__chan_dequeue(gort__chanq *cq)
{
	gort__waiter *w;
	if (!cq->q.head)
		return NULL; /* nothing changes, nothing to publish */
	while ((w = gort__waitq_pop(&cq->q))) {
		if (GORT__LIKELY(!w->select_done))
			break;
		uint32_t zero = 0;
		if (__atomic_compare_exchange_n(w->select_done, &zero, 1, false, __ATOMIC_ACQ_REL,
		                                __ATOMIC_ACQUIRE)) {
			w->select_done = NULL; /* marks the winning case for select.c */
			break;
		}
	}
	gort__chanq_publish(cq);
	return w;
}

/* Lock held; w was dequeued from c->recvq.  Hands elem to that receiver. */
static inline void gort__chan_send_direct(gort_chan *c, gort__waiter *w, const void *elem)
{
	if (w->elem)
		gort__elem_copy(w->elem, elem, c->elem_size);
	w->ok = true;
}

/* Lock held; w was dequeued from c->sendq.  Receives into elem (may be
 * NULL): from w directly (cap 0) or from the buffer head, moving w's value
 * to the tail. */
static inline void gort__chan_recv_direct(gort_chan *c, gort__waiter *w, void *elem)
{
	if (c->cap == 0) {
		if (elem)
			gort__elem_copy(elem, w->elem, c->elem_size);
	} else {
		/* Full buffer: take the head, the sender's value becomes the tail
		 * (the slot just freed, so sendx follows recvx). */
		unsigned char *slot = gort__chan_slot(c, c->recvx);
		if (elem)
			gort__elem_copy(elem, slot, c->elem_size);
		gort__elem_copy(slot, w->elem, c->elem_size);
		if (++c->recvx == c->cap)
			c->recvx = 0;
		c->sendx = c->recvx;
	}
	w->ok = true;
}

/* The channel operations behind the public calls and single-case selects.
 * send: 0, or -EAGAIN (block false).  recv: 1 value, 0 closed and drained,
 * -EAGAIN (block false).  c may be NULL (never ready). */
GORT__HIDDEN int gort__chan_send(gort_chan *c, const void *elem, bool block);
GORT__HIDDEN int gort__chan_recv(gort_chan *c, void *elem, bool block);

/* Parks the calling goroutine for good (nil channel, empty select). */
GORT__HIDDEN _Noreturn void gort__block_forever(enum gort__wait_reason why);

#endif /* GORT_CHAN_IMPL_H */
