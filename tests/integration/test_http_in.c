/*
 * test_http_in.c — artery-http-in as a client sees it, with libcurl against
 * `artery broker`:
 *   - POST /hl7v2: 202 only after the raw message (byte-identical) and its
 *     canonical events are on Kafka, the JSON names their event ids and
 *     carries the ACK; Accept: application/hl7-v2 gets the ACK itself;
 *   - POST /fhir/<Resource> and /fhir (Bundle): 202, the body byte-identical
 *     on raw.fhir, keyed by the patient, and the canonical events derived
 *     from it (fhir_in.h) on their topics;
 *   - bad input (not HL7, not JSON, wrong resourceType, a Bundle type Artery
 *     does not take, oversize): 400/413/422 with an OperationOutcome, and a
 *     dead letter with the reason on dlq.http-in;
 *   - Idempotency-Key: a repeat gets the same answer and nothing new on
 *     Kafka; the key with another body is 422;
 *   - bearer token: missing or wrong is 401 and nothing is produced;
 *   - Kafka down: 503 with Retry-After, never 202; after recovery 202;
 *   - SIGTERM exits 0; 404/405 for other URLs and methods.
 */
#include "integration/helper_kafka.h"
#include "integration/helper_proc.h"

#include "art.h"

#include <criterion/criterion.h>
#include <curl/curl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define TOKEN "s3cret-token"

struct http_in {
	struct art_test_broker *kb;
	struct art_proc *proc;
	char topology[PATH_MAX + 32];
	int port_open;   /* listener "open": no auth, 4 KiB limit, 2 s Kafka bound */
	int port_secure; /* listener "secure": bearer token */
};

static struct http_in hi;

static void start(void)
{
	char topo[1024];
	FILE *fp;
	char env_token[64];
	const char *argv[] = {art_test_binary("artery-http-in"), "--topology", hi.topology, NULL};
	const char *envp[] = {NULL, env_token, NULL};

	memset(&hi, 0, sizeof(hi));
	hi.port_open = art_test_free_port();
	hi.port_secure = art_test_free_port();
	cr_assert(hi.port_open > 0 && hi.port_secure > 0 && hi.port_open != hi.port_secure);
	hi.kb = art_test_broker_start(NULL, 1);
	cr_assert_not_null(hi.kb);
	snprintf(hi.topology, sizeof(hi.topology), "%s/topology.yaml", hi.kb->dir);
	snprintf(topo, sizeof(topo),
		 "sources:\n"
		 "  http:\n"
		 "    - {name: open, port: %d, bind: 127.0.0.1, max_request_size: 4KiB,\n"
		 "       kafka_timeout_ms: 2000}\n"
		 "    - {name: secure, port: %d, bind: 127.0.0.1, bearer_token_env: HTTP_IN_TOKEN}\n"
		 "processes:\n"
		 "  http-in: {admin_port: -1}\n",
		 hi.port_open, hi.port_secure);
	fp = fopen(hi.topology, "w");
	cr_assert_not_null(fp);
	fputs(topo, fp);
	fclose(fp);
	snprintf(env_token, sizeof(env_token), "HTTP_IN_TOKEN=%s", TOKEN);
	envp[0] = hi.kb->env_bootstrap;
	argv[0] = strdup(art_test_binary("artery-http-in"));
	hi.proc = art_proc_start(argv, envp, "http-in");
	free((char *)argv[0]);
	cr_assert_not_null(hi.proc);
	if (art_proc_wait_line(hi.proc, "listener secure on", 10000)) {
		art_proc_dump(hi.proc);
		cr_assert_fail("artery-http-in did not start");
	}
}

static void stop(void)
{
	int status = -1;

	if (hi.proc) {
		art_proc_signal(hi.proc, SIGTERM);
		art_proc_wait(hi.proc, 20000, &status);
		art_proc_destroy(hi.proc);
	}
	art_test_broker_stop(hi.kb);
	memset(&hi, 0, sizeof(hi));
}

struct reply {
	long status;
	char body[8192];
	size_t len;
	char headers[4096];
	size_t hlen;
};

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
	struct reply *r = arg;
	size_t k = ART_MIN(size * n, sizeof(r->body) - 1 - r->len);

	memcpy(r->body + r->len, p, k);
	r->len += k;
	r->body[r->len] = '\0';
	return size * n;
}

static size_t on_header(char *p, size_t size, size_t n, void *arg)
{
	struct reply *r = arg;
	size_t k = ART_MIN(size * n, sizeof(r->headers) - 1 - r->hlen);

	memcpy(r->headers + r->hlen, p, k);
	r->hlen += k;
	r->headers[r->hlen] = '\0';
	return size * n;
}

