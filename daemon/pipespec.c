/* pipespec.c — the job pipeline specification (see pipespec.h and
 * docs/pipelines.md): tokenizer and recursive-descent parser of the human
 * form, msgpack encoder and decoder of the wire form, and the validator
 * both front ends share.
 *
 * Invariants: every allocation of a spec comes from its arena and is freed
 * with it, so an error path only frees the arena; a gd_pipe_spec handed to
 * a caller has passed validate_root().  The parser and the decoder bound
 * their work before allocating: the parser reads at most
 * GD_PIPE_SPEC_MAX bytes and GD_PIPE_ARG_MAX per word, the decoder trusts
 * no size it has not compared with a limit, and both bound the nesting of
 * tee branches, so recursion depth is at most GD_PIPE_DEPTH_MAX.
 * No global state, no locking: all functions are reentrant.
 */
#include "config.h"
#include "pipespec.h"

#include <errno.h>
#include <regex.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"

/* ======================================================================
 * Tables
 * ====================================================================== */

static const struct kinddef {
	const char *name;
	gd_pipe_role role;
	uint32_t min, max; /* words after the name */
	const char *usage;
} kinds[GD_PIPE_NKINDS] = {
#define GD_X_(id, name, role, min, max, usage) [GD_PIPE_##id] = {name, role, min, max, usage},
	GD_PIPE_STAGES(GD_X_)
#undef GD_X_
};

static const char *const fn_names[GD_PIPE_NFNS] = {
#define GD_X_(id, name) [GD_PIPE_FN_##id] = name,
	GD_PIPE_FNS(GD_X_)
#undef GD_X_
};

int gd_pipe_kind_lookup(const char *name, size_t len)
{
	for (int k = 0; k < GD_PIPE_NKINDS; k++)
		if (strlen(kinds[k].name) == len && memcmp(kinds[k].name, name, len) == 0)
			return k;
	return -ENOENT;
}

const char *gd_pipe_kind_name(gd_pipe_kind k)
{
	return (unsigned)k < GD_PIPE_NKINDS ? kinds[k].name : NULL;
}

gd_pipe_role gd_pipe_kind_role(gd_pipe_kind k)
{
	return (unsigned)k < GD_PIPE_NKINDS ? kinds[k].role : GD_PIPE_TRANSFORM;
}

const char *gd_pipe_kind_usage(gd_pipe_kind k)
{
	return (unsigned)k < GD_PIPE_NKINDS ? kinds[k].usage : NULL;
}

const char *gd_pipe_fn_name(gd_pipe_fn f)
{
	return (unsigned)f < GD_PIPE_NFNS ? fn_names[f] : NULL;
}

/* Edit distance of a[0..n) and b (short strings only: n <= 32). */
static size_t distance(const char *a, size_t n, const char *b)
{
	size_t m = strlen(b), row[33];
	for (size_t j = 0; j <= m; j++)
		row[j] = j;
	for (size_t i = 1; i <= n; i++) {
		size_t diag = row[0];
		row[0] = i;
		for (size_t j = 1; j <= m; j++) {
			size_t up = row[j];
			size_t best = diag + (a[i - 1] != b[j - 1]);
			if (up + 1 < best)
				best = up + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			row[j] = best;
			diag = up;
		}
	}
	return row[m];
}

/* The stage name closest to name[0..n), or NULL when none is close. */
static const char *closest_kind(const char *name, size_t n)
{
	const char *best = NULL;
	size_t best_d = 3; /* suggest at distance 1 or 2 only */
	if (n > 32)
		return NULL;
	for (int k = 0; k < GD_PIPE_NKINDS; k++) {
		size_t d = distance(name, n, kinds[k].name);
		if (d < best_d && d < strlen(kinds[k].name)) {
			best_d = d;
			best = kinds[k].name;
		}
	}
	return best;
}

/* ======================================================================
 * Arena: every allocation of one spec
 * ====================================================================== */

/* Chunks start small (most specs are a few stages, and a finished job
 * keeps its spec for the retention) and double up to CHUNK_SIZE. */
enum { CHUNK_FIRST = 512, CHUNK_SIZE = 16 * 1024 };

struct chunk {
	struct chunk *next;
	max_align_t data[];
};

struct gd_pipe_arena {
	struct chunk *head; /* newest chunk first */
	char *next;         /* free space in head */
	size_t left;        /* bytes at next */
	size_t chunk;       /* size of the next chunk */
};

static void arena_free(struct gd_pipe_arena *a)
{
	if (!a)
		return;
	for (struct chunk *c = a->head, *n; c; c = n) {
		n = c->next;
		free(c);
	}
	free(a);
}

/* n > 0 zeroed bytes, aligned for any type; NULL when out of memory. */
static void *arena_alloc(struct gd_pipe_arena *a, size_t n)
{
	const size_t align = _Alignof(max_align_t);
	n = (n + align - 1) & ~(align - 1);
	if (n > a->left) {
		a->chunk = !a->chunk ? CHUNK_FIRST : a->chunk < CHUNK_SIZE ? 2 * a->chunk : CHUNK_SIZE;
		size_t size = n > a->chunk ? n : a->chunk;
		struct chunk *c = malloc(sizeof *c + size);
		if (!c)
			return NULL;
		c->next = a->head;
		a->head = c;
		a->next = (char *)c->data;
		a->left = size;
	}
	void *p = a->next;
	a->next += n;
	a->left -= n;
	return memset(p, 0, n);
}

/* A NUL-terminated copy of s[0..n). */
static char *arena_strndup(struct gd_pipe_arena *a, const char *s, size_t n)
{
	char *p = arena_alloc(a, n + 1);
	if (p)
		memcpy(p, s, n);
	return p;
}

/* Makes room for one more element in an arena array *arr of *n elements
 * and *cap capacity (doubling: at most half the space is left behind).
 * Returns the new, zeroed element, or NULL. */
static void *arena_push(struct gd_pipe_arena *a, void **arr, uint32_t *n, uint32_t *cap,
                        size_t size)
{
	if (*n == *cap) {
		uint32_t ncap = *cap ? 2 * *cap : 4;
		char *p = arena_alloc(a, (size_t)ncap * size);
		if (!p)
			return NULL;
		if (*n)
			memcpy(p, *arr, (size_t)*n * size);
		*arr = p;
		*cap = ncap;
	}
	return memset((char *)*arr + (size_t)(*n)++ * size, 0, size);
}

