/*
 * process.h — what every Artery process does before and after its own
 * work: the common command line (--topology FILE, --schemas DIR, --help),
 * the topology, the schema registry, the metrics registry and the admin
 * HTTP server of processes.<name>. Each process's main() then reads as:
 * start, build its own part, run, end.
 *
 * Start-up, main thread only; the struct is the process's and lives until
 * art_process_end().
 */
#ifndef ART_PROCESS_H
#define ART_PROCESS_H

#include <stdio.h>

struct art_topology;
struct art_schema_registry;
struct art_metrics;
struct art_admin;

struct art_process {
	const char *name;                /* "mllp-in", "ehr-out": processes.<name> */
	struct art_topology *topo;       /* loaded from --topology or the default */
	struct art_schema_registry *reg; /* loaded from --schemas or the default */
	struct art_metrics *metrics;     /* empty registry for the process's metrics */
	struct art_admin *admin;         /* after art_process_admin(); NULL if disabled */
};

/* Writes the process's usage text to fp; arg is what was given to
 * art_process_start(). */
typedef void(art_process_usage_cb)(FILE *fp, void *arg);

/* Initialises logging as "artery-<name>", parses argv (--topology,
 * --schemas, --help; nothing else is accepted) and loads the topology and
 * the schema registry and creates the metrics registry into *p. Returns 0
 * when the process should go on, 1 when --help was printed (exit 0), -1
 * after logging why it cannot start (usage or configuration: exit 2).
 * Call art_process_end() in every case. */
int art_process_start(struct art_process *p, const char *name, int argc, char **argv,
		      art_process_usage_cb *usage, void *usage_arg);

/* Starts the admin server of processes.<name> (unless its admin_port is
 * -1, then p->admin stays NULL). Returns 0, or -1 after logging why. */
int art_process_admin(struct art_process *p);

/* Stops the admin server and frees what art_process_start() loaded. */
void art_process_end(struct art_process *p);

#endif
