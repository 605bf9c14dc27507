/* test_goctl_out.c — goctl's output formatting (client/out.c): JSON written
 * from any MessagePack value is valid and exact (escapes, invalid UTF-8
 * replaced, bin as base64, NaN as null, non-string keys as text), a packed
 * document prints only when it holds exactly one value, tables align their
 * value column and flatten nested maps. */
#include "config.h"
#include "harness.h"
#include "out.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* gc_json_write's output for o, as a malloc'ed string. */
static char *capture_json(const msgpack_object *o)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	ck_assert_ptr_nonnull(f);
	gc_json_write(f, o);
	ck_assert_int_eq(fclose(f), 0);
	return text;
}

/* Packs with fill, then checks the JSON of the value is want. */
static void expect_json(int (*fill)(msgpack_packer *pk, const void *arg), const void *arg,
                        const char *want)
{
	gc_doc d;
	gc_doc_init(&d);
	ck_assert_int_eq(fill(&d.pk, arg), 0);
	msgpack_unpacked u;
	msgpack_unpacked_init(&u);
	ck_assert_int_eq(msgpack_unpack_next(&u, d.sb.data, d.sb.size, NULL), MSGPACK_UNPACK_SUCCESS);
	char *got = capture_json(&u.data);
	ck_assert_str_eq(got, want);
	free(got);
	msgpack_unpacked_destroy(&u);
	gc_doc_destroy(&d);
}

static int fill_str(msgpack_packer *pk, const void *arg)
{
	const char *s = arg;
	return msgpack_pack_str(pk, strlen(s)) | msgpack_pack_str_body(pk, s, strlen(s));
}

static int fill_bin(msgpack_packer *pk, const void *arg)
{
	const char *s = arg;
	return msgpack_pack_bin(pk, strlen(s)) | msgpack_pack_bin_body(pk, s, strlen(s));
}

START_TEST(json_escapes_quotes_backslashes_and_control_characters)
{
	expect_json(fill_str, "a\"b\\c\nd\te\rf\x01g\x1f\x7f", "\"a\\\"b\\\\c\\nd\\te\\rf\\u0001g\\u001f\x7f\"");
	expect_json(fill_str, "", "\"\"");
}
END_TEST

START_TEST(json_replaces_each_invalid_utf8_byte_and_keeps_valid_sequences)
{
	/* valid: 2-, 3- and 4-byte sequences */
	expect_json(fill_str, "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", "\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"");
	/* a stray continuation byte, a truncated sequence, an overlong form, a
	 * UTF-16 surrogate, a code point above U+10FFFF */
	expect_json(fill_str, "\x80", "\"\\ufffd\"");
	expect_json(fill_str, "\xe2\x82x", "\"\\ufffd\\ufffdx\"");
	expect_json(fill_str, "\xc0\xaf", "\"\\ufffd\\ufffd\"");
	expect_json(fill_str, "\xed\xa0\x80", "\"\\ufffd\\ufffd\\ufffd\"");
	expect_json(fill_str, "\xf4\x90\x80\x80", "\"\\ufffd\\ufffd\\ufffd\\ufffd\"");
	expect_json(fill_str, "\xe2\x82", "\"\\ufffd\\ufffd\"");
}
END_TEST

START_TEST(json_writes_bin_as_base64)
{
	expect_json(fill_bin, "", "\"\"");
	expect_json(fill_bin, "f", "\"Zg==\"");
	expect_json(fill_bin, "fo", "\"Zm8=\"");
	expect_json(fill_bin, "foo", "\"Zm9v\"");
	expect_json(fill_bin, "foobar", "\"Zm9vYmFy\"");
}
END_TEST

static int fill_scalars(msgpack_packer *pk, const void *arg)
{
	return msgpack_pack_array(pk, 9) | msgpack_pack_nil(pk) | msgpack_pack_true(pk) |
	       msgpack_pack_false(pk) | msgpack_pack_uint64(pk, UINT64_MAX) |
	       msgpack_pack_int64(pk, INT64_MIN) | msgpack_pack_double(pk, 0.5) |
	       msgpack_pack_double(pk, NAN) | msgpack_pack_double(pk, -INFINITY) |
	       msgpack_pack_array(pk, 0);
}

START_TEST(json_writes_scalars_and_nan_and_infinity_as_null)
{
	expect_json(fill_scalars, NULL,
	            "[null,true,false,18446744073709551615,-9223372036854775808,0.5,null,null,[]]");
}
END_TEST

static int fill_keys(msgpack_packer *pk, const void *arg)
{
	return msgpack_pack_map(pk, 4) | fill_str(pk, "s") | msgpack_pack_int(pk, 1) |
	       msgpack_pack_int(pk, 7) | fill_str(pk, "seven") | msgpack_pack_nil(pk) |
	       msgpack_pack_map(pk, 0) | msgpack_pack_array(pk, 1) | fill_str(pk, "k\"") |
	       msgpack_pack_true(pk);
}

START_TEST(json_writes_non_string_map_keys_as_their_json_text)
{
	expect_json(fill_keys, NULL, "{\"s\":1,\"7\":\"seven\",\"null\":{},\"[\\\"k\\\\\\\"\\\"]\":true}");
}
END_TEST

START_TEST(doc_prints_exactly_one_value)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	gc_doc d;
	gc_doc_init(&d);
	ck_assert_int_eq(gc_doc_print_json(&d, f), -EPROTO); /* nothing packed */
	ck_assert_int_eq(msgpack_pack_map(&d.pk, 1) | gc_pk_kv_u64(&d.pk, "n", 3), 0);
	ck_assert_int_eq(gc_doc_print_json(&d, f), 0);
	ck_assert_int_eq(msgpack_pack_nil(&d.pk), 0); /* a second value */
	ck_assert_int_eq(gc_doc_print_json(&d, f), -EPROTO);
	gc_doc_destroy(&d);
	gc_doc_init(&d);
	ck_assert_int_eq(msgpack_pack_map(&d.pk, 2), 0); /* incomplete */
	ck_assert_int_eq(gc_doc_print_json(&d, f), -EPROTO);
	gc_doc_destroy(&d);
	fclose(f);
	ck_assert_str_eq(text, "{\"n\":3}\n");
	free(text);
}
END_TEST

