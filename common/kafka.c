/*
 * kafka.c — bootstrap discovery, role defaults and the ARTERY_KAFKA_*
 * environment pass-through for librdkafka configurations, plus record
 * header helpers. Runs once per client at start-up; the bootstrap file is a
 * single short line (capped at 4 KiB when read).
 */
#include "kafka.h"
#include "log.h"

#include "art.h"

#include <assert.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern char **environ;

#define ART_KAFKA_ENV_PREFIX    "ARTERY_KAFKA_"
#define ART_KAFKA_BOOTSTRAP_MAX 4096 /* bytes read from the bootstrap file */

const char *art_kafka_bootstrap_path(void)
{
	const char *p = getenv("ARTERY_BOOTSTRAP_FILE");

	if (p && *p)
		return p;
	return ART_KAFKA_BOOTSTRAP_FILE;
}

/* Returns a malloc'd copy of s[0..n) with leading/trailing whitespace
 * removed, stopping at the first newline; NULL when nothing is left or on
 * allocation failure. */
static char *art_kafka_trim_line(const char *s, size_t n)
{
	size_t b = 0, e;
	char *out;

	while (b < n && isspace((unsigned char)s[b]))
		b++;
	e = b;
	while (e < n && s[e] != '\n' && s[e] != '\r')
		e++;
	while (e > b && isspace((unsigned char)s[e - 1]))
		e--;
	if (e == b)
		return NULL;
	out = malloc(e - b + 1);
	if (!out)
		return NULL;
	memcpy(out, s + b, e - b);
	out[e - b] = '\0';
	return out;
}

char *art_kafka_bootstrap(char *errstr, size_t errstr_size)
{
	const char *env = getenv("ARTERY_KAFKA_BOOTSTRAP");
	const char *path;
	char ferr[256];
	char *data, *out;
	size_t len = 0;

	if (env && *env) {
		out = strdup(env);
		if (!out)
			snprintf(errstr, errstr_size, "out of memory");
		return out;
	}
	path = art_kafka_bootstrap_path();
	data = art_read_file(path, ART_KAFKA_BOOTSTRAP_MAX, &len, ferr, sizeof(ferr));
	if (!data) {
		snprintf(errstr, errstr_size,
		         "no Kafka bootstrap: ARTERY_KAFKA_BOOTSTRAP is not set and %s; "
		         "run `artery broker` (it writes %s) or export "
		         "ARTERY_KAFKA_BOOTSTRAP=host:port",
		         ferr, path);
		return NULL;
	}
	out = art_kafka_trim_line(data, len);
	free(data);
	if (!out)
		snprintf(errstr, errstr_size,
		         "no Kafka bootstrap: %s is empty; run `artery broker` or export "
		         "ARTERY_KAFKA_BOOTSTRAP=host:port",
		         path);
	return out;
}

int art_kafka_conf_set(rd_kafka_conf_t *conf, const char *key, const char *value, char *errstr,
                       size_t errstr_size)
{
	char rkerr[512];

	if (rd_kafka_conf_set(conf, key, value, rkerr, sizeof(rkerr)) != RD_KAFKA_CONF_OK) {
		snprintf(errstr, errstr_size, "%s=%s: %s", key, value, rkerr);
		return -1;
	}
	return 0;
}

int art_kafka_env_property(const char *name, char *out, size_t out_size)
{
	size_t plen = strlen(ART_KAFKA_ENV_PREFIX);
	size_t i;
	const char *s;

	if (strncmp(name, ART_KAFKA_ENV_PREFIX, plen) != 0)
		return -1;
	s = name + plen;
	if (!*s || !strcmp(s, "BOOTSTRAP"))
		return -1;
	for (i = 0; s[i]; i++) {
		if (i + 1 >= out_size)
			return -1;
		out[i] = s[i] == '_' ? '.' : (char)tolower((unsigned char)s[i]);
	}
	out[i] = '\0';
	return 0;
}

/* Applies every ARTERY_KAFKA_<PROPERTY>=value in the environment. */
static int art_kafka_conf_apply_env(rd_kafka_conf_t *conf, char *errstr, size_t errstr_size)
{
	char name[256], prop[256], err[512];

	for (char **e = environ; e && *e; e++) {
		const char *eq = strchr(*e, '=');
		size_t nlen;

		if (!eq || strncmp(*e, ART_KAFKA_ENV_PREFIX, strlen(ART_KAFKA_ENV_PREFIX)) != 0)
			continue;
		nlen = (size_t)(eq - *e);
		if (nlen >= sizeof(name)) {
			snprintf(errstr, errstr_size,
			         "environment variable %.64s...: name too long", *e);
			return -1;
		}
		memcpy(name, *e, nlen);
		name[nlen] = '\0';
		if (art_kafka_env_property(name, prop, sizeof(prop)) == -1)
			continue; /* ARTERY_KAFKA_BOOTSTRAP, handled elsewhere */
		if (rd_kafka_conf_set(conf, prop, eq + 1, err, sizeof(err)) != RD_KAFKA_CONF_OK) {
			snprintf(errstr, errstr_size, "environment variable %s (%s=%s): %s", name,
			         prop, eq + 1, err);
			return -1;
		}
	}
	return 0;
}

