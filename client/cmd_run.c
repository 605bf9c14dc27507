/* cmd_run.c — `goctl run [-f FILE] [--timeout D] [--fail-fast]
 * [--queue-capacity N] [--progress | --no-progress] [PIPELINE]`: takes the
 * job like submit (job.c; a pipeline without a sink gets `| client`),
 * calls `run` and writes every item of the "items" notifications to
 * stdout, one per line (bytes as they are), until the final status comes.
 *
 * One poll(2) loop, no threads, drives it all (docs/protocol.md, "run",
 * "feed"):
 *  - the socket: items, responses and notifications are read whenever
 *    they come, and requests are written as the socket takes them, so
 *    goctl never blocks writing while the daemon waits for it to read;
 *  - when the source is `stdin`, goctl's standard input: split into lines
 *    (newline dropped; a last line without one is an item; a line longer
 *    than ITEM_MAX is cut into ITEM_MAX pieces, as the engine's `lines`
 *    does) and sent in `feed` requests of about FEED_BYTES, at most
 *    FEEDS_INFLIGHT unanswered: stdin is read only while there is room, so
 *    a slow pipeline slows the reading (the daemon parks a feed while the
 *    stdin queue is full), and memory stays bounded; `feed_end` at EOF;
 *    a feed answered {"open": false} (e.g. `stdin | take 3`) stops it;
 *  - the progress line (stderr): every PROGRESS_TICK one `status` request
 *    (at most one in flight) and a redraw; the line is erased before any
 *    other output on stderr, before items go to a terminal on stdout, and
 *    before goctl returns.
 * Items go to stdout with stdio; a slow stdout blocks the loop, which is
 * backpressure too (the daemon's sink parks), never a deadlock.
 *
 * SIGINT and SIGTERM shut the socket down from the handler: the daemon
 * sees the client go and cancels the job; goctl exits 130.  Exit: 0
 * succeeded, 1 failed or timed out, 130 cancelled.
 */
#include "config.h"

#include "job.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "pipespec.h"

#define ITEM_MAX ((size_t)1 << 20)       /* a longer line is cut into items of this size */
#define FEED_BYTES ((size_t)256 << 10)   /* a feed goes out once it holds this much */
#define FEEDS_INFLIGHT 4                 /* feeds sent and not answered, at most */
#define READ_CHUNK ((size_t)64 << 10)    /* bytes read from stdin at once */
#define ITEM_OVERHEAD 5                  /* an item's bin header, at most */
#define REQUEST_OVERHEAD 64              /* a feed's request header, id and array header */
#define PROGRESS_TICK (250 * 1000000LL)  /* ns between redraws of the progress line */

/* The socket while a run is in progress (-1 otherwise), for the handler. */
static volatile sig_atomic_t run_fd = -1;
static volatile sig_atomic_t run_interrupted;

static void on_signal(int sig)
{
	(void)sig;
	run_interrupted = 1;
	if (run_fd >= 0)
		(void)shutdown(run_fd, SHUT_RDWR);
}

/* The progress line on stderr. */
typedef struct progress {
	bool on;
	bool shown;            /* a line is on stderr now */
	bool share;            /* stdout is a terminal too: erase before writing items */
	int64_t start, last;   /* gc_now() at the start and at the last redraw */
	uint64_t last_items;   /* progress_items() at the last redraw */
	uint64_t sink_in;      /* items into the last top-level stage, as of the last status */
	double rate;           /* items/s over the last interval */
	uint32_t status_msgid; /* the status request in flight, or 0 */
	char queue[128];       /* the fullest queue in the last status, or "" */
} progress;

/* One run in progress. */
typedef struct run_state {
	gc_conn *c;
	uint32_t msgid;        /* run's */
	uint64_t id;           /* the job's, from the "job" notification; 0 before */
	bool done;             /* run's response arrived: it is in final */
	gd_message final;
	bool feeding;          /* the source is stdin and the job still takes input */
	bool eof;              /* stdin ended */
	bool end_sent;         /* feed_end is queued */
	uint32_t feeds[FEEDS_INFLIGHT]; /* msgids of the feeds not answered yet */
	unsigned nfeeds;
	size_t feed_max;       /* bytes of items one feed may carry (max_message_size) */
	char *buf;             /* stdin bytes not sent yet (items, then a partial line) */
	size_t len, cap;
	uint64_t items, fed;   /* items received, and sent */
	progress pr;
} run_state;

