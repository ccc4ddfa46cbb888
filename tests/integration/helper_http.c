/*
 * helper_http.c — the recording loopback HTTP receiver of helper_http.h:
 * libmicrohttpd with a thread per connection (a slow answer delays only
 * its own connection), bodies capped at 8 MiB, a tiny conditional-entry
 * store standing in for a FHIR server's.
 */
#include "integration/helper_http.h"

#include "art.h"

#include <arpa/inet.h>
#include <jansson.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define HTTP_MAX_BODY (8u << 20)

struct art_test_http {
	struct MHD_Daemon *d;
	int port;
	pthread_mutex_t mu;
	struct art_test_http_req *reqs;
	size_t cnt, cap;
	int fail_n, fail_status, fail_retry_after;
	char fail_match[128];
	int match_status;
	int slow_ms;
	char token[256];
	char oauth_id[64], oauth_secret[64], oauth_token[256];
	json_t *keys;     /* conditional key -> update count */
	json_t *bundles;  /* bundle identifier -> accept count */
	size_t repeats;
};

/* Per-connection upload state. */
struct conn {
	char *body;
	size_t len;
	int too_big;
};

/* Applies an accepted transaction to the store (under the lock). */
static void apply_bundle(struct art_test_http *h, const char *body)
{
	json_t *b = json_loads(body, 0, NULL), *e;
	size_t i;
	const char *id;

	if (!b)
		return;
	id = json_string_value(json_object_get(json_object_get(b, "identifier"), "value"));
	if (id) {
		json_t *c = json_object_get(h->bundles, id);

		if (c) {
			h->repeats++;
			json_integer_set(c, json_integer_value(c) + 1);
		} else {
			json_object_set_new(h->bundles, id, json_integer(1));
		}
	}
	json_array_foreach(json_object_get(b, "entry"), i, e) {
		json_t *req = json_object_get(e, "request");
		const char *url = json_string_value(json_object_get(req, "url"));
		const char *ine = json_string_value(json_object_get(req, "ifNoneExist"));
		char key[2048];
		json_t *c;

		snprintf(key, sizeof(key), "%s%s%s", url ? url : "", ine ? "?" : "", ine ? ine : "");
		c = json_object_get(h->keys, key);
		if (!c)
			json_object_set_new(h->keys, key, json_integer(1));
		else if (!ine) /* conditional update: an update, not a new resource */
			json_integer_set(c, json_integer_value(c) + 1);
	}
	json_decref(b);
}

