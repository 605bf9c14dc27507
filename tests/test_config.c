/* test_config.c — godaemon's configuration (daemon/conf.c): built-in
 * defaults, every key parsed, errors reported as FILE:LINE with the reason
 * (unknown section or key, bad or out-of-range values, duplicates, syntax),
 * a failed load leaving the previous configuration untouched, the value
 * syntaxes, and the shipped config/godaemon.conf and godaemon.conf(5) in
 * step with the key table. */
#include "config.h"
#include "harness.h"
#include "conf.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Loads text as the file "t.conf". */
static int load_str(const char *text, gd_config *c, gd_conf_error *err)
{
	FILE *f = fmemopen((void *)text, strlen(text), "r");
	ck_assert_ptr_nonnull(f);
	int r = gd_conf_load_stream(f, "t.conf", c, err);
	fclose(f);
	return r;
}

/* The printed form of c (its meaning, whatever set it). */
static char *printed(const gd_config *c)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	ck_assert_ptr_nonnull(f);
	gd_conf_print(c, f);
	fclose(f);
	return buf;
}

static void assert_same(const gd_config *a, const gd_config *b)
{
	char *pa = printed(a), *pb = printed(b);
	ck_assert_str_eq(pa, pb);
	free(pa);
	free(pb);
}

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	ck_assert_msg(f != NULL, "%s: %s", path, strerror(errno));
	char *buf = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&buf, &len);
	char chunk[4096];
	size_t n;
	while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
		fwrite(chunk, 1, n, m);
	fclose(f);
	fclose(m);
	return buf;
}

START_TEST(defaults_need_no_file)
{
	gd_config c;
	gd_conf_defaults(&c);
	ck_assert_str_eq(c.socket, "/run/godaemon/godaemon.sock");
	ck_assert_uint_eq(c.socket_mode, 0660);
	ck_assert_str_eq(c.socket_group, "godaemon");
	ck_assert_uint_eq(c.workers, 0);
	ck_assert(c.watchdog);
	ck_assert_uint_eq(c.max_connections, 1024);
	ck_assert_uint_eq(c.max_message_size, 16u << 20);
	ck_assert_uint_eq(c.max_inflight, 64);
	ck_assert_int_eq(c.handshake_timeout, 10 * GD_SEC);
	ck_assert_uint_eq(c.max_running, 16);
	ck_assert_uint_eq(c.max_queued, 1024);
	ck_assert_uint_eq(c.max_queued_per_uid, 256);
	ck_assert_uint_eq(c.queue_capacity, 64);
	ck_assert_int_eq(c.retention, GD_HOUR);
	ck_assert_uint_eq(c.max_finished, 10000);
	ck_assert_int_eq(c.kill_grace, 5 * GD_SEC);
	ck_assert_int_eq(c.log_level, 6);
	for (int k = 0; k < GD_CONF_NKEYS; k++)
		ck_assert(!gd_conf_is_set(&c, (gd_conf_key)k));

	gd_config empty;
	gd_conf_error err;
	ck_assert_int_eq(load_str("", &empty, &err), 0);
	assert_same(&c, &empty);
}
END_TEST

START_TEST(missing_file_is_reported_and_changes_nothing)
{
	gd_config c;
	gd_conf_defaults(&c);
	c.workers = 3;
	gd_conf_error err;
	char path[512];
	snprintf(path, sizeof path, "%s/none.conf", gt_tmpdir());
	ck_assert_int_eq(gd_conf_load(path, &c, &err), -ENOENT);
	ck_assert_ptr_nonnull(strstr(err.text, "none.conf: No such file"));
	ck_assert_uint_eq(c.workers, 3);
	/* A directory opens but cannot be read. */
	ck_assert_int_eq(gd_conf_load(gt_tmpdir(), &c, &err), -EIO);
	ck_assert_ptr_nonnull(strstr(err.text, "read error"));
	ck_assert_uint_eq(c.workers, 3);
}
END_TEST

