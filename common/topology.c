/*
 * topology.c — loads topology/topology.yaml with libyaml's document API
 * (the whole file is a few KiB: composing it into a node tree and walking
 * that is simpler than an event state machine, and every node keeps its
 * line for "file:line: message" errors). Every mapping is checked against
 * the keys it may hold; an unknown or duplicate key is an error, and so is
 * any value outside its documented range. Cross-references (a listener's
 * topics must be declared) are checked after the walk, so sections may come
 * in any order.
 */
#include "topology.h"

#include "art.h"

#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <yaml.h>

#define ART_TOPIC_NAME_MAX 249 /* Kafka's limit */

/* The built-in topics: DESIGN §3 defaults, used when `topics:` is absent. */
static const struct {
	const char *name;
	int partitions;
} art_default_topics[] = {
    {"raw.hl7v2", 6},
    {"raw.fhir", 6},
    {"raw.file", 6},
    {"canonical.patient", 6},
    {"canonical.encounter", 6},
    {"canonical.order", 6},
    {"canonical.result", 6},
    {"canonical.appointment", 6},
    {"canonical.document", 6},
    {"canonical.immunization", 6},
    {"dlq.mllp-in", 3},
    {"dlq.file-in", 3},
    {"dlq.http-in", 3},
    {"dlq.ehr-out", 3},
    {"alerts", 3},
};

#define ART_TOPIC_DEFAULT_PARTITIONS 3 /* a topic entry without `partitions` */

/* The processes Artery has, with their default admin ports. */
static const struct {
	const char *name;
	int admin_port;
} art_known_processes[] = {
    {"mllp-in", 9301},  {"file-in", 9302},   {"http-in", 9303},       {"ehr-out", 9311},
    {"task-out", 9312}, {"alert-out", 9314}, {"analytics-out", 9313},
};

struct art_topo_ctx {
	const char *path;
	yaml_document_t *doc;
	struct art_topology *t;
	int topics_seen; /* `topics:` was in the file */
	char *errstr;
	size_t errstr_size;
};

/* Formats "path:line: message" (line of node) into the context's errstr and
 * returns -1. */
static int art_topo_err(struct art_topo_ctx *c, const yaml_node_t *node, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int art_topo_err(struct art_topo_ctx *c, const yaml_node_t *node, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(c->errstr, c->errstr_size, "%s:%lu: %s", c->path,
	         node ? (unsigned long)node->start_mark.line + 1 : 1UL, msg);
	return -1;
}

static int art_topo_oom(struct art_topo_ctx *c, const yaml_node_t *node)
{
	return art_topo_err(c, node, "out of memory");
}

static yaml_node_t *art_topo_node(struct art_topo_ctx *c, int idx)
{
	return yaml_document_get_node(c->doc, idx);
}

/* True for a node that means "nothing": `key:` with no value, `~`, `null`. */
static int art_topo_is_null(const yaml_node_t *n)
{
	const char *v;

	if (n->type != YAML_SCALAR_NODE)
		return 0;
	v = (const char *)n->data.scalar.value;
	if (n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return 0;
	return !*v || !strcmp(v, "~") || !strcmp(v, "null") || !strcmp(v, "Null") ||
	       !strcmp(v, "NULL");
}

static const char *art_topo_scalar(const yaml_node_t *n)
{
	return n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

/* Checks that n is a mapping whose keys are unique scalars from allowed
 * (NULL-terminated; NULL allows any key). what names it in messages. */
static int art_topo_check_map(struct art_topo_ctx *c, const yaml_node_t *n, const char *what,
                              const char *const *allowed)
{
	yaml_node_pair_t *p, *q;

	if (n->type != YAML_MAPPING_NODE)
		return art_topo_err(c, n, "%s must be a mapping", what);
	for (p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
		yaml_node_t *k = art_topo_node(c, p->key);
		const char *ks = art_topo_scalar(k);
		int ok = allowed == NULL;

		if (!ks)
			return art_topo_err(c, k, "%s: keys must be plain strings", what);
		for (size_t i = 0; allowed && allowed[i]; i++)
			if (!strcmp(ks, allowed[i]))
				ok = 1;
		if (!ok) {
			char list[256] = "";
			size_t len = 0;

			for (size_t i = 0; allowed[i]; i++) {
				int w = snprintf(list + len, sizeof(list) - len, "%s%s",
				                 i ? ", " : "", allowed[i]);
				if (w < 0 || (size_t)w >= sizeof(list) - len)
					break;
				len += (size_t)w;
			}
			return art_topo_err(c, k, "unknown key '%s' in %s (expected one of: %s)",
			                    ks, what, list);
		}
		for (q = n->data.mapping.pairs.start; q < p; q++) {
			const char *qs = art_topo_scalar(art_topo_node(c, q->key));
			if (qs && !strcmp(qs, ks))
				return art_topo_err(c, k, "duplicate key '%s' in %s", ks, what);
		}
	}
	return 0;
}

/* Reads a scalar string value; returns a malloc'd copy in *out (replacing
 * any previous one). */
static int art_topo_str(struct art_topo_ctx *c, const yaml_node_t *v, const char *key, char **out)
{
	const char *s = art_topo_scalar(v);
	char *d;

	if (!s || !*s || art_topo_is_null(v))
		return art_topo_err(c, v, "%s must be a non-empty string", key);
	d = strdup(s);
	if (!d)
		return art_topo_oom(c, v);
	free(*out);
	*out = d;
	return 0;
}

static int art_topo_int(struct art_topo_ctx *c, const yaml_node_t *v, const char *key,
                        long long min, long long max, int *out)
{
	const char *s = art_topo_scalar(v);
	long long n;

	if (!s || art_parse_int(s, min, max, &n) == -1)
		return art_topo_err(c, v, "%s must be an integer in [%lld, %lld], not '%s'", key,
		                    min, max, s ? s : "(not a scalar)");
	*out = (int)n;
	return 0;
}

/* A byte size: an integer, optionally followed by K, KiB, M or MiB
 * (powers of 1024). */
static int art_topo_size(struct art_topo_ctx *c, const yaml_node_t *v, const char *key, size_t min,
                         size_t max, size_t *out)
{
	static const struct {
		const char *suffix;
		unsigned long long mult;
	} units[] = {
	    {"", 1}, {"K", 1024}, {"KiB", 1024}, {"M", 1024 * 1024}, {"MiB", 1024 * 1024},
	};
	const char *s = art_topo_scalar(v);
	unsigned long long n, mult = 0;
	char *end;

	if (!s || *s < '0' || *s > '9')
		goto bad;
	errno = 0;
	n = strtoull(s, &end, 10);
	if (errno)
		goto bad;
	for (size_t i = 0; i < ART_ARRAY_SIZE(units); i++)
		if (!strcmp(end, units[i].suffix))
			mult = units[i].mult;
	if (!mult || n > max / mult || n * mult < min)
		goto bad;
	*out = (size_t)(n * mult);
	return 0;
bad:
	return art_topo_err(c, v,
	                    "%s must be a size in bytes in [%zu, %zu] (an integer, optionally with "
	                    "K, KiB, M or MiB), not '%s'",
	                    key, min, max, s ? s : "(not a scalar)");
}

/* Reads an IPv4 or IPv6 address literal (what bind() and the admin server
 * accept: no host names, so start-up never waits on DNS). */
static int art_topo_addr(struct art_topo_ctx *c, const yaml_node_t *v, const char *key, char **out)
{
	unsigned char a[sizeof(struct in6_addr)];
	const char *s = art_topo_scalar(v);

	if (!s || (inet_pton(AF_INET, s, a) != 1 && inet_pton(AF_INET6, s, a) != 1))
		return art_topo_err(c, v, "%s must be an IPv4 or IPv6 address, not '%s'", key,
		                    s ? s : "(not a scalar)");
	return art_topo_str(c, v, key, out);
}

static int art_topic_name_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > ART_TOPIC_NAME_MAX || !strcmp(s, ".") || !strcmp(s, ".."))
		return 0;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '.' || *s == '_' || *s == '-'))
			return 0;
	return 1;
}

