/*
 * test_cli_hl7.c — runs the built `artery hl7 parse|get|ack|map` on the
 * examples and on small broken inputs, and checks what a user sees: stdout,
 * exit codes, JSON that loads.
 */
#include "art.h"

#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static char out[1 << 18];

/* Runs `artery ARGS` (stderr discarded) and returns its exit status; stdout
 * is in `out`. Skips the test when the binary was not built. */
static int artery(const char *args)
{
	char cmd[2048], bin[1024];
	size_t n = 0;
	FILE *fp;
	int st;

	snprintf(bin, sizeof(bin), "%s/artery", ART_BINARY_DIR);
	if (access(bin, X_OK) != 0)
		cr_skip_test("%s not built", bin);
	snprintf(cmd, sizeof(cmd), "cd '%s' && '%s' %s 2>/dev/null", ART_SOURCE_DIR, bin, args);
	fp = popen(cmd, "r");
	cr_assert_not_null(fp);
	while (n < sizeof(out) - 1) {
		size_t r = fread(out + n, 1, sizeof(out) - 1 - n, fp);

		if (r == 0)
			break;
		n += r;
	}
	out[n] = '\0';
	st = pclose(fp);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* A temp file with content; returns its path (static). */
static const char *tmpfile_with(const char *content)
{
	static char path[64];
	int fd;

	snprintf(path, sizeof(path), "/tmp/artery-cli-XXXXXX");
	fd = mkstemp(path);
	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, content, strlen(content)), (ssize_t)strlen(content));
	close(fd);
	return path;
}

Test(cli_hl7, get_prints_one_line_per_message)
{
	struct {
		const char *args, *want;
	} cases[] = {
	    {"hl7 get examples/hl7/adt_a01.hl7 PID-5.1", "DOE\n"},
	    {"hl7 get examples/hl7/adt_a01.hl7 PID-5", "DOE\n"},
	    {"hl7 get examples/hl7/adt_a01.hl7 PID-3[2].1", "987-65-4320\n"},
	    {"hl7 get examples/hl7/adt_a01.hl7 MSH-9.2", "A01\n"},
	    {"hl7 get examples/hl7/batch_3.hl7 PID-5.1", "DOE\nROE\nDOE\n"},
	    {"hl7 get examples/hl7/batch_3.hl7 MSH-10",
	     "NWGH-ADT-000201\nNWGH-ADT-000202\nNWGH-LAB-004499\n"},
	    {"hl7 get examples/hl7/oru_r01.hl7 OBX[2]-8", "HH\n"},
	    {"hl7 get examples/hl7/oru_r01.hl7 OBX[5]-5",
	     "Specimen slightly hemolyzed.\\nPotassium may be falsely elevated; recollection "
	     "advised.\\nResult verified by J. ALVAREZ, MLS\n"},
	    {"hl7 get examples/hl7/custom_delims.hl7 PID-11.1", "1200 ELM ST!APT 4B\n"},
	    {"hl7 get examples/hl7/custom_delims.hl7 PID-5.2", "JANE\n"},
	    {"hl7 get examples/hl7/adt_a01.hl7 ZZZ-1", "\n"},
	    {"hl7 get examples/hl7/adt_a01.hl7 PID-99", "\n"},
	};

	for (size_t i = 0; i < ART_ARRAY_SIZE(cases); i++) {
		cr_expect_eq(artery(cases[i].args), 0, "%s", cases[i].args);
		cr_expect_str_eq(out, cases[i].want, "%s", cases[i].args);
	}
}

Test(cli_hl7, get_distinguishes_explicit_null_and_bad_path)
{
	const char *f = tmpfile_with("MSH|^~\\&|A|B|C|D|2026||ADT^A08|X1|P|2.5\r"
	                             "PID|1||M1||\"\"|\r");
	char args[256];

	snprintf(args, sizeof(args), "hl7 get %s PID-5", f);
	cr_expect_eq(artery(args), 0);
	cr_expect_str_eq(out, "\"\"\n");
	snprintf(args, sizeof(args), "hl7 get %s 'P!D-5'", f);
	cr_expect_eq(artery(args), 2);
	unlink(f);
	cr_expect_eq(artery("hl7 get"), 2);
}