/* ---- the progress line ------------------------------------------------------ */

/* Items through the job: received, or, when its sink is not `client`,
 * taken by its last stage (the last status says). */
static uint64_t progress_items(const run_state *R)
{
	return R->items > R->pr.sink_in ? R->items : R->pr.sink_in;
}

static void progress_erase(run_state *R)
{
	if (R->pr.shown)
		fputs("\r\033[K", stderr);
	R->pr.shown = false;
}

static int term_width(void)
{
	struct winsize ws;
	if (ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 1)
		return ws.ws_col;
	return 80;
}

static void progress_draw(run_state *R, int64_t now)
{
	char line[512], fed[48] = "";
	int64_t s = (now - R->pr.start) / 1000000000;
	if (R->feeding || R->fed)
		snprintf(fed, sizeof fed, " | fed %" PRIu64, R->fed);
	int n = snprintf(line, sizeof line, "job %" PRIu64 ": %" PRIu64 " items | %.0f/s | %" PRId64
	                 ":%02" PRId64 "%s%s%s", R->id, progress_items(R), R->pr.rate, s / 60, s % 60, fed,
	                 R->pr.queue[0] ? " | " : "", R->pr.queue);
	int w = term_width() - 1;
	if (n > w)
		n = w; /* a wrapped line could not be rewritten in place */
	fprintf(stderr, "\r\033[K%.*s", n, line);
	R->pr.shown = true;
}

/* The fullest input queue of a status map's stages, as "q 64/64 at 3 delay". */
static void progress_status(run_state *R, const msgpack_object *st)
{
	const msgpack_object *stages = gc_map_get(st, "stages");
	double best = -1;
	R->pr.queue[0] = '\0';
	for (uint32_t i = 0; stages && stages->type == MSGPACK_OBJECT_ARRAY &&
	                     i < stages->via.array.size; i++) {
		const msgpack_object *sm = &stages->via.array.ptr[i];
		char path[64], kind[32];
		if (!strchr(gc_map_str(sm, "path", path, sizeof path), '.'))
			R->pr.sink_in = gc_map_u64(sm, "items_in"); /* the last one stays */
		uint64_t len = gc_map_u64(sm, "queue_len"), cap = gc_map_u64(sm, "queue_cap");
		if (cap == 0 || (double)len / (double)cap <= best)
			continue;
		best = (double)len / (double)cap;
		snprintf(R->pr.queue, sizeof R->pr.queue, "q %" PRIu64 "/%" PRIu64 " at %s %s", len,
		         cap, path, gc_map_str(sm, "stage", kind, sizeof kind));
	}
}

static int pack_id(msgpack_packer *pk, void *userdata)
{
	return msgpack_pack_uint64(pk, *(const uint64_t *)userdata) ? -ENOMEM : 0;
}

/* Milliseconds until the next redraw, or -1 (no progress line). */
static int progress_wait_ms(const run_state *R)
{
	if (!R->pr.on)
		return -1;
	int64_t left = R->pr.last + PROGRESS_TICK - gc_now();
	return left <= 0 ? 0 : (int)((left + 999999) / 1000000);
}

/* When due: redraws, and asks for the job's status (one request at a time). */
static int progress_tick(run_state *R, gc_error *err)
{
	progress *p = &R->pr;
	int64_t now = gc_now();
	if (!p->on || now < p->last + PROGRESS_TICK)
		return 0;
	if (R->id && !p->status_msgid) {
		int r = gc_conn_send(R->c, "status", 1, pack_id, &R->id, &p->status_msgid, err);
		if (r < 0)
			return r;
	}
	uint64_t items = progress_items(R);
	p->rate = (double)(items - p->last_items) * 1e9 / (double)(now - p->last);
	p->last = now;
	p->last_items = items;
	progress_draw(R, now);
	return 0;
}

/* ---- feeding stdin ---------------------------------------------------------- */

/* The item at buf[off..len): its length in *ret_len and the offset after it
 * (past its newline), or 0 when no whole item is there yet. */