static enum MHD_Result respond(struct MHD_Connection *conn, int status, const char *body,
                               int retry_after)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(strlen(body), (void *)body,
	                                                         MHD_RESPMEM_MUST_COPY);
	enum MHD_Result ret;

	MHD_add_response_header(r, "Content-Type", "application/fhir+json");
	if (retry_after >= 0) {
		char v[16];

		snprintf(v, sizeof(v), "%d", retry_after);
		MHD_add_response_header(r, "Retry-After", v);
	}
	ret = MHD_queue_response(conn, (unsigned int)status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *mc, const char *url,
                               const char *method, const char *version, const char *upload,
                               size_t *upload_size, void **con_cls)
{
	struct art_test_http *h = cls;
	struct conn *c = *con_cls;
	struct art_test_http_req rq;
	int status = 200, retry_after = -1, slow;
	const char *auth, *rid;
	const char *answer = "{\"resourceType\":\"Bundle\",\"type\":\"transaction-response\"}";

	(void)version;
	if (!c) {
		c = calloc(1, sizeof(*c));
		if (!c)
			return MHD_NO;
		*con_cls = c;
		return MHD_YES;
	}
	if (*upload_size) {
		if (c->len + *upload_size > HTTP_MAX_BODY) {
			c->too_big = 1;
		} else {
			char *nb = realloc(c->body, c->len + *upload_size + 1);

			if (!nb)
				return MHD_NO;
			c->body = nb;
			memcpy(c->body + c->len, upload, *upload_size);
			c->len += *upload_size;
			c->body[c->len] = '\0';
		}
		*upload_size = 0;
		return MHD_YES;
	}
	memset(&rq, 0, sizeof(rq));
	snprintf(rq.path, sizeof(rq.path), "%s", url);
	auth = MHD_lookup_connection_value(mc, MHD_HEADER_KIND, "Authorization");
	rid = MHD_lookup_connection_value(mc, MHD_HEADER_KIND, "X-Request-Id");
	snprintf(rq.auth, sizeof(rq.auth), "%s", auth ? auth : "");
	snprintf(rq.request_id, sizeof(rq.request_id), "%s", rid ? rid : "");
	rq.body = strdup(c->body ? c->body : "");
	rq.at_us = art_mono_us();

	pthread_mutex_lock(&h->mu);
	slow = h->slow_ms;
	if (!strcmp(url, "/token")) {
		char *user = NULL, *pass = NULL;

		user = MHD_basic_auth_get_username_password(mc, &pass);
		if (user && pass && !strcmp(user, h->oauth_id) && !strcmp(pass, h->oauth_secret)) {
			static char tok[512];

			snprintf(tok, sizeof(tok),
			         "{\"access_token\":\"%s\",\"token_type\":\"bearer\",\"expires_in\":3600}",
			         h->oauth_token);
			answer = tok;
		} else {
			status = 401;
			answer = "{\"error\":\"invalid_client\"}";
		}
		MHD_free(user);
		MHD_free(pass);
	} else if (strcmp(method, "POST") || c->too_big) {
		status = 400;
	} else if (h->token[0] &&
	           (strncmp(rq.auth, "Bearer ", 7) || strcmp(rq.auth + 7, h->token))) {
		status = 401;
	} else if (h->fail_n > 0) {
		h->fail_n--;
		status = h->fail_status;
		retry_after = h->fail_retry_after;
	} else if (h->fail_match[0] && strstr(rq.body, h->fail_match)) {
		status = h->match_status;
	}
	if (status >= 400 && status < 500 && status != 401 && strcmp(url, "/token"))
		answer = "{\"resourceType\":\"OperationOutcome\",\"issue\":[{\"severity\":\"error\","
		         "\"code\":\"invalid\",\"expression\":[\"Patient.name\"],"
		         "\"diagnostics\":\"Name 'SECRET PATIENT' is not valid for 1234567\"}]}";
	else if (status >= 500)
		answer = "{\"resourceType\":\"OperationOutcome\",\"issue\":[{\"severity\":\"fatal\","
		         "\"code\":\"transient\"}]}";
	if (status >= 200 && status < 300 && strcmp(url, "/token"))
		apply_bundle(h, rq.body);
	rq.status = status;
	if (h->cnt == h->cap) {
		size_t ncap = h->cap ? h->cap * 2 : 64;
		struct art_test_http_req *n = realloc(h->reqs, ncap * sizeof(*n));

		if (n) {
			h->reqs = n;
			h->cap = ncap;
		}
	}
	if (h->cnt < h->cap)
		h->reqs[h->cnt++] = rq;
	else
		free(rq.body);
	pthread_mutex_unlock(&h->mu);
	if (slow > 0)
		usleep((useconds_t)slow * 1000);
	if (status == 0)
		return MHD_NO; /* drop the connection without an answer */
	return respond(mc, status, answer, retry_after);
}

static void completed(void *cls, struct MHD_Connection *mc, void **con_cls,
                      enum MHD_RequestTerminationCode toe)
{
	struct conn *c = *con_cls;

	(void)cls;
	(void)mc;
	(void)toe;
	if (c) {
		free(c->body);
		free(c);
	}
	*con_cls = NULL;
}

/* Starts the receiver, over TLS when cert_pem and key_pem are given. */
static struct art_test_http *art_test_http_start_with(const char *cert_pem, const char *key_pem)
{
	struct art_test_http *h = calloc(1, sizeof(*h));
	struct sockaddr_in sa;
	const union MHD_DaemonInfo *info;
	unsigned int flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD;

	if (!h)
		return NULL;
	pthread_mutex_init(&h->mu, NULL);
	h->keys = json_object();
	h->bundles = json_object();
	h->fail_retry_after = -1;
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (cert_pem)
		h->d = MHD_start_daemon(flags | MHD_USE_TLS, 0, NULL, NULL, handler, h,
		                        MHD_OPTION_SOCK_ADDR, &sa, MHD_OPTION_NOTIFY_COMPLETED,
		                        completed, h, MHD_OPTION_HTTPS_MEM_CERT, cert_pem,
		                        MHD_OPTION_HTTPS_MEM_KEY, key_pem, MHD_OPTION_END);
	else
		h->d = MHD_start_daemon(flags, 0, NULL, NULL, handler, h, MHD_OPTION_SOCK_ADDR, &sa,
		                        MHD_OPTION_NOTIFY_COMPLETED, completed, h, MHD_OPTION_END);
	if (!h->d) {
		art_test_http_stop(h);
		return NULL;
	}
	info = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_BIND_PORT);
	h->port = info ? info->port : 0;
	return h;
}

