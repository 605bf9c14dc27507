/* test_pipespec.c — the pipeline specification (daemon/pipespec.c): every
 * stage kind parses its documented example into the right typed values;
 * human -> struct -> msgpack -> struct round trips; bad human specs and
 * hand-crafted malicious wire specs are refused with an error naming the
 * stage (dotted path) and its position; quoting rules; every allocation
 * failure is reported as -ENOMEM without a leak (fault injection, tests/faults.c, through
 * -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc). */
#include "config.h"
#include "harness.h"
#include "conf.h"
#include "pipespec.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- helpers ---------------------------------------------------------------- */

static gd_pipe_spec *parse_ok(const char *text)
{
	gd_pipe_spec *s = NULL;
	gd_pipe_error err;
	int r = gd_pipe_parse(text, strlen(text), &s, &err);
	ck_assert_msg(r == 0, "parse %s: %d %s", text, r, err.message);
	return s;
}

/* The error's path as "2.1.3" ("" when not about a stage). */
static const char *path_str(const gd_pipe_error *e, char *buf, size_t size)
{
	size_t len = 0;
	buf[0] = '\0';
	for (uint32_t i = 0; i < e->depth; i++)
		len += (size_t)snprintf(buf + len, size - len, "%s%u", i ? "." : "", e->path[i]);
	return buf;
}

/* Packs s and decodes the bytes back through the validator. */
static int wire_round_trip(const gd_pipe_spec *s, gd_pipe_spec **ret, gd_pipe_error *err)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	ck_assert_int_eq(gd_pipe_pack(&pk, s), 0);
	msgpack_unpacked u;
	msgpack_unpacked_init(&u);
	ck_assert_int_eq(msgpack_unpack_next(&u, sb.data, sb.size, NULL), MSGPACK_UNPACK_SUCCESS);
	int r = gd_pipe_decode(&u.data, ret, err);
	msgpack_unpacked_destroy(&u);
	msgpack_sbuffer_destroy(&sb);
	return r;
}

/* ---- every stage kind --------------------------------------------------------- */

/* The documented example of each kind (docs/pipelines.md), and the kinds
 * of the top-level stages it parses to. */
static const struct {
	const char *text;
	gd_pipe_kind kinds[4];
	uint32_t n;
} examples[] = {
	{"seq 1 10 2", {GD_PIPE_SEQ, GD_PIPE_CLIENT}, 2},
	{"lines access.log | count", {GD_PIPE_LINES, GD_PIPE_COUNT}, 2},
	{"glob '/var/log/*.log' | client", {GD_PIPE_GLOB, GD_PIPE_CLIENT}, 2},
	{"stdin | map upper", {GD_PIPE_STDIN, GD_PIPE_MAP, GD_PIPE_CLIENT}, 3},
	{"seq 1 5 | map sha256", {GD_PIPE_SEQ, GD_PIPE_MAP, GD_PIPE_CLIENT}, 3},
	{"lines a.log | filter -v '^#'", {GD_PIPE_LINES, GD_PIPE_FILTER, GD_PIPE_CLIENT}, 3},
	{"seq 1 100 | take 10", {GD_PIPE_SEQ, GD_PIPE_TAKE, GD_PIPE_CLIENT}, 3},
	{"seq 1 100 | skip 90", {GD_PIPE_SEQ, GD_PIPE_SKIP, GD_PIPE_CLIENT}, 3},
	{"seq 1 100 | batch 10", {GD_PIPE_SEQ, GD_PIPE_BATCH, GD_PIPE_CLIENT}, 3},
	{"seq 1 3 | delay 10ms", {GD_PIPE_SEQ, GD_PIPE_DELAY, GD_PIPE_CLIENT}, 3},
	{"seq 1 20 | exec -j 8 --ordered -- cp {} {}.bak", {GD_PIPE_SEQ, GD_PIPE_EXEC, GD_PIPE_CLIENT}, 3},
	{"glob '*.txt' | bridge lines | count", {GD_PIPE_GLOB, GD_PIPE_BRIDGE, GD_PIPE_COUNT}, 3},
	{"seq 1 10 | tee { file all.txt } { count }", {GD_PIPE_SEQ, GD_PIPE_TEE}, 2},
	{"seq 1 3 | client", {GD_PIPE_SEQ, GD_PIPE_CLIENT}, 2},
	{"seq 1 3 | file out.txt", {GD_PIPE_SEQ, GD_PIPE_FILE}, 2},
	{"seq 1 3 | count", {GD_PIPE_SEQ, GD_PIPE_COUNT}, 2},
	{"seq 1 3 | discard", {GD_PIPE_SEQ, GD_PIPE_DISCARD}, 2},
	{"seq 1 1000 | collect 100", {GD_PIPE_SEQ, GD_PIPE_COLLECT}, 2},
};

START_TEST(every_stage_kind_parses_its_example)
{
	bool seen[GD_PIPE_NKINDS] = {0};
	for (size_t i = 0; i < sizeof examples / sizeof examples[0]; i++) {
		gd_pipe_spec *s = parse_ok(examples[i].text);
		ck_assert_uint_eq(s->root.nstages, examples[i].n);
		for (uint32_t j = 0; j < examples[i].n; j++) {
			ck_assert_int_eq(s->root.stages[j].kind, examples[i].kinds[j]);
			ck_assert_uint_eq(s->root.stages[j].index, j + 1);
			seen[examples[i].kinds[j]] = true;
		}
		gd_pipe_free(s);
	}
	for (int k = 0; k < GD_PIPE_NKINDS; k++)
		ck_assert_msg(seen[k], "no example for %s", gd_pipe_kind_name(k));
}
END_TEST

