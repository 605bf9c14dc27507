/* test_jobfile.c — goctl's job files (client/jobfile.c): a "pipeline" file
 * gives its text and options; a "spec" file becomes the MessagePack wire
 * form that the daemon's decoder reads as the same spec as the human form
 * (docs/pipelines.md's examples), every JSON value kind kept as it is and
 * nothing validated locally; a table of bad files, each refused with the
 * key (or line and column) named; reading files and standard input, the
 * size limit; every allocation failure, inside jansson too, reported as
 * -ENOMEM without a leak (fault injection, tests/faults.c, through -Wl,--wrap=malloc; jansson
 * allocates through jobfile.c's hook, so its allocations fail too). */
#include "config.h"
#include "harness.h"
#include "jobfile.h"
#include "pipespec.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- helpers ---------------------------------------------------------------- */

static char msg[1024];

static int parse(const char *text, gc_jobfile *jf)
{
	msg[0] = '\0';
	return gc_jobfile_parse("job.json", text, strlen(text), jf, msg, sizeof msg);
}

/* The wire form of jf unpacked, in *zone (msgpack_zone_destroy after). */
static msgpack_object unpack(const gc_jobfile *jf, msgpack_zone *zone)
{
	msgpack_object o;
	size_t off = 0;
	msgpack_zone_init(zone, 1024);
	ck_assert_ptr_nonnull(jf->wire);
	ck_assert_int_eq(msgpack_unpack(jf->wire, jf->wire_len, &off, zone, &o), MSGPACK_UNPACK_SUCCESS);
	ck_assert_uint_eq(off, jf->wire_len);
	return o;
}

/* The spec the daemon's decoder makes of jf's wire form (must succeed). */
static gd_pipe_spec *decode(const gc_jobfile *jf)
{
	msgpack_zone zone;
	msgpack_object o = unpack(jf, &zone);
	gd_pipe_spec *s = NULL;
	gd_pipe_error err;
	int r = gd_pipe_decode(&o, &s, &err);
	msgpack_zone_destroy(&zone);
	ck_assert_msg(r == 0, "decode: %d %s", r, err.message);
	return s;
}

static gd_pipe_spec *parse_human(const char *text)
{
	gd_pipe_spec *s = NULL;
	gd_pipe_error err;
	ck_assert_msg(gd_pipe_parse(text, strlen(text), &s, &err) == 0, "parse: %s", err.message);
	return s;
}

/* ---- good files --------------------------------------------------------------- */

START_TEST(pipeline_file_gives_its_text_and_options)
{
	gc_jobfile jf;
	ck_assert_int_eq(parse("{\"pipeline\": \"seq 1 3 | count\", \"timeout\": \"10s\",\n"
	                       " \"fail_fast\": true, \"queue_capacity\": 8}", &jf), 0);
	ck_assert_str_eq(jf.pipeline, "seq 1 3 | count");
	ck_assert_ptr_null(jf.wire);
	ck_assert_int_eq(jf.timeout_ms, 10000);
	ck_assert_int_eq(jf.fail_fast, 1);
	ck_assert_uint_eq(jf.queue_capacity, 8);
	gc_jobfile_free(&jf);
	ck_assert_ptr_null(jf.pipeline);
	ck_assert_int_eq(parse("{\"timeout\": 1500, \"fail_fast\": false, \"pipeline\": \"x\"}", &jf), 0);
	ck_assert_int_eq(jf.timeout_ms, 1500);
	ck_assert_int_eq(jf.fail_fast, 0);
	gc_jobfile_free(&jf);
}
END_TEST

START_TEST(absent_options_read_as_absent)
{
	gc_jobfile jf;
	ck_assert_int_eq(parse("{\"pipeline\": \"\"}", &jf), 0);
	ck_assert_str_eq(jf.pipeline, ""); /* the pipeline parser refuses it, not this module */
	ck_assert_int_eq(jf.timeout_ms, -1);
	ck_assert_int_eq(jf.fail_fast, -1);
	ck_assert_uint_eq(jf.queue_capacity, 0);
	gc_jobfile_free(&jf);
	gc_jobfile_free(&jf); /* an emptied one may be freed again */
}
END_TEST

