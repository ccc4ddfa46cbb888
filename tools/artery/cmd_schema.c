/*
 * cmd_schema.c — `artery schema check|list`: governance of the schema
 * registry (docs/schema-evolution.md).
 *
 *   check  every subject's version chain is FULL compatible (v(N) and
 *          v(N+1) each read the other's data, by the Avro specification's
 *          resolution rules), every default is valid, and every canonical
 *          subject starts with the common envelope; one line per subject,
 *          the reasons with field paths below a failing one
 *   list   the registry: id, subject, version, file
 *
 * The work is schema_compat.c's; this file parses options and sets the exit
 * status: 0 all compatible, 1 an incompatibility, 2 usage or load error.
 */
#include "art.h"
#include "cmd.h"
#include "schema.h"
#include "schema_compat.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

static void art_schemacli_usage(FILE *fp)
{
	fprintf(fp,
	        "usage: artery schema check [--schemas DIR] [--subject S]\n"
	        "       artery schema list [--schemas DIR]\n"
	        "\n"
	        "check  For every subject of the registry (or only S), each version and the\n"
	        "       next must be FULL compatible: readers of v(N) read v(N+1) data and\n"
	        "       readers of v(N+1) read v(N) data, by the Avro specification's schema\n"
	        "       resolution rules (fields matched by name or alias, missing ones need a\n"
	        "       default, promotions int->long->float->double and string<->bytes,\n"
	        "       unions, enums, arrays, maps, fixed, named types). Every default must\n"
	        "       match its type, and every canonical.* subject must start with the\n"
	        "       envelope of canonical.patient v1 (event_id ... raw_ref, same types).\n"
	        "       Prints \"SUBJECT: ok (v1, v2)\" or \"SUBJECT: N incompatibilities\" and\n"
	        "       one indented line per reason: which reader, which data, the field\n"
	        "       path and why.\n"
	        "list   Prints id, subject, version and file of every registered schema.\n"
	        "\n"
	        "options:\n"
	        "  --schemas DIR   schema registry directory (default $ARTERY_SCHEMAS_DIR,\n"
	        "                  else ./schemas, else the source tree's schemas/)\n"
	        "  --subject S     check only subject S\n"
	        "  -h, --help      this text\n"
	        "\n"
	        "Exit: 0 all compatible, 1 an incompatibility was found, 2 usage error or a\n"
	        "registry that cannot be loaded.\n");
}

int art_cmd_schema(int argc, char **argv)
{
	enum { OPT_SCHEMAS = 256, OPT_SUBJECT };
	static const struct option opts[] = {
	    {"schemas", required_argument, NULL, OPT_SCHEMAS},
	    {"subject", required_argument, NULL, OPT_SUBJECT},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *dir = NULL, *subject = NULL, *verb;
	struct art_schema_registry *reg;
	char errstr[1024];
	int c, rc;

	if (argc < 2) {
		art_schemacli_usage(stderr);
		return 2;
	}
	verb = argv[1];
	if (!strcmp(verb, "-h") || !strcmp(verb, "--help") || !strcmp(verb, "help")) {
		art_schemacli_usage(stdout);
		return 0;
	}
	if (strcmp(verb, "check") && strcmp(verb, "list")) {
		fprintf(stderr, "artery schema: unknown command '%s'\n\n", verb);
		art_schemacli_usage(stderr);
		return 2;
	}
	optind = 1;
	for (;;) {
		c = getopt_long(argc - 1, argv + 1, "h", opts, NULL);
		if (c == -1)
			break;
		switch (c) {
		case OPT_SCHEMAS:
			dir = optarg;
			break;
		case OPT_SUBJECT:
			subject = optarg;
			break;
		case 'h':
			art_schemacli_usage(stdout);
			return 0;
		default:
			art_schemacli_usage(stderr);
			return 2;
		}
	}
	if (optind != argc - 1) {
		fprintf(stderr, "artery schema %s: unexpected argument '%s'\n", verb,
		        argv[1 + optind]);
		return 2;
	}
	if (subject && !strcmp(verb, "list")) {
		fprintf(stderr, "artery schema list: --subject is for check\n");
		return 2;
	}
	reg = art_schema_registry_load(dir, errstr, sizeof(errstr));
	if (!reg) {
		fprintf(stderr, "artery schema %s: %s\n", verb, errstr);
		return 2;
	}
	if (!strcmp(verb, "list")) {
		for (size_t i = 0; i < reg->cnt; i++)
			printf("%d\t%s\t%d\t%s\n", (int)reg->schemas[i].id, reg->schemas[i].subject,
			       reg->schemas[i].version, reg->schemas[i].file);
		art_schema_registry_destroy(reg);
		return 0;
	}
	printf("schemas: %s\n", reg->dir);
	rc = art_schema_compat_registry(reg, subject, stdout, errstr, sizeof(errstr));
	fflush(stdout);
	if (rc < 0)
		fprintf(stderr, "artery schema check: %s\n", errstr);
	art_schema_registry_destroy(reg);
	return rc < 0 ? 2 : rc;
}