START_TEST(typed_values_are_filled)
{
	gd_pipe_spec *s = parse_ok("seq 1 10 2 | map sha256 | filter -v '^#' | take 0 | skip 3 | "
	                           "batch 7 | delay 1m30s | exec -j 8 --ordered --timeout 5s -- "
	                           "sleep 100 | collect");
	const gd_pipe_stage *st = s->root.stages;
	ck_assert_uint_eq(s->root.nstages, 9);
	ck_assert(st[0].u.seq.from == 1 && st[0].u.seq.to == 10 && st[0].u.seq.step == 2);
	ck_assert_int_eq(st[1].u.fn, GD_PIPE_FN_SHA256);
	ck_assert(st[2].u.filter.invert);
	ck_assert_str_eq(st[2].u.filter.regex, "^#");
	ck_assert_uint_eq(st[3].u.n, 0);
	ck_assert_uint_eq(st[4].u.n, 3);
	ck_assert_uint_eq(st[5].u.n, 7);
	ck_assert(st[6].u.duration == 90 * GD_SEC);
	ck_assert_uint_eq(st[7].u.exec.jobs, 8);
	ck_assert(st[7].u.exec.ordered);
	ck_assert(st[7].u.exec.timeout == 5 * GD_SEC);
	ck_assert_uint_eq(st[7].u.exec.argc, 2);
	ck_assert_str_eq(st[7].u.exec.argv[0], "sleep");
	ck_assert_str_eq(st[7].u.exec.argv[1], "100");
	ck_assert_ptr_null(st[7].u.exec.argv[2]); /* execv-ready */
	ck_assert_uint_eq(st[8].u.n, GD_PIPE_COLLECT_DEFAULT);

	/* The decoder fills the same typed values. */
	gd_pipe_spec *d = NULL;
	gd_pipe_error err;
	ck_assert_int_eq(wire_round_trip(s, &d, &err), 0);
	st = d->root.stages;
	ck_assert(st[0].u.seq.step == 2 && st[2].u.filter.invert && st[5].u.n == 7);
	ck_assert(st[6].u.duration == 90 * GD_SEC && st[7].u.exec.timeout == 5 * GD_SEC);
	ck_assert_uint_eq(st[7].u.exec.jobs, 8);
	ck_assert_str_eq(st[7].u.exec.argv[0], "sleep");
	ck_assert_ptr_null(st[7].u.exec.argv[2]);
	gd_pipe_free(d);
	gd_pipe_free(s);

	s = parse_ok("seq 10 1 | exec wc -l | filter -- -v | map trim");
	st = s->root.stages;
	ck_assert(st[0].u.seq.step == -1);
	ck_assert_uint_eq(st[1].u.exec.jobs, 1);
	ck_assert(!st[1].u.exec.ordered && st[1].u.exec.timeout == 0);
	ck_assert_uint_eq(st[1].u.exec.argc, 2);
	ck_assert_str_eq(st[1].u.exec.argv[0], "wc");
	ck_assert(!st[2].u.filter.invert);
	ck_assert_str_eq(st[2].u.filter.regex, "-v");
	ck_assert_int_eq(st[3].u.fn, GD_PIPE_FN_TRIM);
	ck_assert_int_eq(st[4].kind, GD_PIPE_CLIENT);
	gd_pipe_free(s);

	s = parse_ok("glob x | bridge glob | exec cp {} {}.bak");
	st = s->root.stages;
	ck_assert_int_eq(st[1].inner->kind, GD_PIPE_GLOB);
	ck_assert_uint_eq(st[2].u.exec.argc, 3);
	ck_assert_str_eq(st[2].u.exec.argv[1], "{}");
	ck_assert_str_eq(st[2].u.exec.argv[2], "{}.bak");
	gd_pipe_free(s);
}
END_TEST

START_TEST(default_sink_is_client_at_the_end)
{
	const char *text = "seq 1 3 | map upper";
	gd_pipe_spec *s = parse_ok(text);
	ck_assert_uint_eq(s->root.nstages, 3);
	ck_assert_int_eq(s->root.stages[2].kind, GD_PIPE_CLIENT);
	ck_assert_uint_eq(s->root.stages[2].pos, strlen(text));
	ck_assert_uint_eq(s->root.stages[2].index, 3);
	ck_assert_uint_eq(s->root.stages[1].pos, 10);
	gd_pipe_free(s);
}
END_TEST

START_TEST(issue_examples_parse)
{
	gd_pipe_spec *s = parse_ok("seq 1 1000000 | map sha256 | filter ^00 | count");
	ck_assert_uint_eq(s->root.nstages, 4);
	ck_assert(s->root.stages[0].u.seq.to == 1000000);
	ck_assert_str_eq(s->root.stages[2].u.filter.regex, "^00");
	ck_assert_int_eq(s->root.stages[3].kind, GD_PIPE_COUNT);
	gd_pipe_free(s);

	s = parse_ok("lines access.log | tee { filter \" 5[0-9][0-9] \" | file errors.log } { count }");
	ck_assert_uint_eq(s->root.nstages, 2);
	const gd_pipe_stage *tee = &s->root.stages[1];
	ck_assert_int_eq(tee->kind, GD_PIPE_TEE);
	ck_assert_uint_eq(tee->nbranches, 2);
	ck_assert_uint_eq(tee->branches[0].nstages, 2);
	ck_assert_str_eq(tee->branches[0].stages[0].u.filter.regex, " 5[0-9][0-9] ");
	ck_assert_str_eq(tee->branches[0].stages[1].u.path, "errors.log");
	ck_assert_uint_eq(tee->branches[0].stages[1].pos, 50);
	ck_assert_uint_eq(tee->branches[1].nstages, 1);
	ck_assert_int_eq(tee->branches[1].stages[0].kind, GD_PIPE_COUNT);
	gd_pipe_free(s);
}
END_TEST

/* ---- round trips ---------------------------------------------------------------- */

START_TEST(human_to_wire_round_trips)
{
	static const char *const extra[] = {
		"seq 1 1000000 | map sha256 | filter ^00 | count",
		"lines access.log | tee { filter \" 5[0-9][0-9] \" | file errors.log } { count }",
		"seq 1 9 | tee { tee { count } { map upper | tee { discard } { collect 5 } } } { take 2 | count }",
		"seq 1 9 | tee { count } { tee { count } { map upper | filter '^0{2}' | count }}",
		"stdin | exec -j 3 -- sh -c 'echo \"$1\"' sh {} | filter 'a|b'",
	};
	for (size_t i = 0; i < sizeof examples / sizeof examples[0] + 5; i++) {
		const char *text = i < 5 ? extra[i] : examples[i - 5].text;
		gd_pipe_spec *a = parse_ok(text), *b = NULL;
		gd_pipe_error err;
		int r = wire_round_trip(a, &b, &err);
		ck_assert_msg(r == 0, "%s: %s", text, err.message);
		ck_assert_msg(gd_pipe_equal(a, b), "%s", text);
		gd_pipe_free(a);
		gd_pipe_free(b);
	}
}
END_TEST