/* docs/pipelines.md section 4's two examples, as job files. */
static const char tee_spec[] =
	"{\"spec\": [\n"
	"  {\"stage\": \"lines\", \"args\": [\"access.log\"], \"pos\": 0},\n"
	"  {\"stage\": \"tee\", \"args\": [], \"pos\": 19, \"branches\": [\n"
	"    [{\"stage\": \"filter\", \"args\": [\" 5[0-9][0-9] \"], \"pos\": 25},\n"
	"     {\"stage\": \"file\", \"args\": [\"errors.log\"], \"pos\": 50}],\n"
	"    [{\"stage\": \"count\", \"args\": [], \"pos\": 70}]]}\n"
	"]}\n";
static const char tee_human[] =
	"lines access.log | tee { filter \" 5[0-9][0-9] \" | file errors.log } { count }";
static const char bridge_spec[] =
	"{\"spec\": [{\"stage\": \"glob\", \"args\": [\"*.txt\"], \"pos\": 0},\n"
	" {\"stage\": \"bridge\", \"args\": [], \"pos\": 15, \"inner\": {\"stage\": \"lines\", "
	"\"args\": [], \"pos\": 22}},\n"
	" {\"stage\": \"client\", \"args\": [], \"pos\": 27}]}";

START_TEST(spec_becomes_the_wire_form_of_the_same_pipeline)
{
	const char *files[] = { tee_spec, bridge_spec };
	const char *human[] = { tee_human, "glob '*.txt' | bridge lines" };
	for (int i = 0; i < 2; i++) {
		gc_jobfile jf;
		ck_assert_int_eq(parse(files[i], &jf), 0);
		ck_assert_ptr_null(jf.pipeline);
		gd_pipe_spec *a = decode(&jf), *b = parse_human(human[i]);
		ck_assert_msg(gd_pipe_equal(a, b), "example %d differs from %s", i, human[i]);
		gd_pipe_free(a);
		gd_pipe_free(b);
		gc_jobfile_free(&jf);
	}
}
END_TEST

START_TEST(spec_keeps_every_json_value_kind)
{
	gc_jobfile jf;
	ck_assert_int_eq(parse("{\"spec\": [{\"i\": -5, \"u\": 9223372036854775807, \"f\": 1.5,\n"
	                       "\"n\": null, \"t\": true, \"F\": false, \"s\": \"\\u00e9\\n\\ud83d\\ude00\",\n"
	                       "\"a\": [], \"m\": {}}]}", &jf), 0);
	msgpack_zone zone;
	msgpack_object o = unpack(&jf, &zone);
	ck_assert_int_eq(o.type, MSGPACK_OBJECT_ARRAY);
	ck_assert_uint_eq(o.via.array.size, 1);
	const msgpack_object *m = &o.via.array.ptr[0];
	ck_assert_int_eq(m->type, MSGPACK_OBJECT_MAP);
	ck_assert_uint_eq(m->via.map.size, 9);
	const char *keys = "iufntFsam"; /* in file order */
	const msgpack_object_kv *kv = m->via.map.ptr;
	for (int i = 0; i < 9; i++) {
		ck_assert_int_eq(kv[i].key.type, MSGPACK_OBJECT_STR);
		ck_assert_uint_eq(kv[i].key.via.str.size, 1);
		ck_assert_int_eq(kv[i].key.via.str.ptr[0], keys[i]);
	}
	ck_assert_int_eq(kv[0].val.type, MSGPACK_OBJECT_NEGATIVE_INTEGER);
	ck_assert_int_eq(kv[0].val.via.i64, -5);
	ck_assert_int_eq(kv[1].val.type, MSGPACK_OBJECT_POSITIVE_INTEGER);
	ck_assert_uint_eq(kv[1].val.via.u64, INT64_MAX);
	ck_assert_int_eq(kv[2].val.type, MSGPACK_OBJECT_FLOAT64);
	ck_assert(kv[2].val.via.f64 == 1.5);
	ck_assert_int_eq(kv[3].val.type, MSGPACK_OBJECT_NIL);
	ck_assert_int_eq(kv[4].val.type, MSGPACK_OBJECT_BOOLEAN);
	ck_assert(kv[4].val.via.boolean);
	ck_assert_int_eq(kv[5].val.type, MSGPACK_OBJECT_BOOLEAN);
	ck_assert(!kv[5].val.via.boolean);
	ck_assert_int_eq(kv[6].val.type, MSGPACK_OBJECT_STR);
	ck_assert_uint_eq(kv[6].val.via.str.size, 7); /* é, \n and U+1F600 in UTF-8 */
	ck_assert(memcmp(kv[6].val.via.str.ptr, "\xc3\xa9\n\xf0\x9f\x98\x80", 7) == 0);
	ck_assert_int_eq(kv[7].val.type, MSGPACK_OBJECT_ARRAY);
	ck_assert_uint_eq(kv[7].val.via.array.size, 0);
	ck_assert_int_eq(kv[8].val.type, MSGPACK_OBJECT_MAP);
	ck_assert_uint_eq(kv[8].val.via.map.size, 0);
	msgpack_zone_destroy(&zone);
	gc_jobfile_free(&jf);
}
END_TEST

