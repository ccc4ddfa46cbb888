/*
 * admin.c — admin HTTP server on libmicrohttpd. MHD runs its own polling
 * thread; the request handler only reads the ready flag (an atomic) and
 * renders the metrics registry (which has its own lock), so the server
 * shares no unguarded state with the process. Responses are small: "ok",
 * "ready", or the metrics text (at most 16 MiB by the registry's cap).
 */
#include "admin.h"

#include "art.h"
#include "log.h"
#include "metrics.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define ART_ADMIN_CONN_LIMIT   32 /* concurrent admin connections */
#define ART_ADMIN_CONN_TIMEOUT 10 /* seconds before an idle connection closes */

struct art_admin {
	struct MHD_Daemon *daemon;
	struct art_metrics *metrics; /* borrowed, may be NULL */
	atomic_int ready;            /* what /readyz answers */
	int port;                    /* bound port */
	atomic_int started;          /* MHD_start_daemon() has returned */
	char start_err[256];         /* MHD's last message while starting */
};

/* Queues a response with body (copied) and the given status. */
static enum MHD_Result art_admin_reply(struct MHD_Connection *conn, unsigned int status,
                                       const char *ctype, const char *body, size_t len)
{
	struct MHD_Response *resp;
	enum MHD_Result rc;

	resp = MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
	if (!resp)
		return MHD_NO;
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	rc = MHD_queue_response(conn, status, resp);
	MHD_destroy_response(resp);
	return rc;
}

static enum MHD_Result art_admin_text(struct MHD_Connection *conn, unsigned int status,
                                      const char *text)
{
	return art_admin_reply(conn, status, "text/plain; charset=utf-8", text, strlen(text));
}

static enum MHD_Result art_admin_handler(void *cls, struct MHD_Connection *conn, const char *url,
                                         const char *method, const char *version,
                                         const char *upload_data, size_t *upload_data_size,
                                         void **req_cls)
{
	struct art_admin *admin = cls;
	struct MHD_Response *resp;
	enum MHD_Result rc;
	char *text;
	size_t len = 0;

	(void)version;
	(void)upload_data;
	if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0) {
		/* Ignore any body; answer at the first call. */
		*upload_data_size = 0;
		return art_admin_text(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed\n");
	}
	(void)req_cls;
	if (!strcmp(url, "/healthz"))
		return art_admin_text(conn, MHD_HTTP_OK, "ok\n");
	if (!strcmp(url, "/readyz")) {
		if (atomic_load(&admin->ready))
			return art_admin_text(conn, MHD_HTTP_OK, "ready\n");
		return art_admin_text(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "not ready\n");
	}
	if (!strcmp(url, "/metrics")) {
		text = admin->metrics ? art_metrics_render(admin->metrics, &len) : strdup("");
		if (!text)
			return art_admin_text(conn, MHD_HTTP_INTERNAL_SERVER_ERROR,
			                      "out of memory\n");
		/* MHD takes ownership of text and frees it with free(). */
		resp = MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
		if (!resp) {
			free(text);
			return MHD_NO;
		}
		text = NULL; /* owned by resp */
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
		                        "text/plain; version=0.0.4; charset=utf-8");
		rc = MHD_queue_response(conn, MHD_HTTP_OK, resp);
		MHD_destroy_response(resp);
		return rc;
	}
	return art_admin_text(conn, MHD_HTTP_NOT_FOUND, "not found\n");
}

/* Routes MHD's own error messages into the JSON log. Until the daemon has
 * started, the latest one is also kept for art_admin_start()'s errstr
 * (only the starting thread runs then). */
/* MHD hands us its own format string: there is no literal to check. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
static void art_admin_log(void *cls, const char *fmt, va_list ap)
{
	struct art_admin *admin = cls;
	char msg[256];
	size_t n;

	vsnprintf(msg, sizeof(msg), fmt, ap);
	n = strlen(msg);
	while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
		msg[--n] = '\0';
	if (!atomic_load(&admin->started))
		memcpy(admin->start_err, msg, n + 1);
	art_warn("admin.mhd", "%s", msg);
}
#pragma GCC diagnostic pop

struct art_admin *art_admin_start(const char *bind, int port, struct art_metrics *m, char *errstr,
                                  size_t errstr_size)
{
	struct sockaddr_storage ss;
	unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG;
	const union MHD_DaemonInfo *info;
	struct art_admin *admin;

	if (port < 0 || port > 65535) {
		snprintf(errstr, errstr_size, "admin port %d out of range", port);
		return NULL;
	}
	switch (art_sockaddr(bind, port, &ss)) {
	case AF_INET:
		break;
	case AF_INET6:
		flags |= MHD_USE_IPv6;
		break;
	default:
		snprintf(errstr, errstr_size, "admin bind '%s' is not an IPv4 or IPv6 address",
		         bind);
		return NULL;
	}
	admin = calloc(1, sizeof(*admin));
	if (!admin) {
		snprintf(errstr, errstr_size, "out of memory");
		return NULL;
	}
	admin->metrics = m;
	atomic_init(&admin->ready, 0);
	atomic_init(&admin->started, 0);
	admin->daemon = MHD_start_daemon(
	    flags, (uint16_t)port, NULL, NULL, art_admin_handler, admin, MHD_OPTION_EXTERNAL_LOGGER,
	    art_admin_log, admin, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss, MHD_OPTION_CONNECTION_LIMIT,
	    (unsigned int)ART_ADMIN_CONN_LIMIT, MHD_OPTION_CONNECTION_TIMEOUT,
	    (unsigned int)ART_ADMIN_CONN_TIMEOUT, MHD_OPTION_END);
	if (!admin->daemon) {
		snprintf(errstr, errstr_size, "cannot start the admin server on %s:%d: %s", bind,
		         port, admin->start_err[0] ? admin->start_err : "unknown error");
		free(admin);
		return NULL;
	}
	atomic_store(&admin->started, 1);
	info = MHD_get_daemon_info(admin->daemon, MHD_DAEMON_INFO_BIND_PORT);
	admin->port = info && info->port ? info->port : port;
	art_info("admin.start", "admin server on %s:%d (/metrics /healthz /readyz)", bind,
	         admin->port);
	return admin;
}

int art_admin_port(const struct art_admin *admin)
{
	return admin->port;
}

void art_admin_set_ready(struct art_admin *admin, int ready)
{
	atomic_store(&admin->ready, ready ? 1 : 0);
}

void art_admin_stop(struct art_admin *admin)
{
	if (!admin)
		return;
	MHD_stop_daemon(admin->daemon);
	free(admin);
}
