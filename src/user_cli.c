/*
 * trpc-broker user (user_cli.h). The broker's own options (config.c) say where the store is, so
 * that the command finds the store the broker would open: the same --config file, --data-dir,
 * --store and --store-prefix, and the Redis password from the config file or the environment.
 * Records are written in the shapes of auth.h; a password is read by prompt.h, hashed at once with
 * the default Argon2id parameters, and its bytes wiped.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <openssl/crypto.h>

#include "src/auth.h"
#include "src/config.h"
#include "src/prompt.h"
#include "src/store.h"
#include "src/user_cli.h"

#define PROG "trpc-broker user"

enum verb { VERB_ADD, VERB_DEL, VERB_LIST, VERB_PASSWD };

static const char *const op_keys[3] = {"publish", "subscribe", "request"}; /* by enum auth_op */

struct user_cmd {
    enum verb verb;
    const char *name;
    bool admin;
    bool no_password;
    json_t *allow[3]; /* by enum auth_op: the --publish, --subscribe, --request patterns; NULL: none */
    json_t *rec;      /* add: the new record, but its hash */
    char **rest;      /* argv[0] and the broker's options, for config_from_args */
    int nrest;
    struct config cfg;
    struct store *store;
};

static void usage(FILE *out)
{
    fprintf(out, "usage: trpc-broker user add NAME [--role admin] [--no-password] [--publish PATTERN]...\n"
                 "                                 [--subscribe PATTERN]... [--request PATTERN]... [OPTION VALUE]...\n"
                 "       trpc-broker user passwd NAME [OPTION VALUE]...\n"
                 "       trpc-broker user del NAME [OPTION VALUE]...\n"
                 "       trpc-broker user list [OPTION VALUE]...\n"
                 "\n"
                 "Changes the users in the broker's store while no broker has it open: the first admin, a lost\n"
                 "password. A running broker's users are changed through it: trpcctl user.\n"
                 "OPTION VALUE: the broker's options that say where the store is (--config FILE, --data-dir DIR,\n"
                 "--store URL, --store-prefix PREFIX; trpc-broker --help lists them all).\n"
                 "A password is read from the terminal (twice), or as one line of standard input; never from the\n"
                 "command line.\n"
                 "\n"
                 "add:\n"
                 "  --role admin         the admin API ($trpc.admin.>)\n"
                 "  --no-password        no password: the user logs in with a token or a client certificate\n"
                 "  --publish PATTERN    may publish to the topics PATTERN matches (repeatable)\n"
                 "  --subscribe PATTERN  may subscribe to PATTERN and the patterns it covers (repeatable)\n"
                 "  --request PATTERN    may send requests to the topics PATTERN matches (repeatable)\n"
                 "Without them a user may publish, subscribe and request nothing (an admin too).\n");
}

/* Whether argv[*i] is the flag, alone or as --flag=VALUE; with a value, *value gets it, from the
 * next argument when not after '=' (*i then moves on). 1: it is, 0: it is not, -EINVAL: the value
 * is missing (a message went to stderr). */
static int take_flag(int argc, char **argv, int *i, const char *flag, const char **value)
{
    size_t n = strlen(flag);

    if (strncmp(argv[*i], flag, n) != 0 || (argv[*i][n] != '\0' && argv[*i][n] != '='))
        return 0;
    if (value == NULL) {
        if (argv[*i][n] == '=') {
            fprintf(stderr, PROG ": %s takes no value\n", flag);
            return -EINVAL;
        }
        return 1;
    }
    if (argv[*i][n] == '=') {
        *value = argv[*i] + n + 1;
    } else if (*i + 1 < argc) {
        *value = argv[++*i];
    } else {
        fprintf(stderr, PROG ": %s needs a value\n", flag);
        return -EINVAL;
    }
    return 1;
}