Test(cli_hl7, parse_json_is_one_object_per_message)
{
	json_error_t jerr;
	char *line, *nl;
	int n = 0;

	cr_assert_eq(artery("hl7 parse --json examples/hl7/batch_3.hl7 examples/hl7/oru_r01.hl7"),
	             0);
	for (line = out; *line; line = nl + 1) {
		json_t *o, *segs, *f5;

		nl = strchr(line, '\n');
		cr_assert_not_null(nl, "every object ends with a newline");
		*nl = '\0';
		o = json_loads(line, 0, &jerr);

		cr_assert_not_null(o, "%s: %s", jerr.text, line);
		cr_expect(json_is_true(json_object_get(o, "ok")));
		segs = json_object_get(o, "segments");
		cr_assert(json_array_size(segs) >= 3);
		cr_expect_str_eq(json_string_value(json_object_get(json_array_get(segs, 0), "id")),
		                 "MSH");
		if (n == 3) { /* oru_r01: OBX|5 TX value decoded, \.br\ as a newline */
			json_t *obx5 = json_array_get(segs, 10);

			f5 = json_array_get(json_object_get(obx5, "fields"), 4);
			cr_expect_not_null(strstr(json_string_value(f5), "hemolyzed.\nPotassium"));
		}
		json_decref(o);
		n++;
	}
	cr_expect_eq(n, 4);
}

Test(cli_hl7, parse_json_repetitions_and_components)
{
	json_error_t jerr;
	json_t *o, *pid, *f3, *f5;

	cr_assert_eq(artery("hl7 parse --json examples/hl7/adt_a08.hl7"), 0);
	o = json_loads(out, 0, &jerr);
	cr_assert_not_null(o, "%s", jerr.text);
	pid = json_array_get(json_object_get(o, "segments"), 2);
	cr_assert_str_eq(json_string_value(json_object_get(pid, "id")), "PID");
	f3 = json_array_get(json_object_get(pid, "fields"), 2);
	cr_expect_str_eq(json_string_value(json_array_get(f3, 0)), "MRN100234");
	f5 = json_object_get(json_array_get(json_object_get(pid, "fields"), 4), "rep");
	cr_expect_eq(json_array_size(f5), 2);
	cr_expect_str_eq(json_string_value(json_array_get(json_array_get(f5, 1), 0)), "SMITH");
	json_decref(o);
}

Test(cli_hl7, parse_dump_and_errors)
{
	const char *bad = tmpfile_with("MSH|^~\\&|A|B|C|D|2026||ADT^A01|X1|P|2.5\rPID|1\rP!D|2\r");
	char args[256];

	cr_expect_eq(artery("hl7 parse examples/hl7/adt_a01.hl7"), 0);
	cr_expect_not_null(strstr(out, "PID-5.1          DOE"), "%s", out);
	cr_expect_not_null(strstr(out, "PID-3[2].1"), "%s", out);
	snprintf(args, sizeof(args), "hl7 parse --json %s", bad);
	cr_expect_eq(artery(args), 1);
	cr_expect_not_null(strstr(out, "\"ok\":false"), "%s", out);
	cr_expect_not_null(strstr(out, "segment 3"), "%s", out);
	cr_expect_eq(artery("hl7 parse /nonexistent.hl7"), 1);
	cr_expect_eq(artery("hl7 parse"), 2);
	unlink(bad);
}

Test(cli_hl7, ack_original_enhanced_and_batch)
{
	cr_expect_eq(artery("hl7 ack --control-id K1 --timestamp 20260314120000 "
	                    "examples/hl7/adt_a04.hl7"),
	             0);
	cr_expect_str_eq(out, "MSH|^~\\&|ARTERY|NWGH|REGADT|NWGH|20260314120000||ACK^A04|K1|P|2.3\n"
	                      "MSA|AA|NWGH-ADT-000102\n");
	cr_expect_eq(artery("hl7 ack --code AE --control-id K1 --timestamp 20260314120000 "
	                    "examples/hl7/adt_a01_enhanced.hl7"),
	             0);
	cr_expect_not_null(strstr(out, "\nMSA|CE|NWGH-ADT-000104\n"), "%s", out);
	cr_expect_not_null(strstr(out, "\nERR|||207^"), "%s", out);
	cr_expect_eq(artery("hl7 ack --mode original --code AR examples/hl7/adt_a01_enhanced.hl7"),
	             0);
	cr_expect_not_null(strstr(out, "\nMSA|AR|NWGH-ADT-000104"), "%s", out);
	cr_expect_eq(artery("hl7 ack examples/hl7/batch_3.hl7"), 0);
	cr_expect_not_null(strstr(out, "MSA|AA|NWGH-ADT-000201\n\nMSH"), "%s", out);
	cr_expect_not_null(strstr(out, "MSA|AA|NWGH-LAB-004499\n"), "%s", out);
	cr_expect_eq(
	    artery("hl7 ack --raw --control-id K1 --timestamp 1 examples/hl7/custom_delims.hl7"),
	    0);
	cr_expect_str_eq(out, "MSH!$%?*!ARTERY!NWGH!LEGACYADT!SOUTHCLINIC!1!!ACK$A04!K1!P!2.3\r"
	                      "MSA!AA!SC-000777\r");
	cr_expect_eq(artery("hl7 ack --code XX examples/hl7/adt_a04.hl7"), 2);
}

