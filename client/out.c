/* out.c — goctl's output (see out.h): JSON from MessagePack values, packed
 * documents, and aligned key/value tables.
 *
 * Invariants: every JSON text written is valid JSON (RFC 8259) whatever the
 * daemon sent — escaping is done byte by byte with a UTF-8 validator; a
 * table keeps its rows until printed so the value column can be aligned to
 * the longest key.  No global state, no locking.
 */
#include "config.h"

#include "out.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* ---- JSON ------------------------------------------------------------------ */

/* Length of the valid UTF-8 sequence at s[0..len), or 0 if it is invalid
 * (overlong forms, surrogates and code points above U+10FFFF included). */
static size_t utf8_len(const unsigned char *s, size_t len)
{
	unsigned c = s[0];
	size_t n = c < 0x80 ? 1 : c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3
	         : c >= 0xf0 && c <= 0xf4                ? 4 : 0;
	if (n == 0 || n > len)
		return 0;
	for (size_t i = 1; i < n; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	if ((c == 0xe0 && s[1] < 0xa0) || (c == 0xed && s[1] > 0x9f) ||
	    (c == 0xf0 && s[1] < 0x90) || (c == 0xf4 && s[1] > 0x8f))
		return 0;
	return n;
}

static void json_string(FILE *f, const char *str, size_t len)
{
	const unsigned char *s = (const unsigned char *)str;
	fputc('"', f);
	for (size_t i = 0; i < len;) {
		unsigned c = s[i];
		size_t n = utf8_len(s + i, len - i);
		if (n == 0) {
			fputs("\\ufffd", f);
			i++;
			continue;
		}
		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c == '\n')
			fputs("\\n", f);
		else if (c == '\t')
			fputs("\\t", f);
		else if (c == '\r')
			fputs("\\r", f);
		else if (c < 0x20)
			fprintf(f, "\\u%04x", c);
		else
			fwrite(s + i, 1, n, f);
		i += n;
	}
	fputc('"', f);
}

static void json_base64(FILE *f, const unsigned char *s, size_t len)
{
	static const char tab[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	fputc('"', f);
	for (size_t i = 0; i < len; i += 3) {
		uint32_t v = (uint32_t)s[i] << 16 | (i + 1 < len ? (uint32_t)s[i + 1] << 8 : 0) |
		             (i + 2 < len ? s[i + 2] : 0);
		fputc(tab[v >> 18 & 63], f);
		fputc(tab[v >> 12 & 63], f);
		fputc(i + 1 < len ? tab[v >> 6 & 63] : '=', f);
		fputc(i + 2 < len ? tab[v & 63] : '=', f);
	}
	fputc('"', f);
}

/* The shortest of %.15g and %.17g that reads back as d. */
static void json_double(FILE *f, double d)
{
	if (!isfinite(d)) {
		fputs("null", f);
		return;
	}
	char buf[32];
	snprintf(buf, sizeof buf, "%.15g", d);
	if (strtod(buf, NULL) != d)
		snprintf(buf, sizeof buf, "%.17g", d);
	fputs(buf, f);
}

/* A map key: strings as they are, anything else as its JSON text. */
static void json_key(FILE *f, const msgpack_object *k)
{
	if (k->type == MSGPACK_OBJECT_STR) {
		json_string(f, k->via.str.ptr, k->via.str.size);
		return;
	}
	char *text = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&text, &len);
	if (m) {
		gc_json_write(m, k);
		fclose(m);
	}
	json_string(f, text ? text : "", text ? len : 0);
	free(text);
}