/* ---- kafka: ------------------------------------------------------------ */

static int art_topo_kafka(struct art_topo_ctx *c, const yaml_node_t *n)
{
	struct art_topology *t = c->t;
	rd_kafka_conf_t *conf;
	yaml_node_pair_t *p;
	char err[512];
	size_t cnt;
	int rc = -1;

	if (art_topo_is_null(n))
		return 0;
	if (art_topo_check_map(c, n, "kafka", NULL) == -1)
		return -1;
	cnt = (size_t)(n->data.mapping.pairs.top - n->data.mapping.pairs.start);
	t->kafka = calloc(cnt ? cnt : 1, sizeof(*t->kafka));
	if (!t->kafka)
		return art_topo_oom(c, n);
	/* Validate each property against librdkafka now, so a typo is reported
	 * with its line instead of at client creation. */
	conf = rd_kafka_conf_new();
	for (p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
		yaml_node_t *k = art_topo_node(c, p->key), *v = art_topo_node(c, p->value);
		const char *ks = art_topo_scalar(k), *vs = art_topo_scalar(v);
		struct art_kafka_prop *kp = &t->kafka[t->kafka_cnt];

		if (!strcmp(ks, "bootstrap.servers")) {
			art_topo_err(c, k,
			             "kafka: bootstrap.servers does not belong in the topology; "
			             "set ARTERY_KAFKA_BOOTSTRAP (or run `artery broker`)");
			goto out;
		}
		if (!vs || art_topo_is_null(v)) {
			art_topo_err(c, v, "kafka: %s must have a scalar value", ks);
			goto out;
		}
		if (rd_kafka_conf_set(conf, ks, vs, err, sizeof(err)) != RD_KAFKA_CONF_OK) {
			art_topo_err(c, k, "kafka: %s=%s: %s", ks, vs, err);
			goto out;
		}
		kp->key = strdup(ks);
		kp->value = strdup(vs);
		kp->line = (int)k->start_mark.line + 1;
		t->kafka_cnt++;
		if (!kp->key || !kp->value) {
			art_topo_oom(c, k);
			goto out;
		}
	}
	rc = 0;
out:
	rd_kafka_conf_destroy(conf);
	return rc;
}

/* ---- topics: ----------------------------------------------------------- */

static int art_topo_topic(struct art_topo_ctx *c, const yaml_node_t *n, struct art_topic *tp)
{
	static const char *const keys[] = {"name", "partitions", "replication", NULL};
	yaml_node_pair_t *p;

	tp->partitions = ART_TOPIC_DEFAULT_PARTITIONS;
	tp->replication = 1;
	tp->line = (int)n->start_mark.line + 1;
	if (art_topo_check_map(c, n, "topic", keys) == -1)
		return -1;
	for (p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
		const char *k = art_topo_scalar(art_topo_node(c, p->key));
		yaml_node_t *v = art_topo_node(c, p->value);
		int rc;

		if (!strcmp(k, "name"))
			rc = art_topo_str(c, v, "name", &tp->name);
		else if (!strcmp(k, "partitions"))
			rc = art_topo_int(c, v, "partitions", 1, 10000, &tp->partitions);
		else
			rc = art_topo_int(c, v, "replication", 1, 32, &tp->replication);
		if (rc == -1)
			return -1;
	}
	if (!tp->name)
		return art_topo_err(c, n, "topic without a name");
	if (!art_topic_name_ok(tp->name))
		return art_topo_err(c, n,
		                    "topic name '%s' is not a legal Kafka topic name (1-249 of "
		                    "[a-zA-Z0-9._-])",
		                    tp->name);
	return 0;
}

static void art_topics_free(struct art_topic *topics, size_t cnt)
{
	for (size_t i = 0; i < cnt; i++)
		free(topics[i].name);
	free(topics);
}