/* The options of add, out of argv[*i]: 1 when it was one, 0 when not, -EINVAL. */
static int add_option(struct user_cmd *cmd, int argc, char **argv, int *i)
{
    const char *v = NULL;
    int r;

    r = take_flag(argc, argv, i, "--role", &v);
    if (r != 0) {
        if (r > 0 && strcmp(v, "admin") != 0) {
            fprintf(stderr, PROG ": --role %s: the one role is admin\n", v);
            return -EINVAL;
        }
        cmd->admin = true;
        return r;
    }
    r = take_flag(argc, argv, i, "--no-password", NULL);
    if (r != 0) {
        cmd->no_password = true;
        return r;
    }
    for (int op = 0; op < 3; op++) {
        char flag[16];

        snprintf(flag, sizeof(flag), "--%s", op_keys[op]);
        r = take_flag(argc, argv, i, flag, &v);
        if (r <= 0)
            continue;
        if (cmd->allow[op] == NULL)
            cmd->allow[op] = json_array();
        if (cmd->allow[op] == NULL || json_array_append_new(cmd->allow[op], json_string(v)) != 0) {
            fprintf(stderr, PROG ": %s %s: not a topic pattern\n", flag, v);
            return -EINVAL;
        }
        return 1;
    }
    return r;
}

/* The command line into cmd, *done false; or *done true and the exit status (0 after --help). */
static int parse_args(struct user_cmd *cmd, int argc, char **argv, bool *done)
{
    static const char *const verbs[] = {"add", "del", "list", "passwd"};
    char err[CONFIG_ERR_MAX];
    enum config_action action;
    int i, first;

    *done = true;
    for (i = 2; i < argc; i++)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        }
    if (argc < 3) {
        usage(stderr);
        return 2;
    }
    for (i = 0; i < 4 && strcmp(argv[2], verbs[i]) != 0; i++)
        ;
    if (i == 4) {
        fprintf(stderr, PROG ": unknown command '%s' (add, del, list, passwd; see --help)\n", argv[2]);
        return 2;
    }
    cmd->verb = (enum verb)i;
    first = 3;
    if (cmd->verb != VERB_LIST) {
        char why[AUTH_ERR_MAX];

        /* The name stands right after the verb: a broker option's value could not be told from it
         * elsewhere without the option table's knowledge of which flags take one. */
        if (argc < 4 || argv[3][0] == '-') {
            fprintf(stderr, PROG " %s: the user's name comes first (see --help)\n", argv[2]);
            return 2;
        }
        if (auth_name_check(argv[3], why, sizeof(why)) != 0) {
            fprintf(stderr, PROG ": '%s': %s\n", argv[3], why);
            return 2;
        }
        cmd->name = argv[3];
        first = 4;
    }
    cmd->rest = calloc((size_t)argc, sizeof(*cmd->rest));
    if (cmd->rest == NULL) {
        fprintf(stderr, PROG ": out of memory\n");
        return 1;
    }
    cmd->rest[cmd->nrest++] = argv[0];
    for (i = first; i < argc; i++) {
        int r = 0;

        if (cmd->verb == VERB_ADD) {
            r = add_option(cmd, argc, argv, &i);
        } else if (strcmp(argv[i], "--role") == 0 || strcmp(argv[i], "--no-password") == 0 || strcmp(argv[i], "--publish") == 0 ||
                   strcmp(argv[i], "--subscribe") == 0 || strcmp(argv[i], "--request") == 0) {
            fprintf(stderr, PROG " %s: %s is an option of add\n", argv[2], argv[i]);
            return 2;
        }
        if (r < 0)
            return 2;
        if (r == 0)
            cmd->rest[cmd->nrest++] = argv[i];
    }
    config_defaults(&cmd->cfg);
    if (config_from_args(&cmd->cfg, cmd->nrest, cmd->rest, &action, err, sizeof(err)) != 0) {
        fprintf(stderr, PROG ": %s\n", err);
        return 2;
    }
    if (action != CONFIG_RUN) {
        fprintf(stderr, PROG ": --version and --print-config are trpc-broker's, not user's\n");
        return 2;
    }
    *done = false;
    return 0;
}

static int open_store(struct user_cmd *cmd)
{
    const struct config *c = &cmd->cfg;
    struct store_opts o = {
        .url = c->store,
        .data_dir = c->data_dir,
        .prefix = c->store_prefix,
        .password = c->store_password[0] ? c->store_password : NULL,
    };
    bool redis = strncmp(c->store, "redis:", 6) == 0;
    char err[STORE_ERR_MAX];
    int ret;

    /* One attempt: someone at a terminal, not a service waiting for its store to come up. */
    ret = store_open(&o, &cmd->store, err, sizeof(err));
    if (ret == -EBUSY && !redis)
        fprintf(stderr, PROG ": %s (a broker running on it? then change its users through it: trpcctl user)\n", err);
    else if ((ret == -EACCES || ret == -EROFS) && !redis)
        fprintf(stderr, PROG ": %s (--data-dir DIR names one this user may write)\n", err);
    else if (ret != 0)
        fprintf(stderr, PROG ": %s\n", err);
    return ret;
}

