/* out.h — goctl's output: MessagePack values written as JSON (for --json),
 * documents built with a msgpack packer and printed as JSON, and aligned
 * key/value tables for people.
 *
 * JSON output is always valid: strings are escaped, invalid UTF-8 becomes
 * U+FFFD, bin values become base64 strings, map keys that are not strings
 * are written as the JSON text of the key, NaN and infinities become null.
 * No global state.
 */
#ifndef GC_OUT_H
#define GC_OUT_H

#include <msgpack.h>
#include <stdint.h>
#include <stdio.h>

/* Writes o as compact JSON (no newline). */
void gc_json_write(FILE *f, const msgpack_object *o);

/* A document built with msgpack (one value) and then printed. */
typedef struct gc_doc {
	msgpack_sbuffer sb; /* the packed value */
	msgpack_packer pk;  /* packs into sb */
} gc_doc;

void gc_doc_init(gc_doc *d);
void gc_doc_destroy(gc_doc *d);
/* Prints the packed value as JSON and a newline: 0, or -ENOMEM / -EPROTO
 * when the packing failed or packed more or less than one value. */
int gc_doc_print_json(gc_doc *d, FILE *f);

/* Packing helpers: return 0 or -ENOMEM. */
int gc_pk_str(msgpack_packer *pk, const char *s);
int gc_pk_kv_str(msgpack_packer *pk, const char *key, const char *val);
int gc_pk_kv_u64(msgpack_packer *pk, const char *key, uint64_t val);
int gc_pk_kv_i64(msgpack_packer *pk, const char *key, int64_t val);
int gc_pk_kv_double(msgpack_packer *pk, const char *key, double val);
/* key, then o as it is. */
int gc_pk_kv_object(msgpack_packer *pk, const char *key, const msgpack_object *o);

/* An aligned two-column table: rows of "KEY  VALUE", headings flush left,
 * keys indented under them, values aligned in one column. */
typedef struct gc_table_line {
	int indent;   /* spaces before the key */
	char *key;    /* heading when value is NULL */
	char *value;
} gc_table_line;

typedef struct gc_table {
	gc_table_line *rows;
	size_t len, cap;
	int oom;      /* an allocation failed: printing reports -ENOMEM */
} gc_table;

void gc_table_init(gc_table *t);
void gc_table_destroy(gc_table *t);
void gc_table_heading(gc_table *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void gc_table_row(gc_table *t, int indent, const char *key, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* A row per key of map o (nested maps become headings with their keys
 * indented; arrays are written space-separated on one row). */
void gc_table_object(gc_table *t, int indent, const msgpack_object *o);
/* 0 or -ENOMEM. */
int gc_table_print(const gc_table *t, FILE *f);

/* o as text for a table cell (strings bare, arrays space-separated);
 * returns a malloc'ed string or NULL. */
char *gc_object_text(const msgpack_object *o);

#endif
