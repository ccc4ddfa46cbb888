/*
 * artery — the operator CLI. Reads like a table of contents: each
 * subcommand is one entry below and one cmd_<name>.c file.
 */
#include "art.h"
#include "cmd.h"
#include "log.h"

#include <stdio.h>
#include <string.h>

struct art_cmd {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *summary;
};

static int art_cmd_version(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	printf("artery %s\n", ART_VERSION);
	return 0;
}

static const struct art_cmd art_cmds[] = {
	/* one line per subcommand, alphabetical */
	{"broker", art_cmd_broker, "run the embedded dev Kafka cluster, print its bootstrap"},
	{"dlq", art_cmd_dlq, "list and show dead letters: what failed, where, and why"},
	{"hl7", art_cmd_hl7, "parse HL7 v2 files, get values, show the ACK and the canonical events"},
	{"replay", art_cmd_replay, "reset a consumer group to an offset or time; copy a range or redrive a DLQ"},
	{"schema", art_cmd_schema, "check that every schema version chain is FULL compatible"},
	{"send", art_cmd_send, "send HL7 files over MLLP, check ACKs, print a summary"},
	{"tail", art_cmd_tail, "decode a topic to JSON lines (Avro values via the registry)"},
	{"topology", art_cmd_topology, "check or create the topology's topics on Kafka; graph the data flow"},
	{"version", art_cmd_version, "print the version"},
};

static void usage(FILE *fp)
{
	fprintf(fp, "usage: artery <command> [options]\n\n"
		    "Artery " ART_VERSION " — healthcare integration broker on Apache Kafka.\n\n"
		    "commands:\n");
	for (size_t i = 0; i < ART_ARRAY_SIZE(art_cmds); i++)
		fprintf(fp, "  %-9s %s\n", art_cmds[i].name, art_cmds[i].summary);
	fprintf(fp, "\nRun `artery <command> --help` for the options of one command.\n"
		    "Kafka is found from ARTERY_KAFKA_BOOTSTRAP, else .artery/bootstrap\n"
		    "(written by `artery broker`).\n");
}

int main(int argc, char **argv)
{
	art_log_init("artery");
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
		usage(stdout);
		return 0;
	}
	if (!strcmp(argv[1], "--version"))
		return art_cmd_version(argc - 1, argv + 1);
	for (size_t i = 0; i < ART_ARRAY_SIZE(art_cmds); i++)
		if (!strcmp(argv[1], art_cmds[i].name))
			return art_cmds[i].run(argc - 1, argv + 1);
	fprintf(stderr, "artery: unknown command '%s'\n\n", argv[1]);
	usage(stderr);
	return 2;
}
