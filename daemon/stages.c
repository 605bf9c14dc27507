/* stages.c — the bodies of every stage kind but exec (stages_exec.c):
 * sources (seq, lines, glob, stdin), transforms (map, filter, take, skip,
 * batch, delay, bridge), tee and the sinks (client, file, count, discard,
 * collect), plus SHA-256 and the line splitter.
 *
 * Each stage here runs on one goroutine that owns the items it holds; it
 * ends with gd_stage_exit (abnormal unless its input ran dry), which closes
 * its outputs.  File system work goes through the blocking pool
 * (gd_job_blocking), never on a worker.  No shared state but the job's.
 */
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine_int.h"

#define ADD(p, v) __atomic_fetch_add((p), (v), __ATOMIC_RELAXED)

/* ---- SHA-256 (FIPS 180-4) -------------------------------------------------- */

static const uint32_t K256[64] = {
	0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
	0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
	0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
	0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
	0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
	0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
	0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
	0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
	0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
	0xc67178f2};

#define ROR(x, n) (((x) >> (n)) | ((x) << (32 - (n))))

static void sha256_block(uint32_t h[8], const uint8_t *p)
{
	uint32_t w[64], v[8];
	for (int i = 0; i < 16; i++)
		w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
		       (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
	for (int i = 16; i < 64; i++) {
		uint32_t s0 = ROR(w[i - 15], 7) ^ ROR(w[i - 15], 18) ^ (w[i - 15] >> 3);
		uint32_t s1 = ROR(w[i - 2], 17) ^ ROR(w[i - 2], 19) ^ (w[i - 2] >> 10);
		w[i] = w[i - 16] + s0 + w[i - 7] + s1;
	}
	memcpy(v, h, sizeof(v));
	for (int i = 0; i < 64; i++) {
		uint32_t t1 = v[7] + (ROR(v[4], 6) ^ ROR(v[4], 11) ^ ROR(v[4], 25)) +
		              ((v[4] & v[5]) ^ (~v[4] & v[6])) + K256[i] + w[i];
		uint32_t t2 = (ROR(v[0], 2) ^ ROR(v[0], 13) ^ ROR(v[0], 22)) +
		              ((v[0] & v[1]) ^ (v[0] & v[2]) ^ (v[1] & v[2]));
		v[7] = v[6];
		v[6] = v[5];
		v[5] = v[4];
		v[4] = v[3] + t1;
		v[3] = v[2];
		v[2] = v[1];
		v[1] = v[0];
		v[0] = t1 + t2;
	}
	for (int i = 0; i < 8; i++)
		h[i] += v[i];
}

void gd_sha256(const void *data, size_t len, uint8_t out[32])
{
	uint32_t h[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
	                 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
	const uint8_t *p = data;
	size_t left = len;
	for (; left >= 64; left -= 64, p += 64)
		sha256_block(h, p);
	uint8_t tail[128] = {0};
	memcpy(tail, p, left);
	tail[left] = 0x80;
	size_t tl = left < 56 ? 64 : 128;
	uint64_t bits = (uint64_t)len * 8;
	for (int i = 0; i < 8; i++)
		tail[tl - 1 - i] = (uint8_t)(bits >> (8 * i));
	sha256_block(h, tail);
	if (tl == 128)
		sha256_block(h, tail + 64);
	for (int i = 0; i < 8; i++)
		for (int b = 0; b < 4; b++)
			out[4 * i + b] = (uint8_t)(h[i] >> (24 - 8 * b));
}

/* ---- lines ---------------------------------------------------------------- */

static int lines_room(gd_linebuf *lb, size_t n)
{
	if (lb->len + n <= lb->cap)
		return 0;
	size_t nc = lb->cap ? lb->cap : 4096;
	while (nc < lb->len + n)
		nc *= 2;
	char *b = realloc(lb->buf, nc);
	if (!b)
		return -ENOMEM;
	lb->buf = b;
	lb->cap = nc;
	return 0;
}

int gd_lines_push(gd_linebuf *lb, const char *data, size_t n, gd_line_fn emit, void *arg)
{
	while (n) {
		const char *nl = memchr(data, '\n', n);
		size_t take = nl ? (size_t)(nl - data) : n;
		if (take > GD_LINE_MAX - lb->len)
			take = GD_LINE_MAX - lb->len;
		if (lines_room(lb, take))
			return -ENOMEM;
		memcpy(lb->buf + lb->len, data, take);
		lb->len += take;
		data += take;
		n -= take;
		bool eol = n && *data == '\n';
		if (eol || lb->len == GD_LINE_MAX) {
			if (eol) {
				data++;
				n--;
			}
			int r = emit(arg, lb->buf ? lb->buf : "", lb->len);
			lb->len = 0;
			if (r < 0)
				return r;
		}
	}
	return 0;
}

int gd_lines_end(gd_linebuf *lb, gd_line_fn emit, void *arg)
{
	int r = lb->len && emit ? emit(arg, lb->buf, lb->len) : 0;
	free(lb->buf);
	*lb = (gd_linebuf){0};
	return r;
}

static int emit_line(void *arg, const char *line, size_t len)
{
	return gd_stage_emit(arg, line, len);
}

struct rd {
	int fd;
	char *buf;
	size_t len;
};

static intptr_t read_fn(void *arg)
{
	struct rd *a = arg;
	ssize_t n = read(a->fd, a->buf, a->len);
	return n < 0 ? -errno : n;
}

static intptr_t close_fn(void *arg)
{
	return close((int)(intptr_t)arg);
}

/* Emits the lines of path: 0, a send error (stop), or > 0 when the file
 * could not be read (an error item was recorded). */
static int lines_of(gd_stage *s, const char *path)
{
	int fd = gd_job_open(s->job, path, O_RDONLY);
	if (fd < 0) {
		gd_stage_error(s, path, strlen(path), "open: %s", strerror(-fd));
		return 1;
	}
	char *buf = malloc(GD_IO_CHUNK);
	gd_linebuf lb = {0};
	int r = buf ? 0 : -ENOMEM;
	while (!r) {
		struct rd a = {fd, buf, GD_IO_CHUNK};
		intptr_t n = gd_job_blocking(s->job, read_fn, &a);
		if (n <= 0) {
			if (n < 0)
				gd_stage_error(s, path, strlen(path), "read: %s", strerror((int)-n));
			r = n < 0 ? 1 : gd_lines_end(&lb, emit_line, s);
			break;
		}
		r = gd_lines_push(&lb, buf, (size_t)n, emit_line, s);
		if (!r)
			r = gort_ctx_err(s->ctx);
	}
	gd_lines_end(&lb, NULL, NULL);
	free(buf);
	gort_blocking_call(close_fn, (void *)(intptr_t)fd);
	return r;
}

struct glob_args {
	const char *pattern;
	glob_t g;
	int r;
};

static intptr_t glob_fn(void *arg)
{
	struct glob_args *a = arg;
	a->r = glob(a->pattern, 0, NULL, &a->g);
	return 0;
}

/* A relative pattern is matched in the job's cwd and its matches are
 * emitted relative, as a shell in that directory would print them. */
static int glob_of(gd_stage *s, const char *pattern)
{
	size_t skip;
	char *full = gd_job_path(s->job, pattern, true, &skip);
	if (!full) {
		gd_stage_fatal(s, "out of memory");
		return -ENOMEM;
	}
	struct glob_args a = {.pattern = full};
	gd_job_blocking(s->job, glob_fn, &a);
	free(full);
	int r = 0;
	if (a.r == 0) {
		for (size_t i = 0; i < a.g.gl_pathc && !r; i++)
			r = gd_stage_emit(s, a.g.gl_pathv[i] + skip, strlen(a.g.gl_pathv[i] + skip));
	} else if (a.r != GLOB_NOMATCH) {
		gd_stage_error(s, pattern, strlen(pattern), "glob: %s",
		               a.r == GLOB_NOSPACE ? "out of memory" : "read error");
		r = 1;
	}
	globfree(&a.g);
	return r;
}

/* ---- sources -------------------------------------------------------------- */

static bool run_seq(gd_stage *s)
{
	int64_t from = s->spec->u.seq.from, to = s->spec->u.seq.to, step = s->spec->u.seq.step;
	for (int64_t v = from;; v += step) {
		char b[24];
		int n = snprintf(b, sizeof(b), "%" PRId64, v);
		if (gd_stage_emit(s, b, (size_t)n))
			return true;
		/* v + step would pass `to` (computed without overflow) */
		if (step > 0 ? (uint64_t)to - (uint64_t)v < (uint64_t)step
		             : (uint64_t)v - (uint64_t)to < -(uint64_t)step)
			return false;
	}
}

/* Receives the next input item (counted); false at the end (*abnormal
 * unless the input ran dry). */
static bool next(gd_stage *s, gd_item **it, bool *abnormal)
{
	__atomic_store_n(&s->busy, 0, __ATOMIC_RELAXED);
	int r = gd_stage_recv(s, s->in, it);
	if (r) {
		*abnormal = r != -EPIPE;
		return false;
	}
	ADD(&s->n_in, 1);
	__atomic_store_n(&s->busy, 1, __ATOMIC_RELAXED);
	return true;
}

static bool run_forward(gd_stage *s)
{
	gd_item *it;
	bool ab = false;
	while (next(s, &it, &ab))
		if (gd_stage_send(s, 0, it))
			return true;
	return ab;
}

/* ---- transforms ----------------------------------------------------------- */

static gd_item *map_item(const gd_pipe_stage *sp, gd_item *it)
{
	char b[72];
	size_t i, e;
	switch (sp->u.fn) {
	case GD_PIPE_FN_UPPER:
	case GD_PIPE_FN_LOWER:
		for (i = 0; i < it->len; i++) {
			char c = it->data[i];
			if (sp->u.fn == GD_PIPE_FN_UPPER && c >= 'a' && c <= 'z')
				it->data[i] = (char)(c - 32);
			else if (sp->u.fn == GD_PIPE_FN_LOWER && c >= 'A' && c <= 'Z')
				it->data[i] = (char)(c + 32);
		}
		return it;
	case GD_PIPE_FN_TRIM:
		for (i = 0; i < it->len && strchr(" \t\r\n\v\f", it->data[i]) && it->data[i]; i++)
			;
		for (e = it->len; e > i && strchr(" \t\r\n\v\f", it->data[e - 1]) && it->data[e - 1];
		     e--)
			;
		memmove(it->data, it->data + i, e - i);
		it->len = e - i;
		it->data[it->len] = 0;
		return it;
	case GD_PIPE_FN_LENGTH:
		snprintf(b, sizeof(b), "%zu", it->len);
		break;
	case GD_PIPE_FN_SHA256:
	default: {
		uint8_t d[32];
		gd_sha256(it->data, it->len, d);
		for (i = 0; i < 32; i++) {
			b[2 * i] = "0123456789abcdef"[d[i] >> 4];
			b[2 * i + 1] = "0123456789abcdef"[d[i] & 15];
		}
		b[64] = 0;
		break;
	}
	}
	gd_item *n = gd_item_new(b, strlen(b));
	free(it);
	return n;
}

static bool run_map(gd_stage *s)
{
	gd_item *it;
	bool ab = false;
	while (next(s, &it, &ab)) {
		it = map_item(s->spec, it);
		if (!it) {
			gd_stage_fatal(s, "out of memory");
			return true;
		}
		if (gd_stage_send(s, 0, it))
			return true;
	}
	return ab;
}

static bool run_filter(gd_stage *s)
{
	gd_item *it;
	bool ab = false;
	while (next(s, &it, &ab)) {
		bool match = regexec(&s->re, it->data, 0, NULL, 0) == 0;
		if (match == s->spec->u.filter.invert)
			free(it);
		else if (gd_stage_send(s, 0, it))
			return true;
	}
	return ab;
}

static bool run_take(gd_stage *s)
{
	gd_item *it;
	bool ab = false;
	for (uint64_t i = 0; i < s->spec->u.n; i++) {
		if (!next(s, &it, &ab))
			return ab;
		if (gd_stage_send(s, 0, it))
			return true;
	}
	/* Enough: ending now (abnormally) cancels this stage's context, which
	 * the upstream stage watches while its output is full. */
	return true;
}

static bool run_skip(gd_stage *s)
{
	gd_item *it;
	bool ab = false;
	for (uint64_t i = 0; next(s, &it, &ab); i++) {
		if (i < s->spec->u.n)
			free(it);
		else if (gd_stage_send(s, 0, it))
			return true;
	}
	return ab;
}

static int batch_flush(gd_stage *s, gd_linebuf *b, uint64_t *n)
{
	if (!*n)
		return 0;
	*n = 0;
	int r = gd_stage_emit(s, b->buf, b->len);
	b->len = 0;
	return r;
}

static bool run_batch(gd_stage *s)
{
	gd_item *it;
	bool ab = false;
	gd_linebuf b = {0};
	uint64_t n = 0;
	while (next(s, &it, &ab)) {
		size_t need = it->len + (n ? 1 : 0);
		int r = (b.len + need <= b.cap) ? 0 : -ENOMEM;
		if (r) {
			size_t nc = b.cap ? b.cap : 256;
			while (nc < b.len + need)
				nc *= 2;
			char *nb = realloc(b.buf, nc);
			if (nb) {
				b.buf = nb;
				b.cap = nc;
				r = 0;
			}
		}
		if (!r) {
			if (n)
				b.buf[b.len++] = '\n';
			memcpy(b.buf + b.len, it->data, it->len);
			b.len += it->len;
			n++;
		}
		free(it);
		if (r) {
			gd_stage_fatal(s, "out of memory");
			ab = true;
			break;
		}
		if (n == s->spec->u.n && batch_flush(s, &b, &n)) {
			ab = true;
			break;
		}
	}
	if (!ab && batch_flush(s, &b, &n))
		ab = true;
	free(b.buf);
	return ab;
}

static bool run_delay(gd_stage *s)
{
	gd_item *it;
	bool ab = false;
	gort_timer *t = gort_timer_make(s->spec->u.duration);
	if (!t) {
		gd_stage_fatal(s, "out of memory");
		return true;
	}
	gort_timer_stop(t);
	gort_chan_try_recv(gort_timer_chan(t), NULL); /* in case it fired already */
	while (!ab && next(s, &it, &ab)) {
		gort_timer_reset(t, s->spec->u.duration);
		int r = gort_stage_recv(s->ctx, gort_timer_chan(t), NULL);
		if (r) {
			free(it);
			ab = true;
		} else if (gd_stage_send(s, 0, it)) {
			ab = true;
		}
	}
	gort_timer_free(t);
	return ab;
}

static bool run_bridge(gd_stage *s)
{
	gd_item *it;
	bool ab = false;
	while (next(s, &it, &ab)) {
		int r = s->spec->inner->kind == GD_PIPE_LINES ? lines_of(s, it->data)
		                                                : glob_of(s, it->data);
		free(it);
		if (r < 0)
			return true;
	}
	return ab;
}

/* ---- tee and sinks -------------------------------------------------------- */

static bool run_tee(gd_stage *s)
{
	gd_item *it;
	bool ab = false;
	bool *dead = calloc(s->nouts, sizeof(*dead));
	uint32_t live = s->nouts;
	if (!dead) {
		gd_stage_fatal(s, "out of memory");
		return true;
	}
	while (live && next(s, &it, &ab)) {
		for (uint32_t k = 0; k < s->nouts && it; k++) {
			if (dead[k])
				continue;
			gd_item *c = gd_item_new(it->data, it->len);
			int r = c ? gd_stage_send(s, k, c) : -ENOMEM;
			if (r == -EPIPE) {
				dead[k] = true;
				live--;
			} else if (r) {
				ab = true;
				live = 0;
			}
		}
		free(it);
	}
	free(dead);
	return ab || live == 0;
}

struct wr {
	int fd;
	const char *buf;
	size_t len;
};

static intptr_t write_fn(void *arg)
{
	struct wr *a = arg;
	while (a->len) {
		ssize_t n = write(a->fd, a->buf, a->len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		a->buf += n;
		a->len -= (size_t)n;
	}
	return 0;
}

static bool file_flush(gd_stage *s, int fd, gd_linebuf *b)
{
	struct wr a = {fd, b->buf, b->len};
	intptr_t r = b->len ? gort_blocking_call(write_fn, &a) : 0;
	b->len = 0;
	if (r < 0)
		gd_stage_fatal(s, "write %s: %s", s->spec->u.path, strerror((int)-r));
	return r < 0;
}

static bool run_file(gd_stage *s)
{
	int fd = gd_job_open(s->job, s->spec->u.path, O_WRONLY | O_APPEND | O_CREAT);
	if (fd < 0) {
		gd_stage_fatal(s, "open %s: %s", s->spec->u.path, strerror(-fd));
		return true;
	}
	gd_item *it;
	bool ab = false, bad = false;
	gd_linebuf b = {0};
	while (!bad && next(s, &it, &ab)) {
		if (lines_room(&b, it->len + 1) == 0) {
			memcpy(b.buf + b.len, it->data, it->len);
			b.len += it->len;
			b.buf[b.len++] = '\n';
		} else {
			gd_stage_fatal(s, "out of memory");
			bad = true;
		}
		free(it);
		if (!bad && b.len >= GD_IO_CHUNK)
			bad = file_flush(s, fd, &b);
		if (!bad && gort_chan_len(s->in) == 0)
			bad = file_flush(s, fd, &b); /* nothing waiting: do not sit on data */
	}
	if (!bad)
		bad = file_flush(s, fd, &b);
	free(b.buf);
	gort_blocking_call(close_fn, (void *)(intptr_t)fd);
	return ab || bad;
}

static bool run_sink(gd_stage *s)
{
	const gd_job_opts *o = gd_job_opts_of(s->job);
	gd_item *it;
	bool ab = false;
	uint64_t kept = 0;
	while (next(s, &it, &ab)) {
		int r = 0;
		switch (s->spec->kind) {
		case GD_PIPE_CLIENT:
			r = o->client ? o->client(o->client_arg, it->data, it->len) : 0;
			if (r < 0)
				gd_stage_fatal(s, "client: %s", strerror(-r));
			break;
		case GD_PIPE_COUNT:
			gd_job_count_add(s->job, 1);
			break;
		case GD_PIPE_COLLECT:
			if (kept < s->spec->u.n) {
				kept++;
				r = gd_job_collect(s->job, it);
				it = NULL;
				if (r)
					gd_stage_fatal(s, "collect: out of memory");
			}
			break;
		default:
			break;
		}
		free(it);
		if (r < 0)
			return true;
	}
	return ab;
}

/* ---- dispatch ------------------------------------------------------------- */

static void stage_main(void *arg)
{
	gd_stage *s = arg;
	bool ab;
	switch (s->spec->kind) {
	case GD_PIPE_SEQ: ab = run_seq(s); break;
	case GD_PIPE_LINES: ab = lines_of(s, s->spec->u.path) < 0; break;
	case GD_PIPE_GLOB: ab = glob_of(s, s->spec->u.path) < 0; break;
	case GD_PIPE_STDIN: ab = run_forward(s); break;
	case GD_PIPE_MAP: ab = run_map(s); break;
	case GD_PIPE_FILTER: ab = run_filter(s); break;
	case GD_PIPE_TAKE: ab = run_take(s); break;
	case GD_PIPE_SKIP: ab = run_skip(s); break;
	case GD_PIPE_BATCH: ab = run_batch(s); break;
	case GD_PIPE_DELAY: ab = run_delay(s); break;
	case GD_PIPE_BRIDGE: ab = run_bridge(s); break;
	case GD_PIPE_TEE: ab = run_tee(s); break;
	case GD_PIPE_FILE: ab = run_file(s); break;
	default: ab = run_sink(s); break;
	}
	__atomic_store_n(&s->busy, 0, __ATOMIC_RELAXED);
	gd_stage_exit(s, ab);
}

int gd_stages_start(gd_stage *s)
{
	if (s->spec->kind == GD_PIPE_EXEC)
		return gd_exec_start(s);
	s->workers = 1;
	s->live = 1;
	int r = gd_stage_go(s, stage_main, s);
	if (r)
		s->live = 0;
	return r;
}
