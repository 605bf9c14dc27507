/* jobfile.c — goctl's job files (jobfile.h; the format is section "Job
 * files" of docs/pipelines.md): reading the file, strict JSON parsing with
 * jansson (duplicate keys and \u0000 refused, errors with line and
 * column), the checks of the top-level keys, and the conversion of a
 * "spec" value to MessagePack.
 *
 * The conversion keeps every JSON value as the MessagePack value of the
 * same kind (object: map, array: array, string: str, integer: int, other
 * number: float 64, true/false: bool, null: nil) and checks nothing else,
 * so whatever a file says reaches the daemon's validator unchanged.
 * Recursion follows the JSON nesting, which jansson bounds at
 * JSON_PARSER_MAX_DEPTH (2048).  No global state of its own, but it sets
 * jansson's allocation functions (process-wide; see json_alloc).
 */
#include "config.h"

#include "jobfile.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <msgpack.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf.h"

#define NS_PER_MS 1000000
/* The largest timeout the protocol can carry (the daemon counts in ns). */
#define TIMEOUT_MS_MAX (INT64_MAX / NS_PER_MS)
#define QUEUE_CAPACITY_MAX 1048576
#define QUOTE_MAX 40 /* bytes of a key quoted in a message */

int gc_duration_ms(const char *s, int64_t *ret)
{
	int64_t ns;
	int r = gd_conf_parse_duration(s, &ns);
	if (r == 0) /* rounded up: a positive duration never reads as 0 (none) */
		*ret = ns / NS_PER_MS + (ns % NS_PER_MS != 0);
	return r;
}

__attribute__((format(printf, 4, 5)))
static int failf(char *msg, size_t size, int r, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, size, fmt, ap);
	va_end(ap);
	return r;
}

/* src[0..n) for a message: control bytes as \xHH, cut at max bytes ("..."). */
static const char *printable(char *buf, size_t size, const char *src, size_t n, size_t max)
{
	size_t o = 0;
	for (size_t i = 0; i < n && o + 8 < size; i++) {
		unsigned char ch = (unsigned char)src[i];
		if (i == max) {
			o += (size_t)snprintf(buf + o, size - o, "...");
			break;
		}
		if (ch < 0x20 || ch == 0x7f)
			o += (size_t)snprintf(buf + o, size - o, "\\x%02x", ch);
		else
			buf[o++] = (char)ch;
	}
	buf[o] = '\0';
	return buf;
}

/* ---- JSON -> MessagePack (0, or -1 when the buffer cannot grow) ------------------ */

static int pack_value(msgpack_packer *pk, json_t *v);

static int pack_object(msgpack_packer *pk, json_t *o)
{
	const char *key;
	json_t *val;
	int r = msgpack_pack_map(pk, json_object_size(o));
	json_object_foreach(o, key, val) {
		if (r == 0)
			r = msgpack_pack_str_with_body(pk, key, strlen(key));
		if (r == 0)
			r = pack_value(pk, val);
	}
	return r;
}

static int pack_array(msgpack_packer *pk, json_t *a)
{
	size_t i;
	json_t *val;
	int r = msgpack_pack_array(pk, json_array_size(a));
	json_array_foreach(a, i, val) {
		if (r == 0)
			r = pack_value(pk, val);
	}
	return r;
}

static int pack_value(msgpack_packer *pk, json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT: return pack_object(pk, v);
	case JSON_ARRAY: return pack_array(pk, v);
	case JSON_STRING:
		return msgpack_pack_str_with_body(pk, json_string_value(v), json_string_length(v));
	case JSON_INTEGER: return msgpack_pack_int64(pk, json_integer_value(v));
	case JSON_REAL: return msgpack_pack_double(pk, json_real_value(v));
	case JSON_TRUE: return msgpack_pack_true(pk);
	case JSON_FALSE: return msgpack_pack_false(pk);
	case JSON_NULL: return msgpack_pack_nil(pk);
	}
	return -1;
}

