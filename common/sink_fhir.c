/*
 * sink_fhir.c — the FHIR R4 REST target ("fhir") of artery-ehr-out
 * (sinks.h): each event becomes one transaction Bundle (fhir.h) POSTed to
 * the server's base URL with libcurl. The Bundle's entries are
 * conditional (PUT Type?identifier=..., POST with ifNoneExist), so a
 * resend — a retry after a timeout whose request did land, a replay past
 * the ledger — has no second side effect: dedups_itself = 1.
 *
 * Answers (sink.h): 2xx → ART_OK; 408, 429 (Retry-After honoured), 5xx,
 * 401 (credentials, not the event: the OAuth2 token is dropped and
 * fetched again), timeouts and connection errors → ART_RETRY; any other
 * 4xx → ART_FAIL with the status and a summary of the OperationOutcome
 * (issue severity/code/expression and diagnostics with quoted text and
 * digit runs masked, so that no patient data reaches logs or dead-letter
 * headers).
 *
 * Auth: none, a static bearer token (from an environment variable, never
 * from topology.yaml), or OAuth2 client credentials (token cached until
 * 30 s before expires_in). TLS: libcurl's verification always on; ca_file
 * / ca_path choose the trust store, client_cert / client_key for mTLS.
 * One easy handle is reused, so the connection is kept alive.
 *
 * The Bundle is rendered as text (fhir.h, ART_FHIR_BUNDLE layout, and
 * art_fhir_bundle()) into a buffer the sink keeps: no JSON tree.
 *
 * Sizes: a Bundle is a few KB; responses are read up to 1 MiB.
 */
#include "sinks.h"

#include "buf.h"
#include "fhir.h"
#include "log.h"

#include <ctype.h>
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define ART_FHIR_MAX_RESPONSE (1024 * 1024) /* bytes of a response body kept */
#define ART_FHIR_TOKEN_SLACK_S 30           /* refresh an OAuth2 token this early */

/* The sink's context. */
struct art_fhir_sink {
	CURL *curl;
	char url[2048];        /* base URL: the transaction is POSTed here */
	char *bearer;          /* static token (from bearer_token_env), or NULL */
	char token_url[2048];  /* OAuth2 token endpoint, "" when not OAuth2 */
	char *client_id;
	char *client_secret;
	char scope[512];
	char *token;           /* current OAuth2 access token */
	time_t token_expiry;   /* epoch seconds */
	long timeout_ms, connect_timeout_ms;
	char ca_file[1024], ca_path[1024], client_cert[1024], client_key[1024];
	char base[512];
	struct art_fhir_conf fconf;
	struct art_fhir_set set;
	struct art_jw bundle;     /* request body */
	char curl_err[CURL_ERROR_SIZE]; /* libcurl's detail of the last failure */
	struct art_metric *m_requests; /* artery_sink_fhir_requests_total{status} */
	struct art_metric *m_req_sec;  /* artery_sink_fhir_request_seconds */
	struct art_buf body;      /* response body */
	int retry_after_ms;       /* from the last response's Retry-After, -1 none */
};

/* libcurl write callback: appends to the capped body buffer. */
static size_t art_fhir_write_cb(char *p, size_t size, size_t n, void *ud)
{
	struct art_buf *b = ud;
	size_t len = size * n;

	if (b->len + len > b->max)
		len = b->max > b->len ? b->max - b->len : 0; /* keep the head, drop the rest */
	if (len && art_buf_append(b, p, len) == -1)
		return 0;
	return size * n;
}