/* A bad spec is the daemon's to refuse: goctl sends it as it is. */
START_TEST(spec_is_not_validated_locally)
{
	const char *bad[][2] = {
		{ "{\"spec\": [{\"stage\": \"seq\", \"args\": [\"1\", \"5\"]},"
		  " {\"stage\": \"frob\", \"args\": []}]}", "stage 2: unknown stage \"frob\"" },
		{ "{\"spec\": [{\"stage\": \"seq\", \"args\": [\"1\", \"5\"]},"
		  " {\"stage\": \"take\", \"args\": [\"-1\"]}]}", "stage 2 (take)" },
		{ "{\"spec\": [{\"stage\": \"seq\", \"args\": [1, 5]}]}", "argument 1 is not a string" },
		{ "{\"spec\": []}", "empty pipeline" },
		{ "{\"spec\": [42]}", "a stage must be a map" },
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		gc_jobfile jf;
		ck_assert_msg(parse(bad[i][0], &jf) == 0, "%s: %s", bad[i][0], msg);
		msgpack_zone zone;
		msgpack_object o = unpack(&jf, &zone);
		gd_pipe_spec *s = NULL;
		gd_pipe_error err;
		ck_assert_int_eq(gd_pipe_decode(&o, &s, &err), -EINVAL);
		ck_assert_msg(strstr(err.message, bad[i][1]), "%s: got %s", bad[i][0], err.message);
		msgpack_zone_destroy(&zone);
		gc_jobfile_free(&jf);
	}
}
END_TEST

/* ---- bad files -------------------------------------------------------------------- */

