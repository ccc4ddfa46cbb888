/*
 * cmd_topology.c — `artery topology check|apply|graph`: the topology file
 * against the Kafka cluster it describes.
 *
 *   check   validates the file (file:line errors, as every process does at
 *           start-up), then reads the cluster's metadata and reports each
 *           declared topic: present, missing, or with a partition count
 *           other than declared. Undeclared topics are ignored.
 *   apply   creates the declared topics that are missing (CreateTopics,
 *           with the declared partitions and replication factor). It never
 *           adds partitions to an existing topic: that remaps keys to
 *           partitions and breaks per-patient order for events already on
 *           the bus, so a partition mismatch is reported, not "fixed".
 *           --dry-run says what it would create.
 *   graph   prints who writes and reads what: sources -> topics -> consumers
 *           -> targets, as text or as Graphviz DOT.
 *
 * Reads only cluster metadata (all topics, so nothing is auto-created by
 * asking); no consumer group is joined. Exit: 0 all declared topics are as
 * declared (check) / created or present (apply), 1 a topic is missing or
 * differs or could not be created, 2 usage, file or connection error.
 * The embedded broker (`artery broker`) creates its topics itself and does
 * not implement CreateTopics: `apply` against it reports that per topic.
 */
#include "art.h"
#include "cmd.h"
#include "kafka.h"
#include "topology.h"

#include <getopt.h>
#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ART_TOPO_TIMEOUT_MS 10000 /* default wait for metadata / CreateTopics */

struct art_topo_opts {
	const char *verb;
	const char *path; /* topology file */
	long long timeout_ms;
	int dry_run; /* apply */
	int dot;     /* graph */
};

/* What the cluster says about one declared topic. */
enum art_topo_state {
	ART_TOPO_OK = 0,
	ART_TOPO_MISSING,
	ART_TOPO_PARTITIONS, /* exists with another partition count */
	ART_TOPO_ERROR,      /* the metadata carries an error for it */
};

static void art_topo_usage(FILE *fp)
{
	fprintf(fp,
		"usage: artery topology check [options]\n"
		"       artery topology apply [--dry-run] [options]\n"
		"       artery topology graph [--dot] [options]\n"
		"\n"
		"  check   validate the topology file, then compare its topics with the\n"
		"          cluster: one line per declared topic (ok, missing, or a partition\n"
		"          count other than declared)\n"
		"  apply   create the declared topics that are missing, with their\n"
		"          partitions and replication factor; never adds partitions to an\n"
		"          existing topic (that would move keys, i.e. patients, to other\n"
		"          partitions and break their order), it reports the mismatch\n"
		"  graph   who writes and reads what: sources -> topics -> consumers ->\n"
		"          targets (text, or Graphviz DOT with --dot); no Kafka needed\n"
		"\n"
		"options:\n"
		"  --topology FILE   topology file (default $ARTERY_TOPOLOGY, else\n"
		"                    " ART_TOPOLOGY_DEFAULT_PATH ")\n"
		"  --dry-run         apply: say what would be created, create nothing\n"
		"  --dot             graph: Graphviz DOT instead of text\n"
		"  --timeout-ms T    wait at most T ms for the cluster (default %d)\n"
		"  -h, --help        this text\n"
		"\n"
		"Kafka: ARTERY_KAFKA_BOOTSTRAP, else .artery/bootstrap (from `artery broker`);\n"
		"the file's `kafka:` properties and ARTERY_KAFKA_* apply. The embedded broker\n"
		"creates its topics at start and does not implement CreateTopics.\n"
		"Exit: 0 every declared topic is as declared (check), now exists (apply), or\n"
		"would be created (apply --dry-run); 1 a topic is missing, differs, or could\n"
		"not be created; 2 usage, file or connection error.\n",
		ART_TOPO_TIMEOUT_MS);
}

/* Parses argv (argv[0] == "topology"). Returns -1 to exit 0 (help shown),
 * 0 to run, 2 on a usage error (reported). */