void gc_json_write(FILE *f, const msgpack_object *o)
{
	switch (o->type) {
	case MSGPACK_OBJECT_NIL: fputs("null", f); break;
	case MSGPACK_OBJECT_BOOLEAN: fputs(o->via.boolean ? "true" : "false", f); break;
	case MSGPACK_OBJECT_POSITIVE_INTEGER: fprintf(f, "%" PRIu64, o->via.u64); break;
	case MSGPACK_OBJECT_NEGATIVE_INTEGER: fprintf(f, "%" PRId64, o->via.i64); break;
	case MSGPACK_OBJECT_FLOAT32:
	case MSGPACK_OBJECT_FLOAT64: json_double(f, o->via.f64); break;
	case MSGPACK_OBJECT_STR: json_string(f, o->via.str.ptr, o->via.str.size); break;
	case MSGPACK_OBJECT_BIN:
		json_base64(f, (const unsigned char *)o->via.bin.ptr, o->via.bin.size);
		break;
	case MSGPACK_OBJECT_EXT:
		json_base64(f, (const unsigned char *)o->via.ext.ptr, o->via.ext.size);
		break;
	case MSGPACK_OBJECT_ARRAY:
		fputc('[', f);
		for (uint32_t i = 0; i < o->via.array.size; i++) {
			if (i)
				fputc(',', f);
			gc_json_write(f, &o->via.array.ptr[i]);
		}
		fputc(']', f);
		break;
	case MSGPACK_OBJECT_MAP:
		fputc('{', f);
		for (uint32_t i = 0; i < o->via.map.size; i++) {
			if (i)
				fputc(',', f);
			json_key(f, &o->via.map.ptr[i].key);
			fputc(':', f);
			gc_json_write(f, &o->via.map.ptr[i].val);
		}
		fputc('}', f);
		break;
	}
}

/* ---- documents ------------------------------------------------------------- */

void gc_doc_init(gc_doc *d)
{
	msgpack_sbuffer_init(&d->sb);
	msgpack_packer_init(&d->pk, &d->sb, msgpack_sbuffer_write);
}

void gc_doc_destroy(gc_doc *d)
{
	msgpack_sbuffer_destroy(&d->sb);
}

int gc_doc_print_json(gc_doc *d, FILE *f)
{
	msgpack_unpacked u;
	msgpack_unpacked_init(&u);
	size_t off = 0;
	msgpack_unpack_return r = msgpack_unpack_next(&u, d->sb.data, d->sb.size, &off);
	int ret = r == MSGPACK_UNPACK_NOMEM_ERROR ? -ENOMEM
	        : r != MSGPACK_UNPACK_SUCCESS || off != d->sb.size ? -EPROTO : 0;
	if (ret == 0) {
		gc_json_write(f, &u.data);
		fputc('\n', f);
	}
	msgpack_unpacked_destroy(&u);
	return ret;
}

int gc_pk_str(msgpack_packer *pk, const char *s)
{
	size_t len = strlen(s);
	return msgpack_pack_str(pk, len) || msgpack_pack_str_body(pk, s, len) ? -ENOMEM : 0;
}

int gc_pk_kv_str(msgpack_packer *pk, const char *key, const char *val)
{
	return gc_pk_str(pk, key) || gc_pk_str(pk, val) ? -ENOMEM : 0;
}

int gc_pk_kv_u64(msgpack_packer *pk, const char *key, uint64_t val)
{
	return gc_pk_str(pk, key) || msgpack_pack_uint64(pk, val) ? -ENOMEM : 0;
}

int gc_pk_kv_i64(msgpack_packer *pk, const char *key, int64_t val)
{
	return gc_pk_str(pk, key) || msgpack_pack_int64(pk, val) ? -ENOMEM : 0;
}

int gc_pk_kv_double(msgpack_packer *pk, const char *key, double val)
{
	return gc_pk_str(pk, key) || msgpack_pack_double(pk, val) ? -ENOMEM : 0;
}

int gc_pk_kv_object(msgpack_packer *pk, const char *key, const msgpack_object *o)
{
	return gc_pk_str(pk, key) || msgpack_pack_object(pk, *o) ? -ENOMEM : 0;
}

/* ---- text cells ------------------------------------------------------------- */