static const struct bad_file {
	const char *text;
	const char *want; /* a part of the message */
} bad_files[] = {
	{ "{\n  \"pipeline\": \"seq 1 2 | count\"\n  \"timeout\": 5\n}",
	  "job.json:3:11: '}' expected near '\"timeout\"'" },
	{ "{\"pipeline\": \"x\",}", "job.json:1:18: string or '}' expected" },
	{ "", "job.json:1:0: '[' or '{' expected near end of file" },
	{ "{\"pipeline\": \"x\"} {}", "job.json:1:19: end of file expected" },
	{ "{\"pipeline\": \"x\", \"pipeline\": \"y\"}", "job.json:1:28: duplicate object key" },
	{ "{\"pipeline\": \"\xff\"}", "job.json:1:14: unable to decode byte 0xff" },
	{ "{\"pipeline\": 'x'}", "job.json:1:14: invalid token" },
	{ "{\"pipeline\": \"x\", \"pipline\": 1}",
	  "job.json: unknown key \"pipline\" (known: pipeline, spec, timeout, fail_fast, "
	  "queue_capacity)" },
	{ "{\"a\\nb\": 1}", "job.json: unknown key \"a\\x0ab\"" },
	{ "{\"pipeline\": \"x\", \"spec\": []}",
	  "job.json: both \"pipeline\" and \"spec\": give the job in one form only" },
	{ "{}", "job.json: no job: give \"pipeline\" (the human form) or \"spec\" (the wire form)" },
	{ "{\"timeout\": \"1s\"}", "job.json: no job" },
	{ "[{\"stage\": \"seq\"}]", "job.json: a job file holds one JSON object ({...}), not an array" },
	{ "{\"pipeline\": [\"seq\"]}", "job.json: \"pipeline\" must be a string (the human form), "
	                              "not an array" },
	{ "{\"spec\": \"seq 1 2\"}", "job.json: \"spec\" must be an array of stage objects (the wire "
	                            "form), not a string" },
	{ "{\"spec\": {\"stage\": \"seq\"}}", "\"spec\" must be an array of stage objects (the wire "
	                                     "form), not an object" },
	{ "{\"pipeline\": \"x\", \"timeout\": true}",
	  "job.json: \"timeout\" must be a duration string (\"10s\") or whole milliseconds, not true" },
	{ "{\"pipeline\": \"x\", \"timeout\": 1.5}",
	  "\"timeout\" must be a duration string (\"10s\") or whole milliseconds, not a number with "
	  "a fraction or an exponent" },
	{ "{\"pipeline\": \"x\", \"timeout\": -1}",
	  "job.json: \"timeout\": -1 milliseconds is out of range (0 to 9223372036854)" },
	{ "{\"pipeline\": \"x\", \"timeout\": 9223372036855}", "is out of range" },
	{ "{\"pipeline\": \"x\", \"timeout\": \"5parsecs\"}",
	  "job.json: \"timeout\": invalid duration \"5parsecs\" (e.g. \"500ms\", \"10s\", \"2m\"; "
	  "\"0\": none)" },
	{ "{\"pipeline\": \"x\", \"timeout\": \"99999999999999999999s\"}",
	  "\"timeout\": out-of-range duration" },
	{ "{\"pipeline\": \"x\", \"timeout\": null}", "not null" },
	{ "{\"pipeline\": \"x\", \"fail_fast\": \"yes\"}",
	  "job.json: \"fail_fast\" must be true or false, not a string" },
	{ "{\"pipeline\": \"x\", \"fail_fast\": 1}", "\"fail_fast\" must be true or false, not an "
	                                            "integer" },
	{ "{\"pipeline\": \"x\", \"queue_capacity\": 0}",
	  "job.json: \"queue_capacity\" must be an integer from 1 to 1048576, not 0" },
	{ "{\"pipeline\": \"x\", \"queue_capacity\": 1048577}", "from 1 to 1048576, not 1048577" },
	{ "{\"pipeline\": \"x\", \"queue_capacity\": \"8\"}", "from 1 to 1048576, not a string" },
	{ "{\"pipeline\": \"seq 1 2\\u0000 | count\"}",
	  "job.json:1:36: \\u0000 in a string: job files cannot carry NUL characters (the wire form "
	  "forbids them)" },
	{ "{\"spec\": [{\"stage\": \"seq\", \"args\": [\"1\\u0000\"]}]}", "\\u0000 in a string" },
	{ "{\"pipe\\u0000line\": \"x\"}", "job.json:1:17: \\u0000 in a string" },
	{ "{\"pipeline\":\n \"x\"}\n\0", "job.json:3:1: a NUL byte: a job file is JSON text" },
	{ "{\"pipeline\": \"\xc3\xa9\0\"}", "job.json:1:16: a NUL byte" },
	{ "{\"pipeline\": \"x\", \"spec\": [99999999999999999999]}", "too big integer" },
};

