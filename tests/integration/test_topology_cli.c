/*
 * test_topology_cli.c — `artery topology check|apply|graph` as an operator
 * sees them against `artery broker`: the project's topology checks clean;
 * a topology that declares a topic the cluster lacks, or another partition
 * count, exits 1 naming each; `apply --dry-run` lists what it would create
 * and changes nothing; `apply` against the embedded broker (which has no
 * controller) fails per topic with a clear reason and exit 1; `graph`
 * draws sources, topics, consumers and targets (text and DOT) without
 * Kafka; a broken file exits 2 with file:line. Bounded by short timeouts.
 */
#include "integration/helper_proc.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static struct art_test_broker *kb;

static void start_broker(void)
{
	kb = art_test_broker_start(NULL, 1);
	cr_assert_not_null(kb, "artery broker did not start");
}

static void stop_broker(void)
{
	art_test_broker_stop(kb);
	kb = NULL;
}

/* Writes text to a new file under the broker's directory; returns its path
 * (static buffer). */
static const char *write_topology(const char *name, const char *text)
{
	static char path[PATH_MAX + 64];
	FILE *fp;

	snprintf(path, sizeof(path), "%s/%s", kb ? kb->dir : "/tmp", name);
	fp = fopen(path, "w");
	cr_assert_not_null(fp, "%s", path);
	fputs(text, fp);
	fclose(fp);
	return path;
}

/* Runs `artery topology ARGS` against the test broker; returns stdout
 * (caller frees) and the exit code. */
static char *topology(const char *args, int *code)
{
	size_t size = strlen(args) + 16;
	char *full = malloc(size), *out;

	cr_assert_not_null(full);
	snprintf(full, size, "topology %s", args);
	out = art_test_artery(kb, full, code);
	cr_assert_not_null(out, "cannot run artery %s", full);
	free(full);
	return out;
}

Test(topology_cli, project_topology_checks_clean, .init = start_broker, .fini = stop_broker,
     .timeout = 60)
{
	char args[PATH_MAX + 64];
	int code;
	char *out;

	snprintf(args, sizeof(args), "check --topology '%s/topology/topology.yaml'",
		 getenv("ART_SOURCE_DIR") ? getenv("ART_SOURCE_DIR") : ART_SOURCE_DIR);
	out = topology(args, &code);
	cr_expect_eq(code, 0, "exit %d:\n%s", code, out);
	cr_expect(strstr(out, "ok       raw.hl7v2") != NULL, "%s", out);
	cr_expect(strstr(out, "ok       canonical.result") != NULL, "%s", out);
	cr_expect(strstr(out, "missing") == NULL && strstr(out, "differs") == NULL, "%s", out);
	free(out);
}

Test(topology_cli, missing_and_different_topics_are_named, .init = start_broker,
     .fini = stop_broker, .timeout = 60)
{
	char args[PATH_MAX + 64];
	int code;
	char *out;
	const char *path = write_topology("t.yaml", "topics:\n"
						    "  - {name: raw.hl7v2, partitions: 6}\n"
						    "  - {name: canonical.patient, partitions: 12}\n"
						    "  - {name: lab.extra, partitions: 2}\n");

	snprintf(args, sizeof(args), "check --topology '%s'", path);
	out = topology(args, &code);
	cr_expect_eq(code, 1, "exit %d:\n%s", code, out);
	cr_expect(strstr(out, "ok       raw.hl7v2") != NULL, "%s", out);
	cr_expect(strstr(out, "differs  canonical.patient                has 6 partitions, the "
			      "topology declares 12") != NULL,
		  "%s", out);
	cr_expect(strstr(out, "missing  lab.extra") != NULL, "%s", out);
	free(out);

	/* dry run: says it would create lab.extra, exit 1 for the mismatch */
	snprintf(args, sizeof(args), "apply --dry-run --topology '%s'", path);
	out = topology(args, &code);
	cr_expect_eq(code, 1, "exit %d:\n%s", code, out);
	cr_expect(strstr(out, "create   lab.extra") != NULL, "%s", out);
	cr_expect(strstr(out, "dry run: nothing changed") != NULL, "%s", out);
	free(out);

	/* the embedded broker cannot create topics: a clear failure, not a hang */
	snprintf(args, sizeof(args), "apply --timeout-ms 1500 --topology '%s'", path);
	out = topology(args, &code);
	cr_expect_eq(code, 1, "exit %d:\n%s", code, out);
	cr_expect(strstr(out, "failed   lab.extra") != NULL, "%s", out);
	cr_expect(strstr(out, "artery broker") != NULL, "no hint about the embedded broker:\n%s",
		  out);
	free(out);

	/* and nothing changed on the cluster */
	snprintf(args, sizeof(args), "check --topology '%s'", path);
	out = topology(args, &code);
	cr_expect(strstr(out, "missing  lab.extra") != NULL, "%s", out);
	cr_expect(strstr(out, "differs  canonical.patient") != NULL, "%s", out);
	free(out);
}