static int art_topo_topics(struct art_topo_ctx *c, const yaml_node_t *n)
{
	struct art_topology *t = c->t;
	yaml_node_item_t *it;
	size_t cnt;

	c->topics_seen = 1;
	art_topics_free(t->topics, t->topic_cnt);
	t->topics = NULL;
	t->topic_cnt = 0;
	if (art_topo_is_null(n))
		return 0;
	if (n->type != YAML_SEQUENCE_NODE)
		return art_topo_err(c, n,
		                    "topics must be a list of {name, partitions, replication}");
	cnt = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
	t->topics = calloc(cnt ? cnt : 1, sizeof(*t->topics));
	if (!t->topics)
		return art_topo_oom(c, n);
	for (it = n->data.sequence.items.start; it < n->data.sequence.items.top; it++) {
		yaml_node_t *v = art_topo_node(c, *it);
		struct art_topic *tp = &t->topics[t->topic_cnt++];

		if (art_topo_topic(c, v, tp) == -1)
			return -1;
		for (size_t i = 0; i + 1 < t->topic_cnt; i++)
			if (!strcmp(t->topics[i].name, tp->name))
				return art_topo_err(c, v, "topic '%s' already declared at line %d",
				                    tp->name, t->topics[i].line);
	}
	return 0;
}

/* ---- sources: mllp: ---------------------------------------------------- */

static int art_topo_enum(struct art_topo_ctx *c, const yaml_node_t *v, const char *key,
                         const char *const *names, int *out)
{
	const char *s = art_topo_scalar(v);

	for (int i = 0; s && names[i]; i++) {
		if (!strcmp(s, names[i])) {
			*out = i;
			return 0;
		}
	}
	return art_topo_err(c, v, "%s must be one of %s|%s%s%s, not '%s'", key, names[0], names[1],
	                    names[2] ? "|" : "", names[2] ? names[2] : "",
	                    s ? s : "(not a scalar)");
}

static const char *const art_ack_mode_names[] = {"auto", "original", "enhanced", NULL};
static const char *const art_on_error_names[] = {"quarantine", "reject", NULL};

const char *art_ack_mode_name(enum art_hl7_ack_mode mode)
{
	return art_ack_mode_names[mode];
}

const char *art_on_error_name(enum art_on_error policy)
{
	return art_on_error_names[policy];
}

static int art_topo_listener(struct art_topo_ctx *c, const yaml_node_t *n,
                             struct art_mllp_listener *l)
{
	static const char *const keys[] = {
	    "name",      "port",     "bind",           "max_message_size", "idle_timeout_ms",
	    "ack_mode",  "on_error", "dedup_window_s", "kafka_timeout_ms", "raw_topic",
	    "dlq_topic", NULL,
	};
	yaml_node_pair_t *p;
	int port_set = 0;

	l->line = (int)n->start_mark.line + 1;
	l->max_message_size = 1024 * 1024;
	l->idle_timeout_ms = 300000;
	l->ack_mode = ART_ACK_AUTO;
	l->on_error = ART_ON_ERROR_QUARANTINE;
	l->dedup_window_s = 600;
	l->kafka_timeout_ms = 10000;
	l->bind = strdup("0.0.0.0");
	l->raw_topic = strdup("raw.hl7v2");
	l->dlq_topic = strdup("dlq.mllp-in");
	if (!l->bind || !l->raw_topic || !l->dlq_topic)
		return art_topo_oom(c, n);
	if (art_topo_check_map(c, n, "mllp listener", keys) == -1)
		return -1;
	for (p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
		const char *k = art_topo_scalar(art_topo_node(c, p->key));
		yaml_node_t *v = art_topo_node(c, p->value);
		int rc, e;

		if (!strcmp(k, "name")) {
			rc = art_topo_str(c, v, k, &l->name);
		} else if (!strcmp(k, "port")) {
			rc = art_topo_int(c, v, k, 0, 65535, &l->port);
			port_set = 1;
		} else if (!strcmp(k, "bind")) {
			rc = art_topo_addr(c, v, k, &l->bind);
		} else if (!strcmp(k, "max_message_size")) {
			rc = art_topo_size(c, v, k, 1024, 64 * 1024 * 1024, &l->max_message_size);
		} else if (!strcmp(k, "idle_timeout_ms")) {
			rc = art_topo_int(c, v, k, 100, 86400000, &l->idle_timeout_ms);
		} else if (!strcmp(k, "ack_mode")) {
			rc = art_topo_enum(c, v, k, art_ack_mode_names, &e);
			l->ack_mode = (enum art_hl7_ack_mode)e;
		} else if (!strcmp(k, "on_error")) {
			rc = art_topo_enum(c, v, k, art_on_error_names, &e);
			l->on_error = (enum art_on_error)e;
		} else if (!strcmp(k, "dedup_window_s")) {
			rc = art_topo_int(c, v, k, 0, 7 * 86400, &l->dedup_window_s);
		} else if (!strcmp(k, "kafka_timeout_ms")) {
			rc = art_topo_int(c, v, k, 100, 600000, &l->kafka_timeout_ms);
		} else if (!strcmp(k, "raw_topic")) {
			rc = art_topo_str(c, v, k, &l->raw_topic);
		} else {
			rc = art_topo_str(c, v, k, &l->dlq_topic);
		}
		if (rc == -1)
			return -1;
	}
	if (!l->name)
		return art_topo_err(c, n, "mllp listener without a name");
	if (!port_set)
		return art_topo_err(c, n, "mllp listener '%s' without a port", l->name);
	return 0;
}

static void art_listeners_free(struct art_mllp_listener *ls, size_t cnt)
{
	for (size_t i = 0; i < cnt; i++) {
		free(ls[i].name);
		free(ls[i].bind);
		free(ls[i].raw_topic);
		free(ls[i].dlq_topic);
	}
	free(ls);
}

static int art_topo_mllp(struct art_topo_ctx *c, const yaml_node_t *n)
{
	struct art_topology *t = c->t;
	yaml_node_item_t *it;
	size_t cnt;

	if (art_topo_is_null(n))
		return 0;
	if (n->type != YAML_SEQUENCE_NODE)
		return art_topo_err(c, n, "sources.mllp must be a list of listeners");
	cnt = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
	t->mllp = calloc(cnt ? cnt : 1, sizeof(*t->mllp));
	if (!t->mllp)
		return art_topo_oom(c, n);
	for (it = n->data.sequence.items.start; it < n->data.sequence.items.top; it++) {
		yaml_node_t *v = art_topo_node(c, *it);
		struct art_mllp_listener *l = &t->mllp[t->mllp_cnt++];

		if (art_topo_listener(c, v, l) == -1)
			return -1;
		for (size_t i = 0; i + 1 < t->mllp_cnt; i++) {
			struct art_mllp_listener *o = &t->mllp[i];

			if (!strcmp(o->name, l->name))
				return art_topo_err(
				    c, v, "mllp listener '%s' already declared at line %d", l->name,
				    o->line);
			if (l->port && o->port == l->port && !strcmp(o->bind, l->bind))
				return art_topo_err(c, v,
				                    "mllp listener '%s': %s:%d is already used by "
				                    "'%s' (line %d)",
				                    l->name, l->bind, l->port, o->name, o->line);
		}
	}
	return 0;
}