static size_t next_item(const char *buf, size_t len, size_t off, bool eof, size_t *ret_len)
{
	size_t room = len - off, scan = room < ITEM_MAX + 1 ? room : ITEM_MAX + 1;
	if (room == 0)
		return 0;
	const char *nl = memchr(buf + off, '\n', scan);
	if (nl) {
		*ret_len = (size_t)(nl - (buf + off));
		return off + *ret_len + 1;
	}
	if (room > ITEM_MAX || (eof && room > 0)) {
		*ret_len = room > ITEM_MAX ? ITEM_MAX : room;
		return off + *ret_len;
	}
	return 0;
}

/* The items of the next feed: the first n whole items of buf, end bytes. */
typedef struct feed_batch {
	uint64_t id;
	const char *buf;
	size_t len;
	bool eof;
	uint32_t n;
	size_t end;
} feed_batch;

static int pack_feed(msgpack_packer *pk, void *userdata)
{
	const feed_batch *b = userdata;
	int r = msgpack_pack_uint64(pk, b->id) | msgpack_pack_array(pk, b->n);
	size_t off = 0, ilen = 0;
	for (uint32_t i = 0; i < b->n && !r; i++) {
		size_t next = next_item(b->buf, b->len, off, b->eof, &ilen);
		r = msgpack_pack_bin_with_body(pk, b->buf + off, ilen);
		off = next;
	}
	return r ? -ENOMEM : 0;
}

/* Cuts the next feed out of R->buf: b->n items (0: none whole yet). */
static int batch_cut(const run_state *R, feed_batch *b, gc_error *err)
{
	size_t off = 0, next, ilen, bytes = 0;
	*b = (feed_batch){ .id = R->id, .buf = R->buf, .len = R->len, .eof = R->eof };
	while ((next = next_item(R->buf, R->len, off, R->eof, &ilen)) != 0) {
		if (ilen + ITEM_OVERHEAD > R->feed_max)
			return gc_fail(err, -EMSGSIZE, GC_EXIT_FAILURE,
			               "a line of %zu bytes does not fit in godaemon's max_message_size",
			               ilen);
		if (b->n && bytes + ilen + ITEM_OVERHEAD > R->feed_max)
			break;
		bytes += ilen + ITEM_OVERHEAD;
		b->n++;
		off = next;
		if (bytes >= FEED_BYTES)
			break;
	}
	b->end = off;
	return 0;
}

/* Sends the whole items buffered, while feeds may be in flight; at EOF,
 * once everything is sent, feed_end. */
static int send_feeds(run_state *R, gc_error *err)
{
	while (R->feeding && R->id && R->nfeeds < FEEDS_INFLIGHT) {
		feed_batch b;
		uint32_t msgid;
		int r = batch_cut(R, &b, err);
		if (r == 0 && b.n == 0)
			break;
		if (r == 0)
			r = gc_conn_send(R->c, "feed", 2, pack_feed, &b, &msgid, err);
		if (r < 0)
			return r;
		memmove(R->buf, R->buf + b.end, R->len - b.end);
		R->len -= b.end;
		R->feeds[R->nfeeds++] = msgid;
		R->fed += b.n;
	}
	if (R->feeding && R->id && R->eof && R->len == 0 && !R->end_sent) {
		uint32_t msgid;
		int r = gc_conn_send(R->c, "feed_end", 1, pack_id, &R->id, &msgid, err);
		if (r < 0)
			return r;
		R->end_sent = true;
	}
	return 0;
}

static bool want_input(const run_state *R)
{
	return R->feeding && R->id && !R->eof && R->nfeeds < FEEDS_INFLIGHT &&
	       R->len < ITEM_MAX + FEED_BYTES;
}

static int read_input(run_state *R, gc_error *err)
{
	if (R->cap - R->len < READ_CHUNK) {
		char *b = realloc(R->buf, R->len + READ_CHUNK);
		if (!b)
			return gc_fail(err, -ENOMEM, GC_EXIT_FAILURE, "out of memory");
		R->buf = b;
		R->cap = R->len + READ_CHUNK;
	}
	ssize_t n = read(STDIN_FILENO, R->buf + R->len, READ_CHUNK);
	if (n > 0)
		R->len += (size_t)n;
	else if (n == 0)
		R->eof = true;
	else if (errno != EINTR && errno != EAGAIN)
		return gc_fail(err, -errno, GC_EXIT_FAILURE, "cannot read standard input: %s",
		               strerror(errno));
	return 0;
}

