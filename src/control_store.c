/*
 * The control thread's side of the store (control.h): opening it at start, the live settings kept
 * in it, and what other brokers change in it.
 *
 * The settings in force are always the configured ones (config file and command line, ctl->base)
 * with what the store holds applied over them (namespace "settings", one record per changed
 * option, its value in the config file's syntax). A change is written to the store before it is
 * applied, so that a change the store did not take is one no core ever saw; a change another
 * broker made (or a store back from an outage) is applied by reading the whole namespace again,
 * which is a handful of records.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "src/auth.h"
#include "src/control.h"
#include "src/core.h"
#include "src/log.h"
#include "src/store.h"

#define SETTINGS_NS   "settings"
#define SETTINGS_MAX  64 /* records read from the store at most: more than there are live options */
#define SETTING_VALUE (CONFIG_PATH_MAX + 16)
#define OPEN_RETRY_MS 100

struct stored {
    size_t n;
    bool full_warned;
    char names[SETTINGS_MAX][64];
    char values[SETTINGS_MAX][SETTING_VALUE];
};

static bool live_option(const char *name)
{
    struct config_option_info o;

    for (size_t i = 0; config_option_info(i, &o) == 0; i++)
        if (strcmp(o.name, name) == 0)
            return o.live;
    return false;
}

static int stored_add(void *arg, const char *key, const void *val, size_t len)
{
    struct stored *st = arg;

    /* Records of options this version does not change live (another version's) take no slot. */
    if (!live_option(key) || len >= sizeof(st->values[0]) || memchr(val, '\0', len) != NULL) {
        log_warn(LOG_NO_CORE, "store: setting record '%.64s' ignored: not a live setting of this broker, or not text", key);
        return 0;
    }
    if (st->n == SETTINGS_MAX) {
        if (!st->full_warned)
            log_warn(LOG_NO_CORE, "store: more than %d setting records; the rest are ignored", SETTINGS_MAX);
        st->full_warned = true;
        return 0;
    }
    snprintf(st->names[st->n], sizeof(st->names[0]), "%s", key);
    memcpy(st->values[st->n], val, len);
    st->values[st->n][len] = '\0';
    st->n++;
    return 0;
}

/* The configured settings with the stored ones over them, into *out. A record that does not apply
 * (an option of another version, a value this one refuses) is left out with a warning: one bad
 * record must not keep a broker from starting. */
static int settings_compute(struct control *ctl, struct config *out)
{
    struct stored *st = calloc(1, sizeof(*st));
    const char *names[SETTINGS_MAX], *values[SETTINGS_MAX];
    char err[CONFIG_ERR_MAX];
    int ret;

    if (st == NULL)
        return -ENOMEM;
    ret = store_list(ctl->store, SETTINGS_NS, stored_add, st);
    if (ret != 0)
        goto out;
    *out = ctl->base;
    for (size_t i = 0; i < st->n; i++) {
        names[i] = st->names[i];
        values[i] = st->values[i];
    }
    if (config_set_live(out, st->n, names, values, err, sizeof(err)) == 0)
        goto out;
    /* One at a time, in passes until one applies nothing more: two that must change together in
     * some order (a timeout and its maximum) both get in, whatever order the store lists them. */
    for (bool progress = true; progress;) {
        progress = false;
        for (size_t i = 0; i < st->n; i++) {
            if (names[i] != NULL && config_set_live(out, 1, &names[i], &values[i], err, sizeof(err)) == 0) {
                names[i] = NULL;
                progress = true;
            }
        }
    }
    for (size_t i = 0; i < st->n; i++)
        if (names[i] != NULL && config_set_live(out, 1, &names[i], &values[i], err, sizeof(err)) != 0)
            log_warn(LOG_NO_CORE, "store %s: stored setting ignored: %s", store_location(ctl->store), err);
out:
    free(st);
    return ret;
}

/* Logs every live option whose value differs between a and b. */
static void log_changes(const struct config *a, const struct config *b, const char *why)
{
    char x[SETTING_VALUE], y[SETTING_VALUE];
    struct config_option_info o;

    for (size_t i = 0; config_option_info(i, &o) == 0; i++) {
        if (!o.live)
            continue;
        config_get(a, o.name, x, sizeof(x));
        config_get(b, o.name, y, sizeof(y));
        if (strcmp(x, y) != 0)
            log_always(LOG_NO_CORE, "setting %s = %s (was %s)%s", o.name, y, x, why);
    }
}

/* Makes next the settings in force and sends them to every core. */
static int settings_apply(struct control *ctl, const struct config *next, const char *why)
{
    log_changes(&ctl->cfg, next, why);
    ctl->cfg = *next;
    log_set_level(ctl->cfg.log_level);
    return control_push_settings(ctl);
}