/* POSTs body to port/path with the extra headers (NULL-terminated). */
static void post(int port, const char *path, const void *body, size_t len, const char *const *hdrs,
		 struct reply *r)
{
	CURL *c = curl_easy_init();
	struct curl_slist *sl = NULL;
	char url[256];

	memset(r, 0, sizeof(*r));
	cr_assert_not_null(c);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", port, path);
	for (size_t i = 0; hdrs && hdrs[i]; i++)
		sl = curl_slist_append(sl, hdrs[i]);
	sl = curl_slist_append(sl, "Expect:");
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_POST, 1L);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)len);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, sl);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
	cr_assert_eq(curl_easy_perform(c), CURLE_OK, "POST %s failed", url);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
	curl_slist_free_all(sl);
	curl_easy_cleanup(c);
}

static char *example(const char *name, size_t *len)
{
	char path[PATH_MAX], errstr[256];
	char *data;

	snprintf(path, sizeof(path), "%s/examples/hl7/%s",
		 getenv("ART_SOURCE_DIR") ? getenv("ART_SOURCE_DIR") : ART_SOURCE_DIR, name);
	data = art_read_file(path, 1 << 20, len, errstr, sizeof(errstr));
	cr_assert_not_null(data, "%s", errstr);
	return data;
}

static size_t count(const char *topic)
{
	struct art_test_records rs;
	size_t n;

	cr_assert_eq(art_test_consume_all(hi.kb->bootstrap, topic, 5000, &rs), 0);
	n = rs.cnt;
	art_test_records_free(&rs);
	return n;
}

Test(http_in, hl7_is_stored_before_202_with_event_ids_and_ack, .init = start, .fini = stop,
     .timeout = 90)
{
	size_t len;
	char *msg = example("adt_a01.hl7", &len);
	struct art_test_records rs;
	struct reply r;
	const char *hdr[] = {"Content-Type: application/hl7-v2", NULL};
	const char *want_ack[] = {"Accept: application/hl7-v2", NULL};

	post(hi.port_open, "/hl7v2", msg, len, hdr, &r);
	cr_assert_eq(r.status, 202, "%ld %s", r.status, r.body);
	cr_expect(strstr(r.body, "\"topic\":\"raw.hl7v2\"") != NULL, "%s", r.body);
	cr_expect(strstr(r.body, "\"topic\":\"canonical.patient\"") != NULL, "%s", r.body);
	cr_expect(strstr(r.body, "MSA|AA|") != NULL, "%s", r.body);
	/* 202 means stored: the records are there now */
	cr_assert_eq(art_test_consume_all(hi.kb->bootstrap, "raw.hl7v2", 5000, &rs), 0);
	cr_assert_eq(rs.cnt, 1);
	cr_expect_eq(rs.recs[0].value_len > len, 1, "RawMessage holds the payload");
	cr_expect_not_null(memmem(rs.recs[0].value, rs.recs[0].value_len, msg, len),
			   "the payload is not byte-identical");
	cr_expect(strstr(r.body, art_test_record_header(&rs.recs[0], "artery.event_id")) != NULL,
		  "the response does not name the raw record's event id");
	art_test_records_free(&rs);
	cr_expect_eq(count("canonical.patient"), 1);

	post(hi.port_open, "/hl7v2", msg, len, want_ack, &r);
	cr_expect_eq(r.status, 202);
	cr_expect(strncmp(r.body, "MSH|", 4) == 0 && strstr(r.body, "\rMSA|AA|") != NULL, "%s",
		  r.body);
	cr_expect(strstr(r.headers, "application/hl7-v2") != NULL, "%s", r.headers);
	free(msg);
}

