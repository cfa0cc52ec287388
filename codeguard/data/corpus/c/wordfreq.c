/*
 * wordfreq - count word frequencies in text files.
 *
 * usage: wordfreq [-n TOP] [-i] [file ...]
 */
#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hashmap.h"

#define MAX_WORD 64

struct entry {
    const char *word;
    long count;
};

struct collect_ctx {
    struct entry *items;
    size_t len;
};

static int ignore_case = 0;

static void collect(const char *key, void *value, void *ctx)
{
    struct collect_ctx *c = ctx;
    c->items[c->len].word = key;
    c->items[c->len].count = (long)(intptr_t)value;
    c->len++;
}

static int by_count_desc(const void *a, const void *b)
{
    const struct entry *x = a, *y = b;
    if (x->count != y->count)
        return x->count < y->count ? 1 : -1;
    return strcmp(x->word, y->word);
}

static int count_stream(FILE *fp, hashmap_t *counts)
{
    char word[MAX_WORD];
    size_t len = 0;
    int ch;

    do {
        ch = fgetc(fp);
        if (ch != EOF && (isalnum(ch) || ch == '\'' || ch == '_')) {
            if (len < MAX_WORD - 1)
                word[len++] = (char)(ignore_case ? tolower(ch) : ch);
            continue;
        }
        if (len > 0) {
            long n;
            word[len] = '\0';
            n = (long)(intptr_t)hm_get(counts, word);
            if (hm_put(counts, word, (void *)(intptr_t)(n + 1)) != HM_OK)
                return -1;
            len = 0;
        }
    } while (ch != EOF);

    return ferror(fp) ? -1 : 0;
}

int main(int argc, char **argv)
{
    hashmap_t *counts;
    struct collect_ctx ctx = { NULL, 0 };
    long top = 10;
    int opt, status = EXIT_SUCCESS;
    size_t i;

    while ((opt = getopt(argc, argv, "n:ih")) != -1) {
        switch (opt) {
        case 'n': {
            char *end;
            errno = 0;
            top = strtol(optarg, &end, 10);
            if (errno || *end != '\0' || top <= 0) {
                fprintf(stderr, "wordfreq: invalid count '%s'\n", optarg);
                return EXIT_FAILURE;
            }
            break;
        }
        case 'i':
            ignore_case = 1;
            break;
        case 'h':
        default:
            fprintf(stderr, "usage: %s [-n TOP] [-i] [file ...]\n", argv[0]);
            return opt == 'h' ? EXIT_SUCCESS : EXIT_FAILURE;
        }
    }

    counts = hm_create(1024);
    if (counts == NULL) {
        perror("wordfreq");
        return EXIT_FAILURE;
    }

    if (optind == argc) {
        if (count_stream(stdin, counts) != 0)
            status = EXIT_FAILURE;
    }
    for (; optind < argc; optind++) {
        FILE *fp = fopen(argv[optind], "r");
        if (!fp) {
            fprintf(stderr, "wordfreq: %s: %s\n", argv[optind], strerror(errno));
            status = EXIT_FAILURE;
            continue;
        }
        if (count_stream(fp, counts) != 0)
            status = EXIT_FAILURE;
        fclose(fp);
    }

    ctx.items = malloc(hm_size(counts) * sizeof *ctx.items + 1);
    if (ctx.items == NULL)
        goto out;
    hm_foreach(counts, collect, &ctx);
    qsort(ctx.items, ctx.len, sizeof *ctx.items, by_count_desc);

    for (i = 0; i < ctx.len && (long)i < top; i++)
        printf("%7ld %s\n", ctx.items[i].count, ctx.items[i].word);

    free(ctx.items);
out:
    hm_destroy(counts);
    return status;
}
