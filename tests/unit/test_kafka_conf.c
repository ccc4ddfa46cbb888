/*
 * test_kafka_conf.c — bootstrap discovery, role defaults, the
 * ARTERY_KAFKA_<PROPERTY> environment mapping (including a property
 * librdkafka rejects) and the header helpers.
 */
#include "kafka.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

extern char **environ;

/* Each test starts without any ARTERY_KAFKA_* or bootstrap variables. */
static void clean_env(void)
{
	for (;;) {
		char name[256];
		int found = 0;

		for (char **e = environ; *e; e++) {
			const char *eq = strchr(*e, '=');

			if (!strncmp(*e, "ARTERY_KAFKA_", 13) && eq &&
			    (size_t)(eq - *e) < sizeof(name)) {
				memcpy(name, *e, (size_t)(eq - *e));
				name[eq - *e] = '\0';
				found = 1;
				break;
			}
		}
		if (!found)
			break;
		unsetenv(name);
	}
	unsetenv("ARTERY_BOOTSTRAP_FILE");
}

TestSuite(kafka_conf, .init = clean_env);

static char *conf_get(rd_kafka_conf_t *conf, const char *key)
{
	static char val[512];
	size_t size = sizeof(val);

	if (rd_kafka_conf_get(conf, key, val, &size) != RD_KAFKA_CONF_OK)
		return NULL;
	return val;
}

Test(kafka_conf, env_name_mapping)
{
	static const struct {
		const char *env;
		const char *prop; /* NULL: not a property variable */
	} cases[] = {
	    {"ARTERY_KAFKA_SECURITY_PROTOCOL", "security.protocol"},
	    {"ARTERY_KAFKA_LINGER_MS", "linger.ms"},
	    {"ARTERY_KAFKA_SESSION_TIMEOUT_MS", "session.timeout.ms"},
	    {"ARTERY_KAFKA_BOOTSTRAP", NULL},
	    {"ARTERY_KAFKA_", NULL},
	    {"ARTERY_LOG_LEVEL", NULL},
	    {"KAFKA_LINGER_MS", NULL},
	};
	char out[128];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int rc = art_kafka_env_property(cases[i].env, out, sizeof(out));

		if (cases[i].prop) {
			cr_expect_eq(rc, 0, "%s", cases[i].env);
			cr_expect_str_eq(out, cases[i].prop);
		} else {
			cr_expect_eq(rc, -1, "%s", cases[i].env);
		}
	}
	cr_expect_eq(art_kafka_env_property("ARTERY_KAFKA_LINGER_MS", out, 5), -1);
}

Test(kafka_conf, bootstrap_from_env)
{
	char err[512] = "";
	char *b;

	setenv("ARTERY_KAFKA_BOOTSTRAP", "k1:9092,k2:9092", 1);
	b = art_kafka_bootstrap(err, sizeof(err));
	cr_assert_not_null(b, "%s", err);
	cr_expect_str_eq(b, "k1:9092,k2:9092");
	free(b);
}

Test(kafka_conf, bootstrap_from_file)
{
	char path[] = "/tmp/art-bootstrap-XXXXXX", err[512] = "";
	int fd = mkstemp(path);
	char *b;

	cr_assert_neq(fd, -1);
	cr_assert_eq(write(fd, "  127.0.0.1:39091\n", 18), 18);
	close(fd);
	setenv("ARTERY_BOOTSTRAP_FILE", path, 1);
	cr_expect_str_eq(art_kafka_bootstrap_path(), path);
	b = art_kafka_bootstrap(err, sizeof(err));
	cr_assert_not_null(b, "%s", err);
	cr_expect_str_eq(b, "127.0.0.1:39091");
	free(b);
	/* The environment wins over the file. */
	setenv("ARTERY_KAFKA_BOOTSTRAP", "env:1", 1);
	b = art_kafka_bootstrap(err, sizeof(err));
	cr_expect_str_eq(b, "env:1");
	free(b);
	unlink(path);
}

Test(kafka_conf, missing_bootstrap_says_how_to_set_it)
{
	char err[512] = "";

	setenv("ARTERY_BOOTSTRAP_FILE", "/nonexistent/bootstrap", 1);
	cr_assert_null(art_kafka_bootstrap(err, sizeof(err)));
	cr_expect(strstr(err, "artery broker") != NULL, "%s", err);
	cr_expect(strstr(err, "ARTERY_KAFKA_BOOTSTRAP=host:port") != NULL, "%s", err);
	cr_assert_null(art_kafka_conf_new(ART_KAFKA_PRODUCER, err, sizeof(err)));
	cr_expect(strstr(err, "artery broker") != NULL, "%s", err);
}