/* A feed's answer: one slot free; {"open": false} ends the input. */
static void feed_answered(run_state *R, const gd_message *m)
{
	for (unsigned i = 0; i < R->nfeeds; i++) {
		if (R->feeds[i] == m->msgid) {
			R->feeds[i] = R->feeds[--R->nfeeds];
			break;
		}
	}
	const msgpack_object *open = gc_map_get(m->result, "open");
	if (open && open->type == MSGPACK_OBJECT_BOOLEAN && !open->via.boolean)
		R->feeding = false;
}

/* ---- messages from the daemon ---------------------------------------------- */

/* "items": [[bin...]] to stdout, one item per line. */
static int on_items(run_state *R, const gd_message *m, gc_error *err)
{
	const msgpack_object *p = m->params;
	if (p->via.array.size < 1 || p->via.array.ptr[0].type != MSGPACK_OBJECT_ARRAY)
		return gc_fail(err, -EPROTO, GC_EXIT_FAILURE, "godaemon sent malformed items");
	const msgpack_object *a = &p->via.array.ptr[0];
	if (R->pr.share)
		progress_erase(R); /* redrawn at the next tick, below the items */
	for (uint32_t i = 0; i < a->via.array.size; i++) {
		const msgpack_object *o = &a->via.array.ptr[i];
		if (o->type != MSGPACK_OBJECT_BIN)
			return gc_fail(err, -EPROTO, GC_EXIT_FAILURE, "godaemon sent a non-bin item");
		if (fwrite(o->via.bin.ptr, 1, o->via.bin.size, stdout) != o->via.bin.size ||
		    putchar('\n') == EOF)
			return gc_fail(err, -EIO, GC_EXIT_FAILURE, "cannot write to stdout: %s",
			               strerror(errno));
		R->items++;
	}
	return 0;
}

static int on_notification(run_state *R, const gd_message *m, gc_error *err)
{
	if (m->method == GD_METHOD_ITEMS)
		return on_items(R, m, err);
	const msgpack_object *p = m->params;
	if (m->method == GD_METHOD_JOB && p->via.array.size >= 1 &&
	    gc_map_u64(&p->via.array.ptr[0], "msgid") == R->msgid)
		R->id = gc_map_u64(&p->via.array.ptr[0], "id");
	return 0;
}

/* One message; run's response is kept in R->final (m is then emptied). */
static int on_message(run_state *R, gd_message *m, gc_error *err)
{
	if (m->type == GD_MSG_NOTIFICATION)
		return on_notification(R, m, err);
	if (m->msgid == R->msgid) {
		R->final = *m;
		memset(m, 0, sizeof *m);
		R->done = true;
		return 0;
	}
	int r = gc_conn_response_error(R->c, m, err);
	if (R->pr.status_msgid && m->msgid == R->pr.status_msgid) {
		R->pr.status_msgid = 0;
		if (r == 0)
			progress_status(R, m->result);
		return 0; /* a status that failed only leaves the queue out */
	}
	if (r == 0)
		feed_answered(R, m);
	return r; /* a feed or feed_end refused: the job cannot get its input */
}

static int read_socket(run_state *R, gc_error *err)
{
	int r = gc_conn_read(R->c, err);
	while (r == 0 && !R->done) {
		gd_message m = { 0 };
		r = gc_conn_take(R->c, &m, err);
		if (r <= 0)
			break;
		r = on_message(R, &m, err);
		gd_message_free(&m);
	}
	return r < 0 ? r : 0;
}

