/*
 * ids.c — see ids.h.
 */
#include "ids.h"

#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

/* OpenSSL 3 looks EVP_sha256() up in its provider tables on every digest;
 * fetching it once saves most of the cost of a short digest. */
static EVP_MD *art_ids_md;
static pthread_once_t art_ids_once = PTHREAD_ONCE_INIT;

static void art_ids_fetch(void)
{
	art_ids_md = EVP_MD_fetch(NULL, "SHA256", NULL);
}

void art_sha256(const void *p, size_t len, uint8_t out[ART_SHA256_LEN])
{
	unsigned int n = ART_SHA256_LEN;

	pthread_once(&art_ids_once, art_ids_fetch);
	EVP_Digest(p, len, out, &n, art_ids_md ? art_ids_md : EVP_sha256(), NULL);
}

void art_hex(const uint8_t *p, size_t len, char *out)
{
	static const char hex[] = "0123456789abcdef";

	for (size_t i = 0; i < len; i++) {
		out[2 * i] = hex[p[i] >> 4];
		out[2 * i + 1] = hex[p[i] & 15];
	}
	out[2 * len] = '\0';
}

void art_derived_id(const char *key, const char *what, char out[37])
{
	uint8_t d[ART_SHA256_LEN];
	char in[256], h[33];
	int n = snprintf(in, sizeof(in), "%s:%s", key, what);

	art_sha256(in, (size_t)(n < (int)sizeof(in) ? n : (int)sizeof(in) - 1), d);
	d[6] = (uint8_t)((d[6] & 0x0f) | 0x50);
	d[8] = (uint8_t)((d[8] & 0x3f) | 0x80);
	art_hex(d, 16, h);
	snprintf(out, 37, "%.8s-%.4s-%.4s-%.4s-%.12s", h, h + 8, h + 12, h + 16, h + 20);
}
