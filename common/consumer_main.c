/*
 * consumer_main.c — art_consumer_main(): the whole life of a consumer
 * process (artery-ehr-out, artery-task-out, ...) so that each consumer's
 * main.c is only its table of sinks. Command line, configuration, schemas,
 * sink choice, admin server, the loop until SIGTERM, teardown.
 */
#include "consumer.h"

#include "admin.h"
#include "art.h"
#include "log.h"
#include "metrics.h"
#include "schema.h"
#include "topology.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void art_consumer_usage(FILE *fp, const char *name, const struct art_sink_ops *const *sinks,
                               size_t sink_cnt)
{
	fprintf(fp,
	        "usage: artery-%s [--topology FILE] [--schemas DIR]\n"
	        "\n"
	        "Consumes the topics of consumers.%s in topology.yaml as a member of its\n"
	        "consumer group and delivers every event that passes the route filter to\n"
	        "the target (target.type:",
	        name, name);
	for (size_t i = 0; i < sink_cnt; i++)
		fprintf(fp, "%s%s", i ? "|" : " ", sinks[i]->name);
	fprintf(fp,
	        "). Transient failures are retried with backoff while only\n"
	        "the event's partition waits; permanent failures and exhausted retries go to\n"
	        "the dead-letter topic; a ledger of delivered event ids makes replays\n"
	        "harmless. Offsets are committed only for events delivered, filtered,\n"
	        "skipped as duplicates or dead-lettered (docs/consumer.md).\n"
	        "\n"
	        "  --topology FILE  topology file (default $ARTERY_TOPOLOGY or topology/topology.yaml)\n"
	        "  --schemas DIR    schema registry directory (default $ARTERY_SCHEMAS_DIR or ./schemas)\n"
	        "  -h, --help       this help\n"
	        "\n"
	        "Kafka: ARTERY_KAFKA_BOOTSTRAP, else the file written by `artery broker`\n"
	        "(.artery/bootstrap); ARTERY_KAFKA_<PROPERTY> sets any librdkafka property.\n"
	        "Admin HTTP (processes.%s.admin_port): /metrics /healthz /readyz.\n"
	        "SIGTERM/SIGINT: finish the event in delivery, commit, leave the group, exit 0.\n"
	        "Exit: 0 clean stop, 1 fatal runtime error, 2 usage or start-up error.\n",
	        name);
}

int art_consumer_main(int argc, char **argv, const char *name,
                      const struct art_sink_ops *const *sinks, size_t sink_cnt)
{
	static const struct option longopts[] = {
	    {"topology", required_argument, NULL, 't'},
	    {"schemas", required_argument, NULL, 's'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *topo_path = art_topology_default_path();
	const char *schemas_dir = NULL;
	struct art_topology *topo = NULL;
	struct art_schema_registry *reg = NULL;
	struct art_metrics *metrics = NULL;
	struct art_admin *admin = NULL;
	struct art_consumer *c = NULL;
	const struct art_consumer_conf *cc;
	const struct art_process_conf *pc;
	const struct art_sink_ops *ops;
	char proc[128], errstr[1024];
	int rc = 2;

	snprintf(proc, sizeof(proc), "artery-%s", name);
	art_log_init(proc);
	optind = 1;
	for (;;) {
		int opt = getopt_long(argc, argv, "h", longopts, NULL);

		if (opt == -1)
			break;
		switch (opt) {
		case 't':
			topo_path = optarg;
			break;
		case 's':
			schemas_dir = optarg;
			break;
		case 'h':
			art_consumer_usage(stdout, name, sinks, sink_cnt);
			return 0;
		default:
			art_consumer_usage(stderr, name, sinks, sink_cnt);
			return 2;
		}
	}
	if (optind != argc) {
		art_consumer_usage(stderr, name, sinks, sink_cnt);
		return 2;
	}

	/* 1. Configuration, schemas, the sink. */
	topo = art_topology_load(topo_path, errstr, sizeof(errstr));
	if (!topo) {
		art_error("config", "%s", errstr);
		goto out;
	}
	cc = art_topology_consumer(topo, name);
	if (!cc) {
		art_error("config", "%s: no consumers.%s section", topo->path, name);
		goto out;
	}
	ops = art_sink_find(sinks, sink_cnt, cc->target.type);
	if (!ops) {
		art_error("config", "%s:%d: target type '%s' is not one artery-%s delivers to",
		          topo->path, cc->target.line, cc->target.type, name);
		goto out;
	}
	reg = art_schema_registry_load(schemas_dir, errstr, sizeof(errstr));
	if (!reg) {
		art_error("config", "schemas: %s", errstr);
		goto out;
	}
	metrics = art_metrics_new();
	if (!metrics)
		goto out;

	/* 2. The consumer (ledger, sink, Kafka). */
	c = art_consumer_new(topo, reg, name, ops, metrics, errstr, sizeof(errstr));
	if (!c) {
		art_error("config", "%s", errstr);
		goto out;
	}

	/* 3. Admin server: ready once the group gave us an assignment. */
	pc = art_topology_process(topo, name);
	if (pc && pc->admin_port >= 0) {
		admin = art_admin_start(pc->admin_bind, pc->admin_port, metrics, errstr,
		                        sizeof(errstr));
		if (!admin) {
			art_error("admin", "%s", errstr);
			goto out;
		}
		art_info("admin.start", "admin HTTP on %s:%d", pc->admin_bind,
		         art_admin_port(admin));
		art_consumer_set_admin(c, admin);
	}

	/* 4. The loop until SIGTERM. */
	art_signals_install();
	rc = art_consumer_run(c, errstr, sizeof(errstr)) == 0 ? 0 : 1;
	if (rc)
		art_error("consumer.fatal", "%s", errstr);
out:
	art_consumer_destroy(c);
	art_admin_stop(admin);
	art_metrics_destroy(metrics);
	art_schema_registry_destroy(reg);
	art_topology_destroy(topo);
	art_info("exit", "exit %d", rc);
	return rc;
}