static int art_topo_parse(int argc, char **argv, struct art_topo_opts *o)
{
	enum { OPT_TOPOLOGY = 256, OPT_DRY_RUN, OPT_DOT, OPT_TIMEOUT };
	static const struct option opts[] = {
		{"topology", required_argument, NULL, OPT_TOPOLOGY},
		{"dry-run", no_argument, NULL, OPT_DRY_RUN},
		{"dot", no_argument, NULL, OPT_DOT},
		{"timeout-ms", required_argument, NULL, OPT_TIMEOUT},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};

	memset(o, 0, sizeof(*o));
	o->timeout_ms = ART_TOPO_TIMEOUT_MS;
	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		art_topo_usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : -1;
	}
	o->verb = argv[1];
	if (strcmp(o->verb, "check") && strcmp(o->verb, "apply") && strcmp(o->verb, "graph")) {
		fprintf(stderr, "artery topology: unknown verb '%s'\n\n", o->verb);
		art_topo_usage(stderr);
		return 2;
	}
	optind = 1;
	for (;;) {
		int c = getopt_long(argc - 1, argv + 1, "h", opts, NULL);

		if (c == -1)
			break;
		switch (c) {
		case OPT_TOPOLOGY:
			o->path = optarg;
			break;
		case OPT_DRY_RUN:
			o->dry_run = 1;
			break;
		case OPT_DOT:
			o->dot = 1;
			break;
		case OPT_TIMEOUT:
			if (art_parse_int(optarg, 1, 3600000LL, &o->timeout_ms)) {
				fprintf(stderr,
					"artery topology: --timeout-ms must be a positive number\n");
				return 2;
			}
			break;
		case 'h':
			art_topo_usage(stdout);
			return -1;
		default:
			art_topo_usage(stderr);
			return 2;
		}
	}
	if (optind != argc - 1) {
		fprintf(stderr, "artery topology %s: unexpected argument '%s'\n", o->verb,
			argv[optind + 1]);
		return 2;
	}
	if ((o->dry_run && strcmp(o->verb, "apply")) || (o->dot && strcmp(o->verb, "graph"))) {
		fprintf(stderr, "artery topology %s: %s is for `%s`\n", o->verb,
			o->dry_run ? "--dry-run" : "--dot", o->dry_run ? "apply" : "graph");
		return 2;
	}
	if (!o->path)
		o->path = art_topology_default_path();
	return 0;
}

/* The metadata entry of topic name, or NULL. */
static const rd_kafka_metadata_topic_t *art_topo_find(const struct rd_kafka_metadata *md,
						      const char *name)
{
	for (int i = 0; i < md->topic_cnt; i++)
		if (!strcmp(md->topics[i].topic, name))
			return &md->topics[i];
	return NULL;
}

static enum art_topo_state art_topo_state_of(const struct rd_kafka_metadata *md,
					     const struct art_topic *t)
{
	const rd_kafka_metadata_topic_t *mt = art_topo_find(md, t->name);

	if (!mt || mt->err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART)
		return ART_TOPO_MISSING;
	if (mt->err)
		return ART_TOPO_ERROR;
	return mt->partition_cnt == t->partitions ? ART_TOPO_OK : ART_TOPO_PARTITIONS;
}

/* Prints the line of one declared topic; returns 1 when it is a problem. */
static int art_topo_report(const struct rd_kafka_metadata *md, const struct art_topic *t,
			   const char *missing_word)
{
	const rd_kafka_metadata_topic_t *mt = art_topo_find(md, t->name);

	switch (art_topo_state_of(md, t)) {
	case ART_TOPO_OK:
		printf("ok       %-32s %d partitions\n", t->name, t->partitions);
		return 0;
	case ART_TOPO_MISSING:
		printf("%-8s %-32s declares %d partitions, replication %d\n", missing_word,
		       t->name, t->partitions, t->replication);
		return 1;
	case ART_TOPO_PARTITIONS:
		printf("differs  %-32s has %d partitions, the topology declares %d"
		       " (not changed: adding partitions moves keys)\n",
		       t->name, mt->partition_cnt, t->partitions);
		return 1;
	case ART_TOPO_ERROR:
	default:
		printf("error    %-32s %s\n", t->name, rd_kafka_err2str(mt->err));
		return 1;
	}
}

/* An admin client with the topology's `kafka:` properties. */
static rd_kafka_t *art_topo_client(const struct art_topology *topo, char *errstr,
				   size_t errstr_size)
{
	rd_kafka_conf_t *conf =
		art_kafka_conf_new_with(ART_KAFKA_ADMIN, topo->kafka, topo->kafka_cnt, errstr,
					errstr_size);
	rd_kafka_t *rk;

	if (!conf)
		return NULL;
	if (art_kafka_conf_set(conf, "client.id", "artery-topology", errstr, errstr_size)) {
		rd_kafka_conf_destroy(conf);
		return NULL;
	}
	rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, errstr_size);
	if (!rk)
		rd_kafka_conf_destroy(conf);
	return rk;
}

/* Prints the line of a topic that could not be created. */
static void art_topo_failed(const char *name, rd_kafka_resp_err_t err, const char *why)
{
	printf("failed   %-32s %s%s\n", name, why ? why : rd_kafka_err2str(err),
	       err == RD_KAFKA_RESP_ERR__TIMED_OUT
		       ? " (no controller answered; the embedded `artery broker` has none:"
			 " declare the topic in its topology and restart it)"
		       : "");
}

/* CreateTopics for every missing declared topic; prints one line per
 * topic. Returns the number of topics not created, or -1 on a call error
 * (reported). */