START_TEST(equal_tells_specs_apart)
{
	gd_pipe_spec *a = parse_ok("seq 1 3 | tee { count } { discard }");
	gd_pipe_spec *b = parse_ok("seq 1 3 | tee { count } { collect }");
	gd_pipe_spec *c = parse_ok("seq 1 4 | tee { count } { discard }");
	gd_pipe_spec *d = parse_ok("seq 1 3 | tee { count } {  discard }");
	ck_assert(!gd_pipe_equal(a, b));
	ck_assert(!gd_pipe_equal(a, c));
	ck_assert(!gd_pipe_equal(a, d)); /* positions differ */
	ck_assert(gd_pipe_equal(a, a));
	gd_pipe_free(a);
	gd_pipe_free(b);
	gd_pipe_free(c);
	gd_pipe_free(d);
}
END_TEST

/* ---- bad human specs -------------------------------------------------------------- */

static const struct bad {
	const char *text;
	const char *path; /* dotted stage path of the error */
	uint32_t pos;
	const char *msg;  /* a substring of the message */
} bad_specs[] = {
	{"", "1", 0, "stage 1: empty pipeline"},
	{"   ", "1", 3, "stage 1: empty pipeline"},
	{"seq 1 2 | mpa upper", "2", 10, "stage 2: unknown stage \"mpa\" (did you mean map?)"},
	{"seq 1 2 | frobnicate", "2", 10, "stage 2: unknown stage \"frobnicate\""},
	{"seq 1 2 | filter [a", "2", 10, "stage 2 (filter): bad regex \"[a\": Unmatched [, [^"},
	{"seq 1 2 | filter a{1", "2", 10, "bad regex \"a{1\": Unmatched \\{"},
	{"seq 1 2 | take -1", "2", 10, "stage 2 (take): N must be a whole number, not \"-1\""},
	{"seq 1 2 | batch 0", "2", 10, "stage 2 (batch): N \"0\" out of range (1 to"},
	{"seq 1 2 | take 99999999999999999999", "2", 10, "out of range"},
	{"seq 1 2 | collect 0", "2", 10, "stage 2 (collect): N \"0\" out of range"},
	{"lines a | tee { count } { count", "2", 24, "stage 2 (tee): unclosed { of branch 2"},
	{"lines a | tee { count } { }", "2", 24, "stage 2 (tee): branch 2 is empty"},
	{"lines a | tee { count }", "2", 10, "stage 2 (tee): needs 2 to 64 branches, has 1"},
	{"lines a | tee", "2", 10, "needs 2 to 64 branches, has 0"},
	{"lines a | tee x { count } { count }", "2", 14, "tee takes only { PIPELINE } branches"},
	{"lines a | count { x }", "2", 16, "stage 2 (count): unexpected {"},
	{"lines a | count }", "2", 16, "} without a matching {"},
	{"seq 1 2 | count | map upper", "3", 18, "stage 3 (map): follows the sink count (stage 2)"},
	{"seq 1 2 | tee { count } { count } | count", "3", 36, "follows the sink tee"},
	{"map upper | count", "1", 0, "stage 1 (map): a pipeline must start with a source"},
	{"seq 1 2 | seq 1 2", "2", 10, "stage 2 (seq): a source can only be the first stage"},
	{"seq 1 2 | tee { lines x | count } { count }", "2.1.1", 16, "cannot start with a source"},
	{"seq 1 2 | tee { map upper } { count }", "2.1.1", 16, "must end in a sink"},
	{"seq 1 2 | tee { filter ( | count } { count }", "2.1.1", 16, "stage 2.1.1 (filter): bad regex"},
	{"seq 1 2 |", "2", 9, "stage 2: missing stage after |"},
	{"| count", "1", 0, "stage 1: missing stage before |"},
	{"seq 1 2 | | count", "2", 10, "missing stage after |"},
	{"seq 1", "1", 0, "stage 1 (seq): wrong number of arguments (usage: seq FROM TO [STEP])"},
	{"stdin x", "1", 0, "stage 1 (stdin): wrong number of arguments (usage: stdin)"},
	{"seq a 2", "1", 0, "FROM must be an integer, not \"a\""},
	{"seq 1 2 0", "1", 0, "STEP must not be 0"},
	{"seq 1 5 -1", "1", 0, "STEP -1 never goes from 1 to 5"},
	{"seq 1 99999999999999999999", "1", 0, "TO must be an integer"},
	{"seq 1 2 | map reverse", "2", 10, "unknown function \"reverse\""},
	{"seq 1 2 | filter -v", "2", 10, "usage: filter [-v] [--] REGEX"},
	{"seq 1 2 | filter -v --", "2", 10, "usage: filter [-v] [--] REGEX"},
	{"seq 1 2 | tee {count} { count }", "2", 14, "braces of tee stand alone"},
	{"seq 1 2 | filter a b", "2", 10, "usage: filter [-v] [--] REGEX"},
	{"seq 1 2 | delay soon", "2", 10, "bad duration \"soon\""},
	{"seq 1 2 | delay 2d", "2", 10, "duration \"2d\" out of range"},
	{"seq 1 2 | exec -j 0 -- true", "2", 10, "-j \"0\" out of range (1 to 1024)"},
	{"seq 1 2 | exec -j 1025 -- true", "2", 10, "out of range (1 to 1024)"},
	{"seq 1 2 | exec -j 2 -j 3 -- true", "2", 10, "option -j given twice"},
	{"seq 1 2 | exec -j", "2", 10, "option -j needs a value"},
	{"seq 1 2 | exec --timeout 0 -- true", "2", 10, "duration \"0\" out of range (1ns"},
	{"seq 1 2 | exec --fast -- true", "2", 10, "unknown option \"--fast\""},
	{"seq 1 2 | exec -j 4 --", "2", 10, "stage 2 (exec): no command"},
	{"seq 1 2 | exec -- ''", "2", 10, "the command name is empty"},
	{"seq 1 2 | bridge", "2", 10, "stage 2 (bridge): needs a stage"},
	{"seq 1 2 | bridge seq", "2", 10, "cannot bridge seq"},
	{"seq 1 2 | bridge lines x", "2", 10, "bridge lines takes no arguments"},
	{"seq 1 2 | bridge lnes", "2", 17, "unknown stage \"lnes\" (did you mean lines?)"},
	{"seq 1 2 | file ''", "2", 10, "PATH must not be empty"},
	{"seq 1 2 | file 'x", "2", 15, "stage 2 (file): unterminated ' opened at byte 15"},
	{"seq 1 2 | file \"x", "2", 15, "unterminated \" opened at byte 15"},
	{"seq 1 2 | file x\\", "2", 16, "a \\ at the end escapes nothing"},
	{"seq 1 2 | { count }", "2", 10, "expected a stage name, found {"},
};

