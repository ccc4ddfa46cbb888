/*
 * dedup.c — open-addressing hash table (linear probing, power-of-two size,
 * at most half full) over a FIFO ring of entries in insertion order. The
 * ring gives O(1) eviction of the oldest entry; deletion from the hash uses
 * backward-shift so no tombstones accumulate. Keys are already SHA-256
 * digests, so their first 8 bytes are the hash.
 */
#include "dedup.h"

#include <stdlib.h>
#include <string.h>

struct art_dedup_entry {
	uint8_t key[ART_DEDUP_DIGEST];
	uint8_t content[ART_DEDUP_DIGEST];
	int64_t at_s;
	int used;
};

struct art_dedup {
	int window_s;
	size_t max;                    /* ring capacity */
	struct art_dedup_entry *ring;  /* entries, oldest at head */
	size_t head, cnt;
	uint32_t *slots; /* hash slots: ring index + 1, 0 = empty */
	size_t nslots;   /* power of two, >= 2 * max */
};

static uint64_t art_dedup_hash(const uint8_t *key)
{
	uint64_t h;

	memcpy(&h, key, sizeof(h));
	return h;
}

struct art_dedup *art_dedup_new(int window_s, size_t max_entries)
{
	struct art_dedup *d;

	if (max_entries == 0 || max_entries > (1u << 30))
		return NULL;
	d = calloc(1, sizeof(*d));
	if (!d)
		return NULL;
	d->window_s = window_s;
	d->max = max_entries;
	d->nslots = 16;
	while (d->nslots < 2 * max_entries)
		d->nslots *= 2;
	d->ring = calloc(max_entries, sizeof(*d->ring));
	d->slots = calloc(d->nslots, sizeof(*d->slots));
	if (!d->ring || !d->slots) {
		art_dedup_destroy(d);
		return NULL;
	}
	return d;
}

void art_dedup_destroy(struct art_dedup *d)
{
	if (!d)
		return;
	free(d->ring);
	free(d->slots);
	free(d);
}

/* Slot holding key, or the empty slot where it would go (*found says). */
static size_t art_dedup_lookup(const struct art_dedup *d, const uint8_t *key, int *found)
{
	size_t mask = d->nslots - 1;
	size_t i = art_dedup_hash(key) & mask;

	for (;;) {
		uint32_t s = d->slots[i];
		if (s == 0) {
			*found = 0;
			return i;
		}
		if (!memcmp(d->ring[s - 1].key, key, ART_DEDUP_DIGEST)) {
			*found = 1;
			return i;
		}
		i = (i + 1) & mask;
	}
}

/* Removes slot i, shifting later members of its probe run back. */
static void art_dedup_slot_delete(struct art_dedup *d, size_t i)
{
	size_t mask = d->nslots - 1;
	size_t j = i;

	d->slots[i] = 0;
	for (;;) {
		size_t home;
		j = (j + 1) & mask;
		if (d->slots[j] == 0)
			return;
		home = art_dedup_hash(d->ring[d->slots[j] - 1].key) & mask;
		/* Move j back to i when its home is not within (i, j]. */
		if ((j > i && (home <= i || home > j)) || (j < i && (home <= i && home > j))) {
			d->slots[i] = d->slots[j];
			d->slots[j] = 0;
			i = j;
		}
	}
}

static void art_dedup_evict_oldest(struct art_dedup *d)
{
	struct art_dedup_entry *e = &d->ring[d->head];
	int found;
	size_t slot;

	if (e->used) {
		slot = art_dedup_lookup(d, e->key, &found);
		if (found && d->slots[slot] == d->head + 1)
			art_dedup_slot_delete(d, slot);
		e->used = 0;
	}
	d->head = (d->head + 1) % d->max;
	d->cnt--;
}

int art_dedup_seen(struct art_dedup *d, const uint8_t key[ART_DEDUP_DIGEST],
		   const uint8_t content[ART_DEDUP_DIGEST], int64_t now_s)
{
	int found;
	size_t slot = art_dedup_lookup(d, key, &found);
	const struct art_dedup_entry *e;

	if (!found)
		return 0;
	e = &d->ring[d->slots[slot] - 1];
	if (now_s - e->at_s > d->window_s)
		return 0;
	return !memcmp(e->content, content, ART_DEDUP_DIGEST);
}

void art_dedup_put(struct art_dedup *d, const uint8_t key[ART_DEDUP_DIGEST],
		   const uint8_t content[ART_DEDUP_DIGEST], int64_t now_s)
{
	int found;
	size_t slot, idx;

	/* Recycle expired entries from the old end, and make room. */
	while (d->cnt > 0 && (d->cnt == d->max || now_s - d->ring[d->head].at_s > d->window_s))
		art_dedup_evict_oldest(d);
	slot = art_dedup_lookup(d, key, &found);
	if (found) {
		/* Forget the old entry; the new one goes to the young end. */
		d->ring[d->slots[slot] - 1].used = 0;
		art_dedup_slot_delete(d, slot);
		slot = art_dedup_lookup(d, key, &found);
	}
	idx = (d->head + d->cnt) % d->max;
	memcpy(d->ring[idx].key, key, ART_DEDUP_DIGEST);
	memcpy(d->ring[idx].content, content, ART_DEDUP_DIGEST);
	d->ring[idx].at_s = now_s;
	d->ring[idx].used = 1;
	d->slots[slot] = (uint32_t)idx + 1;
	d->cnt++;
}

size_t art_dedup_count(const struct art_dedup *d)
{
	return d->cnt;
}