static const char every_key[] =
	"# all keys, none at its default\n"
	"[daemon]\n"
	"socket = /tmp/gd/test.sock\n"
	"socket_mode = 0600\n"
	"socket_group = wheel\n"
	"workers = 4\n"
	"watchdog = no\n"
	"\n"
	"[limits]\n"
	"max_connections = 10\n"
	"max_message_size = 1MiB\n"
	"max_inflight = 8\n"
	"handshake_timeout = 1m30s\n"
	"[jobs]\n"
	"max_running = 2\n"
	"max_queued = 20\n"
	"max_queued_per_uid = 5\n"
	"queue_capacity = 1000\n"
	"retention = 2d\n"
	"max_finished = 7\n"
	"kill_grace = 250ms\n"
	"[log]\n"
	"level = debug ; inline comment\n";

START_TEST(every_key_is_parsed)
{
	gd_config c;
	gd_conf_error err;
	ck_assert_msg(load_str(every_key, &c, &err) == 0, "%s", err.text);
	ck_assert_str_eq(c.socket, "/tmp/gd/test.sock");
	ck_assert_uint_eq(c.socket_mode, 0600);
	ck_assert_str_eq(c.socket_group, "wheel");
	ck_assert_uint_eq(c.workers, 4);
	ck_assert(!c.watchdog);
	ck_assert_uint_eq(c.max_connections, 10);
	ck_assert_uint_eq(c.max_message_size, 1u << 20);
	ck_assert_uint_eq(c.max_inflight, 8);
	ck_assert_int_eq(c.handshake_timeout, 90 * GD_SEC);
	ck_assert_uint_eq(c.max_running, 2);
	ck_assert_uint_eq(c.max_queued, 20);
	ck_assert_uint_eq(c.max_queued_per_uid, 5);
	ck_assert_uint_eq(c.queue_capacity, 1000);
	ck_assert_int_eq(c.retention, 2 * GD_DAY);
	ck_assert_uint_eq(c.max_finished, 7);
	ck_assert_int_eq(c.kill_grace, 250 * GD_MSEC);
	ck_assert_int_eq(c.log_level, 7);
	for (int k = 0; k < GD_CONF_NKEYS; k++)
		ck_assert_msg(gd_conf_is_set(&c, (gd_conf_key)k), "%s", gd_conf_key_name(k));
	ck_assert_uint_eq(c.line[GD_CK_SOCKET], 3);
	ck_assert_uint_eq(c.line[GD_CK_LOG_LEVEL], 23);
}
END_TEST

/* A table of bad files and the exact first line of the report. */
static const struct bad_case {
	const char *text;
	const char *report;
} bad_cases[] = {
	{"[daemon]\nsockett = /x\n", "t.conf:2: [daemon] unknown key 'sockett'"},
	{"\n[deamon]\nsocket = /x\n", "t.conf:2: unknown section [deamon] (known: daemon, limits, jobs, log)"},
	{"[daemon]\n[empty]\n", "t.conf:2: unknown section [empty]"},
	{"workers = 2\n", "t.conf:1: workers: key outside any section"},
	{"[jobs]\nretention = 30\n", "t.conf:2: [jobs] retention = 30: expected a duration like 100ms, 30s, 5m, 2h, 1d or 1h30m"},
	{"[jobs]\nretention = 5 minutes\n", "t.conf:2: [jobs] retention = 5 minutes: expected a duration"},
	{"[jobs]\nkill_grace = -1s\n", "t.conf:2: [jobs] kill_grace = -1s: expected a duration"},
	{"[jobs]\nkill_grace = 2h\n", "t.conf:2: [jobs] kill_grace = 2h: out of range (0 to 1h)"},
	{"[jobs]\nretention = 99999999999999999999d\n", "t.conf:2: [jobs] retention = 99999999999999999999d: out of range (0 to 30d)"},
	{"[limits]\nhandshake_timeout = 10ms\n", "t.conf:2: [limits] handshake_timeout = 10ms: out of range (100ms to 1h)"},
	{"[daemon]\nworkers = 257\n", "t.conf:2: [daemon] workers = 257: out of range (0 to 256)"},
	{"[daemon]\nworkers = two\n", "t.conf:2: [daemon] workers = two: expected a whole number"},
	{"[daemon]\nworkers = 2 # two\n", "t.conf:2: [daemon] workers = 2 # two: expected a whole number"},
	{"[limits]\nmax_connections = 0\n", "t.conf:2: [limits] max_connections = 0: out of range (1 to 1000000)"},
	{"[daemon]\nsocket_mode = 0999\n", "t.conf:2: [daemon] socket_mode = 0999: expected octal permission bits like 0660"},
	{"[daemon]\nsocket_mode = 4755\n", "t.conf:2: [daemon] socket_mode = 4755: out of range (0000 to 0777)"},
	{"[daemon]\nsocket_mode = rw\n", "t.conf:2: [daemon] socket_mode = rw: expected octal"},
	{"[daemon]\nsocket = run/x.sock\n", "t.conf:2: [daemon] socket = run/x.sock: expected an absolute path"},
	{"[daemon]\nsocket = /aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n",
	 "t.conf:2: [daemon] socket = /aaaa"},
	{"[daemon]\nsocket_group = -wheel\n", "t.conf:2: [daemon] socket_group = -wheel: expected a group name"},
	{"[daemon]\nwatchdog = maybe\n", "t.conf:2: [daemon] watchdog = maybe: expected yes or no"},
	{"[limits]\nmax_message_size = 16MB\n", "t.conf:2: [limits] max_message_size = 16MB: expected a size like 4096, 64KiB, 16MiB or 1GiB"},
	{"[limits]\nmax_message_size = 1KiB\n", "t.conf:2: [limits] max_message_size = 1KiB: out of range (4KiB to 1GiB)"},
	{"[log]\nlevel = verbose\n", "t.conf:2: [log] level = verbose: expected one of emerg, alert"},
	{"[daemon]\nworkers = 1\nworkers = 2\n", "t.conf:3: [daemon] workers set twice (first at line 2)"},
	{"[daemon]\nworkers = 1\n[limits]\n[daemon]\nworkers = 1\n", "t.conf:5: [daemon] workers set twice (first at line 2)"},
	{"[daemon]\nworkers\n", "t.conf:2: syntax error: expected key = value"},
	{"[daemon\nworkers = 1\n", "t.conf:1: syntax error: no ']' after the section name"},
	{"[jobs]\nmax_queued = 10\n", "t.conf:2: [jobs] max_queued_per_uid (256) is larger than max_queued (10)"},
	{"[jobs]\nmax_queued_per_uid = 11\nmax_queued = 10\n", "t.conf:2: [jobs] max_queued_per_uid (11) is larger than max_queued (10)"},
};

