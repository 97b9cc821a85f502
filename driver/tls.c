/*
 * tls: OpenSSL over two memory BIOs per connection (driver/tls.h). The read BIO holds ciphertext
 * fed in and not yet decrypted, the write BIO ciphertext made and not yet taken; both are drained
 * by the caller after every call, so neither grows beyond what the caller lets in. OpenSSL sees
 * BIOs of ours in front of them (rb, wb): they read lent ciphertext in place and hand records to a
 * sink, so that neither passes through a memory BIO on the way, and they switch kernel TLS on.
 */
#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <linux/tls.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "driver/tls.h"

struct tls_ctx {
    SSL_CTX *ssl;
};

struct tls_conn {
    SSL *ssl;
    BIO *in, *out;             /* ours; OpenSSL reads and writes them through rb and wb */
    BIO *wb;                   /* the write BIO OpenSSL sees (owned by ssl): out, a sink, or the kernel */
    BIO *rb;                   /* the read BIO OpenSSL sees (owned by ssl): in, then what is lent */
    const unsigned char *lent; /* tls_conn_lend()'s bytes not read yet, lent_len of them */
    size_t lent_len;
    int (*sink)(void *arg, const void *data, size_t len);
    void *sink_arg;
    int sink_err; /* what the sink failed with: the connection is done */
    bool want_rx; /* tls_conn_want_ktls_rx() */
    int fd;       /* kernel TLS: the socket, once tls_conn_set_socket() gave it */
    bool (*idle)(void *arg);
    void *idle_arg;
    unsigned ktls;     /* TLS_KTLS_* installed */
    int ctrl_type;     /* the record type of the next write under kernel TLS (0: data) */
    char ktls_why[96]; /* why the kernel did not take the connection */
    enum tls_role role;
    bool fed;      /* first_byte is set */
    uint8_t first; /* the first byte the peer sent: a TLS record starts with 22 (or 21, an alert) */
    bool failed;
    bool refused;     /* send_record refused a record and said why in err */
    bool established; /* tls_conn_handshake said done (SSL_is_init_finished is not, while a
                       * post-handshake message is handled) */
    char err[TLS_ERR_MAX];
    char subject[TLS_ERR_MAX];
};

/* The first reason in OpenSSL's error queue (which is emptied), or fallback. */
static void openssl_reason(char *buf, size_t len, const char *fallback)
{
    unsigned long e = ERR_get_error(), more;
    const char *r = e != 0 ? ERR_reason_error_string(e) : NULL;

    while ((more = ERR_get_error()) != 0)
        (void)more;
    snprintf(buf, len, "%s", r != NULL ? r : fallback);
}

static int load_failed(char *err, size_t errlen, const char *what, const char *file)
{
    char why[128];

    openssl_reason(why, sizeof(why), "failed");
    snprintf(err, errlen, "%s %s: not one OpenSSL can read as PEM (%s)", what, file, why);
    return -EINVAL;
}

/* 0 when file can be opened for reading, else -errno with a line in err (OpenSSL's own words for
 * a missing file are not worth reading). */
static int readable(char *err, size_t errlen, const char *what, const char *file)
{
    FILE *f = fopen(file, "r");
    int ret = f == NULL ? -errno : 0;

    if (f != NULL)
        fclose(f);
    else
        snprintf(err, errlen, "%s %s: %s", what, file, strerror(-ret));
    return ret;
}

int tls_ctx_versions(SSL_CTX *s, const struct tls_config *cfg, char *err, size_t errlen)
{
    int lo = cfg->min_version != 0 ? cfg->min_version : TLS1_2_VERSION;
    int hi = cfg->max_version != 0 ? cfg->max_version : TLS1_3_VERSION;

    if (lo < TLS1_2_VERSION || hi > TLS1_3_VERSION || lo > hi) {
        snprintf(err, errlen, "TLS versions: 1.2 and 1.3 only, the lowest first");
        return -EINVAL;
    }
    if (!SSL_CTX_set_min_proto_version(s, lo) || !SSL_CTX_set_max_proto_version(s, hi)) {
        snprintf(err, errlen, "TLS versions: refused by OpenSSL");
        return -EINVAL;
    }
    if (cfg->ciphers != NULL && !SSL_CTX_set_cipher_list(s, cfg->ciphers)) {
        ERR_clear_error();
        snprintf(err, errlen, "ciphers \"%s\": no cipher OpenSSL knows", cfg->ciphers);
        return -EINVAL;
    }
    if (cfg->ciphersuites != NULL && !SSL_CTX_set_ciphersuites(s, cfg->ciphersuites)) {
        ERR_clear_error();
        snprintf(err, errlen, "ciphersuites \"%s\": no TLS 1.3 suite OpenSSL knows", cfg->ciphersuites);
        return -EINVAL;
    }
    return 0;
}

