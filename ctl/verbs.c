/*
 * The commands of trpcctl: for each, its admin topic (docs/admin-api.md), its help, how its
 * arguments become the request document and which renderer shows the reply. A new admin verb is
 * one entry here and one renderer.
 */
#include <stdlib.h>
#include <string.h>

#include "ctl/ctl.h"

static json_t *request_empty(const struct ctl_args *a)
{
    return json_object();
}

static json_t *request_settings_get(const struct ctl_args *a)
{
    return a->npos == 1 ? json_pack("{s:s}", "name", a->pos[0]) : json_object(); /* and settings.reset */
}

/* One NAME VALUE: {"name", "value"}; more: {"settings": {NAME: VALUE, ...}}, applied together. */
static json_t *request_settings_set(const struct ctl_args *a)
{
    json_t *doc, *many;

    if (a->npos == 2)
        return json_pack("{s:s, s:s}", "name", a->pos[0], "value", a->pos[1]);
    many = json_object();
    for (int i = 0; many != NULL && i + 1 < a->npos; i += 2) {
        if (json_object_set_new(many, a->pos[i], json_string(a->pos[i + 1])) != 0) {
            json_decref(many);
            many = NULL;
        }
    }
    doc = many != NULL ? json_pack("{s:o}", "settings", many) : NULL;
    return doc;
}

/* {"offset": N, "limit": N} with only the members given: the broker's defaults apply otherwise. */
static json_t *request_page(const struct ctl_args *a)
{
    json_t *doc = json_object();

    if (doc == NULL)
        return NULL;
    if ((a->offset >= 0 && json_object_set_new(doc, "offset", json_integer(a->offset)) == -1) ||
        (a->limit >= 0 && json_object_set_new(doc, "limit", json_integer(a->limit)) == -1)) {
        json_decref(doc);
        return NULL;
    }
    return doc;
}

/* main.c has checked that the id is a decimal number that fits. */
static json_t *request_clients_kick(const struct ctl_args *a)
{
    return json_pack("{s:I}", "id", (json_int_t)strtoll(a->pos[0], NULL, 10));
}

static json_t *request_name(const struct ctl_args *a)
{
    return json_pack("{s:s}", "name", a->pos[0]);
}

static json_t *request_stream_name(const struct ctl_args *a)
{
    return json_pack("{s:s}", "stream", a->pos[0]);
}

/* The delivery policy options given (group add, and a stream's defaults for its groups). */
static int put_policy(json_t *doc, const struct ctl_args *a)
{
    return (a->backoff != NULL && json_object_set_new(doc, "backoff", json_string(a->backoff)) != 0) ||
                   (a->dlq != NULL && json_object_set_new(doc, "dlq", json_string(a->dlq)) != 0) ||
                   (a->max_deliveries >= 0 && json_object_set_new(doc, "max_deliveries", json_integer(a->max_deliveries)) != 0) ||
                   (a->ack_wait_ms >= 0 && json_object_set_new(doc, "ack_wait_ms", json_integer(a->ack_wait_ms)) != 0)
               ? -1
               : 0;
}

/* NAME SUBJECT...: {"name", "subjects": [...]}, with "max_msg_size", the limits and the defaults
 * for its groups when given. */
static json_t *request_stream_add(const struct ctl_args *a)
{
    json_t *subj = json_array(), *doc;

    for (int i = 1; subj != NULL && i < a->npos; i++) {
        if (json_array_append_new(subj, json_string(a->pos[i])) != 0) {
            json_decref(subj);
            return NULL;
        }
    }
    doc = json_pack("{s:s, s:o}", "name", a->pos[0], "subjects", subj);
    if (doc == NULL)
        return NULL;
    if ((a->max_msg_size >= 0 && json_object_set_new(doc, "max_msg_size", json_integer(a->max_msg_size)) != 0) ||
        (a->max_msgs >= 0 && json_object_set_new(doc, "max_msgs", json_integer(a->max_msgs)) != 0) ||
        (a->max_bytes >= 0 && json_object_set_new(doc, "max_bytes", json_integer(a->max_bytes)) != 0) ||
        (a->max_age_ms >= 0 && json_object_set_new(doc, "max_age_ms", json_integer(a->max_age_ms)) != 0) ||
        (a->discard != NULL && json_object_set_new(doc, "discard", json_string(a->discard)) != 0) ||
        (a->retention != NULL && json_object_set_new(doc, "retention", json_string(a->retention)) != 0) ||
        (a->dedup_window_ms >= 0 && json_object_set_new(doc, "dedup_window_ms", json_integer(a->dedup_window_ms)) != 0) ||
        put_policy(doc, a) != 0) {
        json_decref(doc);
        return NULL;
    }
    return doc;
}