START_TEST(bad_files_are_reported_with_file_and_line)
{
	const struct bad_case *b = &bad_cases[_i];
	gd_config c, before;
	gd_conf_error err;
	gd_conf_defaults(&c);
	c.workers = 7; /* something a successful load would replace */
	before = c;
	ck_assert_int_eq(load_str(b->text, &c, &err), -EINVAL);
	ck_assert_int_ge(err.count, 1);
	ck_assert_msg(strncmp(err.text, b->report, strlen(b->report)) == 0,
	              "case %d: got \"%s\", want \"%s...\"", _i, err.text, b->report);
	assert_same(&c, &before);
	ck_assert_uint_eq(c.workers, 7);
}
END_TEST

START_TEST(failed_reload_keeps_the_previous_config)
{
	gd_config c, before;
	gd_conf_error err;
	ck_assert_int_eq(load_str(every_key, &c, &err), 0);
	before = c;
	char path[512];
	snprintf(path, sizeof path, "%s/g.conf", gt_tmpdir());
	FILE *f = fopen(path, "w");
	fputs("[daemon]\nworkers = 1\nwatchdog = yes\n[limits]\nmax_inflight = 0\n", f);
	fclose(f);
	ck_assert_int_eq(gd_conf_load(path, &c, &err), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err.text, "g.conf:5: [limits] max_inflight = 0: out of range"));
	assert_same(&c, &before);
	ck_assert_int_eq(memcmp(c.line, before.line, sizeof c.line), 0);
}
END_TEST

START_TEST(every_error_is_reported_in_line_order)
{
	gd_config c;
	gd_conf_error err;
	ck_assert_int_eq(load_str("[daemon]\nworkers = x\n[nope]\na = 1\n[log]\nlevel = loud\n"
	                          "junk line\n", &c, &err), -EINVAL);
	ck_assert_int_eq(err.count, 4);
	ck_assert_str_eq(err.text,
	                 "t.conf:2: [daemon] workers = x: expected a whole number\n"
	                 "t.conf:3: unknown section [nope] (known: daemon, limits, jobs, log)\n"
	                 "t.conf:6: [log] level = loud: expected one of emerg, alert, crit, err, "
	                 "warning, notice, info, debug\n"
	                 "t.conf:7: syntax error: expected key = value");

	/* Many errors: the report is cut, says so, and still counts them all. */
	char big[8192] = "[daemon]\n";
	for (int i = 0; i < 60; i++)
		strcat(big, "bogus_key_with_a_long_name = 1\n");
	ck_assert_int_eq(load_str(big, &c, &err), -EINVAL);
	ck_assert_int_eq(err.count, 60);
	ck_assert(strlen(err.text) < sizeof err.text);
	ck_assert_str_eq(err.text + strlen(err.text) - 4, "\n...");
}
END_TEST