static int identity(SSL_CTX *s, const struct tls_config *cfg, char *err, size_t errlen)
{
    const char *key = cfg->key_file != NULL ? cfg->key_file : cfg->cert_file;
    int ret;

    if (cfg->cert_file == NULL) {
        if (cfg->role == TLS_SERVER) {
            snprintf(err, errlen, "a TLS server needs a certificate (and its key)");
            return -EINVAL;
        }
        return 0;
    }
    if ((ret = readable(err, errlen, "certificate", cfg->cert_file)) != 0 || (ret = readable(err, errlen, "private key", key)) != 0)
        return ret;
    if (SSL_CTX_use_certificate_chain_file(s, cfg->cert_file) != 1)
        return load_failed(err, errlen, "certificate", cfg->cert_file);
    if (SSL_CTX_use_PrivateKey_file(s, key, SSL_FILETYPE_PEM) != 1) {
        if (ERR_GET_REASON(ERR_peek_error()) != X509_R_KEY_VALUES_MISMATCH)
            return load_failed(err, errlen, "private key", key);
    } else if (SSL_CTX_check_private_key(s) == 1) {
        return 0;
    }
    ERR_clear_error();
    snprintf(err, errlen, "private key %s does not belong to certificate %s", key, cfg->cert_file);
    return -EINVAL;
}

static int trust(SSL_CTX *s, const struct tls_config *cfg, char *err, size_t errlen)
{
    int mode = SSL_VERIFY_NONE, ret;

    if (cfg->role == TLS_CLIENT) {
        if (cfg->insecure_skip_verify) {
            SSL_CTX_set_verify(s, SSL_VERIFY_NONE, NULL);
            return 0;
        }
        if (cfg->ca_file != NULL && (ret = readable(err, errlen, "CA file", cfg->ca_file)) != 0)
            return ret;
        if (cfg->ca_file != NULL ? SSL_CTX_load_verify_locations(s, cfg->ca_file, NULL) != 1
                                 : SSL_CTX_set_default_verify_paths(s) != 1)
            return load_failed(err, errlen, "CA file", cfg->ca_file != NULL ? cfg->ca_file : "(the system's store)");
        SSL_CTX_set_verify(s, SSL_VERIFY_PEER, NULL);
        return 0;
    }
    if (cfg->peer_cert != TLS_PEER_NONE) {
        STACK_OF(X509_NAME) * names;

        if (cfg->ca_file == NULL) {
            snprintf(err, errlen, "client certificates need a client CA file");
            return -EINVAL;
        }
        if ((ret = readable(err, errlen, "client CA file", cfg->ca_file)) != 0)
            return ret;
        if (SSL_CTX_load_verify_locations(s, cfg->ca_file, NULL) != 1)
            return load_failed(err, errlen, "client CA file", cfg->ca_file);
        names = SSL_load_client_CA_file(cfg->ca_file);
        if (names == NULL)
            return load_failed(err, errlen, "client CA file", cfg->ca_file);
        SSL_CTX_set_client_CA_list(s, names);
        mode = SSL_VERIFY_PEER | (cfg->peer_cert == TLS_PEER_REQUIRED ? SSL_VERIFY_FAIL_IF_NO_PEER_CERT : 0);
    }
    SSL_CTX_set_verify(s, mode, NULL);
    return 0;
}

int tls_ctx_new(const struct tls_config *cfg, struct tls_ctx **out, char *err, size_t errlen)
{
    static const unsigned char sid[] = "trpc";
    struct tls_ctx *x = calloc(1, sizeof(*x));
    int ret;

    ERR_clear_error();
    if (x == NULL || (x->ssl = SSL_CTX_new(cfg->role == TLS_SERVER ? TLS_server_method() : TLS_client_method())) == NULL) {
        free(x);
        snprintf(err, errlen, "out of memory for a TLS context");
        return -ENOMEM;
    }
    /* Idle connections give their record buffers back: thousands of them cost little. */
    SSL_CTX_set_mode(x->ssl, SSL_MODE_RELEASE_BUFFERS);
    SSL_CTX_set_options(x->ssl, SSL_OP_NO_RENEGOTIATION | (cfg->ktls ? SSL_OP_ENABLE_KTLS : 0));
    if (cfg->role == TLS_SERVER) {
        SSL_CTX_set_session_id_context(x->ssl, sid, sizeof(sid) - 1);
        /* No TLS 1.3 session tickets: no client here resumes, and under kernel TLS each would be a
         * record of its own through the kernel after the keys went in. */
        SSL_CTX_set_num_tickets(x->ssl, 0);
    }
    ret = tls_ctx_versions(x->ssl, cfg, err, errlen);
    if (ret == 0)
        ret = identity(x->ssl, cfg, err, errlen);
    if (ret == 0)
        ret = trust(x->ssl, cfg, err, errlen);
    ERR_clear_error();
    if (ret != 0) {
        tls_ctx_free(x);
        return ret;
    }
    *out = x;
    return 0;
}