static char *print_table(const gc_table *t)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	ck_assert_int_eq(gc_table_print(t, f), 0);
	fclose(f);
	return text;
}

START_TEST(table_aligns_the_value_column_to_the_longest_key)
{
	gc_table t;
	gc_table_init(&t);
	gc_table_heading(&t, "section");
	gc_table_row(&t, 2, "a", "%d", 1);
	gc_table_row(&t, 2, "longer_key", "%s", "x");
	gc_table_row(&t, 0, "top", "%s", "y z");
	char *text = print_table(&t);
	ck_assert_str_eq(text, "section\n"
	                       "  a           1\n"
	                       "  longer_key  x\n"
	                       "top           y z\n");
	free(text);
	gc_table_destroy(&t);
}
END_TEST

static int fill_stats(msgpack_packer *pk, const void *arg)
{
	return msgpack_pack_map(pk, 2) | fill_str(pk, "runtime") | msgpack_pack_map(pk, 2) |
	       fill_str(pk, "procs") | msgpack_pack_int(pk, 2) | fill_str(pk, "runq_len") |
	       msgpack_pack_array(pk, 2) | msgpack_pack_int(pk, 0) | msgpack_pack_int(pk, 5) |
	       fill_str(pk, "daemon") | msgpack_pack_map(pk, 2) | fill_str(pk, "name") |
	       fill_str(pk, "a\nb\x1b[31m") | fill_str(pk, "sub") | msgpack_pack_map(pk, 1) |
	       fill_str(pk, "k") | msgpack_pack_true(pk);
}

START_TEST(table_object_makes_headings_of_maps_and_one_line_cells)
{
	gc_doc d;
	gc_doc_init(&d);
	ck_assert_int_eq(fill_stats(&d.pk, NULL), 0);
	msgpack_unpacked u;
	msgpack_unpacked_init(&u);
	ck_assert_int_eq(msgpack_unpack_next(&u, d.sb.data, d.sb.size, NULL), MSGPACK_UNPACK_SUCCESS);
	gc_table t;
	gc_table_init(&t);
	gc_table_object(&t, 0, &u.data);
	char *text = print_table(&t);
	ck_assert_str_eq(text, "runtime\n"
	                       "  procs     2\n"
	                       "  runq_len  0 5\n"
	                       "daemon\n"
	                       "  name      a b [31m\n"
	                       "  sub\n"
	                       "    k       true\n");
	free(text);
	gc_table_destroy(&t);
	msgpack_unpacked_destroy(&u);
	gc_doc_destroy(&d);
}
END_TEST

Suite *gt_suite(void)
{
	Suite *s = suite_create("goctl_out");
	TCase *tc = gt_tcase("json", 10);
	tcase_add_test(tc, json_escapes_quotes_backslashes_and_control_characters);
	tcase_add_test(tc, json_replaces_each_invalid_utf8_byte_and_keeps_valid_sequences);
	tcase_add_test(tc, json_writes_bin_as_base64);
	tcase_add_test(tc, json_writes_scalars_and_nan_and_infinity_as_null);
	tcase_add_test(tc, json_writes_non_string_map_keys_as_their_json_text);
	tcase_add_test(tc, doc_prints_exactly_one_value);
	suite_add_tcase(s, tc);
	tc = gt_tcase("table", 10);
	tcase_add_test(tc, table_aligns_the_value_column_to_the_longest_key);
	tcase_add_test(tc, table_object_makes_headings_of_maps_and_one_line_cells);
	suite_add_tcase(s, tc);
	return s;
}