/* NAME SEQ; a SEQ that is not a number is sent as 0, which the broker refuses with its reason. */
static json_t *request_stream_get(const struct ctl_args *a)
{
    char *end;
    long long seq = strtoll(a->pos[1], &end, 10);

    return json_pack("{s:s, s:I}", "name", a->pos[0], "seq", (json_int_t)(*end == '\0' ? seq : 0));
}

static json_t *request_group(const struct ctl_args *a)
{
    return json_pack("{s:s, s:s}", "stream", a->pos[0], "name", a->pos[1]);
}

/* STREAM NAME and the options given: the broker reads the policy as the SUB headers'. */
static json_t *request_group_add(const struct ctl_args *a)
{
    json_t *doc = request_group(a);

    if (doc == NULL)
        return NULL;
    if ((a->pattern != NULL && json_object_set_new(doc, "pattern", json_string(a->pattern)) != 0) ||
        (a->start != NULL && json_object_set_new(doc, "start", json_string(a->start)) != 0) || put_policy(doc, a) != 0) {
        json_decref(doc);
        return NULL;
    }
    return doc;
}

/* STREAM NAME TARGET: main.c has made TARGET a sequence (digits) or an RFC 3339 time. */
static json_t *request_group_reset(const struct ctl_args *a)
{
    const char *t = a->pos[2];

    if (t[strspn(t, "0123456789")] == '\0')
        return json_pack("{s:s, s:s, s:I}", "stream", a->pos[0], "name", a->pos[1], "seq", (json_int_t)strtoll(t, NULL, 10));
    return json_pack("{s:s, s:s, s:s}", "stream", a->pos[0], "name", a->pos[1], "time", t);
}

/* STREAM [--reason R] [--from SEQ] [--max N] */
static json_t *request_dlq_ls(const struct ctl_args *a)
{
    json_t *doc = json_pack("{s:s}", "stream", a->pos[0]);

    if (doc != NULL && ((a->reason != NULL && json_object_set_new(doc, "reason", json_string(a->reason)) != 0) ||
                        (a->from >= 0 && json_object_set_new(doc, "from", json_integer(a->from)) != 0) ||
                        (a->max >= 0 && json_object_set_new(doc, "limit", json_integer(a->max)) != 0))) {
        json_decref(doc);
        return NULL;
    }
    return doc;
}

/* STREAM SEQ|FROM-TO|all [--reason R] [--max N]: main.c has checked the target's form. */
static json_t *request_dlq_redrive(const struct ctl_args *a)
{
    const char *t = a->pos[1], *dash = strchr(t, '-');
    json_t *doc = request_dlq_ls(a);

    if (doc == NULL)
        return NULL;
    json_object_del(doc, "from");
    if (strcmp(t, "all") == 0)
        json_object_set_new(doc, "all", json_true());
    else if (dash == NULL)
        json_object_set_new(doc, "seq", json_integer(strtoll(t, NULL, 10)));
    else {
        json_object_set_new(doc, "from", json_integer(strtoll(t, NULL, 10)));
        json_object_set_new(doc, "to", json_integer(strtoll(dash + 1, NULL, 10)));
    }
    return doc;
}

/* The strings of list[0, n) as a JSON array. */
static json_t *string_array(const char *const *list, int n)
{
    json_t *arr = json_array();

    for (int i = 0; arr != NULL && i < n; i++) {
        if (json_array_append_new(arr, json_string(list[i])) != 0) {
            json_decref(arr);
            arr = NULL;
        }
    }
    return arr;
}

/* NAME and the options given; the password when main.c read one. Patterns given are allowed ones
 * (deny lists come with user grant --deny). */