START_TEST(bad_specs_name_the_stage_and_position)
{
	const struct bad *b = &bad_specs[_i];
	gd_pipe_spec *s = (gd_pipe_spec *)1;
	gd_pipe_error err;
	char path[64];
	int r = gd_pipe_parse(b->text, strlen(b->text), &s, &err);
	ck_assert_msg(r == -EINVAL, "%s: %d", b->text, r);
	ck_assert_ptr_eq(s, (gd_pipe_spec *)1); /* untouched */
	ck_assert_msg(strstr(err.message, b->msg), "%s: got \"%s\"", b->text, err.message);
	ck_assert_str_eq(path_str(&err, path, sizeof path), b->path);
	ck_assert_msg(err.pos == b->pos, "%s: pos %u", b->text, err.pos);
}
END_TEST

/* "seq 1 2 | filter " followed by n copies of c (and a NUL-free end). */
static char *long_spec(size_t n, char c)
{
	const char *head = "seq 1 2 | filter ";
	char *t = malloc(strlen(head) + n + 1);
	ck_assert_ptr_nonnull(t);
	strcpy(t, head);
	memset(t + strlen(head), c, n);
	t[strlen(head) + n] = '\0';
	return t;
}

START_TEST(huge_argument_is_refused_at_its_stage)
{
	char *t = long_spec((size_t)8 << 20, 'a');
	gd_pipe_error err;
	gd_pipe_spec *s = NULL;
	ck_assert_int_eq(gd_pipe_parse(t, strlen(t), &s, &err), -EINVAL);
	ck_assert_str_eq(err.message, "stage 2 (filter): an argument is longer than 65536 bytes");
	ck_assert_uint_eq(err.pos, 17);
	free(t);

	/* Exactly at the limit is fine. */
	t = long_spec(GD_PIPE_ARG_MAX, 'a');
	s = parse_ok(t);
	ck_assert_uint_eq(strlen(s->root.stages[1].u.filter.regex), GD_PIPE_ARG_MAX);
	gd_pipe_free(s);
	free(t);
}
END_TEST

/* A stage NAME too long is that stage's error too: first, after a |, and
 * first in a tee branch (the word is read before the name is known). */
START_TEST(huge_stage_name_is_refused_at_its_stage)
{
	static const struct {
		const char *head, *tail, *msg;
		uint32_t pos;
	} cases[] = {
		{"", " 1 2", "stage 1: an argument is longer than 65536 bytes", 0},
		{"seq 1 2 | ", "", "stage 2: an argument is longer than 65536 bytes", 10},
		{"seq 1 2 | tee { ", " } { count }", "stage 2.1.1: an argument is longer than 65536 bytes",
		 16},
		{"seq 1 2 | tee { count } { ", " }",
		 "stage 2.2.1: an argument is longer than 65536 bytes", 26},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		size_t h = strlen(cases[i].head), n = GD_PIPE_ARG_MAX + 10, tl = strlen(cases[i].tail);
		char *t = malloc(h + n + tl + 1);
		ck_assert_ptr_nonnull(t);
		memcpy(t, cases[i].head, h);
		memset(t + h, 'x', n);
		memcpy(t + h + n, cases[i].tail, tl + 1);
		gd_pipe_error err;
		gd_pipe_spec *s = NULL;
		ck_assert_int_eq(gd_pipe_parse(t, strlen(t), &s, &err), -EINVAL);
		ck_assert_str_eq(err.message, cases[i].msg);
		ck_assert_uint_eq(err.pos, cases[i].pos);
		free(t);
	}
}
END_TEST

START_TEST(huge_spec_is_refused)
{
	/* 2 MiB of short arguments: no single one is too long. */
	size_t n = (size_t)2 << 20;
	char *t = malloc(n + 1);
	ck_assert_ptr_nonnull(t);
	memcpy(t, "stdin | exec -- echo", 20);
	for (size_t i = 20; i < n; i += 2)
		memcpy(t + i, " x", 2);
	t[n] = '\0';
	gd_pipe_error err;
	gd_pipe_spec *s = NULL;
	ck_assert_int_eq(gd_pipe_parse(t, n, &s, &err), -EINVAL);
	ck_assert_msg(strstr(err.message, "stage 2 (exec):"), "%s", err.message);
	free(t);

	/* More than GD_PIPE_ARGS_MAX words, well under the byte limit. */
	t = malloc(20 + 2 * (GD_PIPE_ARGS_MAX + 1) + 1);
	memcpy(t, "stdin | exec -- echo", 20);
	for (size_t i = 0; i < GD_PIPE_ARGS_MAX + 1; i++)
		memcpy(t + 20 + 2 * i, " x", 2);
	t[20 + 2 * (GD_PIPE_ARGS_MAX + 1)] = '\0';
	ck_assert_int_eq(gd_pipe_parse(t, strlen(t), &s, &err), -EINVAL);
	ck_assert_msg(strstr(err.message, "stage 2 (exec): more than 4096 arguments"), "%s",
	              err.message);
	free(t);
}
END_TEST

START_TEST(nul_byte_is_refused)
{
	gd_pipe_error err;
	gd_pipe_spec *s = NULL;
	ck_assert_int_eq(gd_pipe_parse("seq 1 2\0| count", 15, &s, &err), -EINVAL);
	ck_assert_uint_eq(err.pos, 7);
	ck_assert_msg(strstr(err.message, "NUL byte"), "%s", err.message);
}
END_TEST

