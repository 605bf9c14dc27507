/* conf.c — loads godaemon's INI configuration through libinih into a typed
 * gd_config (see conf.h for the rules).
 *
 * libinih does the INI syntax; this file does everything about meaning.  It
 * hands libinih a line reader of its own, which
 *  - counts lines, so every error carries its line (Debian's libinih is
 *    built without INI_HANDLER_LINENO);
 *  - strips leading blanks, so an indented line is an ordinary line and
 *    never silently glued to the previous value (libinih's multi-line
 *    values are not part of our syntax);
 *  - refuses lines longer than libinih's fixed buffer instead of letting it
 *    split them in two;
 *  - checks [section] headers, so an unknown (even empty) section is
 *    reported at its own line.
 * Errors are collected (up to MAX_ERRORS) and reported sorted by line; the
 * result goes to the caller only when there are none.
 */
#include "config.h"
#include "conf.h"

#include "proto.h"

#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#define GD_STR_(x) #x
#define GD_STR(x) GD_STR_(x)

_Static_assert(GORT_MAX_PROCS == 256, "[daemon] workers: keep the table's maximum in step");
_Static_assert(GD_PROTO_MESSAGE_SIZE_MIN == 4096 && GD_PROTO_MESSAGE_SIZE_MAX == 1073741824,
               "[limits] max_message_size: keep the table's range in step with proto.h");

static const struct keydef {
	const char *section, *name;
	gd_conf_type type;
	size_t offset, size; /* of the field in gd_config */
	const char *def;
	uint64_t min, max;
	const char *doc;
} keys[GD_CONF_NKEYS] = {
#define GD_X_(id, sec, key, type, field, def, min, max, doc) \
	[GD_CK_##id] = {sec, key, type, offsetof(gd_config, field), \
	                sizeof(((gd_config *)0)->field), def, (uint64_t)(min), (uint64_t)(max), doc},
	GD_CONF_KEYS(GD_X_)
#undef GD_X_
};

static const char *const sections[] = {"daemon", "limits", "jobs", "log"};

static const char *const level_names[] = {"emerg",   "alert",  "crit", "err",
                                          "warning", "notice", "info", "debug"};

/* ======================================================================
 * Value syntaxes
 * ====================================================================== */

/* Reads decimal digits at *s: 0, -EINVAL (no digit) or -ERANGE. */
static int read_digits(const char **s, uint64_t *ret)
{
	const char *p = *s;
	uint64_t v = 0;
	if (!isdigit((unsigned char)*p))
		return -EINVAL;
	for (; isdigit((unsigned char)*p); p++) {
		if (v > (UINT64_MAX - (uint64_t)(*p - '0')) / 10)
			return -ERANGE;
		v = v * 10 + (uint64_t)(*p - '0');
	}
	*s = p;
	*ret = v;
	return 0;
}

struct unit {
	const char *name;
	uint64_t mult;
};

static const struct unit duration_units[] = {
	{"ms", GD_MSEC}, {"s", GD_SEC}, {"min", GD_MIN}, {"m", GD_MIN}, {"h", GD_HOUR}, {"d", GD_DAY},
};

static const struct unit size_units[] = {
	{"", 1},          {"B", 1},         {"K", 1u << 10}, {"KiB", 1u << 10},
	{"M", 1u << 20},  {"MiB", 1u << 20}, {"G", 1u << 30}, {"GiB", 1u << 30},
};

/* Matches the unit spelled s[0..len) in a table: its multiplier, or 0. */
static uint64_t unit_mult(const struct unit *u, size_t n, const char *s, size_t len)
{
	for (size_t i = 0; i < n; i++)
		if (strlen(u[i].name) == len && memcmp(u[i].name, s, len) == 0)
			return u[i].mult;
	return 0;
}

int gd_conf_parse_duration(const char *s, int64_t *ret)
{
	if (strcmp(s, "0") == 0) {
		*ret = 0;
		return 0;
	}
	uint64_t total = 0;
	do {
		uint64_t n;
		int r = read_digits(&s, &n);
		if (r < 0)
			return r;
		size_t len = strspn(s, "abcdefghijklmnopqrstuvwxyz");
		uint64_t mult = unit_mult(duration_units, sizeof duration_units / sizeof duration_units[0],
		                          s, len);
		if (mult == 0)
			return -EINVAL;
		if (n > (uint64_t)INT64_MAX / mult || total > (uint64_t)INT64_MAX - n * mult)
			return -ERANGE;
		total += n * mult;
		s += len;
		s += strspn(s, " ");
	} while (*s);
	*ret = (int64_t)total;
	return 0;
}

