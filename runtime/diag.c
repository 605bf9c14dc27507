/* diag.c — diagnostics: goroutine dump, fatal errors, deadlock report,
 * stack-overflow and SIGQUIT handlers, clocks.
 *
 * Everything that runs from a signal handler (the dump, the overflow
 * report) formats into a fixed buffer with the small writer below and calls
 * write(2) only: no stdio, no malloc, no locks.  The dump walks the stack
 * slabs lock-free (stack.c), so its view of goroutines changing state at
 * that moment may be stale, never unsafe.
 *
 * Signals: SIGSEGV/SIGBUS are handled on a per-worker alternate stack; a
 * fault inside a goroutine's guard page prints "stack overflow in goroutine
 * <id> (<name>)" and aborts; any other fault puts back the previous action
 * and returns, so the faulting instruction raises it again under that
 * action (the default one: a core dump).  SIGQUIT writes the dump to stderr
 * from the handler (on the alternate stack too) and the program continues;
 * it is installed only if the program left SIGQUIT at its default action.
 */
#include "sched_impl.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define ALTSTACK_SIZE ((size_t)64 * 1024)

int64_t gort__now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * GORT_SECOND + ts.tv_nsec;
}

int64_t gort__now_coarse(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (int64_t)ts.tv_sec * GORT_SECOND + ts.tv_nsec;
}

const char *gort__wait_reason_str(enum gort__wait_reason r)
{
	static const char *const names[] = {
#define GORT__X(name, text) text,
		GORT__WAIT_REASONS(GORT__X)
#undef GORT__X
	};
	return (unsigned)r < GORT__WAIT_COUNT_ ? names[r] : "?";
}

/* ---------------------------------------------------------------------
 * An async-signal-safe line writer.
 * --------------------------------------------------------------------- */

struct out {
	int fd;
	size_t n;
	char buf[1024];
};

static void out_flush(struct out *o)
{
	size_t off = 0;
	while (off < o->n) {
		ssize_t k = write(o->fd, o->buf + off, o->n - off);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			break;
		off += (size_t)k;
	}
	o->n = 0;
}

static void out_str(struct out *o, const char *s)
{
	for (; *s; s++) {
		if (o->n == sizeof o->buf)
			out_flush(o);
		o->buf[o->n++] = *s;
	}
}

static void out_int(struct out *o, int64_t v)
{
	char tmp[24];
	int i = sizeof tmp - 1;
	uint64_t u = v < 0 ? -(uint64_t)v : (uint64_t)v;
	tmp[i] = 0;
	do
		tmp[--i] = (char)('0' + u % 10);
	while ((u /= 10) != 0);
	if (v < 0)
		tmp[--i] = '-';
	out_str(o, tmp + i);
}

/* A duration, rounded to a readable unit: "850 ms", "12 s", "3 minutes". */
static void out_dur(struct out *o, int64_t ns)
{
	if (ns < GORT_SECOND) {
		out_int(o, ns / GORT_MILLISECOND);
		out_str(o, " ms");
	} else if (ns < 120 * GORT_SECOND) {
		out_int(o, ns / GORT_SECOND);
		out_str(o, " s");
	} else {
		out_int(o, ns / (60 * GORT_SECOND));
		out_str(o, " minutes");
	}
}

/* "at file:line", or "by gort_main" for the root (line 0). */
static void out_site(struct out *o, const gort__g *g)
{
	out_str(o, g->line ? "at " : "by ");
	out_str(o, g->file ? g->file : "?");
	if (g->line) {
		out_str(o, ":");
		out_int(o, g->line);
	}
}

/* ---------------------------------------------------------------------
 * The dump.
 * --------------------------------------------------------------------- */

struct dump_ctx {
	struct out *o;
	int64_t now;
	uint64_t count;
};

static void dump_g(gort__g *g, void *arg)
{
	struct dump_ctx *d = arg;
	struct out *o = d->o;
	uint32_t state = atomic_load_explicit(&g->state, memory_order_acquire);
	d->count++;
	out_str(o, "goroutine ");
	out_int(o, g->id);
	if (g->name[0]) {
		out_str(o, " \"");
		out_str(o, g->name);
		out_str(o, "\"");
	}
	out_str(o, " [");
	if (state == GORT__G_RUNNING) {
		out_str(o, "running");
	} else if (state == GORT__G_WAITING) {
		out_str(o, "waiting: ");
		out_str(o, gort__wait_reason_str(g->reason));
		out_str(o, ", ");
		out_dur(o, d->now - g->wait_since);
	} else {
		out_str(o, "runnable");
	}
	out_str(o, "]:\n\tcreated ");
	out_site(o, g);
	out_str(o, "\n");
}

