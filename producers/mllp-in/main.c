/*
 * artery-mllp-in — HL7 v2 over MLLP into Kafka, acknowledging a message only
 * after Kafka has stored every record derived from it (commit-before-ACK,
 * docs/commit-before-ack.md).
 *
 * main() reads like the table of contents: configuration, schemas, the
 * producer, the admin server, the listeners, the loop, the drain.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin.h"
#include "art.h"
#include "log.h"
#include "metrics.h"
#include "producer.h"
#include "schema.h"
#include "server.h"
#include "topology.h"

static void usage(FILE *fp)
{
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
	struct art_mllp_server *srv = NULL;
	const struct art_process_conf *pc;
	struct art_mllp_in app;
	char errstr[512];
	int timeout_ms = 0, rc = 2, opt;

	memset(&app, 0, sizeof(app));
	art_log_init("artery-mllp-in");
	while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (opt) {
		case 't':
			topo_path = optarg;
			break;
		case 's':
			schemas_dir = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}

	/* 1. Configuration and schemas. */
	topo = art_topology_load(topo_path, errstr, sizeof(errstr));
	if (!topo) {
		art_error("config", "%s", errstr);
		goto out;
	}
	if (topo->mllp_cnt == 0) {
		art_error("config", "%s: no MLLP listeners (sources: mllp:)", topo->path);
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

	/* 2. Kafka: one idempotent producer; its message timeout is the longest
	 * listener bound, so a record never outlives its AE. */
	for (size_t i = 0; i < topo->mllp_cnt; i++)
		timeout_ms = ART_MAX(timeout_ms, topo->mllp[i].kafka_timeout_ms);
	app.prod = art_producer_new(topo->kafka, topo->kafka_cnt, timeout_ms, metrics, errstr,
				    sizeof(errstr));
	if (!app.prod) {
		art_error("kafka", "%s", errstr);
		goto out;
	}

	/* 3. Admin server. */
	pc = art_topology_process(topo, "mllp-in");
	if (pc && pc->admin_port >= 0) {
		app.admin = art_admin_start(pc->admin_bind, pc->admin_port, metrics, errstr,
					    sizeof(errstr));
		if (!app.admin) {
			art_error("admin", "%s", errstr);
			goto out;
		}
		art_info("admin.start", "admin HTTP on %s:%d", pc->admin_bind,
			 art_admin_port(app.admin));
	}

	/* 4. Listeners, then the loop until SIGTERM, then the drain. */
	art_signals_install();
	srv = art_mllp_server_new(topo, reg, app.prod, metrics, errstr, sizeof(errstr));
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
	art_admin_stop(app.admin);
	art_metrics_destroy(metrics);
	art_schema_registry_destroy(reg);
	art_topology_destroy(topo);
	art_info("exit", "exit %d", rc);
	return rc;
}