static void text_write(FILE *f, const msgpack_object *o)
{
	switch (o->type) {
	case MSGPACK_OBJECT_STR:
		fwrite(o->via.str.ptr, 1, o->via.str.size, f);
		break;
	case MSGPACK_OBJECT_ARRAY:
		for (uint32_t i = 0; i < o->via.array.size; i++) {
			if (i)
				fputc(' ', f);
			text_write(f, &o->via.array.ptr[i]);
		}
		break;
	default:
		gc_json_write(f, o);
		break;
	}
}

char *gc_object_text(const msgpack_object *o)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	if (!f)
		return NULL;
	text_write(f, o);
	if (fclose(f) != 0) {
		free(text);
		return NULL;
	}
	/* Cells are one line: control characters would break the alignment. */
	for (char *p = text; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = ' ';
	return text;
}

/* ---- tables ------------------------------------------------------------------ */

void gc_table_init(gc_table *t)
{
	*t = (gc_table){ 0 };
}

void gc_table_destroy(gc_table *t)
{
	for (size_t i = 0; i < t->len; i++) {
		free(t->rows[i].key);
		free(t->rows[i].value);
	}
	free(t->rows);
	*t = (gc_table){ 0 };
}

/* Takes ownership of key and value (value NULL for a heading). */
static void table_add(gc_table *t, int indent, char *key, char *value, bool heading)
{
	if (!key || (!heading && !value) || t->oom) {
		t->oom = 1;
		free(key);
		free(value);
		return;
	}
	if (t->len == t->cap) {
		size_t cap = t->cap ? 2 * t->cap : 16;
		gc_table_line *rows = realloc(t->rows, cap * sizeof *rows);
		if (!rows) {
			t->oom = 1;
			free(key);
			free(value);
			return;
		}
		t->rows = rows;
		t->cap = cap;
	}
	t->rows[t->len++] = (gc_table_line){ .indent = indent, .key = key, .value = value };
}

static char *vformat(const char *fmt, va_list ap)
{
	char *s;
	return vasprintf(&s, fmt, ap) < 0 ? NULL : s;
}

void gc_table_heading(gc_table *t, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	table_add(t, 0, vformat(fmt, ap), NULL, true);
	va_end(ap);
}

void gc_table_row(gc_table *t, int indent, const char *key, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	table_add(t, indent, strdup(key), vformat(fmt, ap), false);
	va_end(ap);
}

void gc_table_object(gc_table *t, int indent, const msgpack_object *o)
{
	if (o->type != MSGPACK_OBJECT_MAP)
		return;
	for (uint32_t i = 0; i < o->via.map.size; i++) {
		const msgpack_object *k = &o->via.map.ptr[i].key;
		const msgpack_object *v = &o->via.map.ptr[i].val;
		char *key = gc_object_text(k);
		if (v->type == MSGPACK_OBJECT_MAP) {
			/* A sub-map: a heading (or an empty-valued row when nested). */
			table_add(t, indent, key, indent ? strdup("") : NULL, indent == 0);
			gc_table_object(t, indent + 2, v);
		} else {
			table_add(t, indent, key, gc_object_text(v), false);
		}
	}
}

int gc_table_print(const gc_table *t, FILE *f)
{
	if (t->oom)
		return -ENOMEM;
	size_t width = 0;
	for (size_t i = 0; i < t->len; i++)
		if (t->rows[i].value && t->rows[i].indent + strlen(t->rows[i].key) > width)
			width = t->rows[i].indent + strlen(t->rows[i].key);
	for (size_t i = 0; i < t->len; i++) {
		const gc_table_line *r = &t->rows[i];
		if (!r->value) {
			fprintf(f, "%s\n", r->key);
			continue;
		}
		int pad = (int)(width - r->indent - strlen(r->key)) + 2;
		if (r->value[0])
			fprintf(f, "%*s%s%*s%s\n", r->indent, "", r->key, pad, "", r->value);
		else
			fprintf(f, "%*s%s\n", r->indent, "", r->key);
	}
	return 0;
}
