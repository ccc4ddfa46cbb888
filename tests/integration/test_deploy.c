/*
 * test_deploy.c — what a platform team deploys is consistent and valid,
 * checked without a Docker engine (none runs here):
 *   - docker-compose.yml passes `docker-compose config` and has the services
 *     the README names;
 *   - deploy/prometheus.yml passes `promtool check config` and scrapes each
 *     process on the admin port deploy/topology.yaml gives it, which the
 *     compose file also publishes;
 *   - the alerting rules (deploy/alerts.yml) pass `promtool check rules` and
 *     their unit tests (deploy/alerts_test.yml: each alert fires on its
 *     failure and stays quiet on a healthy series), and every metric they
 *     use is one a process exports;
 *   - deploy/topology.yaml loads, and binds listeners and admin servers on
 *     every interface (a container's 127.0.0.1 is unreachable);
 *   - every path the Dockerfile COPYs exists;
 *   - `cmake --install` (what the image runs) yields binaries that work with
 *     the installed schema registry alone.
 */
#include "integration/helper_proc.h"

#include "art.h"
#include "topology.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *src_dir(void)
{
	const char *s = getenv("ART_SOURCE_DIR");

	return s && *s ? s : ART_SOURCE_DIR;
}

/* Reads a file of the source tree (caller frees). */
static char *read_src(const char *rel)
{
	char path[PATH_MAX], errstr[256];
	size_t len;
	char *text;

	snprintf(path, sizeof(path), "%s/%s", src_dir(), rel);
	text = art_read_file(path, 1u << 20, &len, errstr, sizeof(errstr));
	cr_assert_not_null(text, "%s", errstr);
	return text;
}

static char *run(const char *cmd, int *code)
{
	char *out = art_test_run(cmd, code);

	cr_assert_not_null(out, "cannot run %s", cmd);
	return out;
}

Test(deploy, compose_file_is_valid_and_has_the_stack, .timeout = 60)
{
	char cmd[PATH_MAX + 128];
	const char *services[] = {"kafka", "topics", "mllp-in", "http-in", "ehr-out", "prometheus"};
	char *out;
	int code;

	snprintf(cmd, sizeof(cmd),
		 "cd '%s' && ARTERY_HTTP_TOKEN=t docker-compose -f docker-compose.yml config -q 2>&1",
		 src_dir());
	out = run(cmd, &code);
	cr_expect_eq(code, 0, "docker-compose config: exit %d\n%s", code, out);
	free(out);
	snprintf(cmd, sizeof(cmd),
		 "cd '%s' && ARTERY_HTTP_TOKEN=t docker-compose -f docker-compose.yml config --services",
		 src_dir());
	out = run(cmd, &code);
	cr_expect_eq(code, 0);
	for (size_t i = 0; i < ART_ARRAY_SIZE(services); i++) {
		char line[64];

		snprintf(line, sizeof(line), "%s\n", services[i]);
		cr_expect(strstr(out, line) != NULL, "no service %s in:\n%s", services[i], out);
	}
	free(out);
}

Test(deploy, prometheus_scrapes_the_admin_ports_of_the_topology, .timeout = 60)
{
	static const char *const procs[] = {"mllp-in", "http-in", "ehr-out"};
	char cmd[PATH_MAX + 128], path[PATH_MAX], errstr[512];
	struct art_topology *topo;
	char *out, *prom, *compose;
	int code;

	snprintf(cmd, sizeof(cmd), "promtool check config '%s/deploy/prometheus.yml' 2>&1",
		 src_dir());
	out = run(cmd, &code);
	cr_expect_eq(code, 0, "promtool: exit %d\n%s", code, out);
	free(out);

	snprintf(path, sizeof(path), "%s/deploy/topology.yaml", src_dir());
	topo = art_topology_load(path, errstr, sizeof(errstr));
	cr_assert_not_null(topo, "%s", errstr);
	prom = read_src("deploy/prometheus.yml");
	compose = read_src("docker-compose.yml");
	for (size_t i = 0; i < ART_ARRAY_SIZE(procs); i++) {
		const struct art_process_conf *pc = art_topology_process(topo, procs[i]);
		char want[96];

		cr_assert_not_null(pc);
		cr_expect_gt(pc->admin_port, 0, "%s has no fixed admin port", procs[i]);
		cr_expect_str_eq(pc->admin_bind, "0.0.0.0", "%s admin server unreachable in a "
							     "container", procs[i]);
		snprintf(want, sizeof(want), "'%s:%d'", procs[i], pc->admin_port);
		cr_expect(strstr(prom, want) != NULL, "prometheus.yml does not scrape %s", want);
		snprintf(want, sizeof(want), "\"%d:%d\"", pc->admin_port, pc->admin_port);
		cr_expect(strstr(compose, want) != NULL, "compose does not publish %s", want);
	}
	cr_assert_eq(topo->mllp_cnt, 1);
	cr_assert_eq(topo->http_cnt, 1);
	cr_expect_str_eq(topo->http[0].bind, "0.0.0.0");
	cr_expect_not_null(topo->http[0].bearer_token_env, "the HTTP listener must require a token");
	cr_expect(strstr(compose, "\"8080:8080\"") != NULL && topo->http[0].port == 8080);
	cr_expect_str_eq(topo->mllp[0].bind, "0.0.0.0");
	cr_expect(strstr(compose, "\"2575:2575\"") != NULL && topo->mllp[0].port == 2575);
	cr_expect_not_null(art_topology_consumer(topo, "ehr-out"));
	free(prom);
	free(compose);
	art_topology_destroy(topo);
}