int gd_conf_parse_size(const char *s, uint64_t *ret)
{
	uint64_t n;
	int r = read_digits(&s, &n);
	if (r < 0)
		return r;
	uint64_t mult = unit_mult(size_units, sizeof size_units / sizeof size_units[0], s, strlen(s));
	if (mult == 0)
		return -EINVAL;
	if (n > UINT64_MAX / mult)
		return -ERANGE;
	*ret = n * mult;
	return 0;
}

int gd_conf_parse_level(const char *s, int *ret)
{
	for (int i = 0; i < 8; i++)
		if (strcmp(s, level_names[i]) == 0) {
			*ret = i;
			return 0;
		}
	return -EINVAL;
}

const char *gd_conf_level_name(int level)
{
	return level >= 0 && level < 8 ? level_names[level] : NULL;
}

static int parse_bool(const char *s, bool *ret)
{
	static const char *const yes[] = {"yes", "true", "on", "1"}, *const no[] = {"no", "false", "off", "0"};
	for (int i = 0; i < 4; i++) {
		if (strcasecmp(s, yes[i]) == 0 || strcasecmp(s, no[i]) == 0) {
			*ret = strcasecmp(s, yes[i]) == 0;
			return 0;
		}
	}
	return -EINVAL;
}

static bool valid_group(const char *s)
{
	size_t n = strlen(s);
	if (n > GD_CONF_GROUP_MAX || s[0] == '-')
		return false;
	return strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") == n;
}

/* ======================================================================
 * Formatting values (for messages and gd_conf_print)
 * ====================================================================== */

static void format_duration(int64_t ns, char *buf, size_t size)
{
	static const struct unit order[] = {
		{"d", GD_DAY}, {"h", GD_HOUR}, {"m", GD_MIN}, {"s", GD_SEC}, {"ms", GD_MSEC},
	};
	for (size_t i = 0; i < sizeof order / sizeof order[0]; i++)
		if (ns != 0 && ns % (int64_t)order[i].mult == 0) {
			snprintf(buf, size, "%lld%s", (long long)(ns / (int64_t)order[i].mult), order[i].name);
			return;
		}
	snprintf(buf, size, "%lld%s", (long long)(ns / GD_MSEC), ns ? "ms" : "");
}

static void format_size(uint64_t n, char *buf, size_t size)
{
	static const struct unit order[] = {{"GiB", 1u << 30}, {"MiB", 1u << 20}, {"KiB", 1u << 10}};
	for (size_t i = 0; i < sizeof order / sizeof order[0]; i++)
		if (n != 0 && n % order[i].mult == 0) {
			snprintf(buf, size, "%llu%s", (unsigned long long)(n / order[i].mult), order[i].name);
			return;
		}
	snprintf(buf, size, "%llu", (unsigned long long)n);
}

/* A number of the key's type as text (bounds in messages). */
static void format_number(const struct keydef *k, uint64_t v, char *buf, size_t size)
{
	if (k->type == GD_CT_DURATION)
		format_duration((int64_t)v, buf, size);
	else if (k->type == GD_CT_SIZE)
		format_size(v, buf, size);
	else if (k->type == GD_CT_MODE)
		snprintf(buf, size, "%04llo", (unsigned long long)v);
	else
		snprintf(buf, size, "%llu", (unsigned long long)v);
}

static void format_value(const struct keydef *k, const gd_config *c, char *buf, size_t size)
{
	const char *field = (const char *)c + k->offset;
	switch (k->type) {
	case GD_CT_PATH:
	case GD_CT_GROUP: snprintf(buf, size, "%s", field); break;
	case GD_CT_MODE:
	case GD_CT_UINT: format_number(k, *(const uint32_t *)(const void *)field, buf, size); break;
	case GD_CT_SIZE: format_number(k, *(const uint64_t *)(const void *)field, buf, size); break;
	case GD_CT_DURATION: format_duration(*(const int64_t *)(const void *)field, buf, size); break;
	case GD_CT_BOOL: snprintf(buf, size, "%s", *(const bool *)field ? "yes" : "no"); break;
	case GD_CT_LEVEL: snprintf(buf, size, "%s", level_names[*(const int *)(const void *)field]); break;
	}
}

/* ======================================================================
 * Setting one key
 * ====================================================================== */