static void settings_reload(struct control *ctl)
{
    struct config next;
    int ret = settings_compute(ctl, &next);

    if (ret != 0) {
        /* Down again (its return brings the reread event), or an error Redis gave: the next
         * change notice tries again. */
        log_warn(LOG_NO_CORE, "cannot reread the settings: %s", store_last_error(ctl->store));
        return;
    }
    next.listen_port = ctl->cfg.listen_port;
    if (!config_live_equal(&next, &ctl->cfg))
        settings_apply(ctl, &next, " from the store");
}

int control_store_open(struct control *ctl, char *err, size_t errlen)
{
    const struct config *c = &ctl->base;
    struct store_opts o = {
        .url = c->store,
        .data_dir = c->data_dir,
        .prefix = c->store_prefix,
        .password = c->store_password[0] ? c->store_password : NULL,
    };
    uint64_t now = uring_now_ns(), deadline = now + (uint64_t)c->store_timeout_ms * 1000000;
    bool redis = strncmp(c->store, "redis:", 6) == 0;
    sigset_t stop;
    int ret, sig;

    /* The main thread has SIGTERM and SIGINT blocked (main.c): a wait here takes them itself, so
     * that a broker waiting for its store still stops when told. */
    sigemptyset(&stop);
    sigaddset(&stop, SIGTERM);
    sigaddset(&stop, SIGINT);
    for (;;) {
        /* Each connection attempt within what is left of store-timeout (at least 100 ms, at most
         * the store's own 2 s); the command timeout stays the store's, for its whole life. */
        uint64_t left_ms = deadline > now ? (deadline - now) / 1000000 : 0;

        o.connect_timeout_ms = left_ms < 100 ? 100 : left_ms > 2000 ? 2000 : (unsigned)left_ms;
        ret = store_open(&o, &ctl->store, err, errlen);
        now = uring_now_ns();
        /* -EIO from Redis may be one still loading its data (LOADING): it will answer soon. */
        if (ret == 0 || (ret != -ENOTCONN && ret != -ETIMEDOUT && !(redis && ret == -EIO)) || now >= deadline)
            break;
        sig = sigtimedwait(&stop, NULL, &(struct timespec){.tv_nsec = OPEN_RETRY_MS * 1000000});
        if (sig == SIGTERM || sig == SIGINT) {
            size_t used = strnlen(err, errlen);

            snprintf(err + used, errlen - used, " (stopped by %s while waiting for it)", sig == SIGTERM ? "SIGTERM" : "SIGINT");
            return -ECANCELED;
        }
        now = uring_now_ns();
    }
    if (ret == -ENOTCONN || ret == -ETIMEDOUT || (redis && ret == -EIO)) {
        size_t used = strnlen(err, errlen);

        snprintf(err + used, errlen - used, " (waited %u ms: store-timeout)", c->store_timeout_ms);
    } else if ((ret == -EACCES || ret == -EROFS) && strncmp(c->store, "redis:", 6) != 0) {
        size_t used = strnlen(err, errlen);

        /* A user trying the broker from a build tree, without the rights on the default. */
        snprintf(err + used, errlen - used, " (--data-dir DIR names one this user may write)");
    }
    if (ret != 0)
        return ret;
    ctl->store_was_up = true;
    atomic_store_explicit(&ctl->pub_store_up, true, memory_order_relaxed);
    ret = settings_compute(ctl, &ctl->cfg);
    if (ret != 0) {
        snprintf(err, errlen, "%s (reading the settings)", store_last_error(ctl->store));
        store_close(ctl->store);
        ctl->store = NULL;
        return ret;
    }
    log_changes(&ctl->base, &ctl->cfg, " from the store");
    log_set_level(ctl->cfg.log_level);
    log_info(LOG_NO_CORE, "store %s open", store_location(ctl->store));
    return 0;
}

void control_store_close(struct control *ctl)
{
    if (ctl->store != NULL)
        store_close(ctl->store);
    ctl->store = NULL;
}

int control_store_fd(const struct control *ctl)
{
    return ctl->store != NULL ? store_watch_fd(ctl->store) : -1;
}

/* What changed elsewhere, gathered while the notices are read (the store is not to be used from
 * inside store_poll_changes) and acted on after. */
#define CHANGES_MAX 64
struct changes {
    bool settings, all_users;
    unsigned n;
    struct {
        bool token;
        char key[STORE_KEY_MAX + 1];
    } c[CHANGES_MAX];
};

static void change_seen(void *arg, const char *ns, const char *key)
{
    struct changes *ch = arg;
    bool token = ns != NULL && strcmp(ns, AUTH_NS_TOKENS) == 0;

    if (ns == NULL || strcmp(ns, SETTINGS_NS) == 0)
        ch->settings = true;
    if (ns == NULL) {
        ch->all_users = true;
    } else if (token || strcmp(ns, AUTH_NS_USERS) == 0) {
        if (ch->n == CHANGES_MAX) {
            ch->all_users = true;
            return;
        }
        ch->c[ch->n].token = token;
        snprintf(ch->c[ch->n].key, sizeof(ch->c[0].key), "%s", key);
        ch->n++;
    }
}