void tls_ctx_free(struct tls_ctx *x)
{
    if (x == NULL)
        return;
    SSL_CTX_free(x->ssl);
    free(x);
}

/* ---- kernel TLS ------------------------------------------------------------------------------- */

/*
 * With kernel TLS wanted, OpenSSL's writes through wb also switch the kernel on.
 * libssl switches the kernel on by BIO controls alone (OpenSSL 3.0: ssl/t1_enc.c, tls13_enc.c): it
 * flushes its write BIO, then asks it to install the send keys. From then on the kernel encrypts
 * every byte written to the socket, so none written before may still be waiting: a flush sends the
 * ciphertext that waits in out on the socket at once (non-blocking, and only while the caller has
 * nothing of its own queued or in flight there), and the keys go in only if all of it went.
 * Otherwise the connection stays in user space, having lost nothing but speed. After that OpenSSL
 * hands wb plaintext records of its own (a TLS 1.2 Finished, alerts), each preceded by its record
 * type, which go out at once with sendmsg and a TLS_SET_RECORD_TYPE control message.
 */

/* libssl's private BIO controls (include/internal/bio.h; the same through OpenSSL 3.0.x). */
#define CTRL_SET_KTLS          72
#define CTRL_SET_KTLS_CTRL_MSG 74
#define CTRL_CLR_KTLS_CTRL_MSG 75

static BIO_METHOD *wb_method, *rb_method;
static atomic_bool kernel_lacks_tls; /* a TCP_ULP "tls" failed with ENOENT */
static pthread_once_t methods_once = PTHREAD_ONCE_INIT;

static bool sock_idle(const struct tls_conn *t)
{
    return t->fd >= 0 && (t->idle == NULL || t->idle(t->idle_arg));
}