START_TEST(bad_file_is_refused_naming_the_key_or_position)
{
	const struct bad_file *b = &bad_files[_i];
	/* Two table entries hold a raw NUL: their length runs to the closing brace. */
	size_t len = strlen(b->text);
	if (strstr(b->want, "a NUL byte"))
		len += 1 + strlen(b->text + len + 1);
	gc_jobfile jf = { .pipeline = (char *)"untouched" };
	msg[0] = '\0';
	int r = gc_jobfile_parse("job.json", b->text, len, &jf, msg, sizeof msg);
	ck_assert_msg(r == -EINVAL, "entry %d: %d (%s)", _i, r, msg);
	ck_assert_msg(strstr(msg, b->want), "entry %d: got '%s', want '%s'", _i, msg, b->want);
	ck_assert_str_eq(jf.pipeline, "untouched");
}
END_TEST

/* ---- files and standard input --------------------------------------------------------- */

static char *write_file(const char *name, const char *text, size_t len)
{
	char *path;
	ck_assert_int_ge(asprintf(&path, "%s/%s", gt_tmpdir(), name), 0);
	FILE *f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fwrite(text, 1, len, f), len);
	ck_assert_int_eq(fclose(f), 0);
	return path;
}

START_TEST(load_reads_a_file_and_standard_input)
{
	const char text[] = "{\"pipeline\": \"seq 1 2 | count\", \"queue_capacity\": 3}";
	char *path = write_file("job.json", text, strlen(text));
	gc_jobfile jf;
	ck_assert_int_eq(gc_jobfile_load(path, &jf, msg, sizeof msg), 0);
	ck_assert_str_eq(jf.pipeline, "seq 1 2 | count");
	ck_assert_uint_eq(jf.queue_capacity, 3);
	gc_jobfile_free(&jf);
	/* "-": standard input, named <stdin> in messages. */
	int fd = open(path, O_RDONLY);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(dup2(fd, STDIN_FILENO), STDIN_FILENO);
	close(fd);
	ck_assert_int_eq(gc_jobfile_load("-", &jf, msg, sizeof msg), 0);
	ck_assert_str_eq(jf.pipeline, "seq 1 2 | count");
	gc_jobfile_free(&jf);
	ck_assert_int_eq(gc_jobfile_load("-", &jf, msg, sizeof msg), -EINVAL); /* now at its end */
	ck_assert_str_eq(msg, "<stdin>:1:0: '[' or '{' expected near end of file");
	ck_assert_str_eq(gc_jobfile_name("-"), "<stdin>");
	ck_assert_str_eq(gc_jobfile_name("a.json"), "a.json");
	free(path);
}
END_TEST

START_TEST(load_reports_a_missing_file_or_a_directory)
{
	gc_jobfile jf;
	char *path;
	ck_assert_int_ge(asprintf(&path, "%s/none.json", gt_tmpdir()), 0);
	ck_assert_int_eq(gc_jobfile_load(path, &jf, msg, sizeof msg), -ENOENT);
	ck_assert(strstr(msg, "cannot open the job file "));
	ck_assert(strstr(msg, "none.json: No such file or directory"));
	ck_assert_int_eq(gc_jobfile_load(gt_tmpdir(), &jf, msg, sizeof msg), -EISDIR);
	ck_assert(strstr(msg, "cannot read the job file "));
	ck_assert(strstr(msg, ": Is a directory"));
	free(path);
}
END_TEST

START_TEST(load_takes_up_to_the_size_limit)
{
	/* A valid file of exactly GC_JOBFILE_MAX bytes (padded with spaces) is
	 * read; one byte more is refused before parsing. */
	const char head[] = "{\"pipeline\": \"seq 1 2 | count\"}";
	char *text = malloc(GC_JOBFILE_MAX + 1);
	ck_assert_ptr_nonnull(text);
	memset(text, ' ', GC_JOBFILE_MAX + 1);
	memcpy(text, head, strlen(head));
	char *path = write_file("big.json", text, GC_JOBFILE_MAX);
	gc_jobfile jf;
	ck_assert_int_eq(gc_jobfile_load(path, &jf, msg, sizeof msg), 0);
	gc_jobfile_free(&jf);
	free(path);
	path = write_file("bigger.json", text, GC_JOBFILE_MAX + 1);
	ck_assert_int_eq(gc_jobfile_load(path, &jf, msg, sizeof msg), -EFBIG);
	ck_assert(strstr(msg, "bigger.json: the job file is larger than 16777216 bytes"));
	free(path);
	free(text);
}
END_TEST

