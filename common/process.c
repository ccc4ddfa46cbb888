/*
 * process.c — the shared start-up and teardown of Artery processes (see
 * process.h): one place for the command line every process accepts and
 * for the order things are loaded in.
 */
#include "process.h"

#include <getopt.h>
#include <string.h>

#include "admin.h"
#include "log.h"
#include "metrics.h"
#include "schema.h"
#include "topology.h"

int art_process_start(struct art_process *p, const char *name, int argc, char **argv,
		      art_process_usage_cb *usage, void *usage_arg)
{
	static const struct option longopts[] = {
		{"topology", required_argument, NULL, 't'},
		{"schemas", required_argument, NULL, 's'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	static char proc[128];
	const char *topo_path = art_topology_default_path();
	const char *schemas_dir = NULL;
	char errstr[1024];

	memset(p, 0, sizeof(*p));
	p->name = name;
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
			usage(stdout, usage_arg);
			return 1;
		default:
			usage(stderr, usage_arg);
			return -1;
		}
	}
	if (optind != argc) {
		usage(stderr, usage_arg);
		return -1;
	}
	p->topo = art_topology_load(topo_path, errstr, sizeof(errstr));
	if (!p->topo) {
		art_error("config", "%s", errstr);
		return -1;
	}
	p->reg = art_schema_registry_load(schemas_dir, errstr, sizeof(errstr));
	if (!p->reg) {
		art_error("config", "schemas: %s", errstr);
		return -1;
	}
	p->metrics = art_metrics_new();
	if (!p->metrics) {
		art_error("oom", "out of memory");
		return -1;
	}
	return 0;
}

int art_process_admin(struct art_process *p)
{
	const struct art_process_conf *pc = art_topology_process(p->topo, p->name);
	char errstr[512];

	if (!pc || pc->admin_port < 0)
		return 0;
	p->admin = art_admin_start(pc->admin_bind, pc->admin_port, p->metrics, errstr,
				   sizeof(errstr));
	if (!p->admin) {
		art_error("admin", "%s", errstr);
		return -1;
	}
	art_info("admin.start", "admin HTTP on %s:%d", pc->admin_bind, art_admin_port(p->admin));
	return 0;
}

void art_process_end(struct art_process *p)
{
	art_admin_stop(p->admin);
	art_metrics_destroy(p->metrics);
	art_schema_registry_destroy(p->reg);
	art_topology_destroy(p->topo);
	memset(p, 0, sizeof(*p));
}