/* ======================================================================
 * Errors
 * ====================================================================== */

/* State shared by the parser, the decoder and the validator. */
struct ctx {
	gd_pipe_error *err;
	struct gd_pipe_arena *arena;
	uint32_t path[2 * GD_PIPE_DEPTH_MAX + 1]; /* where we are: stage, branch, stage... */
	uint32_t depth;                           /* entries of path in use */
	uint32_t end_pos;   /* position given to an appended client sink */
	uint32_t nstages;   /* stages validated so far */
	size_t bytes;       /* argument bytes decoded so far (wire) */
};

static void ctx_at(struct ctx *c, uint32_t level, uint32_t index)
{
	c->depth = 2 * level + 1;
	c->path[2 * level] = index;
}

/* Fills *c->err ("stage 2.1.3 (name): message") and returns -EINVAL. */
__attribute__((format(printf, 4, 5)))
static int fail(struct ctx *c, const char *name, uint32_t pos, const char *fmt, ...)
{
	gd_pipe_error *e = c->err;
	char *m = e->message;
	size_t size = sizeof e->message, len = 0;
	e->depth = c->depth;
	e->pos = pos;
	memcpy(e->path, c->path, c->depth * sizeof c->path[0]);
	if (c->depth) {
		len += (size_t)snprintf(m, size, "stage ");
		for (uint32_t i = 0; i < c->depth && len < size; i++)
			len += (size_t)snprintf(m + len, size - len, "%s%u", i ? "." : "", c->path[i]);
		if (name && len < size)
			len += (size_t)snprintf(m + len, size - len, " (%s)", name);
		if (len < size)
			len += (size_t)snprintf(m + len, size - len, ": ");
	}
	if (len < size) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(m + len, size - len, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

/* s[0..n) quoted for a message: at most 40 bytes, controls as \xHH. */
static const char *quote(char *buf, size_t size, const char *s, size_t n)
{
	size_t o = 0, i;
	buf[o++] = '"';
	for (i = 0; i < n && i < 40 && o + 8 < size; i++) {
		unsigned char ch = (unsigned char)s[i];
		if (ch < 0x20 || ch == 0x7f || ch == '"' || ch == '\\')
			o += (size_t)snprintf(buf + o, size - o, ch == '"' || ch == '\\' ? "\\%c" : "\\x%02x", ch);
		else
			buf[o++] = (char)ch;
	}
	if (i < n)
		o += (size_t)snprintf(buf + o, size - o, "...");
	snprintf(buf + o, size - o, "\"");
	return buf;
}

#define Q(s) quote((char[64]){0}, 64, (s), strlen(s))

int gd_pipe_error_to_proto(const gd_pipe_error *e, gd_proto_error *ret)
{
	return gd_proto_fail(ret, GD_E_INVALID_PARAMS, "%s (at byte %u)", e->message, e->pos);
}

/* ======================================================================
 * Validator: the rules, shared by the parser and the wire decoder
 * ====================================================================== */

/* Strict decimal: digits only, no sign, no spaces.  0, -EINVAL, -ERANGE. */
static int parse_u64(const char *s, uint64_t *ret)
{
	uint64_t v = 0;
	if (!*s)
		return -EINVAL;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -EINVAL;
		if (v > (UINT64_MAX - (uint64_t)(*s - '0')) / 10)
			return -ERANGE;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	*ret = v;
	return 0;
}

/* An optional '-', then strict decimal. */
static int parse_i64(const char *s, int64_t *ret)
{
	bool neg = *s == '-';
	uint64_t v = 0;
	int r = parse_u64(s + neg, &v);
	if (r < 0)
		return r;
	if (v > (uint64_t)INT64_MAX + neg)
		return -ERANGE;
	*ret = neg ? (int64_t)(0 - v) : (int64_t)v;
	return 0;
}

/* A number in [lo, hi] for stage st; `what` names it in the message. */
static int check_count(struct ctx *c, const gd_pipe_stage *st, const char *s, const char *what,
                       uint64_t lo, uint64_t hi, uint64_t *ret)
{
	uint64_t v = 0;
	int r = parse_u64(s, &v);
	if (r == -EINVAL)
		return fail(c, kinds[st->kind].name, st->pos, "%s must be a whole number, not %s",
		            what, Q(s));
	if (r < 0 || v < lo || v > hi)
		return fail(c, kinds[st->kind].name, st->pos, "%s %s out of range (%llu to %llu)", what,
		            Q(s), (unsigned long long)lo, (unsigned long long)hi);
	*ret = v;
	return 0;
}

/* A duration in [lo, GD_PIPE_DURATION_MAX] nanoseconds. */
static int check_duration(struct ctx *c, const gd_pipe_stage *st, const char *s, int64_t lo,
                          int64_t *ret)
{
	int64_t v;
	int r = gd_conf_parse_duration(s, &v);
	if (r == -EINVAL)
		return fail(c, kinds[st->kind].name, st->pos,
		            "bad duration %s (examples: 0, 250ms, 10s, 1m30s)", Q(s));
	if (r < 0 || v < lo || v > GD_PIPE_DURATION_MAX)
		return fail(c, kinds[st->kind].name, st->pos, "duration %s out of range (%s to 1d)",
		            Q(s), lo ? "1ns" : "0");
	*ret = v;
	return 0;
}

static int check_seq(struct ctx *c, gd_pipe_stage *st)
{
	int64_t v[3] = {0, 0, 0};
	static const char *const what[3] = {"FROM", "TO", "STEP"};
	for (uint32_t i = 0; i < st->nargs; i++)
		if (parse_i64(st->args[i], &v[i]) < 0)
			return fail(c, "seq", st->pos, "%s must be an integer, not %s", what[i],
			            Q(st->args[i]));
	st->u.seq.from = v[0];
	st->u.seq.to = v[1];
	st->u.seq.step = v[0] <= v[1] ? 1 : -1;
	if (st->nargs == 3) {
		if (v[2] == 0)
			return fail(c, "seq", st->pos, "STEP must not be 0");
		if ((v[2] > 0) != (v[0] <= v[1]) && v[0] != v[1])
			return fail(c, "seq", st->pos, "STEP %s never goes from %s to %s",
			            st->args[2], st->args[0], st->args[1]);
		st->u.seq.step = v[2];
	}
	return 0;
}

static int check_path(struct ctx *c, gd_pipe_stage *st)
{
	if (!st->args[0][0])
		return fail(c, kinds[st->kind].name, st->pos, "%s must not be empty",
		            kinds[st->kind].usage);
	st->u.path = st->args[0];
	return 0;
}

static int check_map(struct ctx *c, gd_pipe_stage *st)
{
	for (int f = 0; f < GD_PIPE_NFNS; f++)
		if (strcmp(st->args[0], fn_names[f]) == 0) {
			st->u.fn = (gd_pipe_fn)f;
			return 0;
		}
	return fail(c, "map", st->pos,
	            "unknown function %s (known: upper, lower, trim, length, sha256)", Q(st->args[0]));
}

static int check_filter(struct ctx *c, gd_pipe_stage *st)
{
	uint32_t i = 0;
	if (strcmp(st->args[i], "-v") == 0) {
		st->u.filter.invert = true;
		i++;
	}
	if (i < st->nargs && strcmp(st->args[i], "--") == 0)
		i++;
	if (st->nargs - i != 1)
		return fail(c, "filter", st->pos, "wrong arguments (usage: filter [-v] [--] REGEX)");
	const char *re = st->args[i];
	regex_t rx;
	int r = regcomp(&rx, re, REG_EXTENDED | REG_NOSUB);
	if (r == REG_ESPACE)
		return -ENOMEM;
	if (r != 0) {
		char why[128];
		regerror(r, &rx, why, sizeof why);
		return fail(c, "filter", st->pos, "bad regex %s: %s", Q(re), why);
	}
	regfree(&rx);
	st->u.filter.regex = re;
	return 0;
}

/* exec's options; *i is left at the first word of ARGV.  An option's
 * value is the next word (-j 8, --timeout 5s); -- ends the options, and so
 * does the first word not starting with '-'. */
static int check_exec_options(struct ctx *c, gd_pipe_stage *st, uint32_t *i)
{
	bool seen_j = false, seen_t = false;
	st->u.exec.jobs = 1;
	for (; *i < st->nargs; ++*i) {
		const char *a = st->args[*i];
		bool j = strcmp(a, "-j") == 0, t = strcmp(a, "--timeout") == 0;
		bool o = strcmp(a, "--ordered") == 0;
		if (strcmp(a, "--") == 0) {
			++*i;
			return 0;
		}
		if (a[0] != '-' || a[1] == '\0')
			return 0;
		if (!j && !t && !o)
			return fail(c, "exec", st->pos, "unknown option %s (usage: exec %s)", Q(a),
			            kinds[GD_PIPE_EXEC].usage);
		if ((j && seen_j) || (t && seen_t) || (o && st->u.exec.ordered))
			return fail(c, "exec", st->pos, "option %s given twice", a);
		if ((j || t) && *i + 1 == st->nargs)
			return fail(c, "exec", st->pos, "option %s needs a value", a);
		uint64_t n = 1;
		if (j && check_count(c, st, st->args[++*i], "-j", 1, GD_PIPE_JOBS_MAX, &n) < 0)
			return -EINVAL;
		if (t && check_duration(c, st, st->args[++*i], 1, &st->u.exec.timeout) < 0)
			return -EINVAL;
		seen_j |= j;
		seen_t |= t;
		st->u.exec.ordered |= o;
		if (j)
			st->u.exec.jobs = (uint32_t)n;
	}
	return 0;
}

static int check_exec(struct ctx *c, gd_pipe_stage *st)
{
	uint32_t i = 0;
	int r = check_exec_options(c, st, &i);
	if (r < 0)
		return r;
	if (i == st->nargs)
		return fail(c, "exec", st->pos, "no command (usage: exec %s)", kinds[GD_PIPE_EXEC].usage);
	if (!st->args[i][0])
		return fail(c, "exec", st->pos, "the command name is empty");
	st->u.exec.argc = st->nargs - i;
	st->u.exec.argv = st->args + i;
	return 0;
}

static int check_bridge(struct ctx *c, gd_pipe_stage *st)
{
	const gd_pipe_stage *in = st->inner;
	if (!in)
		return fail(c, "bridge", st->pos, "needs a stage (usage: bridge lines|glob)");
	if (in->kind != GD_PIPE_LINES && in->kind != GD_PIPE_GLOB)
		return fail(c, "bridge", st->pos,
		            "cannot bridge %s: only lines (items are files) or glob (items are patterns)",
		            kinds[in->kind].name);
	if (in->nargs || in->inner || in->nbranches)
		return fail(c, "bridge", st->pos, "bridge %s takes no arguments: each item is its %s",
		            kinds[in->kind].name, kinds[in->kind].usage);
	return 0;
}

/* The words of st, by kind (tee's branches are checked by the caller). */
static int check_args(struct ctx *c, gd_pipe_stage *st)
{
	const struct kinddef *k = &kinds[st->kind];
	if (st->nargs < k->min || st->nargs > k->max)
		return fail(c, k->name, st->pos, "wrong number of arguments (usage: %s%s%s)", k->name,
		            k->usage[0] ? " " : "", k->usage);
	switch (st->kind) {
	case GD_PIPE_SEQ: return check_seq(c, st);
	case GD_PIPE_LINES:
	case GD_PIPE_GLOB:
	case GD_PIPE_FILE: return check_path(c, st);
	case GD_PIPE_MAP: return check_map(c, st);
	case GD_PIPE_FILTER: return check_filter(c, st);
	case GD_PIPE_TAKE:
	case GD_PIPE_SKIP: return check_count(c, st, st->args[0], "N", 0, INT64_MAX, &st->u.n);
	case GD_PIPE_BATCH: return check_count(c, st, st->args[0], "N", 1, GD_PIPE_BATCH_MAX, &st->u.n);
	case GD_PIPE_COLLECT:
		st->u.n = GD_PIPE_COLLECT_DEFAULT;
		return st->nargs ? check_count(c, st, st->args[0], "N", 1, GD_PIPE_COLLECT_MAX, &st->u.n)
		                 : 0;
	case GD_PIPE_DELAY: return check_duration(c, st, st->args[0], 0, &st->u.duration);
	case GD_PIPE_EXEC: return check_exec(c, st);
	case GD_PIPE_BRIDGE: return check_bridge(c, st);
	default: return 0; /* stdin, tee, client, count, discard: no words */
	}
}

static int validate_pipeline(struct ctx *c, gd_pipeline *pl, uint32_t level);

static int validate_tee(struct ctx *c, gd_pipe_stage *st, uint32_t level)
{
	if (st->nbranches < 2 || st->nbranches > GD_PIPE_BRANCHES_MAX)
		return fail(c, "tee", st->pos, "needs 2 to %d branches, has %u", GD_PIPE_BRANCHES_MAX,
		            st->nbranches);
	if (level + 1 >= GD_PIPE_DEPTH_MAX)
		return fail(c, "tee", st->pos, "tees nested deeper than %d levels", GD_PIPE_DEPTH_MAX - 1);
	for (uint32_t b = 0; b < st->nbranches; b++) {
		c->path[2 * level + 1] = b + 1;
		if (st->branches[b].nstages == 0) {
			c->depth = 2 * level + 1;
			return fail(c, "tee", st->pos, "branch %u is empty", b + 1);
		}
		int r = validate_pipeline(c, &st->branches[b], level + 1);
		if (r < 0)
			return r;
		ctx_at(c, level, st->index);
	}
	return 0;
}

/* Structure of one stage at i of n in a pipeline at `level` (0: top). */
static int validate_place(struct ctx *c, const gd_pipe_stage *st, uint32_t i, uint32_t n,
                          uint32_t level)
{
	const char *name = kinds[st->kind].name;
	gd_pipe_role role = kinds[st->kind].role;
	if (i == 0 && level == 0 && role != GD_PIPE_SOURCE)
		return fail(c, name, st->pos,
		            "a pipeline must start with a source (seq, lines, glob or stdin)");
	if (role == GD_PIPE_SOURCE && level > 0)
		return fail(c, name, st->pos, "a tee branch cannot start with a source: it reads the "
		            "tee's items");
	if (role == GD_PIPE_SOURCE && i > 0)
		return fail(c, name, st->pos, "a source can only be the first stage");
	if (i > 0 && kinds[st[-1].kind].role == GD_PIPE_SINK)
		return fail(c, name, st->pos, "follows the sink %s (stage %u): a sink must be last",
		            kinds[st[-1].kind].name, i);
	if (i == n - 1 && level > 0 && role != GD_PIPE_SINK)
		return fail(c, name, st->pos, "a tee branch must end in a sink (client, file, count, "
		            "discard or collect)");
	return 0;
}

static int validate_pipeline(struct ctx *c, gd_pipeline *pl, uint32_t level)
{
	for (uint32_t i = 0; i < pl->nstages; i++) {
		gd_pipe_stage *st = &pl->stages[i];
		st->index = i + 1;
		ctx_at(c, level, st->index);
		if (++c->nstages > GD_PIPE_STAGES_MAX)
			return fail(c, kinds[st->kind].name, st->pos, "more than %d stages in the pipeline",
			            GD_PIPE_STAGES_MAX);
		int r = validate_place(c, st, i, pl->nstages, level);
		if (r == 0)
			r = check_args(c, st);
		if (r == 0 && st->kind == GD_PIPE_TEE)
			r = validate_tee(c, st, level);
		if (r < 0)
			return r;
	}
	return 0;
}

/* The whole spec: appends the default sink, then validates. */
static int validate_root(struct ctx *c, gd_pipeline *root)
{
	if (root->nstages == 0) {
		ctx_at(c, 0, 1);
		return fail(c, NULL, 0, "empty pipeline (it needs at least a source, e.g. seq 1 10)");
	}
	if (kinds[root->stages[root->nstages - 1].kind].role != GD_PIPE_SINK) {
		gd_pipe_stage *s = arena_alloc(c->arena, (root->nstages + 1) * sizeof *s);
		if (!s)
			return -ENOMEM;
		memcpy(s, root->stages, root->nstages * sizeof *s);
		s[root->nstages].kind = GD_PIPE_CLIENT;
		s[root->nstages].pos = c->end_pos;
		root->stages = s;
		root->nstages++;
	}
	return validate_pipeline(c, root, 0);
}

/* ======================================================================
 * Human form: tokenizer and recursive-descent parser
 *
 *   pipeline = stage { "|" stage }
 *   stage    = "tee" branch { branch } | "bridge" WORD { WORD } | WORD { WORD }
 *   branch   = "{" pipeline "}"
 *
 * Tokens: words (with sh-like quoting), "|" anywhere unquoted, and "{" "}"
 * only where they stand alone (brace_alone).  The parser keeps one token
 * of lookahead in struct parser and reports syntax errors only; every
 * other rule is the validator's.
 * ====================================================================== */

enum tok_type { T_END, T_WORD, T_PIPE, T_OPEN, T_CLOSE };

struct parser {
	struct ctx c;
	const char *text;
	size_t len, off;     /* input, and where the tokenizer is */
	enum tok_type type;  /* the current token */
	char *word;          /* T_WORD: its text, in the arena */
	size_t wlen;
	uint32_t pos;        /* byte offset where the token starts */
	const char *stage;   /* name of the stage being parsed, for messages */
	char *buf;           /* a word being unquoted (malloc'd, at most GD_PIPE_ARG_MAX bytes) */
	size_t blen, bcap;
};

static int perr(struct parser *p, uint32_t pos, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int perr(struct parser *p, uint32_t pos, const char *fmt, ...)
{
	char msg[GD_PROTO_ERRMSG_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	return fail(&p->c, p->stage, pos, "%s", msg);
}

static int buf_put(struct parser *p, char ch)
{
	if (p->blen == GD_PIPE_ARG_MAX)
		return perr(p, p->pos, "an argument is longer than %zu bytes", GD_PIPE_ARG_MAX);
	if (p->blen == p->bcap) {
		size_t ncap = p->bcap ? 2 * p->bcap : 64;
		char *nb = realloc(p->buf, ncap);
		if (!nb)
			return -ENOMEM;
		p->buf = nb;
		p->bcap = ncap;
	}
	p->buf[p->blen++] = ch;
	return 0;
}

/* The body of a single-quoted part: everything literal up to the next '. */
static int read_single(struct parser *p)
{
	size_t open = p->off++;
	for (; p->off < p->len && p->text[p->off] != '\''; p->off++) {
		int r = buf_put(p, p->text[p->off]);
		if (r < 0)
			return r;
	}
	if (p->off == p->len)
		return perr(p, (uint32_t)open, "unterminated ' opened at byte %zu", open);
	p->off++;
	return 0;
}

/* A double-quoted part: \\ \" \n \t \r are escapes; any other \c stays as
 * the two bytes, so regex escapes like "\." survive. */
static int read_double(struct parser *p)
{
	size_t open = p->off++;
	while (p->off < p->len && p->text[p->off] != '"') {
		char ch = p->text[p->off++];
		if (ch == '\\' && p->off < p->len) {
			char e = p->text[p->off];
			const char *from = "\\\"ntr", *to = "\\\"\n\t\r", *k = strchr(from, e);
			if (k && e) {
				ch = to[k - from];
				p->off++;
			}
		}
		int r = buf_put(p, ch);
		if (r < 0)
			return r;
	}
	if (p->off == p->len)
		return perr(p, (uint32_t)open, "unterminated \" opened at byte %zu", open);
	p->off++;
	return 0;
}

static bool is_space(char ch)
{
	return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r';
}

/* A word: unquoted parts (\c escapes c), '...' and "..." parts, joined. */
static int read_word(struct parser *p)
{
	p->blen = 0;
	while (p->off < p->len) {
		char ch = p->text[p->off];
		int r;
		if (is_space(ch) || ch == '|')
			break;
		if (ch == '\'')
			r = read_single(p);
		else if (ch == '"')
			r = read_double(p);
		else if (ch == '\\' && p->off + 1 == p->len)
			r = perr(p, (uint32_t)p->off, "a \\ at the end escapes nothing");
		else {
			p->off += 1 + (ch == '\\');
			r = buf_put(p, p->text[p->off - 1]);
		}
		if (r < 0)
			return r;
	}
	p->word = arena_strndup(p->c.arena, p->buf ? p->buf : "", p->blen);
	p->wlen = p->blen;
	return p->word ? 0 : -ENOMEM;
}

/* Whether the { or } at p->off stands alone: followed by a blank, |, the
 * end, or (for }) another }.  Elsewhere braces are ordinary bytes, so
 * exec's {} and a regex's a{2} need no quotes. */
static bool brace_alone(const struct parser *p)
{
	size_t n = p->off + 1;
	if (n == p->len)
		return true;
	char next = p->text[n];
	return is_space(next) || next == '|' || (p->text[p->off] == '}' && next == '}');
}

static int next_token(struct parser *p)
{
	while (p->off < p->len && is_space(p->text[p->off]))
		p->off++;
	p->pos = (uint32_t)p->off;
	if (p->off == p->len) {
		p->type = T_END;
		return 0;
	}
	char ch = p->text[p->off];
	int r = 0;
	p->type = ch == '|' ? T_PIPE : T_WORD;
	if ((ch == '{' || ch == '}') && brace_alone(p))
		p->type = ch == '{' ? T_OPEN : T_CLOSE;
	if (p->type == T_WORD)
		r = read_word(p);
	else
		p->off++;
	if (r == 0 && p->off > GD_PIPE_SPEC_MAX)
		r = perr(p, p->pos, "the pipeline is longer than %zu bytes", GD_PIPE_SPEC_MAX);
	return r;
}

static int parse_pipeline(struct parser *p, gd_pipeline *out, uint32_t level);

#define BRACE_HINT " (the braces of tee stand alone: tee { count } { discard })"

/* Whether the current word holds a brace: a likely missing blank. */
static bool has_brace(const struct parser *p)
{
	return memchr(p->word, '{', p->wlen) || memchr(p->word, '}', p->wlen);
}

/* `{ pipeline }`...: the branches of the tee st. */
static int parse_branches(struct parser *p, gd_pipe_stage *st, uint32_t level)
{
	uint32_t cap = 0;
	while (p->type == T_OPEN) {
		uint32_t open = p->pos, b = st->nbranches + 1;
		if (level + 1 >= GD_PIPE_DEPTH_MAX)
			return perr(p, open, "tees nested deeper than %d levels", GD_PIPE_DEPTH_MAX - 1);
		gd_pipeline *pl = arena_push(p->c.arena, (void **)&st->branches, &st->nbranches, &cap,
		                             sizeof *pl);
		/* The next word is the branch's first stage name: errors in it are
		 * that stage's. */
		p->c.path[2 * level + 1] = b;
		ctx_at(&p->c, level + 1, 1);
		p->stage = NULL;
		int r = pl ? next_token(p) : -ENOMEM;
		if (r == 0 && p->type == T_CLOSE) {
			ctx_at(&p->c, level, st->index);
			p->stage = "tee";
			r = perr(p, open, "branch %u is empty", b);
		}
		if (r == 0)
			r = parse_pipeline(p, pl, level + 1);
		if (r < 0)
			return r;
		ctx_at(&p->c, level, st->index);
		p->stage = "tee";
		if (p->type != T_CLOSE)
			return perr(p, open, "unclosed { of branch %u (opened at byte %u)", b, open);
		if ((r = next_token(p)) < 0)
			return r;
	}
	if (p->type == T_WORD)
		return perr(p, p->pos, "tee takes only { PIPELINE } branches, not %s%s",
		            quote((char[64]){0}, 64, p->word, p->wlen),
		            has_brace(p) ? BRACE_HINT : "");
	return 0;
}

/* Words up to the next |, {, } or the end, as st's arguments. */
static int parse_words(struct parser *p, gd_pipe_stage *st)
{
	uint32_t cap = 0;
	while (p->type == T_WORD) {
		if (st->nargs == GD_PIPE_ARGS_MAX)
			return perr(p, p->pos, "more than %d arguments", GD_PIPE_ARGS_MAX);
		char **a = arena_push(p->c.arena, (void **)&st->args, &st->nargs, &cap, sizeof *a);
		if (!a)
			return -ENOMEM;
		*a = p->word;
		int r = next_token(p);
		if (r < 0)
			return r;
	}
	/* A NULL after the last word, so exec's argv is ready for execv(). */
	if (st->nargs && !arena_push(p->c.arena, (void **)&st->args, &st->nargs, &cap, sizeof(char *)))
		return -ENOMEM;
	st->nargs -= st->nargs > 0;
	return 0;
}

/* A stage name (the current token) as a kind. */
static int parse_name(struct parser *p, gd_pipe_kind *ret)
{
	char q[64];
	if (p->type != T_WORD)
		return perr(p, p->pos, "expected a stage name, found %s",
		            p->type == T_OPEN ? "{" : p->type == T_CLOSE ? "}" : p->type == T_PIPE
		            ? "|" : "the end");
	int k = gd_pipe_kind_lookup(p->word, p->wlen);
	if (k < 0) {
		const char *near = closest_kind(p->word, p->wlen);
		return perr(p, p->pos, "unknown stage %s%s%s%s%s", quote(q, sizeof q, p->word, p->wlen),
		            near ? " (did you mean " : "", near ? near : "", near ? "?)" : "",
		            has_brace(p) ? BRACE_HINT : "");
	}
	*ret = (gd_pipe_kind)k;
	return 0;
}

static int parse_stage(struct parser *p, gd_pipe_stage *st, uint32_t level)
{
	p->stage = NULL;
	st->pos = p->pos;
	int r = parse_name(p, &st->kind);
	if (r < 0)
		return r;
	p->stage = kinds[st->kind].name;
	if ((r = next_token(p)) < 0)
		return r;
	if (st->kind == GD_PIPE_TEE)
		return parse_branches(p, st, level);
	if (st->kind == GD_PIPE_BRIDGE && p->type == T_WORD) {
		gd_pipe_stage *in = arena_alloc(p->c.arena, sizeof *in);
		if (!in)
			return -ENOMEM;
		in->pos = p->pos;
		in->index = 1;
		if ((r = parse_name(p, &in->kind)) < 0 || (r = next_token(p)) < 0)
			return r;
		st->inner = in;
		return parse_words(p, in);
	}
	if ((r = parse_words(p, st)) < 0)
		return r;
	if (p->type == T_OPEN)
		return perr(p, p->pos, "unexpected { (only tee takes branches)");
	return 0;
}

static int parse_pipeline(struct parser *p, gd_pipeline *out, uint32_t level)
{
	uint32_t cap = 0;
	for (;;) {
		ctx_at(&p->c, level, out->nstages + 1);
		p->stage = NULL;
		if (p->type == T_END && out->nstages == 0)
			return perr(p, p->pos, "empty pipeline (it needs at least a source, e.g. seq 1 10)");
		if (p->type == T_PIPE || p->type == T_END || (p->type == T_CLOSE && level > 0))
			return perr(p, p->pos, "missing stage %s",
			            p->type == T_PIPE && out->nstages == 0 ? "before |" : "after |");
		if (++p->c.nstages > GD_PIPE_STAGES_MAX) /* bound memory before validating */
			return perr(p, p->pos, "more than %d stages in the pipeline", GD_PIPE_STAGES_MAX);
		gd_pipe_stage *st = arena_push(p->c.arena, (void **)&out->stages, &out->nstages, &cap,
		                               sizeof *st);
		if (!st)
			return -ENOMEM;
		st->index = out->nstages;
		int r = parse_stage(p, st, level);
		if (r < 0)
			return r;
		if (p->type != T_PIPE)
			return 0;
		ctx_at(&p->c, level, out->nstages + 1); /* the next word names that stage */
		p->stage = NULL;
		if ((r = next_token(p)) < 0)
			return r;
	}
}

static int spec_new(struct ctx *c, gd_pipe_spec **ret)
{
	c->arena = calloc(1, sizeof *c->arena);
	if (!c->arena)
		return -ENOMEM;
	*ret = arena_alloc(c->arena, sizeof **ret);
	if (!*ret) {
		arena_free(c->arena);
		return -ENOMEM;
	}
	(*ret)->arena_ = c->arena;
	return 0;
}

static int parse_text(struct parser *p, gd_pipeline *root)
{
	const char *nul = memchr(p->text, '\0', p->len);
	if (nul)
		return perr(p, (uint32_t)(nul - p->text), "a NUL byte at byte %td", nul - p->text);
	ctx_at(&p->c, 0, 1); /* the first word names stage 1 */
	int r = next_token(p);
	if (r == 0)
		r = parse_pipeline(p, root, 0);
	if (r == 0 && p->type == T_CLOSE)
		r = perr(p, p->pos, "} without a matching {");
	p->c.nstages = 0; /* the validator counts again */
	if (r == 0)
		r = validate_root(&p->c, root);
	return r;
}

int gd_pipe_parse(const char *text, size_t len, gd_pipe_spec **ret, gd_pipe_error *err)
{
	gd_pipe_error dummy;
	gd_pipe_spec *s;
	struct parser p = {.c = {.err = err ? err : &dummy}, .text = text, .len = len};
	if (len > GD_PIPE_SPEC_MAX)
		p.len = GD_PIPE_SPEC_MAX + 1; /* enough to see what is too long */
	p.c.end_pos = (uint32_t)p.len;
	int r = spec_new(&p.c, &s);
	if (r < 0)
		return r;
	r = parse_text(&p, &s->root);
	free(p.buf);
	if (r < 0) {
		gd_pipe_free(s);
		return r;
	}
	*ret = s;
	return 0;
}

/* ======================================================================
 * Wire form
 *
 *   spec  = [stage, ...]
 *   stage = {"stage": str, "args": [str, ...], "pos": uint (optional),
 *            "branches": [[stage, ...], ...] (tee only),
 *            "inner": stage (bridge only; no branches or inner itself)}
 * ====================================================================== */

static int pack_str(msgpack_packer *pk, const char *s)
{
	return msgpack_pack_str_with_body(pk, s, strlen(s));
}

static int pack_pipeline(msgpack_packer *pk, const gd_pipeline *pl);

static int pack_stage(msgpack_packer *pk, const gd_pipe_stage *st)
{
	int r = msgpack_pack_map(pk, 3 + (st->kind == GD_PIPE_TEE) + (st->inner != NULL));
	r |= pack_str(pk, "stage") | pack_str(pk, kinds[st->kind].name);
	r |= pack_str(pk, "args") | msgpack_pack_array(pk, st->nargs);
	for (uint32_t i = 0; i < st->nargs; i++)
		r |= pack_str(pk, st->args[i]);
	r |= pack_str(pk, "pos") | msgpack_pack_uint32(pk, st->pos);
	if (st->kind == GD_PIPE_TEE) {
		r |= pack_str(pk, "branches") | msgpack_pack_array(pk, st->nbranches);
		for (uint32_t b = 0; b < st->nbranches; b++)
			r |= pack_pipeline(pk, &st->branches[b]);
	}
	if (st->inner)
		r |= pack_str(pk, "inner") | pack_stage(pk, st->inner);
	return r ? -ENOMEM : 0;
}

static int pack_pipeline(msgpack_packer *pk, const gd_pipeline *pl)
{
	int r = msgpack_pack_array(pk, pl->nstages) ? -ENOMEM : 0;
	for (uint32_t i = 0; i < pl->nstages && r == 0; i++)
		r = pack_stage(pk, &pl->stages[i]);
	return r;
}

int gd_pipe_pack(msgpack_packer *pk, const gd_pipe_spec *s)
{
	return pack_pipeline(pk, &s->root);
}

static bool key_is(const msgpack_object *k, const char *s)
{
	return k->type == MSGPACK_OBJECT_STR && k->via.str.size == strlen(s) &&
	       memcmp(k->via.str.ptr, s, k->via.str.size) == 0;
}

/* The fields of a stage map, found once each. */
enum { F_STAGE, F_ARGS, F_POS, F_BRANCHES, F_INNER, F_COUNT };
static const char *const field_names[F_COUNT] = {"stage", "args", "pos", "branches", "inner"};

static int wire_fields(struct ctx *c, const msgpack_object *o, const msgpack_object *f[F_COUNT])
{
	if (o->type != MSGPACK_OBJECT_MAP)
		return fail(c, NULL, 0, "a stage must be a map");
	for (uint32_t i = 0; i < o->via.map.size; i++) {
		const msgpack_object *k = &o->via.map.ptr[i].key;
		int which = 0;
		while (which < F_COUNT && !key_is(k, field_names[which]))
			which++;
		if (which == F_COUNT)
			return fail(c, NULL, 0, "unknown key in a stage map (known: stage, args, pos, "
			            "branches, inner)");
		if (f[which])
			return fail(c, NULL, 0, "key \"%s\" given twice", field_names[which]);
		f[which] = &o->via.map.ptr[i].val;
	}
	if (!f[F_STAGE] || f[F_STAGE]->type != MSGPACK_OBJECT_STR)
		return fail(c, NULL, 0, "\"stage\" must be a string naming the stage");
	return 0;
}

static int wire_args(struct ctx *c, const msgpack_object *o, gd_pipe_stage *st)
{
	const char *name = kinds[st->kind].name;
	if (!o || o->type != MSGPACK_OBJECT_ARRAY)
		return fail(c, name, st->pos, "\"args\" must be an array of strings");
	if (o->via.array.size > GD_PIPE_ARGS_MAX)
		return fail(c, name, st->pos, "more than %d arguments", GD_PIPE_ARGS_MAX);
	st->nargs = o->via.array.size;
	st->args = arena_alloc(c->arena, (st->nargs + 1) * sizeof *st->args); /* NULL-terminated */
	if (!st->args)
		return -ENOMEM;
	for (uint32_t i = 0; i < st->nargs; i++) {
		const msgpack_object *a = &o->via.array.ptr[i];
		if (a->type != MSGPACK_OBJECT_STR)
			return fail(c, name, st->pos, "argument %u is not a string", i + 1);
		if (a->via.str.size > GD_PIPE_ARG_MAX)
			return fail(c, name, st->pos, "argument %u is longer than %zu bytes", i + 1,
			            GD_PIPE_ARG_MAX);
		if (memchr(a->via.str.ptr, '\0', a->via.str.size))
			return fail(c, name, st->pos, "argument %u contains a NUL byte", i + 1);
		if ((c->bytes += a->via.str.size) > GD_PIPE_SPEC_MAX)
			return fail(c, name, st->pos, "the arguments add up to more than %zu bytes",
			            GD_PIPE_SPEC_MAX);
		if (!(st->args[i] = arena_strndup(c->arena, a->via.str.ptr, a->via.str.size)))
			return -ENOMEM;
	}
	return 0;
}

static int wire_pipeline(struct ctx *c, const msgpack_object *o, gd_pipeline *out,
                         uint32_t level);

/* The structure-bearing fields: branches (tee) and inner (bridge). */
static int wire_nested(struct ctx *c, const msgpack_object *f[F_COUNT], gd_pipe_stage *st,
                       uint32_t level, bool inner);

static int wire_stage(struct ctx *c, const msgpack_object *o, gd_pipe_stage *st, uint32_t level,
                      bool inner)
{
	const msgpack_object *f[F_COUNT] = {0};
	int r = wire_fields(c, o, f);
	if (r < 0)
		return r;
	if (f[F_POS] && (f[F_POS]->type != MSGPACK_OBJECT_POSITIVE_INTEGER ||
	                 f[F_POS]->via.u64 > UINT32_MAX))
		return fail(c, NULL, 0, "\"pos\" must be an integer from 0 to %u", UINT32_MAX);
	st->pos = f[F_POS] ? (uint32_t)f[F_POS]->via.u64 : 0;
	int k = gd_pipe_kind_lookup(f[F_STAGE]->via.str.ptr, f[F_STAGE]->via.str.size);
	if (k < 0) {
		const msgpack_object *n = f[F_STAGE];
		const char *near = closest_kind(n->via.str.ptr, n->via.str.size);
		return fail(c, NULL, st->pos, "unknown stage %s%s%s%s",
		            quote((char[64]){0}, 64, n->via.str.ptr, n->via.str.size),
		            near ? " (did you mean " : "", near ? near : "", near ? "?)" : "");
	}
	st->kind = (gd_pipe_kind)k;
	if ((r = wire_args(c, f[F_ARGS], st)) < 0)
		return r;
	return wire_nested(c, f, st, level, inner);
}

/* tee's "branches": an array of 2..GD_PIPE_BRANCHES_MAX pipelines. */
static int wire_branches(struct ctx *c, const msgpack_object *b, gd_pipe_stage *st,
                         uint32_t level)
{
	if (!b || b->type != MSGPACK_OBJECT_ARRAY)
		return fail(c, "tee", st->pos, "\"branches\" must be an array of pipelines");
	if (b->via.array.size < 2 || b->via.array.size > GD_PIPE_BRANCHES_MAX)
		return fail(c, "tee", st->pos, "needs 2 to %d branches, has %u", GD_PIPE_BRANCHES_MAX,
		            b->via.array.size);
	if (level + 1 >= GD_PIPE_DEPTH_MAX)
		return fail(c, "tee", st->pos, "tees nested deeper than %d levels", GD_PIPE_DEPTH_MAX - 1);
	st->nbranches = b->via.array.size;
	st->branches = arena_alloc(c->arena, st->nbranches * sizeof *st->branches);
	if (!st->branches)
		return -ENOMEM;
	for (uint32_t i = 0; i < st->nbranches; i++) {
		c->path[2 * level + 1] = i + 1;
		int r = wire_pipeline(c, &b->via.array.ptr[i], &st->branches[i], level + 1);
		if (r < 0)
			return r;
	}
	ctx_at(c, level, st->index);
	return 0;
}

static int wire_nested(struct ctx *c, const msgpack_object *f[F_COUNT], gd_pipe_stage *st,
                       uint32_t level, bool inner)
{
	const char *name = kinds[st->kind].name;
	if (f[F_BRANCHES] && (st->kind != GD_PIPE_TEE || inner))
		return fail(c, name, st->pos, "only tee has \"branches\"");
	if (f[F_INNER] && (st->kind != GD_PIPE_BRIDGE || inner))
		return fail(c, name, st->pos, "only bridge has \"inner\"");
	if (st->kind == GD_PIPE_TEE && !inner)
		return wire_branches(c, f[F_BRANCHES], st, level);
	if (f[F_INNER]) {
		if (!(st->inner = arena_alloc(c->arena, sizeof *st->inner)))
			return -ENOMEM;
		st->inner->index = 1;
		return wire_stage(c, f[F_INNER], st->inner, level, true);
	}
	return 0;
}

static int wire_pipeline(struct ctx *c, const msgpack_object *o, gd_pipeline *out,
                         uint32_t level)
{
	ctx_at(c, level, 1);
	if (o->type != MSGPACK_OBJECT_ARRAY)
		return fail(c, NULL, 0, "a pipeline must be an array of stages");
	if (o->via.array.size > GD_PIPE_STAGES_MAX - c->nstages)
		return fail(c, NULL, 0, "more than %d stages in the pipeline", GD_PIPE_STAGES_MAX);
	c->nstages += o->via.array.size;
	out->nstages = o->via.array.size;
	/* + 1: never a zero-byte allocation, which arena_alloc does not serve */
	out->stages = arena_alloc(c->arena, (out->nstages + 1) * sizeof *out->stages);
	if (!out->stages)
		return -ENOMEM;
	for (uint32_t i = 0; i < out->nstages; i++) {
		out->stages[i].index = i + 1;
		ctx_at(c, level, i + 1);
		int r = wire_stage(c, &o->via.array.ptr[i], &out->stages[i], level, false);
		if (r < 0)
			return r;
	}
	return 0;
}

int gd_pipe_decode(const msgpack_object *o, gd_pipe_spec **ret, gd_pipe_error *err)
{
	gd_pipe_error dummy;
	gd_pipe_spec *s;
	struct ctx c = {.err = err ? err : &dummy};
	int r = spec_new(&c, &s);
	if (r < 0)
		return r;
	r = wire_pipeline(&c, o, &s->root, 0);
	c.nstages = 0; /* the validator counts again */
	if (r == 0)
		r = validate_root(&c, &s->root);
	if (r < 0) {
		gd_pipe_free(s);
		return r;
	}
	*ret = s;
	return 0;
}

/* ======================================================================
 * Comparison and release
 * ====================================================================== */

static bool pipeline_equal(const gd_pipeline *a, const gd_pipeline *b);

static bool stage_equal(const gd_pipe_stage *a, const gd_pipe_stage *b)
{
	if (a->kind != b->kind || a->pos != b->pos || a->index != b->index ||
	    a->nargs != b->nargs || a->nbranches != b->nbranches || !a->inner != !b->inner)
		return false;
	for (uint32_t i = 0; i < a->nargs; i++)
		if (strcmp(a->args[i], b->args[i]) != 0)
			return false;
	for (uint32_t i = 0; i < a->nbranches; i++)
		if (!pipeline_equal(&a->branches[i], &b->branches[i]))
			return false;
	return !a->inner || stage_equal(a->inner, b->inner);
}

static bool pipeline_equal(const gd_pipeline *a, const gd_pipeline *b)
{
	if (a->nstages != b->nstages)
		return false;
	for (uint32_t i = 0; i < a->nstages; i++)
		if (!stage_equal(&a->stages[i], &b->stages[i]))
			return false;
	return true;
}

bool gd_pipe_equal(const gd_pipe_spec *a, const gd_pipe_spec *b)
{
	return pipeline_equal(&a->root, &b->root);
}

void gd_pipe_free(gd_pipe_spec *s)
{
	if (s)
		arena_free(s->arena_);
}