Test(cli_hl7, ack_for_unparseable_message_is_ar)
{
	const char *bad = tmpfile_with("MSH|^~\\&|A|B|C|D|2026||ADT^A01|X9|P|2.5\rPID|1\rP!D|2\r");
	char args[256];

	snprintf(args, sizeof(args), "hl7 ack %s", bad);
	cr_expect_eq(artery(args), 0);
	cr_expect_not_null(strstr(out, "\nMSA|AR|X9|"), "%s", out);
	cr_expect_not_null(strstr(out, "\nERR|||102^Data type error^HL70357|E"), "%s", out);
	unlink(bad);
}

Test(cli_hl7, help)
{
	cr_expect_eq(artery("hl7 --help"), 0);
	cr_expect_not_null(strstr(out, "parse"));
	cr_expect_eq(artery("hl7 parse --help"), 0);
	cr_expect_not_null(strstr(out, "--json"));
	cr_expect_eq(artery("hl7 get --help"), 0);
	cr_expect_not_null(strstr(out, "explicit null"));
	cr_expect_eq(artery("hl7 ack --help"), 0);
	cr_expect_not_null(strstr(out, "--mode"));
	cr_expect_eq(artery("hl7 nope"), 2);
}

Test(cli_hl7, map_prints_the_canonical_events_without_kafka)
{
	static const struct {
		const char *file;
		const char *want[3]; /* event types in order; NULL-terminated */
	} cases[] = {
	    {"examples/hl7/oru_r01.hl7", {"result.final", NULL}},
	    {"examples/hl7/adt_a01.hl7", {"patient.updated", "encounter.admitted", NULL}},
	    {"examples/hl7/adt_a08.hl7", {"patient.updated", "encounter.updated", NULL}},
	};

	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		char args[256], *line, *save = NULL;
		size_t n = 0;

		snprintf(args, sizeof(args), "hl7 map --json %s", cases[c].file);
		cr_assert_eq(artery(args), 0, "%s", cases[c].file);
		for (line = strtok_r(out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
			json_error_t jerr;
			json_t *o = json_loads(line, 0, &jerr);
			json_t *v;

			cr_assert_not_null(o, "not JSON: %s", line);
			cr_assert_not_null(cases[c].want[n], "%s: more events than expected: %s",
					   cases[c].file, line);
			cr_assert_str_eq(json_string_value(json_object_get(o, "event_type")),
					 cases[c].want[n], "%s event %zu", cases[c].file, n);
			/* The decoded record carries the same event type and the id. */
			v = json_object_get(o, "value");
			cr_assert_str_eq(json_string_value(json_object_get(v, "event_type")),
					 cases[c].want[n]);
			cr_assert_str_eq(json_string_value(json_object_get(v, "event_id")),
					 json_string_value(json_object_get(o, "event_id")));
			json_decref(o);
			n++;
		}
		cr_assert_null(cases[c].want[n], "%s: only %zu events", cases[c].file, n);
	}
}

Test(cli_hl7, map_reports_what_maps_to_nothing)
{
	const char *unsupported =
	    tmpfile_with("MSH|^~\\&|A|B|C|D|20260101||MFN^M02|X1|P|2.5.1\rMFI|PRA\r");
	char args[256];

	snprintf(args, sizeof(args), "hl7 map --json %s", unsupported);
	cr_assert_eq(artery(args), 0, "an unsupported type is kept raw, not an error");
	cr_assert(strstr(out, "\"status\":\"unsupported\"") != NULL, "%s", out);
	unlink(unsupported);

	/* An ADT without a PID cannot be mapped: exit 1, with the reason. */
	const char *nopid = tmpfile_with("MSH|^~\\&|A|B|C|D|20260101||ADT^A04|X2|P|2.5.1\rEVN|A04\r");
	snprintf(args, sizeof(args), "hl7 map --json %s", nopid);
	cr_assert_eq(artery(args), 1);
	cr_assert(strstr(out, "\"status\":\"unmappable\"") != NULL, "%s", out);
	unlink(nopid);
}