static int to_wire(json_t *spec, gc_jobfile *jf)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	if (pack_value(&pk, spec) < 0) {
		msgpack_sbuffer_destroy(&sb);
		return -ENOMEM;
	}
	jf->wire_len = sb.size;
	jf->wire = msgpack_sbuffer_release(&sb);
	return 0;
}

/* ---- the top-level keys ---------------------------------------------------------- */

enum { K_PIPELINE, K_SPEC, K_TIMEOUT, K_FAIL_FAST, K_QUEUE_CAPACITY, K_COUNT };
static const char *const key_names[K_COUNT] = {
	"pipeline", "spec", "timeout", "fail_fast", "queue_capacity",
};

static const char *type_name(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT: return "an object";
	case JSON_ARRAY: return "an array";
	case JSON_STRING: return "a string";
	case JSON_INTEGER: return "an integer";
	case JSON_REAL: return "a number with a fraction or an exponent";
	case JSON_TRUE: return "true";
	case JSON_FALSE: return "false";
	case JSON_NULL: return "null";
	}
	return "an unknown JSON value";
}

/* Sorts the object's members into k[] by key; unknown keys are errors
 * (duplicates were refused by the parser). */
static int find_keys(const char *name, json_t *o, json_t *k[K_COUNT], char *msg, size_t size)
{
	const char *key;
	json_t *v;
	json_object_foreach(o, key, v) {
		int i = 0;
		while (i < K_COUNT && strcmp(key, key_names[i]) != 0)
			i++;
		if (i == K_COUNT) {
			char q[4 * QUOTE_MAX + 8];
			return failf(msg, size, -EINVAL,
			             "%s: unknown key \"%s\" (known: pipeline, spec, timeout, fail_fast, "
			             "queue_capacity)",
			             name, printable(q, sizeof q, key, strlen(key), QUOTE_MAX));
		}
		k[i] = v;
	}
	if (k[K_PIPELINE] && k[K_SPEC])
		return failf(msg, size, -EINVAL,
		             "%s: both \"pipeline\" and \"spec\": give the job in one form only", name);
	if (!k[K_PIPELINE] && !k[K_SPEC])
		return failf(msg, size, -EINVAL,
		             "%s: no job: give \"pipeline\" (the human form) or \"spec\" (the wire "
		             "form)", name);
	return 0;
}

static int read_timeout(const char *name, json_t *v, gc_jobfile *jf, char *msg, size_t size)
{
	if (json_is_string(v)) {
		int r = gc_duration_ms(json_string_value(v), &jf->timeout_ms);
		char q[4 * QUOTE_MAX + 8];
		if (r < 0)
			return failf(msg, size, -EINVAL,
			             "%s: \"timeout\": %s duration \"%s\" (e.g. \"500ms\", \"10s\", "
			             "\"2m\"; \"0\": none)",
			             name, r == -ERANGE ? "out-of-range" : "invalid",
			             printable(q, sizeof q, json_string_value(v), json_string_length(v),
			                       QUOTE_MAX));
		return 0;
	}
	if (json_is_integer(v)) {
		json_int_t ms = json_integer_value(v);
		if (ms < 0 || ms > TIMEOUT_MS_MAX)
			return failf(msg, size, -EINVAL,
			             "%s: \"timeout\": %lld milliseconds is out of range (0 to %lld)", name,
			             (long long)ms, (long long)TIMEOUT_MS_MAX);
		jf->timeout_ms = ms;
		return 0;
	}
	return failf(msg, size, -EINVAL,
	             "%s: \"timeout\" must be a duration string (\"10s\") or whole milliseconds, "
	             "not %s", name, type_name(v));
}