void gort_dump(int fd)
{
	struct out o = {.fd = fd};
	struct dump_ctx d = {.o = &o, .now = gort__now_coarse()};
	out_str(&o, "gort: goroutine dump\n");
	gort__stack_foreach(dump_g, &d);
	out_int(&o, (int64_t)d.count);
	out_str(&o, " goroutines\n");
	out_flush(&o);
}

void gort__fatal(const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	struct out o = {.fd = STDERR_FILENO};
	out_str(&o, "gort: fatal: ");
	out_str(&o, msg);
	out_str(&o, "\n");
	out_flush(&o);
	gort_dump(STDERR_FILENO);
	abort();
}

void gort__deadlock(void)
{
	gort__fatal("all goroutines are asleep - deadlock!");
}

/* ---------------------------------------------------------------------
 * Signals.
 * --------------------------------------------------------------------- */

static struct sigaction old_segv, old_bus, old_quit;
static bool quit_installed;

static void overflow_report(gort__g *g)
{
	struct out o = {.fd = STDERR_FILENO};
	out_str(&o, "gort: fatal: stack overflow in goroutine ");
	out_int(&o, g->id);
	out_str(&o, " (");
	out_str(&o, g->name);
	out_str(&o, "), created ");
	out_site(&o, g);
	out_str(&o, "\n");
	out_flush(&o);
	gort_dump(STDERR_FILENO);
	abort();
}

static void fault_handler(int sig, siginfo_t *si, void *uctx)
{
	(void)uctx;
	gort__g *g = gort__stack_guard_owner(si->si_addr);
	if (g && atomic_load(&g->state) != GORT__G_FREE && g->magic == GORT__G_MAGIC)
		overflow_report(g);
	sigaction(sig, sig == SIGSEGV ? &old_segv : &old_bus, NULL);
	if (si->si_code <= 0) /* sent by kill(), not a fault: send it again */
		raise(sig);
}

static void quit_handler(int sig)
{
	(void)sig;
	int e = errno;
	gort_dump(STDERR_FILENO);
	errno = e;
}

int gort__signals_install(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sigemptyset(&sa.sa_mask);
	sa.sa_sigaction = fault_handler;
	sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
	if (sigaction(SIGSEGV, &sa, &old_segv) < 0 || sigaction(SIGBUS, &sa, &old_bus) < 0)
		return -errno;
	struct sigaction cur;
	quit_installed = false;
	if (sigaction(SIGQUIT, NULL, &cur) == 0 && !(cur.sa_flags & SA_SIGINFO) &&
	    cur.sa_handler == SIG_DFL) {
		memset(&sa, 0, sizeof sa);
		sigemptyset(&sa.sa_mask);
		sa.sa_handler = quit_handler;
		/* On the worker's alternate stack: a goroutine's stack may have
		 * less room left than a signal frame plus the dump's buffer. */
		sa.sa_flags = SA_RESTART | SA_ONSTACK;
		quit_installed = sigaction(SIGQUIT, &sa, &old_quit) == 0;
	}
	return 0;
}

void gort__signals_restore(void)
{
	sigaction(SIGSEGV, &old_segv, NULL);
	sigaction(SIGBUS, &old_bus, NULL);
	if (quit_installed)
		sigaction(SIGQUIT, &old_quit, NULL);
	quit_installed = false;
}

int gort__altstack_enable(gort__worker *w)
{
	stack_t ss = {.ss_size = ALTSTACK_SIZE};
	ss.ss_sp = w->altstack = malloc(ALTSTACK_SIZE);
	if (!ss.ss_sp)
		return -ENOMEM;
	if (sigaltstack(&ss, &w->old_altstack) < 0) {
		free(w->altstack);
		w->altstack = NULL;
		return -errno;
	}
	return 0;
}

void gort__altstack_disable(gort__worker *w)
{
	if (!w->altstack)
		return;
	if (w->old_altstack.ss_flags & SS_DISABLE) {
		stack_t off = {.ss_flags = SS_DISABLE};
		sigaltstack(&off, NULL);
	} else {
		sigaltstack(&w->old_altstack, NULL);
	}
	free(w->altstack);
	w->altstack = NULL;
}