Test(topology_cli, dry_run_with_only_missing_topics_exits_0, .init = start_broker,
     .fini = stop_broker, .timeout = 60)
{
	char args[PATH_MAX + 64];
	int code;
	char *out;
	const char *path = write_topology("t.yaml", "topics:\n"
						    "  - {name: raw.hl7v2, partitions: 6}\n"
						    "  - {name: lab.extra, partitions: 2, replication: 3}\n");

	snprintf(args, sizeof(args), "apply --dry-run --topology '%s'", path);
	out = topology(args, &code);
	cr_expect_eq(code, 0, "exit %d:\n%s", code, out);
	cr_expect(strstr(out, "create   lab.extra                        declares 2 partitions, "
			      "replication 3") != NULL,
		  "%s", out);
	free(out);
}

Test(topology_cli, graph_draws_the_flow_without_kafka, .timeout = 30)
{
	char args[PATH_MAX + 64];
	int code;
	char *out;
	const char *path = write_topology(
		"artery-topology-graph.yaml",
		"topics:\n"
		"  - {name: raw.hl7v2}\n"
		"  - {name: canonical.patient}\n"
		"  - {name: canonical.result}\n"
		"  - {name: dlq.mllp-in}\n"
		"  - {name: dlq.ehr-out}\n"
		"sources:\n"
		"  mllp:\n"
		"    - {name: adt-feed, port: 2575}\n"
		"consumers:\n"
		"  ehr-out:\n"
		"    topics: [canonical.result]\n"
		"    target: {type: fhir, url: 'http://ehr.example/fhir'}\n");

	snprintf(args, sizeof(args), "graph --topology '%s'", path);
	out = topology(args, &code);
	cr_expect_eq(code, 0, "exit %d:\n%s", code, out);
	cr_expect(strstr(out, "mllp:adt-feed -> raw.hl7v2  port 2575") != NULL, "%s", out);
	cr_expect(strstr(out, "mllp:adt-feed -> canonical.patient") != NULL, "%s", out);
	cr_expect(strstr(out, "mllp:adt-feed -> dlq.mllp-in  dead letters") != NULL, "%s", out);
	cr_expect(strstr(out, "canonical.result -> ehr-out") != NULL, "%s", out);
	cr_expect(strstr(out, "canonical.patient -> ehr-out") == NULL, "not subscribed:\n%s",
		  out);
	cr_expect(strstr(out, "ehr-out -> ehr-out/fhir  http://ehr.example/fhir") != NULL, "%s",
		  out);
	free(out);

	snprintf(args, sizeof(args), "graph --dot --topology '%s'", path);
	out = topology(args, &code);
	cr_expect_eq(code, 0);
	cr_expect(strncmp(out, "digraph artery {", 16) == 0, "%s", out);
	cr_expect(strstr(out, "\"canonical.result\" -> \"ehr-out\";") != NULL, "%s", out);
	cr_expect(out[strlen(out) - 2] == '}', "%s", out);
	free(out);
	unlink(path);
}

Test(topology_cli, broken_file_and_bad_usage_exit_2, .timeout = 30)
{
	char args[PATH_MAX + 64];
	int code;
	char *out;
	const char *path = write_topology("artery-topology-bad.yaml",
					  "topics:\n  - {name: raw.hl7v2, partitions: 0}\n");

	snprintf(args, sizeof(args), "check --topology '%s'", path);
	out = topology(args, &code);
	cr_expect_eq(code, 2, "exit %d:\n%s", code, out);
	cr_expect(strstr(out, "artery-topology-bad.yaml:2") != NULL, "no file:line:\n%s", out);
	free(out);
	unlink(path);

	out = topology("frobnicate", &code);
	cr_expect_eq(code, 2);
	cr_expect(strstr(out, "unknown verb 'frobnicate'") != NULL, "%s", out);
	free(out);
	out = topology("graph --dry-run", &code);
	cr_expect_eq(code, 2);
	free(out);
	out = topology("--help", &code);
	cr_expect_eq(code, 0);
	cr_expect(strstr(out, "usage: artery topology check") != NULL, "%s", out);
	free(out);
}

Test(topology_cli, unreachable_cluster_exits_2, .timeout = 30)
{
	char args[PATH_MAX + 64];
	int code;
	char *out;

	snprintf(args, sizeof(args), "check --timeout-ms 1000 --topology '%s/topology/topology.yaml'",
		 getenv("ART_SOURCE_DIR") ? getenv("ART_SOURCE_DIR") : ART_SOURCE_DIR);
	out = topology(args, &code);
	cr_expect_eq(code, 2, "exit %d:\n%s", code, out);
	cr_expect(strstr(out, "cannot read the cluster's metadata") != NULL, "%s", out);
	free(out);
}