static int read_options(const char *name, json_t *k[K_COUNT], gc_jobfile *jf, char *msg,
                        size_t size)
{
	if (k[K_TIMEOUT]) {
		int r = read_timeout(name, k[K_TIMEOUT], jf, msg, size);
		if (r < 0)
			return r;
	}
	if (k[K_FAIL_FAST]) {
		if (!json_is_boolean(k[K_FAIL_FAST]))
			return failf(msg, size, -EINVAL, "%s: \"fail_fast\" must be true or false, not %s",
			             name, type_name(k[K_FAIL_FAST]));
		jf->fail_fast = json_is_true(k[K_FAIL_FAST]);
	}
	if (k[K_QUEUE_CAPACITY]) {
		json_t *v = k[K_QUEUE_CAPACITY];
		if (!json_is_integer(v))
			return failf(msg, size, -EINVAL,
			             "%s: \"queue_capacity\" must be an integer from 1 to %d, not %s", name,
			             QUEUE_CAPACITY_MAX, type_name(v));
		json_int_t n = json_integer_value(v);
		if (n < 1 || n > QUEUE_CAPACITY_MAX)
			return failf(msg, size, -EINVAL,
			             "%s: \"queue_capacity\" must be an integer from 1 to %d, not %lld",
			             name, QUEUE_CAPACITY_MAX, (long long)n);
		jf->queue_capacity = (uint64_t)n;
	}
	return 0;
}

static int read_job(const char *name, json_t *k[K_COUNT], gc_jobfile *jf, char *msg, size_t size)
{
	if (k[K_PIPELINE]) {
		if (!json_is_string(k[K_PIPELINE]))
			return failf(msg, size, -EINVAL,
			             "%s: \"pipeline\" must be a string (the human form), not %s", name,
			             type_name(k[K_PIPELINE]));
		/* No NUL inside: the parser refused \u0000. */
		if (!(jf->pipeline = strdup(json_string_value(k[K_PIPELINE]))))
			return failf(msg, size, -ENOMEM, "out of memory");
		return 0;
	}
	if (!json_is_array(k[K_SPEC]))
		return failf(msg, size, -EINVAL,
		             "%s: \"spec\" must be an array of stage objects (the wire form), not %s",
		             name, type_name(k[K_SPEC]));
	if (to_wire(k[K_SPEC], jf) < 0)
		return failf(msg, size, -ENOMEM, "out of memory");
	return 0;
}

static int read_object(const char *name, json_t *o, gc_jobfile *ret, char *msg, size_t size)
{
	json_t *k[K_COUNT] = { 0 };
	gc_jobfile jf = { .timeout_ms = -1, .fail_fast = -1 };
	int r = find_keys(name, o, k, msg, size);
	if (r == 0)
		r = read_options(name, k, &jf, msg, size);
	if (r == 0)
		r = read_job(name, k, &jf, msg, size);
	if (r < 0)
		gc_jobfile_free(&jf);
	else
		*ret = jf;
	return r;
}

/* jansson's error as "NAME:LINE:COLUMN: text". */
static int syntax_error(const char *name, const json_error_t *e, char *msg, size_t size)
{
	char text[4 * JSON_ERROR_TEXT_LENGTH];
	switch (json_error_code(e)) {
	case json_error_null_character:
	case json_error_null_byte_in_key:
		return failf(msg, size, -EINVAL,
		             "%s:%d:%d: \\u0000 in a string: job files cannot carry NUL characters "
		             "(the wire form forbids them)",
		             name, e->line, e->column);
	default:
		printable(text, sizeof text, e->text, strlen(e->text), sizeof text);
		return failf(msg, size, -EINVAL, "%s:%d:%d: %s", name, e->line, e->column, text);
	}
}

/* A raw NUL byte, which jansson would report as a confusing end of input:
 * -EINVAL with its line and column, or 0 when there is none. */
static int raw_nul(const char *name, const char *text, size_t len, char *msg, size_t size)
{
	const char *nul = memchr(text, '\0', len);
	if (!nul)
		return 0;
	int line = 1, column = 1; /* in characters, as jansson counts: UTF-8 */
	for (const char *p = text; p < nul; p++) {
		if (*p == '\n')
			line++, column = 1;
		else if (((unsigned char)*p & 0xc0) != 0x80)
			column++;
	}
	return failf(msg, size, -EINVAL, "%s:%d:%d: a NUL byte: a job file is JSON text", name,
	             line, column);
}

