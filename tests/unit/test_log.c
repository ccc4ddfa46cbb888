/*
 * test_log.c — what an operator reads on stderr: one JSON object per line,
 * with level, process, event and message, control characters escaped, and
 * patient data redacted unless ARTERY_LOG_PHI=1.
 */
#include <criterion/criterion.h>
#include <criterion/redirect.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

/* Reads what the test wrote to stderr, one JSON object per line. */
static json_t *only_line(void)
{
	char buf[16384];
	size_t n;
	json_error_t jerr;
	json_t *o;
	FILE *fp = cr_get_redirected_stderr();

	fflush(stderr);
	n = fread(buf, 1, sizeof(buf) - 1, fp);
	buf[n] = '\0';
	cr_assert(n > 0 && buf[n - 1] == '\n', "no line: %s", buf);
	cr_assert_eq(strchr(buf, '\n'), buf + n - 1, "more than one line: %s", buf);
	o = json_loads(buf, 0, &jerr);
	cr_assert_not_null(o, "not JSON (%s): %s", jerr.text, buf);
	return o;
}

Test(log, one_json_object_per_line, .init = cr_redirect_stderr)
{
	json_t *o;

	art_log_init("artery-test");
	art_info("listener.start", "listening on %s:%d", "0.0.0.0", 2575);
	o = only_line();
	cr_assert_str_eq(json_string_value(json_object_get(o, "level")), "info");
	cr_assert_str_eq(json_string_value(json_object_get(o, "proc")), "artery-test");
	cr_assert_str_eq(json_string_value(json_object_get(o, "event")), "listener.start");
	cr_assert_str_eq(json_string_value(json_object_get(o, "msg")), "listening on 0.0.0.0:2575");
	cr_assert_not_null(json_object_get(o, "ts"));
	json_decref(o);
}

Test(log, control_characters_and_quotes_stay_one_line, .init = cr_redirect_stderr)
{
	json_t *o;

	art_log_init("artery-test");
	art_warn("x", "a \"quoted\"\rsegment\nand a \x01 byte\\");
	o = only_line();
	cr_assert_str_eq(json_string_value(json_object_get(o, "msg")),
			 "a \"quoted\"\rsegment\nand a \x01 byte\\");
	json_decref(o);
}

Test(log, phi_is_redacted_by_default, .init = cr_redirect_stderr)
{
	json_t *o;

	unsetenv("ARTERY_LOG_PHI");
	art_log_init("artery-test");
	art_info("msg.nak", "patient %s", art_log_phi("DOE^JANE"));
	o = only_line();
	cr_assert_str_eq(json_string_value(json_object_get(o, "msg")), "patient [redacted]");
	json_decref(o);
}

Test(log, phi_shown_only_when_asked, .init = cr_redirect_stderr)
{
	json_t *o;

	setenv("ARTERY_LOG_PHI", "1", 1);
	art_log_init("artery-test");
	art_info("msg.nak", "patient %s", art_log_phi("DOE^JANE"));
	o = only_line();
	cr_assert_str_eq(json_string_value(json_object_get(o, "msg")), "patient DOE^JANE");
	json_decref(o);
}

Test(log, level_threshold, .init = cr_redirect_stderr)
{
	json_t *o;

	setenv("ARTERY_LOG_LEVEL", "warn", 1);
	art_log_init("artery-test");
	art_info("quiet", "not shown");
	art_debug("quiet", "not shown");
	art_error("loud", "shown");
	o = only_line();
	cr_assert_str_eq(json_string_value(json_object_get(o, "event")), "loud");
	json_decref(o);
}