struct art_test_http *art_test_http_start(void)
{
	return art_test_http_start_with(NULL, NULL);
}

struct art_test_http *art_test_http_start_tls(const char *cert_pem, const char *key_pem)
{
	if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES)
		return NULL;
	return art_test_http_start_with(cert_pem, key_pem);
}

int art_test_http_port(const struct art_test_http *h)
{
	return h->port;
}

void art_test_http_stop(struct art_test_http *h)
{
	if (!h)
		return;
	if (h->d)
		MHD_stop_daemon(h->d);
	for (size_t i = 0; i < h->cnt; i++)
		free(h->reqs[i].body);
	free(h->reqs);
	json_decref(h->keys);
	json_decref(h->bundles);
	pthread_mutex_destroy(&h->mu);
	free(h);
}

void art_test_http_fail_next(struct art_test_http *h, int n, int status, int retry_after_s)
{
	pthread_mutex_lock(&h->mu);
	h->fail_n = n;
	h->fail_status = status;
	h->fail_retry_after = retry_after_s;
	pthread_mutex_unlock(&h->mu);
}

void art_test_http_fail_match(struct art_test_http *h, const char *match, int status)
{
	pthread_mutex_lock(&h->mu);
	snprintf(h->fail_match, sizeof(h->fail_match), "%s", match ? match : "");
	h->match_status = status;
	pthread_mutex_unlock(&h->mu);
}

void art_test_http_slow(struct art_test_http *h, int delay_ms)
{
	pthread_mutex_lock(&h->mu);
	h->slow_ms = delay_ms;
	pthread_mutex_unlock(&h->mu);
}

void art_test_http_require_token(struct art_test_http *h, const char *token)
{
	pthread_mutex_lock(&h->mu);
	snprintf(h->token, sizeof(h->token), "%s", token ? token : "");
	pthread_mutex_unlock(&h->mu);
}

void art_test_http_oauth(struct art_test_http *h, const char *client_id, const char *secret,
                         const char *token)
{
	pthread_mutex_lock(&h->mu);
	snprintf(h->oauth_id, sizeof(h->oauth_id), "%s", client_id);
	snprintf(h->oauth_secret, sizeof(h->oauth_secret), "%s", secret);
	snprintf(h->oauth_token, sizeof(h->oauth_token), "%s", token);
	pthread_mutex_unlock(&h->mu);
}

size_t art_test_http_count(struct art_test_http *h)
{
	size_t n;

	pthread_mutex_lock(&h->mu);
	n = h->cnt;
	pthread_mutex_unlock(&h->mu);
	return n;
}

size_t art_test_http_count_status(struct art_test_http *h, int status)
{
	size_t n = 0;

	pthread_mutex_lock(&h->mu);
	for (size_t i = 0; i < h->cnt; i++)
		n += h->reqs[i].status == status;
	pthread_mutex_unlock(&h->mu);
	return n;
}

int art_test_http_request(struct art_test_http *h, size_t i, struct art_test_http_req *out)
{
	int rc = -1;

	pthread_mutex_lock(&h->mu);
	if (i < h->cnt) {
		*out = h->reqs[i];
		out->body = strdup(h->reqs[i].body);
		rc = 0;
	}
	pthread_mutex_unlock(&h->mu);
	return rc;
}

size_t art_test_http_resources(struct art_test_http *h)
{
	size_t n;

	pthread_mutex_lock(&h->mu);
	n = json_object_size(h->keys);
	pthread_mutex_unlock(&h->mu);
	return n;
}

size_t art_test_http_bundles(struct art_test_http *h)
{
	size_t n;

	pthread_mutex_lock(&h->mu);
	n = json_object_size(h->bundles);
	pthread_mutex_unlock(&h->mu);
	return n;
}

size_t art_test_http_repeats(struct art_test_http *h)
{
	size_t n;

	pthread_mutex_lock(&h->mu);
	n = h->repeats;
	pthread_mutex_unlock(&h->mu);
	return n;
}

int art_test_http_wait_bundles(struct art_test_http *h, size_t n, int timeout_ms)
{
	int64_t deadline = art_mono_us() + (int64_t)timeout_ms * 1000;

	while (art_test_http_bundles(h) < n) {
		if (art_mono_us() > deadline)
			return -1;
		usleep(20000);
	}
	return 0;
}