/* Parses Retry-After (delta-seconds or an HTTP date) into ms; -1 if none. */
static int art_fhir_parse_retry_after(const char *v)
{
	long long secs;
	char tmp[64];
	size_t n = 0;
	struct tm tm;

	while (*v == ' ' || *v == '\t')
		v++;
	while (v[n] && v[n] != '\r' && v[n] != '\n' && n + 1 < sizeof(tmp)) {
		tmp[n] = v[n];
		n++;
	}
	while (n > 0 && tmp[n - 1] == ' ')
		n--;
	tmp[n] = '\0';
	if (art_parse_int(tmp, 0, 86400, &secs) == 0)
		return (int)(secs * 1000);
	memset(&tm, 0, sizeof(tm));
	if (strptime(tmp, "%a, %d %b %Y %H:%M:%S GMT", &tm)) {
		time_t at = timegm(&tm), now = time(NULL);

		return at > now ? (int)ART_MIN((long long)(at - now) * 1000, 86400000LL) : 0;
	}
	return -1;
}

/* libcurl header callback: picks up Retry-After. */
static size_t art_fhir_header_cb(char *p, size_t size, size_t n, void *ud)
{
	struct art_fhir_sink *fs = ud;
	size_t len = size * n;

	if (len > 12 && !strncasecmp(p, "Retry-After:", 12)) {
		char tmp[128];
		size_t l = ART_MIN(len - 12, sizeof(tmp) - 1);

		memcpy(tmp, p + 12, l);
		tmp[l] = '\0';
		fs->retry_after_ms = art_fhir_parse_retry_after(tmp);
	}
	return len;
}

/* Copies src into dst masking quoted text and digit runs of 3 or more
 * (diagnostics may echo patient data). */
static void art_fhir_scrub(const char *src, char *dst, size_t size)
{
	size_t n = 0;
	char quote = 0;

	for (; *src && n + 4 < size; src++) {
		if (quote) {
			if (*src == quote) {
				quote = 0;
				dst[n++] = *src;
			}
			continue;
		}
		if (*src == '\'' || *src == '"') {
			quote = *src;
			dst[n++] = *src;
			dst[n++] = '*';
			continue;
		}
		if (isdigit((unsigned char)*src) && isdigit((unsigned char)src[1]) &&
		    isdigit((unsigned char)src[2])) {
			while (isdigit((unsigned char)src[1]))
				src++;
			dst[n++] = '#';
			continue;
		}
		dst[n++] = (*src == '\n' || *src == '\r' || *src == '\t') ? ' ' : *src;
	}
	dst[n] = '\0';
}

/* Summarises an OperationOutcome body into out ("" when it is not one). */
static void art_fhir_outcome(const char *body, size_t len, char *out, size_t size)
{
	json_t *oo = body ? json_loadb(body, len, 0, NULL) : NULL;
	json_t *issues, *is;
	size_t i, n = 0;

	out[0] = '\0';
	if (!oo)
		return;
	if (!json_is_string(json_object_get(oo, "resourceType")) ||
	    strcmp(json_string_value(json_object_get(oo, "resourceType")), "OperationOutcome")) {
		json_decref(oo);
		return;
	}
	issues = json_object_get(oo, "issue");
	json_array_foreach(issues, i, is) {
		const char *sev = json_string_value(json_object_get(is, "severity"));
		const char *code = json_string_value(json_object_get(is, "code"));
		const char *diag = json_string_value(json_object_get(is, "diagnostics"));
		json_t *expr = json_array_get(json_object_get(is, "expression"), 0);
		char scrubbed[200] = "";
		int w;

		if (i >= 3)
			break;
		if (diag)
			art_fhir_scrub(diag, scrubbed, sizeof(scrubbed));
		w = snprintf(out + n, size - n, "%s%s/%s%s%s%s%s", n ? "; " : "", sev ? sev : "?",
		             code ? code : "?", expr ? " at " : "",
		             json_is_string(expr) ? json_string_value(expr) : "", diag ? ": " : "",
		             scrubbed);
		if (w < 0 || (size_t)w >= size - n)
			break;
		n += (size_t)w;
	}
	json_decref(oo);
}

/* Copies the value of target key into dst (size) when present. */
static void art_fhir_conf_str(const struct art_sink_conf *conf, const char *key, char *dst,
                              size_t size)
{
	const char *v = art_sink_conf_get(conf, key);

	dst[0] = '\0';
	if (v)
		snprintf(dst, size, "%s", v);
}