START_TEST(too_many_stages_and_deep_tees_are_refused)
{
	char buf[8192] = "seq 1 2";
	for (int i = 0; i < GD_PIPE_STAGES_MAX; i++)
		strcat(buf, " | take 1");
	gd_pipe_error err;
	gd_pipe_spec *s = NULL;
	ck_assert_int_eq(gd_pipe_parse(buf, strlen(buf), &s, &err), -EINVAL);
	ck_assert_msg(strstr(err.message, "stage 257: more than 256 stages"), "%s", err.message);
	ck_assert_uint_eq(err.pos, 10 + 9 * 255); /* "take" of stage 257 */

	/* GD_PIPE_DEPTH_MAX - 1 nested tees are fine, one more is not. */
	for (int depth = GD_PIPE_DEPTH_MAX - 1; depth <= GD_PIPE_DEPTH_MAX; depth++) {
		strcpy(buf, "seq 1 2 | ");
		for (int i = 0; i < depth; i++)
			strcat(buf, "tee { count } { ");
		strcat(buf, "count");
		for (int i = 0; i < depth; i++)
			strcat(buf, " }");
		int r = gd_pipe_parse(buf, strlen(buf), &s, &err);
		if (depth < GD_PIPE_DEPTH_MAX) {
			ck_assert_msg(r == 0, "%s", err.message);
			gd_pipe_free(s);
		} else {
			ck_assert_int_eq(r, -EINVAL);
			ck_assert_msg(strstr(err.message, "nested deeper than 7"), "%s", err.message);
		}
	}
}
END_TEST

/* ---- quoting ------------------------------------------------------------------------ */

static const struct {
	const char *text; /* the word after "seq 1 2 | file " */
	const char *word;
} quoting[] = {
	{"'a b'", "a b"},
	{"\"a b\"", "a b"},
	{"a\"b c\"d", "ab cd"},
	{"'it'\\''s'", "it's"},
	{"\"say \\\"hi\\\"\"", "say \"hi\""},
	{"\"back\\\\slash\"", "back\\slash"},
	{"\"tab\\there\"", "tab\there"},
	{"\"nl\\nx\\r\"", "nl\nx\r"},
	{"\"\\.\\d\"", "\\.\\d"},
	{"'\\n'", "\\n"},
	{"a\\ b", "a b"},
	{"\\|", "|"},
	{"'|'", "|"},
	{"\"{\"", "{"},
	{"\\}", "}"},
	{"x'|'y\"}\"", "x|y}"},
	{"\"'\"", "'"},
	{"'\"'", "\""},
	{"\xc3\xa9t\xc3\xa9", "\xc3\xa9t\xc3\xa9"},
};

START_TEST(quoting_rules)
{
	char text[128];
	snprintf(text, sizeof text, "seq 1 2 | file %s", quoting[_i].text);
	gd_pipe_spec *s = parse_ok(text);
	ck_assert_uint_eq(s->root.nstages, 2);
	ck_assert_uint_eq(s->root.stages[1].nargs, 1);
	ck_assert_str_eq(s->root.stages[1].args[0], quoting[_i].word);
	gd_pipe_free(s);
}
END_TEST

START_TEST(separators_and_empty_words)
{
	gd_pipe_spec *s = parse_ok("seq\t1\n2|tee { count }\t{\nexec -- printf '' \"\"|discard }");
	ck_assert_uint_eq(s->root.nstages, 2);
	const gd_pipe_stage *tee = &s->root.stages[1];
	ck_assert_uint_eq(tee->nbranches, 2);
	const gd_pipe_stage *ex = &tee->branches[1].stages[0];
	ck_assert_int_eq(ex->kind, GD_PIPE_EXEC);
	ck_assert_uint_eq(ex->u.exec.argc, 3);
	ck_assert_str_eq(ex->u.exec.argv[1], "");
	ck_assert_str_eq(ex->u.exec.argv[2], "");
	ck_assert_uint_eq(tee->pos, 8);
	gd_pipe_free(s);

	/* An unquoted '|' splits even inside what looks like a regex. */
	gd_pipe_error err;
	ck_assert_int_eq(gd_pipe_parse("seq 1 2 | filter a|b", 20, &s, &err), -EINVAL);
	ck_assert_msg(strstr(err.message, "stage 3: unknown stage \"b\""), "%s", err.message);
}
END_TEST

/* ---- the wire validator --------------------------------------------------------------- */

struct wire {
	msgpack_sbuffer sb;
	msgpack_packer pk;
};

static void wire_init(struct wire *w)
{
	msgpack_sbuffer_init(&w->sb);
	msgpack_packer_init(&w->pk, &w->sb, msgpack_sbuffer_write);
}

static void ps(struct wire *w, const char *s)
{
	msgpack_pack_str_with_body(&w->pk, s, strlen(s));
}

/* {"stage": name, "args": [args...]} with nargs strings from args. */
static void stage(struct wire *w, const char *name, int nargs, const char *const *args)
{
	msgpack_pack_map(&w->pk, 2);
	ps(w, "stage");
	ps(w, name);
	ps(w, "args");
	msgpack_pack_array(&w->pk, (size_t)nargs);
	for (int i = 0; i < nargs; i++)
		ps(w, args[i]);
}

/* Decodes the packed bytes: the return, with *err filled. */
static int wire_decode(struct wire *w, gd_pipe_error *err)
{
	msgpack_unpacked u;
	msgpack_unpacked_init(&u);
	ck_assert_int_eq(msgpack_unpack_next(&u, w->sb.data, w->sb.size, NULL),
	                 MSGPACK_UNPACK_SUCCESS);
	gd_pipe_spec *s = NULL;
	int r = gd_pipe_decode(&u.data, &s, err);
	gd_pipe_free(s);
	msgpack_unpacked_destroy(&u);
	msgpack_sbuffer_destroy(&w->sb);
	return r;
}

static const char *const one[] = {"1", "2"};