/* ---- sources: http: ---------------------------------------------------- */

static int art_topo_http_listener(struct art_topo_ctx *c, const yaml_node_t *n,
				  struct art_http_listener *l)
{
	static const char *const keys[] = {
		"name",          "port",          "bind",          "max_request_size",
		"kafka_timeout_ms", "on_error",   "bearer_token_env", "idempotency_window_s",
		"hl7_raw_topic", "fhir_raw_topic", "dlq_topic",    NULL,
	};
	yaml_node_pair_t *p;
	int port_set = 0;

	l->line = (int)n->start_mark.line + 1;
	l->max_request_size = 10 * 1024 * 1024;
	l->kafka_timeout_ms = 10000;
	l->on_error = ART_ON_ERROR_QUARANTINE;
	l->idempotency_window_s = 86400;
	l->bind = strdup("0.0.0.0");
	l->hl7_raw_topic = strdup("raw.hl7v2");
	l->fhir_raw_topic = strdup("raw.fhir");
	l->dlq_topic = strdup("dlq.http-in");
	if (!l->bind || !l->hl7_raw_topic || !l->fhir_raw_topic || !l->dlq_topic)
		return art_topo_oom(c, n);
	if (art_topo_check_map(c, n, "http listener", keys) == -1)
		return -1;
	for (p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
		const char *k = art_topo_scalar(art_topo_node(c, p->key));
		yaml_node_t *v = art_topo_node(c, p->value);
		int rc, e;

		if (!strcmp(k, "name")) {
			rc = art_topo_str(c, v, k, &l->name);
		} else if (!strcmp(k, "port")) {
			rc = art_topo_int(c, v, k, 0, 65535, &l->port);
			port_set = 1;
		} else if (!strcmp(k, "bind")) {
			rc = art_topo_addr(c, v, k, &l->bind);
		} else if (!strcmp(k, "max_request_size")) {
			rc = art_topo_size(c, v, k, 1024, 256 * 1024 * 1024, &l->max_request_size);
		} else if (!strcmp(k, "kafka_timeout_ms")) {
			rc = art_topo_int(c, v, k, 100, 600000, &l->kafka_timeout_ms);
		} else if (!strcmp(k, "on_error")) {
			rc = art_topo_enum(c, v, k, art_on_error_names, &e);
			l->on_error = (enum art_on_error)e;
		} else if (!strcmp(k, "bearer_token_env")) {
			rc = art_topo_str(c, v, k, &l->bearer_token_env);
		} else if (!strcmp(k, "idempotency_window_s")) {
			rc = art_topo_int(c, v, k, 0, 30 * 86400, &l->idempotency_window_s);
		} else if (!strcmp(k, "hl7_raw_topic")) {
			rc = art_topo_str(c, v, k, &l->hl7_raw_topic);
		} else if (!strcmp(k, "fhir_raw_topic")) {
			rc = art_topo_str(c, v, k, &l->fhir_raw_topic);
		} else {
			rc = art_topo_str(c, v, k, &l->dlq_topic);
		}
		if (rc == -1)
			return -1;
	}
	if (!l->name)
		return art_topo_err(c, n, "http listener without a name");
	if (!port_set)
		return art_topo_err(c, n, "http listener '%s' without a port", l->name);
	return 0;
}

static void art_http_listeners_free(struct art_http_listener *ls, size_t cnt)
{
	for (size_t i = 0; i < cnt; i++) {
		free(ls[i].name);
		free(ls[i].bind);
		free(ls[i].bearer_token_env);
		free(ls[i].hl7_raw_topic);
		free(ls[i].fhir_raw_topic);
		free(ls[i].dlq_topic);
	}
	free(ls);
}

static int art_topo_http(struct art_topo_ctx *c, const yaml_node_t *n)
{
	struct art_topology *t = c->t;
	yaml_node_item_t *it;
	size_t cnt;

	if (art_topo_is_null(n))
		return 0;
	if (n->type != YAML_SEQUENCE_NODE)
		return art_topo_err(c, n, "sources.http must be a list of listeners");
	cnt = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
	t->http = calloc(cnt ? cnt : 1, sizeof(*t->http));
	if (!t->http)
		return art_topo_oom(c, n);
	for (it = n->data.sequence.items.start; it < n->data.sequence.items.top; it++) {
		yaml_node_t *v = art_topo_node(c, *it);
		struct art_http_listener *l = &t->http[t->http_cnt++];

		if (art_topo_http_listener(c, v, l) == -1)
			return -1;
		for (size_t i = 0; i + 1 < t->http_cnt; i++) {
			struct art_http_listener *o = &t->http[i];

			if (!strcmp(o->name, l->name))
				return art_topo_err(c, v,
						    "http listener '%s' already declared at line %d",
						    l->name, o->line);
			if (l->port && o->port == l->port && !strcmp(o->bind, l->bind))
				return art_topo_err(c, v,
						    "http listener '%s': %s:%d is already used by "
						    "'%s' (line %d)",
						    l->name, l->bind, l->port, o->name, o->line);
		}
	}
	return 0;
}

static int art_topo_sources(struct art_topo_ctx *c, const yaml_node_t *n)
{
	static const char *const keys[] = {"mllp", "http", NULL};
	yaml_node_pair_t *p;

	if (art_topo_is_null(n))
		return 0;
	if (art_topo_check_map(c, n, "sources", keys) == -1)
		return -1;
	for (p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
		const char *k = art_topo_scalar(art_topo_node(c, p->key));
		yaml_node_t *v = art_topo_node(c, p->value);

		if ((!strcmp(k, "mllp") ? art_topo_mllp(c, v) : art_topo_http(c, v)) == -1)
			return -1;
	}
	return 0;
}