void art_kafka_log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
	enum art_log_level lvl = level <= 3   ? ART_LOG_ERROR
	                         : level == 4 ? ART_LOG_WARN
	                         : level <= 6 ? ART_LOG_INFO
	                                      : ART_LOG_DEBUG;

	(void)rk;
	art_log_emit(lvl, "kafka.log", "%s: %s", fac, buf);
}

rd_kafka_conf_t *art_kafka_conf_new_with(enum art_kafka_role role,
                                         const struct art_kafka_prop *props, size_t prop_cnt,
                                         char *errstr, size_t errstr_size)
{
	static const char *const producer_defaults[] = {
	    "enable.idempotence", "true", "acks", "all", "compression.codec", "lz4",
	    "linger.ms",          "0",    NULL,
	};
	static const char *const consumer_defaults[] = {
	    "enable.auto.commit", "false", "enable.auto.offset.store", "false", NULL,
	};
	const char *const *defs = NULL;
	rd_kafka_conf_t *conf;
	char *bootstrap;
	char err[512];

	bootstrap = art_kafka_bootstrap(errstr, errstr_size);
	if (!bootstrap)
		return NULL;
	conf = rd_kafka_conf_new();
	rd_kafka_conf_set_log_cb(conf, art_kafka_log_cb);
	if (art_kafka_conf_set(conf, "bootstrap.servers", bootstrap, errstr, errstr_size) == -1)
		goto fail;
	if (role == ART_KAFKA_PRODUCER)
		defs = producer_defaults;
	else if (role == ART_KAFKA_CONSUMER)
		defs = consumer_defaults;
	for (size_t i = 0; defs && defs[i]; i += 2)
		if (art_kafka_conf_set(conf, defs[i], defs[i + 1], errstr, errstr_size) == -1)
			goto fail;
	for (size_t i = 0; i < prop_cnt; i++) {
		if (rd_kafka_conf_set(conf, props[i].key, props[i].value, err, sizeof(err)) !=
		    RD_KAFKA_CONF_OK) {
			snprintf(errstr, errstr_size, "kafka property %s=%s: %s", props[i].key,
			         props[i].value, err);
			goto fail;
		}
	}
	if (art_kafka_conf_apply_env(conf, errstr, errstr_size) == -1)
		goto fail;
	free(bootstrap);
	return conf;
fail:
	free(bootstrap);
	rd_kafka_conf_destroy(conf);
	return NULL;
}

rd_kafka_conf_t *art_kafka_conf_new(enum art_kafka_role role, char *errstr, size_t errstr_size)
{
	return art_kafka_conf_new_with(role, NULL, 0, errstr, errstr_size);
}

int art_kafka_header_get(rd_kafka_message_t *rkm, const char *name, char *buf, size_t size)
{
	rd_kafka_headers_t *hdrs = NULL;
	const void *val = NULL;
	size_t vlen = 0;

	if (size == 0)
		return -2;
	if (rd_kafka_message_headers(rkm, &hdrs) != RD_KAFKA_RESP_ERR_NO_ERROR || !hdrs)
		return -1;
	if (rd_kafka_header_get_last(hdrs, name, &val, &vlen) != RD_KAFKA_RESP_ERR_NO_ERROR)
		return -1;
	if (!val)
		vlen = 0;
	if (vlen + 1 > size || (vlen && memchr(val, '\0', vlen)))
		return -2;
	if (vlen)
		memcpy(buf, val, vlen);
	buf[vlen] = '\0';
	return (int)ART_MIN(vlen, (size_t)0x7fffffff);
}

rd_kafka_headers_t *art_kafka_headers_new(const char *const *pairs)
{
	size_t n = 0;
	rd_kafka_headers_t *hdrs;

	while (pairs[n]) {
		assert(pairs[n + 1]); /* a name without a value */
		n += 2;
	}
	hdrs = rd_kafka_headers_new(n / 2);
	if (!hdrs)
		return NULL;
	for (size_t i = 0; i < n; i += 2)
		rd_kafka_header_add(hdrs, pairs[i], -1, pairs[i + 1], -1);
	return hdrs;
}