/* Reads the secret named by target key key_env from the environment. */
static char *art_fhir_conf_secret(const struct art_sink_conf *conf, const char *key_env,
                                  char *errstr, size_t errstr_size, int *err)
{
	const char *name = art_sink_conf_get(conf, key_env);
	const char *v;

	if (!name)
		return NULL;
	v = getenv(name);
	if (!v || !v[0]) {
		snprintf(errstr, errstr_size, "%s: target.%s of %s names %s, which is not set",
		         conf->topology_path ? conf->topology_path : "(topology)", key_env, conf->name,
		         name);
		*err = 1;
		return NULL;
	}
	return strdup(v);
}

/* Applies the TLS and timeout settings to fs->curl. */
static void art_fhir_curl_common(struct art_fhir_sink *fs)
{
	CURL *c = fs->curl;

	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, fs->timeout_ms);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, fs->connect_timeout_ms);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
	if (fs->ca_file[0])
		curl_easy_setopt(c, CURLOPT_CAINFO, fs->ca_file);
	if (fs->ca_path[0])
		curl_easy_setopt(c, CURLOPT_CAPATH, fs->ca_path);
	if (fs->client_cert[0])
		curl_easy_setopt(c, CURLOPT_SSLCERT, fs->client_cert);
	if (fs->client_key[0])
		curl_easy_setopt(c, CURLOPT_SSLKEY, fs->client_key);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, art_fhir_write_cb);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &fs->body);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, art_fhir_header_cb);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, fs);
	fs->curl_err[0] = '\0';
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, fs->curl_err);
}

/* 1 for the failures of TLS (handshake, the peer's certificate, the trust
 * store). */
static int art_fhir_tls_failed(CURLcode cc)
{
	return cc == CURLE_PEER_FAILED_VERIFICATION || cc == CURLE_SSL_CONNECT_ERROR ||
	       cc == CURLE_SSL_CACERT_BADFILE || cc == CURLE_SSL_CERTPROBLEM;
}

/* The reason of a failed transfer into errstr: libcurl's detail when it
 * has one ("SSL certificate problem: unable to get local issuer
 * certificate"), and for TLS failures where trust comes from. No request
 * or response data is in it. */
static void art_fhir_curl_error(struct art_fhir_sink *fs, const char *what, CURLcode cc,
                                char *errstr, size_t errstr_size)
{
	int tls = art_fhir_tls_failed(cc);

	snprintf(errstr, errstr_size, "%s: %s%s%s", what,
	         fs->curl_err[0] ? fs->curl_err : curl_easy_strerror(cc),
	         tls ? " (trust: " : "",
	         tls ? (fs->ca_file[0] || fs->ca_path[0] ? "target ca_file/ca_path)"
	                                                 : "the system store; set target ca_file)")
	             : "");
}