/* Reads the user's record: 0 with *rec, or -errno with the line on stderr. */
static int get_user(struct user_cmd *cmd, json_t **rec)
{
    json_error_t jerr;
    void *val = NULL;
    size_t len = 0;
    int ret;

    ret = store_get(cmd->store, AUTH_NS_USERS, cmd->name, &val, &len);
    if (ret == -ENOENT) {
        fprintf(stderr, PROG ": no such user: %s\n", cmd->name);
        return ret;
    }
    if (ret != 0) {
        fprintf(stderr, PROG ": %s\n", store_last_error(cmd->store));
        return ret;
    }
    *rec = json_loadb(val, len, JSON_REJECT_DUPLICATES, &jerr);
    free(val);
    if (!json_is_object(*rec)) {
        fprintf(stderr, PROG ": the record of user %s is damaged: %s\n", cmd->name, *rec == NULL ? jerr.text : "not an object");
        json_decref(*rec);
        *rec = NULL;
        return -EINVAL;
    }
    return 0;
}

static int put_user(struct user_cmd *cmd, const json_t *rec)
{
    char *text = json_dumps(rec, JSON_COMPACT);
    int ret;

    if (text == NULL) {
        fprintf(stderr, PROG ": out of memory\n");
        return -ENOMEM;
    }
    ret = store_put(cmd->store, AUTH_NS_USERS, cmd->name, text, strlen(text));
    if (ret != 0)
        fprintf(stderr, PROG ": %s\n", store_last_error(cmd->store));
    free(text);
    return ret;
}

/* Asks for a password and sets the record's "hash" to its hash: 0 or -errno, with a message on
 * stderr (prompt_password writes its own). */
static int set_password(struct user_cmd *cmd, json_t *rec, const char *label)
{
    char pw[AUTH_PASSWORD_MAX + 1], hash[AUTH_HASH_MAX], prompt[AUTH_NAME_MAX + 32];
    int len, ret;

    snprintf(prompt, sizeof(prompt), "%s for %s", label, cmd->name);
    len = prompt_password(prompt, true, pw, sizeof(pw));
    if (len < 0)
        return len;
    if (len < AUTH_PASSWORD_MIN) {
        OPENSSL_cleanse(pw, sizeof(pw));
        fprintf(stderr, PROG ": a password has at least %d bytes\n", AUTH_PASSWORD_MIN);
        return -EINVAL;
    }
    ret = auth_hash_password(pw, (size_t)len, hash, sizeof(hash));
    OPENSSL_cleanse(pw, sizeof(pw));
    if (ret != 0) {
        fprintf(stderr, PROG ": cannot hash the password: %s\n", strerror(-ret));
        return ret;
    }
    if (json_object_set_new(rec, "hash", json_string(hash)) != 0) {
        fprintf(stderr, PROG ": out of memory\n");
        return -ENOMEM;
    }
    return 0;
}

/* The record of add but its hash, into cmd->rec, checked before the store is opened and a password
 * asked: a mistyped pattern is a bad command line. 0, -EINVAL (said on stderr) or -ENOMEM. */
static int new_record(struct user_cmd *cmd)
{
    json_int_t now = (json_int_t)time(NULL);
    char why[AUTH_ERR_MAX];
    json_t *rec;
    int ret;

    rec = json_pack("{s:[], s:b}", "roles", "enabled", 1);
    if (rec == NULL || (cmd->admin && json_array_append_new(json_object_get(rec, "roles"), json_string("admin")) != 0))
        goto nomem;
    for (int op = 0; op < 3; op++)
        if (cmd->allow[op] != NULL && json_object_set_new(rec, op_keys[op], json_pack("{s:O}", "allow", cmd->allow[op])) != 0)
            goto nomem;
    if (json_object_set_new(rec, "created", json_integer(now)) != 0 || json_object_set_new(rec, "updated", json_integer(now)) != 0)
        goto nomem;
    ret = auth_user_check(rec, cmd->cfg.limits.max_topic, why, sizeof(why));
    if (ret != 0) {
        fprintf(stderr, PROG " add: %s\n", why);
        json_decref(rec);
        return ret;
    }
    cmd->rec = rec;
    return 0;
nomem:
    fprintf(stderr, PROG ": out of memory\n");
    json_decref(rec);
    return -ENOMEM;
}