static int art_topo_create(rd_kafka_t *rk, const struct art_topology *topo,
			   const struct rd_kafka_metadata *md, int timeout_ms)
{
	rd_kafka_NewTopic_t **nt = calloc(topo->topic_cnt ? topo->topic_cnt : 1, sizeof(*nt));
	const char **names = calloc(topo->topic_cnt ? topo->topic_cnt : 1, sizeof(*names));
	rd_kafka_AdminOptions_t *opts = NULL;
	rd_kafka_queue_t *q = NULL;
	rd_kafka_event_t *ev = NULL;
	const rd_kafka_topic_result_t **res;
	size_t n = 0, res_cnt = 0;
	char errstr[512];
	int failed = 0;

	if (!nt || !names) {
		free(nt);
		free(names);
		return -1;
	}
	for (size_t i = 0; i < topo->topic_cnt; i++) {
		const struct art_topic *t = &topo->topics[i];

		if (art_topo_state_of(md, t) != ART_TOPO_MISSING)
			continue;
		nt[n] = rd_kafka_NewTopic_new(t->name, t->partitions, t->replication, errstr,
					      sizeof(errstr));
		if (!nt[n]) {
			printf("failed   %-32s %s\n", t->name, errstr);
			failed++;
			continue;
		}
		names[n++] = t->name;
	}
	if (n == 0)
		goto out;
	opts = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
	if (rd_kafka_AdminOptions_set_request_timeout(opts, timeout_ms, errstr, sizeof(errstr)) ||
	    rd_kafka_AdminOptions_set_operation_timeout(opts, timeout_ms, errstr,
							sizeof(errstr))) {
		fprintf(stderr, "artery topology apply: %s\n", errstr);
		failed = -1;
		goto out;
	}
	q = rd_kafka_queue_new(rk);
	rd_kafka_CreateTopics(rk, nt, n, opts, q);
	ev = rd_kafka_queue_poll(q, timeout_ms + 5000);
	if (!ev) {
		fprintf(stderr, "artery topology apply: no answer to CreateTopics in %d ms\n",
			timeout_ms + 5000);
		failed = -1;
		goto out;
	}
	if (rd_kafka_event_error(ev)) {
		/* the whole request failed: say so for each topic */
		for (size_t i = 0; i < n; i++)
			art_topo_failed(names[i], rd_kafka_event_error(ev),
					rd_kafka_event_error_string(ev));
		failed += (int)n;
		goto out;
	}
	res = rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev),
						  &res_cnt);
	for (size_t i = 0; i < res_cnt; i++) {
		rd_kafka_resp_err_t err = rd_kafka_topic_result_error(res[i]);
		const char *name = rd_kafka_topic_result_name(res[i]);

		if (!err || err == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
			const struct art_topic *t = art_topology_topic(topo, name);

			printf("%-8s %-32s %d partitions, replication %d\n",
			       err ? "exists" : "created", name, t ? t->partitions : 0,
			       t ? t->replication : 0);
		} else {
			art_topo_failed(name, err, rd_kafka_topic_result_error_string(res[i]));
			failed++;
		}
	}
out:
	if (ev)
		rd_kafka_event_destroy(ev);
	if (q)
		rd_kafka_queue_destroy(q);
	if (opts)
		rd_kafka_AdminOptions_destroy(opts);
	for (size_t i = 0; i < n; i++)
		rd_kafka_NewTopic_destroy(nt[i]);
	free(nt);
	free(names);
	return failed;
}

/* check and apply. */
static int art_topo_cluster(const struct art_topo_opts *o, const struct art_topology *topo)
{
	const struct rd_kafka_metadata *md = NULL;
	rd_kafka_resp_err_t err;
	char errstr[512];
	int problems = 0, rc;
	rd_kafka_t *rk = art_topo_client(topo, errstr, sizeof(errstr));
	int apply = !strcmp(o->verb, "apply");

	if (!rk) {
		fprintf(stderr, "artery topology %s: %s\n", o->verb, errstr);
		return 2;
	}
	/* all topics: asking for named ones could auto-create them */
	err = rd_kafka_metadata(rk, 1, NULL, &md, (int)o->timeout_ms);
	if (err) {
		fprintf(stderr, "artery topology %s: cannot read the cluster's metadata: %s\n",
			o->verb, rd_kafka_err2str(err));
		rd_kafka_destroy(rk);
		return 2;
	}
	printf("%s: %zu topics declared, cluster has %d topics on %d brokers\n", topo->path,
	       topo->topic_cnt, md->topic_cnt, md->broker_cnt);
	for (size_t i = 0; i < topo->topic_cnt; i++) {
		const struct art_topic *t = &topo->topics[i];
		enum art_topo_state st = art_topo_state_of(md, t);

		if (apply && st == ART_TOPO_MISSING)
			continue; /* reported by art_topo_create() */
		problems += art_topo_report(md, t, "missing");
	}
	rc = problems ? 1 : 0;
	if (apply) {
		if (o->dry_run) {
			for (size_t i = 0; i < topo->topic_cnt; i++)
				if (art_topo_state_of(md, &topo->topics[i]) == ART_TOPO_MISSING)
					art_topo_report(md, &topo->topics[i], "create");
			printf("dry run: nothing changed\n");
		} else {
			int failed = art_topo_create(rk, topo, md, (int)o->timeout_ms);

			rc = failed < 0 ? 2 : failed > 0 || problems ? 1 : 0;
		}
	}
	rd_kafka_metadata_destroy(md);
	rd_kafka_destroy(rk);
	return rc;
}