START_TEST(lines_are_read_literally)
{
	gd_config c;
	gd_conf_error err;
	/* Indented lines are ordinary lines, never continuations. */
	ck_assert_int_eq(load_str("  [daemon]\n\tworkers = 3\n  watchdog = off\n", &c, &err), 0);
	ck_assert_uint_eq(c.workers, 3);
	ck_assert(!c.watchdog);
	ck_assert_int_eq(load_str("[daemon]\r\nworkers = 5\r\n; c\r\n# c\r\n", &c, &err), 0);
	ck_assert_uint_eq(c.workers, 5);
	/* An empty group is allowed: leave the socket's group alone. */
	ck_assert_int_eq(load_str("[daemon]\nsocket_group =\n", &c, &err), 0);
	ck_assert_str_eq(c.socket_group, "");
	/* A line longer than the parser's buffer is refused, not split. */
	char line[400] = "[daemon]\nsocket = /";
	memset(line + strlen(line), 'a', 300);
	strcat(line, "\nworkers = 9\n");
	ck_assert_int_eq(load_str(line, &c, &err), -EINVAL);
	ck_assert_int_eq(err.count, 1);
	ck_assert_ptr_nonnull(strstr(err.text, "t.conf:2: line longer than"));
}
END_TEST

START_TEST(value_syntaxes)
{
	static const struct { const char *s; int64_t ns; } durations[] = {
		{"0", 0}, {"0s", 0}, {"100ms", 100 * GD_MSEC}, {"30s", 30 * GD_SEC},
		{"5m", 5 * GD_MIN}, {"5min", 5 * GD_MIN}, {"2h", 2 * GD_HOUR}, {"1d", GD_DAY},
		{"1h30m", 90 * GD_MIN}, {"1h 30m 15s", 90 * GD_MIN + 15 * GD_SEC},
	};
	for (size_t i = 0; i < sizeof durations / sizeof durations[0]; i++) {
		int64_t v = -1;
		ck_assert_int_eq(gd_conf_parse_duration(durations[i].s, &v), 0);
		ck_assert_int_eq(v, durations[i].ns);
	}
	static const char *const bad_durations[] = {"", "s", "10", "1.5s", "1x", "-1s", "1s-", "1 s"};
	for (size_t i = 0; i < sizeof bad_durations / sizeof bad_durations[0]; i++) {
		int64_t v;
		ck_assert_msg(gd_conf_parse_duration(bad_durations[i], &v) == -EINVAL, "%s",
		              bad_durations[i]);
	}
	int64_t d;
	ck_assert_int_eq(gd_conf_parse_duration("106752d", &d), -ERANGE);
	ck_assert_int_eq(gd_conf_parse_duration("106751d 1d", &d), -ERANGE);

	uint64_t z;
	ck_assert_int_eq(gd_conf_parse_size("4096", &z), 0);
	ck_assert_uint_eq(z, 4096);
	ck_assert_int_eq(gd_conf_parse_size("64K", &z), 0);
	ck_assert_uint_eq(z, 64u << 10);
	ck_assert_int_eq(gd_conf_parse_size("16MiB", &z), 0);
	ck_assert_uint_eq(z, 16u << 20);
	ck_assert_int_eq(gd_conf_parse_size("1G", &z), 0);
	ck_assert_uint_eq(z, 1u << 30);
	ck_assert_int_eq(gd_conf_parse_size("1 MiB", &z), -EINVAL);
	ck_assert_int_eq(gd_conf_parse_size("1mib", &z), -EINVAL);
	ck_assert_int_eq(gd_conf_parse_size("17179869184GiB", &z), -ERANGE);

	int level;
	ck_assert_int_eq(gd_conf_parse_level("warning", &level), 0);
	ck_assert_int_eq(level, 4);
	ck_assert_str_eq(gd_conf_level_name(level), "warning");
	ck_assert_int_eq(gd_conf_parse_level("warn", &level), -EINVAL);
	ck_assert_ptr_null(gd_conf_level_name(8));
}
END_TEST