Test(http_in, fhir_resources_and_bundles_land_on_raw_fhir, .init = start, .fini = stop,
     .timeout = 90)
{
	static const char patient[] =
		"{\"resourceType\":\"Patient\",\"id\":\"p1\",\"identifier\":[{\"system\":"
		"\"urn:oid:2.16.840.1.113883.19.5\",\"value\":\"MRN123\"}]}";
	static const char bundle[] =
		"{\"resourceType\":\"Bundle\",\"type\":\"transaction\",\"entry\":[{\"resource\":"
		"{\"resourceType\":\"Observation\",\"status\":\"final\",\"subject\":{\"reference\":"
		"\"Patient/p1\"}}}]}";
	struct art_test_records rs;
	struct reply r;

	post(hi.port_open, "/fhir/Patient", patient, strlen(patient), NULL, &r);
	cr_assert_eq(r.status, 202, "%ld %s", r.status, r.body);
	post(hi.port_open, "/fhir", bundle, strlen(bundle), NULL, &r);
	cr_assert_eq(r.status, 202, "%ld %s", r.status, r.body);
	cr_expect(strstr(r.body, "\"message_type\":\"Bundle/transaction\"") != NULL, "%s", r.body);
	cr_assert_eq(art_test_consume_all(hi.kb->bootstrap, "raw.fhir", 5000, &rs), 0);
	cr_assert_eq(rs.cnt, 2);
	for (size_t i = 0; i < rs.cnt; i++) {
		const struct art_test_record *rec = &rs.recs[i];
		const char *type = art_test_record_header(rec, "fhir.resource_type");

		cr_assert_not_null(type);
		if (!strcmp(type, "Patient")) {
			cr_expect_not_null(memmem(rec->value, rec->value_len, patient,
						  strlen(patient)));
			cr_expect(rec->key_len == strlen("urn:oid:2.16.840.1.113883.19.5|MRN123") &&
				  !memcmp(rec->key, "urn:oid:2.16.840.1.113883.19.5|MRN123",
					  rec->key_len));
		} else {
			cr_expect_str_eq(type, "Bundle/transaction");
			cr_expect_not_null(memmem(rec->value, rec->value_len, bundle, strlen(bundle)));
			cr_expect(rec->key_len == 10 && !memcmp(rec->key, "Patient/p1", 10));
		}
	}
	art_test_records_free(&rs);
	/* and the canonical events derived from them, keyed like the raw record */
	cr_assert_eq(art_test_consume_all(hi.kb->bootstrap, "canonical.patient", 5000, &rs), 0);
	cr_expect_eq(rs.cnt, 1);
	cr_expect(rs.cnt && rs.recs[0].key_len == strlen("urn:oid:2.16.840.1.113883.19.5|MRN123"));
	art_test_records_free(&rs);
	cr_expect_eq(count("canonical.result"), 1, "the Bundle's Observation is a result event");
}

Test(http_in, bad_input_gets_an_outcome_and_a_dead_letter, .init = start, .fini = stop,
     .timeout = 90)
{
	static const struct {
		const char *path, *body;
		long status;
		const char *says;
	} cases[] = {
		{"/hl7v2", "this is not HL7", 400, "no MSH segment"},
		{"/fhir/Patient", "{\"resourceType\":\"Patient\"", 400, "not JSON"},
		{"/fhir/Patient", "{\"resourceType\":\"Observation\"}", 400,
		 "does not match the URL /fhir/Patient"},
		{"/fhir", "{\"resourceType\":\"Patient\"}", 400, "takes a Bundle"},
		{"/fhir", "{\"resourceType\":\"Bundle\",\"type\":\"searchset\"}", 400,
		 "Bundle.type searchset"},
	};
	char big[6000];
	struct art_test_records rs;
	struct reply r;

	for (size_t i = 0; i < ART_ARRAY_SIZE(cases); i++) {
		post(hi.port_open, cases[i].path, cases[i].body, strlen(cases[i].body), NULL, &r);
		cr_expect_eq(r.status, cases[i].status, "case %zu: %ld %s", i, r.status, r.body);
		cr_expect(strstr(r.body, "\"resourceType\":\"OperationOutcome\"") != NULL,
			  "case %zu: %s", i, r.body);
		cr_expect(strstr(r.body, cases[i].says) != NULL, "case %zu: %s", i, r.body);
	}
	memset(big, 'x', sizeof(big));
	post(hi.port_open, "/fhir/Patient", big, sizeof(big), NULL, &r);
	cr_expect_eq(r.status, 413, "%ld %s", r.status, r.body);
	cr_expect(strstr(r.body, "exceeds max_request_size") != NULL, "%s", r.body);

	cr_assert_eq(art_test_consume_all(hi.kb->bootstrap, "dlq.http-in", 5000, &rs), 0);
	cr_expect_eq(rs.cnt, ART_ARRAY_SIZE(cases) + 1, "dead letters: %zu", rs.cnt);
	for (size_t i = 0; i < rs.cnt; i++)
		cr_expect_not_null(art_test_record_header(&rs.recs[i], "artery.error"));
	art_test_records_free(&rs);
	cr_expect_eq(count("raw.fhir"), 0);
	cr_expect_eq(count("raw.hl7v2"), 0);
}