static const char *const syntax_hint[] = {
	[GD_CT_PATH] = "an absolute path",
	[GD_CT_MODE] = "octal permission bits like 0660",
	[GD_CT_GROUP] = "a group name or number (letters, digits, '.', '_', '-'; at most "
	                GD_STR(GD_CONF_GROUP_MAX) " characters), or empty",
	[GD_CT_UINT] = "a whole number",
	[GD_CT_SIZE] = "a size like 4096, 64KiB, 16MiB or 1GiB",
	[GD_CT_DURATION] = "a duration like 100ms, 30s, 5m, 2h, 1d or 1h30m",
	[GD_CT_BOOL] = "yes or no",
	[GD_CT_LEVEL] = "one of emerg, alert, crit, err, warning, notice, info, debug",
};

/* Parses text as a number of k's type: 0, or -EINVAL / -ERANGE. */
static int parse_number(const struct keydef *k, const char *text, uint64_t *ret)
{
	int64_t d;
	int r;
	switch (k->type) {
	case GD_CT_MODE:
		if (!*text || strspn(text, "01234567") != strlen(text) || strlen(text) > 4)
			return -EINVAL;
		*ret = strtoull(text, NULL, 8);
		return 0;
	case GD_CT_UINT:
		r = read_digits(&text, ret);
		return r < 0 ? r : *text ? -EINVAL : 0;
	case GD_CT_SIZE: return gd_conf_parse_size(text, ret);
	case GD_CT_DURATION:
		r = gd_conf_parse_duration(text, &d);
		*ret = (uint64_t)d;
		return r;
	default: return -EINVAL;
	}
}

static int set_number(const struct keydef *k, const char *text, void *field, char *msg, size_t size)
{
	uint64_t v = 0;
	int r = parse_number(k, text, &v);
	if (r == -EINVAL) {
		snprintf(msg, size, "expected %s", syntax_hint[k->type]);
		return r;
	}
	if (r == -ERANGE || v < k->min || v > k->max) {
		char lo[32], hi[32];
		format_number(k, k->min, lo, sizeof lo);
		format_number(k, k->max, hi, sizeof hi);
		snprintf(msg, size, "out of range (%s to %s)", lo, hi);
		return -ERANGE;
	}
	if (k->size == sizeof(uint32_t))
		*(uint32_t *)field = (uint32_t)v;
	else
		*(uint64_t *)field = v;
	return 0;
}

static int set_text(const struct keydef *k, const char *text, char *field, char *msg, size_t size)
{
	size_t n = strlen(text);
	bool ok = k->type == GD_CT_PATH ? text[0] == '/' : valid_group(text);
	if (!ok) {
		snprintf(msg, size, "expected %s", syntax_hint[k->type]);
		return -EINVAL;
	}
	if (n >= k->size) {
		snprintf(msg, size, "longer than %zu bytes", k->size - 1);
		return -ERANGE;
	}
	memcpy(field, text, n + 1);
	return 0;
}

/* Parses text into k's field of c: 0, or an error with msg filled. */
static int set_value(const struct keydef *k, const char *text, gd_config *c, char *msg, size_t size)
{
	void *field = (char *)c + k->offset;
	int r;
	switch (k->type) {
	case GD_CT_PATH:
	case GD_CT_GROUP: return set_text(k, text, field, msg, size);
	case GD_CT_BOOL: r = parse_bool(text, field); break;
	case GD_CT_LEVEL: r = gd_conf_parse_level(text, field); break;
	default: return set_number(k, text, field, msg, size);
	}
	if (r < 0)
		snprintf(msg, size, "expected %s", syntax_hint[k->type]);
	return r;
}

/* ======================================================================
 * The table
 * ====================================================================== */

const char *gd_conf_key_section(gd_conf_key k) { return keys[k].section; }
const char *gd_conf_key_name(gd_conf_key k) { return keys[k].name; }
gd_conf_type gd_conf_key_type(gd_conf_key k) { return keys[k].type; }
const char *gd_conf_key_default(gd_conf_key k) { return keys[k].def; }

int gd_conf_key_lookup(const char *section, const char *name)
{
	for (int k = 0; k < GD_CONF_NKEYS; k++)
		if (strcmp(keys[k].section, section) == 0 && strcmp(keys[k].name, name) == 0)
			return k;
	return -ENOENT;
}

bool gd_conf_is_set(const gd_config *c, gd_conf_key k)
{
	return c->line[k] != 0;
}

static bool known_section(const char *name)
{
	for (size_t i = 0; i < sizeof sections / sizeof sections[0]; i++)
		if (strcmp(sections[i], name) == 0)
			return true;
	return false;
}