/* Each builds a malicious or malformed wire spec; the expected message. */
static void w_not_array(struct wire *w) { msgpack_pack_map(&w->pk, 0); }
static void w_empty(struct wire *w) { msgpack_pack_array(&w->pk, 0); }
static void w_stage_not_map(struct wire *w)
{
	msgpack_pack_array(&w->pk, 1);
	ps(w, "seq");
}
static void w_no_stage(struct wire *w)
{
	msgpack_pack_array(&w->pk, 1);
	msgpack_pack_map(&w->pk, 1);
	ps(w, "args");
	msgpack_pack_array(&w->pk, 0);
}
static void w_stage_int(struct wire *w)
{
	msgpack_pack_array(&w->pk, 1);
	msgpack_pack_map(&w->pk, 2);
	ps(w, "stage");
	msgpack_pack_int(&w->pk, 7);
	ps(w, "args");
	msgpack_pack_array(&w->pk, 0);
}
static void w_no_args(struct wire *w)
{
	msgpack_pack_array(&w->pk, 1);
	msgpack_pack_map(&w->pk, 1);
	ps(w, "stage");
	ps(w, "stdin");
}
static void w_arg_int(struct wire *w)
{
	msgpack_pack_array(&w->pk, 1);
	msgpack_pack_map(&w->pk, 2);
	ps(w, "stage");
	ps(w, "seq");
	ps(w, "args");
	msgpack_pack_array(&w->pk, 2);
	msgpack_pack_int(&w->pk, 1);
	msgpack_pack_int(&w->pk, 2);
}
static void w_arg_nul(struct wire *w)
{
	msgpack_pack_array(&w->pk, 2);
	stage(w, "lines", 0, NULL);
	w->sb.size--; /* replace the empty args array */
	msgpack_pack_array(&w->pk, 1);
	msgpack_pack_str_with_body(&w->pk, "a\0b", 3);
	stage(w, "count", 0, NULL);
}
static void w_arg_huge(struct wire *w)
{
	static char big[GD_PIPE_ARG_MAX + 2];
	memset(big, 'a', sizeof big - 1);
	const char *args[] = {big};
	msgpack_pack_array(&w->pk, 2);
	stage(w, "lines", 1, args);
	stage(w, "count", 0, NULL);
}
static void w_args_total(struct wire *w)
{
	static char big[GD_PIPE_ARG_MAX];
	memset(big, 'a', sizeof big - 1);
	const char *args[20];
	for (int i = 0; i < 20; i++)
		args[i] = big;
	msgpack_pack_array(&w->pk, 2);
	stage(w, "stdin", 0, NULL);
	stage(w, "exec", 20, args);
}
static void w_many_args(struct wire *w)
{
	msgpack_pack_array(&w->pk, 1);
	msgpack_pack_map(&w->pk, 2);
	ps(w, "stage");
	ps(w, "exec");
	ps(w, "args");
	msgpack_pack_array(&w->pk, GD_PIPE_ARGS_MAX + 1);
	for (int i = 0; i <= GD_PIPE_ARGS_MAX; i++)
		ps(w, "x");
}
static void w_many_stages(struct wire *w)
{
	msgpack_pack_array(&w->pk, GD_PIPE_STAGES_MAX + 1);
	for (int i = 0; i <= GD_PIPE_STAGES_MAX; i++)
		stage(w, "stdin", 0, NULL);
}
static void w_unknown_key(struct wire *w)
{
	msgpack_pack_array(&w->pk, 1);
	msgpack_pack_map(&w->pk, 3);
	ps(w, "stage");
	ps(w, "stdin");
	ps(w, "args");
	msgpack_pack_array(&w->pk, 0);
	ps(w, "shell");
	ps(w, "rm -rf /");
}
static void w_dup_key(struct wire *w)
{
	msgpack_pack_array(&w->pk, 1);
	msgpack_pack_map(&w->pk, 3);
	ps(w, "stage");
	ps(w, "stdin");
	ps(w, "args");
	msgpack_pack_array(&w->pk, 0);
	ps(w, "stage");
	ps(w, "seq");
}
static void w_bad_pos(struct wire *w)
{
	msgpack_pack_array(&w->pk, 1);
	msgpack_pack_map(&w->pk, 3);
	ps(w, "stage");
	ps(w, "stdin");
	ps(w, "args");
	msgpack_pack_array(&w->pk, 0);
	ps(w, "pos");
	msgpack_pack_int(&w->pk, -1);
}
static void w_unknown_stage(struct wire *w)
{
	msgpack_pack_array(&w->pk, 1);
	stage(w, "sqe", 2, one);
}
static void w_branches_on_count(struct wire *w)
{
	msgpack_pack_array(&w->pk, 2);
	stage(w, "stdin", 0, NULL);
	msgpack_pack_map(&w->pk, 3);
	ps(w, "stage");
	ps(w, "count");
	ps(w, "args");
	msgpack_pack_array(&w->pk, 0);
	ps(w, "branches");
	msgpack_pack_array(&w->pk, 0);
}
static void w_tee_no_branches(struct wire *w)
{
	msgpack_pack_array(&w->pk, 2);
	stage(w, "stdin", 0, NULL);
	stage(w, "tee", 0, NULL);
}
static void w_tee_branch_not_array(struct wire *w)
{
	msgpack_pack_array(&w->pk, 2);
	stage(w, "stdin", 0, NULL);
	msgpack_pack_map(&w->pk, 3);
	ps(w, "stage");
	ps(w, "tee");
	ps(w, "args");
	msgpack_pack_array(&w->pk, 0);
	ps(w, "branches");
	msgpack_pack_array(&w->pk, 2);
	msgpack_pack_array(&w->pk, 1);
	stage(w, "count", 0, NULL);
	msgpack_pack_nil(&w->pk);
}
/* stdin | tee { count } { tee { count } { ... } } nested `levels` deep. */
static void w_deep_levels(struct wire *w, int levels)
{
	msgpack_pack_array(&w->pk, 2);
	stage(w, "stdin", 0, NULL);
	for (int i = 0; i < levels; i++) {
		msgpack_pack_map(&w->pk, 3);
		ps(w, "stage");
		ps(w, "tee");
		ps(w, "args");
		msgpack_pack_array(&w->pk, 0);
		ps(w, "branches");
		msgpack_pack_array(&w->pk, 2);
		msgpack_pack_array(&w->pk, 1);
		stage(w, "count", 0, NULL);
		msgpack_pack_array(&w->pk, 1);
	}
	stage(w, "count", 0, NULL);
}
static void w_deep(struct wire *w) { w_deep_levels(w, GD_PIPE_DEPTH_MAX); }
static void w_inner_on_take(struct wire *w)
{
	msgpack_pack_array(&w->pk, 2);
	stage(w, "stdin", 0, NULL);
	msgpack_pack_map(&w->pk, 3);
	ps(w, "stage");
	ps(w, "take");
	ps(w, "args");
	msgpack_pack_array(&w->pk, 1);
	ps(w, "1");
	ps(w, "inner");
	stage(w, "lines", 0, NULL);
}
static void w_inner_with_inner(struct wire *w)
{
	msgpack_pack_array(&w->pk, 2);
	stage(w, "stdin", 0, NULL);
	msgpack_pack_map(&w->pk, 3);
	ps(w, "stage");
	ps(w, "bridge");
	ps(w, "args");
	msgpack_pack_array(&w->pk, 0);
	ps(w, "inner");
	msgpack_pack_map(&w->pk, 3);
	ps(w, "stage");
	ps(w, "bridge");
	ps(w, "args");
	msgpack_pack_array(&w->pk, 0);
	ps(w, "inner");
	stage(w, "lines", 0, NULL);
}
static void w_bad_regex(struct wire *w)
{
	const char *re[] = {"[a"};
	msgpack_pack_array(&w->pk, 3);
	stage(w, "stdin", 0, NULL);
	stage(w, "filter", 1, re);
	stage(w, "count", 0, NULL);
}
static void w_sink_first(struct wire *w)
{
	msgpack_pack_array(&w->pk, 2);
	stage(w, "count", 0, NULL);
	stage(w, "seq", 2, one);
}
static void w_huge_take(struct wire *w)
{
	const char *n[] = {"18446744073709551616"};
	msgpack_pack_array(&w->pk, 2);
	stage(w, "stdin", 0, NULL);
	stage(w, "take", 1, n);
}