/* Sends the ciphertext waiting in out on the socket, as far as the socket takes it. */
static void flush_out(struct tls_conn *t)
{
    char *p, sink[4096];
    long n = BIO_get_mem_data(t->out, &p);

    while (n > 0) {
        ssize_t r = send(t->fd, p, (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL);

        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return; /* the rest goes the caller's way, and kernel TLS does not happen */
        for (ssize_t left = r; left > 0;)
            left -= BIO_read(t->out, sink, left > (ssize_t)sizeof(sink) ? (int)sizeof(sink) : (int)left);
        n = BIO_get_mem_data(t->out, &p);
    }
}

/* One record of OpenSSL's own under kernel TLS, of the type it named, all or nothing. */
static int send_record(struct tls_conn *t, const char *data, int len)
{
    char cbuf[CMSG_SPACE(sizeof(unsigned char))] = {0};
    struct iovec iov = {.iov_base = (void *)data, .iov_len = (size_t)len};
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
    ssize_t r;

    if (!sock_idle(t))
        return -1; /* it would pass bytes of the caller's still waiting */
    /* After the handshake a handshake record of ours is a KeyUpdate (TLS 1.3, when the peer asks
     * for one; renegotiation is off): OpenSSL 3.0 would send it, then seal with the new key, which
     * the kernel never gets, and every later record would fail the peer's MAC. Better ended, and
     * said why. */
    if (t->ctrl_type == SSL3_RT_HANDSHAKE && t->established) {
        t->refused = true;
        snprintf(t->err, sizeof(t->err), "%s asked for a key update, which this kernel's TLS cannot make: the connection ends",
                 t->role == TLS_CLIENT ? "the server" : "the client");
        return -1;
    }
    if (t->ctrl_type != 0) {
        struct cmsghdr *cm;

        mh.msg_control = cbuf;
        mh.msg_controllen = sizeof(cbuf);
        cm = CMSG_FIRSTHDR(&mh);
        cm->cmsg_level = SOL_TLS;
        cm->cmsg_type = TLS_SET_RECORD_TYPE;
        cm->cmsg_len = CMSG_LEN(sizeof(unsigned char));
        *CMSG_DATA(cm) = (unsigned char)t->ctrl_type;
    }
    do
        r = sendmsg(t->fd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
    while (r < 0 && errno == EINTR);
    if (r < 0 || (t->ctrl_type != 0 && r != len))
        return -1;
    t->ctrl_type = 0;
    return (int)r;
}

/* The size of the kernel's crypto info for ci's cipher, 0 (with why) for one it does not know. */
static socklen_t crypto_info_len(struct tls_conn *t, const struct tls_crypto_info *ci)
{
    switch (ci->cipher_type) {
    case TLS_CIPHER_AES_GCM_128:
        return sizeof(struct tls12_crypto_info_aes_gcm_128);
    case TLS_CIPHER_AES_GCM_256:
        return sizeof(struct tls12_crypto_info_aes_gcm_256);
    case TLS_CIPHER_AES_CCM_128:
        return sizeof(struct tls12_crypto_info_aes_ccm_128);
    case TLS_CIPHER_CHACHA20_POLY1305:
        return sizeof(struct tls12_crypto_info_chacha20_poly1305);
    default:
        snprintf(t->ktls_why, sizeof(t->ktls_why), "a cipher the kernel does not know (%u)", ci->cipher_type);
        return 0;
    }
}

/* Hands the kernel ci's keys for one direction, TLS_TX or TLS_RX: 1, or 0 with ktls_why saying
 * why not. Sending: all the handshake's ciphertext went, none of the caller's waits. Receiving:
 * nothing fed waits unread (OpenSSL read ahead: tls_conn_want_ktls_rx). */
static int ktls_install(struct tls_conn *t, struct tls_crypto_info *ci, int dir)
{
    bool tx = dir == TLS_TX;
    socklen_t len;

    if (t->fd < 0)
        return 0; /* no kernel TLS on this socket: ktls_why says why already */
    len = crypto_info_len(t, ci);
    if (len == 0)
        return 0;
    if (tx ? BIO_ctrl_pending(t->out) > 0 || !sock_idle(t) : BIO_ctrl_pending(t->in) > 0 || t->lent_len > 0) {
        snprintf(t->ktls_why, sizeof(t->ktls_why), "%s",
                 tx ? "handshake bytes were still on their way when the keys came"
                    : "received bytes were waiting when the receive keys came");
        return 0;
    }
    if (setsockopt(t->fd, SOL_TLS, dir, ci, len) != 0) {
        snprintf(t->ktls_why, sizeof(t->ktls_why), "the kernel refused the %s keys: %s", tx ? "send" : "receive", strerror(errno));
        return 0;
    }
    t->ktls |= tx ? TLS_KTLS_TX : TLS_KTLS_RX;
    return 1;
}

static int wb_write(BIO *b, const char *data, int len)
{
    struct tls_conn *t = BIO_get_data(b);

    BIO_clear_retry_flags(b);
    if (t->ktls & TLS_KTLS_TX)
        return send_record(t, data, len);
    if (t->sink != NULL) {
        int err = t->sink_err != 0 || len <= 0 ? t->sink_err : t->sink(t->sink_arg, data, (size_t)len);

        if (err != 0) {
            t->sink_err = err;
            return -1;
        }
        return len;
    }
    return BIO_write(t->out, data, len);
}

static long wb_ctrl(BIO *b, int cmd, long num, void *ptr)
{
    struct tls_conn *t = BIO_get_data(b);

    switch (cmd) {
    case BIO_CTRL_FLUSH:
        if (!(t->ktls & TLS_KTLS_TX) && sock_idle(t))
            flush_out(t);
        return 1;
    case CTRL_SET_KTLS:
        return num != 0 ? ktls_install(t, ptr, TLS_TX) : 0; /* num 0: the receive keys, the read BIO's */
    case BIO_CTRL_GET_KTLS_SEND:
        return (t->ktls & TLS_KTLS_TX) != 0;
    case CTRL_SET_KTLS_CTRL_MSG:
        t->ctrl_type = (int)num;
        return 0; /* as the socket BIO answers */
    case CTRL_CLR_KTLS_CTRL_MSG:
        t->ctrl_type = 0;
        return 0;
    case BIO_CTRL_PENDING:
    case BIO_CTRL_WPENDING:
        return (long)BIO_ctrl_pending(t->out);
    default:
        return 0;
    }
}

/* What was fed and not read comes before what is lent, which came after it. */
static int rb_read(BIO *b, char *buf, int len)
{
    struct tls_conn *t = BIO_get_data(b);
    int n;

    BIO_clear_retry_flags(b);
    if (t->lent_len == 0 || len <= 0 || BIO_ctrl_pending(t->in) > 0) {
        n = BIO_read(t->in, buf, len);
        if (n <= 0 && BIO_should_retry(t->in))
            BIO_set_retry_read(b);
        return n;
    }
    n = t->lent_len < (size_t)len ? (int)t->lent_len : len;
    memcpy(buf, t->lent, (size_t)n);
    t->lent += n;
    t->lent_len -= (size_t)n;
    return n;
}

/*
 * Receive keys (TLS 1.2 only in OpenSSL 3.0) come when the peer's ChangeCipherSpec is read, and
 * from there on the kernel decrypts what the socket receives. OpenSSL reads ahead, so the records
 * behind the ChangeCipherSpec (the peer's Finished) are in its own buffer, counted and decrypted
 * there; what the caller fed and OpenSSL did not take would be lost to the kernel, so then the
 * keys stay out. A peer that sends nothing more before our Finished (as TLS 1.2 has it) leaves
 * nothing behind.
 */
static long rb_ctrl(BIO *b, int cmd, long num, void *ptr)
{
    struct tls_conn *t = BIO_get_data(b);

    switch (cmd) {
    case CTRL_SET_KTLS:
        return num == 0 && t->want_rx ? ktls_install(t, ptr, TLS_RX) : 0;
    case BIO_CTRL_GET_KTLS_RECV:
        return (t->ktls & TLS_KTLS_RX) != 0;
    case BIO_CTRL_PENDING:
        return (long)(BIO_ctrl_pending(t->in) + t->lent_len);
    default:
        return 0;
    }
}

static int bio_create(BIO *b)
{
    BIO_set_init(b, 1);
    return 1;
}

static BIO_METHOD *make_method(const char *name, int (*wr)(BIO *, const char *, int), int (*rd)(BIO *, char *, int),
                               long (*ctrl)(BIO *, int, long, void *))
{
    BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, name);

    if (m != NULL && ((wr != NULL && BIO_meth_set_write(m, wr) != 1) || (rd != NULL && BIO_meth_set_read(m, rd) != 1) ||
                      BIO_meth_set_ctrl(m, ctrl) != 1 || BIO_meth_set_create(m, bio_create) != 1)) {
        BIO_meth_free(m);
        m = NULL;
    }
    return m;
}

static void make_methods(void)
{
    wb_method = make_method("trpc TLS write", wb_write, NULL, wb_ctrl);
    rb_method = make_method("trpc TLS read", NULL, rb_read, rb_ctrl);
}

/* A BIO of method m standing for t, in front of one of its memory BIOs; NULL without memory. */
static BIO *bio_new(struct tls_conn *t, BIO_METHOD *const *m)
{
    BIO *b;

    pthread_once(&methods_once, make_methods);
    if (*m == NULL || (b = BIO_new(*m)) == NULL)
        return NULL;
    BIO_set_data(b, t);
    return b;
}

bool tls_conn_set_socket(struct tls_conn *t, int fd, bool (*idle)(void *arg), void *arg)
{
    if (!(SSL_get_options(t->ssl) & SSL_OP_ENABLE_KTLS))
        return false; /* kernel TLS not asked for */
    /* The upper layer protocol first, as OpenSSL's socket BIO does: without the tls module it
     * fails at once (ENOENT), and the connection is user space from the start. Where it failed so
     * once it is not asked again: with CAP_NET_ADMIN each ask runs modprobe, while the caller's
     * loop waits. (A module loaded later counts from the next start.) */
    if (atomic_load_explicit(&kernel_lacks_tls, memory_order_relaxed)) {
        snprintf(t->ktls_why, sizeof(t->ktls_why), "the kernel has no TLS (module tls not loaded)");
        return false;
    }
    if (setsockopt(fd, SOL_TCP, TCP_ULP, "tls", sizeof("tls")) != 0) {
        if (errno == ENOENT)
            atomic_store_explicit(&kernel_lacks_tls, true, memory_order_relaxed);
        snprintf(t->ktls_why, sizeof(t->ktls_why), "%s",
                 errno == ENOENT ? "the kernel has no TLS (module tls not loaded)" : strerror(errno));
        return false;
    }
    t->fd = fd;
    t->idle = idle;
    t->idle_arg = arg;
    return true;
}

void tls_conn_want_ktls_rx(struct tls_conn *t)
{
    if (t->fd < 0 || t->want_rx)
        return;
    t->want_rx = true;
    /* OpenSSL then takes all that was fed into its own buffer, so that the records behind the
     * peer's ChangeCipherSpec are there, counted, when the receive keys come (ktls_install). */
    SSL_set_read_ahead(t->ssl, 1);
}

/*
 * The receive keys can go in before the peer's Finished arrived (it may come in a segment of its
 * own): the kernel then decrypts it, and OpenSSL reads it the way its socket BIO hands it over
 * (ktls_read_record): a record header made up for the plaintext, then the plaintext.
 */
static int feed_handshake_record(struct tls_conn *t, int type, const unsigned char *data, size_t len)
{
    unsigned char hdr[5] = {(unsigned char)type, 3, 3, (unsigned char)(len >> 8), (unsigned char)len};

    if (BIO_write(t->in, hdr, sizeof(hdr)) != (int)sizeof(hdr) || BIO_write(t->in, data, (int)len) != (int)len) {
        snprintf(t->err, sizeof(t->err), "out of memory");
        return -EPROTO;
    }
    return 0;
}

int tls_conn_ktls_recv_failed(struct tls_conn *t, int err)
{
    unsigned char buf[1024], cbuf[CMSG_SPACE(sizeof(unsigned char))];
    struct iovec iov = {.iov_base = buf, .iov_len = sizeof(buf)};
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof(cbuf)};
    struct cmsghdr *cm;
    ssize_t r;
    int type = -1, ret = -EPROTO;

    if (err != -EIO || !(t->ktls & TLS_KTLS_RX)) {
        snprintf(t->err, sizeof(t->err), "kernel TLS receive: %s",
                 err == -EBADMSG ? "a record failed its integrity check" : strerror(-err));
        goto out;
    }
    /* A record that is not application data: the kernel hands it only to a recvmsg with room for
     * its type. */
    do
        r = recvmsg(t->fd, &mh, MSG_DONTWAIT);
    while (r < 0 && errno == EINTR);
    for (cm = r >= 0 ? CMSG_FIRSTHDR(&mh) : NULL; cm != NULL; cm = CMSG_NXTHDR(&mh, cm))
        if (cm->cmsg_level == SOL_TLS && cm->cmsg_type == TLS_GET_RECORD_TYPE)
            type = *CMSG_DATA(cm);
    if (r < 0) {
        if (errno == EAGAIN)
            return 0; /* nothing there after all */
        snprintf(t->err, sizeof(t->err), "kernel TLS receive: %s", strerror(errno));
    } else if (type == SSL3_RT_ALERT && r >= 2 && buf[1] == SSL_AD_CLOSE_NOTIFY) {
        ret = -EPIPE;
    } else if (type == SSL3_RT_ALERT && r >= 2 && buf[0] == SSL3_AL_WARNING && SSL_is_init_finished(t->ssl)) {
        return 0; /* as OpenSSL does with a warning (user_canceled before a close_notify...) */
    } else if (type == SSL3_RT_ALERT && r >= 2) {
        snprintf(t->err, sizeof(t->err), "the peer sent alert %s", SSL_alert_desc_string_long(buf[1]));
    } else if (type == SSL3_RT_HANDSHAKE && !SSL_is_init_finished(t->ssl) && (size_t)r < sizeof(buf)) {
        return feed_handshake_record(t, type, buf, (size_t)r);
    } else if (type == SSL3_RT_HANDSHAKE) {
        snprintf(t->err, sizeof(t->err), "a handshake message after the handshake (renegotiation is off)");
    } else {
        snprintf(t->err, sizeof(t->err), "a TLS record of type %d", type);
    }
out:
    t->failed = ret == -EPROTO;
    return ret;
}