static int user_seen(void *arg, const char *key, const void *val, size_t len)
{
    (void)val;
    (void)len;
    control_auth_user_changed(arg, key);
    return 0;
}

/* Users changed by another broker reach this one's sessions; a token deleted there closes the
 * sessions that used it here. After an outage (all_users) every user is sent again: a deletion
 * or a token revoked meanwhile is not seen (docs/security.md). */
static void apply_changes(struct control *ctl, const struct changes *ch)
{
    for (unsigned i = 0; i < ch->n; i++) {
        void *val = NULL;
        size_t len;

        if (!ch->c[i].token)
            control_auth_user_changed(ctl, ch->c[i].key);
        else if (store_get(ctl->store, AUTH_NS_TOKENS, ch->c[i].key, &val, &len) == -ENOENT)
            control_auth_token_revoked(ctl, ch->c[i].key);
        free(val);
    }
    if (ch->all_users)
        store_list(ctl->store, AUTH_NS_USERS, user_seen, ctl);
}

void control_store_tick(struct control *ctl, uint64_t now_ns, bool readable)
{
    struct store *s = ctl->store;
    struct changes ch = {0};
    bool up;

    if (s == NULL)
        return;
    store_tick(s, now_ns / 1000000);
    if (readable)
        store_poll_changes(s, change_seen, &ch);
    up = store_up(s);
    /* The store's errors name it. */
    if (ctl->store_was_up && !up)
        log_error(LOG_NO_CORE,
                  "%s: the store is down; the broker goes on with the settings last read, and refuses changes until it is back",
                  store_last_error(s));
    else if (!ctl->store_was_up && up)
        log_always(LOG_NO_CORE, "store %s is back: rereading the settings", store_location(s));
    ctl->store_was_up = up;
    atomic_store_explicit(&ctl->pub_store_up, up, memory_order_relaxed);
    atomic_store_explicit(&ctl->pub_store_outages, store_outages(s), memory_order_relaxed);
    if (ch.settings && up)
        settings_reload(ctl);
    if (up)
        apply_changes(ctl, &ch);
}

static int store_refused(struct control *ctl, int ret, char *err, size_t errlen)
{
    if (!store_up(ctl->store)) {
        /* Down, or a write that timed out (it counts as down): the write may have happened, and
         * the reread on its return applies whatever the store holds. */
        snprintf(err, errlen, "%s: settings cannot change until the store is back", store_last_error(ctl->store));
    } else {
        /* Up but refusing (a full disk, a Redis refusing writes): what is in force follows what the
         * store holds, whatever the failed write left there. */
        snprintf(err, errlen, "%s: the store refused the change", store_last_error(ctl->store));
        settings_reload(ctl);
    }
    return ret == -EMSGSIZE || ret == -EINVAL ? -EINVAL : -EAGAIN;
}

int control_settings_set(struct control *ctl, size_t n, const char *const names[], const char *const values[], char *err,
                         size_t errlen)
{
    char canon[SETTINGS_MAX][SETTING_VALUE];
    const void *vals[SETTINGS_MAX];
    size_t lens[SETTINGS_MAX];
    struct config next = ctl->cfg;
    int ret;

    if (n == 0 || n > SETTINGS_MAX) {
        snprintf(err, errlen, "from 1 to %d settings at once", SETTINGS_MAX);
        return -EINVAL;
    }
    ret = config_set_live(&next, n, names, values, err, errlen);
    if (ret != 0)
        return ret;
    for (size_t i = 0; i < n; i++) {
        config_get(&next, names[i], canon[i], sizeof(canon[i]));
        vals[i] = canon[i];
        lens[i] = strlen(canon[i]);
    }
    if (!store_up(ctl->store))
        return store_refused(ctl, -ENOTCONN, err, errlen);
    ret = store_put_batch(ctl->store, SETTINGS_NS, n, names, vals, lens);
    if (ret != 0)
        return store_refused(ctl, ret, err, errlen);
    ret = settings_apply(ctl, &next, "");
    if (ret != 0)
        snprintf(err, errlen, "out of memory: the change is stored, but may not have reached every core");
    return ret;
}

int control_settings_reset(struct control *ctl, const char *name, char *err, size_t errlen)
{
    char value[SETTING_VALUE];
    struct config next = ctl->cfg;
    const char *v = value;
    int ret;

    if (config_get(&ctl->base, name, value, sizeof(value)) != 0) {
        snprintf(err, errlen, "no setting '%s'", name);
        return -ENOENT;
    }
    ret = config_set_live(&next, 1, &name, &v, err, errlen);
    if (ret != 0)
        return ret;
    if (!store_up(ctl->store))
        return store_refused(ctl, -ENOTCONN, err, errlen);
    ret = store_del(ctl->store, SETTINGS_NS, name);
    if (ret != 0 && ret != -ENOENT)
        return store_refused(ctl, ret, err, errlen);
    ret = settings_apply(ctl, &next, "");
    if (ret != 0)
        snprintf(err, errlen, "out of memory: the change is stored, but may not have reached every core");
    return ret;
}
