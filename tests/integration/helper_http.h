/*
 * helper_http.h — a recording FHIR-ish HTTP receiver on loopback for
 * integration tests (libmicrohttpd, its own thread). Every POST is
 * recorded (path, headers of interest, body, answer, time). Transaction
 * Bundles are applied like a FHIR server would apply their conditional
 * entries: a PUT Type?identifier=... or POST with ifNoneExist creates the
 * resource the first time its key is seen and only updates (or ignores)
 * it afterwards, so the test can count side effects: resources created,
 * and updates per key.
 *
 * The test decides the answers: a status for the next n requests (503,
 * 400 with an OperationOutcome, 429 with Retry-After...), a status for
 * every request whose body contains a substring (one failing patient), a
 * delay per request, or dropping the connection without an answer. It
 * can serve HTTPS (a certificate made by the test).
 * Everything locks: the consumer runs in another process or thread.
 */
#ifndef ART_HELPER_HTTP_H
#define ART_HELPER_HTTP_H

#include <stddef.h>
#include <stdint.h>

struct art_test_http;

/* One recorded request. */
struct art_test_http_req {
	char path[256];
	char auth[256];       /* Authorization header ("" if none) */
	char request_id[128]; /* X-Request-Id header */
	char *body;           /* NUL-terminated copy */
	int status;           /* what was answered (0: dropped) */
	int64_t at_us;        /* art_mono_us() when it arrived */
};

/* Starts a receiver on 127.0.0.1 (any free port). NULL on failure. */
struct art_test_http *art_test_http_start(void);

/* As art_test_http_start(), serving HTTPS with the PEM certificate (chain)
 * and key given as text. NULL on failure or when libmicrohttpd was built
 * without TLS. */
struct art_test_http *art_test_http_start_tls(const char *cert_pem, const char *key_pem);

/* The port it listens on. */
int art_test_http_port(const struct art_test_http *h);

/* Stops it and frees everything. NULL is a no-op. */
void art_test_http_stop(struct art_test_http *h);

/* Answer the next n requests with status (Retry-After: retry_after_s when
 * >= 0; status 0 = drop the connection). */
void art_test_http_fail_next(struct art_test_http *h, int n, int status, int retry_after_s);

/* Answer every request whose body contains match with status (NULL: stop). */
void art_test_http_fail_match(struct art_test_http *h, const char *match, int status);

/* Sleep delay_ms before answering each request. */
void art_test_http_slow(struct art_test_http *h, int delay_ms);

/* Requires "Authorization: Bearer <token>" (401 otherwise); NULL: none. */
void art_test_http_require_token(struct art_test_http *h, const char *token);

/* Serve POST /token (client credentials) issuing access token `token`
 * when the basic-auth client id/secret match. */
void art_test_http_oauth(struct art_test_http *h, const char *client_id, const char *secret,
                         const char *token);

/* Requests recorded so far (all paths). */
size_t art_test_http_count(struct art_test_http *h);

/* Requests answered with status (2xx: pass 200). */
size_t art_test_http_count_status(struct art_test_http *h, int status);

/* Copies request i (0-based) into *out (body malloc'd: caller frees).
 * Returns 0 or -1 when there is no such request. */
int art_test_http_request(struct art_test_http *h, size_t i, struct art_test_http_req *out);

/* Side effects of accepted transactions: distinct resources created. */
size_t art_test_http_resources(struct art_test_http *h);

/* Distinct Bundle identifiers (event ids) accepted. */
size_t art_test_http_bundles(struct art_test_http *h);

/* Accepted Bundles whose identifier was already accepted before. */
size_t art_test_http_repeats(struct art_test_http *h);

/* Waits until art_test_http_bundles() >= n. 0, or -1 after timeout_ms. */
int art_test_http_wait_bundles(struct art_test_http *h, size_t n, int timeout_ms);

#endif