Test(http_in, idempotency_key_replays_without_producing, .init = start, .fini = stop,
     .timeout = 90)
{
	static const char a[] = "{\"resourceType\":\"Patient\",\"id\":\"a\"}";
	static const char b[] = "{\"resourceType\":\"Patient\",\"id\":\"b\"}";
	const char *hdr[] = {"Idempotency-Key: order-77", NULL};
	struct reply r1, r2, r3;

	post(hi.port_open, "/fhir/Patient", a, strlen(a), hdr, &r1);
	cr_assert_eq(r1.status, 202, "%s", r1.body);
	post(hi.port_open, "/fhir/Patient", a, strlen(a), hdr, &r2);
	cr_expect_eq(r2.status, 202);
	cr_expect_str_eq(r2.body, r1.body, "the replay is not the first answer");
	cr_expect(strstr(r2.headers, "Idempotent-Replayed: true") != NULL, "%s", r2.headers);
	post(hi.port_open, "/fhir/Patient", b, strlen(b), hdr, &r3);
	cr_expect_eq(r3.status, 422, "%s", r3.body);
	cr_expect(strstr(r3.body, "different body") != NULL, "%s", r3.body);
	cr_expect_eq(count("raw.fhir"), 1, "a replay produced again");
}

Test(http_in, bearer_token_is_required_where_configured, .init = start, .fini = stop,
     .timeout = 90)
{
	static const char p[] = "{\"resourceType\":\"Patient\"}";
	const char *wrong[] = {"Authorization: Bearer nope", NULL};
	const char *right[] = {"Authorization: Bearer " TOKEN, NULL};
	struct reply r;

	post(hi.port_secure, "/fhir/Patient", p, strlen(p), NULL, &r);
	cr_expect_eq(r.status, 401);
	cr_expect(strstr(r.headers, "WWW-Authenticate: Bearer") != NULL, "%s", r.headers);
	post(hi.port_secure, "/fhir/Patient", p, strlen(p), wrong, &r);
	cr_expect_eq(r.status, 401);
	cr_expect_eq(count("raw.fhir"), 0, "an unauthenticated request was stored");
	post(hi.port_secure, "/fhir/Patient", p, strlen(p), right, &r);
	cr_expect_eq(r.status, 202, "%s", r.body);
	cr_expect_eq(count("raw.fhir"), 1);
}

Test(http_in, kafka_down_is_503_never_202, .init = start, .fini = stop, .timeout = 120)
{
	static const char p[] = "{\"resourceType\":\"Patient\",\"id\":\"down\"}";
	struct reply r;

	cr_assert_eq(art_test_broker_set_down(hi.kb, 1), 0);
	post(hi.port_open, "/fhir/Patient", p, strlen(p), NULL, &r);
	cr_expect_eq(r.status, 503, "%ld %s", r.status, r.body);
	cr_expect(strstr(r.headers, "Retry-After: 5") != NULL, "%s", r.headers);
	cr_expect(strstr(r.body, "send it again") != NULL, "%s", r.body);
	cr_assert_eq(art_test_broker_set_down(hi.kb, 0), 0);
	/* after recovery the same request is accepted (retry until the
	 * producer has reconnected) */
	for (int i = 0; i < 20; i++) {
		post(hi.port_open, "/fhir/Patient", p, strlen(p), NULL, &r);
		if (r.status == 202)
			break;
		cr_expect_eq(r.status, 503, "%ld %s", r.status, r.body);
	}
	cr_expect_eq(r.status, 202, "not accepted after recovery: %s", r.body);
}

Test(http_in, other_urls_and_methods_and_sigterm, .init = start, .fini = stop, .timeout = 90)
{
	struct reply r;
	int status = -1;

	post(hi.port_open, "/fhir/patient", "{}", 2, NULL, &r);
	cr_expect_eq(r.status, 404, "%s", r.body);
	post(hi.port_open, "/admin", "{}", 2, NULL, &r);
	cr_expect_eq(r.status, 404, "%s", r.body);
	{
		char cmd[128];
		char *code;

		snprintf(cmd, sizeof(cmd),
			 "curl -s -o /dev/null -w '%%{http_code}' http://127.0.0.1:%d/hl7v2",
			 hi.port_open);
		code = art_test_run(cmd, &status);
		cr_assert_not_null(code);
		cr_expect_str_eq(code, "405", "GET /hl7v2 answered %s", code);
		free(code);
	}
	art_proc_signal(hi.proc, SIGTERM);
	cr_assert_eq(art_proc_wait(hi.proc, 20000, &status), 0);
	cr_expect(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status %d", status);
	art_proc_destroy(hi.proc);
	hi.proc = NULL;
}