static int user_add(struct user_cmd *cmd)
{
    void *val = NULL;
    size_t len;
    int ret;

    ret = store_get(cmd->store, AUTH_NS_USERS, cmd->name, &val, &len);
    free(val);
    if (ret == 0) {
        fprintf(stderr, PROG ": user %s exists (passwd changes a password; del removes a user)\n", cmd->name);
        return -EEXIST;
    }
    if (ret != -ENOENT) {
        fprintf(stderr, PROG ": %s\n", store_last_error(cmd->store));
        return ret;
    }
    if (!cmd->no_password) {
        ret = set_password(cmd, cmd->rec, "Password");
        if (ret != 0)
            return ret;
    }
    ret = put_user(cmd, cmd->rec);
    if (ret == 0)
        printf("user %s added%s%s\n", cmd->name, cmd->admin ? " (admin)" : "", cmd->no_password ? ", without a password" : "");
    return ret;
}

static int user_passwd(struct user_cmd *cmd)
{
    json_t *rec = NULL;
    int ret;

    ret = get_user(cmd, &rec);
    if (ret != 0)
        return ret;
    ret = set_password(cmd, rec, "New password");
    if (ret == 0 && json_object_set_new(rec, "updated", json_integer((json_int_t)time(NULL))) != 0) {
        fprintf(stderr, PROG ": out of memory\n");
        ret = -ENOMEM;
    }
    if (ret == 0)
        ret = put_user(cmd, rec);
    if (ret == 0)
        printf("password of user %s changed\n", cmd->name);
    json_decref(rec);
    return ret;
}

struct token_walk {
    const char *user;
    json_t *ids; /* the user's token ids */
};

static int token_of_user(void *arg, const char *key, const void *val, size_t len)
{
    struct token_walk *w = arg;
    json_t *tok = json_loadb(val, len, 0, NULL);
    const char *user = json_string_value(json_object_get(tok, "user"));
    int ret = 0;

    if (user != NULL && strcmp(user, w->user) == 0)
        ret = json_array_append_new(w->ids, json_string(key)) != 0 ? -ENOMEM : 0;
    json_decref(tok);
    return ret;
}

/* Removes the user's tokens, its certificate's entry, then its record: were the record gone first,
 * a failure on the way would leave tokens that a user added again under the name would inherit. */
static int user_del(struct user_cmd *cmd)
{
    struct token_walk w = {.user = cmd->name, .ids = json_array()};
    const char *cert;
    json_t *rec = NULL;
    size_t i;
    int ret;

    if (w.ids == NULL) {
        fprintf(stderr, PROG ": out of memory\n");
        return -ENOMEM;
    }
    ret = get_user(cmd, &rec);
    if (ret != 0)
        goto out;
    ret = store_list(cmd->store, AUTH_NS_TOKENS, token_of_user, &w);
    for (i = 0; ret == 0 && i < json_array_size(w.ids); i++)
        ret = store_del(cmd->store, AUTH_NS_TOKENS, json_string_value(json_array_get(w.ids, i)));
    cert = json_string_value(json_object_get(rec, "cert"));
    if (ret == 0 && cert != NULL && strlen(cert) <= STORE_KEY_MAX) {
        void *val = NULL;
        size_t len;
        json_t *c;

        ret = store_get(cmd->store, AUTH_NS_CERTS, cert, &val, &len);
        c = ret == 0 ? json_loadb(val, len, 0, NULL) : NULL;
        free(val);
        /* Another user's now (a record edited by hand): theirs to keep. */
        if (ret == 0 && json_is_string(json_object_get(c, "user")) &&
            strcmp(json_string_value(json_object_get(c, "user")), cmd->name) == 0)
            ret = store_del(cmd->store, AUTH_NS_CERTS, cert);
        ret = ret == -ENOENT ? 0 : ret;
        json_decref(c);
    }
    if (ret == 0)
        ret = store_del(cmd->store, AUTH_NS_USERS, cmd->name);
    if (ret == -ENOMEM)
        fprintf(stderr, PROG ": out of memory\n");
    else if (ret != 0)
        fprintf(stderr, PROG ": %s\n", store_last_error(cmd->store));
    else if (json_array_size(w.ids) > 0)
        printf("user %s deleted, and its %zu token%s\n", cmd->name, json_array_size(w.ids), json_array_size(w.ids) > 1 ? "s" : "");
    else
        printf("user %s deleted\n", cmd->name);
out:
    json_decref(rec);
    json_decref(w.ids);
    return ret;
}