Test(kafka_conf, producer_defaults)
{
	char err[512] = "";
	rd_kafka_conf_t *conf;

	setenv("ARTERY_KAFKA_BOOTSTRAP", "127.0.0.1:1", 1);
	conf = art_kafka_conf_new(ART_KAFKA_PRODUCER, err, sizeof(err));
	cr_assert_not_null(conf, "%s", err);
	cr_expect_str_eq(conf_get(conf, "bootstrap.servers"), "127.0.0.1:1");
	cr_expect_str_eq(conf_get(conf, "enable.idempotence"), "true");
	cr_expect_str_eq(conf_get(conf, "compression.codec"), "lz4");
	cr_expect_str_eq(conf_get(conf, "linger.ms"), "0");
	rd_kafka_conf_destroy(conf);
}

Test(kafka_conf, consumer_defaults)
{
	char err[512] = "";
	rd_kafka_conf_t *conf;

	setenv("ARTERY_KAFKA_BOOTSTRAP", "127.0.0.1:1", 1);
	conf = art_kafka_conf_new(ART_KAFKA_CONSUMER, err, sizeof(err));
	cr_assert_not_null(conf, "%s", err);
	cr_expect_str_eq(conf_get(conf, "enable.auto.commit"), "false");
	cr_expect_str_eq(conf_get(conf, "enable.auto.offset.store"), "false");
	cr_expect_str_eq(conf_get(conf, "enable.idempotence"), "false");
	rd_kafka_conf_destroy(conf);
}

Test(kafka_conf, env_overrides_defaults_and_props)
{
	static const struct art_kafka_prop props[] = {
	    {"linger.ms", "50", 3},
	    {"client.id", "from-topology", 4},
	};
	char err[512] = "";
	rd_kafka_conf_t *conf;

	setenv("ARTERY_KAFKA_BOOTSTRAP", "127.0.0.1:1", 1);
	setenv("ARTERY_KAFKA_LINGER_MS", "100", 1);
	setenv("ARTERY_KAFKA_SECURITY_PROTOCOL", "ssl", 1);
	conf = art_kafka_conf_new_with(ART_KAFKA_PRODUCER, props, 2, err, sizeof(err));
	cr_assert_not_null(conf, "%s", err);
	cr_expect_str_eq(conf_get(conf, "linger.ms"), "100");
	cr_expect_str_eq(conf_get(conf, "client.id"), "from-topology");
	cr_expect_str_eq(conf_get(conf, "security.protocol"), "ssl");
	rd_kafka_conf_destroy(conf);
}

Test(kafka_conf, rejected_env_property_is_named)
{
	char err[512] = "";

	setenv("ARTERY_KAFKA_BOOTSTRAP", "127.0.0.1:1", 1);
	setenv("ARTERY_KAFKA_NO_SUCH_THING", "1", 1);
	cr_assert_null(art_kafka_conf_new(ART_KAFKA_CONSUMER, err, sizeof(err)));
	cr_expect(strstr(err, "ARTERY_KAFKA_NO_SUCH_THING") != NULL, "%s", err);
	cr_expect(strstr(err, "no.such.thing") != NULL, "%s", err);
	unsetenv("ARTERY_KAFKA_NO_SUCH_THING");

	setenv("ARTERY_KAFKA_LINGER_MS", "soon", 1);
	cr_assert_null(art_kafka_conf_new(ART_KAFKA_PRODUCER, err, sizeof(err)));
	cr_expect(strstr(err, "ARTERY_KAFKA_LINGER_MS") != NULL, "%s", err);
}

Test(kafka_conf, rejected_prop_is_named)
{
	static const struct art_kafka_prop props[] = {{"acks", "most", 7}};
	char err[512] = "";

	setenv("ARTERY_KAFKA_BOOTSTRAP", "127.0.0.1:1", 1);
	cr_assert_null(art_kafka_conf_new_with(ART_KAFKA_PRODUCER, props, 1, err, sizeof(err)));
	cr_expect(strstr(err, "acks=most") != NULL, "%s", err);
}

Test(kafka_conf, conf_set_reports_key)
{
	char err[512] = "";
	rd_kafka_conf_t *conf = rd_kafka_conf_new();

	cr_expect_eq(art_kafka_conf_set(conf, "linger.ms", "7", err, sizeof(err)), 0);
	cr_expect_eq(art_kafka_conf_set(conf, "lingerr.ms", "7", err, sizeof(err)), -1);
	cr_expect(strstr(err, "lingerr.ms=7: ") == err, "%s", err);
	rd_kafka_conf_destroy(conf);
}

Test(kafka_conf, headers_roundtrip)
{
	static const char *const pairs[] = {
	    "artery.event_id", "e-1", "hl7.control_id", "MSG0001", "artery.event_id", "e-2", NULL,
	};
	rd_kafka_headers_t *hdrs = art_kafka_headers_new(pairs);
	const void *val;
	size_t vlen;

	cr_assert_not_null(hdrs);
	cr_expect_eq(rd_kafka_header_cnt(hdrs), 3);
	cr_assert_eq(rd_kafka_header_get_last(hdrs, "artery.event_id", &val, &vlen), 0);
	cr_expect_eq(vlen, 3);
	cr_expect(memcmp(val, "e-2", 3) == 0);
	rd_kafka_headers_destroy(hdrs);
}