static int art_fhir_init(void **ctxp, const struct art_sink_conf *conf, char *errstr,
                         size_t errstr_size)
{
	static const char *const allowed[] = {
	    "bearer_token_env",   "oauth2_token_url", "oauth2_client_id", "oauth2_client_secret_env",
	    "oauth2_scope",       "ca_file",          "ca_path",          "client_cert",
	    "client_key",         "timeout_ms",       "connect_timeout_ms", "identifier_base",
	    NULL,
	};
	struct art_fhir_sink *fs;
	long long v;
	int err = 0;
	const char *base = art_sink_conf_get(conf, "identifier_base");
	const char *cid = art_sink_conf_get(conf, "oauth2_client_id");

	if (art_sink_conf_check(conf, allowed, errstr, errstr_size) == -1)
		return -1;
	fs = calloc(1, sizeof(*fs));
	if (!fs) {
		snprintf(errstr, errstr_size, "out of memory");
		return -1;
	}
	*ctxp = fs;
	art_buf_init(&fs->body, ART_FHIR_MAX_RESPONSE);
	fs->m_requests = art_sink_counter(conf, "artery_sink_fhir_requests_total",
	                                  "Transaction Bundles POSTed, by HTTP status (or timeout, "
	                                  "tls_error, transport_error)",
	                                  "status");
	fs->m_req_sec = art_sink_histogram(conf, "artery_sink_fhir_request_seconds",
	                                   "Time of a transaction request that got an answer");
	art_jw_init(&fs->bundle, ART_FHIR_MAX_TEXT + ART_FHIR_MAX_ENTRIES * 4096);
	if (!conf->target_url || (strncmp(conf->target_url, "http://", 7) &&
	                          strncmp(conf->target_url, "https://", 8))) {
		snprintf(errstr, errstr_size, "%s: target of %s (type fhir) needs url: http(s)://<FHIR base>",
		         conf->topology_path ? conf->topology_path : "(topology)", conf->name);
		return -1;
	}
	snprintf(fs->url, sizeof(fs->url), "%s", conf->target_url);
	if (art_sink_conf_int(conf, "timeout_ms", 100, 300000, 10000, &v, errstr, errstr_size) == -1)
		return -1;
	fs->timeout_ms = (long)v;
	if (art_sink_conf_int(conf, "connect_timeout_ms", 100, 60000, 3000, &v, errstr, errstr_size) ==
	    -1)
		return -1;
	fs->connect_timeout_ms = (long)v;
	art_fhir_conf_str(conf, "ca_file", fs->ca_file, sizeof(fs->ca_file));
	art_fhir_conf_str(conf, "ca_path", fs->ca_path, sizeof(fs->ca_path));
	art_fhir_conf_str(conf, "client_cert", fs->client_cert, sizeof(fs->client_cert));
	art_fhir_conf_str(conf, "client_key", fs->client_key, sizeof(fs->client_key));
	art_fhir_conf_str(conf, "oauth2_token_url", fs->token_url, sizeof(fs->token_url));
	art_fhir_conf_str(conf, "oauth2_scope", fs->scope, sizeof(fs->scope));
	fs->bearer = art_fhir_conf_secret(conf, "bearer_token_env", errstr, errstr_size, &err);
	fs->client_secret = art_fhir_conf_secret(conf, "oauth2_client_secret_env", errstr,
	                                         errstr_size, &err);
	if (err)
		return -1;
	if (fs->token_url[0] && (!cid || !fs->client_secret)) {
		snprintf(errstr, errstr_size,
		         "%s: target of %s: oauth2_token_url needs oauth2_client_id and "
		         "oauth2_client_secret_env",
		         conf->topology_path ? conf->topology_path : "(topology)", conf->name);
		return -1;
	}
	if (fs->token_url[0] && fs->bearer) {
		snprintf(errstr, errstr_size, "%s: target of %s: bearer_token_env and oauth2_* exclude each other",
		         conf->topology_path ? conf->topology_path : "(topology)", conf->name);
		return -1;
	}
	fs->client_id = cid ? strdup(cid) : NULL;
	snprintf(fs->base, sizeof(fs->base), "%s", base ? base : ART_FHIR_DEFAULT_BASE);
	fs->fconf.identifier_base = fs->base;
	fs->fconf.layout = ART_FHIR_BUNDLE;
	curl_global_init(CURL_GLOBAL_DEFAULT);
	fs->curl = curl_easy_init();
	if (!fs->curl) {
		snprintf(errstr, errstr_size, "libcurl: cannot create a handle");
		return -1;
	}
	art_info("fhir.init", "\"auth\":\"%s\",\"timeout_ms\":%ld",
	         fs->token_url[0] ? "oauth2" : fs->bearer ? "bearer" : "none", fs->timeout_ms);
	return 0;
}