/* ---- processes: -------------------------------------------------------- */

static int art_topo_processes(struct art_topo_ctx *c, const yaml_node_t *n)
{
	static const char *const keys[] = {"admin_port", "admin_bind", NULL};
	const char *names[ART_ARRAY_SIZE(art_known_processes) + 1];
	struct art_topology *t = c->t;
	yaml_node_pair_t *p, *q;

	if (art_topo_is_null(n))
		return 0;
	for (size_t i = 0; i < ART_ARRAY_SIZE(art_known_processes); i++)
		names[i] = art_known_processes[i].name;
	names[ART_ARRAY_SIZE(art_known_processes)] = NULL;
	if (art_topo_check_map(c, n, "processes", names) == -1)
		return -1;
	for (p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
		const char *pname = art_topo_scalar(art_topo_node(c, p->key));
		yaml_node_t *v = art_topo_node(c, p->value);
		struct art_process_conf *pc = NULL;

		for (size_t i = 0; i < t->process_cnt; i++)
			if (!strcmp(t->processes[i].name, pname))
				pc = &t->processes[i];
		assert(pc);
		pc->line = (int)v->start_mark.line + 1;
		if (art_topo_is_null(v))
			continue;
		if (art_topo_check_map(c, v, pname, keys) == -1)
			return -1;
		for (q = v->data.mapping.pairs.start; q < v->data.mapping.pairs.top; q++) {
			const char *k = art_topo_scalar(art_topo_node(c, q->key));
			yaml_node_t *val = art_topo_node(c, q->value);
			int rc;

			if (!strcmp(k, "admin_port"))
				rc = art_topo_int(c, val, k, -1, 65535, &pc->admin_port);
			else
				rc = art_topo_addr(c, val, k, &pc->admin_bind);
			if (rc == -1)
				return -1;
		}
	}
	return 0;
}

/* ---- consumers: -------------------------------------------------------- */

#define ART_CONSUMER_NAME_MAX 64 /* a consumer name becomes a group id and file names */

static const char *const art_bool_names[] = {"false", "true", NULL};
static const char *const art_sync_names[] = {"normal", "full", NULL};

/* A consumer name: [a-z0-9-], starting with a letter or digit. */
static int art_consumer_name_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > ART_CONSUMER_NAME_MAX || *s == '-')
		return 0;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '-'))
			return 0;
	return 1;
}

/* Reads a list of non-empty strings into a new array; when globs is set,
 * each must be a valid route glob (route.h). */
static int art_topo_strlist(struct art_topo_ctx *c, const yaml_node_t *v, const char *key,
                            int globs, char ***out, size_t *cntp)
{
	yaml_node_item_t *it;
	size_t cnt;

	if (v->type != YAML_SEQUENCE_NODE)
		return art_topo_err(c, v, "%s must be a list of strings", key);
	cnt = (size_t)(v->data.sequence.items.top - v->data.sequence.items.start);
	*out = calloc(cnt ? cnt : 1, sizeof(**out));
	if (!*out)
		return art_topo_oom(c, v);
	for (it = v->data.sequence.items.start; it < v->data.sequence.items.top; it++) {
		yaml_node_t *e = art_topo_node(c, *it);
		char *s = NULL;

		if (art_topo_str(c, e, key, &s) == -1)
			return -1;
		(*out)[(*cntp)++] = s;
		if (globs && !art_glob_valid(s))
			return art_topo_err(c, e, "%s: pattern '%s' ends in a lone backslash", key,
			                    s);
	}
	return 0;
}

static int art_topo_route(struct art_topo_ctx *c, const yaml_node_t *n, struct art_route *r)
{
	static const char *const keys[] = {"event_types", "facilities", "message_types", NULL};
	yaml_node_pair_t *p;

	if (art_topo_is_null(n))
		return 0;
	if (art_topo_check_map(c, n, "route", keys) == -1)
		return -1;
	for (p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
		const char *k = art_topo_scalar(art_topo_node(c, p->key));
		yaml_node_t *v = art_topo_node(c, p->value);
		int rc;

		if (!strcmp(k, "event_types"))
			rc = art_topo_strlist(c, v, k, 1, &r->event_types, &r->event_type_cnt);
		else if (!strcmp(k, "facilities"))
			rc = art_topo_strlist(c, v, k, 1, &r->facilities, &r->facility_cnt);
		else
			rc = art_topo_strlist(c, v, k, 1, &r->message_types,
			                      &r->message_type_cnt);
		if (rc == -1)
			return -1;
	}
	return 0;
}

static int art_topo_retry(struct art_topo_ctx *c, const yaml_node_t *n, struct art_retry_conf *rc)
{
	static const char *const keys[] = {"max_attempts", "initial_backoff_ms", "max_backoff_ms",
	                                   "max_elapsed_ms", NULL};
	yaml_node_pair_t *p;

	if (art_topo_is_null(n))
		return 0;
	if (art_topo_check_map(c, n, "retry", keys) == -1)
		return -1;
	for (p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
		const char *k = art_topo_scalar(art_topo_node(c, p->key));
		yaml_node_t *v = art_topo_node(c, p->value);
		int r;

		if (!strcmp(k, "max_attempts"))
			r = art_topo_int(c, v, k, 0, 1000000, &rc->max_attempts);
		else if (!strcmp(k, "initial_backoff_ms"))
			r = art_topo_int(c, v, k, 1, 3600000, &rc->initial_backoff_ms);
		else if (!strcmp(k, "max_backoff_ms"))
			r = art_topo_int(c, v, k, 1, 86400000, &rc->max_backoff_ms);
		else
			r = art_topo_int(c, v, k, 0, 7 * 86400000, &rc->max_elapsed_ms);
		if (r == -1)
			return -1;
	}
	if (rc->initial_backoff_ms > rc->max_backoff_ms)
		return art_topo_err(c, n, "retry: initial_backoff_ms (%d) exceeds max_backoff_ms (%d)",
		                    rc->initial_backoff_ms, rc->max_backoff_ms);
	return 0;
}

