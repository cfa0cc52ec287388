#include "hashmap.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

enum slot_state { SLOT_EMPTY, SLOT_USED, SLOT_DELETED };

struct slot {
    char *key;
    void *value;
    uint32_t hash;
    unsigned char state;
};

struct hashmap {
    struct slot *slots;
    size_t capacity;  /* always a power of two */
    size_t size;
    size_t tombstones;
};

/* 32-bit FNV-1a. */
static uint32_t hash_str(const char *s)
{
    uint32_t h = 2166136261u;
    while (*s) {
        h ^= (unsigned char)*s++;
        h *= 16777619u;
    }
    return h;
}

static size_t round_up_pow2(size_t n)
{
    size_t p = HASHMAP_MIN_CAPACITY;
    while (p < n)
        p <<= 1;
    return p;
}

static char *dup_str(const char *s)
{
    size_t len = strlen(s) + 1;
    char *copy = malloc(len);
    if (copy != NULL)
        memcpy(copy, s, len);
    return copy;
}

hashmap_t *hm_create(size_t initial_capacity)
{
    hashmap_t *map = malloc(sizeof *map);
    if (!map)
        return NULL;
    map->capacity = round_up_pow2(initial_capacity);
    map->slots = calloc(map->capacity, sizeof(struct slot));
    if (!map->slots) {
        free(map);
        return NULL;
    }
    map->size = 0;
    map->tombstones = 0;
    return map;
}

void hm_destroy(hashmap_t *map)
{
    size_t i;

    if (map == NULL)
        return;
    for (i = 0; i < map->capacity; i++) {
        if (map->slots[i].state == SLOT_USED)
            free(map->slots[i].key);
    }
    free(map->slots);
    free(map);
}

/* Find the slot for key, or the first free slot where it could go. */
static struct slot *find_slot(const hashmap_t *map, const char *key, uint32_t hash)
{
    size_t mask = map->capacity - 1;
    size_t i = hash & mask;
    struct slot *first_deleted = NULL;

    for (;;) {
        struct slot *s = &map->slots[i];
        switch (s->state) {
        case SLOT_EMPTY:
            return first_deleted ? first_deleted : s;
        case SLOT_DELETED:
            if (!first_deleted)
                first_deleted = s;
            break;
        case SLOT_USED:
            if (s->hash == hash && strcmp(s->key, key) == 0)
                return s;
            break;
        default:
            break;
        }
        i = (i + 1) & mask;
    }
}

static hm_status grow(hashmap_t *map)
{
    struct slot *old = map->slots;
    size_t old_cap = map->capacity;
    size_t i;

    map->capacity = old_cap * 2;
    map->slots = calloc(map->capacity, sizeof(struct slot));
    if (map->slots == NULL) {
        map->slots = old;
        map->capacity = old_cap;
        return HM_ENOMEM;
    }
    map->tombstones = 0;
    for (i = 0; i < old_cap; i++) {
        if (old[i].state == SLOT_USED) {
            struct slot *dst = find_slot(map, old[i].key, old[i].hash);
            *dst = old[i];
        }
    }
    free(old);
    return HM_OK;
}

hm_status hm_put(hashmap_t *map, const char *key, void *value)
{
    uint32_t hash;
    struct slot *s;

    if (map == NULL || key == NULL)
        return HM_EINVAL;
    if ((double)(map->size + map->tombstones + 1) > map->capacity * HASHMAP_MAX_LOAD) {
        hm_status rc = grow(map);
        if (rc != HM_OK)
            return rc;
    }
    hash = hash_str(key);
    s = find_slot(map, key, hash);
    if (s->state == SLOT_USED) {
        s->value = value;
        return HM_OK;
    }
    s->key = dup_str(key);
    if (s->key == NULL)
        return HM_ENOMEM;
    if (s->state == SLOT_DELETED)
        map->tombstones--;
    s->value = value;
    s->hash = hash;
    s->state = SLOT_USED;
    map->size++;
    return HM_OK;
}

void *hm_get(const hashmap_t *map, const char *key)
{
    struct slot *s = find_slot(map, key, hash_str(key));
    return s->state == SLOT_USED ? s->value : NULL;
}

bool hm_contains(const hashmap_t *map, const char *key)
{
    return find_slot(map, key, hash_str(key))->state == SLOT_USED;
}

hm_status hm_remove(hashmap_t *map, const char *key, void **old_value)
{
    struct slot *s = find_slot(map, key, hash_str(key));

    if (s->state != SLOT_USED)
        return HM_ENOTFOUND;
    if (old_value)
        *old_value = s->value;
    free(s->key);
    s->key = NULL;
    s->value = NULL;
    s->state = SLOT_DELETED;
    map->size--;
    map->tombstones++;
    return HM_OK;
}

size_t hm_size(const hashmap_t *map)
{
    return map->size;
}

void hm_foreach(const hashmap_t *map, hm_visit_fn visit, void *ctx)
{
    const struct slot *s = map->slots;
    const struct slot *end = s + map->capacity;

    for (; s < end; ++s)
        if (s->state == SLOT_USED)
            visit(s->key, s->value, ctx);
}

const char *hm_strerror(hm_status status)
{
    static const char *const messages[] = {
        "success", "out of memory", "key not found", "invalid argument",
    };
    int idx = -(int)status;
    if (idx < 0 || idx >= (int)(sizeof messages / sizeof messages[0]))
        return "unknown error";
    return messages[idx];
}