static json_t *request_user_add(const struct ctl_args *a)
{
    static const char *const ops[3] = {"publish", "subscribe", "request"};
    json_t *doc = json_pack("{s:s}", "name", a->pos[0]);

    if (doc == NULL)
        return NULL;
    if ((a->password != NULL && json_object_set_new(doc, "password", json_string(a->password)) != 0) ||
        (a->role != NULL && json_object_set_new(doc, "roles", json_pack("[s]", a->role)) != 0) ||
        (a->cert != NULL && json_object_set_new(doc, "cert", json_string(a->cert)) != 0))
        goto fail;
    for (int k = 0; k < 3; k++) {
        if (a->nperms[k] > 0 &&
            json_object_set_new(doc, ops[k], json_pack("{s:o}", "allow", string_array(a->perms[k], a->nperms[k]))) != 0)
            goto fail;
    }
    return doc;
fail:
    json_decref(doc);
    return NULL;
}

static json_t *request_user_passwd(const struct ctl_args *a)
{
    return json_pack("{s:s, s:s}", "name", a->pos[0], "password", a->password != NULL ? a->password : "");
}

/* NAME publish|subscribe|request PATTERN... [--deny], NAME role ROLE or NAME groups GROUP...:
 * main.c has checked WHAT and the count. */
static json_t *request_user_grant(const struct ctl_args *a)
{
    const char *what = a->pos[1];

    if (strcmp(what, "role") == 0)
        return json_pack("{s:s, s:s}", "name", a->pos[0], "role", a->pos[2]);
    if (strcmp(what, "groups") == 0)
        return json_pack("{s:s, s:o}", "name", a->pos[0], "groups", string_array((const char *const *)a->pos + 2, a->npos - 2));
    return json_pack("{s:s, s:s, s:o}", "name", a->pos[0], "op", what, a->deny ? "deny" : "allow",
                     string_array((const char *const *)a->pos + 2, a->npos - 2));
}

static json_t *request_token_add(const struct ctl_args *a)
{
    json_t *doc = json_pack("{s:s}", "user", a->pos[0]);

    if (doc != NULL && ((a->label != NULL && json_object_set_new(doc, "name", json_string(a->label)) != 0) ||
                        (a->ttl_s >= 0 && json_object_set_new(doc, "ttl_s", json_integer(a->ttl_s)) != 0))) {
        json_decref(doc);
        return NULL;
    }
    return doc;
}

static json_t *request_token_list(const struct ctl_args *a)
{
    return a->npos == 1 ? json_pack("{s:s}", "user", a->pos[0]) : json_object();
}

static json_t *request_token_del(const struct ctl_args *a)
{
    return json_pack("{s:s}", "id", a->pos[0]);
}

#define PAGE_HELP                                                                                                                  \
    "\n"                                                                                                                           \
    "    --limit N   at most N entries (the broker's default is 1000, its maximum 10000)\n"                                        \
    "    --offset N  skip the first N entries\n"