/* Whether a process that maps HL7 writes topic (the canonical topics). */
static int art_topo_is_canonical(const char *topic)
{
	return !strncmp(topic, "canonical.", 10);
}

static void art_topo_edge(int dot, const char *from, const char *to, const char *label)
{
	if (dot)
		printf("  \"%s\" -> \"%s\"%s%s%s;\n", from, to, label ? " [label=\"" : "",
		       label ? label : "", label ? "\"]" : "");
	else
		printf("  %s -> %s%s%s\n", from, to, label ? "  " : "", label ? label : "");
}

/* graph: text or DOT. Node names: "mllp:<listener>", "http:<listener>", "<topic>",
 * "<consumer>", "<consumer>/<target type>". */
static int art_topo_graph(const struct art_topo_opts *o, const struct art_topology *topo)
{
	char from[320], to[320];

	if (o->dot)
		printf("digraph artery {\n  rankdir=LR;\n  node [shape=box];\n");
	else
		printf("%s\n", topo->path);
	for (size_t i = 0; i < topo->mllp_cnt; i++) {
		const struct art_mllp_listener *l = &topo->mllp[i];
		char label[64];

		snprintf(from, sizeof(from), "mllp:%s", l->name);
		snprintf(label, sizeof(label), "port %d", l->port);
		if (o->dot)
			printf("  \"%s\" [shape=cds, label=\"%s\\n%s\"];\n", from, from, label);
		art_topo_edge(o->dot, from, l->raw_topic, o->dot ? NULL : label);
		for (size_t k = 0; k < topo->topic_cnt; k++)
			if (art_topo_is_canonical(topo->topics[k].name))
				art_topo_edge(o->dot, from, topo->topics[k].name, NULL);
		art_topo_edge(o->dot, from, l->dlq_topic, "dead letters");
	}
	for (size_t i = 0; i < topo->http_cnt; i++) {
		const struct art_http_listener *l = &topo->http[i];
		char label[64];

		snprintf(from, sizeof(from), "http:%s", l->name);
		snprintf(label, sizeof(label), "port %d", l->port);
		if (o->dot)
			printf("  \"%s\" [shape=cds, label=\"%s\\n%s\"];\n", from, from, label);
		art_topo_edge(o->dot, from, l->hl7_raw_topic, o->dot ? NULL : label);
		art_topo_edge(o->dot, from, l->fhir_raw_topic, NULL);
		for (size_t k = 0; k < topo->topic_cnt; k++)
			if (art_topo_is_canonical(topo->topics[k].name))
				art_topo_edge(o->dot, from, topo->topics[k].name, NULL);
		art_topo_edge(o->dot, from, l->dlq_topic, "dead letters");
	}
	for (size_t i = 0; i < topo->consumer_cnt; i++) {
		const struct art_consumer_conf *c = &topo->consumers[i];

		if (o->dot)
			printf("  \"%s\" [shape=ellipse, label=\"%s\\ngroup %s\"];\n", c->name,
			       c->name, c->group_id);
		for (size_t k = 0; k < c->topic_cnt; k++)
			art_topo_edge(o->dot, c->topics[k], c->name, NULL);
		snprintf(to, sizeof(to), "%s/%s", c->name, c->target.type);
		art_topo_edge(o->dot, c->name, to, c->target.url);
		art_topo_edge(o->dot, c->name, c->dlq_topic, "dead letters");
	}
	if (o->dot)
		printf("}\n");
	return 0;
}

int art_cmd_topology(int argc, char **argv)
{
	struct art_topo_opts o;
	struct art_topology *topo;
	char errstr[512];
	int rc = art_topo_parse(argc, argv, &o);

	if (rc)
		return rc < 0 ? 0 : rc;
	topo = art_topology_load(o.path, errstr, sizeof(errstr));
	if (!topo) {
		fprintf(stderr, "artery topology %s: %s\n", o.verb, errstr);
		return 2;
	}
	if (!strcmp(o.verb, "graph"))
		rc = art_topo_graph(&o, topo);
	else
		rc = art_topo_cluster(&o, topo);
	art_topology_destroy(topo);
	return rc;
}
