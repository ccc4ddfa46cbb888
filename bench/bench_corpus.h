/*
 * bench_corpus.h — the benchmark corpus shared by bench_parse and
 * bench_map: every message of ../shared/corpus/hl7v2 that splits and
 * parses, terminators normalised to CR, back to back in one buffer.
 * Header-only (static functions): each benchmark is one program.
 */
#ifndef ART_BENCH_CORPUS_H
#define ART_BENCH_CORPUS_H

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "art.h"
#include "buf.h"
#include "hl7.h"

struct corpus {
	struct art_buf data; /* every message, normalised, back to back */
	size_t *off, *len;
	size_t n, cap;
	size_t files;
};

static void add_file(struct corpus *c, const char *path)
{
	char errstr[256];
	size_t len, i;
	struct art_hl7_split split;
	char *data = art_read_file(path, 64u << 20, &len, errstr, sizeof(errstr));
	if (!data)
		return;
	c->files++;
	if (art_hl7_split(data, len, NULL, &split, NULL, errstr, sizeof(errstr)) == 0) {
		for (i = 0; i < split.nmsgs; i++) {
			struct art_buf norm;
			struct art_hl7_msg *msg;
			art_buf_init(&norm, 64u << 20);
			if (art_hl7_normalise(data + split.msgs[i].off, split.msgs[i].len, &norm) < 0) {
				art_buf_free(&norm);
				continue;
			}
			msg = art_hl7_parse(norm.p, norm.len, NULL, errstr, sizeof(errstr));
			if (msg) {
				if (c->n == c->cap) {
					c->cap = c->cap ? c->cap * 2 : 256;
					c->off = realloc(c->off, c->cap * sizeof(*c->off));
					c->len = realloc(c->len, c->cap * sizeof(*c->len));
					if (!c->off || !c->len)
						abort();
				}
				c->off[c->n] = c->data.len;
				c->len[c->n] = norm.len;
				c->n++;
				if (art_buf_append(&c->data, norm.p, norm.len) < 0)
					abort();
				art_hl7_msg_destroy(msg);
			}
			art_buf_free(&norm);
		}
		art_hl7_split_free(&split);
	}
	free(data);
}

static void walk(struct corpus *c, const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char **names = NULL;
	size_t n = 0, i;
	if (!d)
		return;
	for (de = readdir(d); de; de = readdir(d)) {
		if (de->d_name[0] == '.')
			continue;
		names = realloc(names, (n + 1) * sizeof(*names));
		names[n++] = strdup(de->d_name);
	}
	closedir(d);
	for (i = 0; i < n; i++) {
		char full[4096];
		struct stat st;
		snprintf(full, sizeof(full), "%s/%s", dir, names[i]);
		if (stat(full, &st) == 0 && S_ISDIR(st.st_mode))
			walk(c, full);
		else if (stat(full, &st) == 0 && S_ISREG(st.st_mode))
			add_file(c, full);
		free(names[i]);
	}
	free(names);
}

#endif