/* jansson 2.14 does not report every allocation failure: its lexer drops a
 * byte when its buffer cannot grow and parses on.  So its allocations go
 * through this hook, and a parse during which one failed is -ENOMEM
 * whatever jansson answered. */
static _Thread_local bool json_alloc_failed;

static void *json_alloc(size_t n)
{
	void *p = malloc(n);
	if (!p)
		json_alloc_failed = true;
	return p;
}

static json_t *load_json(const char *text, size_t len, json_error_t *e, bool *oom)
{
	json_set_alloc_funcs(json_alloc, free); /* process-wide; goctl's only jansson user */
	json_alloc_failed = false;
	json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, e);
	*oom = json_alloc_failed;
	if (*oom && root) {
		json_decref(root);
		root = NULL;
	}
	return root;
}

int gc_jobfile_parse(const char *name, const char *text, size_t len, gc_jobfile *ret, char *msg,
                     size_t size)
{
	json_error_t e;
	bool oom;
	int r = raw_nul(name, text, len, msg, size);
	if (r < 0)
		return r;
	json_t *root = load_json(text, len, &e, &oom);
	if (oom)
		return failf(msg, size, -ENOMEM, "out of memory");
	if (!root)
		return syntax_error(name, &e, msg, size);
	if (json_is_object(root))
		r = read_object(name, root, ret, msg, size);
	else
		r = failf(msg, size, -EINVAL, "%s: a job file holds one JSON object ({...}), not %s",
		          name, type_name(root));
	json_decref(root);
	return r;
}

/* ---- reading the file ------------------------------------------------------------ */

/* All of fd, at most GC_JOBFILE_MAX bytes: 0 and *ret (malloc'd), *len. */
static int read_all(int fd, const char *name, char **ret, size_t *len, char *msg, size_t size)
{
	size_t cap = 0, n = 0;
	char *buf = NULL;
	for (;;) {
		if (n == GC_JOBFILE_MAX + 1) {
			free(buf);
			return failf(msg, size, -EFBIG, "%s: the job file is larger than %zu bytes", name,
			             GC_JOBFILE_MAX);
		}
		if (n == cap) {
			/* Up to one byte past the limit, to see that the file exceeds it. */
			size_t want = cap ? 2 * cap : 64 * 1024;
			want = want > GC_JOBFILE_MAX + 1 ? GC_JOBFILE_MAX + 1 : want;
			char *p = realloc(buf, want);
			if (!p) {
				free(buf);
				return failf(msg, size, -ENOMEM, "out of memory");
			}
			buf = p, cap = want;
		}
		ssize_t got = read(fd, buf + n, cap - n);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			int e = errno;
			free(buf);
			return failf(msg, size, -e, "cannot read the job file %s: %s", name, strerror(e));
		}
		if (got == 0)
			break;
		n += (size_t)got;
	}
	*ret = buf, *len = n;
	return 0;
}

const char *gc_jobfile_name(const char *path)
{
	return strcmp(path, "-") == 0 ? "<stdin>" : path;
}

int gc_jobfile_load(const char *path, gc_jobfile *ret, char *msg, size_t size)
{
	bool is_stdin = strcmp(path, "-") == 0;
	const char *name = gc_jobfile_name(path);
	int fd = is_stdin ? STDIN_FILENO : open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		int e = errno;
		return failf(msg, size, -e, "cannot open the job file %s: %s", name, strerror(e));
	}
	char *text = NULL;
	size_t len = 0;
	int r = read_all(fd, name, &text, &len, msg, size);
	if (!is_stdin)
		close(fd);
	if (r < 0)
		return r;
	r = gc_jobfile_parse(name, text, len, ret, msg, size);
	free(text);
	return r;
}

void gc_jobfile_free(gc_jobfile *jf)
{
	free(jf->pipeline);
	free(jf->wire);
	*jf = (gc_jobfile){ .timeout_ms = -1, .fail_fast = -1 };
}