static int art_topo_ledger(struct art_topo_ctx *c, const yaml_node_t *n, struct art_ledger_conf *l)
{
	static const char *const keys[] = {"enabled",  "path",        "max_age_days",
	                                   "max_rows", "synchronous", NULL};
	yaml_node_pair_t *p;

	if (art_topo_is_null(n))
		return 0;
	if (art_topo_check_map(c, n, "ledger", keys) == -1)
		return -1;
	for (p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
		const char *k = art_topo_scalar(art_topo_node(c, p->key));
		yaml_node_t *v = art_topo_node(c, p->value);
		int rc, i = 0;

		if (!strcmp(k, "enabled")) {
			rc = art_topo_enum(c, v, k, art_bool_names, &l->enabled);
		} else if (!strcmp(k, "path")) {
			rc = art_topo_str(c, v, k, &l->path);
		} else if (!strcmp(k, "max_age_days")) {
			rc = art_topo_int(c, v, k, 1, 36500, &l->max_age_days);
		} else if (!strcmp(k, "max_rows")) {
			rc = art_topo_int(c, v, k, 1, 1000000000, &i);
			l->max_rows = i;
		} else {
			rc = art_topo_enum(c, v, k, art_sync_names, &l->synchronous_full);
		}
		if (rc == -1)
			return -1;
	}
	return 0;
}

static int art_topo_target(struct art_topo_ctx *c, const yaml_node_t *n, struct art_target_conf *tc)
{
	yaml_node_pair_t *p;
	size_t cnt;

	tc->line = (int)n->start_mark.line + 1;
	if (art_topo_check_map(c, n, "target", NULL) == -1)
		return -1;
	cnt = (size_t)(n->data.mapping.pairs.top - n->data.mapping.pairs.start);
	tc->params = calloc(cnt ? cnt : 1, sizeof(*tc->params));
	if (!tc->params)
		return art_topo_oom(c, n);
	for (p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
		yaml_node_t *k = art_topo_node(c, p->key), *v = art_topo_node(c, p->value);
		const char *ks = art_topo_scalar(k);
		struct art_kv *kv;

		if (!strcmp(ks, "type")) {
			if (art_topo_str(c, v, "target.type", &tc->type) == -1)
				return -1;
			continue;
		}
		if (!strcmp(ks, "url")) {
			if (art_topo_str(c, v, "target.url", &tc->url) == -1)
				return -1;
			continue;
		}
		if (v->type != YAML_SCALAR_NODE || art_topo_is_null(v))
			return art_topo_err(c, v, "target.%s must have a scalar value", ks);
		kv = &tc->params[tc->param_cnt++];
		kv->line = (int)k->start_mark.line + 1;
		kv->key = strdup(ks);
		kv->value = strdup(art_topo_scalar(v));
		if (!kv->key || !kv->value)
			return art_topo_oom(c, k);
	}
	if (!tc->type)
		return art_topo_err(c, n, "target without a type");
	return 0;
}

static int art_topo_readers(struct art_topo_ctx *c, const yaml_node_t *n,
                            struct art_consumer_conf *cc)
{
	yaml_node_pair_t *p;
	size_t cnt;

	if (art_topo_is_null(n))
		return 0;
	if (art_topo_check_map(c, n, "readers", NULL) == -1)
		return -1;
	cnt = (size_t)(n->data.mapping.pairs.top - n->data.mapping.pairs.start);
	cc->readers = calloc(cnt ? cnt : 1, sizeof(*cc->readers));
	if (!cc->readers)
		return art_topo_oom(c, n);
	for (p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
		yaml_node_t *k = art_topo_node(c, p->key), *v = art_topo_node(c, p->value);
		struct art_reader_pin *rp = &cc->readers[cc->reader_cnt++];

		rp->line = (int)k->start_mark.line + 1;
		if (art_topo_str(c, k, "readers: subject", &rp->subject) == -1 ||
		    art_topo_int(c, v, rp->subject, 1, 1000000, &rp->version) == -1)
			return -1;
	}
	return 0;
}

static void art_consumer_conf_free(struct art_consumer_conf *cc)
{
	free(cc->name);
	free(cc->group_id);
	for (size_t i = 0; i < cc->topic_cnt; i++)
		free(cc->topics[i]);
	free(cc->topics);
	for (size_t i = 0; i < cc->reader_cnt; i++)
		free(cc->readers[i].subject);
	free(cc->readers);
	art_route_free(&cc->route);
	free(cc->dlq_topic);
	free(cc->ledger.path);
	free(cc->target.type);
	free(cc->target.url);
	for (size_t i = 0; i < cc->target.param_cnt; i++) {
		free(cc->target.params[i].key);
		free(cc->target.params[i].value);
	}
	free(cc->target.params);
}

/* Fills the defaults of consumer name (docs/consumer.md). */
static int art_consumer_conf_defaults(struct art_consumer_conf *cc, const char *name)
{
	char buf[ART_CONSUMER_NAME_MAX + 32];

	cc->name = strdup(name);
	snprintf(buf, sizeof(buf), "artery-%s", name);
	cc->group_id = strdup(buf);
	snprintf(buf, sizeof(buf), "dlq.%s", name);
	cc->dlq_topic = strdup(buf);
	snprintf(buf, sizeof(buf), ".artery/%s.ledger.db", name);
	cc->ledger.path = strdup(buf);
	cc->ledger.enabled = 1;
	cc->ledger.max_age_days = 30;
	cc->ledger.max_rows = 5000000;
	cc->retry.max_attempts = 10;
	cc->retry.initial_backoff_ms = 500;
	cc->retry.max_backoff_ms = 60000;
	cc->retry.max_elapsed_ms = 600000;
	cc->session_timeout_ms = 45000;
	cc->commit_interval_ms = 1000;
	return cc->name && cc->group_id && cc->dlq_topic && cc->ledger.path ? 0 : -1;
}

static int art_topo_consumer(struct art_topo_ctx *c, const yaml_node_t *n, const char *name,
                             struct art_consumer_conf *cc)
{
	static const char *const keys[] = {
	    "group_id",  "topics", "readers", "route",         "retry",
	    "dlq_topic", "ledger", "target",  "session_timeout_ms", "commit_interval_ms",
	    NULL,
	};
	yaml_node_pair_t *p;
	int has_target = 0;

