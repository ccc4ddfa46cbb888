/*
 * artery-http-in — HL7 v2 and FHIR R4 over HTTP into Kafka, answering a
 * request only after Kafka has stored every record derived from it
 * (commit-before-ACK, docs/commit-before-ack.md; docs/http-in.md).
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
		"usage: artery-http-in [--topology FILE] [--schemas DIR]\n"
		"\n"
		"Receives HL7 v2 and FHIR R4 over HTTP on every listener of topology.yaml\n"
		"(sources.http) and answers only after Kafka stored what it derived:\n"
		"  POST /hl7v2             one HL7 v2 message: raw.hl7v2 + canonical.*, the\n"
		"                          same handling as artery-mllp-in; 202 with the event\n"
		"                          ids and the ACK (Accept: application/hl7-v2 for the\n"
		"                          ACK alone)\n"
		"  POST /fhir              a FHIR Bundle (transaction, batch, collection,\n"
		"                          message, document): raw.fhir, 202\n"
		"  POST /fhir/<Resource>   one FHIR resource of that type: raw.fhir, 202\n"
		"Bad input: 400/413/422 with a FHIR OperationOutcome and a dead letter on\n"
		"dlq.http-in. Kafka not storing in kafka_timeout_ms: 503 with Retry-After.\n"
		"Authorization: Bearer <token> when the listener sets bearer_token_env.\n"
		"Idempotency-Key: a repeat with the same body gets the first answer again\n"
		"(Idempotent-Replayed: true) without producing anything.\n"
		"\n"
		"  --topology FILE  topology file (default $ARTERY_TOPOLOGY or topology/topology.yaml)\n"
		"  --schemas DIR    schema registry directory (default $ARTERY_SCHEMAS_DIR or ./schemas)\n"
		"  -h, --help       this help\n"
		"\n"
		"Kafka: ARTERY_KAFKA_BOOTSTRAP, else the file written by `artery broker`\n"
		"(.artery/bootstrap); ARTERY_KAFKA_<PROPERTY> sets any librdkafka property.\n"
		"Admin HTTP (processes.http-in.admin_port): /metrics /healthz /readyz.\n"
		"SIGTERM/SIGINT: stop accepting, answer every request in flight, flush, exit 0.\n");
}

struct art_http_in {
	struct art_admin *admin;
	struct art_producer *prod;
	int64_t next_ready_check;
};

/* Once a second: ready = listeners bound (they are) + Kafka reachable. */
static void art_http_in_tick(void *opaque)
{
	struct art_http_in *app = opaque;
	int64_t now = art_mono_us();

	if (!app->admin || now < app->next_ready_check)
		return;
	app->next_ready_check = now + 1000000;
	art_admin_set_ready(app->admin, art_producer_connected(app->prod));
}

int main(int argc, char **argv)
{
	struct art_process proc;
	struct art_http_server *srv = NULL;
	struct art_http_in app;
	char errstr[512];
	int timeout_ms = 0, rc = 2, st;

	memset(&app, 0, sizeof(app));

	/* 1. Command line, configuration, schemas. */
	st = art_process_start(&proc, "http-in", argc, argv, usage, NULL);
	if (st != 0) {
		art_process_end(&proc);
		return st == 1 ? 0 : 2;
	}
	if (proc.topo->http_cnt == 0) {
		art_error("config", "%s: no HTTP listeners (sources: http:)", proc.topo->path);
		goto out;
	}

	/* 2. Kafka: one idempotent producer; its message timeout is the longest
	 * listener bound, so a record never outlives its 503. */
	for (size_t i = 0; i < proc.topo->http_cnt; i++)
		timeout_ms = ART_MAX(timeout_ms, proc.topo->http[i].kafka_timeout_ms);
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
	srv = art_http_server_new(proc.topo, proc.reg, app.prod, proc.metrics, errstr,
				  sizeof(errstr));
	if (!srv) {
		art_error("listen", "%s", errstr);
		goto out;
	}
	rc = art_http_server_run(srv, art_http_in_tick, &app) == 0 ? 0 : 1;

out:
	/* The producer first: its last delivery reports resume requests the
	 * server still holds. */
	art_producer_destroy(app.prod);
	art_http_server_destroy(srv);
	art_process_end(&proc);
	art_info("exit", "exit %d", rc);
	return rc;
}