static int collect_user(void *arg, const char *key, const void *val, size_t len)
{
    json_t *rec = json_loadb(val, len, JSON_REJECT_DUPLICATES, NULL);

    /* null: a record that does not parse, listed as damaged rather than hidden. */
    return json_object_set_new(arg, key, rec != NULL ? rec : json_null()) != 0 ? -ENOMEM : 0;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* One line per user, by name (Redis lists in its own order). */
static int user_list(struct user_cmd *cmd)
{
    json_t *users = json_object(), *rec;
    const char **names = NULL;
    const char *key;
    size_t n = 0, width = 4;
    int ret;

    if (users == NULL) {
        fprintf(stderr, PROG ": out of memory\n");
        return -ENOMEM;
    }
    ret = store_list(cmd->store, AUTH_NS_USERS, collect_user, users);
    if (ret != 0) {
        fprintf(stderr, PROG ": %s\n", ret == -ENOMEM ? "out of memory" : store_last_error(cmd->store));
        goto out;
    }
    names = calloc(json_object_size(users) + 1, sizeof(*names));
    if (names == NULL) {
        fprintf(stderr, PROG ": out of memory\n");
        ret = -ENOMEM;
        goto out;
    }
    json_object_foreach(users, key, rec)
    {
        names[n++] = key;
        width = strlen(key) > width ? strlen(key) : width;
    }
    qsort(names, n, sizeof(*names), cmp_names);
    printf("%-*s  %-5s  %-7s  %-8s  %s\n", (int)width, "NAME", "ROLES", "ENABLED", "PASSWORD", "CERT");
    for (size_t i = 0; i < n; i++) {
        const char *cert;

        rec = json_object_get(users, names[i]);
        if (!json_is_object(rec)) {
            printf("%-*s  (damaged record)\n", (int)width, names[i]);
            continue;
        }
        cert = json_string_value(json_object_get(rec, "cert"));
        printf("%-*s  %-5s  %-7s  %-8s  %s\n", (int)width, names[i],
               json_array_size(json_object_get(rec, "roles")) > 0 ? "admin" : "-", auth_user_enabled(rec) ? "yes" : "no",
               json_is_string(json_object_get(rec, "hash")) ? "yes" : "no", cert != NULL ? cert : "-");
    }
out:
    free(names);
    json_decref(users);
    return ret;
}

int user_cli_main(int argc, char **argv)
{
    struct user_cmd cmd = {.verb = VERB_LIST};
    bool done;
    int ret;

    ret = parse_args(&cmd, argc, argv, &done);
    if (done)
        goto out;
    if (cmd.verb == VERB_ADD) {
        ret = new_record(&cmd);
        if (ret != 0) {
            ret = ret == -EINVAL ? 2 : 1;
            goto out;
        }
    }
    ret = open_store(&cmd);
    if (ret != 0) {
        ret = 1;
        goto out;
    }
    switch (cmd.verb) {
    case VERB_ADD:
        ret = user_add(&cmd);
        break;
    case VERB_DEL:
        ret = user_del(&cmd);
        break;
    case VERB_LIST:
        ret = user_list(&cmd);
        break;
    case VERB_PASSWD:
        ret = user_passwd(&cmd);
        break;
    }
    ret = ret == 0 ? 0 : 1;
    store_close(cmd.store);
out:
    json_decref(cmd.rec);
    for (int op = 0; op < 3; op++)
        json_decref(cmd.allow[op]);
    free(cmd.rest);
    /* The Redis password from the config file. */
    OPENSSL_cleanse(cmd.cfg.store_password, sizeof(cmd.cfg.store_password));
    if (fflush(stdout) != 0 && ret == 0) {
        fprintf(stderr, PROG ": cannot write the output\n");
        ret = 1;
    }
    return ret;
}