	cc->line = (int)n->start_mark.line + 1;
	if (art_consumer_conf_defaults(cc, name) == -1)
		return art_topo_oom(c, n);
	if (art_topo_check_map(c, n, name, keys) == -1)
		return -1;
	for (p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
		const char *k = art_topo_scalar(art_topo_node(c, p->key));
		yaml_node_t *v = art_topo_node(c, p->value);
		int rc;

		if (!strcmp(k, "group_id")) {
			rc = art_topo_str(c, v, k, &cc->group_id);
		} else if (!strcmp(k, "topics")) {
			rc = art_topo_strlist(c, v, k, 0, &cc->topics, &cc->topic_cnt);
		} else if (!strcmp(k, "readers")) {
			rc = art_topo_readers(c, v, cc);
		} else if (!strcmp(k, "route")) {
			rc = art_topo_route(c, v, &cc->route);
		} else if (!strcmp(k, "retry")) {
			rc = art_topo_retry(c, v, &cc->retry);
		} else if (!strcmp(k, "dlq_topic")) {
			rc = art_topo_str(c, v, k, &cc->dlq_topic);
		} else if (!strcmp(k, "ledger")) {
			rc = art_topo_ledger(c, v, &cc->ledger);
		} else if (!strcmp(k, "target")) {
			rc = art_topo_target(c, v, &cc->target);
			has_target = 1;
		} else if (!strcmp(k, "session_timeout_ms")) {
			rc = art_topo_int(c, v, k, 1000, 3600000, &cc->session_timeout_ms);
		} else {
			rc = art_topo_int(c, v, k, 10, 600000, &cc->commit_interval_ms);
		}
		if (rc == -1)
			return -1;
	}
	if (cc->topic_cnt == 0)
		return art_topo_err(c, n, "consumer '%s' without topics", name);
	if (!has_target)
		return art_topo_err(c, n, "consumer '%s' without a target", name);
	return 0;
}

static int art_topo_consumers(struct art_topo_ctx *c, const yaml_node_t *n)
{
	struct art_topology *t = c->t;
	yaml_node_pair_t *p;
	size_t cnt;

	if (art_topo_is_null(n))
		return 0;
	if (art_topo_check_map(c, n, "consumers", NULL) == -1)
		return -1;
	cnt = (size_t)(n->data.mapping.pairs.top - n->data.mapping.pairs.start);
	t->consumers = calloc(cnt ? cnt : 1, sizeof(*t->consumers));
	if (!t->consumers)
		return art_topo_oom(c, n);
	for (p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
		yaml_node_t *k = art_topo_node(c, p->key), *v = art_topo_node(c, p->value);
		const char *name = art_topo_scalar(k);

		if (!art_consumer_name_ok(name))
			return art_topo_err(c, k,
			                    "consumer name '%s' must be 1-%d characters of "
			                    "[a-z0-9-], not starting with '-'",
			                    name, ART_CONSUMER_NAME_MAX);
		if (art_topo_consumer(c, v, name, &t->consumers[t->consumer_cnt++]) == -1)
			return -1;
	}
	return 0;
}

/* Cross-references of consumers: their topics and dead-letter topic must be
 * declared. */
static int art_topo_validate_consumers(struct art_topo_ctx *c)
{
	struct art_topology *t = c->t;

	for (size_t i = 0; i < t->consumer_cnt; i++) {
		const struct art_consumer_conf *cc = &t->consumers[i];
		const char *missing = NULL, *what = "topic";

		for (size_t j = 0; j < cc->topic_cnt && !missing; j++)
			if (!art_topology_topic(t, cc->topics[j]))
				missing = cc->topics[j];
		if (!missing && !art_topology_topic(t, cc->dlq_topic)) {
			missing = cc->dlq_topic;
			what = "dead-letter topic";
		}
		if (missing) {
			snprintf(c->errstr, c->errstr_size,
			         "%s:%d: consumer '%s' uses %s '%s', which is not declared in %s",
			         c->path, cc->line, cc->name, what, missing,
			         c->topics_seen ? "topics" : "the default topics");
			return -1;
		}
	}
	return 0;
}

/* ---- whole document ---------------------------------------------------- */

static int art_topo_set_defaults(struct art_topology *t)
{
	t->topics = calloc(ART_ARRAY_SIZE(art_default_topics), sizeof(*t->topics));
	t->processes = calloc(ART_ARRAY_SIZE(art_known_processes), sizeof(*t->processes));
	if (!t->topics || !t->processes)
		return -1;
	for (size_t i = 0; i < ART_ARRAY_SIZE(art_default_topics); i++) {
		struct art_topic *tp = &t->topics[t->topic_cnt++];

		tp->name = strdup(art_default_topics[i].name);
		tp->partitions = art_default_topics[i].partitions;
		tp->replication = 1;
		if (!tp->name)
			return -1;
	}
	for (size_t i = 0; i < ART_ARRAY_SIZE(art_known_processes); i++) {
		struct art_process_conf *pc = &t->processes[t->process_cnt++];

		pc->name = strdup(art_known_processes[i].name);
		pc->admin_bind = strdup("127.0.0.1");
		pc->admin_port = art_known_processes[i].admin_port;
		if (!pc->name || !pc->admin_bind)
			return -1;
	}
	return 0;
}

/* Cross-references, checked once the whole file is read. */
static int art_topo_validate(struct art_topo_ctx *c)
{
	struct art_topology *t = c->t;
	char msg[512];

	for (size_t i = 0; i < t->mllp_cnt; i++) {
		const struct art_mllp_listener *l = &t->mllp[i];
		const char *missing = NULL;

		if (!art_topology_topic(t, l->raw_topic))
			missing = l->raw_topic;
		else if (!art_topology_topic(t, l->dlq_topic))
			missing = l->dlq_topic;
		if (missing) {
			snprintf(msg, sizeof(msg),
			         "mllp listener '%s' uses topic '%s', which is not declared in %s",
			         l->name, missing,
			         c->topics_seen ? "topics" : "the default topics");
			snprintf(c->errstr, c->errstr_size, "%s:%d: %s", c->path, l->line, msg);
			return -1;
		}
	}
	for (size_t i = 0; i < t->http_cnt; i++) {
		const struct art_http_listener *l = &t->http[i];
		const char *missing = NULL;

		if (!art_topology_topic(t, l->hl7_raw_topic))
			missing = l->hl7_raw_topic;
		else if (!art_topology_topic(t, l->fhir_raw_topic))
			missing = l->fhir_raw_topic;
		else if (!art_topology_topic(t, l->dlq_topic))
			missing = l->dlq_topic;
		if (missing) {
			snprintf(msg, sizeof(msg),
				 "http listener '%s' uses topic '%s', which is not declared in %s",
				 l->name, missing, c->topics_seen ? "topics" : "the default topics");
			snprintf(c->errstr, c->errstr_size, "%s:%d: %s", c->path, l->line, msg);
			return -1;
		}
	}
	return art_topo_validate_consumers(c);
}