static const struct {
	void (*build)(struct wire *w);
	const char *msg;
} bad_wire[] = {
	{w_not_array, "a pipeline must be an array of stages"},
	{w_empty, "stage 1: empty pipeline"},
	{w_stage_not_map, "stage 1: a stage must be a map"},
	{w_no_stage, "stage 1: \"stage\" must be a string"},
	{w_stage_int, "stage 1: \"stage\" must be a string"},
	{w_no_args, "stage 1 (stdin): \"args\" must be an array of strings"},
	{w_arg_int, "stage 1 (seq): argument 1 is not a string"},
	{w_arg_nul, "stage 1 (lines): argument 1 contains a NUL byte"},
	{w_arg_huge, "stage 1 (lines): argument 1 is longer than 65536 bytes"},
	{w_args_total, "stage 2 (exec): the arguments add up to more than 1048576 bytes"},
	{w_many_args, "stage 1 (exec): more than 4096 arguments"},
	{w_many_stages, "more than 256 stages"},
	{w_unknown_key, "stage 1: unknown key in a stage map"},
	{w_dup_key, "stage 1: key \"stage\" given twice"},
	{w_bad_pos, "stage 1: \"pos\" must be an integer"},
	{w_unknown_stage, "stage 1: unknown stage \"sqe\" (did you mean seq?)"},
	{w_branches_on_count, "stage 2 (count): only tee has \"branches\""},
	{w_tee_no_branches, "stage 2 (tee): \"branches\" must be an array of pipelines"},
	{w_tee_branch_not_array, "stage 2.2.1: a pipeline must be an array of stages"},
	{w_deep, "(tee): tees nested deeper than 7 levels"},
	{w_inner_on_take, "stage 2 (take): only bridge has \"inner\""},
	{w_inner_with_inner, "stage 2 (bridge): only bridge has \"inner\""},
	{w_bad_regex, "stage 2 (filter): bad regex \"[a\": Unmatched ["},
	{w_sink_first, "stage 1 (count): a pipeline must start with a source"},
	{w_huge_take, "stage 2 (take): N \"18446744073709551616\" out of range"},
};

START_TEST(malicious_wire_specs_are_refused)
{
	struct wire w;
	gd_pipe_error err;
	wire_init(&w);
	bad_wire[_i].build(&w);
	int r = wire_decode(&w, &err);
	ck_assert_int_eq(r, -EINVAL);
	ck_assert_msg(strstr(err.message, bad_wire[_i].msg), "case %d: got \"%s\"", _i, err.message);
}
END_TEST

START_TEST(wire_defaults_and_limits)
{
	/* No sink: client appended; no pos: 0; the deepest allowed nesting. */
	struct wire w;
	gd_pipe_error err;
	wire_init(&w);
	msgpack_pack_array(&w.pk, 1);
	stage(&w, "seq", 2, one);
	msgpack_unpacked u;
	msgpack_unpacked_init(&u);
	msgpack_unpack_next(&u, w.sb.data, w.sb.size, NULL);
	gd_pipe_spec *s = NULL;
	ck_assert_int_eq(gd_pipe_decode(&u.data, &s, &err), 0);
	ck_assert_uint_eq(s->root.nstages, 2);
	ck_assert_int_eq(s->root.stages[1].kind, GD_PIPE_CLIENT);
	ck_assert_uint_eq(s->root.stages[0].pos, 0);
	ck_assert(s->root.stages[0].u.seq.to == 2);
	gd_pipe_free(s);
	msgpack_unpacked_destroy(&u);
	msgpack_sbuffer_destroy(&w.sb);

	wire_init(&w);
	w_deep_levels(&w, GD_PIPE_DEPTH_MAX - 1);
	ck_assert_int_eq(wire_decode(&w, &err), 0);
}
END_TEST

START_TEST(error_converts_to_a_protocol_error)
{
	gd_pipe_spec *s = NULL;
	gd_pipe_error err;
	gd_proto_error pe;
	ck_assert_int_eq(gd_pipe_parse("seq 1 2 | take -1", 17, &s, &err), -EINVAL);
	ck_assert_int_eq(gd_pipe_error_to_proto(&err, &pe), -EINVAL);
	ck_assert_int_eq(pe.code, GD_E_INVALID_PARAMS);
	ck_assert_str_eq(pe.message,
	                 "stage 2 (take): N must be a whole number, not \"-1\" (at byte 10)");
	/* A NULL err is allowed. */
	ck_assert_int_eq(gd_pipe_parse("nope", 4, &s, NULL), -EINVAL);
}
END_TEST