/* Until run's response: 0, -EINTR (a signal), or a failure in err. */
static int run_loop(run_state *R, gc_error *err)
{
	while (!R->done) {
		struct pollfd p[2] = {
			{ .fd = gc_conn_fd(R->c),
			  .events = POLLIN | (gc_conn_out_pending(R->c) ? POLLOUT : 0) },
			{ .fd = want_input(R) ? STDIN_FILENO : -1, .events = POLLIN },
		};
		int n = poll(p, 2, progress_wait_ms(R));
		if (run_interrupted)
			return -EINTR;
		if (n < 0 && errno != EINTR)
			return gc_fail(err, -errno, GC_EXIT_FAILURE, "poll: %s", strerror(errno));
		int r = 0;
		if (n > 0 && p[0].revents)
			r = read_socket(R, err);
		if (r == 0 && n > 0 && p[1].revents)
			r = read_input(R, err);
		if (r == 0)
			r = send_feeds(R, err);
		if (r == 0)
			r = progress_tick(R, err);
		if (r == 0)
			r = gc_conn_flush(R->c, err);
		if (r < 0)
			return r;
	}
	return 0;
}

/* ---- the command ------------------------------------------------------------- */

/* The exit code for the final status map st, after telling on stderr why
 * the job did not succeed and which errors it kept (a job that succeeded
 * under the continue policy may have some: they are not silent either). */
static int exit_for(const msgpack_object *st)
{
	char state[32], why[160];
	gc_map_str(st, "state", state, sizeof state);
	gc_map_str(st, "start_error", why, sizeof why);
	uint64_t id = gc_map_u64(st, "id"), nerr = gc_map_u64(st, "errors_total");
	int r = strcmp(state, "succeeded") == 0   ? 0
	        : strcmp(state, "cancelled") == 0 ? GC_EXIT_CANCELLED
	                                          : GC_EXIT_FAILURE;
	if (r == GC_EXIT_FAILURE)
		gc_errorf("job %" PRIu64 " %s%s%s", id, state, why[0] ? ": " : "", why);
	if (nerr) {
		const msgpack_object *kept = gc_map_get(st, "errors");
		uint32_t n = kept && kept->type == MSGPACK_OBJECT_ARRAY ? kept->via.array.size : 0;
		gc_errorf("job %" PRIu64 ": %" PRIu64 " error%s%s", id, nerr, nerr == 1 ? "" : "s",
		          n == 0 ? "" : n < nerr ? ", the first ones:" : ":");
		gc_print_errors(stderr, kept, "  ");
	}
	return r;
}

/* Whether the job's source is `stdin`: its parsed spec, or a job file's
 * wire form decoded here (one the daemon will refuse counts as not). */
static bool source_is_stdin(const gc_job_req *q)
{
	if (q->spec)
		return q->spec->root.stages[0].kind == GD_PIPE_STDIN;
	msgpack_unpacked u;
	gd_pipe_spec *spec = NULL;
	gd_pipe_error perr;
	msgpack_unpacked_init(&u);
	bool yes = q->wire && msgpack_unpack_next(&u, q->wire, q->wire_len, NULL) ==
	                              MSGPACK_UNPACK_SUCCESS &&
	           gd_pipe_decode(&u.data, &spec, &perr) == 0 &&
	           spec->root.stages[0].kind == GD_PIPE_STDIN;
	gd_pipe_free(spec);
	msgpack_unpacked_destroy(&u);
	return yes;
}

/* Connected: sends run and serves it; returns goctl's exit code. */
static int run_serve(run_state *R, gc_job_req *q)
{
	gc_error err;
	int r = gc_conn_send(R->c, "run", 2, gc_job_req_pack, q, &R->msgid, &err);
	if (r == 0)
		r = run_loop(R, &err);
	if (r == 0)
		r = gc_conn_response_error(R->c, &R->final, &err);
	progress_erase(R);
	run_fd = -1;
	if (fflush(stdout) != 0 && r == 0) {
		gc_errorf("cannot write to stdout: %s", strerror(errno));
		return GC_EXIT_FAILURE;
	}
	if (run_interrupted)
		return GC_EXIT_CANCELLED;
	if (r < 0) {
		gc_errorf("%s", err.text);
		return err.exit_code;
	}
	return exit_for(R->final.result);
}

/* --progress (1), --no-progress (0), or neither (-1): on when stderr is a
 * terminal, but not with --json, nor when the job reads a terminal (the
 * line would overwrite what is typed). */
static bool progress_wanted(const gc_ctx *ctx, int opt, bool feeding)
{
	if (opt >= 0)
		return opt;
	return !ctx->json && isatty(STDERR_FILENO) && !(feeding && isatty(STDIN_FILENO));
}

