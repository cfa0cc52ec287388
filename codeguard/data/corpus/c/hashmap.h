/*
 * hashmap.h - open-addressing hash map from C strings to void pointers.
 *
 * Keys are copied on insert; values are owned by the caller.
 */
#ifndef HASHMAP_H
#define HASHMAP_H

#include <stddef.h>
#include <stdbool.h>

#define HASHMAP_MIN_CAPACITY 8
#define HASHMAP_MAX_LOAD 0.75

typedef struct hashmap hashmap_t;

typedef enum {
    HM_OK = 0,
    HM_ENOMEM = -1,
    HM_ENOTFOUND = -2,
    HM_EINVAL = -3
} hm_status;

typedef void (*hm_visit_fn)(const char *key, void *value, void *ctx);

hashmap_t *hm_create(size_t initial_capacity);
void hm_destroy(hashmap_t *map);

hm_status hm_put(hashmap_t *map, const char *key, void *value);
void *hm_get(const hashmap_t *map, const char *key);
bool hm_contains(const hashmap_t *map, const char *key);
hm_status hm_remove(hashmap_t *map, const char *key, void **old_value);

size_t hm_size(const hashmap_t *map);
void hm_foreach(const hashmap_t *map, hm_visit_fn visit, void *ctx);
const char *hm_strerror(hm_status status);

#endif /* HASHMAP_H */