bool tls_conn_ktls_rx_clean(const struct tls_conn *t)
{
    return !SSL_has_pending(t->ssl);
}

unsigned tls_conn_ktls(const struct tls_conn *t)
{
    return t->ktls;
}

const char *tls_conn_ktls_why(const struct tls_conn *t)
{
    return t->ktls_why;
}

int tls_conn_new(struct tls_ctx *x, const char *server_name, struct tls_conn **out)
{
    struct tls_conn *t = calloc(1, sizeof(*t));
    unsigned char ip[16];
    bool ktls;

    if (t == NULL)
        return -ENOMEM;
    t->ssl = SSL_new(x->ssl);
    if (t->ssl == NULL)
        goto out_nomem;
    t->fd = -1;
    ktls = (SSL_CTX_get_options(x->ssl) & SSL_OP_ENABLE_KTLS) != 0;
    snprintf(t->ktls_why, sizeof(t->ktls_why), "%s", ktls ? "no socket given" : "not asked for");
    t->in = BIO_new(BIO_s_mem());
    t->out = BIO_new(BIO_s_mem());
    t->rb = bio_new(t, &rb_method);
    t->wb = bio_new(t, &wb_method);
    if (t->in == NULL || t->out == NULL || t->rb == NULL || t->wb == NULL) {
        BIO_free(t->rb);
        BIO_free(t->wb);
        goto out_nomem;
    }
    /* An empty read BIO means "more to come", not the end. */
    BIO_set_mem_eof_return(t->in, -1);
    BIO_set_mem_eof_return(t->out, -1);
    SSL_set_bio(t->ssl, t->rb, t->wb); /* the SSL owns them from here */
    t->role = SSL_is_server(t->ssl) ? TLS_SERVER : TLS_CLIENT;
    if (t->role == TLS_CLIENT && server_name != NULL) {
        bool is_ip = inet_pton(AF_INET, server_name, ip) == 1 || inet_pton(AF_INET6, server_name, ip) == 1;

        /* RFC 6066: SNI carries host names only. */
        if (is_ip ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(t->ssl), server_name) != 1
                  : SSL_set_tlsext_host_name(t->ssl, server_name) != 1 || SSL_set1_host(t->ssl, server_name) != 1)
            goto out_nomem;
    }
    if (t->role == TLS_CLIENT)
        SSL_set_connect_state(t->ssl);
    else
        SSL_set_accept_state(t->ssl);
    *out = t;
    return 0;

