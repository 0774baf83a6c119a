#ifndef CLASSCTL_COPENSSL_SHIM_H
#define CLASSCTL_COPENSSL_SHIM_H
#include <openssl/ssl.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <openssl/bn.h>
#include <openssl/rsa.h>
#include <openssl/ec.h>

// Macros (and variadic functions) in OpenSSL's headers, as functions Swift can call.
static inline long copenssl_SSL_CTX_set_mode(SSL_CTX *ctx, long mode) { return SSL_CTX_set_mode(ctx, mode); }
static inline long copenssl_SSL_CTX_set_min_proto_version(SSL_CTX *ctx, int v) { return SSL_CTX_set_min_proto_version(ctx, v); }
static inline long copenssl_SSL_CTX_set_max_proto_version(SSL_CTX *ctx, int v) { return SSL_CTX_set_max_proto_version(ctx, v); }
static inline long copenssl_SSL_CTX_set_session_cache_mode(SSL_CTX *ctx, long m) { return SSL_CTX_set_session_cache_mode(ctx, m); }
static inline long copenssl_SSL_CTX_set_options(SSL_CTX *ctx, long o) { return SSL_CTX_set_options(ctx, o); }
static inline long copenssl_BIO_get_mem_data(BIO *b, char **pp) { return BIO_get_mem_data(b, pp); }

static inline long copenssl_SSL_CTX_sess_set_cache_size(SSL_CTX *ctx, long n) { return SSL_CTX_sess_set_cache_size(ctx, n); }
static inline long copenssl_SSL_CTX_set1_groups_list(SSL_CTX *ctx, const char *list) { return SSL_CTX_set1_groups_list(ctx, list); }
/// Adds one certificate to the chain sent after the leaf; takes its own reference.
static inline long copenssl_SSL_CTX_add1_chain_cert(SSL_CTX *ctx, X509 *x) { return SSL_CTX_add1_chain_cert(ctx, x); }
static inline long copenssl_SSL_CTX_get_tlsext_ticket_keys(SSL_CTX *ctx, unsigned char *keys, long len) { return SSL_CTX_get_tlsext_ticket_keys(ctx, keys, len); }
static inline long copenssl_SSL_CTX_set_tlsext_ticket_keys(SSL_CTX *ctx, unsigned char *keys, long len) { return SSL_CTX_set_tlsext_ticket_keys(ctx, keys, len); }
static inline long copenssl_SSL_set_tlsext_host_name(SSL *s, const char *name) { return SSL_set_tlsext_host_name(s, name); }
static inline long copenssl_SSL_set_min_proto_version(SSL *s, int v) { return SSL_set_min_proto_version(s, v); }
static inline long copenssl_SSL_set_max_proto_version(SSL *s, int v) { return SSL_set_max_proto_version(s, v); }
static inline void copenssl_BIO_set_retry_read(BIO *b) { BIO_set_retry_read(b); }
static inline void copenssl_BIO_clear_retry_flags(BIO *b) { BIO_clear_retry_flags(b); }

// Key generation: EVP_EC_gen / EVP_RSA_gen expand to the variadic EVP_PKEY_Q_keygen.
static inline EVP_PKEY *copenssl_EVP_EC_gen(const char *curve) { return EVP_EC_gen(curve); }
static inline EVP_PKEY *copenssl_EVP_RSA_gen(unsigned int bits) { return EVP_RSA_gen(bits); }

static inline void copenssl_X509V3_set_ctx_nodb(X509V3_CTX *ctx) { X509V3_set_ctx_nodb(ctx); }

// Typed stack accessors for GENERAL_NAMES (subjectAltName).
static inline int copenssl_sk_GENERAL_NAME_num(const GENERAL_NAMES *sk) { return sk_GENERAL_NAME_num(sk); }
static inline GENERAL_NAME *copenssl_sk_GENERAL_NAME_value(const GENERAL_NAMES *sk, int i) { return sk_GENERAL_NAME_value(sk, i); }

// Option and flag values built with macros Swift does not import.
static inline uint64_t copenssl_SSL_OP_NO_COMPRESSION(void) { return SSL_OP_NO_COMPRESSION; }
static inline uint64_t copenssl_SSL_OP_NO_RENEGOTIATION(void) { return SSL_OP_NO_RENEGOTIATION; }
static inline unsigned long copenssl_XN_FLAG_RFC2253(void) { return XN_FLAG_RFC2253; }
static inline int copenssl_MBSTRING_UTF8(void) { return MBSTRING_UTF8; }

// Bytes malloc has handed out and not had back (glibc), so tests can measure what a TLS
// session keeps; RSS alone mixes in freed-but-retained heap.
#if defined(__GLIBC__)
#include <malloc.h>
static inline size_t copenssl_heap_bytes_in_use(void) { return mallinfo2().uordblks; }
#else
static inline size_t copenssl_heap_bytes_in_use(void) { return 0; }
#endif
#endif