static int art_topo_root(struct art_topo_ctx *c, const yaml_node_t *root)
{
	static const char *const keys[] = {"kafka", "topics", "sources", "processes",
	                                   "consumers", NULL};
	yaml_node_pair_t *p;

	if (!root || art_topo_is_null(root))
		return 0; /* an empty file: all defaults */
	if (art_topo_check_map(c, root, "the topology", keys) == -1)
		return -1;
	for (p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top; p++) {
		const char *k = art_topo_scalar(art_topo_node(c, p->key));
		yaml_node_t *v = art_topo_node(c, p->value);
		int rc;

		if (!strcmp(k, "kafka"))
			rc = art_topo_kafka(c, v);
		else if (!strcmp(k, "topics"))
			rc = art_topo_topics(c, v);
		else if (!strcmp(k, "sources"))
			rc = art_topo_sources(c, v);
		else if (!strcmp(k, "consumers"))
			rc = art_topo_consumers(c, v);
		else
			rc = art_topo_processes(c, v);
		if (rc == -1)
			return -1;
	}
	return art_topo_validate(c);
}

const char *art_topology_default_path(void)
{
	const char *p = getenv("ARTERY_TOPOLOGY");

	return p && *p ? p : ART_TOPOLOGY_DEFAULT_PATH;
}

struct art_topology *art_topology_new_default(void)
{
	struct art_topology *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->path = strdup("(defaults)");
	if (!t->path || art_topo_set_defaults(t) == -1) {
		art_topology_destroy(t);
		return NULL;
	}
	return t;
}

struct art_topology *art_topology_load(const char *path, char *errstr, size_t errstr_size)
{
	struct art_topo_ctx c = {.path = path, .errstr = errstr, .errstr_size = errstr_size};
	yaml_parser_t parser;
	yaml_document_t doc;
	struct art_topology *t = NULL;
	char *data;
	size_t len = 0;
	int rc = -1;

	data = art_read_file(path, ART_TOPOLOGY_MAX_SIZE, &len, errstr, errstr_size);
	if (!data)
		return NULL;
	t = art_topology_new_default();
	if (!t) {
		snprintf(errstr, errstr_size, "%s: out of memory", path);
		free(data);
		return NULL;
	}
	free(t->path);
	t->path = strdup(path);
	c.t = t;
	yaml_parser_initialize(&parser);
	yaml_parser_set_input_string(&parser, (const unsigned char *)data, len);
	if (!yaml_parser_load(&parser, &doc)) {
		snprintf(errstr, errstr_size, "%s:%lu: YAML error: %s%s%s", path,
		         (unsigned long)parser.problem_mark.line + 1,
		         parser.problem ? parser.problem : "unknown", parser.context ? " " : "",
		         parser.context ? parser.context : "");
		yaml_parser_delete(&parser);
		goto out;
	}
	c.doc = &doc;
	if (t->path)
		rc = art_topo_root(&c, yaml_document_get_root_node(&doc));
	else
		snprintf(errstr, errstr_size, "%s: out of memory", path);
	yaml_document_delete(&doc);
	yaml_parser_delete(&parser);
out:
	free(data);
	if (rc == -1) {
		art_topology_destroy(t);
		return NULL;
	}
	return t;
}

void art_topology_destroy(struct art_topology *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->kafka_cnt; i++) {
		free(t->kafka[i].key);
		free(t->kafka[i].value);
	}
	free(t->kafka);
	art_topics_free(t->topics, t->topic_cnt);
	art_listeners_free(t->mllp, t->mllp_cnt);
	art_http_listeners_free(t->http, t->http_cnt);
	for (size_t i = 0; i < t->process_cnt; i++) {
		free(t->processes[i].name);
		free(t->processes[i].admin_bind);
	}
	free(t->processes);
	for (size_t i = 0; i < t->consumer_cnt; i++)
		art_consumer_conf_free(&t->consumers[i]);
	free(t->consumers);
	free(t->path);
	free(t);
}

const struct art_topic *art_topology_topic(const struct art_topology *t, const char *name)
{
	for (size_t i = 0; i < t->topic_cnt; i++)
		if (!strcmp(t->topics[i].name, name))
			return &t->topics[i];
	return NULL;
}

const struct art_http_listener *art_topology_http(const struct art_topology *t, const char *name)
{
	for (size_t i = 0; i < t->http_cnt; i++)
		if (!strcmp(t->http[i].name, name))
			return &t->http[i];
	return NULL;
}

const struct art_mllp_listener *art_topology_mllp(const struct art_topology *t, const char *name)
{
	for (size_t i = 0; i < t->mllp_cnt; i++)
		if (!strcmp(t->mllp[i].name, name))
			return &t->mllp[i];
	return NULL;
}

const struct art_process_conf *art_topology_process(const struct art_topology *t, const char *name)
{
	for (size_t i = 0; i < t->process_cnt; i++)
		if (!strcmp(t->processes[i].name, name))
			return &t->processes[i];
	return NULL;
}

const struct art_consumer_conf *art_topology_consumer(const struct art_topology *t,
                                                      const char *name)
{
	for (size_t i = 0; i < t->consumer_cnt; i++)
		if (!strcmp(t->consumers[i].name, name))
			return &t->consumers[i];
	return NULL;
}

const char *art_target_param(const struct art_target_conf *tc, const char *key)
{
	for (size_t i = 0; i < tc->param_cnt; i++)
		if (!strcmp(tc->params[i].key, key))
			return tc->params[i].value;
	return NULL;
}