out_nomem:
    ERR_clear_error();
    SSL_free(t->ssl); /* and rb and wb, once set */
    BIO_free(t->in);
    BIO_free(t->out);
    free(t);
    return -ENOMEM;
}

void tls_conn_free(struct tls_conn *t)
{
    if (t == NULL)
        return;
    SSL_free(t->ssl); /* and rb and wb */
    BIO_free(t->out);
    BIO_free(t->in);
    free(t);
}

static int received(struct tls_conn *t, const void *data, size_t len)
{
    if (t->ktls & TLS_KTLS_RX)
        return -EINVAL; /* the kernel decrypts: these bytes are plaintext */
    if (len > 0 && !t->fed) {
        t->fed = true;
        t->first = *(const uint8_t *)data;
    }
    return 0;
}

static int copy_in(struct tls_conn *t, const char *p, size_t len)
{
    while (len > 0) {
        int n = BIO_write(t->in, p, len > INT_MAX ? INT_MAX : (int)len);

        if (n <= 0)
            return -ENOMEM;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int tls_conn_unlend(struct tls_conn *t)
{
    const char *p = (const char *)t->lent;
    size_t len = t->lent_len;

    t->lent = NULL;
    t->lent_len = 0;
    return copy_in(t, p, len);
}

/* What is still lent came first: it goes in before anything newer. */
int tls_conn_feed(struct tls_conn *t, const void *data, size_t len)
{
    int ret = received(t, data, len);

    if (ret == 0)
        ret = tls_conn_unlend(t);
    return ret != 0 ? ret : copy_in(t, data, len);
}

int tls_conn_lend(struct tls_conn *t, const void *data, size_t len)
{
    int ret = received(t, data, len);

    if (ret == 0)
        ret = tls_conn_unlend(t);
    if (ret == 0) {
        t->lent = data;
        t->lent_len = len;
    }
    return ret;
}

void tls_conn_set_sink(struct tls_conn *t, int (*sink)(void *arg, const void *data, size_t len), void *arg)
{
    assert(sink == NULL || (BIO_ctrl_pending(t->out) == 0 && !(t->ktls & TLS_KTLS_TX)));
    t->sink = sink;
    t->sink_arg = arg;
}

/* Records why ret (an SSL call's result) failed: -EPROTO, or 0 when it only wants more input. */
static int failure(struct tls_conn *t, int ret)
{
    const char *peer = t->role == TLS_CLIENT ? "the server" : "the client";
    int e = SSL_get_error(t->ssl, ret);
    long v;
    char why[160];

    if (t->sink_err != 0) {
        t->failed = true;
        snprintf(t->err, sizeof(t->err), "sending: %s", strerror(-t->sink_err));
        return -EPROTO;
    }
    if (t->refused) {
        t->failed = true;
        ERR_clear_error();
        return -EPROTO;
    }
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) /* a memory BIO never blocks a write */
        return 0;
    t->failed = true;
    v = SSL_get_verify_result(t->ssl);
    openssl_reason(why, sizeof(why), e == SSL_ERROR_SYSCALL ? "the connection ended in the middle of a record" : "failed");
    if (t->fed && t->first != 22 && t->first != 21 && !SSL_is_init_finished(t->ssl))
        snprintf(t->err, sizeof(t->err), "not TLS: %s sent byte 0x%02x first (plaintext on a TLS connection?)", peer, t->first);
    else if (v != X509_V_OK && !SSL_is_init_finished(t->ssl))
        snprintf(t->err, sizeof(t->err), "%s's certificate: %s", peer, X509_verify_cert_error_string(v));
    else
        snprintf(t->err, sizeof(t->err), "%s", why);
    return -EPROTO;
}

int tls_conn_handshake(struct tls_conn *t)
{
    int ret;

    if (t->failed)
        return -EPROTO;
    if (SSL_is_init_finished(t->ssl)) {
        t->established = true;
        return 1;
    }
    ERR_clear_error();
    ret = SSL_do_handshake(t->ssl);
    if (ret != 1)
        return failure(t, ret);
    t->established = true;
    return 1;
}

ssize_t tls_conn_read(struct tls_conn *t, void *buf, size_t cap)
{
    int ret;

    if (t->failed)
        return -EPROTO;
    ERR_clear_error();
    ret = SSL_read(t->ssl, buf, cap > INT_MAX ? INT_MAX : (int)cap);
    if (ret > 0)
        return ret;
    if (SSL_get_error(t->ssl, ret) == SSL_ERROR_ZERO_RETURN)
        return -EPIPE;
    return failure(t, ret);
}

int tls_conn_write(struct tls_conn *t, const void *data, size_t len)
{
    const char *p = data;

    if (t->failed)
        return -EPROTO;
    if (!SSL_is_init_finished(t->ssl))
        return -EAGAIN;
    if (t->ktls & TLS_KTLS_TX)
        return -EINVAL; /* the caller writes plaintext to the socket itself */
    while (len > 0) {
        int n;

        ERR_clear_error();
        n = SSL_write(t->ssl, p, len > INT_MAX ? INT_MAX : (int)len);
        /* WANT_READ: a post-handshake message is being read; call again, with the same data. */
        if (n <= 0) {
            int f = failure(t, n);

            return t->sink_err != 0 ? t->sink_err : f == 0 ? -EAGAIN : -EPROTO;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

size_t tls_conn_pending(const struct tls_conn *t)
{
    return BIO_ctrl_pending(t->out);
}

size_t tls_conn_take(struct tls_conn *t, void *buf, size_t cap)
{
    int n = cap > 0 ? BIO_read(t->out, buf, cap > INT_MAX ? INT_MAX : (int)cap) : 0;

    return n > 0 ? (size_t)n : 0;
}

void tls_conn_close_notify(struct tls_conn *t)
{
    if (!t->failed && SSL_is_init_finished(t->ssl))
        SSL_shutdown(t->ssl);
    ERR_clear_error();
}

const char *tls_conn_error(const struct tls_conn *t)
{
    return t->err[0] != '\0' ? t->err : "no error";
}

const char *tls_conn_version(const struct tls_conn *t)
{
    return SSL_get_version(t->ssl);
}

const char *tls_conn_cipher(const struct tls_conn *t)
{
    const char *c = SSL_get_cipher_name(t->ssl);

    return c != NULL ? c : "";
}

int tls_conn_peer_name(struct tls_conn *t, char *buf, size_t len)
{
    X509 *peer = SSL_get0_peer_certificate(t->ssl);
    BIO *bio;
    int n, ret = -ENOENT;

    buf[0] = '\0';
    if (peer == NULL)
        return -ENOENT;
    bio = BIO_new(BIO_s_mem());
    /* RFC 2253 escapes what would let one name pass for another ("CN=a/O=b" in one field). */
    if (bio == NULL || X509_NAME_print_ex(bio, X509_get_subject_name(peer), 0, XN_FLAG_RFC2253) < 0) {
        ret = -ENOMEM;
        goto out;
    }
    n = BIO_read(bio, buf, (int)len);
    if (n <= 0)
        ret = -ENOENT;
    else if ((size_t)n >= len || BIO_pending(bio) > 0)
        ret = -ENAMETOOLONG;
    else {
        buf[n] = '\0';
        ret = memchr(buf, '\0', (size_t)n) != NULL ? -EINVAL : 0;
    }
out:
    BIO_free(bio);
    if (ret != 0)
        buf[0] = '\0';
    return ret;
}

const char *tls_conn_peer_subject(struct tls_conn *t)
{
    /* For logs: the name authentication matches, cut to the buffer when it is longer. */
    if (tls_conn_peer_name(t, t->subject, sizeof(t->subject)) == -ENAMETOOLONG) {
        X509 *peer = SSL_get0_peer_certificate(t->ssl);
        BIO *bio = BIO_new(BIO_s_mem());
        int n = 0;

        if (bio != NULL && peer != NULL && X509_NAME_print_ex(bio, X509_get_subject_name(peer), 0, XN_FLAG_RFC2253) >= 0)
            n = BIO_read(bio, t->subject, (int)sizeof(t->subject) - 1);
        t->subject[n > 0 ? n : 0] = '\0';
        BIO_free(bio);
    }
    return t->subject;
}