void gd_conf_defaults(gd_config *ret)
{
	memset(ret, 0, sizeof *ret);
	for (int k = 0; k < GD_CONF_NKEYS; k++) {
		char msg[128];
		int r = set_value(&keys[k], keys[k].def, ret, msg, sizeof msg);
		if (r < 0) { /* a bug in the table: fail loudly, at once */
			fprintf(stderr, "godaemon: built-in default of %s.%s: %s\n", keys[k].section,
			        keys[k].name, msg);
			abort();
		}
	}
}

/* ======================================================================
 * Loading
 * ====================================================================== */

enum { MAX_ERRORS = 32, ERROR_TEXT = 192 };

struct load {
	FILE *f;
	const char *name;  /* file name for messages */
	gd_config *c;      /* being filled */
	uint32_t lineno;   /* lines read so far: the line being parsed */
	int nerr;          /* errors found (may exceed MAX_ERRORS) */
	struct {
		uint32_t line;
		char text[ERROR_TEXT];
	} errs[MAX_ERRORS];
};

static void add_error(struct load *L, uint32_t line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void add_error(struct load *L, uint32_t line, const char *fmt, ...)
{
	if (L->nerr < MAX_ERRORS) {
		va_list ap;
		L->errs[L->nerr].line = line;
		va_start(ap, fmt);
		vsnprintf(L->errs[L->nerr].text, ERROR_TEXT, fmt, ap);
		va_end(ap);
	}
	L->nerr++;
}

static bool has_error_at(const struct load *L, uint32_t line)
{
	for (int i = 0; i < L->nerr && i < MAX_ERRORS; i++)
		if (L->errs[i].line == line)
			return true;
	return false;
}

/* Checks the shape of one line (after its leading blanks): libinih applies
 * the same rules but reports only the first error of a file, by number. */
static void check_line(struct load *L, const char *line)
{
	if (!*line || strchr(";#\r\n", line[0]))
		return;
	if (line[0] != '[') {
		if (!strpbrk(line, "=:"))
			add_error(L, L->lineno, "syntax error: expected key = value");
		return;
	}
	const char *end = strchr(line, ']');
	if (!end) {
		add_error(L, L->lineno, "syntax error: no ']' after the section name");
		return;
	}
	char name[64];
	size_t n = (size_t)(end - line - 1);
	snprintf(name, sizeof name, "%.*s", (int)(n < sizeof name ? n : sizeof name - 1), line + 1);
	if (!known_section(name))
		add_error(L, L->lineno, "unknown section [%s] (known: daemon, limits, jobs, log)", name);
}

/* True if the line in str (num - 1 bytes, no newline) went on: then the
 * rest of it is skipped. */
static bool line_too_long(FILE *f)
{
	int ch = fgetc(f);
	if (ch == EOF || ch == '\n')
		return false;
	while ((ch = fgetc(f)) != EOF && ch != '\n')
		;
	return true;
}

/* The reader given to libinih: one line at a time, as described above. */
static char *read_line(char *str, int num, void *stream)
{
	struct load *L = stream;
	if (!fgets(str, num, L->f))
		return NULL;
	L->lineno++;
	size_t n = strlen(str);
	if (n == (size_t)num - 1 && str[n - 1] != '\n' && line_too_long(L->f)) {
		add_error(L, L->lineno, "line longer than %d characters", num - 1);
		strcpy(str, "\n");
		return str;
	}
	size_t blanks = strspn(str, " \t");
	memmove(str, str + blanks, n - blanks + 1);
	check_line(L, str);
	return str;
}

static int on_key(void *user, const char *section, const char *name, const char *value)
{
	struct load *L = user;
	if (!*section) {
		add_error(L, L->lineno, "%s: key outside any section", name);
		return 0;
	}
	if (!known_section(section))
		return 1; /* reported at the header */
	int k = gd_conf_key_lookup(section, name);
	if (k < 0) {
		add_error(L, L->lineno, "[%s] unknown key '%s'", section, name);
		return 0;
	}
	if (L->c->line[k]) {
		add_error(L, L->lineno, "[%s] %s set twice (first at line %u)", section, name,
		          L->c->line[k]);
		return 0;
	}
	char msg[128];
	if (set_value(&keys[k], value, L->c, msg, sizeof msg) < 0) {
		add_error(L, L->lineno, "[%s] %s = %s: %s", section, name, value, msg);
		return 0;
	}
	L->c->line[k] = L->lineno;
	return 1;
}

/* Rules between keys, checked once the whole file is read. */
static void check_relations(struct load *L)
{
	const gd_config *c = L->c;
	if (c->max_queued_per_uid > c->max_queued) {
		uint32_t line = c->line[GD_CK_MAX_QUEUED_PER_UID] ? c->line[GD_CK_MAX_QUEUED_PER_UID]
		                                                   : c->line[GD_CK_MAX_QUEUED];
		add_error(L, line, "[jobs] max_queued_per_uid (%u) is larger than max_queued (%u)",
		          c->max_queued_per_uid, c->max_queued);
	}
}

static int cmp_error(const void *a, const void *b)
{
	uint32_t la = *(const uint32_t *)a, lb = *(const uint32_t *)b;
	return la < lb ? -1 : la > lb;
}

/* Writes the collected errors, sorted by line, into err; "..." ends a
 * report that was cut. */
static void report(struct load *L, gd_conf_error *err)
{
	int n = L->nerr < MAX_ERRORS ? L->nerr : MAX_ERRORS;
	qsort(L->errs, (size_t)n, sizeof L->errs[0], cmp_error);
	size_t used = 0, cap = sizeof err->text - 4; /* room for "\n..." */
	err->count = L->nerr;
	err->text[0] = '\0';
	int i;
	for (i = 0; i < n; i++) {
		int w = snprintf(err->text + used, cap - used, "%s%s:%u: %s", i ? "\n" : "", L->name,
		                 L->errs[i].line, L->errs[i].text);
		if (w < 0 || (size_t)w >= cap - used)
			break;
		used += (size_t)w;
	}
	if (i < L->nerr)
		strcpy(err->text + used, "\n...");
}

int gd_conf_load_stream(FILE *f, const char *name, gd_config *ret, gd_conf_error *err)
{
	struct load *L = calloc(1, sizeof *L);
	gd_config *c = malloc(sizeof *c);
	int r = -ENOMEM;
	if (!L || !c)
		goto out;
	gd_conf_defaults(c);
	*L = (struct load){.f = f, .name = name, .c = c};
	int line = ini_parse_stream(read_line, L, on_key, L);
	if (line == -2)
		goto out;
	if (line > 0 && !has_error_at(L, (uint32_t)line))
		add_error(L, (uint32_t)line, "syntax error: expected [section], key = value or a comment");
	if (ferror(f))
		add_error(L, L->lineno + 1, "read error: %s", strerror(errno));
	if (L->nerr == 0)
		check_relations(L);
	r = ferror(f) ? -EIO : L->nerr ? -EINVAL : 0;
	if (r == 0)
		*ret = *c;
	else
		report(L, err);
out:
	if (r == -ENOMEM)
		*err = (gd_conf_error){.count = 1, .text = "out of memory reading the configuration"};
	free(L);
	free(c);
	return r;
}

int gd_conf_load(const char *path, gd_config *ret, gd_conf_error *err)
{
	FILE *f = fopen(path, "re");
	if (!f) {
		int e = errno;
		err->count = 1;
		snprintf(err->text, sizeof err->text, "%s: %s", path, strerror(e));
		return -e;
	}
	int r = gd_conf_load_stream(f, path, ret, err);
	fclose(f);
	return r;
}

/* ======================================================================
 * Printing
 * ====================================================================== */

/* Writes text as "# " comment lines of at most ~78 columns. */
static void print_comment(FILE *out, const char *text)
{
	while (*text) {
		size_t n = strlen(text);
		if (n > 76) {
			n = 76;
			while (n > 0 && text[n] != ' ')
				n--;
			if (n == 0)
				n = strcspn(text, " ");
		}
		fprintf(out, "# %.*s\n", (int)n, text);
		text += n;
		text += strspn(text, " ");
	}
}

void gd_conf_print(const gd_config *c, FILE *out)
{
	const char *section = "";
	fprintf(out, "# %s %s configuration\n", PACKAGE_NAME, PACKAGE_VERSION);
	for (int k = 0; k < GD_CONF_NKEYS; k++) {
		char value[GD_CONF_PATH_MAX + 32];
		if (strcmp(section, keys[k].section) != 0) {
			section = keys[k].section;
			fprintf(out, "\n[%s]\n", section);
		} else {
			fputc('\n', out);
		}
		print_comment(out, keys[k].doc);
		format_value(&keys[k], c, value, sizeof value);
		fprintf(out, "%s = %s\n", keys[k].name, value);
	}
}