START_TEST(duration_in_milliseconds)
{
	static const struct {
		const char *s;
		int r;
		int64_t ms;
	} cases[] = {
		{ "0", 0, 0 },
		{ "1ms", 0, 1 },
		{ "10s", 0, 10000 },
		{ "1m 30s", 0, 90000 },
		{ "9223372036854ms", 0, 9223372036854 },
		{ "5parsecs", -EINVAL, 0 },
		{ "", -EINVAL, 0 },
		{ "-1s", -EINVAL, 0 },
		{ "9223372036855s", -ERANGE, 0 },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		int64_t ms = -7;
		int r = gc_duration_ms(cases[i].s, &ms);
		ck_assert_msg(r == cases[i].r, "%s: %d", cases[i].s, r);
		ck_assert_int_eq(ms, r == 0 ? cases[i].ms : -7);
	}
}
END_TEST

/* ---- allocation failures ---------------------------------------------------------------- */

START_TEST(every_allocation_failure_is_enomem_without_a_leak)
{
	char *path = write_file("tee.json", tee_spec, strlen(tee_spec));
	const char *pipeline = "{\"pipeline\": \"seq 1 2 | count\", \"timeout\": \"1s\"}";
	long n;
	for (int which = 0; which < 2; which++) {
		for (n = 0;; n++) {
			gc_jobfile jf = { 0 };
			gt_fail_at = n;
			int r = which == 0 ? gc_jobfile_load(path, &jf, msg, sizeof msg) : parse(pipeline, &jf);
			bool hit = gt_fail_at < 0; /* the n-th allocation was reached and failed */
			gt_fail_at = -1;
			if (!hit) {
				ck_assert_msg(r == 0, "no failure injected, yet %d (%s)", r, msg);
				gc_jobfile_free(&jf);
				break;
			}
			ck_assert_msg(r == -ENOMEM, "allocation %ld failed: %d (%s)", n, r, msg);
			ck_assert_str_eq(msg, "out of memory");
			ck_assert_ptr_null(jf.pipeline);
			ck_assert_ptr_null(jf.wire);
		}
		ck_assert_int_gt(n, 5); /* the loop did cover allocations */
	}
	free(path);
}
END_TEST

Suite *gt_suite(void)
{
	Suite *s = suite_create("jobfile");
	TCase *tc = gt_tcase("good", 10);
	tcase_add_test(tc, pipeline_file_gives_its_text_and_options);
	tcase_add_test(tc, absent_options_read_as_absent);
	tcase_add_test(tc, spec_becomes_the_wire_form_of_the_same_pipeline);
	tcase_add_test(tc, spec_keeps_every_json_value_kind);
	tcase_add_test(tc, spec_is_not_validated_locally);
	suite_add_tcase(s, tc);
	tc = gt_tcase("bad", 10);
	tcase_add_loop_test(tc, bad_file_is_refused_naming_the_key_or_position, 0,
	                    (int)(sizeof bad_files / sizeof bad_files[0]));
	suite_add_tcase(s, tc);
	tc = gt_tcase("files", 30);
	tcase_add_test(tc, load_reads_a_file_and_standard_input);
	tcase_add_test(tc, load_reports_a_missing_file_or_a_directory);
	tcase_add_test(tc, load_takes_up_to_the_size_limit);
	tcase_add_test(tc, duration_in_milliseconds);
	tcase_add_test(tc, every_allocation_failure_is_enomem_without_a_leak);
	suite_add_tcase(s, tc);
	return s;
}
