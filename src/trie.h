/*
 * trie: the broker's subject trie, mapping subscription patterns to subscriptions.
 *
 * One trie per core (each core keeps its own replica, updated by SUB/UNSUB broadcasts), so it is
 * single-threaded and takes no locks. A node stands for one token of a pattern; its children are a
 * hash table of literal tokens plus two dedicated slots for "*" and ">". Matching a literal topic
 * visits, per token, at most the literal child, the "*" child and the ">" child, so its cost grows
 * with the number of matching paths, not with the number of subscriptions.
 *
 * Patterns and topics must have passed topic_check_pattern / topic_check_literal (driver/topic.h).
 * Entries are opaque pointers owned by the caller; the trie only stores them. Functions return 0 or
 * a negative errno.
 */
#ifndef TRPC_SRC_TRIE_H
#define TRPC_SRC_TRIE_H

#include <stddef.h>
#include <stdint.h>

struct trie;

/*
 * Returns a new empty trie for topics of at most max_topic bytes (the broker's configured limit),
 * or NULL when out of memory. Matching uses a work stack allocated here, once.
 */
struct trie *trie_new(size_t max_topic);

/* Frees the trie and its nodes (not the entries). NULL is allowed. */
void trie_free(struct trie *t);

/*
 * Adds entry under pattern. The same entry may be added under several patterns, and a pattern may
 * hold many entries; adding the same (pattern, entry) pair twice is -EEXIST. -ENOMEM leaves the
 * trie as it was.
 */
int trie_insert(struct trie *t, const char *pattern, size_t len, void *entry);

/* Removes entry from pattern, pruning nodes left empty. -ENOENT when the pair is not present. */
int trie_remove(struct trie *t, const char *pattern, size_t len, void *entry);

/*
 * Calls visit(entry, ctx) once for each (pattern, entry) pair whose pattern matches the literal
 * topic; an entry inserted under two matching patterns is visited twice. visit must not modify
 * the trie. The topic is at most the trie's max_topic bytes. Never allocates. Returns the number
 * of visits.
 */
typedef void (*trie_visit_fn)(void *entry, void *ctx);
size_t trie_match(struct trie *t, const char *topic, size_t len, trie_visit_fn visit, void *ctx);

/* Changes with every insert and removal that took, and only then: a caller may keep what
 * trie_match visited for a topic as long as this stays the same. */
uint64_t trie_generation(const struct trie *t);

/* Number of (pattern, entry) pairs stored. */
size_t trie_count(const struct trie *t);

/* Number of nodes, the root included: for tests and memory accounting. */
size_t trie_node_count(const struct trie *t);

#endif