const struct ctl_verb ctl_verbs[] = {
    {"server", "info", "$trpc.admin.server.info", "", "the broker's version, uptime, listen address, cores, store",
     "Shows the broker's name and version, when it started and its uptime, the address it listens on,\n"
     "its cores and io_uring feature tier, how many connections it has, and, once the broker has a\n"
     "store, its backend, URL, whether it is up and its last error.\n",
     0, 0, false, false, request_empty, ctl_render_server_info, false, false, false, false, false, false, 0},
    {"settings", "get", "$trpc.admin.settings.get", "[NAME]", "the broker's settings, or one of them",
     "Lists the broker's settings (or only NAME) with their values in the syntax of the config file,\n"
     "whether they can change while the broker runs (LIVE) and what they do. What get prints, set\n"
     "accepts.\n",
     0, 1, false, false, request_settings_get, ctl_render_settings_get, false, false, false, false, false, false, 0},
    {"settings", "set", "$trpc.admin.settings.set", "NAME VALUE [NAME VALUE]...", "change live settings on every core",
     "Changes setting NAME to VALUE (in the syntax of the config file, e.g. 15s, 64m, debug), writes it\n"
     "to the store and applies it on every core without a restart; prints the new and the previous\n"
     "value. Several pairs change together or not at all (request-timeout 90s max-request-timeout\n"
     "120s). Settings that are not live (listen, cores, data-dir, ...) are refused: change them in the\n"
     "config file and restart.\n",
     2, 64, false, false, request_settings_set, ctl_render_settings_set, true, false, false, false, false, false, 0},
    {"settings", "reset", "$trpc.admin.settings.reset", "NAME", "give a setting back its configured value",
     "Gives setting NAME back the value of the broker's config file or command line, on every core,\n"
     "and removes the change from the store; prints the new and the previous value.\n",
     1, 1, false, false, request_settings_get, ctl_render_settings_set, false, false, false, false, false, false, 0},
    {"clients", "ls", "$trpc.admin.clients.list", "[--limit N] [--offset N]", "connected clients, by id",
     "Lists the connected clients ordered by id: name, peer address, core, subscriptions, messages and\n"
     "bytes in and out, output queued for them (PENDING, bytes), when they connected and their TLS\n"
     "(version and where records are made; - for plaintext).\n" PAGE_HELP,
     0, 0, true, false, request_page, ctl_render_clients_ls, false, false, false, false, false, false, 0},
    {"clients", "kick", "$trpc.admin.clients.kick", "ID", "disconnect a client",
     "Disconnects the client with id ID (as clients ls shows it): it gets a fatal error and its\n"
     "connection closes. A client that reconnects comes back with a new id.\n",
     1, 1, false, true, request_clients_kick, ctl_render_clients_kick, false, false, false, false, false, false, 0},
    {"tls", "reload", "$trpc.admin.tls.reload", "", "read the TLS certificate, key and client CA again",
     "Makes the broker read tls-cert, tls-key and tls-ca again, as SIGHUP does: new connections get\n"
     "the new certificate, established ones keep theirs. A reload that fails (a missing file, a key\n"
     "that does not match) keeps the old certificate and says why.\n",
     0, 0, false, false, request_empty, ctl_render_tls_reload, false, false, false, false, false, false, 0},
    {"subs", "ls", "$trpc.admin.subs.list", "[--limit N] [--offset N]", "subscriptions, by client and id",
     "Lists the subscriptions ordered by client, then subscription id: pattern, queue group (- for a\n"
     "plain fan-out subscription) and messages delivered.\n" PAGE_HELP,
     0, 0, true, false, request_page, ctl_render_subs_ls, false, false, false, false, false, false, 0},
    {"stream", "ls", "$trpc.admin.stream.list", "", "streams: subjects, messages, bytes, sequences",
     "Lists the streams: the topic patterns each keeps (SUBJECTS), the core that owns it, the\n"
     "messages and bytes it holds and its first and last sequence, and an error when its log cannot\n"
     "be written.\n",
     0, 0, false, false, request_empty, ctl_render_stream_ls, false, false, false, false, false, false, 0},
    {"stream", "info", "$trpc.admin.stream.info", "NAME", "one stream in detail",
     "Shows stream NAME: its subjects, owner core and limits, when it was created, the messages and\n"
     "bytes it holds, its first and last sequence, PUBs stored and refused since the broker started,\n"
     "PUBs waiting for the disk, and what opening its log found.\n",
     1, 1, false, false, request_name, ctl_render_stream_info, false, false, false, false, false, false, 0},
    {"stream", "add", "$trpc.admin.stream.add",
     "NAME SUBJECT... [--max-msg-size BYTES] [--max-msgs N] [--max-bytes SIZE] [--max-age DURATION] [--discard old|new] "
     "[--dedup-window DURATION] [--retention limits|interest] [--max-deliveries N] [--ack-wait DURATION] [--backoff I,F,M[,J]] "
     "[--dlq TOPIC]",
     "declare a stream",
     "Declares stream NAME (letters, digits, '_' and '-'), keeping every message published on a topic\n"
     "that one of the SUBJECT patterns matches (wildcards * and >; no two streams may share a topic).\n"
     "A PUB asking for an acknowledgement gets it once the message is on disk. Declaring a stream that\n"
     "exists with the same definition changes nothing; another definition is refused.\n"
     "\n"
     "    --max-msg-size BYTES  refuse payloads larger than this (default: the frame limit)\n"
     "    --max-msgs N          keep at most N messages\n"
     "    --max-bytes SIZE      keep at most SIZE bytes of messages (topic, headers, payload): 512M, 20G\n"
     "    --max-age DURATION    remove messages older than this: 30s, 15m, 2h, 7d\n"
     "    --discard old|new     at max-msgs or max-bytes, remove the oldest messages (old, the default:\n"
     "                          1/64 of the limit at a time) or refuse new ones with STREAM_FULL (new)\n"
     "    --dedup-window DURATION  a PUB repeating a trpc-msg-id header seen this recently is not stored\n"
     "                          again and is acknowledged with the first sequence (default 2m; 0: off)\n"
     "    --retention limits|interest  limits (the default): messages stay until a limit removes them;\n"
     "                          interest: also once every consumer group of the stream acknowledged them\n"
     "\n"
     "The defaults of the stream's consumer groups, for what neither a group's declaration (group add)\n"
     "nor its first member's SUB says:\n"
     "\n"
     "    --max-deliveries N    attempts before a message goes to the dead-letter topic (default: no limit)\n"
     "    --ack-wait DURATION   a delivery not settled by then is redelivered (default 30s)\n"
     "    --backoff I,F,M[,J]   redelivery delay: I ms, times F per attempt, at most M ms, spread by up to\n"
     "                          the fraction J (100,2,60000,0.2)\n"
     "    --dlq TOPIC           where messages out of attempts, or TERMed, are published (not one of the\n"
     "                          stream's own topics)\n",
     2, 17, false, false, request_stream_add, ctl_render_stream_info, false, true, false, false, false, false, 0},
    {"stream", "edit", "$trpc.admin.stream.edit",
     "NAME SUBJECT... [--max-msg-size BYTES] [--max-msgs N] [--max-bytes SIZE] [--max-age DURATION] [--discard old|new] "
     "[--dedup-window DURATION] [--retention limits|interest] [--max-deliveries N] [--ack-wait DURATION] [--backoff I,F,M[,J]] "
     "[--dlq TOPIC]",
     "change a stream's definition",
     "Gives stream NAME a new definition, whole: its subjects and the options of stream add (an option\n"
     "left out is back to its default). The stored messages stay; tighter limits remove what they must\n"
     "at once; a subject added stores from now on, one dropped stores no more (consumer groups read on\n"
     "what was stored). No two streams may share a topic. New defaults for consumer groups hold for\n"
     "groups made from now on; the groups there keep their policy.\n",
     2, 17, false, false, request_stream_add, ctl_render_stream_info, false, true, false, false, false, false, 0},
    {"stream", "rm", "$trpc.admin.stream.delete", "NAME", "delete a stream and its messages",
     "Deletes stream NAME: its topics are no longer stored, and its log is removed from the disk.\n"
     "PUBs waiting for the disk get an error.\n",
     1, 1, false, false, request_name, ctl_render_stream_rm, false, false, false, false, false, false, 0},
    {"stream", "purge", "$trpc.admin.stream.purge", "NAME", "remove every message of a stream",
     "Removes every message stream NAME holds (its definition stays, and it goes on storing; a PUB\n"
     "on its way to the disk meanwhile is kept). Consumer groups skip what was removed. Sequences\n"
     "go on from where they were. To empty a dead-letter stream once its messages were dealt with.\n",
     1, 1, false, false, request_name, ctl_render_stream_purge, false, false, false, false, false, false, 0},
    {"stream", "get", "$trpc.admin.stream.get", "NAME SEQ", "one stored message",
     "Shows the message with sequence SEQ of stream NAME: when it was stored, its topic, its headers\n"
     "and its payload (as text when it is UTF-8, else as base64).\n",
     2, 2, false, false, request_stream_get, ctl_render_stream_get, false, false, false, false, false, false, 0},
    {"group", "ls", "$trpc.admin.group.list", "STREAM", "a stream's consumer groups",
     "Lists the consumer groups of stream STREAM: the pattern each reads, its members now, the next\n"
     "sequence it will read (NEXT) and how many stored messages lie beyond it (LAG, its pattern not\n"
     "applied), messages delivered and not settled (PENDING, of which INFLIGHT are with a member),\n"
     "and since the broker started, redeliveries, acknowledgements and dead letters; then its\n"
     "dead-letter topic.\n",
     1, 1, false, false, request_stream_name, ctl_render_group_ls, false, false, false, false, false, false, 0},
    {"group", "info", "$trpc.admin.group.info", "STREAM NAME", "one consumer group in detail",
     "Shows consumer group NAME of stream STREAM: its pattern and delivery policy, its members, where\n"
     "it reads, what it holds (pending: delivered and not settled; in flight: with a member; waiting:\n"
     "for a backoff or a member with room; lost: delivered before a restart, to be read again) and\n"
     "its counts since the broker started.\n",
     2, 2, false, false, request_group, ctl_render_group_info, false, false, false, false, false, false, 0},
    {"group", "add", "$trpc.admin.group.add",
     "STREAM NAME [--pattern P] [--start all|new|seq:N|time:T] [--max-deliveries N] [--ack-wait DURATION] "
     "[--backoff I,F,M[,J]] [--dlq TOPIC]",
     "declare a consumer group",
     "Declares consumer group NAME of stream STREAM before any member subscribes, with its delivery\n"
     "policy; members then subscribe with `:durable NAME` on the same pattern and need not send the\n"
     "policy (one that sends another is refused with BAD_POLICY). Declaring a group that exists with\n"
     "the same definition changes nothing; another definition is refused.\n"
     "\n"
     "    --pattern P           the topics it reads (default: the stream's subject, when it has one)\n"
     "    --start WHERE         all (every message kept, the default), new (stored from now on),\n"
     "                          seq:N, or time:T (the first stored at or after RFC 3339 time T)\n"
     "    --max-deliveries N    attempts before a message goes to the dead-letter topic (default: no limit)\n"
     "    --ack-wait DURATION   a delivery not settled by then is redelivered (default 30s)\n"
     "    --backoff I,F,M[,J]   redelivery delay: I ms, times F per attempt, at most M ms, spread by up to\n"
     "                          the fraction J (100,2,60000,0.2)\n"
     "    --dlq TOPIC           where messages out of attempts, or TERMed, are published (when no stream\n"
     "                          covers it, stream dlq-TOPIC is made for it, '.' as '_')\n",
     2, 2, false, false, request_group_add, ctl_render_group_info, false, false, true, false, false, false, 0},
    {"group", "reset", "$trpc.admin.group.reset", "STREAM NAME SEQ|TIME|AGO", "move where a consumer group reads",
     "Makes consumer group NAME of stream STREAM read on from sequence SEQ, from the first message stored\n"
     "at or after TIME (RFC 3339: 2026-12-05T10:00:00Z), or from AGO back (30s, 15m, 2h, 7d: that long\n"
     "before now). What it had delivered and not settled is forgotten (an ACK of it is answered\n"
     "UNKNOWN_SEQUENCE); its members stay.\n",
     3, 3, false, false, request_group_reset, ctl_render_group_info, false, false, false, false, false, true, 0},
    {"group", "rm", "$trpc.admin.group.delete", "STREAM NAME", "delete a consumer group",
     "Deletes consumer group NAME of stream STREAM: its members' subscriptions end with an error, and\n"
     "what it had not settled is forgotten. The stream's messages stay.\n",
     2, 2, false, false, request_group, ctl_render_group_rm, false, false, false, false, false, false, 0},
    {"dlq", "ls", "$trpc.admin.dlq.list", "STREAM [--reason R] [--from SEQ] [--max N]", "dead letters, with where from and why",
     "Lists the dead letters of stream STREAM (the stream covering a group's dead-letter topic): each\n"
     "one's sequence, when it was dead-lettered, the topic it was published on, its consumer group, its\n"
     "deliveries and why it failed (nack, timeout, member left, or term and the member's reason).\n"
     "\n"
     "    --reason R   only those that failed for R (nack, timeout, member left, term)\n"
     "    --from SEQ   from sequence SEQ on (the end of a list says where the next one starts)\n"
     "    --max N      at most N (default 100, at most 1000)\n",
     1, 1, false, false, request_dlq_ls, ctl_render_dlq_ls, false, false, false, true, false, false, 0},
    {"dlq", "redrive", "$trpc.admin.dlq.redrive", "STREAM SEQ|FROM-TO|all [--reason R] [--max N]",
     "publish dead letters again on their topic",
     "Publishes dead letters of stream STREAM again on the topic each was first published on, with its\n"
     "own headers and payload, into the stream that keeps that topic (its consumer groups get it as a\n"
     "new message), and removes it from STREAM once the copy is stored: one (SEQ), a range (FROM-TO),\n"
     "or all, and of those only the ones that failed for R with --reason. Goes on until all asked for\n"
     "are done, N at a time (--max, default 1000). A message that is not a dead letter, or whose topic\n"
     "no stream keeps any more, is skipped and said so.\n",
     2, 2, false, false, request_dlq_redrive, ctl_render_dlq_redrive, false, false, false, true, true, false, 0},
    {"dlq", "purge", "$trpc.admin.dlq.purge", "STREAM SEQ|FROM-TO|all [--reason R] [--max N]", "delete dead letters",
     "Deletes dead letters of stream STREAM: one (SEQ), a range (FROM-TO), or all, and of those only the\n"
     "ones that failed for R with --reason. Goes on until all asked for are done, N at a time (--max,\n"
     "default 1000). A message that is not a dead letter (published on the topic directly) stays, and\n"
     "is said so; stream purge removes everything.\n",
     2, 2, false, false, request_dlq_redrive, ctl_render_dlq_redrive, false, false, false, true, true, false, 0},
    {"user", "add", "$trpc.admin.user.add",
     "NAME [--role admin] [--publish P]... [--subscribe P]... [--request P]... [--cert SUBJECT] [--no-password]", "add a user",
     "Adds user NAME (1 to 64 letters, digits and . _ @ -), asking for its password (on the terminal,\n"
     "twice; else one line of standard input) unless --no-password is given: such a user logs in with a\n"
     "token (token add) or a client certificate only. It may do nothing it is not granted: publish,\n"
     "subscribe to and request the topics matching the patterns given (wildcards * and >); more with\n"
     "user grant. It may use any queue group or durable consumer until user grant NAME groups says\n"
     "which.\n"
     "\n"
     "    --role admin          may use the admin API (trpcctl)\n"
     "    --publish P           may publish on topics matching P (again for more patterns)\n"
     "    --subscribe P         may subscribe to patterns that P covers\n"
     "    --request P           may send requests on topics matching P\n"
     "    --cert SUBJECT        a client certificate with this subject (as CN=svc,O=acme) logs in as\n"
     "                          this user\n"
     "    --no-password         no password: token or certificate logins only\n",
     1, 1, false, false, request_user_add, ctl_render_user_add, false, false, false, false, false, false,
     CTL_X_USER_OPTS | CTL_X_PASSWORD},
    {"user", "del", "$trpc.admin.user.del", "NAME", "delete a user and its tokens",
     "Deletes user NAME, its tokens and its certificate's mapping. Its connected clients are closed.\n", 1, 1, false, false,
     request_name, ctl_render_user_del, false, false, false, false, false, false, 0},
    {"user", "list", "$trpc.admin.user.list", "", "users: roles, enabled, password, certificate",
     "Lists the users by name: their roles, whether they are enabled, whether they have a password, and\n"
     "the subject of their client certificate.\n",
     0, 0, false, false, request_empty, ctl_render_user_list, false, false, false, false, false, false, 0},
    {"user", "show", "$trpc.admin.user.get", "NAME", "one user: permissions and tokens",
     "Shows user NAME: its roles, whether it is enabled and has a password, its certificate, the topic\n"
     "patterns it may publish on, subscribe to and request (allowed, and denied within those), the queue\n"
     "groups it may use, and its tokens. Never a password or a token.\n",
     1, 1, false, false, request_name, ctl_render_user_show, false, false, false, false, false, false, 0},
    {"user", "passwd", "$trpc.admin.user.passwd", "NAME", "set a user's password",
     "Sets the password of user NAME, asked for on the terminal (twice), or read as one line of standard\n"
     "input when that is not a terminal. Clients logged in stay so.\n",
     1, 1, false, false, request_user_passwd, ctl_render_user_passwd, false, false, false, false, false, false, CTL_X_PASSWORD},
    {"user", "grant", "$trpc.admin.user.grant", "NAME publish|subscribe|request|role|groups ITEM... [--deny]", "let a user do more",
     "With publish, subscribe or request, allows user NAME to publish on, subscribe to or request the\n"
     "topics matching each ITEM, a topic pattern; with --deny the patterns are denied instead, within\n"
     "what is allowed (deny wins). With role admin, lets it use the admin API. With groups, adds the\n"
     "queue groups and durable consumers ITEM... to those it may use (a user without a list may use\n"
     "any: its list counts as '*' until revoked). What it has already is not added twice. Its connected\n"
     "clients get the new permissions within a second. Shows the user.\n"
     "\n"
     "    --deny                the patterns are denied ones\n",
     3, 1026, false, false, request_user_grant, ctl_render_user_show, false, false, false, false, false, false, CTL_X_GRANT_ARGS},
    {"user", "revoke", "$trpc.admin.user.revoke", "NAME publish|subscribe|request|role|groups ITEM... [--deny]",
     "let a user do less",
     "The reverse of user grant: removes the patterns ITEM... from what user NAME is allowed (with\n"
     "--deny: denied) to publish on, subscribe to or request; or takes role admin from it; or removes\n"
     "queue groups from its list (revoke '*' from a user without a list to leave it only the groups\n"
     "granted). What it does not have is no error. Its connected clients get the new permissions within\n"
     "a second. Shows the user.\n"
     "\n"
     "    --deny                the patterns are denied ones\n",
     3, 1026, false, false, request_user_grant, ctl_render_user_show, false, false, false, false, false, false, CTL_X_GRANT_ARGS},
    {"user", "enable", "$trpc.admin.user.enable", "NAME", "let a user log in again",
     "Lets user NAME log in again, with its password, tokens and certificate as they were.\n", 1, 1, false, false, request_name,
     ctl_render_user_enable, false, false, false, false, false, false, 0},
    {"user", "disable", "$trpc.admin.user.disable", "NAME", "refuse a user's logins",
     "Refuses every login of user NAME (password, token or certificate) until user enable; its\n"
     "connected clients are closed. Nothing of it is deleted.\n",
     1, 1, false, false, request_name, ctl_render_user_enable, false, false, false, false, false, false, 0},
    {"token", "add", "$trpc.admin.token.add", "USER [--name LABEL] [--ttl DURATION]", "make a token for a user",
     "Makes a token with which clients log in as user USER (trpc_options_set_token, or trpcctl --token),\n"
     "and prints it. It is shown this once: the broker keeps only a hash of it.\n"
     "\n"
     "    --name LABEL          what it is for, shown by token list (up to 64 bytes)\n"
     "    --ttl DURATION        it expires after this long: 12h, 30d (default: never)\n",
     1, 1, false, false, request_token_add, ctl_render_token_add, false, false, false, false, false, false, CTL_X_TOKEN_OPTS},
    {"token", "list", "$trpc.admin.token.list", "[USER]", "tokens, or a user's: id, name, expiry",
     "Lists the tokens (of user USER only when given) by user and age: their id, user, name, when they\n"
     "were made and when they expire. Never the tokens themselves.\n",
     0, 1, false, false, request_token_list, ctl_render_token_list, false, false, false, false, false, false, 0},
    {"token", "del", "$trpc.admin.token.del", "ID", "delete a token",
     "Deletes the token with id ID (as token list shows it): it logs in no more, and the clients that\n"
     "logged in with it are closed.\n",
     1, 1, false, false, request_token_del, ctl_render_token_del, false, false, false, false, false, false, 0},
};
const size_t ctl_verb_count = sizeof(ctl_verbs) / sizeof(ctl_verbs[0]);

const struct ctl_verb *ctl_verb_find(const char *area, const char *verb)
{
    for (size_t i = 0; i < ctl_verb_count; i++) {
        if (strcmp(ctl_verbs[i].area, area) == 0 && strcmp(ctl_verbs[i].verb, verb) == 0)
            return &ctl_verbs[i];
    }
    return NULL;
}

bool ctl_area_known(const char *area)
{
    for (size_t i = 0; i < ctl_verb_count; i++) {
        if (strcmp(ctl_verbs[i].area, area) == 0)
            return true;
    }
    return false;
}