static int run_send(gc_ctx *ctx, gc_job_req *q, int progress_opt)
{
	_cleanup_(gc_conn_closep) gc_conn *c = NULL;
	int r = gc_connect(ctx, &c);
	if (r)
		return r;
	gc_conn_set_timeout(c, 0);
	struct sigaction sa = { .sa_handler = on_signal };
	sigemptyset(&sa.sa_mask);
	run_fd = gc_conn_fd(c);
	(void)sigaction(SIGINT, &sa, NULL);
	(void)sigaction(SIGTERM, &sa, NULL);
	uint64_t mms = gc_conn_hello(c)->max_message_size;
	bool feeding = source_is_stdin(q);
	run_state R = {
		.c = c,
		.feeding = feeding,
		.feed_max = mms > REQUEST_OVERHEAD ? mms - REQUEST_OVERHEAD : 0,
		.pr = { .on = progress_wanted(ctx, progress_opt, feeding), .share = isatty(STDOUT_FILENO),
		        .start = gc_now(), .last = gc_now() },
	};
	r = run_serve(&R, q);
	gd_message_free(&R.final);
	free(R.buf);
	return r;
}

/* run's options: submit's (gc_job_opts, job.c), then its own; the table
 * is completed before main parses the command line. */
static gc_opt run_opts[GC_MAX_OPTS + 1];
static int run_opt_progress; /* index of --progress; --no-progress follows it */

__attribute__((constructor)) static void run_opts_init(void)
{
	int n = 0;
	for (; gc_job_opts[n].name; n++)
		run_opts[n] = gc_job_opts[n];
	assert(n + 2 <= GC_MAX_OPTS);
	run_opt_progress = n;
	run_opts[n] = (gc_opt){ "progress", 0, NULL,
		                "show the progress line on stderr even when not a terminal" };
	run_opts[n + 1] = (gc_opt){ "no-progress", 0, NULL, "no progress line on a terminal" };
}

static int run_exec(gc_ctx *ctx, const gc_args *args)
{
	const char *on = args->opt[run_opt_progress], *off = args->opt[run_opt_progress + 1];
	if (on && off)
		return gc_usage_error(&gc_cmd_run, "--progress and --no-progress: give one");
	gc_job_req q;
	int r = gc_job_req_init(&gc_cmd_run, args, &q);
	if (r)
		return r;
	r = run_send(ctx, &q, on ? 1 : off ? 0 : -1);
	gc_job_req_free(&q);
	return r;
}

const gc_cmd gc_cmd_run = {
	.name = "run",
	.usage = "[-f FILE] [--timeout DURATION] [--fail-fast] [--queue-capacity N] "
	         "[--progress|--no-progress] [PIPELINE]",
	.summary = "run a job pipeline and stream its client sink's items to stdout",
	.help = "Takes the job like submit (PIPELINE, or -f FILE); a pipeline that does\n"
	        "not end in a sink gets '| client'.  The daemon runs it as a job owned\n"
	        "by your uid and streams every item reaching a client sink back: goctl\n"
	        "writes each to stdout followed by a newline, bytes as they are.  A\n"
	        "slow reader slows the pipeline down (backpressure).  When the source\n"
	        "is 'stdin', goctl's standard input is the job's input: one item per\n"
	        "line (newline removed; lines over 1 MiB cut into 1 MiB items), read\n"
	        "only as fast as the pipeline takes it; the input ends at EOF, or when\n"
	        "the pipeline stops taking it (e.g. 'stdin | take 3').  On a terminal\n"
	        "a progress line on stderr shows the items received, their rate, the\n"
	        "time elapsed and the fullest queue between stages (not with --json,\n"
	        "nor when a stdin source reads a terminal); --no-progress: none;\n"
	        "--progress: always.\n"
	        "Ctrl-C (SIGINT) or SIGTERM, or goctl going away, cancels the job.\n"
	        "Exit status: 0 succeeded, 1 failed or timed out, 2 usage, 3 daemon\n"
	        "unreachable, 130 cancelled.",
	.opts = run_opts,
	.min_args = 0,
	.max_args = 1,
	.exec = run_exec,
};