/* Fetches an OAuth2 token (client credentials, client_secret_basic) when
 * none is cached or it is about to expire. Returns ART_OK, or ART_RETRY
 * with errstr set (the token endpoint may come back). */
static enum art_res art_fhir_token(struct art_fhir_sink *fs, char *errstr, size_t errstr_size)
{
	struct art_buf form;
	char *esc;
	long status = 0;
	CURLcode cc;
	json_t *resp;
	const char *tok;
	json_t *exp;

	if (!fs->token_url[0] || (fs->token && time(NULL) < fs->token_expiry))
		return ART_OK;
	free(fs->token);
	fs->token = NULL;
	art_buf_init(&form, 4096);
	art_buf_puts(&form, "grant_type=client_credentials");
	if (fs->scope[0]) {
		esc = curl_easy_escape(fs->curl, fs->scope, 0);
		art_buf_printf(&form, "&scope=%s", esc ? esc : "");
		curl_free(esc);
	}
	curl_easy_reset(fs->curl);
	art_fhir_curl_common(fs);
	art_buf_reset(&fs->body);
	curl_easy_setopt(fs->curl, CURLOPT_URL, fs->token_url);
	curl_easy_setopt(fs->curl, CURLOPT_HTTPAUTH, CURLAUTH_BASIC);
	curl_easy_setopt(fs->curl, CURLOPT_USERNAME, fs->client_id);
	curl_easy_setopt(fs->curl, CURLOPT_PASSWORD, fs->client_secret);
	curl_easy_setopt(fs->curl, CURLOPT_POSTFIELDS, form.p);
	curl_easy_setopt(fs->curl, CURLOPT_POSTFIELDSIZE, (long)form.len);
	cc = curl_easy_perform(fs->curl);
	art_buf_free(&form);
	if (cc != CURLE_OK) {
		art_fhir_curl_error(fs, "oauth2 token endpoint", cc, errstr, errstr_size);
		return ART_RETRY;
	}
	curl_easy_getinfo(fs->curl, CURLINFO_RESPONSE_CODE, &status);
	resp = fs->body.p ? json_loadb(fs->body.p, fs->body.len, 0, NULL) : NULL;
	tok = json_string_value(json_object_get(resp, "access_token"));
	if (status / 100 != 2 || !tok || !tok[0]) {
		snprintf(errstr, errstr_size, "oauth2 token endpoint answered HTTP %ld without a token",
		         status);
		json_decref(resp);
		return ART_RETRY;
	}
	fs->token = strdup(tok);
	exp = json_object_get(resp, "expires_in");
	fs->token_expiry = time(NULL) + (json_is_integer(exp) ? (time_t)json_integer_value(exp) : 300) -
	                   ART_FHIR_TOKEN_SLACK_S;
	json_decref(resp);
	return fs->token ? ART_OK : ART_RETRY;
}