START_TEST(table_lookups)
{
	ck_assert_int_eq(gd_pipe_kind_lookup("tee", 3), GD_PIPE_TEE);
	ck_assert_int_eq(gd_pipe_kind_lookup("te", 2), -ENOENT);
	ck_assert_str_eq(gd_pipe_kind_name(GD_PIPE_COLLECT), "collect");
	ck_assert_ptr_null(gd_pipe_kind_name(GD_PIPE_NKINDS));
	ck_assert_int_eq(gd_pipe_kind_role(GD_PIPE_STDIN), GD_PIPE_SOURCE);
	ck_assert_int_eq(gd_pipe_kind_role(GD_PIPE_BRIDGE), GD_PIPE_TRANSFORM);
	ck_assert_int_eq(gd_pipe_kind_role(GD_PIPE_TEE), GD_PIPE_SINK);
	ck_assert_str_eq(gd_pipe_kind_usage(GD_PIPE_SEQ), "FROM TO [STEP]");
	ck_assert_str_eq(gd_pipe_fn_name(GD_PIPE_FN_LENGTH), "length");
	ck_assert_ptr_null(gd_pipe_fn_name(GD_PIPE_NFNS));
}
END_TEST

/* ---- fault injection ------------------------------------------------------------------- */

/* A spec touching every allocation path: several arena chunks (a word
 * longer than a chunk), growing arrays, branches, inner stages, the
 * growing word buffer. */
static char *fi_text(void)
{
	static const char head[] =
		"lines access.log | tee { filter \" 5[0-9][0-9] \" | batch 2 | file errors.log } "
		"{ map upper | exec -j 2 -- tr a b c d e f g h | bridge lines | tee { count } "
		"{ collect 3 } } { file ";
	size_t n = strlen(head), word = 40000;
	char *t = malloc(n + word + 3);
	ck_assert_ptr_nonnull(t);
	memcpy(t, head, n);
	memset(t + n, 'p', word);
	strcpy(t + n + word, " }");
	return t;
}

START_TEST(every_failed_allocation_is_reported_without_leaks)
{
	gd_pipe_error err;
	gd_pipe_spec *s = NULL;
	char *text = fi_text();
	long n;
	for (n = 0;; n++) {
		gt_fail_at = n;
		int r = gd_pipe_parse(text, strlen(text), &s, &err);
		gt_fail_at = -1;
		if (r == 0)
			break;
		ck_assert_msg(r == -ENOMEM, "allocation %ld: %d %s", n, r, err.message);
	}
	ck_assert_int_gt(n, 10);
	free(text);

	msgpack_sbuffer sb;
	msgpack_packer pk;
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	ck_assert_int_eq(gd_pipe_pack(&pk, s), 0);
	msgpack_unpacked u;
	msgpack_unpacked_init(&u);
	ck_assert_int_eq(msgpack_unpack_next(&u, sb.data, sb.size, NULL), MSGPACK_UNPACK_SUCCESS);
	gd_pipe_spec *d = NULL;
	for (n = 0;; n++) {
		gt_fail_at = n;
		int r = gd_pipe_decode(&u.data, &d, &err);
		gt_fail_at = -1;
		if (r == 0)
			break;
		ck_assert_msg(r == -ENOMEM, "allocation %ld: %d %s", n, r, err.message);
	}
	ck_assert(gd_pipe_equal(s, d));
	gd_pipe_free(d);
	gd_pipe_free(s);
	msgpack_unpacked_destroy(&u);
	msgpack_sbuffer_destroy(&sb);
}
END_TEST

/* A packer whose writes fail. */
static int write_fails(void *data, const char *buf, size_t len)
{
	(void)data;
	(void)buf;
	(void)len;
	return -1;
}

START_TEST(pack_reports_a_failed_write)
{
	gd_pipe_spec *s = parse_ok("seq 1 2 | tee { count } { discard }");
	msgpack_packer pk;
	msgpack_packer_init(&pk, NULL, write_fails);
	ck_assert_int_eq(gd_pipe_pack(&pk, s), -ENOMEM);
	gd_pipe_free(s);
}
END_TEST

Suite *gt_suite(void)
{
	Suite *s = suite_create("pipespec");
	TCase *tc = gt_tcase("parse", 30);
	tcase_add_test(tc, every_stage_kind_parses_its_example);
	tcase_add_test(tc, typed_values_are_filled);
	tcase_add_test(tc, default_sink_is_client_at_the_end);
	tcase_add_test(tc, issue_examples_parse);
	tcase_add_loop_test(tc, quoting_rules, 0, sizeof quoting / sizeof quoting[0]);
	tcase_add_test(tc, separators_and_empty_words);
	tcase_add_test(tc, table_lookups);
	suite_add_tcase(s, tc);

	tc = gt_tcase("errors", 30);
	tcase_add_loop_test(tc, bad_specs_name_the_stage_and_position, 0,
	                    sizeof bad_specs / sizeof bad_specs[0]);
	tcase_add_test(tc, huge_argument_is_refused_at_its_stage);
	tcase_add_test(tc, huge_stage_name_is_refused_at_its_stage);
	tcase_add_test(tc, huge_spec_is_refused);
	tcase_add_test(tc, nul_byte_is_refused);
	tcase_add_test(tc, too_many_stages_and_deep_tees_are_refused);
	tcase_add_test(tc, error_converts_to_a_protocol_error);
	suite_add_tcase(s, tc);

	tc = gt_tcase("wire", 30);
	tcase_add_test(tc, human_to_wire_round_trips);
	tcase_add_test(tc, equal_tells_specs_apart);
	tcase_add_loop_test(tc, malicious_wire_specs_are_refused, 0,
	                    sizeof bad_wire / sizeof bad_wire[0]);
	tcase_add_test(tc, wire_defaults_and_limits);
	tcase_add_test(tc, pack_reports_a_failed_write);
	tcase_add_test(tc, every_failed_allocation_is_reported_without_leaks);
	suite_add_tcase(s, tc);
	return s;
}
