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
#include "process.h"
#include "schema.h"
#include "topology.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* What art_consumer_usage() needs to print the process's sinks. */
struct art_consumer_usage_arg {
	const char *name;
	const struct art_sink_ops *const *sinks;
	size_t sink_cnt;
};

static void art_consumer_usage(FILE *fp, void *arg)
{
	const struct art_consumer_usage_arg *u = arg;
	const char *name = u->name;
	const struct art_sink_ops *const *sinks = u->sinks;
	size_t sink_cnt = u->sink_cnt;

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
	        "harmless. Events are done in batches of up to 512: the target's writes\n"
	        "are made durable, the delivered ids recorded, then the batch's offsets\n"
	        "stored — offsets are committed only for events delivered (and recorded),\n"
	        "filtered, skipped as duplicates or dead-lettered (docs/consumer.md).\n"
	        "\n"
	        "  --topology FILE  topology file (default $ARTERY_TOPOLOGY or topology/topology.yaml)\n"
	        "  --schemas DIR    schema registry directory (default $ARTERY_SCHEMAS_DIR or ./schemas)\n"
	        "  -h, --help       this help\n"
	        "\n"
	        "Kafka: ARTERY_KAFKA_BOOTSTRAP, else the file written by `artery broker`\n"
	        "(.artery/bootstrap); ARTERY_KAFKA_<PROPERTY> sets any librdkafka property.\n"
	        "Admin HTTP (processes.%s.admin_port): /metrics /healthz /readyz.\n"
	        "SIGTERM/SIGINT: finish the event in delivery and the batch, commit, leave\n"
	        "the group, exit 0.\n"
	        "Exit: 0 clean stop, 1 fatal runtime error (a batch the target or the ledger\n"
	        "could not make durable is delivered again after the restart), 2 usage or\n"
	        "start-up error.\n",
	        name);
}

int art_consumer_main(int argc, char **argv, const char *name,
                      const struct art_sink_ops *const *sinks, size_t sink_cnt)
{
	struct art_consumer_usage_arg u = {name, sinks, sink_cnt};
	struct art_process proc;
	struct art_consumer *c = NULL;
	const struct art_consumer_conf *cc;
	const struct art_sink_ops *ops;
	char errstr[1024];
	int rc = 2, st;

	/* 1. Command line, configuration, schemas, the sink. */
	st = art_process_start(&proc, name, argc, argv, art_consumer_usage, &u);
	if (st != 0) {
		art_process_end(&proc);
		return st == 1 ? 0 : 2;
	}
	cc = art_topology_consumer(proc.topo, name);
	if (!cc) {
		art_error("config", "%s: no consumers.%s section", proc.topo->path, name);
		goto out;
	}
	ops = art_sink_find(sinks, sink_cnt, cc->target.type);
	if (!ops) {
		art_error("config", "%s:%d: target type '%s' is not one artery-%s delivers to",
		          proc.topo->path, cc->target.line, cc->target.type, name);
		goto out;
	}

	/* 2. The consumer (ledger, sink, Kafka). */
	c = art_consumer_new(proc.topo, proc.reg, name, ops, proc.metrics, errstr, sizeof(errstr));
	if (!c) {
		art_error("config", "%s", errstr);
		goto out;
	}

	/* 3. Admin server: ready once the group gave us an assignment. */
	if (art_process_admin(&proc) == -1)
		goto out;
	if (proc.admin)
		art_consumer_set_admin(c, proc.admin);

	/* 4. The loop until SIGTERM. */
	art_signals_install();
	rc = art_consumer_run(c, errstr, sizeof(errstr)) == 0 ? 0 : 1;
	if (rc)
		art_error("consumer.fatal", "%s", errstr);
out:
	art_consumer_destroy(c);
	art_process_end(&proc);
	art_info("exit", "exit %d", rc);
	return rc;
}
