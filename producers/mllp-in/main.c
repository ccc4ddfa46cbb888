/*
 * artery-mllp-in — HL7 v2 over MLLP into Kafka, acknowledging a message only
 * after Kafka has stored every record derived from it (commit-before-ACK,
 * docs/commit-before-ack.md).
 *
 * main() reads like the table of contents: configuration, schemas, the
 * producer, the admin server, the listeners, the loop, the drain.
 */
#include <stdio.h>
#include <string.h>

#include "admin.h"
#include "art.h"
#include "log.h"
#include "process.h"
#include "producer.h"
#include "server.h"
#include "topology.h"

static void usage(FILE *fp, void *arg)
{
	(void)arg;
	fprintf(fp,
		"usage: artery-mllp-in [--topology FILE] [--schemas DIR]\n"
		"\n"
		"Receives HL7 v2 over MLLP on every listener of topology.yaml (sources.mllp)\n"
		"and writes each message to Kafka: the exact bytes to raw.hl7v2 and the\n"
		"canonical events to canonical.*. The ACK (AA, or CA in enhanced mode) is\n"
		"sent only after Kafka acknowledged every record; if Kafka does not within\n"
		"the listener's kafka_timeout_ms the answer is AE/CE (resend). Unparseable\n"
		"input gets AR/CR and a dead letter on dlq.mllp-in.\n"
		"\n"
		"  --topology FILE  topology file (default $ARTERY_TOPOLOGY or topology/topology.yaml)\n"
		"  --schemas DIR    schema registry directory (default $ARTERY_SCHEMAS_DIR or ./schemas)\n"
		"  -h, --help       this help\n"
		"\n"
		"Kafka: ARTERY_KAFKA_BOOTSTRAP, else the file written by `artery broker`\n"
		"(.artery/bootstrap); ARTERY_KAFKA_<PROPERTY> sets any librdkafka property.\n"
		"Admin HTTP (processes.mllp-in.admin_port): /metrics /healthz /readyz.\n"
		"SIGTERM/SIGINT: stop accepting, answer every message in flight, flush, exit 0.\n");
}

struct art_mllp_in {
	struct art_admin *admin;
	struct art_producer *prod;
	int64_t next_ready_check;
};

/* Once a second: readiness = listeners bound (they are) + Kafka reachable. */
static void art_mllp_in_tick(void *opaque)
{
	struct art_mllp_in *app = opaque;
	int64_t now = art_mono_us();

	if (!app->admin || now < app->next_ready_check)
		return;
	app->next_ready_check = now + 1000000;
	art_admin_set_ready(app->admin, art_producer_connected(app->prod));
}

int main(int argc, char **argv)
{
	struct art_process proc;
	struct art_mllp_server *srv = NULL;
	struct art_mllp_in app;
	char errstr[512];
	int timeout_ms = 0, rc = 2, st;

	memset(&app, 0, sizeof(app));

	/* 1. Command line, configuration, schemas. */
	st = art_process_start(&proc, "mllp-in", argc, argv, usage, NULL);
	if (st != 0) {
		art_process_end(&proc);
		return st == 1 ? 0 : 2;
	}
	if (proc.topo->mllp_cnt == 0) {
		art_error("config", "%s: no MLLP listeners (sources: mllp:)", proc.topo->path);
		goto out;
	}

	/* 2. Kafka: one idempotent producer; its message timeout is the longest
	 * listener bound, so a record never outlives its AE. */
	for (size_t i = 0; i < proc.topo->mllp_cnt; i++)
		timeout_ms = ART_MAX(timeout_ms, proc.topo->mllp[i].kafka_timeout_ms);
	app.prod = art_producer_new(proc.topo->kafka, proc.topo->kafka_cnt, timeout_ms,
				    proc.metrics, errstr, sizeof(errstr));
	if (!app.prod) {
		art_error("kafka", "%s", errstr);
		goto out;
	}

	/* 3. Admin server. */
	if (art_process_admin(&proc) == -1)
		goto out;
	app.admin = proc.admin;

	/* 4. Listeners, then the loop until SIGTERM, then the drain. */
	art_signals_install();
	srv = art_mllp_server_new(proc.topo, proc.reg, app.prod, proc.metrics, errstr,
				  sizeof(errstr));
	if (!srv) {
		art_error("listen", "%s", errstr);
		goto out;
	}
	rc = art_mllp_server_run(srv, art_mllp_in_tick, &app) == 0 ? 0 : 1;

out:
	/* The producer first: its last delivery reports answer pendings on
	 * connections the server still holds. */
	art_producer_destroy(app.prod);
	art_mllp_server_destroy(srv);
	art_process_end(&proc);
	art_info("exit", "exit %d", rc);
	return rc;
}