START_TEST(printed_config_loads_back_the_same)
{
	gd_config a, b;
	gd_conf_error err;
	ck_assert_int_eq(load_str(every_key, &a, &err), 0);
	char *text = printed(&a);
	ck_assert_msg(load_str(text, &b, &err) == 0, "%s\n%s", err.text, text);
	assert_same(&a, &b);
	free(text);
	gd_conf_defaults(&a);
	text = printed(&a);
	ck_assert_int_eq(load_str(text, &b, &err), 0);
	assert_same(&a, &b);
	ck_assert_int_eq(gd_conf_key_lookup("daemon", "socket"), GD_CK_SOCKET);
	ck_assert_int_eq(gd_conf_key_lookup("log", "socket"), -ENOENT);
	free(text);
}
END_TEST

/* config/godaemon.conf loads as shipped, and with its commented-out
 * "#key = value" lines enabled it sets every key to its built-in default. */
START_TEST(shipped_config_file_matches_the_table)
{
	gd_config shipped, defaults, enabled;
	gd_conf_error err;
	gd_conf_defaults(&defaults);
	ck_assert_msg(gd_conf_load(GT_SRCDIR "/config/godaemon.conf", &shipped, &err) == 0, "%s",
	              err.text);
	assert_same(&shipped, &defaults);

	char *text = slurp(GT_SRCDIR "/config/godaemon.conf");
	for (char *p = text; (p = strstr(p, "\n#")) != NULL; p++) {
		char key[64];
		if (sscanf(p + 2, "%63[a-z_] =", key) == 1 && strstr(p + 2, " = ") &&
		    strchr(p + 2, '=') < strchr(p + 2, '\n'))
			p[1] = ' ';
	}
	ck_assert_msg(load_str(text, &enabled, &err) == 0, "%s", err.text);
	assert_same(&enabled, &defaults);
	for (int k = 0; k < GD_CONF_NKEYS; k++)
		ck_assert_msg(gd_conf_is_set(&enabled, (gd_conf_key)k), "config/godaemon.conf lacks %s",
		              gd_conf_key_name(k));
	free(text);
}
END_TEST

/* godaemon.conf(5) documents every key under its section, with its default. */
START_TEST(man_page_documents_every_key)
{
	char *man = slurp(GT_SRCDIR "/docs/godaemon.conf.5");
	for (int k = 0; k < GD_CONF_NKEYS; k++) {
		char want[160];
		const char *section = strstr(man, gd_conf_key_section(k));
		snprintf(want, sizeof want, ".B %s\n", gd_conf_key_name(k));
		const char *entry = strstr(man, want);
		ck_assert_msg(section && entry, "godaemon.conf.5 lacks key %s", want);
		snprintf(want, sizeof want, "Default: \\fB%s\\fR", gd_conf_key_default(k));
		const char *def = strstr(entry, want);
		const char *next = strstr(entry + 1, "\n.TP\n");
		ck_assert_msg(def && (!next || def < next), "godaemon.conf.5: %s needs \"%s\"",
		              gd_conf_key_name(k), want);
	}
	free(man);
}
END_TEST

Suite *gt_suite(void)
{
	Suite *s = suite_create("config");
	TCase *tc = gt_tcase("config", 30);
	tcase_add_test(tc, defaults_need_no_file);
	tcase_add_test(tc, missing_file_is_reported_and_changes_nothing);
	tcase_add_test(tc, every_key_is_parsed);
	tcase_add_loop_test(tc, bad_files_are_reported_with_file_and_line, 0,
	                    (int)(sizeof bad_cases / sizeof bad_cases[0]));
	tcase_add_test(tc, failed_reload_keeps_the_previous_config);
	tcase_add_test(tc, every_error_is_reported_in_line_order);
	tcase_add_test(tc, lines_are_read_literally);
	tcase_add_test(tc, value_syntaxes);
	tcase_add_test(tc, printed_config_loads_back_the_same);
	tcase_add_test(tc, shipped_config_file_matches_the_table);
	tcase_add_test(tc, man_page_documents_every_key);
	suite_add_tcase(s, tc);
	return s;
}
