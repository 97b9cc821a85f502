/* Names and messages of the error codes, generated from TRPC_ERR_MAP in <trpc/errors.h>. */
#include <trpc/errors.h>

/* Unsigned negation so that INT_MIN maps to an unknown code instead of overflowing. */
static unsigned code_abs(int err)
{
    return err < 0 ? 0u - (unsigned)err : (unsigned)err;
}

const char *trpc_strerror(int err)
{
    switch (code_abs(err)) {
#define XX(name, code, msg)                                                                                                        \
    case code:                                                                                                                     \
        return msg;
        TRPC_ERR_MAP(XX)
#undef XX
    }
    return "unknown error";
}

const char *trpc_err_name(int err)
{
    switch (code_abs(err)) {
#define XX(name, code, msg)                                                                                                        \
    case code:                                                                                                                     \
        return #name;
        TRPC_ERR_MAP(XX)
#undef XX
    }
    return "UNKNOWN";
}
