/*
 * msg: received messages. One allocation holds the struct, the NUL-terminated topic, the header
 * block and the payload (plus a trailing zero byte, so an empty payload has a valid pointer).
 * The header block is kept in wire order but with a NUL after each key, so that keys handed out
 * by trpc_msg_header_at() are C strings that live as long as the message:
 *   u16 key_len, u16 val_len, key, '\0', value
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "driver/client.h"

trpc_msg *trpc__msg_from_frame(trpc_client *c, const struct wire_frame *f)
{
    size_t hdr_len = (size_t)f->hdr_len + f->header_count;
    size_t total = sizeof(trpc_msg) + (size_t)f->topic_len + 1 + hdr_len + f->payload_len + 1;
    trpc_msg *m = malloc(total);
    struct wire_header h;
    uint32_t pos = 0;
    uint8_t *p;

    if (m == NULL)
        return NULL;
    memset(m, 0, sizeof(*m));
    m->node.kind = TRPC__NODE_MSG;
    m->c = c;
    m->type = f->type;
    m->flags = f->flags;
    m->aux = f->aux;
    m->seq = f->seq;
    m->len = f->payload_len;
    m->hdr_len = (uint32_t)hdr_len;
    m->header_count = f->header_count;
    atomic_init(&m->answered, false);
    p = (uint8_t *)(m + 1);
    m->topic = (const char *)p;
    if (f->topic_len)
        memcpy(p, f->topic, f->topic_len);
    p[f->topic_len] = '\0';
    p += f->topic_len + 1;
    m->headers = p;
    while (wire_header_next(f, &pos, &h) == 1) {
        p[0] = (uint8_t)h.key_len;
        p[1] = (uint8_t)(h.key_len >> 8);
        p[2] = (uint8_t)h.val_len;
        p[3] = (uint8_t)(h.val_len >> 8);
        memcpy(p + 4, h.key, h.key_len);
        p[4 + h.key_len] = '\0';
        if (h.val_len)
            memcpy(p + 5 + h.key_len, h.val, h.val_len);
        p += 5u + h.key_len + h.val_len;
    }
    assert(p == m->headers + hdr_len);
    m->data = p;
    if (f->payload_len)
        memcpy(p, f->payload, f->payload_len);
    p[f->payload_len] = 0;
    assert((size_t)(p + f->payload_len + 1 - (uint8_t *)m) == total);
    return m;
}

void trpc_msg_free(trpc_msg *m)
{
    free(m);
}

const char *trpc_msg_topic(const trpc_msg *m)
{
    return m ? m->topic : "";
}

const void *trpc_msg_data(const trpc_msg *m)
{
    static const uint8_t empty;

    return m ? (const void *)m->data : (const void *)&empty;
}

size_t trpc_msg_len(const trpc_msg *m)
{
    return m ? m->len : 0;
}

/* Walks the header block: entries were checked by the decoder when the frame came in. */
static bool header_at(const trpc_msg *m, uint32_t *pos, const char **key, size_t *key_len, const void **val, size_t *val_len)
{
    const uint8_t *e = m->headers + *pos;
    size_t kl, vl;

    if (*pos + 4 > m->hdr_len)
        return false;
    kl = (size_t)e[0] | (size_t)e[1] << 8;
    vl = (size_t)e[2] | (size_t)e[3] << 8;
    assert(*pos + 5 + kl + vl <= m->hdr_len);
    *key = (const char *)e + 4;
    *key_len = kl;
    *val = e + 5 + kl;
    *val_len = vl;
    *pos += (uint32_t)(5 + kl + vl);
    return true;
}

const void *trpc_msg_header(const trpc_msg *m, const char *key, size_t *len)
{
    uint32_t pos = 0;
    const char *k;
    const void *v;
    size_t kl, vl, want;

    if (m == NULL || key == NULL)
        return NULL;
    want = strlen(key);
    while (header_at(m, &pos, &k, &kl, &v, &vl)) {
        if (kl == want && memcmp(k, key, kl) == 0) {
            if (len)
                *len = vl;
            return v;
        }
    }
    return NULL;
}

size_t trpc_msg_header_count(const trpc_msg *m)
{
    return m ? m->header_count : 0;
}

bool trpc_msg_header_at(const trpc_msg *m, size_t i, const char **key, const void **value, size_t *value_len)
{
    uint32_t pos = 0;
    const char *k;
    const void *v;
    size_t kl, vl, n = 0;

    if (m == NULL)
        return false;
    while (header_at(m, &pos, &k, &kl, &v, &vl)) {
        if (n++ != i)
            continue;
        if (key)
            *key = k;
        if (value)
            *value = v;
        if (value_len)
            *value_len = vl;
        return true;
    }
    return false;
}

bool trpc_msg_is_request(const trpc_msg *m)
{
    return m != NULL && m->type == WIRE_MSG && (m->flags & WIRE_F_REQUEST);
}

uint32_t trpc_msg_deadline_ms(const trpc_msg *m)
{
    return trpc_msg_is_request(m) ? m->aux : 0;
}

uint32_t trpc_msg_error_code(const trpc_msg *m)
{
    return m ? m->error_code : 0;
}

uint32_t trpc_msg_delivery(const trpc_msg *m)
{
    return m != NULL && m->type == WIRE_MSG && (m->flags & WIRE_F_ACK_REQUIRED) ? m->aux : 0;
}