Test(deploy, alerting_rules_fire_on_the_failures_they_name, .timeout = 60)
{
	static const char *const sources[] = {"producers/mllp-in/server.c",
					      "producers/http-in/server.c", "common/producer.c",
					      "common/consumer.c"};
	char cmd[PATH_MAX + 128];
	char *out, *rules = read_src("deploy/alerts.yml");
	size_t checked = 0;
	int code;

	snprintf(cmd, sizeof(cmd), "cd '%s/deploy' && promtool check rules alerts.yml 2>&1",
		 src_dir());
	out = run(cmd, &code);
	cr_expect_eq(code, 0, "promtool check rules: exit %d\n%s", code, out);
	free(out);
	snprintf(cmd, sizeof(cmd), "cd '%s/deploy' && promtool test rules alerts_test.yml 2>&1",
		 src_dir());
	out = run(cmd, &code);
	cr_expect_eq(code, 0, "promtool test rules: exit %d\n%s", code, out);
	free(out);
	/* every artery_* metric an expression names (a histogram's _bucket
	 * series by its family) is registered by some process */
	for (const char *p = strstr(rules, "artery_"); p; p = strstr(p, "artery_")) {
		char name[128], quoted[140];
		size_t n = strspn(p, "abcdefghijklmnopqrstuvwxyz_");
		int found = 0;

		cr_assert_lt(n, sizeof(name));
		memcpy(name, p, n);
		name[n] = '\0';
		p += n;
		if (n > 7 && !strcmp(name + n - 7, "_bucket"))
			name[n - 7] = '\0';
		snprintf(quoted, sizeof(quoted), "\"%s\"", name);
		for (size_t k = 0; k < ART_ARRAY_SIZE(sources) && !found; k++) {
			char *src = read_src(sources[k]);

			found = strstr(src, quoted) != NULL;
			free(src);
		}
		cr_expect(found, "no process exports %s, which an alert uses", name);
		checked++;
	}
	cr_expect_geq(checked, 9, "only %zu metric references found", checked);
	free(rules);
}

Test(deploy, dockerfile_copies_paths_that_exist, .timeout = 30)
{
	char *df = read_src("Dockerfile");
	size_t copies = 0;

	for (char *line = df, *nl; line && *line; line = nl ? nl + 1 : NULL) {
		char a[256], b[256], path[PATH_MAX];
		struct stat st;

		nl = strchr(line, '\n');
		if (nl)
			*nl = '\0';
		if (strncmp(line, "COPY ", 5) || strstr(line, "--from="))
			continue;
		cr_assert_eq(sscanf(line + 5, "%255s %255s", a, b), 2, "%s", line);
		snprintf(path, sizeof(path), "%s/%s", src_dir(), a);
		cr_expect_eq(stat(path, &st), 0, "Dockerfile copies %s, which does not exist", a);
		copies++;
	}
	cr_expect_geq(copies, 6, "only %zu COPY lines", copies);
	free(df);
}

Test(deploy, installed_tree_runs_on_its_own_schemas, .timeout = 120)
{
	char dir[] = "/tmp/artery-install-XXXXXX";
	char cmd[3 * PATH_MAX];
	char *out;
	int code;

	cr_assert_not_null(mkdtemp(dir));
	snprintf(cmd, sizeof(cmd), "cmake --install '%s' --prefix '%s' >/dev/null 2>&1",
		 getenv("ART_BINARY_DIR") ? getenv("ART_BINARY_DIR") : ART_BINARY_DIR, dir);
	out = run(cmd, &code);
	cr_assert_eq(code, 0, "cmake --install failed");
	free(out);

	/* the image's environment: schemas from the installed tree only */
	snprintf(cmd, sizeof(cmd),
		 "cd '%s' && ARTERY_SCHEMAS_DIR='%s/share/artery/schemas' '%s/bin/artery' schema "
		 "check 2>&1",
		 dir, dir, dir);
	out = run(cmd, &code);
	cr_expect_eq(code, 0, "%s", out);
	cr_expect(strstr(out, "all FULL compatible") != NULL, "%s", out);
	free(out);
	for (size_t i = 0; i < 2; i++) {
		const char *bin = i ? "artery-ehr-out" : "artery-mllp-in";

		snprintf(cmd, sizeof(cmd), "'%s/bin/%s' --help 2>&1", dir, bin);
		out = run(cmd, &code);
		cr_expect_eq(code, 0, "%s --help: exit %d\n%s", bin, code, out);
		free(out);
	}
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	free(run(cmd, &code));
}