static enum art_res art_fhir_deliver(void *ctx, const struct art_event *ev, int *retry_after_ms,
                                     char *errstr, size_t errstr_size)
{
	struct art_fhir_sink *fs = ctx;
	struct curl_slist *hdrs = NULL;
	char hdr[4200], outcome[512];
	enum art_res res;
	long status = 0;
	int64_t t0;
	CURLcode cc;

	if (art_fhir_transform(&fs->fconf, ev->doc, &fs->set, errstr, errstr_size) == -1)
		return ART_FAIL;
	if (fs->set.cnt == 0)
		return ART_OK; /* nothing to say in FHIR (docs/ehr-out.md) */
	res = art_fhir_token(fs, errstr, errstr_size);
	if (res != ART_OK) {
		art_fhir_set_clear(&fs->set);
		return res;
	}
	if (art_fhir_bundle(&fs->set, ev->event_id, ev->idempotency_key, &fs->bundle) == -1) {
		art_fhir_set_clear(&fs->set);
		snprintf(errstr, errstr_size, "fhir: out of memory");
		return ART_RETRY;
	}
	art_fhir_set_clear(&fs->set);
	curl_easy_reset(fs->curl);
	art_fhir_curl_common(fs);
	art_buf_reset(&fs->body);
	fs->retry_after_ms = -1;
	hdrs = curl_slist_append(hdrs, "Content-Type: application/fhir+json");
	hdrs = curl_slist_append(hdrs, "Accept: application/fhir+json");
	hdrs = curl_slist_append(hdrs, "Prefer: return=minimal");
	hdrs = curl_slist_append(hdrs, "Expect:");
	snprintf(hdr, sizeof(hdr), "X-Request-Id: %s", ev->event_id);
	hdrs = curl_slist_append(hdrs, hdr);
	if (ev->idempotency_key[0]) {
		snprintf(hdr, sizeof(hdr), "Idempotency-Key: %s", ev->event_id);
		hdrs = curl_slist_append(hdrs, hdr);
	}
	if (fs->bearer || fs->token) {
		snprintf(hdr, sizeof(hdr), "Authorization: Bearer %s", fs->token ? fs->token : fs->bearer);
		hdrs = curl_slist_append(hdrs, hdr);
	}
	curl_easy_setopt(fs->curl, CURLOPT_URL, fs->url);
	curl_easy_setopt(fs->curl, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(fs->curl, CURLOPT_POSTFIELDS, fs->bundle.p);
	curl_easy_setopt(fs->curl, CURLOPT_POSTFIELDSIZE, (long)fs->bundle.len);
	t0 = art_mono_us();
	cc = curl_easy_perform(fs->curl);
	curl_slist_free_all(hdrs);
	if (cc == CURLE_OK) {
		char label[16];

		curl_easy_getinfo(fs->curl, CURLINFO_RESPONSE_CODE, &status);
		snprintf(label, sizeof(label), "%ld", status);
		art_sink_count(fs->m_requests, label, 1);
		art_sink_observe(fs->m_req_sec, (double)(art_mono_us() - t0) / 1e6);
	} else {
		art_sink_count(fs->m_requests,
		               cc == CURLE_OPERATION_TIMEDOUT ? "timeout"
		               : art_fhir_tls_failed(cc)      ? "tls_error"
		                                              : "transport_error",
		               1);
	}
	if (cc != CURLE_OK) {
		art_fhir_curl_error(fs, "fhir", cc, errstr, errstr_size);
		return ART_RETRY; /* timeout, refused, reset, TLS: the server may come back */
	}
	curl_easy_getinfo(fs->curl, CURLINFO_RESPONSE_CODE, &status);
	if (status >= 200 && status < 300)
		return ART_OK;
	art_fhir_outcome(fs->body.p, fs->body.len, outcome, sizeof(outcome));
	snprintf(errstr, errstr_size, "fhir: HTTP %ld%s%s", status, outcome[0] ? ": " : "", outcome);
	if (status == 401) {
		free(fs->token); /* expired or revoked: fetch a new one next time */
		fs->token = NULL;
		return ART_RETRY;
	}
	if (status == 408 || status == 429 || status >= 500 || status < 200) {
		if (fs->retry_after_ms >= 0)
			*retry_after_ms = fs->retry_after_ms;
		return ART_RETRY;
	}
	return ART_FAIL;
}

static void art_fhir_close(void *ctx)
{
	struct art_fhir_sink *fs = ctx;

	if (!fs)
		return;
	if (fs->curl)
		curl_easy_cleanup(fs->curl);
	art_fhir_set_free(&fs->set);
	art_jw_free(&fs->bundle);
	art_buf_free(&fs->body);
	free(fs->bearer);
	free(fs->client_id);
	free(fs->client_secret);
	free(fs->token);
	free(fs);
}

const struct art_sink_ops art_sink_fhir_ops = {
    .name = "fhir",
    .init = art_fhir_init,
    .deliver = art_fhir_deliver,
    .close = art_fhir_close,
    .dedups_itself = 1, /* conditional create/update keyed by identifiers */
};
